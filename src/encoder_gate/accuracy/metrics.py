"""Accuracy-regression metrics: backend-vs-reference drift and task quality.

Pure numpy. Every result is a frozen dataclass whose ``as_dict()`` returns plain
Python floats, ints, lists and dicts, ready for ``json.dumps``.

Conventions
-----------
* A label is predicted positive when ``p >= threshold`` (everywhere in this module).
* Quality metrics follow scikit-learn with ``zero_division=0`` exactly: a ratio
  whose denominator is zero counts as 0 (so a label with neither gold nor
  predicted positives has precision, recall and F1 of 0 and still counts in the
  macro mean).
* Ties in "worst" rankings go to the lower sample index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Default grid for :func:`tune_thresholds`: 0.05, 0.10, ..., 0.95 (0.5 exact).
DEFAULT_GRID: FloatArray = np.round(np.linspace(0.05, 0.95, 19), 2)
DEFAULT_GRID.setflags(write=False)

#: How many worst samples the result objects list by default.
N_WORST = 3

__all__ = [
    "DEFAULT_GRID",
    "CosineStats",
    "Drift",
    "SingleLabelMetrics",
    "TaskMetrics",
    "cosine_similarity",
    "drift",
    "multilabel_metrics",
    "relative_drop",
    "relative_l2",
    "singlelabel_metrics",
    "tune_thresholds",
]


# ------------------------------------------------------------------------ helpers


def _plain(value: Any) -> Any:
    """Convert numpy scalars, arrays, tuples and dicts to plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def _dataclass_dict(obj: Any) -> dict[str, Any]:
    """Return the compared fields of a result dataclass as plain values."""
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj) if f.compare}


def _as_matrix(name: str, x: npt.ArrayLike) -> FloatArray:
    """Return ``x`` as float64 (n, L); ValueError unless 2-D, non-empty, finite."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_labels); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_pair(name_a: str, a: npt.ArrayLike, name_b: str, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate two matrices with :func:`_as_matrix` and require identical shapes."""
    x, y = _as_matrix(name_a, a), _as_matrix(name_b, b)
    if x.shape != y.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape; got {x.shape} and {y.shape}")
    return x, y


def _as_binary(name: str, x: npt.ArrayLike, shape: tuple[int, ...]) -> BoolArray:
    """Return a 0/1 array as bool; raise ValueError on wrong shape or values."""
    arr = np.asarray(x)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    if not np.all(np.isin(arr, (0, 1))):
        raise ValueError(f"{name} must contain only 0/1 (or booleans)")
    return arr.astype(bool)


def _safe_div(num: npt.ArrayLike, den: npt.ArrayLike) -> FloatArray:
    """Divide elementwise, giving 0 where ``den == 0`` (sklearn zero_division=0)."""
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(n, d).shape, dtype=np.float64)
    np.divide(n, d, out=out, where=d != 0)
    return out


def _rank(values: FloatArray, k: int, *, largest: bool) -> list[int]:
    """Return indices of the ``k`` largest (or smallest) values; ties to lower index."""
    if k < 0:
        raise ValueError(f"k must be >= 0; got {k}")
    keys = -values if largest else values
    return [int(i) for i in np.argsort(keys, kind="stable")[:k]]


