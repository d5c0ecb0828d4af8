"""The forecast of a session's cold work (speed.forecast): what it counts, what it leaves out, and
the cache lookups it rests on (runtime.predictions.predictions_kept,
backends.torch_backend.compile_entry_kept). Its accuracy is measured, not tested:
docs/development.md, "A cold session's forecast"."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from encoder_gate.backends.base import EAGER_WORK, Work
from encoder_gate.backends.onnx_backend import ONNX_WORK
from encoder_gate.backends.torch_backend import COMPILE_RECIPE, compile_entry_kept, graph_hash
from encoder_gate.cache import ArtifactCache, toolchain_versions
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.inference import max_length, padded_tokens, token_batches, token_lengths
from encoder_gate.runtime.predictions import PREDICTIONS_RECIPE, predictions_kept, texts_digest
from encoder_gate.speed import forecast as fc
from encoder_gate.speed.flops import ModelDims, sequence_flops

TEXTS = ["a short one", "a somewhat longer text about billing and refunds", "ok",
         "the app crashed twice after the update and lost my settings " * 3] * 5


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny.path)


def stand_in(model: ModelSpec, tokenizer: Any, cache: ArtifactCache, device: str = "cpu",
             timing: bool = False) -> Any:
    """What forecast() reads of a GateSession, on `cache`."""
    config = SimpleNamespace(device=device, eval_threads=1, eval_batch_size=4)
    return SimpleNamespace(config=config, model=model, cache=cache, tokenizer=tokenizer,
                           dataset=SimpleNamespace(texts=TEXTS), build_threads=1, timing=timing,
                           device_of=lambda _name: device)


def keep_predictions(cache: ArtifactCache, name: str, model: ModelSpec, tokenizer: Any,
                     **changed: Any) -> None:
    """An entry as runtime.predictions.cached_predictions writes it, for `name`, on TEXTS."""
    key = {"recipe": PREDICTIONS_RECIPE, "backend": name, "model": model.content_hash, "artifact": "x",
           "texts": texts_digest(TEXTS), "batch_size": 4, "max_tokens": max_length(tokenizer),
           "device": "cpu"}
    key.update(changed)
    cache.get_or_build(f"predictions-{name}", key, lambda out: (out / "predictions.npy").write_bytes(b"0"))


def test_a_pass_counts_the_flops_and_padded_tokens_of_the_sessions_own_batches(tiny: ModelSpec,
                                                                               tiny_tokenizer: Any):
    dims = ModelDims.from_model_dir(tiny.path)
    lengths = token_lengths(tiny_tokenizer, TEXTS)
    batches = token_batches(lengths, np.argsort(lengths, kind="stable"), 4)
    flops, tokens = fc.pass_flops(dims, lengths, 4)
    assert tokens == int(padded_tokens(lengths, batches).sum())
    assert flops == sum(len(i) * sequence_flops(dims, int(lengths[i].max())) for i in batches)
    assert tokens > int(lengths.sum())  # padding counted: the texts differ in length


@pytest.mark.stack  # the forecast through each stack's tokenizers and torch (the plugin's test: 9 s)
def test_a_cold_session_counts_every_build_the_compile_and_every_pass(tiny: ModelSpec, tiny_tokenizer: Any,
                                                                       tmp_path: Path):
    session = stand_in(tiny, tiny_tokenizer, ArtifactCache(tmp_path))
    used = ["torch", "torch-compile", "onnx-fp32", "onnx-int8"]
    told = fc.forecast(session, ["onnx-fp32", "onnx-int8"], used, used)
    assert told is not None
    whats = [step.what for step in told.steps]
    assert whats[:3] == ["onnx-fp32's export", "onnx-int8's quantization", "torch-compile's compile"]
    assert whats[3].startswith(f"passes of {', '.join(used)} over {len(TEXTS)} texts (")
    assert [step.build for step in told.steps] == [True, True, True, False, False]
    assert whats[4] == "the checks"
    assert told.seconds == pytest.approx(sum(step.seconds for step in told.steps))
    assert all(step.seconds > 0 for step in told.steps)
    line = told.message()
    about = fc.duration(told.seconds)
    assert line.startswith(f"this session's work, estimated before it starts: about {about}: builds ")
    assert "(onnx-fp32's export " in line and "; passes of torch, " in line and "; the checks " in line
    assert "layers and this machine's float32 matmul, " in line and " GFLOP/s at 1 thread" in line
    assert "benchmarks" not in line
    timed = told.message(timing=True)  # a session that also times benchmarks: they have their own estimate
    assert timed.startswith(f"this session's builds and passes, estimated before it starts: about {about}: ")
    assert timed.endswith("; its benchmarks are not in it (their estimate is above)")


def test_without_avx512_onnx_runtimes_passes_are_forecast_at_their_avx2_speeds(
        tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """On an x86 CPU without AVX-512 ONNX Runtime's passes gain far less over torch's (an AVX2-only
    EPYC: fp32 1.1x to 1.3x torch eager's, against 1.8x to 2.0x on a Zen 5), so each is forecast at its
    `speed_avx2`, and the line says so; torch eager's is the same on both. The probe is fixed here:
    the comparison is of the speeds alone."""
    monkeypatch.setattr(fc, "gemm_gflops", lambda **_: 100.0)
    monkeypatch.setattr(fc, "interpreter_rate", lambda: fc.REFERENCE_INTERPRETER_RATE)
    session = stand_in(tiny, tiny_tokenizer, ArtifactCache(tmp_path))
    told = {}
    for avx2 in (False, True):
        monkeypatch.setattr(fc, "avx2_only", lambda avx2=avx2: avx2)
        told[avx2] = {name: fc.forecast(session, [], [name], [name]) for name in ("onnx-fp32", "onnx-int8")}
    flops = fc.pass_flops(ModelDims.from_model_dir(tiny.path), token_lengths(tiny_tokenizer, TEXTS), 4)[0]
    for name, work in (("onnx-fp32", ONNX_WORK["fp32"]), ("onnx-int8", ONNX_WORK["int8"])):
        assert work.speed_avx2 is not None and work.speed_avx2 < work.speed
        # the torch reference's pass is in both: only the backend's own grows, by its speeds' ratio
        grew = told[True][name].steps[0].seconds - told[False][name].steps[0].seconds
        assert grew == pytest.approx(flops / 100e9 * (1 / work.speed_avx2 - 1 / work.speed))
        assert "(no AVX-512: the passes at their speeds on such a CPU)" in told[True][name].message()
        assert "AVX-512" not in told[False][name].message()
    assert EAGER_WORK.speed_on(True) == EAGER_WORK.speed_on(False)
    assert ONNX_WORK["fp16"].pass_only() == Work(speed=1.6, speed_avx2=ONNX_WORK["fp16"].speed_avx2)


def test_under_a_cpu_quota_of_less_time_than_its_threads_the_passes_are_forecast_at_the_quotas_share(
        tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Half a core's time (a Kubernetes limit of 500m) at the one thread it is held to: the GEMM probe,
    on the thread's clock, does not see the throttling, and the passes take twice their CPU time."""
    from encoder_gate.environment import CpuQuota

    monkeypatch.setattr(fc, "gemm_gflops", lambda **_: 100.0)
    monkeypatch.setattr(fc, "interpreter_rate", lambda: fc.REFERENCE_INTERPRETER_RATE)
    monkeypatch.setattr(fc, "default_threads", lambda: 1)
    session = stand_in(tiny, tiny_tokenizer, ArtifactCache(tmp_path))
    told = {}
    for quota in (None, CpuQuota(0.5, 2, "/sys/fs/cgroup/cpu.max: 50000 100000")):
        monkeypatch.setattr(fc, "cpu_quota", lambda quota=quota: quota)
        told[quota is not None] = fc.forecast(session, [], ["onnx-fp32"], ["onnx-fp32"])
    assert told[True].steps[0].seconds == pytest.approx(2 * told[False].steps[0].seconds)
    assert "50 GFLOP/s at 1 thread on the 0.5 cores' time a CPU quota allows" in told[True].message()
    assert "CPU quota" not in told[False].message()


@pytest.mark.parametrize(("flags", "avx2"), [("fpu sse2 avx avx2 fma", True),
                                             ("fpu sse2 avx avx2 fma avx512f avx512_vnni", False),
                                             ("fp asimd sve", False)])
def test_a_cpu_is_avx2_only_by_its_flags(flags: str, avx2: bool):
    """x86 with AVX2 and no AVX-512 (an AMD EPYC before Zen 4); not an AVX-512 one, not an ARM one,
    not one whose flags cannot be read."""
    assert fc.avx2_only(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n") is avx2
    assert fc.avx2_only("") is False


def test_what_the_cache_holds_is_left_out_and_a_warm_session_says_nothing(
        tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path):
    cache = ArtifactCache(tmp_path)
    session = stand_in(tiny, tiny_tokenizer, cache)
    for name in ("torch", "onnx-fp32"):
        keep_predictions(cache, name, tiny, tiny_tokenizer)
    keep_predictions(cache, "onnx-int8", tiny, tiny_tokenizer, batch_size=32)  # another batch size: not it
    told = fc.forecast(session, [], ["torch", "onnx-fp32", "onnx-int8"], ["torch", "onnx-fp32", "onnx-int8"])
    assert told is not None
    assert told.steps[0].what.startswith("passes of onnx-int8 over ")  # torch's and onnx-fp32's are kept
    # an artifact about to be built makes new predictions, whatever entry an older one left
    told = fc.forecast(session, ["onnx-fp32"], ["torch", "onnx-fp32"], ["torch", "onnx-fp32"])
    assert told is not None and told.steps[1].what.startswith("passes of onnx-fp32 over")
    assert fc.forecast(session, [], ["torch", "onnx-fp32"], ["torch", "onnx-fp32"]) is None
    assert fc.forecast(session, [], ["torch"], []) is None  # a session that evaluates nothing


def test_a_compile_is_counted_where_its_runner_is_built_a_pass_not_kept_or_a_timing_session(
        tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path):
    """torch.compile with no entry kept: an accuracy session whose torch-compile predictions are all
    kept never builds its runner, so it compiles nothing (a trial repository's warm session said
    "torch-compile's compile 14 s" and compiled nothing); a session that times it builds it."""
    cache = ArtifactCache(tmp_path)
    used = ["torch", "torch-compile"]
    cold = fc.forecast(stand_in(tiny, tiny_tokenizer, cache), [], used, used)
    assert cold is not None and cold.steps[0].what == "torch-compile's compile"
    for name in used:
        keep_predictions(cache, name, tiny, tiny_tokenizer)
    assert fc.forecast(stand_in(tiny, tiny_tokenizer, cache), [], used, used) is None
    timing = fc.forecast(stand_in(tiny, tiny_tokenizer, cache, timing=True), [], used, used)
    assert timing is not None and [step.what for step in timing.steps] == ["torch-compile's compile"]


def test_a_checkpoint_saved_in_half_precision_counts_two_bytes_a_weight(tiny: ModelSpec):
    from dataclasses import replace

    from encoder_gate.backends.base import weights_bytes

    assert fc.model_weights(tiny) == weights_bytes(tiny.path) // 4 > 0
    assert fc.model_weights(replace(tiny, saved_dtype="bfloat16")) == weights_bytes(tiny.path) // 2
    assert fc.model_weights(replace(tiny, saved_dtype="float16")) == weights_bytes(tiny.path) // 2


def test_a_name_that_is_no_backend_is_left_to_its_tests(tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path):
    session = stand_in(tiny, tiny_tokenizer, ArtifactCache(tmp_path))
    told = fc.forecast(session, [], ["torch", "onnx-fp33"], ["torch", "onnx-fp33"])
    assert told is not None and told.steps[0].what.startswith("passes of torch over ")


def test_the_base_side_counts_its_own_builds_and_its_passes_on_the_prs_texts(
        tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path):
    """A --gate-base session's other side: the base's missing artifacts and the passes its
    accuracy-vs-base tests make, on the PR's texts, with no reference pass and no checks of its own;
    a base whose model is the PR's shares every runner and says nothing."""
    from dataclasses import replace

    cache = ArtifactCache(tmp_path)
    pr = stand_in(tiny, tiny_tokenizer, cache)
    pr.dataset = SimpleNamespace(texts=TEXTS[:7])
    base = stand_in(replace(tiny, content_hash="the-base-model"), tiny_tokenizer, cache)
    both = ["onnx-fp32", "onnx-int8"]
    told = fc.forecast(base, ["onnx-fp32"], both, both, base_of=pr)
    assert told is not None and told.subject == "the base"
    assert [step.what for step in told.steps][:1] == ["onnx-fp32's export"]
    assert told.steps[1].what.startswith("passes of onnx-fp32, onnx-int8 over 7 texts (")
    assert len(told.steps) == 2  # no checks of its own: the PR's session runs them
    assert told.message().startswith("the base's work, estimated before it starts: about ")
    assert fc.forecast(stand_in(tiny, tiny_tokenizer, cache), ["onnx-fp32"], ["onnx-fp32"], ["onnx-fp32"],
                       base_of=pr) is None


def test_a_gpu_session_is_not_forecast(tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path):
    """The speeds and seconds are the CPU's: a cuda session says nothing rather than a wrong figure."""
    session = stand_in(tiny, tiny_tokenizer, ArtifactCache(tmp_path), device="cuda")
    assert fc.forecast(session, ["onnx-fp32"], ["torch", "onnx-fp32"], ["torch", "onnx-fp32"]) is None


def test_predictions_kept_reads_the_key_of_the_entry(tiny: ModelSpec, tiny_tokenizer: Any, tmp_path: Path):
    cache = ArtifactCache(tmp_path)
    keep_predictions(cache, "torch", tiny, tiny_tokenizer)
    look = {"model_hash": tiny.content_hash, "texts": TEXTS, "batch_size": 4, "device": "cpu",
            "max_tokens": max_length(tiny_tokenizer)}
    assert predictions_kept(cache, "torch", **look)
    assert not predictions_kept(cache, "torch-compile", **look)  # not another backend's (a name prefix)
    assert not predictions_kept(cache, "torch", **{**look, "texts": TEXTS[:-1]})
    assert not predictions_kept(cache, "torch", **{**look, "model_hash": "other"})
    assert not predictions_kept(cache, "torch", **{**look, "device": "cuda"})
    assert not predictions_kept(ArtifactCache(tmp_path / "none"), "torch", **look)


@pytest.mark.stack  # torch.compile's artifacts and their key differ between torch releases
def test_compile_entry_kept_reads_the_graph_device_and_threads(tiny: ModelSpec, tmp_path: Path):
    pytest.importorskip("torch")
    from encoder_gate.backends.compile_artifacts import compile_artifacts_missing
    from encoder_gate.backends.torch_backend import TORCH_PACKAGES

    if compile_artifacts_missing() is not None:
        pytest.skip("this torch saves no compile artifacts (before 2.7): every session compiles")
    cache = ArtifactCache(tmp_path)
    key = {"recipe": COMPILE_RECIPE, "graph": graph_hash(tiny), "task": tiny.task, "mode": None,
           "dynamic": True, "device": "cpu", "hardware": "x", "threads": 1,
           "versions": toolchain_versions(TORCH_PACKAGES)}
    cache.get_or_build("torch-compile", key, lambda out: (out / "artifacts.bin").write_bytes(b"0"))
    assert compile_entry_kept(cache, tiny, "cpu", 1)
    assert not compile_entry_kept(cache, tiny, "cpu", 2)
    assert not compile_entry_kept(cache, tiny, "cuda", 1)


def test_every_built_backend_says_its_work_and_a_prebuilt_file_builds_nothing():
    assert fc.work_of("torch") == EAGER_WORK
    assert fc.work_of("torch-compile").build == "compile"
    assert {p: fc.work_of(f"onnx-{p}") for p in ("fp32", "fp16", "int8")} == ONNX_WORK
    assert fc.work_of("onnx:model.onnx@int8") == ONNX_WORK["int8"].pass_only()  # nothing to build



def test_a_prebuilt_file_counts_at_its_graphs_precision_and_a_twin_that_cannot_run_is_left_out(
        tiny: ModelSpec, tiny_ctx: Any, tiny_tokenizer: Any, tmp_path: Path):
    """A helper as a user (twenty-second session): the estimate listed `~exact` twins of QUInt8 files,
    which their build skips (nothing in them can saturate), and took every `onnx:` file of no `@`
    for FP32. Each file is read as its build reads it: a twin of a file that cannot saturate is not
    counted, and a quantized file counts at INT8's speed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from encoder_gate.backends.registry import parse_backend

    built, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    fp32, quint8 = built / "model.onnx", tmp_path / "quint8.onnx"
    quantize_dynamic(str(fp32), str(quint8), weight_type=QuantType.QUInt8)
    assert fc.work_of(f"onnx:{quint8}") == ONNX_WORK["int8"].pass_only()
    assert fc.work_of(f"onnx:{fp32}") == ONNX_WORK["fp32"].pass_only()
    assert fc.work_of(f"onnx:{quint8}~exact") == fc.work_of(f"onnx:{quint8}")  # a twin runs its file
    assert fc.work_of("onnx-int8~saturating") == ONNX_WORK["int8"].pass_only()  # built once, by it
    assert not fc.twin_runs(f"onnx:{quint8}~exact") and not fc.twin_runs(f"onnx:{fp32}~saturating")
    assert fc.twin_runs(f"onnx:{quint8}") and fc.twin_runs("onnx-int8~saturating")  # a recipe's: configured
    assert fc.twin_runs(f"onnx:{tmp_path / 'missing.onnx'}~exact")  # its tests say why
    names = [f"onnx:{quint8}", f"onnx:{quint8}~exact"]
    told = fc.forecast(stand_in(tiny, tiny_tokenizer, ArtifactCache(tmp_path / "cache")), [], names, names)
    assert told is not None and told.steps[0].what.startswith(f"passes of torch, onnx:{quint8} over ")


def test_durations_read_as_seconds_then_minutes():
    assert fc.duration(12.4) == "12 s"
    assert fc.duration(89) == "89 s"
    assert fc.duration(290) == "4.8 min"


def test_a_cold_gate_session_says_its_forecast_before_the_first_build_and_a_warm_one_does_not(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Through the plugin, on tiny in an empty cache: the line comes after collection, before the ONNX
    build, and names what is built and predicted; the same session again, with everything kept, says
    none."""
    from test_plugin_gate import CHECKS, gate_options, gate_project

    cold = tmp_path / "cache"
    gate_project(pytester, monkeypatch).makepyfile(test_checks=CHECKS)
    args = ["--gate-backends=torch,onnx-fp32", "-k", "drift_max", "-s", *gate_options(cold, tmp_path / "r")]
    first = pytester.runpytest(*args)
    assert first.ret == 0
    first.stdout.fnmatch_lines([
        "*collected*",
        "*this session's work, estimated before it starts: about *: builds * (onnx-fp32's export *);"
        " passes of torch, onnx-fp32 over * texts (* padded tokens) *; the checks *. From the model's *",
        "*building onnx-fp32 in a process of its own*",
    ])
    again = pytester.runpytest(*args)
    assert again.ret == 0
    assert "estimated before it starts" not in again.stdout.str()


def test_a_pytest_timeout_shorter_than_the_builds_is_said_with_the_mark_that_lifts_it(pytester):
    """pytest-timeout's limit (a project's `timeout = 20` for its unit tests) stopped the gate's first
    tests mid-build: a Timeout traceback for every test of torch-compile, each compiling again. The
    session says so after its estimate, with the mark that gives the gate's tests their own limit;
    nothing where the limit covers the builds, or none is set."""
    from encoder_gate.plugin.forecast import timeout_too_short

    told = fc.Forecast((fc.Step("onnx-fp32's export", 14, build=True),
                        fc.Step("torch-compile's compile", 47, build=True), fc.Step("the checks", 90)), "x")
    assert timeout_too_short(20, told, ["accuracy/test_encoder_gate_accuracy.py"]) == (
        "pytest-timeout stops a test after 20 s, and this session's first tests build its backends (about "
        "61 s, the estimate above): a test stopped mid-build fails, and so may each test after it that "
        "needs the same build. Give the gate's tests a limit of their own: pytestmark = "
        "pytest.mark.timeout(600) in accuracy/test_encoder_gate_accuracy.py, or --timeout 0 for this session")
    assert timeout_too_short(None, told, []) is None
    assert timeout_too_short(61, told, []) is None
    # the limit as pytest-timeout reads it (its ini key, --timeout, PYTEST_TIMEOUT, a test's mark; 0 is
    # none), here a stand-in plugin of the same names; without the ini key, it is not installed
    pytester.makeconftest('''
        def pytest_addoption(parser):
            parser.addini("timeout", "stand-in")
            parser.addoption("--timeout", default=None)
        def pytest_configure(config):
            config.addinivalue_line("markers", "timeout(seconds): stand-in")
    ''')
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntimeout = "20"\n')
    pytester.makepyfile(test_limits='''
        import pytest
        from encoder_gate.plugin.forecast import timeout_of

        def test_ini(request):
            assert timeout_of(request.config, [request.node]) == 20

        @pytest.mark.timeout(0)
        def test_none(request):
            assert timeout_of(request.config, [request.node]) is None

        @pytest.mark.timeout(timeout=900)
        def test_marked(request):
            assert timeout_of(request.config, [request.node]) == 900
    ''')
    pytester.runpytest_inprocess("-p", "no:encoder_gate", "-p", "no:cacheprovider").assert_outcomes(passed=3)
    option = pytester.runpytest_inprocess("-p", "no:encoder_gate", "-p", "no:cacheprovider", "--timeout", "5",
                                          "-k", "ini")
    option.assert_outcomes(failed=1)
    option.stdout.fnmatch_lines(["*assert 5.0 == 20*"])
    off = pytester.runpytest_inprocess("-p", "no:encoder_gate", "-p", "no:cacheprovider", "--timeout", "0",
                                       "-k", "ini")  # --timeout 0 turns the ini's limit off
    off.assert_outcomes(failed=1)
    off.stdout.fnmatch_lines(["*assert None == 20*"])
    (pytester.path / "conftest.py").unlink()
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makepyfile(test_limits='''
        from encoder_gate.plugin.forecast import timeout_of

        def test_not_installed(request, monkeypatch):
            monkeypatch.setenv("PYTEST_TIMEOUT", "5")
            assert timeout_of(request.config, [request.node]) is None
    ''')
    pytester.runpytest_inprocess("-p", "no:encoder_gate", "-p", "no:cacheprovider").assert_outcomes(passed=1)
