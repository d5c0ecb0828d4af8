"""Backend names -> factories. Heavy libraries are imported only when a backend builds."""

from __future__ import annotations

from pathlib import Path

from encoder_gate.backends.base import Backend
from encoder_gate.errors import GateError

KNOWN_BACKENDS = ("torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8")
DEFAULT_BACKENDS = KNOWN_BACKENDS


def parse_backend(name: str) -> Backend:
    """`torch`, `torch-compile`, `onnx-fp32|fp16|int8` or `onnx:PATH` -> a Backend."""
    from encoder_gate.backends.onnx_backend import OnnxBackend, PrebuiltOnnxBackend
    from encoder_gate.backends.torch_backend import TorchBackend, TorchCompileBackend

    name = name.strip()
    if name == "torch":
        return TorchBackend()
    if name == "torch-compile":
        return TorchCompileBackend()
    if name in ("onnx-fp32", "onnx-fp16", "onnx-int8"):
        return OnnxBackend(precision=name.removeprefix("onnx-"))  # type: ignore[arg-type]  # checked above
    if name.startswith("onnx:") and len(name) > 5:
        return PrebuiltOnnxBackend(Path(name[5:]).expanduser())
    raise GateError(
        f"unknown backend {name!r}. Known backends: {', '.join(KNOWN_BACKENDS)}, "
        "or onnx:PATH for a prebuilt ONNX file (e.g. onnx:model_quantized.onnx)."
    )
