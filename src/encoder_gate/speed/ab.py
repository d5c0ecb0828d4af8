"""Speed A/B: the PR's runner against the base's on the same batches, in interleaved rounds.

Each round runs the base's and the PR's runner once each over the same batches, in an order
drawn at random for that round (the round mechanics, the clock and the sizing are shared with
the gate sweep: :mod:`encoder_gate.speed.rounds`), and the cell is judged on the per-round log
ratios log(PR time / base time) alone:

    cell = measure_cell(base_pass, pr_pass, clock="thread", settings=ABSettings())
    decision = judge_at_looks(cell.log_ratios, settings, alpha=settings.alpha)

Two runners are measured with :func:`measure_runners`: a side that can open its artifact again (an
ONNX file on the CPU) is reopened before every round when its file is small
(`REOPEN_MAX_BYTES`), because two sessions of one small file differ by where their copies landed
in memory, for as long as they live.

A round is sized by time (`round_seconds` an arm: its texts chosen across the range of lengths,
as the sweep's cells are, one batch at least). The cell is judged at a few looks (10, 20, 40
rounds) and stops at the first that decides, or at its budget; a cell whose first look its
budget cannot reach says so before it starts and is not timed, and one the machine slows past its
budget before its first look stops there (either decides nothing: inconclusive, saying why).

The decision (:func:`decide_cell`), with r the per-round log ratios and m = log(1 + min_effect):

* fail: r is significantly above 0 (one-sided Wilcoxon signed-rank, p below the cell's level:
  alpha, Holm-adjusted across the session's cells, split over the looks at 10, 20 and 40
  rounds) and the measured slowdown, exp(median r), is at least the minimum effect (asv's and
  pyperf's rule: significant and big enough). A significant slowdown smaller than m is not a
  failure: two runners of one file differ by a few percent under load (a 3.2% A/A difference
  at p = 1/1024 was seen in CI), and that must not fail a PR;
* pass: the ratio's 95% bootstrap CI stays within the minimum effect (any slowdown is smaller);
* inconclusive: neither, with the rounds it would need at this spread;
* unchanged: base and PR run the same computation (:func:`same_work`: one runner class, one
  artifact digest and library versions, the same batches) in this one process and environment,
  so their speed is the same by construction; the cell is not timed, and no false alarm can
  come of it. That is most PRs: they do not touch the model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from encoder_gate.backends.base import reopener
from encoder_gate.config import InconclusiveMode
from encoder_gate.runtime.predictions import cacheable
from encoder_gate.speed.batches import BatchPlan
from encoder_gate.speed.contention import cpu_use, others_cores
from encoder_gate.speed.rounds import ROUND_SECONDS, Cell, Clock, passes_for, run_rounds, texts_said, timed
from encoder_gate.speed.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE, POWER
from encoder_gate.statistics import bootstrap_ci

Status = Literal["pass", "fail", "inconclusive", "unchanged"]

#: The largest artifact a side's sessions are opened afresh for before each round (each side by its
#: own file; see :func:`measure_runners`). Measured (docs/noise.md, AMD EPYC, one thread, batch 8):
#: two sessions of the tiny model's 0.5 MB FP32 file ran 0.92x to 1.08x of each other (sd 4.2%
#: across 20 pairs; reopened each round, 0 of 20 false alarms); a 27.7 MB file of a 2-layer model
#: with roberta-base's vocabulary (its compute a small model's, the table 25.7 MB) held sd 2.1 to
#: 3.1% beside a busy core, 2 of 60 held cells failing an unchanged file (none of 20 quiet), reopened
#: sd 1.7%, none of 20;
#: the default model's 23.1 MB INT8 file sd 0.8% either way and its 91 MB FP32 file 0.5%. A reopen
#: and its warm-up cost 0.09 s (27.7 MB), 0.12 s (23.1 MB) and 0.20 s (91 MB) on the Zen 5, against
#: a round's 0.5 s an arm: up to 32 MiB it is cheap where it is not needed. Decided by the files'
#: sizes, never by a timed reopen: a reopen timed beside CI's installs weighed over 4x its idle cost
#: even on the thread's CPU time (its fresh memory faulted in under memory pressure), so the same
#: cell was reopened on one run and held on the next.
REOPEN_MAX_BYTES = 32 * 2**20


#: The share of a cell's budget its first look may take when its rounds are sized (the rest is for
#: the machine slowing down, and the later looks).
FIRST_LOOK_SHARE = 0.8


@dataclass(frozen=True)
class ABSettings:
    """How an A/B cell is measured and judged."""

    min_effect: float = 0.05  # the smallest slowdown worth failing a PR for
    alpha: float = 0.01  # one-sided, family-wise: Holm across the session's cells, split over the looks
    looks: tuple[int, ...] = (10, 20, 40)  # the rounds at which a cell is judged (a group-sequential design)
    budget_seconds: float = 30.0  # per cell: its rounds' time, warm-up and calibration not; a cell
    # stops at the last look its pace reaches within it
    round_seconds: float = ROUND_SECONDS  # each arm's share of a round, by calibration
    inconclusive: InconclusiveMode = "warn"

    def __post_init__(self) -> None:
        if not 0 < self.min_effect < 1:
            raise ValueError(f"the minimum effect is a fraction in (0, 1), e.g. 0.05; got {self.min_effect}")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5); got {self.alpha}")
        if not self.looks or list(self.looks) != sorted(set(self.looks)) or self.looks[0] < 2:
            raise ValueError(f"looks must be increasing round counts of at least 2; got {self.looks}")

    @property
    def max_rounds(self) -> int:
        return self.looks[-1]

    def per_look(self, alpha: float) -> float:
        """A look's level: `alpha` split evenly over the looks (Bonferroni), so peeking does not
        inflate the false-alarm rate past `alpha`."""
        return alpha / len(self.looks)

    def looks_for(self, alpha: float) -> tuple[int, ...]:
        """The looks for a cell judged at `alpha`, the first raised to the fewest rounds whose
        one-sided Wilcoxon p can fall below a look's level (the exact test's smallest p is 2**-n):
        a look with fewer rounds could pass a cell but never fail it. 10 rounds for one cell at
        alpha 0.01; 12 when ten cells share it (Holm's strictest level, 0.001)."""
        fewest = math.floor(math.log2(1 / self.per_look(alpha))) + 1
        return tuple(sorted({max(n, fewest) for n in self.looks}))


@dataclass(frozen=True)
class CellDecision:
    """A cell judged: the PR/base time ratio with its CI, the test, and the outcome."""

    status: Status
    ratio: float  # exp(median log ratio): PR time / base time
    ci: tuple[float, float]  # CONFIDENCE bootstrap CI of the ratio
    p_value: float  # one-sided Wilcoxon signed-rank, H1: the PR is slower
    alpha: float  # the level it was judged at (Holm-adjusted)
    mde: float | None  # the slowdown these rounds detect with POWER at this spread
    rounds: int
    rounds_needed: int | None  # for a decision at min_effect, at this spread (inconclusive cells)
    reason: str | None = None  # an unchanged cell's: what both sides share; a stopped one's: why

    @classmethod
    def unchanged(cls, reason: str, alpha: float) -> CellDecision:
        """A cell not timed because both sides run the same computation (see :func:`same_work`)."""
        return cls(status="unchanged", ratio=1.0, ci=(1.0, 1.0), p_value=1.0, alpha=alpha, mde=None,
                   rounds=0, rounds_needed=None, reason=reason)

    def describe(self) -> str:
        if self.status == "unchanged":
            return f"unchanged: {self.reason}, so not timed"
        low, high = self.ci
        text = (f"PR/base {self.ratio:.3f} [{low:.3f}, {high:.3f}], p={self.p_value:.2g} "
                f"(alpha {self.alpha:.3g}), {self.rounds} rounds")
        if self.mde is not None:
            text += f", detects {self.mde:.1%}"
        if self.status == "inconclusive" and self.rounds_needed and self.rounds_needed > self.rounds:
            text += f"; about {self.rounds_needed} rounds would decide"
        elif self.status == "inconclusive" and self.rounds_needed:  # power enough: it sits at the line
            text += "; its change is close to the minimum slowdown: more rounds narrow its CI around it"
        if self.status == "inconclusive" and self.reason:
            text += f"; {self.reason}"
        return text

    def stopped(self, why: str) -> CellDecision:
        """This decision of a cell that stopped before its first look: inconclusive, saying why (a
        cell too short to fail must not pass either)."""
        return dataclasses.replace(self, status="inconclusive", reason=why)


def _same_batches(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    return len(a) == len(b) and all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
                                    for x, y in zip(a, b, strict=True))


def same_work(base: object, pr: object, base_batches: Sequence[Mapping[str, Any]],
              pr_batches: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the base's runner and the PR's do the same computation, or None when they may not.

    The same runner class with the same `prediction_identity` (its artifact's bytes and its
    libraries' versions: what the prediction cache already trusts to decide outputs), fed
    the same batches, in one process where both sides share device and threads: timing them
    against each other can only measure noise. A runner without an identity (a wrapper, a
    test double) is never taken as unchanged.
    """
    if type(base) is not type(pr) or not (cacheable(base) and cacheable(pr)):
        return None
    identity = base.prediction_identity()  # type: ignore[attr-defined]
    if identity != pr.prediction_identity() or not _same_batches(base_batches, pr_batches):  # type: ignore[attr-defined]
        return None
    kind, _, digest = str(identity.get("artifact", "?")).partition(":")
    return f"the same artifact ({kind}:{digest[:12]}) on the same batches"


def fits_budget(rounds: int, elapsed: float, looks: Sequence[int], budget_seconds: float) -> bool:
    """Whether the next look, at the pace of the rounds so far, ends within the cell's budget (the
    budget caps the rounds: a cell stops at the last look it can reach in time, not past it)."""
    later = [n for n in looks if n > rounds]
    return bool(later) and rounds > 0 and elapsed / rounds * later[0] <= budget_seconds


def measure_cell(base_run: Callable[[], object], pr_run: Callable[[], object], *, clock: Clock,
                 settings: ABSettings, alpha: float, texts: int, seed: int = 0,
                 progress: Callable[[str], None] | None = None,
                 reopen: Sequence[Callable[[], None]] = ()) -> Cell:
    """Interleaved rounds until the cell is decided at a look (each at `settings.per_look(alpha)`),
    or its last look or its budget is reached.

    Each runner is called once first (warm-up), and that call calibrates the passes per round.
    `reopen`, a callable for each side to open afresh (and warm up) before every round
    (`Cell.reopened`), so each round draws its own placement in memory and the test sees it as the
    noise it is (which sides: :func:`measure_runners`). One reopen is timed first, on the wall
    clock, for what the rounds cost the budget.
    """
    cpu, wall = timed(pr_run, 1)
    base_wall = timed(base_run, 1)[1]
    cell = Cell(clock=clock, texts=texts, passes=passes_for(cpu if clock == "thread" else wall,
                                                             settings.round_seconds))
    reopen_cost = 0.0  # what reopening every side costs on the wall clock, each round
    if reopen:
        reopen_cost = timed(reopen[0])[1] * len(reopen)
        cell.reopened = True
        for side in reopen[1:]:
            side()
    rng = np.random.default_rng(seed)
    looks = settings.looks_for(alpha)
    # the estimate, said before the cell starts: a round is both arms' passes (as the warm-up timed
    # them, on the wall clock the budget counts, which a loaded machine stretches past the thread
    # clock the passes were counted on); fewer passes a round where that makes the first look fit
    # the budget, and a first look the budget cannot reach even at one pass is not timed
    if math.isfinite(settings.budget_seconds):  # (the export search gives its cells no budget)
        share = FIRST_LOOK_SHARE * settings.budget_seconds / looks[0] - reopen_cost
        cell.passes = max(1, min(cell.passes, int(share // max(wall + base_wall, 1e-9))))
    round_wall = cell.passes * (wall + base_wall) + reopen_cost
    first_look = looks[0] * round_wall
    if first_look > settings.budget_seconds:
        cell.stopped = (f"not timed: its first look ({looks[0]} rounds of about {round_wall:.2g}s) would "
                        f"take about {first_look:.2g}s, over its budget of {settings.budget_seconds:g}s "
                        f"(raise --gate-ab-budget to {math.ceil(first_look * 1.5)} to time it)")
        if progress is not None:
            progress(cell.stopped)
        return cell
    if progress is not None:
        cap = (f"at most {settings.budget_seconds:g}s in all" if math.isfinite(settings.budget_seconds) else
               "no budget: every look it needs")
        progress(f"about {round_wall:.2g}s a round: its first look ({looks[0]} rounds) in about "
                 f"{first_look:.2g}s, {cap}")
    started = time.perf_counter()

    def stop(cell: Cell) -> bool:  # after each round: a budget spent before the first look, or a look
        elapsed = time.perf_counter() - started
        if cell.rounds < looks[0] and elapsed > settings.budget_seconds:  # slower than it calibrated
            cell.stopped = (f"stopped after {cell.rounds} rounds ({elapsed:.2g}s): its budget of "
                            f"{settings.budget_seconds:g}s ran out before its first look at {looks[0]} "
                            "rounds (the machine slowed down since the estimate)")
            return True
        if cell.rounds not in looks:
            return False
        decided = decide_cell(cell.log_ratios, settings, settings.per_look(alpha)).status != "inconclusive"
        return decided or not fits_budget(cell.rounds, elapsed, looks, settings.budget_seconds)

    def reopen_all() -> None:
        for side in reopen:
            side()

    use = cpu_use()
    run_rounds(cell, base_run, pr_run, rng, looks[-1], before=reopen_all if cell.reopened else None,
               stop=stop)
    cell.others_cores = others_cores(use, cpu_use())
    if progress is not None:
        fresh = ", sessions opened afresh each round" if cell.reopened else ""
        progress(f"{cell.rounds} rounds of {cell.passes} pass(es) over {texts_said(texts)} in "
                 f"{time.perf_counter() - started:.1f}s{fresh}")
    return cell


def pass_over(runner: Any, batches: Sequence[Mapping[str, Any]]) -> Callable[[], None]:
    """One pass of `runner` over `batches` (one arm of a round)."""
    def run() -> None:
        for batch in batches:
            runner.predict(batch)
    return run


#: When a side's sessions are opened afresh before each round: "by-size", the A/B's rule (a small file
#: on the CPU, `REOPEN_MAX_BYTES`); "always" (any side that can) and "never" (held for the cell), as
#: `encoder-gate ab-noise --pairs` compares them.
ReopenPolicy = Literal["by-size", "always", "never"]


def reopened_by_size(runner: Any) -> bool:
    """Whether the A/B opens ``runner``'s sessions afresh each round: it can (an ONNX file), on the CPU,
    and its file is at most `REOPEN_MAX_BYTES` (a file over it, or a session on a GPU, whose
    placement in the CPU's caches was never the noise)."""
    small = getattr(runner, "size_bytes", None) is not None and runner.size_bytes <= REOPEN_MAX_BYTES
    return reopener(runner) is not None and small and getattr(runner, "device", "cpu") == "cpu"


def _reopen_and_warm(runner: Any, shapes: list[tuple[int, int]],
                     policy: ReopenPolicy) -> Callable[[], None] | None:
    """The runner's reopen and warm-up, or None: it cannot reopen, or the policy holds it."""
    reopen = reopener(runner)
    if reopen is None or policy == "never" or (policy == "by-size" and not reopened_by_size(runner)):
        return None

    def run() -> None:
        reopen()
        runner.warmup(shapes)
    return run


def measure_runners(base: Any, base_plan: BatchPlan, pr: Any, pr_plan: BatchPlan, *, clock: Clock,
                    settings: ABSettings, alpha: float, texts: int, seed: int = 0,
                    progress: Callable[[str], None] | None = None, reopen: ReopenPolicy = "by-size") -> Cell:
    """:func:`measure_cell` on two runners (warmed up on their plans' shapes), each side over its
    own plan; each side that can (`Runner.reopen`: an ONNX file) is reopened each round when its
    file is small, on the CPU (`reopened_by_size`; or by another `ReopenPolicy`, as `encoder-gate
    ab-noise --pairs` compares them).
    A side that cannot keeps its one copy: torch eager's two copies of the tiny model ran within
    0.6% of each other (sd across 8 pairs), ONNX Runtime's 3 to 4%."""
    pr.warmup(pr_plan.shapes)
    base.warmup(base_plan.shapes)
    sides = [_reopen_and_warm(pr, pr_plan.shapes, reopen), _reopen_and_warm(base, base_plan.shapes, reopen)]
    return measure_cell(pass_over(base, base_plan.batches), pass_over(pr, pr_plan.batches), clock=clock,
                        settings=settings, alpha=alpha, texts=texts, seed=seed, progress=progress,
                        reopen=[side for side in sides if side is not None])


def _median_ci(r: np.ndarray) -> tuple[float, float]:
    ci = bootstrap_ci([r], np.median, confidence=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES,
                      seed=BOOTSTRAP_SEED)
    return ci if ci is not None else (float(np.median(r)), float(np.median(r)))


def wilcoxon_slower_p(r: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p of H1 "the PR is slower" (median log ratio above 0)."""
    if len(r) == 0 or not np.any(r != 0):
        return 1.0
    from scipy import stats

    return float(stats.wilcoxon(r, alternative="greater").pvalue)


def _z(q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q))


def decide_cell(log_ratios: Sequence[float] | np.ndarray, settings: ABSettings, alpha: float) -> CellDecision:
    """Judge one cell's per-round log ratios (see the module docstring for the rule)."""
    r = np.asarray(log_ratios, dtype=np.float64)
    if len(r) == 0:
        raise ValueError("no rounds to judge")
    median = float(np.median(r))
    low, high = _median_ci(r)
    p = wilcoxon_slower_p(r)
    threshold = math.log1p(settings.min_effect)
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else math.inf
    k = _z(1 - alpha) + _z(POWER)
    # the Wilcoxon test's efficiency on normal data is 3/pi: it needs pi/3 times the rounds of a t-test
    mde = math.expm1(k * sd / math.sqrt(len(r)) * math.sqrt(math.pi / 3)) if math.isfinite(sd) else None
    if p < alpha and median >= threshold:
        status: Status = "fail"
    elif high <= threshold:
        status = "pass"
    else:
        status = "inconclusive"
    needed = None
    if status == "inconclusive" and math.isfinite(sd) and sd > 0:
        needed = math.ceil((k * sd / threshold) ** 2 * math.pi / 3)
    return CellDecision(status=status, ratio=math.exp(median), ci=(math.exp(low), math.exp(high)), p_value=p,
                    alpha=alpha, mde=mde, rounds=len(r), rounds_needed=needed)


def judge_at_looks(log_ratios: Sequence[float] | np.ndarray, settings: ABSettings,
                   alpha: float) -> CellDecision:
    """The sequential rule replayed on recorded rounds: the decision at the first look that decides,
    else at the last look the rounds reach (inconclusive)."""
    r = np.asarray(log_ratios, dtype=np.float64)
    reached = [n for n in settings.looks_for(alpha) if n <= len(r)] or [len(r)]
    decision = decide_cell(r[:reached[0]], settings, settings.per_look(alpha))
    for n in reached[1:]:
        if decision.status != "inconclusive":
            break
        decision = decide_cell(r[:n], settings, settings.per_look(alpha))
    return decision
