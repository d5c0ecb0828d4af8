"""Tests for encoder_gate.accuracy.significance: scikit-learn/scipy parity, CIs, power, per-label verdicts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from encoder_gate.accuracy.f1_rules import decide_f1
from encoder_gate.accuracy.per_label import per_label
from encoder_gate.accuracy.significance import (
    DeltaCI,
    correct,
    examples_needed,
    mcnemar,
    metric_ci,
    min_detectable_drop,
    paired_delta,
    score,
    underpowered_warning,
)
from encoder_gate.statistics import holm

Bool = npt.NDArray[np.bool_]

# ----------------------------------------------------------------------- fixtures


def _multilabel(seed: int, n: int = 1200, n_labels: int = 28, rate: float = 50 / 1200) -> tuple[Bool, Bool]:
    """Gold with ~``rate`` positives per label and a decent reference (misses 10%, few FPs)."""
    rng = np.random.default_rng(seed)
    gold = rng.random((n, n_labels)) < rate
    noise = rng.random((n, n_labels))
    ref = gold.copy()
    ref[gold & (noise < 0.1)] = False
    ref[~gold & (noise < 0.004)] = True
    return gold, ref


def _drop_positives(dec: Bool, share: float, seed: int) -> Bool:
    """Turn ``share`` of the positive decisions negative (at random)."""
    rng = np.random.default_rng(seed)
    out = dec.copy()
    pos = np.argwhere(out)
    hit = pos[rng.choice(len(pos), size=round(share * len(pos)), replace=False)]
    out[hit[:, 0], hit[:, 1]] = False
    return out


def _one_hot(idx: npt.NDArray[np.int64], n_classes: int) -> Bool:
    return np.eye(n_classes, dtype=bool)[idx]


def _singlelabel(seed: int, n: int = 300, n_classes: int = 6) -> tuple[Bool, Bool, Bool]:
    """One-hot gold, reference (80% right) and backend (reference with 10% of rows moved)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_classes - 1, size=n)  # the last class never occurs in gold
    r = np.where(rng.random(n) < 0.8, g, rng.integers(0, n_classes, size=n))
    b = np.where(rng.random(n) < 0.1, rng.integers(0, n_classes, size=n), r)
    return _one_hot(g, n_classes), _one_hot(r, n_classes), _one_hot(b, n_classes)


# ----------------------------------------------------------- scikit-learn parity


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multilabel_scores_match_sklearn(seed: int) -> None:
    gold, ref = _multilabel(seed, n=200, n_labels=9, rate=0.2)
    gold[:, 0] = False  # a label with no gold positives
    ref[:, 1] = False  # a label never predicted
    assert score(gold, ref, "multi_label") == pytest.approx(f1_score(gold, ref, average="micro"))
    assert score(gold, ref, "multi_label", "f1") == pytest.approx(
        f1_score(gold, ref, average="micro", zero_division=0)
    )
    assert score(gold, ref, "multi_label", "f1_macro") == pytest.approx(
        f1_score(gold, ref, average="macro", zero_division=0)
    )
    assert score(gold, ref, "multi_label", "accuracy") == pytest.approx(accuracy_score(gold, ref))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_singlelabel_scores_match_sklearn(seed: int) -> None:
    gold, ref, _ = _singlelabel(seed)
    g, r = gold.argmax(axis=1), ref.argmax(axis=1)
    assert score(gold, ref, "single_label") == pytest.approx(
        f1_score(g, r, average="macro", zero_division=0)
    )
    assert score(gold, ref, "single_label", "accuracy") == pytest.approx(accuracy_score(g, r))


def test_all_zero_is_zero_like_sklearn_zero_division() -> None:
    nothing = np.zeros((4, 3), dtype=bool)
    assert score(nothing, nothing, "multi_label") == 0.0
    assert score(nothing, nothing, "multi_label", "accuracy") == 1.0


# -------------------------------------------------------------- paired bootstrap


