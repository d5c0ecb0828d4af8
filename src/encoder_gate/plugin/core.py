"""The pytest plugin's wiring: options, the session's hooks and the summary. Logic lives elsewhere.

Registered through the `pytest11` entry point, so any pytest run in an environment with
encoder-gate installed gets the `--gate-*` options and the fixtures of
:mod:`encoder_gate.plugin.fixtures`. Nothing is built until a test asks for a fixture. The
benchmark half (:mod:`encoder_gate.plugin.speed`) is registered in `pytest_configure`; the
tests themselves ship in :mod:`encoder_gate.suite`.

A session in which every configured backend was skipped checked nothing, and one in which every
test of a configured backend was skipped did not check that backend: either fails, naming the
reasons, unless `--gate-allow-skip` is given (:mod:`encoder_gate.plugin.outcomes`). At the end of
a session the verdict (`<report-dir>/verdict.md`, :mod:`encoder_gate.reporting.verdict`) is
rewritten from the results.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from textwrap import shorten
from typing import Any

import pytest

from encoder_gate.accuracy.checks import CHECKS, NO_GOLD, check_tolerances
from encoder_gate.backends.prebuilt import set_project_root
from encoder_gate.backends.registry import check_prebuilt_files
from encoder_gate.backends.torch_compat import TORCH_CACHE_KEY_NOISE
from encoder_gate.cache import record_session
from encoder_gate.config import GateConfig, check_writable, load_config, quota_note, read_pyproject_table
from encoder_gate.data.datasets import load_texts
from encoder_gate.decision import check_waivers
from encoder_gate.documents import ACCURACY_FILE
from encoder_gate.environment import cpu_quota, half_removed, outside_the_window
from encoder_gate.errors import (
    CheckFailed,
    DeviceUnavailable,
    DiskFull,
    GateError,
    MissingDependency,
    NotApplicable,
)
from encoder_gate.models.loading import check_complete
from encoder_gate.models.spec import check_model_type, check_weights
from encoder_gate.plugin import ab, applicable, baseline, bench_fixtures, fixtures, refusals
from encoder_gate.plugin import speed as bench_plugin
from encoder_gate.plugin.forecast import say_forecast
from encoder_gate.plugin.options import OPTIONS, add_options, backends_narrowed, other_model
from encoder_gate.plugin.outcomes import CHECKED_NOTHING, OutcomeCounter, nothing_checked, verdict_summary
from encoder_gate.plugin.refusals import no_table, refused, unusable_waiver
from encoder_gate.plugin.rootdir import rootdir_from_a_value
from encoder_gate.plugin.stash import (
    BACKEND_PARAMS,
    BACKEND_PROPERTY,
    BASE_KEY,
    GATE_COLLECTED,
    NOTHING_CHECKED,
    OUTCOMES,
    RELEASE_AFTER,
    SESSION_KEY,
    SHARD_KEY,
    WORKER_PAYLOADS,
    ExitStatus,
    backends_used,
    fail_gate,
    gate_session_of,
    is_gate_test,
    mark_running,
    params_of,
    release_points,
    runs_no_test,
    session_command,
    tag_feeds,
    tag_items,
    times_backends,
    wrote,
)
from encoder_gate.publish import write_payload
from encoder_gate.reporting.accuracy import stats_lines
from encoder_gate.reporting.markdown import flat
from encoder_gate.results.accuracy import accuracy_payload, merge_payloads
from encoder_gate.runtime.base import BASE_PREFIX
from encoder_gate.runtime.properties import EXAMPLES_DIR
from encoder_gate.runtime.provenance import inputs_changed
from encoder_gate.runtime.session import GateSession
from encoder_gate.runtime.worktree import head_commit, where_in_repository
from encoder_gate.shards.plan import (
    NothingToRun,
    costs_from,
    deal,
    parse_shard,
    record_costs,
    share_of_plan,
)

pytest.register_assert_rewrite("encoder_gate.suite")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


#: When this session began, before it touched the artifact cache (encoder_gate.cache.record_session).
SESSION_STARTED = pytest.StashKey[float]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SESSION_STARTED] = time.time()
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU")
    given = config.known_args_namespace  # the command line's -W filters, which pytest applies last
    given.pythonwarnings = [*(getattr(given, "pythonwarnings", None) or []),
                            TORCH_CACHE_KEY_NOISE.pytest_filter()]
    applicable.register_marker(config)
    overrides = {name.replace("-", "_"): config.getoption(f"gate_{name.replace('-', '_')}")
                 for name, _, _ in OPTIONS}
    try:
        _given_once(config.invocation_params.args)
        rootdir_from_a_value(config)
        outside = outside_the_window() + half_removed()
        if outside:  # said first, in one line each: not a traceback from inside the library later
            raise GateError("; ".join(outside))
        config.add_cleanup(set_project_root(config.rootpath))  # the table's onnx: paths are the project's
        gate_config = load_config(config.rootpath, overrides)
        projects = _projects_backends(config)
        # (a waiver of NAME~PATH is one of NAME's: no integer-path probe here, which every pytest session
        # in the environment would pay, a project's unrelated tests too)
        check_waivers(gate_config.waivers, [*gate_config.backends, *projects], tuple(CHECKS))
        check_tolerances(gate_config.tolerances, [*gate_config.backends, *projects])
        check_prebuilt_files(gate_config.backends, gate_config.model)
        # the whole gate's, before a shard's share; narrowed from the backends the project names
        declared = projects if "backends" in read_pyproject_table(config.rootpath) else ()
        said = (backends_narrowed(gate_config.backends, declared, gate_config.model), other_model(config))
        narrowed = "; ".join(filter(None, said)) or None
        if gate_config.texts is not None:  # a dataset given as texts: refused here for every suite alike
            load_texts(gate_config.texts, pairs=gate_config.pair_column is not None)
        check_writable(gate_config.cache_dir, "the artifact cache (--gate-cache-dir, cache-dir)")
        check_writable(gate_config.report_dir, "the report directory (--gate-report-dir, report-dir)")
        gate_config = _shard(config, gate_config)
    except GateError as exc:
        raise pytest.UsageError(f"encoder-gate: {exc}") from None
    session = GateSession(gate_config, progress=_progress_writer(config), selection=_selection(config),
                          narrowed=narrowed, backends_given=overrides.get("backends") is not None,
                          commit=head_commit(config.rootpath), project=where_in_repository(config.rootpath))
    config.stash[SESSION_KEY] = session
    config.stash[OUTCOMES] = {}
    config.pluginmanager.register(ExitStatus(config), "encoder-gate-exit-status")
    config.pluginmanager.register(fixtures, "encoder-gate-fixtures")
    config.pluginmanager.register(ab, "encoder-gate-ab")
    ab.open_base(config, session)
    config.pluginmanager.register(baseline, "encoder-gate-baseline")
    baseline.open_baseline(config, session)
    config.pluginmanager.register(bench_fixtures, "encoder-gate-bench-fixtures")
    config.pluginmanager.register(bench_plugin.BenchPlugin(config, session), "encoder-gate-bench")
    config.pluginmanager.register(OutcomeCounter(config), "encoder-gate-outcomes")
    config.pluginmanager.register(refusals, "encoder-gate-refusals")


def _given_once(args: Sequence[str]) -> None:
    """A GateError where the command line gives one --gate-* option twice with two values: argparse
    keeps the last silently (--gate-backends torch --gate-backends onnx-fp32 gated onnx-fp32 alone,
    walk AB). One in addopts or PYTEST_ADDOPTS is not the command line's: the command line's wins."""
    given: dict[str, list[str]] = {}
    names = {f"--gate-{name}": metavar for name, metavar, _ in OPTIONS}
    for i, arg in enumerate(args):
        option, equals, value = str(arg).partition("=")
        if option in names and (equals or i + 1 < len(args)):
            given.setdefault(option, []).append(value if equals else str(args[i + 1]))
    for option, values in given.items():
        if len(set(values)) > 1:
            raise GateError(f"{option} given twice ({' and '.join(values)}): give it once"
                            + (", as one comma list" if names[option] == "LIST" else ""))


def _projects_backends(config: pytest.Config) -> tuple[str, ...]:
    """The backends [tool.encoder-gate] configures, where --gate-backends narrows this session's: a
    waiver of one left out is the project's, not a mistake (it judges nothing here)."""
    if config.getoption("gate_backends") is None:
        return ()
    try:
        project = load_config(config.rootpath, {})
    except GateError:
        return ()
    return project.backends  # (its twins need no probe: NAME~PATH is one of NAME's, as above)


