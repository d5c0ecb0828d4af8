"""Each row's device (runtime.devices): a file with no kernels on the session's GPU is judged on the
CPU, a pinned backend runs where it is pinned or fails saying why, and every result names its device
so that nothing joins rows of two devices. All of it on the CPU: a GPU session's choices are made
before any GPU computes, and a backend here stands in for a file with dynamic INT8 operators."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.backends.base import BuildContext, Device
from encoder_gate.backends.mock import MockBackend, MockRunner
from encoder_gate.backends.registry import BACKENDS, parse_backend
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError, NoKernelsOnDevice
from encoder_gate.reporting.session_notes import device_notes
from encoder_gate.runtime.devices import planned_device
from encoder_gate.runtime.session import GateSession
from encoder_gate.speed.results import BenchResult, cell_sizing, compute_speedups
from encoder_gate.speed.rules import unlike_cells

BUILT_ON: list[str] = []


def constant(batch, inner):
    return np.full((len(batch["input_ids"]), 28), 0.25, dtype=np.float32)


@dataclass(frozen=True)
class CpuFormat:
    """A backend whose file has no kernels on a GPU, as dynamic INT8's: on cuda its build raises what
    onnx_session.open_session raises for such a file."""

    name: str = "cpu-format"
    number_format: str = "int8"
    packages: tuple[str, ...] = ()

    def providers(self, device: Device) -> tuple[str, ...]:
        return ()

    def build(self, ctx: BuildContext) -> MockRunner:
        BUILT_ON.append(ctx.device)
        ctx.progress(f"{self.name}: from cache at ENTRY")  # what an ONNX file's build says of its file
        if ctx.device == "cuda":
            raise NoKernelsOnDevice("model.onnx: its DynamicQuantizeLinear nodes have no CUDA kernel in ONNX "
                                    "Runtime")
        return MockBackend(constant, name=self.name, number_format="int8").build(ctx)


@pytest.fixture
def cpu_format(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(BACKENDS, "cpu-format", lambda: CpuFormat())
    BUILT_ON.clear()
    return "cpu-format"


def session(cache_dir: Path, said: list[str] | None = None, **settings) -> GateSession:
    config = GateConfig(model="tiny", cache_dir=cache_dir, backends=("torch", "cpu-format"), **settings)
    return GateSession(config, progress=(said.append if said is not None else lambda _: None))


def test_a_file_with_no_kernels_on_the_sessions_gpu_is_built_and_judged_on_the_cpu(cpu_format, tiny,
                                                                                  cache_dir: Path):
    """Unpinned, in a cuda session: tried on cuda, built on the CPU, its record and notes saying so;
    the reference and every other backend stay on the session's device. What the try on cuda said
    of its file is not said twice: the CPU's build says it."""
    said: list[str] = []
    gate = session(cache_dir, said, device="cuda")
    assert gate.device_of(cpu_format) == "cuda"  # before it is built: the session's
    gate.runner(cpu_format)
    assert BUILT_ON == ["cuda", "cpu"] and gate.device_of(cpu_format) == "cpu"
    assert said.count("cpu-format: from cache at ENTRY") == 1, said
    record = gate.records[cpu_format]
    assert record.device == "cpu" and any(
        "computed on the CPU in a cuda session" in n and "DynamicQuantizeLinear" in n for n in record.notes)
    assert gate.device_of("torch") == "cuda" and gate.context(cpu_format).device == "cpu"
    assert gate.context().device == "cuda"


def test_a_builds_held_progress_is_said_in_order_once_released_then_as_it_comes():
    from encoder_gate.runtime.devices import HeldProgress

    said: list[str] = []
    held = HeldProgress(said.append)
    held("one")
    held("two")
    assert said == []
    held.release()
    held("three")  # a runner's later lines (a pass's progress) go straight on
    assert said == ["one", "two", "three"]


def test_a_backend_pinned_to_a_device_it_cannot_run_on_fails_saying_why(cpu_format, tiny, cache_dir: Path):
    """Pinned to cuda it is not moved: its build fails, naming the pin and what mends it, and every
    later test of it fails with the same words."""
    gate = session(cache_dir, device="cuda", devices={"cpu-format": "cuda"})
    for _ in range(2):
        with pytest.raises(GateError, match=r"cpu-format is pinned to cuda \(\[tool.encoder-gate.devices\]\) "
                                            r"and cannot run there: .*DynamicQuantizeLinear.*Pin it to the "
                                            r"CPU \(cpu-format = \"cpu\"\)"):
            gate.runner(cpu_format)
    assert BUILT_ON == ["cuda"] and gate.records[cpu_format].error


