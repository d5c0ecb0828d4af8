"""How much of the machine other processes took while a speed cell was timed.

A cell at more than one intra-op thread is timed on the wall clock (speed.rounds.clock_for), which
moves with whatever else runs: on a 2-core runner shared with another job, a backend's figure
swung 15-fold between three runs of one tree, each run's CI narrow (walk P: 42.3x [41.5, 46.0],
then 2.79x [2.56, 3.46]). The rounds are paired, so load that lands evenly on both arms cancels;
load that comes and goes does not, and nothing in the figure says it was there. So the cell
records how many cores other processes kept busy meanwhile, from Linux's /proc/stat (the machine's
busy time) less this process's own CPU time, and its line says so when that was a share of a core
or more on the wall clock.

    start = cpu_use()
    ...  # the cell's rounds
    cores = others_cores(start, cpu_use())   # None where /proc/stat cannot be read
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Other processes' average use of the machine, in cores, from which a wall-clock cell says so.
CONTENDED_CORES = 0.25
_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuUse:
    """The machine's busy CPU seconds (every core), this process's CPU seconds, and the wall clock."""

    busy: float
    own: float
    wall: float


def cpu_use() -> CpuUse | None:
    """Now, or None where the machine's busy time cannot be read (not Linux)."""
    try:
        fields = _STAT.read_text().split("\n", 1)[0].split()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, *rest = (int(v) for v in fields[1:])
    steal = rest[0] if rest else 0  # a hypervisor's: time a guest's cores were taken away
    return CpuUse(busy=(user + nice + system + irq + softirq + steal) / ticks, own=time.process_time(),
                  wall=time.perf_counter())


def others_cores(start: CpuUse | None, end: CpuUse | None) -> float | None:
    """Other processes' average use of the machine between two readings, in cores to two decimals
    (None without both readings or any time between them)."""
    if start is None or end is None or end.wall - start.wall <= 0:
        return None
    others = (end.busy - start.busy) - (end.own - start.own)
    return round(max(0.0, others / (end.wall - start.wall)), 2)


def contention_said(entry: Mapping[str, Any]) -> str:
    """What a speed cell's line adds about the load beside it ("" when none was worth saying): on
    the wall clock, the cores other processes kept busy; the thread clock barely moves with them."""
    cores = entry.get("others_cores")
    if cores is None or entry.get("clock", "wall") != "wall" or cores < CONTENDED_CORES:
        return ""
    return (f"; other processes kept {cores:.1f} cores busy meanwhile: a wall-clock figure moves with "
            "them, rerun it on a quiet machine or at one thread (its CPU time)")
