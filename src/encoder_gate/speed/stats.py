"""Paired statistics: per-round log ratios, bootstrap CIs, minimum detectable slowdown, Mann-Whitney U."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoder_gate.speed.settings import DEFAULT_ALPHA, ENV_ROUNDS
from encoder_gate.statistics import bootstrap_ci

CONFIDENCE = 0.95  # of the speedup's CI and of the shift's CI
POWER = 0.8  # of the minimum detectable slowdown
#: Below 6 rounds no interval between two order statistics covers a median 95% of the time
#: ((min, max) of n rounds covers it with probability 1 - 2^(1-n): 94% at 5): the bootstrap CI
#: is then too narrow, and the statistics say so.
MIN_ROUNDS_FOR_CI = 6
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
#: Asymptotic relative efficiency of Mann-Whitney U to the t test on normal data: the rank test
#: needs pi/3 times the rounds of a t test for the same power (and gives up little on outliers).
MANN_WHITNEY_ARE = 3 / math.pi
STATS_METHOD = {
    "speedup": "median over rounds of torch time / backend time, rounds paired (A B A B)",
    "ci": f"{CONFIDENCE:.0%} percentile bootstrap of the median per-round ratio ({BOOTSTRAP_RESAMPLES} "
          f"resamples of the rounds, seed {BOOTSTRAP_SEED}); below {MIN_ROUNDS_FOR_CI} rounds it undercovers",
    "mde_slowdown": f"smallest drop of the speedup the test detects with {POWER:.0%} power against a "
                    "baseline with as many rounds and the same spread: 1 - exp(-(t_{1-alpha} + "
                    f"t_{{{POWER:g}}}) * sd * sqrt(2/n) * sqrt(pi/3)), sd the standard deviation of the "
                    "per-round log ratios, t quantiles with 2n-2 degrees of freedom, sqrt(pi/3) the "
                    "efficiency loss of Mann-Whitney U against the t test on normal data",
    "test": "one-sided Mann-Whitney U of the baseline's per-round log ratios against this run's; "
            "fails when p < alpha and the drop is over max_drop",
}


def log_ratios(reference_seconds: Sequence[float], backend_seconds: Sequence[float]) -> list[float]:
    """Per-round log(reference time / backend time): the paired data the speed gate tests."""
    if not reference_seconds or len(reference_seconds) != len(backend_seconds):
        raise ValueError(f"need equally many rounds, got {len(reference_seconds)} and {len(backend_seconds)}")
    if min(*reference_seconds, *backend_seconds) <= 0:
        raise ValueError("round times must be positive")
    return [math.log(r / b) for r, b in zip(reference_seconds, backend_seconds, strict=True)]


def _log_median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log of the median ratio, i.e. the log of :func:`~encoder_gate.speed.results.paired_speedup`
    (for an odd number of rounds, exactly the median log ratio; for an even number, the log of the
    mean of the two middle ratios rather than their geometric mean, so the CI brackets the
    reported speedup)."""
    return np.log(np.median(np.exp(x), axis=axis))


def _shift_statistic(base: np.ndarray, current: np.ndarray, axis: int = -1) -> np.ndarray:
    return _log_median(base, axis) - _log_median(current, axis)


def median_speedup(ratios_log: Sequence[float]) -> float:
    """The speedup of per-round log ratios: their median ratio (what
    :func:`~encoder_gate.speed.results.paired_speedup` gives)."""
    return float(np.median(np.exp(np.asarray(ratios_log, dtype=np.float64))))


