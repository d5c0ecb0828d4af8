"""The FP32 ONNX export without optimum: torch.onnx.export (TorchScript) with eager attention.

A seeded BERT with weights of std 0.5 (attention far from uniform, so a dropped attention mask
shows) is exported, run on a padded batch, then put through the FP16 and INT8 recipes. ONNX
Runtime's transformer optimizer must still fuse it (Attention, EmbedLayerNormalization,
SkipLayerNormalization): the dynamo exporter's graph loses those fusions.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.onnx_backend import OnnxBackend
from encoder_gate.backends.onnx_build import (
    TORCH_EXPORTER,
    convert_fp16,
    export_fp32_torch,
    export_inputs,
    fp32_exporter,
    quiet_exporter_notices,
)
from encoder_gate.backends.onnx_quantize import quantize_int8
from encoder_gate.cache import ArtifactCache
from encoder_gate.models.spec import ModelSpec, spec_from_dir

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def test_token_type_ids_only_where_the_model_has_more_than_one_type():
    bert = ("input_ids", "attention_mask", "token_type_ids")
    assert export_inputs(SimpleNamespace(type_vocab_size=2)) == bert
    assert export_inputs(SimpleNamespace(type_vocab_size=1)) == ("input_ids", "attention_mask")  # RoBERTa
    assert export_inputs(SimpleNamespace()) == ("input_ids", "attention_mask")  # DistilBERT has no types


@pytest.fixture(scope="module", params=["multi_label", "feature_extraction"])
def bert(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    root: Path = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=28, initializer_range=0.5,
                        problem_type="multi_label_classification")
    cls = BertModel if request.param == "feature_extraction" else BertForSequenceClassification
    cls(config).eval().save_pretrained(root / "hf")
    spec = spec_from_dir("bert", root / "hf", "local")
    assert spec.task == request.param
    ctx = BuildContext(model=spec, cache=ArtifactCache(root / "cache"))
    for name in ("fp32", "fp16", "int8"):
        (root / name).mkdir()
    export_fp32_torch(ctx, root / "fp32")
    return ctx, root, cls.from_pretrained(root / "hf").eval()


def padded_batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 200, size=(3, 21))
    mask = np.ones_like(ids)
    mask[0, 12:] = 0
    mask[2, 3:] = 0
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def run(path: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {i.name: batch[i.name] for i in session.get_inputs()})[0]
    return out


def ops(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def test_torch_export_matches_torch_on_a_padded_batch(bert):
    ctx, root, model = bert
    batch = padded_batch()
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    want = (out.last_hidden_state if ctx.model.task == "feature_extraction" else out.logits).numpy()
    got = run(root / "fp32" / "model.onnx", batch)
    assert got.shape == want.shape
    real = batch["attention_mask"].astype(bool)
    close = np.abs(got - want)[real] if got.ndim == 3 else np.abs(got - want)
    assert close.max() <= 1e-4
    session = ort.InferenceSession(str(root / "fp32" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in session.get_outputs()] == [
        "last_hidden_state" if ctx.model.task == "feature_extraction" else "logits"]
    # the mask is an input of the graph, not a constant: padding a row further changes nothing
    wider = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in batch.items()}
    again = run(root / "fp32" / "model.onnx", wider)
    moved = np.abs(again[:, :21] - got)[real] if got.ndim == 3 else np.abs(again - got)
    assert moved.max() <= 1e-4


def test_fp16_recipe_fuses_the_torch_export_and_int8_quantizes_it(bert):
    from encoder_gate.backends.fusions import unfused_here

    if unfused_here():
        pytest.skip(unfused_here())
    ctx, root, _ = bert
    convert_fp16(ctx, root / "fp32", root / "fp16")
    counts = ops(root / "fp16" / "model.onnx")
    assert counts.get("Attention") == 2 and counts.get("EmbedLayerNormalization") == 1
    from encoder_gate.backends.fusions import FUSIONS_FILE, fusion_note

    recorded = json.loads((root / "fp16" / FUSIONS_FILE).read_text())  # what its runner's note reads
    assert recorded["fused"]["Attention"] == 2 and fusion_note(root / "fp16") is None
    assert counts.get("SkipLayerNormalization", 0) >= 3
    batch = padded_batch()
    fp32 = run(root / "fp32" / "model.onnx", batch)
    real = batch["attention_mask"].astype(bool)
    fp16_diff = np.abs(run(root / "fp16" / "model.onnx", batch) - fp32)
    assert (fp16_diff[real] if fp32.ndim == 3 else fp16_diff).max() <= 0.05
    quantize_int8(ctx, root / "fp32", root / "int8")
    assert ops(root / "int8" / "model.onnx").get("MatMulInteger", 0) >= 8
    assert run(root / "int8" / "model.onnx", batch).shape == fp32.shape


#: The test BERT's attention and FFN matrices have 32 x 32 elements and more: above this, they
#: are left out of a weightless copy, and every bias and LayerNorm vector kept.
MATRICES = 1000


def test_a_cuda_fp16_build_loads_the_cuda_libraries_before_the_optimizers_own_session(bert, monkeypatch,
                                                                                     tmp_path):
    """On cuda the FP16 recipe's optimizer opens a CUDA session of its own, in the build's process:
    the CUDA libraries (and ONNX Runtime's quiet logger) are loaded first, as for the gate's sessions;
    on the CPU they are not."""
    import dataclasses

    import onnxruntime.transformers.optimizer as optimizer

    from encoder_gate.backends import onnx_session

    ctx, root, _ = bert
    calls: list[str] = []

    class Stop(Exception):
        pass

    def optimize(*_args: object, **kwargs: object) -> None:
        calls.append(f"optimize use_gpu={kwargs.get('use_gpu')}")
        raise Stop

    monkeypatch.setattr(onnx_session, "load_cuda_libraries", lambda: calls.append("load"))
    monkeypatch.setattr(optimizer, "optimize_model", optimize)
    for device in ("cuda", "cpu"):
        with pytest.raises(Stop):
            convert_fp16(dataclasses.replace(ctx, device=device), root / "fp32", tmp_path / device)
    assert calls == ["load", "optimize use_gpu=True", "optimize use_gpu=False"]


def test_fp16_types_inferred_without_weights_give_ort_s_own_conversion(bert, monkeypatch, tmp_path):
    """convert_fp16 infers shapes for the fusions and tensor types for the conversion on copies
    without the float weights (every matrix here: a bias or LayerNorm vector, which the fusions'
    shape inference reads values of, stays) and writes the very bytes of ONNX Runtime's own
    optimize_model and OnnxModel.convert_float_to_float16, which infer on the whole model (4.5 GB
    for a 500 MB model)."""
    import hashlib

    from onnxruntime.transformers.optimizer import optimize_model

    from encoder_gate.backends import onnx_build

    ctx, root, _ = bert
    monkeypatch.setattr(onnx_build, "WEIGHTLESS_ABOVE", MATRICES)
    light = onnx_build.weightless_copy(onnx.load(str(root / "fp32" / "model.onnx")))
    assert all(not t.raw_data and not t.float_data for t in light.graph.initializer
               if t.data_type == 1 and math.prod(t.dims) > MATRICES)
    (tmp_path / "ours").mkdir()
    convert_fp16(ctx, root / "fp32", tmp_path / "ours")
    model_type, heads, hidden = onnx_build.optimizer_shape(ctx.model.path, ctx.model.model_type)
    theirs = optimize_model(str(root / "fp32" / "model.onnx"), model_type=model_type, num_heads=heads,
                            hidden_size=hidden, opt_level=0, use_gpu=False)
    theirs.convert_float_to_float16(keep_io_types=True)
    theirs.save_model_to_file(str(tmp_path / "theirs.onnx"))

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(tmp_path / "ours" / "model.onnx") == digest(tmp_path / "theirs.onnx")


def test_the_fp16_fusions_infer_shapes_on_a_copy_without_the_weights(bert, monkeypatch, tmp_path):
    """ONNX Runtime's optimizer builds a shape-inference helper over the model at each fusion that
    asks for shapes (a copy of every weight each time: 3.1 GB for a 500 MB RoBERTa-base); inside
    convert_fp16 each helper gets a weightless copy, and the method is ORT's own again after."""
    import sys

    import onnxruntime.transformers.optimizer  # noqa: F401  (its modules import each other top-level)

    from encoder_gate.backends import onnx_build

    ctx, root, _ = bert
    monkeypatch.setattr(onnx_build, "WEIGHTLESS_ABOVE", MATRICES)
    seen: list[int] = []  # the float weight bytes of each helper's model
    helpers = {sys.modules[name].SymbolicShapeInferenceHelper
               for name in ("shape_infer_helper", "onnxruntime.transformers.shape_infer_helper")}
    for cls in helpers:
        init = cls.__init__

        def recording(self, model, *args, _init=init, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(sum(len(t.raw_data) + 4 * len(t.float_data) for t in model.graph.initializer
                            if t.data_type == 1 and math.prod(t.dims) > MATRICES))
            _init(self, model, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", recording)
    model_class = sys.modules["onnx_model"].OnnxModel
    before = model_class.__dict__["infer_runtime_shape"]
    (tmp_path / "fp16").mkdir()
    convert_fp16(ctx, root / "fp32", tmp_path / "fp16")
    assert seen and max(seen) == 0, seen
    assert model_class.__dict__["infer_runtime_shape"] is before


def test_a_model_of_a_vocabulary_of_five_tokens_or_fewer_exports(tmp_path: Path):
    """The export's example batch held token id 5: a model whose vocabulary has 5 tokens or fewer (a
    tokenizer trained on too little text, in a user trial) failed with "index out of range in self"."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2, max_position_embeddings=32)
    BertForSequenceClassification(config).eval().save_pretrained(tmp_path / "hf")
    ctx = BuildContext(model=spec_from_dir("small", tmp_path / "hf", "local"),
                       cache=ArtifactCache(tmp_path / "cache"))
    (tmp_path / "fp32").mkdir()
    export_fp32_torch(ctx, tmp_path / "fp32")
    ids = np.array([[2, 3, 1, 0]])
    out = run(tmp_path / "fp32" / "model.onnx", {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                                  "token_type_ids": np.zeros_like(ids)})
    assert out.shape == (1, 2) and np.isfinite(out).all()


def test_the_exporter_is_part_of_the_artifact_key(tiny_ctx):
    """The cached onnx-fp32 of `tiny` was made by this environment's exporter, and says so."""
    from encoder_gate.backends import parse_backend
    from encoder_gate.cache import MANIFEST

    path, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    key = json.loads((path / MANIFEST).read_text())["key"]
    assert key["exporter"] == fp32_exporter()
    if fp32_exporter()["name"] == TORCH_EXPORTER:  # the package's version: a CUDA build's
        # torch.__version__ carries a local label ("2.6.0+cu124") its metadata does not
        from importlib import metadata

        assert key["exporter"]["version"] == f"torch {metadata.version('torch')}"


# --- the exporter's deprecations of itself stay out of the user's warnings summary ------------


def test_a_fresh_export_of_the_tiny_model_lets_no_warning_out(tiny: ModelSpec, tmp_path: Path):
    """A fresh onnx-fp32 export (empty cache) lets out no warning: not the exporter's deprecations,
    nor its notices on the trace (mask shapes, aten::index)."""
    ctx = BuildContext(model=tiny, cache=ArtifactCache(tmp_path / "cache"), threads=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path, hit = OnnxBackend("fp32").artifact(ctx)
    assert not hit and (path / "model.onnx").is_file()  # it really exported
    leaked = [f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}" for w in caught]
    assert leaked == []


LEGACY = ("You are using the legacy TorchScript-based ONNX export. Starting in PyTorch 2.9, the new "
          "torch.export-based ONNX exporter has become the default.")
REMOVED = "The feature will be removed. Please remove usage of this function"


def _warn_like_an_export() -> None:
    """The exporter's two deprecations of itself, then three warnings that are not them."""
    warnings.warn(LEGACY, DeprecationWarning, stacklevel=2)
    warnings.warn_explicit(REMOVED, DeprecationWarning, "utils.py", 218,
                           module="torch.onnx._internal.torchscript_exporter.utils")
    warnings.warn_explicit(REMOVED, DeprecationWarning, "helpers.py", 7, module="their_package.helpers")
    warnings.warn("indices with negative values export wrong", UserWarning, stacklevel=2)
    warnings.warn("some_function is deprecated", DeprecationWarning, stacklevel=2)


def test_the_exporter_filter_drops_only_the_exporter_deprecations():
    """quiet_exporter_notices drops the exporter's own two; a UserWarning, another DeprecationWarning
    and the same generic message from another package still pass, and the filters are restored."""
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_exporter_notices():
            _warn_like_an_export()
        inside = [(w.category, str(w.message)) for w in caught]
        caught.clear()
        _warn_like_an_export()
        outside = [(w.category, str(w.message)) for w in caught]
    assert inside == [(DeprecationWarning, REMOVED),
                      (UserWarning, "indices with negative values export wrong"),
                      (DeprecationWarning, "some_function is deprecated")]
    assert len(outside) == 5 and outside[0] == (DeprecationWarning, LEGACY)
    assert warnings.filters == before


def test_recipe_loggers_are_quiet_inside_a_build_and_as_they_were_after(caplog: pytest.LogCaptureFixture):
    """ONNX Runtime's optimizer and quantizer warn about our recipe's own choices (shape inference
    off, no pre-processing): not the user's to read. Their errors still show, and afterwards the
    loggers and the root's handlers are as they were."""
    import logging

    from encoder_gate.backends.onnx_build import quiet_exporter_notices

    fusion = logging.getLogger("onnxruntime.transformers.fusion_skiplayernorm")
    handlers = list(logging.getLogger().handlers)
    with caplog.at_level(logging.WARNING):
        with quiet_exporter_notices():
            fusion.warning("symbolic shape inference disabled or failed.")
            logging.warning("Please consider to run pre-processing before quantization.")
            fusion.error("a real failure")
        fusion.warning("after the block")
    assert [r.getMessage() for r in caplog.records] == ["a real failure", "after the block"]
    assert logging.getLogger().handlers == handlers
