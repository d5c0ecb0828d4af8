"""The verdict, decided once: per backend a status with its reasons, and the session's status.

Every pass/fail of a gate session is decided here, from the session's results documents
(accuracy.json, speedups.json, ab.json: whatever of them belong to one model and dataset, see
:func:`encoder_gate.documents.belonging`) and the criteria they carry (each check's bound, the
speed rule, the A/B's settings). Reporting renders a :class:`Verdict` and never decides; the
plugin sets the exit status from what was found; `encoder-gate verdict` prints the same verdict.
This module imports nothing from ``reporting`` or ``plugin`` (an import-linter contract holds it).

The path of one verdict (docs/development.md): results -> :func:`decide_documents` -> documents
(verdict.json beside verdict.md) -> rendering -> exit status.

The checks themselves judge their observations against their bounds where they are defined
(:func:`encoder_gate.accuracy.checks.judge_all`, the speed rules, :func:`encoder_gate.speed.ab.decide_cell`);
this module joins those outcomes into the one verdict: which backend they fail, with what reason,
and whether the session fails.
"""

from __future__ import annotations

import socket
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from encoder_gate.accuracy.per_label import FAILURES_DESCRIBED
from encoder_gate.backends.registry import REFERENCE_BACKEND, names_of_row
from encoder_gate.decision.types import (
    NOT_EVALUATED,
    NOTHING_JUDGED,
    SPEED,
    VERSUS_BASE,
    WAIVER,
    BackendVerdict,
    Finding,
    Reason,
    SpeedCell,
    Status,
    Verdict,
)
from encoder_gate.decision.waiving import (
    LABELLED_CHECK,
    covering_waiver,
    marked,
    stale_waivers,
    waivers_of,
)
from encoder_gate.documents import (
    AB_FILE,
    ACCURACY_FILE,
    FINDINGS_FILE,
    SPEEDUPS_FILE,
    VERDICT_JSON,
    Reading,
    belonging,
    read_document,
    readings,
    results_documents,
)
from encoder_gate.environment import oom_since
from encoder_gate.errors import GateError
from encoder_gate.processes import still_running
from encoder_gate.speed.ab import ABSettings, CellDecision, decide_cell, wilcoxon_slower_p
from encoder_gate.statistics import holm_levels

#: The gate's own results documents, which this module reads itself (a user's are read by their
#: Reading: encoder_gate.documents.register).
OWN = (ACCURACY_FILE, SPEEDUPS_FILE, AB_FILE, FINDINGS_FILE)


def findings_of(findings: Mapping[str, Any] | None, left_out: Collection[str] = ()) -> list[Finding]:
    """The findings of the sessions of these results (findings.json keeps each session's under the
    documents it wrote or should have written, and a session that had none under ``unwritten``),
    but for the documents `left_out` of the verdict (there, of other results than those judged)."""
    if not findings:
        return []
    by_document = findings.get("by_document") or {}
    seen: list[Finding] = []
    for name, found in by_document.items():
        if name not in left_out:
            seen += [Finding.from_json(f) for f in found or []]
    seen += [Finding.from_json(f) for f in findings.get("unwritten") or []]
    seen += [Finding("gate", reason) for reason in unfinished(findings)]
    return list(dict.fromkeys(seen))


def unfinished(findings: Mapping[str, Any] | None) -> list[str]:
    """findings.json's sessions that have not reached their end (plugin.stash.mark_running), each
    as the reason it fails the verdict."""
    out = []
    for run in ((findings or {}).get("running") or {}).values():
        command, started, pid = run.get("command"), run.get("started"), run.get("pid")
        memory = _oom_kill_sincemarked(run)
        out.append("a session of this model has not finished (still running, or killed or crashed before "
                   f"its end): `{command}`, started {started}, pid {pid}; this verdict does not cover it; "
                   + (f"{memory}, most likely it, so a rerun ends the same: give the runner more memory"
                      if memory else "run it again"))
    return out


