"""encoder_gate.speed: FLOPs, batching and padding, rates, speedups and the speedup gate, worker
processes and memory. The real benchmark sessions and the gates' noise are in test_bench_gate.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from encoder_gate.documents import write_json
from encoder_gate.errors import GateError
from encoder_gate.speed.baseline import comparability_warnings
from encoder_gate.speed.batches import (
    DISPATCHES,
    batch_indices,
    make_batches,
    padding_efficiency,
    padding_stats,
)
from encoder_gate.speed.files import latest_benchmark_file, load_benchmark_json, load_benchmarks
from encoder_gate.speed.flops import ModelDims, batch_flops, plan_flops, sequence_flops
from encoder_gate.speed.machine import (
    MachinePeaks,
    cpu_details,
    gemm_gflops,
    library_versions,
    peak_rss_bytes,
)
from encoder_gate.speed.outcome import ACROSS_RUNS, finish_session
from encoder_gate.speed.rates import latency_percentiles, throughput
from encoder_gate.speed.results import (
    BenchResult,
    compute_speedups,
    format_speedups,
    paired_speedup,
    read_json,
    results_from_json,
    speedups_document,
)
from encoder_gate.speed.rules import point_rule_failures
from encoder_gate.speed.settings import (
    ENV_BASELINE,
    ENV_CI,
    ENV_MAX_DROP,
    ENV_PAIRED,
    ENV_ROUNDS,
    ENV_TEXTS,
    BenchSettings,
    settings_from_env,
)
from encoder_gate.speed.workers import WorkerPool, split_batches, workers_info

ROOT = Path(__file__).resolve().parents[1]
TINY_DIMS = ModelDims(hidden=4, layers=2, intermediate=8, heads=2, num_labels=3)


def fake_benchmark_doc(medians: dict[tuple[str, str, int, str, str], float]) -> dict:
    """A pytest-benchmark JSON document; keys are (mode, variant, batch_size, dispatch, backend)."""
    benchmarks = []
    for (mode, variant, bs, dispatch, backend), median in medians.items():
        benchmarks.append({
            "name": f"test_{mode}[{backend}-bs{bs}-{variant}-{dispatch}]",
            "fullname": f"benchmarks/test_throughput.py::test_{mode}[{backend}-bs{bs}-{variant}-{dispatch}]",
            "group": f"{mode} {variant} bs={bs}", "params": {"backend": backend, "batch_size": bs},
            "extra_info": {"mode": mode, "variant": variant, "batch_size": bs, "dispatch": dispatch,
                           "backend": backend, "n_messages": 64, "messages_per_s": 64 / median},
            "stats": {"median": median, "mean": median, "min": median, "max": median, "ops": 1 / median},
        })
    return {"machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2}}, "datetime": "2026-01-01T00:00:00",
            "benchmarks": benchmarks}


def medians(scale: dict[str, float] | None = None) -> dict[tuple[str, str, int, str, str], float]:
    """torch, onnx-fp32 and onnx-int8 over two batch sizes; `scale` multiplies a backend's times."""
    base = {"torch": 1.0, "onnx-fp32": 0.5, "onnx-int8": 0.25}
    out = {}
    for bs in (1, 8):
        for backend, t in base.items():
            out[("model", "normal", bs, "bucketed", backend)] = t / bs * (scale or {}).get(backend, 1.0)
    return out


# --- FLOPs ----------------------------------------------------------------------------------


def test_flops_of_a_hand_worked_tiny_config():
    """h=4, i=8, L=2, a=2, n=3, s=5: 2*(5*(8*16 + 4*4*8) + 4*25*2*2) + (2*16 + 2*4*3) = 3416."""
    per_layer = 5 * (8 * 4 * 4 + 4 * 4 * 8) + 4 * 5 * 5 * 2 * 2  # 1280 + 400
    assert per_layer == 1680
    assert sequence_flops(TINY_DIMS, 5) == 2 * 1680 + 56 == 3416
    assert batch_flops(TINY_DIMS, [5, 5]) == 2 * 3416
    assert sequence_flops(TINY_DIMS, 0) == 0


def test_flops_grow_quadratically_only_through_attention():
    """Doubling the length doubles the matmul terms and quadruples the attention terms."""
    no_head = ModelDims(hidden=4, layers=2, intermediate=8, heads=2, num_labels=0)
    f1, f2 = sequence_flops(no_head, 10), sequence_flops(no_head, 20)
    attention_1 = 2 * 4 * 10 * 10 * 4
    assert f2 == 2 * (f1 - attention_1) + 4 * attention_1