def test_a_librarys_own_failure_in_a_build_is_one_line_kept_for_the_backends_later_tests(
        monkeypatch: pytest.MonkeyPatch, tiny, cache_dir: Path):
    """A build that fails with a library's own exception (not a GateError: onnxruntime's quantization
    importing a module the environment lacked, before the artifact cache named it) was built again by
    each of the backend's tests, 22 of them, each failing with the library's traceback. It fails once,
    as a GateError naming the backend and the innermost cause, raised again by its later tests."""
    calls: list[str] = []

    @dataclass(frozen=True)
    class Breaks:
        name: str = "breaks"
        number_format: str = "int8"
        packages: tuple[str, ...] = ()

        def providers(self, device: Device) -> tuple[str, ...]:
            return ()

        def build(self, ctx: BuildContext) -> MockRunner:
            calls.append(ctx.device)
            try:
                raise KeyError("the graph's input 'x'")
            except KeyError as inner:
                raise RuntimeError("quantization failed\n(a page of the library's advice)") from inner

    monkeypatch.setitem(BACKENDS, "breaks", lambda: Breaks())
    gate = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, backends=("torch", "breaks")),
                       progress=lambda _: None)
    for _ in range(2):
        with pytest.raises(GateError) as caught:
            gate.runner("breaks")
        assert str(caught.value) == "breaks could not be built: KeyError: \"the graph's input 'x'\""
    assert calls == ["cpu"] and gate.records["breaks"].error == str(caught.value)


def test_a_backend_pinned_to_the_cpu_is_built_there_in_a_gpu_session(cpu_format, tiny, cache_dir: Path):
    """Pinned to the CPU: built there at once (no try on the GPU), and its twin on an integer path too;
    a CPU session's reference is its own runner on the CPU."""
    said: list[str] = []
    gate = session(cache_dir, said, device="cuda", devices={"cpu-format": "cpu"})
    gate.runner(cpu_format)
    assert BUILT_ON == ["cpu"] and gate.device_of(cpu_format) == "cpu"
    assert said.count("cpu-format: from cache at ENTRY") == 1, said  # a build that holds: said once
    assert not any("computed on the CPU" in n for n in gate.records[cpu_format].notes)
    assert planned_device(gate.config, "onnx-int8~saturating") == "cpu"
    assert planned_device(gate.config, "onnx-fp16") == "cuda"
    cpu = session(cache_dir)
    assert cpu.reference_on("cpu") is cpu.runner("torch")


def test_dynamic_int8_in_a_gpu_session_is_judged_on_the_cpu_even_where_onnxruntime_has_no_cuda(
        tiny, cache_dir: Path):
    """The real onnx-int8 and a prebuilt file of it, in a cuda session on a machine whose onnxruntime
    has no CUDA provider (a GPU runner given encoder-gate[cpu]): a CPU format, said before the
    providers are asked for, so both are built and judged on the CPU with the note; onnx-fp32 still
    says what to install."""
    import onnxruntime as ort

    from encoder_gate.errors import DeviceUnavailable

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider: the cuda session opens its files there")
    int8_dir, _ = parse_backend("onnx-int8").artifact(
        GateSession(GateConfig(model="tiny", cache_dir=cache_dir), progress=lambda _: None).context())
    prebuilt = f"onnx:{int8_dir / 'model.onnx'}"
    config = GateConfig(model="tiny", cache_dir=cache_dir, device="cuda",
                        backends=("onnx-int8", prebuilt, "onnx-fp32"))
    gate = GateSession(config, progress=lambda _: None)
    for name in ("onnx-int8", prebuilt):
        gate.runner(name)
        assert gate.device_of(name) == "cpu", name
        assert any("computed on the CPU in a cuda session" in n and "DynamicQuantizeLinear" in n
                   for n in gate.records[name].notes), gate.records[name].notes
    with pytest.raises(DeviceUnavailable, match="no CUDAExecutionProvider"):
        gate.runner("onnx-fp32")
    gate.close()


