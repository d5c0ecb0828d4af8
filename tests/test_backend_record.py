"""Adding a backend is one new module plus one registry line: a fake backend runs through the
gate, the prediction cache and the verdict with no file of encoder_gate edited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder_gate.accuracy.checks import bounds_for
from encoder_gate.backends.mock import MockBackend
from encoder_gate.backends.registry import BACKENDS, is_backend_name, parse_backend
from encoder_gate.commands.layout import ACCURACY_MODULE, THIN_MODULES
from encoder_gate.config import GateConfig
from encoder_gate.runtime.predictions import cacheable

# The new module a contributor writes: torch's outputs, nudged by less than FP16 rounding.
NEW_MODULE = '''
"""A new backend for the test: the torch runner's probabilities, nudged."""
import numpy as np
from encoder_gate.backends.mock import MockBackend


def nudged(batch, inner):
    return np.clip(inner.predict(batch) + {shift}, 0.0, 1.0)


NUDGED = MockBackend(nudged, name="torch-nudged", number_format="fp16", around="torch",
                     identity="nudged-{shift}", packages=("torch",))
'''
# The one registry line (in the project's conftest, so no encoder_gate file changes).
REGISTRY_LINE = '''
from encoder_gate.backends.registry import BACKENDS
from nudged_backend import NUDGED

BACKENDS["torch-nudged"] = lambda: NUDGED
'''


def constant(batch, inner):
    return np.full((len(batch["input_ids"]), 3), 0.25, dtype=np.float32)


def test_a_registered_backend_is_known_everywhere_the_registry_is_read(monkeypatch: pytest.MonkeyPatch):
    """One registry line makes a name parse, validate in the config, and take its bounds from the
    number format it declares."""
    monkeypatch.setitem(BACKENDS, "mock-int8", lambda: MockBackend(constant, name="mock-int8",
                                                                   number_format="int8"))
    backend = parse_backend("mock-int8")
    assert backend.name == "mock-int8" and backend.number_format == "int8"
    assert is_backend_name("mock-int8")
    assert GateConfig(backends=("torch", "mock-int8")).backends == ("torch", "mock-int8")
    assert bounds_for("mock-int8", task="multi_label") == bounds_for("onnx-int8", task="multi_label")


def test_a_mock_runner_is_cached_only_under_an_identity(tiny_ctx):
    """Without an identity a handler's answers are always computed; with one they are keyed by it."""
    anonymous = MockBackend(constant).build(tiny_ctx)
    named = MockBackend(constant, identity="constant-v1").build(tiny_ctx)
    assert cacheable(anonymous) and anonymous.prediction_identity() is None
    assert named.prediction_identity()["artifact"] == "mock:constant-v1"
    assert named.predict({"input_ids": np.zeros((2, 4), np.int64)}).shape == (2, 3)


@pytest.mark.slow
def test_a_new_backend_runs_through_the_gate_the_cache_and_the_verdict(pytester: pytest.Pytester,
                                                                       cache_dir: Path):
    """A healthy new backend passes the shipped accuracy gate and gets a verdict row; its
    predictions come from the cache the second time; a broken one fails, named."""
    pytester.makepyfile(nudged_backend=NEW_MODULE.format(shift="1e-4"), conftest=REGISTRY_LINE)
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    args = ["accuracy", "--gate-model", "tiny", "--gate-backends", "torch,torch-nudged",
            "--gate-cache-dir", str(cache_dir), "--gate-report-dir", str(pytester.path / "report"),
            "-p", "no:cacheprovider", "-p", "no:randomly"]

    def run(*more: str) -> pytest.RunResult:
        """An in-process session (a subprocess pays about 7 s of imports): the project's conftest
        registers the backend, as a user's would, and each run's registration is taken back after it,
        so the next run's conftest registers it anew and the worker's registry is left as it was."""
        try:
            return pytester.runpytest(*args, *more)
        finally:
            if "torch-nudged" in BACKENDS:
                del BACKENDS["torch-nudged"]

    first = run()
    assert first.ret == pytest.ExitCode.OK, first.stdout.str()[-3000:]
    verdict = (pytester.path / "report" / "verdict.md").read_text()
    row = next(line for line in verdict.splitlines() if line.startswith("| torch-nudged "))
    assert "| pass |" in row

    again = run("-k", "drift_within_bound")  # the cache, not the gate again
    assert again.ret == pytest.ExitCode.OK
    again.stdout.fnmatch_lines(["torch-nudged*predictions from cache*"])

    pytester.makepyfile(nudged_backend=NEW_MODULE.format(shift="0.3"))  # far past FP16's bounds
    broken = run("-k", "drift_within_bound")
    assert broken.ret == pytest.ExitCode.TESTS_FAILED
    broken.stdout.fnmatch_lines(["_*test_drift_within_bound[[]torch-nudged-drift_max[]]*_",
                                 "torch-nudged: drift_max = * exceeds the bound 0.1.",
                                 "  (bounds: encoder_gate/accuracy/tolerances.py; override in *)"])
    # the failure is its report alone: not the check's code, nor the test's fixtures
    assert "covering_waiver" not in broken.stdout.str() and "backend_evaluation = " not in broken.stdout.str()
    verdict = (pytester.path / "report" / "verdict.md").read_text()
    row = next(line for line in verdict.splitlines() if line.startswith("| torch-nudged "))
    assert "FAIL" in row
