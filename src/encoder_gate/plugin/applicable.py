"""Checks that cannot apply to this session are not collected, so a skip always means something.

A multi-label model has no cosine similarity, relative L2 or accuracy keep, and an F1 floor
nobody configured checks nothing: run as tests, they were 25 "skipped" lines on every run that
drowned the skips worth acting on (a missing GPU or package). Each shipped check test names its
check (the `bound` parameter, or the `encoder_gate_check` marker); at collection, an item whose
check does not fit the model's task or labels, or is switched off for its backend by every
bound it could have, is removed, and the terminal says in one line what was left out and why.
"""

from __future__ import annotations

import pytest

from encoder_gate.accuracy.checks import NO_GOLD, bounds_for, not_applicable, record
from encoder_gate.backends.base import NumberFormat
from encoder_gate.backends.registry import PREBUILT_PREFIX
from encoder_gate.data.pairs import has_queries
from encoder_gate.documents import CHECK_MARKER
from encoder_gate.errors import GateError
from encoder_gate.plugin.stash import BASE_KEY, SESSION_KEY, params_of
from encoder_gate.runtime.session import GateSession
from encoder_gate.tasks import Task

MARKER = CHECK_MARKER
#: The fixture only the accuracy-against-the-base test asks for, and the name its leaving out is
#: said under.
VERSUS_BASE_ACCURACY_FIXTURE, VERSUS_BASE_ACCURACY = "ab_record_accuracy", "accuracy vs base"
LEFT_OUT = pytest.StashKey[dict[str, str]]()  # check name -> why, for the summary line
LEFT_OUT_TESTS = pytest.StashKey[int]()  # how many collected tests those checks were (the line says it)
#: Of LEFT_OUT, the checks of another kind of model (another task's, a reranker's): named, not explained
ANOTHER_KIND = pytest.StashKey[set[str]]()
ANY_FORMAT: tuple[NumberFormat, ...] = ("reference", "fp32", "fp16", "int8")


