"""Backends: one small protocol, a registry of factories, torch and ONNX Runtime."""

from __future__ import annotations

from encoder_gate.backends.base import Backend, BuildContext, Runner
from encoder_gate.backends.registry import BACKENDS, DEFAULT_BACKENDS, REFERENCE_BACKEND, parse_backend

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "REFERENCE_BACKEND", "Backend", "BuildContext", "Runner",
           "parse_backend"]
