"""Tasks beyond multi-label: the sentiment data, single-label and feature-extraction checks.

Fast tests use synthetic outputs and the bundled files; the ones marked slow use the real
`sentiment` and `minilm-embed` models (trained or copied once, then cached) and run the
accuracy tests through pytester in a subprocess (torch + ONNX Runtime in an in-process
nested session crash on teardown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.accuracy.checks import TASK_CHECKS, bounds_for, check, not_applicable, observed_and_bound
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.accuracy.metrics import drift, relative_l2
from encoder_gate.config import GateConfig
from encoder_gate.data.datasets import (
    SENTIMENT_GROUPS,
    SENTIMENT_LABELS,
    Dataset,
    check_single_label,
    load_dataset,
    to_sentiment,
)
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.errors import GateError
from encoder_gate.models.spec import BUILTIN_MODELS, ModelSpec
from encoder_gate.reporting.accuracy import render_markdown
from encoder_gate.runtime.session import GateSession

ROOT = Path(__file__).resolve().parents[1]

# --- the sentiment data ----------------------------------------------------------------------


def test_sentiment_groups_partition_go_emotions_except_neutral():
    """The paper's grouping: 12 positive, 11 negative, 4 ambiguous; 'neutral' is in none."""
    grouped = [n for names in SENTIMENT_GROUPS.values() for n in names]
    assert len(grouped) == len(set(grouped)) == 27
    assert set(grouped) | {"neutral"} == set(GO_EMOTIONS_LABELS)
    assert {g: len(n) for g, n in SENTIMENT_GROUPS.items()} == {"positive": 12, "negative": 11,
                                                               "ambiguous": 4}


@pytest.mark.parametrize("split, negative, positive, dropped", [
    ("train", 885, 1089, 1026), ("validation", 146, 184, 170), ("test", 370, 444, 386),
])
def test_sentiment_split_counts(split, negative, positive, dropped):
    ds = load_dataset("bundled-sentiment", split=split)
    assert ds.name == f"bundled-sentiment:{split}"
    assert ds.label_names == SENTIMENT_LABELS
    assert ds.labels.sum(axis=0).tolist() == [negative, positive]
    assert (ds.labels.sum(axis=1) == 1).all(), "every kept text has exactly one class"
    assert len(load_dataset("bundled", split=split)) - len(ds) == dropped


@pytest.mark.parametrize("split", ["train", "test"])
def test_sentiment_keeps_exactly_the_single_group_texts(split):
    """Kept, in order: all labels in one group, labelled with it. Dropped: neutral, ambiguous, mixed."""
    source = load_dataset("bundled", split=split)
    derived = load_dataset("bundled-sentiment", split=split)
    group_of = {n: g for g, names in SENTIMENT_GROUPS.items() for n in names}
    expected = []
    for text, row in zip(source.texts, source.labels, strict=True):
        groups = {group_of.get(source.label_names[j], "neutral") for j in np.flatnonzero(row)}
        if groups in ({"positive"}, {"negative"}):
            expected.append((text, groups.pop()))
    classes = [derived.label_names[int(k)] for k in derived.labels.argmax(axis=1)]
    assert list(zip(derived.texts, classes, strict=True)) == expected


def test_sentiment_follows_the_models_label_order_and_variant():
    base = load_dataset("bundled-sentiment", split="test")
    swapped = load_dataset("bundled-sentiment", split="test", label_names=["POSITIVE", "Negative"])
    assert swapped.label_names == ("POSITIVE", "Negative")
    np.testing.assert_array_equal(swapped.labels, base.labels[:, ::-1])
    long = load_dataset("bundled-sentiment", split="test", variant="filtered")
    assert long.variant == "filtered" and 0 < len(long) < len(base)
    assert all(len(t) > 200 for t in long.texts)


def test_sentiment_data_for_a_model_with_other_labels_is_a_clear_error():
    with pytest.raises(GateError, match=r"bundled-sentiment has 2 labels \('negative', 'positive'\) "
                                        r"but the model has 28 .*--gate-model sentiment"):
        load_dataset("bundled-sentiment", label_names=GO_EMOTIONS_LABELS)
    other = Dataset("mine", ("a",), np.array([[1, 0]]), ("cat", "dog"))
    with pytest.raises(GateError, match="not labelled with the 28 go_emotions labels"):
        to_sentiment(other)


