"""The pytest plugin: options, session fixtures and the summary. Logic lives elsewhere.

Registered through the `pytest11` entry point, so any pytest run in an environment with
encoder-gate installed gets the `--gate-*` options and the fixtures below. Nothing is
built until a test asks for a fixture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from encoder_gate.backends.base import Runner
from encoder_gate.config import load_config
from encoder_gate.errors import DeviceUnavailable, GateError, MissingDependency
from encoder_gate.gate import Evaluation
from encoder_gate.models import BUILTIN_MODELS, ModelSpec
from encoder_gate.session import GateSession
from encoder_gate.tolerances import Bounds

SESSION_KEY = pytest.StashKey[GateSession]()

OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("model", "MODEL", f"model: {', '.join(BUILTIN_MODELS)}, a local HF model directory, or a hub id"),
    ("backends", "LIST", "comma list of backends: torch, torch-compile, onnx-fp32, onnx-fp16, "
                         "onnx-int8, onnx:PATH"),
    ("dataset", "SOURCE", "dataset: bundled, a .jsonl/.csv/.parquet file, a saved HF dataset "
                          "directory, or hf:ID"),
    ("dataset-variant", "VARIANT", "normal, or filtered (texts over 200 characters)"),
    ("split", "SPLIT", "dataset split (bundled: train, validation, test)"),
    ("text-column", "NAME", "text column of the dataset"),
    ("label-column", "NAME", "label column of the dataset"),
    ("batch-sizes", "LIST", "comma list of benchmark batch sizes, e.g. 1,2,4,8,16,32"),
    ("eval-batch-size", "N", "batch size for accuracy evaluation"),
    ("limit", "N", "evaluate only the first N examples (0: all)"),
    ("thresholds", "MODE", "fixed (0.5, the model card's) or tuned (per label, on the validation split)"),
    ("device", "DEVICE", "cpu or cuda"),
    ("threads", "N", "intra-op threads for torch and ONNX Runtime (0: library default)"),
    ("cache-dir", "DIR", "artifact cache directory (default .encoder-gate/cache)"),
    ("report-dir", "DIR", "report directory (default .encoder-gate)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("encoder-gate", "encoder-gate: encoder accuracy and speed gate")
    for name, metavar, help_text in OPTIONS:
        group.addoption(f"--gate-{name}", dest=f"gate_{name.replace('-', '_')}",
                        metavar=metavar, default=None, help=help_text)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU")
    overrides = {name.replace("-", "_"): config.getoption(f"gate_{name.replace('-', '_')}")
                 for name, _, _ in OPTIONS}
    try:
        gate_config = load_config(config.rootpath, overrides)
    except GateError as exc:
        raise pytest.UsageError(f"encoder-gate: {exc}") from None
    config.stash[SESSION_KEY] = GateSession(gate_config, progress=_progress_writer(config))


def _progress_writer(config: pytest.Config) -> Any:
    """Write progress lines to the terminal even while output is captured."""

    def write(message: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capman = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        if capman is not None:
            with capman.global_and_fixture_disabled():
                reporter.write_line(f"[encoder-gate] {message}")
        else:
            reporter.write_line(f"[encoder-gate] {message}")

    return write


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = list(gate_session_of(metafunc.config).config.backends)
        metafunc.parametrize("backend", names, indirect=True, scope="session", ids=names)


def gate_session_of(config: pytest.Config) -> GateSession:
    return config.stash[SESSION_KEY]


def call_or_skip(fn: Any, *args: Any) -> Any:
    """Run a build step; a missing device or package skips, any other GateError fails."""
    try:
        return fn(*args)
    except (DeviceUnavailable, MissingDependency) as exc:
        pytest.skip(str(exc))
    except GateError as exc:
        pytest.fail(f"encoder-gate: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def gate_session(request: pytest.FixtureRequest) -> Iterator[GateSession]:
    """The session's shared state (config, model, data, built backends)."""
    session = gate_session_of(request.config)
    yield session
    session.close()


