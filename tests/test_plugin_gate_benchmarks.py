"""The plugin's benchmark sessions, black-box with pytester on the tiny model (in-process, as in
test_plugin_gate.py): the benchmark sweep, the speedup baseline of --benchmark-compare, sessions
of accuracy and benchmarks that are never joined, and a pruned cache."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from encoder_gate.speed import estimate as bench_estimate
from encoder_gate.speed.settings import ENV_CI, ENV_PAIRED, ENV_ROUNDS, ENV_TEXTS, settings_from_env
from test_plugin_gate import BENCHMARKS, CHECKS, gate_options, gate_project


@pytest.fixture
def gate_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return gate_project(pytester, monkeypatch)


@pytest.fixture
def report_dir(gate_dir: pytest.Pytester) -> Path:
    return gate_dir.path / "report"


@pytest.fixture
def gate_args(cache_dir: Path, report_dir: Path) -> list[str]:
    return gate_options(cache_dir, report_dir)


# --- the gate sweep -------------------------------------------------------------------------------


def test_gate_sweep_selects_model_only_normal_bucketed(gate_dir: pytest.Pytester, gate_args: list[str],
                                                       tmp_path: Path):
    """By default only test_model_only[...-normal-bucketed] runs, per backend and batch size; no model
    is resolved to collect."""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    args = [a for a in gate_args if not a.startswith("--gate-cache-dir")]
    empty_cache = tmp_path / "cache"
    result = gate_dir.runpytest("--collect-only", "-q", "--gate-backends=torch,onnx-fp32",
                                "--gate-batch-sizes=1,8", f"--gate-cache-dir={empty_cache}", *args)
    assert result.ret == pytest.ExitCode.OK
    collected = sorted(line.split("::", 1)[1] for line in result.stdout.lines if "::test_" in line)
    assert collected == sorted(f"test_model_only[bs{b}-{backend}-normal-bucketed]"
                               for b in (1, 8) for backend in ("torch", "onnx-fp32"))
    summary = re.search(r"^4/(\d+) tests collected \((\d+) deselected\)", result.stdout.str(), re.M)
    assert summary, result.stdout.str()
    total, deselected = map(int, summary.groups())
    assert deselected == total - 4 and deselected >= 4 * 3  # at least the other model-only cases
    result.stdout.fnmatch_lines([f"gate sweep (model-only, normal, bucketed, batch sizes 1,8): deselected "
                                 f"{deselected} other benchmarks*--gate-sweep full runs them*"])
    assert not empty_cache.exists()


def test_full_sweep_selects_every_benchmark(gate_dir: pytest.Pytester, gate_args: list[str]):
    """--gate-sweep full keeps all four benchmark functions, deselecting nothing."""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    result = gate_dir.runpytest("--collect-only", "-q", "--gate-sweep=full",
                                "--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1,8",
                                *gate_args)
    assert result.ret == pytest.ExitCode.OK
    ids = [line.split("::", 1)[1] for line in result.stdout.lines if "::test_" in line]
    assert {i.split("[", 1)[0] for i in ids} == {"test_model_only", "test_end_to_end", "test_latency_batch1",
                                                 "test_workers"}
    for variant, dispatch in itertools.product(("normal", "filtered"), ("ordered", "bucketed")):
        assert f"test_model_only[bs8-onnx-fp32-{variant}-{dispatch}]" in ids
    result.stdout.fnmatch_lines([f"full sweep: {len(ids)} benchmarks, batch sizes 1,8*",
                                 f"{len(ids)} tests collected in*"])
    assert "deselected" not in result.stdout.str()


def test_full_sweep_prints_its_expected_duration_before_it_starts(gate_dir: pytest.Pytester,
                                                                 gate_args: list[str], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    """With the gate sweep's durations on record, the full sweep is told how long it will take: its
    model-only cases of the same backend and batch size stand in for the cases never timed."""
    for name in (ENV_ROUNDS, ENV_TEXTS, ENV_PAIRED):
        monkeypatch.delenv(name, raising=False)
    defaults = settings_from_env({})
    key = bench_estimate.history_key("tiny", 1, defaults.rounds, defaults.texts, defaults.paired,
                                     settings_from_env({ENV_CI: "0"}).ci_target)
    durations = gate_dir.path / "durations"
    bench_estimate.record(durations, key, {
        bench_estimate.Case(f"test_model_only[bs{b}-{backend}-normal-bucketed]", "test_model_only",
                            backend, b): 30.0
        for b in (1, 8) for backend in ("torch", "onnx-fp32")})
    args = [a for a in gate_args if not a.startswith("--gate-cache-dir")]
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    gate = gate_dir.runpytest("--collect-only", "-q", "--gate-backends=torch,onnx-fp32",
                              "--gate-batch-sizes=1,8", f"--gate-cache-dir={durations}", *args)
    gate.stdout.fnmatch_lines(["encoder-gate: gate sweep: 4 benchmarks, expected to take about 2.0 min "
                               "(all of them timed in an earlier session*"])
    full = gate_dir.runpytest("--collect-only", "-q", "--gate-sweep=full",
                              "--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1,8",
                              f"--gate-cache-dir={durations}", *args)
    n = sum("::test_" in line for line in full.stdout.lines)
    full.stdout.fnmatch_lines([f"encoder-gate: full sweep: {n} benchmarks, expected to take about "
                               f"{n * 30 / 60:.0f} min (4 of them timed in an earlier session, the other "
                               f"{n - 4} estimated from those of the same backend*"])
    fresh = gate_dir.runpytest("--collect-only", "-q", "--gate-sweep=full",
                               "--gate-backends=torch", f"--gate-cache-dir={tmp_path / 'empty'}",
                               *args)
    fresh.stdout.fnmatch_lines(["encoder-gate: full sweep: * benchmarks; no earlier session of this model "
                                "and settings is recorded, so no expected duration from one yet; its 8 "
                                "speed cells time 6 paired rounds of 0.25 to 1 s each: between about 12 s "
                                "and 48 s of timing*"])  # tests/conftest.py: ENCODER_GATE_BENCH_CI=0


def test_unknown_sweep_is_a_usage_error(gate_dir: pytest.Pytester, gate_args: list[str]):
    """--gate-sweep bogus stops the run with the allowed values."""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    result = gate_dir.runpytest("--collect-only", "--gate-sweep=bogus", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*encoder-gate: sweep must be one of gate, full, got 'bogus' "
                                 "(--gate-sweep)*"])


# --- the speedup baseline of --benchmark-compare ---------------------------------------------


@pytest.mark.stack  # pytest-benchmark's own options and xdist handling differ between releases
def test_benchmark_compare_gates_speedups_against_the_compared_save(
        gate_dir: pytest.Pytester, gate_args: list[str], report_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Under --benchmark-compare the speedups of the compared save are the baseline of the speed gate."""
    monkeypatch.setenv("ENCODER_GATE_BENCH_ROUNDS", "2")
    monkeypatch.setenv("ENCODER_GATE_BENCH_TEXTS", "8")
    monkeypatch.delenv("ENCODER_GATE_SPEEDUP_BASELINE", raising=False)
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    storage = gate_dir.path / "benchmarks"
    args = ["--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1",
            f"--benchmark-storage=file://{storage}", *gate_args]

    first = gate_dir.runpytest("--benchmark-autosave", *args)
    first.assert_outcomes(passed=2)
    assert "speedup gate" not in first.stdout.str()
    assert "gate" not in json.loads((report_dir / "speedups.json").read_text())
    saves = sorted(storage.rglob("0001_*.json"))
    assert len(saves) == 1

    second = gate_dir.runpytest("--benchmark-compare", "--benchmark-compare-fail=min:1", *args)
    second.assert_outcomes(passed=2)
    assert second.ret == pytest.ExitCode.OK
    second.stdout.fnmatch_lines([f"speedup gate passed against *{saves[0].name} (max drop 99%)"])
    doc = json.loads((report_dir / "speedups.json").read_text())
    gate = doc["gate"]
    assert gate["baseline"].endswith(saves[0].name) and "passed" not in gate  # decided in the verdict
    assert gate["max_drop"] == 0.99 and gate["failures"] == []
    assert set(gate["compared"]["model/normal/bs1/bucketed"]) == {"onnx-fp32"}
    assert doc["compare"] == {"regressions": []}
    verdict = (report_dir / "verdict.md").read_text()
    assert verdict.startswith("## encoder-gate: PASS")
    assert f"against `{gate['baseline']}`" in verdict
    assert "| onnx-fp32 | pass (speed only) |" in verdict and "(base " in verdict