def test_model_dims_read_bert_and_distilbert_names(tiny):
    assert ModelDims.from_config(
        {"dim": 768, "n_layers": 6, "hidden_dim": 3072, "n_heads": 12, "id2label": {"0": "a", "1": "b"}}
    ) == ModelDims(768, 6, 3072, 12, 2)
    # GPT-2's (n_inner null: four times the width), whose session said it had no estimate
    assert ModelDims.from_config({"n_embd": 64, "n_layer": 2, "n_inner": None, "n_head": 4, "num_labels": 3}
                                 ) == ModelDims(64, 2, 256, 4, 3)
    dims = ModelDims.from_model_dir(tiny.path)
    assert (dims.hidden, dims.layers, dims.heads, dims.num_labels) == (32, 2, 2, 28)
    with pytest.raises(GateError, match="hidden_size"):
        ModelDims.from_config({"num_hidden_layers": 2})


# --- batching and padding -------------------------------------------------------------------


@given(st.lists(st.integers(1, 64), min_size=1, max_size=60), st.integers(1, 9),
       st.sampled_from(DISPATCHES))
def test_batching_keeps_every_item_once(lengths, batch_size, dispatch):
    groups = batch_indices(lengths, batch_size, dispatch)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert all(1 <= len(g) <= batch_size for g in groups)


@given(st.integers(1, 6), st.integers(1, 8), st.data())
def test_bucketing_pads_no_more_than_dataset_order_with_full_batches(batch_size, n_batches, data):
    """With full batches, sorting by length is the least padding of any order."""
    n = batch_size * n_batches
    lengths = data.draw(st.lists(st.integers(1, 64), min_size=n, max_size=n))
    ordered = padding_stats(lengths, batch_indices(lengths, batch_size, "ordered"))
    bucketed = padding_stats(lengths, batch_indices(lengths, batch_size, "bucketed"))
    assert bucketed[0] == ordered[0] == sum(lengths)
    assert bucketed[1] <= ordered[1]


def test_bucketing_reduces_padding_on_mixed_lengths():
    lengths = [5, 120, 7, 60, 6, 118, 9, 64]
    ordered = padding_stats(lengths, batch_indices(lengths, 2, "ordered"))
    bucketed = padding_stats(lengths, batch_indices(lengths, 2, "bucketed"))
    assert ordered == (389, 2 * (120 + 60 + 118 + 64))
    assert bucketed == (389, 2 * (6 + 9 + 64 + 120))
    assert padding_efficiency(*bucketed) > padding_efficiency(*ordered)


def test_padding_efficiency_and_bad_arguments():
    assert padding_efficiency(3, 4) == 0.75
    assert padding_efficiency(0, 0) == 1.0
    with pytest.raises(GateError, match="batch size"):
        batch_indices([1, 2], 0, "ordered")
    with pytest.raises(GateError, match="dispatch"):
        batch_indices([1, 2], 1, "random")


def test_make_batches_pads_each_batch_to_its_longest(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny.path)
    texts = ["hi", "a much longer text than the first one, with many more tokens in it", "ok then",
             "medium sized text here", "x"]
    for dispatch in DISPATCHES:
        plan = make_batches(tok, texts, 2, dispatch)
        assert plan.n_messages == 5 and [len(i) for i in plan.indices] == [2, 2, 1]
        for batch, lengths in zip(plan.batches, plan.lengths, strict=True):
            assert batch["input_ids"].shape[1] == lengths.max()
        assert plan.padded_tokens == sum(b["input_ids"].size for b in plan.batches)
        assert 0 < plan.padding_efficiency <= 1
        assert plan.shapes == sorted(set(plan.shapes))
    ordered, bucketed = (make_batches(tok, texts, 2, d) for d in DISPATCHES)
    assert ordered.real_tokens == bucketed.real_tokens
    assert bucketed.padded_tokens < ordered.padded_tokens
    useful, executed = plan_flops(ModelDims.from_model_dir(tiny.path), ordered)
    assert 0 < useful < executed


# --- rates, latency, machine ----------------------------------------------------------------


def test_throughput_and_latency_percentiles():
    assert throughput(64, 1000, 2000, 0.5) == {
        "messages_per_s": 128.0, "real_tokens_per_s": 2000.0, "padded_tokens_per_s": 4000.0}
    lat = latency_percentiles([i / 1000 for i in range(1, 101)])
    assert lat["p50_ms"] == pytest.approx(50.5) and lat["p90_ms"] == pytest.approx(90.1)
    assert lat["p99_ms"] == pytest.approx(99.01)
    with pytest.raises(ValueError):
        throughput(1, 1, 1, 0.0)


