"""The saturating path of an INT8 ONNX file, written as a graph any CPU computes, and the audit of
which of its products can saturate (the paths themselves, per CPU: :mod:`encoder_gate.backends.int8_path`).

    audit(model)                 # the file's U8S8 products and the share of weight pairs that can saturate
    write_saturating(src, dst)   # the file as a saturating CPU computes it, runnable on any CPU
    write_unshared(src, dst)     # one int8 weight and zero point per product: what the exact option can open
    EXACT_SESSION_OPTION         # what makes ONNX Runtime compute the exact path on any x86 CPU

The saturating path is emulated inside the graph: each U8S8 MatMulInteger is kept (exact on a
CPU that computes the exact path, and on any x86 CPU with `EXACT_SESSION_OPTION`:
`int8_path.emulation_options()` says which a session needs) and what the int16 clip takes away
from every weight pair that can leave int16 (``s - clip(s, -32768, 32767)``, ``s`` the pair's sum
for the row's activations) is subtracted. Only the pairs that can saturate on the batch's
activations are computed (their sum at their two activations' largest values in the batch tops
int16): on the default model 1-5% of the saturable pairs, which are 1.6% of all. A file with none
is its own saturating path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.errors import GateError

#: ONNX Runtime's session config entry (kOrtSessionOptionsAvx2PrecisionMode): "1" converts int8
#: weights to uint8 at load on x86 CPUs whose U8S8 kernels can overflow, so every product is exact.
EXACT_SESSION_OPTION = ("session.x64quantprecision", "1")
INT16_MAX, INT16_MIN = 32767, -32768
UINT8_MAX = 255
#: Quantized matrix products with a weight operand whose U8S8 form can saturate; only
#: MatMulInteger is emulated (what quantize_dynamic writes); the others are audited.
U8S8_OPS = ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm", "QLinearMatMul",
            "QAttention", "QLinearConv", "ConvInteger")  # and QDQ: DequantizeLinear of an int8 weight
EMULATED_OPS = ("MatMulInteger",)
#: Where each op keeps its weight and that weight's zero point (input indices): what the audit reads,
#: and what ONNX Runtime's exact option converts from int8 to uint8 at load
#: (Avx2WeightS8ToU8Transformer, s8_to_u8.cc).
_WEIGHT_INPUTS = {"MatMulInteger": (1, 3), "DynamicQuantizeMatMul": (1, 3), "MatMulIntegerToFloat": (1, 5),
                  "QGemm": (3, 5), "QLinearMatMul": (3, 5), "QAttention": (1, 7), "QLinearConv": (3, 5),
                  "ConvInteger": (1, 3)}


@dataclass(frozen=True)
class ProductAudit:
    """One quantized matrix product: how many of its weight pairs can saturate."""

    node: str
    op_type: str
    shape: tuple[int, ...]  # the weight's
    pairs: int  # weight pairs (neighbours along the reduced axis), per output column
    saturable: int  # of them, those whose sum with some uint8 activations leaves int16
    static: bool  # the weight is a constant of the file (else it cannot be audited)

    @property
    def share(self) -> float:
        return self.saturable / self.pairs if self.pairs else 0.0


@dataclass(frozen=True)
class SaturationAudit:
    """A file's U8S8 products, audited from its weights alone (on any CPU)."""

    products: tuple[ProductAudit, ...]
    # int8 weights or zero points read by more than one product, with how many read each
    # (shared_integer_inputs: what EXACT_SESSION_OPTION cannot open on ONNX Runtime 1.25 on)
    shared: Mapping[str, int] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return sum(p.pairs for p in self.products)

    @property
    def saturable(self) -> int:
        return sum(p.saturable for p in self.products)

    @property
    def share(self) -> float:
        return self.saturable / self.pairs if self.pairs else 0.0

    @property
    def unaudited(self) -> tuple[ProductAudit, ...]:
        return tuple(p for p in self.products if not p.static)

    @property
    def can_saturate(self) -> bool:
        """Whether a saturating CPU can compute other numbers than an exact one."""
        return self.saturable > 0 or bool(self.unaudited)

    @property
    def not_emulated(self) -> tuple[str, ...]:
        """The ops whose saturation `write_saturating` cannot reproduce, each once."""
        return tuple(dict.fromkeys(p.op_type for p in self.products
                                   if (p.saturable or not p.static) and p.op_type not in EMULATED_OPS))

    def summary(self) -> str:
        if not self.products:
            return "no U8S8 matrix product (uint8 weights, or not quantized): exact on every CPU"
        head = (f"{len(self.products)} U8S8 matrix products, {self.saturable:,} of {self.pairs:,} weight "
                f"pairs ({self.share:.2%}) can saturate on x86 CPUs without VNNI")
        if self.unaudited:
            head += f"; {len(self.unaudited)} with weights computed at run time, not audited"
        if not self.can_saturate:
            return head + ": exact on every CPU"
        return head + ". Cure: " + CURE

    def as_dict(self) -> dict[str, Any]:
        return {"products": len(self.products), "pairs": self.pairs, "saturable": self.saturable,
                "share": self.share, "unaudited": len(self.unaudited), "can_saturate": self.can_saturate,
                "per_product": [{"node": p.node, "op": p.op_type, "shape": list(p.shape), "pairs": p.pairs,
                                 "saturable": p.saturable, "share": p.share} for p in self.products]}


