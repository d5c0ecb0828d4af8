"""Waivers in the verdict: which checks a waiver may name, the configured waivers checked against the
session's backends, checks and labels, the live waiver that accepts a failure, and the stale ones.
:mod:`encoder_gate.decision.judge` marks each failure with what this module finds."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from encoder_gate.accuracy.checks import CHECKS, NO_GOLD, not_applicable
from encoder_gate.backends.registry import parse_backend, split_integer_path
from encoder_gate.decision.types import SPEED, VERSUS_BASE, BackendVerdict, Reason
from encoder_gate.documents import readings
from encoder_gate.errors import GateError
from encoder_gate.waivers import Waiver

#: The checks a waiver may name besides the accuracy checks' own.
WAIVABLE = (SPEED, VERSUS_BASE)

#: The check judged label by label (accuracy.checks' per_label): the one a waiver's `label` narrows.
LABELLED_CHECK = "per_label"


def waivable() -> tuple[str, ...]:
    """The checks a waiver may name besides the accuracy checks': the speed rule's, against the base,
    and those of each registered results document."""
    return (*WAIVABLE, *(c for r in readings().values() for c in r.checks))


def check_waivers(waivers: Sequence[Waiver], backends: Sequence[str], checks: Sequence[str]) -> None:
    """A waiver naming a backend or a check this session does not have is a GateError saying what exists.
    `NAME~PATH` of a configured INT8 backend NAME is one it has, whether or not this runner judges
    that path (the plain row holds it where the CPU computes PATH itself; with PATH not among the
    targets it covers nothing here)."""
    for w in waivers:
        inner, path = split_integer_path(w.backend)
        if w.backend not in backends and not (path is not None and inner in backends and _int8(w.backend)):
            raise GateError(f"waiver of {w.names()} ({w.owner}): no backend {w.backend!r} in this session; "
                            f"its backends: {', '.join(backends)}")
        if w.check not in (*checks, *waivable()):
            raise GateError(f"waiver of {w.names()} ({w.owner}): no check {w.check!r}; the checks: "
                            f"{', '.join((*checks, *waivable()))}")
        if w.label is not None and w.check != LABELLED_CHECK:  # it read as covering every label's
            raise GateError(f"waiver of {w.names()} ({w.owner}): `label` narrows a waiver of "
                            f"{LABELLED_CHECK} to one label; {w.check} is not judged per label, so this one "
                            f"would waive all of it: remove `label`, or waive {LABELLED_CHECK}")


def check_waivers_fit(waivers: Sequence[Waiver], labels: Sequence[str], task: str) -> None:
    """A waiver the model could never use is a GateError: one of a label it does not have, naming its
    labels (closest first; the verdict called it stale, "the check passes now", as if it once had:
    walk Y, `grieff` for `grief`), or of an accuracy check that does not apply to its task (a trial's
    `cosine_min` waiver of a multi-label classifier was accepted, and said nowhere)."""
    for w in waivers:
        if w.check in CHECKS and (why := not_applicable(task, w.check)) is not None and why != NO_GOLD:
            raise GateError(f"waiver of {w.names()} ({w.owner}): {w.check} is no check of this {task} model "
                            f"({why}), so the waiver could never accept a failure: remove it")
        if w.label is not None and w.label not in labels:
            near = difflib.get_close_matches(w.label, labels, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise GateError(f"waiver of {w.names()} ({w.owner}): the model has no label {w.label!r}{hint}; "
                            f"its labels: {', '.join(labels)}")


def _int8(name: str) -> bool:
    try:
        parse_backend(name)  # NAME~PATH parses only for an INT8 ONNX backend
    except GateError:
        return False
    return True


def covering_waiver(waivers: Sequence[Waiver], backend: str, check: str, today: date,
                    observed: float | None = None, direction: str | None = None,
                    labels: Collection[str] = (), names: Collection[str] = ()) -> Waiver | None:
    """The live waiver that accepts `backend`'s failure of `check` (of `labels`, a per-label
    failure's), with `observed` no worse than its `accept`; None when none does. `names`: every name
    the backend's row answers to (registry.names_of_row), when more than its own."""
    names = names or (backend,)
    for w in waivers:
        if w.backend not in names or w.check != check or w.days_left(today) < 0:
            continue
        if w.label is not None and set(labels) - {w.label}:
            continue
        if w.accept is not None and observed is not None and direction is not None and (
                observed > w.accept if direction == "at most" else observed < w.accept):
            continue
        return w
    return None


