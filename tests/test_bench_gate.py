"""encoder_gate.speed through real benchmark sessions (benchmarks/) on the tiny model: sized cells, the
budget, both gates against a baseline, --benchmark-compare without a saved run; and the gates' noise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from encoder_gate.commands.layout import THIN_MODULES
from encoder_gate.documents import write_json
from encoder_gate.errors import GateError
from encoder_gate.plugin.benchmark_session import no_saved_run_line
from encoder_gate.speed import estimate as bench_estimate
from encoder_gate.speed.machine import hardware_fingerprint, session_providers
from encoder_gate.speed.outcome import finish_session
from encoder_gate.speed.results import case_id, results_from_json
from encoder_gate.speed.settings import (
    ENV_ALLOW_OTHER_MACHINE,
    ENV_ALPHA,
    ENV_BASELINE,
    ENV_CI,
    ENV_EXTRA_ROUNDS,
    ENV_MAX_DROP,
    ENV_ROUNDS,
    ENV_TEXTS,
    MAX_ROUNDS,
    BenchSettings,
)
from encoder_gate.speed.sizing import FILE_NAME as SIZES_FILE
from encoder_gate.studies.speed_noise import format_noise, speed_gate_noise
from test_bench import PEAKS, fake_benchmark_doc, medians

# --- the real benchmarks on the tiny model --------------------------------------------------


@pytest.fixture
def bench_project(pytester: pytest.Pytester, cache_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A pytester directory holding the thin benchmarks/ module `init` writes, and quick settings."""
    for rel, text in THIN_MODULES.items():
        if rel.startswith("benchmarks/"):
            (pytester.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (pytester.path / rel).write_text(text)
    monkeypatch.setenv(ENV_ROUNDS, "2")
    monkeypatch.setenv(ENV_TEXTS, "8")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in (ENV_BASELINE, ENV_ALPHA, ENV_EXTRA_ROUNDS, ENV_ALLOW_OTHER_MACHINE):
        monkeypatch.delenv(name, raising=False)
    return ["benchmarks", "--gate-model", "tiny", "--gate-cache-dir", str(cache_dir), "--gate-threads", "1",
            "--gate-report-dir", str(pytester.path / "report"), "-p", "no:cacheprovider"]


def test_more_threads_than_cores_are_said_before_anything_is_timed(pytester: pytest.Pytester, bench_project):
    """threads = 8 written for a bigger runner takes turns on a 2-core one: its figures measure the
    turns; the header says so, with the most this runner has."""
    from encoder_gate.speed.machine import usable_cores

    cores = usable_cores()
    args = list(bench_project)
    args[args.index("--gate-threads") + 1] = str(cores + 1)
    result = pytester.runpytest(*args, "--co")
    result.stdout.fnmatch_lines([f"encoder-gate: threads = {cores + 1} on {cores} cores: *set threads (or "
                                 f"--gate-threads) to at most {cores} on this runner"])
    assert "take turns" not in pytester.runpytest(*bench_project, "--co").stdout.str()


@pytest.mark.slow
def test_real_benchmarks_pass_and_record_extra_info(pytester: pytest.Pytester, bench_project, monkeypatch):
    # progress lines from the first benchmark on (a real session prints them after its first minute)
    monkeypatch.setattr(bench_estimate, "PROGRESS_AFTER_SECONDS", 0.0)
    # one batch size: the sweep's every mode, variant and dispatch at it (at two, its eight worker
    # processes took 47 s of the test's 70 s of CPU, AVX2-only EPYC)
    result = pytester.runpytest(*bench_project, "--gate-backends", "torch,onnx-fp32",
                                "--gate-batch-sizes", "4", "--gate-sweep", "full",
                                "--benchmark-json", "out.json")
    # 2 backends x (2 variants x 2 dispatches x 2 modes + a workers test at bs 4, a latency test of
    # each variant at bs 1)
    result.assert_outcomes(passed=22)
    result.stdout.fnmatch_lines(["*encoder-gate speedups over torch eager*",
                                 "model/normal/bs4/bucketed*x",
                                 "machine GEMM peaks (512x768 by 768x3072, one thread, the thread's CPU "
                                 "clock): FP32 torch *GFLOP/s, FP32 ONNX Runtime *",
                                 "*benchmark 'model normal bs=4'*"])
    told = r"\[encoder-gate\] benchmarks: (\d+) of 22 done in .+; about .+ left"
    progress = [m[1] for m in map(partial(re.fullmatch, told), result.stdout.lines) if m]
    assert progress == [str(n) for n in range(1, 22)]  # after each benchmark but the last
    doc = json.loads((pytester.path / "out.json").read_text())
    assert len(doc["benchmarks"]) == 22
    required = {"messages_per_s", "real_tokens_per_s", "padded_tokens_per_s", "padding_efficiency",
                "batch_size", "backend", "precision", "threads", "variant", "dispatch", "model",
                "model_size_bytes", "gflops_per_s", "versions"}
    for entry in doc["benchmarks"]:
        info = entry["extra_info"]
        assert required <= set(info), entry["name"]
        assert set(info["versions"]) >= {"torch", "onnxruntime", "transformers"}
        assert info["messages_per_s"] > 0 and 0 < info["padding_efficiency"] <= 1
        if info["mode"] == "latency":
            assert info["latency_p50_ms"] <= info["latency_p90_ms"] <= info["latency_p99_ms"]
        if info["mode"] == "model" and info["backend"] != "torch":  # paired with torch by default
            assert info["paired_speedup"] > 0 and len(info["paired_reference_seconds"]) == 2
        if info["mode"] == "workers":  # 2 processes, 8 texts at bs 4: each worker got a share
            assert info["workers"] == 2 and sum(info["worker_messages"]) == 8
            assert info["backend_peak_rss_mb"] > max(info["worker_baseline_rss_mb"])
        else:
            assert info["workers"] == 1
    speedups = json.loads((pytester.path / "report" / "speedups.json").read_text())
    assert set(speedups["speedups"]["model/filtered/bs4/ordered"]) == {"onnx-fp32"}
    assert speedups["machine_gemm_gflops"] > 0
    peaks = speedups["machine_peaks"]
    assert peaks["clock"] == "thread" and peaks["threads"] == 1
    assert min(peaks["fp32_torch_gflops"], peaks["fp32_onnxruntime_gflops"],
               peaks["int8_onnxruntime_gops"]) > 0
    # each backend's share is of its own library's peak at its number format
    assert speedups["best_gflops"]["onnx-fp32"]["peak_kind"] == "FP32 ONNX Runtime"
    assert speedups["best_gflops"]["torch"]["peak_kind"] == "FP32 torch"
    for best in speedups["best_gflops"].values():
        assert best["gemm_fraction"] == pytest.approx(best["padded_gflops_per_s"] / best["peak"])
    # the durations are recorded, and the next full sweep is told how long it will take
    records = bench_estimate.load(Path(bench_project[bench_project.index("--gate-cache-dir") + 1]))
    # (the cache is shared with other self-tests, whose backends' records sit beside these)
    timed = [r for key, rs in records.items() if "model=tiny|threads=1|rounds=2|texts=8" in key for r in rs
             if r["backend"] in {"torch", "onnx-fp32"}]
    assert {r["backend"] for r in timed} == {"torch", "onnx-fp32"} and len(timed) >= 22
    assert all(r["seconds"] > 0 for r in timed)
    again = pytester.runpytest(*bench_project, "--gate-backends", "torch,onnx-fp32",
                               "--gate-batch-sizes", "4", "--gate-sweep", "full",
                               "--collect-only")
    again.stdout.fnmatch_lines(["encoder-gate: full sweep: 22 benchmarks, expected to take about *"
                                "(all of them timed in an earlier session*"])


POOL_TEXTS = 24


def assert_saved_rounds_are_the_gates(saved: Path, speedups: Path) -> None:
    """pytest-benchmark's JSON holds the rounds the gate judged, on its clock: a paired cell's every
    backend round (pilot and extra rounds included: the count speedups.json gives, the fastest its
    extra_info's), torch eager's own cell its rounds, and the timer named is the thread's CPU clock."""
    judged = json.loads(speedups.read_text())["stats"]
    for bench in json.loads(saved.read_text())["benchmarks"]:
        info, stats = bench["extra_info"], bench["stats"]
        assert "thread_time" in bench["options"]["timer"], bench["options"]
        if info["backend"] == "torch":
            assert stats["rounds"] == int(os.environ[ENV_ROUNDS]), stats
            continue
        case = case_id(info["mode"], info["variant"], info["batch_size"], info["dispatch"])
        rounds = judged[case][info["backend"]]["rounds"]
        assert stats["rounds"] == len(info["paired_backend_seconds"]) == rounds
        assert stats["min"] == pytest.approx(min(info["paired_backend_seconds"]), rel=1e-12)
        assert stats["median"] == pytest.approx(float(np.median(info["paired_backend_seconds"])), rel=1e-12)


@pytest.mark.slow
def test_a_sized_cell_stops_at_its_ci_target_or_says_how_many_rounds_it_would_need(
        pytester: pytest.Pytester, bench_project, monkeypatch, tmp_path: Path, texts_file):
    """With ENCODER_GATE_BENCH_TEXTS unset a model-only cell's texts are sized by one pass of torch
    eager (kept in the cache for the next session), and its rounds run from the pilot until the
    speedup's CI half-width reaches ENCODER_GATE_BENCH_CI: a loose target stops after the pilot
    (and the one round pytest-benchmark times); one no spread can reach runs to MAX_ROUNDS and says
    how many rounds it would take.

    The pool is 24 texts (--gate-texts), so the sizing doubles 8 -> 16 -> all 24 and stops at the
    pool's end: on the whole test split it stopped at 0.5 s a pass, and MAX_ROUNDS rounds of two
    such arms took 40 s of the self-tests to show the same claim."""
    cache = tmp_path / "cache"
    texts = texts_file(tmp_path / "texts.txt", POOL_TEXTS)
    args = list(bench_project)
    args[args.index("--gate-cache-dir") + 1] = str(cache)  # a cache of its own: nothing sized yet
    args += ["--gate-backends", "torch,onnx-fp32", "--gate-batch-sizes", "8", "--benchmark-json", "out.json",
             f"--gate-texts={texts}", "-s"]
    monkeypatch.delenv(ENV_TEXTS)
    monkeypatch.setenv(ENV_ROUNDS, "6")
    monkeypatch.setenv(ENV_CI, "0.5")
    loose = pytester.runpytest(*args)
    loose.assert_outcomes(passed=2)
    loose.stdout.fnmatch_lines(["benchmark: *timer=time.perf_counter*",  # pytest-benchmark's default
                                "encoder-gate: its speed cells are timed in rounds of their own on the "
                                "thread's CPU time (time.thread_time; one intra-op thread); *"])
    case = "model/normal/bs8/bucketed"
    [kept] = json.loads((cache / SIZES_FILE).read_text()).values()
    loose.stdout.fnmatch_lines([f"*{case}: {kept[case]} texts a pass, sized so torch eager's pass takes "
                                "at most about 0.5 s (thread clock); kept for this model and machine"])
    info = next(b["extra_info"] for b in json.loads((pytester.path / "out.json").read_text())["benchmarks"]
                if b["extra_info"]["backend"] == "onnx-fp32")
    assert kept[case] in (8, 16, POOL_TEXTS)  # steps of batches, at most the pool
    assert info["paired_texts"] == kept[case] and info["paired_clock"] == "thread"
    assert info["paired_pilot_rounds"] == 6 and len(info["paired_log_ratios"]) == 7
    assert info["paired_ci_half_width"] <= 0.5 and "paired_rounds_needed" not in info
    assert_saved_rounds_are_the_gates(pytester.path / "out.json", pytester.path / "report" / "speedups.json")

    monkeypatch.setenv(ENV_CI, "0.0001")
    strict = pytester.runpytest(*args)
    strict.assert_outcomes(passed=2)
    assert "texts a pass, sized" not in strict.stdout.str()  # the kept count, not sized again
    info = next(b["extra_info"] for b in json.loads((pytester.path / "out.json").read_text())["benchmarks"]
                if b["extra_info"]["backend"] == "onnx-fp32")
    assert info["paired_texts"] == kept[case] and len(info["paired_log_ratios"]) == MAX_ROUNDS
    assert info["paired_rounds_needed"] > MAX_ROUNDS
    stats = json.loads((pytester.path / "report" / "speedups.json").read_text())["stats"][case]["onnx-fp32"]
    assert stats["rounds"] == MAX_ROUNDS and stats["rounds_needed"] == info["paired_rounds_needed"]
    assert_saved_rounds_are_the_gates(pytester.path / "out.json", pytester.path / "report" / "speedups.json")
    strict.stdout.fnmatch_lines([f"  onnx-fp32  {case}  *x  CI * {MAX_ROUNDS} rounds over {kept[case]} "
                                 "texts, thread clock, CI ±*% (target ±0.0% not reached: about * rounds "
                                 "would reach it)"])



@pytest.mark.slow
def test_a_cell_out_of_budget_says_so_with_the_rounds_it_would_need(pytester: pytest.Pytester, bench_project,
                                                                    monkeypatch):
    """--gate-budget: its plan is printed under "collected", before anything is timed; a cell whose
    share runs out before its CI target stops (after its pilot and the one round pytest-benchmark
    times), says so as it happens and in its line with the rounds the target would need, and the
    summary names it."""
    monkeypatch.setenv(ENV_ROUNDS, "6")
    monkeypatch.setenv(ENV_CI, "0.0001")  # out of reach: only the budget stops the cell
    result = pytester.runpytest(*bench_project, "--gate-backends", "torch,onnx-fp32",
                                "--gate-batch-sizes", "8", "--gate-budget", "0.02", "-s")
    result.assert_outcomes(passed=2)
    lines = result.stdout.lines
    plan = next(i for i, line in enumerate(lines)
                if "timing budget 0.02 s (--gate-budget) over 2 speed cells:" in line)
    told = next(i for i, line in enumerate(lines) if "onnx-fp32 model normal bs=8: its budget share" in line)
    assert plan < told and all("PASSED" not in line and "passed" not in line for line in lines[:plan])
    case = "model/normal/bs8/bucketed"
    stats = json.loads((pytester.path / "report" / "speedups.json").read_text())["stats"][case]["onnx-fp32"]
    assert stats["rounds"] == 7 and stats["budget_cut"] is True and stats["rounds_needed"] > MAX_ROUNDS
    result.stdout.fnmatch_lines([f"timing budget: * of 0.02 s spent over 2 of 2 speed cells; 1 stopped at "
                                 f"their share before their precision target (onnx-fp32 {case}): a larger "
                                 "--gate-budget would let them reach it",
                                 f"  onnx-fp32  {case}  *x  CI * 7 rounds over 8 texts, thread clock, CI ±*% "
                                 "(target ±0.0% not reached within its budget share of * s: about * rounds "
                                 "would reach it)"])


def pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pace the backends named in PACE_MS (`name=ms,...`, read at each build) for the in-process
    runs of the calling test: every batch is the real work, then busy until it took that many ms of
    this thread's CPU time in all. At one thread the thread's CPU clock decides, and a wall-clock
    deadline would give it less whenever a loaded machine takes the core away (a CI run measured a
    30% slower pace as 5%). The patch is the test's own monkeypatch, undone when the test ends."""
    import time

    from encoder_gate.runtime.session import GateSession

    build = GateSession.runner

    def runner(self, name):
        built = build(self, name)
        paces = dict(item.split("=") for item in os.environ["PACE_MS"].split(","))
        if name in paces and not getattr(built, "paced", False):
            predict, seconds = built.predict, float(paces[name]) / 1e3

            def paced(batch):
                start = time.thread_time()
                out = predict(batch)
                while time.thread_time() - start < seconds:
                    pass
                return out

            built.predict, built.paced = paced, True
        return built

    monkeypatch.setattr(GateSession, "runner", runner)


GATE_N = 25  # --benchmark-compare-fail=min:25%, as the README recommends
GATE_MAX_DROP = "0.15"  # ENCODER_GATE_SPEEDUP_MAX_DROP, as the README recommends


@pytest.mark.slow
def test_both_gates_pass_an_unchanged_tree_and_fail_a_30_percent_slower_backend(
        pytester: pytest.Pytester, bench_project, monkeypatch):
    """Three real runs through pytest-benchmark's compare and the speedup gate: a baseline, the
    unchanged tree (passes both), and onnx-fp32 made 30% slower (fails both).

    The backends are paced (each batch takes a fixed time: the real work, then idle), so
    the test checks the gates' machinery, not this machine's noise: how often the real
    default model's unchanged tree fails is measured separately (README, "false failures").
    """
    pace(monkeypatch)
    # pytest-benchmark times on the thread's CPU clock (--benchmark-timer), the clock the paces
    # are kept on: on its default wall clock a loaded CI run's baseline took 79 ms of a 75 ms pace,
    # so the 30% slower copy measured 24% slower by its min times, under its 25% threshold, and
    # the paces had to be 200-400 ms (each of the three runs 4 s of rounds). On the thread clock a
    # batch takes its pace whatever else runs; the paces stay above the real work (tiny's batch of
    # eight, 2 to 4 ms of a core; 100 and 50 ms until 2026-11-30, 9 s of this test's rounds)
    monkeypatch.setenv("PACE_MS", "torch=40,onnx-fp32=20")
    monkeypatch.setenv(ENV_ROUNDS, "7")
    monkeypatch.setenv(ENV_TEXTS, "8")  # one paced batch a round: 32 texts made each run 4x as long
    store = pytester.path / "store"
    args = [*bench_project, "--gate-backends", "torch,onnx-fp32", "--gate-batch-sizes", "8",
            "--gate-sweep", "full", "-k", "model_only and filtered and bucketed", "--benchmark-storage", f"file://{store}",
            "--benchmark-timer", "time.thread_time"]
    pytester.runpytest(*args, "--benchmark-autosave").assert_outcomes(passed=2)
    baseline = pytester.path / "baseline.json"
    shutil.copy(pytester.path / "report" / "speedups.json", baseline)

    monkeypatch.setenv(ENV_BASELINE, str(baseline))
    monkeypatch.setenv(ENV_MAX_DROP, GATE_MAX_DROP)
    gate = [*args, "--benchmark-compare=0001", f"--benchmark-compare-fail=min:{GATE_N}%"]
    unchanged = pytester.runpytest(*gate)
    assert unchanged.ret == pytest.ExitCode.OK, unchanged.stdout.str()[-3000:]
    unchanged.stdout.fnmatch_lines(["speedup gate passed against*"])

    monkeypatch.setenv("PACE_MS", "torch=40,onnx-fp32=26")  # onnx-fp32 30% slower
    slowed = pytester.runpytest(*gate)
    assert slowed.ret != pytest.ExitCode.OK
    out = slowed.stdout.str() + slowed.stderr.str()
    assert "SPEEDUP GATE FAILED against" in out and "  onnx-fp32 model/filtered/bs8/bucketed: speedup" in out
    # pytest-benchmark's regressions end in the verdict, which names the cell, not in a traceback
    assert "Traceback" not in out and "PerformanceRegression" not in out
    slowed.stdout.fnmatch_lines(["pytest-benchmark's --benchmark-compare-fail found * regression(s) in the "
                                 "absolute times (each fails its backend):",
                                 "  *test_model_only[bs8-onnx-fp32-filtered-bucketed]*",
                                 "*encoder-gate verdict: FAIL*"])
    verdict = json.loads((pytester.path / "report" / "verdict.json").read_text())
    [onnx] = [b for b in verdict["backends"] if b["name"] == "onnx-fp32"]
    regressed = [r["text"] for r in onnx["reasons"] if "--benchmark-compare-fail" in r["text"]]
    assert regressed and all("test_model_only[bs8-onnx-fp32-filtered-bucketed]" in r for r in regressed)
    assert not any("torch-filtered" in r["text"] for r in verdict["failures"])  # only the slowed backend

    # twice the texts a round (walk AD): the save's absolute times and the baseline's speedups are of
    # other work, so neither is judged against, and a gate that compared nothing fails
    monkeypatch.setenv("PACE_MS", "torch=40,onnx-fp32=20")
    monkeypatch.setenv(ENV_TEXTS, "16")
    other = pytester.runpytest(*gate)
    assert other.ret != pytest.ExitCode.OK
    other.stdout.fnmatch_lines(["*pytest-benchmark's --benchmark-compare-fail compared *"
                                "test_model_only[bs8-torch-filtered-bucketed]*but this run timed other texts "
                                "than the save's (texts 16 now, 8 in the save): another figure, not judged",
                                "*timed on other work than the baseline's, so not compared*"
                                "(texts 16 now, 8 in the baseline)*",
                                f"SPEEDUP GATE FAILED: nothing was compared against {baseline}"])
    failed = json.loads((pytester.path / "report" / "verdict.json").read_text())["failures"]
    assert not any("--benchmark-compare-fail" in r["text"] for r in failed)


@pytest.mark.slow
def test_a_borderline_case_runs_extra_paired_rounds_and_the_test_then_decides(
        pytester: pytest.Pytester, bench_project, monkeypatch):
    """3 rounds against a 3-round baseline cannot reach p < 0.05, so a 30% slower onnx-fp32 is
    borderline: with ENCODER_GATE_BENCH_EXTRA_ROUNDS=4 it runs 4 more paired rounds, and the
    Mann-Whitney test (3 vs 7 rounds) fails it. Paced backends, as in the test below (the
    speed gate's paired rounds are on the thread's CPU clock, which the paces are kept on)."""
    pace(monkeypatch)
    monkeypatch.setenv("PACE_MS", "torch=40,onnx-fp32=20")
    monkeypatch.setenv(ENV_ROUNDS, "3")
    monkeypatch.setenv(ENV_TEXTS, "8")  # one paced batch a round, paced twice as long as four were
    args = [*bench_project, "--gate-backends", "torch,onnx-fp32", "--gate-batch-sizes", "8"]
    pytester.runpytest(*args).assert_outcomes(passed=2)
    baseline = pytester.path / "baseline.json"
    shutil.copy(pytester.path / "report" / "speedups.json", baseline)
    saved = json.loads(baseline.read_text())
    assert saved["stats"]["model/normal/bs8/bucketed"]["onnx-fp32"]["rounds"] == 3
    assert saved["fingerprint"]["threads"] == 1

    monkeypatch.setenv(ENV_BASELINE, str(baseline))
    monkeypatch.delenv(ENV_MAX_DROP)  # the rule's own default (paced: no noise fails it)
    monkeypatch.setenv(ENV_EXTRA_ROUNDS, "4")
    monkeypatch.setenv("PACE_MS", "torch=40,onnx-fp32=26")  # onnx-fp32 30% slower
    slowed = pytester.runpytest(*args, "--benchmark-json", "out.json")
    assert slowed.ret == pytest.ExitCode.TESTS_FAILED, slowed.stdout.str()[-3000:]
    info = next(b["extra_info"] for b in json.loads((pytester.path / "out.json").read_text())["benchmarks"]
                if b["extra_info"]["backend"] == "onnx-fp32")
    assert info["paired_extra_rounds"] == 4 and len(info["paired_log_ratios"]) == 7
    assert len(info["paired_reference_seconds"]) == len(info["paired_backend_seconds"]) == 7
    assert info["fingerprint"] == saved["fingerprint"]
    gate = json.loads((pytester.path / "report" / "speedups.json").read_text())["gate"]
    compared = gate["compared"]["model/normal/bs8/bucketed"]["onnx-fp32"]
    assert compared["rule"] == "test" and compared["rounds"] == [3, 7]
    assert compared["p_value"] == pytest.approx(1 / 120)  # every baseline round above every current one
    slowed.stdout.fnmatch_lines(["SPEEDUP GATE FAILED against*",
                                 "  onnx-fp32 model/normal/bs8/bucketed: speedup over torch eager*p=0.0083)"])


def test_a_speed_baseline_from_another_machine_is_refused_before_benchmarking(
        pytester: pytest.Pytester, bench_project, monkeypatch):
    """The fingerprint check runs once the benchmarks are collected: a usage error naming the
    fields that differ, and no benchmark runs."""
    here = hardware_fingerprint(1, session_providers("cpu"))
    other = {**here, "cpu_model": "Some Other CPU", "threads": 4}
    baseline = write_json(pytester.path / "baseline.json",
                                {"speedups": {"model/normal/bs8/bucketed": {"onnx-fp32": 2.0}},
                                 "fingerprint": other})
    monkeypatch.setenv(ENV_BASELINE, str(baseline))
    result = pytester.runpytest(*bench_project, "--gate-backends", "torch,onnx-fp32",
                                "--gate-batch-sizes", "8")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"encoder-gate: the speed baseline {baseline} was measured on a different machine" in err
    assert "(cpu_model, threads differ: cpu_model: " in err and "'Some Other CPU' in the baseline" in err
    assert f"set {ENV_ALLOW_OTHER_MACHINE}=1 to compare anyway" in err
    assert "passed" not in result.stdout.str()


# --- --benchmark-compare without a saved run ----------------------------------------------------

NOTHING_COMPARED = "nothing was compared (save one on the base with --benchmark-autosave)"


def test_the_no_saved_run_line_is_written_only_when_compare_found_nothing():
    """One line when --benchmark-compare (latest or a given run) found no save; none when it was not
    asked for, found one, or pytest-benchmark is off; with --gate-speedup-baseline it names that file."""
    def bench(compare, mapping=None):
        return SimpleNamespace(compare=compare, compared_mapping=mapping, storage="/repo/.benchmarks")

    assert no_saved_run_line(bench(True, {}), None) == (
        f"encoder-gate: --benchmark-compare found no saved run in /repo/.benchmarks: {NOTHING_COMPARED}")
    assert no_saved_run_line(bench("0007", {}), None) == (
        f"encoder-gate: --benchmark-compare found no saved run matching '0007' in /repo/.benchmarks: "
        f"{NOTHING_COMPARED}")
    assert no_saved_run_line(bench(True, {}), Path("base/speedups.json")) == (
        "encoder-gate: --benchmark-compare found no saved run in /repo/.benchmarks: pytest-benchmark "
        "compared nothing (the speed gate used base/speedups.json)")
    gate = fake_benchmark_doc(medians())["benchmarks"][0]
    assert no_saved_run_line(bench(True, {"Linux/0001_abc.json": {gate["fullname"]: gate}}), None) is None
    # the newest save was the project's own benchmarks': nothing of the gate's compared, not a word said
    theirs = {"Linux/0002_def.json": {"tests/test_perf.py::test_parse": {"stats": {"min": 1.0}}}}
    assert no_saved_run_line(bench(True, theirs), None) == (
        "encoder-gate: --benchmark-compare compared with Linux/0002_def.json, which holds none of "
        "encoder-gate's benchmarks (another test suite's save?; name the gate's with "
        f"--benchmark-compare=NNNN): {NOTHING_COMPARED}")
    assert no_saved_run_line(bench([], {}), None) is None  # pytest-benchmark's default: not asked
    assert no_saved_run_line(None, None) is None  # -p no:benchmark


@pytest.mark.slow
# pytest-benchmark's own "Can't compare. No benchmark files" warning, what this test provokes: the
# in-process run issues it at its configuration, where the outer run's filters would show it
@pytest.mark.filterwarnings("ignore:Can't compare:pytest_benchmark.logger.PytestBenchmarkWarning")
def test_benchmark_compare_without_a_saved_run_says_so_in_the_summary(pytester: pytest.Pytester,
                                                                       bench_project):
    """--benchmark-compare on an empty storage, in a run that saves none, would compare nothing and
    pass: a usage error before any cell is timed (it passed; with --benchmark-compare-fail,
    pytest-benchmark's traceback after the timing). The first save of a base (--benchmark-autosave)
    passes, --benchmark-compare-fail disarmed, its summary saying in one line that nothing was
    compared; once a run is saved there, the next --benchmark-compare has no such line."""
    store = pytester.path / "store"
    args = [*bench_project, "--gate-backends", "torch,onnx-fp32", "--gate-batch-sizes", "1",
            f"--benchmark-storage=file://{store}", "--benchmark-compare"]
    refused = pytester.runpytest(*args, "--benchmark-compare-fail=min:25%")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR, refused.stdout.str()[-2000:]
    refused.stderr.fnmatch_lines(["ERROR: encoder-gate: --benchmark-compare found no saved run in *, and "
                                  "this run saves none: the speed gate would compare nothing and pass.*"])
    assert "Traceback" not in refused.stdout.str() + refused.stderr.str()
    first = pytester.runpytest(*args, "--benchmark-autosave", "--benchmark-compare-fail=min:25%")
    first.assert_outcomes(passed=2)
    line = f"encoder-gate: --benchmark-compare found no saved run in {store.resolve()}: {NOTHING_COMPARED}"
    assert first.stdout.lines.count(line) == 1, first.stdout.str()[-3000:]
    assert len(list(store.rglob("0001_*.json"))) == 1
    second = pytester.runpytest(*args)
    second.assert_outcomes(passed=2)
    assert "found no saved run" not in second.stdout.str()


# --- gate noise -----------------------------------------------------------------------------


def test_gate_noise_counts_false_failures_and_detections():
    """Three unchanged runs within 5% of each other, one with onnx-int8 18% slower: at 10%
    the compare gate fails exactly the pairs that involve that run; a 30% slowdown is caught."""
    docs = [fake_benchmark_doc(medians({"onnx-int8": f})) for f in (1.0, 1.05, 1.18)]
    rows = {(r.gate, r.setting): r for r in speed_gate_noise(docs, stat="median", percents=(10, 40),
                                                             drops=(0.1, 0.4))}
    strict, loose = rows[("compare", "median:10%")], rows[("compare", "median:40%")]
    assert strict.pairs == 6 and strict.false_failures == 2  # (0 -> 2) and (1 -> 2) grew by > 10%
    assert loose.false_failures == 0
    assert strict.simulated == 6 * 4 and strict.detection_rate == 1.0  # 2 backends x 2 sizes per pair
    # at 40%, 30% slower is caught only on top of the 18%-slower run's int8 (vs runs 0 and 1, 2 sizes)
    assert loose.caught == 4
    assert rows[("speedup", "max drop 10%")].false_failures == 2
    assert rows[("speedup", "max drop 40%")].false_failures == 0
    lines = format_noise(list(rows.values()), 3, 1.3)
    assert "| compare | median:10% | 2/6 (33%) | 24/24 (100%) |" in lines
    with pytest.raises(GateError, match="at least two saved runs"):
        speed_gate_noise(docs[:1])


def test_noise_command_reads_a_directory_of_saves(tmp_path, capsys):
    from encoder_gate.commands.cli import main

    for n, f in enumerate((1.0, 1.02, 0.99), start=1):
        (tmp_path / f"000{n}_run.json").write_text(json.dumps(fake_benchmark_doc(medians({"onnx-fp32": f}))))
    assert main(["noise", "--benchmarks", str(tmp_path), "--stat", "median"]) == 0
    out = capsys.readouterr().out
    assert "3 unchanged runs, 6 (baseline, current) pairs" in out
    assert "| compare | median:10% | 0/6 (0%) |" in out
    assert main(["noise", "--benchmarks", str(tmp_path), "--slowdown", "0.9"]) == 1


@pytest.mark.slow
@pytest.mark.filterwarnings(
    "ignore:Benchmark machine_info is different:pytest_benchmark.logger.PytestBenchmarkWarning")
def test_a_compare_against_a_save_from_another_cpu_class_fails_saying_what_differs(
        pytester: pytest.Pytester, bench_project, monkeypatch):
    """Every save's machine_info carries the gate's CPU class (model, ISA flags, integer path); a
    --benchmark-compare against a save whose CPU class differs fails the gate through the verdict,
    naming the fields (pytest-benchmark alone warns and compares), unless told to compare anyway."""
    store = pytester.path / "store"
    args = [*bench_project, "--gate-backends", "torch,onnx-fp32", "--gate-batch-sizes", "8",
            "-k", "model_only", "--benchmark-storage", f"file://{store}"]
    pytester.runpytest(*args, "--benchmark-autosave").assert_outcomes(passed=2)
    [saved] = store.rglob("0001_*.json")
    doc = json.loads(saved.read_text())
    mine = doc["machine_info"]["encoder_gate"]
    assert set(mine) >= {"cpu_model", "isa", "integer_path"}
    assert mine["integer_path"] in ("exact", "saturating")
    other = "exact" if mine["integer_path"] == "saturating" else "saturating"
    doc["machine_info"]["encoder_gate"] = {**mine, "integer_path": other}
    saved.write_text(json.dumps(doc))
    result = pytester.runpytest(*args, "--benchmark-compare=0001")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "speedup gate passed" not in result.stdout.str()  # nothing is judged against that save
    decided = json.loads((pytester.path / "report" / "verdict.json").read_text())
    [finding] = [f for f in decided["findings"] if f["kind"] == "gate"]
    assert "another CPU class" in finding["reason"]
    assert f"integer_path: '{mine['integer_path']}' now, '{other}' in the save" in finding["reason"]
    # told to compare anyway, it compares: judged on speed, never refused for the CPU class. Whether
    # that comparison passes is the two runs' noise (a few rounds of tiny each, under load in CI:
    # onnx-fp32's speedup once fell more than the 15% allowed), so either verdict on speed will do
    monkeypatch.setenv(ENV_ALLOW_OTHER_MACHINE, "1")
    told = pytester.runpytest(*args, "--benchmark-compare=0001")
    out = told.stdout.str()
    assert saved.name in out and ("speedup gate passed against" in out or (
        told.ret == pytest.ExitCode.TESTS_FAILED and "SPEEDUP GATE FAILED against" in out)), out[-3000:]
    decided = json.loads((pytester.path / "report" / "verdict.json").read_text())
    assert not [f for f in decided["findings"] if "another CPU class" in f.get("reason", "")]


def test_a_baseline_cell_that_timed_other_texts_is_not_compared_and_says_so(tmp_path):
    """Walk AD: a run with ENCODER_GATE_BENCH_TEXTS=32 passed against a baseline of 200 texts (and the
    reverse failed), comparing speedups over other work without a word. A cell whose texts differ
    is left out and named; a baseline none of whose cells timed this run's work compares nothing,
    which fails."""
    import math

    doc = fake_benchmark_doc(medians())
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        if info["backend"] != "torch":
            info.update(paired_log_ratios=[math.log(2.0)] * 7, paired_texts=64)
    results = results_from_json(doc)
    first = finish_session(results, BenchSettings(), tmp_path / "a", {"name": "tiny"}, PEAKS)
    saved = json.loads(first.path.read_text())
    case = "model/normal/bs8/bucketed"
    saved["stats"][case]["onnx-int8"]["texts"] = 200
    one = write_json(tmp_path / "one.json", saved)
    outcome = finish_session(results, BenchSettings(baseline=one), tmp_path / "b", {"name": "tiny"}, PEAKS)
    compared = {(c.case, c.backend) for c in outcome.comparisons}
    assert (case, "onnx-int8") not in compared and (case, "onnx-fp32") in compared
    assert (f"1 cell(s) timed on other work than the baseline's, so not compared (a speedup over other texts "
            f"is another figure): onnx-int8 {case} (texts 64 now, 200 in the baseline)") in outcome.warnings
    for row in saved["stats"].values():
        for entry in row.values():
            entry["texts"] = 32
    every = write_json(tmp_path / "every.json", saved)
    nothing = finish_session(results, BenchSettings(baseline=every), tmp_path / "c", {"name": "tiny"}, PEAKS)
    assert not nothing.comparisons
    assert (f"SPEEDUP GATE FAILED: nothing was compared against {every}", "red") in nothing.lines()


def test_a_baseline_says_how_many_texts_each_case_timed():
    """A session compared with a baseline times each case's texts as it did (review: a fresh cache
    sized other counts, and every cell was then not compared)."""
    from encoder_gate.speed.baseline import Baseline

    doc = {"stats": {"model/normal/bs8/bucketed": {"onnx-fp32": {"texts": 64}, "onnx-int8": {"texts": 64}},
                     "model/normal/bs1/bucketed": {"onnx-fp32": {"texts": 32}, "onnx-int8": {"texts": 16}},
                     "model/short/bs8/bucketed": {"onnx-fp32": {"speedup": 2.0}}}}
    found = Baseline(doc, "base.json")
    assert found.texts_of("model/normal/bs8/bucketed") == 64
    assert found.texts_of("model/normal/bs1/bucketed") is None  # two counts: none to follow
    assert found.texts_of("model/short/bs8/bucketed") is None and found.texts_of("nowhere") is None
    case = "model/normal/bs8/bucketed"
    for stats in ([1], {case: [1]}, {case: {"x": {"texts": 0}}}):
        assert Baseline({"stats": stats}, "bad.json").texts_of("model/normal/bs8/bucketed") is None
    # whose count a session follows: this machine's on another library stack (a PR's requirements
    # against its base's) as well as this one's; another machine's is sized there, by time, instead
    stack = ("onnxruntime: '1.32.0' now, '1.21.0' in the baseline",
             "versions.transformers: '5.24.0' now, '4.47.0' in the baseline", "execution_providers: [] now")
    assert not Baseline(doc, "base.json", stack).other_machine
    for machine in ("cpu_model: 'AMD EPYC' now, 'Intel Xeon' in the baseline", "isa.avx512_vnni: True now",
                    "threads: 1 now, 2 in the baseline"):
        assert Baseline(doc, "base.json", (*stack, machine)).other_machine


def test_pytest_benchmarks_options_of_its_own_rounds_are_said_not_to_apply(pytester: pytest.Pytester,
                                                                           bench_project):
    """--benchmark-min-rounds=50 ran the cells' 7 rounds without a word, the header denying the timer
    the user had set (a user's walk, 2026-11-29): the options of pytest-benchmark's calibrated rounds,
    which the suite's pedantic rounds do not read, are named where they are given."""
    args = [*bench_project, "--gate-backends", "torch", "--gate-batch-sizes", "1", "--collect-only"]
    said = pytester.runpytest(*args, "--benchmark-min-rounds=50", "--benchmark-warmup=on")
    said.stdout.fnmatch_lines(["encoder-gate: --benchmark-min-rounds, --benchmark-warmup apply to "
                               "pytest-benchmark's calibrated rounds, which the gate's benchmarks do not*"])
    assert "calibrated rounds" not in pytester.runpytest(*args).stdout.str()


def test_speed_cells_without_pytest_benchmark_are_one_line(pytester: pytest.Pytester, bench_project):
    """`pytest benchmarks -p no:benchmark`: each cell errored with pytest's "fixture 'benchmark' not
    found" and its list of fixtures (a user's walk, 2026-11-29): one usage error before anything runs."""
    result = pytester.runpytest(*bench_project, "--gate-backends", "torch", "--gate-batch-sizes", "1",
                                "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(["ERROR: encoder-gate: the speed cells time with pytest-benchmark, which "
                                 "this session does not load (-p no:benchmark)*"])