@pytest.mark.slow
def test_untimed_benchmarks_fail_a_speed_gate_that_was_asked_for(gate_dir: pytest.Pytester,
                                                                 gate_args: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch):
    """pytest-benchmark times nothing under the user's --benchmark-disable (a smoke run): without
    a baseline the summary says so (and that --benchmark-autosave saved nothing) and the run passes;
    with one, the speed gate checked nothing and fails. Its estimate says the benchmarks run once
    untimed, and its durations (of one untimed call each) are not recorded as the next timed
    session's estimate."""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    args = ["--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1", "--benchmark-disable", *gate_args]
    from encoder_gate.speed import estimate

    recorded: list[object] = []  # the cache is shared with sessions running beside: watch the call
    monkeypatch.setattr(estimate, "record", lambda *a, **k: recorded.append(a))
    plain = gate_dir.runpytest(*args, "--benchmark-autosave")  # a save asked for: none is made, and said
    plain.assert_outcomes(passed=2)
    plain.stdout.fnmatch_lines(["*pytest-benchmark timed nothing: its timing is off (--benchmark-disable)*"
                                "(and nothing was saved: pytest-benchmark saves timed runs only*"])
    assert not list(gate_dir.path.glob(".benchmarks/**/*.json"))
    plain.stdout.fnmatch_lines(["*benchmarks, each run once untimed (pytest-benchmark's timing is off)*"])
    assert recorded == []
    baseline = gate_dir.path / "speedups.json"
    baseline.write_text(json.dumps({"speedups": {"model/normal/bs1/bucketed": {"onnx-fp32": 2.0}}}))
    gated = gate_dir.runpytest(*args, f"--gate-speedup-baseline={baseline}",
                               "--gate-allow-other-machine")
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    gated.stdout.fnmatch_lines(["*encoder-gate: the speed gate checked nothing: "
                                "pytest-benchmark timed nothing*"])


