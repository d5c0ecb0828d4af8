"""The speed gate's statistics (encoder_gate.speed.stats, .rules): paired per-round log ratios,
their CI and minimum detectable slowdown, the one-sided Mann-Whitney decision with an effect size, the
fallback to the point rule, borderline re-runs, the hardware fingerprint and the noise table.

Everything runs on synthetic per-round data: no model, no timing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.documents import write_json
from encoder_gate.speed.machine import (
    FINGERPRINT_FIELDS,
    ISA_FLAGS,
    MachineMismatch,
    cpu_details,
    fingerprint_differences,
    hardware_fingerprint,
)
from encoder_gate.speed.outcome import finish_session
from encoder_gate.speed.results import (
    BenchResult,
    case_order,
    paired_speedup,
    results_from_json,
    speedups_document,
)
from encoder_gate.speed.rules import compare_speed, extra_rounds_needed
from encoder_gate.speed.settings import (
    ENV_ALLOW_OTHER_MACHINE,
    ENV_ALPHA,
    ENV_EXTRA_ROUNDS,
    BenchSettings,
    settings_from_env,
)
from encoder_gate.speed.stats import (
    log_ratios,
    median_speedup,
    min_detectable_slowdown,
    paired_stats,
    smallest_p,
)
from encoder_gate.studies.speed_noise import (
    NOISE_RULE_DROPS,
    DetectionRow,
    format_noise,
    rule_noise,
    speed_gate_noise,
)

CASE = "model/normal/bs8/bucketed"
SPEEDUPS = {"onnx-fp32": 2.0, "onnx-int8": 4.0}
FINGERPRINT = {"cpu_model": "Test CPU", "isa": {f: f == "avx2" for f in ISA_FLAGS}, "logical_cores": 2,
               "physical_cores": 2, "threads": 1, "execution_providers": ["CPUExecutionProvider"],
               "torch": "2.5.0", "onnxruntime": "1.20.0"}


def rounds(speedup: float, slowdown: float = 0.0, n: int = 7, noise: float = 0.03,
           seed: int = 0) -> list[float]:
    """Per-round log ratios of a backend `speedup` times faster than torch, made `slowdown`
    slower (its round times x (1 + slowdown)), with lognormal round-to-round noise."""
    rng = np.random.default_rng(seed)
    return [float(v) for v in math.log(speedup) - math.log1p(slowdown) + rng.normal(0.0, noise, n)]


def results(slowdown: dict[str, float] | None = None, *, n: int = 7, noise: float = 0.03, seed: int = 0,
            fingerprint: dict | None = None) -> list[BenchResult]:
    """Paired model-only results as the benchmarks record them (one case, two backends)."""
    out = []
    for k, (backend, speedup) in enumerate(SPEEDUPS.items()):
        ratios = rounds(speedup, (slowdown or {}).get(backend, 0.0), n, noise, seed * 10 + k)
        info = {"paired_log_ratios": ratios, "paired_speedup": median_speedup(ratios)}
        if fingerprint is not None:
            info["fingerprint"] = fingerprint
        out.append(BenchResult("model", "normal", 8, "bucketed", backend, 1.0 / speedup, info))
    return out


def document(slowdown: dict[str, float] | None = None, **kwargs) -> dict:
    fingerprint = kwargs.pop("fingerprint", FINGERPRINT)
    return speedups_document(results(slowdown, **kwargs), fingerprint=fingerprint)


def benchmark_save(slowdown: dict[str, float] | None = None, **kwargs) -> dict:
    """A pytest-benchmark JSON document holding the paired results (torch included)."""
    benchmarks = []
    torch = BenchResult("model", "normal", 8, "bucketed", "torch", 1.0)
    for r in [torch, *results(slowdown, **kwargs)]:
        info = {"mode": r.mode, "variant": r.variant, "batch_size": r.batch_size, "dispatch": r.dispatch,
                "backend": r.backend, **r.info}
        benchmarks.append({"name": f"test_model_only[bs8-{r.backend}-normal-bucketed]", "extra_info": info,
                           "stats": {"min": r.seconds, "median": r.seconds}})
    return {"benchmarks": benchmarks}


# --- per-run statistics ---------------------------------------------------------------------


def test_log_ratios_and_the_speedup_are_those_of_the_paired_rounds():
    torch_s, backend_s = [2.0, 2.0, 9.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.1]
    ratios = log_ratios(torch_s, backend_s)
    assert ratios[0] == pytest.approx(math.log(2.0)) and ratios[2] == pytest.approx(math.log(9.0))
    assert median_speedup(ratios) == pytest.approx(paired_speedup(torch_s, backend_s))
    with pytest.raises(ValueError, match="equally many rounds"):
        log_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        log_ratios([1.0], [0.0])


def test_the_ci_of_an_unchanged_backend_contains_its_speedup():
    for seed in range(5):
        stats = paired_stats(rounds(2.0, n=7, seed=seed))
        assert stats.ci is not None
        low, high = stats.ci
        assert low <= stats.speedup <= high
        assert low < 2.0 < high  # and, for these seeds, the true speedup
        assert stats.rounds == 7 and stats.note is None
    # seeded: rendering the same run twice gives the same interval
    again = paired_stats(rounds(2.0, n=7, seed=4))
    assert again.ci == stats.ci


def test_the_minimum_detectable_slowdown_follows_the_documented_formula():
    from scipy import stats

    sd, n = 0.03, 7
    shift = (stats.t.ppf(0.95, 12) + stats.t.ppf(0.8, 12)) * sd * math.sqrt(2 / n) * math.sqrt(math.pi / 3)
    assert min_detectable_slowdown(sd, n) == pytest.approx(1 - math.exp(-shift))
    # more rounds or less noise detect smaller drops
    assert min_detectable_slowdown(sd, 15) < min_detectable_slowdown(sd, 7)
    assert min_detectable_slowdown(0.01, 7) < min_detectable_slowdown(0.03, 7)
    assert min_detectable_slowdown(0.0, 7) == 0.0
    ratios = rounds(2.0, n=7)
    assert paired_stats(ratios).mde_slowdown == pytest.approx(
        min_detectable_slowdown(float(np.std(ratios, ddof=1)), 7))


def test_insufficient_rounds_are_said_so():
    one = paired_stats([math.log(2.0)])
    assert one.ci is None and one.mde_slowdown is None and "1 round" in (one.note or "")
    # 3 vs 3 rounds: the exact test's smallest p is 1/20, never below 0.05
    assert smallest_p(3, 3) == pytest.approx(0.05)
    three = paired_stats(rounds(2.0, n=3))
    assert three.ci is not None and three.mde_slowdown is None
    assert "cannot reach p < 0.05" in (three.note or "")
    # 5 rounds: testable, but no 95% interval of a median exists below 6 rounds
    five = paired_stats(rounds(2.0, n=5))
    assert five.mde_slowdown is not None and "fewer than 6" in (five.note or "")
    entry = five.to_json()
    assert set(entry) == {"speedup", "ci", "mde_slowdown", "rounds", "log_ratios", "note"}
    assert entry["rounds"] == 5 and len(entry["log_ratios"]) == 5


def test_identical_rounds_give_a_point_interval():
    stats = paired_stats([math.log(2.0)] * 6)
    assert stats.ci == pytest.approx((2.0, 2.0)) and stats.mde_slowdown == 0.0


# --- the decision ---------------------------------------------------------------------------


def test_a_clearly_slowed_backend_fails_and_an_unchanged_one_passes():
    """30% slower on 7 rounds with 3% noise: significant and over the 15% effect size."""
    base = document()
    unchanged = compare_speed(document(seed=1), base, 0.15)
    assert [c.rule for c in unchanged] == ["test", "test"]
    assert not any(c.failed for c in unchanged)
    slowed = {(c.backend): c for c in compare_speed(document({"onnx-fp32": 0.3}, seed=1), base, 0.15)}
    fp32, int8 = slowed["onnx-fp32"], slowed["onnx-int8"]
    assert fp32.failed and fp32.significant and fp32.p_value < 0.01
    assert fp32.shift == pytest.approx(math.log(fp32.baseline / fp32.current)) and fp32.shift > 0
    assert fp32.drop > 0.15
    assert fp32.shift_ci is not None and fp32.shift_ci[0] > 0
    assert not int8.failed
    failure = str(fp32.failure())
    assert failure.startswith(f"onnx-fp32 {CASE}: speedup over torch eager ") and "p=" in failure


def test_speedups_json_and_its_comparisons_list_batch_sizes_by_number():
    """bs8 before bs32 (not as the strings sort) in speedups.json's table and in the comparisons
    with a baseline, as in the verdict; the case's other parts keep their order."""
    def with_sizes(*sizes: int) -> dict:
        out = []
        for n in sizes:
            ratios = rounds(2.0, seed=n)
            out.append(BenchResult("model", "normal", n, "bucketed", "onnx-fp32", 0.5,
                                   {"paired_log_ratios": ratios, "paired_speedup": median_speedup(ratios)}))
        return speedups_document(out, fingerprint=FINGERPRINT)

    doc = with_sizes(32, 1, 8)
    assert [case.split("/")[2] for case in doc["speedups"]] == ["bs1", "bs8", "bs32"]
    compared = compare_speed(doc, with_sizes(8, 32, 1), 0.15)
    assert [c.case.split("/")[2] for c in compared] == ["bs1", "bs8", "bs32"]
    assert sorted(["model/normal/bs8/ordered", "e2e/normal/bs32/bucketed", "model/normal/bs8/bucketed"],
                  key=case_order) == ["e2e/normal/bs32/bucketed", "model/normal/bs8/bucketed",
                                      "model/normal/bs8/ordered"]