def test_unchanged_backend_has_delta_zero_and_ci_containing_zero() -> None:
    gold, ref = _multilabel(0)
    d = paired_delta(gold, ref, ref.copy(), "multi_label")
    assert d.delta == 0.0
    assert d.ci_low <= 0.0 <= d.ci_high
    assert d.ci == (0.0, 0.0)  # every resample scores both sides on identical decisions
    assert d.se == 0.0
    assert d.metric == "f1"
    assert d.n == 1200
    assert d.ref_value == d.value == pytest.approx(f1_score(gold, ref, average="micro"))


def test_clearly_damaged_backend_has_ci_excluding_zero() -> None:
    gold, ref = _multilabel(0)
    dec = _drop_positives(ref, 0.3, seed=1)
    d = paired_delta(gold, ref, dec, "multi_label")
    truth = f1_score(gold, dec, average="micro") - f1_score(gold, ref, average="micro")
    assert d.delta == pytest.approx(truth)
    assert d.value - d.ref_value == pytest.approx(truth)
    assert d.ci_low <= d.delta <= d.ci_high
    assert d.ci_high < 0.0


def test_percentile_ci_matches_scipy_bootstrap_with_sklearn_statistic() -> None:
    """The vectorised bincount statistic gives scipy's own percentile CI, resample for resample."""
    gold, ref = _multilabel(3, n=40, n_labels=5, rate=0.3)
    dec = _drop_positives(ref, 0.2, seed=4)

    def naive(i: npt.NDArray[np.int64]) -> float:
        g = gold[i]
        return float(f1_score(g, dec[i], average="micro", zero_division=0)) - float(
            f1_score(g, ref[i], average="micro", zero_division=0)
        )

    expected = stats.bootstrap(
        (np.arange(40),),
        naive,
        n_resamples=200,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(7),
    )
    got = paired_delta(gold, ref, dec, "multi_label", n_resamples=200, seed=7)
    assert got.ci_low == pytest.approx(expected.confidence_interval.low, abs=1e-12)
    assert got.ci_high == pytest.approx(expected.confidence_interval.high, abs=1e-12)
    assert got.se == pytest.approx(expected.standard_error, abs=1e-12)


def test_singlelabel_delta_macro_f1_and_accuracy() -> None:
    gold, ref, dec = _singlelabel(0)
    g, r, b = (m.argmax(axis=1) for m in (gold, ref, dec))
    f1 = paired_delta(gold, ref, dec, "single_label", n_resamples=300)
    acc = paired_delta(gold, ref, dec, "single_label", metric="accuracy", n_resamples=300)
    assert f1.metric == "f1_macro"
    assert f1.delta == pytest.approx(
        f1_score(g, b, average="macro", zero_division=0) - f1_score(g, r, average="macro", zero_division=0)
    )
    assert acc.metric == "accuracy"
    assert acc.delta == pytest.approx(accuracy_score(g, b) - accuracy_score(g, r))
    for d in (f1, acc):
        assert d.ci_low <= d.delta <= d.ci_high


def test_without_gold_the_reference_is_the_gold() -> None:
    _, ref = _multilabel(0)
    dec = _drop_positives(ref, 0.1, seed=2)
    d = paired_delta(None, ref, dec, "multi_label", n_resamples=300)
    assert d.ref_value == 1.0
    assert d.value == pytest.approx(f1_score(ref, dec, average="micro"))
    assert d.delta == pytest.approx(d.value - 1.0)


def test_same_seed_same_answer_other_seed_other_resamples() -> None:
    gold, ref = _multilabel(0)
    dec = _drop_positives(ref, 0.05, seed=3)
    a = paired_delta(gold, ref, dec, "multi_label", seed=11)
    b = paired_delta(gold, ref, dec, "multi_label", seed=11)
    c = paired_delta(gold, ref, dec, "multi_label", seed=12)
    assert a == b
    assert c.delta == a.delta
    assert (c.ci_low, c.ci_high) != (a.ci_low, a.ci_high)
    m1 = min_detectable_drop(gold, ref, task="multi_label", seed=5)
    assert m1 == min_detectable_drop(gold, ref, task="multi_label", seed=5)


