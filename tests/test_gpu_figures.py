"""The figures of a GPU session beside its speedups: how busy the GPU was in a timed pass, and the
dispatch-bound cells the report names (speed.gpu_busy); each backend's peak GPU memory, in a process
holding it alone (speed.workers.measure_memory)."""

from __future__ import annotations

import numpy as np
import pytest

from encoder_gate.errors import GateError
from encoder_gate.reporting.benchmarks import Row, dispatch_bound_lines, gpu_memory_table
from encoder_gate.speed.gpu_busy import (
    CUPTI_TEARDOWN,
    DISPATCH_BOUND_SHARE,
    busy_info,
    busy_seconds,
    busy_share,
    dispatch_bound,
    gpu_busy_seconds,
    trace_work_intervals,
)


def test_busy_time_is_the_union_of_the_work_intervals():
    """Kernels of two streams that overlap count once; a kernel inside another adds nothing."""
    assert busy_seconds([]) == 0.0
    assert busy_seconds([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == pytest.approx(3.0)
    assert busy_seconds([(0.0, 5.0), (1.0, 2.0), (4.0, 6.0)]) == pytest.approx(6.0)
    assert busy_seconds([(2.0, 3.0), (0.0, 1.0)]) == pytest.approx(2.0)


def test_the_trace_gives_kernels_and_copies_in_seconds_and_nothing_of_the_host():
    """From torch.profiler's chrome trace: kernels, copies and sets (microseconds to seconds); the
    host's runtime calls and operators are not the GPU's work."""
    trace = {"traceEvents": [
        {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 1000.0, "dur": 500.0},
        {"ph": "X", "cat": "gpu_memcpy", "name": "HtoD", "ts": 2000, "dur": 100},
        {"ph": "X", "cat": "gpu_memset", "name": "set", "ts": 3000, "dur": 10},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 900, "dur": 50},
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 800, "dur": 900},
        {"ph": "i", "cat": "kernel", "name": "an instant, no span", "ts": 5000},
        "not an event"]}
    intervals = trace_work_intervals(trace)
    assert intervals == [pytest.approx((0.001, 0.0015)), pytest.approx((0.002, 0.0021)),
                         pytest.approx((0.003, 0.00301))]
    assert trace_work_intervals({}) == []


def test_a_cell_busy_under_half_its_wall_time_is_dispatch_bound_and_an_unknown_share_never_is():
    """The share is the busy time over the median pass; below DISPATCH_BOUND_SHARE the cell is
    dispatch-bound; unknown (no profiler, no passes) is never called either way."""
    assert busy_share(0.2, [1.0, 1.2, 0.8]) == pytest.approx(0.2)
    assert busy_share(2.0, [1.0]) == 1.0  # the traced pass ran longer than the median: capped
    assert busy_share(None, [1.0]) is None and busy_share(0.5, []) is None
    assert dispatch_bound(DISPATCH_BOUND_SHARE - 0.01) and not dispatch_bound(DISPATCH_BOUND_SHARE)
    assert not dispatch_bound(None)


