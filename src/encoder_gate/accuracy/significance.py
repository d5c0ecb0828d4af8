"""Verdicts with error bars: paired bootstrap deltas, McNemar and power (the F1 rules that decide
on a delta: :mod:`encoder_gate.accuracy.f1_rules`).

Pure numpy plus ``scipy.stats``. Every result is a frozen dataclass whose
``as_dict()`` returns plain Python values, ready for ``json.dumps``. Label-by-label
verdicts (Holm-adjusted McNemar per label) are in :mod:`encoder_gate.accuracy.per_label`.

Conventions
-----------
* Inputs are *decision matrices*: (n, L) booleans (or 0/1), one row per example.
  ``multi_label``: the thresholded decisions. ``single_label``: the one-hot of the
  argmax, so every row of a decision matrix has exactly one True.
* ``task`` is a classifier :class:`~encoder_gate.tasks.Task` or its name.
* ``gold`` may be ``None`` (a parity-only evaluation set). The reference's decisions
  then stand in for gold ("agreement mode"): the reference scores 1.0 (as long as it
  predicts anything), the backend's score measures how well it reproduces the
  reference, and McNemar asks whether the backend changes decisions at all.
* Metric names follow :mod:`encoder_gate.accuracy.metrics` and the gate: ``"f1"`` is micro F1
  (the multi-label headline), ``"f1_macro"`` is macro F1 (the single-label headline;
  single-label: over the classes present in gold or that side's predictions,
  scikit-learn's default; multi-label: over all labels) and ``"accuracy"`` is exact
  match (the whole row right; for single-label that is plain accuracy). Ratios follow
  scikit-learn with ``zero_division=0``.
* A delta is backend minus reference in absolute metric units (0.01 = one F1 point);
  negative means the backend is worse. Margins are absolute in the same units.
* The bootstrap resamples examples (rows): all labels of an example travel together,
  so the correlation between the decisions of one example is kept. Reference and
  backend are scored on the *same* resampled rows (a paired bootstrap).
* ``groups`` (``Dataset.groups``: one id per distinct text) makes the unit a distinct
  text, not a row: an evaluation set that holds one text 50 times holds one text's worth
  of evidence about it, and both sides decide its copies alike. The bootstrap then
  resamples groups with all their rows (a cluster bootstrap), and McNemar counts a group
  once, by the sign of its rows' net change (a sign test over groups). With every text
  distinct each is its own group, and every figure equals the ungrouped one.
* Everything random takes a ``seed`` and is reproducible: the same seed gives the same
  resamples, so two :func:`paired_delta` calls that differ only in ``metric`` share them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from encoder_gate.accuracy.metrics import _dataclass_dict, _safe_div
from encoder_gate.statistics import bootstrap
from encoder_gate.tasks import Task

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The metrics :func:`paired_delta` can compute.
METRICS = ("f1", "f1_macro", "accuracy")
#: Cap on resamples x examples held in memory at once (the bootstrap runs in batches above it).
_BATCH_ELEMENTS = 4_000_000

__all__ = [
    "METRICS",
    "DeltaCI",
    "McNemar",
    "correct",
    "examples_needed",
    "mcnemar",
    "min_detectable_drop",
    "paired_delta",
    "score",
    "underpowered_warning",
]


# ------------------------------------------------------------------------ helpers


def _as_decisions(name: str, x: npt.ArrayLike, shape: tuple[int, ...] | None = None) -> BoolArray:
    """Return a 2-D non-empty 0/1 (or bool) matrix as bool; ValueError otherwise."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (n_examples, n_labels) matrix; got {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    if arr.dtype != np.bool_ and not np.all(np.isin(arr, (0, 1))):
        raise ValueError(f"{name} must contain only 0/1 (or booleans)")
    return arr.astype(bool)


def _classifier(task: str | Task) -> Task:
    """The classifier task named `task`; ValueError for any other name (or an encoder)."""
    kind = next((t for t in Task if t.classifier and t == task), None)
    if kind is None:
        names = " or ".join(repr(t.value) for t in Task if t.classifier)
        raise ValueError(f"task must be {names}; got {task!r}")
    return kind