def test_delta_as_dict_is_json() -> None:
    gold, ref = _multilabel(0, n=100)
    d = paired_delta(gold, ref, _drop_positives(ref, 0.1, 0), "multi_label", n_resamples=100)
    out = json.loads(json.dumps(d.as_dict()))
    assert out["metric"] == "f1"
    assert out["delta"] == d.delta
    assert out["method"] == "percentile"
    assert {"ci_low", "ci_high", "n", "se", "ref_value", "value"} <= set(out)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "regression"}, "task must be"),
        ({"metric": "f2"}, "metric must be"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_paired_delta_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    gold, ref = _multilabel(0, n=50)
    args: dict[str, Any] = {"task": "multi_label", **kwargs}
    task = args.pop("task")
    with pytest.raises(ValueError, match=match):
        paired_delta(gold, ref, ref, task, **args)


def test_rejects_bad_shapes_and_non_one_hot() -> None:
    gold, ref, dec = _singlelabel(0, n=20)
    with pytest.raises(ValueError, match="shape"):
        paired_delta(gold, ref, dec[:10], "single_label")
    two = dec.copy()
    two[0] = True
    with pytest.raises(ValueError, match="one-hot"):
        paired_delta(gold, ref, two, "single_label")
    with pytest.raises(ValueError, match="at least 2 examples"):
        paired_delta(gold[:1], ref[:1], dec[:1], "single_label")


# ------------------------------------------------------------------------ McNemar


def test_mcnemar_counts_and_binomtest_p() -> None:
    rng = np.random.default_rng(0)
    ref_ok = rng.random(500) < 0.8
    ok = ref_ok.copy()
    ok[np.flatnonzero(ref_ok)[:15]] = False  # 15 lost
    ok[np.flatnonzero(~ref_ok)[:4]] = True  # 4 gained
    t = mcnemar(ref_ok, ok)
    assert (t.b, t.c, t.n) == (15, 4, 500)
    assert t.p_value == stats.binomtest(15, 19, 0.5).pvalue
    assert t.backend_worse
    assert mcnemar(ok, ref_ok).p_value == t.p_value  # symmetric, two-sided


def test_mcnemar_without_discordance_is_one() -> None:
    same = np.array([[True, False], [False, True]])
    t = mcnemar(same, same)
    assert (t.b, t.c, t.p_value) == (0, 0, 1.0)
    assert not t.backend_worse


def test_correct_units() -> None:
    gold = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    dec = np.array([[1, 1, 1], [0, 1, 0]], dtype=bool)
    assert correct(gold, dec, "multi_label").tolist() == [[True, False, True], [True, True, True]]
    assert correct(gold, dec, "multi_label", unit="example").tolist() == [False, True]
    one_hot = np.array([[1, 0], [0, 1]], dtype=bool)
    assert correct(one_hot, one_hot[::-1], "single_label").tolist() == [False, False]
    assert correct(None, dec, "multi_label", ref_dec=gold).shape == (2, 3)
    with pytest.raises(ValueError, match="ref_dec"):
        correct(None, dec, "multi_label")


def test_mcnemar_on_decisions_from_correct() -> None:
    gold, ref = _multilabel(0, n=300)
    dec = _drop_positives(ref, 0.05, seed=0)
    t = mcnemar(correct(gold, ref, "multi_label"), correct(gold, dec, "multi_label"))
    lost = int(np.sum(ref & ~dec & gold))  # true positives turned into misses
    gained = int(np.sum(ref & ~dec & ~gold))  # false positives removed
    assert (t.b, t.c) == (lost, gained)
    assert t.n == 300 * 28


# -------------------------------------------------------------------------- power


def test_mde_halves_when_the_set_is_tiled_four_times() -> None:
    gold, ref = _multilabel(0)
    dec = _drop_positives(ref, 0.03, seed=1)

    def tile(m: Bool) -> Bool:
        return np.tile(m, (4, 1))

    mde = min_detectable_drop(gold, ref, task="multi_label", dec=dec)
    mde4 = min_detectable_drop(tile(gold), tile(ref), task="multi_label", dec=tile(dec))
    assert mde > 0
    assert mde4 / mde == pytest.approx(0.5, abs=0.08)
    # the stated-discordance version (no backend) scales the same way
    base = min_detectable_drop(gold, ref, task="multi_label")
    base4 = min_detectable_drop(tile(gold), tile(ref), task="multi_label")
    assert base4 / base == pytest.approx(0.5, abs=0.12)


def test_copies_of_the_texts_add_no_evidence_when_grouped_by_text() -> None:
    """An evaluation set of 1200 texts held four times over: counted as rows, its F1 interval is
    about half as wide and its McNemar p far smaller, as if it held 4800 texts (a 50-copies set in
    the third bad-input hunt); grouped by text (Dataset.groups: the copies one unit), every figure
    is the 1200 texts' own. And with every text distinct, groups change nothing."""
    gold, ref = _multilabel(0)
    dec = _drop_positives(ref, 0.03, seed=1)
    tile = lambda m: np.tile(m, (4, 1))  # noqa: E731
    groups = np.tile(np.arange(len(gold)), 4)  # first appearance order: copy k of text i is group i

    once = paired_delta(gold, ref, dec, "multi_label")
    rows = paired_delta(tile(gold), tile(ref), tile(dec), "multi_label")
    grouped = paired_delta(tile(gold), tile(ref), tile(dec), "multi_label", groups=groups)
    assert (rows.ci_high - rows.ci_low) / (once.ci_high - once.ci_low) == pytest.approx(0.5, abs=0.08)
    assert (grouped.delta, *grouped.ci, grouped.se) == pytest.approx((once.delta, *once.ci, once.se))
    assert grouped.n == 4 * once.n
    assert metric_ci(tile(gold), tile(dec), "multi_label", groups=groups) == pytest.approx(
        metric_ci(gold, dec, "multi_label"))
    assert min_detectable_drop(tile(gold), tile(ref), task="multi_label", dec=tile(dec), groups=groups) \
        == pytest.approx(min_detectable_drop(gold, ref, task="multi_label", dec=dec))
    right = correct(gold, ref, "multi_label"), correct(gold, dec, "multi_label")
    right4 = correct(tile(gold), tile(ref), "multi_label"), correct(tile(gold), tile(dec), "multi_label")
    test_once, test_rows, test_grouped = mcnemar(*right), mcnemar(*right4), mcnemar(*right4, groups)
    assert test_rows.p_value < test_once.p_value / 1000
    assert (test_grouped.b, test_grouped.c, test_grouped.p_value) == (test_once.b, test_once.c,
                                                                        test_once.p_value)
    per_once = per_label(gold, ref, dec, min_support=30)
    per_grouped = per_label(tile(gold), tile(ref), tile(dec), min_support=30, groups=groups)
    assert [(r.p_raw, r.b, r.c) for r in per_grouped] == [(r.p_raw, r.b, r.c) for r in per_once]

    distinct = np.arange(len(gold))
    assert paired_delta(gold, ref, dec, "multi_label", groups=distinct) == once
    assert mcnemar(*right, distinct) == test_once


def test_copies_whose_gold_differs_net_out_in_mcnemar() -> None:
    """Two copies of one text, gold yes on one and no on the other, the backend flipping its
    decision: right on one copy, wrong on the other, so on that text neither side is better."""
    gold = np.array([[True], [False], [True]])
    ref = np.array([[True], [True], [True]])
    dec = np.array([[False], [False], [False]])
    plain = mcnemar(ref == gold, dec == gold)
    grouped = mcnemar(ref == gold, dec == gold, np.array([0, 0, 1]))
    assert (plain.b, plain.c) == (2, 1) and (grouped.b, grouped.c, grouped.n) == (1, 0, 2)
    assert mcnemar(ref == gold, dec == gold, np.array([0, 0, 2])) == grouped  # an id of no row: no unit
    with pytest.raises(ValueError, match="groups must be 3 integer ids"):
        mcnemar(ref == gold, dec == gold, np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="at least 2 examples"):
        paired_delta(gold, ref, dec, "multi_label", groups=np.zeros(3, dtype=np.int64))


def test_mde_is_z_times_the_paired_bootstrap_se() -> None:
    gold, ref = _multilabel(0)
    dec = _drop_positives(ref, 0.03, seed=1)
    se = paired_delta(gold, ref, dec, "multi_label", seed=3).se
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert min_detectable_drop(gold, ref, task="multi_label", dec=dec, seed=3) == pytest.approx(z * se)
    assert min_detectable_drop(gold, ref, task="multi_label", dec=ref) == 0.0  # nothing differs
    # more discordance assumed, more noise in the delta, larger MDE
    small = min_detectable_drop(gold, ref, task="multi_label", discordance=0.01)
    large = min_detectable_drop(gold, ref, task="multi_label", discordance=0.10)
    assert large > small > 0


def test_mde_single_label() -> None:
    gold, ref, dec = _singlelabel(0, n=400)
    mde = min_detectable_drop(gold, ref, task="single_label", dec=dec, n_resamples=500)
    assert 0 < mde < 1
    assert min_detectable_drop(gold, ref, task="single_label", n_resamples=500) > 0


def test_examples_needed() -> None:
    assert examples_needed(0.02, 0.01, 1200) == 4800
    assert examples_needed(0.01, 0.01, 1200) == 1200
    assert examples_needed(0.015, 0.01, 1000) == 2250
    assert examples_needed(0.005, 0.01, 1200) == 300  # already large enough
    with pytest.raises(ValueError, match="target_margin"):
        examples_needed(0.02, 0.0, 1200)


def test_underpowered_warning_mentions_the_example_count() -> None:
    msg = underpowered_warning(0.02, 0.01, 1200)
    assert msg is not None
    assert "1200 examples" in msg
    assert "4800" in msg  # what it would need
    assert "0.0100" in msg and "0.0200" in msg
    assert underpowered_warning(0.008, 0.01, 1200) is None
    assert underpowered_warning(0.01, 0.01, 1200) is None
    # repeated texts: what more of is needed are distinct texts (the error bars' units), not copies
    repeats = underpowered_warning(0.02, 0.01, 1200, distinct=300)
    assert repeats is not None and "(1200 examples, 300 distinct)" in repeats
    assert "About 1200 distinct texts (4.0x as many)" in repeats


# ---------------------------------------------------------------------- per label


def test_holm_matches_hand_computation() -> None:
    # sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> max(0.06, 0.04)
    got = holm([0.01, 0.04, 0.03, 0.005])
    assert got.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]).tolist() == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]).size == 0


