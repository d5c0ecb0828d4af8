"""A check an evaluation gives nothing to judge is not run, and the verdict says so (walks AA, AB).

200 texts of 28 labels rarely give any label the 30 gold positives the per-label check judges one
on: it passed while judging nothing, and the terminal said nothing. A reference scoring F1 0 (an
evaluation set that is not the model's) makes "keeps 0.99 x the reference's F1" a check no backend
can fail. Both are now skips with why, listed in accuracy.json's `not_judged` and said under the
verdict's table. No model: synthetic probabilities.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from encoder_gate.accuracy.checks import bounds_for, judge_all, not_judged
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.publish import render_verdict
from encoder_gate.results.accuracy import _row
from encoder_gate.suite import checks as shipped

LABELS = ("joy", "anger", "neutral")


def run(n: int, name: str = "onnx-int8", *, min_support: int = 30, says_nothing: bool = False):
    """`n` texts, gold label i % 3; the reference 0.9 on the gold label (or 0.05 everywhere: it
    decides nothing positive, F1 0), the backend the reference."""
    gold = np.eye(3, dtype=np.uint8)[np.arange(n) % 3]
    ref = np.full(gold.shape, 0.05, np.float32) if says_nothing else np.where(gold == 1, 0.9, 0.05).astype(
        np.float32)
    return evaluate(name, ref.copy(), ref, gold, precision="int8", size_bytes=1, task="multi_label",
                    label_names=LABELS, atol=5e-2, per_label_min_support=min_support)


def test_no_label_with_enough_positives_is_not_judged_and_says_why():
    bounds = bounds_for("onnx-int8")
    few = run(60)  # 20 positives a label
    assert "per_label" not in judge_all(few, bounds)
    why = not_judged(few, bounds)["per_label"]
    assert why.startswith("per_label not judged: no label has the 30 gold positives the check judges one on "
                          "(the most has 20, among 60 texts), so it could not fail")
    assert "--gate-per-label-min-support" in why
    enough = run(60, min_support=20)
    assert "per_label" in judge_all(enough, bounds) and not not_judged(enough, bounds)
    assert not not_judged(run(200), bounds)


def test_a_reference_scoring_nothing_leaves_f1_keep_not_judged():
    bounds = bounds_for("onnx-int8")
    ev = run(200, says_nothing=True)
    assert "f1_keep" not in judge_all(ev, bounds)
    assert not_judged(ev, bounds)["f1_keep"].startswith(
        "micro F1 keep not judged: the torch reference's micro F1 is 0 on these 200 texts")
    assert "f1_keep" in judge_all(run(200), bounds)


def test_one_evaluation_text_leaves_f1_keep_not_judged():
    """One text: the `regression` rule has no interval, and fell back to the point rule without a word
    (`pass 0.1333 (>= 0.1332)`, f1_delta_ci null)."""
    bounds = bounds_for("onnx-int8")
    one = run(1)
    assert "f1_keep" not in judge_all(one, bounds)
    assert not_judged(one, bounds)["f1_keep"].startswith("micro F1 keep not judged: 1 evaluation text gives "
                                                          "its change no interval")
    assert "f1_keep" in judge_all(run(2), bounds)


def test_copies_of_one_text_leave_f1_keep_not_judged():
    """50 copies of one text are one text's evidence (Dataset.groups): no interval, F1 keep not judged,
    as for one text; the copies are said under the verdict's table."""
    from encoder_gate.data.datasets import Dataset
    from encoder_gate.reporting.accuracy import dataset_notes

    copies = Dataset("d", ("same",) * 50, np.eye(3, dtype=np.uint8)[np.zeros(50, int)], LABELS)
    assert copies.groups.tolist() == [0] * 50 and copies.distinct == 1
    gold = copies.labels
    ref = np.where(gold == 1, 0.9, 0.05).astype(np.float32)
    ev = evaluate("onnx-int8", ref.copy(), ref, gold, precision="int8", size_bytes=1, task="multi_label",
                  label_names=LABELS, atol=5e-2, groups=copies.groups)
    assert ev.stats is None and ev.distinct == 1
    assert not_judged(ev, bounds_for("onnx-int8"))["f1_keep"].startswith(
        "micro F1 keep not judged: the 50 evaluation texts are copies of one text")
    # the review: per_label read no failing label from the missing error bars, a judged PASS
    assert not_judged(ev, bounds_for("onnx-int8"))["per_label"].startswith(
        "per_label not judged: the 50 evaluation texts are copies of one text")
    assert "per_label" not in judge_all(ev, bounds_for("onnx-int8"))
    mixed = Dataset("d", ("a", "b", "a", "c", "b"), np.zeros((5, 3), np.uint8), LABELS)
    assert mixed.groups.tolist() == [0, 1, 0, 2, 1] and mixed.distinct == 3
    assert dataset_notes({"examples": 5, "distinct": 3})[0].startswith(
        "2 of 5 evaluation texts repeat another (3 distinct): the F1 error bars and McNemar tests count "
        "each distinct text once")
    assert dataset_notes({"examples": 5, "distinct": 5}) == [] == dataset_notes({"examples": 5})
    assert dataset_notes({"examples": 5, "distinct": 3}, labelled=False) == []  # --gate-texts: no error bars


def test_the_shipped_test_skips_with_why():
    model = SimpleNamespace(task="multi_label", label_names=LABELS)
    dataset = SimpleNamespace(texts=tuple(f"text {i}" for i in range(60)))
    with pytest.raises(pytest.skip.Exception, match=r"per_label not judged: no label has the 30 gold"):
        shipped.test_per_label_f1_keeps_reference_share(run(60), bounds_for("onnx-int8"), dataset, model, ())
    shipped.test_per_label_f1_keeps_reference_share(run(60, min_support=20), bounds_for("onnx-int8"),
                                                    dataset, model, ())  # judged, and it holds


def test_the_verdict_says_it_under_the_table():
    rows = {name: _row(run(60, name), bounds_for(name)) for name in ("torch", "onnx-int8")}
    assert rows["onnx-int8"]["not_judged"].keys() == {"per_label"}
    assert "per_label" not in rows["onnx-int8"]["checks"]
    doc = {"provenance": {"model": {"name": "synthetic"}, "dataset": {"source": "s"}},
           "model": {"name": "synthetic", "task": "multi_label"},
           "dataset": {"source": "s", "split": "test", "variant": "normal", "examples": 60},
           "configured_backends": ["torch", "onnx-int8"], "backends": rows}
    verdict = render_verdict(doc, None)
    assert "## encoder-gate: PASS" in verdict
    assert ("- per_label not judged: no label has the 30 gold positives the check judges one on "
            "(the most has 20, among 60 texts)") in verdict
    assert verdict.count("per_label not judged") == 1 and "(every backend)" in verdict
    one = {**doc, "backends": {**rows, "onnx-int8": _row(run(60, "onnx-int8", min_support=20),
                                                         bounds_for("onnx-int8"))}}
    assert "so it could not fail. Evaluate more texts, or lower per-label-min-support " \
           "(--gate-per-label-min-support) (torch)" in render_verdict(one, None)
