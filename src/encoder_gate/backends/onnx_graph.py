"""What a prebuilt ONNX file is, read from its graph without running it.

A file made by another tool (the TorchScript or dynamo exporter, optimum, ONNX Runtime's
transformer optimizer, a quantizer, an FP16 converter) says what it is in its graph:

* its precision: quantized operators (MatMulInteger, DynamicQuantizeLinear, QLinear*,
  DequantizeLinear, ...) mean INT8; otherwise the dtype holding most weight elements
  (float16 or float32) decides;
* its external data: initializers stored beside the .onnx file, under whatever file
  names the graph references (`model.onnx_data`, `weights.bin`, one file per tensor);
* which output carries the logits, and whether its inputs have static shapes.

    info = inspect_onnx(Path("onnx/model_quantized.onnx"))
    precision, why = infer_precision(info)   # ("int8", "MatMulInteger x18, ...")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from encoder_gate.backends.weights_match import file_vectors
from encoder_gate.cache import replace_file, sha256_file
from encoder_gate.environment import user_cache_dir
from encoder_gate.errors import GateError
from encoder_gate.tasks import Task

Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "fp16", "int8")
Dim = int | str | None

# Operators that only a quantized graph contains (ONNX standard and com.microsoft contrib ops).
QUANT_OPS = frozenset({
    "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "QGemm", "QEmbedLayerNormalization",
    "DynamicQuantizeLSTM", "MatMulNBits", "MatMulBnb4", "GatherBlockQuantized", "QMoE",
})
QUANT_PREFIXES = ("QLinear", "QOrdered")
FLOAT_TYPES = {"FLOAT": "float32", "FLOAT16": "float16", "BFLOAT16": "bfloat16", "DOUBLE": "float64"}


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: name, element type (e.g. FLOAT16, INT64) and shape.

    A dimension is an int when static, a name (str) when symbolic, None when unknown."""

    name: str
    elem_type: str
    shape: tuple[Dim, ...] | None


@dataclass(frozen=True)
class GraphInfo:
    """The facts about one ONNX file that the prebuilt backend needs."""

    path: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    op_counts: Counter[str] = field(default_factory=Counter)
    weight_elements: Counter[str] = field(default_factory=Counter)  # elem type -> element count
    external_locations: tuple[str, ...] = ()  # as the graph references them, first use first
    producer: str = ""
    # rows of the word-embedding table input_ids index (a Gather of an initializer by input_ids,
    # through a Cast at most); None where the graph hides it (a quantized or dequantized table)
    vocab_rows: int | None = None
    # rows of every 2-D table a Gather looks up in (words, positions, token types), in graph order
    table_rows: tuple[int, ...] = ()
    # (output name, the operator that computes it, looked through PASS_THROUGH ops; "" for none)
    output_ops: tuple[tuple[str, str], ...] = ()
    # the digest of each float vector the file stores in itself (weights_match.file_vectors)
    vectors: tuple[bytes, ...] = ()

    def output_op(self, name: str) -> str:
        """The operator that computes output `name` (its Identity, Cast or reshape looked through)."""
        return dict(self.output_ops).get(name, "")

    @property
    def external_files(self) -> list[Path]:
        """External data files, resolved as ONNX Runtime resolves them: beside the .onnx file."""
        return [self.path.parent / loc for loc in self.external_locations]

    def missing_external_files(self) -> list[Path]:
        return [p for p in self.external_files if not p.is_file()]

    def size_bytes(self) -> int:
        """The .onnx file plus every external data file it references (what a user ships)."""
        files = {self.path.resolve(), *(p.resolve() for p in self.external_files if p.is_file())}
        return sum(p.stat().st_size for p in files)

    def quantized_ops(self) -> Counter[str]:
        return Counter({op: n for op, n in self.op_counts.items()
                        if op in QUANT_OPS or op.startswith(QUANT_PREFIXES)})


def _elem_name(elem_type: int) -> str:
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(elem_type))
    except ValueError:
        return f"type{elem_type}"


def _spec(value_info: Any) -> TensorSpec:
    tensor_type = value_info.type.tensor_type
    shape: tuple[Dim, ...] | None = None
    if tensor_type.HasField("shape"):
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor_type.shape.dim
        )
    return TensorSpec(value_info.name, _elem_name(tensor_type.elem_type), shape)


