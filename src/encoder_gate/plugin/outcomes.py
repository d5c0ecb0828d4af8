"""What the session did, as its end says it: per backend the count of tests that checked something
and the reasons of skips (OutcomeCounter, registered by :mod:`encoder_gate.plugin.core`), the rule
that a session whose configured backends were all skipped, or one backend every test of which was,
checked nothing there (nothing_checked), and the verdict table the terminal ends with
(verdict_summary).
"""

from __future__ import annotations

from typing import Any

import pytest

from encoder_gate.backends.registry import split_integer_path
from encoder_gate.decision import WAIVER, Status
from encoder_gate.documents import VERDICT_FILE
from encoder_gate.plugin.stash import (
    BACKEND_PROPERTY,
    GATE_COLLECTED,
    NOT_ITS_FAIL,
    OUTCOMES,
    SESSION_KEY,
    VERDICT,
    skip_reason,
)
from encoder_gate.reporting.ab import BY_BASE_CRITERIA, CRITERIA_CHANGED, criteria_changed
from encoder_gate.reporting.markdown import flat
from encoder_gate.reporting.verdict import said_below, terminal_rows


class OutcomeCounter:
    """Counts, per backend, the tests that checked something and the reasons of skips.

    Registered in `pytest_configure`; under xdist the controller's instance sees every
    worker's reports. The counts live in the config's stash.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        backend = dict(report.user_properties).get(BACKEND_PROPERTY)
        if backend is None:
            return
        seen = self.config.stash[OUTCOMES].setdefault(str(backend), {"ran": 0, "skips": [], "seconds": 0.0})
        seen["seconds"] += report.duration  # setup, call and teardown: what the shard plan deals by
        if report.skipped and hasattr(report, "wasxfail"):  # a waived check: it ran, and failed as accepted
            seen["ran"] += 1
        elif report.skipped:
            seen["skips"].append(skip_reason(report))
        elif report.failed or (report.when == "call" and report.passed):
            seen["ran"] += 1


#: How nothing_checked begins when no backend's test ran: the terminal's section is then named so.
CHECKED_NOTHING = "every configured backend was skipped, so this session checked nothing"


def nothing_checked(outcomes: dict[str, dict[str, Any]], selected: bool = False) -> str | None:
    """Why the session checked nothing (every backend's tests skipped), or which configured backends
    it did not check (every test of theirs skipped while others ran: a PASS would say more than was
    checked), or None. Not the latter in a session that ran a selection of its tests (`selected`:
    `-k f1_above_floor` may leave a backend only checks its bounds switch off), nor for a twin
    NAME~PATH that skips (the verdict says which CPUs it was not judged for)."""
    if not outcomes:
        return None
    nothing = not any(o["ran"] for o in outcomes.values())
    if nothing and not any(o["skips"] for o in outcomes.values()):
        return None  # nothing ran and nothing skipped: stopped before its first test (that finding says so)
    skipped = {name: o for name, o in outcomes.items() if not o["ran"]
               and (nothing or (not selected and o["skips"] and split_integer_path(name)[1] is None))}
    if not skipped:
        return None
    reasons = [f"{name}: {next(iter(dict.fromkeys(o['skips'])), 'no test ran')}"
               for name, o in skipped.items()]
    head = (CHECKED_NOTHING if nothing else
            f"every test of {', '.join(skipped)} was skipped, so this session did not check "
            f"{'it' if len(skipped) == 1 else 'them'}")
    return (f"{head}:\n  " + "\n  ".join(reasons)
            + "\nFix the cause (device, missing package) or pass --gate-allow-skip to accept it.")


def verdict_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The last word: the verdict table, one row per backend, coloured as pytest colours outcomes."""
    verdict = config.stash.get(VERDICT, None)
    state = config.stash.get(SESSION_KEY, None)
    if verdict is None and state is not None and state.selection and config.stash.get(GATE_COLLECTED, False):
        terminalreporter.write_line(  # -k team_test, --lf of a team test: no check of the gate's ran
            f"encoder-gate: this selection ({state.selection}) ran none of the gate's checks and wrote no "
            "results, so it exits as its tests do; the verdict of the report directory "
            f"({state.config.report_dir / VERDICT_FILE}) stays decided by the results earlier sessions left "
            "there", yellow=True)
    if verdict is None:
        return
    word = "PASS" if verdict.passed else "FAIL"
    terminalreporter.section(f"encoder-gate verdict: {word}", green=verdict.passed, red=not verdict.passed,
                             bold=True)
    changed, by_base = criteria_changed(verdict.verdict)
    for head, lines in ((CRITERIA_CHANGED, changed), (BY_BASE_CRITERIA, by_base)):
        if lines:  # above the table: a PASS that holds by bounds the PR set itself
            terminalreporter.write_line(flat(head.replace("**", "") + ":"), yellow=True, bold=True)
            for line in lines:
                terminalreporter.write_line(flat(f"  {line}"), yellow=True)
    (header, _), *rows = terminal_rows(verdict)
    if rows:  # no row (nothing was evaluated): no table, the lines below say why
        terminalreporter.write_line(header)
    for (line, failed), backend in zip(rows, verdict.verdict.backends, strict=True):
        undecided = backend.status in (Status.NOT_RUN, Status.INCONCLUSIVE, Status.WAIVED)
        terminalreporter.write_line(flat(line), red=failed, yellow=undecided,
                                    green=not failed and not undecided)
    for caveat in verdict.caveats:  # a label's name or an error's text kept on its line
        terminalreporter.write_line(flat(caveat), yellow=True)
    for reason in verdict.verdict.failures:  # an expired waiver fails the session by itself
        if reason.check == WAIVER:
            terminalreporter.write_line(flat(reason.text), red=True)
    for why in said_below(verdict.verdict):  # a backend not checked, where its cell points here
        terminalreporter.write_line(flat(why), red=True)
    for stale in verdict.verdict.stale_waivers:
        terminalreporter.write_line(stale, yellow=True)
    outside = verdict.verdict.outside_the_checks
    if outside:
        terminalreporter.write_line("failed outside the checks:", red=True)
        for finding in outside:
            terminalreporter.write_line(flat(f"  {finding.describe()}"), red=True)
    if config.stash.get(NOT_ITS_FAIL, False):
        terminalreporter.write_line("this session's own tests and results pass, so it exits 0; the verdict "
                                    "fails on results or sessions it did not run (above): run those again "
                                    "to clear them", yellow=True)
    if state is not None:
        terminalreporter.write_line(f"(the whole verdict: {state.config.report_dir / VERDICT_FILE})")
