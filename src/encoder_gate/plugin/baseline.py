"""The baseline half of the plugin: `--gate-accuracy-baseline FILE` reads a baseline session's
accuracy.json (the base's `pytest accuracy` on the base's own requirements), each backend the two
sessions share is judged against the baseline's predictions of it (`test_accuracy_vs_baseline`),
and the session ends with baseline.json (:mod:`encoder_gate.results.baseline`) and the terminal's
lines.

Each test hands its result to its own report (`user_properties`), so the results reach the
process that writes the document, with or without pytest-xdist (as the vs-base tests do). Without
the option the tests are not collected; with it, a session whose baseline tests all skipped
compared nothing, and fails (unless --gate-allow-skip). For a model with no F1 (a feature-extraction
encoder) the comparison does not apply: not collected, and said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.documents import ACCURACY_FILE
from encoder_gate.errors import GateError
from encoder_gate.plugin.stash import (
    BASELINE_BACKEND,
    BASELINE_BACKEND_PROPERTY,
    SESSION_KEY,
    TaggedReports,
    fail_gate,
    not_collected_without,
    tag_items,
    write_results,
)
from encoder_gate.results.baseline import BASELINE_FILE, baseline_payload, lines
from encoder_gate.runtime.baseline import AccuracyBaseline
from encoder_gate.runtime.session import GateSession

BASELINE_KEY = pytest.StashKey[AccuracyBaseline]()
RESULT_PROPERTY = "encoder_gate_baseline_result"  # its accuracy entry
OPTION = "--gate-accuracy-baseline"


class BaselineResults(TaggedReports):
    """The baseline tests' results, read from their reports (also from xdist workers)."""

    tag = BASELINE_BACKEND_PROPERTY

    def __init__(self) -> None:
        super().__init__()
        self.accuracy: dict[str, dict[str, Any]] = {}
        self.left_out: str | None = None  # why none was collected (the model has no F1)

    def take(self, backend: str, props: dict[str, Any]) -> None:
        if RESULT_PROPERTY in props:
            self.accuracy[backend] = props[RESULT_PROPERTY]

    def nothing_compared(self) -> str | None:
        """Why this session compared nothing with the baseline though it was given one, or None."""
        if self.accuracy or self.failed or self.left_out:
            return None
        reasons = "\n  ".join(dict.fromkeys(self.skips)) or "no baseline test ran (deselected?)"
        return (f"{OPTION} was given, but no backend was compared with the baseline:\n  {reasons}\n"
                "Fix the cause or pass --gate-allow-skip to accept it.")


RESULTS = pytest.StashKey[BaselineResults]()


def open_baseline(config: pytest.Config, session: GateSession) -> None:
    """Read the baseline now, so a wrong file is a usage error before anything runs."""
    given = config.getoption("gate_accuracy_baseline", None)
    if given is None:
        return
    path = Path(given) / ACCURACY_FILE if Path(given).is_dir() else Path(given)  # a report directory: its own
    try:
        config.stash[BASELINE_KEY] = AccuracyBaseline.open(path, session)
    except GateError as exc:
        raise pytest.UsageError(f"encoder-gate: {exc}") from None
    results = BaselineResults()
    config.stash[RESULTS] = results
    config.pluginmanager.register(results, "encoder-gate-baseline-results")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
    """Without --gate-accuracy-baseline, a baseline test is not collected: it has nothing to compare."""
    return not_collected_without(collector, name, obj, BASELINE_KEY, (BASELINE_BACKEND,))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if BASELINE_BACKEND in metafunc.fixturenames:
        baseline = metafunc.config.stash.get(BASELINE_KEY, None)
        names = list(baseline.pairs) if baseline is not None else []
        metafunc.parametrize(BASELINE_BACKEND, names, ids=names)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each baseline test tagged with its backend; none kept where no F1 can be compared (said)."""
    baseline = config.stash.get(BASELINE_KEY, None)
    if baseline is None:
        return
    try:
        why = baseline.accuracy_not_applicable
    except GateError:
        why = None  # the model cannot be resolved yet: its tests say why
    if why:
        config.stash[RESULTS].left_out = why
        items[:] = [i for i in items if BASELINE_BACKEND not in getattr(i, "fixturenames", ())]
    tag_items(items, BASELINE_BACKEND, BASELINE_BACKEND_PROPERTY)


@pytest.fixture(scope="session")
def gate_accuracy_baseline(pytestconfig: pytest.Config) -> AccuracyBaseline:
    """The baseline session's side of a `--gate-accuracy-baseline` session."""
    baseline: AccuracyBaseline | None = pytestconfig.stash.get(BASELINE_KEY, None)
    if baseline is None:
        pytest.skip(f"no {OPTION} given")
    return baseline


@pytest.fixture
def baseline_record(request: pytest.FixtureRequest) -> Any:
    """Keep one backend's accuracy against the baseline for baseline.json (on the test's report)."""

    def record(entry: dict[str, Any]) -> None:
        plain = json.loads(json.dumps(entry, default=float))  # as a report property must be
        request.node.user_properties.append((RESULT_PROPERTY, plain))

    return record


def finish(session: pytest.Session) -> None:
    """Write baseline.json (its failures fail the session through the verdict); a session that
    compared nothing fails, unless --gate-allow-skip."""
    config = session.config
    baseline: AccuracyBaseline | None = config.stash.get(BASELINE_KEY, None)
    gate: GateSession | None = config.stash.get(SESSION_KEY, None)
    if baseline is None or gate is None or hasattr(config, "workerinput"):
        return
    results = config.stash[RESULTS]
    why = results.nothing_compared()
    if why and not config.getoption("gate_allow_skip", False):
        fail_gate(config, why)
    if not results.accuracy:
        return
    write_results(config, BASELINE_FILE, baseline_payload(baseline, results.accuracy))
    gate.progress(f"PR vs baseline: {Path(gate.config.report_dir) / BASELINE_FILE}")


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results: BaselineResults | None = config.stash.get(RESULTS, None)
    baseline: AccuracyBaseline | None = config.stash.get(BASELINE_KEY, None)
    if results is None or baseline is None:
        return
    terminalreporter.section("encoder-gate: this session against the baseline")
    if results.left_out:
        terminalreporter.write_line(f"not compared, the comparison does not apply: {results.left_out}")
    if why := results.nothing_compared():
        terminalreporter.write_line(f"encoder-gate: {why}", red=True, bold=True)
    if results.accuracy:
        for line in lines(baseline_payload(baseline, results.accuracy)):
            bad = line.endswith(": lost")
            terminalreporter.write_line(line, red=bad, bold=bad)