def _one_label_damage() -> tuple[Bool, Bool, Bool, list[str]]:
    """28 labels with 50 gold positives each (label 7: 25); the backend loses 18 of label 7's TPs.

    The reference misses 5% of each label's positives and adds 2 false positives per
    label. On six other labels the backend swaps one hit for one miss (discordant, net
    zero), so they have changed examples but no significant loss.
    """
    rng = np.random.default_rng(42)
    n, n_labels = 1200, 28
    gold = np.zeros((n, n_labels), dtype=bool)
    ref = np.zeros_like(gold)
    for j in range(n_labels):
        support = 25 if j == 7 else 50
        rows = rng.choice(n, size=support + 2, replace=False)
        pos, fp = rows[:support], rows[support:]
        gold[pos, j] = True
        ref[pos[round(0.05 * support) :], j] = True  # misses the first 5%
        ref[fp, j] = True
    dec = ref.copy()
    hits = np.flatnonzero(ref[:, 7] & gold[:, 7])
    dec[hits[:18], 7] = False
    for j in (0, 3, 11, 15, 20, 27):
        hit = np.flatnonzero(ref[:, j] & gold[:, j])[0]
        miss = np.flatnonzero(~ref[:, j] & gold[:, j])[0]
        dec[hit, j], dec[miss, j] = False, True
    return gold, ref, dec, [f"emotion_{j}" for j in range(n_labels)]


