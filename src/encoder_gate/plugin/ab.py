"""The PR-vs-base half of the plugin: `--gate-base DIR` opens the base, the vs-base tests run, and
the session ends with their decisions (Holm across the speed cells) in ab.json and the terminal.

Each vs-base test hands its result to its own test report (`user_properties`), so the results
reach the process that decides, with or without pytest-xdist: under xdist the controller sees
every worker's reports. A `--gate-base` session whose vs-base tests all skipped compared
nothing, and fails (unless --gate-allow-skip).

Without `--gate-base` the vs-base tests are not collected at all (no count, no skip line). With
it, pytest-benchmark's own
benchmarks are deselected too: the A/B answers "is this PR slower than its base" within one
session, and a saved run (`--benchmark-compare`) is for history, run without `--gate-base`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.config import JUDGED_SCOPE, PASS_CRITERIA, load_config, read_pyproject_table
from encoder_gate.decision import VERSUS_BASE, SpeedCell
from encoder_gate.documents import AB_FILE
from encoder_gate.errors import GateError
from encoder_gate.plugin.stash import (
    AB_BACKEND_PROPERTY,
    BASE_KEY,
    SESSION_KEY,
    SHARD_KEY,
    TaggedReports,
    fail_gate,
    not_collected_without,
    not_compared,
    params_of,
    tag_items,
    uses_benchmark,
    wrote,
)
from encoder_gate.reporting.ab import summary_lines
from encoder_gate.results.ab import ab_payload, ab_settings, speed_entries, write_ab
from encoder_gate.runtime.base import BaseSide, ChosenFiles, criteria_changes
from encoder_gate.runtime.dependency_files import changed_dependency_files, dependency_note
from encoder_gate.runtime.predictions import backend_kind
from encoder_gate.runtime.provenance import provenance, timed_provenance
from encoder_gate.runtime.session import GateSession
from encoder_gate.runtime.worktree import base_worktree, depth_in_repository, head_commit
from encoder_gate.speed.rounds import Cell
from encoder_gate.waivers import Waiver

AB_FIXTURES = ("ab_backend",)
BASE_DIR_INPUT = "encoder_gate_base_dir"  # xdist workerinput: the base's directory
AB_RESULT_PROPERTY = "encoder_gate_ab_result"  # what it measured: {"accuracy": ...} or {"speed": ...}
AB_FAILED = pytest.StashKey[list[str]]()
NOTHING_COMPARED = pytest.StashKey[str]()
INHERITED_WAIVERS = pytest.StashKey[list[Waiver]]()  # the PR's `vs base` waivers its base has too
AB_LINES = pytest.StashKey[list[tuple[str, bool]]]()


class ABResults(TaggedReports):
    """The vs-base tests' results, read from their reports (also from xdist workers)."""

    tag = AB_BACKEND_PROPERTY

    def __init__(self) -> None:
        super().__init__()
        self.accuracy: dict[str, dict[str, Any]] = {}
        self.cells: list[SpeedCell] = []

    def take(self, backend: str, props: dict[str, Any]) -> None:
        result = props.get(AB_RESULT_PROPERTY)
        if not result:
            return
        if "accuracy" in result:
            self.accuracy[backend] = result["accuracy"]
        if "speed" in result:
            speed = result["speed"]
            self.cells.append(SpeedCell(speed["backend"], speed["case"], Cell(**speed["cell"])))

    @property
    def empty(self) -> bool:
        return not self.accuracy and not self.cells

    def nothing_compared(self) -> str | None:
        """Why vs-base tests ran yet compared nothing (every one skipped), or None."""
        if not (self.seen or self.skips) or not self.empty or self.failed:
            return None
        reasons = "\n  ".join(dict.fromkeys(self.skips)) or "no vs-base test produced a result"
        return ("--gate-base was given, but every vs-base test was skipped, so this session compared "
                f"nothing with the base:\n  {reasons}\nFix the cause or pass --gate-allow-skip to accept it.")


AB_RESULTS = pytest.StashKey[ABResults]()


def _plain(value: Any) -> Any:
    """Plain JSON types, as a report property must be to cross from an xdist worker."""
    return json.loads(json.dumps(value, default=float))


def _base_dir(config: pytest.Config, session: GateSession) -> Path:
    """--gate-base's directory, or --gate-base-ref's worktree: checked out once, by the controller
    (an xdist worker is handed the directory, see `pytest_configure_node`)."""
    cfg = session.config
    if cfg.base is not None:
        return cfg.base
    handed = getattr(config, "workerinput", {}).get(BASE_DIR_INPUT)
    if handed:
        return Path(handed)
    assert cfg.base_ref is not None
    return base_worktree(config.rootpath, cfg.base_ref, session.progress)


