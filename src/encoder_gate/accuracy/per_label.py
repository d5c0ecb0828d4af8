"""Per-label verdicts: each label's F1 kept and no significant loss (Holm-adjusted McNemar).

A damage confined to one label barely moves micro F1; judging every label with enough
gold positives on its own catches it. Decision matrices as in
:mod:`encoder_gate.accuracy.significance` (single-label one-hot decisions work too: a label
is then a class).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from encoder_gate.accuracy.metrics import _label_names, _safe_div
from encoder_gate.accuracy.significance import _as_decisions, mcnemar
from encoder_gate.data.pairs import Text, as_string
from encoder_gate.statistics import holm

#: How many changed examples :meth:`LabelResult.failure_message` shows.
N_EXAMPLES = 5

__all__ = ["N_EXAMPLES", "LabelResult", "per_label"]


@dataclass(frozen=True)
class LabelResult:
    """One label's reference and backend F1, McNemar test and verdict.

    ``p_raw`` is McNemar's p on this label's decisions vs gold; ``p_value`` is it
    Holm-adjusted across the labels with enough support (None for a low-support label,
    which is not tested). ``changed`` lists the examples whose decision for this label
    differs between reference and backend; ``changed_to`` is the backend's new decision
    and ``changed_gold`` the gold value at each of them.
    """

    label: str
    support: int
    f1_ref: float
    f1: float
    p_raw: float
    p_value: float | None
    b: int
    c: int
    verdict: Literal["pass", "fail", "low-support"]
    reason: str
    keep: float
    changed: tuple[int, ...]
    changed_to: tuple[bool, ...]
    changed_gold: tuple[bool, ...]

    def as_dict(self) -> dict[str, Any]:
        """``label, support, f1_ref, f1, p_value`` (Holm), ``verdict`` and ``changed`` (a count)."""
        return {
            "label": self.label,
            "support": self.support,
            "f1_ref": self.f1_ref,
            "f1": self.f1,
            "p_value": self.p_value,
            "verdict": self.verdict,
            "changed": len(self.changed),
        }

    def failure_message(self, texts: Sequence[Text], k: int = N_EXAMPLES,
                        sides: tuple[str, str] = ("reference", "backend")) -> str:
        """Plain words: the label, its support, both F1s, why, and up to ``k`` changed examples, those it
        now decides wrongly first.
        ``sides`` names what was compared: (the reference, the judged), e.g. ("base", "PR")."""
        p = "not tested (low support)" if self.p_value is None else f"{self.p_value:.3g} (Holm-adjusted)"
        verb = {"pass": "passes", "fail": "fails", "low-support": "is not judged"}[self.verdict]
        reason = self.reason if self.verdict != "fail" or self.f1 >= self.keep * self.f1_ref else \
            f1_fell(self.keep, sides[0])  # against the base: its F1 on the base, not "the reference"
        lines = [
            f"label {self.label!r} (support {self.support}) {verb}: {reason}.",
            f"  F1 {self.f1_ref:.4f} ({sides[0]}) -> {self.f1:.4f} ({sides[1]}), keep {self.keep:.2f} needs "
            f">= {self.keep * self.f1_ref:.4f}; McNemar p = {p}: "
            f"{self.b} lost, {self.c} gained (decisions vs gold"
            f"{more_gained(self.b, self.c, self.f1 < self.f1_ref)}).",
            f"  {len(self.changed)} examples changed their decision for this label"
            + (":" if self.changed else "."),
        ]
        # the decisions it lost first (now wrong against gold), a lost hit before a new false alarm: a
        # trial's label that stopped firing showed five false alarms it dropped, its 83 lost hits hidden
        changed = sorted(zip(self.changed, self.changed_to, self.changed_gold, strict=True),
                         key=lambda c: (c[1] == c[2], not c[2]))
        for i, to, g in changed[:k]:
            now = "now predicted" if to else "no longer predicted"
            text = _short(as_string(texts[i])) if 0 <= i < len(texts) else "(no text)"
            lines.append(f"    #{i} {now} (gold: {'yes' if g else 'no'}): {text}")
        if len(self.changed) > k:
            lines.append(f"    ... and {len(self.changed) - k} more")
        return "\n".join(lines)


#: The rare labels a warning names by name; the rest are counted.
RARE_NAMED = 5


def most_positives_first(labels: Iterable[LabelResult]) -> list[LabelResult]:
    """`labels` in the order every message names them: most gold positives first (the order of the
    verdict's failing labels too, decision.judge, on accuracy.json's rows)."""
    return sorted(labels, key=lambda r: -r.support)


def rare_labels_lost(labels: Sequence[LabelResult], min_support: int, side: str) -> str | None:
    """Plain words for the labels too rare to judge (fewer than `min_support` gold positives) that found
    none of their gold texts where `side` (the reference, the base) found some, most positives first:
    a label that stopped working is not judged there, yet it is said (a trial's PR zeroed a label of 8
    positives and passed, the label named nowhere: micro F1 rose without its false alarms). None where
    no such label."""
    lost = most_positives_first(r for r in labels
                                if r.verdict == "low-support" and r.f1_ref > 0 and r.f1 == 0)
    if not lost:
        return None
    rest = len(lost) - RARE_NAMED
    named = ", ".join(f"{r.label} (F1 {r.f1_ref:.2f} -> 0, {r.support} gold positive"
                      f"{'s' if r.support != 1 else ''})" for r in lost[:RARE_NAMED])
    more = f" and {rest} more (accuracy.json's per_label)" if rest > 0 else ""
    many = len(lost) != 1
    return (f"{len(lost)} label{'s' if many else ''} too rare to judge (fewer than {min_support} gold "
            f"positives) found none of {'their' if many else 'its'} gold texts, where {side} found some: "
            f"{named}{more}; more labelled rows of them, or per-label-min-support, judge them")


#: The failing labels described in full in a failure; the rest are named in one line.
FAILURES_DESCRIBED = 5


def failures_said(failing: Sequence[LabelResult], texts: Sequence[Text],
                  sides: tuple[str, str] = ("reference", "backend")) -> list[str]:
    """The failing labels' messages (LabelResult.failure_message), indented: the FAILURES_DESCRIBED of
    most gold positives in full, the rest named in one line with both F1s (a trial's 19 failing labels
    took 411 terminal lines, eight each, and 200 would not have fit a PR comment)."""
    ordered = most_positives_first(failing)
    lines = ["  " + r.failure_message(texts, sides=sides).replace("\n", "\n  ")
             for r in ordered[:FAILURES_DESCRIBED]]
    if rest := ordered[FAILURES_DESCRIBED:]:
        lines.append(f"  ... and {len(rest)} more failing label{'s' if len(rest) != 1 else ''}: "
                     + ", ".join(f"{r.label!r} (support {r.support}, F1 {r.f1_ref:.4f} -> {r.f1:.4f})"
                                 for r in rest))
    return lines


def f1_fell(keep: float, side: str) -> str:
    """Why a label fails by its F1: below ``keep`` times its F1 on ``side`` (the reference, the base)."""
    return f"F1 fell below {keep:.2f} x the {side}'s"


def more_gained(lost: int, gained: int, fell: bool) -> str:
    """What to add where McNemar's decisions gained outnumber those lost while the F1 it stands beside
    fell: F1 counts a label's hits and false alarms, never the texts rightly left without it, so a
    model that stops firing gains those and loses its hits (a user's broken PR read "McNemar p 3.4e-07
    (244 decisions lost, 371 gained)" as the evidence of its loss)."""
    return ("; more gained than lost: F1 does not count the texts a label is rightly left off"
            if fell and gained > lost else "")


def _short(text: str, width: int = 100) -> str:
    t = " ".join(str(text).split())
    return repr(t if len(t) <= width else t[: width - 3] + "...")


def positive_texts(gold: npt.ArrayLike, groups: npt.ArrayLike | None = None) -> np.ndarray:
    """Per label, how many distinct texts hold a gold positive: the rows' count, or with ``groups``
    (one id per distinct text) each text once. The per-label check's support floor counts these: a
    text evaluated three times is one text's evidence (three copies of 11 texts were 33 "gold
    positives" and judged a label the set cannot judge, walk 43)."""
    y = np.asarray(gold, dtype=bool)
    if groups is None:
        return np.asarray(y.sum(axis=0))
    ids = np.asarray(groups)
    return np.array([len(np.unique(ids[y[:, j]])) for j in range(y.shape[1])], dtype=np.int64)


def per_label(
    gold: npt.ArrayLike | None,
    ref_dec: npt.ArrayLike,
    dec: npt.ArrayLike,
    label_names: Sequence[str] | None = None,
    *,
    min_support: int = 20,
    keep: float = 0.9,
    alpha: float = 0.05,
    groups: npt.ArrayLike | None = None,
) -> list[LabelResult]:
    """Judge every label (column) on its own: F1 kept, and no significant loss.

    A label with fewer than ``min_support`` distinct texts holding a gold positive
    (:func:`positive_texts`) is "low-support" and not judged. Any other label fails when
    ``f1 < keep * f1_ref`` or when its Holm-adjusted McNemar p (across the labels with enough
    support) is below ``alpha`` and the backend is the worse side (b > c); else it passes. The McNemar
    unit is the example: one decision per example for this label, so it has no
    within-example correlation caveat. Works for single-label one-hot decisions too
    (a label is then a class). With ``gold=None`` the reference stands in for gold. With
    ``groups`` (one id per distinct text) McNemar counts each distinct text once
    (:func:`~encoder_gate.accuracy.significance.mcnemar`).
    """
    ref = _as_decisions("ref_dec", ref_dec)
    d = _as_decisions("dec", dec, ref.shape)
    y = ref if gold is None else _as_decisions("gold", gold, ref.shape)
    names = _label_names(label_names, ref.shape[1])
    if not 0 <= keep <= 1:
        raise ValueError(f"keep must be in [0, 1]; got {keep}")
    support = y.sum(axis=0)
    f1_ref = _safe_div(2.0 * (ref & y).sum(axis=0), support + ref.sum(axis=0))
    f1 = _safe_div(2.0 * (d & y).sum(axis=0), support + d.sum(axis=0))
    tests = [mcnemar(ref[:, j] == y[:, j], d[:, j] == y[:, j], groups) for j in range(ref.shape[1])]
    tested = np.flatnonzero(positive_texts(y, groups) >= min_support)
    repeats = groups is not None and len(np.unique(np.asarray(groups))) < len(y)  # some text more than once
    adjusted = dict(zip(tested.tolist(), holm([tests[j].p_value for j in tested]).tolist(), strict=True))
    out = []
    for j, name in enumerate(names):
        t = tests[j]
        p_adj = adjusted.get(j)
        verdict: Literal["pass", "fail", "low-support"]
        if p_adj is None:
            verdict, reason = "low-support", (f"fewer than {min_support} distinct texts with a gold positive"
                                              if repeats else f"fewer than {min_support} gold positives")
        elif f1[j] < keep * f1_ref[j]:
            verdict, reason = "fail", f1_fell(keep, "reference")
        elif p_adj < alpha and t.backend_worse:
            verdict, reason = "fail", f"significantly more decisions lost than gained (p < {alpha:g})"
        else:
            verdict, reason = "pass", "F1 kept and no significant loss"
        changed = np.flatnonzero(ref[:, j] != d[:, j])
        out.append(
            LabelResult(
                label=name,
                support=int(support[j]),
                f1_ref=float(f1_ref[j]),
                f1=float(f1[j]),
                p_raw=t.p_value,
                p_value=p_adj,
                b=t.b,
                c=t.c,
                verdict=verdict,
                reason=reason,
                keep=float(keep),
                changed=tuple(int(i) for i in changed),
                changed_to=tuple(bool(v) for v in d[changed, j]),
                changed_gold=tuple(bool(v) for v in y[changed, j]),
            )
        )
    return out
