"""Benchmark logic: batches, padding, FLOPs, rates, the machine's GEMM rate, speedups.

The pytest-benchmark tests in ``benchmarks/`` are thin; everything they compute is here,
as plain functions over numpy arrays and dictionaries so it can be unit-tested.

Vocabulary:

* **mode**: ``model`` (pre-tokenized batches through ``Runner.predict``), ``e2e`` (raw
  texts: tokenization + inference + sigmoid, i.e. ``predict_texts``) or ``latency``
  (one message per call, batch size 1).
* **dispatch**: ``ordered`` (batches in dataset order) or ``bucketed`` (texts sorted by
  token length, then batched), each batch right-padded to its longest item.
* **speedup**: torch eager time / backend time, for the same case (mode, variant, batch
  size, dispatch) in the same run, taking each benchmark's fastest round (``min``: load
  from other processes only ever adds time, so the fastest round is the least disturbed;
  the advice of Python's ``timeit``). Ratios taken within one run survive a noisy, shared
  machine better than absolute times, so they are what :func:`speedup_gate` compares
  with a saved baseline. The benchmarks run the backends of one case back to back for
  the same reason. Model-only rounds are paired by default: each backend round follows a
  torch eager pass over the same batches, and the speedup is the median per-round ratio.
* **the speed gate's decision** (:func:`compare_speed`): per (case, backend), the baseline's
  per-round log ratios (log torch time / backend time) against this run's. A speedup fails
  only when its drop is both larger than the effect size (``max_drop``) and significant
  (one-sided Mann-Whitney U, p < ``alpha``); baselines without per-round data fall back to
  the point rule (the drop alone). See :func:`paired_stats` for the CI and the minimum
  detectable slowdown written next to every speedup.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from encoder_gate.errors import GateError

Dispatch = Literal["ordered", "bucketed"]
Mode = Literal["model", "e2e", "latency", "workers"]
DISPATCHES: tuple[Dispatch, ...] = ("ordered", "bucketed")
MODES: tuple[Mode, ...] = ("model", "e2e", "latency", "workers")
REFERENCE_BACKEND = "torch"
DEFAULT_BENCH_TEXTS = 64
DEFAULT_ROUNDS = 5
DEFAULT_MAX_DROP = 0.15  # measured with paired rounds: README, "How noisy are the gates"
DEFAULT_ALPHA = 0.05  # the speed gate's significance level (one-sided)
DEFAULT_EXTRA_ROUNDS = 0  # borderline re-runs: off
MAX_EXTRA_ROUNDS = 100  # the bound on ENCODER_GATE_BENCH_EXTRA_ROUNDS
ENV_TEXTS = "ENCODER_GATE_BENCH_TEXTS"
ENV_ROUNDS = "ENCODER_GATE_BENCH_ROUNDS"
ENV_BASELINE = "ENCODER_GATE_SPEEDUP_BASELINE"
ENV_MAX_DROP = "ENCODER_GATE_SPEEDUP_MAX_DROP"
ENV_ALPHA = "ENCODER_GATE_SPEEDUP_ALPHA"
ENV_EXTRA_ROUNDS = "ENCODER_GATE_BENCH_EXTRA_ROUNDS"
ENV_ALLOW_OTHER_MACHINE = "ENCODER_GATE_ALLOW_OTHER_MACHINE"
ENV_WORKERS = "ENCODER_GATE_BENCH_WORKERS"
ENV_PAIRED = "ENCODER_GATE_BENCH_PAIRED"
DEFAULT_WORKERS = 2
SPEEDUP_STAT = "min"  # the pytest-benchmark statistic speedups are taken from
VERSIONED_PACKAGES = ("torch", "onnxruntime", "transformers", "numpy", "encoder-gate")


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    """What the benchmark run is told through the environment (there are no --gate-bench options)."""

    texts: int = DEFAULT_BENCH_TEXTS  # ENCODER_GATE_BENCH_TEXTS: first N texts of each variant
    rounds: int = DEFAULT_ROUNDS  # ENCODER_GATE_BENCH_ROUNDS: timed rounds per benchmark
    baseline: Path | None = None  # ENCODER_GATE_SPEEDUP_BASELINE: a saved speedups.json to gate against
    max_drop: float = DEFAULT_MAX_DROP  # ENCODER_GATE_SPEEDUP_MAX_DROP: allowed relative speedup loss
    workers: int = DEFAULT_WORKERS  # ENCODER_GATE_BENCH_WORKERS: processes of the multi-process benchmark
    paired: bool = True  # ENCODER_GATE_BENCH_PAIRED (default 1): model-only rounds alternate torch, backend
    alpha: float = DEFAULT_ALPHA  # ENCODER_GATE_SPEEDUP_ALPHA: significance level of the speed gate's test
    # ENCODER_GATE_BENCH_EXTRA_ROUNDS: paired rounds added once to a case borderline against the baseline
    extra_rounds: int = DEFAULT_EXTRA_ROUNDS
    # ENCODER_GATE_ALLOW_OTHER_MACHINE=1: compare with a baseline whose hardware fingerprint differs
    allow_other_machine: bool = False


def settings_from_env(environ: Mapping[str, str] | None = None) -> BenchSettings:
    """Read :class:`BenchSettings` from ``environ`` (default ``os.environ``), validated."""
    env = os.environ if environ is None else environ

    def positive_int(name: str, default: int) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise GateError(f"{name} must be a positive integer, got {raw!r}")
        return value

    def fraction(name: str, default: float, low_open: bool, example: str) -> float:
        raw = env.get(name, "").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = -1.0
        if not (0 < value < 1 if low_open else 0 <= value < 1):
            raise GateError(f"{name} must be a fraction in {'(0' if low_open else '[0'}, 1) such as "
                            f"{example}, got {raw!r}")
        return value

    def flag(name: str, default: bool) -> bool:
        raw = env.get(name, "").strip().lower()
        if raw not in ("", "0", "1", "true", "false", "yes", "no"):
            raise GateError(f"{name} must be 1 or 0, got {raw!r}")
        return default if not raw else raw in ("1", "true", "yes")

    raw_extra = env.get(ENV_EXTRA_ROUNDS, "").strip()
    try:
        extra = int(raw_extra) if raw_extra else DEFAULT_EXTRA_ROUNDS
    except ValueError:
        extra = -1
    if not 0 <= extra <= MAX_EXTRA_ROUNDS:
        raise GateError(f"{ENV_EXTRA_ROUNDS} must be an integer from 0 (off) to {MAX_EXTRA_ROUNDS}, "
                        f"got {raw_extra!r}")
    raw_base = env.get(ENV_BASELINE, "").strip()
    return BenchSettings(texts=positive_int(ENV_TEXTS, DEFAULT_BENCH_TEXTS),
                         rounds=positive_int(ENV_ROUNDS, DEFAULT_ROUNDS),
                         baseline=Path(raw_base).expanduser() if raw_base else None,
                         max_drop=fraction(ENV_MAX_DROP, DEFAULT_MAX_DROP, False, "0.25"),
                         workers=positive_int(ENV_WORKERS, DEFAULT_WORKERS),
                         paired=flag(ENV_PAIRED, True),
                         alpha=fraction(ENV_ALPHA, DEFAULT_ALPHA, True, "0.05"), extra_rounds=extra,
                         allow_other_machine=flag(ENV_ALLOW_OTHER_MACHINE, False))


# --- batches and padding --------------------------------------------------------------------


def batch_indices(lengths: Sequence[int] | np.ndarray, batch_size: int,
                  dispatch: Dispatch | str) -> list[np.ndarray]:
    """Index groups of at most ``batch_size`` items: dataset order, or sorted by length first.

    ``bucketed`` sorts stably by token length, ascending, then cuts batches (exactly what
    ``predict_texts`` does, so the end-to-end benchmark warms the shapes it will run);
    equal lengths keep dataset order. Every index appears exactly once. When the batch
    size divides the count, no grouping into equal batches pads less; with a partial last
    batch, that batch holds the longest texts, so in rare cases it can pad more than
    dataset order.
    """
    if batch_size <= 0:
        raise GateError(f"batch size must be a positive integer, got {batch_size}")
    n = len(lengths)
    if dispatch == "ordered":
        order = np.arange(n)
    elif dispatch == "bucketed":
        order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    else:
        raise GateError(f"unknown dispatch {dispatch!r}; use one of: {', '.join(DISPATCHES)}")
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def padding_stats(lengths: Sequence[int] | np.ndarray, groups: Iterable[np.ndarray]) -> tuple[int, int]:
    """(real tokens, padded tokens) when each group is padded to its longest item."""
    arr = np.asarray(lengths, dtype=np.int64)
    real = padded = 0
    for group in groups:
        if len(group):
            sub = arr[group]
            real += int(sub.sum())
            padded += int(len(sub) * sub.max())
    return real, padded


def padding_efficiency(real_tokens: int, padded_tokens: int) -> float:
    """Real tokens / padded tokens: 1.0 means no compute goes to padding."""
    return real_tokens / padded_tokens if padded_tokens else 1.0


@dataclass(frozen=True)
class BatchPlan:
    """Pre-tokenized batches, each right-padded to its longest item, with their bookkeeping."""

    batches: tuple[dict[str, np.ndarray], ...]
    indices: tuple[np.ndarray, ...]  # dataset positions of each batch's rows
    dispatch: str
    batch_size: int

    @property
    def n_messages(self) -> int:
        return sum(len(i) for i in self.indices)

    @property
    def lengths(self) -> tuple[np.ndarray, ...]:
        """Real token count of every row, per batch (from the attention masks)."""
        return tuple(b["attention_mask"].sum(axis=1).astype(np.int64) for b in self.batches)

    @property
    def real_tokens(self) -> int:
        return int(sum(int(b["attention_mask"].sum()) for b in self.batches))

    @property
    def padded_tokens(self) -> int:
        return int(sum(b["input_ids"].size for b in self.batches))

    @property
    def padding_efficiency(self) -> float:
        return padding_efficiency(self.real_tokens, self.padded_tokens)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """The distinct (batch, seq_len) shapes, sorted: what ``Runner.warmup`` needs."""
        return sorted({(int(b["input_ids"].shape[0]), int(b["input_ids"].shape[1])) for b in self.batches})


def make_batches(tokenizer: Any, texts: Sequence[str], batch_size: int,
                 dispatch: Dispatch | str) -> BatchPlan:
    """Tokenize ``texts`` into batches of ``batch_size`` in the given dispatch order.

    Uses the same ``encode`` as evaluation (truncation at the model's limit, right
    padding to the longest item of each batch), so the shapes are exactly those that
    ``predict_texts`` produces for the same texts, batch size and sorting.
    """
    from encoder_gate.runtime.inference import encode, token_lengths

    if not texts:
        raise GateError("no texts to benchmark")
    lengths = token_lengths(tokenizer, texts)
    groups = batch_indices(lengths, batch_size, dispatch)
    batches = tuple(encode(tokenizer, [texts[i] for i in g]) for g in groups)
    return BatchPlan(batches, tuple(groups), str(dispatch), batch_size)


# --- FLOPs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelDims:
    """The sizes of an encoder that determine its matmul FLOPs."""

    hidden: int
    layers: int
    intermediate: int
    heads: int
    num_labels: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], num_labels: int | None = None) -> ModelDims:
        """From a Hugging Face ``config.json`` (BERT/RoBERTa/ALBERT names, or DistilBERT's)."""

        def pick(*names: str, default: int | None = None) -> int:
            for name in names:
                if config.get(name) is not None:
                    return int(config[name])
            if default is None:
                raise GateError(f"model config has none of {', '.join(names)}; cannot count FLOPs")
            return default

        hidden = pick("hidden_size", "dim", "d_model")
        labels = num_labels if num_labels is not None else len(config.get("id2label") or {}) or \
            int(config.get("num_labels") or 0)
        return cls(hidden=hidden, layers=pick("num_hidden_layers", "n_layers", "num_layers"),
                   intermediate=pick("intermediate_size", "hidden_dim", "d_ff", default=4 * hidden),
                   heads=pick("num_attention_heads", "n_heads", "num_heads"), num_labels=labels)

    @classmethod
    def from_model_dir(cls, path: Path, num_labels: int | None = None) -> ModelDims:
        file = Path(path) / "config.json"
        try:
            config = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise GateError(f"cannot read the model config {file}: {exc}") from None
        return cls.from_config(config, num_labels)


def sequence_flops(dims: ModelDims, seq_len: int) -> int:
    """Matmul FLOPs (multiply + add = 2) of one forward pass over one sequence of ``seq_len`` tokens.

    With s = seq_len, h = hidden, i = intermediate, L = layers, a = heads, d = h / a, n = labels:

        per layer, per token:  2*3h*h (Q, K, V) + 2*h*h (attention output) + 2*2*h*i (FFN)
                             = 8h^2 + 4hi                 (the "2 x parameters" term)
        per layer, attention:  2*s*s*d*a (Q K^T) + 2*s*s*d*a (softmax(.) V) = 4 s^2 h
        classifier head:       2*h*h (pooler / dense on the first token) + 2*h*n (out proj)

        total = L * (s * (8h^2 + 4hi) + 4 s^2 d a) + (2h^2 + 2hn if n > 0 else 0)

    Embedding lookups, layer norms, softmax, GELU and biases are O(s*h) and left out; the
    heads cancel out of the attention term whenever h is divisible by a.
    """
    s, h = int(seq_len), dims.hidden
    if s <= 0:
        return 0
    head_dim = h // dims.heads if dims.heads else h
    per_layer = s * (8 * h * h + 4 * h * dims.intermediate) + 4 * s * s * head_dim * max(dims.heads, 1)
    head = 2 * h * h + 2 * h * dims.num_labels if dims.num_labels > 0 else 0
    return dims.layers * per_layer + head


def batch_flops(dims: ModelDims, lengths: Iterable[int]) -> int:
    """FLOPs of a batch whose rows have these lengths (pass real lengths for useful work,
    or the padded length repeated for what a padded batch actually executes)."""
    return sum(sequence_flops(dims, int(s)) for s in lengths)


def plan_flops(dims: ModelDims, plan: BatchPlan) -> tuple[int, int]:
    """(useful FLOPs over real tokens, executed FLOPs over padded tokens) of a whole plan."""
    useful = executed = 0
    for batch, lengths in zip(plan.batches, plan.lengths, strict=True):
        rows, padded_len = batch["input_ids"].shape
        useful += batch_flops(dims, lengths)
        executed += rows * sequence_flops(dims, padded_len)
    return useful, executed


# --- machine --------------------------------------------------------------------------------


def gemm_gflops(n: int = 1024, repeats: int = 5, threads: int | None = None) -> float:
    """The machine's FP32 GEMM rate in GFLOP/s: median over ``repeats`` timed n x n matmuls.

    Uses torch (the same BLAS/oneDNN the torch backends use) at ``threads`` intra-op
    threads (None or 0: torch's current setting, restored afterwards). One untimed
    warm-up call precedes the timed ones.
    """
    flops = 2.0 * n ** 3
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return flops / statistics.median(times) / 1e9


def _proc_status_kib(field_name: str) -> int | None:
    """A ``VmXXX:`` field of /proc/self/status in KiB (None off Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far.

    Linux: VmHWM, the high-water mark of this process's own memory. Not ``ru_maxrss``: the
    kernel carries that across exec, so a worker spawned from a big pytest process would
    report its parent's peak. Elsewhere ``ru_maxrss`` (macOS: bytes).
    """
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    """Resident memory of this process now (Linux VmRSS; the peak elsewhere)."""
    rss = _proc_status_kib("VmRSS")
    return rss * 1024 if rss is not None else peak_rss_bytes()


def library_versions(packages: Sequence[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that decide the numbers ("not installed" otherwise)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine_summary() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count() or 0, "python": platform.python_version()}


# --- the hardware fingerprint of a baseline ---------------------------------------------------

#: The instruction sets that pick different kernels in torch and ONNX Runtime (FP32 and INT8 GEMMs).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")
#: What a speed baseline must share with the run gated against it, in the order messages name them.
FINGERPRINT_FIELDS = ("cpu_model", "isa", "logical_cores", "physical_cores", "threads",
                      "execution_providers", "torch", "onnxruntime")


def cpu_details(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, ISA flags and physical cores, from ``/proc/cpuinfo`` (or the text given).

    Elsewhere (no /proc/cpuinfo) the model is ``platform.processor()`` and the flags and the
    physical core count are unknown: ``isa`` is empty and ``physical_cores`` None, and
    unknown fields are not compared.
    """
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    model: str | None = None
    flags: set[str] | None = None
    cores: set[tuple[str, str]] = set()
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        model = model or fields.get("model name") or fields.get("hardware") or fields.get("cpu model")
        raw_flags = fields.get("flags", fields.get("features"))
        if flags is None and raw_flags is not None:
            flags = set(raw_flags.split())
        if "physical id" in fields and "core id" in fields:
            cores.add((fields["physical id"], fields["core id"]))
    return {"cpu_model": model or platform.processor() or platform.machine() or "unknown",
            "isa": {f: f in flags for f in ISA_FLAGS} if flags is not None else {},
            "physical_cores": len(cores) or None}


def session_providers(device: str) -> list[str]:
    """The ONNX Runtime execution providers the session's ONNX backends use on ``device``
    (empty when onnxruntime or the device is missing)."""
    try:
        from encoder_gate.backends.onnx_backend import providers_for

        return list(providers_for(device))
    except (GateError, ImportError):
        return []


def _onnxruntime_version() -> str:
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        return version if dist == "onnxruntime" else f"{version} ({dist})"
    return "not installed"


def hardware_fingerprint(threads: int, providers: Sequence[str], *,
                         cpuinfo: str | None = None) -> dict[str, Any]:
    """What a speed baseline was measured on: CPU model, ISA flags (:data:`ISA_FLAGS`),
    logical and physical cores, the session's threads (0: the libraries' default, all
    cores), ONNX Runtime execution providers, torch and onnxruntime versions.

    Speedups measured on another CPU, thread count or library release are not comparable:
    INT8 speedups hinge on VNNI/AMX, and a kernel change in torch moves the reference.
    """
    details = cpu_details(cpuinfo)
    return {"cpu_model": details["cpu_model"], "isa": details["isa"], "logical_cores": os.cpu_count() or 0,
            "physical_cores": details["physical_cores"], "threads": int(threads),
            "execution_providers": list(providers), "torch": library_versions(("torch",))["torch"],
            "onnxruntime": _onnxruntime_version()}


def fingerprint_differences(current: Mapping[str, Any] | None,
                            baseline: Mapping[str, Any] | None) -> list[str]:
    """``field: now vs baseline`` for every fingerprint field known on both sides that differs
    (ISA flags one by one, as ``isa.avx512_vnni``)."""
    if not current or not baseline:
        return []
    out = []
    for key in FINGERPRINT_FIELDS:
        now, then = current.get(key), baseline.get(key)
        if key == "isa" and isinstance(now, Mapping) and isinstance(then, Mapping):
            out += [f"isa.{flag}: {now[flag]!r} now, {then[flag]!r} in the baseline"
                    for flag in ISA_FLAGS if flag in now and flag in then and now[flag] != then[flag]]
        elif now is not None and then is not None and now != then:
            out.append(f"{key}: {now!r} now, {then!r} in the baseline")
    return out


class MachineMismatch(GateError):
    """The speed baseline was measured on another machine or library stack."""


def machine_mismatch_message(source: str, differences: Sequence[str]) -> str:
    fields = ", ".join(d.split(":", 1)[0] for d in differences)
    return (f"the speed baseline {source} was measured on a different machine or library stack "
            f"({fields} differ: {'; '.join(differences)}). Speedups are only comparable on the same "
            f"hardware, threads and libraries: save the baseline on this machine, or set "
            f"{ENV_ALLOW_OTHER_MACHINE}=1 to compare anyway (e.g. when the difference is the "
            "change under test, such as a torch upgrade)")


# --- worker processes -----------------------------------------------------------------------


def split_batches(batches: Sequence[Any], workers: int) -> list[list[Any]]:
    """Deal batches round-robin to ``workers`` shares (share i gets batches i, i+W, ...)."""
    if workers <= 0:
        raise GateError(f"workers must be a positive integer, got {workers}")
    return [list(batches[i::workers]) for i in range(workers)]


def _worker_main(conn: Any, config: Any, backend: str) -> None:
    """One worker process: build ``backend`` from the cache, warm up its share, then time it
    on every "go" until "stop". Replies ("ready"|"done"|"error", payload)."""
    runner = None
    try:
        from encoder_gate.runtime.session import GateSession

        baseline_rss = current_rss_bytes()
        runner = GateSession(config, progress=lambda _m: None).runner(backend)
        share = conn.recv()
        runner.warmup(sorted({(int(b["input_ids"].shape[0]), int(b["input_ids"].shape[1]))
                              for b in share}))
        conn.send(("ready", {"pid": os.getpid(), "baseline_rss_bytes": baseline_rss}))
        while conn.recv() == "go":
            start = time.perf_counter()
            for batch in share:
                runner.predict(batch)
            seconds = time.perf_counter() - start
            conn.send(("done", {"seconds": seconds, "peak_rss_bytes": peak_rss_bytes()}))
    except BaseException as exc:  # reported to the parent, which raises a GateError
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if runner is not None:
            runner.close()
        conn.close()


class WorkerPool:
    """W processes, each with its own copy of one backend and its share of the batches.

    The FP16 benchmark's worker setup: every process loads the backend, takes its share,
    and all start together; a round ends when the slowest worker is done, so throughput is
    messages / slowest worker. Each worker also reports its peak resident memory: one
    process holding one backend, which is that backend's memory footprint.

        with WorkerPool(config, "onnx-int8", split_batches(plan.batches, 2)) as pool:
            seconds = pool.run()   # one float per worker
    """

    def __init__(self, config: Any, backend: str, shares: Sequence[Sequence[Any]],
                 timeout_s: float = 900.0) -> None:
        if not shares or any(not share for share in shares):
            raise GateError("every worker needs at least one batch; use fewer workers or more texts")
        self.backend, self.timeout_s = backend, timeout_s
        self.messages = [sum(int(b["input_ids"].shape[0]) for b in share) for share in shares]
        self.baseline_rss: list[int] = []
        self.peak_rss = [0] * len(shares)
        ctx = mp.get_context("spawn")  # fork after torch/ORT threads exist is unsafe
        self._conns, self._procs = [], []
        try:
            for share in shares:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, config, backend), daemon=True)
                proc.start()
                child.close()
                parent.send(list(share))
                self._conns.append(parent)
                self._procs.append(proc)
            self.baseline_rss = [int(r["baseline_rss_bytes"]) for r in self._gather("ready")]
        except BaseException:
            self.close()
            raise

    def _gather(self, expected: str) -> list[dict[str, Any]]:
        replies = []
        for i, conn in enumerate(self._conns):
            if not conn.poll(self.timeout_s):
                raise GateError(f"worker {i} of {self.backend} did not answer in {self.timeout_s:.0f} s")
            try:
                kind, payload = conn.recv()
            except EOFError:
                raise GateError(f"worker {i} of {self.backend} died (exit code "
                                f"{self._procs[i].exitcode}); run the backend alone to see why") from None
            if kind == "error":
                raise GateError(f"worker {i} of {self.backend} failed: {payload}")
            if kind != expected:
                raise GateError(f"worker {i} of {self.backend} sent {kind!r}, expected {expected!r}")
            replies.append(payload)
        return replies

    def run(self) -> list[float]:
        """One round: every worker runs its whole share once; their times in seconds."""
        for conn in self._conns:
            conn.send("go")
        replies = self._gather("done")
        self.peak_rss = [max(old, int(r["peak_rss_bytes"]))
                         for old, r in zip(self.peak_rss, replies, strict=True)]
        return [float(r["seconds"]) for r in replies]

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send("stop")
        for proc in self._procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def workers_info(pool: WorkerPool, slowest: Sequence[float]) -> dict[str, Any]:
    """extra_info of a multi-process benchmark: the pass time is the median slowest worker."""
    return {"workers": len(pool.messages), "worker_messages": list(pool.messages),
            "slowest_worker_seconds": statistics.median(slowest),
            "worker_peak_rss_mb": [b / 1e6 for b in pool.peak_rss],
            "worker_baseline_rss_mb": [b / 1e6 for b in pool.baseline_rss],
            "backend_peak_rss_mb": max(pool.peak_rss) / 1e6}


# --- rates ----------------------------------------------------------------------------------


def throughput(n_messages: int, real_tokens: int, padded_tokens: int, seconds: float) -> dict[str, float]:
    """messages/s, real tokens/s and padded tokens/s for work done in ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return {"messages_per_s": n_messages / seconds, "real_tokens_per_s": real_tokens / seconds,
            "padded_tokens_per_s": padded_tokens / seconds}


def latency_percentiles(samples_s: Sequence[float],
                        percentiles: Sequence[int] = (50, 90, 99)) -> dict[str, float]:
    """{"p50_ms": ..., "p90_ms": ..., "p99_ms": ...} from per-call times in seconds (linear interpolation)."""
    if not len(samples_s):
        raise ValueError("no latency samples")
    values = np.percentile(np.asarray(samples_s, dtype=np.float64) * 1e3, list(percentiles))
    return {f"p{p}_ms": float(v) for p, v in zip(percentiles, values, strict=True)}


def run_info(plan: BatchPlan, seconds: float, dims: ModelDims | None = None,
             gemm: float | None = None) -> dict[str, Any]:
    """The measured numbers of one benchmark: rates, padding, FLOP rates and GEMM fraction.

    ``seconds`` is the time one pass over the whole plan took.
    ``gflops_per_s`` counts useful FLOPs (real lengths); ``padded_gflops_per_s`` what the
    padded batches execute. ``gemm_fraction`` = padded GFLOP/s / the machine's FP32 GEMM
    rate: how much of the machine the backend uses (INT8 kernels can exceed 1.0).
    """
    info: dict[str, Any] = {
        "n_messages": plan.n_messages, "n_batches": len(plan.batches), "real_tokens": plan.real_tokens,
        "padded_tokens": plan.padded_tokens, "padding_efficiency": plan.padding_efficiency,
        "pass_seconds": seconds,
        **throughput(plan.n_messages, plan.real_tokens, plan.padded_tokens, seconds),
    }
    if dims is not None:
        useful, executed = plan_flops(dims, plan)
        info["gflops_per_s"] = useful / seconds / 1e9
        info["padded_gflops_per_s"] = executed / seconds / 1e9
        if gemm:
            info["machine_gemm_gflops"] = gemm
            info["gemm_fraction"] = info["padded_gflops_per_s"] / gemm
    # the benchmark process's peak so far: it holds every backend, so this is not per backend
    # (test_workers measures that, one backend per process)
    info["process_peak_rss_mb"] = peak_rss_bytes() / 1e6
    return info


# --- results and speedups -------------------------------------------------------------------


@dataclass(frozen=True)
class BenchResult:
    """One benchmark's time (its SPEEDUP_STAT), keyed by what makes two backends comparable."""

    mode: str
    variant: str
    batch_size: int
    dispatch: str
    backend: str
    seconds: float
    info: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def case(self) -> str:
        return case_id(self.mode, self.variant, self.batch_size, self.dispatch)


def case_id(mode: str, variant: str, batch_size: int, dispatch: str) -> str:
    """``model/normal/bs8/bucketed``: the key of a speedup."""
    return f"{mode}/{variant}/bs{batch_size}/{dispatch}"


KEY_FIELDS = ("mode", "variant", "batch_size", "dispatch", "backend")


def results_from_json(doc: Mapping[str, Any], stat: str = SPEEDUP_STAT) -> list[BenchResult]:
    """The encoder-gate benchmarks of a pytest-benchmark JSON document (others are skipped),
    timed by the statistic ``stat`` of their stats."""
    out = []
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        seconds = (bench.get("stats") or {}).get(stat)
        if seconds is None or not all(k in info for k in KEY_FIELDS):
            continue
        out.append(BenchResult(str(info["mode"]), str(info["variant"]), int(info["batch_size"]),
                               str(info["dispatch"]), str(info["backend"]), float(seconds), info))
    return out


def paired_speedup(reference_seconds: Sequence[float], backend_seconds: Sequence[float]) -> float:
    """Median over rounds of reference time / backend time, rounds taken in turns (A B A B).

    Pairing is what keeps the ratio honest on a shared machine: a burst of load from
    another process lands on one or two neighbouring rounds and changes the ratio of that
    pair only, where separately taken minimums would each catch a different moment of
    the machine's speed.
    """
    if not reference_seconds or len(reference_seconds) != len(backend_seconds):
        raise ValueError(f"need equally many rounds, got {len(reference_seconds)} and {len(backend_seconds)}")
    return float(statistics.median(r / b for r, b in zip(reference_seconds, backend_seconds, strict=True)))


# --- paired statistics and the speed gate's test -----------------------------------------------

CONFIDENCE = 0.95  # of the speedup's CI and of the shift's CI
POWER = 0.8  # of the minimum detectable slowdown
#: Below 6 rounds no interval between two order statistics covers a median 95% of the time
#: ((min, max) of n rounds covers it with probability 1 - 2^(1-n): 94% at 5): the bootstrap CI
#: is then too narrow, and the statistics say so.
MIN_ROUNDS_FOR_CI = 6
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
#: Asymptotic relative efficiency of Mann-Whitney U to the t test on normal data: the rank test
#: needs pi/3 times the rounds of a t test for the same power (and gives up little on outliers).
MANN_WHITNEY_ARE = 3 / math.pi
NOISE_SLOWDOWNS = (0.05, 0.10, 0.20)  # the slowdowns `encoder-gate noise` simulates for the rules
NOISE_RULE_DROPS = (0.05, 0.10, 0.15, 0.20)  # the effect sizes it replays the rules at
STATS_METHOD = {
    "speedup": "median over rounds of torch time / backend time, rounds paired (A B A B)",
    "ci": f"{CONFIDENCE:.0%} percentile bootstrap of the median per-round ratio ({BOOTSTRAP_RESAMPLES} "
          f"resamples of the rounds, seed {BOOTSTRAP_SEED}); below {MIN_ROUNDS_FOR_CI} rounds it undercovers",
    "mde_slowdown": f"smallest drop of the speedup the test detects with {POWER:.0%} power against a "
                    "baseline with as many rounds and the same spread: 1 - exp(-(t_{1-alpha} + "
                    f"t_{{{POWER:g}}}) * sd * sqrt(2/n) * sqrt(pi/3)), sd the standard deviation of the "
                    "per-round log ratios, t quantiles with 2n-2 degrees of freedom, sqrt(pi/3) the "
                    "efficiency loss of Mann-Whitney U against the t test on normal data",
    "test": "one-sided Mann-Whitney U of the baseline's per-round log ratios against this run's; "
            "fails when p < alpha and the drop is over max_drop",
}


def log_ratios(reference_seconds: Sequence[float], backend_seconds: Sequence[float]) -> list[float]:
    """Per-round log(reference time / backend time): the paired data the speed gate tests."""
    if not reference_seconds or len(reference_seconds) != len(backend_seconds):
        raise ValueError(f"need equally many rounds, got {len(reference_seconds)} and {len(backend_seconds)}")
    if min(*reference_seconds, *backend_seconds) <= 0:
        raise ValueError("round times must be positive")
    return [math.log(r / b) for r, b in zip(reference_seconds, backend_seconds, strict=True)]


def _log_median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log of the median ratio, i.e. the log of :func:`paired_speedup` (for an odd number of
    rounds, exactly the median log ratio; for an even number, the log of the mean of the two
    middle ratios rather than their geometric mean, so the CI brackets the reported speedup)."""
    return np.log(np.median(np.exp(x), axis=axis))


def _shift_statistic(base: np.ndarray, current: np.ndarray, axis: int = -1) -> np.ndarray:
    return _log_median(base, axis) - _log_median(current, axis)


def median_speedup(ratios_log: Sequence[float]) -> float:
    """The speedup of per-round log ratios: their median ratio (what :func:`paired_speedup` gives)."""
    return float(np.median(np.exp(np.asarray(ratios_log, dtype=np.float64))))


def _bootstrap_ci(samples: Sequence[Sequence[float]], statistic: Any,
                  confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile bootstrap CI of ``statistic`` (vectorized, one sample or two independent ones);
    None when a sample has fewer than two values."""
    from scipy import stats

    arrays = tuple(np.asarray(x, dtype=np.float64) for x in samples)
    if any(len(x) < 2 for x in arrays):
        return None
    if all(np.ptp(x) == 0 for x in arrays):  # every resample is the data itself
        value = float(statistic(*(x[None, :] for x in arrays))[0])
        return value, value
    res = stats.bootstrap(arrays, statistic, vectorized=True, paired=False, method="percentile",
                          confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def smallest_p(baseline_rounds: int, current_rounds: int) -> float:
    """The smallest one-sided p-value an exact Mann-Whitney U test can reach with these round
    counts (every baseline round above every current one): 1 / C(n_b + n_c, n_b)."""
    if baseline_rounds < 1 or current_rounds < 1:
        return 1.0
    return 1.0 / math.comb(baseline_rounds + current_rounds, baseline_rounds)


def min_detectable_slowdown(sd: float, rounds: int, *, alpha: float = DEFAULT_ALPHA, power: float = POWER,
                            baseline_rounds: int | None = None) -> float | None:
    """The smallest drop of a speedup (a fraction, like ``max_drop``) that the speed gate's
    test detects with ``power``, for a run of ``rounds`` paired rounds whose log ratios have
    standard deviation ``sd``, against a baseline of ``baseline_rounds`` (default: as many)
    rounds with the same spread.

    The normal approximation with t quantiles (2n - 2 degrees of freedom) for the small
    samples, inflated by sqrt(pi/3) for Mann-Whitney U's efficiency on normal data::

        shift = (t_{1-alpha} + t_{power}) * sd * sqrt(1/n_c + 1/n_b) * sqrt(pi/3)
        mde   = 1 - exp(-shift)

    None when no drop can be detected: fewer than two rounds (no spread), or so few on both
    sides that the exact test cannot reach ``alpha`` at all (:func:`smallest_p`). The gate
    also needs the drop to exceed ``max_drop``, so a drop is caught reliably when it clears
    both.
    """
    from scipy import stats

    n_b = baseline_rounds if baseline_rounds is not None else rounds
    if rounds < 2 or n_b < 1 or not np.isfinite(sd) or smallest_p(n_b, rounds) >= alpha:
        return None
    df = rounds + n_b - 2
    k = float(stats.t.ppf(1 - alpha, df) + stats.t.ppf(power, df))
    shift = k * sd * math.sqrt(1 / rounds + 1 / n_b) / math.sqrt(MANN_WHITNEY_ARE)
    return 1.0 - math.exp(-shift)


@dataclass(frozen=True)
class PairedStats:
    """A backend's speedup over torch eager from its paired rounds, with its uncertainty."""

    log_ratios: tuple[float, ...]  # per round: log(torch time / backend time)
    speedup: float  # the median per-round ratio
    ci: tuple[float, float] | None  # CONFIDENCE bootstrap CI of the speedup (None: one round)
    mde_slowdown: float | None  # see min_detectable_slowdown (None: undetectable with these rounds)
    alpha: float = DEFAULT_ALPHA

    @property
    def rounds(self) -> int:
        return len(self.log_ratios)

    @property
    def note(self) -> str | None:
        """What makes these numbers weak, if anything."""
        n = self.rounds
        if n < 2:
            return "1 round: no CI and no test; raise ENCODER_GATE_BENCH_ROUNDS"
        if self.mde_slowdown is None:
            return (f"{n} rounds: the test cannot reach p < {self.alpha:g} against as many; raise "
                    f"{ENV_ROUNDS}")
        if n < MIN_ROUNDS_FOR_CI:
            return f"{n} rounds: fewer than {MIN_ROUNDS_FOR_CI}, the {CONFIDENCE:.0%} CI is too narrow"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"speedup": self.speedup, "ci": list(self.ci) if self.ci else None,
                "mde_slowdown": self.mde_slowdown, "rounds": self.rounds,
                "log_ratios": list(self.log_ratios), "note": self.note}


def paired_stats(ratios_log: Sequence[float], *, alpha: float = DEFAULT_ALPHA, power: float = POWER,
                 seed: int = BOOTSTRAP_SEED) -> PairedStats:
    """Speedup, its CI and the minimum detectable slowdown from per-round log ratios.

    The CI is a percentile bootstrap of the median ratio over the rounds (seeded, so a run
    reports the same interval every time it is rendered); see :data:`STATS_METHOD`.
    """
    x = [float(v) for v in ratios_log]
    if not x:
        raise ValueError("no rounds")
    ci = _bootstrap_ci([x], _log_median, seed=seed)
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
    return PairedStats(tuple(x), median_speedup(x),
                       (math.exp(ci[0]), math.exp(ci[1])) if ci else None,
                       min_detectable_slowdown(sd, len(x), alpha=alpha, power=power), alpha)


def speed_stats(results: Iterable[BenchResult],
                alpha: float = DEFAULT_ALPHA) -> dict[str, dict[str, PairedStats]]:
    """{case: {backend: PairedStats}} for every result with per-round data (``paired_log_ratios``
    in its info); the last result of a (case, backend) wins, as in :func:`compute_speedups`."""
    out: dict[str, dict[str, PairedStats]] = {}
    for case, row in latest_results(results).items():
        for backend, r in row.items():
            ratios = r.info.get("paired_log_ratios")
            if ratios:
                out.setdefault(case, {})[backend] = paired_stats(ratios, alpha=alpha)
    return out


def _log_ratio_table(doc: Mapping[str, Any]) -> dict[str, dict[str, list[float]]]:
    """{case: {backend: per-round log ratios}} of a speedups document ({} for an old one)."""
    table: dict[str, dict[str, list[float]]] = {}
    for case, row in (doc.get("stats") or {}).items():
        for backend, entry in (row or {}).items():
            ratios = (entry or {}).get("log_ratios")
            if ratios:
                table.setdefault(case, {})[backend] = [float(v) for v in ratios]
    return table


Rule = Literal["test", "point"]


@dataclass(frozen=True)
class SpeedComparison:
    """One (case, backend) of the speed gate: the baseline's speedup against this run's.

    ``rule`` "test": fails when the drop is over ``max_drop`` and significant (one-sided
    Mann-Whitney U of the per-round log ratios, p < ``alpha``). "point" (``reason`` says
    why: no per-round data on a side, or too few rounds for the test to reach ``alpha``):
    fails on the drop alone, as the gate did before it had per-round data.
    """

    case: str
    backend: str
    baseline: float  # speedups over torch eager
    current: float
    max_drop: float
    alpha: float
    rule: Rule
    p_value: float | None = None
    shift_ci: tuple[float, float] | None = None  # CONFIDENCE bootstrap CI of the shift (log scale)
    rounds: tuple[int, int] = (0, 0)  # (baseline, current) rounds with per-round data
    reason: str | None = None  # why the point rule decided

    @property
    def shift(self) -> float:
        """Baseline minus current log speedup (the median per-round log ratio): > 0 is slower."""
        return math.log(self.baseline / self.current)

    @property
    def drop(self) -> float:
        """The relative loss of speedup, 1 - current / baseline (in the unit of ``max_drop``)."""
        return 1.0 - self.current / self.baseline

    @property
    def effect_shift(self) -> float:
        """``max_drop`` on the log scale of :attr:`shift`."""
        return -math.log1p(-self.max_drop)

    @property
    def beyond(self) -> bool:
        return self.drop > self.max_drop

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha

    @property
    def failed(self) -> bool:
        return self.beyond and (self.rule == "point" or self.significant)

    @property
    def borderline(self) -> bool:
        """Would more rounds of this run change the decision? Beyond the effect size but not
        significant, significant with a CI that straddles the effect size, or beyond it with
        too few rounds for the test (more current rounds make the test possible)."""
        if self.rule == "point":
            return self.beyond and self.rounds[0] > 0 and self.rounds[1] > 0
        if self.beyond and not self.significant:
            return True
        return self.significant and self.shift_ci is not None and \
            self.shift_ci[0] < self.effect_shift < self.shift_ci[1]

    def failure(self) -> SpeedupFailure:
        return SpeedupFailure(self.case, self.backend, self.baseline, self.current, self.max_drop,
                              self.p_value if self.rule == "test" else None)

    def describe(self) -> str:
        """``<backend> <case>: 2.00x -> 1.54x (-23.1%), p=0.0006 (one-sided Mann-Whitney U, 7 vs 7
        rounds)``: one terminal line."""
        text = (f"{self.backend} {self.case}: {self.baseline:.2f}x -> {self.current:.2f}x "
                f"({-self.drop:+.1%})")
        if self.rule == "test":
            text += f", p={self.p_value:.2g} ({self.rounds[0]} vs {self.rounds[1]} rounds)"
            if self.shift_ci is not None:
                low, high = (1 - math.exp(-v) for v in self.shift_ci)
                text += f", drop {CONFIDENCE:.0%} CI [{low:+.1%}, {high:+.1%}]"
        else:
            text += f", point rule: {self.reason}"
        if self.failed:
            text += ": FAILS"
        elif self.borderline:
            text += ": borderline"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "current": self.current, "shift": self.shift, "drop": self.drop,
                "p_value": self.p_value, "shift_ci": list(self.shift_ci) if self.shift_ci else None,
                "rule": self.rule, "rounds": list(self.rounds), "reason": self.reason,
                "significant": self.significant, "borderline": self.borderline, "failed": self.failed}


def _mann_whitney_p(base: Sequence[float], current: Sequence[float]) -> float:
    """One-sided p that the baseline's log ratios are stochastically larger (this run slower)."""
    from scipy import stats

    return float(stats.mannwhitneyu(base, current, alternative="greater").pvalue)


def compare_one(case: str, backend: str, baseline: float, current: float, max_drop: float, alpha: float,
                base_ratios: Sequence[float] | None, current_ratios: Sequence[float] | None, *,
                ci: bool = True) -> SpeedComparison:
    """The speed gate's decision for one (case, backend); see :class:`SpeedComparison`.
    ``ci=False`` skips the bootstrap CI of the shift (the decision does not use it; only
    :attr:`SpeedComparison.borderline` does)."""
    rounds = (len(base_ratios or ()), len(current_ratios or ()))
    if not base_ratios or not current_ratios:
        side = "the baseline" if not base_ratios else "this run"
        return SpeedComparison(case, backend, baseline, current, max_drop, alpha, "point", rounds=rounds,
                               reason=f"no per-round data in {side}")
    floor = smallest_p(*rounds)
    if floor >= alpha:
        return SpeedComparison(case, backend, baseline, current, max_drop, alpha, "point", rounds=rounds,
                               reason=f"too few rounds for the test ({rounds[0]} vs {rounds[1]}: its "
                                      f"smallest p is {floor:.2g}, not below {alpha:g})")
    shift_ci = _bootstrap_ci([base_ratios, current_ratios], _shift_statistic) if ci else None
    return SpeedComparison(case, backend, baseline, current, max_drop, alpha, "test",
                           _mann_whitney_p(base_ratios, current_ratios), shift_ci, rounds)


def compare_speed(current: Mapping[str, Any], baseline: Mapping[str, Any], max_drop: float,
                  alpha: float = DEFAULT_ALPHA, *, ci: bool = True) -> list[SpeedComparison]:
    """The speed gate on two speedups documents: every (case, backend) in both, by the test
    where both hold per-round log ratios (``stats``), else by the point rule."""
    if not 0 <= max_drop < 1:
        raise ValueError(f"max_drop must be in [0, 1), got {max_drop}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    cur, base = _speedup_table(current), _speedup_table(baseline)
    cur_lr, base_lr = _log_ratio_table(current), _log_ratio_table(baseline)
    out = []
    for case in sorted(set(cur) & set(base)):
        for backend in sorted(set(cur[case]) & set(base[case])):
            now, then = float(cur[case][backend]), float(base[case][backend])
            if then > 0 and now > 0:
                out.append(compare_one(case, backend, then, now, max_drop, alpha,
                                       base_lr.get(case, {}).get(backend),
                                       cur_lr.get(case, {}).get(backend), ci=ci))
    return out


def extra_rounds_needed(baseline: Mapping[str, Any], case: str, backend: str, ratios_log: Sequence[float],
                        settings: BenchSettings) -> int:
    """How many paired rounds to add to ``(case, backend)`` before recording it: all of
    ``settings.extra_rounds`` when the case is borderline against ``baseline`` (see
    :attr:`SpeedComparison.borderline`), else 0. One extension only, so the session stays
    bounded; the two looks at the data raise the false-alarm rate a little above ``alpha``
    for borderline cases alone, and the effect size still has to be exceeded."""
    if settings.extra_rounds <= 0 or not ratios_log:
        return 0
    current = {"speedups": {case: {backend: median_speedup(ratios_log)}},
               "stats": {case: {backend: {"log_ratios": list(ratios_log)}}}}
    found = compare_speed(current, baseline, settings.max_drop, settings.alpha)
    return settings.extra_rounds if found and found[0].borderline else 0


def latest_results(results: Iterable[BenchResult]) -> dict[str, dict[str, BenchResult]]:
    """{case: {backend: result}}, sorted; when a case ran more than once (several files
    merged), the last result wins."""
    table: dict[str, dict[str, BenchResult]] = {}
    for r in results:
        table.setdefault(r.case, {})[r.backend] = r
    return {case: dict(sorted(row.items())) for case, row in sorted(table.items())}


def compute_speedups(results: Iterable[BenchResult],
                     reference: str = REFERENCE_BACKEND) -> dict[str, dict[str, float]]:
    """{case: {backend: reference time / backend time}} for every case the reference ran.

    The reference itself is left out (its speedup is 1 by definition). A result measured
    in pairs with the reference (``paired_speedup`` in its info) uses that ratio instead,
    and needs no reference result of its own. When a case ran more than once (several
    files merged), the last result wins.
    """
    speedups: dict[str, dict[str, float]] = {}
    for case, row in latest_results(results).items():
        ref = row[reference].seconds if reference in row else None
        out = {}
        for backend, r in row.items():
            if backend == reference:
                continue
            if r.info.get("paired_speedup"):
                out[backend] = float(r.info["paired_speedup"])
            elif ref and r.seconds > 0:
                out[backend] = ref / r.seconds
        if out:
            speedups[case] = out
    return speedups


@dataclass(frozen=True)
class SpeedupFailure:
    """A backend whose speedup over torch eager fell by more than allowed."""

    case: str
    backend: str
    baseline: float
    current: float
    max_drop: float
    p_value: float | None = None  # the test's, when it decided (None: the point rule)

    @property
    def drop(self) -> float:
        return 1.0 - self.current / self.baseline

    def __str__(self) -> str:
        significance = "" if self.p_value is None else f"; p={self.p_value:.2g}"
        return (f"{self.backend} {self.case}: speedup over torch eager {self.current:.2f}x, baseline "
                f"{self.baseline:.2f}x ({-self.drop:+.1%}; allowed -{self.max_drop:.0%}{significance})")


def _speedup_table(doc: Mapping[str, Any]) -> Mapping[str, Mapping[str, float]]:
    """Accept a whole speedups.json document or just its ``speedups`` mapping."""
    inner = doc.get("speedups")
    return inner if isinstance(inner, Mapping) else doc


def speedup_gate(current: Mapping[str, Any], baseline: Mapping[str, Any],
                 max_drop: float) -> list[SpeedupFailure]:
    """Failures: every (case, backend) in both whose speedup dropped more than ``max_drop``.

    ``current`` and ``baseline`` are :func:`compute_speedups` tables (or speedups.json
    documents holding one). ``max_drop=0.2`` fails a backend whose speedup over torch
    eager is below 80% of the baseline's. Cases or backends missing on either side are
    not compared.
    """
    if not 0 <= max_drop < 1:
        raise ValueError(f"max_drop must be in [0, 1), got {max_drop}")
    cur, base = _speedup_table(current), _speedup_table(baseline)
    failures = []
    for case in sorted(set(cur) & set(base)):
        for backend in sorted(set(cur[case]) & set(base[case])):
            now, then = float(cur[case][backend]), float(base[case][backend])
            if then > 0 and now < then * (1.0 - max_drop):
                failures.append(SpeedupFailure(case, backend, then, now, max_drop))
    return failures


def comparability_warnings(current: Mapping[str, Any], baseline: Mapping[str, Any],
                           gemm_tolerance: float = 1.5) -> list[str]:
    """Reasons two speedups documents may not be comparable (different model, threads, load).

    The GEMM rate is a snapshot of how much CPU the run got: when it differs by more than
    ``gemm_tolerance`` times, the machine was loaded differently, and backends do not
    suffer load alike (torch's OpenMP barriers degrade far more than ONNX Runtime's
    threads on an oversubscribed machine).
    """
    out = []
    cur_model, base_model = current.get("model") or {}, baseline.get("model") or {}
    for key in ("content_hash", "threads", "device"):
        if key in cur_model and key in base_model and cur_model[key] != base_model[key]:
            out.append(f"model {key} differs: {cur_model[key]!r} now, {base_model[key]!r} in the baseline")
    cur_gemm, base_gemm = current.get("machine_gemm_gflops"), baseline.get("machine_gemm_gflops")
    if cur_gemm and base_gemm and max(cur_gemm / base_gemm, base_gemm / cur_gemm) > gemm_tolerance:
        out.append(f"machine GEMM rate {cur_gemm:.0f} GFLOP/s now vs {base_gemm:.0f} in the baseline: "
                   "the machine is loaded differently; pin --gate-threads below the free cores")
    return out


def speedups_document(results: Sequence[BenchResult], *, model: Mapping[str, Any] | None = None,
                      gemm: float | None = None, reference: str = REFERENCE_BACKEND,
                      fingerprint: Mapping[str, Any] | None = None,
                      alpha: float = DEFAULT_ALPHA) -> dict[str, Any]:
    """What ``speedups.json`` holds: the speedups, times, best GFLOP/s per backend, the machine.

    ``stats``: {case: {backend: {speedup, ci, mde_slowdown, rounds, log_ratios, note}}} for the
    paired results (:func:`paired_stats`; ``stats_method`` says how). ``fingerprint``: the
    hardware the run was measured on (:func:`hardware_fingerprint`); default: the one
    recorded in the results' extra_info (a pytest-benchmark save), else None.
    """
    if fingerprint is None:
        fingerprint = next((r.info["fingerprint"] for r in results
                            if isinstance(r.info.get("fingerprint"), Mapping)), None)
    best: dict[str, dict[str, Any]] = {}
    for r in results:
        rate = r.info.get("padded_gflops_per_s")
        if rate is not None and rate > best.get(r.backend, {}).get("padded_gflops_per_s", -1.0):
            best[r.backend] = {"case": r.case, "padded_gflops_per_s": float(rate),
                               "gflops_per_s": float(r.info.get("gflops_per_s", 0.0))}
            if gemm:
                best[r.backend]["gemm_fraction"] = float(rate) / gemm
    return {
        "reference": reference,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": dict(model or {}),
        "machine": machine_summary(),
        "versions": library_versions(),
        "machine_gemm_gflops": gemm,
        "best_gflops": best,
        "statistic": SPEEDUP_STAT,
        "seconds": {c: {b: r.seconds for b, r in row.items()} for c, row in latest_results(results).items()},
        "speedups": compute_speedups(results, reference),
        "stats": {case: {b: st.to_json() for b, st in row.items()}
                  for case, row in speed_stats(results, alpha).items()},
        "stats_method": dict(STATS_METHOD),
        "fingerprint": dict(fingerprint) if fingerprint is not None else None,
    }


def write_json(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise GateError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise GateError(f"the {what} {path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise GateError(f"the {what} {path} must hold a JSON object")
    return doc


# --- pytest-benchmark files -----------------------------------------------------------------


def benchmark_files(root: Path) -> list[Path]:
    """pytest-benchmark saves (``<root>/<machine>/NNNN_*.json``, or ``root`` itself), oldest first."""
    root = Path(root)
    if root.is_file():
        return [root]
    found = [p for p in root.rglob("*.json") if p.is_file() and p.name[:4].isdigit()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def latest_benchmark_file(root: Path) -> Path:
    files = benchmark_files(root)
    if not files:
        raise GateError(
            f"no pytest-benchmark results under {root}; run `pytest benchmarks --benchmark-autosave` "
            "first, or pass --benchmarks FILE"
        )
    return files[-1]


def load_benchmark_json(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file, checked to hold a ``benchmarks`` list."""
    doc = read_json(path, "benchmark file")
    if not isinstance(doc.get("benchmarks"), list):
        raise GateError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return doc


def load_benchmarks(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Each path a file, or a directory whose newest save is taken; documents in order."""
    docs = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise GateError(f"benchmark path {path} does not exist")
        docs.append(load_benchmark_json(latest_benchmark_file(path) if path.is_dir() else path))
    return docs


def format_speedups(doc: Mapping[str, Any]) -> list[str]:
    """Terminal lines for a speedups document: one row per case, one column per backend."""
    table = _speedup_table(doc)
    lines: list[str] = []
    if not table:
        lines.append(f"no speedups: the reference backend {doc.get('reference', REFERENCE_BACKEND)!r} "
                     "was not benchmarked next to the others")
    else:
        backends = sorted({b for row in table.values() for b in row})
        width = max(len(c) for c in table)
        lines.append(f"{'case':<{width}}  " + "  ".join(f"{b:>13}" for b in backends))
        for case, row in table.items():
            cells = "  ".join(f"{row[b]:>12.2f}x" if b in row else f"{'-':>13}" for b in backends)
            lines.append(f"{case:<{width}}  {cells}")
    lines += format_stats(doc)
    gemm = doc.get("machine_gemm_gflops")
    if gemm:
        lines.append(f"machine FP32 GEMM: {gemm:.1f} GFLOP/s (1024x1024 matmul, median)")
        for backend, best in sorted((doc.get("best_gflops") or {}).items()):
            lines.append(f"  {backend:<16} best {best['padded_gflops_per_s']:7.2f} GFLOP/s executed "
                         f"({best.get('gemm_fraction', 0.0):.0%} of GEMM) at {best['case']}")
    return lines


def format_stats(doc: Mapping[str, Any]) -> list[str]:
    """Per (case, backend) with paired rounds: the speedup, its CI and the minimum detectable
    slowdown (``stats`` of a speedups document)."""
    rows = [(backend, case, entry) for case, row in (doc.get("stats") or {}).items()
            for backend, entry in (row or {}).items()]
    if not rows:
        return []
    bw, cw = max(len(b) for b, _, _ in rows), max(len(c) for _, c, _ in rows)
    lines = [f"paired rounds: speedup, its {CONFIDENCE:.0%} CI (bootstrap), and the smallest drop the "
             f"test detects with {POWER:.0%} power (MDE)"]
    for backend, case, entry in sorted(rows, key=lambda r: (r[1], r[0])):
        ci = entry.get("ci")
        mde = entry.get("mde_slowdown")
        text = (f"  {backend:<{bw}}  {case:<{cw}}  {entry['speedup']:6.2f}x  "
                + (f"CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "CI -") + "  "
                + (f"MDE {mde:.1%}" if mde is not None else "MDE -") + f"  {entry['rounds']} rounds")
        if entry.get("note"):
            text += f"  ({entry['note']})"
        lines.append(text)
    return lines


# --- how noisy are the gates? ---------------------------------------------------------------


def compare_failures(baseline: Mapping[str, Any], current: Mapping[str, Any], stat: str,
                     percent: float, slowdown: Mapping[str, float] | None = None) -> list[str]:
    """What ``--benchmark-compare-fail=<stat>:<percent>%`` would fail: the benchmarks (by
    name) whose ``stat`` grew by more than ``percent`` over the baseline document.
    ``slowdown`` multiplies the current times of the named benchmarks (a simulated regression)."""
    base = {b["name"]: b["stats"][stat] for b in baseline.get("benchmarks", [])
            if stat in (b.get("stats") or {})}
    failed = []
    for bench_doc in current.get("benchmarks", []):
        name, now = bench_doc["name"], (bench_doc.get("stats") or {}).get(stat)
        if name in base and now is not None:
            now *= (slowdown or {}).get(name, 1.0)
            if now > base[name] * (1 + percent / 100):
                failed.append(name)
    return failed


@dataclass(frozen=True)
class NoiseRow:
    """One gate setting over every (baseline run, current run) pair of unchanged runs."""

    gate: str  # "compare" or "speedup"
    setting: str  # e.g. "min:25%" or "max drop 15%"
    pairs: int
    false_failures: int  # pairs of unchanged runs that failed
    caught: int  # simulated regressions that failed
    simulated: int  # simulated regressions tried

    @property
    def false_failure_rate(self) -> float:
        return self.false_failures / self.pairs if self.pairs else 0.0

    @property
    def detection_rate(self) -> float:
        return self.caught / self.simulated if self.simulated else 0.0


@dataclass(frozen=True)
class DetectionRow:
    """One speed-gate rule over every (baseline run, current run) pair of unchanged runs, replayed
    on the paired per-round data: false alarms, and detection of each simulated slowdown."""

    gate: str  # "speed test" (the statistical rule) or "speed point" (the point rule)
    setting: str  # e.g. "max drop 15%, p < 0.05"
    pairs: int
    false_failures: int  # pairs of unchanged runs that failed
    detections: tuple[tuple[float, int, int], ...]  # (slowdown, caught, tried)

    @property
    def false_failure_rate(self) -> float:
        return self.false_failures / self.pairs if self.pairs else 0.0


def _noise_cases(doc: Mapping[str, Any]) -> dict[tuple[str, str], tuple[float, list[float]]]:
    """{(case, backend): (speedup, per-round log ratios)} of a pytest-benchmark save's paired results."""
    results = results_from_json(doc)
    speedups = compute_speedups(results)
    out = {}
    for case, row in latest_results(results).items():
        for backend, r in row.items():
            ratios = r.info.get("paired_log_ratios")
            if ratios and backend in speedups.get(case, {}):
                out[(case, backend)] = (float(speedups[case][backend]), [float(v) for v in ratios])
    return out


def rule_noise(docs: Sequence[Mapping[str, Any]], *, drops: Sequence[float] = NOISE_RULE_DROPS,
               alpha: float = DEFAULT_ALPHA,
               slowdowns: Sequence[float] = NOISE_SLOWDOWNS) -> list[DetectionRow]:
    """False alarms and detection rates of the speed gate's statistical rule and of the point
    rule, from N saved runs of an unchanged tree with per-round data (``paired_log_ratios``).

    Every ordered pair (baseline j, current i != j) is a trial. A slowdown ``s`` is simulated
    on the paired data: one backend's per-round times in the current run are multiplied by
    (1 + s), the torch rounds stay as measured, so its log ratios fall by log(1 + s) and its
    speedup by the factor 1 + s (a drop of s / (1 + s)). Empty when no two runs share paired
    results.
    """
    cases = [_noise_cases(d) for d in docs]
    pairs = [(j, i) for j in range(len(docs)) for i in range(len(docs)) if i != j]
    if not any(set(cases[i]) & set(cases[j]) for j, i in pairs):
        return []
    # one test per (pair, case, backend, slowdown); the rules at every drop reuse its p-value
    trials: list[tuple[int, float, float, float, Rule, float | None]] = []  # pair, s, base, now, rule, p
    for n, (j, i) in enumerate(pairs):
        for key in sorted(set(cases[i]) & set(cases[j])):
            (then, base_lr), (now, cur_lr) = cases[j][key], cases[i][key]
            for s in (0.0, *slowdowns):
                shifted = [v - math.log1p(s) for v in cur_lr]
                found = compare_one(*key, then, now / (1 + s), 0.0, alpha, base_lr, shifted, ci=False)
                trials.append((n, s, then, now / (1 + s), found.rule, found.p_value))
    rows = []
    for name in ("speed test", "speed point"):
        for drop in drops:
            false: set[int] = set()
            caught = dict.fromkeys(slowdowns, 0)
            tried = dict.fromkeys(slowdowns, 0)
            for n, s, then, now, rule, p in trials:
                failed = now < then * (1.0 - drop) and (
                    name == "speed point" or rule == "point" or (p is not None and p < alpha))
                if s == 0.0:
                    if failed:
                        false.add(n)
                else:
                    tried[s] += 1
                    caught[s] += failed
            setting = f"max drop {drop:.0%}" + (f", p < {alpha:g}" if name == "speed test" else "")
            rows.append(DetectionRow(name, setting, len(pairs), len(false),
                                     tuple((s, caught[s], tried[s]) for s in slowdowns)))
    return rows


def gate_noise(docs: Sequence[Mapping[str, Any]], *, stat: str = "min",
               percents: Sequence[float] = (10, 15, 20, 25, 30, 40),
               drops: Sequence[float] = (0.10, 0.15, 0.20, 0.25, 0.30),
               slowdown: float = 1.3, alpha: float = DEFAULT_ALPHA,
               slowdowns: Sequence[float] = NOISE_SLOWDOWNS) -> list[NoiseRow | DetectionRow]:
    """False-failure and detection rates of both gates from N saved runs of an unchanged tree.

    Every ordered pair (baseline j, current i != j) is one trial of the gate, as a PR
    would compare against a base run: N runs give N(N-1) trials. Detection: each
    non-reference benchmark in turn made ``slowdown`` times slower in the current run
    (its time multiplied, its speedup divided), the rest unchanged. Then, where the runs
    hold per-round data, the speed gate's rules with ``slowdowns`` simulated on it
    (:func:`rule_noise`).
    """
    if len(docs) < 2:
        raise GateError("need at least two saved runs of the same benchmarks to measure noise")
    pairs = [(j, i) for j in range(len(docs)) for i in range(len(docs)) if i != j]
    rows: list[NoiseRow | DetectionRow] = []
    for pct in percents:
        false = caught = tried = 0
        for j, i in pairs:
            false += bool(compare_failures(docs[j], docs[i], stat, pct))
            for b in docs[i].get("benchmarks", []):
                if (b.get("extra_info") or {}).get("backend") == REFERENCE_BACKEND:
                    continue
                tried += 1
                caught += b["name"] in compare_failures(docs[j], docs[i], stat, pct, {b["name"]: slowdown})
        rows.append(NoiseRow("compare", f"{stat}:{pct:g}%", len(pairs), false, caught, tried))
    speedups = [compute_speedups(results_from_json(d)) for d in docs]
    for drop in drops:
        false = caught = tried = 0
        for j, i in pairs:
            false += bool(speedup_gate(speedups[i], speedups[j], drop))
            for case, row in speedups[i].items():
                for backend, value in row.items():
                    tried += 1
                    caught += bool(speedup_gate({case: {backend: value / slowdown}}, speedups[j], drop))
        rows.append(NoiseRow("speedup", f"max drop {drop:.0%}", len(pairs), false, caught, tried))
    rows += rule_noise(docs, alpha=alpha, slowdowns=slowdowns)
    return rows


def format_noise(rows: Sequence[NoiseRow | DetectionRow], runs: int, slowdown: float) -> list[str]:
    lines = [f"{runs} unchanged runs, {runs * (runs - 1)} (baseline, current) pairs; detection: one "
             f"backend's case made {slowdown:g}x slower",
             "| gate | setting | unchanged tree fails | detects the slowdown |", "|---|---|---|---|"]
    for r in rows:
        if isinstance(r, NoiseRow):
            lines.append(f"| {r.gate} | {r.setting} | {r.false_failures}/{r.pairs} "
                         f"({r.false_failure_rate:.0%}) | {r.caught}/{r.simulated} "
                         f"({r.detection_rate:.0%}) |")
    detection = [r for r in rows if isinstance(r, DetectionRow)]
    lines.append("")
    if not detection:
        lines.append("no per-round data (paired_log_ratios) in these runs: the speed gate's statistical "
                     "rule cannot be replayed; save them with paired rounds and this encoder-gate")
        return lines
    slowdowns = [s for s, _, _ in detection[0].detections]
    lines += ["speed gate rules on the paired per-round data (speed test: fails on a drop over max drop "
              "that is significant, one-sided Mann-Whitney U; speed point: on the drop alone); a slowdown "
              "multiplies one backend's per-round times in the current run by 1 + s, torch's rounds "
              "stay as measured (s slower = a speedup drop of s / (1 + s))",
              "| rule | setting | unchanged tree fails | "
              + " | ".join(f"detects {s:.0%} slower" for s in slowdowns) + " |",
              "|---|---|---|" + "---|" * len(slowdowns)]
    for r in detection:
        cells = " | ".join(f"{c}/{t} ({c / t if t else 0.0:.0%})" for _, c, t in r.detections)
        lines.append(f"| {r.gate} | {r.setting} | {r.false_failures}/{r.pairs} ({r.false_failure_rate:.0%}) "
                     f"| {cells} |")
    return lines


# --- the end of a benchmark session ---------------------------------------------------------


@dataclass(frozen=True)
class SessionOutcome:
    """What the end of a benchmark session wrote and found."""

    path: Path
    doc: dict[str, Any]
    failures: list[SpeedupFailure]
    warnings: list[str]
    settings: BenchSettings
    comparisons: list[SpeedComparison] = field(default_factory=list)

    def lines(self) -> list[tuple[str, str]]:
        """Terminal lines as (text, style), style one of "", "red", "yellow", "green"."""
        out = [(line, "") for line in format_speedups(self.doc)]
        out.append((f"written to {self.path}", ""))
        base = self.settings.baseline
        if base is None:
            return out
        out += [(f"warning: {w}", "yellow") for w in self.warnings]
        point = [c for c in self.comparisons if c.rule == "point"]
        if point:
            reasons = sorted({c.reason or "" for c in point})
            out.append((f"point rule (a drop over {self.settings.max_drop:.0%} fails, no significance test) "
                        f"for {len(point)} of {len(self.comparisons)} comparisons: {'; '.join(reasons)}"
                        + (" (an older speedups.json, or a save without paired_log_ratios)"
                           if any("no per-round data in the baseline" in r for r in reasons) else ""),
                        "yellow"))
        if self.comparisons:
            out.append((f"speed comparisons against {base} (fail: a drop over {self.settings.max_drop:.0%} "
                        f"and p < {self.settings.alpha:g}, one-sided Mann-Whitney U on per-round log "
                        "ratios):", ""))
            out += [(f"  {c.describe()}", "") for c in self.comparisons]
        if self.failures:
            out.append((f"SPEEDUP GATE FAILED against {base} ({len(self.failures)} drops over "
                        f"{self.settings.max_drop:.0%}):", "red"))
            out += [(f"  {f}", "red") for f in self.failures]
        else:
            out.append((f"speedup gate passed against {base} (max drop {self.settings.max_drop:.0%})",
                        "green"))
        return out


def finish_session(results: Sequence[BenchResult], settings: BenchSettings, report_dir: Path,
                   model: Mapping[str, Any], gemm: float | None,
                   baseline: tuple[Mapping[str, Any], str] | None = None,
                   compare_regressions: Sequence[str] | None = None,
                   fingerprint: Mapping[str, Any] | None = None) -> SessionOutcome:
    """Write ``<report_dir>/speedups.json``; gate against a baseline when there is one.

    The baseline is ``settings.baseline`` (a speedups.json) when set, else ``baseline``: a
    speedups document and where it came from (e.g. the pytest-benchmark save that
    ``--benchmark-compare`` compares with). The gate's outcome is stored in the document
    under ``gate`` (baseline, max drop, alpha, and per case and backend the baseline and
    current speedups, the shift of the median log ratio, the test's p-value and the rule
    that decided), so the verdict can be rendered from speedups.json alone; so is
    pytest-benchmark's own ``--benchmark-compare-fail`` verdict (``compare_regressions``)
    under ``compare``.

    A baseline whose hardware fingerprint differs from ``fingerprint`` raises
    :class:`MachineMismatch` (before anything is written), unless
    ``settings.allow_other_machine``; then the differences become warnings.
    """
    doc = speedups_document(results, model=model, gemm=gemm, fingerprint=fingerprint, alpha=settings.alpha)
    if compare_regressions is not None:
        doc["compare"] = {"passed": not compare_regressions, "regressions": list(compare_regressions)}
    failures: list[SpeedupFailure] = []
    warnings: list[str] = []
    comparisons: list[SpeedComparison] = []
    source: str | None = None
    base_doc: Mapping[str, Any] | None = None
    if settings.baseline is not None:
        base_doc, source = read_json(settings.baseline, "speedup baseline"), str(settings.baseline)
    elif baseline is not None:
        base_doc, source = baseline
    if base_doc is not None:
        differences = fingerprint_differences(doc.get("fingerprint"), base_doc.get("fingerprint"))
        if differences and not settings.allow_other_machine:
            raise MachineMismatch(machine_mismatch_message(str(source), differences))
        comparisons = compare_speed(doc, base_doc, settings.max_drop, settings.alpha)
        failures = [c.failure() for c in comparisons if c.failed]
        warnings = comparability_warnings(doc, base_doc)
        if differences:
            warnings.append(f"baseline from another machine or stack, compared because "
                            f"{ENV_ALLOW_OTHER_MACHINE}=1: {'; '.join(differences)}")
        elif doc.get("fingerprint") and not base_doc.get("fingerprint"):
            warnings.append("the baseline has no hardware fingerprint (saved by an older encoder-gate): "
                            "cannot check it was measured on this machine")
        doc["gate"] = {
            "baseline": source, "max_drop": settings.max_drop, "alpha": settings.alpha,
            "passed": not failures,
            "compared": {case: {c.backend: c.to_json() for c in comparisons if c.case == case}
                         for case in sorted({c.case for c in comparisons})},
            "failures": [str(f) for f in failures], "warnings": warnings,
            "point_rule": [f"{c.backend} {c.case}: {c.reason}" for c in comparisons if c.rule == "point"],
            "fingerprint_differences": differences,
        }
    path = write_json(Path(report_dir) / "speedups.json", doc)
    outcome_settings = settings if settings.baseline is not None or source is None else replace(
        settings, baseline=Path(source))
    return SessionOutcome(path, doc, failures, warnings, outcome_settings, comparisons)