PEAKS = MachinePeaks(fp32_torch=10.0, fp32_onnxruntime=12.0, int8_onnxruntime=40.0, threads=1, clock="thread")


def test_each_backend_is_held_to_the_peak_of_its_library_and_number_format():
    """torch backends against torch's FP32 GEMM, FP32 and FP16 ONNX files against ONNX Runtime's
    FP32 MatMul (FP16 runs through casts on the CPU), INT8 files against its MatMulInteger; at one
    thread on the thread's CPU clock, which another process's load does not move."""
    peaks = MachinePeaks(fp32_torch=100.0, fp32_onnxruntime=120.0, int8_onnxruntime=400.0, threads=1,
                         clock="thread")
    assert peaks.of("fp32", ("torch", "transformers")) == (100.0, "FP32 torch")
    assert peaks.of("fp32", ("onnx", "onnxruntime")) == (120.0, "FP32 ONNX Runtime")
    assert peaks.of("fp16", ("onnx", "onnxruntime")) == (120.0, "FP32 ONNX Runtime")
    assert peaks.of("int8", ("onnx", "onnxruntime")) == (400.0, "INT8 ONNX Runtime")
    assert peaks.describe() == (
        "machine GEMM peaks (512x768 by 768x3072, one thread, the thread's CPU clock): FP32 torch 100.0 "
        "GFLOP/s, FP32 ONNX Runtime 120.0 GFLOP/s, INT8 ONNX Runtime 400.0 GOP/s")
    measured = MachinePeaks.measure(threads=1)
    assert measured.clock == "thread" and measured.fp32_onnxruntime > 0
    isa = cpu_details()["isa"]
    if isa.get("avx512_vnni") or isa.get("avx_vnni") or isa.get("amx_int8"):
        # integer dot-product instructions do more per cycle; without them (this AMD EPYC: AVX2
        # only) ONNX Runtime's MatMulInteger measured about the FP32 rate (37.1 vs 37.5)
        assert measured.int8_onnxruntime > measured.fp32_onnxruntime
    assert measured.int8_onnxruntime > 0


def test_machine_numbers_are_positive():
    assert gemm_gflops(shape=(64, 128, 256), repeats=3) > 0
    assert peak_rss_bytes() > 10_000_000  # python + numpy alone
    versions = library_versions()
    assert set(versions) >= {"torch", "onnxruntime", "transformers"}


def test_settings_from_env():
    assert settings_from_env({}) == BenchSettings()
    assert settings_from_env({}).texts is None and settings_from_env({}).fixed_texts == 64  # sized cells
    assert settings_from_env({ENV_CI: "0"}).ci_target == 0 and settings_from_env({}).ci_target == 0.03
    with pytest.raises(GateError, match=ENV_CI):
        settings_from_env({ENV_CI: "3%"})
    got = settings_from_env({ENV_TEXTS: "16", ENV_ROUNDS: "2", ENV_MAX_DROP: "0.1",
                                   ENV_BASELINE: "base.json"})
    assert (got.texts, got.rounds, got.max_drop, got.baseline) == (16, 2, 0.1, Path("base.json"))
    with pytest.raises(GateError, match=ENV_ROUNDS):
        settings_from_env({ENV_ROUNDS: "0"})
    with pytest.raises(GateError, match=ENV_MAX_DROP):
        settings_from_env({ENV_MAX_DROP: "1.5"})


# --- speedups and the gate ------------------------------------------------------------------


def test_speedups_are_same_run_ratios_over_torch():
    speedups = compute_speedups(results_from_json(fake_benchmark_doc(medians())))
    assert speedups == {"model/normal/bs1/bucketed": {"onnx-fp32": 2.0, "onnx-int8": 4.0},
                        "model/normal/bs8/bucketed": {"onnx-fp32": 2.0, "onnx-int8": 4.0}}


def test_speedups_use_the_fastest_round_by_default():
    """Load from other processes only adds time, so speedups come from each benchmark's min."""
    doc = fake_benchmark_doc(medians())
    for entry in doc["benchmarks"]:
        if entry["extra_info"]["backend"] == "onnx-fp32":
            entry["stats"]["min"] = entry["stats"]["median"] / 2
    by_min = compute_speedups(results_from_json(doc))
    by_median = compute_speedups(results_from_json(doc, stat="median"))
    assert by_min["model/normal/bs1/bucketed"]["onnx-fp32"] == 4.0
    assert by_median["model/normal/bs1/bucketed"]["onnx-fp32"] == 2.0