def test_single_label_data_must_have_one_label_per_row():
    check_single_label(load_dataset("bundled-sentiment", split="validation"))
    with pytest.raises(GateError, match=r"single-label .* 272 of 1200 rows do not have exactly one label "
                                        r"\(222 with 2 labels, 50 with 3 labels; first: row 3, .*one label$"):
        check_single_label(load_dataset("bundled", split="test"))
    with pytest.raises(GateError, match=r"one label\. The model's task: config\.json names no problem_type"):
        check_single_label(load_dataset("bundled", split="test"), "config.json names no problem_type")


# --- which data a session reads ---------------------------------------------------------------


def spec(task, labels, name="m"):
    return ModelSpec(name=name, path=Path("/nonexistent"), source="local", task=task,
                     label_names=tuple(labels), content_hash="0", model_type="bert")


def session_for(model, **config):
    state = GateSession(GateConfig(**config), progress=lambda _m: None)
    state.__dict__["model"] = model  # the cached_property, without building anything
    return state


def test_sentiment_model_reads_the_sentiment_data_by_default():
    state = session_for(spec("single_label", ["NEGATIVE", "POSITIVE"]))
    assert state.dataset_source == "bundled-sentiment"
    assert len(state.dataset) == 814 and state.dataset.label_names == ("NEGATIVE", "POSITIVE")


def test_feature_extraction_reads_the_bundled_texts():
    state = session_for(spec("feature_extraction", []))
    assert state.dataset_source == "bundled" and len(state.dataset) == 1200


def test_single_label_model_with_unknown_labels_on_bundled_data_says_what_to_pass():
    state = session_for(spec("single_label", ["LABEL_0", "LABEL_1"], name="mine"))
    with pytest.raises(GateError, match=r"model mine is a single-label classifier with labels "
                                        r"LABEL_0, LABEL_1.*--gate-dataset, encoder-gate export"):
        _ = state.dataset


def test_multi_label_model_with_the_sentiment_data_is_a_clear_error():
    state = session_for(spec("multi_label", GO_EMOTIONS_LABELS), dataset="bundled-sentiment")
    with pytest.raises(GateError, match="bundled-sentiment has 2 labels"):
        _ = state.dataset


def test_the_builtin_models_are_listed():
    assert {"sentiment", "minilm-embed"} <= set(BUILTIN_MODELS)


# --- single-label checks on synthetic outputs --------------------------------------------------

RNG = np.random.default_rng(0)
N = 400
GOLD_IDX = RNG.integers(0, 2, N)
# a reference that is right 85% of the time, confident but not saturated
_logit = np.where(GOLD_IDX == 1, 1.0, -1.0) * RNG.uniform(0.5, 4.0, N)
_logit[: int(0.15 * N)] *= -1
SL_REF = np.stack([1 / (1 + np.exp(_logit)), 1 / (1 + np.exp(-_logit))], axis=1).astype(np.float32)
SL_GOLD = np.eye(2, dtype=np.uint8)[GOLD_IDX]
SL_TEXTS = tuple(f"text {i}" for i in range(N))


def single(probs, name="onnx-int8"):
    return evaluate(name, probs, SL_REF, SL_GOLD, precision="int8", size_bytes=1, task="single_label",
                    label_names=SENTIMENT_LABELS, atol=5e-2)


def failures(ev, backend="onnx-int8"):
    bounds = bounds_for(backend, task=ev.task)
    out = {c: check(ev, c, bounds, SL_TEXTS, ev_labels(ev)) for c in TASK_CHECKS[ev.task]
           if c != "f1_floor"}
    return {c: m for c, m in out.items() if m}


def ev_labels(ev):
    return SENTIMENT_LABELS if ev.task == "single_label" else ()


def test_single_label_flips_count_argmax_changes_per_sample():
    probs = SL_REF.copy()
    probs[:10] = probs[:10, ::-1]
    d = drift(probs, SL_REF, decision="argmax")
    assert d.flips == 10 - int((np.abs(SL_REF[:10, 0] - 0.5) < 1e-9).sum())
    assert d.flip_rate == pytest.approx(d.flips / N)
    assert single(probs).drift.flip_rate == d.flip_rate
    with pytest.raises(ValueError, match="decision"):
        drift(probs, SL_REF, decision="top1")


