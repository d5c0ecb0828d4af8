"""Every backend builds and predicts on `tiny`; the ONNX cache and error paths behave."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from encoder_gate.backends import parse_backend
from encoder_gate.backends.recipes import RECIPES
from encoder_gate.backends.registry import BACKENDS as KNOWN_BACKENDS
from encoder_gate.errors import DeviceUnavailable, GateError
from encoder_gate.runtime.inference import encode

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

TEXTS = ["I love this so much!", "Why would anyone do that? " * 8, "ok", ""]
# How close each backend must be to torch eager on the untrained tiny model here; this is
# a build check, the calibrated accuracy bounds live in encoder_gate.accuracy.tolerances.
CLOSE = {"torch": 0.0, "torch-compile": 1e-5, "onnx-fp32": 1e-5, "onnx-fp16": 1e-2, "onnx-int8": 5e-2}


@pytest.fixture(scope="module")
def batch(tiny):
    return encode(AutoTokenizer.from_pretrained(tiny.path), TEXTS)


@pytest.fixture(scope="module")
def reference(tiny_ctx, batch):
    return parse_backend("torch").build(tiny_ctx).predict(batch)


# the export search's recipes are built in tests/test_search.py (a representative few: all of them
# would add minutes to CI)
@pytest.mark.parametrize("name", [n for n in KNOWN_BACKENDS if n != "torch-compile" and n not in RECIPES])
def test_backend_builds_and_matches_torch(name, tiny_ctx, batch, reference):
    """Each backend returns (batch, 28) probabilities close to the torch reference."""
    runner = parse_backend(name).build(tiny_ctx)
    probs = runner.predict(batch)
    assert probs.shape == (len(TEXTS), 28)
    assert probs.dtype == np.float32
    assert ((probs >= 0) & (probs <= 1)).all()
    assert np.abs(probs - reference).max() <= CLOSE[name]
    assert runner.size_bytes > 0
    runner.close()


def read_only(*args, **kwargs):
    """ArtifactCache.get_or_compute in a cache directory that cannot be written."""
    raise OSError(errno.EROFS, "Read-only file system")


def test_torch_loads_its_model_at_the_build_once_then_at_its_first_call(tiny_ctx, batch, reference,
                                                                        tmp_path: Path, monkeypatch):
    """The first build of a model loads it (its runner keeps that copy) and keeps its size in the
    artifact cache; a later build reads the size and loads nothing until its first call, whose load is
    that call's build (first_call_seconds); where the cache cannot keep the size, the build loads the
    model as before. The same size each way, the same outputs."""
    from dataclasses import replace

    from encoder_gate.backends import torch_backend
    from encoder_gate.cache import ArtifactCache

    loads: list[object] = []
    load = torch_backend.load_torch_model
    monkeypatch.setattr(torch_backend, "load_torch_model", lambda ctx: loads.append(ctx) or load(ctx))
    ctx = replace(tiny_ctx, cache=ArtifactCache(tmp_path / "cache"))
    first = parse_backend("torch").build(ctx)
    assert (len(loads), first.first_call_seconds) == (1, 0.0)
    size = sum(p.numel() * p.element_size() for p in first.model.parameters())
    assert first.size_bytes == size > 0
    first.close()
    second = parse_backend("torch").build(ctx)
    assert (len(loads), second.first_call_seconds, second.size_bytes, second.loaded) == (1, None, size, False)
    assert np.array_equal(second.predict(batch), reference)
    assert len(loads) == 2 and second.first_call_seconds > 0 and second.loaded
    second.close()
    with pytest.raises(GateError, match="torch: called after its runner was closed"):
        second.predict(batch)
    lookup = ArtifactCache(tmp_path / "new").lookup_only()
    looked = parse_backend("torch").build(replace(tiny_ctx, cache=lookup))
    assert (len(loads), looked.loaded, looked.size_bytes) == (3, True, size)  # a lookup keeps nothing
    looked.close()

    monkeypatch.setattr(ArtifactCache, "get_or_compute", read_only)
    third = parse_backend("torch").build(replace(tiny_ctx, cache=ArtifactCache(tmp_path / "other")))
    assert (len(loads), third.first_call_seconds, third.size_bytes) == (4, 0.0, size)
    third.close()


@pytest.mark.slow
def test_torch_compile_matches_eager(tiny_ctx, batch, reference):
    """torch.compile (inductor, dynamic shapes) answers like eager after warm-up."""
    runner = parse_backend("torch-compile").build(tiny_ctx)
    runner.warmup([(1, 8), (4, 32)])
    assert np.abs(runner.predict(batch) - reference).max() <= CLOSE["torch-compile"]


def test_torch_and_torch_compile_share_one_copy_of_the_weights_while_a_runner_holds_it(tiny_ctx,
                                                                                      monkeypatch):
    """torch eager's and torch.compile's runners of one model read one loaded module (torch.compile
    leaves its weights as they are); once every runner is closed, it is gone."""
    import gc

    import torch

    from encoder_gate.backends import torch_backend

    monkeypatch.setattr(torch, "compile", lambda model, **_: model)  # the sharing, not inductor
    eager = parse_backend("torch").build(tiny_ctx)
    compiled = parse_backend("torch-compile").build(tiny_ctx)
    assert compiled._model is eager._model
    eager.close()
    assert parse_backend("torch").build(tiny_ctx)._model is compiled._model  # still held: shared
    compiled.close()
    gc.collect()
    assert not [k for k in torch_backend._LOADED if k[1] == tiny_ctx.model.content_hash]


def test_what_a_small_model_frees_is_trimmed_and_only_a_large_ones_collected(monkeypatch):
    """A full collection costs about 0.3 s in a process holding torch and transformers, paid at
    every build and release: below COLLECT_FROM_BYTES of weights only the allocator is trimmed."""
    import gc

    from encoder_gate import memory

    collections: list[tuple[object, ...]] = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(args) or 0)
    memory.return_freed_memory(memory.COLLECT_FROM_BYTES - 1)
    assert collections == []
    memory.return_freed_memory(memory.COLLECT_FROM_BYTES)
    assert len(collections) == 1


def test_warmup_feeds_what_the_tokenizer_feeds(tiny_ctx):
    """RoBERTa's forward takes token_type_ids but its tokenizer gives none: warm-up leaves them out."""
    runner = parse_backend("torch").build(tiny_ctx)
    assert "token_type_ids" in runner.input_names
    assert runner.warmup_names == ("input_ids", "attention_mask")