def test_a_5_percent_slowdown_under_a_15_percent_effect_size_passes_even_if_significant():
    base = document(noise=0.005)
    [fp32, _] = compare_speed(document({"onnx-fp32": 0.05}, noise=0.005, seed=1), base, 0.15)
    assert fp32.significant and fp32.p_value < 0.01
    assert not fp32.beyond and not fp32.failed
    # the same drop fails under a 3% effect size
    [strict, _] = compare_speed(document({"onnx-fp32": 0.05}, noise=0.005, seed=1), base, 0.03)
    assert strict.failed


def test_a_drop_beyond_the_effect_size_that_is_not_significant_passes_as_borderline():
    """Two very noisy runs: the point estimate is over the effect size, the test is not convinced."""
    base = {"speedups": {CASE: {"onnx-fp32": 2.0}},
            "stats": {CASE: {"onnx-fp32": {"log_ratios": [0.9, 0.4, 0.69, 1.0, 0.3]}}}}
    now = {"speedups": {CASE: {"onnx-fp32": 1.6}},
           "stats": {CASE: {"onnx-fp32": {"log_ratios": [0.95, 0.2, 0.47, 0.8, 0.35]}}}}
    [c] = compare_speed(now, base, 0.15)
    assert c.beyond and not c.significant and not c.failed and c.borderline
    assert c.describe().endswith(": borderline")


