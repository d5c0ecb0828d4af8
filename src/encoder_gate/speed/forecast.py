"""What a session's cold work will take, said before it starts.

A first session on a user's model builds every artifact, compiles torch.compile and predicts the
evaluation set with every backend: 4.8 min at 125M weights on 2 cores (the reference repository,
docs/development.md, "A cold session's forecast"), and no earlier session is on record to estimate
it from (:mod:`encoder_gate.speed.estimate`'s way, for benchmarks). So it is forecast from what
decides it, before the first build:

- each backend's pass: the matmul FLOPs of the evaluation set as its batches pad it
  (:func:`~encoder_gate.speed.flops.sequence_flops`), at the backend's `Work.speed` times this
  machine's float32 matmul rate at the passes' threads (torch,
  :func:`~encoder_gate.speed.machine.gemm_gflops`, 25 products, about 0.3 s: the median of 7, the
  first of a process, read 170 to 177 GFLOP/s where the rate is 190 to 206 on the Zen 5 at 2 threads);
- each build at the model's size (`Work.build_time`), and the checks' own seconds (`CHECKS_SECONDS`,
  `CHECK_SECONDS`), measured on this project's 2-core Zen 5 and scaled by this interpreter's speed
  against it (:func:`interpreter_rate`, 0.05 s);
- only what the artifact cache does not hold: an artifact the lookup did not find, a compile with
  no entry, predictions with no entry for this model, texts, batch size and device.

A session with none of that to do says nothing: what is left takes seconds to a minute.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.backends.base import EAGER_WORK, Work, weights_bytes
from encoder_gate.backends.int8_path import cpu_flags
from encoder_gate.backends.onnx_backend import PrebuiltOnnxBackend
from encoder_gate.backends.onnx_runner import audit_file
from encoder_gate.backends.registry import REFERENCE_BACKEND, parse_backend, split_integer_path
from encoder_gate.backends.torch_backend import compile_entry_kept, default_threads
from encoder_gate.environment import cpu_quota
from encoder_gate.errors import GateError
from encoder_gate.runtime.inference import max_length, padded_tokens, token_batches, token_lengths
from encoder_gate.runtime.predictions import predictions_kept
from encoder_gate.speed.flops import ModelDims, sequence_flops
from encoder_gate.speed.machine import gemm_gflops

#: The checks' own seconds on the reference machine (pytest, the statistics, the property tests'
#: passes), fixed and per evaluated backend, fixed and per million weights: 29 s of the default
#: model's cold session (22.7M weights, five backends), 62 s of the reference repository's (125M).
CHECKS_SECONDS = 8.0
CHECK_SECONDS = (2.7, 0.065)
#: Seconds a pass spends on each text besides its matrix products (tokenizing it, its batch's
#: dispatch), and the checks' seconds per text (the statistics, the drift tables), on the reference
#: machine: a 2-layer test model's cold sessions on 1,200 and 20,000 texts (each pass 0.3-0.4 s and
#: 6.3-7.1 s; the checks about 15 s and 20 s). Without them the forecast was 2.5x low on 50,000 texts.
PASS_TEXT_SECONDS = 0.33e-3
CHECK_TEXT_SECONDS = 0.27e-3
#: Checkpoints saved in these hold 2 bytes a weight (the gate loads and builds them in FP32).
HALF_DTYPES = ("float16", "bfloat16")
#: Passes of fewer matmul FLOPs than this (about 10 s at 100 GFLOP/s) are forecast from a quicker
#: probe (3 products): the self-tests' sessions on test models are many and take seconds.
QUICK_FLOPS = 1e12
#: :func:`interpreter_rate` on the machine the seconds above were measured on (AMD EPYC Zen 5).
REFERENCE_INTERPRETER_RATE = 17_400.0


def interpreter_rate(budget: float = 0.05) -> float:
    """Rounds a second of a small loop of dict and str work: this interpreter's speed, which
    scales the builds' and checks' seconds (an export, a quantization and the checks are mostly
    single-threaded Python and C++ glue, not matrix products)."""
    rounds, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < budget:
        table = {}
        for i in range(1000):
            table[i] = str(i)
        rounds += 1
    return rounds / elapsed


def avx2_only(cpuinfo: str | None = None) -> bool:
    """Whether this CPU (or the /proc/cpuinfo text given) is an x86 one without AVX-512, where
    ONNX Runtime's passes are forecast at their `Work.speed_avx2`; False where its flags are unknown."""
    flags = cpu_flags(cpuinfo)  # this machine's read once a process
    return flags is not None and "avx2" in flags and "avx512f" not in flags


