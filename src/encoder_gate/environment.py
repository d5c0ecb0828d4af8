"""The installed stack against the window encoder-gate declares: one line for a package outside it.

pyproject.toml declares the supported window of every dependency (docs/configuration.md#dependencies);
pip holds an install to it, but an environment can leave it later (a `pip install` of another
project downgrading scipy, `--no-deps`, a conda environment). A gate session that starts on such a
stack fails deep inside a library (scipy's bootstrap, torch's exporter) with a traceback; this
check says it first, in one line naming the package, its version, the window and the fix.

    problems = outside_the_window()   # ["scipy 1.14.1 is outside ... (scipy>=1.15): pip install ..."]
    problems += half_removed()        # onnxruntime's module, after one of its two builds was uninstalled

Only what is installed is checked (an optional package that is absent is the backends' business:
they skip, naming it), and only requirements that apply to this environment (an extra's, such as
onnxruntime's, where the package is installed).

The NVIDIA driver is read here too, once for all who name it (:func:`nvidia_smi`: why torch sees no
GPU, and the GPU in a speed baseline's fingerprint), where the user's cache is
(:func:`user_cache_dir`), and what a container's cgroups allow: its CPU time (:func:`cpu_quota`, what the
libraries' default thread counts are held to) and its memory (:func:`memory_limit`, and
:func:`oom_kills`, which tells a process the out-of-memory killer ended from one killed otherwise).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "encoder-gate"


def outside_the_window(distribution: str = DISTRIBUTION) -> list[str]:
    """One line for each installed dependency of `distribution` whose version its requirements do
    not allow; [] where all are inside, or where the metadata cannot be read (nothing to judge by)."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.version import InvalidVersion, Version

        required = metadata.requires(distribution) or []
    except (ImportError, metadata.PackageNotFoundError):
        return []
    problems = []
    for line in required:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and "extra" not in str(req.marker) and not req.marker.evaluate():
            continue  # a platform's or a Python's requirement that is not this one's
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            continue
        try:
            allowed = req.specifier.contains(Version(installed), prereleases=True)
        except InvalidVersion:
            continue
        if not allowed:
            problems.append(f"{req.name} {installed} is outside the versions encoder-gate supports "
                            f"({req.name}{req.specifier}): pip install '{req.name}{req.specifier}' "
                            "(docs/configuration.md#dependencies)")
    return problems


#: Modules that more than one distribution ships, each the files of the others: pip records the shared
#: files under each, so uninstalling one removes them from under the other; and the installed version
#: of such a module is each one's (cache.installed_version).
SHARED_MODULES = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu")}
#: The install that makes such a module whole again, after both are uninstalled (pip takes an extra
#: of the installed encoder-gate as it is, wherever it was installed from: checked with pip 23.2)
REINSTALL = {"onnxruntime": "'encoder-gate[cpu]' (or 'encoder-gate[gpu]' on an NVIDIA GPU)"}


def half_removed(module: str = "onnxruntime") -> list[str]:
    """One line where `module` is left half removed, [] otherwise. onnxruntime and onnxruntime-gpu
    ship the same `onnxruntime` module; with both installed, `pip uninstall onnxruntime` (the usual
    advice for a GPU machine) removes its `__init__.py` from under onnxruntime-gpu, and what is left
    imports as an empty namespace package: every ONNX backend then failed deep inside the gate
    ("module 'onnxruntime' has no attribute 'SessionOptions'", a traceback per test;
    microsoft/onnxruntime#3326). Found without importing it (importlib's spec: a package with no
    origin is such a directory without its `__init__.py`)."""
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None or spec.origin is not None or not spec.submodule_search_locations:
        return []
    where = ", ".join(spec.submodule_search_locations)
    dists = SHARED_MODULES.get(module, (module,))
    again = REINSTALL.get(module, module)
    still = []
    for dist in dists:
        try:
            still.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    said = f" (still installed, by pip's records: {', '.join(still)})" if still else ""
    return [f"the {module} module in {where} is half removed, no __init__.py{said}: {' and '.join(dists)} "
            "ship the same files, and uninstalling one of them removes what the other needs. Uninstall "
            f"both, then install one: {reinstall(module, again)}"]


