"""Verdicts with error bars in the gate: the F1 change's CI, McNemar, power and per-label checks.

No model: `gate.evaluate` on synthetic probabilities shaped like the default model's
(1200 texts x 28 labels, ~50 gold positives per label, reference micro F1 ~0.71), with
INT8-sized logit noise (flip rate ~0.16%, INT8's measured 0.20%) for a healthy backend.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from encoder_gate.accuracy.checks import (
    NO_GOLD,
    TASK_CHECKS,
    bounds_for,
    check,
    judge_all,
    not_applicable,
    observed_and_bound,
)
from encoder_gate.accuracy.evaluation import UnderpoweredWarning, evaluate
from encoder_gate.accuracy.significance import examples_needed
from encoder_gate.publish import render_verdict, write_payload
from encoder_gate.reporting.accuracy import render_markdown, stats_lines
from encoder_gate.results.accuracy import _row
from encoder_gate.suite import checks as shipped

N, L = 1200, 28
NAMES = tuple(f"emotion_{j}" for j in range(L))
TEXTS = tuple(f"text number {i}" for i in range(N))
INT8 = bounds_for("onnx-int8")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _data() -> tuple[np.ndarray, np.ndarray]:
    """Gold (~50 positives per label) and reference logits: labels from easy (F1 ~0.93) to hard
    (F1 ~0.4, many false positives), as the default model's range from 0.85 to 0.39."""
    rng = np.random.default_rng(0)
    gold = (rng.random((N, L)) < 50 / N).astype(np.uint8)
    pos, neg = np.linspace(1.6, -0.4, L), np.linspace(-4.6, -3.2, L)
    logit = np.where(gold == 1, pos + rng.normal(0, 1.5, (N, L)), neg + rng.normal(0, 1.5, (N, L)))
    return gold, logit


GOLD, LOGIT = _data()
REF = _sigmoid(LOGIT)


def noisy(sd: float, seed: int = 1) -> np.ndarray:
    """The reference logits plus Gaussian noise (0.1: INT8-sized)."""
    return LOGIT + np.random.default_rng(seed).normal(0, sd, LOGIT.shape)


def run(logits: np.ndarray, name: str = "onnx-int8", rule: str = "point", n: int = N,
        gold: np.ndarray | None = GOLD, **kw):
    return evaluate(name, _sigmoid(logits)[:n], REF[:n], None if gold is None else gold[:n],
                    precision="int8", size_bytes=1, task="multi_label", label_names=NAMES, atol=5e-2,
                    f1_rule=rule, **kw)


def shipped_args(ev, bounds=INT8, task="multi_label"):
    """The shipped test's fixtures: evaluation, bounds, dataset, model, and no waivers."""
    return ev, bounds, SimpleNamespace(texts=TEXTS), SimpleNamespace(task=task, label_names=NAMES), ()


@pytest.fixture(scope="module")
def healthy():
    return run(noisy(0.1))


def test_json_has_the_error_bars_with_sane_values(healthy, tmp_path: Path):
    identical = run(LOGIT.copy(), name="torch")
    payload = {"model": {"name": "synthetic", "task": "multi_label"},
               "dataset": {"source": "synthetic", "split": "test", "variant": "normal", "examples": N},
               "threshold": 0.5, "versions": {"numpy": np.__version__}, "labelled": True,
               "backends": {"torch": _row(identical, bounds_for("torch")),
                            "onnx-int8": _row(healthy, INT8)}}
    json_path, md_path = write_payload(tmp_path, payload)
    rows = json.loads(json_path.read_text())["backends"]

    row = rows["onnx-int8"]
    low, high = row["f1_delta_ci"]
    assert low <= row["f1_delta"] <= high and high - low < 0.03
    assert row["f1_delta"] == pytest.approx(row["f1"] - rows["torch"]["f1"])
    assert 0 < row["mcnemar_p"] <= 1 and 0 < row["mde_f1"] < 0.05
    assert row["f1_rule"] == "point" and row["f1_margin"] == 0.01 and row["underpowered"] is None
    assert row["per_label_keep"] == INT8.per_label_keep and row["per_label_min_support"] == 30
    assert len(row["per_label"]) == L
    for lab, name in zip(row["per_label"], NAMES, strict=True):
        assert set(lab) == {"label", "support", "f1_ref", "f1", "p_value", "verdict", "changed"}
        assert lab["label"] == name and lab["support"] == int(GOLD[:, NAMES.index(name)].sum())
        assert 0 <= lab["f1"] <= 1 and lab["verdict"] in ("pass", "low-support")
    assert row["checks"]["per_label"] == {"observed": 0.0, "bound": 0.0, "passed": True,
                                          "direction": "at most"}
    assert row["verdict"] == "pass"

    # the reference against itself: no change, no uncertainty, nothing to detect
    ref_row = rows["torch"]
    assert ref_row["f1_delta"] == 0 and ref_row["f1_delta_ci"] == [0, 0]
    assert ref_row["mcnemar_p"] == 1 and ref_row["mde_f1"] == 0
    assert {lab["changed"] for lab in ref_row["per_label"]} == {0}

    md = md_path.read_text()
    assert "F1 change [95% CI]" in md and "McNemar p" in md and "MDE (80% power)" in md
    assert f"{row['f1_delta']:+.4f} [{low:+.4f}, {high:+.4f}]" in md
    assert "no label fails or is flagged" in md and "Warnings:" not in md


