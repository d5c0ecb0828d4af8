"""Backend names -> factories. Heavy libraries are imported only when a backend builds."""

from __future__ import annotations

import re
from pathlib import Path

from encoder_gate.backends.base import Backend
from encoder_gate.backends.onnx_graph import PRECISIONS, Precision
from encoder_gate.errors import GateError

KNOWN_BACKENDS = ("torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8")
DEFAULT_BACKENDS = KNOWN_BACKENDS


def parse_backend(name: str) -> Backend:
    """`torch`, `torch-compile`, `onnx-fp32|fp16|int8` or `onnx:PATH[@fp32|@fp16|@int8]` -> a Backend."""
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
        spec = name[5:]
        path, precision = split_precision(spec)
        return PrebuiltOnnxBackend(Path(path).expanduser(), precision, spec=spec)
    raise GateError(
        f"unknown backend {name!r}. Known backends: {', '.join(KNOWN_BACKENDS)}, "
        "or onnx:PATH for a prebuilt ONNX file (e.g. onnx:model_quantized.onnx; PATH may be relative "
        "to the model directory, and @fp32, @fp16 or @int8 after it sets the precision it is judged by)."
    )


def split_precision(spec: str) -> tuple[str, Precision | None]:
    """`onnx/model.onnx@int8` -> ("onnx/model.onnx", "int8"); no suffix -> (spec, None).

    Only a precision-like suffix is taken off: `v@2/model.onnx` stays a path."""
    head, sep, tail = spec.rpartition("@")
    if not sep or not head:
        return spec, None
    for precision in PRECISIONS:
        if tail.lower() == precision:
            return head, precision
    if re.fullmatch(r"(?:fp|int|uint|bf|float|q|w)\d+", tail.lower()):
        raise GateError(
            f"unknown precision {tail!r} in backend 'onnx:{spec}': write onnx:{head}@fp32, @fp16 or @int8, "
            "or leave the suffix out to infer the precision from the file's graph."
        )
    return spec, None
