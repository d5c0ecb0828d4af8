"""`onnx:PATH` on files made by other tools from the `tiny` RoBERTa: the TorchScript and dynamo
exporters, the suite's cached export, ONNX Runtime's transformer optimizer, an FP16 conversion,
optimum's ORTQuantizer, input_ids only, static shapes, several outputs (mostly slow)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from encoder_gate.backends import parse_backend
from encoder_gate.backends.onnx_graph import inspect_onnx
from encoder_gate.errors import GateError
from encoder_gate.runtime.inference import encode
from test_foreign_onnx import FP16_CLOSE, FP32_CLOSE, INT8_CLOSE, LONG, MORE_TEXTS, TEXTS

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def tokenizer(tiny):
    return AutoTokenizer.from_pretrained(tiny.path)


@pytest.fixture(scope="module")
def batch(tokenizer):
    return encode(tokenizer, TEXTS)


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
def test_a_file_exported_from_other_weights_is_refused_and_one_of_these_weights_is_not(
        tiny_ctx, torch_model, batch, tmp_path):
    """An earlier fine-tune's file (every weight moved a little: here 2% of each tensor's spread)
    is judged against a reference it was not made from: its INT8 file passed at drift max 0.015 (a
    user's walk, 2026-11-29). None of its vectors (LayerNorm, biases) is the checkpoint's: refused at
    build. This model's own file, its FP16 conversion and its dynamic INT8 quantization hold them."""
    import copy

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.float16 import convert_float_to_float16

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    args = tensors(batch, "input_ids", "attention_mask")
    names = (["input_ids", "attention_mask"], ["logits"])
    own = torchscript_export(Logits(torch_model), tmp_path / "own.onnx", args, *names)
    earlier = copy.deepcopy(torch_model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in earlier.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * parameter.std() * 0.02)
    stale = torchscript_export(Logits(earlier), tmp_path / "earlier.onnx", args, *names)
    quantize_dynamic(str(stale), str(tmp_path / "earlier-int8.onnx"), weight_type=QuantType.QInt8)
    for path in (stale, tmp_path / "earlier-int8.onnx"):
        with pytest.raises(GateError, match=r"holds none of .*'s weights: not one of its \d+ weight "
                                            r"vectors .*exported from other weights .*--gate-model"):
            parse_backend(f"onnx:{path}").build(tiny_ctx)
    quantize_dynamic(str(own), str(tmp_path / "own-int8.onnx"), weight_type=QuantType.QInt8)
    half = convert_float_to_float16(onnx.load(str(own)), keep_io_types=True)
    onnx.save(half, str(tmp_path / "own-fp16.onnx"))
    for path in (own, tmp_path / "own-int8.onnx", tmp_path / "own-fp16.onnx"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)


@pytest.mark.slow
def test_several_outputs_pick_logits_or_the_first(tiny_ctx, torch_model, batch, reference, tmp_path):
    """Outputs (hidden, logits) use logits; without logits, the one output shaped (batch, labels),
    first or not (the hidden states first were read as a feature-extraction export and refused,
    2026-11-29); each says so."""
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
    shaped = "; the one shaped (batch, 28 labels)"
    for logits_first, names, used, why in ((False, ["hidden", "logits"], "logits", ""),
                                           (True, ["scores", "hidden"], "scores", shaped),
                                           (False, ["hidden", "scores"], "scores", shaped)):
        path = torchscript_export(Both(torch_model, logits_first), tmp_path / f"{''.join(names)}.onnx", args,
                                  ["input_ids", "attention_mask"], names)
        runner = parse_backend(f"onnx:{path}").build(tiny_ctx)
        assert f"output '{used}' used (of 2 outputs: {', '.join(names)}{why})" in runner.notes
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