@pytest.fixture(scope="session")
def gate_model(gate_session: GateSession) -> ModelSpec:
    """The resolved model (a Hugging Face directory on disk)."""
    spec: ModelSpec = call_or_skip(lambda: gate_session.model)
    return spec


@pytest.fixture(scope="session")
def gate_tokenizer(gate_session: GateSession, gate_model: ModelSpec) -> Any:
    """The model's own tokenizer."""
    return call_or_skip(lambda: gate_session.tokenizer)


@pytest.fixture(scope="session")
def gate_dataset(gate_session: GateSession, gate_model: ModelSpec) -> Any:
    """The evaluation dataset (configured source, split, variant and limit)."""
    return call_or_skip(lambda: gate_session.dataset)


@pytest.fixture(scope="session")
def gate_reference(gate_session: GateSession, gate_dataset: Any) -> np.ndarray:
    """torch FP32 eager outputs on the evaluation set, computed once per session."""
    ref: np.ndarray = call_or_skip(lambda: gate_session.reference)
    return ref


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest, gate_session: GateSession, gate_model: ModelSpec) -> Runner:
    """One built backend per configured name (parametrized; ids are the backend names)."""
    runner: Runner = call_or_skip(gate_session.runner, request.param)
    return runner


@pytest.fixture(scope="session")
def backend_predictions(backend: Runner, gate_session: GateSession, gate_dataset: Any) -> np.ndarray:
    """The backend's outputs on the whole evaluation set, computed once per backend."""
    preds: np.ndarray = call_or_skip(gate_session.predictions, backend.name)
    return preds


@pytest.fixture(scope="session")
def backend_evaluation(backend: Runner, gate_session: GateSession, gate_dataset: Any) -> Evaluation:
    """Drift against the torch reference and task metrics against gold, per backend."""
    ev: Evaluation = call_or_skip(gate_session.evaluation, backend.name)
    return ev


@pytest.fixture(scope="session")
def backend_bounds(backend: Runner, gate_session: GateSession) -> Bounds:
    """The backend's bounds from the tolerance table (with pyproject overrides)."""
    bounds: Bounds = call_or_skip(gate_session.bounds, backend.name)
    return bounds


WORKER_PAYLOADS = pytest.StashKey[list[dict[str, Any]]]()
WORKER_OUTPUT_KEY = "encoder_gate_accuracy"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: keep the accuracy payload a finished worker sent back."""
    payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if payload:
        node.config.stash.setdefault(WORKER_PAYLOADS, []).append(payload)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write accuracy.json / accuracy.md.

    Without xdist, from this process's evaluations. Under xdist each worker evaluates the
    backends its tests needed and sends its payload to the controller (``workeroutput``),
    which merges them and writes one report.
    """
    from encoder_gate.accuracy_report import accuracy_payload, merge_payloads, write_payload

    config = session.config
    state = config.stash.get(SESSION_KEY, None)
    if hasattr(config, "workerinput"):
        if state is not None and state.evaluations:
            # plain JSON types: execnet cannot send numpy scalars
            config.workeroutput[WORKER_OUTPUT_KEY] = json.loads(  # type: ignore[attr-defined]
                json.dumps(accuracy_payload(state)))
        return
    received: list[dict[str, Any]] = config.stash.get(WORKER_PAYLOADS, [])
    payloads = list(received)
    if state is not None and state.evaluations:
        payloads.append(accuracy_payload(state))
    if not payloads or state is None:
        return
    paths = write_payload(state.config.report_dir, merge_payloads(payloads, state.config.backends))
    state.progress(f"accuracy report: {paths[0]} and {paths[1]}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.records:
        return
    terminalreporter.section("encoder-gate backends")
    for rec in session.records.values():
        if rec.error:
            terminalreporter.write_line(f"{rec.name:<16} error: {rec.error[:160]}")
            continue
        origin = "from cache" if rec.from_cache else "built"
        terminalreporter.write_line(
            f"{rec.name:<16} {origin:<10} {rec.seconds:7.1f}s  {rec.precision:<5} "
            f"{rec.size_bytes / 1e6:8.1f} MB"
        )