def _bootstrap_ci(samples: Sequence[Sequence[float]], statistic: Any,
                  confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile bootstrap CI of ``statistic`` of the rounds (statistics.bootstrap_ci)."""
    return bootstrap_ci(samples, statistic, confidence=confidence, n_resamples=BOOTSTRAP_RESAMPLES, seed=seed)


def smallest_p(baseline_rounds: int, current_rounds: int) -> float:
    """The smallest one-sided p-value an exact Mann-Whitney U test can reach with these round
    counts (every baseline round above every current one): 1 / C(n_b + n_c, n_b)."""
    if baseline_rounds < 1 or current_rounds < 1:
        return 1.0
    return 1.0 / math.comb(baseline_rounds + current_rounds, baseline_rounds)


def min_detectable_slowdown(sd: float, rounds: int, *, alpha: float = DEFAULT_ALPHA, power: float = POWER,
                            baseline_rounds: int | None = None) -> float | None:
    """The smallest drop of a speedup (a fraction, like ``max_drop``) that the speed gate's
    test detects with ``power``, for a run of ``rounds`` paired rounds whose log ratios have
    standard deviation ``sd``, against a baseline of ``baseline_rounds`` (default: as many)
    rounds with the same spread.

    The normal approximation with t quantiles (2n - 2 degrees of freedom) for the small
    samples, inflated by sqrt(pi/3) for Mann-Whitney U's efficiency on normal data::

        shift = (t_{1-alpha} + t_{power}) * sd * sqrt(1/n_c + 1/n_b) * sqrt(pi/3)
        mde   = 1 - exp(-shift)

    None when no drop can be detected: fewer than two rounds (no spread), or so few on both
    sides that the exact test cannot reach ``alpha`` at all (:func:`smallest_p`). The gate
    also needs the drop to exceed ``max_drop``, so a drop is caught reliably when it clears
    both.
    """
    from scipy import stats

    n_b = baseline_rounds if baseline_rounds is not None else rounds
    if rounds < 2 or n_b < 1 or not np.isfinite(sd) or smallest_p(n_b, rounds) >= alpha:
        return None
    df = rounds + n_b - 2
    k = float(stats.t.ppf(1 - alpha, df) + stats.t.ppf(power, df))
    shift = k * sd * math.sqrt(1 / rounds + 1 / n_b) / math.sqrt(MANN_WHITNEY_ARE)
    return 1.0 - math.exp(-shift)


@dataclass(frozen=True)
class PairedStats:
    """A backend's speedup over torch eager from its paired rounds, with its uncertainty."""

    log_ratios: tuple[float, ...]  # per round: log(torch time / backend time)
    speedup: float  # the median per-round ratio
    ci: tuple[float, float] | None  # CONFIDENCE bootstrap CI of the speedup (None: one round)
    mde_slowdown: float | None  # see min_detectable_slowdown (None: undetectable with these rounds)
    alpha: float = DEFAULT_ALPHA

    @property
    def rounds(self) -> int:
        return len(self.log_ratios)

    @property
    def note(self) -> str | None:
        """What makes these numbers weak, if anything."""
        n = self.rounds
        if n < 2:
            return "1 round: no CI and no test; raise ENCODER_GATE_BENCH_ROUNDS"
        if self.mde_slowdown is None:
            return (f"{n} rounds: the test cannot reach p < {self.alpha:g} against as many; raise "
                    f"{ENV_ROUNDS}")
        if n < MIN_ROUNDS_FOR_CI:
            return f"{n} rounds: fewer than {MIN_ROUNDS_FOR_CI}, the {CONFIDENCE:.0%} CI is too narrow"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"speedup": self.speedup, "ci": list(self.ci) if self.ci else None,
                "mde_slowdown": self.mde_slowdown, "rounds": self.rounds,
                "log_ratios": list(self.log_ratios), "note": self.note}


def paired_stats(ratios_log: Sequence[float], *, alpha: float = DEFAULT_ALPHA, power: float = POWER,
                 seed: int = BOOTSTRAP_SEED) -> PairedStats:
    """Speedup, its CI and the minimum detectable slowdown from per-round log ratios.

    The CI is a percentile bootstrap of the median ratio over the rounds (seeded, so a run
    reports the same interval every time it is rendered); see :data:`STATS_METHOD`.
    """
    x = [float(v) for v in ratios_log]
    if not x:
        raise ValueError("no rounds")
    ci = _bootstrap_ci([x], _log_median, seed=seed)
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
    return PairedStats(tuple(x), median_speedup(x),
                       (math.exp(ci[0]), math.exp(ci[1])) if ci else None,
                       min_detectable_slowdown(sd, len(x), alpha=alpha, power=power), alpha)



def shift_ci(base: Sequence[float], current: Sequence[float]) -> tuple[float, float] | None:
    """:data:`CONFIDENCE` bootstrap CI of the shift, the baseline's log speedup minus this run's (the
    baseline's and this run's rounds resampled independently); None when a side has one round."""
    return _bootstrap_ci([base, current], _shift_statistic)


def mann_whitney_p(base: Sequence[float], current: Sequence[float]) -> float:
    """One-sided p that the baseline's log ratios are stochastically larger (this run slower)."""
    from scipy import stats

    return float(stats.mannwhitneyu(base, current, alternative="greater").pvalue)