@pytest.mark.parametrize("devices, message", [
    ({"onnx-int9": "cpu"}, r"pins onnx-int9, which names no backend"),
    ({"onnx-int8": "gpu"}, r"the device of onnx-int8 must be one of cpu, cuda, got 'gpu'"),
    ("onnx-int8=cpu", r"devices must be a table of backend = device"),
], ids=["typo", "no-such-device", "not-a-table"])
def test_a_pin_that_would_pin_nothing_is_a_usage_error(devices, message: str):
    with pytest.raises(GateError, match=message):
        GateConfig.from_sources({"devices": devices}, {}, Path("."))


def test_a_pin_of_a_backend_this_session_leaves_out_is_kept_for_the_sessions_that_run_it():
    """--gate-backends (or a shard's share) may leave a pinned backend out: not an error; and the pins
    are judging settings, so shards or a base that pin otherwise are refused a merge (recorded only
    when set, so an upgrade's report directory and history still join)."""
    config = GateConfig.from_sources({"devices": {"onnx-int8": "cpu"}}, {"backends": "torch,onnx-fp16"},
                                     Path("."))
    assert config.pinned_device("onnx-int8~exact") == "cpu" and config.pinned_device("torch") is None
    assert config.judging()["devices"] == {"onnx-int8": "cpu"}
    assert "devices" not in GateConfig().judging()  # unset: documents from before pins existed still join


def test_every_row_names_its_device_and_the_verdict_says_which_left_the_sessions():
    """The session's device comes from its documents' provenance; the verdict names the rows computed
    elsewhere (a row whose device is unknown, an older document's, is not)."""
    from encoder_gate.decision import Status
    from encoder_gate.decision.types import BackendVerdict
    from encoder_gate.reporting.session_notes import session_device

    rows = [BackendVerdict("onnx-fp16", Status.PASS, device="cuda"),
            BackendVerdict("onnx-int8", Status.PASS, device="cpu"), BackendVerdict("onnx-fp32", Status.PASS)]
    session = session_device(None, {"provenance": {"settings": {"device": "cuda"}}})
    assert session == "cuda"
    (note,) = device_notes(rows, session)
    assert "this session's (cuda): `onnx-int8` on the CPU" in note and "onnx-fp16" not in note
    assert "speedup is over torch eager on its own device" in note and "onnx-fp32" not in note
    assert device_notes([BackendVerdict("onnx-int8", Status.PASS, device="cpu")], "cpu") == []


def test_a_cpu_time_is_never_set_against_a_gpu_time_nor_compared_with_a_baseline_of_another_device():
    """An unpaired cell of a CPU row beside torch eager's on the GPU gives no speedup (a paired one was
    timed against torch eager on the CPU: its ratio stands); a baseline's cell of the backend on another
    device is other work, never compared."""
    case = ("model", "normal", 8, "bucketed")
    torch_gpu = BenchResult(*case, "torch", 0.01, {"device": "cuda"})
    int8_cpu = BenchResult(*case, "onnx-int8", 0.05, {"device": "cpu"})
    fp16_gpu = BenchResult(*case, "onnx-fp16", 0.002, {"device": "cuda"})
    paired = BenchResult(*case, "onnx-int8", 0.05, {"device": "cpu", "paired_speedup": 2.1})
    (row,) = compute_speedups([torch_gpu, int8_cpu, fp16_gpu]).values()
    assert row == {"onnx-fp16": pytest.approx(5.0)}
    (row,) = compute_speedups([torch_gpu, paired, fp16_gpu]).values()
    assert row["onnx-int8"] == 2.1
    assert cell_sizing({"device": "cpu", "paired_texts": 64}) == {"device": "cpu", "texts": 64}
    now = {"stats": {"c": {"onnx-int8": {"texts": 64, "device": "cpu"}}}}
    then = {"stats": {"c": {"onnx-int8": {"texts": 64, "device": "cuda"}}}}
    assert unlike_cells(now, then) == {("c", "onnx-int8"): "device cpu now, cuda in the baseline"}
    assert unlike_cells(now, now) == {}


# --- init for a GPU runner ------------------------------------------------------------------------


def _index_install():
    """An index install, so the tests do not depend on how encoder-gate is installed here."""
    from encoder_gate.commands.init import package_version
    from encoder_gate.commands.install_source import InstallSource, index_requirement

    return InstallSource(index_requirement(package_version()), "index", "from a package index")


def _gpu_repo(root: Path) -> Path:
    model = root / "models" / "clf"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"architectures": ["BertForSequenceClassification"], '
                                       '"id2label": {"0": "negative", "1": "positive"}}')
    return root


