"""INT8 on every CPU: the integer path (exact or saturating) each INT8 result was computed on, the
static audit and the saturating path emulated in the graph (twins and both paths judged in one
session: test_int8_path_sessions.py).

The emulation and the audit run on any CPU; a test that needs ONNX Runtime's own saturating kernels
(an x86 CPU without VNNI) says so and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.backends.int8_path import (
    PROBE_IR_VERSION,
    TARGETS,
    cpu_path,
    cpu_path_short,
    emulation_options,
    flags_path,
    observed_path,
    this_cpu_path,
)
from encoder_gate.backends.int8_rewrite import (
    EXACT_SESSION_OPTION,
    audit,
    saturating_model,
    write_saturating,
)
from encoder_gate.backends.onnx_backend import OnnxBackend
from encoder_gate.backends.onnx_runner import onnx_identity
from encoder_gate.backends.onnx_session import open_session
from encoder_gate.backends.recipes import RecipeBackend
from encoder_gate.backends.registry import parse_backend
from encoder_gate.config import GateConfig, load_config
from encoder_gate.errors import GateError

CHECKS = "from encoder_gate.suite.checks import *  # noqa: F403\n"


def _matmul_integer(k: int, n: int, weight: np.ndarray, rank: int = 3, opset: int = 18):
    from onnx import TensorProto, helper, numpy_helper

    shape = [None] * (rank - 1)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w", "azp"], ["y"])], "g",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [*shape, k]),
         helper.make_tensor_value_info("azp", TensorProto.UINT8, [])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [*shape, n])],
        [numpy_helper.from_array(weight, "w")])
    # the probes' IR: what every supported onnxruntime reads (onnx 1.18 writes IR 11, 1.21 reads 10)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=PROBE_IR_VERSION)


def _exact_option_opens() -> bool:
    """Whether this onnxruntime opens the integer-path probe with session.x64quantprecision, in a
    child process: 1.21 to 1.24 abort on it (a C++ assertion), 1.31 computes the exact path."""
    return observed_path((EXACT_SESSION_OPTION,)) is not None


def _onnxruntime_version() -> str:
    try:
        import onnxruntime as ort
    except ImportError:
        return "(not installed)"
    return str(ort.__version__)


_NO_EXACT_OPTION = (f"onnxruntime {_onnxruntime_version()} aborts opening an integer product with "
                    "session.x64quantprecision (1.21 to 1.24 do; 1.31 does not), so neither the exact "
                    "path nor this CPU's saturating emulation can be computed with it: the gate says so "
                    "and leaves those rows unjudged")
#: Tests of the exact path (its twin, its probe) on any CPU; of the saturating emulation where this CPU
#: needs the option for it (a saturating CPU: emulation_options()).
NEEDS_EXACT_OPTION = pytest.mark.skipif("not _exact_option_opens()", reason=_NO_EXACT_OPTION)
EMULATION_NEEDS_EXACT_OPTION = pytest.mark.skipif("emulation_options() and not _exact_option_opens()",
                                                  reason=_NO_EXACT_OPTION)


def _run(model, a: np.ndarray, azp: int) -> np.ndarray:
    """`model` (a rewritten MatMulInteger) run by ONNX Runtime on this CPU, as the gate opens it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    for key, value in emulation_options():
        options.add_session_config_entry(key, value)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"a": a, "azp": np.array(azp, np.uint8)})[0]


def _saturating_reference(a: np.ndarray, w: np.ndarray, azp: int) -> np.ndarray:
    """What vpmaddubsw computes: each pair of neighbouring products summed and clipped to int16,
    the pairs' sums added in int32, the activations' zero point taken off (as the kernels do)."""
    k = w.shape[0]
    ww = np.concatenate([w, np.zeros((k % 2, w.shape[1]), w.dtype)]).astype(np.int64)
    aa = np.concatenate([a.astype(np.int64), np.zeros((*a.shape[:-1], k % 2), np.int64)], -1)
    pairs = aa[..., 0::2, None] * ww[0::2] + aa[..., 1::2, None] * ww[1::2]
    return np.clip(pairs, -32768, 32767).sum(-2) - azp * ww.sum(0)