@pytest.mark.stack  # pytest-benchmark's own options and xdist handling differ between releases
# pytest-benchmark's "automatically disabled because xdist plugin is active", what this test provokes
@pytest.mark.filterwarnings(
    "ignore:Benchmarks are automatically disabled:pytest_benchmark.logger.PytestBenchmarkWarning")
def test_benchmarks_untimed_under_a_dist_from_addopts_fail_as_a_gate_that_checked_nothing(
        gate_dir: pytest.Pytester, gate_args: list[str], monkeypatch: pytest.MonkeyPatch):
    """Any --dist turns pytest-benchmark's timing off, -n or not: a `--dist worksteal` in the
    project's addopts (this repository's own, for two CI landings) made `pytest benchmarks` time
    nothing and pass. Without --benchmark-disable asked for, that fails, naming the cause; under
    -n too, where the controller that sets the exit status runs no benchmark itself."""
    monkeypatch.setenv("ENCODER_GATE_BENCH_ROUNDS", "2")
    monkeypatch.setenv("ENCODER_GATE_BENCH_TEXTS", "8")
    gate_dir.makepyprojecttoml('[tool.pytest.ini_options]\naddopts = ["--dist", "worksteal"]\n')
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    result = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1",
                                *gate_args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*encoder-gate: the speed gate checked nothing: pytest-benchmark timed "
                                 "nothing: pytest-xdist is active (--dist worksteal, without -n: from "
                                 "addopts?)*run the benchmarks without -n and without --dist (`--dist no` "
                                 "overrides one in addopts)*"])
    timed = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1",
                               "--dist", "no", *gate_args)  # as the message says
    assert timed.ret == pytest.ExitCode.OK, timed.stdout.str()[-2000:]
    assert (gate_dir.path / "report" / "speedups.json").is_file()
    # with workers (-n): the controller runs no benchmark itself, and had exited 0 beside a verdict.md
    # that said FAIL; it learns from its workers' reports that benchmarks ran untimed
    workers = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=1",
                                 "-n", "1", *gate_args)
    assert workers.ret == pytest.ExitCode.TESTS_FAILED, workers.stdout.str()[-2000:]
    workers.stdout.fnmatch_lines(["*encoder-gate: the speed gate checked nothing: pytest-benchmark timed "
                                  "nothing: pytest-xdist is active (--dist worksteal)*"])


