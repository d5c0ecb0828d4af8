"""`onnx:PATH` takes ONNX files made by other tools, or refuses them with a clear GateError.

Here on tiny hand-built graphs: the precision inferred, static shapes, external weights and each
refusal (label count, vocabulary, positions, output rank, a broken or empty file). The files other tools make
(the TorchScript and dynamo exporters, the suite's cached export, ONNX Runtime's transformer
optimizer, FP16 conversion, ORTQuantizer), exported from the `tiny` RoBERTa: test_foreign_onnx_tools.py."""

from __future__ import annotations

import re
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
                         vocab: int = VOCAB, ending: tuple[str, ...] = ("Identity",)) -> Path:
    """A real (if shallow) text classifier: the masked mean of per-token logit embeddings.

    Padding-invariant when it takes an attention mask, so any padding the backend adds must
    leave its outputs unchanged. `unknown_width` reshapes the logits with a shape computed at
    run time, so not even shape inference knows their width. `weights="float16"` stores the
    table as float16 (cast back to float32 inside); `extra_nodes` adds dangling quantization
    operators (a quantized graph, by its operators); `external` saves the table as external data;
    `ending`, the operators from the scores to the logits output (an activation, a Cast)."""
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
        names = ["scores", *(f"ending{i}" for i in range(len(ending) - 1)), "logits"]
        for i, op in enumerate(ending):
            cast = {"to": TensorProto.FLOAT} if op == "Cast" else {}
            nodes.append(helper.make_node(op, [names[i]], [names[i + 1]], **cast))
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
    # no `logits`: the one output shaped (batch, labels), where the shapes are known
    assert choose_output(["hidden_state", "scores"], "multi_label", [("b", "s", 48), ("b", 3)], 3) == (
        1, "output 'scores' used (of 2 outputs: hidden_state, scores; the one shaped (batch, 3 labels))")
    assert choose_output(["a", "b"], "multi_label", [("b", 3), ("b", 3)], 3)[0] == 0  # two fit: the first


@pytest.mark.parametrize("ending", [("Sigmoid",), ("Softmax",), ("Sigmoid", "Cast", "Identity")])
def test_a_file_that_outputs_probabilities_is_refused_at_build(tiny_ctx, tmp_path, ending):
    """A classifier's file whose output is computed by a softmax or a sigmoid: the gate applies the
    task's own activation to logits, so it would apply one twice. A double softmax of a two-label
    file keeps every decision and moved no probability past INT8's drift bounds: its quantized file
    passed (a user's file, 2026-11-29). Found in the graph, through a Cast or an Identity."""
    path = embedding_classifier(tmp_path / "probs.onnx", ending=ending)
    assert inspect_onnx(path).output_op("logits") == ending[0]
    with pytest.raises(GateError, match=rf"output 'logits' is computed by a {ending[0]} node, so the file "
                                        r"outputs probabilities.*Export the logits"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert inspect_onnx(embedding_classifier(tmp_path / "logits.onnx")).output_op("logits") == "Div"


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
    from encoder_gate.backends.onnx_session import open_session

    runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
    assert open_session(path, "cpu", 1).get_outputs()[0].shape[1] != 5  # unknown until it runs
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


def test_a_files_external_data_is_read_from_its_graph_once_then_from_the_users_cache(tmp_path, monkeypatch):
    """The external data files a graph references are kept under the .onnx file's sha256: a second
    process's digest parses no graph; a file of other bytes is parsed; the digest still follows the
    external data's bytes."""
    from encoder_gate.backends import onnx_graph
    from encoder_gate.backends.onnx_graph import external_locations, onnx_digest

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    path = embedding_classifier(tmp_path / "model.onnx", external="model.onnx_data")
    first = onnx_digest(path)
    assert external_locations(path) == ("model.onnx_data",)
    parse = onnx_graph.inspect_onnx
    monkeypatch.setattr(onnx_graph, "inspect_onnx", lambda _: pytest.fail("parsed again"))
    assert onnx_digest(path) == first and external_locations(path) == ("model.onnx_data",)
    data = tmp_path / "model.onnx_data"
    data.write_bytes(data.read_bytes()[:-4] + b"\0\0\0\1")  # the weights changed, the graph did not
    assert onnx_digest(path) != first
    monkeypatch.setattr(onnx_graph, "inspect_onnx", parse)
    inline = embedding_classifier(tmp_path / "inline.onnx")
    assert external_locations(inline) == ()


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