def _selection(config: pytest.Config) -> str | None:
    """The user's selection of the session's tests, as given (-k, -m, --deselect; --lf and --sw,
    which deselect the tests that passed before; pytest-benchmark's --benchmark-only and
    --benchmark-skip, which skip the accuracy tests or the speed cells: `pytest accuracy benchmarks
    --benchmark-only` passed "speed only", its verdict telling the user to run the accuracy tests
    they had asked for), or None."""
    given = [(flag, value) for flag, value in (("-k", config.getoption("keyword", "")),
                                               ("-m", config.getoption("markexpr", "")))
             if value]
    given += [("--deselect", node) for node in config.getoption("deselect", None) or ()]
    words = [f"{flag} {shlex.quote(str(value))}" for flag, value in given]
    flags = (("--lf", "lf"), ("--sw", "stepwise"), ("--benchmark-only", "benchmark_only"),
             ("--benchmark-skip", "benchmark_skip"))
    words += [flag for flag, dest in flags if config.getoption(dest, False)]
    return " ".join(words) or None


def _shard(config: pytest.Config, gate_config: GateConfig) -> GateConfig:
    """--gate-shard K/N: deal the configured backends to N shards (every shard computes the same
    plan) and keep this shard's; the session then runs only those backends' tests."""
    text = config.getoption("gate_shard")
    if not text:
        for option in ("costs", "plan"):  # each deals shares: without one it would decide nothing
            if config.getoption(f"gate_shard_{option}"):
                raise GateError(f"--gate-shard-{option} deals the shares of a sharded session: give "
                                "--gate-shard K/N with it, or leave it out")
        return gate_config
    shard = parse_shard(text)
    if given := config.getoption("gate_shard_plan"):  # another session's plan (the PR's, for its base)
        try:
            plan, share = share_of_plan(given, gate_config.backends, shard)
        except NothingToRun as exc:  # pytest's "no tests": the requirements step compares nothing there
            pytest.exit(f"encoder-gate: {exc}", returncode=pytest.ExitCode.NO_TESTS_COLLECTED)
    else:
        plan = deal(gate_config.backends, costs_from(config.getoption("gate_shard_costs"),
                                                     gate_config.cache_dir, gate_config.model), shard.total)
        share = plan.share(shard.index)
    config.stash[SHARD_KEY] = (shard, plan)
    return replace(gate_config, backends=share, shard=str(shard))