def test_speedups_need_the_reference_in_the_same_case():
    only_onnx = {k: v for k, v in medians().items() if k[-1] != "torch"}
    assert compute_speedups(results_from_json(fake_benchmark_doc(only_onnx))) == {}


def test_foreign_benchmarks_are_skipped():
    doc = fake_benchmark_doc(medians())
    doc["benchmarks"].append({"name": "test_other", "extra_info": {}, "stats": {"median": 1.0}})
    assert len(results_from_json(doc)) == 6


def test_speedup_gate_passes_an_unchanged_run_and_fails_a_30_percent_slower_backend(tmp_path):
    """The gate has teeth: saved baseline vs a run where onnx-fp32 takes 30% longer."""
    base_file, slow_file = tmp_path / "0001_base.json", tmp_path / "0002_slow.json"
    base_file.write_text(json.dumps(fake_benchmark_doc(medians())))
    slow_file.write_text(json.dumps(fake_benchmark_doc(medians({"onnx-fp32": 1.3}))))
    [base_doc, slow_doc] = load_benchmarks([base_file, slow_file])
    baseline = compute_speedups(results_from_json(base_doc))
    slowed = compute_speedups(results_from_json(slow_doc))

    assert point_rule_failures(baseline, baseline, max_drop=0.2) == []
    failures = point_rule_failures(slowed, baseline, max_drop=0.2)
    assert [(f.backend, f.case) for f in failures] == [("onnx-fp32", "model/normal/bs1/bucketed"),
                                                       ("onnx-fp32", "model/normal/bs8/bucketed")]
    assert failures[0].drop == pytest.approx(1 - 1 / 1.3)
    assert "onnx-fp32 model/normal/bs1/bucketed: speedup over torch eager 1.54x, baseline 2.00x (-23.1%;" \
        in str(failures[0])
    assert point_rule_failures(slowed, baseline, max_drop=0.25) == []  # a looser gate lets it through


def test_speedup_gate_reads_speedups_documents_and_skips_what_is_missing(tmp_path):
    results = results_from_json(fake_benchmark_doc(medians()))
    doc = speedups_document(results, model={"name": "tiny"}, gemm=PEAKS)
    path = write_json(tmp_path / "speedups.json", doc)
    saved = read_json(path, "speedups")
    assert saved["speedups"] == compute_speedups(results)
    assert saved["seconds"]["model/normal/bs1/bucketed"]["torch"] == 1.0
    assert saved["statistic"] == "min"
    assert point_rule_failures(saved, {"speedups": {"model/other/bs1/ordered": {"onnx-fp32": 9.0}}},
                               0.1) == []
    assert any("onnx-int8" in line for line in format_speedups(saved))
    alone = {**saved, "speedups": {}}  # torch benchmarked alone (walk AL: "torch was not benchmarked")
    assert format_speedups(alone)[0] == ("no speedups: no other backend was benchmarked beside the reference "
                                         "'torch' (a speedup is a backend's time against torch's in the same "
                                         "run): benchmark both")
    others = {**alone, "seconds": {c: {b: s for b, s in row.items() if b != "torch"}  # -k "onnx": the other
                                   for c, row in saved["seconds"].items()}}  # way round (review AP)
    said = format_speedups(others)[0]
    assert said.startswith("no speedups: the reference 'torch' was not benchmarked beside")
    with pytest.raises(ValueError):
        point_rule_failures(saved, saved, max_drop=1.0)


def test_comparability_warnings_name_a_changed_load_or_setup():
    base = {"model": {"content_hash": "a", "threads": 1}, "machine_gemm_gflops": 120.0}
    assert comparability_warnings(base, base) == []
    now = {"model": {"content_hash": "a", "threads": 0}, "machine_gemm_gflops": 30.0}
    warnings = comparability_warnings(now, base)
    assert len(warnings) == 2
    assert "threads differs" in warnings[0] and "loaded differently" in warnings[1]


