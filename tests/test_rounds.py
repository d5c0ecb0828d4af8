"""The round mechanics every speed figure shares (encoder_gate.speed.rounds) and the sized cell's
texts (encoder_gate.speed.sizing): spread across lengths in bucketed batches, steps of batches,
the two-stage rounds, and the session's timing budget (encoder_gate.speed.budget)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.speed.budget import TimeBudget, rounds_within
from encoder_gate.speed.rounds import (
    Cell,
    clock_for,
    half_width,
    record_round,
    rounds_for_width,
    run_rounds,
    spread,
    tracer,
)
from encoder_gate.speed.sizing import TextPool, keep_count, kept_count, size_cell, sizing_key


def test_spread_stands_for_the_set_in_bucketed_batches():
    lengths = [5, 50, 7, 30, 12, 3, 40, 9, 20, 60, 11, 8]
    picked = spread(lengths, 4)
    assert picked == sorted(picked) and len(picked) == 4
    # the midpoints of four equal shares of the sorted lengths (3 5 7 | 8 9 11 | 12 20 30 | 40 50 60),
    # not the first four texts (5, 50, 7, 30), and not the extremes
    assert sorted(lengths[i] for i in picked) == [5, 9, 20, 50]
    in_batches = spread(lengths, 4, batch_size=2)  # two batches, each of neighbouring lengths
    assert sorted(lengths[i] for i in in_batches) == [7, 8, 30, 40]
    assert spread(lengths, 20) == list(range(12)) and spread(lengths, 0) == []
    assert len(set(spread(list(range(1000)), 999))) == 999  # distinct, whatever the rounding


def test_a_pool_picks_the_same_texts_every_time():
    pool = TextPool(tuple(f"t{i}" for i in range(100)), tuple((i * 37) % 101 for i in range(100)))
    assert pool.pick(8) == pool.pick(8) and len(pool.pick(8)) == 8
    assert pool.pick(16, 8) == pool.pick(16, 8) and len(pool.pick(16, 8)) == 16


def test_a_pools_lengths_are_the_lengths_the_batches_hold(tiny):
    """A pool counts each text as long as its batch will hold it: cut at the tokenizer's limit, and
    at 512 for a tokenizer with no limit of its own (transformers' "unset" is 1e30), as
    make_batches cuts it, so a text of 700 tokens is not spread as longer than it runs."""
    from transformers import AutoTokenizer

    from encoder_gate.speed.batches import make_batches

    tokenizer = AutoTokenizer.from_pretrained(tiny.path)
    texts = ("short text", " ".join(["word"] * 700))
    tokenizer.model_max_length = int(1e30)
    pool = TextPool.of(tokenizer, texts)
    plan = make_batches(tokenizer, list(texts), 1, "bucketed")
    assert pool.lengths[1] == 512 == max(b["input_ids"].shape[1] for b in plan.batches)
    assert pool.lengths[0] < 10 and pool.texts == texts
    tokenizer.model_max_length = 128
    assert TextPool.of(tokenizer, texts).lengths[1] == 128


def test_rounds_for_width_is_the_two_stage_design():
    assert rounds_for_width(0.06, 6, 0.03, 40) == 24  # twice as wide: four times the rounds
    assert rounds_for_width(0.02, 6, 0.03, 40) == 6  # the pilot is enough
    assert rounds_for_width(0.30, 6, 0.03, 40) == 40  # capped
    assert rounds_for_width(math.inf, 6, 0.03, 40) == 40
    assert half_width(2.0, (1.9, 2.2)) == pytest.approx(0.10)
    assert half_width(2.0, (1.8, 2.02)) == pytest.approx(0.10)


def test_a_round_runs_both_arms_in_random_order_on_both_clocks():
    order: list[str] = []
    cell = Cell(clock=clock_for(1, "cpu"))
    rng = np.random.default_rng(0)
    for _ in range(20):
        record_round(cell, lambda: order.append("base"), lambda: order.append("pr"), rng)
    assert cell.rounds == 20 and len(cell.base) == len(cell.base_wall) == 20
    firsts = {order[i] for i in range(0, 40, 2)}
    assert firsts == {"base", "pr"}  # each arm goes first in some rounds
    assert clock_for(2, "cpu") == "wall"
    assert clock_for(1, "cuda") == "wall"  # the GPU computes: the calling thread launches and waits


def test_a_cell_is_sized_in_steps_of_batches_each_timed_and_kept_per_model_and_machine(tmp_path: Path):
    lengths = list(range(10, 1210))
    probed: list[int] = []

    def probe(indices: list[int]) -> float:
        probed.append(len(indices))
        return sum(lengths[i] for i in indices) * 1e-5  # a text's cost grows with its length

    # a batch of the median length takes 0.049 s, 16 texts 0.098, 32 0.195, 64 0.39: 128 would not fit
    assert size_cell(lengths, 8, probe) == 64
    assert probed == [8, 16, 32, 64]  # each step timed as it is; 128 not tried (twice 0.39 > 0.5)
    assert size_cell(lengths, 8, lambda _: 2.0) == 8  # one batch at least, however slow
    assert size_cell(lengths[:20], 8, lambda _: 0.0) == 20  # a fast model: every text there is
    key = sizing_key("abc", {"cpu": "x", "threads": 1})
    assert key != sizing_key("abc", {"cpu": "x", "threads": 2})  # another machine or thread count
    assert key != sizing_key("abd", {"cpu": "x", "threads": 1})  # another model
    assert kept_count(tmp_path, key, "model/normal/bs8/bucketed") is None
    keep_count(tmp_path, key, "model/normal/bs8/bucketed", 64)
    keep_count(tmp_path, key, "model/normal/bs1/bucketed", 16)
    assert kept_count(tmp_path, key, "model/normal/bs8/bucketed") == 64
    assert kept_count(tmp_path, key, "model/normal/bs1/bucketed") == 16
    (tmp_path / "bench-texts.json").write_text("{not json")
    assert kept_count(tmp_path, key, "model/normal/bs8/bucketed") is None  # unreadable: sized again


def test_a_budget_shares_what_is_left_over_the_cells_left():
    budget = TimeBudget(100.0, cells=4)
    assert budget.share() == 25.0
    budget.charge(10.0)  # a cell that left 15 s unused: the other three share them
    assert budget.share() == pytest.approx(30.0)
    budget.charge(60.0)  # one that overran takes from the cells after it
    assert budget.share() == pytest.approx(15.0)
    budget.charge(40.0)
    assert budget.share() == 0.0  # spent: the last cell runs its pilot only
    assert "100 s (--gate-budget) over 4 speed cells: about 25 s a cell" in TimeBudget(100.0, 4).plan_line()
    budget.cut.append("onnx-int8 model/normal/bs8/bucketed")
    assert "1 stopped at their share before their precision target (onnx-int8 model/normal/bs8/bucketed)" \
        in budget.summary_line()
    with pytest.raises(ValueError, match="positive number of seconds"):
        TimeBudget(0.0, 3)


def test_what_a_cell_spent_outside_timing_is_not_charged_to_the_budget():
    """A GPU cell's memory probe (a process of its own) is left out of its charge, as builds are;
    once: the next cell is charged in full."""
    budget = TimeBudget(100.0, cells=4)
    budget.exclude(15.0)
    budget.charge(25.0)  # 10 s of timing, 15 s of probe
    assert budget.spent == pytest.approx(10.0) and budget.share() == pytest.approx(30.0)
    budget.charge(30.0)
    assert budget.spent == pytest.approx(40.0)
    budget.exclude(50.0)
    budget.charge(20.0)  # never a negative charge
    assert budget.spent == pytest.approx(40.0) and budget.done == 3


def test_rounds_within_a_share_at_the_pilots_pace():
    # 6 rounds of 1 s after 2 s of warm-up (8 s spent): a 20 s share pays for 12 more
    assert rounds_within(20.0, 8.0, 6, 1.0) == 18
    assert rounds_within(5.0, 8.0, 6, 1.0) == 6  # the pilot overran the share: no more
    assert rounds_within(20.0, 8.0, 6, 0.0) == 6


def test_a_cell_counts_the_cores_other_processes_kept_busy_and_says_so_on_the_wall_clock():
    """Walk P: at two threads a backend's wall-clock figure swung 15-fold between runs of one tree,
    each CI narrow, while other jobs shared the cores. A cell now records the cores other processes
    used meanwhile (Linux's /proc/stat less this process's CPU time): a busy loop in a child counts
    as about one core, this process's own work as none (the readings' arithmetic); the line says so on
    the wall clock only."""
    import subprocess
    import sys
    import time

    from encoder_gate.speed.contention import CpuUse, contention_said, cpu_use, others_cores

    assert others_cores(CpuUse(10.0, 1.0, 0.0), CpuUse(13.0, 2.0, 2.0)) == 1.0  # 3 busy, 1 of them ours
    assert others_cores(None, CpuUse(1.0, 1.0, 1.0)) is None
    said = contention_said({"clock": "wall", "others_cores": 1.2})
    assert "other processes kept 1.2 cores busy meanwhile" in said
    assert contention_said({"clock": "thread", "others_cores": 1.2}) == ""
    assert contention_said({"clock": "wall", "others_cores": 0.1}) == ""
    if cpu_use() is None:
        pytest.skip("no /proc/stat: the machine's busy time cannot be read here")
    # (not asserted: the machine quiet, which another xdist worker is not; the hog's core is on top)
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\n"
                                                  "while time.time() < end: pass"])
    try:
        time.sleep(0.5)
        start = cpu_use()
        time.sleep(1.5)
        busy = others_cores(start, cpu_use())
    finally:
        hog.kill()
        hog.wait()
    assert busy is not None and busy > 0.7


def test_rounds_under_a_tracer_are_refused_naming_it():
    """pytest-cov's --cov in a project's addopts timed every round under coverage's line tracer,
    which costs each Python line: torch eager runs many, ONNX Runtime none, so a 2.0x speedup read
    2.9x (a 2-layer model, docs/benchmarks.md). A trace or profile hook is named, and no round runs."""
    import cProfile

    from encoder_gate.errors import GateError

    if sys.gettrace() is not None or sys.getprofile() is not None:
        pytest.skip("this session runs under a tracer of its own (coverage, a debugger)")
    assert tracer() is None

    def hook(*_args: object) -> None:
        return None

    cell = Cell(clock="thread")
    sys.settrace(hook)
    try:
        said = tracer()
        refused = r"^not timed: Python trace hook .* is active in this thread.*--no-cov"
        with pytest.raises(GateError, match=refused):
            run_rounds(cell, lambda: None, lambda: None, np.random.default_rng(0), 3)
    finally:
        sys.settrace(None)
    assert said == f"Python trace hook ({__name__}.{hook.__qualname__})"
    assert cell.rounds == 0
    profile = cProfile.Profile()
    profile.enable()
    try:
        said = tracer()
    finally:
        profile.disable()
    assert said == "Python profile hook (cProfile.Profile)"
    assert tracer() is None
    run_rounds(cell, lambda: None, lambda: None, np.random.default_rng(0), 3)
    assert cell.rounds == 3
