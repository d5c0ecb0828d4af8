"""The machine: GEMM rate, process memory, library versions, CPU details and hardware fingerprint."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import Device
from encoder_gate.backends.int8_path import cpu_flags, cpu_path, probe_onnx
from encoder_gate.backends.onnx_session import session_options
from encoder_gate.backends.registry import DEFAULT_BACKENDS, providers_of
from encoder_gate.backends.torch_backend import torch_threads
from encoder_gate.cache import installed_version
from encoder_gate.environment import cpu_model, cpu_quota, cpuinfo_blocks, nvidia_smi, seen_cores
from encoder_gate.errors import GateError
from encoder_gate.speed.settings import ENV_ALLOW_OTHER_MACHINE

VERSIONED_PACKAGES = ("torch", "onnxruntime", "transformers", "numpy", "encoder-gate")


#: The GEMM a peak is measured on: a transformer encoder's FFN over a batch of tokens, (tokens x
#: hidden) times (hidden x 4 hidden) at RoBERTa-base's width, the shape most of its FLOPs run at.
PEAK_SHAPE = (512, 768, 3072)


def _rate(run: Any, flops: float, repeats: int, threads: int | None) -> float:
    """`flops` over the median time of `run()`, after one untimed call: on the thread's CPU
    clock at one thread (a load on the other cores does not move it), else on the wall clock."""
    clock = time.thread_time if threads == 1 else time.perf_counter
    run()
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return flops / max(statistics.median(times), 1e-9) / 1e9


def gemm_gflops(shape: tuple[int, int, int] = PEAK_SHAPE, repeats: int = 7,
                threads: int | None = None) -> float:
    """torch's FP32 GEMM rate in GFLOP/s (the BLAS/oneDNN the torch backends use) at ``threads``
    intra-op threads (None or 0: torch's current setting, restored afterwards)."""
    import torch

    m, k, n = shape
    with torch_threads(threads) if threads else contextlib.nullcontext():
        gen = torch.Generator().manual_seed(0)
        a, b = torch.rand(m, k, generator=gen), torch.rand(k, n, generator=gen)
        return _rate(lambda: torch.mm(a, b), 2.0 * m * k * n, repeats, threads)


def ort_gemm_gops(shape: tuple[int, int, int] = PEAK_SHAPE, repeats: int = 7, threads: int | None = None,
                  int8: bool = False) -> float:
    """ONNX Runtime's GEMM rate on the CPU: FP32 MatMul in GFLOP/s, or with ``int8`` the
    MatMulInteger of dynamic INT8 quantization (uint8 activations, int8 weights) in GOP/s: the
    kernels the ONNX backends run their matrix products with (MLAS; VNNI or AMX where the CPU has them)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = shape
    rng = np.random.default_rng(0)
    feed: Any
    if int8:
        weight = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "w")
        node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
        feed = rng.integers(0, 256, (m, k), dtype=np.uint8)
    else:
        weight = numpy_helper.from_array(rng.random((k, n), dtype=np.float32), "w")
        node = helper.make_node("MatMul", ["a", "w"], ["y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
        feed = rng.random((m, k), dtype=np.float32)
    graph = helper.make_graph([node], "peak", [helper.make_tensor_value_info("a", a_type, [m, k])],
                              [helper.make_tensor_value_info("y", y_type, [m, n])], [weight])
    model = probe_onnx(graph)
    session = ort.InferenceSession(model.SerializeToString(), session_options(threads or 0),
                                   providers=["CPUExecutionProvider"])
    return _rate(lambda: session.run(None, {"a": feed}), 2.0 * m * k * n, repeats, threads)


@dataclass(frozen=True)
class MachinePeaks:
    """The machine's GEMM peaks at the session's threads, per number format and library, each
    measured with the library that runs the backends (not one library's rate for all)."""

    fp32_torch: float
    fp32_onnxruntime: float
    int8_onnxruntime: float
    threads: int | None
    clock: str  # "thread" (one thread: the thread's CPU clock) or "wall"
    shape: tuple[int, int, int] = PEAK_SHAPE

    @classmethod
    def measure(cls, threads: int | None) -> MachinePeaks:
        return cls(fp32_torch=gemm_gflops(threads=threads), fp32_onnxruntime=ort_gemm_gops(threads=threads),
                   int8_onnxruntime=ort_gemm_gops(threads=threads, int8=True), threads=threads,
                   clock="thread" if threads == 1 else "wall")

    def of(self, precision: str, packages: Sequence[str]) -> tuple[float, str]:
        """The peak a backend of `precision` run by `packages` is measured against, and its name:
        ONNX Runtime's INT8 rate for an INT8 file, its FP32 rate for FP32 and FP16 ones (on the
        CPU, FP16 runs through casts to FP32), torch's FP32 rate for the torch backends."""
        if "onnxruntime" in packages:
            if precision == "int8":
                return self.int8_onnxruntime, "INT8 ONNX Runtime"
            return self.fp32_onnxruntime, "FP32 ONNX Runtime"
        return self.fp32_torch, "FP32 torch"

    def to_json(self) -> dict[str, Any]:
        return {"fp32_torch_gflops": self.fp32_torch, "fp32_onnxruntime_gflops": self.fp32_onnxruntime,
                "int8_onnxruntime_gops": self.int8_onnxruntime, "threads": self.threads, "clock": self.clock,
                "shape": list(self.shape)}

    def describe(self) -> str:
        return describe_peaks(self.to_json())


def describe_peaks(peaks: Mapping[str, Any]) -> str:
    """One line for the peaks of a speedups document (`MachinePeaks.to_json`)."""
    m, k, n = peaks.get("shape") or PEAK_SHAPE
    how = ("one thread, the thread's CPU clock" if peaks.get("clock") == "thread"
           else f"{peaks.get('threads') or 'all'} threads, wall clock")
    return (f"machine GEMM peaks ({m}x{k} by {k}x{n}, {how}): FP32 torch {peaks['fp32_torch_gflops']:.1f} "
            f"GFLOP/s, FP32 ONNX Runtime {peaks['fp32_onnxruntime_gflops']:.1f} GFLOP/s, INT8 ONNX Runtime "
            f"{peaks['int8_onnxruntime_gops']:.1f} GOP/s")


def _proc_status_kib(field_name: str) -> int | None:
    """A ``VmXXX:`` field of /proc/self/status in KiB (None off Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far.

    Linux: VmHWM, the high-water mark of this process's own memory. Not ``ru_maxrss``: the
    kernel carries that across exec, so a worker spawned from a big pytest process would
    report its parent's peak. Elsewhere ``ru_maxrss`` (macOS: bytes).
    """
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    """Resident memory of this process now (Linux VmRSS; the peak elsewhere)."""
    rss = _proc_status_kib("VmRSS")
    return rss * 1024 if rss is not None else peak_rss_bytes()


def usable_cores() -> int:
    """The cores this process may use (Linux: its affinity, as a CI container's cpuset sets it, or
    the whole cores of its CPU quota where that is fewer, as `docker run --cpus` and a Kubernetes CPU
    limit set it: environment.cpu_quota; elsewhere every logical core)."""
    quota = cpu_quota()  # (where it binds, fewer whole cores than those seen)
    return quota.threads if quota is not None else seen_cores()


def oversubscribed(fingerprint: Mapping[str, Any] | None) -> str | None:
    """Plain words when a speed document was timed at more threads than its process had cores (a
    `threads` written for a bigger runner), else None: its rounds' threads took turns on the cores."""
    fp = fingerprint if isinstance(fingerprint, Mapping) else {}
    threads, cores = fp.get("threads") or 0, fp.get("usable_cores") or fp.get("logical_cores") or 0
    if not (isinstance(threads, int) and isinstance(cores, int) and 0 < cores < threads):
        return None
    return (f"threads = {threads} on {cores} cores: the threads of each timed round take turns on the "
            "cores, so the speed figures measure that as much as the backends; set threads (or "
            f"--gate-threads) to at most {cores} on this runner")


def library_versions(packages: Sequence[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that decide the numbers ("not installed" otherwise)."""
    return {name: installed_version(name) or "not installed" for name in packages}


def machine_summary() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count() or 0, "python": platform.python_version()}


# --- the hardware fingerprint of a baseline ---------------------------------------------------

#: The instruction sets that pick different kernels in torch and ONNX Runtime (FP32 and INT8 GEMMs).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")
#: What a speed baseline must share with the run gated against it, in the order messages name them.
FINGERPRINT_FIELDS = ("cpu_model", "isa", "integer_path", "logical_cores", "physical_cores", "threads",
                      "execution_providers", "torch", "onnxruntime", "versions", "gpu")
#: The fields of the library stack, not of the machine: a baseline that differs in these alone was
#: timed on this machine (a PR's requirements against its base's), its round sizes fit here.
STACK_FIELDS = ("execution_providers", "torch", "onnxruntime", "versions")


def cpu_details(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, ISA flags and physical cores, from ``/proc/cpuinfo`` (or the text given).

    Elsewhere (no /proc/cpuinfo) the model is ``platform.processor()`` and the flags and the
    physical core count are unknown: ``isa`` is empty and ``physical_cores`` None, and
    unknown fields are not compared.
    """
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    flags = cpu_flags(text)
    cores = {(fields["physical id"], fields["core id"]) for fields in cpuinfo_blocks(text)
             if "physical id" in fields and "core id" in fields}
    return {"cpu_model": cpu_model(text) or platform.processor() or platform.machine() or "unknown",
            "isa": {f: f in flags for f in ISA_FLAGS} if flags is not None else {},
            "physical_cores": len(cores) or None}


def session_providers(device: Device, backends: Sequence[str] = DEFAULT_BACKENDS) -> list[str]:
    """The execution providers `backends` run on for ``device``, as each backend names them
    (empty when its library or the device is missing)."""
    return list(providers_of(backends, device))


def gpu_details() -> dict[str, Any] | None:
    """The GPU a cuda session times on: its name, compute capability, memory, the driver, and the CUDA
    and cuDNN torch runs with (None without one): a speed baseline saved on an H100 is never compared
    with one from an L4, nor across a driver or CUDA upgrade."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {"name": props.name, "compute_capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30), "driver": _nvidia_driver(),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def gpu_memory_used_bytes() -> int | None:
    """Memory in use on the current CUDA device, by every process (cudaMemGetInfo: total - free;
    creates this process's CUDA context first), or None without a GPU. ONNX Runtime's arena and
    torch's caching allocator keep what they took, so after a pass this is the pass's peak too."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return int(total - free)


def _nvidia_driver() -> str | None:
    """The NVIDIA driver's version, as nvidia-smi reports it (None where it cannot)."""
    smi = nvidia_smi()
    return smi.driver if smi is not None else None


def hardware_fingerprint(threads: int, providers: Sequence[str], *, packages: Sequence[str] = (),
                         cpuinfo: str | None = None, device: Device = "cpu") -> dict[str, Any]:
    """What a speed baseline was measured on: CPU model, ISA flags (:data:`ISA_FLAGS`),
    logical and physical cores, the session's threads (0: the libraries' default, all
    cores), the backends' execution providers, torch and onnxruntime versions, and the
    versions of every library the configured backends name (`packages`, per library).

    Speedups measured on another CPU, thread count or library release are not comparable:
    INT8 speedups hinge on VNNI/AMX, and a kernel change in torch moves the reference. A cuda
    session's adds its GPU (:func:`gpu_details`).
    """
    details = cpu_details(cpuinfo)
    flags = [f for f, on in details["isa"].items() if on] if details["isa"] else None
    return {"cpu_model": details["cpu_model"], "isa": details["isa"],
            # the path this CPU computes int8-weight products on (backends.int8_path): INT8 timings differ
            "integer_path": cpu_path() if cpuinfo is None else cpu_path(flags or ()),  # observed here
            "logical_cores": os.cpu_count() or 0,
            "usable_cores": usable_cores(),  # this process's (a container's share): said, not compared
            "physical_cores": details["physical_cores"], "threads": int(threads),
            "execution_providers": list(providers), **library_versions(("torch", "onnxruntime")),
            "versions": library_versions(packages),
            **({"gpu": gpu_details()} if device == "cuda" else {})}


def fingerprint_differences(current: Mapping[str, Any] | None,
                            baseline: Mapping[str, Any] | None) -> list[str]:
    """``field: now vs baseline`` for every fingerprint field known on both sides that differs
    (ISA flags one by one, as ``isa.avx512_vnni``; a library with a field of its own, torch or
    onnxruntime, once, not again among ``versions``)."""
    if not current or not baseline:
        return []
    out = []
    for key in FINGERPRINT_FIELDS:
        now, then = current.get(key), baseline.get(key)
        if isinstance(now, Mapping) and isinstance(then, Mapping):  # isa flags, library versions
            out += [f"{key}.{part}: {now[part]!r} now, {then[part]!r} in the baseline"
                    for part in now if part in then and now[part] != then[part]
                    and not (key == "versions" and current.get(part) is not None
                             and baseline.get(part) is not None)]
        elif now is not None and then is not None and now != then:
            out.append(f"{key}: {now!r} now, {then!r} in the baseline")
    return out


class MachineMismatch(GateError):
    """The speed baseline was measured on another machine or library stack."""


def machine_mismatch_message(source: str, differences: Sequence[str]) -> str:
    fields = ", ".join(d.split(":", 1)[0] for d in differences)
    return (f"the speed baseline {source} was measured on a different machine or library stack "
            f"({fields} differ: {'; '.join(differences)}). Speedups are only comparable on the same "
            f"hardware, threads and libraries: save the baseline on this machine, or set "
            f"{ENV_ALLOW_OTHER_MACHINE}=1 to compare anyway (e.g. when the difference is the "
            "change under test, such as a torch upgrade)")


def other_stack(accuracy: Mapping[str, Any] | None, speedups: Mapping[str, Any] | None) -> list[str]:
    """A line when the joined accuracy.json and speedups.json were computed on other versions of a
    library both name (`pytest accuracy`, an upgrade of onnxruntime, `pytest benchmarks`: a row's
    accuracy of one stack beside its speed of another, said nowhere), else none. A merge's are not
    compared: each row is of its own shard's runner, its `versions` of one shard alone."""
    mine, theirs = (accuracy or {}).get("versions") or {}, (speedups or {}).get("versions") or {}
    merged = any("shards" in (doc or {}) for doc in (accuracy, speedups))
    if merged or not isinstance(mine, Mapping) or not isinstance(theirs, Mapping):
        return []
    differ = [f"{name} {mine[name]} for accuracy, {theirs[name]} for speed"
              for name in sorted(set(mine) & set(theirs)) if mine[name] != theirs[name]]
    return [f"accuracy.json and speedups.json were computed on other library versions ({'; '.join(differ)}): "
            "each row joins its accuracy on one with its speed on the other; run `pytest accuracy "
            "benchmarks` in one session to judge one stack"] if differ else []