def _one_per_row(task: Task) -> bool:
    """Whether the task decides one class per example (argmax), not each label on its own."""
    return task.record.decision == "argmax"


def _inputs(
    gold: npt.ArrayLike | None,
    ref_dec: npt.ArrayLike,
    dec: npt.ArrayLike | None,
    task: Task,
    ref_name: str = "ref_dec",
) -> tuple[BoolArray, BoolArray, BoolArray | None]:
    """Validate (gold, ref_dec, dec); gold None becomes the reference (agreement mode)."""
    ref = _as_decisions(ref_name, ref_dec)
    y = ref if gold is None else _as_decisions("gold", gold, ref.shape)
    d = None if dec is None else _as_decisions("dec", dec, ref.shape)
    if _one_per_row(task):
        named = [("gold", y), (ref_name, ref)] + ([] if d is None else [("dec", d)])
        for name, m in named:
            if not np.all(m.sum(axis=1) == 1):
                raise ValueError(f"{name} must be one-hot for a single_label task (one True per row)")
    return y, ref, d


def _metric_name(task: Task, metric: str | None) -> str:
    name = task.headline if metric is None else metric
    if name not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    return name


def _features(gold: BoolArray, dec: BoolArray, metric: str) -> FloatArray:
    """Per-example counts whose (weighted) column sums determine ``metric``.

    ``f1``: [tp, fp, fn] per row; ``f1_macro``: per label tp, then gold positives, then
    predicted positives (3L columns); ``accuracy``: 1 when the whole row is right.
    """
    if metric == "f1":
        cols = [(dec & gold).sum(axis=1), (dec & ~gold).sum(axis=1), (~dec & gold).sum(axis=1)]
        return np.stack(cols, axis=1).astype(np.float64)
    if metric == "f1_macro":
        return np.concatenate([dec & gold, gold, dec], axis=1).astype(np.float64)
    return np.all(dec == gold, axis=1, keepdims=True).astype(np.float64)


def _from_sums(sums: FloatArray, total: FloatArray, metric: str, task: Task) -> FloatArray:
    """The metric from summed features, vectorised over leading axes (one row per resample)."""
    if metric == "f1":
        tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
        return _safe_div(2.0 * tp, 2.0 * tp + fp + fn)
    if metric == "f1_macro":
        n_labels = sums.shape[-1] // 3
        tp, n_true, n_pred = (sums[..., k * n_labels : (k + 1) * n_labels] for k in range(3))
        f1 = _safe_div(2.0 * tp, n_true + n_pred)
        if not _one_per_row(task):
            return np.asarray(f1.mean(axis=-1), dtype=np.float64)
        present = (n_true + n_pred) > 0  # scikit-learn's labels=None for multi-class
        return _safe_div((f1 * present).sum(axis=-1), present.sum(axis=-1))
    return _safe_div(sums[..., 0], total)


def _group_ids(groups: npt.ArrayLike, n: int) -> IntArray:
    """`groups` checked (n non-negative integer ids, each below n: ``Dataset.groups``' form) and made
    dense: an id no row has would be a unit of no rows, drawn by the bootstrap and counted by McNemar."""
    g = np.asarray(groups)
    if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer) or (n and (g.min() < 0 or g.max() >= n)):
        raise ValueError(f"groups must be {n} integer ids in [0, {n}), one per example (Dataset.groups)")
    return np.unique(g, return_inverse=True)[1].astype(np.int64).reshape(n)


