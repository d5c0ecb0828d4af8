"""The integer arithmetic an INT8 ONNX file is computed with, per CPU, and how to judge both.

ONNX Runtime multiplies a dynamically quantized graph's uint8 activations by its weights. With
int8 weights the products are U8S8, and on x86 CPUs without VNNI its kernels (``vpmaddubsw``) sum
each pair of neighbouring products, ``a[2p] * w[2p] + a[2p + 1] * w[2p + 1]``, into a
**saturating int16**: the path is ``saturating``. VNNI, AMX and ARM64's dot products sum in 32
bits, and uint8 weights (U8U8) are widened first: the path is ``exact``. docs/checks.md ("INT8 on
other CPUs") has the sources.

    cpu_path()                   # "exact" or "saturating": what this CPU computes U8S8 products with
    this_cpu_path()              # the same, observed on a probe, beside what the CPU's flags say
    observed_path(options)       # what ONNX Runtime computes on the probe with those session options
    emulation_options()          # the session options a saturating-path file needs on this CPU

The saturating path written as a graph any CPU computes, and the audit of a file's products:
:mod:`encoder_gate.backends.int8_rewrite`.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from encoder_gate.backends.int8_rewrite import EXACT_SESSION_OPTION, INT16_MAX, UINT8_MAX, saturating_model

IntegerPath = Literal["exact", "saturating"]
INTEGER_PATHS: tuple[IntegerPath, ...] = ("exact", "saturating")
#: The CPUs an INT8 file may be meant for (`targets` in [tool.encoder-gate]) and the path each computes.
TARGETS: dict[str, IntegerPath] = {"x86-avx2": "saturating", "x86-vnni": "exact", "x86-amx": "exact",
                                   "arm64": "exact"}
#: CPU flags (as /proc/cpuinfo spells them) whose U8S8 kernels sum in 32 bits.
EXACT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
X86_MACHINES = ("x86_64", "amd64", "i386", "i686", "x86")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str] | None:
    """The CPU's flags (x86's `flags`, ARM's `features`) from the text of /proc/cpuinfo given, or
    this machine's (read once); None where there are none to read."""
    if cpuinfo is None:
        return _this_cpu_flags()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return None


@functools.lru_cache(maxsize=1)
def _this_cpu_flags() -> frozenset[str] | None:
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        return None


def cpu_path(flags: Iterable[str] | None = None, machine: str | None = None) -> IntegerPath:
    """The path a CPU computes U8S8 products with. Given neither `flags` nor `machine`: this
    runner's, as ONNX Runtime computes it here (`observed_path`), the flags' answer only where it
    cannot be observed. Else what the flags say: ``exact`` off x86 (ARM64's sdot/i8mm) and on x86
    with VNNI or AMX; ``saturating`` on other x86 CPUs, and where the flags are unknown (the
    cautious answer: its verdicts are then for the path that can lose accuracy)."""
    if flags is None and machine is None:
        return this_cpu_path().path
    return flags_path(flags, machine)


def flags_path(flags: Iterable[str] | None = None, machine: str | None = None) -> IntegerPath:
    """The path the CPU flags given (this machine's where None) say U8S8 products take."""
    machine = (machine or platform.machine()).lower()
    if machine not in X86_MACHINES:
        return "exact"
    known = cpu_flags() if flags is None else frozenset(flags)
    return "exact" if known and any(f in known for f in EXACT_FLAGS) else "saturating"