def test_damage_to_one_label_fails_that_label_only_while_the_point_rule_passes() -> None:
    gold, ref, dec, names = _one_label_damage()
    results = per_label(gold, ref, dec, names)
    verdicts = {r.label: r.verdict for r in results}
    assert verdicts["emotion_7"] == "fail"
    assert {v for k, v in verdicts.items() if k != "emotion_7"} == {"pass"}
    bad = results[7]
    assert bad.support == 25
    assert bad.f1 < 0.9 * bad.f1_ref
    assert (bad.b, bad.c) == (18, 0)
    assert bad.p_value is not None and bad.p_value < 0.05
    assert len(bad.changed) == 18
    assert len(results[3].changed) == 2 and results[3].p_value == 1.0
    # ... yet micro F1 keeps 99% of the reference: today's rule would pass this backend
    delta = paired_delta(gold, ref, dec, "multi_label")
    point = decide_f1(delta, "point", margin=0.01, point_keep=0.99, ref_value=delta.ref_value)
    assert point.passed
    assert score(gold, dec, "multi_label") >= 0.99 * score(gold, ref, "multi_label")
    assert delta.delta < 0


def test_per_label_f1_matches_sklearn_and_holm_is_applied() -> None:
    gold, ref, dec, names = _one_label_damage()
    results = per_label(gold, ref, dec, names)
    f1_ref = f1_score(gold, ref, average=None, zero_division=0)
    f1 = f1_score(gold, dec, average=None, zero_division=0)
    assert [r.f1_ref for r in results] == pytest.approx(list(f1_ref))
    assert [r.f1 for r in results] == pytest.approx(list(f1))
    raw = [r.p_raw for r in results]
    assert [r.p_value for r in results] == pytest.approx(list(holm(raw)))
    assert results[7].p_raw == stats.binomtest(18, 18, 0.5).pvalue


