"""Drift growth against a base: whether the PR's converted backend moved further from its own torch
reference than the base's backend moved from the base's.

A backend's absolute bounds (:mod:`encoder_gate.accuracy.tolerances`) are fitted to the shipped
models: INT8's drift_mean of 0.1 sits about 2x above `default`'s healthy 0.048. A model whose healthy
INT8 file drifts far less passes a damaged one under them: a user's DistilBERT whose INT8 file drifted
0.001 on average passed, requantized from noisy weights, at 0.057 (drift max 0.53 under 0.6). Against
its base, a conversion is held to what the base's conversion of its own model kept, measured the same
way on the same texts (each side's drift from its own torch, so a retrained model is no excuse and no
false alarm: both sides are conversions of their own model):

    growth = mean_i d_pr[i] - mean_i d_base[i],   d[i] = max over labels |p_backend - p_torch|

fails where it exceeds both `drift_growth` times the base's mean (1.0: the drift doubled) and a
quarter of the backend's own drift_mean bound (GROWTH_FLOOR: FP32's kernels reorder sums, and a
library upgrade may move a drift of 3e-7 to 8e-7, which is no loss), and the per-text drifts are
larger on the PR's side by a one-sided Wilcoxon signed-rank test at 5% (scipy.stats.wilcoxon).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from encoder_gate.accuracy.metrics import drift

#: The least growth of the mean drift that can fail, as a share of the backend's drift_mean bound.
GROWTH_FLOOR = 0.25
#: The level of the one-sided Wilcoxon signed-rank test on the per-text drifts.
GROWTH_ALPHA = 0.05


@dataclass(frozen=True)
class DriftGrowth:
    """The PR's mean drift from its own torch against the base's, and whether it grew past `allowed`."""

    pr_mean: float
    base_mean: float
    allowed: float  # the most the mean may grow: max(drift_growth x base_mean, GROWTH_FLOOR x drift_mean)
    p_value: float  # one-sided Wilcoxon signed-rank: the PR's per-text drifts larger (1.0: identical)
    texts: int

    @property
    def growth(self) -> float:
        return self.pr_mean - self.base_mean

    @property
    def passed(self) -> bool:
        return not (self.growth > self.allowed and self.p_value < GROWTH_ALPHA)

    def describe(self, side: str = "the base") -> str:
        """In words: both means, the growth against what is allowed, the test."""
        return (f"mean drift from its own torch {self.pr_mean:.3g} against {self.base_mean:.3g} on "
                f"{side}'s side ({self.growth:+.3g}; it may grow by {self.allowed:.3g}), Wilcoxon p "
                f"{self.p_value:.2g} on {self.texts} texts")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "growth": self.growth, "passed": self.passed}


def drift_growth(pr: npt.ArrayLike, pr_reference: npt.ArrayLike, base: npt.ArrayLike,
                 base_reference: npt.ArrayLike, *, share: float, drift_mean_bound: float) -> DriftGrowth:
    """The PR's backend outputs `pr` against its torch `pr_reference`, and the base's `base` against
    the base's torch `base_reference`, all on the same texts: see the module's docstring."""
    from scipy import stats

    mine, theirs = drift(pr, pr_reference).per_sample, drift(base, base_reference).per_sample
    if mine.shape != theirs.shape:
        raise ValueError(f"the PR's drifts cover {mine.shape[0]} texts and the base's {theirs.shape[0]}: "
                         "a growth compares the same texts")
    differs = bool(np.any(mine != theirs))
    p_value = float(stats.wilcoxon(mine, theirs, alternative="greater").pvalue) if differs else 1.0
    base_mean = float(theirs.mean())
    return DriftGrowth(float(mine.mean()), base_mean, max(share * base_mean, GROWTH_FLOOR * drift_mean_bound),
                       p_value, int(mine.shape[0]))