#: The probe's product: uint8 activations of 255 times int8 weights of 127 along 32 (16 pairs), so
#: every pair sums to 64,770 exactly and to 32,767 where it saturates.
PROBE_SHAPE = (2, 32, 4)  # rows, reduced axis, columns
PROBE_SUMS: dict[IntegerPath, int] = {"exact": PROBE_SHAPE[1] * UINT8_MAX * 127,
                                      "saturating": PROBE_SHAPE[1] // 2 * INT16_MAX}


@dataclass(frozen=True)
class PathObservation:
    """The integer path this runner computes U8S8 products with, and how it is known."""

    path: IntegerPath
    flags_say: IntegerPath  # what the CPU's flags say (flags_path)
    observed: IntegerPath | None  # what ONNX Runtime computed on the probe; None: not observed
    why: str  # how `path` was decided, in a sentence

    @property
    def disagrees(self) -> bool:
        return disagrees(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "flags_say": self.flags_say, "observed": self.observed, "why": self.why}


def disagrees(how: Mapping[str, Any]) -> bool:
    """Whether a PathObservation (as accuracy.json's `integer_paths.how` keeps it) saw ONNX Runtime
    compute another path than the CPU's flags say."""
    return bool(how.get("observed")) and how["observed"] != how.get("flags_say")


def probe_model(emulated: bool = False) -> Any:
    """The probe (PROBE_SHAPE) as quantize_dynamic writes a product: DynamicQuantizeLinear, then
    MatMulInteger twice, once with its int32 sums as an output, once followed by Cast and Mul (what
    ONNX Runtime fuses into MatMulIntegerToFloat, as in every dynamically quantized file); with
    `emulated`, as `saturating_model` rewrites it."""
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = PROBE_SHAPE
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz"], ["sums"]),
             helper.make_node("MatMulInteger", ["xq", "w2", "xz"], ["fused"]),
             helper.make_node("Cast", ["fused"], ["fused_float"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["xs", "one"], ["scale"]),
             helper.make_node("Mul", ["fused_float", "scale"], ["scaled"])]
    graph = helper.make_graph(
        nodes, "integer_path_probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("sums", TensorProto.INT32, [m, n]),
         helper.make_tensor_value_info("scaled", TensorProto.FLOAT, [m, n])],
        [numpy_helper.from_array(np.full((k, n), 127, np.int8), "w"),  # one weight each: ONNX Runtime 1.25
         numpy_helper.from_array(np.full((k, n), 127, np.int8), "w2"),  # on cannot load a shared one exactly
         numpy_helper.from_array(np.array(1.0, np.float32), "one")])
    model = probe_onnx(graph)
    return saturating_model(model) if emulated else model


#: The IR version and opset of the ONNX models the package builds for itself (the probes): what the
#: oldest supported onnxruntime reads (1.17 reads IR 9 at most), not what the installed onnx writes by
#: default (onnx 1.23 writes IR 14, which onnxruntime 1.31 cannot read: INTERNALERROR at start).
PROBE_IR_VERSION = 8
PROBE_OPSET = 13


def probe_onnx(graph: Any) -> Any:
    """A model of `graph` that every supported onnxruntime reads (PROBE_IR_VERSION, PROBE_OPSET)."""
    from onnx import helper

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", PROBE_OPSET)],
                             ir_version=PROBE_IR_VERSION)


def observed_path(options: tuple[tuple[str, str], ...] = (), emulated: bool = False) -> IntegerPath | None:
    """The path ONNX Runtime computes U8S8 products with on this machine, with session config
    entries `options` (e.g. EXACT_SESSION_OPTION), on the probe (or its saturating emulation):
    measured, not inferred from flags. None where onnxruntime (or onnx) is missing or the probe's
    sums are neither path's (`this_cpu_path` then falls back on the flags, and its `why` says so)."""
    return _observed(tuple(options), emulated)


@functools.lru_cache(maxsize=8)
def _observed(options: tuple[tuple[str, str], ...], emulated: bool) -> IntegerPath | None:
    try:
        import onnxruntime  # noqa: F401  (without it: no path observed)

        probe = probe_model(emulated).SerializeToString()  # needs the onnx package too
    except ImportError:
        return None
    if options:  # in a child: onnxruntime 1.21 to 1.24 abort the process (a C++ assertion, no
        # exception) opening the probe with session.x64quantprecision (issue 69, the lowest stack)
        outputs = _probe_in_child(probe, options)
    else:
        try:  # an onnxruntime that cannot run the probe (a release of other kernels or IR): the flags say
            outputs = run_probe(probe, ())
        except Exception:  # never an INTERNALERROR of every session in the environment (issue 69)
            outputs = None
    if outputs is None:
        return None
    sums, scaled = outputs
    for path, total in PROBE_SUMS.items():
        if (sums == total).all() and np.allclose(scaled, total / UINT8_MAX, rtol=1e-5):
            return path
    return None


