"""`onnx:PATH` takes ONNX files made by other tools, or refuses them with a clear GateError.

Each case builds its file the way the other tool does: the TorchScript exporter
(dynamo=False), the dynamo exporter, the suite's cached export (optimum's main_export where
optimum is installed), ONNX Runtime's transformer optimizer, an FP16 conversion without kept
IO types, optimum's ORTQuantizer (ONNX Runtime's quantize_dynamic without optimum); plus the odd
shapes users bring (input_ids only, static shapes, several outputs, external weights). The
unmarked tests use tiny hand-built graphs; the slow ones export the `tiny` RoBERTa.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from encoder_gate.backends import parse_backend
from encoder_gate.backends.base import runner_notes
from encoder_gate.backends.onnx_backend import PrebuiltOnnxBackend
from encoder_gate.backends.onnx_graph import choose_output, infer_precision, inspect_onnx
from encoder_gate.backends.onnx_session import open_session
from encoder_gate.backends.registry import prebuilt_file, split_precision, with_prebuilt_file
from encoder_gate.errors import GateError
from encoder_gate.runtime.inference import encode

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

TEXTS = ["I love this so much!", "Why would anyone do that? " * 8, "ok", ""]  # 8, 67, 3, 2 tokens
MORE_TEXTS = [*TEXTS, "thanks a lot, that helped", "what a terrible, terrible day"]
LONG = "word " * 200  # 403 tokens
FP32_CLOSE, FP16_CLOSE, INT8_CLOSE = 1e-5, 1e-2, 5e-2  # as in test_backends: a build check
VOCAB = 2000


# --- tiny hand-built graphs (fast) ---------------------------------------------------------


def embedding_classifier(path: Path, *, labels: int = 28, mask: bool = True,
                         shape: tuple[int | str, int | str] = ("batch", "sequence"),
                         unknown_width: bool = False, weights: str = "float32",
                         extra_nodes: tuple[str, ...] = (), external: str | None = None,
                         vocab: int = VOCAB) -> Path:
    """A real (if shallow) text classifier: the masked mean of per-token logit embeddings.

    Padding-invariant when it takes an attention mask, so any padding the backend adds must
    leave its outputs unchanged. `unknown_width` reshapes the logits with a shape computed at
    run time, so not even shape inference knows their width. `weights="float16"` stores the
    table as float16 (cast back to float32 inside); `extra_nodes` adds dangling quantization
    operators (a quantized graph, by its operators); `external` saves the table as external data."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    table = rng.normal(size=(vocab, labels)).astype(weights)
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["emb16" if weights == "float16" else "emb"])]
    if weights == "float16":
        nodes.append(helper.make_node("Cast", ["emb16"], ["emb"], to=TensorProto.FLOAT))
    inits = [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([1], np.int64), "ax1"),
             numpy_helper.from_array(np.array([2], np.int64), "ax2")]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, list(shape))]
    if mask:
        inputs.append(helper.make_tensor_value_info("attention_mask", TensorProto.INT64, list(shape)))
        nodes += [helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
                  helper.make_node("Unsqueeze", ["m", "ax2"], ["m3"]),
                  helper.make_node("Mul", ["emb", "m3"], ["masked"]),
                  helper.make_node("ReduceSum", ["masked", "ax1"], ["total"], keepdims=0),
                  helper.make_node("ReduceSum", ["m3", "ax1"], ["count"], keepdims=0),
                  helper.make_node("Div", ["total", "count"], ["scores"])]
    else:
        nodes.append(helper.make_node("ReduceMean", ["emb"], ["scores"], axes=[1], keepdims=0))
    if unknown_width:
        inits.append(numpy_helper.from_array(np.array([-1], np.int64), "minus1"))
        nodes += [helper.make_node("Shape", ["input_ids"], ["ids_shape"], end=1),
                  helper.make_node("Concat", ["ids_shape", "minus1"], ["new_shape"], axis=0),
                  helper.make_node("Reshape", ["scores", "new_shape"], ["logits"])]
    else:
        nodes.append(helper.make_node("Identity", ["scores"], ["logits"]))
    for i, op in enumerate(extra_nodes):
        nodes.append(helper.make_node(op, [f"q_in{i}"], [f"q_out{i}"]))
        inputs.append(helper.make_tensor_value_info(f"q_in{i}", TensorProto.FLOAT, [1]))
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                        [shape[0], "labels" if unknown_width else labels])
    model = helper.make_model(helper.make_graph(nodes, "embedding-classifier", inputs, [out], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=external, size_threshold=1024)
    else:
        onnx.save(model, str(path))
    return path


def embedding_reference(path: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The hand-built classifier computed in numpy: masked mean of the table's rows, sigmoid."""
    import onnx
    from onnx import numpy_helper

    table = numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0]).astype(np.float64)
    ids, mask = batch["input_ids"], batch["attention_mask"].astype(np.float64)
    logits = (table[ids] * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return (1 / (1 + np.exp(-logits))).astype(np.float32)


@pytest.fixture(scope="module")
def tokenizer(tiny):
    return AutoTokenizer.from_pretrained(tiny.path)


@pytest.fixture(scope="module")
def batch(tokenizer):
    return encode(tokenizer, TEXTS)


def test_backend_name_takes_a_precision_suffix():
    """`onnx:PATH@int8` sets the precision; other `@`s stay part of the path; `@int4` is refused."""
    assert split_precision("onnx/model_quantized.onnx@int8") == ("onnx/model_quantized.onnx", "int8")
    assert split_precision("v@2/model.onnx") == ("v@2/model.onnx", None)
    assert split_precision("model.onnx") == ("model.onnx", None)
    backend = parse_backend("onnx:./onnx/model.onnx@FP16")
    assert isinstance(backend, PrebuiltOnnxBackend)
    assert (backend.path, backend.precision) == (Path("onnx/model.onnx"), "fp16")
    assert backend.name == "onnx:./onnx/model.onnx@FP16"  # as written: the session keys runners by it
    with pytest.raises(GateError, match=r"unknown precision 'int4'.*@fp32, @fp16 or @int8"):
        parse_backend("onnx:model.onnx@int4")


def test_a_prebuilt_files_path_is_read_and_rewritten_in_one_place():
    """Where a file's path is taken out of a backend's name and put back (the base's checkout, the
    prediction key's file name), its precision and integer path stay, and other names pass as they are."""
    assert prebuilt_file("onnx:DIR/m.onnx@int8~exact") == ("DIR/m.onnx", "int8")
    assert prebuilt_file("onnx:") is None and prebuilt_file("onnx-int8") is None
    named = with_prebuilt_file("onnx:DIR/m.onnx@int8~exact", lambda p: Path(p).name)
    assert named == "onnx:m.onnx@int8~exact"
    assert with_prebuilt_file("onnx:DIR/m.onnx", str.upper) == "onnx:DIR/M.ONNX"
    assert with_prebuilt_file("onnx-int8~saturating", str.upper) == "onnx-int8~saturating"


@pytest.mark.parametrize(("weights", "ops", "precision", "evidence"), [
    ("float32", (), "fp32", "float32 weights: 100%"),
    ("float16", (), "fp16", "float16 weights: 100%"),
    ("float32", ("MatMulInteger", "DynamicQuantizeLinear"), "int8", "MatMulInteger x1"),
    ("float32", ("QLinearMatMul",), "int8", "QLinearMatMul x1"),
    ("float32", ("DequantizeLinear",), "int8", "DequantizeLinear x1"),
])
def test_precision_is_inferred_from_the_graph(tmp_path, weights, ops, precision, evidence):
    """Quantized operators mean int8; otherwise the dtype of most weight elements decides."""
    path = embedding_classifier(tmp_path / "m.onnx", weights=weights, extra_nodes=ops)
    inferred, why = infer_precision(inspect_onnx(path))
    assert inferred == precision
    assert evidence in why


def test_output_choice_prefers_logits_then_the_first():
    assert choose_output(["logits"], "multi_label") == (0, None)
    assert choose_output(["hidden", "logits"], "multi_label") == (
        1, "output 'logits' used (of 2 outputs: hidden, logits)")
    assert choose_output(["scores", "hidden"], "single_label") == (
        0, "output 'scores' used (of 2 outputs: scores, hidden)")
    assert choose_output(["linear_13"], "multi_label") == (
        0, "output 'linear_13' used (the only output; none is named 'logits')")
    assert choose_output(["pooler_output", "last_hidden_state"], "feature_extraction")[0] == 1


def test_prebuilt_file_notes_its_inferred_or_given_precision(tiny_ctx, batch, tmp_path):
    """The runner's precision is the graph's (fp16 here), or the one given after `@`."""
    path = embedding_classifier(tmp_path / "half.onnx", weights="float16")
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert runner.precision == "fp16"
    assert "precision fp16 inferred from the graph (float16 weights: 100%" in runner_notes(runner)[0]
    given = parse_backend(f"onnx:{path}@int8").build(tiny_ctx)
    assert given.precision == "int8"
    assert given.notes[0].startswith("precision int8 given in the backend name (the graph looks fp16")
    assert np.abs(given.predict(batch) - embedding_reference(path, batch)).max() <= 2e-3  # fp16 table
    assert runner_notes(parse_backend("torch").build(tiny_ctx)) == ()


def test_session_bounds_follow_the_prebuilt_precision(tiny, cache_dir, tmp_path):
    """GateSession.bounds: an fp16 file gets the onnx-fp16 bounds (not int8's), with the
    overrides of onnx-fp16 and then of its own name."""
    from encoder_gate.accuracy.checks import bounds_for
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    name = f"onnx:{embedding_classifier(tmp_path / 'half.onnx', weights='float16')}"
    config = GateConfig(model="tiny", backends=("torch", name), cache_dir=cache_dir,
                        tolerances={"onnx-fp16": {"drift_mean": 0.007}, name: {"drift_max": 0.2}})
    session = GateSession(config, progress=lambda _m: None)
    bounds = session.bounds(name)
    expected = bounds_for("onnx-fp16", task=tiny.task)
    assert bounds == replace(expected, drift_mean=0.007, drift_max=0.2)
    assert bounds.overridden == {"drift_mean", "drift_max"}  # a failure names them as the project's
    assert bounds.drift_p99 != bounds_for("onnx-int8", task=tiny.task).drift_p99
    session.close()


def test_static_shapes_run_within_them(tiny_ctx, tokenizer, tmp_path):
    """A file with static (batch 4, sequence 96) inputs: batches are padded to 96 tokens and
    fed 4 rows at a time (the short last batch filled, then dropped); outputs are unchanged."""
    path = embedding_classifier(tmp_path / "static.onnx", shape=(4, 96))
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    batch = encode(tokenizer, MORE_TEXTS)  # 6 rows of 67 tokens
    assert np.abs(runner.predict(batch) - embedding_reference(path, batch)).max() <= 1e-6
    assert any(n.startswith("static input shape (4, 96): run 4 texts at a time") for n in runner.notes)
    with pytest.raises(GateError, match=r"static input shape \(4, 96\).*at most 96 tokens.*has 403.*"
                                        r"dynamic_axes.*optimum-cli export onnx"):
        runner.predict(encode(tokenizer, [LONG, "ok"]))


def test_input_ids_only_with_a_static_length_is_refused(tiny_ctx, tmp_path):
    path = embedding_classifier(tmp_path / "ids.onnx", mask=False, shape=(1, 128))
    with pytest.raises(GateError, match=r"takes no attention_mask.*\(1, 128\).*dynamic_axes"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)


def test_label_count_mismatch_is_refused_at_build(tiny_ctx, tmp_path):
    """A static output width that is not the model's label count: both counts and the labels."""
    path = embedding_classifier(tmp_path / "five.onnx", labels=5)
    with pytest.raises(GateError, match=r"outputs 5 labels .*has 28 labels in id2label \(admiration, "
                                        r"amusement.*--gate-model"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)


def test_a_file_of_another_models_vocabulary_is_refused_at_build_naming_both_sizes(tiny_ctx, tmp_path):
    """A file whose word-embedding table is smaller than the model directory's vocabulary (exported
    from another model) is refused before any text reaches it, naming both sizes; ONNX Runtime
    would otherwise fail each batch with a Gather index out of bounds, deep inside."""
    from encoder_gate.backends.onnx_graph import inspect_onnx

    path = embedding_classifier(tmp_path / "other.onnx", vocab=500)
    assert inspect_onnx(path).vocab_rows == 500
    with pytest.raises(GateError, match=r"a table of 500 rows, but the model directory's vocabulary has "
                                        r"2000 \(config.json vocab_size\): the file was exported from"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert inspect_onnx(embedding_classifier(tmp_path / "same.onnx")).vocab_rows == VOCAB


def test_a_file_of_fewer_positions_than_the_texts_fails_in_one_line_naming_its_table(tiny_ctx, batch,
                                                                                    tmp_path, cache_dir):
    """Walk AI: a BERT file exported with 128 positions, gated beside a model of 512, failed 14 tests
    with ONNX Runtime's tracebacks ("128 by 168") and about 400 lines of its log. One GateError says
    the batch, ORT's first line, and the lookup table shorter than the texts (the positions', not the
    token types' before it: review AK)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(VOCAB, 28)).astype(np.float32), "words"),
             numpy_helper.from_array(rng.normal(size=(2, 28)).astype(np.float32), "types"),
             numpy_helper.from_array(rng.normal(size=(4, 28)).astype(np.float32), "positions"),
             *(numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
               (("zero", 0), ("one", 1), ("start", [1]), ("end", [2])))]
    nodes = [helper.make_node("Gather", ["words", "input_ids"], ["words_emb"]),  # then the token types'
             helper.make_node("Gather", ["types", "zero"], ["type0"]),  # table (2 rows, before positions)
             helper.make_node("Add", ["words_emb", "type0"], ["emb"]),
             helper.make_node("Shape", ["input_ids"], ["shape"]),
             helper.make_node("Slice", ["shape", "start", "end"], ["len1"]),
             helper.make_node("Squeeze", ["len1"], ["len"]),
             helper.make_node("Range", ["zero", "len", "one"], ["ids"]),
             helper.make_node("Gather", ["positions", "ids"], ["pos"]),
             helper.make_node("Add", ["emb", "pos"], ["sum"]),
             helper.make_node("ReduceMean", ["sum"], ["logits"], axes=[1], keepdims=0)]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask")]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 28])
    model = helper.make_model(helper.make_graph(nodes, "positions", inputs, [out], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "short.onnx"))
    runner = parse_backend(f"onnx:{tmp_path / 'short.onnx'}").build(tiny_ctx)
    texts, tokens = batch["input_ids"].shape
    assert tokens > 4
    with pytest.raises(GateError) as raised:
        runner.predict(batch)
    said = str(raised.value)
    assert said.startswith(f"ONNX Runtime failed to compute {tmp_path / 'short.onnx'} on {texts} text(s) of "
                           f"{tokens} tokens (")
    assert "It looks positions up in a table of 4 rows, shorter than these texts, where config.json's " \
           "max_position_embeddings is " in said and "(--gate-model DIR)" in said and "\n" not in said
    short = {k: np.asarray(v)[:1, :3] for k, v in batch.items()}  # 3 tokens fit; the runner says the
    with pytest.raises(GateError, match=r"on \d+ text\(s\) of \d+ tokens"):  # failure at once, as a broken
        runner.predict(short)  # file's (walk AL: 12 tests and hypothesis's examples found it one by one)
    assert runner.broken == said
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    name = f"onnx:{tmp_path / 'short.onnx'}"  # in a session: its row says it, its later tests fail at once
    session = GateSession(GateConfig(model="tiny", backends=("torch", name), cache_dir=cache_dir))
    with pytest.raises(GateError, match="ONNX Runtime failed"):
        session.runner(name).predict(batch)
    with pytest.raises(GateError, match="ONNX Runtime failed"):
        session.runner(name)
    assert session.records[name].error.startswith("ONNX Runtime failed to compute")
    assert session.built(name).precision == "fp32" and session.bounds(name)  # the payload reads them
    session.release(name)  # (review AP: the payload raised at the session's end)
    with pytest.raises(GateError, match="ONNX Runtime failed"):  # built again, still said at once
        session.runner(name)


def test_label_count_mismatch_is_refused_at_first_predict(tiny_ctx, batch, tmp_path):
    """With a symbolic output width the count is checked on the first outputs."""
    path = embedding_classifier(tmp_path / "five.onnx", labels=5, unknown_width=True)
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert runner._session.get_outputs()[0].shape[1] != 5  # unknown until it runs
    with pytest.raises(GateError, match=r"outputs 5 labels .*has 28 labels in id2label"):
        runner.predict(batch)


def test_output_rank_must_fit_the_task(tiny, tiny_ctx, batch, tmp_path):
    """Hidden states (batch, sequence, hidden) for a classifier, or pooled logits for an
    encoder, are refused with the export that fits; an encoder's hidden states are pooled."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.random.default_rng(0).normal(size=(VOCAB, 28)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])], "token-embeddings",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
         for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 28])],
        [numpy_helper.from_array(table, "table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    hidden = tmp_path / "hidden.onnx"
    onnx.save(model, str(hidden))
    with pytest.raises(GateError, match=r"has shape \(batch, sequence, 28\), not \(batch, labels\).*"
                                        r"--task text-classification"):
        parse_backend(f"onnx:{hidden}").build(tiny_ctx)
    encoder = replace(tiny_ctx, model=replace(tiny, task="feature_extraction", label_names=()))
    pooled = parse_backend(f"onnx:{hidden}").build(encoder).predict(batch)
    mask = batch["attention_mask"][..., None]
    assert np.abs(pooled - (table[batch["input_ids"]] * mask).sum(1) / mask.sum(1)).max() <= 1e-6
    with pytest.raises(GateError, match=r"not \(batch, sequence, hidden\).*--task feature-extraction"):
        parse_backend(f"onnx:{embedding_classifier(tmp_path / 'logits.onnx')}").build(encoder)


@pytest.mark.parametrize("one_file", [True, False])
def test_external_data_under_any_name_is_counted(tiny_ctx, batch, tmp_path, one_file):
    """Weights beside the .onnx file (one file with any name, or one file per tensor) are
    loaded and counted in size_bytes."""
    import onnx

    path = embedding_classifier(tmp_path / "inline.onnx")
    (tmp_path / "ext").mkdir()
    model = onnx.load(str(path))
    ext = tmp_path / "ext" / "model.onnx"
    onnx.save(model, str(ext), save_as_external_data=True, all_tensors_to_one_file=one_file,
              location="weights-v2.bin" if one_file else None, size_threshold=1024)
    data = [p for p in ext.parent.iterdir() if p != ext]
    assert data and sum(p.stat().st_size for p in data) > 200_000  # the 2000 x 28 float table
    runner = parse_backend(f"onnx:{ext}").build(tiny_ctx)
    assert runner.size_bytes >= ext.stat().st_size + sum(p.stat().st_size for p in data)
    assert np.abs(runner.predict(batch) - embedding_reference(path, batch)).max() <= 1e-6
    note = next(n for n in runner.notes if n.startswith("weights stored as external data"))
    assert ("weights-v2.bin" if one_file else "table") in note


def test_missing_external_data_names_the_file(tiny_ctx, tmp_path):
    path = embedding_classifier(tmp_path / "model.onnx", external="model.onnx_data")
    (tmp_path / "model.onnx_data").unlink()
    with pytest.raises(GateError, match=r"external data files, and \S+model\.onnx_data is missing"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)
    # the same from ONNX Runtime's own message, for a file opened without the graph check
    with pytest.raises(GateError, match=r"external data file .* missing or unreadable "
                                        r"\(\S+model\.onnx_data\)"):
        open_session(path, "cpu", 1)


def test_small_tensors_stored_externally_get_the_resave_fix(tiny_ctx, tmp_path):
    """onnx.save(size_threshold=0) moves even axes constants out; ONNX Runtime's shape inference
    cannot read them: the message says so and how to save again (not 'missing file')."""
    import onnx

    model = onnx.load(str(embedding_classifier(tmp_path / "inline.onnx")))
    onnx.save(model, str(tmp_path / "model.onnx"), save_as_external_data=True, location="model.onnx_data",
              size_threshold=0)
    with pytest.raises(GateError, match=r"small tensors that shape inference must read .* "
                                        r"size_threshold=1024"):
        parse_backend(f"onnx:{tmp_path / 'model.onnx'}").build(tiny_ctx)


def test_type_mismatch_is_an_invalid_graph_not_a_corrupt_file(tiny_ctx, tmp_path):
    """A float16 value where the graph declares float: ONNX Runtime's Type Error, reported as
    a type mismatch inside the graph (the file is intact), with the FP16 conversion fix."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", ["input_ids"], ["logits"], to=TensorProto.FLOAT16)], "half-cast",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 28])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "mismatch.onnx"))
    with pytest.raises(GateError, match=r"type mismatch inside \(Type Error: .*keep_io_types=True") as info:
        parse_backend(f"onnx:{tmp_path / 'mismatch.onnx'}").build(tiny_ctx)
    assert "corrupt" not in str(info.value)


def test_empty_file_is_not_an_onnx_model(tiny_ctx, tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(GateError, match=r"corrupt, truncated or not an ONNX model \(it is empty\)"):
        parse_backend(f"onnx:{tmp_path / 'empty.onnx'}").build(tiny_ctx)


def test_directory_instead_of_a_file_names_the_files_in_it(tiny_ctx, tmp_path):
    embedding_classifier(tmp_path / "model_quantized.onnx")
    with pytest.raises(GateError, match=r"is a directory; name the ONNX file in it, "
                                        r"e.g. onnx:\S+/model_quantized"):
        parse_backend(f"onnx:{tmp_path}").build(tiny_ctx)


def test_override_suggestion_is_valid_toml():
    """A failure message's tolerance override for `onnx:onnx/model.onnx` parses as TOML and
    lands under that backend's name."""
    from encoder_gate.accuracy.checks import bounds_for, check
    from encoder_gate.accuracy.evaluation import evaluate
    from encoder_gate.accuracy.overrides import override_table

    name = "onnx:onnx/model.onnx"
    ref = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    ev = evaluate(name, np.array([[0.1, 0.1], [0.2, 0.8]], dtype=np.float32), ref,
                  np.array([[1, 0], [0, 1]], dtype=np.uint8), precision="int8", size_bytes=1,
                  task="multi_label", label_names=("a", "b"), atol=1e-4)
    message = check(ev, "drift_max", bounds_for("onnx-int8"), ("x", "y"), ("a", "b"))
    assert message is not None
    header = re.search(r"override in (\[.*\])\)", message).group(1)
    assert header == '[tool.encoder-gate.tolerances."onnx:onnx/model.onnx"]'
    parsed = tomllib.loads(f"{header}\ndrift_max = 0.9\n")
    assert parsed["tool"]["encoder-gate"]["tolerances"][name] == {"drift_max": 0.9}
    assert override_table("onnx-int8") == "[tool.encoder-gate.tolerances.onnx-int8]"
    odd = 'onnx:C:\\models\\"x".onnx'
    tables = tomllib.loads(override_table(odd) + "\nf1_floor = 0.1\n")["tool"]["encoder-gate"]["tolerances"]
    assert tables == {odd: {"f1_floor": 0.1}}


# --- files made by other tools (slow: they export the tiny RoBERTa) ------------------------


@pytest.fixture(scope="module")
def torch_model(tiny):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny.path).eval()


@pytest.fixture(scope="module")
def reference(tiny_ctx, batch):
    return parse_backend("torch").build(tiny_ctx).predict(batch)


@pytest.fixture(scope="module")
def cached_fp32(tiny_ctx) -> Path:
    """The cached onnx-fp32 artifact of `tiny`: optimum's main_export where optimum's ONNX support
    is installed, else torch.onnx.export (TorchScript)."""
    path, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    return path / "model.onnx"


@pytest.fixture(scope="module")
def fused(cached_fp32, tmp_path_factory):
    """ONNX Runtime's transformer optimizer on the cached export: fused Attention/SkipLayerNorm."""
    from onnxruntime.transformers.optimizer import optimize_model

    return optimize_model(str(cached_fp32), model_type="bert", num_heads=2, hidden_size=32, opt_level=0)


def torchscript_export(module, path: Path, args: tuple, input_names: list[str], output_names: list[str],
                       dynamic: bool = True) -> Path:
    """torch.onnx.export with the legacy TorchScript exporter (dynamo=False)."""
    import warnings

    import torch

    axes = {n: {0: "batch", 1: "sequence"} for n in input_names} if dynamic else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=input_names,
                          output_names=output_names, dynamic_axes=axes, opset_version=17)
    return path