@pytest.mark.slow
def test_torch_compile_warmup_leaves_nothing_to_compile(tiny_ctx, tiny):
    """After warm-up, a real tokenizer batch of a warmed shape compiles no new graph."""
    from torch._dynamo.utils import counters
    from transformers import AutoTokenizer

    from encoder_gate.runtime.inference import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny.path)
    batch = encode(tokenizer, ["I love this so much!", "meh"])
    runner = parse_backend("torch-compile").build(tiny_ctx)
    runner.warmup([tuple(batch["input_ids"].shape)])
    graphs = counters["stats"]["unique_graphs"]
    runner.predict(batch)
    assert counters["stats"]["unique_graphs"] == graphs


@pytest.mark.slow
def test_torch_compile_compiles_no_second_graph_for_a_batch_of_one(tiny_ctx, tiny):
    """The batch dimension is unbacked: after a warm-up at two texts, one text alone (the padding
    property, the bs1 speed cells) runs the same graph, where dynamo would otherwise specialize a
    size of 1 and compile again (10 s on the default model), with eager's answers. Before torch 2.13
    the batch is a plain dynamic size (torch_compat.unbacked_batch): there one text compiles one more
    graph, once."""
    import torch
    from torch._dynamo.utils import counters
    from transformers import AutoTokenizer

    from encoder_gate.backends.torch_compat import unbacked_batch
    from encoder_gate.runtime.inference import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny.path)
    runner = parse_backend("torch-compile").build(tiny_ctx)
    runner.warmup([(2, 16)])
    graphs = counters["stats"]["unique_graphs"]
    alone = encode(tokenizer, ["I love this so much!"])
    got = runner.predict(alone)
    assert counters["stats"]["unique_graphs"] - graphs <= (0 if unbacked_batch(torch) else 1)
    graphs = counters["stats"]["unique_graphs"]
    runner.predict(alone)
    assert counters["stats"]["unique_graphs"] == graphs
    assert np.abs(got - parse_backend("torch").build(tiny_ctx).predict(alone)).max() <= CLOSE["torch-compile"]