def test_significant_loss_fails_even_when_f1_is_kept() -> None:
    rng = np.random.default_rng(0)
    gold = np.zeros((1000, 3), dtype=bool)
    gold[rng.choice(1000, 400, replace=False), 0] = True  # a big label
    gold[rng.choice(1000, 40, replace=False), 1] = True
    gold[rng.choice(1000, 10, replace=False), 2] = True  # too few positives to judge
    ref = gold.copy()
    dec = ref.copy()
    dec[np.flatnonzero(gold[:, 0])[:30], 0] = False  # F1 1.0 -> 0.96: kept, but 30 lost, 0 gained
    dec[np.flatnonzero(gold[:, 2])[:8], 2] = False
    big, mid, small = per_label(gold, ref, dec)
    assert big.f1 >= 0.9 * big.f1_ref
    assert big.verdict == "fail" and "significantly" in big.reason
    assert mid.verdict == "pass"
    assert small.verdict == "low-support" and small.p_value is None
    assert small.label == "label_2"
    # Holm over the two judged labels only
    assert big.p_value == pytest.approx(min(1.0, 2 * big.p_raw))


def test_label_result_dict_and_failure_message() -> None:
    gold, ref, dec, names = _one_label_damage()
    texts = [f"text number {i} " + "x" * (200 if i % 2 else 0) for i in range(len(gold))]
    bad = per_label(gold, ref, dec, names)[7]
    out = json.loads(json.dumps(bad.as_dict()))
    assert set(out) == {"label", "support", "f1_ref", "f1", "p_value", "verdict", "changed"}
    assert out["changed"] == 18
    assert out["verdict"] == "fail"
    msg = bad.failure_message(texts)
    assert "emotion_7" in msg and "support 25" in msg
    assert f"{bad.f1_ref:.4f}" in msg and f"{bad.f1:.4f}" in msg
    shown = [line for line in msg.splitlines() if line.strip().startswith("#")]
    assert len(shown) == 5
    assert all("no longer predicted (gold: yes)" in line for line in shown)
    assert f"text number {bad.changed[0]}" in msg
    assert "... and 13 more" in msg
    assert max(len(line) for line in msg.splitlines()) < 200  # long texts are shortened


