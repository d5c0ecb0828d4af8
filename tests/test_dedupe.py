"""Shared-weight de-duplication (encoder_gate.backends.dedupe) on a tiny ALBERT and handmade graphs.

Measured with torch 2.13 / optimum-onnx 0.1.0: torch's exporter already writes each of
ALBERT's shared layer weights once, so the FP32 export has nothing to remove. A graph with
a copy per layer (what other exporters write) shrinks by the number of layers on the layer
weights, and ONNX Runtime's transformer optimizer (the FP16 recipe) re-creates one fused
QKV weight per layer, which de-duplication folds back to one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.dedupe import dedupe_file
from encoder_gate.cache import ArtifactCache
from encoder_gate.errors import GateError

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
LAYERS = 6


@pytest.fixture(scope="module")
def albert_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded 6-layer ALBERT classifier exported with the suite's FP32 recipe (model.onnx)."""
    import torch
    from transformers import AlbertConfig, AlbertForSequenceClassification

    from encoder_gate.backends.onnx_build import export_fp32
    from encoder_gate.models.spec import spec_from_dir

    root = tmp_path_factory.mktemp("albert")
    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=500, embedding_size=32, hidden_size=64, num_hidden_layers=LAYERS,
                          num_attention_heads=2, intermediate_size=128, num_labels=28,
                          problem_type="multi_label_classification")
    model = AlbertForSequenceClassification(config).eval()
    with torch.no_grad():  # trained-looking weights: no two tensors (zero biases, unit norms) equal
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model.save_pretrained(root / "hf")
    spec = spec_from_dir("albert", root / "hf", "local")
    ctx = BuildContext(model=spec, cache=ArtifactCache(root / "cache"))
    (root / "fp32").mkdir()
    export_fp32(ctx, root / "fp32")
    return root / "fp32"


def run(path: Path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"input_ids": rng.integers(5, 500, size=(3, 17)), "attention_mask": np.ones((3, 17), np.int64),
             "token_type_ids": np.zeros((3, 17), np.int64)}
    feeds = {i.name: feeds[i.name].astype(np.int64) for i in session.get_inputs()}
    out: np.ndarray = session.run(None, feeds)[0]
    return out


def shared_weights(model) -> dict[str, int]:
    """Initializers that more than one node reads (ALBERT's layer weights), with their uses."""
    uses: dict[str, int] = {}
    names = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        for name in node.input:
            if name in names:
                uses[name] = uses.get(name, 0) + 1
    return {k: v for k, v in uses.items() if v > 1}


def unshare(model, shared: set[str]) -> int:
    """Give every reader of a shared initializer its own copy, as a per-layer exporter would."""
    from onnx import numpy_helper

    by_name = {t.name: t for t in model.graph.initializer}
    seen: dict[str, int] = {}
    copies = 0
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in shared:
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    copy = numpy_helper.from_array(numpy_helper.to_array(by_name[name]),
                                                   f"{name}__copy{seen[name]}")
                    model.graph.initializer.append(copy)
                    node.input[i] = copy.name
                    copies += 1
    return copies


def weight_bytes(model, names: set[str]) -> int:
    from onnx import numpy_helper

    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer
               if t.name in names or t.name.split("__copy")[0] in names)


def test_torch_exporter_already_stores_albert_layers_once(albert_export: Path, tmp_path: Path):
    """The suite's FP32 export reads each layer weight from one initializer: dedupe finds nothing."""
    model = onnx.load(str(albert_export / "model.onnx"))
    shared = shared_weights(model)
    # q, k, v, attention output, FFN in and out: read once per layer from a single initializer
    assert sum(1 for uses in shared.values() if uses == LAYERS) >= 6
    stats = dedupe_file(albert_export / "model.onnx", tmp_path / "same.onnx")
    assert stats.removed == 0 and stats.bytes_after == stats.bytes_before


