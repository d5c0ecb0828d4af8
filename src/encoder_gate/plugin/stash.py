"""The plugin's session state in the config's stash, and the one way a build step skips or fails.

Every part of the plugin (core hooks, fixtures, the benchmark half) and the shipped suite
reads the session through :func:`gate_session_of` and runs build steps through
:func:`call_or_skip`, so they import this module, never each other.
"""

from __future__ import annotations

import inspect
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from encoder_gate.backends.registry import PREBUILT_PREFIX, REFERENCE_BACKEND, parse_backend
from encoder_gate.decision import STOPPED_EARLY, Finding, failures_from, refused
from encoder_gate.documents import (
    SHARD_FILE,
    VERDICT_FILE,
    fed_documents,
    read_document,
    reading_of,
    write_document,
)
from encoder_gate.environment import oom_kills
from encoder_gate.errors import CheckFailed, DeviceUnavailable, GateError, MissingDependency, NotApplicable
from encoder_gate.plugin.findings_file import (
    findings_lock,
    findings_of_this_model,
    marked_by_this_session,
    others_running,
    record_findings,
    write_findings,
)
from encoder_gate.plugin.verdict_report import VERDICT_NODEID, report_verdict_failure
from encoder_gate.publish import drop_superseded, refresh_verdict, write_decided, write_verdict
from encoder_gate.reporting.verdict import VerdictReport
from encoder_gate.runtime.base import BaseSide
from encoder_gate.runtime.provenance import provenance
from encoder_gate.runtime.session import GateSession
from encoder_gate.shards.plan import Shard, ShardPlan, descriptor, joined

SESSION_KEY = pytest.StashKey[GateSession]()
BASE_KEY = pytest.StashKey[BaseSide]()  # --gate-base: the base's side


OUTCOMES = pytest.StashKey[dict[str, dict[str, Any]]]()  # backend -> {"ran": n, "skips": [reasons]}


#: Hypothesis's own profiles, taken when the plugin loads (before any conftest can register a
#: profile of its own): since hypothesis 6.13x the `CI` variable loads its built-in "ci" profile,
#: 100 examples a property, so a profile by that name is a project's only if it is another object.
def _builtin_profiles() -> dict[str, Any]:
    """Hypothesis's own profiles that exist in the installed release ("ci" came in 6.116): a release
    without one must not stop every pytest session of the environment at import."""
    out = {}
    for name in ("default", "ci"):
        try:
            out[name] = hypothesis_settings.get_profile(name)
        except Exception:  # InvalidArgument: not a profile of this release
            continue
    return out


HYPOTHESIS_BUILTINS = _builtin_profiles()


NOTHING_CHECKED = pytest.StashKey[str]()
#: Why the gate failed, one line a finding: set through :func:`fail_gate`, read by :class:`ExitStatus`.
GATE_FAILURES = pytest.StashKey[list[str]]()
#: nodeid of a test -> the backends no later test of the session uses (released after it).
RELEASE_AFTER = pytest.StashKey[dict[str, list[str]]]()


BACKEND_PROPERTY = "encoder_gate_backend"
#: The parameters that name the backend a test judges: its own checks, vs base, vs a baseline. A test
#: with none of them is of no backend (run once in a sharded session, in shard 1).
BASELINE_BACKEND = "baseline_backend"
BACKEND_PARAMS = ("backend", "ab_backend", BASELINE_BACKEND)
AB_BACKEND_PROPERTY = "encoder_gate_ab_backend"  # a vs-base test's backend, on its reports
BASELINE_BACKEND_PROPERTY = "encoder_gate_baseline_backend"  # a baseline test's backend, on its reports
#: Each property naming the backend a failed test's report judged (its checks, vs base, vs a baseline).
BACKEND_PROPERTIES = (BACKEND_PROPERTY, AB_BACKEND_PROPERTY, BASELINE_BACKEND_PROPERTY)
FEEDS_PROPERTY = "encoder_gate_feeds"  # a results document the test writes into (tag_feeds)