def test_missing_speedup_baseline_is_a_usage_error(gate_dir: pytest.Pytester, gate_args: list[str]):
    """--gate-speedup-baseline naming a missing file stops the run, naming the file."""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    result = gate_dir.runpytest("--collect-only", "--gate-speedup-baseline=missing.json",
                                *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*encoder-gate: speedup baseline missing.json is not a file*"])
    # a torch-only shard's speedups.json: no speedup in it, said as "another machine" (its providers)
    (gate_dir.path / "shard1.json").write_text(json.dumps({"speedups": {}, "machine": {}}))
    empty = gate_dir.runpytest("--collect-only", "--gate-speedup-baseline=shard1.json", *gate_args)
    assert empty.ret == pytest.ExitCode.USAGE_ERROR
    empty.stderr.fnmatch_lines(["*the speedup baseline shard1.json holds no speedup (a shard whose share was "
                                "torch alone*"])
    # --benchmark-compare-fail alone: pytest-benchmark refused it at the end, every cell timed
    alone = gate_dir.runpytest("--collect-only", "--benchmark-compare-fail=min:5%", *gate_args)
    assert alone.ret == pytest.ExitCode.USAGE_ERROR
    alone.stderr.fnmatch_lines(["*encoder-gate: --benchmark-compare-fail needs --benchmark-compare*"])


# The tiny model's FP32 ONNX file (built once into the suite's cache), in a process of its own:
# importing torch inside a pytester test is what pytester cannot undo.
TINY_FP32 = """
import sys
from pathlib import Path
from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.onnx_backend import OnnxBackend
from encoder_gate.cache import ArtifactCache
from encoder_gate.models.resolve import resolve_model
cache = ArtifactCache(Path(sys.argv[1]))
ctx = BuildContext(model=resolve_model("tiny", cache), cache=cache)
print(OnnxBackend("fp32").artifact(ctx)[0] / "model.onnx")
"""


@pytest.mark.slow
def test_accuracy_of_an_onnx_file_and_benchmarks_of_its_next_version_are_never_joined(
        gate_dir: pytest.Pytester, gate_args: list[str], report_dir: Path, cache_dir: Path,
        monkeypatch: pytest.MonkeyPatch):
    """`pytest accuracy` on onnx:m.onnx, the file replaced by another export of the same model, then
    `pytest benchmarks`: one model and dataset, yet the second verdict leaves the first file's
    accuracy out, naming both files, rather than showing it as the new file's."""
    import onnx

    built = subprocess.run([sys.executable, "-c", TINY_FP32, str(cache_dir)], capture_output=True,
                           text=True, timeout=300, check=True).stdout.strip().splitlines()[-1]
    model = gate_dir.path / "m.onnx"
    model.write_bytes(Path(built).read_bytes())
    name = f"onnx:{model}"
    gate_dir.makepyfile(test_checks=CHECKS, test_speed=BENCHMARKS)
    accuracy = gate_dir.runpytest("test_checks.py", f"--gate-backends=torch,{name}", *gate_args)
    assert accuracy.ret == pytest.ExitCode.OK, accuracy.stdout.str()[-2000:]
    assert "left out" not in (report_dir / "verdict.md").read_text()
    graph = onnx.load(str(model))
    graph.doc_string = "re-exported"  # another file, the same outputs
    onnx.save(graph, str(model))
    monkeypatch.setenv("ENCODER_GATE_BENCH_ROUNDS", "2")
    monkeypatch.setenv("ENCODER_GATE_BENCH_TEXTS", "8")
    bench = gate_dir.runpytest("test_speed.py", f"--gate-backends=torch,{name}", "--gate-batch-sizes=1",
                               *gate_args)
    assert bench.ret == pytest.ExitCode.OK, bench.stdout.str()[-2000:]
    verdict = (report_dir / "verdict.md").read_text()
    assert re.search(rf"accuracy.json in this directory left out: {re.escape(name)} computed from "
                     r"onnx:[0-9a-f]{8}, not onnx:[0-9a-f]{8}", verdict), verdict
    assert "run `pytest accuracy` for this one" in verdict and "accuracy on" not in verdict
    bench.stdout.fnmatch_lines(["*encoder-gate verdict: PASS*", "*pass (speed only)*",
                                f"accuracy.json in this directory left out: {name} computed from *"])


@pytest.mark.slow
def test_accuracy_of_one_model_and_benchmarks_of_another_are_never_joined(
        gate_dir: pytest.Pytester, gate_args: list[str], report_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """`pytest accuracy` on tiny, then `pytest benchmarks` on tiny-bert in one report directory: the
    verdict of the second session names the mismatch and shows none of tiny's accuracy."""
    gate_dir.makepyfile(test_checks=CHECKS, test_speed=BENCHMARKS)
    accuracy = gate_dir.runpytest("test_checks.py", "--gate-backends=torch,onnx-fp32", *gate_args)
    assert accuracy.ret == pytest.ExitCode.OK, accuracy.stdout.str()[-2000:]
    first = (report_dir / "verdict.md").read_text()
    assert "Model `tiny` (multi_label); accuracy on" in first
    # the terminal ends with the verdict table: the reference marked, each backend pass or FAIL
    out = accuracy.stdout.str()
    assert out.rindex("encoder-gate verdict: PASS") > out.rindex("encoder-gate backends")
    accuracy.stdout.fnmatch_lines(["*encoder-gate verdict: PASS*", "backend*verdict*micro F1*drift max*",
                                   "torch*reference*", "onnx-fp32*pass*", "(the whole verdict: *verdict.md)"])
    other = [a for a in gate_args if a != "--gate-model=tiny"] + ["--gate-model=tiny-bert"]
    monkeypatch.setenv("ENCODER_GATE_BENCH_ROUNDS", "2")
    monkeypatch.setenv("ENCODER_GATE_BENCH_TEXTS", "8")
    bench = gate_dir.runpytest("test_speed.py", "--gate-backends=torch,onnx-fp32",
                               "--gate-batch-sizes=1", *other)
    assert bench.ret == pytest.ExitCode.OK, bench.stdout.str()[-2000:]
    verdict = (report_dir / "verdict.md").read_text()
    assert "accuracy.json in this directory left out: model tiny (" in verdict, verdict
    assert ", not tiny-bert (" in verdict and "run `pytest accuracy` for this one" in verdict
    assert "Model `tiny-bert`; no accuracy results of it" in verdict and "accuracy on" not in verdict
    assert "| onnx-fp32 | pass (speed only) |" in verdict


@pytest.mark.slow
def test_a_pruned_cache_keeps_everything_the_last_session_used(
        gate_dir: pytest.Pytester, report_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        tiny_cache_with: Callable[..., Path]):
    """A session on a private cache records itself; `encoder-gate prune-cache` then removes another
    model's old entry and nothing this session used: the same session again builds and predicts
    nothing. A collect-only session records nothing (it used nothing)."""
    import json
    import os
    import shutil
    import time

    from encoder_gate.cache import ENTRY_NAME, read_sessions
    from encoder_gate.commands.cli import main

    cache = tiny_cache_with(tmp_path / "cache", "onnx-fp32")  # its builds, nothing used by a session yet
    args = ["--gate-model=tiny", f"--gate-cache-dir={cache}", "--gate-threads=1",
            "--gate-backends=torch,onnx-fp32", f"--gate-report-dir={report_dir}", "-p", "no:cacheprovider"]
    gate_dir.makepyfile(test_checks=CHECKS)
    first = gate_dir.runpytest("test_checks.py", *args)
    assert first.ret == pytest.ExitCode.OK, first.stdout.str()[-2000:]
    assert [s["what"].split()[:2] for s in read_sessions(cache)] == [["pytest", "test_checks.py"]]
    used = sorted(p.name for p in cache.iterdir() if ENTRY_NAME.match(p.name) and p.is_dir())
    assert any(n.startswith("onnx-fp32-") for n in used) and any(n.startswith("predictions-") for n in used)
    # another model's export, last used a day before this session
    fp32 = next(n for n in used if n.startswith("onnx-fp32-"))
    stale = cache / f"onnx-fp32-{'0' * 20}"
    shutil.copytree(cache / fp32, stale)
    then = time.time() - 86400
    os.utime(stale, (then, then))
    assert gate_dir.runpytest("test_checks.py", "--collect-only", *args).ret == pytest.ExitCode.OK
    assert len(read_sessions(cache)) == 1

    capsys.readouterr()  # (the sessions' own output)
    size = sum(f.stat().st_size for f in stale.iterdir()) / 1e6
    assert main(["prune-cache", str(cache)]) == 0
    assert capsys.readouterr().out.startswith(f"removed 1 entries ({size:.1f} MB) not used by the last "
                                              "session (pytest test_checks.py")
    assert not stale.exists()
    assert sorted(p.name for p in cache.iterdir() if ENTRY_NAME.match(p.name) and p.is_dir()) == used
    again = gate_dir.runpytest("test_checks.py", *args)
    assert again.ret == pytest.ExitCode.OK, again.stdout.str()[-2000:]
    summary = [line for line in again.stdout.lines  # the "encoder-gate backends" section's rows
               if line.startswith(("torch ", "onnx-fp32 ")) and "predictions" in line]
    assert len(summary) == 2 and all("from cache" in line and "predictions from cache" in line
                                     for line in summary), summary
    assert json.loads((cache / "sessions.json").read_text())["sessions"][-1]["finished"] > then


def test_a_batch_size_larger_than_the_texts_fails_its_cells_instead_of_timing_smaller_batches(
        gate_dir: pytest.Pytester, gate_args: list[str], monkeypatch: pytest.MonkeyPatch):
    """`--gate-batch-sizes 1000` on 100 texts timed batches of 100 and reported them as batch size
    1000, PASS; the cell's texts (here ENCODER_GATE_BENCH_TEXTS) cannot fill one batch, so it fails."""
    monkeypatch.setenv(ENV_ROUNDS, "2")
    monkeypatch.setenv(ENV_TEXTS, "8")
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    result = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=16", *gate_args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*batch size 16 is larger than the 8 texts of ENCODER_GATE_BENCH_TEXTS=8: "
                                 "its batches would hold 8 texts, timed as batch size 16; give batch sizes "
                                 "of at most 8 (--gate-batch-sizes, batch-sizes) or more texts*"])
    assert "Traceback" not in result.stdout.str()


