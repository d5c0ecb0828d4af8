"""Rates of one benchmark: throughput, latency percentiles, FLOP rates and share of the GEMM rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from encoder_gate.speed.batches import BatchPlan
from encoder_gate.speed.flops import ModelDims, plan_flops
from encoder_gate.speed.machine import peak_rss_bytes

#: The extra_info key of the texts one timed pass of a benchmark runs: two saves of a cell compare only
#: when it is the same (speed.outcome: pytest-benchmark's absolute times over other texts are other work).
TIMED_TEXTS = "n_messages"


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
        TIMED_TEXTS: plan.n_messages, "n_batches": len(plan.batches), "real_tokens": plan.real_tokens,
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