WORKER_PAYLOADS = pytest.StashKey[list[dict[str, Any]]]()
#: The verdict decided at the session's end (by :class:`ExitStatus`), for the terminal's last word.
VERDICT = pytest.StashKey[VerdictReport]()
#: The verdict fails on nothing this session wrote or found (ExitStatus): it exits as its own results say.
NOT_ITS_FAIL = pytest.StashKey[bool]()
#: The results documents this session wrote (accuracy.json, speedups.json, ab.json): set through
#: :func:`wrote`, read by :class:`ExitStatus`.
WRITTEN = pytest.StashKey[set[str]]()
#: The results documents this session ran a test of (not skipped): those it was to write (tag_feeds).
FED = pytest.StashKey[set[str]]()
#: --gate-shard K/N: this session's shard and the plan it is a share of.
SHARD_KEY = pytest.StashKey[tuple[Shard, ShardPlan]]()


def skip_reason(report: pytest.TestReport) -> str:
    """Why a skipped test report was skipped, in the words given to pytest.skip; an xfailed one (which
    pytest reports as skipped), in the words given to pytest.xfail, not its traceback."""
    if getattr(report, "wasxfail", None):
        return f"xfailed: {report.wasxfail}"
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return str(reason).removeprefix("Skipped: ")


def not_collected_without(collector: pytest.Collector, name: str, obj: object, given: pytest.StashKey[Any],
                          fixtures: tuple[str, ...]) -> list[Any] | None:
    """For pytest_pycollect_makeitem: [] (not collected) for a test function asking for one of
    `fixtures` in a session whose stash has no `given` (its option was not given: nothing to
    compare with); None (pytest collects as usual) for anything else."""
    if given in collector.config.stash or not callable(obj) or not name.startswith("test"):
        return None
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return None
    return [] if any(f in params for f in fixtures) else None


class TaggedReports:
    """The reports of the tests tagged with their backend under `tag` (:func:`tag_items`), read in the
    process that decides (also from xdist workers): how many reached their call, failed or skipped
    (with why), and each call's user properties handed to :meth:`take`."""

    tag = ""

    def __init__(self) -> None:
        self.seen = 0  # tests that reached their call
        self.failed = 0
        self.skips: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props: dict[str, Any] = dict(report.user_properties)
        if self.tag not in props:
            return
        if report.skipped:
            self.skips.append(f"{props[self.tag]}: {skip_reason(report)}")
        if report.failed:
            self.failed += 1
        if report.when == "call":
            self.seen += 1
            self.take(str(props[self.tag]), props)

    def take(self, backend: str, props: dict[str, Any]) -> None:
        """One call's report of a test of `backend`, its user properties `props`."""


def params_of(item: pytest.Item) -> dict[str, Any]:
    """The item's parametrize values ({} for an item that is not parametrized)."""
    return dict(getattr(getattr(item, "callspec", None), "params", {}))


def tag_items(items: list[pytest.Item], param: str, prop: str) -> None:
    """Put each item's `param` value on its reports as the user property `prop` (the reports
    carry it to the xdist controller)."""
    for item in items:
        params = params_of(item)
        if param in params:
            item.user_properties.append((prop, str(params[param])))


def tag_feeds(items: list[pytest.Item]) -> None:
    """Put on each item's reports the results documents it writes into (documents.fed_documents):
    the controller learns from them which documents this session was to write (:class:`ExitStatus`)."""
    for item in items:
        for name in fed_documents(getattr(item, "fixturenames", ()), (m.name for m in item.iter_markers())):
            item.user_properties.append((FEEDS_PROPERTY, name))


def release_points(items: list[pytest.Item]) -> dict[str, list[str]]:
    """Where each backend's runner can go, in the session's final order: nodeid of a test -> the
    backends to release after it. A test uses its `backend` (or, vs base, `ab_backend`) parameter;
    a benchmark also uses the reference (torch eager runs its paired rounds). A runner goes after
    the last test that uses it; one opened on a file (an ONNX backend: its session opens again
    from the file in about a second) also goes after its own tests when its speed cells against
    the base come later, and is opened again for them, so the session does not hold every ONNX
    runner through the other backends' tests (a retrained 125M PR peaked at 3.2 GB that way)."""
    last: dict[str, str] = {}
    own: dict[str, str] = {}  # the last test that uses it as `backend`, before any speed cell vs base
    versus: set[str] = set()
    for item in items:
        params = params_of(item)
        for param in ("backend", "ab_backend"):
            if param in params:
                name = str(params[param])
                last[name] = item.nodeid
                if param == "backend" and name not in versus:
                    own[name] = item.nodeid
                if param == "ab_backend" and times_backends(item):
                    versus.add(name)
                if uses_benchmark(item):
                    last[REFERENCE_BACKEND] = item.nodeid
    points: dict[str, list[str]] = {}
    for name, nodeid in last.items():
        points.setdefault(nodeid, []).append(name)
    for name, nodeid in own.items():
        if name in versus and nodeid != last[name] and opens_from_a_file(name):
            points.setdefault(nodeid, []).append(name)
    return points


