"""Shared-weight de-duplication of an ONNX file: one copy of each identical initializer.

    stats = dedupe_file(Path("model_fp16.onnx"))          # rewrites the file in place
    print(stats.removed, stats.bytes_before, stats.bytes_after)

Initializers are grouped by (dtype, shape, sha256 of the raw bytes); the first of each
group is kept, every node input that named another member (in subgraphs of If/Loop/Scan
nodes too, unless a subgraph defines the name itself) is pointed at the kept one, and
the others are removed. Graph inputs and outputs are never renamed, so an initializer
that is also a graph input (an overridable default) or output stays as it is.

Where duplicates come from: ALBERT shares one layer's weights across all layers. torch's
exporter (what optimum calls) already writes each shared weight once, and even folds
equal-valued tensors into Identity nodes; but ONNX Runtime's transformer optimizer (the
FP16 recipe) packs a fused QKV weight per Attention node, so every layer gets its own
copy again, and dynamic INT8 quantization writes one zero-point tensor per weight. Other
exporters write a copy per layer outright. Outputs are unchanged: only names change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError


@dataclass(frozen=True)
class DedupeStats:
    """What de-duplication did to one file."""

    file_bytes_before: int
    file_bytes_after: int
    bytes_before: int  # initializer payload bytes
    bytes_after: int
    initializers_before: int
    removed: int  # initializers dropped as copies of a kept one
    groups: int  # distinct tensors that had at least one copy

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def tensor_key(tensor: Any) -> tuple[tuple[int, tuple[int, ...], str], int]:
    """((ONNX dtype, shape, sha256 of the values), payload bytes): equal keys mean
    interchangeable tensors. One conversion to numpy serves both."""
    from onnx import numpy_helper

    values = numpy_helper.to_array(tensor)
    digest = hashlib.sha256(values.tobytes()).hexdigest()
    key = (int(tensor.data_type), tuple(int(d) for d in tensor.dims), digest)
    return key, int(values.nbytes)


def _rename_inputs(nodes: Iterable[Any], renames: dict[str, str]) -> int:
    """Point node inputs at kept names, recursing into subgraphs; returns inputs rewritten."""
    count = 0
    for node in nodes:
        inputs: MutableSequence[str] = node.input
        for i, name in enumerate(inputs):
            if name in renames:
                inputs[i] = renames[name]
                count += 1
        for attr in node.attribute:
            for graph in [attr.g] if attr.HasField("g") else list(attr.graphs):
                # a name the subgraph defines itself shadows the outer initializer
                local = {t.name for t in graph.initializer} | {v.name for v in graph.input} | {
                    out for n in graph.node for out in n.output}
                inner = {k: v for k, v in renames.items() if k not in local}
                count += _rename_inputs(graph.node, inner)
    return count


def dedupe_model(model: Any) -> tuple[Any, int, int, int, int]:
    """De-duplicate the top-level initializers of an in-memory ModelProto (modified in place).

    Returns (model, removed, groups, payload bytes before, payload bytes after).
    """
    graph = model.graph
    pinned = {v.name for v in graph.input} | {v.name for v in graph.output}
    kept: dict[tuple[int, tuple[int, ...], str], str] = {}
    renames: dict[str, str] = {}
    grouped: set[str] = set()
    before = removed_bytes = 0
    for tensor in graph.initializer:
        key, size = tensor_key(tensor)
        before += size
        if tensor.name in pinned:
            continue
        if key in kept:
            renames[tensor.name] = kept[key]
            grouped.add(kept[key])
            removed_bytes += size
        else:
            kept[key] = tensor.name
    if not renames:
        return model, 0, 0, before, before
    _rename_inputs(graph.node, renames)
    survivors = [t for t in graph.initializer if t.name not in renames]
    del graph.initializer[:]
    graph.initializer.extend(survivors)
    # value_info entries of removed names would describe tensors that no longer exist
    infos = [v for v in graph.value_info if v.name not in renames]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    return model, len(renames), len(grouped), before, before - removed_bytes


def dedupe_file(path: Path, out: Path | None = None) -> DedupeStats:
    """De-duplicate the initializers of the ONNX file `path`; write to `out` (default: in place)."""
    import onnx

    if not path.is_file():
        raise GateError(f"ONNX file {path} does not exist; nothing to de-duplicate.")
    target = out or path
    try:
        model = onnx.load(str(path), format="protobuf")
    except Exception as exc:  # onnx raises DecodeError and friends
        raise GateError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc}); "
                        "re-export it.") from None
    file_before = path.stat().st_size
    count_before = len(model.graph.initializer)
    model, removed, groups, before, after = dedupe_model(model)
    if model.ByteSize() > 2**31 - 1:
        raise GateError(f"{path} is over 2 GB after de-duplication; files that need ONNX external "
                        "data are not supported by encoder-gate's dedupe.")
    if removed or target != path:
        onnx.save(model, str(target))
    return DedupeStats(file_bytes_before=file_before, file_bytes_after=target.stat().st_size,
                       bytes_before=before, bytes_after=after, initializers_before=count_before,
                       removed=removed, groups=groups)
