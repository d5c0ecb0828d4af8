"""Backends: one small protocol, a registry of factories, torch and ONNX Runtime."""

from __future__ import annotations

from encoder_gate.backends.base import Backend, BuildContext, Runner
from encoder_gate.backends.registry import KNOWN_BACKENDS, parse_backend

__all__ = ["KNOWN_BACKENDS", "Backend", "BuildContext", "Runner", "parse_backend"]