def opens_from_a_file(name: str) -> bool:
    """Whether backend `name`'s runner is a session opened on an artifact file (built into the
    cache, or a prebuilt `onnx:` file): closing it and opening it again costs about a second."""
    try:
        backend = parse_backend(name)
    except GateError:
        return False
    return getattr(backend, "artifact", None) is not None or name.startswith(PREBUILT_PREFIX)


def backends_used(items: list[pytest.Item]) -> dict[str, list[str]]:
    """The backends the items use, in their order: as `backend` and as `ab_backend` (vs base)."""
    used: dict[str, list[str]] = {"backend": [], "ab_backend": []}
    for item in items:
        params = params_of(item)
        for param, names in used.items():
            if param in params and str(params[param]) not in names:
                names.append(str(params[param]))
    return used


def uses_benchmark(item: pytest.Item) -> bool:
    """A test timed by pytest-benchmark (it asks for its `benchmark` fixture)."""
    return "benchmark" in getattr(item, "fixturenames", ())


def times_backends(item: pytest.Item) -> bool:
    """A test that times backends: a benchmark, or a speed comparison at a batch size (vs base)."""
    return uses_benchmark(item) or "gate_batch_size" in getattr(item, "fixturenames", ())


def is_gate_test(item: pytest.Item) -> bool:
    """A test of the gate: it uses the gate's session (every fixture of the plugin does)."""
    return "gate_session" in getattr(item, "fixturenames", ())


#: Whether the session collected a test of the gate (:func:`is_gate_test`): only then do its
#: failures reach findings.json and the verdict (a project's unrelated test run writes nothing).
GATE_COLLECTED = pytest.StashKey[bool]()


def gate_session_of(config: pytest.Config) -> GateSession:
    return config.stash[SESSION_KEY]


def call_or_skip(fn: Any, *args: Any) -> Any:
    """Run a build step; a missing device or package skips, any other GateError fails (its message
    once: not chained to the GateError, which pytest would print again above it)."""
    try:
        return fn(*args)
    except (DeviceUnavailable, MissingDependency, NotApplicable) as exc:
        raise pytest.skip.Exception(str(exc)) from None
    except GateError as exc:
        raise pytest.fail.Exception(f"encoder-gate: {exc}", pytrace=False) from None


def not_compared(config: pytest.Config, side: str, why: str) -> None:
    """A check against `side` ("the base", "the baseline") that compared nothing, for `why`: it is
    skipped with the reason under --gate-allow-skip, else it fails saying so; never a pass."""
    if config.getoption("gate_allow_skip", False):
        pytest.skip(f"not compared with {side}: {why}")
    pytest.fail(f"encoder-gate: not compared with {side}: {why}.\nPass --gate-allow-skip to accept it.",
                pytrace=False)


def fail_gate(config: pytest.Config, why: str) -> None:
    """Record a finding that fails the gate and that no results document holds (a gate that
    checked nothing, a baseline it could not read): :class:`ExitStatus` fails the session on it."""
    config.stash.setdefault(GATE_FAILURES, []).append(why)


def wrote(config: pytest.Config, document: str) -> None:
    """Record that this session wrote a results document (its findings then count for the exit
    status: :class:`ExitStatus`)."""
    config.stash.setdefault(WRITTEN, set()).add(document)


def write_results(config: pytest.Config, name: str, doc: Mapping[str, Any]) -> Path:
    """Write a results document of the user's (registered: encoder_gate.documents.register) into
    this session's report directory, stamped with its schema version and this session's provenance,
    and count it as written: the verdict decided at the session's end judges it by its Reading, and
    its failures fail the session. Call it from the pytest controller (a conftest's
    ``pytest_sessionfinish``, or a test run without xdist): a worker's write would be judged by
    nobody."""
    if reading_of(name) is None:
        raise GateError(f"{name} is not a registered results document: register its Document (with its "
                        "Reading) first, encoder_gate.documents.register")
    if hasattr(config, "workerinput"):
        raise GateError(f"{name} written in an xdist worker: write it from the controller (a conftest's "
                        "pytest_sessionfinish), where the session's verdict is decided")
    state = config.stash.get(SESSION_KEY, None)
    if state is None:
        raise GateError(f"{name}: no gate session to write it into (this pytest run gated no model)")
    path = write_document(state.config.report_dir, name, {**doc, "provenance": provenance(state)})
    wrote(config, name)
    return path


