"""The F1 rules: how a backend's change of its headline metric against the reference (a
:class:`~encoder_gate.accuracy.significance.DeltaCI`) is decided, as a point share of the reference or
by where its confidence interval lies against a margin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from encoder_gate.accuracy.metrics import _dataclass_dict
from encoder_gate.accuracy.significance import DeltaCI

#: The F1 rule: how the F1 keep check decides (the speed half's rules are speed rules).
F1Rule = Literal["point", "regression", "non-inferiority"]
F1_RULES: tuple[F1Rule, ...] = get_args(F1Rule)



@dataclass(frozen=True)
class F1Decision:
    """A gate verdict and the plain-words reason, with the numbers."""

    passed: bool
    reason: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return _dataclass_dict(self)


def judged_end(delta: DeltaCI, rule: str) -> float:
    """The end of `delta`'s CI a CI rule holds against -margin (:func:`decide_f1`): regression its upper
    end, non-inferiority its lower."""
    return delta.ci_high if rule == "regression" else delta.ci_low


def decide_f1(delta: DeltaCI, rule: F1Rule, margin: float, point_keep: float, ref_value: float) -> F1Decision:
    """Apply one decision rule to a :class:`DeltaCI`.

    * ``"point"`` (today's rule): pass when ``ref_value + delta >= point_keep * ref_value``;
      the CI is ignored.
    * ``"regression"``: fail only when the whole CI lies below ``-margin``
      (``ci_high < -margin``): a drop larger than the margin is shown. Noise passes.
    * ``"non-inferiority"``: pass only when the whole CI lies above ``-margin``
      (``ci_low > -margin``): a drop larger than the margin is ruled out. Noise fails.

    ``margin`` is absolute in metric units (0.01 = one F1 point); ``point_keep`` is a
    share of the reference (0.99 = keep 99%).
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    m, conf = delta.metric, f"{delta.confidence:.0%}"
    ci = f"[{delta.ci_low:+.4f}, {delta.ci_high:+.4f}]"
    if rule == "point":
        value, bound = ref_value + delta.delta, point_keep * ref_value
        ok = bool(value >= bound)
        verb = "keeps" if ok else "does not keep"
        cmp = ">=" if ok else "<"
        reason = (
            f"{m} {value:.4f} {verb} {point_keep:g} x the reference {ref_value:.4f} "
            f"({value:.4f} {cmp} {bound:.4f}; change {delta.delta:+.4f})"
        )
    elif rule == "regression":
        ok = not delta.ci_high < -margin
        reason = (
            f"the {conf} CI of the {m} change {ci} lies entirely below -{margin:.4f}: "
            f"the backend is worse by more than the margin"
            if not ok
            else f"the {conf} CI of the {m} change {ci} does not lie entirely below -{margin:.4f}: "
            f"no drop larger than the margin is shown (change {delta.delta:+.4f})"
        )
    elif rule == "non-inferiority":
        ok = bool(delta.ci_low > -margin)
        reason = (
            f"the {conf} CI of the {m} change {ci} lies entirely above -{margin:.4f}: "
            f"a drop larger than the margin is ruled out"
            if ok
            else f"the {conf} CI of the {m} change {ci} reaches -{margin:.4f} or below: "
            f"a drop larger than the margin is not ruled out (change {delta.delta:+.4f})"
        )
    else:
        raise ValueError(f"rule must be 'point', 'regression' or 'non-inferiority'; got {rule!r}")
    return F1Decision(passed=bool(ok), reason=reason, rule=rule)