def model_weights(model: Any) -> int:
    """The weights of a model (a ModelSpec), from its files' size: 4 bytes each, 2 in a checkpoint
    saved in half precision (the gate loads and builds it in FP32 either way)."""
    return weights_bytes(model.path) // (2 if model.saved_dtype in HALF_DTYPES else 4)


def pass_flops(dims: ModelDims, lengths: np.ndarray, batch_size: int) -> tuple[int, int]:
    """(matmul FLOPs, padded tokens) of one pass over texts of token `lengths`, batched as the
    session batches them (sorted by length, at most `batch_size` texts and TOKENS_PER_BATCH tokens)."""
    batches = token_batches(lengths, np.argsort(lengths, kind="stable"), batch_size)
    flops = sum(len(idx) * sequence_flops(dims, int(lengths[idx].max())) for idx in batches)
    return flops, int(padded_tokens(lengths, batches).sum())


@dataclass(frozen=True)
class Step:
    what: str
    seconds: float
    build: bool = False  # one of the builds (an export, a conversion, a compile), said together


@dataclass(frozen=True)
class Forecast:
    """The cold work of a session, step by step, and what the figures rest on."""

    steps: tuple[Step, ...]
    basis: str
    subject: str = "this session"  # whose work: "the base" for a --gate-base session's other side

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    def message(self, timing: bool = False) -> str:
        """The line; `timing`: the session also times benchmarks, which it leaves to their own estimate."""
        builds = [step for step in self.steps if step.build]
        parts = [f"{step.what} {duration(step.seconds)}" for step in self.steps if not step.build]
        if builds:
            each = ", ".join(f"{step.what} {duration(step.seconds)}" for step in builds)
            parts.insert(0, f"builds {duration(sum(step.seconds for step in builds))} ({each})")
        what = f"{self.subject}'s builds and passes" if timing else f"{self.subject}'s work"
        cells = "; its benchmarks are not in it (their estimate is above)" if timing else ""
        return (f"{what}, estimated before it starts: about {duration(self.seconds)}: "
                f"{'; '.join(parts)}. From {self.basis}; each step says its own progress as it runs{cells}")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def work_of(name: str, model_dir: Path | None = None) -> Work:
    """What backend `name` says of its work (:class:`~encoder_gate.backends.base.Work`); torch eager's
    where it says nothing. A prebuilt file of no precision given (`onnx:PATH`) at its graph's, read
    from the file (beside `model_dir` too), as its build reads it. A twin on an integer path
    (`NAME~exact`) runs its file at that file's speed, built by the file's own build."""
    inner, path = split_integer_path(name)
    if path is not None:
        return work_of(inner, model_dir).pass_only()
    backend = parse_backend(name)
    if isinstance(backend, PrebuiltOnnxBackend) and backend.precision is None:
        with contextlib.suppress(Exception):  # a file that cannot be read: its tests say why
            backend = replace(backend, precision=backend.precision_of(backend.located(model_dir or Path())))
    return getattr(backend, "work", EAGER_WORK)


def twin_runs(name: str, model_dir: Path | None = None) -> bool:
    """Whether backend `name` computes when built: not an INT8 file's twin on another integer path
    (`onnx:q.onnx~exact`) where nothing in the file can saturate (uint8 weights, or no integer
    product at all: an FP32 file), which its build finds and skips (path_backend.on_path), reading
    the file as it does (audit_file, once a process). The twins of the package's own INT8 recipes
    are configured only where they can differ (GateConfig.path_twins)."""
    inner, path = split_integer_path(name)
    if path is None:
        return True
    try:
        backend = parse_backend(inner)
        if not isinstance(backend, PrebuiltOnnxBackend):
            return True
        return audit_file(backend.located(model_dir or Path())).can_saturate
    except Exception:  # a file that cannot be read or parsed: its build says why, the estimate counts it
        return True


def _works(names: Sequence[str], model_dir: Path | None = None) -> dict[str, Work]:
    """Each of `names` that names a backend and computes when built (:func:`twin_runs`), once, with
    its work; the others are left to their tests, which say why."""
    works = {}
    for name in dict.fromkeys(names):
        try:
            if twin_runs(name, model_dir):
                works[name] = work_of(name, model_dir)
        except GateError:
            continue
    return works