def test_finish_session_writes_speedups_and_reports_the_gate(tmp_path):
    results = results_from_json(fake_benchmark_doc(medians()))
    first = finish_session(results, BenchSettings(), tmp_path / "a", {"name": "tiny"}, PEAKS)
    assert first.path == tmp_path / "a" / "speedups.json" and first.path.is_file()
    assert not any("gate" in text for text, _ in first.lines())

    gated = BenchSettings(baseline=first.path, max_drop=0.2)
    same = finish_session(results, gated, tmp_path / "b", {"name": "tiny"}, PEAKS)
    assert same.failures == [] and same.lines()[-2] == (
        f"speedup gate passed against {first.path} (max drop 20%)", "green")
    assert same.lines()[-1] == (ACROSS_RUNS, "")  # what a gate across runs can promise, and where to go

    slowed = results_from_json(fake_benchmark_doc(medians({"onnx-int8": 1.5})))
    worse = finish_session(slowed, gated, tmp_path / "c", {"name": "tiny"}, PEAKS)
    red = [text for text, style in worse.lines() if style == "red"]
    assert red[0].startswith("SPEEDUP GATE FAILED") and len(red) == 3
    assert all("onnx-int8" in text for text in red[1:])


def test_a_baseline_that_is_no_speedups_json_is_refused_and_one_sharing_nothing_compares_nothing(tmp_path):
    """Another tool's JSON as --gate-speedup-baseline used to pass the gate, comparing nothing: it is
    an error naming the file; a speedups.json of other cases is compared with nothing, and says so."""
    from encoder_gate.speed.baseline import read_baseline

    for doc in ({"tool": "other", "results": [1, 2]}, {"speedups": [1]}, {"speedups": {"a": "fast"}}):
        other = write_json(tmp_path / "other.json", doc)
        with pytest.raises(GateError, match=r"other\.json is not a speedups\.json of encoder-gate"):
            read_baseline(other)
    elsewhere = write_json(tmp_path / "elsewhere.json", {"speedups": {"model/short/bs64/padded": {"x": 2.0}}})
    results = results_from_json(fake_benchmark_doc(medians()))
    outcome = finish_session(results, BenchSettings(baseline=elsewhere), tmp_path / "r", {"name": "tiny"},
                             PEAKS)
    assert (f"SPEEDUP GATE FAILED: nothing was compared against {elsewhere}", "red") in outcome.lines()
    assert any("shares no case and backend with this run" in w for w in outcome.doc["gate"]["warnings"])
    from encoder_gate.decision import decide_documents

    verdict = decide_documents(None, {**outcome.doc, "provenance": {"model": {}, "dataset": {}}}, None)
    assert not verdict.passed and any("nothing was compared against" in s for s in verdict.session_failures)
    # a baseline of other batch sizes: the cells each side lacks are named
    first = finish_session(results, BenchSettings(), tmp_path / "a", {"name": "tiny"}, PEAKS)
    doc = json.loads(first.path.read_text())
    case = next(iter(doc["speedups"]))
    doc["speedups"]["model/normal/bs64/bucketed"] = doc["speedups"].pop(case)
    doc["speedups"][case] = {}
    partial = write_json(tmp_path / "partial.json", {**doc, "speedups": {**doc["speedups"]}})
    warned = finish_session(results, BenchSettings(baseline=partial), tmp_path / "p", {"name": "tiny"},
                            PEAKS).doc["gate"]["warnings"]
    assert any("not in the baseline, so not compared" in w for w in warned)
    assert any("in the baseline but not measured in this run" in w and "bs64" in w for w in warned)


def test_benchmark_files_latest_and_errors(tmp_path):
    machine = tmp_path / "Linux-CPython-3.11-64bit"
    machine.mkdir()
    for i, name in enumerate(("0001_a.json", "0002_b.json")):
        (machine / name).write_text(json.dumps(fake_benchmark_doc(medians())))
        os.utime(machine / name, (1000 + i, 1000 + i))
    (machine / "notes.json").write_text("{}")
    assert latest_benchmark_file(tmp_path).name == "0002_b.json"
    assert len(load_benchmarks([tmp_path])) == 1
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(GateError, match="not a pytest-benchmark JSON"):
        load_benchmark_json(tmp_path / "bad.json")
    with pytest.raises(GateError, match="no pytest-benchmark results"):
        latest_benchmark_file(tmp_path / "Linux-CPython-3.11-64bit" / "empty")


def test_the_benchmark_json_directory_is_made_before_any_test(tmp_path):
    """pytest-benchmark writes --benchmark-json at the session's end and failed there, every test
    run, in a fresh checkout whose report directory did not exist yet (the sharded workflow's)."""
    from encoder_gate.plugin.speed import _make_json_directory

    class Config:
        def __init__(self, path: Path) -> None:
            self.path = path

        def getoption(self, name: str, default: object = None) -> object:
            return self.path if name == "benchmark_json" else default

    _make_json_directory(Config(tmp_path / ".encoder-gate" / "shard" / "benchmarks.json"))
    assert (tmp_path / ".encoder-gate" / "shard").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(pytest.UsageError, match=r"--benchmark-json .*cannot create its directory"):
        _make_json_directory(Config(tmp_path / "file" / "benchmarks.json"))