def check_of(item: pytest.Item) -> str | None:
    """The check a shipped accuracy test item runs, or None for any other test."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    params = params_of(item)
    return str(params["bound"]) if marker.args == ("bound",) and "bound" in params else str(marker.args[0])


def _switched_off(check: str, backend: str, session: GateSession) -> str | None:
    """Why `check` is off for `backend` under every bound it could be judged by, else None (a
    prebuilt file's number format is known only once built: each is tried)."""
    off = record(check).off
    if off is None:
        return None
    formats = ANY_FORMAT if backend.startswith(PREBUILT_PREFIX) else (None,)
    reasons = {off(bounds_for(backend, session.config.tolerances, task=session.model.task, number_format=f))
               for f in formats}
    return None if None in reasons else sorted(str(r) for r in reasons)[0]


def why_left_out(item: pytest.Item, session: GateSession) -> tuple[str, str, bool] | None:
    """(check, why, whether it is a check of another kind of model: another task's, a reranker's) when
    the item's check cannot apply to this session, else None."""
    check = check_of(item)
    if check is None:
        return None
    model, unsuited = session.model, record(check).unsuited
    why = not_applicable(model.task, check, session.labelled)
    kind = why is not None and why != NO_GOLD  # (its model's kind, not its texts' labels or a setting)
    if why is None and unsuited is not None:  # its model and texts: the texts read only where it could fit
        task, outputs = Task.of(model.task), len(model.label_names)
        paired, graded = session.config.pair_column is not None, session.config.relevant_grade is not None
        why = unsuited(task, outputs, paired, True, graded)
        kind = why is not None  # (what its texts hold, e.g. no query that repeats, is said with its reason)
        why = why or unsuited(task, outputs, paired, _first_texts_repeat(session), graded)
    backend = params_of(item).get("backend")
    if why is None and backend is not None:
        why = _switched_off(check, str(backend), session)
    return (check, why, kind) if why else None


def _first_texts_repeat(session: GateSession) -> bool:
    """Whether some query of the session's pairs holds several passages (a first text that repeats, or a
    reranking sample's: data.pairs.has_queries); True where the texts cannot be read yet (the tests then
    say why)."""
    try:
        queries = session.dataset.queries
    except GateError:
        return True
    return queries is None or has_queries(queries)


def leave_out(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remove the items whose check cannot apply; keep what was left out for the summary. A model
    that cannot be resolved yet leaves every item in place (its tests then fail or skip saying why)."""
    _leave_out_versus_base(config, items)
    if not any(item.get_closest_marker(MARKER) for item in items):
        return
    session: GateSession = config.stash[SESSION_KEY]
    try:
        session.model  # noqa: B018 - resolve it now (each backend's fixture would at its first test)
    except GateError:
        return
    left: dict[str, str] = {}
    kept: list[pytest.Item] = []
    twins = session.config.gap_twins()
    for item in items:
        check, backend = check_of(item), params_of(item).get("backend")
        if check is not None and backend is not None and record(check).not_for(str(backend), twins):
            continue  # a check of some rows only (the integer-path gap: saturating ones): not theirs, unsaid
        found = why_left_out(item, session)
        if found is None:
            kept.append(item)
        else:
            left.setdefault(found[0], found[1])
            if found[2]:
                config.stash.setdefault(ANOTHER_KIND, set()).add(found[0])
    if left:
        config.stash.setdefault(LEFT_OUT, {}).update(left)
    if len(kept) < len(items):
        config.stash[LEFT_OUT_TESTS] = config.stash.get(LEFT_OUT_TESTS, 0) + len(items) - len(kept)
        items[:] = kept


def _leave_out_versus_base(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --gate-base, the accuracy comparison with the base where none can apply to the model
    (a feature-extraction encoder): not collected, and said, as every check that does not fit the
    model's task. (Unlabelled texts are the user's to fix: that test still fails saying so.)"""
    base = config.stash.get(BASE_KEY, None)
    if base is None or not any(VERSUS_BASE_ACCURACY_FIXTURE in getattr(i, "fixturenames", ()) for i in items):
        return
    try:
        why = base.accuracy_not_applicable
    except GateError:
        return  # the model cannot be resolved yet: its tests say why
    if why:
        config.stash.setdefault(LEFT_OUT, {})[VERSUS_BASE_ACCURACY] = why
        kept = [i for i in items if VERSUS_BASE_ACCURACY_FIXTURE not in getattr(i, "fixturenames", ())]
        config.stash[LEFT_OUT_TESTS] = config.stash.get(LEFT_OUT_TESTS, 0) + len(items) - len(kept)
        items[:] = kept


def summary_line(config: pytest.Config) -> str | None:
    """One line: how many checks were left out and why, or None. The checks of other kinds of model
    (another task's, a reranker's) are named without their reasons, which `-v` adds: those
    reasons, said in every session, made a line of 700 characters of which a reader needs none."""
    left = config.stash.get(LEFT_OUT, None)
    if not left:
        return None
    session: GateSession = config.stash[SESSION_KEY]
    task = Task.of(session.model.task)
    another = config.stash.get(ANOTHER_KIND, set())
    others = [] if config.get_verbosity() > 0 else [c for c in left if c in another]
    groups: dict[str, list[str]] = {}  # one reason, its check's own name taken out, for several checks
    for check, why in left.items():
        if check not in others:
            groups.setdefault(why.removeprefix(f"{check} "), []).append(check)
    reasons = [f"{', '.join(checks)}: {why}" for why, checks in groups.items()]
    if others:
        reasons.append(f"{', '.join(others)}: checks of other kinds of model (-v says why)")
    tests = config.stash.get(LEFT_OUT_TESTS, 0)  # pytest counted them as collected: the line says how many
    return (f"encoder-gate: {len(left)} check(s) do not apply to this {task} model, or are "
            f"not configured, and were left out ({'; '.join(reasons)}): pytest counted their {tests} test"
            f"{'s' if tests != 1 else ''} as collected; they do not run")


def register_marker(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(name): the accuracy check a shipped test runs "
                                       "(`bound` for the parametrized ones)")
