"""The machine: GEMM rate, process memory, library versions, CPU details and hardware fingerprint."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import Device
from encoder_gate.backends.registry import DEFAULT_BACKENDS, providers_of
from encoder_gate.errors import GateError
from encoder_gate.speed.settings import ENV_ALLOW_OTHER_MACHINE

VERSIONED_PACKAGES = ("torch", "onnxruntime", "transformers", "numpy", "encoder-gate")


def gemm_gflops(n: int = 1024, repeats: int = 5, threads: int | None = None) -> float:
    """The machine's FP32 GEMM rate in GFLOP/s: median over ``repeats`` timed n x n matmuls.

    Uses torch (the same BLAS/oneDNN the torch backends use) at ``threads`` intra-op
    threads (None or 0: torch's current setting, restored afterwards). One untimed
    warm-up call precedes the timed ones.
    """
    flops = 2.0 * n ** 3
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return flops / statistics.median(times) / 1e9


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


def library_versions(packages: Sequence[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that decide the numbers ("not installed" otherwise)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine_summary() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count() or 0, "python": platform.python_version()}


# --- the hardware fingerprint of a baseline ---------------------------------------------------

#: The instruction sets that pick different kernels in torch and ONNX Runtime (FP32 and INT8 GEMMs).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")
#: What a speed baseline must share with the run gated against it, in the order messages name them.
FINGERPRINT_FIELDS = ("cpu_model", "isa", "logical_cores", "physical_cores", "threads",
                      "execution_providers", "torch", "onnxruntime", "versions")


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
    model: str | None = None
    flags: set[str] | None = None
    cores: set[tuple[str, str]] = set()
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        model = model or fields.get("model name") or fields.get("hardware") or fields.get("cpu model")
        raw_flags = fields.get("flags", fields.get("features"))
        if flags is None and raw_flags is not None:
            flags = set(raw_flags.split())
        if "physical id" in fields and "core id" in fields:
            cores.add((fields["physical id"], fields["core id"]))
    return {"cpu_model": model or platform.processor() or platform.machine() or "unknown",
            "isa": {f: f in flags for f in ISA_FLAGS} if flags is not None else {},
            "physical_cores": len(cores) or None}


def session_providers(device: Device, backends: Sequence[str] = DEFAULT_BACKENDS) -> list[str]:
    """The execution providers `backends` run on for ``device``, as each backend names them
    (empty when its library or the device is missing)."""
    return list(providers_of(backends, device))


def _onnxruntime_version() -> str:
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        return version if dist == "onnxruntime" else f"{version} ({dist})"
    return "not installed"


def hardware_fingerprint(threads: int, providers: Sequence[str], *, packages: Sequence[str] = (),
                         cpuinfo: str | None = None) -> dict[str, Any]:
    """What a speed baseline was measured on: CPU model, ISA flags (:data:`ISA_FLAGS`),
    logical and physical cores, the session's threads (0: the libraries' default, all
    cores), the backends' execution providers, torch and onnxruntime versions, and the
    versions of every library the configured backends name (`packages`, per library).

    Speedups measured on another CPU, thread count or library release are not comparable:
    INT8 speedups hinge on VNNI/AMX, and a kernel change in torch moves the reference.
    """
    details = cpu_details(cpuinfo)
    return {"cpu_model": details["cpu_model"], "isa": details["isa"], "logical_cores": os.cpu_count() or 0,
            "physical_cores": details["physical_cores"], "threads": int(threads),
            "execution_providers": list(providers), "torch": library_versions(("torch",))["torch"],
            "onnxruntime": _onnxruntime_version(), "versions": library_versions(packages)}


def fingerprint_differences(current: Mapping[str, Any] | None,
                            baseline: Mapping[str, Any] | None) -> list[str]:
    """``field: now vs baseline`` for every fingerprint field known on both sides that differs
    (ISA flags one by one, as ``isa.avx512_vnni``)."""
    if not current or not baseline:
        return []
    out = []
    for key in FINGERPRINT_FIELDS:
        now, then = current.get(key), baseline.get(key)
        if isinstance(now, Mapping) and isinstance(then, Mapping):  # isa flags, library versions
            out += [f"{key}.{part}: {now[part]!r} now, {then[part]!r} in the baseline"
                    for part in now if part in then and now[part] != then[part]]
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
