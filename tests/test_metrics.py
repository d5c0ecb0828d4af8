"""Tests for encoder_gate.accuracy.metrics: hand-worked cases, scikit-learn parity, properties."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

from encoder_gate.accuracy.metrics import (
    DEFAULT_GRID,
    cosine_similarity,
    drift,
    multilabel_metrics,
    relative_drop,
    singlelabel_metrics,
    tune_thresholds,
)

approx = pytest.approx

# ----------------------------------------------------------------------- fixtures

# Dyadic values (multiples of 1/16) so every difference below is exact.
P_REF = np.array([[0.125, 0.625, 0.25], [0.5, 0.25, 0.875]])
P_BACKEND = np.array([[0.125, 0.25, 0.375], [0.5, 0.3125, 0.875]])
# |diff| = [[0, 0.375, 0.125],
#           [0, 0.0625, 0    ]]

GOLD = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
PROBS = np.array(
    [[0.9, 0.2, 0.1], [0.6, 0.7, 0.1], [0.4, 0.8, 0.2], [0.1, 0.1, 0.1]],
)
# pred @ 0.5 = [[1,0,0], [1,1,0], [0,1,0], [0,0,0]]


def _random_multilabel(
    seed: int, n: int = 60, n_labels: int = 7
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Random probs/gold with one label never gold-positive and one never predicted."""
    rng = np.random.default_rng(seed)
    gold = (rng.random((n, n_labels)) < 0.3).astype(np.int64)
    probs = np.clip(0.55 * gold + 0.6 * rng.random((n, n_labels)), 0.0, 1.0)
    gold[:, 0] = 0  # a label with no gold positives
    probs[:, 1] = 0.4 * probs[:, 1]  # a label never predicted at 0.5
    return probs, gold


def _sk_multilabel(pred: npt.NDArray[Any], gold: npt.NDArray[Any]) -> dict[str, float]:
    """Reference numbers from scikit-learn with zero_division=0."""
    kw: dict[str, Any] = {"zero_division": 0}
    return {
        "accuracy": accuracy_score(gold, pred),
        "precision": precision_score(gold, pred, average="micro", **kw),
        "recall": recall_score(gold, pred, average="micro", **kw),
        "f1": f1_score(gold, pred, average="micro", **kw),
        "precision_macro": precision_score(gold, pred, average="macro", **kw),
        "recall_macro": recall_score(gold, pred, average="macro", **kw),
        "f1_macro": f1_score(gold, pred, average="macro", **kw),
        "f1_weighted": f1_score(gold, pred, average="weighted", **kw),
        "f1_samples": f1_score(gold, pred, average="samples", **kw),
    }


def _assert_matches_sklearn(probs: Any, gold: Any, threshold: Any = 0.5) -> None:
    """Check every TaskMetrics number (incl. per-label F1) against scikit-learn."""
    m = multilabel_metrics(probs, gold, threshold=threshold)
    pred = (np.asarray(probs) >= np.asarray(threshold)).astype(np.int64)
    for key, expected in _sk_multilabel(pred, gold).items():
        assert getattr(m, key) == approx(expected, abs=1e-12), key
    per_label = f1_score(gold, pred, average=None, zero_division=0)
    assert list(m.per_label_f1.values()) == approx(list(per_label), abs=1e-12)


# -------------------------------------------------------------------------- drift


def test_drift_hand_worked() -> None:
    """Per-sample drift d = [0.375, 0.0625]."""
    d = drift(P_BACKEND, P_REF)
    assert d.mean == approx(0.21875)  # (0.375 + 0.0625) / 2
    assert d.p50 == approx(0.21875)  # median of two = their mean
    assert d.p99 == approx(0.371875)  # 0.0625 + 0.99 * (0.375 - 0.0625)
    assert d.max == 0.375
    assert d.per_label_max == (0.0, 0.375, 0.125)
    assert d.max_abs_diff == 0.375
    assert d.share_over_atol == approx(3 / 6)  # 0.375, 0.125, 0.0625 > 1e-4
    # @0.5 only (0, 1) flips: 0.625 -> 0.25. (1, 0) is 0.5 in both: >= keeps it on.
    assert (d.flips, d.flipped_samples) == (1, 1)
    assert d.flip_rate == approx(1 / 6)
    # argmax row 0: ref label 1, backend label 2; row 1: both label 2.
    assert d.top1_agreement == 0.5
    assert d.worst == (0, 1)
    assert d.worst_samples(1) == [0]
    assert d.worst_samples(10) == [0, 1]
    assert (d.n_samples, d.n_labels) == (2, 3)