def _grouped(feats: FloatArray, groups: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    """The bootstrap's units: per group, its rows' summed features and its row count (without
    `groups`, each row its own unit)."""
    if groups is None:
        return feats, np.ones(feats.shape[0])
    g = _group_ids(groups, feats.shape[0])
    size = np.bincount(g).astype(np.float64)
    summed = np.zeros((size.size, feats.shape[1]))
    np.add.at(summed, g, feats)
    return summed, size


def _weights(idx: IntArray, n: int) -> FloatArray:
    """(m, n) how often each example occurs in each of the m index rows (bincount, no loop)."""
    m = idx.shape[0]
    offsets = (np.arange(m, dtype=np.int64) * n)[:, None]
    counts = np.bincount((idx + offsets).ravel(), minlength=m * n)
    return counts.reshape(m, n).astype(np.float64)


def _delta_statistic(
    gold: BoolArray, ref: BoolArray, dec: BoolArray, metric: str, task: Task,
    groups: npt.ArrayLike | None = None,
) -> tuple[Callable[..., FloatArray], int]:
    """A vectorised statistic of resampled unit indices: metric(dec) - metric(ref), and how
    many units there are (examples, or groups of them: :func:`_grouped`).

    It accepts an index array of shape (..., m) (``scipy.stats.bootstrap`` passes
    (batch, units)) and scores both sides on the same rows from bincount weights times a
    per-unit count matrix: one (batch, units) @ (units, 2k) product per batch.
    """
    f_ref, f_dec = _features(gold, ref, metric), _features(gold, dec, metric)
    k = f_ref.shape[1]
    both, size = _grouped(np.concatenate([f_ref, f_dec], axis=1), groups)

    def statistic(idx: npt.ArrayLike, axis: int = -1) -> FloatArray:
        sums, total, lead = _resampled_sums(idx, axis, both, size)
        out = _from_sums(sums[:, k:], total, metric, task) - _from_sums(sums[:, :k], total, metric, task)
        return out.reshape(lead)

    return statistic, size.size


def _resampled_sums(idx: npt.ArrayLike, axis: int, feats: FloatArray,
                    size: FloatArray) -> tuple[FloatArray, FloatArray, tuple[int, ...]]:
    """Per resample (a row of unit indices, as ``scipy.stats.bootstrap`` passes them), the
    summed per-unit features (bincount weights times the feature matrix: one product for all
    rows), the examples drawn (the units' sizes summed), and the leading shape to give the
    statistic back."""
    i = np.moveaxis(np.asarray(idx, dtype=np.int64), axis, -1)
    flat = i.reshape(-1, i.shape[-1])
    weights = _weights(flat, feats.shape[0])
    return weights @ feats, weights @ size, i.shape[:-1]


def _z(alpha: float, power: float) -> float:
    """z_{1-alpha/2} + z_{power}: two-sided test at ``alpha`` with the given power."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1); got alpha={alpha}, power={power}")
    from scipy import stats  # here, not at import: the plugin loads with every pytest run

    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


# ------------------------------------------------------------------------ scoring


def score(
    gold: npt.ArrayLike | None, dec: npt.ArrayLike, task: str | Task, metric: str | None = None
) -> float:
    """One side's ``metric`` (default: the task's headline) from decisions vs gold.

    Equals scikit-learn's ``f1_score(average="micro"|"macro", zero_division=0)`` and
    ``accuracy_score`` (for single-label with the argmax class indices).
    """
    kind = _classifier(task)
    y, d, _ = _inputs(gold, dec, None, kind, ref_name="dec")
    name = _metric_name(kind, metric)
    sums = _features(y, d, name).sum(axis=0)
    return float(_from_sums(sums, np.asarray(float(d.shape[0])), name, kind))


# ---------------------------------------------------------------- paired bootstrap


@dataclass(frozen=True)
class DeltaCI:
    """Backend minus reference on one metric, with a paired-bootstrap confidence interval.

    ``se`` is the standard deviation of the bootstrap deltas (ddof=1); ``ci_low`` and
    ``ci_high`` are its percentile interval at ``confidence``.
    """

    metric: str
    delta: float
    ci_low: float
    ci_high: float
    n: int
    ref_value: float
    value: float
    se: float
    confidence: float
    n_resamples: int
    method: str = "percentile"

    @property
    def ci(self) -> tuple[float, float]:
        """(ci_low, ci_high), e.g. for accuracy.json's ``f1_delta_ci``."""
        return (self.ci_low, self.ci_high)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return _dataclass_dict(self)