def test_a_pass_whose_drop_ci_reaches_past_the_effect_size_is_said_inconclusive(tmp_path):
    """Noisy rounds, a small drop: the gate passes, but its rounds could not have told a drop of the
    effect size apart; the terminal line and a warning of the session say so, and a quiet pass does not."""
    noisy = finish_session(results(noise=0.2, seed=1), BenchSettings(), tmp_path / "a", {}, None,
                           fingerprint=FINGERPRINT)
    gated = BenchSettings(baseline=noisy.path, max_drop=0.15)
    outcome = finish_session(results({"onnx-fp32": 0.05}, noise=0.2, seed=2), gated, tmp_path / "b", {},
                             None, fingerprint=FINGERPRINT)
    weak = [c for c in outcome.comparisons if c.inconclusive]
    assert len(weak) == 2 and not outcome.failures and not any(c.borderline for c in weak)
    for c in weak:
        assert not c.failed and c.drop_ci is not None and c.drop_ci[1] > 0.15
        assert c.describe().endswith(": passes, inconclusive (a drop of 15% not ruled out)")
    [warning] = [w for w in outcome.warnings if "without ruling out a drop over 15%" in w]
    assert warning.startswith(f"{len(weak)} speed comparison(s) passed") and "95% CI" in warning
    assert json.loads(outcome.path.read_text())["gate"]["compared"][CASE][weak[0].backend]["inconclusive"]

    quiet = finish_session(results(noise=0.005, seed=3), BenchSettings(), tmp_path / "c", {}, None,
                           fingerprint=FINGERPRINT)
    again = finish_session(results(noise=0.005, seed=4), BenchSettings(baseline=quiet.path, max_drop=0.15),
                           tmp_path / "d", {}, None, fingerprint=FINGERPRINT)
    assert again.comparisons and not any(c.inconclusive for c in again.comparisons)
    assert not any("without ruling out" in w for w in again.warnings)