# --- worker processes and memory ------------------------------------------------------------


def test_split_batches_deals_round_robin():
    assert split_batches([0, 1, 2, 3, 4], 2) == [[0, 2, 4], [1, 3]]
    assert split_batches([0], 3) == [[0], [], []]
    with pytest.raises(GateError, match="workers must be a positive integer"):
        split_batches([0], 0)


def _peak_in_child(queue) -> None:
    queue.put(peak_rss_bytes())


def test_peak_memory_is_the_process_own_not_its_parents():
    """A spawned worker reports its own peak, not the (bigger) peak of the process that started it.

    ru_maxrss survives exec on Linux, so a naive reading would report the parent's 300 MB here.
    """
    import multiprocessing as mp

    ballast = np.ones(300_000_000 // 8)  # 300 MB touched in this process
    assert peak_rss_bytes() > 300e6
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_in_child, args=(queue,))
    proc.start()
    child_peak = queue.get(timeout=120)
    proc.join(60)
    del ballast
    assert 10e6 < child_peak < 200e6


def test_worker_pool_runs_each_share_in_its_own_process(tiny, cache_dir):
    from encoder_gate.config import GateConfig

    config = GateConfig(model="tiny", cache_dir=cache_dir, threads=1)
    ids = np.full((2, 6), 5, dtype=np.int64)
    batch = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    with WorkerPool(config, "onnx-fp32", split_batches([batch, batch, batch], 2)) as pool:
        seconds = pool.run()
        assert len(seconds) == 2 and all(s > 0 for s in seconds)
        assert pool.messages == [4, 2]
        info = workers_info(pool, [max(seconds)])
    assert info["workers"] == 2 and info["backend_peak_rss_mb"] > max(info["worker_baseline_rss_mb"])


def test_worker_pool_reports_a_worker_that_cannot_build(cache_dir):
    from encoder_gate.config import GateConfig

    config = GateConfig(model="tiny", cache_dir=cache_dir, threads=1)
    batch = {"input_ids": np.ones((1, 4), dtype=np.int64), "attention_mask": np.ones((1, 4), dtype=np.int64)}
    with pytest.raises(GateError, match=r"worker 0 of onnx:/nonexistent\.onnx failed: GateError: "):
        WorkerPool(config, "onnx:/nonexistent.onnx", [[batch]])
    with pytest.raises(GateError, match="every worker needs at least one batch"):
        WorkerPool(config, "torch", [[batch], []])


def test_paired_speedup_is_the_median_ratio_of_alternating_rounds():
    """A burst of load on one pair moves only that pair's ratio; the median ignores it."""
    torch_s, backend_s = [2.0, 2.0, 9.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.1]
    assert paired_speedup(torch_s, backend_s) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="equally many rounds"):
        paired_speedup([1.0], [1.0, 2.0])


def test_compute_speedups_prefers_the_paired_ratio():
    plain = BenchResult("model", "normal", 8, "bucketed", "torch", 4.0)
    fp32 = BenchResult("model", "normal", 8, "bucketed", "onnx-fp32", 1.0, {"paired_speedup": 2.5})
    int8 = BenchResult("model", "normal", 8, "bucketed", "onnx-int8", 1.0)
    assert compute_speedups([plain, fp32, int8]) == {
        "model/normal/bs8/bucketed": {"onnx-fp32": 2.5, "onnx-int8": 4.0}}
    # paired results need no torch result of their own in the run
    assert compute_speedups([fp32]) == {"model/normal/bs8/bucketed": {"onnx-fp32": 2.5}}
    # merged files: the last result of a (case, backend) wins, paired or not
    rerun = BenchResult("model", "normal", 8, "bucketed", "onnx-fp32", 2.0)
    assert compute_speedups([plain, fp32, rerun])["model/normal/bs8/bucketed"] == {"onnx-fp32": 2.0}


def test_paired_setting_is_read_and_checked():
    assert settings_from_env({}).paired  # on by default: the speedup gate relies on it
    assert not settings_from_env({ENV_PAIRED: "0"}).paired
    with pytest.raises(GateError, match="must be 1 or 0"):
        settings_from_env({ENV_PAIRED: "maybe"})