@pytest.mark.slow
def test_torch_compile_compiles_at_its_first_call_not_at_its_build(tiny_ctx, batch, reference, monkeypatch):
    """Its build calls the model never (a session that reads every output of it from the cache never
    pays the compile) and says so in its note; the first call compiles, times it and settles the
    note; what it computes is eager's."""
    from encoder_gate.backends import torch_backend
    from encoder_gate.backends.torch_backend import NOT_COMPILED

    calls: list[object] = []
    eager_predict = torch_backend.TorchRunner.predict
    monkeypatch.setattr(torch_backend.TorchRunner, "predict",
                        lambda self, b: calls.append(b) or eager_predict(self, b))
    runner = parse_backend("torch-compile").build(tiny_ctx)
    assert calls == []
    assert (runner.first_call_seconds, runner.notes) == (None, (NOT_COMPILED,))
    assert runner.warmup_names  # (what a warm-up reads first: the model, not yet its compile)
    assert (runner.first_call_seconds, runner.notes) == (None, (NOT_COMPILED,))
    assert np.abs(runner.predict(batch) - reference).max() <= CLOSE["torch-compile"]
    # before torch 2.13, two texts then one of 8 tokens first, the graphs dynamo makes (_warm_up)
    import torch

    from encoder_gate.backends.torch_compat import unbacked_batch
    warm = [] if unbacked_batch(torch) else [(2, 8), (1, 8)]
    assert [c["input_ids"].shape for c in calls] == [*warm, batch["input_ids"].shape]  # type: ignore[index]
    assert runner.first_call_seconds > 0
    assert NOT_COMPILED not in runner.notes
    runner.close()


def test_a_compile_split_into_graphs_says_so_in_its_note_and_one_graph_says_nothing(tiny_ctx, batch,
                                                                                      monkeypatch):
    """A first call after which dynamo counts more graphs than one (graph breaks: tiny RoBERTa on torch
    2.6 and transformers 4.47 compiled three, its predictions ten times eager's time) leaves a note
    saying how many and the first break's reason; a compile into one graph leaves none. (The counts
    are dynamo's, here given: torch.compile is the identity.)"""
    import torch

    from encoder_gate.backends import torch_backend
    from encoder_gate.backends.torch_compat import CompileCounts

    reason = ("Could not guard on data-dependent expression Eq(u1, 1) (unhinted: Eq(u1, 1)).\n\nATTENTION: "
              "guard_size_oblivious would fix the error")
    monkeypatch.setattr(torch, "compile", lambda model, **_: model)
    # (no warm-up's one-text graph before torch 2.13, which the runner would take out of the counts)
    monkeypatch.setattr(torch_backend.CompiledTorchRunner, "_warm_up", lambda self, batch: False)
    three = [CompileCounts(0, 0, 4, {"other": 1}), CompileCounts(0, 3, 7, {"other": 1, reason: 2})]
    for counts, said in ((three,
                          "compiled into 3 graphs, not one: 2 graph break(s), the first: Could not guard on "
                          "data-dependent expression Eq(u1, 1) (unhinted: Eq(u1, 1)).; Python runs between "
                          "them at every call"),
                         ([CompileCounts(0, 0, 4, {}), CompileCounts(0, 1, 5, {})], None)):
        monkeypatch.setattr(torch_backend, "compile_counts", iter(counts).__next__)
        runner = parse_backend("torch-compile").build(tiny_ctx)
        runner.predict(batch)
        split = [note for note in runner.notes if "graphs, not one" in note]
        assert (split[0].startswith(said) if said else split == []), runner.notes
        runner.close()


def test_a_torch_compile_that_fails_at_its_first_call_is_one_gate_error_kept(tiny_ctx, batch, monkeypatch):
    """Whatever dynamo or inductor raise at the first call is a GateError naming torch-compile, with
    the library's first line; every later call raises it again instead of compiling again."""
    import torch

    calls = []

    class Unsupported:
        def __init__(self, model):
            self._orig_mod = model

        def parameters(self):
            return self._orig_mod.parameters()

        def __call__(self, **inputs):
            calls.append(1)
            raise RuntimeError("Unsupported: call_method UserDefinedObjectVariable\n  long trace ...")

    monkeypatch.setattr(torch, "compile", lambda model, **_: Unsupported(model))
    runner = parse_backend("torch-compile").build(tiny_ctx)
    said = (r"^torch-compile: torch\.compile failed at the model's first call.*"
            r"\(RuntimeError: Unsupported: call_method UserDefinedObjectVariable; torch ")
    with pytest.raises(GateError, match=said) as first:
        runner.predict(batch)
    with pytest.raises(GateError) as again:
        runner.predict(batch)
    assert again.value is first.value
    assert len(calls) == 1
    assert "long trace" not in str(first.value)