def test_copy_per_layer_graph_shrinks_by_the_layer_count(albert_export: Path, tmp_path: Path):
    """A graph with one copy of the shared weights per layer folds back to one copy, same outputs."""
    model = onnx.load(str(albert_export / "model.onnx"))
    layer_weights = {n for n, uses in shared_weights(model).items() if uses == LAYERS}
    original_bytes = weight_bytes(model, layer_weights)
    copies = unshare(model, layer_weights)
    copied = tmp_path / "per_layer.onnx"
    onnx.save(model, str(copied))
    assert weight_bytes(model, layer_weights) == LAYERS * original_bytes
    expected = run(copied)

    stats = dedupe_file(copied, tmp_path / "deduped.onnx")
    deduped = onnx.load(str(tmp_path / "deduped.onnx"))
    assert stats.removed == copies
    assert weight_bytes(deduped, layer_weights) == original_bytes
    ratio = weight_bytes(model, layer_weights) / weight_bytes(deduped, layer_weights)
    assert ratio >= 0.6 * LAYERS  # exactly LAYERS here; the bound allows partly shared layers
    assert stats.file_bytes_before - stats.file_bytes_after >= (LAYERS - 1) * original_bytes
    exported = (albert_export / "model.onnx").stat().st_size
    assert abs(stats.file_bytes_after - exported) < 0.02 * exported
    np.testing.assert_array_equal(run(tmp_path / "deduped.onnx"), expected)
    np.testing.assert_array_equal(run(albert_export / "model.onnx"), expected)


def test_fp16_recipe_copies_fused_qkv_per_layer_and_dedupe_folds_them(albert_export: Path, tmp_path: Path):
    """The optimizer packs a QKV weight per Attention node; dedupe keeps one, outputs unchanged."""
    from encoder_gate.backends.fusions import unfused_here
    from encoder_gate.backends.onnx_build import convert_fp16

    if unfused_here():
        pytest.skip(unfused_here())
    from encoder_gate.models.spec import spec_from_dir

    spec = spec_from_dir("albert", albert_export.parent / "hf", "local")
    (tmp_path / "fp16").mkdir()
    ctx = BuildContext(model=spec, cache=ArtifactCache(tmp_path / "c"))
    convert_fp16(ctx, albert_export, tmp_path / "fp16")
    path = tmp_path / "fp16" / "model.onnx"
    before = onnx.load(str(path))
    qkv = [t for t in before.graph.initializer if t.name.endswith("_qkv_weight")]
    assert len(qkv) >= LAYERS - 1, [t.name for t in qkv]
    expected = run(path)

    stats = dedupe_file(path)
    after = onnx.load(str(path))
    assert len([t for t in after.graph.initializer if t.name.endswith("_qkv_weight")]) == 1
    assert stats.removed >= 2 * (len(qkv) - 1)  # weight and bias of each extra copy
    assert stats.file_bytes_after < stats.file_bytes_before
    np.testing.assert_array_equal(run(path), expected)


def test_subgraph_readers_are_rewritten_and_graph_inputs_kept(tmp_path: Path):
    """An If branch reading a duplicate is pointed at the kept copy; a graph-input default stays."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    inits = [numpy_helper.from_array(w, "w_a"), numpy_helper.from_array(w.copy(), "w_b"),
             numpy_helper.from_array(w.copy(), "w_input")]
    then_branch = helper.make_graph([helper.make_node("Add", ["x", "w_b"], ["y_then"])], "then", [],
                                    [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [2, 3])])
    else_branch = helper.make_graph([helper.make_node("Mul", ["x", "w_input"], ["y_else"])], "else", [],
                                    [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [2, 3])])
    graph = helper.make_graph(
        [helper.make_node("Sub", ["x", "w_a"], ["d"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("w_input", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("d", TensorProto.FLOAT, [2, 3])],
        initializer=inits)
    path = tmp_path / "if.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    x = np.ones((2, 3), np.float32)

    def outputs() -> list[np.ndarray]:
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return [o for c in (True, False) for o in s.run(None, {"x": x, "cond": np.array(c)})]

    expected = outputs()
    stats = dedupe_file(path)
    model = onnx.load(str(path))
    assert stats.removed == 1 and stats.groups == 1
    assert {t.name for t in model.graph.initializer} == {"w_a", "w_input"}
    branches = {a.name: a.g for a in model.graph.node[1].attribute}
    then_node = branches["then_branch"].node[0]
    assert list(then_node.input) == ["x", "w_a"]
    for got, want in zip(outputs(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_missing_or_corrupt_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(GateError, match="does not exist"):
        dedupe_file(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    with pytest.raises(GateError, match="not a readable ONNX model"):
        dedupe_file(bad)


def test_in_place_without_duplicates_leaves_the_file_alone(tmp_path: Path, albert_export: Path):
    path = tmp_path / "m.onnx"
    shutil.copyfile(albert_export / "model.onnx", path)
    mtime = path.stat().st_mtime_ns
    assert dedupe_file(path).removed == 0
    assert path.stat().st_mtime_ns == mtime
