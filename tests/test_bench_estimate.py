"""The expected duration of a benchmark session, from the durations earlier sessions recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoder_gate.speed.estimate import (
    FILE_NAME,
    PROGRESS_AFTER_SECONDS,
    Case,
    Finished,
    estimate,
    history_key,
    load,
    progress_line,
    record,
)


def case(test: str, backend: str, bs: int | None, variant: str = "normal") -> Case:
    return Case(id=f"{test}[bs{bs}-{backend}-{variant}]", test=test, backend=backend, batch_size=bs)


def test_recorded_cases_count_their_own_duration_and_the_rest_their_groups_median(tmp_path: Path):
    key = history_key("default", 1, 3, 32, True)
    record(tmp_path, key, {case("test_model_only", "torch", 1): 10.0,
                           case("test_model_only", "torch", 8): 4.0,
                           case("test_model_only", "onnx-int8", 1): 2.0,
                           case("test_model_only", "onnx-int8", 8): 1.0})
    records = load(tmp_path)[key]
    # all known: the sum of their own
    own = estimate(records, [case("test_model_only", "torch", 1), case("test_model_only", "onnx-int8", 8)])
    assert (own.seconds, own.known, own.total) == (11.0, 2, 2)
    assert "all of them timed in an earlier session" in own.message("gate sweep")
    # unknown: same test, backend and batch size (another variant) -> 10; same backend, other test and
    # batch size -> median of torch's (7); an unseen backend -> median of everything (3)
    guess = estimate(records, [case("test_model_only", "torch", 1, "filtered"),
                               case("test_end_to_end", "torch", 2), case("test_model_only", "onnx-fp16", 1)])
    assert guess.seconds == pytest.approx(10.0 + 7.0 + 3.0) and guess.known == 0
    assert "0 of them timed in an earlier session, the other 3 estimated" in guess.message("full sweep")


def test_no_record_gives_no_estimate_and_says_so(tmp_path: Path):
    found = estimate(load(tmp_path).get("anything", []), [case("test_model_only", "torch", 1)])
    assert found.seconds is None
    assert "no expected duration from one yet (this session's durations" in found.message("full sweep")


def test_with_no_record_the_speed_cells_rounds_bound_the_timing(tmp_path: Path):
    """A first session's cells run their pilot and at least one more round, at most MAX_ROUNDS, each
    round the torch arm (about ROUND_SECONDS) and the backend's (at most as long); a budget cuts the
    most; without a CI target the pilot's rounds are all."""
    from encoder_gate.speed.estimate import round_bounds
    from encoder_gate.speed.rounds import ROUND_SECONDS
    from encoder_gate.speed.settings import MAX_ROUNDS

    bounds = round_bounds(10, 6, 0.03, None)
    assert bounds.rounds == (7, MAX_ROUNDS)
    assert bounds.seconds == (10 * 7 * ROUND_SECONDS / 2, 10 * MAX_ROUNDS * 2 * ROUND_SECONDS)
    found = estimate([], [case("test_model_only", "torch", 1)] * 10, bounds)
    assert found.message("gate sweep").endswith(
        "no expected duration from one yet; its 10 speed cells time 7 to 40 paired rounds of 0.25 to 1 s "
        "each: between about 18 s and 6.7 min of timing, besides each backend's first runs (more where "
        "one batch alone takes longer than a round) (this session's durations are recorded for the next "
        "estimate)")
    assert round_bounds(10, 6, 0.03, 60.0).seconds == (17.5, 77.5)  # the budget: 60 s past the fewest
    assert "the timing budget cutting the rest" in round_bounds(10, 6, 0.03, 60.0).text()
    assert round_bounds(5, 2, 0.0, None).rounds == (2, 2)  # no CI target: the pilot's rounds
    assert "its 5 speed cells time 2 paired rounds of" in round_bounds(5, 2, 0.0, None).text()
    # ENCODER_GATE_BENCH_TEXTS: rounds of that many texts, whose length no sizing bounds (CI's default
    # benchmarks at 8 texts took 22 s of timing where the sized rounds' bounds said 18 to 78 s)
    fixed = round_bounds(10, 6, 0.03, 60.0, fixed_texts=8).text()
    assert "7 to 40 paired rounds of 8 texts each" in fixed and "not sized by time" in fixed
    assert "between about" not in fixed and "the timing budget cutting the rest" in fixed
    assert "speed cells" not in estimate([], [case("test_end_to_end", "torch", 1)],
                                         round_bounds(0, 6, 0.03, None)).message("full sweep")