def test_onnx_artifacts_come_from_cache_the_second_time(tiny_ctx):
    """A second build of the same backend rebuilds nothing."""
    parse_backend("onnx-int8").build(tiny_ctx)
    again = parse_backend("onnx-int8").build(tiny_ctx)
    assert again.from_cache


def test_an_onnx_runner_opens_its_session_at_its_first_run_once_its_signature_is_kept(
        tiny_ctx, batch, reference, tmp_path: Path, monkeypatch):
    """The first build of a file opens its session and keeps the session's inputs and outputs in the
    artifact cache; a later build opens none, and its first run opens one at the threads it runs at
    (inside an at_threads block, the block's). The same notes and outputs either way; a cache that
    cannot keep the signature opens the session at the build, as before."""
    import shutil
    from dataclasses import replace

    from encoder_gate.backends import onnx_runner, onnx_session
    from encoder_gate.cache import ArtifactCache

    opened: list[int] = []
    real_open = onnx_session.open_session
    for module in (onnx_session, onnx_runner):  # the build's, and the runner's own
        monkeypatch.setattr(module, "open_session", lambda path, device, threads, config=(): opened.append(
            threads) or real_open(path, device, threads, config))
    cache = ArtifactCache(tmp_path / "cache")
    built, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    shutil.copytree(built, tmp_path / "cache" / built.name)
    ctx = replace(tiny_ctx, cache=cache, threads=1)
    first = parse_backend("onnx-fp32").build(ctx)
    assert opened == [1] and first.loaded
    first_out = first.predict(batch)
    second = parse_backend("onnx-fp32").build(ctx)
    assert opened == [1] and not second.loaded
    assert (second.input_names, second.notes, second.max_tokens) == (first.input_names, first.notes,
                                                                      first.max_tokens)
    with second.at_threads(2):
        assert np.array_equal(second.predict(batch), first_out)
    assert opened == [1, 2]
    assert np.abs(first_out - reference).max() <= CLOSE["onnx-fp32"]
    for runner in (first, second):
        runner.close()

    monkeypatch.setattr(ArtifactCache, "get_or_compute", read_only)
    third = parse_backend("onnx-fp32").build(ctx)
    assert opened == [1, 2, 1] and third.loaded
    third.close()


def test_int8_options_change_the_cache_key(tiny_ctx):
    """reduce_range is part of the artifact key: a different recipe, a different file."""
    from dataclasses import replace

    default = parse_backend("onnx-int8").artifact(tiny_ctx)[0]
    reduced = parse_backend("onnx-int8").artifact(replace(tiny_ctx, int8_reduce_range=True))[0]
    assert default != reduced


@pytest.mark.parametrize(("omp", "asked", "runs_at"), [
    ("1", 0, 1),  # the library default keeps to OMP_NUM_THREADS, as torch's does
    ("3,1", 0, 3),  # OMP's nested form: its first level
    ("", 0, 0),  # unset: ORT's own default (0 in its options: its count of cores)
    ("many", 0, 0),  # not a count: ignored, as OpenMP ignores it
    ("1", 2, 2),  # a count asked for is kept
])
def test_an_onnx_session_asked_for_the_library_default_keeps_to_omp_num_threads(
        omp: str, asked: int, runs_at: int, monkeypatch: pytest.MonkeyPatch):
    """ONNX Runtime does not read OMP_NUM_THREADS, torch does: a session given 0 threads takes it,
    so an xdist worker or a CI lane beside others keeps to its share (docs/noise.md: two processes
    at ORT's own default spent 45% more CPU on the same passes)."""
    from encoder_gate.backends.onnx_session import session_options

    monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert session_options(asked).intra_op_num_threads == runs_at


def test_prebuilt_onnx_file_is_a_backend(tiny_ctx, batch, reference):
    """`onnx:PATH` runs a prebuilt file with the model's tokenizer."""
    path, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    runner = parse_backend(f"onnx:{path / 'model.onnx'}").build(tiny_ctx)
    assert np.abs(runner.predict(batch) - reference).max() <= CLOSE["onnx-fp32"]


