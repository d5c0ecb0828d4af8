"""Throughput and latency of every configured backend, with pytest-benchmark.

Grid: backend x batch size (--gate-batch-sizes) x dataset variant (normal, filtered) x
dispatch (ordered: dataset order; bucketed: sorted by token length, then batched).

* `test_model_only`: pre-tokenized batches through `Runner.predict`, a cell of paired rounds
  against torch eager on texts sized by time (see its docstring);
* `test_end_to_end`: ENCODER_GATE_BENCH_TEXTS texts (default 64, across the range of lengths)
  through `predict_texts` (tokenization, inference, sigmoid, results back in input order);
* `test_latency_batch1`: one message per call, p50/p90/p99 latency;
* `test_workers`: ENCODER_GATE_BENCH_WORKERS processes (default 2), each with its own copy
  of the backend and a share of the bucketed normal batches; messages/s = messages /
  slowest worker, and each worker's peak memory (one process, one backend).

Every shape is warmed up before timing (torch.compile recompiles on new shapes). Rounds
come from ENCODER_GATE_BENCH_ROUNDS (default 6; a model-only cell's pilot). Numbers go to
`benchmark.extra_info`; speedups over torch eager are summarized at the end of the session, and
the benchmark fixtures (`bench_texts`, `bench_cell_texts`, `bench_record`, ...) come from the
plugin (`encoder_gate.plugin.bench_fixtures`).
By default only the gate sweep runs (model-only, normal, bucketed); `--gate-sweep full` runs all.
With `--gate-base DIR` the PR is measured against its base instead (`test_speed_vs_base`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from encoder_gate.data.datasets import VARIANTS
from encoder_gate.plugin.bench_fixtures import texts_for
from encoder_gate.plugin.stash import call_or_skip
from encoder_gate.runtime.inference import predict_texts
from encoder_gate.speed.batches import DISPATCHES, make_batches
from encoder_gate.speed.budget import rounds_within, seconds_text
from encoder_gate.speed.contention import cpu_use, others_cores
from encoder_gate.speed.gpu_busy import busy_info
from encoder_gate.speed.rates import latency_percentiles
from encoder_gate.speed.results import REFERENCE_BACKEND, case_id, paired_speedup
from encoder_gate.speed.rounds import (
    Cell,
    clock_for,
    half_width,
    rounds_for_width,
    run_rounds,
    timed,
    untraced,
)
from encoder_gate.speed.settings import ENV_TEXTS, ENV_WORKERS, MAX_ROUNDS
from encoder_gate.speed.stats import log_ratios, paired_stats
from encoder_gate.speed.workers import WorkerPool, split_batches, workers_info
from encoder_gate.suite.ab import test_speed_vs_base

__all__ = ["test_end_to_end", "test_latency_batch1", "test_model_only", "test_speed_vs_base", "test_workers"]


@pytest.mark.parametrize("dispatch", DISPATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_model_only(benchmark, backend, gate_session, backend_tokenizer, bench_cell_texts, bench_settings,
                    bench_record, bench_extra_rounds, gate_budget, gate_batch_size, variant, dispatch,
                    backend_memory):
    """Pre-tokenized batches through the backend: the model's own speed.

    Paired (the default; ENCODER_GATE_BENCH_PAIRED=0 turns it off), a backend other than the
    reference is a cell of interleaved rounds against torch eager on the same texts
    (encoder_gate.speed.rounds): each round runs both arms, in random order, on the clock the
    threads decide (the thread's CPU time at one thread). A pilot of ENCODER_GATE_BENCH_ROUNDS
    rounds (default 6) gives the speedup's CI; the rounds it says are needed for a half-width of
    ENCODER_GATE_BENCH_CI (default 3%), at most MAX_ROUNDS and at most what the cell's share of
    the session's --gate-budget pays for (encoder_gate.speed.budget), every round by the one round
    loop the A/B's cells use too (speed.rounds.run_rounds); pytest-benchmark's statistics hold the
    backend arm's rounds on the gate's clock (keep_rounds), so its saves and compare see them. The
    speedup is the median per-round ratio; the per-round log ratios go to extra_info for the speed
    gate's test. A case borderline against the speed baseline runs
    ENCODER_GATE_BENCH_EXTRA_ROUNDS more paired rounds before it is recorded. A cell on a GPU also
    records how busy the GPU was (speed.gpu_busy: a dispatch-bound cell is named) and the backend's
    peak GPU memory, in a process of its own (`backend_memory`; not charged to the budget).
    """
    share = gate_budget.share() if gate_budget is not None else None  # asked before any of its work
    started = time.perf_counter()
    # timed where it computes, against torch eager there (runtime.devices: dynamic INT8 of a GPU session
    # on the CPU, against torch eager on the CPU; a CPU speedup is never set against a GPU's time)
    device = gate_session.device_of(backend.name)
    reference = None
    if backend.name != REFERENCE_BACKEND or bench_settings.texts is None:
        reference = call_or_skip(gate_session.reference_on, device)
    texts = bench_cell_texts(variant, gate_batch_size, dispatch, reference, backend_tokenizer, device)
    plan = make_batches(backend_tokenizer, texts, gate_batch_size, dispatch)
    backend.warmup(plan.shapes)

    def run_on(runner: Any) -> int:
        for batch in plan.batches:
            runner.predict(batch)
        return len(plan.batches)

    def gpu_figures(walls: Sequence[float]) -> dict[str, Any]:
        """A GPU cell's figures beside its speed: how busy the GPU was (speed.gpu_busy: a cell it
        idles through is dispatch-bound) and the backend's peak GPU memory (`backend_memory`, a
        process of its own: not charged to the timing budget). None of it on the CPU."""
        if device != "cuda":
            return {}
        began = time.perf_counter()
        found = {**busy_info(lambda: run_on(backend), walls),
                 **backend_memory(backend.name, backend_tokenizer)}
        if gate_budget is not None:
            gate_budget.exclude(time.perf_counter() - began)
        return found

    benchmark.group = f"model {variant} bs={gate_batch_size}"
    clock = clock_for(gate_session.config.threads, device)
    if not bench_settings.paired or backend.name == REFERENCE_BACKEND or reference is None:
        alone = Cell(clock=clock, texts=len(texts))  # its rounds on the gate's clock, for the save
        if not getattr(benchmark, "disabled", False):  # as run_rounds (not in one_round, which
            untraced()  # --benchmark-cprofile calls again under cProfile); a smoke run may run under one

        def one_round() -> int:
            alone.add("pr", *timed(lambda: run_on(backend)))
            return len(plan.batches)

        assert benchmark.pedantic(one_round, rounds=bench_settings.rounds, warmup_rounds=1,
                                  iterations=1) == len(plan.batches)
        keep_rounds(benchmark, alone.pr[1:], clock)  # the first was pedantic's warm-up
        # its rates on the wall clock, as a paired backend's: one clock for every messages/s
        walls = alone.pr_wall[1:] or alone.pr_wall
        bench_record("model", variant, gate_batch_size, dispatch, plan,
                     pass_seconds=float(np.median(walls)) if walls else None, **gpu_figures(walls))
        return

    reference.warmup(plan.shapes)
    cell = Cell(clock=clock, texts=len(texts))
    rng = np.random.default_rng(0)
    torch_arm, backend_arm = (lambda: run_on(reference)), (lambda: run_on(backend))
    target = bench_settings.ci_target
    # under --benchmark-disable (or xdist) pytest-benchmark times nothing: one call, no pilot
    pilot = bench_settings.rounds if target > 0 and not getattr(benchmark, "disabled", False) else 0
    pilot_started, use = time.perf_counter(), cpu_use()
    run_rounds(cell, torch_arm, backend_arm, rng, pilot, kept=bool(pilot))
    total, cut = bench_settings.rounds, False
    if pilot:
        total = rounds_for_width(_width(cell), pilot, target, max(MAX_ROUNDS, pilot))
        now = time.perf_counter()
        affordable = total if share is None else rounds_within(share, now - started, pilot,
                                                               (now - pilot_started) / pilot)
        if affordable < total:  # at least one round more: pytest-benchmark times its backend arm
            total, cut = max(affordable, pilot + 1), True
            paid = (f"pays for {total} rounds" if affordable > pilot
                    else f"was spent by the pilot's {pilot} rounds; it stops after {total}")
            gate_session.progress(f"{backend.name} model {variant} bs={gate_batch_size}: its budget share "
                                  f"({seconds_text(share)}) {paid}, fewer than its pilot says its CI "
                                  "target needs (an estimate: the CI the rounds reach is in its result)")
    # the rest of its rounds by the one round loop (speed.rounds.run_rounds, as the A/B's cells);
    # pytest-benchmark holds them (keep_rounds below), not a timing of its own: it is handed one
    # call that gives the batch count. Under --benchmark-disable (or xdist) one round, nothing kept.
    disabled = getattr(benchmark, "disabled", False)
    run_rounds(cell, torch_arm, backend_arm, rng, 1 if disabled else max(1, total - pilot), kept=not disabled)
    assert benchmark.pedantic(lambda: len(plan.batches), rounds=1, warmup_rounds=0,
                              iterations=1) == len(plan.batches)
    if getattr(benchmark, "stats", None) is None:  # --benchmark-disable: nothing timed to record
        bench_record("model", variant, gate_batch_size, dispatch, plan)
        return
    case = case_id("model", variant, gate_batch_size, dispatch)
    added = bench_extra_rounds(case, backend.name, log_ratios(cell.base, cell.pr))
    run_rounds(cell, torch_arm, backend_arm, rng, added)  # borderline against the baseline: more rounds
    width, others = _width(cell), others_cores(use, cpu_use())
    keep_rounds(benchmark, cell.pr, cell.clock)  # pilot, timed and extra rounds: what the gate judged
    extra = {"paired_speedup": paired_speedup(cell.base, cell.pr),
             "paired_reference_seconds": cell.base, "paired_backend_seconds": cell.pr,
             "paired_log_ratios": log_ratios(cell.base, cell.pr), "paired_extra_rounds": added,
             "paired_clock": cell.clock, "paired_texts": cell.texts, "paired_pilot_rounds": pilot,
             "paired_ci_target": target or None,
             "paired_ci_half_width": width if math.isfinite(width) else None,
             "paired_budget_share": round(share, 3) if share is not None else None,
             "paired_budget_cut": cut or None,
             "paired_others_cores": others}
    extra.update(gpu_figures(cell.pr_wall))
    if target and width > target:  # the rounds ran out first: what the target would take
        extra["paired_rounds_needed"] = rounds_for_width(width, cell.rounds, target, 10**6)
        if cut:
            gate_budget.cut.append(f"{backend.name} {case}")
    bench_record("model", variant, gate_batch_size, dispatch, plan,
                 pass_seconds=float(np.median(cell.pr_wall)), **extra)


def keep_rounds(benchmark: Any, seconds: Sequence[float], clock: str) -> None:
    """pytest-benchmark's statistics (its terminal table, its saves, --benchmark-compare) hold
    exactly the rounds the gate judged, on the gate's clock: a paired cell's every backend round
    (the pilot before pytest-benchmark timed anything and the extra rounds after it included), and
    the timer it names is that clock (the thread's CPU time at one thread). Under
    --benchmark-disable there are no statistics to hold them."""
    from pytest_benchmark.stats import Stats

    meta = getattr(benchmark, "stats", None)
    if meta is None or not seconds:
        return
    held = Stats()
    for value in seconds:
        held.update(float(value))
    meta.stats = held
    meta.options = {**meta.options, "timer": time.thread_time if clock == "thread" else time.perf_counter}


def _width(cell: Cell) -> float:
    """The relative half-width of the cell's speedup CI (inf below two rounds)."""
    stats = paired_stats(log_ratios(cell.base, cell.pr))
    return half_width(stats.speedup, stats.ci) if stats.ci else math.inf


@pytest.mark.parametrize("dispatch", DISPATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_end_to_end(benchmark, backend, backend_tokenizer, bench_texts, bench_settings, bench_record,
                    gate_batch_size, variant, dispatch):
    """Raw texts in, probabilities out: tokenization + inference + sigmoid."""
    texts = list(texts_for(bench_texts, variant, gate_batch_size))
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
    plan = make_batches(backend_tokenizer, texts_for(bench_texts, "normal", gate_batch_size), gate_batch_size,
                        "bucketed")
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
