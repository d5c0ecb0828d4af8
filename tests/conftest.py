"""Self-test fixtures: one artifact cache shared by every self-test (and pytester runs)."""

from __future__ import annotations

import contextlib
import gc
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.backends.base import BuildContext
from encoder_gate.cache import ArtifactCache
from encoder_gate.models.resolve import resolve_model
from encoder_gate.models.spec import ModelSpec
from encoder_gate.speed.settings import ENV_CI, ENV_MAX_DROP

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def _import_the_heavy_stack_once() -> None:
    """Import torch's and transformers' model-loading modules before any test runs.

    An in-process pytester run (`pytester.runpytest`) snapshots sys.modules and drops every
    module imported during it. torch registers C++ operator libraries at import
    (`torch.distributed._functional_collectives`, pulled in by transformers' model loading),
    and a second import of such a module fails ("Only a single TORCH_LIBRARY can be used ...").
    So if an in-process run happened to be the first in an xdist worker to load a model, every
    later test in that worker errored, depending on how xdist spread the tests: imported here,
    these modules are in every snapshot and are never dropped. onnx's checker is the same: its
    C++ types register once a process ("nanobind: type 'CheckerContext' was already registered"),
    and a second import of `onnx.checker` fails.
    """
    import onnx.checker  # noqa: F401
    with contextlib.suppress(ImportError):  # a stack that lacks what it imports: its tests say so
        import onnxruntime.quantization  # noqa: F401
    import torch
    import torch.distributed.tensor  # noqa: F401
    import transformers.modeling_utils  # noqa: F401
    from transformers.models.albert import modeling_albert  # noqa: F401
    from transformers.models.bert import modeling_bert  # noqa: F401
    from transformers.models.distilbert import modeling_distilbert  # noqa: F401
    from transformers.models.roberta import modeling_roberta  # noqa: F401


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The heavy stack imported before any test runs, in each process that runs tests: not in
    pytest-xdist's controller, which only hands tests to its workers (those imports took about 7 s
    of its CPU in every `pytest -n` run: torch 2.6 s, transformers' model loading 3.6 s; AVX2-only
    AMD EPYC, 2026-11-29)."""
    if config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput"):
        return
    _import_the_heavy_stack_once()
    # What those imports made lives as long as the process: kept out of every later collection (a
    # full one walked about 414,000 objects, 0.29 s, for each gate session's builds and releases and
    # Python's own collections; AMD EPYC, 2 cores). Frozen now, only a test's own objects are walked.
    gc.freeze()


def _share_the_cores_between_workers() -> None:
    """Under `pytest -n N`, give each xdist worker its share of the cores for torch's intra-op threads.

    Each worker's torch otherwise takes every core, so two workers building models at once run
    four OpenMP threads on two cores, and OpenMP's spinning threads slow each other far more than
    two-fold: training the default model took 42.6 s alone and 282 s beside another training
    (2 threads each), 71 s at one thread each (/tmp probe, 2 cores). The environment variables
    carry the share to pytester's subprocesses; inner gates that set their own `threads` /
    `eval-threads` keep them.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers <= 1:
        return
    import torch

    share = max(1, (os.cpu_count() or 1) // workers)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(share)
    torch.set_num_threads(share)


_share_the_cores_between_workers()


#: The speedup drop allowed in every self-test's inner sessions (ENCODER_GATE_SPEEDUP_MAX_DROP)
NOISE_CANNOT_FAIL = "0.99"


@pytest.fixture(autouse=True)
def _no_xdist_worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `pytest -n`, pytester subprocesses would inherit PYTEST_XDIST_WORKER, and
    pytest-benchmark reads it to switch its timing off: the inner runs must not look like workers.

    The inner benchmark runs time the rounds they are given (ENCODER_GATE_BENCH_ROUNDS), not
    rounds until a CI target: their claims are about the machinery, and a fixed count keeps them
    short. `test_bench_gate.py`'s sized-cell tests turn the CI stop back on.

    For the same reason no inner run's speedups fail against a baseline by noise: a few rounds of a
    few texts decide by the point rule alone (two rounds against two: Mann-Whitney's smallest p is
    0.17), where a 15% drop of one cell fails the session, and a self-test asserting that a session
    passed then failed by chance on a loaded machine. The allowed drop is 0.99 in every test; a test
    of the speedup rule's teeth sets its own (`test_bench_gate.py`: 0.15, the default)."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_CI, "0")
    monkeypatch.setenv(ENV_MAX_DROP, NOISE_CANNOT_FAIL)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own pytester, each inner run pinned to its own directory as rootdir and config.

    Given path arguments, pytest takes the first config file above any of them: an inner run
    passed `--gate-cache-dir PATH` with PATH inside this checkout took this checkout's
    pyproject.toml (its addopts, its [tool.encoder-gate] table) once that directory existed, and
    none before, so results depended on test order. The pin goes through PYTEST_ADDOPTS, which
    pytest reads before it looks for a config file, so it holds for in-process and subprocess
    runs alike; a test that passes its own `-c`/`--rootdir` (a checkout it built) overrides it,
    as later options do. The outer run's own PYTEST_ADDOPTS is not passed on.
    """
    config = pytester.path / "pyproject.toml"
    if not config.exists():
        config.write_text("[tool.pytest.ini_options]\n")
    monkeypatch.setenv("PYTEST_ADDOPTS", shlex.join([f"--rootdir={pytester.path}", "-c", str(config)]))
    return pytester


@pytest.fixture(scope="session")
def texts_file() -> Callable[[Path, int], Path]:
    """`texts_file(path, n)`: a --gate-texts file at `path` holding the first n bundled test texts,
    one a line (some of them hold newlines, joined here into one line each); returns `path`."""
    from encoder_gate.data.datasets import load_dataset

    def write(path: Path, n: int) -> Path:
        texts = [" ".join(t.split()) for t in load_dataset("bundled", split="test").texts]
        path.write_text("".join(f"{t}\n" for t in [t for t in texts if t][:n]))
        return path

    return write


@pytest.fixture
def accuracy_vs_base(pytester: pytest.Pytester, cache_dir: Path) -> Callable[[Path, Path], Any]:
    """`accuracy_vs_base(base, report, *args)`: `test_accuracy_vs_base` alone in a pytester session of
    the project pytester's pyproject sets, against the checkout `base`, its results in `report`."""
    pytester.makepyfile(test_vs_base="from encoder_gate.suite.ab import *  # noqa: F403\n")

    def run(base: Path, report: Path, *args: str) -> Any:
        return pytester.runpytest("--gate-base", str(base), "-k", "accuracy_vs_base", "--gate-cache-dir",
                                  str(cache_dir), "--gate-report-dir", str(report), "-p", "no:cacheprovider",
                                  *args)

    return run


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


@pytest.fixture(scope="session")
def tiny_kernels(tiny_ctx: BuildContext) -> Path:
    """The suite cache's inductor entry, holding the C++ kernels of tiny's torch-compile at one
    thread: compiled here where the entry holds no kernel yet (the first compile into the suite's
    cache puts them there; after it nothing is compiled here). One graph holds every shape (dynamic,
    the batch unbacked), so the kernels of any batch serve every test's."""
    from encoder_gate.backends.registry import parse_backend
    from encoder_gate.backends.torch_backend import inductor_entry

    entry = inductor_entry(tiny_ctx)
    if any(entry.rglob("*.so")):
        return entry
    ids = np.full((2, 7), 5, dtype=np.int64)
    runner = parse_backend("torch-compile").build(tiny_ctx)
    runner.predict({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    runner.close()
    # (empty or absent where inductor compiled elsewhere, a TORCHINDUCTOR_CACHE_DIR of the developer's:
    # a test given it then compiles its kernels itself, as before)
    return entry


@pytest.fixture(scope="session")
def tiny_cache_with(tiny: ModelSpec, tiny_ctx: BuildContext,
                    request: pytest.FixtureRequest) -> Callable[..., Path]:
    """`tiny_cache_with(cache_dir, *backends, kernels=False)`: a fresh artifact cache at `cache_dir`
    holding the tiny model and a copy of the suite cache's builds of `backends` (built there first
    where missing, in this process), for a test whose sessions must start with nothing predicted,
    kept or decided: they build none of these files, so start no build process (whose imports of
    torch, transformers and onnx alone took 9.6 s of CPU, its export of tiny 1 s: AVX2-only AMD
    EPYC, 2026-11-29). With `kernels`, a copy of the suite cache's inductor entry too
    (`tiny_kernels`): a compile of tiny there reads those kernels through inductor's graph cache
    and builds no C++ (20 s of CPU instead of 40, 16 of them g++'s, the same EPYC). A test about the
    building itself starts from the model alone."""
    from encoder_gate.backends.registry import parse_backend

    def make(cache_dir: Path, *backends: str, kernels: bool = False) -> Path:
        shutil.copytree(tiny.path, cache_dir / tiny.path.name)
        for name in backends:
            built, _ = parse_backend(name).artifact(tiny_ctx)
            shutil.copytree(built, cache_dir / built.name)
        if kernels and (entry := request.getfixturevalue("tiny_kernels")).is_dir():
            shutil.copytree(entry, cache_dir / entry.name)
        return cache_dir

    return make


@pytest.fixture
def slower_onnx(tiny_ctx: BuildContext, tmp_path: Path) -> tuple[Path, Path]:
    """The tiny model's FP32 ONNX file and a copy with the same outputs doing about 30% more work
    (blocks of extra MatMuls, calibrated on this machine, one thread, the thread's CPU time).

    Calibrated on the batches the speed A/B times (the gate's 64 evaluation texts across the
    range of lengths, bucketed batches of 8): the tiny model's cost is mostly ONNX Runtime's
    fixed cost per node, the blocks' is per token, so blocks calibrated to 1.3x on one (8, 48)
    batch of ones measured 1.03x to 1.14x in the A/B, and a 5% threshold missed it now and then."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from encoder_gate.backends.onnx_backend import OnnxBackend
    from encoder_gate.data.datasets import load_dataset
    from encoder_gate.speed.batches import make_batches
    from encoder_gate.speed.settings import DEFAULT_BENCH_TEXTS
    from encoder_gate.speed.sizing import TextPool
    from encoder_gate.studies.slowdown import calibrate_blocks, thread_seconds

    fp32, _ = OnnxBackend("fp32").artifact(tiny_ctx)
    src = fp32 / "model.onnx"
    tokenizer = AutoTokenizer.from_pretrained(tiny_ctx.model.path)
    texts = tuple(load_dataset("bundled", split="test").texts)
    picked = TextPool.of(tokenizer, texts).pick(DEFAULT_BENCH_TEXTS)
    batches = make_batches(tokenizer, picked, 8, "bucketed").batches

    def time_of(path: Path) -> float:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        feeds = [{k: v for k, v in batch.items() if k in names} for batch in batches]

        def one_pass() -> None:
            for feed in feeds:
                session.run(None, feed)

        one_pass()
        return thread_seconds(one_pass, 3)

    blocks, ratio = calibrate_blocks(time_of, src, tmp_path / "calibrate", 1.3, width=64)
    assert ratio > 1.15, f"{blocks} blocks made the file only {ratio:.2f}x slower"
    return src, tmp_path / "calibrate" / "calibrated.onnx"