def test_single_label_healthy_outputs_pass():
    """Quantization-sized noise (logit noise of 0.02) passes every INT8 single-label check."""
    logits = np.log(SL_REF) + RNG.normal(0, 0.02, SL_REF.shape)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert failures(single(probs)) == {}
    assert failures(single(SL_REF.copy(), "onnx-fp32"), "onnx-fp32") == {}


def test_single_label_swapped_classes_fail_flips_f1_and_accuracy():
    ev = single(SL_REF[:, ::-1].copy())
    found = failures(ev)
    assert {"flip_rate", "f1_keep", "accuracy_keep", "drift_max"} <= set(found)
    assert found["accuracy_keep"].startswith("onnx-int8: accuracy = 0.1500 is below 0.990 x the torch "
                                             "reference 0.8500")
    assert "argmax class changes" in found["flip_rate"]
    assert "negative" in found["drift_max"] and "positive" in found["drift_max"]


def test_single_label_small_class_bias_fails_on_flips():
    """A shift of 1 in one logit (a bias bug) moves no probability by more than 0.25, within the
    INT8 drift bounds, but changes the class of the borderline samples."""
    logits = np.log(SL_REF)
    logits[:, 1] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert "flip_rate" in failures(single(probs))


# --- feature-extraction checks on synthetic embeddings ------------------------------------------

# shaped like MiniLM's mean-pooled embeddings: 384 dims, norms about 3
EMB_REF = RNG.normal(0, 0.155, (300, 384)).astype(np.float32)
FE_TEXTS = tuple(f"text {i}" for i in range(len(EMB_REF)))


def embed(emb, name="onnx-int8"):
    return evaluate(name, emb, EMB_REF, np.zeros((len(emb), 0), dtype=np.uint8), precision="int8",
                    size_bytes=1, task="feature_extraction", label_names=(), atol=5e-2)


def embed_failures(ev, backend):
    bounds = bounds_for(backend, task="feature_extraction")
    out = {c: check(ev, c, bounds, FE_TEXTS, ()) for c in TASK_CHECKS["feature_extraction"]}
    return {c: m for c, m in out.items() if m}


def test_embeddings_healthy_outputs_pass():
    small = EMB_REF + RNG.normal(0, 2e-4, EMB_REF.shape).astype(np.float32)  # FP16-sized noise
    assert embed_failures(embed(small, "onnx-fp16"), "onnx-fp16") == {}
    assert embed_failures(embed(EMB_REF.copy(), "onnx-fp32"), "onnx-fp32") == {}


def test_noisy_embeddings_fail_cosine_and_l2():
    noisy = EMB_REF + RNG.normal(0, 0.1, EMB_REF.shape).astype(np.float32)
    found = embed_failures(embed(noisy), "onnx-int8")
    assert {"cosine_min", "cosine_mean", "rel_l2_max"} <= set(found)
    message = found["cosine_min"]
    assert message.startswith("onnx-int8: cosine_min = ") and "is below the bound" in message
    assert "worst samples (lowest cosine):" in message and "relative L2" in message


def test_rescaled_embeddings_keep_cosine_but_fail_relative_l2():
    """A pooling that divides by the wrong count only rescales: cosine is blind, L2 is not."""
    for backend, scale in (("onnx-fp16", 1.05), ("onnx-int8", 0.4)):
        found = embed_failures(embed(EMB_REF * scale, backend), backend)
        assert "cosine_min" not in found and "cosine_mean" not in found
        assert "rel_l2_max" in found, backend


def test_one_bad_embedding_fails_the_worst_case_checks():
    bad = EMB_REF.copy()
    bad[7] = RNG.normal(0, 0.155, 384)
    found = embed_failures(embed(bad), "onnx-int8")
    assert {"cosine_min", "rel_l2_max"} <= set(found) and "cosine_mean" not in found
    assert "#7: 'text 7'" in found["cosine_min"]


def test_relative_l2_and_summary_of_embeddings():
    rel = relative_l2(EMB_REF * 1.1, EMB_REF)
    np.testing.assert_allclose(rel, 0.1, rtol=1e-5)
    assert relative_l2(np.zeros((1, 3)), np.zeros((1, 3))).tolist() == [0.0]
    assert relative_l2(np.ones((1, 3)), np.zeros((1, 3))).tolist() == [np.inf]
    summary = embed(EMB_REF * 1.1).summary()
    assert summary["flips"] is None and summary["flip_rate"] is None and summary["top1_agreement"] is None
    assert summary["cosine_min"] == pytest.approx(1.0) and summary["rel_l2_max"] == pytest.approx(0.1)
    json.dumps(summary)


