"""INT8 on every CPU: the integer path (exact or saturating) each INT8 result was computed on, the
static audit, the saturating path emulated in the graph, and both paths judged in one session.

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

# path_backend is imported here, not in a test: an in-process pytester run drops from sys.modules what
# it imported first, so a module first imported by a test's inner session would be patched, in the next
# test, in a copy its inner session no longer uses
from encoder_gate.backends import path_backend
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
    shared_integer_inputs,
    unshared_model,
    write_saturating,
)
from encoder_gate.backends.onnx_backend import OnnxBackend, onnx_identity
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
    from encoder_gate.reporting.verdict import integer_path_notes, path_disagreement

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


def deduped_s8(tiny_ctx, tmp_path: Path) -> Path:
    """The tiny model's QInt8 file de-duplicated (encoder-gate export --dedupe's way): its products
    share their all-zero int8 weight zero points."""
    from encoder_gate.backends.dedupe import dedupe_file

    src = RecipeBackend("onnx-int8-s8").artifact(tiny_ctx)[0] / "model.onnx"
    dst = tmp_path / "deduped" / "model.onnx"
    dst.parent.mkdir()
    dedupe_file(src, dst)
    return dst


def test_shared_int8_zero_points_are_copied_per_product_with_the_same_numbers(tiny_ctx, tmp_path):
    """A de-duplicated QInt8 file reads shared int8 zero points in several products (which ONNX
    Runtime 1.25 to 1.32 cannot open with session.x64quantprecision=1); unshared_model gives each
    product its own copy, and the file computes the same numbers, bit for bit."""
    from encoder_gate.backends.base import dummy_batch

    deduped = deduped_s8(tiny_ctx, tmp_path)
    shared = shared_integer_inputs(deduped)
    assert shared and all(count > 1 for count in shared.values())
    unshared = unshared_model(deduped)
    assert shared_integer_inputs(unshared) == {}
    (tmp_path / "unshared.onnx").write_bytes(unshared.SerializeToString())
    batch = dummy_batch(3, 24, ("input_ids", "attention_mask"))
    batch["input_ids"] = np.random.default_rng(1).integers(3, 1000, (3, 24))
    before = open_session(deduped, "cpu", 1).run(None, batch)[0]
    after = open_session(tmp_path / "unshared.onnx", "cpu", 1, (EXACT_SESSION_OPTION,)).run(None, batch)[0]
    assert np.array_equal(before, open_session(tmp_path / "unshared.onnx", "cpu", 1).run(None, batch)[0])
    if cpu_path() == "exact":  # the exact option computes what this CPU computes natively
        assert np.array_equal(before, after)


@NEEDS_EXACT_OPTION
def test_on_a_saturating_runner_a_deduplicated_file_is_judged_on_the_exact_path(tiny_ctx, tmp_path,
                                                                                 monkeypatch):
    """`onnx:model.onnx~exact` of a de-duplicated QInt8 file on a runner without VNNI (told so here):
    the twin opens a copy with one zero point per product under the exact option, and computes the
    exact path; before, ONNX Runtime refused to open the file and the twin was an error."""
    from encoder_gate.backends.base import BuildContext, dummy_batch
    from encoder_gate.backends.path_backend import on_path
    from encoder_gate.cache import ArtifactCache

    deduped = deduped_s8(tiny_ctx, tmp_path)
    tell_the_cpu_it_saturates(monkeypatch)
    ctx = BuildContext(model=tiny_ctx.model, cache=ArtifactCache(tmp_path / "cache"), threads=1)
    plain = parse_backend(f"onnx:{deduped}").build(ctx)
    twin = on_path(plain, "exact", ctx, f"onnx:{deduped}~exact")
    assert twin.integer_path == "exact" and twin.artifact != deduped
    assert shared_integer_inputs(twin.artifact) == {}
    assert any("copied per product" in note for note in twin.notes)
    original = on_path(RecipeBackend("onnx-int8-s8").build(ctx), "exact", ctx, "onnx-int8-s8~exact")
    assert original.artifact.parent.name.startswith("onnx-int8-s8-")  # nothing shared: the file itself
    batch = dummy_batch(2, 16, ("input_ids", "attention_mask"))
    batch["input_ids"] = np.random.default_rng(2).integers(3, 1000, (2, 16))
    assert np.array_equal(twin.predict(batch), original.predict(batch))


def test_a_twin_of_a_file_that_cannot_be_built_is_not_judged_where_its_row_says_why(tmp_path, cache_dir):
    """Walk AI: a stale onnx: file (another model's vocabulary) failed as two backends, the file and
    its ~saturating twin, with twice the errors. Where the session judges the file, its twin is not
    applicable, naming the row that fails; where it judges the twin alone, the twin fails (review AK:
    a skip there passed a file nothing built)."""
    from encoder_gate.errors import NotApplicable, PlainBuildFailed
    from encoder_gate.runtime.session import GateSession

    stale = tmp_path / "stale.onnx"
    stale.write_bytes(b"not an onnx file")
    plain, twin = f"onnx:{stale}@int8", f"onnx:{stale}@int8~saturating"
    both = GateSession(GateConfig(model="tiny", backends=("torch", plain), cache_dir=cache_dir))
    with pytest.raises(GateError, match="ONNX Runtime could not load"):
        both.runner(plain)
    with pytest.raises(NotApplicable, match=rf"~saturating: {plain} could not be built, and its row says "
                                            r"why: ONNX Runtime could not load"):
        both.runner(twin)
    alone = GateSession(GateConfig(model="tiny", backends=("torch", twin), cache_dir=cache_dir))
    with pytest.raises(PlainBuildFailed, match="ONNX Runtime could not load"):
        alone.runner(twin)
    assert alone.records[twin].error is not None  # its row fails
    deselected = GateSession(GateConfig(model="tiny", backends=("torch", plain), cache_dir=cache_dir))
    deselected.selected_checks = frozenset({(twin, "drift_max")})  # -k saturating: the file's tests out
    with pytest.raises(PlainBuildFailed):
        deselected.runner(twin)


def test_a_twin_whose_file_needs_a_missing_package_skips_as_the_file_does(tiny_ctx, monkeypatch):
    """Review AM: a MissingDependency building the file (onnxruntime not installed) failed its twin
    as PlainBuildFailed, where the file's own tests skip."""
    from encoder_gate.backends import onnx_backend
    from encoder_gate.errors import MissingDependency

    def missing(self, ctx):
        raise MissingDependency("onnxruntime is not installed")

    monkeypatch.setattr(onnx_backend.OnnxBackend, "build", missing)
    with pytest.raises(MissingDependency, match="onnxruntime is not installed"):
        parse_backend("onnx-int8~saturating").build(tiny_ctx)


@pytest.mark.parametrize("way", ["session option or rewrite", "masked child"])
def test_a_twin_whose_way_does_not_compute_its_path_is_not_judged(tiny_ctx, monkeypatch, way: str):
    """Where the probe says the way a twin is computed does not compute the path it stands for (the
    exact option on a saturating runner; the masked child or the rewrite on an exact one), as an
    ONNX Runtime release could, the twin is not applicable and says why and where to judge it,
    instead of judging the wrong arithmetic."""
    from encoder_gate.backends import int8_path, path_backend
    from encoder_gate.backends.cpu_mask import MaskedSession, mask_unavailable
    from encoder_gate.errors import NotApplicable

    here = cpu_path()
    other = "saturating" if here == "exact" else "exact"
    if way == "masked child":
        if other != "saturating" or mask_unavailable():
            pytest.skip(f"no masked child here: {mask_unavailable() or 'this CPU saturates itself'}")

        class Unmasked(MaskedSession):  # a child whose ONNX Runtime still computes this CPU's path
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.observed = here

        monkeypatch.setattr(path_backend, "MaskedSession", Unmasked)
    else:
        monkeypatch.setattr(path_backend, "mask_unavailable", lambda: "told so")
        monkeypatch.setattr(int8_path, "_observed", lambda options, emulated: here)  # every way: this CPU's
    plain = RecipeBackend("onnx-int8-s8").build(tiny_ctx)
    with pytest.raises(NotApplicable, match=f"computed {here}'s products on the probe, not the {other} "
                                            "path's, under onnxruntime .*; judge it on"):
        path_backend.on_path(plain, other, tiny_ctx, f"onnx-int8-s8~{other}")


def test_on_an_exact_cpu_the_saturating_twin_is_what_an_avx2_cpu_computes(tiny_ctx, tmp_path):
    """Where CPUID can be masked (cpu_mask), the twin `~saturating` is the file itself in a child
    process whose CPU is masked to AVX2: ONNX Runtime's own AVX2 kernels, float and integer, bit for
    bit what qemu's Haswell computes (where the rewrite matches only the integer products), at this
    CPU's speed. Skips on a saturating CPU, where CPUID cannot be masked, or without qemu."""
    from encoder_gate.backends.base import dummy_batch
    from encoder_gate.backends.cpu_mask import mask_unavailable
    from encoder_gate.backends.path_backend import on_path

    if cpu_path() != "exact":
        pytest.skip("this CPU saturates: its own plain session is the saturating path")
    if mask_unavailable():
        pytest.skip(f"the twin is the rewritten file here: {mask_unavailable()}")
    plain = RecipeBackend("onnx-int8-s8").build(tiny_ctx)
    source = plain.artifact
    twin = on_path(plain, "saturating", tiny_ctx, "onnx-int8-s8~saturating")
    try:
        assert twin.artifact == source and twin.integer_path == "saturating"
        assert any("masked to AVX2" in note for note in twin.notes)
        batch = dummy_batch(4, 40, ("input_ids", "attention_mask"))
        batch["input_ids"] = np.random.default_rng(0).integers(3, 1000, (4, 40))
        masked = twin._session.run(None, batch)[0]
        twin.reopen()  # at_threads and reopen open another masked child, not a plain session
        assert np.array_equal(twin._session.run(None, batch)[0], masked)
    finally:
        twin.close()
    assert not np.array_equal(masked, open_session(source, "cpu", 1).run(None, batch)[0])
    assert np.array_equal(masked, on_saturating_kernels(source, batch, tmp_path))


def test_a_mask_that_cannot_be_built_is_a_reason_not_a_crash(tmp_path, monkeypatch):
    """Where the CPUID mask's library cannot be built (an unwritable cache directory here),
    mask_unavailable says why in one line, so the twin falls back on the rewrite."""
    from encoder_gate.backends import cpu_mask

    if cpu_mask._cannot_mask():
        pytest.skip(f"the CPU cannot be masked here anyway: {cpu_mask._cannot_mask()}")
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    cpu_mask.mask_library.cache_clear()
    try:
        why = cpu_mask.mask_unavailable()
    finally:
        cpu_mask.mask_library.cache_clear()
    assert why is not None and why.startswith("the CPUID mask cannot be built in ")
    assert "set XDG_CACHE_HOME to a writable directory" in why


def test_where_cpuid_cannot_be_masked_the_saturating_twin_is_the_rewritten_file(tiny_ctx, monkeypatch):
    """Without CPUID faulting (told so here) an exact CPU's twin `~saturating` runs the file
    rewritten to saturate, and its notes say why."""
    if cpu_path() != "exact":
        pytest.skip("this CPU saturates: its own plain session is the saturating path")
    monkeypatch.setattr(path_backend, "mask_unavailable", lambda: "no cpuid_fault (told so)")
    twin = path_backend.on_path(RecipeBackend("onnx-int8-s8").build(tiny_ctx), "saturating", tiny_ctx,
                                "onnx-int8-s8~saturating")
    assert twin.artifact.parent.name.startswith("saturating-")
    assert any("emulated on this exact CPU (no cpuid_fault (told so))" in note for note in twin.notes)


# --- a planted saturation case -------------------------------------------------------------------

PLANT_WEIGHT = 1.0


def plant_saturation(src: Path, dst: Path) -> Path:
    """The default model with a classifier whose QInt8 weights saturate on a saturating CPU and
    compute well on an exact one: pooled features 0 and 1 pinned near 1 (pooler bias 4, tanh), and
    in every label's column those two features' weights set to PLANT_WEIGHT, the column's largest
    and of one sign, so the pair quantizes to (127, 127) and meets uint8 activations near 255:
    2 x 255 x 127 = 64,770 is clipped to 32,767. The pair adds a near-constant 2 x PLANT_WEIGHT to
    every logit in FP32, taken off the bias, so torch's decisions stay the trained model's."""
    import torch
    import transformers

    shutil.copytree(src, dst)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(src).eval()
    with torch.no_grad():
        model.bert.pooler.dense.bias[:2] = 4.0
        w, b = model.classifier.weight, model.classifier.bias
        near_one = float(np.tanh(4.0))
        b -= near_one * (2 * PLANT_WEIGHT - (w[:, 0] + w[:, 1]))
        w[:, :2] = PLANT_WEIGHT
    model.save_pretrained(dst)
    return dst


@pytest.mark.slow
def test_a_planted_saturation_fails_on_the_saturating_path_and_passes_on_the_exact_one(
        pytester: pytest.Pytester, default_model, cache_dir: Path, tmp_path: Path, monkeypatch):
    """One session judges the planted QInt8 file on both paths, whatever this CPU computes: the
    exact path keeps its F1, the saturating one fails, and the verdict names the CPUs it fails on."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    planted = plant_saturation(default_model.path, tmp_path / "planted")
    report = tmp_path / "report"
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--gate-model", str(planted), "--gate-backends=torch,onnx-int8-s8",
                                f"--gate-cache-dir={cache_dir}", f"--gate-report-dir={report}",
                                "--gate-limit=200", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = json.loads((report / "accuracy.json").read_text())["backends"]
    other = "exact" if cpu_path() == "saturating" else "saturating"
    twin = f"onnx-int8-s8~{other}"
    by_path = {rows[n]["integer_path"]: rows[n] for n in ("onnx-int8-s8", twin)}
    assert by_path["exact"]["verdict"] == "pass", by_path["exact"]["checks"]
    assert by_path["saturating"]["verdict"] == "fail"
    assert not by_path["saturating"]["checks"]["f1_keep"]["passed"]
    gap = by_path["saturating"]["checks"]["path_flip_rate"]  # its decisions against the exact path's
    assert not gap["passed"] and gap["observed"] > gap["bound"] == 0.01
    assert "path_flip_rate" not in by_path["exact"]["checks"]  # the gap is the saturating path's
    verdict = (report / "verdict.md").read_text()
    assert "fails on x86 without VNNI (saturating path)" in verdict
    assert "`onnx-int8-s8`: judged on the" in verdict and "exact" in verdict
    from encoder_gate.backends.path_backend import WAYS

    assert rows[twin]["computed_by"] in WAYS.values()  # the verdict says how the other path was computed
    assert f"`{twin}` computed by {rows[twin]['computed_by']}" in verdict


def tell_the_cpu_it_saturates(monkeypatch, flags: bool = True) -> None:
    """This process's CPU read as AVX2 without VNNI: its flags (unless `flags` is False) and what
    int8_path's probe observes of plain sessions (its arithmetic stays its own; the probes of the
    exact option and of the emulation stay real), so a session takes an AVX2 runner's decisions on
    any x86 CPU; skips elsewhere."""
    from encoder_gate.backends import int8_path

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the saturating path is an x86 matter: this CPU cannot be told it is an AVX2 one")
    if flags:
        monkeypatch.setattr(int8_path, "_this_cpu_flags", lambda: frozenset({"sse4_1", "avx", "avx2", "fma"}))
    real = int8_path._observed
    monkeypatch.setattr(int8_path, "_observed",
                        lambda options, emulated: "saturating" if not options and not emulated else
                        real(options, emulated))


def cache_of_its_own(tiny, tmp_path: Path) -> Path:
    """An artifact cache holding the tiny model only: a session told its CPU saturates keys what it
    predicts as the saturating path's, which it is not; that must not reach the suite's cache."""
    cache = tmp_path / "cache"
    shutil.copytree(tiny.path, cache / tiny.path.name)
    return cache


@pytest.mark.slow
@NEEDS_EXACT_OPTION
def test_on_a_saturating_runner_the_twin_is_the_file_on_the_exact_path(
        pytester: pytest.Pytester, tiny, tmp_path: Path, monkeypatch):
    """What a runner without VNNI (many hosted CI runners: AMD EPYC, AVX2 only) does, on any x86 CPU:
    told its CPU has AVX2 and no VNNI, the session judges the QInt8 file as it is (the saturating
    path's row), and its twin `~exact` is the same file opened with ONNX Runtime's
    session.x64quantprecision=1, not a rewrite; each row names its path, the saturating (plain) row
    is held to the gap between the paths, and the verdict says which CPUs each row's result is for.
    (On an exact CPU the plain row's numbers are exact ones: this test is about the session's flow,
    not its numbers; .ci/avx2-only's test is about both.)"""
    tell_the_cpu_it_saturates(monkeypatch)
    opened: list[tuple[Path, tuple]] = []

    def open_and_note(path, device, threads, config=()):
        opened.append((Path(path), tuple(config)))
        return open_session(path, device, threads, config)

    def no_rewrite(src, dst):
        raise AssertionError(f"a runner whose CPU saturates rewrote {src}: its exact path needs no rewrite")

    monkeypatch.setattr(path_backend, "open_session", open_and_note)
    monkeypatch.setattr(path_backend, "write_saturating", no_rewrite)
    report = tmp_path / "report"
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--gate-model=tiny", "--gate-backends=torch,onnx-int8-s8",
                                f"--gate-cache-dir={cache_of_its_own(tiny, tmp_path)}",
                                f"--gate-report-dir={report}", "--gate-limit=64", "-p", "no:cacheprovider")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    accuracy = json.loads((report / "accuracy.json").read_text())
    rows = accuracy["backends"]
    assert set(rows) == {"torch", "onnx-int8-s8", "onnx-int8-s8~exact"}
    assert rows["onnx-int8-s8"]["integer_path"] == "saturating"
    assert rows["onnx-int8-s8~exact"]["integer_path"] == "exact"
    assert "path_flip_rate" in rows["onnx-int8-s8"]["checks"]  # the saturating row's gap to the exact one
    assert "path_flip_rate" not in rows["onnx-int8-s8~exact"]["checks"]
    assert accuracy["integer_paths"]["this_cpu"] == "saturating"
    assert [(p.name, config) for p, config in opened] == [("model.onnx", (EXACT_SESSION_OPTION,))]
    assert opened[0][0].parent.name.startswith("onnx-int8-s8-")  # the plain file itself
    result.stdout.fnmatch_lines(["*onnx-int8-s8~exact*", "*exact path on this saturating CPU: ONNX Runtime's "
                                 "session.x64quantprecision=1*"])
    verdict = (report / "verdict.md").read_text()
    assert "this runner's CPU computes int8-weight products on the saturating path" in verdict
    assert ("`onnx-int8-s8`: judged on the saturating and exact path (`onnx-int8-s8~exact` computed by ONNX "
            "Runtime with session.x64quantprecision=1).") in verdict
    assert rows["onnx-int8-s8~exact"]["computed_by"] == "ONNX Runtime with session.x64quantprecision=1"
    assert "computed_by" not in rows["onnx-int8-s8"]  # this CPU's own


AVX2_ONLY = Path(__file__).resolve().parents[1] / ".ci" / "avx2-only"


def masked_to_avx2() -> str:
    """The LD_PRELOAD library of .ci/avx2-only (built on first use): a process preloading it sees
    this x86 CPU as an AVX2 one and runs natively. Skips where the CPU cannot be masked."""
    done = subprocess.run([str(AVX2_ONLY), "printenv", "LD_PRELOAD"], capture_output=True, text=True,
                          timeout=120)
    if done.returncode == 2:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_on_a_cpu_masked_to_avx2_the_session_judges_what_onnx_runtime_computes(
        pytester: pytest.Pytester, tiny, tmp_path: Path, monkeypatch):
    """A session on this CPU seen as an AVX2 one (.ci/avx2-only: CPUID masked, native speed), so ONNX
    Runtime's own U8S8 kernels saturate while /proc/cpuinfo keeps the host's flags: the runner's
    path is the observed one (saturating), the QInt8 file's plain row is held to the gap against its
    `~exact` twin, which the exact option computes, and where the flags say otherwise the terminal
    says so. Skips where the CPU cannot be masked (no cpuid_fault, not x86, no gcc)."""
    monkeypatch.setenv("LD_PRELOAD", masked_to_avx2())
    report = tmp_path / "report"
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_subprocess("--gate-model=tiny", "--gate-backends=torch,onnx-int8-s8",
                                           f"--gate-cache-dir={cache_of_its_own(tiny, tmp_path)}",
                                           f"--gate-report-dir={report}", "--gate-limit=64",
                                           "-p", "no:cacheprovider", "-k", "not padding")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    accuracy = json.loads((report / "accuracy.json").read_text())
    paths, rows = accuracy["integer_paths"], accuracy["backends"]
    assert paths["this_cpu"] == paths["how"]["observed"] == "saturating"
    assert paths["how"]["flags_say"] == flags_path()
    assert (rows["onnx-int8-s8"]["integer_path"], rows["onnx-int8-s8~exact"]["integer_path"]) == \
        ("saturating", "exact")
    assert "path_flip_rate" in rows["onnx-int8-s8"]["checks"]
    if flags_path() == "exact":
        result.stdout.fnmatch_lines(["INT8: ONNX Runtime computed saturating products on this runner's "
                                     "probe, though its CPU flags say exact*"])


@NEEDS_EXACT_OPTION
def test_the_terminal_verdict_says_which_cpus_an_int8_row_was_not_judged_for(
        pytester: pytest.Pytester, cache_dir: Path, tmp_path: Path):
    """Targets that leave out the other integer path: the verdict table's INT8 row holds for this
    CPU's path only, and the line under the table says so, naming the CPUs and why; with every
    target judged there is no such line."""
    here = cpu_path()
    only_here = next(t for t, path in TARGETS.items() if path == here)
    pytester.makepyfile(test_checks=CHECKS)
    args = ["--gate-model=tiny", "--gate-backends=torch,onnx-int8-s8", f"--gate-cache-dir={cache_dir}",
            f"--gate-report-dir={tmp_path / 'report'}", "--gate-limit=64", "-p", "no:cacheprovider"]
    result = pytester.runpytest(*args, f"--gate-targets={only_here}")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    other = "saturating" if here == "exact" else "exact"
    result.stdout.fnmatch_lines([
        "*encoder-gate verdict:*", "onnx-int8-s8 *",
        f"INT8 onnx-int8-s8: judged on the {here} path only; NOT judged for {cpu_path_short(other)} "
        "(not among the targets)"])
    every = pytester.runpytest(*args)
    assert "NOT judged" not in every.stdout.str()


@pytest.mark.slow
@NEEDS_EXACT_OPTION
@pytest.mark.parametrize("told", ["its own flags", "its own flags, no CPUID mask", "avx2 only"])
def test_a_tolerance_and_a_waiver_of_a_path_follow_the_row_that_holds_that_path(
        pytester: pytest.Pytester, tiny, tmp_path: Path, monkeypatch, told: str):
    """`[tolerances."onnx-int8-s8~saturating"]` and a waiver of `onnx-int8-s8~saturating` are about
    the file's result on the saturating path: on a CPU with VNNI the twin's row holds it, on one
    without (told so here, on any x86 CPU) the plain row. Either way the tolerance holds that row to
    a drift it cannot meet, the waiver accepts it, and the session passes with that row waived and
    the other row passing on its own bounds; a configuration read on both kinds of runner (a CI
    matrix) means one thing on both."""
    from datetime import date, timedelta

    if told == "avx2 only":
        tell_the_cpu_it_saturates(monkeypatch)
    if told == "its own flags, no CPUID mask":  # an exact CPU's twin is then the rewritten file
        monkeypatch.setattr(path_backend, "mask_unavailable", lambda: "no cpuid_fault (told so)")
    plain = "onnx-int8-s8"
    twin = f"{plain}~{'exact' if cpu_path() == 'saturating' else 'saturating'}"
    saturating, exact = (plain, twin) if cpu_path() == "saturating" else (twin, plain)
    until = (date.today() + timedelta(days=30)).isoformat()
    pytester.makepyprojecttoml(
        '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-int8-s8"]\nlimit = 64\n'
        '[tool.encoder-gate.tolerances."onnx-int8-s8~saturating"]\ndrift_max = 1e-12\n'
        '[[tool.encoder-gate.waivers]]\nbackend = "onnx-int8-s8~saturating"\ncheck = "drift_max"\n'
        f'owner = "@edge"\nreason = "AVX2 hosts, #9"\nuntil = {until}\n[tool.pytest.ini_options]\n')
    pytester.makepyfile(test_checks=CHECKS)
    monkeypatch.delenv("PYTEST_ADDOPTS")
    cache = cache_of_its_own(tiny, tmp_path)
    result = pytester.runpytest("--rootdir", str(pytester.path), "-c", str(pytester.path / "pyproject.toml"),
                                f"--gate-cache-dir={cache}", "-p", "no:cacheprovider", "-k", "not padding",
                                "-rx")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines([f"*XFAIL*drift_within_bound[[]{saturating}-drift_max[]]*waived by @edge*"])
    decided = {b["name"]: b["status"] for b in
               json.loads((pytester.path / ".encoder-gate" / "verdict.json").read_text())["backends"]}
    assert decided[saturating] == "waived"
    assert decided[exact] == "pass"
    if told == "its own flags, no CPUID mask" and cpu_path() == "exact":
        result.stdout.fnmatch_lines(["*saturating path emulated on this exact CPU (no cpuid_fault (told so))"
                                     "*"])


@pytest.mark.slow
def test_export_judges_a_qint8_file_on_both_paths_and_its_card_says_which_cpus(cache_dir: Path, tiny_ctx,
                                                                                tmp_path: Path, capsys):
    """`encoder-gate export --int8-weights QInt8 --dedupe`: the INT8 variant is measured on both
    paths, export.json holds both, the card names the CPUs and the session option, and the file opens
    with that option (its int8 zero points left one per product);
    with the default uint8 weights the card says the file is the same on every CPU."""
    from encoder_gate.commands.cli import main

    OnnxBackend("fp32").artifact(tiny_ctx)
    out = tmp_path / "s8"
    args = ["export", "tiny", "--variants", "int8", "--cache-dir", str(cache_dir), "--threads", "1"]
    assert main([*args, "--out", str(out), "--int8-weights", "QInt8", "--dedupe"]) == 0
    shipped = out / "model_quantized.onnx"  # de-duplicated, but one int8 zero point per product, so that
    assert shared_integer_inputs(shipped) == {}  # the card's session option opens it on ONNX Runtime 1.25 on
    open_session(shipped, "cpu", 1, (EXACT_SESSION_OPTION,))
    paths = json.loads((out / "export.json").read_text())["variants"]["int8"]["integer_paths"]
    assert paths["can_saturate"] and paths["saturable_pairs"] > 0
    assert {"exact", "saturating"} <= set(paths) and paths["saturating"]["f1"] is not None
    card = (out / "README.md").read_text()
    assert "## INT8 on other CPUs" in card and "session.x64quantprecision" in card
    assert "(this machine)" in card
    # the parity and task tables are of the export machine's path, and say so (walk L #7)
    here = paths["this_cpu"]
    assert card.count(f"| onnx-int8 ({here} path, this machine's) |") == 2
    assert f"onnx-int8 ({here} path, this machine's): drift mean" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "u8")]) == 0
    card = (tmp_path / "u8" / "README.md").read_text()
    assert "The same numbers on every CPU; no session option needed." in card
    assert "| onnx-int8 |" in card  # one path: no word of one