def _oom_kill_sincemarked(run: Mapping[str, Any]) -> str | None:
    """Where a session that never reached its end ran on this host, is gone, and the out-of-memory
    killer's count in this runner's cgroups rose since it began (the count its marker kept): that, in
    words with the runner's memory limit. In CI that session's step ended with "Killed" (exit 137)
    and no line of the gate's."""
    kills, pid = run.get("oom_kills"), str(run.get("pid"))
    if (not isinstance(kills, int) or run.get("host") != socket.gethostname()
            or still_running(pid, run.get("started"))):
        return None
    under = oom_since(kills)
    return None if under is None else (
        f"the kernel's out-of-memory killer has ended a process of this runner since it began{under}")






# --- the accuracy half ---------------------------------------------------------------------------


def accuracy_status(checks: Mapping[str, Mapping[str, Any]]) -> Status:
    """A backend's accuracy status from its judged checks (accuracy.json's per-backend ``verdict``)."""
    return Status.PASS if all(c["passed"] for c in checks.values()) else Status.FAIL


def _failing_labels(row: Mapping[str, Any]) -> str:
    """`` (joy: F1 0.744 -> 0.500, support 53; ...)`` for a row's failing labels, the
    FAILURES_DESCRIBED of most positives (per_label.most_positives_first's order), the rest counted,
    else ''."""
    bad = sorted((lab for lab in row.get("per_label") or [] if lab.get("verdict") == "fail"),
                 key=lambda lab: -int(lab.get("support") or 0))
    if not bad:
        return ""
    rest = len(bad) - FAILURES_DESCRIBED
    return (" (" + "; ".join(f"{lab['label']}: F1 {lab['f1_ref']:.3f} -> {lab['f1']:.3f}, support "
                             f"{lab['support']}" for lab in bad[:FAILURES_DESCRIBED])
            + (f"; and {rest} more, in accuracy.md" if rest > 0 else "") + ")")


def _check_reasons(name: str, row: Mapping[str, Any]) -> list[Reason]:
    out = []
    for check, r in (row.get("checks") or {}).items():
        if not r["passed"]:
            text = (f"{name}: {check} = {r['observed']:.6g}, bound {r['direction']} {r['bound']:.6g}"
                    + _failing_labels(row if check == LABELLED_CHECK else {}))
            out.append(Reason(check, text, r["observed"], r["bound"], r["direction"]))
    return out


# --- the speed half: speedups over torch eager against a saved baseline ---------------------------


def speed_failures(speedups: Mapping[str, Any] | None) -> dict[str, list[Reason]]:
    """The speed failures of a speedups.json, per backend: the speed rule's failed cells (``gate``)
    and pytest-benchmark's --benchmark-compare-fail regressions (``compare``), each a structured
    record naming its backend and case (``?`` for a regression of no encoder-gate benchmark, or a
    line of a speedups.json written before the records)."""
    if not speedups:
        return {}
    failures: dict[str, list[Reason]] = {}
    for rec in (speedups.get("gate") or {}).get("failures") or []:
        if isinstance(rec, str):  # an older speedups.json: a line, owner unknown
            failures.setdefault("?", []).append(Reason(SPEED, rec))
            continue
        failures.setdefault(str(rec.get("backend") or "?"), []).append(
            Reason(SPEED, str(rec["text"]), rec.get("observed"), rec.get("bound"), "at least"))
    for rec in (speedups.get("compare") or {}).get("regressions") or []:
        text, owner = ((rec, "?") if isinstance(rec, str)
                       else (str(rec["text"]), str(rec.get("backend") or "?")))
        failures.setdefault(owner, []).append(
            Reason(SPEED, f"{text} (pytest-benchmark --benchmark-compare-fail)"))
    return failures