@EMULATION_NEEDS_EXACT_OPTION
@pytest.mark.parametrize("seed", range(15))
def test_the_emulated_product_is_the_saturating_arithmetic(seed: int):
    """Random int8 weights (odd and even K, rows that saturate up and down) and uint8 activations,
    over the whole range or a narrower one (where some or none of the pairs that could saturate
    can on these activations, so the emulation computes only some or none): the rewritten graph,
    run by ONNX Runtime on this CPU, equals the int16-saturating reference exactly, and differs
    from the exact product only where the audit finds a pair that can saturate. Opsets before and
    from 18 (reductions' axes)."""

    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 48)), int(rng.integers(1, 24))
    w = rng.integers(-128, 128, (k, n)).astype(np.int8)
    low, high = [(0, 256), (0, 256), (100, 256), (0, 140), (0, 100)][seed % 5]
    a = rng.integers(low, high, (3, 5, k)).astype(np.uint8)
    azp = int(rng.integers(0, 256))
    opset = 13 if seed % 3 == 0 else 18
    rewritten = saturating_model(_matmul_integer(k, n, w, opset=opset))
    got = _run(rewritten, a, azp)
    want = _saturating_reference(a, w, azp)
    assert np.array_equal(got, want)
    exact = (a.astype(np.int64) - azp) @ w.astype(np.int64)
    if (got != exact).any():  # only where the audit finds a pair that can saturate
        assert audit(_matmul_integer(k, n, w)).saturable
    if high == 100:  # 99 x 255 < 32767: no pair can, and none is computed
        assert np.array_equal(got, exact)


@EMULATION_NEEDS_EXACT_OPTION
@pytest.mark.parametrize("opset", [13, 18])
def test_the_emulation_stays_exact_where_a_column_cuts_more_than_float32_counts(opset: int):
    """K = 1102 weights of 127 against activations of 255: every one of a column's 551 pairs
    saturates and the clip takes 32,003 off each, 17,633,653 in all: past float32's exact integers
    (2^24), and odd, so float32 cannot hold it. Before opset 16 the cuts are summed by a product
    in float64 there, from it by a scatter in int32; the result is the reference's to the unit."""

    k, n = 1102, 3
    w = np.full((k, n), 127, np.int8)
    a = np.full((2, 4, k), 255, np.uint8)
    a[1, :, ::3] = 7
    got = _run(saturating_model(_matmul_integer(k, n, w, opset=opset)), a, 3)
    assert np.array_equal(got, _saturating_reference(a, w, 3))


@EMULATION_NEEDS_EXACT_OPTION
def test_the_wide_emulation_leaves_onnx_runtime_no_float64_matmul_to_fuse(tmp_path):
    """Before opset 16, past K = 1024, the cuts are summed in float64. Transpose + MatMul there was
    fused by ONNX Runtime into a FusedMatMul, which has no double kernel in 1.20 (issue 69: the
    emulation failed to load); an Einsum leaves nothing to fuse, whatever the release."""
    import onnx
    import onnxruntime as ort

    k, n = 1102, 3
    model = saturating_model(_matmul_integer(k, n, np.full((k, n), 127, np.int8), opset=13))
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))

    def nodes(graph):  # the products sit in the If's branches
        for node in graph.node:
            yield node
            for attribute in node.attribute:
                for sub in [attribute.g, *attribute.graphs] if attribute.g.node or attribute.graphs else []:
                    yield from nodes(sub)

    ops = [node.op_type for node in nodes(optimized.graph)]
    assert "FusedMatMul" not in ops, ops
    assert "Einsum" in ops, ops


