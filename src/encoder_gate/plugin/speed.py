"""The benchmark half of the plugin: the sweep, case order and the speed gate (its fixtures:
:mod:`encoder_gate.plugin.bench_fixtures`).

Registered by :mod:`encoder_gate.plugin.core` in ``pytest_configure`` (as pytest registers its
stepwise and cache plugins), so an installed encoder-gate brings it to any project; its
state lives in the config's stash. The numbers are computed by :mod:`encoder_gate.speed`.

- **Sweep**: ``--gate-sweep gate`` (the default) keeps the configuration whose false-alarm
  and detection rates docs/noise.md measures: model-only, normal variant, length-bucketed,
  paired rounds, the configured batch sizes. The other benchmarks are deselected and the
  summary says so. ``--gate-sweep full`` runs every mode, variant, dispatch and the worker
  processes (widen the batch sizes with ``--gate-batch-sizes 1,2,4,8,16,32``).
- **Speed gate**: at the end of a run each backend's speedup over torch eager (same run,
  same case) goes to ``<report-dir>/speedups.json`` and the terminal. The baseline is
  ``--gate-speedup-baseline FILE`` (or ENCODER_GATE_SPEEDUP_BASELINE), else, under
  ``--benchmark-compare``, the speedups recorded in the pytest-benchmark save being
  compared with. A speedup fails the session when it fell by more than
  ENCODER_GATE_SPEEDUP_MAX_DROP (default 0.15) and the fall is significant (one-sided
  Mann-Whitney U on the per-round log ratios, p < ENCODER_GATE_SPEEDUP_ALPHA, default 0.05);
  a baseline without per-round data falls back to the drop alone. With
  ENCODER_GATE_BENCH_EXTRA_ROUNDS=N, a model-only case that is borderline against the
  baseline gets N more paired rounds before it is recorded (once). A ``--benchmark-compare``
  that finds no saved run (pytest-benchmark only warns) is said in one line of the summary.
- **Hardware fingerprint**: every benchmark's extra_info and speedups.json carry the CPU,
  ISA flags, cores, threads, execution providers and library versions; a baseline from a
  different fingerprint is refused at collection (a usage error naming the fields) unless
  ENCODER_GATE_ALLOW_OTHER_MACHINE=1.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.backends.registry import packages_of
from encoder_gate.documents import SPEEDUPS_FILE
from encoder_gate.errors import GateError
from encoder_gate.plugin.benchmark_session import (
    CPU_CLASS,
    IGNORED_BENCHMARK_OPTIONS,
    no_saved_run_line,
    nothing_to_compare,
    saves_this_run,
    timing_off,
    timing_off_by_xdist,
)
from encoder_gate.plugin.stash import (
    FED,
    fail_gate,
    params_of,
    runs_no_test,
    times_backends,
    uses_benchmark,
    wrote,
)
from encoder_gate.runtime.provenance import timed_provenance
from encoder_gate.runtime.session import GateSession
from encoder_gate.speed import estimate as bench_estimate
from encoder_gate.speed.baseline import Baseline, open_baseline, read_baseline
from encoder_gate.speed.budget import TimeBudget
from encoder_gate.speed.machine import (
    MachineMismatch,
    MachinePeaks,
    hardware_fingerprint,
    oversubscribed,
    session_providers,
    usable_cores,
)
from encoder_gate.speed.outcome import SessionOutcome, finish_session
from encoder_gate.speed.rates import TIMED_TEXTS
from encoder_gate.speed.results import (
    KEY_FIELDS,
    BenchResult,
    case_id,
    results_from_json,
    speedups_document,
)
from encoder_gate.speed.rounds import clock_for, untraced
from encoder_gate.speed.rules import extra_rounds_needed
from encoder_gate.speed.settings import ENV_ALLOW_OTHER_MACHINE, BenchSettings, settings_from_env

SETTINGS = pytest.StashKey[BenchSettings]()
RESULTS = pytest.StashKey[list[BenchResult]]()
GEMM = pytest.StashKey[MachinePeaks]()
OUTCOME = pytest.StashKey[SessionOutcome]()
ERROR = pytest.StashKey[str]()
SWEEP_NOTE = pytest.StashKey[str]()
STARTED = pytest.StashKey[float]()
FINGERPRINT = pytest.StashKey[dict[str, Any]]()
ESTIMATE = pytest.StashKey[str]()
BUDGET = pytest.StashKey[TimeBudget]()
#: A --benchmark-compare save of another CPU class: the gate fails saying so, judging nothing by it.
OTHER_CPU = pytest.StashKey[bool]()

# What the gate sweep keeps: the configuration docs/noise.md's noise tables measure.
GATE_CASE = {"originalname": "test_model_only", "variant": "normal", "dispatch": "bucketed"}


def is_benchmark(item: pytest.Item) -> bool:
    """A benchmark of the suite: it times with pytest-benchmark and runs per backend."""
    params = params_of(item)
    return uses_benchmark(item) and "backend" in params


def is_model_only_cell(item: pytest.Item) -> bool:
    """A paired speed cell of the sweep (suite.benchmarks.test_model_only), whatever its variant."""
    return is_benchmark(item) and getattr(item, "originalname", item.name) == GATE_CASE["originalname"]


def keep_from_reruns(config: pytest.Config, cells: Sequence[pytest.Item]) -> str | None:
    """pytest-rerunfailures' reruns (`--reruns N` in a project's addopts, a `flaky` mark) kept off the
    cells that time backends, and a line saying so; None where it reruns nothing. A speed cell timed
    again until it passes lets a real slowdown through more often than the rate its rounds were sized
    for: caught with 80% power by one look, with one rerun it passes 36% of the time, not 20%. (The
    mark put first is the closest one, which rerunfailures reads before its option.)"""
    if not cells or not config.pluginmanager.hasplugin("rerunfailures"):
        return None
    reruns = config.getoption("reruns", None) or 0
    forced = config.getoption("force_reruns", None)  # rerunfailures 15 on: over every mark, or added to it
    if not reruns and not forced and not any(cell.get_closest_marker("flaky") for cell in cells):
        return None
    why = ("one timed again until it passes would let a real slowdown through about twice as often (36% "
           "against 20% at 80% power, one rerun)")
    if forced or config.getoption("reruns_mode", None) == "append":
        how = f"--force-reruns {forced}" if forced else "--reruns-mode append"
        return (f"encoder-gate: pytest-rerunfailures reruns the {len(cells)} cells that time backends "
                f"({how}, which no mark overrides): {why}; run the benchmarks without it")
    for cell in cells:
        cell.add_marker(pytest.mark.flaky(reruns=0), append=False)
    return (f"encoder-gate: pytest-rerunfailures' reruns (--reruns {reruns}) are kept off the {len(cells)} "
            f"cells that time backends: {why}")


def in_gate_sweep(item: pytest.Item) -> bool:
    params = item.callspec.params  # type: ignore[attr-defined]
    return (getattr(item, "originalname", item.name) == GATE_CASE["originalname"]
            and params.get("variant") == GATE_CASE["variant"]
            and params.get("dispatch") == GATE_CASE["dispatch"])


def _make_json_directory(config: pytest.Config) -> None:
    """pytest-benchmark opens --benchmark-json's file at the session's end and fails there, every
    test already run, when its directory does not exist (a report directory the session itself
    creates, in a fresh checkout): make the directory first."""
    path = config.getoption("benchmark_json", None)
    if isinstance(path, (str, Path)):
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise pytest.UsageError(f"encoder-gate: --benchmark-json {path}: cannot create its directory "
                                    f"({exc.strerror})") from None


class BenchPlugin:
    """Hooks and fixtures of the benchmark half; one instance per pytest session."""

    def __init__(self, config: pytest.Config, session: GateSession) -> None:
        self.config = config
        self.session = session  # the GateSession of encoder_gate.plugin.core
        try:
            settings = settings_from_env()
        except GateError as exc:
            raise pytest.UsageError(f"encoder-gate: {exc}") from None
        explicit = config.getoption("gate_speedup_baseline", None)
        if explicit:
            settings = dataclasses.replace(settings, baseline=Path(explicit).expanduser())
        if config.getoption("gate_allow_other_machine", False):  # or ENCODER_GATE_ALLOW_OTHER_MACHINE=1
            settings = dataclasses.replace(settings, allow_other_machine=True)
        if settings.baseline is not None and not settings.baseline.is_file():
            raise pytest.UsageError(
                f"encoder-gate: speedup baseline {settings.baseline} is not a file; point "
                "--gate-speedup-baseline (or ENCODER_GATE_SPEEDUP_BASELINE) at a speedups.json "
                "saved by an earlier benchmark run")
        if settings.baseline is not None:  # another tool's file: said now, not after the timing
            try:
                read_baseline(settings.baseline)
            except GateError as exc:
                raise pytest.UsageError(f"encoder-gate: {exc}") from None
        compare = config.getoption("benchmark_compare", None)
        if config.getoption("benchmark_compare_fail", None) and not compare:
            raise pytest.UsageError(  # pytest-benchmark says so at the end, every cell timed, no verdict
                "encoder-gate: --benchmark-compare-fail needs --benchmark-compare, the save of an earlier "
                "run to compare with (`pytest benchmarks --benchmark-autosave` first); or gate the "
                "speedups against a speedups.json with --gate-speedup-baseline")
        config.stash[SETTINGS] = settings
        config.stash[RESULTS] = []
        _make_json_directory(config)
        config.stash[STARTED] = time.monotonic()
        self._baseline: Baseline | None = None
        self._baseline_error: GateError | None = None
        self._baseline_loaded = False
        self._cases: dict[str, bench_estimate.Case] = {}  # nodeid -> case, the selected benchmarks
        self._timed: dict[str, float] = {}  # nodeid -> seconds (setup + call + teardown)
        self._ran: set[str] = set()  # benchmarks whose call phase ran (skipped ones are not recorded)
        self._first_start: float | None = None  # epoch seconds the first benchmark's setup began
        self._finished: list[str] = []  # nodeids of the benchmarks whose teardown has been reported
        self._charged: dict[str, float] = {}  # nodeid -> the seconds of its timing the budget charged
        self._cells: set[str] = set()  # nodeids of the speed cells the timing budget is shared among
        self._will_time = False  # whether a collected cell will time backends (pytest_collection_finish)
        self._call_seconds: dict[str, float] = {}  # nodeid -> its call's seconds, charged at teardown

    def clock_lines(self, config: pytest.Config) -> list[str]:
        """Beside pytest-benchmark's own header (its default `timer=time.perf_counter`): the clock the
        gate's speed cells are timed and decided on, which is not always that one."""
        if getattr(config, "_benchmarksession", None) is None:
            return []
        clock = clock_for(self.session.config.threads, self.session.config.device)
        said = ("the thread's CPU time (time.thread_time; one intra-op thread)" if clock == "thread"
                else "wall time (time.perf_counter)")
        out = [f"encoder-gate: its speed cells are timed in rounds of their own on {said}; "
               "pytest-benchmark's figures hold those rounds (not the timer its header names)"]
        # a user's --benchmark-min-rounds=50 ran 7 rounds, and the line above denied the timer they set
        ignored = [o for o in IGNORED_BENCHMARK_OPTIONS
                   if any(str(a).split("=")[0] == o for a in config.invocation_params.args)]
        if ignored:
            out.append(f"encoder-gate: {', '.join(ignored)} apply to pytest-benchmark's calibrated rounds, "
                       "which the gate's benchmarks do not use: their rounds are the gate's (--gate-budget, "
                       "ENCODER_GATE_BENCH_ROUNDS, docs/benchmarks.md)")
        if clock_for(self.session.config.threads, "cpu") != clock:  # a GPU session's rows on the CPU
            out.append("encoder-gate: a backend computed on the CPU in this session (a file with no CUDA "
                       "kernels, or pinned there) is timed on the thread's CPU time, against torch eager "
                       "on the CPU")
        # a setting written for a bigger runner (and said in the verdict, from speedups.json's fingerprint)
        crowded = oversubscribed({"threads": self.session.config.threads, "usable_cores": usable_cores()})
        return out + ([f"encoder-gate: {crowded}"] if crowded else [])

    def note(self, text: str) -> None:
        """One more clause of the summary's sweep note, once: what this session timed otherwise than
        it was asked to."""
        said = self.config.stash.get(SWEEP_NOTE, "benchmarks")
        if text not in said:
            self.config.stash[SWEEP_NOTE] = f"{said}; {text}"

    # --- collection ------------------------------------------------------------------------

    def batch_sizes(self) -> list[int]:
        return list(self.session.config.batch_sizes)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "gate_batch_size" in metafunc.fixturenames:
            sizes = self.batch_sizes()
            metafunc.parametrize("gate_batch_size", sizes, ids=[f"bs{b}" for b in sizes])

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep the sweep's benchmarks, and run the backends of one case back to back.

        pytest groups tests by the session-scoped `backend` parameter, which puts minutes
        between torch and onnx-int8 of the same case; interleaving them makes load from
        other processes hit them alike. Built runners are cached by the session, so
        switching backend between tests costs nothing.
        """
        if self.session.config.sweep == "gate":
            dropped = [item for item in items if is_benchmark(item) and not in_gate_sweep(item)]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
                gone = set(map(id, dropped))
                items[:] = [item for item in items if id(item) not in gone]
                config.stash[SWEEP_NOTE] = (
                    f"gate sweep (model-only, normal, bucketed, batch sizes "
                    f"{','.join(map(str, self.batch_sizes()))}): deselected {len(dropped)} other "
                    "benchmarks (end-to-end, latency, workers, filtered, ordered); "
                    "--gate-sweep full runs them")
        else:
            n = sum(map(is_benchmark, items))
            config.stash[SWEEP_NOTE] = (f"full sweep: {n} benchmarks, batch sizes "
                                        f"{','.join(map(str, self.batch_sizes()))}")
        self._interleave(items)
        self._cases = {item.nodeid: self.case_of(item) for item in items if is_benchmark(item)}
        speed = any(map(is_model_only_cell, items)) and not hasattr(config, "workerinput")
        if speed and getattr(config, "_benchmarksession", None) is None:  # each cell: "fixture not found"
            raise pytest.UsageError(
                "encoder-gate: the speed cells time with pytest-benchmark, which this session does not load "
                "(-p no:benchmark): each would error with pytest's \"fixture 'benchmark' not found\". Drop "
                "-p no:benchmark, or run `pytest accuracy` alone")
        if speed and not timing_off(config):
            nothing_to_compare(config, config.stash[SETTINGS].baseline)
        messages = []
        if self._cases and not hasattr(config, "workerinput"):
            what = "full sweep" if self.session.config.sweep == "full" else "gate sweep"
            if timing_off(config):  # each benchmark runs once, untimed: no timed session's duration
                messages.append(f"encoder-gate: {what}: {len(self._cases)} benchmarks, each run once "
                                "untimed (pytest-benchmark's timing is off)")
            else:
                records = bench_estimate.load(self.session.config.cache_dir).get(self.history_key(), [])
                settings = self.config.stash[SETTINGS]
                cells = sum(map(is_model_only_cell, items)) if settings.paired else 0
                bounds = bench_estimate.round_bounds(cells, settings.rounds, settings.ci_target,
                                                     self.session.config.budget, settings.texts)
                messages.append(bench_estimate.estimate(records, self._cases.values(), bounds).message(what))
        timing = [item for item in items if times_backends(item)]
        against = sum(not uses_benchmark(item) for item in timing)  # the vs-base cells (speed.ab)
        if against and not hasattr(config, "workerinput"):
            messages.append(bench_estimate.against_base(against, self.session.config.ab_budget))
        self._cells = {item.nodeid for item in timing}
        # what will be timed: a benchmark under --benchmark-disable runs once untimed (a smoke run,
        # which may well run under coverage); a vs-base cell times whatever pytest-benchmark does
        self._will_time = any(not (uses_benchmark(item) and timing_off(config)) for item in timing)
        if kept := keep_from_reruns(config, timing):
            messages.append(kept)
        if self.session.config.budget is not None:
            config.stash[BUDGET] = TimeBudget(self.session.config.budget, len(self._cells))
            messages.append(config.stash[BUDGET].plan_line())
        if messages and not hasattr(config, "workerinput"):
            config.stash[ESTIMATE] = "\n".join(messages)
        if self._cases and not runs_no_test(config) and not hasattr(config, "workerinput"):
            self.check_machine()

    @staticmethod
    def case_of(item: pytest.Item) -> bench_estimate.Case:
        params = item.callspec.params  # type: ignore[attr-defined]
        size = params.get("gate_batch_size")
        return bench_estimate.Case(id=item.nodeid.split("::", 1)[-1],
                                   test=getattr(item, "originalname", item.name),
                                   backend=str(params["backend"]),
                                   batch_size=int(size) if size is not None else None)

    def history_key(self) -> str:
        settings, cfg = self.config.stash[SETTINGS], self.session.config
        return bench_estimate.history_key(cfg.model, cfg.threads, settings.rounds, settings.texts,
                                          settings.paired, settings.ci_target)

    def pytest_report_collectionfinish(self, items: Sequence[pytest.Item]) -> list[str]:
        """The clock the speed cells are timed on, the expected duration and the timing budget's plan,
        printed under "collected N items" before anything runs; where the session collected a
        benchmark, or a speed cell against the base (a project's own tests, the plugin merely
        installed, are told nothing of clocks)."""
        if not any(map(times_backends, items)):
            return []
        message = self.config.stash.get(ESTIMATE, None)
        clocks = self.clock_lines(self.config) if any(map(uses_benchmark, items)) else []
        return [*clocks, *(message.splitlines() if message else [])]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """A session whose cells time backends, under a tracer (pytest-cov's --cov in addopts): refused
        here, before the session's own collection_finish builds every backend (it had built and loaded
        all of them, 58 s on a 2-layer model, to fail each cell after); the round loop asks again, for
        a tracer set later (speed.rounds.untraced)."""
        if self._will_time and not hasattr(session.config, "workerinput"):  # (a worker's: the round loop's)
            try:
                untraced()
            except GateError as exc:
                raise pytest.UsageError(f"encoder-gate: {exc}") from None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        budget = self.config.stash.get(BUDGET, None)
        if budget is not None and report.nodeid in self._cells:
            if report.when == "call":
                self._call_seconds[report.nodeid] = report.duration
            elif report.when == "teardown":  # the cell is done (a skip in setup costs nothing)
                before = budget.spent
                budget.charge(self._call_seconds.pop(report.nodeid, 0.0))
                self._charged[report.nodeid] = budget.spent - before
        if report.nodeid in self._cases:
            self._timed[report.nodeid] = self._timed.get(report.nodeid, 0.0) + report.duration
            if report.when == "call" and not report.skipped:
                self._ran.add(report.nodeid)
            if not hasattr(self.config, "workerinput"):  # the controller tells the progress
                self.tell_progress(report)

    def tell_progress(self, report: pytest.TestReport) -> None:
        """A line with the time left after each benchmark, once the session has run a minute."""
        if self._first_start is None:
            self._first_start = report.start
        if report.when != "teardown":
            return
        self._finished.append(report.nodeid)
        budget = self.config.stash.get(BUDGET, None)
        ran = [n for n in self._finished if n in self._ran]  # a skipped benchmark says nothing of the pace
        finished = [bench_estimate.Finished(self._cases[n].backend, self._timed.get(n, 0.0),
                                            self._charged.get(n, self._timed.get(n, 0.0)))  # no budget: all
                    for n in ran]
        done = set(self._finished)
        left = [case.backend for nodeid, case in self._cases.items() if nodeid not in done]
        line = bench_estimate.progress_line(finished, left, report.stop - self._first_start,
                                            max(0.0, budget.seconds - budget.spent) if budget else None,
                                            skipped=len(self._finished) - len(ran))
        if line:
            self.session.progress(line)

    def _interleave(self, items: list[pytest.Item]) -> None:
        backends = list(self.session.config.backends)
        positions = [i for i, item in enumerate(items) if is_benchmark(item)]
        first_seen: dict[tuple[Any, ...], int] = {}

        def key(item: pytest.Item) -> tuple[int, int]:
            params = item.callspec.params  # type: ignore[attr-defined]
            case = (getattr(item, "originalname", item.name),
                    *sorted((k, str(v)) for k, v in params.items() if k != "backend"))
            name = str(params["backend"])
            return first_seen.setdefault(case, len(first_seen)), \
                backends.index(name) if name in backends else len(backends)

        ordered = sorted((items[i] for i in positions), key=key)
        for i, item in zip(positions, ordered, strict=True):
            items[i] = item

    # --- the baseline: its machine, borderline cases ------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        """The hardware fingerprint of this session (computed once)."""
        if FINGERPRINT not in self.config.stash:
            backends = self.session.config.backends
            self.config.stash[FINGERPRINT] = hardware_fingerprint(
                self.session.config.threads, session_providers(self.session.config.device, backends),
                packages=packages_of(backends), device=self.session.config.device)
        return self.config.stash[FINGERPRINT]

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_machine_info(self, config: pytest.Config,
                                             machine_info: dict[str, Any]) -> None:
        """pytest-benchmark's machine_info (in every save) gains the CPU class the gate reads."""
        machine_info["encoder_gate"] = {k: self.fingerprint().get(k) for k in (*CPU_CLASS, "logical_cores",
                                                                               "physical_cores", "threads")}

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_compare_machine_info(self, config: pytest.Config, benchmarksession: Any,
                                              machine_info: Mapping[str, Any],
                                              compared_benchmark: Mapping[str, Any]) -> None:
        """--benchmark-compare against a save from another CPU class fails the gate, saying what
        differs (pytest-benchmark itself only warns, then compares)."""
        saved = (compared_benchmark.get("machine_info") or {}).get("encoder_gate")
        now = machine_info.get("encoder_gate")
        if not saved or not now or config.stash[SETTINGS].allow_other_machine:
            return
        differ = [f"{k}: {now.get(k)!r} now, {saved.get(k)!r} in the save" for k in CPU_CLASS
                  if now.get(k) != saved.get(k)]
        if differ:
            config.stash[OTHER_CPU] = True
            fail_gate(config, "speed: --benchmark-compare against a save from another CPU class ("
                      + "; ".join(differ) + "): absolute times of different CPUs are not comparable (and "
                      "INT8 ones may differ in arithmetic too). Save a baseline on this machine "
                      "(--benchmark-autosave), compare within one session against the base (--gate-base), "
                      f"or set {ENV_ALLOW_OTHER_MACHINE}=1 to compare anyway")

    def baseline(self) -> Baseline | None:
        """The speed baseline, opened once by :func:`~encoder_gate.speed.baseline.open_baseline`:
        the speedups.json of --gate-speedup-baseline, else the save --benchmark-compare compares
        with, read and checked against this session's fingerprint. A malformed file raises a
        GateError, a baseline from another machine a MachineMismatch (each time it is asked for)."""
        if not self._baseline_loaded:
            settings = self.config.stash[SETTINGS]
            compared = None if settings.baseline is not None else self.compared_baseline()
            try:
                self._baseline = open_baseline(settings, self.fingerprint(), compared)
            except GateError as exc:
                self._baseline_error = exc
            self._baseline_loaded = True
        if self._baseline_error is not None:
            raise self._baseline_error
        return self._baseline

    def check_machine(self) -> None:
        """Refuse (a usage error) a baseline measured on another hardware fingerprint, unless
        ENCODER_GATE_ALLOW_OTHER_MACHINE=1. Runs once the benchmarks are collected, so no time
        is spent benchmarking against a baseline that cannot be compared."""
        try:
            self.baseline()
        except MachineMismatch as exc:
            raise pytest.UsageError(f"encoder-gate: {exc}") from None
        except GateError:  # a malformed file: reported at the end of the session, with the speedups
            return

    def extra_rounds(self, case: str, backend: str, log_ratios: Sequence[float]) -> int:
        """Paired rounds to add to a case before recording it: ENCODER_GATE_BENCH_EXTRA_ROUNDS
        when it is borderline against the baseline (see extra_rounds_needed), else 0."""
        settings = self.config.stash[SETTINGS]
        if settings.extra_rounds <= 0:
            return 0
        try:
            found = self.baseline()
        except GateError:
            return 0
        if found is None:
            return 0
        return extra_rounds_needed(found.doc, case, backend, log_ratios, settings)

    # --- the end of the session ------------------------------------------------------------

    def compared_baseline(self) -> tuple[Mapping[str, Any], str] | None:
        """Speedups of the pytest-benchmark save that ``--benchmark-compare`` compares with."""
        session = getattr(self.config, "_benchmarksession", None)
        mapping = getattr(session, "compared_mapping", None) or {}
        for path, benches in mapping.items():
            results = results_from_json({"benchmarks": list(benches.values())})
            if results:  # the model its benchmarks timed, as a speedups.json names it
                hashes = {r.info.get("model_hash") for r in results} - {None}
                names = {r.info.get("model") for r in results} - {None}  # (its name: "None" was said)
                model = None if len(hashes) != 1 else {"content_hash": next(iter(hashes)),
                                                       **({"name": names.pop()} if len(names) == 1 else {})}
                return speedups_document(results, model=model), str(path)
        return None

    def compare_regressions(self) -> list[dict[str, Any]] | None:
        """pytest-benchmark's own verdict under --benchmark-compare-fail: a record per regressed
        benchmark, its backend and case read from the benchmark's extra_info (None when it was not
        asked to judge)."""
        bench_session = getattr(self.config, "_benchmarksession", None)
        if bench_session is None or not getattr(bench_session, "compare_fail", None):
            return None
        # pytest-benchmark names a regression by --benchmark-name: each benchmark's extra_info and fullname
        info: dict[str, tuple[Mapping[str, Any], str]] = {}
        for bench in getattr(bench_session, "benchmarks", None) or []:
            extra = getattr(bench, "extra_info", None) or {}
            full = str(getattr(bench, "fullname", "") or "")
            for name in (getattr(bench, "name", None), full):
                if name:
                    info[str(name)] = (extra, full)
                    info[str(name).removeprefix("test_")] = (extra, full)  # --benchmark-name short
        saved = {full: bench.get("extra_info") or {}
                 for benches in (getattr(bench_session, "compared_mapping", None) or {}).values()
                 for full, bench in benches.items()}
        out = []
        for name, message in bench_session.performance_regressions:
            # "NAME (SOURCE)" under --benchmark-name normal, short and long; a trial's name is its
            # save's number alone, which names no benchmark: its backend stays unknown
            extra, full = info.get(str(name)) or info.get(str(name).rsplit(" (", 1)[0]) or ({}, "")
            case = (case_id(str(extra["mode"]), str(extra["variant"]), int(extra["batch_size"]),
                            str(extra["dispatch"])) if all(k in extra for k in KEY_FIELDS) else None)
            then = saved.get(full, {}).get(TIMED_TEXTS)
            now = extra.get(TIMED_TEXTS)
            out.append({"backend": extra.get("backend"), "case": case, "benchmark": str(name),
                        "text": f"{name}: {message}",
                        # its absolute times over other texts than the save's: another figure (walk AD)
                        **({"unlike": f"texts {now} now, {then} in the save"}
                           if now is not None and then is not None and now != then else {})})
        return out

    @pytest.hookimpl(trylast=True)  # after pytest-benchmark's own sessionfinish has compared
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = session.config
        if self._ran and not hasattr(config, "workerinput") and not timing_off(config):
            bench_estimate.record(self.session.config.cache_dir, self.history_key(),
                                  {self._cases[n]: self._timed[n] for n in self._ran})
        results = config.stash.get(RESULTS, [])
        if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
            return
        if not results:
            self.untimed(session)
            return
        gate = self.session
        here = timed_provenance(gate, config.rootpath)
        model = {"name": gate.model.name, "model_type": gate.model.model_type,
                 "content_hash": gate.model.content_hash, "threads": gate.config.threads,
                 "device": gate.config.device}
        try:
            # a save of another CPU class is not judged against (its finding fails the verdict): no
            # "speedup gate passed against" it beside that FAIL
            other_cpu = config.stash.get(OTHER_CPU, False) and config.stash[SETTINGS].baseline is None
            baseline = None if other_cpu else self.baseline()
            outcome = finish_session(results, config.stash[SETTINGS], gate.config.report_dir, model,
                                     config.stash.get(GEMM, None), baseline=baseline,
                                     compare_regressions=self.compare_regressions(),
                                     fingerprint=self.fingerprint(), provenance=here)
        except GateError as exc:  # a malformed baseline file, or one from another machine
            config.stash[ERROR] = str(exc)
            fail_gate(config, f"speed: {exc}")
        else:
            config.stash[OUTCOME] = outcome
            wrote(config, SPEEDUPS_FILE)  # its failed cells fail the session through the verdict
            self.hand_over_compare()

    def hand_over_compare(self) -> None:
        """pytest-benchmark's --benchmark-compare-fail regressions are in speedups.json now (the
        verdict names each regressed cell and fails the session): its own PerformanceRegression,
        raised from its terminal summary, would end the session in a traceback before the
        verdict's table, so its list is emptied once the gate holds it."""
        bench_session = getattr(self.config, "_benchmarksession", None)
        if bench_session is not None and getattr(bench_session, "performance_regressions", None):
            bench_session.performance_regressions = []

    def untimed(self, session: pytest.Session) -> None:
        """Benchmarks ran but pytest-benchmark timed none: no speedup exists to gate.

        Turned off by pytest-xdist (any `--dist`, `-n` or not: pytest-benchmark disables itself,
        and a `--dist` in addopts does so unasked), that fails the session: the benchmarks were
        asked for and checked nothing. Turned off by the user's own --benchmark-disable (a smoke
        run of the benchmark code), it fails only when a speed baseline was asked for; otherwise
        the summary says so."""
        config = session.config
        # an xdist controller runs no test itself: its workers' reports name the document their
        # benchmarks feed (stash.tag_feeds), and it is the controller's verdict that sets the exit
        ran = self._ran or SPEEDUPS_FILE in config.stash.get(FED, set())
        if not ran or not timing_off(config):
            return
        asked = config.stash[SETTINGS].baseline is not None \
            or config.getoption("benchmark_compare", None) not in (None, False, [])
        by_xdist = timing_off_by_xdist(config)
        if by_xdist:
            dist = config.getoption("dist", "no")
            why = (f"pytest-benchmark timed nothing: pytest-xdist is active (--dist {dist}"
                   f"{'' if config.getoption('numprocesses', None) else ', without -n: from addopts?'}"
                   "), and pytest-benchmark turns its timing off under it, so no speedup was measured; "
                   "run the benchmarks without -n and without --dist (`--dist no` overrides one in addopts)")
        else:
            why = ("pytest-benchmark timed nothing: its timing is off (--benchmark-disable), so no "
                   "speedup was measured; run the benchmarks without --benchmark-disable")
            if saves_this_run(getattr(config, "_benchmarksession", None)):
                why += (" (and nothing was saved: pytest-benchmark saves timed runs only, so its "
                        "--benchmark-autosave or --benchmark-save made no save to compare with later)")
        if asked or by_xdist:
            config.stash[ERROR] = f"the speed gate checked nothing: {why}"
            fail_gate(config, config.stash[ERROR])
        else:
            config.stash[SWEEP_NOTE] = f"{config.stash.get(SWEEP_NOTE, 'benchmarks')}; {why}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        config = self.config
        note = config.stash.get(SWEEP_NOTE, None)
        outcome, error = config.stash.get(OUTCOME, None), config.stash.get(ERROR, None)
        if outcome is None and error is None and note is None and BUDGET not in config.stash:
            return
        terminalreporter.section("encoder-gate speedups over torch eager (same run)")
        if note is not None:
            minutes = (time.monotonic() - config.stash[STARTED]) / 60
            terminalreporter.write_line(f"{note}; session took {minutes:.1f} min")
        budget = config.stash.get(BUDGET, None)
        if budget is not None:
            terminalreporter.write_line(budget.summary_line(), yellow=bool(budget.cut))
        missing = no_saved_run_line(getattr(config, "_benchmarksession", None),
                                    config.stash[SETTINGS].baseline)
        if missing is not None:
            terminalreporter.write_line(missing, yellow=True)
        if error is not None:
            terminalreporter.write_line(f"encoder-gate: {error}", red=True, bold=True)
            return
        for text, style in outcome.lines() if outcome is not None else ():
            terminalreporter.write_line(text, **({style: True} if style else {}))