def test_old_baselines_without_per_round_data_fall_back_to_the_point_rule(tmp_path):
    old = {"speedups": {CASE: {"onnx-fp32": 2.0, "onnx-int8": 4.0}}}  # speedups.json before per-round data
    path = write_json(tmp_path / "old.json", old)
    settings = BenchSettings(baseline=path, max_drop=0.15)
    outcome = finish_session(results({"onnx-fp32": 0.3}), settings, tmp_path / "r", {}, None,
                                   fingerprint=FINGERPRINT)
    assert [c.rule for c in outcome.comparisons] == ["point", "point"]
    assert outcome.comparisons[0].reason == "no per-round data in the baseline"
    assert [f.backend for f in outcome.failures] == ["onnx-fp32"]  # the point rule still has teeth
    lines = dict(outcome.lines())
    fallback = next(text for text, style in outcome.lines() if text.startswith("point rule"))
    assert lines[fallback] == "yellow"
    assert fallback == ("point rule (a drop over 15% fails, no significance test) for 2 of 2 comparisons: "
                        "no per-round data in the baseline (an older speedups.json, or a save without "
                        "paired_log_ratios)")
    assert any("has no hardware fingerprint" in text for text in lines)
    gate = json.loads(outcome.path.read_text())["gate"]
    assert gate["compared"][CASE]["onnx-fp32"]["rule"] == "point"
    assert gate["compared"][CASE]["onnx-fp32"]["p_value"] is None
    assert gate["point_rule"] == [f"onnx-fp32 {CASE}: no per-round data in the baseline",
                                  f"onnx-int8 {CASE}: no per-round data in the baseline"]


def test_too_few_rounds_fall_back_to_the_point_rule():
    [c, _] = compare_speed(document({"onnx-fp32": 0.3}, n=3, seed=1), document(n=3), 0.15)
    assert c.rule == "point" and c.failed and c.p_value is None
    assert c.reason == "too few rounds for the test (3 vs 3: its smallest p is 0.05, not below 0.05)"
    assert c.borderline  # more rounds of this run would make the test possible


# --- speedups.json and the terminal ---------------------------------------------------------


