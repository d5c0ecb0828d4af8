"""Worker processes: batches dealt to W spawned processes, each timing its share of one backend."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import leave_artifacts_to_session
from encoder_gate.cache import ArtifactCache
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError
from encoder_gate.runtime.predictions import pass_key
from encoder_gate.runtime.session import GateSession
from encoder_gate.speed.machine import (
    FINGERPRINT_FIELDS,
    current_rss_bytes,
    gpu_memory_used_bytes,
    peak_rss_bytes,
)


def split_batches(batches: Sequence[Any], workers: int) -> list[list[Any]]:
    """Deal batches round-robin to ``workers`` shares (share i gets batches i, i+W, ...)."""
    if workers <= 0:
        raise GateError(f"workers must be a positive integer, got {workers}")
    return [list(batches[i::workers]) for i in range(workers)]


def _worker_main(conn: Any, config: Any, backend: str, measure_gpu: bool = False) -> None:
    """One worker process: build ``backend`` from the cache, warm up its share, then time it
    on every "go" until "stop". Replies ("ready"|"done"|"error", payload). With `measure_gpu` (one
    worker alone on its GPU: the reading is the device's), each "done" also says what the device
    holds beyond what it held before the backend was built, where the backend computes on cuda."""
    runner = None
    try:
        baseline_rss = current_rss_bytes()
        gpu_before = gpu_memory_used_bytes() if measure_gpu else None  # after this process's CUDA context
        session = GateSession(config, progress=lambda _m: None)
        runner = session.runner(backend)
        leave_artifacts_to_session(runner)  # the session's own runner saves the compile entry
        if session.device_of(backend) != "cuda":
            gpu_before = None
        share = conn.recv()
        runner.warmup(sorted({(int(b["input_ids"].shape[0]), int(b["input_ids"].shape[1]))
                              for b in share}))
        conn.send(("ready", {"pid": os.getpid(), "baseline_rss_bytes": baseline_rss}))
        while conn.recv() == "go":
            start = time.perf_counter()
            for batch in share:
                runner.predict(batch)
            seconds = time.perf_counter() - start
            gpu_now = gpu_memory_used_bytes() if gpu_before is not None else None
            held = gpu_now - gpu_before if gpu_now is not None and gpu_before is not None else None
            conn.send(("done", {"seconds": seconds, "peak_rss_bytes": peak_rss_bytes(), "gpu_bytes": held}))
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
                 timeout_s: float = 900.0, *, measure_gpu: bool = False) -> None:
        if not shares or any(not share for share in shares):
            raise GateError("every worker needs at least one batch; use fewer workers or more texts")
        self.backend, self.timeout_s = backend, timeout_s
        self.messages = [sum(int(b["input_ids"].shape[0]) for b in share) for share in shares]
        self.baseline_rss: list[int] = []
        self.peak_rss = [0] * len(shares)
        self.gpu_peak: int | None = None  # with measure_gpu, one worker on cuda: what its device held
        if measure_gpu and len(shares) != 1:
            raise GateError("a GPU's memory is read for the whole device: measure it with one worker")
        ctx = mp.get_context("spawn")  # fork after torch/ORT threads exist is unsafe
        self._conns, self._procs = [], []
        try:
            for share in shares:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, config, backend, measure_gpu),
                                   daemon=True)
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
        held = [int(r["gpu_bytes"]) for r in replies if r.get("gpu_bytes") is not None]
        if self.gpu_peak is not None:
            held.append(self.gpu_peak)
        self.gpu_peak = max(held, default=None)
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


def measure_memory(config: Any, backend: str, batches: Sequence[Any]) -> dict[str, Any]:
    """The peak memory of one process holding only `backend`, after its warm-up on `batches`' shapes
    and one pass over them: its resident memory (VmHWM) and, where it computes on cuda, what the
    GPU holds for it (weights, ONNX Runtime's arena or torch's cache, workspaces: the device's
    reading after the pass less its reading before the backend was built, so another process
    allocating on that GPU meanwhile would count). The main process holds every backend at once,
    which no per-backend figure can be read from; a process of its own holds one."""
    with WorkerPool(config, backend, [list(batches)], measure_gpu=True) as pool:
        pool.run()
    if pool.gpu_peak is not None and pool.gpu_peak <= 0:  # a backend on cuda holds its weights at least
        raise GateError(f"{backend}: the GPU held {pool.gpu_peak / 1e6:,.0f} MB more after its pass than "
                        "before it was built, never a backend's figure: another process on this GPU freed "
                        "memory meanwhile (the reading is the whole device's). Run the benchmark session "
                        "alone on its GPU")
    return {"memory_peak_rss_mb": pool.peak_rss[0] / 1e6,
            "memory_gpu_mb": pool.gpu_peak / 1e6 if pool.gpu_peak is not None else None}


#: Part of a kept memory figure's key: a change to what measure_memory measures, or how, changes it.
MEMORY_RECIPE = "memory-probe-1"
MEMORY_FILE = "memory.json"


def memory_key(runner: Any, model_hash: str, texts: Sequence[Text], batch_size: int,
               machine: Mapping[str, Any]) -> dict[str, object] | None:
    """What a backend's probe figures follow from: the probe's pass (runtime.predictions.pass_key:
    the runner's artifact, the texts and the batch size) and the machine as a speed baseline's
    fingerprint compares it (CPU, threads, execution providers, library versions, the GPU with its
    driver, CUDA and cuDNN). None where the runner names no artifact (a wrapper, a test double)."""
    passed = pass_key(runner, model_hash, texts, batch_size)
    if passed is None:
        return None
    return {**passed, "dispatch": "bucketed", "machine": {k: machine.get(k) for k in FINGERPRINT_FIELDS}}


def kept_memory(cache: ArtifactCache, key: Mapping[str, object] | None,
                measure: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Path | None]:
    """`measure()`'s figures, or those an earlier session measured under `key`, with the cache entry
    they came from (None: measured now). The key holds what the probe's figures follow from (the
    backend's artifact, the texts and batch size, the machine with its GPU and driver, the
    libraries); where nothing names the artifact (`key` None) it is measured and nothing is kept. A
    probe process at 125M weights costs 7 to 34 s on an H200, four of them each benchmark session
    of a GPU job, for figures an unchanged backend repeats (docs/development.md). A probe that
    raises keeps nothing."""
    if key is None:
        return measure(), None
    found, entry = cache.get_or_compute_json("gpu-memory", {"recipe": MEMORY_RECIPE, **key}, measure,
                                             MEMORY_FILE)
    return found, entry.path if entry.hit else None