def test_a_label_that_stops_firing_says_what_its_more_gained_decisions_mean() -> None:
    """A label that stops firing on every text: its hits are lost and its false alarms become right
    decisions, so McNemar counts more gained than lost while its F1 falls to 0; the failure says why
    the two point different ways, and names what the F1 was kept against (the base, not "the
    reference", where a PR is judged against its base)."""
    n = 200
    gold = np.zeros((n, 1), dtype=bool)
    gold[:40, 0] = True
    ref = np.zeros((n, 1), dtype=bool)
    ref[:30, 0] = True  # 30 hits
    ref[40:100, 0] = True  # 60 false alarms
    dec = np.zeros((n, 1), dtype=bool)  # fires on nothing: 30 lost, 60 gained
    (r,) = per_label(gold, ref, dec, ["neutral"])
    assert r.verdict == "fail" and (r.b, r.c) == (30, 60)
    msg = r.failure_message([f"t{i}" for i in range(n)], sides=("base", "PR"))
    assert "fails: F1 fell below 0.90 x the base's." in msg, msg
    assert "30 lost, 60 gained (decisions vs gold; more gained than lost: F1 does not count the texts a " \
           "label is rightly left off)." in msg, msg
    assert "x the reference's" in r.failure_message([f"t{i}" for i in range(n)])
    kept = per_label(gold, ref, ref, ["neutral"])[0].failure_message([f"t{i}" for i in range(n)])
    assert "more gained" not in kept and "0 lost, 0 gained (decisions vs gold)." in kept


def test_per_label_without_gold_uses_the_reference() -> None:
    _, ref, dec, _ = _one_label_damage()
    results = per_label(None, ref, dec, min_support=20)
    assert results[7].f1_ref == 1.0
    assert results[7].verdict == "fail"


def test_per_label_singlelabel_classes() -> None:
    gold, ref, dec = _singlelabel(0, n=600)
    results = per_label(gold, ref, dec, [f"c{j}" for j in range(6)])
    assert [r.f1 for r in results] == pytest.approx(
        list(f1_score(gold.argmax(1), dec.argmax(1), average=None, labels=range(6), zero_division=0))
    )
    assert results[5].verdict == "low-support"  # never in gold


def test_a_labels_support_floor_counts_distinct_texts_not_their_copies():
    """Eleven texts with a gold positive, each evaluated three times, are 33 rows but 11 texts' evidence:
    with their groups the label stays below a floor of 30 (low-support, said in distinct texts), as
    the same eleven once are; without groups the rows count (walk 43: copies judged a label the set
    could not judge, and one copy's flipped INT8 decision failed it)."""
    from encoder_gate.accuracy.per_label import positive_texts

    once = np.zeros((40, 1), dtype=bool)
    once[:11, 0] = True
    gold = np.repeat(once, 3, axis=0)  # each text three times in a row
    groups = np.repeat(np.arange(40), 3)
    assert positive_texts(gold).tolist() == [33] and positive_texts(gold, groups).tolist() == [11]
    dec = gold.copy()
    dec[0, 0] = False  # one copy's decision flipped
    [copies] = per_label(gold, gold, dec, ["admiration"], min_support=30, groups=groups)
    assert copies.verdict == "low-support" and copies.support == 33, copies
    assert copies.reason == "fewer than 30 distinct texts with a gold positive", copies
    [rows] = per_label(gold, gold, dec, ["admiration"], min_support=30)
    assert rows.verdict != "low-support"
    [distinct] = per_label(once, once, once, ["admiration"], min_support=30, groups=np.arange(40))
    assert distinct.reason == "fewer than 30 gold positives"  # no text repeats: said as before