def test_corrupt_onnx_file_gets_a_clear_error(tiny_ctx, tmp_path: Path):
    """A truncated ONNX file is reported as corrupt, with what to do."""
    path, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    broken = tmp_path / "model.onnx"
    broken.write_bytes((path / "model.onnx").read_bytes()[:5000])
    with pytest.raises(GateError, match=r"corrupt, truncated or not an ONNX model.*Re-export"):
        parse_backend(f"onnx:{broken}").build(tiny_ctx)


@pytest.mark.parametrize("name", ["config.json", "model.txt"])
def test_a_file_that_is_no_onnx_model_gets_the_same_clear_error_whatever_its_suffix(
        tiny_ctx, tmp_path: Path, name: str):
    """onnx reads a file by its suffix: `onnx:model/config.json` went to its JSON reader, whose
    ParseError ("ModelProto has no field named ...") came out of every test as a protobuf traceback."""
    path = tmp_path / name
    path.write_text(json.dumps({"architectures": ["RobertaForSequenceClassification"], "num_labels": 3}))
    with pytest.raises(GateError, match=r"corrupt, truncated or not an ONNX model.*Re-export"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)


def test_missing_onnx_file_gets_a_clear_error(tiny_ctx, tmp_path: Path):
    with pytest.raises(GateError, match="does not exist"):
        parse_backend(f"onnx:{tmp_path / 'nope.onnx'}").build(tiny_ctx)


def test_unknown_backend_name_lists_the_known_ones_and_the_nearest_first():
    with pytest.raises(GateError, match=r"unknown backend 'onnx-int4'\. Did you mean 'onnx-int8'\?.*fp32"):
        parse_backend("onnx-int4")
    with pytest.raises(GateError, match=r"unknown backend 'tensorrt'\. Known backends: torch, "):
        parse_backend("tensorrt")


@pytest.mark.parametrize("name", ["torch", "onnx-fp32"])
def test_cuda_without_gpu_is_a_device_error(name, tiny_ctx):
    """Asking for CUDA on a machine without one raises DeviceUnavailable (tests then skip)."""
    import onnxruntime as ort
    import torch

    if torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA GPU is present: this checks the no-GPU message")
    from dataclasses import replace

    with pytest.raises(DeviceUnavailable, match=r"cuda.*--gate-device cpu"):
        parse_backend(name).build(replace(tiny_ctx, device="cuda"))


def test_onnxruntime_installed_twice_is_said_with_the_fix_that_leaves_a_whole_module(monkeypatch):
    """onnxruntime and onnxruntime-gpu both installed (`optimum[onnxruntime]` beside
    `encoder-gate[gpu]`): the module is whichever came last, and uninstalling onnxruntime alone, as
    the one-package line says, would leave it half removed. Said with both versions and the fix."""
    import onnxruntime as ort

    from encoder_gate import cache
    from encoder_gate.backends.onnx_session import providers_for

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(cache, "module_distributions", lambda _m: ("onnxruntime", "onnxruntime-gpu"))
    monkeypatch.setattr(cache, "installed_version",
                        lambda _d: "1.32.0 (onnxruntime), 1.31.1 (onnxruntime-gpu)")
    with pytest.raises(DeviceUnavailable) as raised:
        providers_for("cuda")
    assert str(raised.value) == (
        "device 'cuda' was asked for but this onnxruntime has no CUDAExecutionProvider (available: "
        "CPUExecutionProvider): onnxruntime is installed twice (1.32.0 (onnxruntime), 1.31.1 "
        "(onnxruntime-gpu)): both ship the one `onnxruntime` module, and the one installed last decides "
        "which build it is. Uninstall both, then install the GPU extra alone: pip uninstall -y onnxruntime "
        "onnxruntime-gpu && pip install 'encoder-gate[gpu]' (uninstalling onnxruntime alone leaves the "
        "module half removed), or use --gate-device cpu.")
    assert providers_for("cpu") == ["CPUExecutionProvider"]  # a CPU session computes on either build
    monkeypatch.setattr(cache, "module_distributions", lambda _m: ("onnxruntime",))
    with pytest.raises(DeviceUnavailable, match=r"\. Install the GPU extra .*uninstall onnxruntime first"):
        providers_for("cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["torch", "onnx-fp32", "onnx-fp16"])
def test_cuda_backends_match_cpu(name, tiny_ctx, batch, reference):
    """On a GPU machine, the CUDA paths (IO binding, FP16 fusions) agree with the CPU, within the CPU's
    own bounds for FP32 (ONNX Runtime's TF32 is off: CUDA_PROVIDER_OPTIONS), on two batches of other
    shapes through one runner (a binding per call, never one shape's buffers reused)."""
    import onnxruntime as ort
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine; the CUDA paths run only where one exists")
    if name.startswith("onnx") and "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu instead)")
    from dataclasses import replace

    runner = parse_backend(name).build(replace(tiny_ctx, device="cuda"))
    fp32_close = 1e-5 if name != "onnx-fp16" else CLOSE[name]  # another reduction order than the CPU's
    assert np.abs(runner.predict(batch) - reference).max() <= fp32_close
    short = {k: v[:2, :5] for k, v in batch.items()}  # another batch size and sequence length
    cpu = parse_backend(name).build(tiny_ctx).predict(short)
    assert np.abs(runner.predict(short) - cpu).max() <= fp32_close