def tensors(batch: dict[str, np.ndarray], *names: str) -> tuple:
    import torch

    return tuple(torch.from_numpy(batch[n]) for n in names)


@pytest.mark.slow
def test_torchscript_export(tiny_ctx, torch_model, batch, reference, tmp_path):
    path = torchscript_export(torch_model, tmp_path / "model.onnx",
                              tensors(batch, "input_ids", "attention_mask"),
                              ["input_ids", "attention_mask"], ["logits"])
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert runner.precision == "fp32"
    assert np.abs(runner.predict(batch) - reference).max() <= FP32_CLOSE
    assert runner.notes == ("precision fp32 inferred from the graph (float32 weights: 100% of 99.6k float "
                            "weight elements)",)


@pytest.mark.slow
def test_dynamo_export(tiny_ctx, torch_model, batch, reference, tmp_path):
    """torch.onnx.export(dynamo=True): its output is named after the last op (e.g. linear_13)."""
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript, not installed here")
    import warnings

    import torch

    b, s = torch.export.Dim("batch"), torch.export.Dim("sequence")
    ids, mask = tensors(batch, "input_ids", "attention_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(torch_model, (), kwargs={"input_ids": ids, "attention_mask": mask},
                                    dynamo=True, dynamic_shapes={"input_ids": {0: b, 1: s},
                                                                 "attention_mask": {0: b, 1: s}})
    program.save(str(tmp_path / "model.onnx"))
    runner = parse_backend(f"onnx:{tmp_path / 'model.onnx'}").build(tiny_ctx)
    assert np.abs(runner.predict(batch) - reference).max() <= FP32_CLOSE
    assert runner.precision == "fp32"
    out = runner._output
    assert out != "logits"
    assert f"output '{out}' used (the only output; none is named 'logits')" in runner.notes