def test_more_bench_texts_than_the_evaluation_set_holds_are_said(
        gate_dir: pytest.Pytester, gate_args: list[str], monkeypatch: pytest.MonkeyPatch):
    """ENCODER_GATE_BENCH_TEXTS=5000 on a set of fewer texts timed them all without a word (the
    twenty-first session's hunt): the summary says how many its cells timed."""
    monkeypatch.setenv(ENV_ROUNDS, "2")
    monkeypatch.setenv(ENV_TEXTS, "5000")
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    result = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=8", *gate_args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*; ENCODER_GATE_BENCH_TEXTS=5000 asks for more texts than the * of the "
                                 "evaluation set (normal): its cells timed those *; session took*"])


def test_reruns_are_kept_off_the_cells_that_time_backends(gate_dir: pytest.Pytester, gate_args: list[str]):
    """pytest-rerunfailures' `--reruns 2` in a project's addopts timed a failing speed cell again until
    it passed: a real slowdown let through about twice as often. Each cell gets the mark that keeps it
    from rerunning (rerunfailures reads the closest `flaky` mark before its option), said once; under
    --force-reruns, which no mark overrides, it is said so. (A stand-in of its names and options.)"""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    gate_dir.makeconftest('''
        def pytest_addoption(parser):
            parser.addoption("--reruns", type=int, default=0)
            parser.addoption("--force-reruns", type=int, default=None)

        def pytest_configure(config):
            config.addinivalue_line("markers", "flaky(reruns=1): stand-in")
            config.pluginmanager.register(object(), "rerunfailures")

        def pytest_collection_finish(session):
            for item in session.items:
                mark = item.get_closest_marker("flaky")
                print("MARK", item.name, mark.kwargs if mark else None)
    ''')
    args = ["--collect-only", "-q", "--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=8", *gate_args]
    result = gate_dir.runpytest(*args, "--reruns", "2")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["encoder-gate: pytest-rerunfailures' reruns (--reruns 2) are kept off the 2 "
                                 "cells that time backends: one timed again until it passes would let a real "
                                 "slowdown through about twice as often*"])
    marks = [line for line in result.stdout.lines if line.startswith("MARK")]
    assert len(marks) == 2 and all(line.endswith("{'reruns': 0}") for line in marks), marks
    forced = gate_dir.runpytest(*args, "--force-reruns", "1")
    forced.stdout.fnmatch_lines(["encoder-gate: pytest-rerunfailures reruns the 2 cells that time backends "
                                 "(--force-reruns 1, which no mark overrides)*run the benchmarks without it"])
    assert all(line.endswith("None") for line in forced.stdout.lines if line.startswith("MARK"))
    quiet = gate_dir.runpytest(*args)
    assert "rerunfailures" not in quiet.stdout.str()