def write_shard(config: pytest.Config, state: GateSession, written: set[str]) -> None:
    """In a sharded session, shard.json beside the results: the share, the plan, what was written."""
    if SHARD_KEY not in config.stash:
        return
    shard, plan = config.stash[SHARD_KEY]
    outcomes = config.stash.get(OUTCOMES, {})
    seconds = {name: seen["seconds"] for name, seen in outcomes.items() if seen.get("seconds")}
    report_dir = state.config.report_dir
    doc = descriptor(shard, plan, provenance=provenance(state), commit=state.commit,
                     documents=sorted(written), seconds=seconds, model=state.config.model)
    # a second session of the same share in this directory keeps the first's results in the merge
    doc = joined(read_document(report_dir, SHARD_FILE), doc, lambda name: (report_dir / name).is_file())
    path = write_document(report_dir, SHARD_FILE, doc)
    state.progress(f"shard {shard}: {path} (merge every shard's report directory: encoder-gate merge DIR...)")


#: What failed this session outside the results documents (failed tests, collection errors), as
#: :class:`~encoder_gate.decision.Finding` records: collected by :class:`ExitStatus`.
FINDINGS = pytest.StashKey[list[Finding]]()


#: How a failed check's crash line begins: its class's qualified name, which says nothing to a reader.
CHECK_FAILED = f"{CheckFailed.__module__}.{CheckFailed.__qualname__}: "


def one_line(report: pytest.CollectReport | pytest.TestReport) -> str:
    """A failed report's reason in one line: the exception's message (an assertion's first line), or
    the first line pytest.fail was given."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        lines = [line.strip() for line in str(crash.message).splitlines() if line.strip()]
        lines[:1] = [lines[0].removeprefix(CHECK_FAILED)] if lines else []  # its message: no class name
        # a heading ("BackendCompilerFailed: backend='inductor' raised:") is said with its next line
        return (f"{lines[0]} {lines[1]}" if len(lines) > 1 and lines[0].endswith(":") else lines[0])[:300]
    lines = [line.strip() for line in str(report.longrepr).splitlines() if line.strip()]
    return (lines[0] if lines else "failed")[:300]


def session_pid(config: pytest.Config) -> int:
    """The process id of this pytest session: its own, or in an xdist worker its controller's (the
    worker's parent), which the session's running marker is kept under."""
    return os.getppid() if hasattr(config, "workerinput") else os.getpid()


def runs_no_test(config: pytest.Config) -> bool:
    """Whether pytest runs no test this session (--collect-only, --fixtures, --fixtures-per-test,
    --setup-plan, --setup-only): no marker, no verdict, no count of tests that did not run."""
    option = config.option
    return bool(option.collectonly or any(getattr(option, name, False) for name in (
        "showfixtures", "show_fixtures_per_test", "setupplan", "setuponly")))


def session_command(config: pytest.Config) -> str:
    """The session's command line, as the user typed it after `pytest`."""
    return " ".join(["pytest", *config.invocation_params.args])


#: This process wrote the session's running marker into findings.json (:func:`mark_running`).
RUNNING_MARKED = pytest.StashKey[bool]()
#: How many tests finished (each run to its teardown, or skipped), and why the session stopped early.
FINISHED = pytest.StashKey[int]()
STOPPED = pytest.StashKey[str]()