@pytest.mark.slow
def test_cached_fp32_export(tiny_ctx, cached_fp32, batch, reference, tmp_path):
    path = Path(shutil.copy2(cached_fp32, tmp_path / "model.onnx"))
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert (runner.precision, runner.size_bytes) == ("fp32", path.stat().st_size)
    assert np.abs(runner.predict(batch) - reference).max() <= FP32_CLOSE
    assert len(runner.notes) == 1  # only the inferred precision: nothing else was unusual


@pytest.mark.slow
def test_ort_transformer_optimizer_fused_graph(tiny_ctx, fused, batch, reference, tmp_path):
    path = tmp_path / "model_optimized.onnx"
    fused.save_model_to_file(str(path))
    ops = inspect_onnx(path).op_counts
    assert ops["Attention"] == 2 and ops["SkipLayerNormalization"] >= 2
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert runner.precision == "fp32"
    assert np.abs(runner.predict(batch) - reference).max() <= FP32_CLOSE


@pytest.mark.slow
def test_float16_outputs_are_cast_to_float32(tiny_ctx, cached_fp32, batch, reference, tmp_path):
    """FP16 conversion with keep_io_types=False: float16 logits, cast before the sigmoid; a
    converter that then declares the output float gets the type-mismatch error."""
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(str(cached_fp32), model_type="bert", num_heads=2, hidden_size=32, opt_level=0)
    model.convert_float_to_float16(keep_io_types=False)
    path = tmp_path / "model_fp16.onnx"
    model.save_model_to_file(str(path))
    assert inspect_onnx(path).outputs[0].elem_type == "FLOAT16"
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    probs = runner.predict(batch)
    assert probs.dtype == np.float32
    assert np.abs(probs - reference).max() <= FP16_CLOSE
    assert runner.precision == "fp16"
    assert "output 'logits' is float16: cast to float32 before postprocessing" in runner.notes

    bad = onnx.load(str(path))
    bad.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    onnx.save(bad, str(tmp_path / "bad.onnx"))
    with pytest.raises(GateError, match=r"type mismatch inside \(Type Error: "
                                        r"Type \(tensor\(float\)\) of output"):
        parse_backend(f"onnx:{tmp_path / 'bad.onnx'}").build(tiny_ctx)