def test_reference_f1_of_the_stats_is_the_task_metrics(healthy):
    """Decisions are built as the metrics build them: at 0.5, at tuned thresholds, by argmax."""
    assert healthy.stats.delta.ref_value == healthy.reference_metrics["f1"]
    assert healthy.stats.delta.value == healthy.metrics["f1"]
    tuned = run(noisy(0.1), thresholds=np.linspace(0.3, 0.6, L))
    assert tuned.stats.delta.ref_value == tuned.reference_metrics["f1"] != healthy.reference_metrics["f1"]
    assert tuned.stats.delta.value == tuned.metrics["f1"]

    rng = np.random.default_rng(3)
    gold = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 300)]
    ref = rng.dirichlet([1, 1, 1], 300) + 0.5 * gold
    ref /= ref.sum(axis=1, keepdims=True)
    got = np.clip(ref + rng.normal(0, 0.05, ref.shape), 1e-6, None)
    single = evaluate("onnx-int8", got, ref, gold, precision="int8", size_bytes=1, task="single_label",
                      label_names=("a", "b", "c"), atol=5e-2)
    assert single.stats.delta.metric == "f1_macro"
    assert single.stats.delta.ref_value == pytest.approx(single.reference_metrics["f1_macro"], abs=1e-12)
    assert single.stats.delta.value == pytest.approx(single.metrics["f1_macro"], abs=1e-12)
    assert len(single.stats.per_label(0.85)) == 3


def test_point_rule_is_todays_check(healthy):
    """`point` (the default) is the unchanged f1_keep: F1 >= f1_keep x the reference's, CI unused."""
    for rule_ev in (healthy, run(noisy(0.1), rule="point")):
        observed, bound, holds = observed_and_bound(rule_ev, "f1_keep", INT8)
        assert observed == rule_ev.metrics["f1"]
        assert bound == 0.99 * rule_ev.reference_metrics["f1"] and holds
    damaged = run(LOGIT - 1.0)
    message = check(damaged, "f1_keep", INT8, TEXTS, NAMES)
    assert message.startswith(f"onnx-int8: f1 = {damaged.metrics['f1']:.4f} is below 0.990 x the torch "
                              f"reference {damaged.reference_metrics['f1']:.4f}")


@pytest.mark.parametrize(("case", "logits", "point", "regression", "non_inferiority"), [
    # CI [0, 0]
    ("identical", lambda: LOGIT.copy(), True, True, True),
    # INT8-sized noise, CI [-0.0036, +0.0079]: every rule passes
    ("healthy", lambda: noisy(0.1), True, True, True),
    # larger noise, F1 99.5%, CI [-0.0129, +0.0058]: a drop of the margin is neither shown nor ruled out
    ("noise", lambda: noisy(0.3, seed=2), True, True, False),
    # one label's logits down by 3: F1 98.6% (point fails), CI [-0.0182, -0.0024] straddles -0.01
    ("one label", lambda: noisy(0.1) - 3.0 * (np.arange(L) == 20), False, True, False),
    # heavy noise, CI [-0.0395, -0.0138]: a drop larger than the margin is shown
    ("broken", lambda: noisy(0.5), False, False, False),
])
def test_ci_rules_decide_on_the_whole_interval(case, logits, point, regression, non_inferiority):
    values = logits()
    outcome = {}
    for rule in ("point", "regression", "non-inferiority"):
        ev = run(values, rule=rule)
        observed, bound, holds = observed_and_bound(ev, "f1_keep", INT8)
        low, high = ev.stats.delta.ci
        if rule == "regression":
            assert (observed, bound, holds) == (high, -0.01, not high < -0.01)
        elif rule == "non-inferiority":
            assert (observed, bound, holds) == (low, -0.01, low > -0.01)
        assert judge_all(ev, INT8)["f1_keep"]["passed"] is holds
        message = check(ev, "f1_keep", INT8, TEXTS, NAMES)
        assert (message is None) is holds
        if message and rule != "point":
            assert f"fails the {rule} rule" in message and f"[{low:+.4f}, {high:+.4f}]" in message
        outcome[rule] = holds
    assert outcome == {"point": point, "regression": regression, "non-inferiority": non_inferiority}, case


