"""Throughput and latency of every configured backend, with pytest-benchmark.

Grid: backend x batch size (--gate-batch-sizes) x dataset variant (normal, filtered) x
dispatch (ordered: dataset order; bucketed: sorted by token length, then batched).

* `test_model_only`: pre-tokenized batches of the first ENCODER_GATE_BENCH_TEXTS texts
  (default 64) of the variant through `Runner.predict`;
* `test_end_to_end`: the same raw texts through `predict_texts` (tokenization, inference,
  sigmoid, results back in input order);
* `test_latency_batch1`: one message per call, p50/p90/p99 latency;
* `test_workers`: ENCODER_GATE_BENCH_WORKERS processes (default 2), each with its own copy
  of the backend and a share of the bucketed normal batches; messages/s = messages /
  slowest worker, and each worker's peak memory (one process, one backend).

Every shape is warmed up before timing (torch.compile recompiles on new shapes). Rounds
come from ENCODER_GATE_BENCH_ROUNDS (default 5). Numbers go to `benchmark.extra_info`;
speedups over torch eager are summarized at the end of the session, and the benchmark
fixtures (`bench_texts`, `bench_record`, ...) come from the plugin (`encoder_gate.plugin.speed`).
By default only the gate sweep runs (model-only, normal, bucketed); `--gate-sweep full` runs all.
With `--gate-base DIR` the PR is measured against its base instead (`test_speed_vs_base`).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from encoder_gate.data.datasets import VARIANTS
from encoder_gate.errors import GateError
from encoder_gate.plugin.stash import call_or_skip
from encoder_gate.runtime.inference import predict_texts
from encoder_gate.speed.batches import DISPATCHES, make_batches
from encoder_gate.speed.rates import latency_percentiles
from encoder_gate.speed.results import REFERENCE_BACKEND, case_id, paired_speedup
from encoder_gate.speed.settings import ENV_TEXTS, ENV_WORKERS
from encoder_gate.speed.stats import log_ratios
from encoder_gate.speed.workers import WorkerPool, split_batches, workers_info
from encoder_gate.suite.ab import test_speed_vs_base

__all__ = ["test_end_to_end", "test_latency_batch1", "test_model_only", "test_speed_vs_base", "test_workers"]


def texts_for(bench_texts: dict[str, Any], variant: str) -> tuple[str, ...]:
    found = bench_texts[variant]
    if isinstance(found, GateError):
        pytest.skip(str(found))
    texts: tuple[str, ...] = found
    return texts


@pytest.mark.parametrize("dispatch", DISPATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_model_only(benchmark, backend, gate_session, backend_tokenizer, bench_texts, bench_settings,
                    bench_record, bench_extra_rounds, gate_batch_size, variant, dispatch):
    """Pre-tokenized batches through the backend: the model's own speed.

    Paired (the default; ENCODER_GATE_BENCH_PAIRED=0 turns it off): every round of a
    non-reference backend is preceded by a pass of torch eager over the same batches, timed
    by us outside pytest-benchmark's timing, and the speedup is the median of the per-round
    ratios (see paired_speedup); the per-round log ratios go to extra_info for the
    speed gate's test. A case borderline against the speed baseline runs
    ENCODER_GATE_BENCH_EXTRA_ROUNDS more paired rounds (timed by us) before it is recorded.
    """
    plan = make_batches(backend_tokenizer, texts_for(bench_texts, variant), gate_batch_size, dispatch)
    backend.warmup(plan.shapes)

    def run_on(runner: Any) -> int:
        for batch in plan.batches:
            runner.predict(batch)
        return len(plan.batches)

    reference_seconds: list[float] = []
    setup = None
    if bench_settings.paired and backend.name != REFERENCE_BACKEND:
        reference = call_or_skip(gate_session.runner, REFERENCE_BACKEND)
        reference.warmup(plan.shapes)

        def setup() -> None:  # pedantic calls it before every round, outside the timing
            start = time.perf_counter()
            run_on(reference)
            reference_seconds.append(time.perf_counter() - start)

    benchmark.group = f"model {variant} bs={gate_batch_size}"
    assert benchmark.pedantic(run_on, args=(backend,), setup=setup, rounds=bench_settings.rounds,
                              warmup_rounds=1, iterations=1) == len(plan.batches)
    extra: dict[str, Any] = {}
    stats = getattr(benchmark, "stats", None)
    if reference_seconds and stats:
        backend_seconds = [float(t) for t in stats.stats.data]
        timed = reference_seconds[-len(backend_seconds):]  # the warm-up round's pass is dropped
        case = case_id("model", variant, gate_batch_size, dispatch)
        added = bench_extra_rounds(case, backend.name, log_ratios(timed, backend_seconds))
        for _ in range(added):  # borderline against the baseline: more paired rounds, A B A B
            setup()
            start = time.perf_counter()
            run_on(backend)
            backend_seconds.append(time.perf_counter() - start)
        timed = reference_seconds[-len(backend_seconds):]
        extra = {"paired_speedup": paired_speedup(timed, backend_seconds),
                 "paired_reference_seconds": timed, "paired_backend_seconds": backend_seconds,
                 "paired_log_ratios": log_ratios(timed, backend_seconds), "paired_extra_rounds": added}
    bench_record("model", variant, gate_batch_size, dispatch, plan, **extra)


@pytest.mark.parametrize("dispatch", DISPATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_end_to_end(benchmark, backend, backend_tokenizer, bench_texts, bench_settings, bench_record,
                    gate_batch_size, variant, dispatch):
    """Raw texts in, probabilities out: tokenization + inference + sigmoid."""
    texts = list(texts_for(bench_texts, variant))
    # the shapes predict_texts makes
    plan = make_batches(backend_tokenizer, texts, gate_batch_size, dispatch)
    backend.warmup(plan.shapes)
    benchmark.group = f"e2e {variant} bs={gate_batch_size}"
    probs = benchmark.pedantic(predict_texts, args=(backend, backend_tokenizer, texts, gate_batch_size),
                               kwargs={"sort_by_length": dispatch == "bucketed"},
                               rounds=bench_settings.rounds, warmup_rounds=1, iterations=1)
    assert probs.shape[0] == len(texts)
    bench_record("e2e", variant, gate_batch_size, dispatch, plan)


@pytest.mark.parametrize("variant", VARIANTS)
def test_latency_batch1(benchmark, backend, backend_tokenizer, bench_texts, bench_record, variant):
    """One message per call, each text once: p50/p90/p99 latency in extra_info."""
    plan = make_batches(backend_tokenizer, texts_for(bench_texts, variant), 1, "ordered")
    backend.warmup(plan.shapes)
    batches = itertools.cycle(plan.batches)
    benchmark.group = f"latency {variant} bs=1"
    benchmark.pedantic(backend.predict, setup=lambda: ((next(batches),), {}),
                       rounds=len(plan.batches), warmup_rounds=1, iterations=1)
    stats = getattr(benchmark, "stats", None)
    if not stats:  # --benchmark-disable
        bench_record("latency", variant, 1, "ordered", plan)
        return
    # a round is one message: the round times are per-message latencies, and one pass
    # over every text takes their sum
    samples = stats.stats.data
    bench_record("latency", variant, 1, "ordered", plan, pass_seconds=float(sum(samples)))
    benchmark.extra_info.update(
        {f"latency_{k}": v for k, v in latency_percentiles(samples).items()})


def test_workers(benchmark, backend, gate_session, backend_tokenizer, bench_texts, bench_settings,
                 bench_record, gate_batch_size):
    """W worker processes share the bucketed batches; a round ends with the slowest worker."""
    workers = bench_settings.workers
    plan = make_batches(backend_tokenizer, texts_for(bench_texts, "normal"), gate_batch_size, "bucketed")
    if len(plan.batches) < workers:
        pytest.skip(f"{len(plan.batches)} batches of {gate_batch_size} cannot feed {workers} workers; "
                    f"raise {ENV_TEXTS} or lower {ENV_WORKERS}")
    slowest: list[float] = []
    with call_or_skip(WorkerPool, gate_session.config, backend.name,
                      split_batches(plan.batches, workers)) as pool:

        def run() -> int:
            seconds = pool.run()
            slowest.append(max(seconds))
            return len(seconds)

        benchmark.group = f"workers normal bs={gate_batch_size}"
        assert benchmark.pedantic(run, rounds=bench_settings.rounds, warmup_rounds=1, iterations=1) == workers
    timed = slowest[1:] or slowest  # the first call is pedantic's warm-up round
    info = workers_info(pool, timed)
    assert sum(info["worker_messages"]) == plan.n_messages and info["backend_peak_rss_mb"] > 0
    bench_record("workers", "normal", gate_batch_size, "bucketed", plan,
                 pass_seconds=info["slowest_worker_seconds"], **info)