#: What removes the saturating path, cheapest first for the serving code.
CURE = ("quantize with uint8 weights (quantize_dynamic(..., weight_type=QuantType.QUInt8)), or with "
        "reduce_range=True (7-bit weights), or set session.x64quantprecision=1 in the serving code's "
        "SessionOptions (add_session_config_entry; ONNX Runtime 1.25 on cannot open a file with it whose "
        "int8 weights or zero points are shared between products: int8_rewrite.write_unshared)")


def saturable_pairs(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For an int8 weight (K, N): the pair index p (rows 2p, 2p + 1) and column n of every pair
    whose sum with uint8 activations can leave int16 (an odd K's last row pairs with a zero)."""
    w = weight.astype(np.int32)
    if w.shape[0] % 2:
        w = np.concatenate([w, np.zeros((1, w.shape[1]), np.int32)])
    w0, w1 = w[0::2], w[1::2]
    high = UINT8_MAX * (np.maximum(w0, 0) + np.maximum(w1, 0))
    low = UINT8_MAX * (np.minimum(w0, 0) + np.minimum(w1, 0))
    p, n = np.nonzero((high > INT16_MAX) | (low < INT16_MIN))
    return p, n


def _u8s8_nodes(model: Any) -> list[tuple[Any, str | None]]:
    """(node, weight name) of every quantized product whose weight is int8 (or unknown): the
    quantized ops, and a QDQ graph's DequantizeLinear of an int8 constant feeding a MatMul or Gemm
    (ONNX Runtime fuses the pair into an integer product, on x86 a U8S8 one)."""
    from onnx import TensorProto

    types = {i.name: i.data_type for i in model.graph.initializer}
    types.update({v.name: v.type.tensor_type.elem_type for v in
                  [*model.graph.value_info, *model.graph.input] if v.type.HasField("tensor_type")})
    # DynamicQuantizeLinear's output is uint8 by the ONNX spec (no value_info needed): a product of two
    # of them (attention's activation x activation, optimum's quantizer) is U8U8, exact (walk AA)
    types.update({node.output[0]: TensorProto.UINT8 for node in model.graph.node
                  if node.op_type == "DynamicQuantizeLinear" and node.output[0] not in types})
    products = {i for node in model.graph.node if node.op_type in ("MatMul", "Gemm") for i in node.input[:2]}
    out = []
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] in products and \
                types.get(node.input[0]) == TensorProto.INT8:
            out.append((node, node.input[0]))
            continue
        if node.op_type not in U8S8_OPS or len(node.input) <= _WEIGHT_INPUTS[node.op_type][0]:
            continue
        weight = node.input[_WEIGHT_INPUTS[node.op_type][0]]
        kind = types.get(weight)
        if kind == TensorProto.INT8:
            out.append((node, weight))
        elif kind is None:
            out.append((node, None))  # computed at run time: type unknown here
    return out


def audit(model: Any) -> SaturationAudit:
    """Every U8S8 product of `model` (an onnx ModelProto or a path) and its saturable weight pairs."""
    from onnx import numpy_helper

    model = _load(model)
    weights = {i.name: i for i in model.graph.initializer}
    products = []
    for node, name in _u8s8_nodes(model):
        label = node.name or node.output[0]
        if name is None or name not in weights:
            products.append(ProductAudit(label, node.op_type, (), 0, 0, static=False))
            continue
        w = numpy_helper.to_array(weights[name])
        if node.op_type == "DequantizeLinear" and w.ndim == 2 and _transposed_gemm(model, node):
            w = w.T
        w2 = w.reshape(w.shape[0], -1) if node.op_type not in ("QLinearConv", "ConvInteger") else \
            w.reshape(w.shape[0], -1).T  # a conv's reduced axis is (in channels x kernel)
        p, _ = saturable_pairs(w2)
        products.append(ProductAudit(label, node.op_type, tuple(int(d) for d in w.shape),
                                     ((w2.shape[0] + 1) // 2) * w2.shape[1], int(p.size), static=True))
    return SaturationAudit(tuple(products), shared_integer_inputs(model))


def _transposed_gemm(model: Any, dq: Any) -> bool:
    """Whether the DequantizeLinear `dq` feeds a Gemm as a transposed B (weights stored (N, K))."""
    for node in model.graph.node:
        if node.op_type == "Gemm" and len(node.input) > 1 and node.input[1] == dq.output[0]:
            return any(a.name == "transB" and a.i == 1 for a in node.attribute)
    return False


def _load(model: Any) -> Any:
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model), format="protobuf")
    return model


def saturating_model(model: Any) -> Any:
    """`model` (a ModelProto or path) as a saturating CPU computes it, in ops every CPU computes
    exactly: a GateError names any op whose saturation it cannot reproduce."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = _load(model)
    found = audit(model)
    if found.not_emulated:
        raise GateError(f"the saturating path of this file cannot be emulated: its "
                        f"{', '.join(found.not_emulated)} products can saturate and only "
                        f"{', '.join(EMULATED_OPS)} is emulated; judge it on an x86 CPU without VNNI, where "
                        "ONNX Runtime computes it so itself")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    weights = {i.name: i for i in graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)
    nodes: list[Any] = []
    for node in graph.node:
        if node.op_type != "MatMulInteger" or node.input[1] not in weights or \
                weights[node.input[1]].data_type != TensorProto.INT8:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        p, n = saturable_pairs(w.reshape(w.shape[0], -1))
        if w.ndim != 2 or not p.size:
            nodes.append(node)  # nothing can saturate: U8S8 is exact for it
            continue
        nodes += _emulated(node, w, p, n, graph, opset, helper, numpy_helper, TensorProto)
    del graph.node[:]
    graph.node.extend(nodes)
    used = _inputs(graph.node)
    kept = [i for i in graph.initializer if i.name in used or i.name in {g.name for g in graph.output}]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return out


def _inputs(nodes: Iterable[Any]) -> set[str]:
    """Every name `nodes` read, their subgraphs' (If, Loop, Scan) included."""
    names: set[str] = set()
    for node in nodes:
        names.update(node.input)
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                names |= _inputs(sub.node)
    return names


def _emulated(node: Any, w: np.ndarray, p: np.ndarray, n: np.ndarray, graph: Any, opset: int, helper: Any,
              numpy_helper: Any, TensorProto: Any) -> list[Any]:
    """The nodes replacing one U8S8 MatMulInteger: its exact product (the node itself, run where
    U8S8 is exact: `emulation_options`) minus what the int16 clip takes off each saturable pair.

    A pair can only saturate upwards when both its weights are positive (255 x 127 alone stays
    within int16) and downwards when both are negative; the second kind is negated, so one clip
    serves both and its cut counts negative. Only the pairs that can saturate on this batch's
    activations are computed: a pair's sum is largest where both activations are, so one whose sum
    at its two activations' largest values in the batch stays within int16 cuts nothing for any
    token (an exact filter, not an approximation; on the default model it leaves 1-5% of the
    saturable pairs; on a random-weight 125M model, 7-10%), and a product with none left is the
    node's own (an If). The live pairs' cuts reach their columns by a ScatterND sum of those that
    are not zero, in int32, from opset 16 (`_scattered`), before it through a matrix product
    (`_multiplied`)."""
    tag = (node.name or node.output[0]).replace("/", "_") + "_sat"
    k, cols = w.shape
    rows0, rows1 = 2 * p, 2 * p + 1
    w_pad = np.concatenate([w, np.zeros((1, cols), w.dtype)]) if k % 2 else w
    w0, w1 = w_pad[rows0, n].astype(np.int32), w_pad[rows1, n].astype(np.int32)
    sign = np.where(w0 > 0, 1, -1)  # both weights positive, or both negative (see above)
    scattered = opset >= 16  # ScatterND's reduction
    wide = k > 1024  # a column's cuts could top float32's exact integers (2^24): _multiplied
    real, real_type = (np.float64, TensorProto.DOUBLE) if wide else (np.float32, TensorProto.FLOAT)
    consts = {
        f"{tag}_rows0": rows0.astype(np.int64),
        f"{tag}_rows1": rows1.astype(np.int64),  # below K: an odd K's padding row never saturates
        f"{tag}_w0": (sign * w0).astype(np.float32),
        f"{tag}_w1": (sign * w1).astype(np.float32),
        f"{tag}_limit": np.where(sign > 0, INT16_MAX, -INT16_MIN).astype(np.float32),
        f"{tag}_column": n.astype(np.int64)[:, None],
        f"{tag}_sign": sign.astype(np.float32) if scattered else sign.astype(real)[:, None],
        f"{tag}_flat_n": np.array([-1, cols], np.int64),
        f"{tag}_row": np.array([1, -1], np.int64),
        f"{tag}_column_shape": np.array([-1, 1], np.int64),
        f"{tag}_first_row": np.array([0], np.int64),
        f"{tag}_second_row": np.array([1], np.int64),
        f"{tag}_columns": np.arange(cols, dtype=np.int64),
        f"{tag}_flat": np.array([-1, k], np.int64),
        f"{tag}_reduced": np.array([0], np.int64),
        f"{tag}_one": np.array([-1], np.int64),
        f"{tag}_none": np.array(0, np.int64),
        f"{tag}_no_where": np.zeros((0, 2), np.int64),
        f"{tag}_no_minus": np.zeros((0,), np.int32),
    }
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in consts.items())
    t = tag

    def gather(src: str, index: str, out: str, axis: int = 0) -> Any:
        return helper.make_node("Gather", [src, index], [out], axis=axis)

    def cast(src: str, out: str, to: int = TensorProto.FLOAT) -> Any:
        return helper.make_node("Cast", [src], [out], to=to)

    def bound(side: str) -> list[Any]:  # a pair's weight times the largest activation it meets
        return [gather(f"{t}_max", f"{t}_rows{side}", f"{t}_hi{side}"),
                helper.make_node("Mul", [f"{t}_hi{side}", f"{t}_w{side}"], [f"{t}_b{side}"])]

    def activations(side: str) -> list[Any]:  # (live pairs, tokens): whole rows of the transposed activations
        return [gather(f"{t}_aT", f"{t}_rows{side}_live", f"{t}_a{side}_u8"),
                cast(f"{t}_a{side}_u8", f"{t}_a{side}"),
                helper.make_node("Reshape", [f"{t}_w{side}_live", f"{t}_column_shape"], [f"{t}_w{side}_c"]),
                helper.make_node("Mul", [f"{t}_a{side}", f"{t}_w{side}_c"], [f"{t}_p{side}"])]

    reduce = (helper.make_node("ReduceMax", [f"{t}_a2", f"{t}_reduced"], [f"{t}_max_u8"], keepdims=0)
              if opset >= 18 else  # axes an input from opset 18, before an attribute
              helper.make_node("ReduceMax", [f"{t}_a2"], [f"{t}_max_u8"], axes=[0], keepdims=0))
    live = ["rows0", "rows1", "w0", "w1", "limit", "column", "sign"]
    # scattered: the cells' (token, column) and what each takes off, summed into the product by one
    # ScatterND after the If; multiplied: the clipped product itself
    cut_outputs = ([("where", TensorProto.INT64), ("minus", TensorProto.INT32)] if scattered
                   else [("clipped", TensorProto.INT32)])
    cut = helper.make_graph([
        *[gather(f"{t}_{name}", f"{t}_idx", f"{t}_{name}_live") for name in live],
        helper.make_node("Transpose", [f"{t}_a2"], [f"{t}_aT"], perm=[1, 0]),  # (K, tokens)
        *activations("0"), *activations("1"),
        helper.make_node("Add", [f"{t}_p0", f"{t}_p1"], [f"{t}_sum"]),  # exact: |sum| < 2^17
        helper.make_node("Reshape", [f"{t}_limit_live", f"{t}_column_shape"], [f"{t}_limit_c"]),
        helper.make_node("Sub", [f"{t}_sum", f"{t}_limit_c"], [f"{t}_over"]),
        helper.make_node("Relu", [f"{t}_over"], [f"{t}_cut_t"]),  # what the clip takes off each live pair
        *(_scattered(t, helper, TensorProto) if scattered else
          _multiplied(t, wide, real_type, helper, TensorProto)),
    ], f"{t}_cut", [],
        [helper.make_tensor_value_info(f"{t}_{name}", kind, None) for name, kind in cut_outputs])
    none = helper.make_graph(  # nothing to cut: no cells (scattered), the product itself (multiplied)
        [helper.make_node("Identity", [f"{t}_no_{name}" if scattered else f"{t}_exact"], [f"{t}_none_{name}"])
         for name, _ in cut_outputs], f"{t}_none", [],
        [helper.make_tensor_value_info(f"{t}_none_{name}", kind, None) for name, kind in cut_outputs])
    return [
        # the node's own U8S8 product, exact on this CPU
        helper.make_node("MatMulInteger", list(node.input), [f"{t}_exact"], name=node.name),
        helper.make_node("Reshape", [node.input[0], f"{t}_flat"], [f"{t}_a2"]),  # (tokens, K), uint8
        reduce, cast(f"{t}_max_u8", f"{t}_max"),
        *bound("0"), *bound("1"),
        helper.make_node("Add", [f"{t}_b0", f"{t}_b1"], [f"{t}_bound"]),
        helper.make_node("Greater", [f"{t}_bound", f"{t}_limit"], [f"{t}_live"]),
        helper.make_node("NonZero", [f"{t}_live"], [f"{t}_nz"]),
        helper.make_node("Reshape", [f"{t}_nz", f"{t}_one"], [f"{t}_idx"]),
        helper.make_node("Size", [f"{t}_idx"], [f"{t}_count"]),
        helper.make_node("Greater", [f"{t}_count", f"{t}_none"], [f"{t}_any"]),
        helper.make_node("If", [f"{t}_any"], [f"{t}_cells", f"{t}_cuts"] if scattered else [node.output[0]],
                         name=f"{t}_clip", then_branch=cut, else_branch=none),
        *([] if not scattered else [
            helper.make_node("Shape", [f"{t}_exact"], [f"{t}_shape"]),
            helper.make_node("Reshape", [f"{t}_exact", f"{t}_flat_n"], [f"{t}_exact2"]),
            helper.make_node("ScatterND", [f"{t}_exact2", f"{t}_cells", f"{t}_cuts"], [f"{t}_clipped2"],
                             reduction="add", name=f"{t}_cut"),
            helper.make_node("Reshape", [f"{t}_clipped2", f"{t}_shape"], [node.output[0]])]),
    ]


def _scattered(t: str, helper: Any, TensorProto: Any) -> list[Any]:
    """Opset 16 on: the cuts that are not zero (most tokens cut nothing even on a live pair), and
    the (token, column) cell of each, for `_emulated`'s ScatterND sum in int32 (exact)."""
    return [
        helper.make_node("NonZero", [f"{t}_cut_t"], [f"{t}_cut_at"]),  # (2, cuts): live pair, token
        helper.make_node("Transpose", [f"{t}_cut_at"], [f"{t}_cut_index"], perm=[1, 0]),
        helper.make_node("GatherND", [f"{t}_cut_t", f"{t}_cut_index"], [f"{t}_cut_values"]),
        helper.make_node("Gather", [f"{t}_cut_at", f"{t}_first_row"], [f"{t}_cut_pair_row"], axis=0),
        helper.make_node("Gather", [f"{t}_cut_at", f"{t}_second_row"], [f"{t}_cut_token_row"], axis=0),
        helper.make_node("Reshape", [f"{t}_cut_pair_row", f"{t}_one"], [f"{t}_cut_pair"]),
        helper.make_node("Gather", [f"{t}_sign_live", f"{t}_cut_pair"], [f"{t}_cut_sign"]),
        helper.make_node("Mul", [f"{t}_cut_values", f"{t}_cut_sign"], [f"{t}_signed"]),
        helper.make_node("Cast", [f"{t}_signed"], [f"{t}_cut_i"], to=TensorProto.INT32),
        helper.make_node("Neg", [f"{t}_cut_i"], [f"{t}_minus"]),
        helper.make_node("Reshape", [f"{t}_column_live", f"{t}_one"], [f"{t}_column_flat"]),
        helper.make_node("Gather", [f"{t}_column_flat", f"{t}_cut_pair"], [f"{t}_cut_column"]),
        helper.make_node("Reshape", [f"{t}_cut_column", f"{t}_row"], [f"{t}_cut_column_row"]),
        helper.make_node("Concat", [f"{t}_cut_token_row", f"{t}_cut_column_row"], [f"{t}_where_t"], axis=0),
        helper.make_node("Transpose", [f"{t}_where_t"], [f"{t}_where"], perm=[1, 0]),  # (cuts, 2)
    ]


def _multiplied(t: str, wide: bool, real_type: int, helper: Any, TensorProto: Any) -> list[Any]:
    """Before opset 16 (no ScatterND reduction): the cuts reach their columns through a
    product with a (live pairs, N) matrix of their columns' signs. Each cut is an integer below
    2^15 and a column sums at most K/2 of them: exact in float32 up to K = 1024, in float64 above.
    Its cost grows with live pairs x N per token (the scatter's with live pairs alone)."""
    # float64 (wide): an Einsum of the (live pairs, tokens) cuts, not Transpose + MatMul, which ONNX
    # Runtime fuses into a FusedMatMul that has no double kernel in some releases (1.20: "Could not
    # find an implementation for FusedMatMul(1) node with name ..."); float32 keeps the MatMul
    product = ([helper.make_node("Cast", [f"{t}_cut_t"], [f"{t}_cut_r"], to=real_type),
                helper.make_node("Einsum", [f"{t}_cut_r", f"{t}_place"], [f"{t}_cuts_r"],
                                 equation="lt,ln->tn")]
               if wide else
               [helper.make_node("Transpose", [f"{t}_cut_t"], [f"{t}_cut_f"], perm=[1, 0]),  # (tokens, pairs)
                helper.make_node("MatMul", [f"{t}_cut_f", f"{t}_place"], [f"{t}_cuts_r"])])
    return [
        helper.make_node("Equal", [f"{t}_column_live", f"{t}_columns"], [f"{t}_at"]),
        helper.make_node("Cast", [f"{t}_at"], [f"{t}_at_r"], to=real_type),
        helper.make_node("Mul", [f"{t}_at_r", f"{t}_sign_live"], [f"{t}_place"]),
        *product,
        helper.make_node("Cast", [f"{t}_cuts_r"], [f"{t}_cuts"], to=TensorProto.INT32),  # (tokens, N)
        helper.make_node("Shape", [f"{t}_exact"], [f"{t}_shape"]),
        helper.make_node("Reshape", [f"{t}_cuts", f"{t}_shape"], [f"{t}_cut"]),
        helper.make_node("Sub", [f"{t}_exact", f"{t}_cut"], [f"{t}_clipped"]),
    ]


def shared_integer_inputs(model: Any) -> dict[str, int]:
    """The int8 initializers that more than one integer product reads as its weight or weight zero
    point, with how many read each. ONNX Runtime 1.25 to 1.32 cannot open such a file with
    `EXACT_SESSION_OPTION` ("AddInitializedOrtValue Attempt to replace the existing tensor": it
    converts the shared tensor once per product under one name); 1.24 can. Shared zero points are
    what a de-duplicated dynamically quantized file has (`backends.dedupe`, `export --dedupe`)."""
    from onnx import TensorProto

    model = _load(model)
    int8 = {i.name for i in model.graph.initializer if i.data_type == TensorProto.INT8}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for index in _WEIGHT_INPUTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index] in int8:
                readers[node.input[index]] = readers.get(node.input[index], 0) + 1
    return {name: count for name, count in readers.items() if count > 1}