def test_a_newer_session_replaces_a_case_and_keeps_the_others_and_other_keys(tmp_path: Path):
    a, b = case("test_model_only", "torch", 1), case("test_model_only", "torch", 8)
    record(tmp_path, "k1", {a: 5.0, b: 6.0})
    record(tmp_path, "k2", {a: 99.0})
    record(tmp_path, "k1", {a: 1.0})
    doc = load(tmp_path)
    assert {r["id"]: r["seconds"] for r in doc["k1"]} == {a.id: 1.0, b.id: 6.0}
    assert [r["seconds"] for r in doc["k2"]] == [99.0]


@pytest.mark.parametrize("content", ["{not json", json.dumps([1, 2]), json.dumps({"k": [{"id": "x"}]})])
def test_an_unreadable_or_foreign_file_counts_as_no_record(tmp_path: Path, content: str):
    (tmp_path / FILE_NAME).write_text(content)
    found = estimate(load(tmp_path).get("k", []), [case("test_model_only", "torch", 1)])
    assert found.seconds is None
    record(tmp_path, "k", {case("test_model_only", "torch", 1): 2.0})  # and it is replaced, not fatal
    assert estimate(load(tmp_path)["k"], [case("test_model_only", "torch", 1)]).seconds == 2.0


def test_progress_tells_the_time_left_once_the_session_has_run_a_minute():
    """Without a budget each benchmark's all timing: the mean pace. Other tests between the benchmarks
    scale it. A quick session, or one with nothing left, says nothing."""
    assert PROGRESS_AFTER_SECONDS == 60
    both = [Finished("torch", 45, 45), Finished("onnx-fp32", 45, 45)]
    assert progress_line(both, ["onnx-fp32"] * 8, 90) == \
        "benchmarks: 2 of 10 done in 90 s; about 6.0 min left"
    three = [Finished("torch", 300, 300)] * 3
    assert progress_line(three, ["torch"], 900) == "benchmarks: 3 of 4 done in 15 min; about 5.0 min left"
    assert progress_line([Finished("torch", 30, 30)], ["torch"], 90) == \
        "benchmarks: 1 of 2 done in 90 s; about 90 s left"  # a minute of other tests beside its 30 s
    assert progress_line(both, ["torch"] * 8, 59) is None  # a quick session stays quiet
    assert progress_line(both * 5, [], 3600) is None  # nothing left to tell
    assert progress_line([], ["torch"] * 10, 3600) is None


def test_progress_counts_what_a_backend_does_once_for_the_backends_not_run_yet_only():
    """The H200's reference benchmarks (10 cells, a 100 s budget): after torch's first cell (a 16 s
    memory probe) and torch-compile's (its compile and a 35 s probe), the mean pace said 7.0 min with
    2.0 left. Now: the budget's 80 s left, and each of the three backends not run yet what the first
    cells spent outside timing (42.5 s on average); once every backend ran, the budget left."""
    later = ["onnx-fp32", "onnx-fp16", "onnx-int8", "torch", "torch-compile", "onnx-fp32", "onnx-fp16",
             "onnx-int8"]
    started = [Finished("torch", 27, 9), Finished("torch-compile", 78, 11)]
    assert progress_line(started, later, 105, budget_left=80) == \
        "benchmarks: 2 of 10 done in 105 s; about 3.5 min left"
    every = [*started, Finished("onnx-fp32", 25, 7.5), Finished("onnx-fp16", 20, 7.5),
             Finished("onnx-int8", 12, 7)]
    assert progress_line(every, later[3:], 162, budget_left=55) == \
        "benchmarks: 5 of 10 done in 2.7 min; about 55 s left"
    # a spent budget still leaves each cell its shortest timing so far (a cell's rounds have a floor)
    assert progress_line(every, later[3:], 162, budget_left=0) == \
        "benchmarks: 5 of 10 done in 2.7 min; about 35 s left"
    # a benchmark skipped in setup ran nothing: counted as done, not in the pace (nor as a backend run)
    assert progress_line(every, later[3:], 162, budget_left=0, skipped=1) == \
        "benchmarks: 6 of 11 done in 2.7 min; about 35 s left"
    assert progress_line([], later, 100, skipped=2) is None
    # later cells of a backend run so far count what the later ones spent outside timing (a median)
    after = [*every, Finished("torch", 12, 9), Finished("torch-compile", 14, 9)]
    assert progress_line(after, later[5:], 188, budget_left=40) == \
        "benchmarks: 7 of 10 done in 3.1 min; about 52 s left"  # 40 s + 3 x 4 s