def mark_running(config: pytest.Config) -> None:
    """findings.json says this session of its model is running (`running`, under its process id),
    until its end takes it out: a session killed or crashed on the way (out of memory, SIGTERM,
    os._exit) never reaches its end, and the verdict read from the directory afterwards fails on the
    marker instead of showing the last finished session's PASS. verdict.md, where there is one, is
    decided again now (a FAIL that names the session). A findings.json of another model is left as
    it is: that model's verdict is not this session's to fail. Under pytest-xdist each worker that
    collected a test of the gate marks it (the controller collects nothing), under the controller's
    process id, which the controller's end takes out."""
    state = config.stash.get(SESSION_KEY, None)
    if state is None or config.stash.get(RUNNING_MARKED, False) or runs_no_test(config):
        return
    config.stash[RUNNING_MARKED] = True
    report_dir, current = state.config.report_dir, provenance(state)
    with findings_lock():
        base, other_model = findings_of_this_model(report_dir, current)
        if other_model:
            return
        pid = session_pid(config)
        # the out-of-memory killer's count so far: a later verdict tells a session it ended from others
        kills = oom_kills()
        running = {**others_running(base, pid), str(pid): {
            "command": session_command(config), "started": current["written"], "pid": pid,
            "host": socket.gethostname(), **({"oom_kills": kills} if kills is not None else {})}}
        write_findings(report_dir, current, base, state.config.waivers, running=running)
    if not (report_dir / VERDICT_FILE).exists():
        return
    try:
        write_verdict(report_dir, current)
    except GateError as exc:  # results that cannot be judged now: no earlier PASS stays beside the marker
        write_decided(report_dir, refused(f"a session of this model is running ({session_command(config)}), "
                                          f"and the results here cannot be judged: {exc}"))


def clear_running(config: pytest.Config, state: GateSession) -> None:
    """Take this session's running marker out where its end recorded no findings (it wrote no
    results and nothing failed), and decide the verdict again without it. Where it has none (no
    test of the gate ran: a project's other tests), nothing is read beyond findings.json: not even
    the model, which provenance would resolve. (A marker is only written into this model's
    findings.json, mark_running: the one read here is this model's.) The provenance (it hashes the
    dataset file) is taken before the lock, which every session of the user shares; findings.json
    is read again under it."""
    report_dir = state.config.report_dir
    if marked_by_this_session(report_dir) is None:
        return
    current = provenance(state)
    with findings_lock():
        marked = marked_by_this_session(report_dir)
        if marked is None:
            return
        write_findings(report_dir, current, marked, state.config.waivers,
                        running=others_running(marked, os.getpid()))
    refresh_verdict(report_dir, state.progress, current)


def _stopped_early(session: pytest.Session) -> str | None:
    """Why the session ended before every selected test ran (an interruption, pytest.exit, -x), with
    how many did not run; None when every one ran, or none was meant to (--collect-only, --fixtures),
    and in an xdist worker (the controller counts every worker's)."""
    config = session.config
    if runs_no_test(config) or hasattr(config, "workerinput"):
        return None
    distributed = config.pluginmanager.getplugin("dsession") is not None  # xdist's controller
    if distributed and config.getoption("dist", "no") == "each":  # every worker runs every test: not counted
        return None
    planned = session.testscollected if distributed else len(getattr(session, "items", None) or [])
    finished = config.stash.get(FINISHED, 0)
    if finished >= planned:
        return None
    said = session.shouldfail or session.shouldstop  # -x, --maxfail: pytest's words
    usage = session.exitstatus == pytest.ExitCode.USAGE_ERROR  # its message is the session's output
    why = config.stash.get(STOPPED, None) or (f"pytest: {said}" if said else
                                              "a usage error, in the session's output" if usage else
                                              "no reason given")
    return (f"{STOPPED_EARLY} {planned - finished} of its {planned} tests ran ({why}): this "
            "verdict does not cover them; run the session to its end")


