"""The speed rules (:data:`SPEED_RULES`) and the speed gate that decides each (case, backend) by them.

A speed rule decides one (case, backend) from the baseline's and this run's speedups and
per-round log ratios:

* ``test``: fails when the drop is over ``max_drop`` and significant (one-sided Mann-Whitney U
  of the per-round log ratios, p < ``alpha``). It needs per-round data on both sides, and
  enough rounds for the exact test to reach ``alpha``; otherwise ``point`` decides, and the
  comparison's ``reason`` says why.
* ``point``: fails on a drop over ``max_drop`` alone, as the gate did before it had per-round
  data.

The speed gate (:func:`compare_speed`) decides by :data:`GATE_RULE`; the noise study
(:mod:`encoder_gate.studies.speed_noise`) replays every rule of :data:`SPEED_RULES`. A new rule
is one more record there: an instance of a :class:`SpeedRule` subclass.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from encoder_gate.records import Registry
from encoder_gate.speed.results import case_order, log_ratio_table, speedup_table
from encoder_gate.speed.settings import DEFAULT_ALPHA, BenchSettings
from encoder_gate.speed.stats import CONFIDENCE, mann_whitney_p, median_speedup, shift_ci, smallest_p


@dataclass(frozen=True)
class RuleOutcome:
    """A speed rule's decision on one comparison."""

    failed: bool
    borderline: bool  # would more rounds of this run change the decision?
    why: str  # what the rule decided on, as the terminal line shows it


@dataclass(frozen=True)
class SpeedRule(ABC):
    """One way to decide a (case, backend) of the speed gate.

    :meth:`unusable` says when the rule cannot decide a case (then the rule named ``fallback``
    does); :meth:`measure` computes what the rule needs from the per-round data, once, and
    :meth:`decide` applies ``max_drop`` and ``alpha`` to it, so one measurement can be decided
    at several effect sizes (as the noise study does). A rule without a fallback must decide
    every case.
    """

    name: str
    summary: str  # what fails, one clause (the legend of the noise table)
    fallback: str | None = None

    def unusable(self, rounds: tuple[int, int], alpha: float) -> str | None:
        """Why this rule cannot decide with (baseline, current) rounds of per-round data (None: it can)."""
        return None

    def measure(self, base_ratios: Sequence[float], current_ratios: Sequence[float], *,
                ci: bool) -> tuple[float | None, tuple[float, float] | None]:
        """(p-value, :data:`~encoder_gate.speed.stats.CONFIDENCE` CI of the shift) of the per-round
        log ratios; None for what the rule does not use (the CI also when ``ci`` is False)."""
        return None, None

    @abstractmethod
    def decide(self, c: SpeedComparison) -> RuleOutcome:
        """Pass or fail, borderline or not, and why."""

    def setting(self, max_drop: float, alpha: float) -> str:
        """The knobs this rule decides with, as the noise table names them."""
        return f"max drop {max_drop:.0%}"


@dataclass(frozen=True)
class PointRule(SpeedRule):
    """Fails on a drop over ``max_drop`` alone. Borderline when beyond it with per-round data
    on both sides: too few rounds for the test, which more current rounds can make possible."""

    def decide(self, c: SpeedComparison) -> RuleOutcome:
        return RuleOutcome(c.beyond, c.beyond and c.rounds[0] > 0 and c.rounds[1] > 0,
                       "point rule" + (f": {c.reason}" if c.reason else ""))