def test_dynamic_int8_is_a_cpu_format_the_cuda_provider_would_run_on_the_cpu(tiny_ctx):
    """onnx-int8's DynamicQuantizeLinear has no CUDA kernel: on cuda ONNX Runtime places it on the CPU
    behind copies, and its timings would be the CPU's passed off as the GPU's. open_session refuses it
    on cuda by these operators (checked here on the CPU), and a CUDA session runs with TF32 off."""
    from encoder_gate.backends.onnx_session import CUDA_PROVIDER_OPTIONS, cpu_only_ops, with_options

    int8, _ = parse_backend("onnx-int8").artifact(tiny_ctx)
    fp32, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    assert "DynamicQuantizeLinear" in cpu_only_ops(int8 / "model.onnx")
    assert cpu_only_ops(fp32 / "model.onnx") == []
    assert with_options(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        ("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    assert CUDA_PROVIDER_OPTIONS == {"use_tf32": "0"}



def test_a_qoperator_int8_file_is_a_cpu_format_and_a_qdq_file_is_not(tmp_path: Path):
    """Static INT8 in the QOperator format (QLinearMatMul and the contrib QLinear* ops, as
    quantize_static(quant_format=QOperator) writes a BERT: QLinearMatMul, QLinearAdd, QLinearMul,
    QLinearSoftmax, QGemm) has no CUDA kernels either: named, so a cuda session judges it on the CPU.
    The QDQ format's QuantizeLinear and DequantizeLinear have CUDA kernels: it runs on the GPU."""
    import onnx
    from onnx import TensorProto, helper

    from encoder_gate.backends.onnx_session import cpu_only_ops

    def saved(name: str, nodes: list[onnx.NodeProto]) -> Path:
        x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("x", "y"))
        graph = helper.make_graph(nodes, name, [x], [y])
        path = tmp_path / f"{name}.onnx"
        onnx.save(helper.make_model(graph), str(path))
        return path

    qoperator = saved("qoperator", [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("QLinearMatMul", ["xq", "s", "z", "w", "s", "z", "s", "z"], ["yq"]),
        helper.make_node("QLinearAdd", ["yq", "s", "z", "b", "s", "z", "s", "z"], ["aq"],
                         domain="com.microsoft"),
        helper.make_node("DequantizeLinear", ["aq", "s", "z"], ["y"])])
    assert cpu_only_ops(qoperator) == ["QLinearAdd", "QLinearMatMul"]
    qdq = saved("qdq", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
                        helper.make_node("MatMul", ["xd", "w"], ["y"])])
    assert cpu_only_ops(qdq) == []