def test_speedups_json_holds_stats_fingerprint_and_the_gate_p_values(tmp_path):
    first = finish_session(results(), BenchSettings(), tmp_path / "a", {"name": "tiny"}, None,
                                 fingerprint=FINGERPRINT)
    saved = json.loads(first.path.read_text())
    assert saved["fingerprint"] == FINGERPRINT
    entry = saved["stats"][CASE]["onnx-fp32"]
    assert entry["speedup"] == pytest.approx(saved["speedups"][CASE]["onnx-fp32"])
    assert entry["ci"][0] <= entry["speedup"] <= entry["ci"][1]
    assert 0 < entry["mde_slowdown"] < 0.15 and entry["rounds"] == 7 and len(entry["log_ratios"]) == 7
    assert set(saved["stats_method"]) == {"speedup", "ci", "mde_slowdown", "test"}
    stats_lines = [text for text, _ in first.lines() if CASE in text]
    assert any(text.startswith("  onnx-fp32") and "CI [" in text and "MDE " in text and "7 rounds" in text
               for text in stats_lines)

    gated = BenchSettings(baseline=first.path, max_drop=0.15)
    slowed = finish_session(results({"onnx-int8": 0.3}, seed=1), gated, tmp_path / "b",
                                  {"name": "tiny"}, None, fingerprint=FINGERPRINT)
    gate = json.loads(slowed.path.read_text())["gate"]
    assert gate["alpha"] == 0.05 and gate["max_drop"] == 0.15 and gate["failures"]
    int8 = gate["compared"][CASE]["onnx-int8"]
    assert int8["rule"] == "test" and int8["p_value"] < 0.05 and int8["shift"] > 0
    assert int8["baseline"] == pytest.approx(4.0, rel=0.05)  # what verdict.py reads
    [failure] = gate["failures"]  # a structured record: the verdict reads its backend, not its text
    assert (failure["backend"], failure["case"], failure["rule"]) == ("onnx-int8", CASE, "test")
    assert failure["observed"] < failure["bound"] == pytest.approx(failure["baseline"] * 0.85)
    assert failure["text"].startswith(f"onnx-int8 {CASE}: speedup over torch eager")
    red = [text for text, style in slowed.lines() if style == "red"]
    assert red[0].startswith(f"SPEEDUP GATE FAILED against {first.path} (1 drops over 15%)")
    assert red[1].startswith(f"  onnx-int8 {CASE}: speedup over torch eager")
    plain = [text for text, _ in slowed.lines()]
    assert any(text.startswith(f"  onnx-int8 {CASE}: ") and ", p=" in text and text.endswith(": FAILS")
               for text in plain)


def test_compared_baseline_recovers_the_fingerprint_from_the_save():
    doc = speedups_document(results_from_json(benchmark_save(fingerprint=FINGERPRINT)))
    assert doc["fingerprint"] == FINGERPRINT
    assert set(doc["stats"][CASE]) == {"onnx-fp32", "onnx-int8"}
    assert speedups_document(results_from_json(benchmark_save()))["fingerprint"] is None


# --- borderline re-runs ---------------------------------------------------------------------


def test_borderline_cases_get_the_extra_rounds_once_and_clear_ones_none():
    base = document(n=3)  # a short baseline: 3 vs 3 rounds cannot reach p < 0.05
    on = BenchSettings(max_drop=0.15, extra_rounds=4)
    clear_fail = rounds(2.0, 0.3, seed=9)
    unchanged = rounds(2.0, seed=9)
    assert extra_rounds_needed(base, CASE, "onnx-fp32", unchanged[:3], on) == 0
    # 3 rounds over the effect size: the test cannot decide yet, more rounds can make it
    assert extra_rounds_needed(base, CASE, "onnx-fp32", clear_fail[:3], on) == 4
    # with 4 more rounds (3 vs 7) the test decides: a clear failure needs no more
    assert extra_rounds_needed(base, CASE, "onnx-fp32", clear_fail, on) == 0
    # off by default, and nothing to compare with
    assert extra_rounds_needed(base, CASE, "onnx-fp32", clear_fail[:3], BenchSettings()) == 0
    assert extra_rounds_needed(base, "model/other/bs1/ordered", "onnx-fp32", clear_fail[:3], on) == 0


def test_a_significant_drop_whose_ci_straddles_the_effect_size_is_borderline():
    base = document(noise=0.02)
    near = rounds(2.0, 1 / 0.85 - 1, noise=0.02, seed=7)  # a drop of exactly the effect size
    now = {"speedups": {CASE: {"onnx-fp32": median_speedup(near)}},
           "stats": {CASE: {"onnx-fp32": {"log_ratios": near}}}}
    [c] = compare_speed(now, base, 0.15)
    assert c.significant and c.shift_ci is not None
    assert c.shift_ci[0] < c.effect_shift < c.shift_ci[1] and c.borderline