def _graphs(graph: Any) -> Iterator[Any]:
    """The graph and every subgraph (If/Loop/Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every stored tensor: initializers, sparse initializers' values and Constant values."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


def _load_proto(path: Path) -> Any:
    """The ModelProto without its external data, or a GateError for a file that is not one."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), format="protobuf", load_external_data=False)
    except DecodeError as exc:
        raise GateError(
            f"ONNX Runtime could not load {path}: the file is corrupt, truncated or not an ONNX model "
            f"(its protobuf does not parse: {exc}). Re-export it, e.g. `encoder-gate export MODEL "
            "--out DIR`, or copy it again in full."
        ) from None
    except OSError as exc:
        raise GateError(f"could not read the ONNX file {path}: {exc}") from None
    if not model.HasField("graph") or not (model.graph.node or model.graph.output):
        what = "empty" if path.stat().st_size == 0 else "a protobuf without a graph"
        raise GateError(
            f"ONNX Runtime could not load {path}: the file is corrupt, truncated or not an ONNX model "
            f"(it is {what}). Re-export it, e.g. `encoder-gate export MODEL --out DIR`."
        )
    return model


def inspect_onnx(path: Path) -> GraphInfo:
    """Read `path`'s graph (not its external data): inputs, outputs, operators, weight dtypes."""
    from onnx import TensorProto

    model = _load_proto(path)
    ops: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    locations: dict[str, None] = {}
    for graph in _graphs(model.graph):
        ops.update(node.op_type for node in graph.node)
        for tensor in _tensors(graph):
            count = 1
            for d in tensor.dims:
                count *= int(d)
            weights[_elem_name(tensor.data_type)] += count
            if tensor.data_location == TensorProto.EXTERNAL:
                entries = {e.key: e.value for e in tensor.external_data}
                if entries.get("location"):
                    locations.setdefault(entries["location"], None)
    initializers = {t.name for t in model.graph.initializer}
    inputs = tuple(_spec(v) for v in model.graph.input if v.name not in initializers)
    return GraphInfo(
        path=path, inputs=inputs, outputs=tuple(_spec(v) for v in model.graph.output),
        op_counts=ops, weight_elements=weights, external_locations=tuple(locations),
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        vocab_rows=_vocab_rows(model.graph), table_rows=_table_rows(model.graph),
        output_ops=_output_ops(model.graph), vectors=file_vectors(model.graph),
    )


#: Operators that pass their input through, as far as which operator made an output is concerned.
PASS_THROUGH = frozenset({"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze"})
#: The activations a classifier's file may end in, and what the gate itself applies to logits.
ACTIVATIONS = {"Softmax": "softmax", "LogSoftmax": "softmax", "Sigmoid": "sigmoid"}


def _output_ops(graph: Any) -> tuple[tuple[str, str], ...]:
    """Each graph output's name and the operator that computes it, through PASS_THROUGH ops."""
    made_by = {out: node for node in graph.node for out in node.output}
    found = []
    for value in graph.output:
        node = made_by.get(value.name)
        for _ in range(16):
            if node is None or node.op_type not in PASS_THROUGH or not node.input:
                break
            node = made_by.get(node.input[0])
        found.append((value.name, node.op_type if node is not None else ""))
    return tuple(found)


def _table_rows(graph: Any) -> tuple[int, ...]:
    """The row counts of the 2-D initializers Gather nodes look up in, each table once."""
    tables = {t.name: t for t in graph.initializer}
    used = dict.fromkeys(n.input[0] for n in graph.node if n.op_type == "Gather" and n.input)
    return tuple(int(tables[name].dims[0]) for name in used if name in tables and len(tables[name].dims) == 2)