def test_drift_tolerances() -> None:
    """atol and rtol as in ORT's compare_bert_results: |a-b| > atol + rtol*|ref|."""
    # atol 0.0625: only 0.375 and 0.125 exceed it (0.0625 is not > 0.0625).
    assert drift(P_BACKEND, P_REF, atol=0.0625).share_over_atol == approx(2 / 6)
    # rtol 0.25, atol 0: bounds 0.25*ref = [[.03125,.15625,.0625],[.125,.0625,.21875]]
    # exceeded by 0.375 and 0.125 in row 0 only; 0.0625 is not > 0.0625.
    d = drift(P_BACKEND, P_REF, atol=0.0, rtol=0.25)
    assert d.share_over_atol == approx(2 / 6)


def test_drift_threshold() -> None:
    """@0.3: (0,1) .625->.25, (0,2) .25->.375, (1,1) .25->.3125 flip: 3 flips, 2 rows."""
    d = drift(P_BACKEND, P_REF, threshold=0.3)
    assert (d.flips, d.flipped_samples) == (3, 2)
    assert d.flip_rate == approx(3 / 6)


def test_drift_worst_ordering_and_ties() -> None:
    """Worst is descending by d_i, ties to the lower index, at most 3 entries."""
    ref = np.zeros((5, 2))
    backend = ref.copy()
    backend[:, 0] = [0.1, 0.3, 0.3, 0.0, 0.2]
    d = drift(backend, ref)
    assert d.worst == (1, 2, 4)
    assert d.worst_samples(5) == [1, 2, 4, 0, 3]
    assert d.worst_samples(0) == []
    with pytest.raises(ValueError, match="k must be"):
        d.worst_samples(-1)


def test_drift_as_dict_is_plain_json() -> None:
    """as_dict holds only plain Python types and survives json round-trip."""
    out = drift(P_BACKEND, P_REF).as_dict()
    assert "per_sample" not in out
    assert isinstance(out["per_label_max"], list)
    assert isinstance(out["worst"], list)
    assert type(out["flips"]) is int
    assert type(out["mean"]) is float
    assert json.loads(json.dumps(out)) == out


def test_drift_result_is_frozen() -> None:
    """Neither the fields nor the per-sample array can be changed."""
    d = drift(P_BACKEND, P_REF)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.mean = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        d.per_sample[0] = 1.0


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.zeros((2, 3)), np.zeros((3, 2)), "same shape"),
        (np.zeros(3), np.zeros(3), "2-D"),
        (np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), "2-D"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "non-empty"),
        (np.zeros((2, 0)), np.zeros((2, 0)), "non-empty"),
        (np.full((2, 3), np.nan), np.zeros((2, 3)), "NaN or infinite"),
        (np.zeros((2, 3)), np.full((2, 3), np.inf), "NaN or infinite"),
    ],
)
def test_drift_validation(a: Any, b: Any, match: str) -> None:
    """Bad shapes and non-finite values raise ValueError with a clear message."""
    with pytest.raises(ValueError, match=match):
        drift(a, b)


# ----------------------------------------------------------- multi-label metrics


def test_multilabel_hand_worked() -> None:
    """Per label: L0 tp1 fp1 fn1; L1 tp2; L2 no gold, no predictions."""
    m = multilabel_metrics(PROBS, GOLD, label_names=["a", "b", "c"])
    assert m.accuracy == 0.5  # rows 0 and 3 match exactly
    # micro: tp 3, predicted 4, gold 4
    assert (m.precision, m.recall, m.f1) == (0.75, 0.75, 0.75)
    # macro: P = R = F1 = (0.5 + 1 + 0) / 3
    assert m.precision_macro == approx(0.5)
    assert m.recall_macro == approx(0.5)
    assert m.f1_macro == approx(0.5)
    assert m.f1_weighted == approx(0.75)  # (2*0.5 + 2*1 + 0*0) / 4
    # per row F1: 1, 2/3, 2/3, 0 (empty row counts 0 with zero_division=0)
    assert m.f1_samples == approx(7 / 12)
    assert m.per_label_f1 == {"a": 0.5, "b": 1.0, "c": 0.0}
    assert m.support == {"a": 2, "b": 2, "c": 0}
    assert m.n_samples == 4