def test_audit_counts_the_pairs_that_can_leave_int16():
    """A pair saturates when 255 x (its positive weights' sum) tops 32767 or 255 x (its negative
    weights' sum) falls below -32768: (127, 2) can, (64, 64) cannot, (-128, -1) can."""
    w = np.array([[127, 64, -128, 10], [2, 64, -1, -10]], np.int8)
    found = audit(_matmul_integer(2, 4, w, rank=2))
    assert (found.pairs, found.saturable) == (4, 2)
    assert found.can_saturate and "reduce_range" in found.summary()


def test_a_product_of_two_dynamically_quantized_activations_is_exact():
    """Walk AA: optimum's quantizer makes attention's activation x activation products MatMulInteger
    of two DynamicQuantizeLinear outputs (uint8 by the ONNX spec, no value_info): the audit counted
    them as unaudited int8 weights, so a QUInt8 file got a ~saturating twin row of "0 of 0 weight
    pairs". A U8U8 product is exact; a weight of unknown type still is not audited."""
    from onnx import TensorProto, helper

    def graph(b_from_quantizer: bool):
        nodes = [helper.make_node("DynamicQuantizeLinear", ["a"], ["a_q", "a_s", "a_z"])]
        if b_from_quantizer:
            nodes.append(helper.make_node("DynamicQuantizeLinear", ["b"], ["b_q", "b_s", "b_z"]))
        else:  # a tensor computed at run time, of no recorded type
            nodes.append(helper.make_node("Identity", ["b"], ["b_in"]))
        nodes.append(helper.make_node("MatMulInteger", ["a_q", "b_q" if b_from_quantizer else "b_in", "a_z"],
                                      ["y"]))
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 4])]
        kind = TensorProto.FLOAT if b_from_quantizer else TensorProto.INT8
        inputs.append(helper.make_tensor_value_info("b", kind, [4, 3]))
        output = helper.make_tensor_value_info("y", TensorProto.INT32, None)
        return helper.make_model(helper.make_graph(nodes, "g", inputs, [output]), ir_version=PROBE_IR_VERSION)

    exact = audit(graph(True))
    assert not exact.products and not exact.can_saturate
    assert exact.summary().startswith("no U8S8 matrix product")
    unknown = audit(graph(False))
    assert len(unknown.unaudited) == 1 and unknown.can_saturate


def test_audit_of_the_recipes(tiny_ctx):
    """Built from one export: full-range QInt8 weights can saturate; 7-bit (reduce_range) QInt8 and
    QUInt8 weights (onnx-int8 itself) cannot, and their saturating path is the file itself."""
    s8 = audit(RecipeBackend("onnx-int8-s8").artifact(tiny_ctx)[0] / "model.onnx")
    rr = audit(RecipeBackend("onnx-int8-rr").artifact(tiny_ctx)[0] / "model.onnx")
    u8 = audit(OnnxBackend("int8").artifact(tiny_ctx)[0] / "model.onnx")
    assert s8.products and s8.saturable > 0 and s8.can_saturate
    assert rr.products and rr.saturable == 0 and not rr.can_saturate
    assert not u8.products and not u8.can_saturate and "exact on every CPU" in u8.summary()
    static = audit(RecipeBackend("onnx-int8-static").artifact(tiny_ctx)[0] / "model.onnx")
    assert static.can_saturate and static.not_emulated == ("DequantizeLinear",)  # QDQ: audited, not emulated