@dataclass(frozen=True)
class MannWhitneyRule(SpeedRule):
    """Fails when the drop is over ``max_drop`` and significant: one-sided Mann-Whitney U of the
    baseline's per-round log ratios against this run's, p < ``alpha``. Borderline when beyond the
    effect size but not significant, or significant with a CI of the shift that straddles it."""

    def unusable(self, rounds: tuple[int, int], alpha: float) -> str | None:
        if not rounds[0] or not rounds[1]:
            return f"no per-round data in {'the baseline' if not rounds[0] else 'this run'}"
        floor = smallest_p(*rounds)
        if floor >= alpha:
            return (f"too few rounds for the test ({rounds[0]} vs {rounds[1]}: its smallest p is "
                    f"{floor:.2g}, not below {alpha:g})")
        return None

    def measure(self, base_ratios: Sequence[float], current_ratios: Sequence[float], *,
                ci: bool) -> tuple[float | None, tuple[float, float] | None]:
        return (mann_whitney_p(base_ratios, current_ratios),
                shift_ci(base_ratios, current_ratios) if ci else None)

    def decide(self, c: SpeedComparison) -> RuleOutcome:
        why = f"p={c.p_value:.2g} ({c.rounds[0]} vs {c.rounds[1]} rounds)"
        if c.drop_ci is not None:
            low, high = c.drop_ci
            why += f", drop {CONFIDENCE:.0%} CI [{low:+.1%}, {high:+.1%}]"
        straddles = c.shift_ci is not None and c.shift_ci[0] < c.effect_shift < c.shift_ci[1]
        return RuleOutcome(c.beyond and c.significant,
                       (c.beyond and not c.significant) or (c.significant and straddles), why)

    def setting(self, max_drop: float, alpha: float) -> str:
        return f"{super().setting(max_drop, alpha)}, p < {alpha:g}"


#: Every speed rule, by name; a new rule is one more record.
SPEED_RULES: Registry[SpeedRule] = Registry.of("speed rule", (
    MannWhitneyRule("test", "fails on a drop over max drop that is significant, one-sided Mann-Whitney U",
                    fallback="point"),
    PointRule("point", "fails on a drop over max drop alone"),
))
GATE_RULE = "test"  # the rule the speed gate decides by (falling back along each rule's fallback)


@dataclass(frozen=True)
class SpeedupFailure:
    """A backend whose speedup over torch eager fell by more than allowed."""

    case: str
    backend: str
    baseline: float
    current: float
    max_drop: float
    p_value: float | None = None  # the test's, when it decided (None: the point rule)
    rule: str = "point"  # the speed rule that decided (a key of SPEED_RULES)

    @property
    def drop(self) -> float:
        return 1.0 - self.current / self.baseline

    def to_json(self) -> dict[str, Any]:
        """speedups.json's record of it: `observed` is this run's speedup, `bound` the lowest the
        drop allows (the baseline's less `max_drop`); `text` the line the terminal shows."""
        return {"backend": self.backend, "case": self.case, "rule": self.rule, "observed": self.current,
                "bound": self.baseline * (1.0 - self.max_drop), "baseline": self.baseline,
                "p_value": self.p_value, "text": str(self)}

    def __str__(self) -> str:
        significance = "" if self.p_value is None else f"; p={self.p_value:.2g}"
        return (f"{self.backend} {self.case}: speedup over torch eager {self.current:.2f}x, baseline "
                f"{self.baseline:.2f}x ({-self.drop:+.1%}; allowed -{self.max_drop:.0%}{significance})")