def test_without_a_gpu_the_busy_time_is_not_known():
    """On a machine without CUDA nothing is profiled: the share is None and no cell is called
    dispatch-bound (the CPU rows carry no figure at all: suite.benchmarks asks on cuda only)."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: test_a_gpu_pass_is_traced runs instead")
    assert gpu_busy_seconds(lambda: None) is None
    assert busy_info(lambda: None, [0.1]) == {"gpu_busy_share": None, "dispatch_bound": False}


@pytest.mark.parametrize("preset", [None, "0"])
def test_the_profiled_pass_has_kineto_detach_cupti_at_its_end_unless_told_otherwise(monkeypatch, preset):
    """The busy pass is profiled in the process that times the next cells: the profile starts with
    TEARDOWN_CUPTI "1" (kineto detaches CUPTI only then; attached, it slows every later launch), and a
    value already set (torch's "0" for CUDA graphs, or the user's) is kept. (torch's CUDA and profiler
    faked: a CPU machine; the variable's effect is kineto's, on a GPU.)"""
    import json

    torch = pytest.importorskip("torch")
    profiler = pytest.importorskip("torch.profiler")

    if preset is None:
        monkeypatch.delenv(CUPTI_TEARDOWN, raising=False)
    else:
        monkeypatch.setenv(CUPTI_TEARDOWN, preset)
    seen: list[str | None] = []

    class Profile:
        def __init__(self, **_kwargs: object) -> None:
            pass

        def __enter__(self) -> Profile:
            import os

            seen.append(os.environ.get(CUPTI_TEARDOWN))
            return self

        def __exit__(self, *_exc: object) -> None:
            pass

        def export_chrome_trace(self, path: str) -> None:
            event = {"cat": "kernel", "ph": "X", "ts": 0, "dur": 250_000}
            with open(path, "w") as out:
                json.dump({"traceEvents": [event]}, out)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(profiler, "profile", Profile)
    assert gpu_busy_seconds(lambda: None) == pytest.approx(0.25)
    assert seen == ["1" if preset is None else preset]


@pytest.mark.gpu
def test_a_gpu_pass_is_traced_and_a_pass_of_tiny_launches_is_dispatch_bound():
    """On a GPU: a pass of large matrix products keeps it busy; a pass of many tiny additions,
    each waiting on the host, leaves it idle most of the wall time."""
    import time

    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine; the CUDA paths run only where one exists")
    big = torch.randn(4096, 4096, device="cuda")
    small = torch.ones(8, device="cuda")

    def heavy() -> None:
        for _ in range(20):
            big @ big
        torch.cuda.synchronize()

    def tiny() -> None:
        for _ in range(200):
            small.add_(1)
            torch.cuda.synchronize()

    for run, bound in ((heavy, False), (tiny, True)):
        run()
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            run()
            walls.append(time.perf_counter() - started)
        info = busy_info(run, walls)
        assert info["gpu_busy_share"] is not None and 0 < info["gpu_busy_share"] <= 1, info
        assert info["dispatch_bound"] is bound, info


def row(backend: str, batch_size: int, **info: object) -> Row:
    return Row(mode="model", variant="normal", dispatch="bucketed", batch_size=batch_size, backend=backend,
               precision="fp16", seconds=0.1, messages_per_s=10.0, speedup=2.0, info=info)


def test_the_report_names_dispatch_bound_cells_with_what_helps_and_says_nothing_on_a_cpu():
    """Each GPU cell's busy share is listed; those under the rule are named dispatch-bound with what
    would help; rows without a share (the CPU's) add no section."""
    rows = [row("onnx-fp16", 1, gpu_busy_share=0.2, dispatch_bound=True),
            row("onnx-fp16", 32, gpu_busy_share=0.9, dispatch_bound=False),
            row("onnx-int8", 1)]
    text = "\n".join(dispatch_bound_lines(rows))
    assert "onnx-fp16 bs=1 (20%), onnx-fp16 bs=32 (90%)" in text
    assert "**Dispatch-bound**" in text and ": onnx-fp16 bs=1. What would help: larger batches" in text
    assert "CUDA graphs" in text and "onnx-int8" not in text
    assert "Dispatch-bound" not in "\n".join(dispatch_bound_lines(rows[1:]))
    assert dispatch_bound_lines([row("onnx-int8", 1)]) == []


def test_a_backend_alone_in_its_process_reports_its_memory_and_on_a_cpu_no_gpu_figure(tiny, cache_dir):
    """measure_memory: one process builds only the backend, warms up and runs one pass; its peak
    resident memory is read, and a GPU figure only where the backend computes on cuda (None here,
    not 0: nothing was measured). A GPU's reading is the whole device's, so it is never asked of
    two workers at once."""
    from encoder_gate.config import GateConfig
    from encoder_gate.speed.workers import WorkerPool, measure_memory

    config = GateConfig(model="tiny", cache_dir=cache_dir, threads=1)
    ids = np.full((2, 6), 5, dtype=np.int64)
    batch = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    found = measure_memory(config, "onnx-fp32", [batch, batch])
    assert found["memory_gpu_mb"] is None and 10 < found["memory_peak_rss_mb"] < 2000, found
    with pytest.raises(GateError, match="measure it with one worker"):
        WorkerPool(config, "onnx-fp32", [[batch], [batch]], measure_gpu=True)


def test_a_gpu_reading_that_fell_during_the_probe_is_no_figure(monkeypatch):
    """The probe reads the whole device: where another process freed GPU memory meanwhile, what the
    device held for the backend comes out at or below zero. That is said, naming the cause and the
    fix, as a GateError (the fixture reports it beside the speed, and keeps nothing), never printed
    as the backend's peak."""
    from encoder_gate.speed import workers

    held: list[float | None] = []  # what the faked probe's device held for the backend, in bytes

    class Pool:
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            self.peak_rss, self.gpu_peak = [900e6], held[-1]

        def __enter__(self) -> Pool:
            return self

        def __exit__(self, *_exc: object) -> None:
            pass

        def run(self) -> list[float]:
            return [0.1]

    monkeypatch.setattr(workers, "WorkerPool", Pool)
    for fell in (-300e6, 0):
        held.append(fell)
        with pytest.raises(GateError, match=r"onnx-fp16: the GPU held -?\d+ MB more .* another process on "
                                            r"this GPU freed memory meanwhile.*alone on its GPU"):
            workers.measure_memory(None, "onnx-fp16", [])
    held.append(812e6)
    assert workers.measure_memory(None, "onnx-fp16", []) == {"memory_peak_rss_mb": 900.0,
                                                             "memory_gpu_mb": 812.0}
    held.append(None)  # a CPU row: no GPU figure, and no complaint
    assert workers.measure_memory(None, "onnx-int8", [])["memory_gpu_mb"] is None


@pytest.mark.gpu
def test_on_a_gpu_each_backend_alone_reports_what_the_gpu_holds_for_it(tiny, cache_dir):
    """On a GPU: the tiny model's torch and onnx-fp32 on cuda each hold some GPU memory (their
    weights at least, 0.4 MB), and far less than the device's memory."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine; the CUDA paths run only where one exists")
    from encoder_gate.config import GateConfig
    from encoder_gate.speed.workers import measure_memory

    config = GateConfig(model="tiny", cache_dir=cache_dir, threads=1, device="cuda")
    ids = np.full((8, 32), 5, dtype=np.int64)
    batch = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    total_mb = torch.cuda.get_device_properties(0).total_memory / 1e6
    for name in ("torch", "onnx-fp32"):
        found = measure_memory(config, name, [batch])
        assert found["memory_gpu_mb"] is not None and 0 < found["memory_gpu_mb"] < total_mb / 4, (name, found)


def test_the_report_sets_each_gpu_backends_peak_gpu_memory_beside_its_resident_memory():
    """One row per backend with a GPU figure (its first row's: the figure is per backend); the CPU's
    rows add no table."""
    rows = [row("torch", 1, model_size_bytes=500e6, memory_gpu_mb=812.4, memory_peak_rss_mb=2100.0,
                memory_batch_size=32),
            row("torch", 32, model_size_bytes=500e6, memory_gpu_mb=812.4, memory_peak_rss_mb=2100.0,
                memory_batch_size=32),
            row("onnx-fp16", 1, model_size_bytes=250e6, memory_gpu_mb=402.0, memory_peak_rss_mb=1500.0,
                memory_batch_size=32),
            row("onnx-int8", 1, model_size_bytes=125e6)]
    text = "\n".join(gpu_memory_table(rows))
    assert "## Peak GPU memory per backend (MB)" in text
    assert "| torch | 500.0 | 812 | 2,100 | 32 |" in text
    assert "| onnx-fp16 | 250.0 | 402 | 1,500 | 32 |" in text
    assert text.count("| torch |") == 1 and "onnx-int8" not in text
    assert gpu_memory_table(rows[3:]) == []
    failed = [row("onnx-fp16", 1, memory_gpu_mb=None, memory_error="worker 0 of onnx-fp16 died")]
    assert "- onnx-fp16: not measured: worker 0 of onnx-fp16 died" in gpu_memory_table(failed)


H200 = {"name": "NVIDIA H200", "compute_capability": "9.0", "memory_gib": 140, "driver": "580.159.04",
        "cuda": "13.0", "cudnn": 91900}


def test_a_probe_of_an_unchanged_artifact_on_the_same_machine_and_texts_is_kept_not_run_again(
        tiny, cache_dir, tmp_path):
    """kept_memory: the first session's probe is measured and kept; a later one with the same artifact,
    texts, batch size and machine reads it back (with the entry it came from) and runs no process;
    another GPU driver, other texts, another batch size or another artifact is measured again. A
    probe that fails keeps nothing, and a runner that names no artifact is measured every time."""
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession
    from encoder_gate.speed.machine import hardware_fingerprint
    from encoder_gate.speed.workers import kept_memory, memory_key

    session = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, threads=1), progress=lambda _m: None)
    fp32, fp16 = session.runner("onnx-fp32"), session.runner("onnx-fp16")
    machine = {**hardware_fingerprint(1, ["CUDAExecutionProvider"]), "gpu": H200}
    texts = ["a short text", "and a somewhat longer one, to pad against"]
    model = session.model.content_hash
    store = ArtifactCache(tmp_path / "kept")
    probes: list[str] = []

    def probe(tag: str) -> dict[str, float]:
        probes.append(tag)
        return {"memory_gpu_mb": 812.4, "memory_peak_rss_mb": 2100.0}

    key = memory_key(fp32, model, texts, 32, machine)
    first, kept = kept_memory(store, key, lambda: probe("first"))
    assert kept is None and first == {"memory_gpu_mb": 812.4, "memory_peak_rss_mb": 2100.0}
    same = memory_key(fp32, model, list(texts), 32, machine)
    again, kept = kept_memory(store, same, lambda: probe("again"))
    assert again == first and kept is not None and kept.is_dir() and probes == ["first"]

    newer_driver = {**machine, "gpu": {**H200, "driver": "590.10"}}
    for tag, other in (("driver", memory_key(fp32, model, texts, 32, newer_driver)),
                       ("texts", memory_key(fp32, model, texts[:1], 32, machine)),
                       ("batch", memory_key(fp32, model, texts, 8, machine)),
                       ("artifact", memory_key(fp16, model, texts, 32, machine))):
        assert other != key, tag
        assert kept_memory(store, other, lambda t=tag: probe(t))[1] is None, tag
    assert probes == ["first", "driver", "texts", "batch", "artifact"]

    def broken() -> dict[str, float]:
        raise GateError("worker 0 of onnx-fp32 died")

    failed_key = memory_key(fp32, model, texts, 16, machine)
    with pytest.raises(GateError, match="died"):
        kept_memory(store, failed_key, broken)
    assert kept_memory(store, failed_key, lambda: probe("after the failure"))[1] is None

    class Double:  # a test double or a wrapper: nothing names what it computes with
        name = "onnx-fp32"

    assert memory_key(Double(), model, texts, 32, machine) is None
    for _ in range(2):
        assert kept_memory(store, None, lambda: probe("unnamed"))[1] is None
    assert probes[-2:] == ["unnamed", "unnamed"]


def test_the_report_says_which_gpu_figures_were_kept_from_an_earlier_session():
    rows = [row("torch", 8, model_size_bytes=500e6, memory_gpu_mb=812.4, memory_peak_rss_mb=2100.0,
                memory_batch_size=32, memory_kept=True),
            row("onnx-fp16", 8, model_size_bytes=250e6, memory_gpu_mb=402.0, memory_peak_rss_mb=1500.0,
                memory_batch_size=32, memory_kept=False)]
    text = "\n".join(gpu_memory_table(rows))
    assert "Kept from an earlier session's probe of the same artifact, texts, machine and libraries" in text
    assert text.split("Kept from")[1].split("\n")[0].endswith(": torch.")
    assert "Kept from" not in "\n".join(gpu_memory_table(rows[1:]))


KEPT_PROBE_SESSION = '''
def test_probe(backend_memory, gate_session, monkeypatch):
    real = type(gate_session).device_of
    monkeypatch.setattr(type(gate_session), "device_of",  # its probe as a cuda row's
                        lambda self, name: "cuda" if name == "onnx-fp32" else real(self, name))
    gate_session.runner("onnx-fp32")
    found = backend_memory("onnx-fp32", gate_session.tokenizer_of("onnx-fp32"))
    print("FOUND", sorted(found.items()))
'''


@pytest.mark.slow
def test_a_second_session_reads_the_first_sessions_probe_back_through_the_fixture(
        pytester: pytest.Pytester, cache_dir, tmp_path):
    """The benchmark fixture's probe of a cuda row (its device faked; the probe process is real): a
    second session of the same model, texts and machine finds the first one's figures under the
    same key (its texts, fingerprint and the runner's identity are the same again) and starts no
    process; the progress says where they were kept."""
    pytester.makepyfile(test_probe=KEPT_PROBE_SESSION)
    kept = tmp_path / "kept"
    args = ("--gate-model", "tiny", "--gate-batch-sizes", "8", "--gate-threads", "1",
            f"--gate-cache-dir={kept}", "-p", "no:cacheprovider", "-s")
    import shutil

    from encoder_gate.cache import ArtifactCache
    from encoder_gate.models.resolve import resolve_model

    tiny = resolve_model("tiny", ArtifactCache(cache_dir))
    shutil.copytree(tiny.path, kept / tiny.path.name)  # the tiny model, not the artifacts
    first = pytester.runpytest(*args)
    assert first.ret == 0, first.stdout.str()[-2000:]
    first.stdout.fnmatch_lines(["*onnx-fp32: its peak GPU memory, in a process holding it alone*",
                                "*('memory_kept', False)*"])
    second = pytester.runpytest(*args)
    assert second.ret == 0, second.stdout.str()[-2000:]
    second.stdout.fnmatch_lines(["*onnx-fp32: peak GPU memory not read, resident * MB, kept from an earlier "
                                 "session's probe of this artifact on this machine (*gpu-memory-*)*",
                                 "*('memory_kept', True)*"])
    assert "in a process holding it alone" not in second.stdout.str()
    assert len([p for p in kept.glob("gpu-memory-*") if p.is_dir()]) == 1