@pytest.mark.parametrize(("task", "probs", "said"), [
    ("single_label", [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.7, 0.2, 0.1]], "class 'neg'"),
    ("multi_label", [[0.1, 0.2, 0.3], [0.4, 0.1, 0.2], [0.3, 0.3, 0.1]], "no label"),
    ("multi_label", [[0.9, 0.2, 0.7], [0.8, 0.1, 0.6], [0.6, 0.3, 0.9]], "labels 'neg', 'pos'"),
])
def test_a_model_that_decides_the_same_for_every_text_is_a_warning_in_its_row_and_its_page(
        task: str, probs: list[list[float]], said: str):
    """An untrained head that puts every text in one class (or one set of labels) keeps its F1 against
    itself and lets every backend keep it too: its row says so, and the verdict warns."""
    p = np.array(probs, dtype=np.float32)
    gold = np.eye(3, dtype=np.uint8)
    names = ("neg", "neu", "pos")
    ev = evaluate("torch", p, p, gold, precision="fp32", size_bytes=1, task=task, label_names=names,
                  atol=1e-4)
    assert ev.one_decision == (f"it decides the same for every one of the 3 texts ({said}): is the model "
                               "trained? Judged against such a model, every backend keeps its F1 while "
                               "telling no text apart, so the F1 checks say little")
    row = _row(ev, INT8)
    assert row["one_decision"] == ev.one_decision
    payload = {"model": {"name": "synthetic", "task": task},
               "dataset": {"source": "s", "split": "test", "variant": "normal", "examples": 3},
               "threshold": 0.5, "versions": {}, "backends": {"torch": row}}
    assert f"- torch: {ev.one_decision}" in render_markdown(payload)
    # another backend that decides as this reference does is not warned again; one that alone does is
    near = p + np.float32(1e-3) * (p < 0.5)
    assert evaluate("onnx-int8", near, p, gold, precision="int8", size_bytes=1, task=task, label_names=names,
                    atol=1e-4).one_decision is None
    varied = p.copy()
    varied[1, 1] = 0.95  # one text decided otherwise: 'neu' (its class, or one label more)
    assert evaluate("torch", varied, varied, gold, precision="fp32", size_bytes=1, task=task,
                    label_names=names, atol=1e-4).one_decision is None
    alone = evaluate("onnx-int8", p, varied, gold, precision="int8", size_bytes=1, task=task,
                     label_names=names, atol=1e-4).one_decision
    assert alone == f"it decides the same for every one of the 3 texts ({said}), where the reference does not"