def pytest_report_collectionfinish(config: pytest.Config, items: Sequence[pytest.Item]) -> list[str]:
    """Under "collected N items", where the session collected a test of the gate: a project's own
    tests, run in an environment the plugin is installed in, were told of a default model no test
    of theirs uses."""
    return _gate_lines(config) if any(map(is_gate_test, items)) else []


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What the session said before the terminal existed (EARLY); and under pytest-xdist, whose
    controller collects nothing and says nothing under "collected N items", the same lines in the
    header, where the project configures the gate or a --gate-* option is given."""
    early = [f"[encoder-gate] {message}" for message in config.stash.get(EARLY, [])]
    config.stash[EARLY] = []
    given = any(str(a).startswith("--gate-") for a in config.invocation_params.args)
    xdist = config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")
    return early + (_gate_lines(config) if xdist and (given or read_pyproject_table(config.rootpath)) else [])


def _gate_lines(config: pytest.Config) -> list[str]:
    out = []
    cfg = gate_session_of(config).config
    if cfg.model == "default":  # an empty [tool.encoder-gate], or none: not the user's model
        out.append("encoder-gate: model 'default', the embedded default classifier (no model is set in "
                   "[tool.encoder-gate] or --gate-model; built by its first session from MiniLM and "
                   "the trained head the package ships, in seconds)")
    if cfg.explore:
        out.append(f"encoder-gate: exploring: the padding properties draw {cfg.explore} random examples each "
                   "(--gate-explore), not their fixed ones; a failing example is kept in "
                   f"{Path(cfg.cache_dir) / EXAMPLES_DIR} and replayed by every later session")
    if (quota := cpu_quota()) is not None and (held := quota_note(cfg, quota)):
        out.append(f"encoder-gate: {held}")
    if SHARD_KEY in config.stash:
        shard, plan = config.stash[SHARD_KEY]
        out.append(f"encoder-gate: shard {shard} runs {', '.join(cfg.backends)} (the plan: "
                   f"{plan.describe()})")
    return out


#: Progress said before pytest's terminal reporter exists (the plugin's pytest_configure runs before
#: pytest's own: --gate-base-ref's checkout and where the base was forked), said in the header.
EARLY = pytest.StashKey[list[str]]()


def _progress_writer(config: pytest.Config) -> Any:
    """Write progress lines to the terminal even while output is captured; a line said before the
    terminal exists is kept for the session's header (pytest_report_header), where it had been lost."""

    def write(message: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capman = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            config.stash.setdefault(EARLY, []).append(message)
            return
        if capman is not None:
            with capman.global_and_fixture_disabled():
                _own_line(reporter, f"[encoder-gate] {message}")
        else:
            _own_line(reporter, f"[encoder-gate] {message}")

    return write


def _own_line(reporter: Any, line: str) -> None:
    """`line` on a line of its own. write_line starts a new line only after a file's name; after
    an earlier progress line pytest writes a test's dot with no name first, and the next line
    would follow the dot."""
    writer: Any = getattr(reporter, "_tw", None)
    if writer is not None and writer.width_of_current_line:
        writer.line()
    reporter.write_line(line)


def _own_backend_fixture(metafunc: pytest.Metafunc) -> bool:
    """Whether `backend` is the gate's fixture here, not a project's own of that name (a conftest's
    `backend` of a database: its tests were run once per gate backend, the default model trained)."""
    defs = getattr(metafunc, "_arg2fixturedefs", {}).get("backend") or ()
    func = getattr(defs[-1], "func", None) if defs else None
    return func is None or getattr(func, "__module__", "") == fixtures.__name__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and _own_backend_fixture(metafunc):
        config = gate_session_of(metafunc.config).config
        names = list(config.backends)
        # the accuracy checks judge every targeted integer path too
        if getattr(metafunc.function, "__module__", None) == CHECKS_MODULE:
            names += config.path_twins()
        metafunc.parametrize("backend", names, indirect=True, scope="session", ids=names)


#: The package the shipped tests live in (the thin modules `init` writes import them).
SUITE = "encoder_gate.suite"
#: The shipped accuracy checks: they judge each INT8 ONNX backend on every targeted integer path.
CHECKS_MODULE = "encoder_gate.suite.checks"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a session that would gate the wrong model (`refusals.no_table`); leave out the checks that
    cannot apply to this model; tag each per-backend test with its backend (reports carry the
    tag, also from xdist workers)."""
    why = no_table(config, items, SUITE) or unusable_waiver(config)
    if not why:
        try:  # the first to judge by the resolved model's bounds: one it refuses is refused here, once
            applicable.leave_out(config, items)
        except GateError as exc:  # a classifier's probability bound above 1 (accuracy.checks.bounds_for)
            why = f"encoder-gate: {exc}"
    if why and not hasattr(config, "workerinput"):
        raise pytest.UsageError(why)
    if why:  # an xdist worker: a usage error here is an INTERNALERROR, so every test fails with it
        config.stash[NO_TABLE] = why
    _once_per_sharded_session(config, items)
    tag_items(items, "backend", BACKEND_PROPERTY)
    tag_feeds(items)


def _once_per_sharded_session(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test of no backend (the tokenizer's padding properties, a team's own test of the model or
    data, with the gate's fixtures or without) runs in shard 1 alone: every shard has the same
    checkout, so the others would run it again, and the merge would name its failure once per shard.
    Deselected in the others."""
    if SHARD_KEY not in config.stash or config.stash[SHARD_KEY][0].index == 1:
        return
    kept: list[pytest.Item] = []
    once: list[pytest.Item] = []
    for item in items:
        alone = not set(BACKEND_PARAMS) & set(params_of(item))
        (once if alone else kept).append(item)
    if once:
        items[:] = kept
        config.hook.pytest_deselected(items=once)


#: Why an xdist worker's session must not run (`refusals.no_table`, `unusable_waiver`): each test
#: fails with it at setup.
NO_TABLE = pytest.StashKey[str]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Plan when each backend's runner goes (after the last test that uses it, in the final order),
    and whether runners are built at the timed `threads` or, when nothing is timed, `eval_threads`."""
    config = session.config
    if refused(config):  # pytest runs this hook after a usage error of collection too: it ran nothing,
        return  # and, as one at its start, builds, trains and marks nothing (refusals.py)
    config.stash[RELEASE_AFTER] = release_points(session.items)
    config.stash[GATE_COLLECTED] = any(map(is_gate_test, session.items))
    if config.stash[GATE_COLLECTED]:
        try:  # before the builds: a session killed in one leaves no PASS behind it
            mark_running(config)
        except OSError as exc:  # a full disk: pytest's INTERNALERROR, then a second traceback at the end
            where = gate_session_of(config).config.report_dir
            raise pytest.UsageError(f"encoder-gate: the report directory {where} cannot be written "
                                    f"({exc.strerror or exc}): free space there, or give "
                                    "--gate-report-dir=DIR elsewhere") from None
    timing = any(map(times_backends, session.items))
    gate_session_of(config).timing = timing
    if gate_session_of(config).selection is not None:  # the checks whose tests run (an xdist worker's
        # items are every test its session selected: the -k and -m of the run apply in each worker)
        gate_session_of(config).selected_checks = frozenset(
            (str(params_of(item)["backend"]), check) for item in session.items
            if (check := applicable.check_of(item)) is not None and "backend" in params_of(item))
    if BASE_KEY in config.stash:
        config.stash[BASE_KEY].session.timing = timing
    if not hasattr(config, "workerinput") and not runs_no_test(config):
        check_inputs(config, session.items)
        # every artifact file first, while the session holds no runner: a build's memory peak then
        # lands on a lean process (an xdist worker builds as its tests come: it runs a share of them)
        used = backends_used(session.items)
        gate = gate_session_of(config)
        gate.prebuild(used["backend"] + used["ab_backend"],
                      before=lambda missing: say_forecast(config, missing, used["backend"], session.items))
        if BASE_KEY in config.stash:
            config.stash[BASE_KEY].session.prebuild(
                used["ab_backend"], before=lambda missing: say_forecast(config, missing, used["ab_backend"],
                                                                        session.items, base=True))


def check_inputs(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Load the model, and read the evaluation data where a test will need it, before any test: a
    model or data that cannot be read (a missing directory or file, a column that is not there, a
    label the model does not have, no rows) stops the session here, in one line and a failed verdict,
    instead of failing every test that needs it, one after another, after the builds and the tests
    that do not need it (100 s of them on a first run). A missing package or device is left to the
    tests, which skip saying so. (An xdist controller collects nothing: there each test fails with
    the error, as it always did.)"""
    if not any(map(is_gate_test, items)):
        return
    session = gate_session_of(config)
    needs_data = any("gate_dataset" in getattr(item, "fixturenames", ()) for item in items)
    steps = [("the model", lambda: session.model), ("its type", lambda: check_model_type(session.model.path)),
             ("its weights", lambda: check_weights(session.model.path)),
             ("its weights", lambda: check_complete(session.model.path, bool(session.model.task.classifier),
                                                    session.cache, session.model.content_hash)),
             ("its tokenizer", lambda: session.tokenizer),
             *([("the evaluation data", lambda: session.dataset)] if needs_data else [])]
    for what, read in steps:
        try:
            read()
        except (DeviceUnavailable, MissingDependency, NotApplicable):
            return
        except GateError as exc:
            fail_gate(config, f"{what} could not be read: {exc}")
            raise pytest.UsageError(f"encoder-gate: {exc}") from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A shipped check's failure (errors.CheckFailed) is reported as its message alone: it says what
    failed, where the bound comes from and the worst samples; the check's code and the test's
    fixtures around it say nothing more (-vv and --tb=long still show them). So is a build that found
    no room on the disk (errors.DiskFull): the cache, what is free, what to do."""
    report = yield
    if (report.failed and call.excinfo is not None and call.excinfo.errisinstance((CheckFailed, DiskFull))
            and item.config.get_verbosity() < 2 and item.config.getoption("tbstyle", "auto") == "auto"):
        report.longrepr = call.excinfo.getrepr(style="value")
    if report.failed and report.when == "setup" and call.excinfo is not None:
        report.longrepr = _said_once(item, call.excinfo.value, report.longrepr)
    return report


#: Each of the gate's one-line setup errors this process reported, with the first test it was said for.
SETUP_ERRORS = pytest.StashKey[dict[str, str]]()


def _said_once(item: pytest.Item, error: BaseException, longrepr: Any) -> Any:
    """A setup error of the gate's (a backend's failed build, raised again by each test of it) in full
    once: a later test that meets the same one points to the first (a stale ONNX file's 300
    characters, said by each of its 24 tests, made the errors a wall of one message)."""
    text = str(getattr(error, "msg", ""))
    if not isinstance(error, pytest.fail.Exception) or error.pytrace or not text.startswith("encoder-gate: "):
        return longrepr
    first = item.config.stash.setdefault(SETUP_ERRORS, {}).setdefault(text, item.name)
    if first == item.name:
        return longrepr
    return f"encoder-gate: the same error as at the setup of {first} (above)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Release the backends no later test uses, so a session holds one model's runners at a time
    (five copies of a 500 MB model, each with its own activation arena, otherwise)."""
    try:
        return (yield)
    finally:
        base = item.config.stash.get(BASE_KEY, None)
        for name in item.config.stash.get(RELEASE_AFTER, {}).get(item.nodeid, ()):
            gate_session_of(item.config).release(name)
            if base is not None:
                base.release(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    """A GateError in a fixture (a build, a dataset) is one clean line, as everywhere else; in an
    xdist worker whose session gates the wrong model (`refusals.no_table`), every test fails saying so."""
    why = item.config.stash.get(NO_TABLE, None)
    if why:
        pytest.fail(why, pytrace=False)
    try:
        return (yield)
    except GateError as exc:  # (not chained: pytest printed the GateError above it again, walk AL)
        raise pytest.fail.Exception(f"encoder-gate: {exc}", pytrace=False) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A GateError raised inside any test (the smoke test's prediction on a file of fixed shapes,
    say) reaches the user as the same one-line failure as the checks give, not a library traceback."""
    try:
        return (yield)
    except GateError as exc:
        raise pytest.fail.Exception(f"encoder-gate: {exc}", pytrace=False) from None


WORKER_OUTPUT_KEY = "encoder_gate_accuracy"
#: A worker's word that the model or data file it read changed while it ran (provenance.inputs_changed):
#: the controller reads neither itself, so it fails the session on its workers' word.
WORKER_CHANGED_KEY = "encoder_gate_inputs_changed"
WORKERS_CHANGED = pytest.StashKey[list[str]]()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: keep the accuracy payload a finished worker sent back."""
    payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if payload:
        node.config.stash.setdefault(WORKER_PAYLOADS, []).append(payload)
    if changed := getattr(node, "workeroutput", {}).get(WORKER_CHANGED_KEY):
        node.config.stash.setdefault(WORKERS_CHANGED, []).append(str(changed))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write accuracy.json / accuracy.md and the verdict; fail a session that checked nothing;
    record a session whose tests ran to their end in the artifact cache (what it used is what
    `encoder-gate prune-cache` keeps).

    Without xdist, from this process's evaluations. Under xdist each worker evaluates the
    backends its tests needed and sends its payload to the controller (``workeroutput``),
    which merges them and writes one report.
    """
    config = session.config
    state = config.stash.get(SESSION_KEY, None)
    if hasattr(config, "workerinput"):
        if state is None:
            return
        if changed := inputs_changed(state):
            config.workeroutput[WORKER_CHANGED_KEY] = changed  # type: ignore[attr-defined]
        if state.evaluations or state.cached_outputs or state.padding:
            # plain JSON types: execnet cannot send numpy scalars
            config.workeroutput[WORKER_OUTPUT_KEY] = json.loads(  # type: ignore[attr-defined]
                json.dumps(accuracy_payload(state)))
        return
    if state is None:
        return
    ran_tests = any(o["ran"] for o in config.stash.get(OUTCOMES, {}).values())
    if ran_tests and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        with _bookkeeping(state, "this session's use of the artifact cache (prune-cache keeps what it used)"):
            record_session(state.config.cache_dir, config.stash[SESSION_STARTED], session_command(config),
                           state.config.shard, state.commit)
    why = None if runs_no_test(config) else nothing_checked(config.stash.get(OUTCOMES, {}),
                                                             selected=state.selection is not None)
    if why and not config.getoption("gate_allow_skip", False):
        config.stash[NOTHING_CHECKED] = why
        fail_gate(config, why)
    # the model or data file changed while it ran (read here, or by a worker): nothing of it is kept
    workers: list[str] = config.stash.get(WORKERS_CHANGED, [])
    changed = inputs_changed(state) or (workers[0] if workers else None)
    if changed:
        fail_gate(config, changed)
    ab.finish(session)
    baseline.finish(session)
    if SHARD_KEY not in config.stash:  # a shard's durations go into its shard.json: the next shard
        # of the same run must deal by the costs this one read (encoder-gate merge writes them out)
        ran = {name: o["seconds"] for name, o in config.stash.get(OUTCOMES, {}).items() if o["ran"]}
        with _bookkeeping(state, "each backend's seconds (a shard deals by them)"):
            record_costs(state.config.cache_dir, state.config.model, ran)
    received: list[dict[str, Any]] = config.stash.get(WORKER_PAYLOADS, [])
    payloads = list(received)
    # what a process read from the cache joins a report of what some process evaluated, never alone
    read_or_seen = state.cached_outputs or state.padding
    if state.evaluations or (read_or_seen and any(p["backends"] for p in received)):
        payloads.append(accuracy_payload(state))
    if any(p["backends"] for p in payloads) and not changed:
        paths = write_payload(state.config.report_dir, merge_payloads(payloads, state.config.backends))
        state.progress(f"accuracy report: {paths[0]} and {paths[1]}")
        wrote(config, ACCURACY_FILE)


@contextlib.contextmanager
def _bookkeeping(state: GateSession, what: str) -> Iterator[None]:
    """What a session records in the artifact cache for later ones: a full or read-only disk there
    is said in a line, and the verdict is still written (it ended the session in a traceback)."""
    try:
        yield
    except OSError as exc:
        state.progress(f"{what} not recorded in {state.config.cache_dir} ({exc.strerror or exc})")


@pytest.hookimpl(trylast=True)  # after the speed half's summary: the verdict table ends it
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    why = config.stash.get(NOTHING_CHECKED, None)
    base = config.stash.get(BASE_KEY, None)
    records = list(session.records.values())
    if base is not None:  # the base's own, named apart
        records += [replace(r, name=BASE_PREFIX + r.name) for r in base.session.records.values()]
    if records:
        terminalreporter.section("encoder-gate backends")
        width = max(16, *(len(rec.name) for rec in records))  # onnx:PATH names run long
        for rec in records:
            if rec.error:
                # (cut between words: the first of its tests' errors above says it in full)
                said = shorten(rec.error, 160, placeholder=" ...")
                terminalreporter.write_line(f"{rec.name:<{width}} error: {said}")
                continue
            origin = "loaded" if rec.from_cache is None else "from cache" if rec.from_cache else "built"
            preds = ""
            if rec.predictions is not None:
                hit, took = rec.predictions
                preds = "  predictions from cache" if hit else f"  predictions computed in {took:.1f}s"
            terminalreporter.write_line(
                f"{rec.name:<{width}} {origin:<10} {rec.seconds:7.1f}s  {rec.precision:<5} "
                f"{rec.size_bytes / 1e6:8.1f} MB{preds}"
            )
            for note in rec.notes:
                terminalreporter.write_line(f"{'':<{width}} note: {note}")
        if session.evaluations and not session.labelled and session.model.task.classifier:
            terminalreporter.write_line(NO_GOLD, yellow=True)  # (an encoder has no F1 to skip)
    # (not after a usage error: no test ran, and the line stood as the last word beside the error)
    left_out = applicable.summary_line(config) if exitstatus != pytest.ExitCode.USAGE_ERROR else None
    if left_out:
        terminalreporter.write_line(left_out)
    if session.evaluations:  # the F1 change with error bars, per classifier backend
        lines = stats_lines(session)
        if lines:
            terminalreporter.section("encoder-gate F1 with error bars")
        for line, warn in lines:
            terminalreporter.write_line(flat(line), yellow=warn)
    ab.terminal_summary(terminalreporter, config)
    baseline.terminal_summary(terminalreporter, config)
    if why:
        terminalreporter.section("encoder-gate: nothing was checked" if why.startswith(CHECKED_NOTHING)
                                 else "encoder-gate: backends not checked")
        terminalreporter.write_line(f"encoder-gate: {why}", red=True, bold=True)
    verdict_summary(terminalreporter, config)