def _frozen(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Return a read-only copy of ``arr`` so a frozen result stays immutable."""
    out = np.array(arr, copy=True)
    out.setflags(write=False)
    return out


def _thresholds(threshold: float | npt.ArrayLike, n_labels: int) -> FloatArray:
    """Broadcast a scalar or per-label threshold to shape (n_labels,); validate it."""
    t = np.asarray(threshold, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n_labels, float(t))
    if t.shape != (n_labels,):
        raise ValueError(f"threshold must be a scalar or have shape ({n_labels},); got {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("threshold contains NaN or infinite values")
    return t


def _label_names(label_names: Sequence[str] | None, n_labels: int) -> list[str]:
    """Return L unique label names (default ``label_0``, ``label_1``, ...)."""
    if label_names is None:
        return [f"label_{j}" for j in range(n_labels)]
    names = [str(n) for n in label_names]
    if len(names) != n_labels:
        raise ValueError(f"label_names has {len(names)} names but there are {n_labels} labels")
    if len(set(names)) != n_labels:
        raise ValueError("label_names must be unique")
    return names


# -------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class Drift:
    """How far a backend's probabilities are from the reference's, on the same inputs.

    ``mean``/``p50``/``p99``/``max`` summarise the per-sample drift
    d_i = max_j |p_backend[i, j] - p_ref[i, j]|.
    """

    mean: float
    p50: float
    p99: float
    max: float
    per_label_max: tuple[float, ...]
    max_abs_diff: float
    share_over_atol: float
    flips: int
    flip_rate: float
    flipped_samples: int
    top1_agreement: float
    worst: tuple[int, ...]
    n_samples: int
    n_labels: int
    atol: float
    rtol: float
    threshold: float | tuple[float, ...]  # where decisions flip: one, or one per label
    per_sample: FloatArray = field(repr=False, compare=False)

    def worst_samples(self, k: int = N_WORST) -> list[int]:
        """Return indices of the ``k`` samples with the largest drift, largest first."""
        return _rank(self.per_sample, k, largest=True)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field except the per-sample array."""
        return _dataclass_dict(self)


def _decision_stats(pb: FloatArray, pr: FloatArray, threshold: float | npt.ArrayLike,
                    reference_threshold: float | npt.ArrayLike | None = None) -> tuple[int, int]:
    """Count flipped (sample, label) decisions and samples with at least one flip (`threshold`: one,
    or one per label; `reference_threshold`: the reference's own, where it decides elsewhere)."""
    cut = _thresholds(threshold, pb.shape[1])
    ref_cut = cut if reference_threshold is None else _thresholds(reference_threshold, pb.shape[1])
    flipped = (pb >= cut) != (pr >= ref_cut)
    return int(flipped.sum()), int(flipped.any(axis=1).sum())


def _argmax_flips(pb: FloatArray, pr: FloatArray) -> tuple[int, int]:
    """Samples whose argmax class differs (one decision per sample): (flips, flipped samples)."""
    flipped = int(np.sum(pb.argmax(axis=1) != pr.argmax(axis=1)))
    return flipped, flipped


def drift(
    p_backend: npt.ArrayLike,
    p_ref: npt.ArrayLike,
    *,
    atol: float = 1e-4,
    rtol: float = 0.0,
    threshold: float | npt.ArrayLike = 0.5,
    decision: str = "threshold",
    reference_threshold: float | npt.ArrayLike | None = None,
) -> Drift:
    """Compare (n, L) backend probabilities against the reference probabilities.

    ``share_over_atol`` is the fraction of elements with
    ``|p_backend - p_ref| > atol + rtol * |p_ref|`` (as ONNX Runtime's
    ``compare_bert_results`` reports). ``decision`` says what a decision is:
    ``"threshold"`` (multi-label): each element's ``p >= threshold``, so ``flips``
    counts (sample, label) pairs and ``flip_rate`` divides by n * L; ``"argmax"``
    (single-label): each sample's predicted class, so ``flips`` counts samples and
    ``flip_rate`` divides by n. ``reference_threshold``: where the reference decides, if not at
    ``threshold`` (a base that serves other thresholds than the PR: a flip is a changed answer).
    Raises ValueError on bad shapes or non-finite values.
    """
    if decision not in ("threshold", "argmax"):
        raise ValueError(f"decision must be 'threshold' or 'argmax'; got {decision!r}")
    pb, pr = _as_pair("p_backend", p_backend, "p_ref", p_ref)
    diff = np.abs(pb - pr)
    d = diff.max(axis=1)
    if decision == "argmax":
        flips, flipped_samples = _argmax_flips(pb, pr)
        decisions = pb.shape[0]
    else:
        flips, flipped_samples = _decision_stats(pb, pr, threshold, reference_threshold)
        decisions = diff.size
    return Drift(
        mean=float(d.mean()),
        p50=float(np.percentile(d, 50)),
        p99=float(np.percentile(d, 99)),
        max=float(d.max()),
        per_label_max=tuple(float(v) for v in diff.max(axis=0)),
        max_abs_diff=float(diff.max()),
        share_over_atol=float(np.mean(diff > atol + rtol * np.abs(pr))),
        flips=flips,
        flip_rate=flips / decisions,
        flipped_samples=flipped_samples,
        top1_agreement=float(np.mean(pb.argmax(axis=1) == pr.argmax(axis=1))),
        worst=tuple(_rank(d, N_WORST, largest=True)),
        n_samples=int(pb.shape[0]),
        n_labels=int(pb.shape[1]),
        atol=float(atol),
        rtol=float(rtol),
        threshold=float(cut) if (cut := np.asarray(threshold, np.float64)).ndim == 0 else tuple(cut.tolist()),
        per_sample=_frozen(d),
    )


# ------------------------------------------------------------ multi-label quality


@dataclass(frozen=True)
class TaskMetrics:
    """Multi-label quality at fixed thresholds; unsuffixed P/R/F1 are micro-averaged."""

    accuracy: float
    precision: float
    recall: float
    f1: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    f1_weighted: float
    f1_samples: float
    per_label_f1: dict[str, float]
    support: dict[str, int]
    n_samples: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return _dataclass_dict(self)


def _f1(tp: npt.ArrayLike, n_true: npt.ArrayLike, n_pred: npt.ArrayLike) -> FloatArray:
    """F1 = 2tp / (n_true + n_pred), 0 when both are 0 (scikit-learn's formula)."""
    return _safe_div(2.0 * np.asarray(tp, dtype=np.float64), np.add(n_true, n_pred))


def _weighted_mean(values: FloatArray, weights: IntArray) -> float:
    """Support-weighted mean; plain mean when all weights are 0 (as sklearn does)."""
    if weights.sum() == 0:
        return float(values.mean())
    return float(np.average(values, weights=weights))


def _prf_from_counts(
    tp: IntArray, n_true: IntArray, n_pred: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Precision, recall and F1 arrays from true-positive, gold and predicted counts."""
    return _safe_div(tp, n_pred), _safe_div(tp, n_true), _f1(tp, n_true, n_pred)


def multilabel_metrics(
    probs: npt.ArrayLike,
    gold: npt.ArrayLike,
    *,
    threshold: float | npt.ArrayLike = 0.5,
    label_names: Sequence[str] | None = None,
) -> TaskMetrics:
    """Multi-label quality of (n, L) probabilities against (n, L) 0/1 gold labels.

    ``threshold`` is a scalar or a per-label (L,) array; a label is predicted when
    ``p >= threshold``. Every number equals scikit-learn's with ``zero_division=0``.
    """
    p = _as_matrix("probs", probs)
    y = _as_binary("gold", gold, p.shape)
    names = _label_names(label_names, p.shape[1])
    pred = p >= _thresholds(threshold, p.shape[1])
    tp_lab = (pred & y).sum(axis=0)
    true_lab, pred_lab = y.sum(axis=0), pred.sum(axis=0)
    prec, rec, f1 = _prf_from_counts(tp_lab, true_lab, pred_lab)
    micro_p, micro_r, micro_f1 = _prf_from_counts(tp_lab.sum(), true_lab.sum(), pred_lab.sum())
    f1_rows = _f1((pred & y).sum(axis=1), y.sum(axis=1), pred.sum(axis=1))
    return TaskMetrics(
        accuracy=float(np.mean(np.all(pred == y, axis=1))),
        precision=float(micro_p),
        recall=float(micro_r),
        f1=float(micro_f1),
        precision_macro=float(prec.mean()),
        recall_macro=float(rec.mean()),
        f1_macro=float(f1.mean()),
        f1_weighted=_weighted_mean(f1, true_lab),
        f1_samples=float(f1_rows.mean()),
        per_label_f1={n: float(v) for n, v in zip(names, f1, strict=True)},
        support={n: int(v) for n, v in zip(names, true_lab, strict=True)},
        n_samples=int(p.shape[0]),
    )


def _as_grid(grid: npt.ArrayLike) -> FloatArray:
    """Validate a threshold grid: 1-D, non-empty, finite."""
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D sequence; got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("grid contains NaN or infinite values")
    return g


def _grid_f1(p: FloatArray, y: BoolArray, grid: FloatArray) -> FloatArray:
    """Per-label F1 at each grid threshold, shape (len(grid), L)."""
    pred = p[None, :, :] >= grid[:, None, None]
    tp = (pred & y[None, :, :]).sum(axis=1)
    return _f1(tp, y.sum(axis=0)[None, :], pred.sum(axis=1))


def tune_thresholds(
    probs_val: npt.ArrayLike,
    gold_val: npt.ArrayLike,
    *,
    grid: npt.ArrayLike = DEFAULT_GRID,
) -> FloatArray:
    """Per-label threshold from ``grid`` maximising that label's validation F1.

    Ties go to the threshold closest to 0.5, then to the lower one; a label with
    no validation positives therefore gets the grid value nearest 0.5.
    Returns a float64 array of shape (L,).
    """
    p = _as_matrix("probs_val", probs_val)
    y = _as_binary("gold_val", gold_val, p.shape)
    g = _as_grid(grid)
    f1 = _grid_f1(p, y, g)
    # Preference for ties: nearest 0.5 (rounded, so 0.3 and 0.7 tie), then lower.
    order = np.lexsort((g, np.round(np.abs(g - 0.5), 12)))
    is_best = (f1 == f1.max(axis=0))[order]
    return np.asarray(g[order[is_best.argmax(axis=0)]], dtype=np.float64)


# ----------------------------------------------------------- single-label quality


@dataclass(frozen=True)
class SingleLabelMetrics:
    """Single-label (multi-class) quality computed from the argmax prediction."""

    accuracy: float
    f1_macro: float
    mcc: float
    n_samples: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return _dataclass_dict(self)


def _as_indices(name: str, x: npt.ArrayLike, n: int, n_classes: int) -> IntArray:
    """Validate (n,) integer class indices in [0, n_classes)."""
    arr = np.asarray(x)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},); got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.all(np.mod(arr, 1) == 0)):
        raise ValueError(f"{name} must contain integer class indices")
    idx = arr.astype(np.int64)
    if idx.min() < 0 or idx.max() >= n_classes:
        raise ValueError(f"{name} must be in [0, {n_classes}); got range [{idx.min()}, {idx.max()}]")
    return idx


def _confusion(gold: IntArray, pred: IntArray, n_classes: int) -> IntArray:
    """Confusion matrix C[true, pred] of shape (n_classes, n_classes)."""
    c = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(c, (gold, pred), 1)
    return c


def _mcc(c: IntArray) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K) from a confusion matrix, as sklearn's
    ``matthews_corrcoef``: 0.0 when a covariance vanishes (constant predictions or gold)."""
    t_sum, p_sum = c.sum(axis=1).astype(np.float64), c.sum(axis=0).astype(np.float64)
    n_correct, n = float(np.trace(c)), float(c.sum())
    cov_tp = n_correct * n - float(t_sum @ p_sum)
    cov_pp = n * n - float(p_sum @ p_sum)
    cov_tt = n * n - float(t_sum @ t_sum)
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_tt * cov_pp))