def test_init_for_a_gpu_runner_writes_its_device_its_labels_and_onnxruntime_gpu_alone(tmp_path: Path):
    """`init --device cuda --runner self-hosted,gpu`: the table says cuda; the gate job runs on those
    labels with torch's CUDA build and encoder-gate[gpu] (never onnxruntime beside it); the jobs that
    only read results stay on ubuntu-latest with the CPU extra; zizmor finds nothing."""
    import shutil
    import subprocess
    import sys
    import tomllib

    import yaml

    from encoder_gate.commands.init import InitRequest, package_version, run_init

    plan, _ = run_init(InitRequest(model="models/clf", root=_gpu_repo(tmp_path), device="cuda",
                                   runner=("self-hosted", "gpu")), _index_install())
    table = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["encoder-gate"]
    assert table["device"] == "cuda"
    assert any("judged on that runner's CPU in the same job" in n for n in plan.notes)
    text = (tmp_path / ".github/workflows/encoder-gate.yml").read_text()
    jobs = yaml.safe_load(text)["jobs"]
    assert jobs["gate"]["runs-on"] == ["self-hosted", "gpu"]
    gate_install = next(s["run"] for s in jobs["gate"]["steps"] if s.get("name") == "Install encoder-gate")
    assert f"encoder-gate[gpu]=={package_version()}" in gate_install and "[cpu]" not in gate_install
    assert 'venv/bin/pip install -q "$torch"\n' in gate_install and "whl/cpu" not in gate_install
    history = next(s["run"] for s in jobs["history"]["steps"] if s.get("name") == "Install encoder-gate")
    assert jobs["history"]["runs-on"] == "ubuntu-latest" and "[cpu]" in history and "whl/cpu" in history
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if Path(zizmor).is_file():
        done = subprocess.run([zizmor, "--offline", "--no-progress", str(tmp_path / ".github/workflows")],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "No findings to report" in done.stdout + done.stderr, done.stdout


@pytest.mark.parametrize("settings, message", [
    ({"device": "cuda"}, r"--device cuda needs the labels of a GPU runner to run on: --runner"),
    ({"device": "cuda", "runner": ("gpu; rm -rf",)}, r"runner labels \['gpu; rm -rf'\]"),
], ids=["no-runner", "odd-label"])
def test_init_for_a_gpu_runner_without_usable_labels_writes_nothing(tmp_path: Path, settings, message: str):
    from encoder_gate.commands.init import InitRequest, run_init

    with pytest.raises(GateError, match=message):
        run_init(InitRequest(model="models/clf", root=_gpu_repo(tmp_path), **settings), _index_install())
    assert not (tmp_path / "pyproject.toml").exists() and not (tmp_path / ".github").exists()


def test_the_verdicts_row_of_a_backend_computed_elsewhere_names_its_device():
    """verdict.md's row of a backend computed on another device than the session's says where, and
    verdict.json's backend carries its device; the session's own rows stay as they were."""
    from encoder_gate.publish import build_verdict, render_verdict

    check = {"observed": 0.01, "bound": 0.6, "passed": True, "direction": "at most"}
    row = {"dtype": "fp32", "size_bytes": 1000, "drift_max": 0.01, "checks": {"drift_max": check},
           "verdict": "pass"}
    accuracy = {
        "schema": 1, "provenance": {"model": {"name": "tiny", "content_hash": "abc"},
                                    "dataset": {"source": "bundled", "sha256": None, "split": "test",
                                                "variant": "normal", "limit": None},
                                    "settings": {"device": "cuda", "threads": 1,
                                                 "backends": ["torch", "onnx-fp16", "onnx-int8"]},
                                    "written": "2026-11-27T10:00:00+0000"},
        "model": {"name": "tiny", "path": "/x", "task": "multi_label", "model_type": "roberta",
                  "content_hash": "abc"},
        "dataset": {"source": "bundled", "split": "test", "variant": "normal", "examples": 40},
        "threshold": 0.5, "versions": {}, "labelled": False,
        "configured_backends": ["torch", "onnx-fp16", "onnx-int8"],
        "backends": {"torch": {**row, "device": "cuda"}, "onnx-fp16": {**row, "device": "cuda"},
                     "onnx-int8": {**row, "device": "cpu"}}, "not_evaluated": {},
    }
    text = render_verdict(accuracy, None)
    assert "| onnx-int8 (on cpu) | pass |" in text and "| onnx-fp16 | pass |" in text
    assert "this session's (cuda): `onnx-int8` on the CPU" in text
    verdict = build_verdict(accuracy, None).verdict
    devices = {b.name: b.device for b in verdict.backends}
    assert devices == {"torch": "cuda", "onnx-fp16": "cuda", "onnx-int8": "cpu"}
    assert next(b for b in verdict.to_json()["backends"] if b["name"] == "onnx-int8")["device"] == "cpu"


def test_a_gpu_sessions_fingerprint_holds_its_gpu_and_a_save_from_another_gpu_is_another_machine(
        monkeypatch: pytest.MonkeyPatch):
    """A cuda session's hardware fingerprint names the GPU (name, compute capability, memory, driver,
    CUDA, cuDNN), read through torch and nvidia-smi (here stood in for): a baseline saved on an L4 is
    not compared with an H100's, naming what differs; a CPU session's fingerprint has no GPU."""
    from types import SimpleNamespace

    import torch

    from encoder_gate.speed import machine

    gpus = {"h100": SimpleNamespace(name="NVIDIA H100 80GB HBM3", major=9, minor=0, total_memory=80 * 2**30),
            "l4": SimpleNamespace(name="NVIDIA L4", major=8, minor=9, total_memory=24 * 2**30)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(machine, "_nvidia_driver", lambda: "580.95.05")
    prints = {}
    for name, props in gpus.items():
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _index, props=props: props)
        prints[name] = machine.hardware_fingerprint(1, ["CUDAExecutionProvider"], device="cuda")
    assert prints["h100"]["gpu"] == {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0",
                                     "memory_gib": 80, "driver": "580.95.05", "cuda": "13.0", "cudnn": 91002}
    differ = machine.fingerprint_differences(prints["h100"], prints["l4"])
    assert "gpu.name: 'NVIDIA H100 80GB HBM3' now, 'NVIDIA L4' in the baseline" in differ
    assert any(d.startswith("gpu.compute_capability") for d in differ)
    assert machine.fingerprint_differences(prints["h100"], prints["h100"]) == []
    assert "gpu" not in machine.hardware_fingerprint(1, ["CPUExecutionProvider"])


def test_the_gpu_check_refuses_a_machine_without_a_gpu_in_one_line(tmp_path: Path):
    """.ci/gpu-check on a machine with no CUDA GPU: exit 2 and one line saying what it needs, before
    it installs or builds anything."""
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: .ci/gpu-check runs for real (docs/development.md)")
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / ".ci" / "gpu-check"), str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "gpu-check: no CUDA GPU here" in done.stderr and not list((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_the_gpu_check_stopped_at_its_first_step_stops_what_runs_and_writes_its_summary(tmp_path: Path):
    """.ci/gpu-check --rehearse given a TERM (a `timeout`) while its first step runs (the device's
    self-tests, the reference repository's build beside them): every session and build still running
    is stopped with its children, each running session gets a row that says so, the summary is
    written, exit 124. (The trap was set at its last step only: a TERM earlier left the build and the
    sessions on the GPU, and no summary.)"""
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable}
    script = subprocess.Popen(["bash", str(root / ".ci" / "gpu-check"), "--rehearse", str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = out / "running" / "self-tests-gpu-device"
    deadline = time.monotonic() + 60
    while not running.exists() and script.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.exists(), script.communicate(timeout=60)[0][-2000:]
    script.send_signal(signal.SIGTERM)
    said, _ = script.communicate(timeout=60)
    assert script.returncode == 124, said[-2000:]
    summary = (out / "summary.md").read_text()
    assert "| self-tests-gpu-device | stopped (TERM) | no verdict | - |" in summary, summary
    time.sleep(0.5)  # (a killed process's exit)
    left = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True, check=False).stdout
    assert not left.strip(), f"still running: {left}"


def torch_log(pid: int, key: str, details: list[str], status: str) -> str:
    """A torch log as TORCH_LOGS=+torch._inductor.codecache writes it: the hash details of one compile
    (a multi-line message, each line with torch's prefix), then its lookup."""
    prefix = f"V1128 05:58:05.358000 {pid} torch/_inductor/codecache.py:1646] [0/0_1] "
    lines = [f"{prefix}FX graph cache hash details for key {key}:", *(prefix + d for d in details),
             f"I1128 05:58:06.000000 {pid} torch/_inductor/codecache.py:2316] [0/0_1] fx graph cache "
             f"{status} for key {key}"]
    return "\n".join(lines) + "\n"


def test_the_fx_cache_diff_names_what_differs_in_torchs_key_between_two_sessions(tmp_path: Path):
    """.ci/fx-cache-diff (gpu-check's last lines): a key the later session missed is set against the
    earlier session's nearest key, and the hash-detail lines that differ are named, not those whose
    hash is the same on both sides (a function's address); the same key missed says its guards
    failed; no miss, nothing to explain; a missing log, exit 2 in one line."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / ".ci" / "fx-cache-diff"
    common = ["[aaa] gm: <lambda>()", "[bbb] example_inputs[0]: TensorMetadata(dtype=torch.int64)"]
    earlier = tmp_path / "accuracy.torch.log"
    decomp = "[ccc] fx_kwargs[get_decomp_fn]: <function at 0x{}>"  # the same hash, another address
    earlier.write_text(torch_log(11, "k1first", [*common, decomp.format("7f4b"),
                                                 "[ddd] cuda_matmul_settings: (False, True, True)"], "miss"))
    later = tmp_path / "benchmarks.torch.log"
    later.write_text(torch_log(22, "k2second", [*common, decomp.format("7f5c"),
                                                "[eee] cuda_matmul_settings: (True, True, True)"], "miss"))

    def run(*args: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                              check=False, timeout=60)

    done = run(earlier, later)
    assert done.returncode == 0, done.stderr
    assert "- accuracy.torch.log: miss k1first" in done.stdout
    assert "- benchmarks.torch.log: miss k2second" in done.stdout
    assert "k2second against the earlier k1first: 2 differing line(s)" in done.stdout
    assert "-[ddd] cuda_matmul_settings: (False, True, True)" in done.stdout
    assert "+[eee] cuda_matmul_settings: (True, True, True)" in done.stdout
    assert "get_decomp_fn" not in done.stdout
    again = tmp_path / "again.torch.log"
    again.write_text(torch_log(33, "k1first", common, "miss"))
    assert "k1first: the earlier session compiled this same key" in run(earlier, again).stdout
    hit = tmp_path / "hit.torch.log"
    hit.write_text(torch_log(44, "k1first", common, "hit"))
    assert "missed no FX graph" in run(earlier, hit).stdout
    missing = run(earlier, tmp_path / "none.log")
    assert missing.returncode == 2 and "no torch log at" in missing.stdout


def test_the_fx_cache_diff_reads_the_probes_records_where_torchs_printed_details_agree(tmp_path: Path):
    """With `--probe`, a missed key's example inputs that hashed otherwise than in the earlier key are
    grouped by the cache-metadata fields that differ (the H200's 202 parameters: torch's printed
    details the same text on both sides); a key the probe did not record is said."""
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / ".ci" / "fx-cache-diff"
    common = ["[aaa] gm: <lambda>()", "[bbb] example_inputs[0]: TensorMetadata(dtype=torch.float32)"]
    (tmp_path / "a.log").write_text(torch_log(11, "fone", common, "miss"))
    (tmp_path / "b.log").write_text(torch_log(22, "ftwo", common, "miss"))

    def tensor(requires_grad: bool, static: bool) -> dict:
        fields = {"dtype": "torch.float32", "requires_grad": repr(requires_grad), "static": repr(static),
                  "storage_bytes": "3072" if static else "None"}
        return {"type": "FakeTensor", "hash": f"h{requires_grad}{static}", "fields": fields}

    size = {"type": "SymInt", "hash": "hs", "fields": {"value": "u0"}}
    for name, key, inputs in (("a", "fone", [size, tensor(True, False), tensor(True, False)]),
                              ("b", "ftwo", [size, tensor(False, True), tensor(False, True)])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "7.jsonl").write_text(json.dumps({"details": "AOTAutogradCacheDetails", "key": "x",
                                                             "inputs": []}) + "\n"
                                                 + json.dumps({"details": "FxGraphHashDetails", "key": key,
                                                               "inputs": inputs}) + "\n")
    done = subprocess.run([sys.executable, str(script), *(str(tmp_path / n) for n in ("a.log", "b.log")),
                           "--probe", str(tmp_path / "a"), str(tmp_path / "b")],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ftwo against the earlier fone: 0 differing line(s)" in done.stdout  # torch's text: no help
    assert ("ftwo, 2 input(s) hashed otherwise (first: example_inputs[1]): requires_grad True -> False; "
            "static False -> True; storage_bytes None -> 3072") in done.stdout
    # odd lines (not an object, no inputs, inputs of no fields) are passed over, never a traceback
    (tmp_path / "a" / "8.jsonl").write_text("null\n[1, 2]\n" + json.dumps({"details": "FxGraphHashDetails",
                                                                          "key": "fodd"}) + "\n"
                                         + json.dumps({"details": "FxGraphHashDetails", "key": "fodd2",
                                                       "inputs": [1, {"hash": "x"}]}) + "\n")
    odd = subprocess.run([sys.executable, str(script), *(str(tmp_path / n) for n in ("a.log", "b.log")),
                          "--probe", str(tmp_path / "a"), str(tmp_path / "b")],
                         capture_output=True, text=True, check=False, timeout=60)
    assert odd.returncode == 0 and "Traceback" not in odd.stderr, odd.stderr
    assert "ftwo, 2 input(s) hashed otherwise" in odd.stdout
    (tmp_path / "b" / "7.jsonl").write_text("")
    again = subprocess.run([sys.executable, str(script), *(str(tmp_path / n) for n in ("a.log", "b.log")),
                            "--probe", str(tmp_path / "a"), str(tmp_path / "b")],
                           capture_output=True, text=True, check=False, timeout=60)
    assert "the probe recorded no key ftwo in the later session" in again.stdout


@pytest.mark.slow
def test_the_fx_probe_records_the_key_torch_computed_and_each_inputs_metadata(tmp_path: Path):
    """.ci/fxprobe.py in a process that compiles: one record a FX graph key, the key torch's log says
    it looked up, each example input's type, hash and cache-metadata fields. Importing it leaves
    TORCHINDUCTOR_CACHE_DIR as it was (inductor's codecache writes torch's default there, which the
    gate, loaded after it, would take for the user's)."""
    import json
    import os
    import re
    import subprocess
    import sys

    here = Path(__file__).resolve().parent.parent / ".ci"
    code = ("import os, sys, fxprobe, torch\n"
            "assert 'TORCHINDUCTOR_CACHE_DIR' not in os.environ, os.environ['TORCHINDUCTOR_CACHE_DIR']\n"
            "os.environ['TORCHINDUCTOR_CACHE_DIR'] = sys.argv[1]\n"
            "with torch.no_grad():\n"
            "    torch.compile(torch.nn.Linear(4, 3))(torch.randn(2, 4))\n")
    log = tmp_path / "torch.log"
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    env.update(PYTHONPATH=str(here), FXPROBE_OUT=str(tmp_path / "probe"),
               TORCH_LOGS="+torch._inductor.codecache", TORCH_LOGS_OUT=str(log))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "inductor")], env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for f in (tmp_path / "probe").glob("*.jsonl")
               for line in f.read_text().splitlines()]
    graphs = [r for r in records if r["details"] == "FxGraphHashDetails"]
    looked_up = re.findall(r"fx graph cache (?:hit|miss) for key (\w+)", log.read_text())
    assert graphs and looked_up and graphs[0]["key"] == looked_up[0]
    tensors = [i for i in graphs[0]["inputs"] if i["type"] == "FakeTensor"]
    fields = {"dtype", "shape", "requires_grad", "storage_bytes", "static"}
    assert tensors and fields <= tensors[0]["fields"].keys()