def reinstall(module: str, install: str) -> str:
    """The command that makes a module several builds ship whole again (:data:`SHARED_MODULES`):
    every build uninstalled, then `install` (uninstalling one alone leaves it half removed)."""
    return f"pip uninstall -y {' '.join(SHARED_MODULES.get(module, (module,)))} && pip install {install}"


#: pip's name for a module an installed library may import without requiring it, where the two differ
MODULE_DISTRIBUTIONS = {"ml_dtypes": "ml-dtypes", "sklearn": "scikit-learn", "google": "protobuf",
                        "yaml": "pyyaml"}


def pip_name(module: str) -> str:
    """The distribution that installs top-level module `module`, by its usual name."""
    return MODULE_DISTRIBUTIONS.get(module, module.replace("_", "-"))


def missing_module(exc: ModuleNotFoundError) -> str:
    """One line for a module that an installed library imports and this environment lacks: the module,
    the library whose code imports it (the distribution and version owning the innermost frame of the
    traceback in an installed package), and the install that adds it. onnxruntime 1.24 and later import
    ml_dtypes for their quantization without requiring it (an extra of theirs), and onnx before 1.19 does
    not bring it: that stack lost every INT8 build to a bare `No module named 'ml_dtypes'`."""
    module = (exc.name or "").split(".")[0] or str(exc)
    importer = _importer(exc)
    by = f", which {importer} imports" if importer else ""
    install = REINSTALL.get(module) or pip_name(module)
    return f"the Python module {module!r} is not installed{by}: pip install {install}"


def optional_module(module: str, distribution: str = DISTRIBUTION) -> bool:
    """Whether `module` is what only an extra of `distribution` installs (onnxruntime of `cpu` and
    `gpu`, optimum, onnxscript): its absence is a backend's skip, naming the install, not a broken
    environment."""
    from packaging.requirements import InvalidRequirement, Requirement

    top = module.split(".")[0]
    names = {*SHARED_MODULES.get(top, ()), pip_name(top)}
    try:
        required = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return False
    found = []
    for line in required:
        with contextlib.suppress(InvalidRequirement):
            req = Requirement(line)
            if req.name.lower() in names:
                found.append(req.marker is not None and "extra" in str(req.marker))
    return bool(found) and all(found)


def _importer(exc: BaseException) -> str | None:
    """'NAME VERSION' of the installed distribution owning the innermost frame of `exc`'s traceback
    that lies in one; None where none does, or where that one is encoder-gate."""
    import sys
    import traceback

    try:
        owners = metadata.packages_distributions()
    except Exception:  # a broken distribution's metadata: nothing to name it by
        return None
    roots = sorted({os.path.realpath(p) for p in sys.path if p}, key=len, reverse=True)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.realpath(frame.filename)
        root = next((r for r in roots if path.startswith(r + os.sep)), None)
        if root is None:
            continue
        top = Path(path[len(root) + 1:]).parts[0].removesuffix(".py")
        dists = owners.get(top)
        if not dists:
            continue  # the standard library's, or a file no distribution owns
        if any(d.lower().replace("_", "-") == DISTRIBUTION for d in dists):
            return None  # the gate's own import: its caller words it
        with contextlib.suppress(metadata.PackageNotFoundError):
            return f"{dists[0]} {metadata.version(dists[0])}"
        return None
    return None


@dataclass(frozen=True)
class NvidiaSmi:
    """What nvidia-smi printed, and the driver's version and the newest CUDA it supports as its
    banner names them ("Driver Version: 580.159.04 ... CUDA Version: 13.0"; None where it names none:
    nvidia-smi that cannot reach a driver prints why instead)."""

    text: str
    driver: str | None
    cuda: str | None


def nvidia_smi() -> NvidiaSmi | None:
    """nvidia-smi's reading of the NVIDIA driver, or None where this machine has no nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        text = subprocess.run([smi], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        text = ""
    driver = re.search(r"Driver Version:\s*([\d.]+)", text)
    cuda = re.search(r"CUDA Version:\s*(\d+\.\d+)", text)
    return NvidiaSmi(text, driver.group(1) if driver else None, cuda.group(1) if cuda else None)


def cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    """`/proc/cpuinfo`'s text as one dict a processor (its block), keys lower-cased."""
    blocks = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        blocks.append(fields)
    return blocks


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """The CPU's model as `/proc/cpuinfo` (or the text given) names it (x86's `model name`, ARM's
    `Hardware` or `CPU model`), None where it names none or cannot be read: the speed fingerprint's
    CPU, and the machine a shipped model was trained on."""
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    return next((named for fields in cpuinfo_blocks(text)
                 if (named := fields.get("model name") or fields.get("hardware") or fields.get("cpu model"))),
                None)