def test_the_audit_command_names_each_file_its_products_and_the_cure(tiny_ctx, tmp_path, capsys):
    from encoder_gate.commands.cli import main

    s8 = RecipeBackend("onnx-int8-s8").artifact(tiny_ctx)[0] / "model.onnx"
    u8 = OnnxBackend("int8").artifact(tiny_ctx)[0] / "model.onnx"
    assert main(["int8-audit", str(s8), str(u8), "--nodes", "2"]) == 0
    out = capsys.readouterr().out
    found = audit(s8)
    assert f"{found.saturable:,} of {found.pairs:,} weight pairs" in out
    assert "weight_type=QuantType.QUInt8" in out
    assert f"{u8}: no U8S8 matrix product" in out and out.count("MatMulInteger") == 2
    (tmp_path / "junk.onnx").write_text("not a model")
    assert main(["int8-audit", str(tmp_path / "junk.onnx")]) == 1
    assert "could not be read as an ONNX model" in capsys.readouterr().err
    (tmp_path / "empty.onnx").write_bytes(b"")  # it used to be audited as a file with nothing to saturate
    assert main(["int8-audit", str(tmp_path / "empty.onnx")]) == 1
    assert "empty.onnx is empty; name an ONNX file" in capsys.readouterr().err
    import onnx

    (tmp_path / "bare.onnx").write_bytes(onnx.ModelProto(ir_version=8).SerializeToString())  # no graph
    assert main(["int8-audit", str(tmp_path / "bare.onnx")]) == 1
    assert "bare.onnx holds no ONNX graph (no nodes)" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "machine", "path"), [
    ({"avx2", "fma"}, "x86_64", "saturating"),
    ({"avx2", "avx512f", "avx512bw"}, "x86_64", "saturating"),  # Skylake-SP: AVX-512 without VNNI
    ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "exact"),
    ({"avx2", "avx_vnni"}, "x86_64", "exact"),
    ({"avx2", "amx_int8", "amx_tile"}, "x86_64", "exact"),
    (set(), "aarch64", "exact"),
])
def test_the_cpus_path_from_its_flags(flags, machine, path):
    assert cpu_path(flags, machine) == path


def test_the_prediction_cache_keeps_the_paths_apart(tiny_ctx):
    """A file whose products can saturate is keyed by the path this CPU computes (an AVX2 runner's
    predictions are not a VNNI runner's); a file that cannot saturate is the same everywhere."""
    s8 = RecipeBackend("onnx-int8-s8").artifact(tiny_ctx)[0] / "model.onnx"
    u8 = OnnxBackend("int8").artifact(tiny_ctx)[0] / "model.onnx"
    assert onnx_identity(s8, "int8")["integer_path"] == cpu_path()
    assert "integer_path" not in onnx_identity(u8, "int8")


def test_only_int8_onnx_backends_have_an_integer_path():
    assert parse_backend("onnx-int8-s8~saturating").name == "onnx-int8-s8~saturating"
    with pytest.raises(GateError, match="only INT8 ONNX backends have an integer path"):
        parse_backend("onnx-fp32~saturating")


def test_targets_decide_the_twins_judged_beside_the_backends():
    """Every targeted path this CPU does not compute natively gets a twin, INT8 ONNX backends only;
    a target that is no CPU class is a usage error naming the known ones."""
    other = "exact" if cpu_path() == "saturating" else "saturating"
    config = GateConfig(backends=("torch", "onnx-fp32", "onnx-int8-s8", "onnx:m.onnx@int8"))
    assert config.path_twins() == (f"onnx-int8-s8~{other}", f"onnx:m.onnx@int8~{other}")
    assert GateConfig().path_twins() == ()  # onnx-int8's uint8 weights: one path
    assert GateConfig(backends=("onnx-int8-rr", "onnx-int8-u8-fused")).path_twins() == ()
    assert GateConfig(backends=("onnx-int8",), int8_weights="QInt8").path_twins() == (f"onnx-int8~{other}",)
    rr = GateConfig(backends=("onnx-int8",), int8_weights="QInt8", int8_reduce_range=True)
    assert rr.path_twins() == ()
    native_only = "x86-avx2" if cpu_path() == "saturating" else "x86-vnni"
    assert GateConfig(backends=("onnx-int8-s8",), targets=(native_only,)).path_twins() == ()
    assert config.paths_may_differ()  # int8 weights: other numbers on the other path
    assert not GateConfig(backends=("torch", "onnx-fp32", "onnx-int8")).paths_may_differ()
    # the gap between the paths (path_flip_rate) only where CPUs of both paths are targets: with the
    # files meant for one path, a runner of either kind judges that path alone on its own bounds (walk L #2)
    assert config.gap_twins() == config.path_twins()
    for one_path in (("x86-avx2",), ("x86-vnni", "x86-amx", "arm64")):
        narrowed = GateConfig(backends=("onnx-int8-s8",), targets=one_path)
        assert narrowed.gap_twins() == ()
        twin = () if TARGETS[one_path[0]] == cpu_path() else (f"onnx-int8-s8~{other}",)
        assert narrowed.path_twins() == twin
    with pytest.raises(GateError, match="x86-avx2, x86-vnni, x86-amx, arm64"):
        GateConfig(targets=("x86-sse",))