def unshared_model(model: Any) -> Any:
    """`model` with a copy of each `shared_integer_inputs` initializer per product reading it (the
    same numbers: what `EXACT_SESSION_OPTION` can load on every ONNX Runtime release)."""
    import onnx

    model = _load(model)
    shared = shared_integer_inputs(model)
    if not shared:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    tensors = {i.name: i for i in out.graph.initializer}
    taken = set(tensors) | {v for node in out.graph.node for v in (*node.input, *node.output)}
    seen: dict[str, int] = {}
    for node in out.graph.node:
        for index in _WEIGHT_INPUTS.get(node.op_type, ()):
            name = node.input[index] if index < len(node.input) else ""
            if name not in shared:
                continue
            seen[name] = seen.get(name, 0) + 1
            if seen[name] == 1:
                continue  # the first reader keeps the original
            copy_name = f"{name}__copy{seen[name]}"
            while copy_name in taken:
                copy_name += "_"
            taken.add(copy_name)
            copy = onnx.TensorProto()
            copy.CopyFrom(tensors[name])
            copy.name = copy_name
            out.graph.initializer.append(copy)
            node.input[index] = copy_name
    return out


def write_unshared(src: Path, dst: Path) -> None:
    """Write `src` with its shared integer inputs copied per product to `dst`."""
    import onnx

    _save(unshared_model(onnx.load(str(src), format="protobuf")), dst)


def _save(model: Any, dst: Path) -> None:
    """Save a rewritten file: its weights inside it when small, else beside it (dst.name + .data)."""
    import onnx

    dst.parent.mkdir(parents=True, exist_ok=True)
    large = model.ByteSize() > 1_800_000_000
    onnx.save(model, str(dst), save_as_external_data=large, all_tensors_to_one_file=True,
              location=dst.name + ".data" if large else None)


def write_saturating(src: Path, dst: Path) -> SaturationAudit:
    """Write `src`'s saturating path to `dst` (weights inside the file when small, else beside it)."""
    import onnx

    model = onnx.load(str(src), format="protobuf")
    found = audit(model)
    _save(saturating_model(model), dst)
    return found