def _bootstrap(
    statistic: Callable[..., FloatArray], n: int, n_resamples: int, confidence: float, seed: int
) -> Any:
    """``scipy.stats.bootstrap`` over unit indices (examples, or groups), vectorised, percentile
    method."""
    if n < 2:
        raise ValueError(f"the bootstrap needs at least 2 examples (distinct texts); got {n}")
    return bootstrap((np.arange(n),), statistic, confidence=confidence, n_resamples=n_resamples, seed=seed,
                     batch=max(1, _BATCH_ELEMENTS // n))


def paired_delta(
    gold: npt.ArrayLike | None,
    ref_dec: npt.ArrayLike,
    dec: npt.ArrayLike,
    task: str | Task,
    *,
    metric: str | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: npt.ArrayLike | None = None,
) -> DeltaCI:
    """The change of ``metric`` (default: the headline), backend minus reference, with a CI.

    The interval comes from a paired bootstrap over examples: each resample draws n
    example indices with replacement, and reference and backend are both re-scored on
    exactly those rows. Micro and macro F1 are not means of per-example values, so
    every resample recomputes F1 from its own TP/FP/FN counts. That is done for all
    resamples at once: a resample is a row of bincount weights over the examples, and
    one matrix product with the per-example count matrix gives every resample's
    counts. The resampling, batching and interval are ``scipy.stats.bootstrap``'s (with
    ``vectorized=True`` and the index array as the data), seeded with
    ``np.random.default_rng(seed)``.

    Method "percentile", not "BCa": the percentile interval stays defined when the
    bootstrap distribution is degenerate (a backend that agrees with the reference on
    every example gives delta 0 on every resample and the CI [0, 0], where BCa returns
    NaN with a warning), and it is stable when only a handful of examples are
    discordant, where the distribution is lumpy and BCa's jackknife acceleration is
    poorly determined. BCa would also cost n extra statistic evaluations. For a
    difference of two ratio estimators on hundreds of examples the percentile interval
    is adequate for the coarse margin comparisons of :func:`~encoder_gate.accuracy.f1_rules.decide_f1`.

    With ``groups`` the draws are of groups (distinct texts), each with all its rows.
    """
    kind = _classifier(task)
    y, ref, d = _inputs(gold, ref_dec, dec, kind)
    assert d is not None
    name = _metric_name(kind, metric)
    n = ref.shape[0]
    statistic, units = _delta_statistic(y, ref, d, name, kind, groups)
    res = _bootstrap(statistic, units, n_resamples, confidence, seed)
    ref_value, value = score(y, ref, kind, name), score(y, d, kind, name)
    return DeltaCI(
        metric=name,
        delta=float(statistic(np.arange(units))),
        ci_low=float(res.confidence_interval.low),
        ci_high=float(res.confidence_interval.high),
        n=int(n),
        ref_value=ref_value,
        value=value,
        se=float(res.standard_error),
        confidence=float(confidence),
        n_resamples=int(n_resamples),
    )


def metric_ci(
    gold: npt.ArrayLike | None,
    dec: npt.ArrayLike,
    task: str | Task,
    *,
    metric: str | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: npt.ArrayLike | None = None,
) -> tuple[float, float]:
    """One side's ``metric`` (default: the headline) with its bootstrap CI over examples: the
    same resampling as :func:`paired_delta` (percentile, seeded), of the metric itself, for a
    history of the metric across commits (the change against the reference has its own CI)."""
    kind = _classifier(task)
    y, d, _ = _inputs(gold, dec, None, kind, ref_name="dec")
    name = _metric_name(kind, metric)
    feats, size = _grouped(_features(y, d, name), groups)

    def statistic(idx: npt.ArrayLike, axis: int = -1) -> FloatArray:
        sums, total, lead = _resampled_sums(idx, axis, feats, size)
        return _from_sums(sums, total, name, kind).reshape(lead)

    res = _bootstrap(statistic, size.size, n_resamples, confidence, seed)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


# ------------------------------------------------------------------------ McNemar


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on paired right/wrong outcomes.

    ``b``: reference right and backend wrong; ``c``: the reverse; ``n``: paired units (with
    groups: a group's rows net, so each distinct text counts once).
    """

    b: int
    c: int
    p_value: float
    n: int

    @property
    def backend_worse(self) -> bool:
        """True when the backend loses more units than it gains (b > c)."""
        return self.b > self.c

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return _dataclass_dict(self)


def correct(
    gold: npt.ArrayLike | None,
    dec: npt.ArrayLike,
    task: str | Task,
    *,
    unit: Literal["decision", "example"] = "decision",
    ref_dec: npt.ArrayLike | None = None,
) -> BoolArray:
    """Which units ``dec`` gets right: the input to :func:`mcnemar`.

    ``multi_label`` with ``unit="decision"`` (the default): one unit per (example,
    label) decision, shape (n, L). The caveat: the decisions of one example are
    correlated (one perturbed embedding moves all its labels), so McNemar's
    independence assumption is optimistic and its p-value somewhat too small when a
    backend's changes cluster in few examples. ``unit="example"`` is the conservative
    alternative: an example is right only if all its labels are, shape (n,).
    ``single_label``: one unit per example (its argmax class), shape (n,), whatever
    ``unit`` says. With ``gold=None`` pass ``ref_dec``: agreement with it is "right".
    """
    if unit not in ("decision", "example"):
        raise ValueError(f"unit must be 'decision' or 'example'; got {unit!r}")
    if gold is None:
        if ref_dec is None:
            raise ValueError("without gold, pass ref_dec: correctness is agreement with the reference")
        gold = ref_dec
    kind = _classifier(task)
    y, d, _ = _inputs(gold, dec, None, kind, ref_name="dec")
    right = d == y
    if _one_per_row(kind) or unit == "example":
        return np.asarray(right.all(axis=1), dtype=np.bool_)
    return np.asarray(right, dtype=np.bool_)


def mcnemar(ref_correct: npt.ArrayLike, correct: npt.ArrayLike,
            groups: npt.ArrayLike | None = None) -> McNemar:
    """Exact (binomial) McNemar test of paired right/wrong outcomes, any matching shape.

    b = reference right & backend wrong, c = the reverse; two-sided
    ``p = scipy.stats.binomtest(b, b + c, 0.5).pvalue``, and p = 1.0 when b + c == 0.
    With ``groups`` (one id per row of the first axis), a group's rows are netted (each
    row +1 when only the reference is right, -1 when only the backend is) and the group
    counts once, in b when its net is positive and in c when negative: the exact sign test
    over groups, which is McNemar's when every group is one row.
    """
    r, k = np.asarray(ref_correct), np.asarray(correct)
    if r.shape != k.shape:
        raise ValueError(f"ref_correct and correct must have the same shape; got {r.shape} and {k.shape}")
    for name, a in (("ref_correct", r), ("correct", k)):
        if a.dtype != np.bool_ and not np.all(np.isin(a, (0, 1))):
            raise ValueError(f"{name} must contain only 0/1 (or booleans)")
    r, k = r.astype(bool), k.astype(bool)
    net = (r & ~k).astype(np.int64) - (~r & k).astype(np.int64)
    if groups is not None and net.ndim:  # each group's rows summed, as the bootstrap's units are
        summed, _ = _grouped(net.reshape(len(net), -1).astype(np.float64), groups)
        net = summed.reshape(-1, *net.shape[1:])
    b, c = int(np.sum(net > 0)), int(np.sum(net < 0))
    from scipy import stats

    p = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return McNemar(b=b, c=c, p_value=p, n=int(net.size))


# -------------------------------------------------------------------------- power


def min_detectable_drop(
    gold: npt.ArrayLike | None,
    ref_dec: npt.ArrayLike,
    *,
    task: str | Task,
    dec: npt.ArrayLike | None = None,
    discordance: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.80,
    metric: str | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    groups: npt.ArrayLike | None = None,
) -> float:
    """The smallest drop of ``metric`` (default: the headline) this set detects at ``power``.

    ``MDE = (z_{1-alpha/2} + z_{power}) * SE``, the normal-approximation power formula
    for a two-sided test at ``alpha``, where SE is the standard error of the *paired*
    delta, taken as the standard deviation of its paired-bootstrap distribution (the
    ``se`` of :func:`paired_delta` with the same seed).

    A paired SE depends on how often the backend disagrees with the reference (with no
    disagreement every resample gives delta 0). So:

    * with ``dec`` (preferred): SE of this backend's own paired delta. The MDE is then
      the drop that would be detected if it came with this backend's amount of
      disagreement. It is 0.0 for a backend that agrees with the reference on every
      example: its delta is exactly 0 with no sampling uncertainty, so no drop hides.
      Caveat: a larger drop of the same kind would come with more disagreement and a
      larger SE, so for drops well beyond the observed one the MDE is optimistic.
    * without ``dec``: SE for a stated discordance assumption, a synthetic backend equal
      to the reference except on ``round(discordance * n)`` random examples (at least
      one), where one decision changes: multi-label, one random label flips;
      single-label, the class moves to a random other class.

    SE, and so the MDE, shrinks as 1/sqrt(n) (see :func:`examples_needed`). The result
    is in absolute metric units, like :attr:`DeltaCI.delta`.
    """
    z = _z(alpha, power)
    kind = _classifier(task)
    y, ref, d = _inputs(gold, ref_dec, dec, kind)
    name = _metric_name(kind, metric)
    if d is None:
        if not 0 < discordance <= 1:
            raise ValueError(f"discordance must be in (0, 1]; got {discordance}")
        d = _synthetic_backend(ref, kind, discordance, seed)
    statistic, units = _delta_statistic(y, ref, d, name, kind, groups)
    res = _bootstrap(statistic, units, n_resamples, 0.95, seed)
    return float(z * res.standard_error)


def _synthetic_backend(ref: BoolArray, task: Task, discordance: float, seed: int) -> BoolArray:
    """The reference with one decision changed on ``round(discordance * n)`` random examples."""
    rng = np.random.default_rng([seed, 1])
    n, n_labels = ref.shape
    rows = rng.choice(n, size=max(1, round(discordance * n)), replace=False)
    out = ref.copy()
    if not _one_per_row(task):
        cols = rng.integers(0, n_labels, size=rows.size)
        out[rows, cols] = ~out[rows, cols]
        return out
    if n_labels < 2:
        raise ValueError("a single_label task needs at least 2 classes")
    old = out[rows].argmax(axis=1)
    new = (old + rng.integers(1, n_labels, size=rows.size)) % n_labels
    out[rows] = False
    out[rows, new] = True
    return out


def examples_needed(mde: float, target_margin: float, n: int) -> int:
    """Examples needed to bring the MDE down to ``target_margin``: ceil(n * (mde / margin)^2).

    The standard error scales as 1/sqrt(n), so a set k times larger has an MDE
    sqrt(k) times smaller. A result <= n means the set is already large enough.
    """
    if target_margin <= 0:
        raise ValueError(f"target_margin must be > 0; got {target_margin}")
    if mde < 0 or n < 1:
        raise ValueError(f"mde must be >= 0 and n >= 1; got mde={mde}, n={n}")
    return math.ceil(round(n * (mde / target_margin) ** 2, 9))


def underpowered_warning(
    mde: float, margin: float, n: int, *, metric: str = "F1", power: float = 0.80, distinct: int | None = None
) -> str | None:
    """Plain words when the set is too small to see a drop of ``margin`` (mde > margin), else None.
    ``distinct``: how many distinct texts, where some of the ``n`` repeat (the error bars' units):
    what more of is needed are distinct texts, not copies."""
    if not mde > margin:
        return None
    units = n if distinct is None else distinct
    need = examples_needed(mde, margin, units)
    what = "examples" if distinct is None else "distinct texts"
    return (
        f"The evaluation set ({n} examples{'' if distinct is None else f', {distinct} distinct'}) is too "
        f"small to see a drop of {margin:.4f} in {metric}: the smallest drop it detects with {power:.0%} "
        f"power is {mde:.4f}. About {need} {what} ({need / units:.1f}x as many) would be needed to see a "
        f"drop of {margin:.4f}; a pass here does not rule out a drop of that size."
    )
