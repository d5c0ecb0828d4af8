"""Self-test fixtures: one artifact cache shared by every self-test (and pytester runs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from encoder_gate.backends.base import BuildContext
from encoder_gate.cache import ArtifactCache
from encoder_gate.models.resolve import resolve_model
from encoder_gate.models.spec import ModelSpec

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_xdist_worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `pytest -n`, pytester subprocesses would inherit PYTEST_XDIST_WORKER, and
    pytest-benchmark reads it to switch its timing off: the inner runs must not look like workers."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The suite's own cache (content-addressed): self-tests and the gate share builds."""
    return Path(os.environ.get("ENCODER_GATE_TEST_CACHE", ROOT / ".encoder-gate" / "cache"))


@pytest.fixture(scope="session")
def cache(cache_dir: Path) -> ArtifactCache:
    return ArtifactCache(cache_dir)


@pytest.fixture(scope="session")
def tiny(cache: ArtifactCache) -> ModelSpec:
    """The tiny go_emotions-shaped RoBERTa."""
    return resolve_model("tiny", cache)


@pytest.fixture(scope="session")
def default_model(cache: ArtifactCache) -> ModelSpec:
    """The embedded default classifier (trained once, then cached)."""
    return resolve_model("default", cache)


@pytest.fixture(scope="session")
def tiny_ctx(tiny: ModelSpec, cache: ArtifactCache) -> BuildContext:
    return BuildContext(model=tiny, cache=cache, threads=1)