@pytest.mark.parametrize("task", ["multi_label", "single_label"])
def test_a_reference_no_better_than_chance_is_a_warning_on_its_row(task: str):
    """Walk AG: a random head (a base checkpoint's classifier never trained, or never loaded) scored
    F1 0.073 and passed without a word, every backend keeping its score. Its row says it does no
    better than a rule that never reads the texts; a trained one does not, nor does a backend's row
    (the reference's says it)."""
    rng = np.random.default_rng(0)
    n, width = 300, 6
    names = tuple(f"l{j}" for j in range(width))
    if task == "multi_label":
        gold = (rng.random((n, width)) < 0.05).astype(np.uint8)
        gold[:, 0] |= rng.random(n) < 0.5
    else:
        gold = np.eye(width, dtype=np.uint8)[np.where(rng.random(n) < 0.6, 0, rng.integers(1, width, n))]
    noise = rng.random((n, width)).astype(np.float32)
    random_head = noise / noise.sum(axis=1, keepdims=True) if task == "single_label" else noise
    ev = evaluate("torch", random_head, random_head, gold, precision="fp32", size_bytes=1, task=task,
                  label_names=names, atol=1e-4)
    best, rule = ev.stats.best_guess()
    assert ev.below_chance == (
        f"its {ev.task.headline_name} {ev.stats.delta.ref_value:.4f} is no better than a rule that never "
        f"reads the texts ({rule}: {best:.4f}): is the model trained, and its classifier head loaded? "
        "Judged against such a model, every backend keeps its score, so the F1 checks say little")
    assert _row(ev, INT8)["below_chance"] == ev.below_chance
    assert evaluate("onnx-int8", random_head * np.float32(0.999), random_head, gold, precision="int8",
                    size_bytes=1, task=task, label_names=names, atol=1e-4).below_chance is None
    # a weak but trained head: right on 70% of the texts, on the rest a text's decisions another's
    right = rng.random(n) < 0.7
    weak = np.where(right[:, None], np.where(gold, 0.9, 0.02), np.where(gold[::-1], 0.9, 0.02))
    weak = weak.astype(np.float32)
    assert evaluate("torch", weak, weak, gold, precision="fp32", size_bytes=1, task=task,
                    label_names=names, atol=1e-4).below_chance is None



def test_on_a_small_set_a_trained_head_is_not_taken_for_chance():
    """Review AK: on 20 texts the guessers' 95th percentile spread past a 70%-accurate 2-class head,
    warned in 10 of 20 draws. Below 100 texts only the rules that decide one class for every text
    place chance."""
    warned = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 20)
        right = np.arange(20) < 14  # exactly 70% right
        decided = np.where(right, y, 1 - y)
        probs = np.where(np.eye(2)[decided] > 0, 0.9, 0.1).astype(np.float32)
        ev = evaluate("torch", probs, probs, np.eye(2, dtype=np.uint8)[y], precision="fp32", size_bytes=1,
                      task="single_label", label_names=("a", "b"), atol=1e-4)
        warned += ev.below_chance is not None
    assert warned == 0


def test_underpowered_set_warns_with_the_examples_it_needs():
    """300 texts cannot see a one-point drop: the shipped F1 test warns (whatever the rule), and the
    warning says how many examples would; it is a warning, not a failure."""
    for rule in ("point", "regression", "non-inferiority"):
        small = run(noisy(0.1), rule=rule, n=300)
        mde = small.stats.mde_f1
        assert mde > 0.01
        need = examples_needed(mde, 0.01, 300)
        assert need > 300
        with pytest.warns(UnderpoweredWarning) as caught:
            shipped.test_f1_keeps_reference_share(*shipped_args(small))
        text = str(caught[0].message)
        assert text.startswith("onnx-int8: The evaluation set (300 examples) is too small to see a drop "
                               "of 0.0100 in micro F1")
        assert f"About {need} examples" in text and f"{mde:.4f}" in text
    row = _row(small, INT8)
    assert row["underpowered"] == small.stats.underpowered
    payload = {"model": {"name": "synthetic", "task": "multi_label"},
               "dataset": {"source": "s", "split": "test", "variant": "normal", "examples": 300},
               "threshold": 0.5, "versions": {}, "backends": {"onnx-int8": row}}
    assert f"- onnx-int8: {small.stats.underpowered}" in render_markdown(payload)
    state = SimpleNamespace(evaluations={"onnx-int8": small}, bounds=lambda name: INT8)
    lines = stats_lines(state)
    # walk AA: a small p beside a pass read as a finding
    assert lines.pop(0) == ("(the F1 keep check decides by the non-inferiority rule; McNemar p, over every "
                            "decision, is said, not judged)", False)
    assert lines[0] == (f"onnx-int8        F1 delta {small.stats.delta.delta:+.4f} "
                        f"[{small.stats.delta.ci_low:+.4f}, {small.stats.delta.ci_high:+.4f}], McNemar p "
                        f"{small.stats.mcnemar.p_value:.3g}, MDE {mde:.4f}", False)
    assert any(warn and f"About {need} examples" in line for line, warn in lines)
    # the full set sees it: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnderpoweredWarning)
        shipped.test_f1_keeps_reference_share(*shipped_args(run(noisy(0.1))))


