"""The PR-vs-base half of the plugin: `--gate-base DIR` opens the base, the vs-base tests run, and
the session ends with their decisions (Holm across the speed cells) in ab.json and the terminal.

Without `--gate-base` the vs-base tests are not collected at all (no count, no skip line). With
it, pytest-benchmark's own
benchmarks are deselected too: the A/B answers "is this PR slower than its base" within one
session, and a saved run (`--benchmark-compare`) is for history, run without `--gate-base`.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from encoder_gate.errors import GateError
from encoder_gate.plugin.stash import BASE_KEY, SESSION_KEY
from encoder_gate.reporting.ab import (
    SpeedCell,
    ab_payload,
    ab_settings,
    decide_cells,
    failed,
    speed_entry,
    summary_lines,
    write_ab,
)
from encoder_gate.runtime.base import BaseSide
from encoder_gate.runtime.session import GateSession

AB_FIXTURES = ("ab_backend",)
SPEED_CELLS = pytest.StashKey[list[SpeedCell]]()
ACCURACY = pytest.StashKey[dict[str, dict[str, Any]]]()
AB_FAILED = pytest.StashKey[list[str]]()
AB_LINES = pytest.StashKey[list[tuple[str, bool]]]()


def open_base(config: pytest.Config, session: GateSession) -> None:
    """Read the base's checkout now, so a wrong --gate-base is a usage error before anything runs."""
    if session.config.base is None:
        return
    try:
        config.stash[BASE_KEY] = BaseSide.open(session.config.base, session)
    except GateError as exc:
        raise pytest.UsageError(f"encoder-gate: {exc}") from None
    config.stash[SPEED_CELLS] = []
    config.stash[ACCURACY] = {}


def takes_ab_fixtures(obj: object) -> bool:
    """Whether a test function asks for a vs-base fixture."""
    try:
        params = inspect.signature(obj).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return any(name in params for name in AB_FIXTURES)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
    """Without --gate-base, a vs-base test is not collected: it has nothing to compare."""
    if BASE_KEY in collector.config.stash or not callable(obj) or not name.startswith("test"):
        return None
    return [] if takes_ab_fixtures(obj) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ab_backend" in metafunc.fixturenames:
        base = metafunc.config.stash.get(BASE_KEY, None)
        names = list(base.pairs) if base is not None else []
        metafunc.parametrize("ab_backend", names, ids=names)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --gate-base, pytest-benchmark's benchmarks are deselected (the A/B answers the PR)."""
    if BASE_KEY not in config.stash:
        return
    dropped = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(map(id, dropped))
        items[:] = [item for item in items if id(item) not in gone]


@pytest.fixture(scope="session")
def gate_base(pytestconfig: pytest.Config) -> BaseSide:
    """The base's side of a `--gate-base` session."""
    base: BaseSide | None = pytestconfig.stash.get(BASE_KEY, None)
    if base is None:
        pytest.skip("no --gate-base given")
    return base


@pytest.fixture
def ab_record_accuracy(pytestconfig: pytest.Config) -> Any:
    """Keep one backend's accuracy against the base for ab.json."""

    def record(name: str, entry: dict[str, Any]) -> None:
        pytestconfig.stash[ACCURACY][name] = entry

    return record


@pytest.fixture
def ab_record_speed(pytestconfig: pytest.Config) -> Any:
    """Keep one measured speed cell; the session's end decides them all together."""

    def record(cell: SpeedCell) -> None:
        pytestconfig.stash[SPEED_CELLS].append(cell)

    return record


def finish(session: pytest.Session) -> bool:
    """Decide the speed cells (Holm), write ab.json, and fail the session on a failed cell.
    Returns whether ab.json was written."""
    config = session.config
    base: BaseSide | None = config.stash.get(BASE_KEY, None)
    gate: GateSession | None = config.stash.get(SESSION_KEY, None)
    if base is None or gate is None or hasattr(config, "workerinput"):
        return False
    settings = ab_settings(gate.config)
    cells = config.stash.get(SPEED_CELLS, [])
    decisions = decide_cells(cells, settings)
    speed = [speed_entry(c, d, settings) for c, d in zip(cells, decisions, strict=True)]
    notes = [n for n in (base.dataset_note,) if n]
    notes += [f"{n}: new in this PR, nothing to compare with" for n in base.only_in_pr]
    notes += [f"{n}: configured on the base only" for n in base.only_in_base]
    accuracy = config.stash.get(ACCURACY, {})
    if not accuracy and not cells:
        return False  # no vs-base test ran (deselected, or every one skipped): nothing to report
    payload = ab_payload(pr_model=gate.model, base_model=base.session.model, base_dir=base.base_dir,
                         settings=settings, accuracy=accuracy, speed=speed, notes=notes)
    path = write_ab(gate.config.report_dir, payload)
    gate.progress(f"PR vs base: {path}")
    config.stash[AB_LINES] = summary_lines(payload) + [(n, False) for n in notes]
    failing = [f"{c.backend} {c.case}" for c, d in zip(cells, decisions, strict=True) if failed(d, settings)]
    config.stash[AB_FAILED] = failing
    if failing and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return True


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(AB_LINES, None)
    if not lines:
        return
    terminalreporter.section("encoder-gate: this PR against its base")
    for line, bad in lines:
        terminalreporter.write_line(line, red=bad, bold=bad)
    failing = config.stash.get(AB_FAILED, [])
    if failing:
        terminalreporter.write_line(f"slower than the base: {', '.join(failing)}", red=True, bold=True)