def test_targets_can_be_given_on_the_command_line(pytester: pytest.Pytester, tmp_path: Path):
    """`--gate-targets` (a comma list, as `--gate-backends`) overrides the table's `targets`, and a
    CPU class it does not know is a usage error naming the known ones, before anything is built."""
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\ntargets = ["x86-avx2"]\n')
    assert load_config(tmp_path, {"targets": "x86-vnni, arm64"}).targets == ("x86-vnni", "arm64")
    assert load_config(tmp_path, {"targets": None}).targets == ("x86-avx2",)
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--gate-targets=x86-sse", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*targets (in [[]tool.encoder-gate[]], or --gate-targets) must name CPUs*x86-avx2, x86-vnni*"
         "got*x86-sse*"])


QEMU = shutil.which("qemu-x86_64")
#: Runs an ONNX file on one batch in a process whose CPU is qemu's Haswell (AVX2, FMA; no AVX-512,
#: no VNNI): ONNX Runtime picks its AVX2 U8S8 kernels there, whatever the host has.
QEMU_CHILD = """
import sys, numpy as np, onnxruntime as ort
model, given, out = sys.argv[1:4]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
batch = dict(np.load(given))
np.save(out, session.run(None, {i.name: batch[i.name] for i in session.get_inputs()})[0])
"""


