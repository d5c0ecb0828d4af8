"""The session's timing budget: `--gate-budget SECONDS` (`budget` in `[tool.encoder-gate]`).

The seconds a session may spend timing, shared among its speed cells: every benchmark and every
vs-base speed cell it collected. A cell's share is what is left of the budget over the cells
left, itself included, asked when the cell starts: time a cell leaves unused goes to the cells
after it, and a cell that overran takes it from them. What a cell is charged is its test's call
(its warm-up, sizing probe and rounds); the builds happen in fixture setup and are not charged.

- A gate-sweep cell (`test_model_only`) runs its pilot whatever its share (the fewest rounds
  whose CI covers), then the rounds its CI target needs, at most the ones its share pays for at
  the pilot's pace; cut short, it says so with the rounds the target would need.
- A vs-base cell (`test_speed_vs_base`) stops at the last decision look it reaches within the
  smaller of its share and `--gate-ab-budget` (a cap per cell); undecided, it is inconclusive
  and says how many rounds would decide.
- The other benchmarks (end-to-end, latency, workers, torch's own cell) run their fixed rounds and
  are charged what they took.

Without a budget every cell runs to its own stopping rule (its CI target, or its last look).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TimeBudget:
    """Seconds shared among `cells` speed cells, charged as they finish."""

    seconds: float
    cells: int
    spent: float = 0.0
    done: int = 0
    cut: list[str] = field(default_factory=list)  # the cells that stopped at their share
    excluded: float = 0.0  # seconds of the running cell that are not timing (see exclude)

    def __post_init__(self) -> None:
        if not self.seconds > 0 or not math.isfinite(self.seconds):
            raise ValueError(f"a timing budget is a positive number of seconds, got {self.seconds}")

    def share(self) -> float:
        """The seconds of the next cell: what is left over the cells left (itself included)."""
        return max(0.0, self.seconds - self.spent) / max(1, self.cells - self.done)

    def charge(self, seconds: float) -> None:
        """A cell finished after `seconds` (its call's), less what it spent outside timing."""
        self.spent += max(0.0, seconds - self.excluded)
        self.excluded = 0.0
        self.done += 1

    def exclude(self, seconds: float) -> None:
        """`seconds` of the running cell were not timing (a GPU backend's memory probe, in a process
        of its own): its charge leaves them out, as it leaves out builds."""
        self.excluded += max(0.0, seconds)

    def plan_line(self) -> str:
        """The line printed before timing starts."""
        if self.cells == 0:
            return f"encoder-gate: timing budget {seconds_text(self.seconds)}: no speed cells selected"
        return (f"encoder-gate: timing budget {seconds_text(self.seconds)} (--gate-budget) over "
                f"{self.cells} speed cells: about {seconds_text(self.share())} a cell, time a cell leaves "
                "unused goes to the cells after it (builds are not counted)")

    def summary_line(self) -> str:
        """The line at the end of the session: what was spent, and which cells the budget cut."""
        text = (f"timing budget: {seconds_text(self.spent)} of {seconds_text(self.seconds)} spent over "
                f"{self.done} of {self.cells} speed cells")
        if self.cut:
            text += (f"; {len(self.cut)} stopped at their share before their precision target "
                     f"({', '.join(self.cut)}): a larger --gate-budget would let them reach it")
        return text


def rounds_within(share: float, spent: float, rounds: int, per_round: float) -> int:
    """The rounds a cell can afford in all: the `rounds` it has run (having spent `spent` seconds
    of its share, warm-up included) plus those the rest of its share pays for at `per_round`
    seconds each (never fewer than it has run)."""
    if per_round <= 0:
        return rounds
    return rounds + max(0, math.floor((share - spent) / per_round))


def seconds_text(seconds: float) -> str:
    """Seconds as the budget's lines give them: "0.02 s", "4.5 s", "30 s", "2.5 min"."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