def run_probe(probe: bytes, options: tuple[tuple[str, str], ...]) -> tuple[Any, Any]:
    """The probe's outputs (sums, scaled) as ONNX Runtime computes them on one thread with session
    config entries `options`: the one place the probe is opened, in this process or a child's."""
    import onnxruntime as ort

    settings = ort.SessionOptions()
    settings.intra_op_num_threads = 1
    for key, value in options:
        settings.add_session_config_entry(key, value)
    session = ort.InferenceSession(probe, settings, providers=["CPUExecutionProvider"])
    sums, scaled = session.run(None, {"x": np.ones(PROBE_SHAPE[:2], np.float32)})
    return sums, scaled


#: What the child of :func:`_probe_in_child` runs: :func:`run_probe` on the file and options given.
_CHILD_PROBE = """
import json, pathlib, sys
from encoder_gate.backends.int8_path import run_probe
sums, scaled = run_probe(pathlib.Path(sys.argv[1]).read_bytes(), tuple(map(tuple, json.loads(sys.argv[2]))))
print(json.dumps([sums.tolist(), scaled.tolist()]))
"""


def _probe_in_child(probe: bytes, options: tuple[tuple[str, str], ...]) -> tuple[Any, Any] | None:
    """The probe's outputs with session config entries `options`, computed in a child process (an
    onnxruntime that aborts on them takes the child, not the session, down); None where it failed."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.onnx"
        path.write_bytes(probe)
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD_PROBE, str(path), json.dumps(options)],
                                  capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if done.returncode != 0:
        return None
    try:
        sums, scaled = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return np.asarray(sums), np.asarray(scaled, dtype=np.float32)


def this_cpu_path() -> PathObservation:
    """This runner's integer path: what ONNX Runtime computes on the probe (run once a process),
    where it can be run; else what the CPU's flags say. The two can differ: an ONNX Runtime release
    without a kernel for this CPU's dot products (AVX-VNNI came later than AVX512-VNNI), a virtual
    machine whose flags are not what its kernels may use, an emulator (qemu-user's CPU models)."""
    said = flags_path()
    seen = observed_path()
    if seen is None:
        return PathObservation(said, said, None, f"the CPU's flags say {said} (ONNX Runtime's products "
                               "were not observed: onnxruntime is missing or its probe gave neither path)")
    if seen == said:
        return PathObservation(seen, said, seen, f"ONNX Runtime computes {seen} products here, as the CPU's "
                               "flags say")
    return PathObservation(seen, said, seen, f"ONNX Runtime computes {seen} products here, though the "
                           f"CPU's flags say {said}: the verdicts are for what it computes")


def cpu_path_short(path: IntegerPath) -> str:
    """Which CPUs compute `path`, in a few words (a table cell)."""
    return "x86 with VNNI or AMX, ARM64" if path == "exact" else "x86 without VNNI"


def cpu_path_words(path: IntegerPath) -> str:
    """Which CPUs compute `path`, in words."""
    return ("x86 CPUs with VNNI or AMX, ARM64, and any x86 CPU with session.x64quantprecision=1"
            if path == "exact" else "x86 CPUs without VNNI (AVX2, and AVX-512 before Cascade Lake and Zen 4)")


def emulation_options(flags: Iterable[str] | None = None,
                      machine: str | None = None) -> tuple[tuple[str, str], ...]:
    """The session options a `write_saturating` file needs on this CPU: none where U8S8 products
    are exact, else `EXACT_SESSION_OPTION` (its kept products must not saturate a second time)."""
    return () if cpu_path(flags, machine) == "exact" else (EXACT_SESSION_OPTION,)