def test_damage_to_one_label_fails_per_label_while_micro_f1_passes(healthy):
    """The decisive case: on top of INT8-sized noise, label 22 (47 gold positives, reference F1
    0.54) has its logit shifted down by 1.5, so 24 of its 35 positive decisions vanish. Micro F1
    keeps 99.99% of the reference's: the point rule passes, and so do drift and flips. The
    per-label check fails, naming the label, its support, both F1s and the changed examples."""
    j = 22
    logits = noisy(0.1)
    logits[:, j] -= 1.5
    damaged = run(logits)
    s = damaged.stats
    assert (s.ref_dec[:, j].sum(), s.dec[:, j].sum()) == (35, 11)

    # the micro-F1 point rule alone lets it through (as does every other check) ...
    assert damaged.metrics["f1"] >= 0.99 * damaged.reference_metrics["f1"]
    assert check(damaged, "f1_keep", INT8, TEXTS, NAMES) is None
    shipped.test_f1_keeps_reference_share(*shipped_args(damaged))
    for name in ("drift_mean", "drift_p99", "drift_max", "flip_rate"):
        assert check(damaged, name, INT8, TEXTS, NAMES) is None, name
    # ... the per-label check does not
    failing = s.failing_labels(INT8.per_label_keep)
    assert [r.label for r in failing] == [NAMES[j]]
    bad = failing[0]
    assert bad.support == 47 and bad.f1 < 0.7 * bad.f1_ref
    assert observed_and_bound(damaged, "per_label", INT8) == (1.0, 0.0, False)
    message = check(damaged, "per_label", INT8, TEXTS, NAMES)
    assert message.startswith("onnx-int8: 1 of 28 labels with at least 30 gold positives fail the "
                              "per-label check")
    assert f"label '{NAMES[j]}' (support 47) fails" in message
    assert f"F1 {bad.f1_ref:.4f} (reference) -> {bad.f1:.4f} (backend)" in message
    first = bad.changed[0]
    assert f"#{first} no longer predicted" in message and repr(TEXTS[first]) in message
    with pytest.raises(AssertionError, match=rf"label '{NAMES[j]}' \(support 47\) fails"):
        shipped.test_per_label_f1_keeps_reference_share(*shipped_args(damaged))

    # the healthy backend passes it; the verdict names the failing label
    shipped.test_per_label_f1_keeps_reference_share(*shipped_args(healthy))
    checks_ = judge_all(damaged, INT8)
    assert checks_["per_label"] == {"observed": 1.0, "bound": 0.0, "passed": False, "direction": "at most"}
    assert checks_["f1_keep"]["passed"]
    doc = {"provenance": {"model": {"name": "synthetic"}, "dataset": {"source": "s"}},
           "model": {"name": "synthetic", "task": "multi_label"},
           "dataset": {"source": "s", "split": "test", "variant": "normal", "examples": N},
           "configured_backends": ["onnx-int8"], "backends": {"onnx-int8": _row(damaged, INT8)}}
    verdict = render_verdict(doc, None)
    assert "| onnx-int8 | **FAIL** (per_label) |" in verdict
    assert re.search(rf"per_label = 1, bound at most 0 \({NAMES[j]}: F1 0\.\d+ -> 0\.\d+, support 47\)",
                     verdict)
    md = render_markdown({**doc, "threshold": 0.5, "versions": {}})
    assert f"| onnx-int8 | {NAMES[j]} | 47 | {bad.f1_ref:.4f} | {bad.f1:.4f} |" in md and "**fail**" in md

    # a model's own label name holding a table's edge, a line break and an HTML comment's start: the
    # row kept whole (one cell more, two rows, before), verdict.md (the PR comment) kept visible
    odd = "a|b\nbreak <!-- c"
    text = json.dumps(doc).replace(json.dumps(NAMES[j])[1:-1], json.dumps(odd)[1:-1])
    doc_odd = json.loads(text)
    verdict_odd = render_verdict(doc_odd, None)
    assert "<!--" not in verdict_odd and "a|b ⏎ break &lt;!-- c: F1" in verdict_odd
    assert not any(line.startswith("break") for line in verdict_odd.splitlines())
    md_odd = render_markdown({**doc_odd, "threshold": 0.5, "versions": {}})
    [row] = [line for line in md_odd.splitlines() if line.startswith("| onnx-int8 | a")]
    assert row.startswith("| onnx-int8 | a\\|b ⏎ break &lt;!-- c | 47 |")
    assert len(re.findall(r"(?<!\\)\|", row)) == 10  # nine cells
    # a name that markdown reads as a link (a hyperlink in the PR comment), or holds a tab (the terminal's
    # columns broken): a plain name in both (the forty-eighth session's many-label trial)
    text = json.dumps(doc).replace(json.dumps(NAMES[j])[1:-1], json.dumps("[link](x)\ttab")[1:-1])
    verdict_link = render_verdict(json.loads(text), None)
    assert "\\[link](x)\\ttab: F1" in verdict_link and "[link](x)\t" not in verdict_link


