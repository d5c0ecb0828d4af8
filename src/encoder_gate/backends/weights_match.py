"""Whether a prebuilt ONNX file holds the model directory's weights.

A user's file exported from other weights (an earlier fine-tune's, another model's) is judged
against the model directory's torch reference, which it was never made from: its drift is then two
models' difference, which the looser bounds can pass (an INT8 file quantized from weights 2% of
their spread away passed at drift max 0.015 while its FP32 twin failed; a user's walk, 2026-11-29).

What every export keeps as it was saved tells them apart: the vectors (LayerNorm's scales and
shifts, the biases), 1-D float tensors that the exporters, ONNX Runtime's optimizer (fused into
SkipLayerNormalization or BiasGelu as inputs), FP16 conversion and dynamic or static INT8
quantization leave as floats. Each of the file's is compared by value with the checkpoint's, as
float32, or rounded to float16 where the file stores it so: a file of this model holds some of them;
one that holds none of at least MIN_VECTORS is of other weights. A vector of few distinct values (a
LayerNorm scale left at ones, a key bias left near zero) is no evidence: any two models share it.

    vectors = file_vectors(model_proto.graph)            # one digest per vector
    other = of_other_weights(vectors, checkpoint_vectors(model_dir))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

#: A vector shorter than this is no evidence (a shape, a scale, a two-label head's bias).
MIN_ELEMENTS = 16
#: So many vectors, none of them the checkpoint's, tell a file of other weights.
MIN_VECTORS = 8
#: A vector of fewer distinct values than this (after its rounding) is no evidence.
MIN_DISTINCT = 8


def digest(values: Any, half: bool) -> bytes | None:
    """A vector's digest: its values as float32, or rounded to float16 (`half`); None for one of
    fewer than MIN_DISTINCT distinct values."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if half:
        with np.errstate(over="ignore"):
            v = v.astype(np.float16)
    v = np.ascontiguousarray(v)
    return hashlib.sha1(v.tobytes()).digest() if len(np.unique(v)) >= MIN_DISTINCT else None


def file_vectors(graph: Any) -> tuple[bytes, ...]:
    """The digest of each float vector of MIN_ELEMENTS or more an ONNX graph stores in itself
    (initializers; not those in external data, which are not read), as stored: float32, or float16."""
    from onnx import TensorProto, numpy_helper

    found = (digest(numpy_helper.to_array(t), t.data_type == TensorProto.FLOAT16) for t in graph.initializer
             if len(t.dims) == 1 and t.dims[0] >= MIN_ELEMENTS and t.data_location != TensorProto.EXTERNAL
             and t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16))
    return tuple(d for d in found if d is not None)


def checkpoint_vectors(model_dir: Path) -> frozenset[bytes]:
    """The digests of every float vector of MIN_ELEMENTS or more in the directory's weights
    (safetensors, else pytorch_model*.bin), as float32 and rounded to float16; empty where they
    cannot be read."""
    import torch

    found: set[bytes] = set()
    try:
        files = sorted(Path(model_dir).glob("*.safetensors"))
        if files:
            from safetensors import safe_open

            for file in files:
                with safe_open(str(file), "pt") as f:
                    for name in f.keys():  # noqa: SIM118
                        shape = f.get_slice(name).get_shape()
                        if len(shape) == 1 and shape[0] >= MIN_ELEMENTS:
                            found |= _torch_digests(f.get_tensor(name))
        for file in [] if files else sorted(Path(model_dir).glob("pytorch_model*.bin")):
            for tensor in torch.load(file, map_location="cpu", weights_only=True, mmap=True).values():
                if tensor.dim() == 1 and tensor.shape[0] >= MIN_ELEMENTS:
                    found |= _torch_digests(tensor)
    except Exception:  # weights it cannot read: no evidence either way (the loads say what is wrong)
        return frozenset()
    return frozenset(found)


def _torch_digests(tensor: Any) -> set[bytes]:
    if not tensor.is_floating_point():
        return set()
    values = tensor.float().numpy()
    return {d for half in (False, True) if (d := digest(values, half)) is not None}


def of_other_weights(vectors: Iterable[bytes], ours: frozenset[bytes]) -> int | None:
    """The number of the file's vectors where none of them is among `ours` and there are at least
    MIN_VECTORS (a file of other weights); None otherwise, or where the checkpoint gave none."""
    vectors = list(vectors)
    if not ours or len(vectors) < MIN_VECTORS or any(v in ours for v in vectors):
        return None
    return len(vectors)