@pytest.fixture(scope="module")
def quantized_model_dir(tiny, cached_fp32, tmp_path_factory) -> Path:
    """A copy of the model directory with a dynamically quantized model_quantized.onnx in onnx/,
    the layout of published models (SamLowe/roberta-base-go_emotions-onnx): made by optimum's
    ORTQuantizer where optimum's ONNX support is installed, else by the ONNX Runtime call it
    wraps (quantize_dynamic, per-tensor QInt8 weights)."""
    from encoder_gate.backends.optimum_compat import optimum_missing

    root = tmp_path_factory.mktemp("quantized")
    model_dir = Path(shutil.copytree(tiny.path, root / "model"))
    if optimum_missing() is None:
        from optimum.onnxruntime import ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig

        quantizer = ORTQuantizer.from_pretrained(cached_fp32.parent, file_name="model.onnx")
        config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)
        quantizer.quantize(save_dir=model_dir / "onnx", quantization_config=config)
    else:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        (model_dir / "onnx").mkdir()
        quantize_dynamic(str(cached_fp32), str(model_dir / "onnx" / "model_quantized.onnx"),
                         per_channel=False, weight_type=QuantType.QInt8)
    return model_dir


@pytest.mark.slow
def test_ort_quantizer_file_relative_to_the_model_directory(tiny_ctx, quantized_model_dir, batch, reference,
                                                            tmp_path, monkeypatch):
    """`onnx:onnx/model_quantized.onnx` is found inside the model directory; it is int8."""
    from encoder_gate.models.spec import spec_from_dir

    ctx = replace(tiny_ctx, model=spec_from_dir("tiny-copy", quantized_model_dir, "local"))
    monkeypatch.chdir(tmp_path)
    runner = parse_backend("onnx:onnx/model_quantized.onnx").build(ctx)
    assert runner.artifact == quantized_model_dir / "onnx" / "model_quantized.onnx"
    assert runner.notes[0] == (f"'onnx/model_quantized.onnx' resolved relative to the model directory: "
                               f"{runner.artifact}")
    assert runner.precision == "int8"
    assert runner.notes[1].startswith("precision int8 inferred from the graph (")
    assert "MatMulInteger" in runner.notes[1]
    assert np.abs(runner.predict(batch) - reference).max() <= INT8_CLOSE
    assert parse_backend("onnx:onnx/model_quantized.onnx@fp32").build(ctx).precision == "fp32"