def waivers_of(findings: Mapping[str, Any] | None) -> list[Waiver]:
    """The waivers the newest session of these documents was configured with (findings.json)."""
    try:
        return [Waiver.from_json(w) for w in (findings or {}).get("waivers") or []]
    except GateError as exc:
        raise GateError(f"findings.json holds a waiver that cannot be read ({exc}); re-run the "
                        "session") from None


def marked(reason: Reason, accepted: Waiver | None, waivers: Sequence[Waiver], names: Collection[str],
            today: date) -> Reason:
    """A failing backend's reason, saying the live waiver that accepts it, or why the live waiver of
    its check does not (its value is worse than the waiver's `accept`, or another label failed)."""
    if accepted is not None:
        return replace(reason, text=f"{reason.text} (waived by {accepted.owner} until {accepted.until})")
    mine = [w for w in waivers if w.backend in names and w.check == reason.check]
    near = next((w for w in mine if w.days_left(today) >= 0), None)
    if near is None:
        ended = max(mine, key=lambda w: w.until, default=None)
        return reason if ended is None else replace(
            reason, text=f"{reason.text} (its waiver by {ended.owner} expired on {ended.until})")
    if near.accept is not None and reason.observed is not None:
        why = f"worse than the accept {near.accept:g} of the waiver by {near.owner}"
    else:
        why = f"not covered by the waiver by {near.owner}" + (f" (label {near.label})" if near.label else "")
    return replace(reason, text=f"{reason.text} ({why})")


def stale_waivers(waivers: Sequence[Waiver], today: date, backends: Sequence[BackendVerdict],
                   rows: Mapping[str, Any], timed: Sequence[str], against_base: Sequence[str],
                   slow: Mapping[str, Any], versus: Mapping[str, Any],
                   theirs_judged: Collection[tuple[str, str]],
                   names: Callable[[str], Collection[str]], target_paths: Collection[str]) -> list[str]:
    """The live waivers whose check was judged here and passed on every row they name (a plain INT8
    name names its rows on both integer paths, `names`): remove them."""
    failing = {(b.name, c) for b in backends for c in b.failed}
    every = list(dict.fromkeys([*rows, *timed, *against_base, *(b for b, _ in theirs_judged)]))
    out = []
    for w in waivers:
        covered = [n for n in every if w.backend in names(n)] or [w.backend]
        if w.days_left(today) < 0 or any((n, w.check) in failing for n in covered):
            continue
        # a plain INT8 name's waiver holds for its file on every targeted path: judged here on some
        # (a twin not computable on this CPU), a runner of the other kind may still need it
        saturable = [rows[n] for n in covered if (rows.get(n) or {}).get("can_saturate")]
        seen_on = {r.get("integer_path") for r in saturable if w.check in (r.get("checks") or {})}
        if split_integer_path(w.backend)[1] is None and saturable and not set(target_paths) <= seen_on:
            continue
        judged = any(n in timed and n not in slow if w.check == SPEED else
                     n in against_base and n not in versus if w.check == VERSUS_BASE else
                     (n, w.check) in theirs_judged or w.check in ((rows.get(n) or {}).get("checks") or {})
                     for n in covered)
        if judged:
            out.append(f"the waiver of {w.names()} by {w.owner} is stale: the check passes now; remove it")
    return out
