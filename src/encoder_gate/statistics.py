"""The gate's statistics, one of each: the percentile bootstrap and Holm's step-down correction.

- :func:`bootstrap` / :func:`bootstrap_ci`: ``scipy.stats.bootstrap``, vectorised, percentile
  method, seeded (a run gives the same interval for the same data). The accuracy half resamples
  examples (a paired bootstrap over row indices, :mod:`encoder_gate.accuracy.significance`); the
  speed half resamples rounds (:mod:`encoder_gate.speed.stats`, :mod:`encoder_gate.speed.ab`).
- :func:`holm` (adjusted p-values: the per-label McNemar tests) and :func:`holm_levels` (the level
  each p-value is judged at: the A/B's speed cells, which are judged at their looks), one procedure:
  a p-value rejects at its level exactly when its adjusted p-value is below alpha.
  scipy.stats has no Holm (``false_discovery_control`` is Benjamini-Hochberg/Yekutieli).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def bootstrap(samples: Sequence[npt.ArrayLike], statistic: Callable[..., Any], *, confidence: float,
              n_resamples: int, seed: int, batch: int | None = None) -> Any:
    """``scipy.stats.bootstrap`` of `statistic` over `samples` (independent ones: resampled apart),
    percentile method, vectorised, seeded; `batch` resamples at a time bounds the memory."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1; got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    import inspect

    from scipy import stats  # here, not at import: the plugin loads with every pytest run

    # scipy 1.15 renamed random_state to rng (the old name warns from 1.15, and is gone later); the
    # same Generator either way, so the same resamples and the same interval on every supported scipy
    draws = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
    return stats.bootstrap(tuple(np.asarray(x) for x in samples), statistic, n_resamples=n_resamples,
                           batch=batch, vectorized=True, paired=False, confidence_level=confidence,
                           method="percentile", **{draws: np.random.default_rng(seed)})


def bootstrap_ci(samples: Sequence[npt.ArrayLike], statistic: Callable[..., Any], *, confidence: float,
                 n_resamples: int, seed: int, batch: int | None = None) -> tuple[float, float] | None:
    """The percentile bootstrap CI of `statistic` (vectorised: it takes ``axis``) of one sample or
    of two independent ones; None when a sample has fewer than two values; the value itself twice
    when every sample is constant (every resample is the data); `batch` resamples at a time."""
    arrays = tuple(np.asarray(x, dtype=np.float64) for x in samples)
    if any(len(x) < 2 for x in arrays):
        return None
    if all(np.ptp(x) == 0 for x in arrays):
        value = float(statistic(*(x[None, :] for x in arrays), axis=-1)[0])
        return value, value
    res = bootstrap(arrays, statistic, confidence=confidence, n_resamples=n_resamples, seed=seed, batch=batch)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def holm(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm's step-down adjusted p-values (family-wise error control), in input order: sort
    ascending; the i-th smallest (1-based) becomes max_{k<=i} min(1, (m-k+1) p_(k))."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D; got shape {p.shape}")
    if p.size and (np.any(np.isnan(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError("p_values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m, dtype=np.float64)
    out[order] = np.maximum.accumulate(stepped)
    return out


def holm_levels(p_values: Sequence[float], alpha: float) -> list[float]:
    """The level each p-value is judged at under Holm's procedure: the i-th smallest of m at
    alpha / (m - i) until the first that holds; every one after it keeps that level (nothing
    below it rejects). ``p < level`` exactly when ``holm(p) < alpha``."""
    m = len(p_values)
    if m == 0:
        return []
    order = sorted(range(m), key=lambda i: p_values[i])
    levels = [alpha / m] * m
    stopped = False
    for rank, i in enumerate(order):
        level = alpha / (m - rank)
        if stopped:
            level = levels[order[rank - 1]]
        elif p_values[i] >= level:
            stopped = True
        levels[i] = level
    return levels