def test_a_gpu_sessions_header_says_how_its_rows_on_the_cpu_are_timed(pytester: pytest.Pytester,
                                                                       cache_dir: Path):
    """At one thread a GPU session times its GPU rows on the wall clock and its CPU rows on the
    thread's CPU time: the lines under "collected N items" say both (a CPU session, one clock, says
    one), where the session collected a benchmark."""
    pytester.makepyfile(test_speed="from encoder_gate.suite.benchmarks import *  # noqa: F403\n")
    common = ["--gate-model", "tiny", "--gate-threads", "1", f"--gate-cache-dir={cache_dir}", "--co",
              "-p", "no:cacheprovider"]
    gpu = pytester.runpytest("--gate-device", "cuda", *common)
    gpu.stdout.fnmatch_lines(["*timed in rounds of their own on wall time*",
                              "*a backend computed on the CPU in this session*thread's CPU time*"])
    cpu = pytester.runpytest(*common)
    assert "a backend computed on the CPU in this session" not in cpu.stdout.str()


# A project whose conftest registers a stand-in for a dynamic INT8 file: torch's outputs, but its build
# raises on cuda what onnx_session.open_session raises for a file with no CUDA kernels.
STAND_IN = '''
from encoder_gate.backends.mock import MockBackend
from encoder_gate.backends.registry import BACKENDS, parse_backend
from encoder_gate.errors import NoKernelsOnDevice


def passthrough(batch, inner):
    return inner.predict(batch)


class CpuFormat:
    name, number_format, packages = "cpu-format", "int8", ("torch",)

    def providers(self, device):
        return ()

    def build(self, ctx):
        if ctx.device == "cuda":
            raise NoKernelsOnDevice("model.onnx: its DynamicQuantizeLinear nodes have no CUDA kernel")
        return MockBackend(passthrough, name="cpu-format", number_format="int8", around="torch",
                           identity="cpu-format-v1", packages=("torch",)).build(ctx)


BACKENDS["cpu-format"] = CpuFormat
'''