def test_checks_that_do_not_fit_the_task_say_why():
    assert "feature-extraction encoder" in not_applicable("feature_extraction", "flip_rate")
    assert "needs labels" in not_applicable("feature_extraction", "f1_keep")
    assert "single-label" in not_applicable("multi_label", "accuracy_keep")
    assert "feature-extraction encoders" in not_applicable("single_label", "cosine_min")
    assert not_applicable("single_label", "flip_rate") is None
    with pytest.raises(ValueError, match="f1_keep does not apply to onnx-int8"):
        observed_and_bound(embed(EMB_REF.copy()), "f1_keep", bounds_for("onnx-int8"))


def test_each_task_has_bounds_for_every_backend_and_overrides_apply():
    for task in TASK_CHECKS:
        for name in ("torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8", "onnx:/x.onnx"):
            bounds_for(name, task=task)
    over = bounds_for("onnx-int8", {"onnx-int8": {"cosine_min": 0.9}}, task="feature_extraction")
    assert over.cosine_min == 0.9
    with pytest.raises(GateError, match="no tolerance bounds for task"):
        bounds_for("torch", task="regression")
    # the multi-label table is untouched by the new fields: they are off there
    ml = bounds_for("onnx-int8")
    assert ml.accuracy_keep == 0.0 and ml.cosine_min == 0.0 and ml.rel_l2_max == np.inf


def test_accuracy_markdown_shows_the_columns_of_the_task():
    payload = {
        "model": {"name": "minilm-embed", "task": "feature_extraction"},
        "dataset": {"source": "bundled", "split": "test", "variant": "normal", "examples": 300},
        "threshold": 0.5, "versions": {"torch": "x"},
        "backends": {"onnx-int8": embed(EMB_REF * 1.01).summary()},
    }
    text = render_markdown(payload)
    assert "cosine min" in text and "rel. L2 max" in text and "feature extraction" in text
    assert "F1" not in text and "flip rate" not in text
    # on unlabelled texts too: an encoder has no F1 to skip (it said "Pass a labelled --gate-dataset to
    # check F1 too", thirty-seventh session); a classifier's table still says why it has none
    assert "F1" not in render_markdown({**payload, "labelled": False})
    classifier = {**payload, "model": {"name": "m", "task": "multi_label"}, "labelled": False,
                  "backends": {}}
    assert "F1 skipped: there are no gold labels (unlabelled texts: `texts` in [tool.encoder-gate]" in (
        render_markdown(classifier))


# --- the real models, through the plugin ------------------------------------------------------


@pytest.fixture
def accuracy_module(pytester: pytest.Pytester) -> None:
    """The shipped drift and task-metric checks (not the smoke test or padding properties)."""
    pytester.makepyfile(test_accuracy="from encoder_gate.suite.checks import *  # noqa: F403\n")


def run_gate(pytester, cache_dir, model, *extra):
    """The gate on `model`'s first 200 texts; torch and onnx-int8 unless `extra` names the backends
    (one option given twice is refused)."""
    backends = () if "--gate-backends" in extra else ("--gate-backends", "torch,onnx-int8")
    return pytester.runpytest(
        "--gate-model", model, "--gate-cache-dir", str(cache_dir), *backends,
        "--gate-limit", "200", "--gate-threads", "1", "--gate-report-dir", str(pytester.path / "report"),
        "-p", "no:cacheprovider", "-rs", *extra)


