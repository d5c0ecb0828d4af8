"""The gate's session fixtures: model, tokenizer, dataset, reference, and one built backend per name.

Registered as a plugin by :mod:`encoder_gate.plugin.core`; nothing is built until a test
asks for a fixture, and each is built once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from encoder_gate.accuracy.evaluation import Evaluation
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.backends.base import Runner
from encoder_gate.backends.registry import names_of_row
from encoder_gate.models.spec import ModelSpec
from encoder_gate.plugin.stash import call_or_skip, gate_session_of
from encoder_gate.runtime.inference import tokenizer_for
from encoder_gate.runtime.session import GateSession
from encoder_gate.waivers import Waiver


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
def backend(request: pytest.FixtureRequest, gate_session: GateSession,
            gate_model: ModelSpec) -> Runner:
    """One built backend per configured name (parametrized; ids are the backend names).

    The session keeps the runner until the last test that uses it is done (the core plugin's
    `pytest_runtest_teardown` releases it then), not when pytest tears this fixture down: the
    benchmarks interleave backends case by case, and a runner released at each switch would be
    built (and torch.compile'd) again for every case."""
    runner: Runner = call_or_skip(gate_session.runner, request.param)
    return runner


@pytest.fixture(scope="session")
def backend_tokenizer(backend: Runner, gate_tokenizer: Any) -> Any:
    """The tokenizer as this backend is fed: truncating at its static sequence length, if it has one
    (an ONNX file exported for batch 1 and 128 tokens is judged on texts cut to 128 tokens)."""
    return tokenizer_for(gate_tokenizer, backend)


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
def backend_waivers(backend: Runner, gate_session: GateSession) -> tuple[Waiver, ...]:
    """The waivers ([[tool.encoder-gate.waivers]]) of this backend: an accepted, known failure of one
    of its checks xfails instead of failing, and the verdict shows it waived."""
    names = names_of_row(backend.name, getattr(backend, "integer_path", None))  # NAME~PATH of its path too
    return tuple(replace(w, backend=backend.name) for w in gate_session.config.waivers if w.backend in names)


@pytest.fixture(scope="session")
def backend_bounds(backend: Runner, gate_session: GateSession) -> Bounds:
    """The backend's bounds from the tolerance table (with pyproject overrides)."""
    bounds: Bounds = call_or_skip(gate_session.bounds, backend.name)
    return bounds
