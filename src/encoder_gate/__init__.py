"""encoder-gate: a pytest benchmark and accuracy regression suite for encoder classifiers."""

from __future__ import annotations

__version__ = "0.1.0"