def test_onnx_inputs_that_a_tokenizer_cannot_feed_get_a_clear_error(tiny_ctx, tmp_path: Path):
    """An ONNX file expecting e.g. pixel_values is rejected, naming the inputs and the fix."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["pixel_values"], ["logits"])], "not-a-text-model",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 28])],
    )
    path = tmp_path / "vision.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime this package supports
    onnx.save(model, str(path))
    with pytest.raises(GateError, match=r"expects inputs \['pixel_values'\].*tokenizer gives only"):
        parse_backend(f"onnx:{path}").build(tiny_ctx)


@pytest.mark.slow
def test_torch_compile_brings_no_deprecation_warnings_of_torchs_own(tiny, cache_dir: Path, tmp_path: Path):
    """Compiling torch-compile in a fresh process (inductor's first import) lets out none of the 14
    `torch.jit.script_method` deprecations that torch.utils.mkldnn raised into every user's summary."""
    import subprocess
    import sys

    script = f"""
import warnings
from pathlib import Path
from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.torch_backend import TorchCompileBackend
from encoder_gate.cache import ArtifactCache
from encoder_gate.models.resolve import resolve_model
spec = resolve_model("tiny", ArtifactCache(Path({str(cache_dir)!r})))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ctx = BuildContext(model=spec, cache=ArtifactCache(Path({str(tmp_path)!r})), threads=1)
    TorchCompileBackend().build(ctx)
print("DEPRECATIONS", [str(w.message)[:80] for w in caught if issubclass(w.category, DeprecationWarning)])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DEPRECATIONS []" in done.stdout, done.stdout + done.stderr[-2000:]


@pytest.mark.slow
def test_a_checkpoint_saved_in_float16_is_judged_in_float32(tiny, tmp_path: Path, batch):
    """transformers 5 loads a checkpoint in the dtype it was saved in, so a float16 one made the
    torch FP32 reference float16 and the FP32 export a float16 graph. Both load it as float32,
    keyed apart from what an earlier release cached for it, and agree as FP32 does; a float32
    checkpoint's keys stay as they were."""
    import onnx
    import torch
    from onnx import TensorProto
    from transformers import AutoModelForSequenceClassification

    from encoder_gate.backends.base import BuildContext
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.models.resolve import resolve_model

    half = tmp_path / "half"
    AutoModelForSequenceClassification.from_pretrained(tiny.path).half().save_pretrained(half)
    AutoTokenizer.from_pretrained(tiny.path).save_pretrained(half)
    cache = ArtifactCache(tmp_path / "cache")
    spec = resolve_model(str(half), cache)
    assert spec.saved_dtype == "float16" and tiny.float32_key == {}
    # said beside the rows (accuracy.json's model block, the verdict): a service loading it as saved
    # computes in float16, which no row is (walk 43: a PR that saved it so was judged without a word)
    assert tiny.dtype_note is None and spec.dtype_note is not None and spec.dtype_note.startswith(
        "the model's weights are saved in float16: the gate loads them as float32")
    ctx = BuildContext(model=spec, cache=cache, threads=1)
    eager = parse_backend("torch").build(ctx)
    assert {p.dtype for p in eager._model.parameters()} == {torch.float32}
    assert eager.prediction_identity()["loaded_as"] == "float32"
    fp32 = parse_backend("onnx-fp32").build(ctx)
    graph = onnx.load(str(fp32.artifact)).graph
    assert TensorProto.FLOAT16 not in {t.data_type for t in graph.initializer}
    assert np.abs(fp32.predict(batch) - eager.predict(batch)).max() <= CLOSE["onnx-fp32"]


def test_a_checkpoint_without_safetensors_metadata_loads_or_says_how_to_save_it(tiny, tmp_path: Path):
    """Weights written by safetensors' save_file without metadata: transformers 4.57 and 5 load them;
    4.47 (the window's floor) reads their 'format' and failed with "'NoneType' object has no attribute
    'get'" from inside its loader: now one line naming the file and how to save it (lowest stack,
    forty-third session)."""
    import shutil

    import transformers
    from safetensors.numpy import load_file, save_file

    from encoder_gate.models.loading import load_pretrained, unmarked_safetensors

    bare = tmp_path / "bare"
    shutil.copytree(tiny.path, bare)
    save_file(load_file(bare / "model.safetensors"), bare / "model.safetensors")  # no metadata
    assert unmarked_safetensors(bare) == [bare / "model.safetensors"]
    assert unmarked_safetensors(tiny.path) == []
    try:  # 4.57 and 5 load it; 4.47 cannot, and says how to save it
        loaded = load_pretrained(bare, classifier=True)
    except GateError as exc:
        assert re.search(r"model\.safetensors has no metadata, and transformers \S+ reads its 'format'.*"
                         r"save_pretrained.*metadata=\{'format': 'pt'\}", str(exc)), exc
        assert transformers.__version__.startswith("4."), exc
    else:
        assert loaded is not None