@pytest.mark.slow
def test_a_gpu_session_judges_and_times_a_file_with_no_cuda_kernels_on_the_cpu(
        pytester: pytest.Pytester, cache_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A whole cuda session, run on the CPU: the reference pinned to the CPU, the stand-in falling back
    to it. Its accuracy and speed are judged there, against torch on the CPU, and accuracy.json,
    speedups.json, verdict.json and verdict.md each name the device of each row."""
    import json

    from encoder_gate.commands.layout import THIN_MODULES

    pytester.makepyfile(conftest=STAND_IN)
    pytester.makefile(".toml", pyproject='[tool.encoder-gate]\ndevices = {torch = "cpu"}\n')
    for rel, text in THIN_MODULES.items():
        (pytester.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / rel).write_text(text)
    report = pytester.path / "report"
    # where each cell is timed, not how well: a few rounds of a few texts
    monkeypatch.setenv("ENCODER_GATE_BENCH_ROUNDS", "2")
    monkeypatch.setenv("ENCODER_GATE_BENCH_TEXTS", "8")
    done = pytester.runpytest_subprocess(
        "accuracy", "benchmarks", "--gate-model", "tiny", "--gate-device", "cuda", "--gate-backends",
        "torch,cpu-format", "--gate-threads", "1", "--gate-limit", "200", "--gate-batch-sizes", "8",
        "-k", "not padding",  # which device each row names, not the padding properties (drawn elsewhere)
        f"--gate-cache-dir={cache_dir}", f"--gate-report-dir={report}", "-p", "no:cacheprovider",
        "-p", "no:randomly")
    assert done.ret == pytest.ExitCode.OK, done.stdout.str()[-3000:]
    done.stdout.fnmatch_lines(["*cpu-format: computed on the CPU in a cuda session: model.onnx: its "
                               "DynamicQuantizeLinear nodes have no CUDA kernel*"])
    rows = json.loads((report / "accuracy.json").read_text())["backends"]
    assert {n: r["device"] for n, r in rows.items()} == {"torch": "cpu", "cpu-format": "cpu"}
    speed = json.loads((report / "speedups.json").read_text())
    assert speed["devices"] == {"torch": "cpu", "cpu-format": "cpu"}
    cells = [row["cpu-format"] for row in speed["stats"].values()]
    assert cells and all(c["device"] == "cpu" and c["clock"] == "thread" for c in cells), cells
    verdict = json.loads((report / "verdict.json").read_text())
    assert {b["name"]: b["device"] for b in verdict["backends"]} == {"torch": "cpu", "cpu-format": "cpu"}
    text = (report / "verdict.md").read_text()
    assert "| cpu-format (on cpu) | pass |" in text and "`cpu-format` on the CPU" in text


@pytest.mark.parametrize("given", ["", ",", "self-hosted,,gpu"])
def test_an_empty_runner_label_is_refused_not_read_as_ubuntu_latest(tmp_path: Path, given: str,
                                                                     capsys: pytest.CaptureFixture[str]):
    from encoder_gate.commands.cli import main

    assert main(["init", str(_gpu_repo(tmp_path)), "--model", "models/clf", "--device", "cuda",
                 "--runner", given]) == 1
    assert f"--runner {given!r} names an empty label" in capsys.readouterr().err
    assert not (tmp_path / ".github").exists()