def open_base(config: pytest.Config, session: GateSession) -> None:
    """Read the base's checkout now, so a wrong --gate-base is a usage error before anything runs."""
    if session.config.base is None and not session.config.base_ref:
        return
    given = session.config.base
    if given is not None and given.expanduser().resolve() == config.rootpath.resolve():  # all "unchanged"
        raise pytest.UsageError(f"encoder-gate: --gate-base {given} is this checkout itself, so the PR would "
                                "be compared with itself: pass a checkout of its base (git worktree add "
                                "../base origin/main), or --gate-base-ref main")
    try:  # the PR's pyproject alone: what it serves with, each side its own (runtime.base.run_as_pr)
        pr_own = load_config(config.rootpath, {}) if read_pyproject_table(config.rootpath) else None
    except GateError:
        pr_own = None
    # what the command line gave the session is both sides' (never a change the PR made)
    # (--gate-backends narrows both sides to the same kinds: `narrowed`)
    chosen = {name for name in (*JUDGED_SCOPE, *PASS_CRITERIA)
              if name != "backends" and config.getoption(f"gate_{name}", None) is not None}
    # what to gate, both sides' (a repository's second model, --gate-model: its base gated the first)
    picked = {name: config.getoption(f"gate_{name}", None) for name in ("model", "dataset")}
    files = ChosenFiles(**{k: None if v is None else str(v) for k, v in picked.items()},
                        project=config.rootpath)
    try:
        config.stash[BASE_KEY] = BaseSide.open(_base_dir(config, session), session,
                                               narrowed=config.getoption("gate_backends", None) is not None,
                                               pr_own=pr_own, chosen=chosen, files=files)
    except GateError as exc:
        raise pytest.UsageError(f"encoder-gate: {exc}") from None
    # a `vs base` waiver accepts the PR that adds it (labels changed on purpose: nothing of the base's to
    # compare with); merged, it is the base's too, and it waived a later PR's loss (a trial's class-name
    # swap, F1 0.90 to 0.62, passed under the waiver its base kept): such a PR is compared again, and told
    theirs = config.stash[BASE_KEY].session.config.waivers
    inherited = [w for w in session.config.waivers if w.check == VERSUS_BASE and w in theirs]
    if inherited:
        session.config = replace(session.config,
                                 waivers=tuple(w for w in session.config.waivers if w not in inherited))
        config.stash[INHERITED_WAIVERS] = inherited
    results = ABResults()
    config.stash[AB_RESULTS] = results
    config.pluginmanager.register(results, "encoder-gate-ab-results")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist controller: hand each worker the base's directory (a worktree is made once)."""
    base: BaseSide | None = node.config.stash.get(BASE_KEY, None)
    if base is not None:
        node.workerinput[BASE_DIR_INPUT] = str(base.base_dir)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
    """Without --gate-base, a vs-base test is not collected: it has nothing to compare."""
    return not_collected_without(collector, name, obj, BASE_KEY, AB_FIXTURES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ab_backend" in metafunc.fixturenames:
        base = metafunc.config.stash.get(BASE_KEY, None)
        names = list(base.pairs) if base is not None else []
        metafunc.parametrize("ab_backend", names, ids=names)


def group_by_backend(items: list[pytest.Item], backends: list[str]) -> None:
    """Reorder the vs-base tests in place, backend by backend in `backends` order (stable within a
    backend), in the places they held; every other test keeps its place."""
    rank = {name: k for k, name in enumerate(backends)}
    ours = [k for k, item in enumerate(items) if "ab_backend" in params_of(item)]
    grouped = sorted((items[k] for k in ours),
                     key=lambda item: rank.get(str(params_of(item)["ab_backend"]), len(rank)))
    for k, item in zip(ours, grouped, strict=True):
        items[k] = item


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --gate-base, pytest-benchmark's benchmarks are deselected (the A/B answers the PR),
    each vs-base test is tagged with its backend (its reports carry the tag), and a backend's
    vs-base tests run back to back (accuracy, then speed per batch size), so its two runners are
    released before the next backend's are built."""
    if BASE_KEY not in config.stash:
        return
    tag_items(items, "ab_backend", AB_BACKEND_PROPERTY)
    group_by_backend(items, list(config.stash[BASE_KEY].pairs))
    dropped = [item for item in items if uses_benchmark(item)]
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
def ab_record_accuracy(request: pytest.FixtureRequest) -> Any:
    """Keep one backend's accuracy against the base for ab.json (on the test's report)."""

    def record(entry: dict[str, Any]) -> None:
        request.node.user_properties.append((AB_RESULT_PROPERTY, {"accuracy": _plain(entry)}))

    return record


@pytest.fixture
def ab_not_compared(request: pytest.FixtureRequest) -> Any:
    """Call with why a vs-base check compared nothing: the test fails saying so, or is skipped
    with the reason under --gate-allow-skip. A check that compared nothing never passes."""

    def handle(why: str) -> None:
        not_compared(request.config, "the base", why)

    return handle


@pytest.fixture
def ab_record_speed(request: pytest.FixtureRequest) -> Any:
    """Keep one measured speed cell (on the test's report); the session's end decides them all."""

    def record(cell: SpeedCell) -> None:
        speed = {"backend": cell.backend, "case": cell.case, "cell": asdict(cell.cell)}
        request.node.user_properties.append((AB_RESULT_PROPERTY, {"speed": _plain(speed)}))

    return record


def finish(session: pytest.Session) -> None:
    """Decide the speed cells (Holm) and write ab.json; a failed cell fails the session through
    the verdict (:class:`encoder_gate.plugin.stash.ExitStatus`)."""
    config = session.config
    base: BaseSide | None = config.stash.get(BASE_KEY, None)
    gate: GateSession | None = config.stash.get(SESSION_KEY, None)
    if base is None or gate is None or hasattr(config, "workerinput"):
        return
    results = config.stash[AB_RESULTS]
    why = results.nothing_compared()
    if not base.pairs and session.testscollected:
        why = (f"--gate-base was given, but the base ({', '.join(base.session.config.backends)}) and this PR "
               f"({', '.join(gate.config.backends)}) configure no backend in common, so nothing was "
               "compared with the base.\nPass --gate-allow-skip to accept it (e.g. the PR that renames "
               "every backend).")
    if why and not config.getoption("gate_allow_skip", False):
        config.stash[NOTHING_COMPARED] = why
        fail_gate(config, why)
    settings, theirs = ab_settings(gate.config), ab_settings(base.session.config)
    speed = speed_entries(results.cells, settings, theirs)
    planned, elsewhere = gate.config, set()  # a shard: the PR's whole plan, and the kinds of its backends
    if SHARD_KEY in config.stash:
        planned = replace(gate.config, backends=config.stash[SHARD_KEY][1].backends)
        elsewhere = {backend_kind(n) for n in planned.backends}
    # what the PR's pyproject names, where the session ran fewer (--gate-backends); what each side's
    # pyproject judges on (BaseSide.open read the PR's)
    narrowed = config.getoption("gate_backends", None) is not None
    declared = (base.declared, base.pr_declared) if narrowed and base.pr_declared else None
    scope = (base.scope, base.pr_scope) if base.pr_scope else None
    try:
        task: str | None = str(gate.model.task)
    except GateError:
        task = None
    loosened = criteria_changes(base.session.config, planned, task, declared, scope, base.fed_own)
    # a base checked out from --gate-base-ref sits as deep in its worktree as the project in its repository
    above = depth_in_repository(config.rootpath) if gate.config.base_ref and gate.config.base is None else 0
    deps = dependency_note(changed_dependency_files(config.rootpath, base.base_dir, above))
    try:
        model_notes = [base.model_note, base.tokenizer_note, base.fed_note, base.label_note]
    except GateError:  # a model or tokenizer that cannot be read: its tests say so
        model_notes = []
    notes = [n for n in (*model_notes, base.dataset_note, deps) if n]
    notes += [f"the waiver of {w.names()} by {w.owner} until {w.until} is the base's too: a `vs base` waiver "
              "accepts the PR that adds it, and this PR is compared with its base again (remove the waiver)"
              for w in config.stash.get(INHERITED_WAIVERS, [])]
    notes += [f"{n}: new in this PR, nothing to compare with" for n in base.only_in_pr]
    notes += [f"{n}: configured on the base only" for n in base.only_in_base
              if backend_kind(n) not in elsewhere]
    accuracy = results.accuracy
    if results.empty and not loosened:
        return  # no vs-base test ran (deselected, or every one skipped): nothing to report
    # a PR that changed a pass criterion or granted itself a waiver is named even where nothing
    # was compared (every vs-base test skipped): its ab.json then holds the notes alone
    payload = ab_payload(pr_model=gate.model, base_model=base.session.model, base_dir=base.base_dir,
                         base_commit=head_commit(base.base_dir),
                         settings=settings, accuracy=accuracy, speed=speed, notes=notes,
                         criteria_changed=loosened, base_settings=theirs,
                         provenance=timed_provenance(gate, config.rootpath) if speed else provenance(gate))
    path = write_ab(gate.config.report_dir, payload)
    gate.progress(f"PR vs base: {path}")
    config.stash[AB_LINES] = summary_lines(payload) + [(n, False) for n in (*notes, *loosened)]
    config.stash[AB_FAILED] = [f"{e['backend']} {e['case']}" for e in speed if e["fails"]]
    wrote(config, AB_FILE)  # its failed cells fail the session through the verdict


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    why = config.stash.get(NOTHING_COMPARED, None)
    if why:
        terminalreporter.section("encoder-gate: nothing was compared with the base")
        terminalreporter.write_line(f"encoder-gate: {why}", red=True, bold=True)
    lines = config.stash.get(AB_LINES, None)
    if not lines:
        return
    terminalreporter.section("encoder-gate: this PR against its base")
    for line, bad in lines:
        terminalreporter.write_line(line, red=bad, bold=bad)
    failing = config.stash.get(AB_FAILED, [])
    if failing:
        terminalreporter.write_line(f"slower than the base: {', '.join(failing)}", red=True, bold=True)