def user_cache_dir() -> Path:
    """encoder-gate's directory in the user's cache (``$XDG_CACHE_HOME/encoder-gate``, else
    ``~/.cache/encoder-gate``): what this machine and toolchain decide once, kept across sessions and
    projects (the CPUID mask's library, inductor's vector ISA). Not created here."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "encoder-gate"


#: Where the cgroup file systems are mounted: v2's one hierarchy, or each v1 controller's below it
#: (the cpu controller alone, or mounted with cpuacct).
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_V1_MOUNTS = {"cpu": ("cpu,cpuacct", "cpu"), "memory": ("memory",)}
#: This process's cgroups, a line a hierarchy: "0::/path" (v2), "4:cpu,cpuacct:/path" (v1)
PROC_CGROUP = Path("/proc/self/cgroup")
#: v1's memory.limit_in_bytes where no limit is set (the largest page-aligned count): no limit
NO_V1_LIMIT = 2**62


@dataclass(frozen=True)
class CpuQuota:
    """A CFS bandwidth limit on this process (`docker run --cpus`, a Kubernetes CPU limit, a CI
    runner's container): CPU time, not cores. The process still sees every core of the host (its
    affinity, os.cpu_count), and torch and ONNX Runtime size their default thread pools by those,
    so a 2-CPU container on a 16-core host ran 16 threads on 2 cores' time: their threads spin at
    each parallel region's barrier and stall when the quota throttles them (the default model's
    `pytest accuracy` in a 1-CPU quota of a 2-core machine: 14.5% slower at 2 threads; docs/noise.md)."""

    cores: float  # the quota over its period: the cores' time the process may use
    seen: int  # the cores the process may be scheduled on (its affinity)
    source: str  # the file and its figures, e.g. "/sys/fs/cgroup/cpu.max: 200000 100000"

    @property
    def threads(self) -> int:
        """The whole cores of the quota (at least 1): one thread more than the quota runs is enough to
        have every thread of a pool wait on the throttled one."""
        return max(1, math.floor(self.cores))

    def said(self) -> str:
        time = "1 core's" if self.cores == 1 else f"{self.cores:g} cores'"
        return (f"this runner's CPU quota allows {time} time of the {self.seen} this process sees "
                f"({self.source})")


def _ancestors(path: str) -> list[str]:
    """'/a/b' -> ['a/b', 'a', '']: a cgroup and each cgroup above it, relative to the hierarchy's root."""
    parts = [p for p in path.strip().split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cgroup_dirs(controller: str) -> list[tuple[int, Path]]:
    """The directories of this process's cgroup and of each cgroup above it, each with its version
    (2, or 1: that controller's own mount): a limit may sit on a parent (a Kubernetes pod's) as on
    the process's own. Inside a container whose cgroup is its root, the path /proc/self/cgroup names
    (the host's) may not exist below the mount: the root's files are then its own."""
    dirs: list[tuple[int, Path]] = []
    root = CGROUP_ROOT
    for line in (_read(PROC_CGROUP) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            dirs += [(2, root / rel) for rel in _ancestors(path)]
        elif controller in controllers.split(","):
            mounts = CGROUP_V1_MOUNTS[controller]
            dirs += [(1, root / mount / rel) for mount in mounts for rel in _ancestors(path)]
    return dirs


def _quotas() -> list[tuple[float, str]]:
    """Each CFS quota on this process's cgroups: v2's cpu.max, v1's cpu.cfs_quota_us over its
    cpu.cfs_period_us."""
    found: list[tuple[float, str]] = []
    for version, where in _cgroup_dirs("cpu"):
        if version == 2:
            text = _read(where / "cpu.max")
            fields = (text or "").split()
            if len(fields) == 2 and _positive(*fields):
                found.append((int(fields[0]) / int(fields[1]), f"{where / 'cpu.max'}: {text}"))
            continue
        quota, period = _read(where / "cpu.cfs_quota_us"), _read(where / "cpu.cfs_period_us")
        if quota and period and _positive(quota, period):
            found.append((int(quota) / int(period), f"{where}/cpu.cfs_quota_us: {quota} of {period}"))
    return found


def _positive(*figures: str) -> bool:
    return all(f.isdigit() and int(f) > 0 for f in figures)


def seen_cores() -> int:
    """The cores this process may be scheduled on: its affinity on Linux (a container's cpuset sets
    it), every logical core elsewhere."""
    affinity = getattr(os, "sched_getaffinity", None)  # not on macOS or Windows
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


@functools.cache
def cpu_quota() -> CpuQuota | None:
    """The tightest CPU quota on this process where it allows fewer whole cores than the process
    sees; None where there is none, where it allows as many, and off Linux (no cgroups). Read once a
    process."""
    quotas = _quotas()
    if not quotas:
        return None
    cores, source = min(quotas)
    quota = CpuQuota(cores, seen_cores(), source)
    return quota if quota.threads < quota.seen else None


def memory_limit() -> tuple[int, str] | None:
    """The tightest memory limit on this process's cgroups, in bytes, with the file that sets it
    (v2's memory.max, v1's memory.limit_in_bytes); None where none is set."""
    limits = []
    for version, where in _cgroup_dirs("memory"):
        path = where / ("memory.max" if version == 2 else "memory.limit_in_bytes")
        text = _read(path)
        if text and text.isdigit() and 0 < int(text) < NO_V1_LIMIT:
            limits.append((int(text), str(path)))
    return min(limits) if limits else None


def oom_kills() -> int | None:
    """How many processes the out-of-memory killer has ended in this process's cgroups so far (v2's
    memory.events, v1's memory.oom_control: their oom_kill lines, summed over the cgroup and those
    above it), or None where no cgroup counts them. Read twice, before and after a process died of
    SIGKILL, it tells a memory limit from a kill by another hand."""
    counts = []
    for version, where in _cgroup_dirs("memory"):
        text = _read(where / ("memory.events" if version == 2 else "memory.oom_control"))
        found = re.search(r"^oom_kill (\d+)$", text or "", re.MULTILINE)
        if found:
            counts.append(int(found.group(1)))
    return sum(counts) if counts else None


def oom_since(kills_before: int | None) -> str | None:
    """Where this process's cgroups say the out-of-memory killer has ended a process since
    `kills_before` was read (:func:`oom_kills`): the runner's memory limit in words (" under this
    runner's memory limit of 2.0 GiB (FILE)", or "" where none is set); None where they do not say so
    (no count, or no rise: another hand, or the host's own out-of-memory killer outside any limit)."""
    after = oom_kills()
    if kills_before is None or after is None or after <= kills_before:
        return None
    limit = memory_limit()
    if limit is None:
        return ""
    size = f"{limit[0] / 2**30:.1f} GiB" if limit[0] >= 2**30 else f"{limit[0] / 2**20:.0f} MiB"
    return f" under this runner's memory limit of {size} ({limit[1]})"


def killed_for_memory(kills_before: int | None) -> str | None:
    """Why a process of ours that died of SIGKILL died, where its cgroups say it was memory
    (:func:`oom_since`), in words with the limit; None where they do not say so."""
    under = oom_since(kills_before)
    return None if under is None else f"the kernel's out-of-memory killer ended it{under}"


def quota_threads() -> int:
    """The thread count a library's default is held to here: a CPU quota's whole cores where one
    binds (:func:`cpu_quota`) and OMP_NUM_THREADS sets no count of its own; 0 (no hold) elsewhere.
    torch and ONNX Runtime both follow it for a count of 0 (backends.torch_backend.default_threads,
    backends.onnx_session.session_options)."""
    if omp_threads():
        return 0
    quota = cpu_quota()
    return quota.threads if quota is not None else 0


def omp_threads() -> int:
    """OMP_NUM_THREADS where it is set to a count (its first level), else 0.

    torch's own default follows it; ONNX Runtime's does not (it takes its count of cores), so a
    session asked for 0 threads (the library default) is given this count: on a runner that shares
    its cores (xdist workers, CI jobs beside each other) both libraries keep to the share it sets.
    Two processes each running ORT at its default on a 2-core machine spent 45% more CPU time on the
    same passes than at one thread each (its pool's threads spin, waiting for a core the other
    process holds: docs/noise.md)."""
    raw = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 0