def _speed_session_failures(speedups: Mapping[str, Any] | None, rule_waived: bool = False) -> list[str]:
    """What fails speedups.json as a whole: its speed rule's failures and a compare-fail's regressions
    (unless `rule_waived`: every backend that failed them is waived), a gate against a baseline that
    compared nothing."""
    gate = (speedups or {}).get("gate") or {}
    compare = (speedups or {}).get("compare") or {}
    out = []
    if gate.get("failures") and not rule_waived:
        out.append(f"speed: the speedups fail their rule against {gate.get('baseline')}")
    if "compared" in gate and not gate["compared"]:  # a gate asked for that checked nothing never passes
        out.append(f"speed: nothing was compared against {gate.get('baseline')}: no cell of it measured "
                   "what this run did (another case, backend or work; the warnings say which)")
    if compare.get("regressions") and not rule_waived:
        out.append("speed: pytest-benchmark's --benchmark-compare-fail found a regression")
    return out


# --- the PR against its base ----------------------------------------------------------------------




def decide_cells(cells: list[SpeedCell], settings: ABSettings) -> list[CellDecision]:
    """Every timed cell judged on all its rounds at its Holm-adjusted level (one family: the
    session's timed cells), split over the looks as each look was; an unchanged cell (not timed,
    see :func:`encoder_gate.speed.ab.same_work`) is no test and stays out of the family."""
    timed = [c for c in cells if c.cell.unchanged is None and c.cell.rounds >= 2]
    levels = iter(holm_levels([wilcoxon_slower_p(c.cell.log_ratios) for c in timed], settings.alpha))
    out = []
    for c in cells:
        if c.cell.unchanged is not None:
            out.append(CellDecision.unchanged(c.cell.unchanged, settings.alpha))
            continue
        if c.cell.rounds < 2:  # not timed (its budget could not reach its first look): no test, no level
            out.append(CellDecision(status="inconclusive", ratio=1.0, ci=(1.0, 1.0), p_value=1.0,
                                    alpha=settings.alpha, mde=None, rounds=c.cell.rounds, rounds_needed=None,
                                    reason=c.cell.stopped or "not timed"))
            continue
        decision = decide_cell(c.cell.log_ratios, settings, settings.per_look(next(levels)))
        out.append(decision.stopped(c.cell.stopped) if c.cell.stopped else decision)
    return out


def cell_fails(decision: CellDecision, settings: ABSettings) -> bool:
    """Whether a decided cell fails the session (an inconclusive one only with `inconclusive = fail`)."""
    undecided_fails = decision.status == "inconclusive" and settings.inconclusive == "fail"
    return decision.status == "fail" or undecided_fails