def on_saturating_kernels(model: Path, batch: dict[str, np.ndarray], tmp_path: Path) -> np.ndarray:
    """`model`'s first output on `batch` as ONNX Runtime's own saturating U8S8 kernels compute it:
    on this CPU where it saturates, else in a child process on qemu-user's emulated Haswell (slow:
    a tiny model's batch takes seconds). Skips, saying why, where neither is at hand."""
    if cpu_path() == "saturating":
        return open_session(model, "cpu", 1).run(None, batch)[0]
    if QEMU is None or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("needs ONNX Runtime's own saturating U8S8 kernels: an x86 CPU without VNNI or AMX (AVX2 "
                    "only, or AVX-512 before Cascade Lake / Zen 4), or qemu-x86_64 (Debian's qemu-user) to "
                    "emulate one; this CPU computes the exact path and qemu-x86_64 is not installed")
    np.savez(tmp_path / "batch.npz", **batch)
    done = subprocess.run([QEMU, "-cpu", "Haswell", sys.executable, "-c", QEMU_CHILD, str(model),
                           str(tmp_path / "batch.npz"), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(tmp_path / "out.npy")


@pytest.mark.slow
def test_the_emulation_is_what_a_saturating_cpu_computes(tiny_ctx, tmp_path):
    """ONNX Runtime's own AVX2 session on a QInt8 file (this CPU's where it saturates, else qemu's
    emulated Haswell) and the emulated file run on this CPU agree (float sums aside), and differ
    from the exact path: the emulation computes what a CPU without VNNI computes."""
    from encoder_gate.backends.base import dummy_batch

    s8 = RecipeBackend("onnx-int8-s8").artifact(tiny_ctx)[0] / "model.onnx"
    write_saturating(s8, tmp_path / "sat.onnx")
    batch = dummy_batch(4, 40, ("input_ids", "attention_mask"))
    batch["input_ids"] = np.random.default_rng(0).integers(3, 1000, (4, 40))
    native = on_saturating_kernels(s8, batch, tmp_path)
    emulated = open_session(tmp_path / "sat.onnx", "cpu", 1, emulation_options()).run(None, batch)[0]
    exact = open_session(s8, "cpu", 1, (EXACT_SESSION_OPTION,)).run(None, batch)[0]
    assert np.abs(native - emulated).max() < 1e-4 * max(1.0, float(np.abs(native).max()))
    assert not np.allclose(native, exact, atol=0, rtol=0)


@NEEDS_EXACT_OPTION
def test_the_probe_observes_what_onnx_runtime_computes_each_way():
    """int8_path's probe (one U8S8 product whose every pair leaves int16) sees on this machine what
    its flags say (unless a preloaded library changes what the CPU reports: .ci/cpuid-mask), the exact
    path with the exact session option, and the saturating path through the emulation: each way the
    gate computes a path is checked, not assumed."""
    assert this_cpu_path().path == cpu_path() == observed_path()
    if not os.environ.get("LD_PRELOAD"):
        assert observed_path() == flags_path() and not this_cpu_path().disagrees
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert observed_path((EXACT_SESSION_OPTION,)) == "exact"
    assert observed_path(emulation_options(), emulated=True) == "saturating"


def test_on_qemus_haswell_the_probe_sees_saturation_the_flags_do_not():
    """Under qemu-user's Haswell (AVX2, no VNNI) ONNX Runtime picks its saturating kernels from the
    CPUID qemu emulates, while /proc/cpuinfo still lists the host's flags: the runner's path is what
    the probe observes there, and says the flags disagree. (Where the host saturates too, both say
    saturating.) Skips where qemu-x86_64 is missing."""
    if QEMU is None or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("needs qemu-x86_64 (Debian's qemu-user) on an x86 machine, to run ONNX Runtime on an "
                    "emulated CPU without VNNI")
    child = ("import json; from encoder_gate.backends.int8_path import this_cpu_path; "
             "print(json.dumps(this_cpu_path().as_dict()))")
    done = subprocess.run([QEMU, "-cpu", "Haswell", sys.executable, "-c", child], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["observed"] == seen["path"] == "saturating"
    assert seen["flags_say"] == flags_path()
    assert ("though the CPU's flags say exact" in seen["why"]) == (flags_path() == "exact")


def test_where_the_probe_and_the_flags_disagree_the_verdict_says_so(monkeypatch):
    """A runner whose ONNX Runtime computes the other path than its flags say (an ORT release without
    this CPU's kernel, a virtual machine's flags): its rows are what ORT computed, and the verdict
    says so in its notes and under the terminal's table."""
    from encoder_gate.backends import int8_path
    from encoder_gate.reporting.integer_paths import integer_path_notes, path_disagreement

    other = "saturating" if flags_path() == "exact" else "exact"
    real = int8_path._observed
    monkeypatch.setattr(int8_path, "_observed", lambda options, emulated:
                        other if not options and not emulated else real(options, emulated))
    seen = this_cpu_path()
    assert (seen.path, seen.observed, seen.flags_say, seen.disagrees) == (other, other, flags_path(), True)
    assert cpu_path() == other
    accuracy = {"integer_paths": {"this_cpu": other, "how": seen.as_dict(), "targets": list(TARGETS),
                                  "target_paths": ["exact", "saturating"]},
                "backends": {"onnx-int8": {"integer_path": other, "can_saturate": True}}}
    line = (f"INT8: ONNX Runtime computed {other} products on this runner's probe, though its CPU flags "
            f"say {flags_path()}: every INT8 row is judged on what it computed")
    assert path_disagreement(accuracy) == [line]
    assert f"{line}." in integer_path_notes(accuracy)
    agreeing = {**accuracy, "integer_paths": {**accuracy["integer_paths"],
                                              "how": {**seen.as_dict(), "flags_say": other}}}
    assert path_disagreement(agreeing) == []


def test_a_twin_this_onnxruntime_cannot_compute_is_said_with_its_reason(tmp_path: Path, monkeypatch):
    """A twin whose way of computing the other path does not work here (onnxruntime 1.21 to 1.24
    abort the probe with the exact option): the session keeps why, accuracy.json's integer_paths hold
    it whichever worker built it, and the line under the verdict gives it, not "did not run"."""
    from encoder_gate.errors import NotApplicable
    from encoder_gate.reporting.integer_paths import unjudged_paths
    from encoder_gate.results.accuracy import merge_payloads
    from encoder_gate.runtime import session as session_module

    why = ("onnx-int8~exact: not judged on this saturating CPU: ONNX Runtime with "
           "session.x64quantprecision=1 "
           "computed neither path's products on the probe, not the exact path's, under onnxruntime 1.21.0")

    def refused(*_args):
        raise NotApplicable(why)

    session = session_module.GateSession(GateConfig(model="tiny", backends=("torch", "onnx-int8"),
                                                    cache_dir=tmp_path / "cache"), progress=lambda _m: None)
    session._looked_up.add("onnx-int8~exact")  # nothing to prebuild
    monkeypatch.setattr(session_module, "build_on_its_device", refused)
    with pytest.raises(NotApplicable):
        session.runner("onnx-int8~exact")
    assert session.not_applicable == {"onnx-int8~exact": why}

    def worker(twins: dict[str, str]) -> dict:
        return {"backends": {"onnx-int8": {"integer_path": "saturating", "can_saturate": True, "checks": {}}},
                "integer_paths": {"this_cpu": "saturating", "targets": list(TARGETS),
                                  "target_paths": ["exact", "saturating"], "twins_not_judged": twins}}

    merged = merge_payloads([worker({}), worker(session.not_applicable)])
    assert merged["integer_paths"]["twins_not_judged"] == {"onnx-int8~exact": why}
    assert unjudged_paths(merged) == [
        f"INT8 onnx-int8: judged on the saturating path only; NOT judged for {cpu_path_short('exact')} "
        f"(its twin could not be computed here: {why.split(': ', 1)[1]})"]
    assert "did not run" in unjudged_paths(worker({}))[0]  # no reason kept: its tests did not run


@pytest.mark.parametrize(("version", "aborts"), [("1.20.1", False), ("1.21.0", True), ("1.24.4", True),
                                                 ("1.25.0", False), ("1.31.1", False), ("1.22.0.dev1", True)])
def test_a_twin_an_onnxruntime_that_aborts_on_the_exact_option_cannot_compute_names_the_release_that_can(
        monkeypatch, version: str, aborts: bool):
    """onnxruntime 1.21 to 1.24 abort the probe's process opening an integer product with the exact
    option, which read as "computed neither path's products": the twin's reason now says that
    release aborts and which one computes it; elsewhere it says what the probe computed."""
    from encoder_gate.backends import path_backend
    from encoder_gate.errors import NotApplicable

    monkeypatch.setattr(path_backend, "toolchain_versions", lambda _names: {"onnxruntime": version})
    with pytest.raises(NotApplicable) as refused:
        path_backend._check_way(None, "exact", path_backend.WAYS["option"], "onnx-int8~exact", "saturating",
                                options=(EXACT_SESSION_OPTION,))
    said = str(refused.value)
    assert ("onnxruntime>=1.25" in said and f"onnxruntime {version} aborts" in said) == aborts, said
    assert aborts or "computed neither path's products on the probe" in said