def forecast(session: Any, missing: Sequence[str], used: Sequence[str], evaluated: Sequence[str],
             base_of: Any = None) -> Forecast | None:
    """The cold work of a gate session on the CPU (`session`: a GateSession): the artifacts of
    `missing` built, torch.compile compiled where `used` has it, its runner is built (a pass not kept,
    or a session that times) and no entry is kept, and the passes
    of `evaluated` (with the torch reference) whose predictions are not kept, then the checks. None
    where none of it is left to do, or the session computes on a GPU (the speeds are the CPU's).

    With `base_of` (the PR's GateSession), `session` is a --gate-base session's other side: its
    passes are of `evaluated` alone, on the PR's texts (what the accuracy-vs-base tests compare),
    with no checks of their own; a base whose model is the PR's shares every runner, so it has none."""
    if session.config.device != "cpu" or not (missing or used or evaluated):
        return None  # (nothing of the session's model is read: it may be the default, not built yet)
    if base_of is not None and base_of.model.content_hash == session.model.content_hash:
        return None
    model, cache, threads = session.model, session.cache, session.config.eval_threads
    weights = model_weights(model)
    works = _works([*missing, *used, *evaluated], Path(model.path))  # each that parses and runs, once
    evaluated = [name for name in dict.fromkeys(evaluated) if name in works]
    passes: list[str] = []
    if evaluated:
        texts = (session if base_of is None else base_of).dataset.texts
        judged = [REFERENCE_BACKEND, *evaluated] if base_of is None else evaluated
        passes = [name for name in dict.fromkeys(judged)
                  if name in missing or not predictions_kept(
                      cache, name, model.content_hash, texts, session.config.eval_batch_size,
                      session.device_of(name), max_length(session.tokenizer))]
    builds = [name for name in dict.fromkeys(missing) if name in works]
    # torch.compile compiles where its runner is built: for a pass, or to be timed (a session whose
    # every output of it is kept never builds it); not where its entry is kept
    builds += [name for name in works if name in used and works[name].build == "compile"
               and (name in passes or session.timing)
               and not compile_entry_kept(cache, model, session.device_of(name), session.build_threads)]
    if not builds and not passes:
        return None
    scale = REFERENCE_INTERPRETER_RATE / interpreter_rate()
    steps = [Step(f"{name}'s {works[name].build}", works[name].build_time(weights) * scale, build=True)
             for name in builds]
    basis = f"the model's {weights / 1e6:.{0 if weights >= 10e6 else 1}f}M weights"  # (a test model's 0.4M)
    if passes:
        dims = ModelDims.from_model_dir(model.path)
        lengths = token_lengths(session.tokenizer, texts)
        flops, tokens = pass_flops(dims, lengths, session.config.eval_batch_size)
        # a pass of seconds (a test model's) needs no precise rate: 3 products, not 25
        repeats = 25 if flops * len(passes) > QUICK_FLOPS else 3
        shown = threads or default_threads()
        # a CPU quota of less time than the threads' count (half a core's, at 1 thread): they wait on it
        quota = cpu_quota()
        share = min(1.0, quota.cores / shown) if quota is not None else 1.0
        held = f" on the {quota.cores:g} cores' time a CPU quota allows" if quota and share < 1 else ""
        rate = gemm_gflops(repeats=repeats, threads=shown) * 1e9 * share
        per_text = len(texts) * PASS_TEXT_SECONDS * scale / share  # tokenizing, dispatching: not matmuls
        avx2 = avx2_only()
        seconds = sum(flops / (rate * works.get(name, EAGER_WORK).speed_on(avx2)) + per_text
                      for name in passes)
        steps.append(Step(f"passes of {', '.join(passes)} over {len(texts)} texts ({tokens:,} padded "
                          "tokens)", seconds))
        per_backend = CHECK_SECONDS[0] + CHECK_SECONDS[1] * weights / 1e6
        if base_of is None:
            steps.append(Step("the checks", (CHECKS_SECONDS + per_backend * len(evaluated)
                                             + CHECK_TEXT_SECONDS * len(texts)) * scale))
        basis += (f" and {dims.layers} layers and this machine's float32 matmul, {rate / 1e9:.0f} GFLOP/s "
                  f"at {shown} thread{'s' if shown != 1 else ''}"
                  f"{held}"
                  f"{' (no AVX-512: the passes at their speeds on such a CPU)' if avx2 else ''}")
    return Forecast(tuple(steps), basis, "this session" if base_of is None else "the base")