@pytest.mark.slow
def test_sentiment_model_runs_the_accuracy_tests(pytester, accuracy_module, cache_dir):
    """Drift, argmax flips, macro F1 and accuracy pass; the F1 floor (unset) and the embedding checks
    are not collected, and one line says why."""
    # FP32 on the first 200 texts: INT8's accuracy there sits within one text of the 99% keep and
    # follows the exporter's float ops (0.870 with optimum's export, 0.860 with torch's, torch
    # 0.870), so INT8 needed all 814 texts (0.8771 and 0.8821 vs 0.8710), 47 s of the self-tests,
    # for a claim about which checks a single-label model runs, not about INT8
    result = run_gate(pytester, cache_dir, "sentiment", "--gate-backends", "torch,onnx-fp32")
    # per backend: 4 drift + f1_keep + accuracy_keep + per_label pass; f1_floor, mrr_keep and ndcg_keep (a
    # reranker's) and 3 embedding checks are left out at collection
    result.assert_outcomes(passed=14)
    [line] = [x for x in result.stdout.lines if "were left out" in x]
    assert line.startswith("encoder-gate: 6 check(s) do not apply to this single_label model"), line
    # 2 backends: f1_floor, mrr_keep, ndcg_keep and 3 embedding checks, and the integer-path gap, a
    # saturating twin's alone
    assert line.endswith("): pytest counted their 14 tests as collected; they do not run"), line
    # what is not configured with its reason; the checks of other kinds of model by name (-v says why)
    assert "(f1_floor: no absolute f1_floor configured for this backend; cosine_min, cosine_mean, " \
           "rel_l2_max, mrr_keep, ndcg_keep: checks of other kinds of model (-v says why))" in line, line
    report = json.loads((pytester.path / "report" / "accuracy.json").read_text())
    assert report["model"]["task"] == "single_label"
    assert report["dataset"]["source"] == "bundled-sentiment"
    torch_row = report["backends"]["torch"]
    assert torch_row["accuracy"] > 0.8 and torch_row["f1_macro"] > 0.8


@pytest.mark.slow
def test_feature_extraction_model_runs_the_accuracy_tests(pytester, accuracy_module, cache_dir):
    """Drift, cosine and relative L2 pass; flips and F1 are not collected, and one line says why."""
    result = run_gate(pytester, cache_dir, "minilm-embed")
    # per backend: 3 drift + 3 embedding checks pass; flip_rate, f1_keep, f1_floor, accuracy, per_label,
    # mrr_keep, ndcg_keep are left out at collection
    result.assert_outcomes(passed=12)
    [line] = [x for x in result.stdout.lines if "were left out" in x]
    assert line.startswith("encoder-gate: 7 check(s) do not apply to this feature_extraction model"), line
    assert "flip_rate, f1_floor, f1_keep, mrr_keep, ndcg_keep, per_label: checks of other kinds" in line, line
    report = json.loads((pytester.path / "report" / "accuracy.json").read_text())
    assert report["model"]["task"] == "feature_extraction"
    assert report["backends"]["onnx-int8"]["flip_rate"] is None
    assert report["backends"]["torch"]["cosine_min"] == pytest.approx(1.0)


@pytest.mark.slow
def test_sentiment_gate_fails_a_backend_with_swapped_classes(pytester, accuracy_module, cache_dir):
    """The real sentiment model with its two classes swapped fails flips, F1 and accuracy."""
    pytester.makeconftest("""
import numpy as np
import pytest
from encoder_gate.plugin.stash import gate_session_of

@pytest.fixture(scope="session", autouse=True)
def swap_int8_classes(request):
    state = gate_session_of(request.config)
    runner = state.runner("onnx-int8")
    predict = runner.predict
    runner.predict = lambda batch: predict(batch)[:, ::-1]
""")
    result = run_gate(pytester, cache_dir, "sentiment", "-k", "int8")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 5, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*onnx-int8: accuracy = * is below 0.990 x the torch reference*"])



def test_splits_a_one_file_dataset_does_not_have_are_refused(tmp_path: Path, cache_dir: Path):
    """A split named for one file was ignored, and thresholds "tuned" were tuned on the very texts
    they were then judged on (review E): both are errors before anything runs."""
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "labels": ["joy"]}\n')

    def dataset(**settings: Any) -> Any:
        return GateSession(GateConfig(model="tiny", cache_dir=cache_dir, **settings)).dataset

    assert len(dataset(dataset=str(data))) == 1
    with pytest.raises(GateError, match=r"d\.jsonl is one file with no splits, but split 'tset' names one"):
        dataset(dataset=str(data), split="tset")
    with pytest.raises(GateError, match=r'thresholds = "tuned" tunes on the validation split, and dataset .*'
                                        r"d\.jsonl is one file with no splits"):
        dataset(dataset=str(data), thresholds="tuned")
    (tmp_path / "t.txt").write_text("a text\n")
    with pytest.raises(GateError, match=r"--gate-texts has no labels"):
        dataset(texts=tmp_path / "t.txt", thresholds="tuned")