# --- settings -------------------------------------------------------------------------------


def test_the_new_settings_are_read_and_checked():
    from encoder_gate.errors import GateError

    got = settings_from_env({ENV_ALPHA: "0.01", ENV_EXTRA_ROUNDS: "5",
                                   ENV_ALLOW_OTHER_MACHINE: "1"})
    assert (got.alpha, got.extra_rounds, got.allow_other_machine) == (0.01, 5, True)
    default = settings_from_env({})
    assert (default.alpha, default.extra_rounds, default.allow_other_machine) == (0.05, 0, False)
    for name, raw in ((ENV_ALPHA, "0"), (ENV_ALPHA, "x"), (ENV_EXTRA_ROUNDS, "-1"),
                      (ENV_EXTRA_ROUNDS, "1000"), (ENV_ALLOW_OTHER_MACHINE, "sure")):
        with pytest.raises(GateError, match=name):
            settings_from_env({name: raw})


# --- the hardware fingerprint ---------------------------------------------------------------

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_tile amx_int8

processor\t: 2
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_tile amx_int8
"""


def test_the_fingerprint_reads_proc_cpuinfo_and_falls_back_elsewhere():
    details = cpu_details(CPUINFO)
    assert details["cpu_model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert details["isa"] == {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx_vnni": False,
                              "amx_tile": True, "amx_int8": True}
    assert details["physical_cores"] == 2  # three logical CPUs on two cores
    unknown = cpu_details("")  # no /proc/cpuinfo: unknown flags and cores, a model from platform
    assert unknown["isa"] == {} and unknown["physical_cores"] is None and unknown["cpu_model"]
    fp = hardware_fingerprint(2, ["CPUExecutionProvider"], cpuinfo=CPUINFO)
    # usable_cores: said (threads above them), not compared; gpu: a cuda session's only (test_devices)
    assert set(fp) == {*FINGERPRINT_FIELDS, "usable_cores"} - {"gpu"}
    assert fp["threads"] == 2 and fp["execution_providers"] == ["CPUExecutionProvider"]
    assert fp["torch"] != "not installed" and fp["onnxruntime"] != "not installed"
    # unknown fields are not compared
    assert fingerprint_differences({**fp, "isa": {}, "physical_cores": None}, fp) == []


def test_a_library_with_a_field_of_its_own_is_named_once_among_the_differences():
    """onnxruntime's version is a field of its own and one of `versions` too: a bump is said once
    (twice in one warning before); a library only `versions` holds, and one whose own field the
    baseline lacks, are still said there."""
    now = {**FINGERPRINT, "onnxruntime": "1.32.0", "versions": {"onnxruntime": "1.32.0", "onnx": "1.23.2"}}
    then = {**FINGERPRINT, "onnxruntime": "1.21.0", "versions": {"onnxruntime": "1.21.0", "onnx": "1.18.0"}}
    assert fingerprint_differences(now, then) == ["onnxruntime: '1.32.0' now, '1.21.0' in the baseline",
                                                  "versions.onnx: '1.23.2' now, '1.18.0' in the baseline"]
    older = {key: value for key, value in then.items() if key != "onnxruntime"}
    assert fingerprint_differences(now, older) == [
        "versions.onnxruntime: '1.32.0' now, '1.21.0' in the baseline",
        "versions.onnx: '1.23.2' now, '1.18.0' in the baseline"]


def test_a_baseline_from_another_machine_is_refused_unless_forced(tmp_path):
    other = {**FINGERPRINT, "cpu_model": "Other CPU", "isa": {**FINGERPRINT["isa"], "avx512_vnni": True}}
    base = write_json(tmp_path / "base.json", document(fingerprint=other))
    diffs = fingerprint_differences(FINGERPRINT, other)
    assert diffs == ["cpu_model: 'Test CPU' now, 'Other CPU' in the baseline",
                     "isa.avx512_vnni: False now, True in the baseline"]
    settings = BenchSettings(baseline=base)
    with pytest.raises(MachineMismatch, match=r"\(cpu_model, isa.avx512_vnni differ: .*"
                                                     + ENV_ALLOW_OTHER_MACHINE):
        finish_session(results(), settings, tmp_path / "r", {}, None, fingerprint=FINGERPRINT)
    assert not (tmp_path / "r" / "speedups.json").exists()
    forced = finish_session(results(), BenchSettings(baseline=base, allow_other_machine=True),
                                  tmp_path / "r", {}, None, fingerprint=FINGERPRINT)
    assert forced.failures == []
    assert any(w.startswith(f"baseline from another machine or stack, compared as asked "
                            f"(--gate-allow-other-machine or {ENV_ALLOW_OTHER_MACHINE}=1): cpu_model")
               for w in forced.warnings)
    assert json.loads(forced.path.read_text())["gate"]["fingerprint_differences"] == diffs


# --- how noisy are the rules ----------------------------------------------------------------


def test_noise_reports_detection_of_5_10_and_20_percent_slowdowns_for_both_rules():
    """Four unchanged runs (7 rounds, 1% noise): no false alarms at a 15% effect size; the
    statistical rule catches the 20% slowdown (a 16.7% drop) and lets 5% and 10% through."""
    docs = [benchmark_save(noise=0.01, seed=s) for s in range(4)]
    rows = speed_gate_noise(docs, percents=(25,), drops=(0.15,))
    detection = {(r.gate, r.setting): r for r in rows if isinstance(r, DetectionRow)}
    assert set(detection) == {(gate, f"max drop {d:.0%}" + (", p < 0.05" if gate == "speed test" else ""))
                              for gate in ("speed test", "speed point") for d in NOISE_RULE_DROPS}
    test15 = detection[("speed test", "max drop 15%, p < 0.05")]
    assert test15.pairs == 12 and test15.false_failures == 0
    assert test15.detections == ((0.05, 0, 24), (0.10, 0, 24), (0.20, 24, 24))  # 12 pairs x 2 backends
    test5 = detection[("speed test", "max drop 5%, p < 0.05")]
    assert test5.detections[1] == (0.10, 24, 24) and test5.detections[2] == (0.20, 24, 24)
    lines = format_noise(rows, 4, 1.3)
    assert "| rule | setting | unchanged tree fails | detects 5% slower | detects 10% slower | " \
           "detects 20% slower |" in lines
    assert "| speed test | max drop 15%, p < 0.05 | 0/12 (0%) | 0/24 (0%) | 0/24 (0%) | " \
           "24/24 (100%) |" in lines
    assert any(line.startswith("| speed point | max drop 15% | 0/12 (0%) |") for line in lines)


def test_the_statistical_rule_cuts_false_alarms_of_a_noisy_machine():
    """Noisy rounds (8%) and a 5% effect size: the point rule fails unchanged pairs, the test far fewer."""
    docs = [benchmark_save(noise=0.08, seed=s) for s in range(5)]
    rows = {(r.gate, r.setting): r for r in rule_noise(docs, drops=(0.05,))}
    test, point = rows[("speed test", "max drop 5%, p < 0.05")], rows[("speed point", "max drop 5%")]
    assert point.false_failures > test.false_failures


def test_noise_without_per_round_data_says_so(tmp_path: Path):
    docs = [{"benchmarks": [dict(b, extra_info={k: v for k, v in b["extra_info"].items()
                                                if not k.startswith("paired")})
                            for b in benchmark_save(seed=s)["benchmarks"]]} for s in range(2)]
    rows = speed_gate_noise(docs, percents=(25,), drops=(0.15,))
    assert not any(isinstance(r, DetectionRow) for r in rows)
    lines = format_noise(rows, 2, 1.3)
    assert any(line.startswith("no per-round data (paired_log_ratios)") for line in lines)