def test_multilabel_per_label_threshold_and_equality() -> None:
    """Per-label thresholds; p == threshold counts as positive."""
    # L0 @0.9: pred [1,0,0,0] -> tp1 fn1 -> 2/3. L1 @0.75: [0,0,1,0] -> 2/3.
    m = multilabel_metrics(PROBS, GOLD, threshold=np.array([0.9, 0.75, 0.5]))
    assert m.per_label_f1 == approx({"label_0": 2 / 3, "label_1": 2 / 3, "label_2": 0})
    assert m.f1 == approx(2 / 3)  # micro: tp 2, predicted 2, gold 4 -> 4 / 6
    _assert_matches_sklearn(PROBS, GOLD, np.array([0.9, 0.75, 0.5]))


def test_multilabel_as_dict_is_plain_json() -> None:
    """Dict fields stay dicts of plain floats/ints."""
    out = multilabel_metrics(PROBS, GOLD).as_dict()
    assert out["support"] == {"label_0": 2, "label_1": 2, "label_2": 0}
    assert json.loads(json.dumps(out)) == out


@pytest.mark.parametrize("seed", range(8))
def test_multilabel_matches_sklearn_random(seed: int) -> None:
    """Random data incl. a label without gold positives and one never predicted."""
    probs, gold = _random_multilabel(seed)
    _assert_matches_sklearn(probs, gold)
    thresholds = np.random.default_rng(seed).uniform(0.2, 0.8, size=probs.shape[1])
    _assert_matches_sklearn(probs, gold, thresholds)


@pytest.mark.parametrize("case", ["no_predictions", "no_gold", "nothing", "all_ones", "bool_gold"])
def test_multilabel_matches_sklearn_edge_cases(case: str) -> None:
    """Degenerate inputs still match scikit-learn with zero_division=0."""
    probs, gold = _random_multilabel(99, n=20, n_labels=4)
    if case in ("no_predictions", "nothing"):
        probs = probs * 0.4  # all-zero predictions
    if case in ("no_gold", "nothing"):
        gold = np.zeros_like(gold)
    if case == "all_ones":
        probs, gold = np.ones_like(probs), np.ones_like(gold)
    gold_in: Any = gold.astype(bool) if case == "bool_gold" else gold
    _assert_matches_sklearn(probs, gold_in)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_multilabel_matches_sklearn_property(data: st.DataObject) -> None:
    """Any small 0/1 problem and threshold matches scikit-learn.

    L >= 2: scikit-learn reads an (n, 1) indicator as binary, not multi-label.
    """
    shape = data.draw(st.tuples(st.integers(1, 6), st.integers(2, 5)))
    probs = data.draw(arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.5, 1.0])))
    gold = data.draw(arrays(np.int64, shape, elements=st.integers(0, 1)))
    _assert_matches_sklearn(probs, gold, data.draw(st.sampled_from([0.25, 0.5, 0.75])))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gold": np.array([[1, 0, 2]] * 4)}, "only 0/1"),
        ({"gold": np.zeros((4, 2))}, "shape"),
        ({"threshold": np.array([0.5, 0.5])}, "threshold"),
        ({"threshold": np.array([0.5, np.nan, 0.5])}, "threshold"),
        ({"label_names": ["a", "b"]}, "label_names"),
        ({"label_names": ["a", "a", "b"]}, "unique"),
        ({"probs": np.zeros(3)}, "2-D"),
    ],
)
def test_multilabel_validation(kwargs: dict[str, Any], match: str) -> None:
    """Bad gold, thresholds, names or probs raise ValueError."""
    args: dict[str, Any] = {"probs": PROBS, "gold": GOLD, **kwargs}
    probs, gold = args.pop("probs"), args.pop("gold")
    with pytest.raises(ValueError, match=match):
        multilabel_metrics(probs, gold, **args)


# ---------------------------------------------------------------- tune_thresholds