def versus_base_failures(ab: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per backend, what fails it against the base in an ab.json: its accuracy change, its speed cells."""
    fails: dict[str, list[str]] = {}
    for name, a in (ab.get("accuracy") or {}).items():
        if not a.get("passed", True):
            fails.setdefault(name, []).append("accuracy vs base: " + str(a.get("failure", "")).split("\n")[0])
    for c in ab.get("speed") or []:
        if c["status"] != "unchanged" and c.get("fails"):
            fails.setdefault(c["backend"], []).append(
                f"speed vs base {c['case']}: {c['describe']} ({c['clock']} clock decided)")
    return fails


def _undecided(ab: Mapping[str, Any] | None) -> set[str]:
    """Backends with a speed cell vs base that could not decide and does not fail (``warn``)."""
    return {c["backend"] for c in (ab or {}).get("speed") or []
            if c["status"] == "inconclusive" and not c.get("fails")}


# --- the verdict ----------------------------------------------------------------------------------


def decide_documents(accuracy: Mapping[str, Any] | None, speedups: Mapping[str, Any] | None,
                     ab: Mapping[str, Any] | None = None, current: Mapping[str, Any] | None = None,
                     findings: Mapping[str, Any] | None = None,
                     others: Mapping[str, Mapping[str, Any] | None] | None = None,
                     today: date | None = None, findings_required: bool = False) -> Verdict:
    """The verdict of an accuracy.json, a speedups.json and an ab.json document (any may be None),
    and of the user's registered results documents (`others`, by name: each judged by its
    Reading), joining only those whose provenance matches `current`'s model and dataset (the
    session that just ran; without one, the newest document's), and the findings.json of their
    sessions: a failed test, a collection error or a gate finding fails the verdict, whatever the
    documents say. What is left out is said, and why; with nothing left, there is no verdict (a
    GateError that says what to run)."""
    theirs = readings()
    unknown = sorted(set(others or {}) - set(theirs))
    if unknown:
        raise GateError(f"{', '.join(unknown)}: not a registered results document (encoder_gate.documents."
                        "register, or its package's encoder_gate.documents entry point)")
    docs = {ACCURACY_FILE: accuracy, SPEEDUPS_FILE: speedups, AB_FILE: ab, FINDINGS_FILE: findings,
            **(others or {})}
    if all(d is None for d in docs.values()):
        raise GateError("no results to judge: run `pytest accuracy` and/or `pytest benchmarks` first "
                        "(they write accuracy.json and speedups.json into the report directory)")
    kept, left_out = belonging(docs, current)
    if not kept:
        raise GateError("no results of this model and dataset to judge:\n  " + "\n  ".join(left_out))
    accuracy, speedups, ab = kept.get(ACCURACY_FILE), kept.get(SPEEDUPS_FILE), kept.get(AB_FILE)
    not_joined = [n for n, d in docs.items() if d is not None and n not in kept]  # other results' findings
    found = tuple(findings_of(kept.get(FINDINGS_FILE), not_joined))
    if findings_required and FINDINGS_FILE not in kept:  # every session writes it beside its results
        found += (Finding("gate", "findings.json of these results is missing (every session writes it beside "
                                  "them): what failed their sessions outside the checks is unknown; copy the "
                                  "whole report directory, or run the sessions again"),)
    waivers, today = waivers_of(kept.get(FINDINGS_FILE)), today or date.today()
    expired = [w for w in waivers if w.days_left(today) < 0]
    rows = dict((accuracy or {}).get("backends") or {})
    not_evaluated = dict((accuracy or {}).get("not_evaluated") or {})
    order = list((accuracy or {}).get("configured_backends") or [])
    slow = speed_failures(speedups)
    versus = versus_base_failures(ab) if ab is not None else {}
    timed, against_base = _speedup_order(speedups), _vs_base_order(ab)
    for name in [*rows, *not_evaluated, *timed, *(n for n in slow if n != "?"), *against_base, *versus]:
        if name not in order:
            order.append(name)
    extra, theirs_judged = _their_reasons({n: d for n, d in kept.items() if n in theirs}, theirs)
    judged_by_theirs = list(dict.fromkeys(b for b, _ in theirs_judged))
    for name in judged_by_theirs:
        if name not in order:
            order.append(name)
    undecided = _undecided(ab)
    vs_base = set(against_base)
    checked = {name: _check_reasons(name, row or {}) for name, row in rows.items()}

    def names(backend: str) -> tuple[str, ...]:  # what a waiver of this backend's row may name
        return names_of_row(backend, (rows.get(backend) or {}).get("integer_path"))

    backends: list[BackendVerdict] = []
    marks: dict[Reason, Reason] = {}  # a failing backend's reasons, each marked waived or not
    for name in order:
        row = rows.get(name)
        checks = (row or {}).get("checks") or {}
        bad = [c for c, r in checks.items() if not r["passed"]]
        theirs_failed = extra.get(name, [])
        reasons = [*checked.get(name, []),
                   *slow.get(name, []),
                   *(Reason(VERSUS_BASE, line) for line in versus.get(name, [])),
                   *theirs_failed]
        if row is None and name in not_evaluated:
            backends.append(BackendVerdict(name, Status.NOT_CHECKED, (NOT_EVALUATED,),
                                           (Reason(NOT_EVALUATED, f"{name}: {not_evaluated[name]}"),),
                                           error=not_evaluated[name]))
        elif bad or name in slow or name in versus or theirs_failed:
            failed = (*bad, *([SPEED] if name in slow else []), *([VERSUS_BASE] if name in versus else []),
                      *dict.fromkeys(r.check for r in theirs_failed))
            accepted = [covering_waiver(waivers, name, r.check, today, r.observed, r.direction,
                                        _failing_label_names(row or {}) if r.check == LABELLED_CHECK else (),
                                        names(name))
                        for r in reasons]
            if reasons and all(accepted):
                backends.append(BackendVerdict(name, Status.WAIVED, failed, tuple(reasons),
                                               waivers=tuple(dict.fromkeys(w for w in accepted if w))))
            else:  # each reason says whether a waiver accepts it, or why the waiver of its check does not
                for r, w in zip(reasons, accepted, strict=True):
                    marks[r] = marked(r, w, waivers, names(name), today)
                backends.append(BackendVerdict(name, Status.FAIL, failed, tuple(marks[r] for r in reasons),
                                               waivers=tuple(dict.fromkeys(w for w in accepted if w))))
        elif name in undecided:
            backends.append(BackendVerdict(name, Status.INCONCLUSIVE, scope=_scope(row, name, vs_base)))
        elif ((row is None or (not checks and name != REFERENCE_BACKEND)) and name not in vs_base
              and name not in timed and name not in judged_by_theirs):  # no row, or one no check judged
            backends.append(BackendVerdict(name, Status.NOT_RUN))
        elif row is None:
            backends.append(BackendVerdict(name, Status.PASS, scope=_scope(row, name, vs_base)))
        elif name == REFERENCE_BACKEND:
            backends.append(BackendVerdict(name, Status.REFERENCE))
        else:
            backends.append(BackendVerdict(name, Status.PASS))

    waived = {b.name for b in backends if b.status is Status.WAIVED}
    # a backend that could not be built or run, first: why, in full (its table cell may only point here)
    failures = [r for b in backends if b.status is Status.NOT_CHECKED for r in b.reasons]
    failures += [marks.get(r, r) for name, reasons in slow.items() if name not in waived for r in reasons]
    failures += [Reason(VERSUS_BASE, f"{name}: {line}") for name, lines in versus.items()
                 if name not in waived for line in lines]
    failures += [marks.get(r, r) for name, reasons in checked.items() if name not in waived for r in reasons]
    failures += [marks.get(r, r) for name, reasons in extra.items() if name not in waived for r in reasons]
    # an expired waiver fails the verdicts that judge its backend: a shard or a selection without it
    # (every shard of a matrix went red for one backend) leaves it to the one that does, or the merge
    judged = {b.name for b in backends if b.status is not Status.NOT_RUN}
    failures += [Reason(WAIVER, f"the waiver of {w.names()} by {w.owner} expired on {w.until} ({w.reason}): "
                                "renew it with a new `until`, or remove it")
                 for w in expired if w.backend in judged]
    # a waived backend's speed rule fails speedups.json as a whole too: that is waived with it (and only
    # that: a waiver of one backend's drift had passed a gate against a baseline that compared nothing)
    session = _speed_session_failures(speedups, rule_waived=bool(slow) and all(n in waived for n in slow))
    session += [r.text for r in failures if r.check == WAIVER]
    if all(b.status is Status.NOT_RUN for b in backends):  # a gate that checked nothing never passes
        nothing = Reason(NOTHING_JUDGED, f"nothing was judged: {', '.join(kept)} hold"
                                         f"{'s' if len(kept) == 1 else ''} no result of any backend; re-run "
                                         "`pytest accuracy` and/or `pytest benchmarks`")
        failures.append(nothing)
        session.append(nothing.text)
    passed = not session and not found and all(b.status not in (Status.FAIL, Status.NOT_CHECKED)
                                               for b in backends)
    stale = stale_waivers(waivers, today, backends, rows, timed, against_base, slow, versus,
                           theirs_judged, names,
                           ((accuracy or {}).get("integer_paths") or {}).get("target_paths") or ())
    sources, read = _written(kept), _written(docs)
    missing = tuple(name for name in (ACCURACY_FILE, SPEEDUPS_FILE) if docs[name] is None)
    devices = {**((speedups or {}).get("devices") or {}),
               **{n: r["device"] for n, r in rows.items() if (r or {}).get("device")}}
    backends = [replace(b, integer_path=(rows.get(b.name) or {}).get("integer_path"),
                        device=devices.get(b.name)) for b in backends]
    paths = {k: v for k, v in ((accuracy or {}).get("integer_paths") or {}).items() if k != "how"}
    return Verdict(passed=passed, backends=tuple(backends), failures=tuple(failures),
                   session_failures=tuple(session), left_out=tuple(left_out), sources=sources, read=read,
                   missing=missing, judged=kept, findings=found, stale_waivers=tuple(stale),
                   decided_on=today, integer_paths=paths)


def _their_reasons(docs: Mapping[str, Mapping[str, Any]], theirs: Mapping[str, Reading]
                   ) -> tuple[dict[str, list[Reason]], list[tuple[str, str]]]:
    """Per backend, the failures the user's results documents find (by each one's Reading), and
    every (backend, check) they judged, in their order: a reason of a check its Reading does not
    declare, or a judge that fails, is a GateError naming the document."""
    failed: dict[str, list[Reason]] = {}
    judged: list[tuple[str, str]] = []
    for name, doc in docs.items():
        reading = theirs[name]
        try:
            verdicts = reading.judge(doc)
        except Exception as exc:  # the user's code: say whose, never a traceback from inside it
            raise GateError(f"{name} could not be judged by its Reading: {type(exc).__name__}: {exc}"
                            ) from None
        for backend, reasons in verdicts.items():
            for r in reasons:
                if not isinstance(r, Reason) or r.check not in reading.checks:
                    raise GateError(f"{name}'s Reading judged {backend} with {r!r}: each failure is a Reason "
                                    f"of one of its checks ({', '.join(reading.checks)})")
            judged += [(str(backend), c) for c in reading.checks]
            if reasons:
                failed.setdefault(str(backend), []).extend(reasons)
    return failed, judged


def read_results(report_dir: Path) -> dict[str, dict[str, Any] | None]:
    """The report directory's results documents (the gate's and the registered ones), None for each
    one absent."""
    return {name: read_document(report_dir, name) for name in results_documents()}


def decide_results(docs: Mapping[str, Mapping[str, Any] | None],
                   current: Mapping[str, Any] | None = None) -> Verdict:
    """The verdict of results documents (read_results') that belong to `current`."""
    return decide_documents(docs.get(ACCURACY_FILE), docs.get(SPEEDUPS_FILE), docs.get(AB_FILE),
                            current=current, findings=docs.get(FINDINGS_FILE),
                            others={n: d for n, d in docs.items() if n not in OWN}, findings_required=True)


def decide_report_dir(report_dir: Path, current: Mapping[str, Any] | None = None) -> Verdict:
    """The verdict of the report directory's results documents that belong to `current`."""
    return decide_results(read_results(report_dir), current)


def refused(why: str) -> Verdict:
    """The verdict of documents that could not be joined at all (shards that do not make one
    session): a failure of the gate itself, judged on nothing."""
    return Verdict(passed=False, backends=(), failures=(), session_failures=(why,), left_out=(),
                   sources={}, missing=(ACCURACY_FILE, SPEEDUPS_FILE), findings=(Finding("gate", why),))


def is_current(verdict_doc: Mapping[str, Any] | None, docs: Mapping[str, Mapping[str, Any] | None]) -> bool:
    """Whether a verdict.json was decided from exactly these results documents (read_results'),
    joined or left out: the same ones, written at the same times (each one's provenance ``written``;
    a verdict.json before `read`: those it joined)."""
    now = _written(docs)
    decided_from = verdict_doc.get("read") or verdict_doc.get("sources") if verdict_doc is not None else None
    return bool(now) and decided_from == now


def _written(docs: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """When each document there was written (its provenance's ``written``), by name."""
    return {name: str((doc.get("provenance") or {}).get("written", "?")) for name, doc in docs.items()
            if doc is not None}


def decided(report_dir: Path) -> Verdict:
    """The verdict of `report_dir` as it stands: verdict.json as the last session decided it, when
    it judged every results document there now (the same documents, written at the same times), so
    what reads a verdict after its session (history, `encoder-gate verdict`) never decides twice;
    decided here from the documents only when there is none, or they changed since (a session that
    ended before deciding, documents copied by hand)."""
    docs = read_results(report_dir)  # each read once, whether decided here or not
    doc = read_document(report_dir, VERDICT_JSON)
    if doc is None or not is_current(doc, docs):
        return decide_results(docs)
    joined = doc.get("sources") or {}  # what it judged, not what it left out (another commit's ab.json was
    # held to the history's commit: "run the gate at HEAD first", right after a gate at HEAD)
    try:
        return Verdict.from_json(doc, {n: d for n, d in docs.items() if d is not None and n in joined})
    except (KeyError, ValueError, TypeError) as exc:
        raise GateError(f"{Path(report_dir) / VERDICT_JSON} cannot be read ({exc!r}); run "
                        "`encoder-gate verdict` to decide it again") from None


def _failing_label_names(row: Mapping[str, Any]) -> list[str]:
    return [str(lab["label"]) for lab in row.get("per_label") or [] if lab.get("verdict") == "fail"]


#: The results document each finding comes from: the speed rules' from speedups.json, the
#: comparison with the base's from ab.json, every accuracy check's (and a backend not evaluated)
#: from accuracy.json.
_DOCUMENT_OF = {SPEED: SPEEDUPS_FILE, VERSUS_BASE: AB_FILE}


def failures_from(verdict: Verdict, documents: Collection[str]) -> list[str]:
    """The verdict's failures that come from `documents` (the results a session wrote), one line
    each: the failed checks of each failing or unchecked backend, then speedups.json's own (a
    speed gate or compare that failed as a whole). A session fails on these and on nothing older:
    verdict.md also shows an earlier session's results of the same model, which its own session
    already judged."""
    document_of = {**_DOCUMENT_OF, **{c: name for name, r in readings().items() for c in r.checks}}
    out = [f"{b.name}: {check}" for b in verdict.backends if b.status in (Status.FAIL, Status.NOT_CHECKED)
           for check in b.failed if document_of.get(check, ACCURACY_FILE) in documents]
    # the session's own: an expired waiver (its configuration's) and nothing judged fail whichever
    # session decides them; a speed gate that failed as a whole, the session that wrote speedups.json
    own = [r.text for r in verdict.failures if r.check in (WAIVER, NOTHING_JUDGED)]
    out += own
    if SPEEDUPS_FILE in documents:
        out += [s for s in verdict.session_failures if s not in own]
    return out


def _scope(row: Mapping[str, Any] | None, name: str, vs_base: set[str]) -> str:
    if row is not None:
        return ""
    return "vs base only" if name in vs_base else "speed only"


def _speedup_order(speedups: Mapping[str, Any] | None) -> list[str]:
    """The backends with a speedup, in the order the verdict's table lists them (by case, then
    as each case lists them)."""
    out: list[str] = []
    for _case, row in sorted(((speedups or {}).get("speedups") or {}).items()):
        out += [b for b in row if b not in out]
    return out


def _vs_base_order(ab: Mapping[str, Any] | None) -> list[str]:
    """The backends with a figure against the base, accuracy first, in the order ab.json lists them."""
    if ab is None:
        return []
    out = [n for n, a in (ab.get("accuracy") or {}).items() if a.get("delta") is not None]
    return out + [c["backend"] for c in ab.get("speed") or [] if c["backend"] not in out]