@dataclass(frozen=True)
class SpeedComparison:
    """One (case, backend) of the speed gate: the baseline's speedup against this run's, and the
    measurements of the speed rule ``rule`` (a key of :data:`SPEED_RULES`) that decides it.

    ``reason``: why the rule asked for could not decide (no per-round data on a side, or too
    few rounds for the test to reach ``alpha``), so its fallback did.
    """

    case: str
    backend: str
    baseline: float  # speedups over torch eager
    current: float
    max_drop: float
    alpha: float
    rule: str
    p_value: float | None = None
    shift_ci: tuple[float, float] | None = None  # CONFIDENCE bootstrap CI of the shift (log scale)
    rounds: tuple[int, int] = (0, 0)  # (baseline, current) rounds with per-round data
    reason: str | None = None  # why the rule asked for did not decide

    @property
    def shift(self) -> float:
        """Baseline minus current log speedup (the median per-round log ratio): > 0 is slower."""
        return math.log(self.baseline / self.current)

    @property
    def drop(self) -> float:
        """The relative loss of speedup, 1 - current / baseline (in the unit of ``max_drop``)."""
        return 1.0 - self.current / self.baseline

    @property
    def effect_shift(self) -> float:
        """``max_drop`` on the log scale of :attr:`shift`."""
        return -math.log1p(-self.max_drop)

    @property
    def beyond(self) -> bool:
        return self.drop > self.max_drop

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha

    @property
    def verdict(self) -> RuleOutcome:
        return SPEED_RULES[self.rule].decide(self)

    @property
    def failed(self) -> bool:
        return self.verdict.failed

    @property
    def borderline(self) -> bool:
        """Would more rounds of this run change the decision? (see the rule's :meth:`~SpeedRule.decide`)"""
        return self.verdict.borderline

    @property
    def inconclusive(self) -> bool:
        """A pass whose drop CI reaches past ``max_drop``: these rounds could not rule out the drop
        the gate is there to catch (a pass by want of evidence, not a finding of no drop)."""
        return (not self.failed and self.shift_ci is not None
                and self.shift_ci[1] > self.effect_shift)

    @property
    def drop_ci(self) -> tuple[float, float] | None:
        """:attr:`shift_ci` as a CI of the drop (in the unit of ``max_drop``), None without one."""
        if self.shift_ci is None:
            return None
        low, high = (1 - math.exp(-v) for v in self.shift_ci)
        return low, high

    def failure(self) -> SpeedupFailure:
        return SpeedupFailure(self.case, self.backend, self.baseline, self.current, self.max_drop,
                              self.p_value, self.rule)

    def describe(self) -> str:
        """``<backend> <case>: 2.00x -> 1.54x (-23.1%), p=0.0006 (7 vs 7 rounds)``: one terminal line."""
        verdict = self.verdict
        text = (f"{self.backend} {self.case}: {self.baseline:.2f}x -> {self.current:.2f}x "
                f"({-self.drop:+.1%}), {verdict.why}")
        if verdict.failed:
            text += ": FAILS"
        elif verdict.borderline:
            text += ": borderline"
        elif self.inconclusive:
            text += f": passes, inconclusive (a drop of {self.max_drop:.0%} not ruled out)"
        return text

    def to_json(self) -> dict[str, Any]:
        verdict = self.verdict
        return {"baseline": self.baseline, "current": self.current, "shift": self.shift, "drop": self.drop,
                "p_value": self.p_value, "shift_ci": list(self.shift_ci) if self.shift_ci else None,
                "rule": self.rule, "rounds": list(self.rounds), "reason": self.reason,
                "significant": self.significant, "borderline": verdict.borderline, "failed": verdict.failed,
                "inconclusive": self.inconclusive}


def compare_one(case: str, backend: str, baseline: float, current: float, max_drop: float, alpha: float,
                base_ratios: Sequence[float] | None, current_ratios: Sequence[float] | None, *,
                ci: bool = True, rule: str = GATE_RULE) -> SpeedComparison:
    """One (case, backend) measured for the speed rule ``rule``, or for its fallback when it cannot
    decide this case; see :class:`SpeedComparison`. ``ci=False`` skips the bootstrap CI of the
    shift (no rule's pass or fail uses it; only the test's borderline does)."""
    rounds = (len(base_ratios or ()), len(current_ratios or ()))
    chosen, reason = SPEED_RULES[rule], None
    while chosen.fallback is not None and (why := chosen.unusable(rounds, alpha)) is not None:
        chosen, reason = SPEED_RULES[chosen.fallback], why
    p_value, shift = chosen.measure(base_ratios or (), current_ratios or (), ci=ci)
    return SpeedComparison(case, backend, baseline, current, max_drop, alpha, chosen.name, p_value, shift,
                           rounds, reason)