class ExitStatus:
    """The one place the gate decides the session's verdict and sets its exit status from it.

    Its `pytest_sessionfinish` wraps every other part's (accuracy, speed, vs base), so it runs
    after all of them have written their results documents (:func:`wrote`) and recorded what no
    document holds (:func:`fail_gate`). It decides the verdict once (verdict.md and verdict.json,
    joining the documents of this model and dataset), keeps it for the terminal's last word, and
    fails a session that passed its tests (or collected none) when the verdict fails on a document
    this session wrote (:func:`encoder_gate.decision.failures_from`) or a finding was recorded. A
    status pytest set otherwise (a failed test, an interruption, a usage error) is kept."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A failed or errored test (the controller sees every worker's): a finding of this session.
        A report tagged with a backend is a gate test's (an xdist controller collects none itself)."""
        if report.nodeid == VERDICT_NODEID:  # the verdict's own failure, decided here
            return
        if any(key == BACKEND_PROPERTY for key, _ in report.user_properties):
            self._config.stash[GATE_COLLECTED] = True
        if report.failed or (report.when == "call" and report.passed):  # it ran, not skipped
            fed = self._config.stash.setdefault(FED, set())
            fed.update(str(value) for key, value in report.user_properties if key == FEEDS_PROPERTY)
        if report.failed and report.when == "???":  # xdist: a test its crashed worker never finished,
            self._config.stash[FINISHED] = self._config.stash.get(FINISHED, 0) + 1  # failed in its name
        if report.failed:  # a vs-base or vs-baseline test's backend too: its row says so, not "outside the
            props = dict(report.user_properties)  # checks" (a baseline's failures were listed there again)
            backend = next((props[k] for k in BACKEND_PROPERTIES if props.get(k)), None)
            self._config.stash.setdefault(FINDINGS, []).append(
                Finding("test", one_line(report), report.nodeid, str(backend) if backend else None,
                        report.when))

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self._config.stash[FINISHED] = self._config.stash.get(FINISHED, 0) + 1

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C, or a test's pytest.exit(): the session ends here, its remaining tests unrun."""
        exc = excinfo.value
        self._config.stash[STOPPED] = (f"pytest.exit({str(getattr(exc, 'msg', exc))!r})"
                                       if isinstance(exc, pytest.exit.Exception) else
                                       "Ctrl-C, KeyboardInterrupt" if type(exc) is KeyboardInterrupt else
                                       f"pytest: {exc or type(exc).__name__}")  # xdist's -x: Interrupted

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._config.stash.setdefault(FINDINGS, []).append(
                Finding("collection", one_line(report), report.nodeid or "(collection)"))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        try:
            result = yield
            self._decide(session)
        except OSError as exc:  # a full disk: one line, not a traceback of 80 lines and no verdict
            if not self._writes_of_the_gate(exc):
                raise
            sys.stderr.write(f"encoder-gate: this session's results could not be written ({exc}): free space "
                             "there (or give --gate-cache-dir / --gate-report-dir elsewhere), run it again\n")
            if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return None
        return result

    def _writes_of_the_gate(self, exc: OSError) -> bool:
        """Whether `exc` is the gate's own (a session of it, a file under its cache or report
        directory, or a write of no file's name): another plugin's or a project's is theirs."""
        state = self._config.stash.get(SESSION_KEY, None)
        if state is None or not self._config.stash.get(GATE_COLLECTED, False):
            return False
        where = Path(str(exc.filename)).absolute() if exc.filename else None
        return where is None or any(where.is_relative_to(Path(r).absolute())
                                    for r in (state.config.cache_dir, state.config.report_dir))

    def _decide(self, session: pytest.Session) -> None:
        """The verdict of this session's results, its findings recorded, its exit status set."""
        config = session.config
        if runs_no_test(config):  # --collect-only, --setup-plan...: nothing to decide, nothing to mark
            return
        failures = config.stash.get(GATE_FAILURES, []).copy()
        written = config.stash.get(WRITTEN, set())
        state = config.stash.get(SESSION_KEY, None)
        gate = written or failures or config.stash.get(GATE_COLLECTED, False)
        stopped = _stopped_early(session) if gate else None
        if stopped:
            failures.append(stopped)
        mine = [*config.stash.get(FINDINGS, []), *(Finding("gate", why) for why in failures)] if gate else []
        if (written or mine) and state is not None and not hasattr(config, "workerinput"):
            unwritten_fed = config.stash.get(FED, set()) - written
            drop_superseded(state.config.report_dir, unwritten_fed, state.progress)
            current = provenance(state)  # once: it hashes the dataset file
            record_findings(state.config.report_dir, current, written, mine, state.config.waivers,
                            unwritten_fed)
            verdict = refresh_verdict(state.config.report_dir, state.progress, current)
            if verdict is None:  # its reason is printed: a gate that decided nothing does not pass
                failures.append("no verdict could be decided from the results this session wrote")
            else:
                config.stash[VERDICT] = verdict
                failures += failures_from(verdict.verdict, written)
                # a FAIL this session did not cause (an earlier session's results, another's marker):
                # its exit status is its own, and its last word says why the two differ
                config.stash[NOT_ITS_FAIL] = not verdict.verdict.passed and not failures and not mine
            write_shard(config, state, written)
        elif state is not None and not hasattr(config, "workerinput"):
            clear_running(config, state)
        if failures and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if not hasattr(config, "workerinput"):  # its tests passed: pytest's summary and JUnit XML say it
                report_verdict_failure(session, failures)