def test_a_session_under_a_tracer_is_refused_before_anything_is_built(gate_dir: pytest.Pytester,
                                                                      gate_args: list[str], tmp_path: Path):
    """pytest-cov's --cov in addopts: a session with cells that time backends is refused at its start,
    naming the tracer and --no-cov, before a backend is built or loaded (a cold cache stays without
    one; it had built and loaded all of them, 58 s on a 2-layer model, to fail each cell after). The
    tracer here is a stand-in hook set for the session. A smoke run, which keeps no figure, is not."""
    gate_dir.makepyfile(test_speed=BENCHMARKS)
    gate_dir.makeconftest('''
        import sys

        def hook(*_args):
            return None

        def pytest_sessionstart(session):
            sys.settrace(hook)

        def pytest_sessionfinish(session):
            sys.settrace(None)
    ''')
    cache = tmp_path / "cold"
    args = [a for a in gate_args if not a.startswith("--gate-cache-dir")]
    result = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=8",
                                f"--gate-cache-dir={cache}", *args)
    assert sys.gettrace() is None
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(["*encoder-gate: not timed: Python trace hook (conftest.hook) is active in "
                                 "this thread*--no-cov*"])
    assert not any(cache.glob("onnx-fp32-*")) and not any(cache.glob("model-*")), result.stdout.str()[:3000]
    # a smoke run (--benchmark-disable: each cell once, nothing timed or kept) may run under one
    smoke = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-batch-sizes=8",
                               "--benchmark-disable", *gate_args)
    assert sys.gettrace() is None
    assert smoke.ret == pytest.ExitCode.OK, smoke.stdout.str()[-2000:]
    smoke.assert_outcomes(passed=2)
