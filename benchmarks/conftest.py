"""Benchmark-only hooks: batch-size parametrization and the session-end speedup summary.

Thin on purpose: the numbers are computed by `encoder_gate.bench`. At the end of a run
with benchmarks enabled, each backend's speedup over torch eager (same run, same case)
goes to `<report-dir>/speedups.json` and the terminal; with ENCODER_GATE_SPEEDUP_BASELINE
set to a saved speedups.json, a speedup that fell by more than ENCODER_GATE_SPEEDUP_MAX_DROP
(default 0.25) fails the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from encoder_gate import bench
from encoder_gate.errors import GateError
from encoder_gate.plugin import gate_session_of

SETTINGS = pytest.StashKey[bench.BenchSettings]()
RESULTS = pytest.StashKey[list[bench.BenchResult]]()
GEMM = pytest.StashKey[float]()
OUTCOME = pytest.StashKey[bench.SessionOutcome]()
ERROR = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = bench.settings_from_env()
    except GateError as exc:
        raise pytest.UsageError(f"encoder-gate: {exc}") from None
    if settings.baseline is not None and not settings.baseline.is_file():
        raise pytest.UsageError(f"encoder-gate: {bench.ENV_BASELINE}={settings.baseline} is not a file; "
                                "point it at a speedups.json saved by an earlier benchmark run")
    config.stash[SETTINGS] = settings
    config.stash[RESULTS] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "batch_size" in metafunc.fixturenames:
        sizes = list(gate_session_of(metafunc.config).config.batch_sizes)
        metafunc.parametrize("batch_size", sizes, ids=[f"bs{b}" for b in sizes])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the backends of one case back to back, so load from other processes hits them alike.

    pytest groups tests by the session-scoped `backend` parameter, which puts minutes between
    torch and onnx-int8 of the same case. Built runners are cached by the session, so
    switching backend between tests costs nothing.
    """
    here = Path(__file__).parent
    backends = list(gate_session_of(config).config.backends)
    positions = [i for i, item in enumerate(items) if item.path.is_relative_to(here)
                 and "backend" in getattr(getattr(item, "callspec", None), "params", {})]
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


@pytest.fixture(scope="session")
def bench_settings(pytestconfig: pytest.Config) -> bench.BenchSettings:
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def bench_results(pytestconfig: pytest.Config) -> list[bench.BenchResult]:
    """Every finished benchmark of the session, for the speedup summary."""
    return pytestconfig.stash[RESULTS]


@pytest.fixture(scope="session")
def machine_gemm(pytestconfig: pytest.Config, gate_session: Any) -> float:
    """The machine's FP32 GEMM rate (GFLOP/s), measured once per session."""
    if GEMM not in pytestconfig.stash:
        pytestconfig.stash[GEMM] = bench.gemm_gflops(threads=gate_session.config.threads or None)
    return pytestconfig.stash[GEMM]


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    results = config.stash.get(RESULTS, [])
    if not results or hasattr(config, "workerinput"):  # nothing timed, or an xdist worker
        return
    gate = gate_session_of(config)
    model = {"name": gate.model.name, "model_type": gate.model.model_type,
             "content_hash": gate.model.content_hash, "threads": gate.config.threads,
             "device": gate.config.device}
    try:
        outcome = bench.finish_session(results, config.stash[SETTINGS], gate.config.report_dir, model,
                                       config.stash.get(GEMM, None))
    except GateError as exc:  # a malformed baseline file
        config.stash[ERROR] = str(exc)
        failed = True
    else:
        config.stash[OUTCOME] = outcome
        failed = bool(outcome.failures)
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    outcome, error = config.stash.get(OUTCOME, None), config.stash.get(ERROR, None)
    if outcome is None and error is None:
        return
    terminalreporter.section("encoder-gate speedups over torch eager (same run)")
    if error is not None:
        terminalreporter.write_line(f"encoder-gate: {error}", red=True, bold=True)
        return
    for text, style in outcome.lines():
        terminalreporter.write_line(text, **({style: True} if style else {}))
