"""How busy the GPU is during a timed pass: a cell whose GPU idles most of the wall time is dispatch-bound.

On a fast GPU a small batch of a 125M encoder computes in less time than the CPU takes to launch its
kernels one by one (seed 001's "CPU dispatch rate bottleneck" on the H200): the GPU waits on the
host, and a faster kernel changes nothing. The speedup such a cell shows measures the host, so the
report says so, and what would help.

One pass of the backend arm runs under torch's profiler with CUDA activity (CUPTI traces every kernel
of the process, ONNX Runtime's included); the union of its kernels' and copies' intervals is the
GPU's busy time, set against the median wall time of the cell's own (unprofiled) passes:

    busy = gpu_busy_seconds(lambda: run_on(backend))       # None where the profiler sees no GPU
    share = busy / median(cell.pr_wall)                     # `dispatch_bound(share)` below the rule
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: A cell is dispatch-bound when the GPU computes (kernels and copies) for less than this share of
#: a pass's wall time: the rest is the host launching work and waiting, which larger batches (more
#: work a launch) or ONNX Runtime's CUDA graphs (one launch for a fixed shape) remove.
DISPATCH_BOUND_SHARE = 0.5

#: What helps a dispatch-bound cell, as the report says it.
DISPATCH_BOUND_HELP = ("larger batches (more work a kernel launch), or ONNX Runtime's CUDA graphs "
                       "for fixed shapes (enable_cuda_graph: one launch a shape)")

#: The chrome-trace categories of GPU work (kineto's names): kernels and memory copies and sets.
GPU_WORK_CATEGORIES = frozenset({"kernel", "gpu_memcpy", "gpu_memset"})

#: kineto's switch: CUPTI is detached from the process when a profile ends only where it is "1".
CUPTI_TEARDOWN = "TEARDOWN_CUPTI"


def detach_cupti_after_profiles() -> None:
    """Have kineto detach CUPTI when each profile ends. It does only where TEARDOWN_CUPTI is "1" (its
    `cuptiTearDown_`); torch leaves it unset (and sets "0" for CUDA graphs before CUDA 12.6, which
    crashed at a re-init after a teardown). Left attached, CUPTI slows every later kernel launch of
    the process, 10-20% in pytorch/pytorch#144455; this process times the cells after the one just
    profiled, and a launch-bound cell (torch eager's hundreds of kernels a pass) would read slower
    than a fused graph's. A value already set (the user's, or torch's "0") is kept."""
    os.environ.setdefault(CUPTI_TEARDOWN, "1")


def busy_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """The length of the union of [start, end) intervals (seconds): kernels of several streams that
    overlap count once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def trace_work_intervals(trace: Mapping[str, Any]) -> list[tuple[float, float]]:
    """The GPU work of a chrome trace (torch.profiler's export: `ts` and `dur` in microseconds), as
    (start, end) in seconds."""
    events = trace.get("traceEvents") or []
    return [(float(e["ts"]) / 1e6, (float(e["ts"]) + float(e.get("dur") or 0.0)) / 1e6)
            for e in events if isinstance(e, Mapping) and e.get("cat") in GPU_WORK_CATEGORIES
            and e.get("ph") == "X" and "ts" in e]


def gpu_busy_seconds(run: Callable[[], object]) -> float | None:
    """The GPU's busy time (seconds) during one call of `run`, by torch's profiler (CUPTI): None
    without CUDA, or where the profiler recorded no GPU work (CUPTI unavailable: the figure is then
    not known, never 0)."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.cuda.synchronize()
    detach_cupti_after_profiles()
    # one cycle, so keeping its events changes nothing; asked for, the profiler does not warn that
    # it clears them (a UserWarning in every GPU benchmark session's summary, seen on an H200)
    keeps = "acc_events" in inspect.signature(profile).parameters
    keep: dict[str, Any] = {"acc_events": True} if keeps else {}
    with profile(activities=[ProfilerActivity.CUDA], **keep) as prof:
        run()
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        trace = json.loads(path.read_text())
    intervals = trace_work_intervals(trace)
    return busy_seconds(intervals) if intervals else None


def busy_share(busy: float | None, pass_walls: Sequence[float]) -> float | None:
    """The GPU's busy time over the median wall time of the cell's passes (None where either is
    unknown)."""
    walls = [w for w in pass_walls if w > 0]
    if busy is None or not walls:
        return None
    return min(1.0, busy / statistics.median(walls))


def dispatch_bound(share: float | None) -> bool:
    """Whether a cell whose GPU was busy `share` of its wall time is dispatch-bound."""
    return share is not None and share < DISPATCH_BOUND_SHARE


def busy_info(run: Callable[[], object], pass_walls: Sequence[float]) -> dict[str, Any]:
    """A GPU cell's extra_info: `gpu_busy_share` (None: not known) and `dispatch_bound`."""
    share = busy_share(gpu_busy_seconds(run), pass_walls)
    return {"gpu_busy_share": share, "dispatch_bound": dispatch_bound(share)}