def test_per_label_check_skips_without_labels_and_for_encoders():
    assert "per_label" in TASK_CHECKS["multi_label"] and "per_label" in TASK_CHECKS["single_label"]
    unlabelled = run(noisy(0.1), gold=None, n=100)
    assert unlabelled.stats is None and not unlabelled.labelled
    assert not_applicable("multi_label", "per_label", labelled=False) == NO_GOLD
    with pytest.raises(pytest.skip.Exception, match="no gold labels"):
        shipped.test_per_label_f1_keeps_reference_share(*shipped_args(unlabelled))
    assert "per_label" not in judge_all(unlabelled, INT8)
    assert _row(unlabelled, INT8)["per_label"] is None

    emb = np.random.default_rng(0).normal(0, 0.15, (50, 16))
    encoder = evaluate("onnx-int8", emb, emb, np.zeros((50, 0), np.uint8), precision="int8", size_bytes=1,
                       task="feature_extraction", label_names=(), atol=5e-2)
    assert encoder.stats is None and "per_label" not in judge_all(encoder, bounds_for("onnx-int8",
                                                                                  task="feature_extraction"))
    assert "per_label" not in _row(encoder, bounds_for("onnx-int8", task="feature_extraction"))
    with pytest.raises(pytest.skip.Exception, match="needs labels"):
        shipped.test_per_label_f1_keeps_reference_share(
            *shipped_args(encoder, bounds_for("onnx-int8", task="feature_extraction"), "feature_extraction"))


def test_healthy_backends_pass_the_per_label_bounds():
    """FP32- and FP16-sized noise pass their tighter per-label bounds, INT8-sized noise INT8's."""
    for name, sd in (("onnx-fp32", 1e-5), ("onnx-fp16", 1e-3), ("onnx-int8", 0.1)):
        bounds = bounds_for(name)
        assert 0 < bounds.per_label_keep < 1
        assert observed_and_bound(run(noisy(sd), name=name), "per_label", bounds)[2], name
    assert bounds_for("torch").per_label_keep == 1.0
    assert bounds_for("onnx-int8", {"onnx-int8": {"per_label_keep": 0.5}}).per_label_keep == 0.5


def test_session_passes_the_configured_rules_and_per_label_keep():
    """--gate-f1-rule / -f1-margin / -per-label-min-support reach the evaluation; --gate-per-label-keep
    replaces every backend's bound."""
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import BuildRecord, GateSession

    cfg = GateConfig(backends=("torch", "onnx-int8"), f1_rule="non-inferiority", f1_margin=0.02,
                     per_label_min_support=45, per_label_keep=0.5)
    state = GateSession(cfg, progress=lambda _: None)
    state.__dict__.update(model=SimpleNamespace(task="multi_label", label_names=NAMES),
                          dataset=SimpleNamespace(labels=GOLD, groups=np.arange(len(GOLD)), queries=None,
                                                  grades=None),
                          tokenizer=SimpleNamespace(model_max_length=512))
    for name, probs in (("torch", REF), ("onnx-int8", _sigmoid(noisy(0.1)))):
        state._runners[name] = SimpleNamespace(precision="int8", size_bytes=1)
        state.records[name] = BuildRecord(name, 0.0, precision="int8", size_bytes=1)
        state._predictions[name, 512] = probs
    assert state.bounds("onnx-int8").per_label_keep == state.bounds("torch").per_label_keep == 0.5
    stats = state.evaluation("onnx-int8").stats
    assert (stats.rule, stats.margin, stats.min_support) == ("non-inferiority", 0.02, 45)
    assert {r.verdict for r in stats.per_label(0.5) if r.support < 45} == {"low-support"}


def test_a_set_where_no_decision_differs_has_no_mde_not_a_zero_one():
    """MDE 0.0000 for a backend identical to torch read as "detects any drop" (walk H)."""
    from encoder_gate.reporting.accuracy import _mde

    assert _mde({"mde_f1": 0.0}) == "n/a (no decision differs)"
    assert _mde({"mde_f1": 0.036}) == "0.0360"
    assert _mde({}) == ""