def test_tune_thresholds_hand_worked() -> None:
    """probs [.9,.6,.3,.2], gold [1,0,1,0]."""
    probs = np.array([[0.9], [0.6], [0.3], [0.2]])
    gold = np.array([[1], [0], [1], [0]])
    # t=.25: pred 1110 -> 2tp/(2tp+fp+fn) = 4/5;  t=.5: 1100 -> 2/4;  t=.75: 1000 -> 2/3
    assert tune_thresholds(probs, gold, grid=[0.25, 0.5, 0.75]).tolist() == [0.25]


def test_tune_thresholds_ties() -> None:
    """Ties go to the grid value nearest 0.5, then to the lower one."""
    probs, gold = np.array([[0.95, 0.95, 0.3]]), np.array([[1, 1, 0]])
    # label 0: F1 = 1 at every grid value -> nearest 0.5 is 0.6
    assert tune_thresholds(probs[:, :1], gold[:, :1], grid=[0.2, 0.6, 0.9])[0] == 0.6
    # label 1: 0.3 and 0.7 equally near 0.5 -> lower wins
    assert tune_thresholds(probs[:, 1:2], gold[:, 1:2], grid=[0.7, 0.3])[0] == 0.3
    # label 2: no positives -> F1 0 everywhere -> default grid's 0.5
    assert tune_thresholds(probs, gold)[2] == 0.5


def test_default_grid() -> None:
    """0.05 .. 0.95 in steps of 0.05, containing 0.5 exactly."""
    assert len(DEFAULT_GRID) == 19
    assert 0.5 in DEFAULT_GRID.tolist()
    assert DEFAULT_GRID[0] == 0.05 and DEFAULT_GRID[-1] == 0.95


def test_tune_thresholds_maximise_per_label_f1_random() -> None:
    """Each chosen threshold is a grid point whose F1 equals the brute-force best."""
    probs, gold = _random_multilabel(7)
    tuned = tune_thresholds(probs, gold)
    for j, t in enumerate(tuned):
        best = max(f1_score(gold[:, j], probs[:, j] >= g, zero_division=0) for g in DEFAULT_GRID)
        got = f1_score(gold[:, j], probs[:, j] >= t, zero_division=0)
        assert got == approx(best)
        assert t in DEFAULT_GRID.tolist()


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_tune_thresholds_improve_macro_f1(data: st.DataObject) -> None:
    """Tuned thresholds never lower validation macro F1 versus 0.5."""
    shape = data.draw(st.tuples(st.integers(1, 12), st.integers(1, 4)))
    probs = data.draw(arrays(np.float64, shape, elements=st.floats(0, 1)))
    gold = data.draw(arrays(np.int64, shape, elements=st.integers(0, 1)))
    tuned = tune_thresholds(probs, gold)
    assert tuned.shape == (shape[1],)
    base = multilabel_metrics(probs, gold).f1_macro
    assert multilabel_metrics(probs, gold, threshold=tuned).f1_macro >= base - 1e-12


@pytest.mark.parametrize(("grid", "match"), [([], "non-empty"), ([[0.5]], "1-D"), ([0.5, np.nan], "NaN")])
def test_tune_thresholds_validation(grid: Any, match: str) -> None:
    """Bad grids raise ValueError."""
    with pytest.raises(ValueError, match=match):
        tune_thresholds(PROBS, GOLD, grid=grid)


# ------------------------------------------------------------ single-label metrics


def test_singlelabel_hand_worked() -> None:
    """gold [0,1,2,2], argmax pred [0,2,2,2]."""
    logits = np.array([[3.0, 0.0, 0.0, -1], [0.0, 1.0, 2.0, -1], [0.0, 0.0, 5.0, -1], [0, 0, 1, -1]])
    m = singlelabel_metrics(logits, np.array([0, 1, 2, 2]))
    assert m.accuracy == 0.75
    # F1 per class: c0 1, c1 0 (tp 0), c2 2*2/(2+3) = 0.8; class 3 absent -> not averaged
    assert m.f1_macro == approx(0.6)
    # t=[1,1,2,0], p=[1,0,3,0], n=4, correct=3: cov_tp = 3*4 - 7 = 5,
    # cov_pp = 16 - 10 = 6, cov_tt = 16 - 6 = 10 -> 5 / sqrt(60)
    assert m.mcc == approx(5 / math.sqrt(60))
    assert m.as_dict() == {
        "accuracy": 0.75,
        "f1_macro": approx(0.6),
        "mcc": approx(5 / math.sqrt(60)),
        "n_samples": 4,
    }