#: What a speed cell's figures were measured on (speedups.json's stats): a baseline's cell that timed
#: other work (other texts, texts cut elsewhere, on another device: runtime.devices) gives another
#: figure, never compared with this one.
CELL_WORK = ("texts", "max_tokens", "device")


def unlike_cells(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """{(case, backend): how its work differs} for each cell both documents measured on other work
    ("texts 32 now, 200 in the baseline": ENCODER_GATE_BENCH_TEXTS, or a sizing of another machine
    or cache); a cell either side does not record its work for (an older document) is not held to it."""
    cur, base = current.get("stats") or {}, baseline.get("stats") or {}
    out: dict[tuple[str, str], str] = {}
    for case in set(cur) & set(base):
        for backend in set(cur[case] or {}) & set(base[case] or {}):
            now, then = cur[case][backend] or {}, base[case][backend] or {}
            differ = [f"{key.replace('_', ' ')} {now[key]} now, {then[key]} in the baseline"
                      for key in CELL_WORK if key in now and key in then and now[key] != then[key]]
            if differ:
                out[(case, backend)] = "; ".join(differ)
    return out


def compare_speed(current: Mapping[str, Any], baseline: Mapping[str, Any], max_drop: float,
                  alpha: float = DEFAULT_ALPHA, *, ci: bool = True,
                  rule: str = GATE_RULE) -> list[SpeedComparison]:
    """The speed gate on two speedups documents: every (case, backend) in both that timed the same
    work (:func:`unlike_cells`), decided by ``rule`` (default :data:`GATE_RULE`: the test where both
    hold per-round log ratios, ``stats``, else the point rule)."""
    if not 0 <= max_drop < 1:
        raise ValueError(f"max_drop must be in [0, 1), got {max_drop}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    cur, base = speedup_table(current), speedup_table(baseline)
    cur_lr, base_lr = log_ratio_table(current), log_ratio_table(baseline)
    unlike = unlike_cells(current, baseline)
    out = []
    for case in sorted(set(cur) & set(base), key=case_order):
        for backend in sorted(set(cur[case]) & set(base[case])):
            if (case, backend) in unlike:
                continue
            now, then = float(cur[case][backend]), float(base[case][backend])
            if then > 0 and now > 0:
                out.append(compare_one(case, backend, then, now, max_drop, alpha,
                                       base_lr.get(case, {}).get(backend),
                                       cur_lr.get(case, {}).get(backend), ci=ci, rule=rule))
    return out


def point_rule_failures(current: Mapping[str, Any], baseline: Mapping[str, Any],
                        max_drop: float) -> list[SpeedupFailure]:
    """The point rule over two speedup tables: every (case, backend) in both whose speedup dropped
    more than ``max_drop``, whatever per-round data they hold.

    ``current`` and ``baseline`` are :func:`~encoder_gate.speed.results.compute_speedups` tables
    (or speedups.json documents holding one). ``max_drop=0.2`` fails a backend whose speedup
    over torch eager is below 80% of the baseline's. Cases or backends missing on either side
    are not compared.
    """
    return [c.failure() for c in compare_speed(current, baseline, max_drop, rule="point") if c.failed]


def extra_rounds_needed(baseline: Mapping[str, Any], case: str, backend: str, ratios_log: Sequence[float],
                        settings: BenchSettings) -> int:
    """How many paired rounds to add to ``(case, backend)`` before recording it: all of
    ``settings.extra_rounds`` when the case is borderline against ``baseline`` (see
    :attr:`SpeedComparison.borderline`), else 0. One extension only, so the session stays
    bounded; the two looks at the data raise the false-alarm rate a little above ``alpha``
    for borderline cases alone, and the effect size still has to be exceeded."""
    if settings.extra_rounds <= 0 or not ratios_log:
        return 0
    current = {"speedups": {case: {backend: median_speedup(ratios_log)}},
               "stats": {case: {backend: {"log_ratios": list(ratios_log)}}}}
    found = compare_speed(current, baseline, settings.max_drop, settings.alpha)
    return settings.extra_rounds if found and found[0].borderline else 0
