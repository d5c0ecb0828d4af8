"""Paired, interleaved rounds: the mechanics every speed figure of a session shares.

A speed figure is a ratio of two arms run on the same batches: the PR's runner over the base's
(the A/B, :mod:`encoder_gate.speed.ab`), or a backend over torch eager (the gate sweep,
`suite/benchmarks.py:test_model_only`). Two runs minutes apart do not share their load; two
arms of one round do. So each round runs both arms once, in an order drawn at random for that
round, and the figure rests on the per-round ratios alone. What differs between the callers is
only when they stop: the A/B at its decision looks (Holm across cells), the sweep once the
speedup's CI is narrow enough (:func:`rounds_for_width`).

    cell = Cell(clock=clock_for(threads, device), texts=len(texts), passes=passes_for(pass_s, ROUND_SECONDS))
    record_round(cell, reference_run, candidate_run, rng)   # arms in random order, both clocks

The clock: with one intra-op thread on the CPU both libraries compute in the calling thread, so the
thread's CPU time (`time.thread_time`) decides: a neighbour process moves it far less than wall
time. With more threads wall time decides (CPU time would count ONNX Runtime's spinning threads);
both clocks are recorded, and the report names the one that decided.

The size of a round, as pyperf calibrates its loops: an arm's share of a round is about a
quarter to half a second. A fast model runs several passes over its texts in it
(:func:`passes_for`); a slow one is measured on fewer texts (speed.sizing.size_cell), never fewer
than one batch, and the sweep keeps the count in fixed steps (speed.sizing) so that runs compare
like with like. The texts are drawn across the range of lengths (:func:`spread`), not the first
k, so the figure is the dataset's mix of short and long texts.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from encoder_gate.errors import GateError

Clock = Literal["thread", "wall"]

#: An arm's share of a round the sizing aims at (seconds); a round is two arms.
ROUND_SECONDS = 0.5


def clock_for(threads: int, device: str) -> Clock:
    """The clock that decides: the thread's CPU time with one intra-op thread on the CPU, else wall
    time (on a GPU the work is the device's: the calling thread only launches and waits)."""
    return "thread" if threads == 1 and device == "cpu" else "wall"


@dataclass
class Cell:
    """One pair of arms, round by round, on both clocks. `base` is the arm the ratio is taken
    against (the base's runner in the A/B, torch eager in the sweep), `pr` the arm judged (the
    PR's runner, the backend)."""

    clock: Clock
    texts: int = 0  # texts per pass
    passes: int = 1  # passes over them per arm per round
    base: list[float] = field(default_factory=list)  # the deciding clock, seconds per round
    pr: list[float] = field(default_factory=list)
    base_wall: list[float] = field(default_factory=list)
    pr_wall: list[float] = field(default_factory=list)
    unchanged: str | None = None  # why the cell was not timed (see speed.ab.same_work), else None
    reopened: bool = False  # each side that can opened afresh before each round (speed.ab.measure_cell)
    # why the cell stopped before its first look (its budget could not reach it): it decides nothing
    stopped: str | None = None
    # the cores other processes kept busy while it ran (speed.contention; None: not read)
    others_cores: float | None = None

    @property
    def rounds(self) -> int:
        return len(self.pr)

    @property
    def log_ratios(self) -> np.ndarray:
        """Per round log(PR time / base time) on the deciding clock: above 0, the PR is slower."""
        return np.log(np.asarray(self.pr) / np.asarray(self.base))

    def add(self, side: Literal["base", "pr"], cpu: float, wall: float) -> None:
        """One arm's timing of one round, on both clocks."""
        decided = cpu if self.clock == "thread" else wall
        if side == "base":
            self.base.append(decided)
            self.base_wall.append(wall)
        else:
            self.pr.append(decided)
            self.pr_wall.append(wall)


def timed(run: Callable[[], object], passes: int = 1) -> tuple[float, float]:
    """(thread CPU seconds, wall seconds) of `passes` calls of `run`."""
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    for _ in range(passes):
        run()
    return time.thread_time() - cpu0, time.perf_counter() - wall0


def record_round(cell: Cell, base_run: Callable[[], object], pr_run: Callable[[], object],
                 rng: np.random.Generator) -> None:
    """One round: both arms, in random order, each timed on both clocks."""
    arms: list[tuple[Literal["base", "pr"], Callable[[], object]]] = [("base", base_run), ("pr", pr_run)]
    for i in rng.permutation(2):
        side, run = arms[i]
        cell.add(side, *timed(run, cell.passes))


def run_rounds(cell: Cell, base_run: Callable[[], object], pr_run: Callable[[], object],
               rng: np.random.Generator, rounds: int, *, before: Callable[[], None] | None = None,
               stop: Callable[[Cell], bool] | None = None, kept: bool = True) -> None:
    """The one round loop, of the sweep's cells (pilot, timed and extra rounds) and the A/B's:
    up to `rounds` more rounds of `cell` (:func:`record_round`), `before` each one after the
    first of the cell (a reopen of each side), ending after a round where `stop(cell)` says so
    (a look that decides, a budget spent). A GateError where a tracer would time itself into
    every round (:func:`untraced`), unless the figures are not `kept` (a smoke run under
    --benchmark-disable, which may well run under coverage)."""
    if kept:
        untraced()
    for _ in range(rounds):
        if before is not None and cell.rounds:
            before()
        record_round(cell, base_run, pr_run, rng)
        if stop is not None and stop(cell):
            return


def untraced() -> None:
    """Before a timing: a GateError where a tracer would time itself into every round (:func:`tracer`)."""
    if (hook := tracer()) is not None:
        raise GateError(f"not timed: {hook} is active in this thread, and it slows torch eager's Python "
                        "far more than a call into ONNX Runtime or a compiled graph, so every speedup would "
                        "read high (coverage on a 2-layer model: torch eager 4.7 to 7.1 ms a batch, ONNX "
                        "Runtime 2.3 to 2.5 ms, a speedup of 2.0x read as 2.9x). Run the benchmarks without "
                        "it: --no-cov where pytest-cov's --cov is in addopts, or outside the debugger or "
                        "profiler")


def tracer() -> str | None:
    """What traces or profiles this thread's Python, named as it is known ("coverage's Python trace
    hook (coverage.CTracer)"), or None: sys.settrace's and sys.setprofile's hooks (coverage's
    C and Python tracers, a debugger, a profiler), and on Python 3.12 and later a sys.monitoring
    tool with events on (coverage's sysmon core). A line trace costs each Python line, which torch
    eager runs many of and ONNX Runtime none: pytest-cov's --cov in a project's addopts timed the
    gate's rounds under it."""
    for kind, hook in (("trace", sys.gettrace()), ("profile", sys.getprofile())):
        if hook is not None:
            return _named(hook, kind)
    monitoring: Any = getattr(sys, "monitoring", None)
    for tool in range(6) if monitoring is not None else ():  # its tool ids, debugger to optimizer
        name = monitoring.get_tool(tool)
        if name is not None and monitoring.get_events(tool):
            return f"the sys.monitoring tool {name!r}"
    return None


def _named(hook: object, kind: str) -> str:
    """A hook by what defines it: a tracer object's class (coverage's CTracer), a bound method's
    class (its PyTracer), a function's own name."""
    owner = getattr(hook, "__self__", None)
    if owner is None and not inspect.isfunction(hook):
        owner = hook
    named = type(owner) if owner is not None else hook
    where = f"{getattr(named, '__module__', '?')}.{getattr(named, '__qualname__', '?')}"
    who = "coverage's " if where.startswith("coverage.") else ""
    return f"{who}Python {kind} hook ({where})"


def texts_said(count: int) -> str:
    """"1 text", "8 texts": how many texts a cell's rounds ran over."""
    return f"{count} text{'' if count == 1 else 's'}"

def passes_for(pass_seconds: float, round_seconds: float = ROUND_SECONDS) -> int:
    """How many passes make an arm's share of a round about `round_seconds` (at least one)."""
    if pass_seconds <= 0:
        return 1
    return max(1, round(round_seconds / pass_seconds))


def spread(lengths: Sequence[int], k: int, batch_size: int = 1) -> list[int]:
    """The indices of `k` texts that stand for the whole set of `lengths` as bucketed batches of
    `batch_size`: the texts sorted by length fall into groups of `batch_size` (what bucketed
    dispatch batches together), and ceil(k / batch_size) groups are taken at the midpoints of equal
    shares of them ((j + 1/2) / n), so the mix of short and long texts is the set's, each batch is
    of one length (not one long text padding a batch of short ones), and the same k always gives
    the same texts. Returned in the texts' original order."""
    n = len(lengths)
    if k >= n:
        return list(range(n))
    if k <= 0:
        return []
    by_length = sorted(range(n), key=lambda i: (lengths[i], i))
    size = max(1, batch_size)
    groups = [by_length[g:g + size] for g in range(0, n, size)]
    wanted = min(len(groups), -(-k // size))
    chosen = [groups[min(len(groups) - 1, int((j + 0.5) * len(groups) / wanted))] for j in range(wanted)]
    return sorted(i for group in chosen for i in group)


def half_width(ratio: float, ci: tuple[float, float]) -> float:
    """The relative half-width of a ratio's CI: max(hi / r - 1, 1 - lo / r)."""
    low, high = ci
    return max(high / ratio - 1.0, 1.0 - low / ratio)


def rounds_for_width(width: float, rounds: int, target: float, most: int) -> int:
    """The rounds a two-stage design runs in all: a pilot of `rounds` whose CI half-width is
    `width` needs about rounds x (width / target)^2 for a half-width of `target` (a CI narrows as
    one over the square root of the rounds); at least the pilot, at most `most`."""
    if width <= target or not math.isfinite(width):
        return rounds if math.isfinite(width) else most
    return min(most, max(rounds, math.ceil(rounds * (width / target) ** 2)))