def _macro_f1_present(c: IntArray) -> float:
    """Macro F1 over classes present in gold or predictions (sklearn default)."""
    t_sum, p_sum = c.sum(axis=1), c.sum(axis=0)
    present = (t_sum + p_sum) > 0
    return float(_f1(np.diag(c), t_sum, p_sum)[present].mean())


def singlelabel_metrics(probs_or_logits: npt.ArrayLike, gold_indices: npt.ArrayLike) -> SingleLabelMetrics:
    """Accuracy, macro F1 and MCC of argmax predictions from (n, C) scores vs (n,) gold.

    Matches ``accuracy_score``, ``f1_score(average="macro", zero_division=0)`` (over
    the classes present in gold or predictions, scikit-learn's default) and
    ``matthews_corrcoef``.
    """
    s = _as_matrix("probs_or_logits", probs_or_logits)
    gold = _as_indices("gold_indices", gold_indices, s.shape[0], s.shape[1])
    pred = s.argmax(axis=1).astype(np.int64)
    c = _confusion(gold, pred, s.shape[1])
    return SingleLabelMetrics(
        accuracy=float(np.mean(pred == gold)),
        f1_macro=_macro_f1_present(c),
        mcc=_mcc(c),
        n_samples=int(s.shape[0]),
    )


# --------------------------------------------------------------------- embeddings