def test_singlelabel_constant_prediction_mcc_zero() -> None:
    """MCC is 0 (not NaN) when a covariance vanishes, as in scikit-learn."""
    m = singlelabel_metrics(np.tile([1.0, 0.0], (4, 1)), np.array([0, 1, 0, 1]))
    assert m.mcc == 0.0
    assert m.accuracy == 0.5


@pytest.mark.parametrize("seed", range(6))
def test_singlelabel_matches_sklearn_random(seed: int) -> None:
    """Random logits vs scikit-learn's accuracy, macro F1 and MCC."""
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    gold = rng.integers(0, n_classes, size=40)
    logits = rng.normal(size=(40, n_classes)) + 1.5 * np.eye(n_classes)[gold]
    pred = logits.argmax(axis=1)
    m = singlelabel_metrics(logits, gold)
    assert m.accuracy == approx(accuracy_score(gold, pred))
    assert m.f1_macro == approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert m.mcc == approx(matthews_corrcoef(gold, pred))


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_singlelabel_matches_sklearn_property(data: st.DataObject) -> None:
    """Any small problem matches scikit-learn (incl. absent classes, constants)."""
    n, n_classes = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 4))
    scores = data.draw(arrays(np.float64, (n, n_classes), elements=st.floats(0, 1)))
    gold = np.array(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    pred = scores.argmax(axis=1)
    m = singlelabel_metrics(scores, gold)
    assert m.accuracy == approx(accuracy_score(gold, pred))
    assert m.f1_macro == approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert m.mcc == approx(matthews_corrcoef(gold, pred), abs=1e-12)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@pytest.mark.parametrize(
    ("gold", "pred", "n_classes"),
    [
        ([0, 1, 2, 1], [1, 1, 1, 1], 3),  # constant prediction: 0
        ([2, 2, 2, 2], [0, 1, 2, 2], 3),  # constant gold: 0
        ([1, 1, 1], [1, 1, 1], 2),  # both constant, same class: 0
        ([0, 0], [1, 1], 2),  # both constant, different classes: 0
        ([0], [0], 1),  # one sample of the only class: 0
        ([0], [1], 2),  # one sample, wrong: 0
        ([0, 1, 2, 3], [0, 1, 2, 3], 4),  # perfect: 1
        ([0, 1, 0, 1], [1, 0, 1, 0], 2),  # binary, every class swapped: -1
        ([0, 0, 1, 1], [0, 0, 0, 1], 5),  # classes 2, 3 and 4 in neither gold nor predictions
    ],
)
def test_singlelabel_mcc_degenerate_matches_sklearn(gold: list[int], pred: list[int], n_classes: int) -> None:
    """Constant gold or predictions, one sample, perfect, swapped and absent classes give sklearn's MCC."""
    got = singlelabel_metrics(np.eye(n_classes)[pred], np.array(gold)).mcc
    expected = float(matthews_corrcoef(gold, pred))
    assert math.isfinite(got)
    assert got == approx(expected, abs=1e-15)


def test_singlelabel_mcc_matches_sklearn_on_a_large_many_class_set() -> None:
    """20,000 samples over 12 unbalanced classes: MCC in floats equals sklearn's integer covariances."""
    rng = np.random.default_rng(11)
    gold = rng.choice(12, size=20_000, p=np.linspace(1, 12, 12) / 78)
    logits = rng.normal(size=(20_000, 12)) + 1.2 * np.eye(12)[gold]
    assert singlelabel_metrics(logits, gold).mcc == approx(
        matthews_corrcoef(gold, logits.argmax(axis=1)), abs=1e-12)


@pytest.mark.parametrize(
    ("gold", "match"),
    [
        ([0, 1], "shape"),
        ([0, 1, 3], r"\[0, 3\)"),
        ([0, -1, 2], r"\[0, 3\)"),
        ([0.0, 1.5, 2.0], "integer"),
    ],
)
def test_singlelabel_validation(gold: Any, match: str) -> None:
    """Gold indices must be (n,) integers within range."""
    with pytest.raises(ValueError, match=match):
        singlelabel_metrics(np.eye(3), np.array(gold))


# ---------------------------------------------------------------------- cosine


def test_cosine_hand_worked() -> None:
    """Rows: same, orthogonal, zero/zero, zero/non-zero, opposite, 3-4-5 pair."""
    a = np.array([[1, 0], [1, 0], [0, 0], [0, 0], [1, 1], [3, 4]], dtype=float)
    b = np.array([[1, 0], [0, 1], [0, 0], [3, 4], [-1, -1], [4, 3]], dtype=float)
    c = cosine_similarity(a, b)
    # cos = [1, 0, 1 (both zero), 0 (one zero), -1, 24/25]
    assert c.per_row.tolist() == approx([1, 0, 1, 0, -1, 0.96])
    assert c.min == approx(-1.0)
    assert c.mean == approx(1.96 / 6)
    assert c.worst == (4, 1, 3)  # -1, then the two zeros in index order
    assert c.worst_samples(1) == [4]
    out = c.as_dict()
    assert "per_row" not in out
    assert json.loads(json.dumps(out)) == out


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 4)), elements=st.floats(-1e3, 1e3)))
@example(np.array([[3.05761624e-160]]))  # found by hypothesis: its square is subnormal (0.99998)
@example(np.array([[1e200, -3e199]]))  # its squares overflow to inf (cosine 0)
def test_cosine_self_and_range(x: npt.NDArray[np.float64]) -> None:
    """cos(x, x) is 1 (zero rows included, and rows whose squares leave float64's normal range);
    values lie in [-1, 1]; no NaN."""
    c = cosine_similarity(x, x)
    assert np.allclose(c.per_row, 1.0)
    c2 = cosine_similarity(x, -x[::-1])
    assert np.all(np.isfinite(c2.per_row))
    assert np.all(np.abs(c2.per_row) <= 1.0)