def _vocab_rows(graph: Any) -> int | None:
    """The row count of the table a Gather looks input_ids up in (directly or through one Cast)."""
    ids = {"input_ids"} | {n.output[0] for n in graph.node
                           if n.op_type == "Cast" and n.input and n.input[0] == "input_ids"}
    tables = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in ids:
            table = tables.get(node.input[0])
            if table is not None and len(table.dims) == 2:
                return int(table.dims[0])
    return None


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def infer_precision(info: GraphInfo) -> tuple[Precision, str]:
    """fp32, fp16 or int8 from the graph, and the evidence in words.

    Any quantized operator makes it int8 (a dynamic or QDQ quantization always leaves some);
    otherwise the float type holding most weight elements decides (bfloat16 counts as fp16:
    it is judged by the 16-bit bounds)."""
    quant = info.quantized_ops()
    if quant:
        shown = ", ".join(f"{op} x{n}" for op, n in quant.most_common(3))
        return "int8", shown
    floats = {FLOAT_TYPES[t]: n for t, n in info.weight_elements.items() if t in FLOAT_TYPES and n}
    total = sum(floats.values())
    if not total:
        return "fp32", "no float weights found; assumed fp32"
    half = floats.get("float16", 0) + floats.get("bfloat16", 0)
    if half * 2 > total:
        kind = "bfloat16" if floats.get("bfloat16", 0) > floats.get("float16", 0) else "float16"
        return "fp16", f"{kind} weights: {half / total:.0%} of {_count(total)} float weight elements"
    return "fp32", f"float32 weights: {1 - half / total:.0%} of {_count(total)} float weight elements"


def choose_output(names: Sequence[str], task: str, shapes: Sequence[Sequence[Dim] | None] | None = None,
                  labels: int | None = None) -> tuple[int, str | None]:
    """Index of the output that carries the logits (hidden states for an encoder), and a note.

    `logits` (or `last_hidden_state` for feature extraction) when present; else, for a classifier
    whose outputs' `shapes` are given, the one output shaped (batch, `labels`); otherwise the first
    output. The note is None when the choice needs no explanation (one output with the expected
    name)."""
    wanted = Task.of(task).output_name
    index, why = names.index(wanted) if wanted in names else 0, ""
    if wanted not in names and shapes is not None and labels and Task.of(task).classifier:
        fits = [i for i, shape in enumerate(shapes) if shape is not None and len(shape) == 2
                and static_dim(shape, 1) == labels]
        if len(fits) == 1:
            index, why = fits[0], f"; the one shaped (batch, {labels} labels)"
    if len(names) > 1:
        return index, f"output '{names[index]}' used (of {len(names)} outputs: {', '.join(names)}{why})"
    if names[index] != wanted:
        return index, f"output '{names[index]}' used (the only output; none is named '{wanted}')"
    return index, None


def static_dim(shape: Sequence[Dim] | None, axis: int) -> int | None:
    """The dimension's fixed size, or None when it is symbolic or unknown."""
    if shape is None or len(shape) <= axis:
        return None
    dim = shape[axis]
    return dim if isinstance(dim, int) and dim > 0 else None


def format_shape(shape: Sequence[Dim] | None) -> str:
    if shape is None:
        return "(unknown)"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def format_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


#: How long a file's kept external data locations (external_locations) stay unread before they go.
EXTERNAL_MEMO_DAYS = 30


def external_locations(path: Path) -> tuple[str, ...]:
    """The external data files `path`'s graph references (GraphInfo.external_locations), kept in the
    user's cache under the file's sha256 (``onnx-external/<digest>.json``): reading them parses the
    whole graph, weights included where they are inside (1.5 s and about 0.5 GB of a cached session of
    the 125M reference model's three files, six parses, AMD EPYC Zen 5); the file's digest is read
    anyway, once a process (cache.sha256_file). A cache that cannot be written: parsed each time.
    What was not read for EXTERNAL_MEMO_DAYS goes when the next is written."""
    memo = user_cache_dir() / "onnx-external" / f"{sha256_file(path)[:40]}.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        kept = json.loads(memo.read_text())
        if isinstance(kept, list) and all(isinstance(loc, str) for loc in kept):
            os.utime(memo)  # read: kept a while longer
            return tuple(kept)
    locations = inspect_onnx(path).external_locations
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        stale = time.time() - EXTERNAL_MEMO_DAYS * 86400
        for old in memo.parent.glob("*.json"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < stale:
                    old.unlink()
        replace_file(memo, lambda tmp: tmp.write_text(json.dumps(list(locations))))
    return locations


def onnx_digest(path: Path) -> str:
    """sha256 over an ONNX file and its external data files (names and contents)."""
    files = [path, *(f for loc in external_locations(path) if (f := path.parent / loc).is_file())]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()
