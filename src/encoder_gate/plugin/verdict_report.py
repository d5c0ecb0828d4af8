"""A verdict that fails a session whose tests all passed, as one failed test report.

Some of the gate's checks are decided at the session's end, after every test passed: a PR's speed
cells against its base (Holm across the cells), the speed gate against its saved baseline, a
session that checked nothing, a finding of the gate. pytest's summary then said `N passed` beside
exit status 1, and the JUnit XML file that CI's test-report tools read (`--junitxml`) recorded no
failure: a green report beside a red job.

:func:`report_verdict_failure` hands pytest one failed report, :data:`VERDICT_NODEID`, through
its own hook (`pytest_runtest_logreport`), as a test's would be: the terminal counts it (`1 failed,
N passed`) and lists it in its short summary with the verdict's first reason, and the JUnit XML
file holds it as a failed test case with every reason. That file is written by pytest's own
`pytest_sessionfinish` before the gate decides (the gate's decision wraps every other part's
session end), so it is written again. A session whose own tests failed already says so; nothing is
added to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

#: The failed report's node id: JUnit XML's test case `verdict` of the class `encoder-gate`.
VERDICT_NODEID = "encoder-gate::verdict"


_HEAD = "the gate's verdict fails on what this session checked, though none of its tests failed:"


@dataclass(frozen=True)
class _Crash:
    """What pytest's short summary and JUnit XML's `message` read of a failure (`reprcrash`); `--tb=line`
    prints it whole."""

    message: str

    def __str__(self) -> str:
        return self.message


class VerdictFailure:
    """The failed report's long representation: the verdict's reasons, one per line."""

    def __init__(self, failures: list[str]) -> None:
        self.lines = [line for why in failures for line in str(why).splitlines()] or ["(no reason given)"]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        first = " ".join(str(failures[0]).split()) if failures else self.lines[0]  # its lines on one
        self.reprcrash = _Crash(f"the gate's verdict fails: {first}{more}")

    def toterminal(self, tw: Any) -> None:
        for line in str(self).splitlines():
            tw.line(line, red=True)

    def __str__(self) -> str:
        return "\n".join([_HEAD, *(f"  {line}" for line in self.lines)])


def report_verdict_failure(session: pytest.Session, failures: list[str]) -> None:
    """Hand pytest a failed report of the verdict's `failures` (a session whose tests passed),
    and write the JUnit XML file again where one is written."""
    config = session.config
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:  # the report's letter or line, on a line of its own after the tests'
        terminal.ensure_newline()
        cases = getattr(pytest.Config, "VERBOSITY_TEST_CASES", None)  # pytest 8.1 on: as it decides
        if (config.get_verbosity(cases) if cases else config.get_verbosity()) <= 0:
            terminal.write("encoder-gate verdict ")
    # every reporter (the terminal, JUnit XML, a third party's) hears it, not what a failed test
    # also tells the session (-x: stop after it), --sw (continue from it) or --lf (rerun it)
    listeners = config.pluginmanager.subset_hook_caller("pytest_runtest_logreport", [
        plugin for name in ("session", "stepwiseplugin", "lfplugin")
        if (plugin := config.pluginmanager.get_plugin(name)) is not None])
    location = ("encoder-gate", None, "verdict")
    # pytest's own representations are not public: one with what its summary and JUnit XML read of
    # them (`reprcrash.message`, `toterminal`, `str`)
    failed: Any = VerdictFailure(failures)
    session.testscollected += 1  # counted while it is reported: -v's progress reads [100%], not [150%]
    try:
        for report in (pytest.TestReport(VERDICT_NODEID, location, {}, "failed", failed, "call"),
                       pytest.TestReport(VERDICT_NODEID, location, {}, "passed", None, "teardown")):
            listeners(report=report)
    finally:
        session.testscollected -= 1
    if terminal is not None:
        terminal.ensure_newline()
    _write_junit_again(config)


def _write_junit_again(config: pytest.Config) -> None:
    """pytest's JUnit XML writer, where `--junitxml` made one, writes its file again with the
    verdict's report in it (it wrote it once before the verdict was decided)."""
    try:
        from _pytest.junitxml import xml_key  # pytest's own key of its writer, since pytest 7
    except ImportError:  # a pytest that moved it: the terminal and the exit status still say it
        return
    writer = config.stash.get(xml_key, None)
    if writer is not None:
        writer.pytest_sessionfinish()