@dataclass(frozen=True)
class CosineStats:
    """Row-wise cosine similarity between backend and reference embeddings."""

    min: float
    mean: float
    worst: tuple[int, ...]
    n_samples: int
    per_row: FloatArray = field(repr=False, compare=False)

    def worst_samples(self, k: int = N_WORST) -> list[int]:
        """Return indices of the ``k`` rows with the lowest cosine, lowest first."""
        return _rank(self.per_row, k, largest=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field except the per-row array."""
        return _dataclass_dict(self)


def _unit_rows(x: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Each row scaled to length 1 (zero rows stay zero), and which rows are zero. Each row is
    divided by its largest |value| first: the squares of a row of values near 1e-160 fall below
    float64's normal range, and its cosine with itself came out 0.99998."""
    x = np.asarray(x, dtype=np.float64)
    scaled = _safe_div(x, np.abs(x).max(axis=1, keepdims=True)) if x.shape[1] else x
    norm = np.linalg.norm(scaled, axis=1)
    return _safe_div(scaled, norm[:, None]), norm == 0


def _row_cosine(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise cosine; 1.0 for two zero rows, 0.0 for a zero vs a non-zero row."""
    (ua, za), (ub, zb) = _unit_rows(a), _unit_rows(b)
    cos = np.clip(np.einsum("ij,ij->i", ua, ub), -1.0, 1.0)
    return np.where(za & zb, 1.0, cos)


def cosine_similarity(emb_backend: npt.ArrayLike, emb_ref: npt.ArrayLike) -> CosineStats:
    """Row-wise cosine similarity of (n, d) embeddings: min, mean, worst rows."""
    a, b = _as_pair("emb_backend", emb_backend, "emb_ref", emb_ref)
    cos = _row_cosine(a, b)
    return CosineStats(
        min=float(cos.min()),
        mean=float(cos.mean()),
        worst=tuple(_rank(cos, N_WORST, largest=False)),
        n_samples=int(a.shape[0]),
        per_row=_frozen(cos),
    )


def relative_l2(emb_backend: npt.ArrayLike, emb_ref: npt.ArrayLike) -> FloatArray:
    """Per row, ``||e_backend - e_ref|| / ||e_ref||`` (0 where both rows are zero).

    Unlike cosine it sees a change of scale (a pooling that divides by the wrong count).
    A non-zero backend row against a zero reference row counts as ``inf``.
    """
    a, b = _as_pair("emb_backend", emb_backend, "emb_ref", emb_ref)
    num, den = np.linalg.norm(a - b, axis=1), np.linalg.norm(b, axis=1)
    out = np.full(num.shape, np.inf)
    np.divide(num, den, out=out, where=den != 0)
    return np.where(num == 0, 0.0, out)


# ------------------------------------------------------------------------- bounds


def relative_drop(value: float, reference: float) -> float:
    """Relative drop ``(reference - value) / reference``; 0.0 when ``reference == 0``.

    "Keeps >= 99% of the reference F1" (the MLPerf rule for quantized BERT) is
    ``relative_drop(f1, f1_ref) <= 0.01``. Negative means the value improved.
    """
    if reference == 0:
        return 0.0
    return float((reference - value) / reference)
