"""This PR against its base, in one session (`--gate-base DIR`): accuracy and speed, per backend.

* `test_accuracy_vs_base`: the PR's backend and the base's, both on the PR's evaluation texts
  and gold labels: the headline F1's change with its paired-bootstrap CI, McNemar and the
  per-label check, decided by the configured F1 rule. A retrained model that lost accuracy
  fails on `torch`, named as the model.
* `test_speed_vs_base`: the base's runner and the PR's over the same batches in interleaved
  rounds of random order, timed on the thread's CPU time with one intra-op thread; the cells
  are decided together at the session's end (Holm across cells), see encoder_gate.speed.ab.
  A backend whose artifact and batches the PR did not change is unchanged, and not timed.

Without `--gate-base` these tests are not collected at all.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from encoder_gate.decision import VERSUS_BASE, SpeedCell, covering_waiver
from encoder_gate.errors import CheckFailed, GateError
from encoder_gate.plugin.bench_fixtures import texts_for
from encoder_gate.plugin.stash import call_or_skip
from encoder_gate.results.ab import ab_settings, accuracy_entry, refused_entry
from encoder_gate.runtime.inference import tokenizer_for
from encoder_gate.speed.ab import measure_runners, pass_over, same_work
from encoder_gate.speed.batches import make_batches
from encoder_gate.speed.results import case_id
from encoder_gate.speed.rounds import Cell, clock_for, timed
from encoder_gate.speed.sizing import sized_texts

__all__ = ["test_accuracy_vs_base", "test_speed_vs_base"]


def test_accuracy_vs_base(ab_backend, gate_base, gate_session, ab_record_accuracy, ab_not_compared):
    """The PR's backend keeps the base's accuracy on the same texts (F1 rule and per-label check).
    Where there is no F1 to compare (an encoder, unlabelled texts) it fails, saying so, unless
    --gate-allow-skip accepts it. A live `vs base` waiver of the backend makes a failure an xfail
    (the verdict shows it waived)."""
    if why := gate_base.accuracy_not_compared:
        ab_not_compared(why)
    refused = None
    try:  # models of other labels: a failure against the base, which a `vs base` waiver can accept
        gate_base.check_comparable()
    except GateError as exc:
        refused = f"not compared with the base: {exc}"
    # the waiver that accepts its failure, said beside it (a refusal read "FAIL" above a PASS it waived)
    waiver = covering_waiver(gate_session.config.waivers, ab_backend, VERSUS_BASE, date.today())
    waived = {"waived_by": waiver.owner} if waiver else {}
    if refused is not None:  # (raised outside the except: a failure, not an error while handling one)
        ab_record_accuracy({**refused_entry(refused, gate_session.model.task.headline), **waived})
        fail_unless_waived(gate_session, ab_backend, VERSUS_BASE, refused)
    failure = call_or_skip(gate_base.accuracy_failure, ab_backend)
    entry = accuracy_entry(gate_base.accuracy(ab_backend), failure, gate_base.predicted.get(ab_backend),
                           gate_base.accuracy_failed_by(ab_backend) if failure else (),
                           gate_base.growth(ab_backend), gate_base.not_judged(ab_backend),
                           gate_base.by_its_own_criteria(ab_backend), gate_base.rare_labels_lost(ab_backend))
    ab_record_accuracy({**entry, **(waived if failure else {})})
    fail_unless_waived(gate_session, ab_backend, VERSUS_BASE, failure)


def fail_unless_waived(gate_session, backend: str, check: str, failure: str | None) -> None:
    """A comparison's `failure` of `backend` (None: it kept): an xfail where a live waiver of its
    `check` covers it (the verdict shows it waived), else a failed check."""
    if failure is None:
        return
    waiver = covering_waiver(gate_session.config.waivers, backend, check, date.today())
    if waiver:
        pytest.xfail(f"waived by {waiver.owner} until {waiver.until} ({waiver.reason}): "
                     f"{failure.splitlines()[0]}")
    raise CheckFailed(failure)


def test_speed_vs_base(ab_backend, gate_batch_size, gate_base, gate_session, gate_tokenizer, bench_texts,
                       bench_pool, gate_budget, ab_record_speed):
    """The PR's backend is measured against the base's, round by round; decided at the session's end.
    Its rounds stop within --gate-ab-budget, or within its share of --gate-budget when that is less."""
    settings = ab_settings(gate_session.config)
    if gate_budget is not None and gate_budget.share() < settings.budget_seconds:
        settings = dataclasses.replace(settings, budget_seconds=max(gate_budget.share(), 1e-3))
    pr = call_or_skip(gate_session.runner, ab_backend)
    # an unchanged backend: the base's artifact is the PR's, so its runner is the PR's (not a
    # second copy loaded to time nothing); other batches below still load the base's own
    base = gate_base.shared_runner(ab_backend, pr) or call_or_skip(gate_base.runner, ab_backend)
    # each side's texts truncated where its runner truncates them (a static sequence length)
    pr_tokenizer = tokenizer_for(gate_tokenizer, pr)
    base_tokenizer = tokenizer_for(call_or_skip(lambda: gate_base.session.tokenizer), base)
    texts = list(texts_for(bench_texts, "normal", gate_batch_size))
    case = case_id("model", "normal", gate_batch_size, "bucketed")
    clock = clock_for(gate_session.config.threads, gate_session.device_of(ab_backend))
    # what the PR did not change runs the same computation on both sides: not timed (no noise can
    # fail it), and the hundredth PR that leaves the model alone costs no rounds
    plan = make_batches(pr_tokenizer, texts, gate_batch_size, "bucketed")
    base_plan = make_batches(base_tokenizer, texts, gate_batch_size, "bucketed")
    unchanged = same_work(base, pr, base_plan.batches, plan.batches)
    if unchanged is None and base is pr:  # the same artifact, fed other batches: time the base's own
        base = call_or_skip(gate_base.runner, ab_backend)  # (it truncates as the PR's: the same batches)
    if unchanged is not None:
        gate_session.progress(f"{ab_backend} {case}: unchanged, {unchanged}; not timed")
        ab_record_speed(SpeedCell(ab_backend, case, Cell(clock=clock, texts=len(texts), unchanged=unchanged)))
        return
    # sized by time as the sweep's cells are (speed.sizing.size_cell): the largest 1, 2, 4, ... bucketed
    # batches of texts across the pool's lengths (speed.rounds.spread: short and long in proportion,
    # each batch of one length) whose pass of the PR's runner takes at most a round's share, one
    # batch at least; a slow model is measured on fewer texts, never on the first few
    pool = bench_pool["normal"]
    if isinstance(pool, GateError):
        pytest.skip(str(pool))
    pool = pool.narrowed(len(texts))  # the benchmarks' fixed texts (ENCODER_GATE_BENCH_TEXTS, 64) at most

    def probe(indices: list[int]) -> float:
        batches = make_batches(pr_tokenizer, [pool.texts[i] for i in indices], gate_batch_size, "bucketed")
        pr.warmup(batches.shapes)
        cpu, wall = timed(pass_over(pr, batches.batches))
        return cpu if clock == "thread" else wall

    texts = list(sized_texts(pool, gate_batch_size, probe, settings.round_seconds))
    plan = make_batches(pr_tokenizer, texts, gate_batch_size, "bucketed")
    base_plan = make_batches(base_tokenizer, texts, gate_batch_size, "bucketed")
    # rounds stop at a look that decides at the strictest level Holm may judge this cell at
    # (alpha over the session's cells), so a cell never stops early on a slowdown the session's
    # end would not call significant; a small model's two sessions differ by where their copies
    # landed, so a small file's are opened afresh each round (speed.ab.measure_runners)
    cells = len(gate_base.pairs) * len(gate_session.config.batch_sizes)
    cell = measure_runners(base, base_plan, pr, plan, clock=clock, settings=settings,
                           alpha=settings.alpha / max(1, cells), texts=len(texts),
                           progress=gate_session.progress)
    ab_record_speed(SpeedCell(ab_backend, case, cell))
