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
GPU, and the GPU in a speed baseline's fingerprint), and where the user's cache is
(:func:`user_cache_dir`).
"""

from __future__ import annotations

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


def user_cache_dir() -> Path:
    """encoder-gate's directory in the user's cache (``$XDG_CACHE_HOME/encoder-gate``, else
    ``~/.cache/encoder-gate``): what this machine and toolchain decide once, kept across sessions and
    projects (the CPUID mask's library, inductor's vector ISA). Not created here."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "encoder-gate"