# ------------------------------------------------------------------ decision rules


def _ci(delta: float, low: float, high: float, ref_value: float = 0.80) -> DeltaCI:
    return DeltaCI(
        metric="f1", delta=delta, ci_low=low, ci_high=high, n=1200, ref_value=ref_value,
        value=ref_value + delta, se=(high - low) / 3.92, confidence=0.95, n_resamples=2000,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "ci", "passed"),
    [
        ("point", _ci(-0.007, -0.015, 0.001), True),  # 0.793 >= 0.99 x 0.80 = 0.792
        ("point", _ci(-0.009, -0.012, -0.006), False),  # 0.791 < 0.792
        ("regression", _ci(-0.02, -0.03, -0.012), False),  # whole CI below -0.01
        ("regression", _ci(-0.02, -0.03, -0.009), True),  # straddles -0.01: not shown
        ("regression", _ci(-0.001, -0.03, 0.028), True),  # noisy but no shown drop
        ("non-inferiority", _ci(-0.001, -0.005, 0.003), True),  # whole CI above -0.01
        ("non-inferiority", _ci(-0.001, -0.03, 0.028), False),  # too noisy to rule out
        ("non-inferiority", _ci(-0.02, -0.03, -0.012), False),
    ],
)
def test_decision_rules(rule: Any, ci: DeltaCI, passed: bool) -> None:
    d = decide_f1(ci, rule, margin=0.01, point_keep=0.99, ref_value=0.80)
    assert d.passed is passed
    assert d.rule == rule
    assert "f1" in d.reason
    if rule != "point":
        assert "0.0100" in d.reason and f"{ci.ci_low:+.4f}" in d.reason
    else:
        assert "0.8000" in d.reason and "0.7920" in d.reason
    assert json.loads(json.dumps(d.as_dict()))["passed"] is passed


def test_decide_rejects_unknown_rule_and_negative_margin() -> None:
    ci = _ci(0.0, -0.01, 0.01)
    with pytest.raises(ValueError, match="rule"):
        decide_f1(ci, "bayes", margin=0.01, point_keep=0.99, ref_value=0.8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="margin"):
        decide_f1(ci, "regression", margin=-0.01, point_keep=0.99, ref_value=0.8)


def test_metric_ci_brackets_the_metric_and_matches_a_plain_bootstrap():
    """The headline's own CI: the percentile interval of the metric over example resamples, the
    same numbers a plain loop over scipy's resamples gives; a perfect predictor's is [1, 1]."""
    from scipy import stats as sps

    gold, ref = _multilabel(3, n=300, n_labels=6, rate=0.2)
    low, high = metric_ci(gold, ref, "multi_label", n_resamples=400, seed=1)
    point = score(gold, ref, "multi_label")
    assert low < point < high and high - low < 0.2

    def f1_of(idx: np.ndarray) -> float:
        return score(gold[idx], ref[idx], "multi_label")

    plain = sps.bootstrap((np.arange(300),), f1_of, n_resamples=400, vectorized=False,
                          method="percentile", rng=np.random.default_rng(1))
    assert (low, high) == pytest.approx((plain.confidence_interval.low, plain.confidence_interval.high),
                                        abs=1e-9)
    assert metric_ci(gold, gold, "multi_label", n_resamples=50) == (1.0, 1.0)


def test_one_holm_judges_speed_cells_at_their_levels_and_labels_by_adjusted_p():
    """statistics.holm_levels (the A/B's speed cells, judged at looks) and statistics.holm (the
    per-label McNemar tests) are one procedure: a p-value rejects at its level exactly when its
    adjusted p-value is below alpha, on random families."""
    from encoder_gate.statistics import holm_levels

    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 10):
        for _ in range(200):
            p = rng.uniform(0, 0.08, m).tolist()
            levels = holm_levels(p, 0.05)
            assert [pi < lv for pi, lv in zip(p, levels, strict=True)] == (holm(p) < 0.05).tolist()