def test_a_label_too_rare_to_judge_that_lost_every_hit_is_named_not_judged():
    """A trial's PR zeroed a label of 8 gold positives (F1 0.31 on the base) and passed, the label named
    nowhere: micro F1 rose without its false alarms. It is said by name, most positives first; a rare
    label that kept a hit, one that never had any, and a judged one are not."""
    from encoder_gate.accuracy.per_label import per_label, rare_labels_lost

    rng = np.random.default_rng(0)
    n = 400
    gold = np.zeros((n, 4), dtype=bool)
    gold[:60, 0] = True  # judged (60 positives)
    gold[100:108, 1] = True  # rare, 8 positives: every hit lost
    gold[200:205, 2] = True  # rare, 5 positives: keeps one hit
    gold[300:303, 3] = True  # rare, 3 positives: never found, on either side
    ref = gold.copy()
    ref[:, 3] = False
    ref[rng.choice(n, 5, replace=False), 1] = True  # false alarms the base had too
    pr = ref.copy()
    pr[:, 1] = False  # the PR never predicts label 1
    pr[201:205, 2] = False  # label 2 keeps its first hit
    labels = per_label(gold, ref, pr, ["judged", "topic/penelope 32", "kept one", "never"], min_support=30)
    assert [r.verdict for r in labels] == ["pass", "low-support", "low-support", "low-support"]
    said = rare_labels_lost(labels, 30, "the base")
    assert said == ("1 label too rare to judge (fewer than 30 gold positives) found none of its gold texts, "
                    "where the base found some: topic/penelope 32 (F1 " f"{labels[1].f1_ref:.2f}"
                    " -> 0, 8 gold positives); more labelled rows of them, or per-label-min-support, judge "
                    "them"), said
    assert rare_labels_lost(per_label(gold, ref, ref, min_support=30), 30, "the base") is None


def test_a_failing_labels_examples_show_the_decisions_it_lost_first():
    """A trial's label that stopped firing listed five false alarms it had dropped (improvements), its 83
    lost hits hidden among "176 more": the decisions now wrong against gold come first, lost hits first."""
    from encoder_gate.accuracy.per_label import LabelResult

    result = LabelResult(label="a|b", support=88, f1_ref=0.6, f1=0.0, p_raw=0.0, p_value=0.0, b=83, c=93,
                         verdict="fail", reason="F1 fell", keep=0.95, changed=(1, 2, 3, 4),
                         changed_to=(False, True, False, True), changed_gold=(False, False, True, True))
    lines = result.failure_message([f"text {i}" for i in range(5)], k=3).splitlines()
    shown = [line.split()[0] for line in lines if line.strip().startswith("#")]
    assert shown == ["#3", "#2", "#4"], lines  # a lost hit, a new false alarm, then the gains
    assert lines[-1].strip() == "... and 1 more"


def test_many_failing_labels_are_described_five_in_full_and_the_rest_named_in_one_line():
    """A trial's 19 failing labels took 411 terminal lines (eight each), and 200 would not have fit a PR
    comment: the five of most gold positives in full, the rest named on one line; the verdict's bullet
    the same five, the rest counted."""
    from encoder_gate.accuracy.per_label import FAILURES_DESCRIBED, LabelResult, failures_said
    from encoder_gate.decision.judge import _failing_labels

    results = [LabelResult(label=f"l{i}", support=40 + i, f1_ref=0.5, f1=0.0, p_raw=0.0, p_value=0.0, b=9,
                           c=0, verdict="fail", reason="F1 fell", keep=0.95, changed=(0,),
                           changed_to=(False,), changed_gold=(True,)) for i in range(7)]
    lines = failures_said(results, ["a text"])
    assert len(lines) == FAILURES_DESCRIBED + 1 and lines[0].startswith("  label 'l6' (support 46)")
    assert lines[-1] == ("  ... and 2 more failing labels: 'l1' (support 41, F1 0.5000 -> 0.0000), 'l0' "
                         "(support 40, F1 0.5000 -> 0.0000)")
    bullet = _failing_labels({"per_label": [{**r.as_dict(), "label": r.label} for r in results]})
    assert bullet.startswith(" (l6: F1 0.500 -> 0.000, support 46; l5") and bullet.endswith(
        "; and 2 more, in accuracy.md)"), bullet
