"""How long a benchmark session will take, told before it starts.

Every benchmark's wall time (setup and call) is recorded at the end of a session in
``<cache-dir>/bench-durations.json``, under a key made of what changes the durations (the
model, threads, rounds, texts, pairing). Before the next session of that key starts, its
benchmarks are summed: a benchmark that ran before counts its last duration; one that did
not counts the median of those recorded for the same test, backend and batch size, else the
same backend and batch size, else the same backend, else all of them. With nothing recorded
for the key there is no estimate, and the message says so instead of guessing.

While a session runs, each finished benchmark past the first minute gets a progress line with
the time left (``progress_line``: the timing left, and what the backends not run yet do once): on
a new model there is no estimate, and at RoBERTa-base size one benchmark takes minutes.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.cache import read_record, update_record
from encoder_gate.speed.rounds import ROUND_SECONDS
from encoder_gate.speed.settings import MAX_ROUNDS

FILE_NAME = "bench-durations.json"


@dataclass(frozen=True)
class Case:
    """One benchmark as the estimate sees it."""

    id: str  # the test id without its file (entry files may differ between repositories)
    test: str
    backend: str
    batch_size: int | None

    def fallbacks(self) -> list[tuple[Any, ...]]:
        """The groups whose median stands in for this case, most specific first."""
        return groups(self.test, self.backend, self.batch_size)


def groups(test: str, backend: str, batch_size: int | None) -> list[tuple[Any, ...]]:
    """The groups a benchmark belongs to, most specific first: same test, backend and batch
    size; same backend and batch size; same backend; all."""
    return [(test, backend, batch_size), (backend, batch_size), (backend,), ()]


@dataclass(frozen=True)
class Bounds:
    """What the timing of `cells` paired speed cells can take with no duration on record: each
    runs `rounds` (fewest, most) rounds of its two arms, torch eager's sized to a quarter to half a
    second (ROUND_SECONDS at most, speed.rounds) and the backend's at most as long (a budget cuts
    the most). A cell whose one batch alone takes longer has longer rounds: said, not bounded."""

    cells: int
    rounds: tuple[int, int]
    budget: float | None = None
    fixed_texts: int | None = None  # ENCODER_GATE_BENCH_TEXTS: rounds of that many texts, not sized by time

    @property
    def seconds(self) -> tuple[float, float]:
        low = self.cells * self.rounds[0] * ROUND_SECONDS / 2
        high = self.cells * self.rounds[1] * 2 * ROUND_SECONDS
        return low, high if self.budget is None else max(low, min(high, low + self.budget))

    def text(self) -> str:
        rounds = (f"{self.rounds[0]} to {self.rounds[1]} paired rounds" if self.rounds[0] != self.rounds[1]
                  else f"{self.rounds[0]} paired rounds")
        cut = ", the timing budget cutting the rest" if self.budget is not None else ""
        if self.fixed_texts is not None:  # a round's length is the model's on those texts: no bound known
            return (f"its {self.cells} speed cells time {rounds} of {self.fixed_texts} texts each "
                    f"(ENCODER_GATE_BENCH_TEXTS: not sized by time, so no bound on how long){cut}")
        low, high = self.seconds
        shortest, longest = ROUND_SECONDS / 2, 2 * ROUND_SECONDS
        return (f"its {self.cells} speed cells time {rounds} of {shortest:g} to {longest:g} s each{cut}: "
                f"between about {_duration(low)} and {_duration(high)} of timing, besides each backend's "
                "first runs (more where one batch alone takes longer than a round)")


def round_bounds(cells: int, pilot: int, ci_target: float, budget: float | None,
                 fixed_texts: int | None = None) -> Bounds:
    """The rounds a model-only cell runs (suite.benchmarks.test_model_only): with a CI target, its
    pilot and at least one more, up to MAX_ROUNDS; without, the pilot's count alone. `fixed_texts`:
    ENCODER_GATE_BENCH_TEXTS, whose rounds are not sized by time (their length is not bounded)."""
    rounds = (pilot + 1, max(MAX_ROUNDS, pilot + 1)) if ci_target > 0 else (max(pilot, 1), max(pilot, 1))
    return Bounds(cells, rounds, budget, fixed_texts)


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: nothing recorded for this key
    known: int  # benchmarks with a duration of their own on record
    total: int
    bounds: Bounds | None = None  # what the speed cells' timing can take, for a session with no record

    def message(self, what: str) -> str:
        if self.total == 0:
            return f"encoder-gate: {what}: no benchmarks selected"
        if self.seconds is None:
            bounded = f"; {self.bounds.text()}" if self.bounds is not None and self.bounds.cells else ""
            return (f"encoder-gate: {what}: {self.total} benchmarks; no earlier session of this "
                    f"model and settings is recorded, so no expected duration from one yet{bounded} "
                    "(this session's durations are recorded for the next estimate)")
        basis = ("all of them timed in an earlier session" if self.known == self.total else
                 f"{self.known} of them timed in an earlier session, the other {self.total - self.known} "
                 "estimated from those of the same backend")
        return (f"encoder-gate: {what}: {self.total} benchmarks, expected to take about "
                f"{_duration(self.seconds)} ({basis}; backends not yet in the artifact cache "
                "add their build time)")


#: a session shorter than this prints no progress lines (the tiny models' take seconds)
PROGRESS_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Finished:
    """A benchmark that finished: its backend, its wall seconds (setup, call and teardown) and the
    seconds of them it spent timing (what the timing budget charged it; without a budget, all)."""

    backend: str
    seconds: float
    timing: float


def progress_line(finished: Sequence[Finished], left: Sequence[str], elapsed: float,
                  budget_left: float | None = None, skipped: int = 0) -> str | None:
    """The line after `finished` benchmarks (and `skipped` ones, which ran nothing) in `elapsed`
    seconds, `left` naming the backends of those still to run (None while the session is young, when
    nothing is left or nothing ran): the time left.

    A backend's first benchmark carries what it does once (its build or compile, its memory probe)
    beside its timing; the ones after it mostly time. So the time left is the timing left (what is
    left of the timing budget, but at least the shortest timing so far a benchmark; without a budget,
    the mean timing so far a benchmark) plus, for each backend not run yet, the mean of what the
    first benchmarks spent outside their timing, and for each other benchmark the median of what the
    later ones did. Scaled by the session's own pace where other tests ran between the benchmarks.
    (On an H200 the old rule, the mean pace, said "about 7.0 min left" after a compile and two memory
    probes, with 2.0 min left.)"""
    done, rest = len(finished) + skipped, len(left)
    if not finished or rest <= 0 or elapsed < PROGRESS_AFTER_SECONDS:
        return None
    seen: set[str] = set()
    first: list[float] = []
    later: list[float] = []
    for one in finished:
        (later if one.backend in seen else first).append(max(0.0, one.seconds - one.timing))
        seen.add(one.backend)
    timings = [one.timing for one in finished]
    if budget_left is None:
        timing_left = statistics.fmean(timings) * rest
    else:
        timing_left = max(budget_left, min(timings) * rest)
    new = len({backend for backend in left if backend not in seen})
    outside = new * statistics.fmean(first) + (rest - new) * (statistics.median(later) if later else 0.0)
    wall = sum(one.seconds for one in finished)
    scale = max(1.0, elapsed / wall) if wall > 0 else 1.0
    return (f"benchmarks: {done} of {done + rest} done in {_duration(elapsed)}; "
            f"about {_duration((timing_left + outside) * scale)} left")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"


def against_base(cells: int, budget: float) -> str:
    """The line for a session's speed cells against the base (`--gate-base`), said before they run:
    each stops within its budget (`--gate-ab-budget`), so the count bounds them; a backend the PR
    did not change is not timed at all (speed.ab's "unchanged")."""
    return (f"encoder-gate: {cells} speed cell(s) against the base, each at most {budget:g} s of rounds "
            f"(--gate-ab-budget) and its warm-up: at most about {_duration(cells * budget)} in all; a "
            "backend whose artifact and batches the PR did not change is not timed")


def history_key(model: str, threads: int, rounds: int, texts: int | None, paired: bool,
                ci_target: float = 0.0) -> str:
    """What changes the durations (texts None: sized by time, speed.sizing)."""
    return (f"model={model}|threads={threads}|rounds={rounds}|texts={texts or 'sized'}|paired={int(paired)}"
            f"|ci={ci_target:g}")


def load(cache_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The recorded durations; an unreadable file counts as none (it is only an estimate)."""
    return read_record(Path(cache_dir) / FILE_NAME)


def estimate(records: Iterable[Mapping[str, Any]], cases: Iterable[Case],
             bounds: Bounds | None = None) -> Estimate:
    """The session's expected duration from the `records` of earlier ones; with none, `bounds` says
    what its speed cells can take."""
    records = [r for r in records if isinstance(r, Mapping) and {"id", "test", "backend",
               "batch_size", "seconds"} <= r.keys()]
    cases = list(cases)
    if not records:
        return Estimate(None, 0, len(cases), bounds)
    own = {r["id"]: float(r["seconds"]) for r in records}
    timed: dict[tuple[Any, ...], list[float]] = {}  # group -> durations of its recorded cases
    for r in records:
        for group in groups(r["test"], r["backend"], r["batch_size"]):
            timed.setdefault(group, []).append(float(r["seconds"]))
    total, known = 0.0, 0
    for case in cases:
        if case.id in own:
            total += own[case.id]
            known += 1
            continue
        group = next(g for g in case.fallbacks() if g in timed)  # () is always there
        total += statistics.median(timed[group])
    return Estimate(total, known, len(cases))


def record(cache_dir: Path, key: str, timed: Mapping[Case, float]) -> None:
    """Merge this session's durations into the file (under its lock: cache.update_record; best effort)."""
    if not timed:
        return

    def merged(doc: dict[str, Any]) -> dict[str, Any]:
        kept = doc.get(key)
        previous = {r.get("id"): r for r in (kept if isinstance(kept, list) else []) if isinstance(r, dict)}
        for case, seconds in timed.items():
            previous[case.id] = {"id": case.id, "test": case.test, "backend": case.backend,
                                 "batch_size": case.batch_size, "seconds": round(seconds, 3)}
        return {**doc, key: list(previous.values())}

    with contextlib.suppress(OSError):  # only an estimate: an unwritable cache must not fail the session
        update_record(Path(cache_dir) / FILE_NAME, merged)