def test_cosine_validation() -> None:
    """Shape mismatch raises ValueError."""
    with pytest.raises(ValueError, match="same shape"):
        cosine_similarity(np.zeros((2, 3)), np.zeros((2, 4)))


# ------------------------------------------------------------------ relative_drop


def test_relative_drop() -> None:
    """(ref - value) / ref; 0 for a zero reference; negative for improvements."""
    assert relative_drop(0.99, 1.0) == approx(0.01)
    assert relative_drop(0.45, 0.5) == approx(0.1)
    assert relative_drop(1.1, 1.0) == approx(-0.1)
    assert relative_drop(0.3, 0.0) == 0.0
    assert relative_drop(0.0, 0.0) == 0.0


# ------------------------------------------------------------ drift properties

_shapes = st.tuples(st.integers(1, 8), st.integers(1, 6))
_unit = st.floats(0, 1)


@given(arrays(np.float64, _shapes, elements=_unit))
def test_drift_of_identical_is_zero(x: npt.NDArray[np.float64]) -> None:
    """drift(x, x) is zero everywhere, with no flips and full top-1 agreement."""
    d = drift(x, x)
    assert d.mean == d.p50 == d.p99 == d.max == d.max_abs_diff == 0.0
    assert d.share_over_atol == 0.0
    assert (d.flips, d.flipped_samples, d.flip_rate) == (0, 0, 0.0)
    assert d.top1_agreement == 1.0


@given(data=st.data())
def test_drift_is_symmetric(data: st.DataObject) -> None:
    """Every statistic except the rtol-relative share is symmetric in its arguments."""
    shape = data.draw(_shapes)
    a = data.draw(arrays(np.float64, shape, elements=_unit))
    b = data.draw(arrays(np.float64, shape, elements=_unit))
    ab, ba = drift(a, b).as_dict(), drift(b, a).as_dict()
    assert ab == ba  # rtol = 0 by default, so share_over_atol is symmetric too


@given(data=st.data())
def test_drift_bounds(data: st.DataObject) -> None:
    """mean <= p99 <= max == max_abs_diff; flip counts are consistent."""
    shape = data.draw(_shapes)
    a = data.draw(arrays(np.float64, shape, elements=_unit))
    b = data.draw(arrays(np.float64, shape, elements=_unit))
    d = drift(a, b)
    assert d.p50 <= d.p99 + 1e-15 and d.mean <= d.max + 1e-15
    assert d.p99 <= d.max + 1e-15
    assert d.max == d.max_abs_diff == max(d.per_label_max)
    assert d.flipped_samples <= d.flips <= shape[0] * shape[1]
    assert d.flip_rate == approx(d.flips / (shape[0] * shape[1]))
    assert len(d.worst) == min(3, shape[0])