@pytest.mark.slow
def test_relative_path_in_both_places_says_which_was_used(tiny_ctx, quantized_model_dir, cached_fp32,
                                                          tmp_path, monkeypatch):
    from encoder_gate.models.spec import spec_from_dir

    ctx = replace(tiny_ctx, model=spec_from_dir("tiny-copy", quantized_model_dir, "local"))
    (tmp_path / "onnx").mkdir()
    shutil.copy2(cached_fp32, tmp_path / "onnx" / "model_quantized.onnx")  # a different file, same name
    monkeypatch.chdir(tmp_path)
    runner = parse_backend("onnx:onnx/model_quantized.onnx").build(ctx)
    assert runner.precision == "fp32"  # the working directory's file
    assert runner.notes[0].startswith("'onnx/model_quantized.onnx' exists relative to both the working "
                                      f"directory and the model directory: used {tmp_path}")


@pytest.mark.slow
def test_input_ids_only_file_runs_one_text_at_a_time(tiny_ctx, torch_model, batch, tmp_path):
    """Like the ONNX model zoo's RoBERTa-SequenceClassification: no attention_mask input. Fed a
    padded batch it drifts; the backend runs each text alone, unpadded, and matches torch.

    The tiny model's head is nearly constant (padding moves its last hidden states by up to
    0.09 but its probabilities by 3e-6), so this exports it with a seeded random head (weights
    of std 0.5, probabilities 0.01 to 0.997): outputs that depend on the input, as a trained
    classifier's do."""
    import copy

    import onnxruntime as ort
    import torch

    class IdsOnly(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model(input_ids=input_ids).logits

    sharp = copy.deepcopy(torch_model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in (sharp.classifier.dense, sharp.classifier.out_proj):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.5)
            layer.bias.zero_()
        ids, mask = tensors(batch, "input_ids", "attention_mask")
        reference = torch.sigmoid(sharp(input_ids=ids, attention_mask=mask).logits).numpy()
    path = torchscript_export(IdsOnly(sharp), tmp_path / "roberta-sequence-classification.onnx",
                              (ids,), ["input_ids"], ["output_0"])
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    probs = runner.predict(batch)  # a padded batch, as the gate feeds it
    assert np.abs(probs - reference).max() <= FP32_CLOSE
    assert "takes only input_ids (no attention_mask, so padding would change its outputs): evaluated one " \
           "text at a time, unpadded" in runner.notes
    # what feeding it the padded batch directly does: the padded rows drift far off
    raw = ort.InferenceSession(str(path)).run(None, {"input_ids": batch["input_ids"]})[0]
    drift = np.abs(1 / (1 + np.exp(-raw)) - reference).max(axis=1)
    assert drift[1] <= FP32_CLOSE  # the longest text has no padding
    # measured 0.015 to 0.017 with transformers 4.57's tiny, 0.0014 to 0.0026 with 5.x's (its
    # encoder's first token moves less with unmasked padding): 100x what the backend's path meets
    assert drift[[0, 2, 3]].min() > 100 * FP32_CLOSE


@pytest.mark.slow
@pytest.mark.parametrize(("batch_size", "length"), [(1, 128), (4, 96)])
def test_static_shape_export_runs_within_its_shapes(tiny_ctx, torch_model, tokenizer, tmp_path,
                                                    batch_size, length):
    """An export traced at a fixed (batch, sequence) without dynamic_axes: padded to its length,
    fed in its batch size, equal to torch; a longer text is refused naming the shape and the fix."""
    example = encode(tokenizer, ["x"] * batch_size, padding="max_length", length=length)
    path = torchscript_export(torch_model, tmp_path / "static.onnx",
                              tensors(example, "input_ids", "attention_mask"),
                              ["input_ids", "attention_mask"], ["logits"], dynamic=False)
    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    batch = encode(tokenizer, MORE_TEXTS)
    expected = parse_backend("torch").build(tiny_ctx).predict(batch)
    assert np.abs(runner.predict(batch) - expected).max() <= FP32_CLOSE
    assert any(n.startswith(f"static input shape ({batch_size}, {length})") for n in runner.notes)
    with pytest.raises(GateError, match=rf"static input shape \({batch_size}, {length}\).*dynamic_axes"):
        runner.predict(encode(tokenizer, [LONG]))


def test_a_static_length_file_is_judged_on_texts_truncated_to_it(tiny, torch_model, tokenizer, cache_dir,
                                                                  tmp_path):
    """A file exported for (1, 24) tokens, as an edge target runs it, is judged on texts truncated
    to 24 tokens against torch on the same truncated texts: it matches torch there, the reports
    say so, and the prediction cache keeps the truncated and the full torch outputs apart."""
    from encoder_gate.config import GateConfig
    from encoder_gate.publish import build_verdict
    from encoder_gate.reporting.accuracy import render_markdown
    from encoder_gate.results.accuracy import accuracy_payload
    from encoder_gate.runtime.inference import predict_texts, token_lengths, truncating
    from encoder_gate.runtime.session import GateSession

    length = 24
    example = encode(tokenizer, ["x"], padding="max_length", length=length)
    path = torchscript_export(torch_model, tmp_path / "edge.onnx",
                              tensors(example, "input_ids", "attention_mask"),
                              ["input_ids", "attention_mask"], ["logits"], dynamic=False)
    name = f"onnx:{path}"
    config = GateConfig(model="tiny", backends=("torch", name), cache_dir=cache_dir, limit=60)
    session = GateSession(config, progress=lambda _m: None)
    texts = list(session.dataset.texts)
    assert (token_lengths(tokenizer, texts) > length).sum() >= 10, "the test needs texts longer than the file"
    ev = session.evaluation(name)
    torch_runner = parse_backend("torch").build(session.context())
    expected = predict_texts(torch_runner, truncating(tokenizer, length), texts, config.eval_batch_size)
    assert ev.max_tokens == length and session.evaluation("torch").max_tokens is None
    np.testing.assert_array_equal(ev.reference, expected)  # torch on the truncated texts, exactly
    assert not np.array_equal(session.reference, expected)  # not the full-length reference
    assert np.abs(ev.probs - expected).max() <= FP32_CLOSE
    payload = accuracy_payload(session)
    rows = payload["backends"]
    assert rows[name]["max_tokens"] == length and rows["torch"]["max_tokens"] is None
    note = f"{name}: texts truncated to {length} tokens (its static sequence length"
    verdict = build_verdict(payload, None).markdown
    assert note in render_markdown(payload) and note in verdict and f"texts cut to {length} tokens" in verdict
    assert all(c["passed"] for c in rows[name]["checks"].values())
    session.close()

    again = GateSession(config, progress=lambda _m: None)  # both torch outputs from the cache, kept apart
    np.testing.assert_array_equal(again.reference_for(name), ev.reference)
    np.testing.assert_array_equal(again.reference, session.reference)
    assert again.records["torch"].predictions[0] and again.records[name].predictions is None
    again.close()


@pytest.mark.slow
def test_several_outputs_pick_logits_or_the_first(tiny_ctx, torch_model, batch, reference, tmp_path):
    """Outputs (hidden, logits) use logits; (scores, hidden) without logits use the first; both say so."""
    import torch

    class Both(torch.nn.Module):
        def __init__(self, model, logits_first):
            super().__init__()
            self.model, self.logits_first = model, logits_first

        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            hidden = out.hidden_states[-1]
            return (out.logits, hidden) if self.logits_first else (hidden, out.logits)

    args = tensors(batch, "input_ids", "attention_mask")
    for logits_first, names, used in ((False, ["hidden", "logits"], "logits"),
                                      (True, ["scores", "hidden"], "scores")):
        path = torchscript_export(Both(torch_model, logits_first), tmp_path / f"{used}.onnx", args,
                                  ["input_ids", "attention_mask"], names)
        runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
        assert f"output '{used}' used (of 2 outputs: {', '.join(names)})" in runner.notes
        assert np.abs(runner.predict(batch) - reference).max() <= FP32_CLOSE


def test_an_onnx_file_that_outputs_probabilities_is_said_to_on_its_drift_failure():
    """A file ending in its own sigmoid (walk S #2): the gate's sigmoid of values in [0, 1] lies in
    [0.5, 0.731] whatever the text, so its drift fails with no word why. The failure now says what
    the outputs look like and what to export; real drift of logits says nothing of it."""
    import numpy as np

    from encoder_gate.accuracy.checks import probabilities_read_as_logits

    rng = np.random.default_rng(0)
    reference = 1 / (1 + np.exp(-rng.normal(0, 3, (50, 6))))
    twice = 1 / (1 + np.exp(-reference))  # the file's probabilities, read as logits
    said = probabilities_read_as_logits(twice, reference, "sigmoid")
    assert said is not None and "[0.5, 0.731]" in said and "export the classifier's logits" in said
    assert probabilities_read_as_logits(np.clip(reference + 0.01, 0, 1), reference, "sigmoid") is None
    softmax = np.exp(reference) / np.exp(reference).sum(axis=1, keepdims=True)
    classes = np.exp(rng.normal(0, 3, (50, 4)))
    classes /= classes.sum(axis=1, keepdims=True)
    again = np.exp(classes) / np.exp(classes).sum(axis=1, keepdims=True)
    assert "softmax of values in [0, 1]" in str(probabilities_read_as_logits(again, classes, "softmax"))
    assert probabilities_read_as_logits(softmax, softmax, "softmax") is None
    assert probabilities_read_as_logits(twice, reference, "mean-pool") is None
