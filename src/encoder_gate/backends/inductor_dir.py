"""Where inductor keeps what it compiles: its directory (TORCHINDUCTOR_CACHE_DIR), the user's or the
artifact cache's (torch_backend.place_inductor_cache), reached by a path its C++ build can take (no
space, no quote: shell_safe), its temporary directory likewise, and what it compiles for (part of
every compile key)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import Device
from encoder_gate.cache import key_of, replace_file
from encoder_gate.environment import user_cache_dir

INDUCTOR_DIR_ENV = "TORCHINDUCTOR_CACHE_DIR"
#: The user's own inductor directory, read when this module is first imported: torch sets the
#: variable to its default (/tmp/torchinductor_<user>) itself the first time it asks for the
#: directory, which an ONNX export before the compile does (and `import torch`, where TORCH_LOGS names
#: inductor), so its value later says nothing.
USER_INDUCTOR_DIR = os.environ.get(INDUCTOR_DIR_ENV)


def user_inductor_dir() -> str | None:
    """USER_INDUCTOR_DIR, unless it is torch's own default: importing torch._dynamo writes that into
    the environment, and a pytest plugin loaded before this one (or .ci/fxprobe.py) can import it
    before this module is: a directory the user did not choose, shared by every process of theirs."""
    if USER_INDUCTOR_DIR is None:
        return None
    defaults = {os.path.realpath(d) for d in (torch_default_dir(), *_REPLACED_DEFAULTS) if d is not None}
    return None if os.path.realpath(USER_INDUCTOR_DIR) in defaults else USER_INDUCTOR_DIR


#: torch's default inductor directories under a temporary directory keep_temp_dir_shell_safe replaced
_REPLACED_DEFAULTS: list[str] = []


def torch_default_dir() -> str | None:
    """torch's default inductor directory under the temporary directory of now, None where this torch
    has no such function (a private module: the variable is then taken as the user's)."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:
        return None
    return str(default_cache_dir())


def compile_hardware(device: Device) -> str:
    """What inductor compiles for: the GPU's name, or the CPU's architecture, ATen's capability and
    the vector ISA inductor's C++ is compiled for (part of every compile key)."""
    import platform

    import torch

    if device == "cuda":
        return str(torch.cuda.get_device_name())
    return f"{platform.machine()}/{torch.backends.cpu.get_cpu_capability()}/{vec_isa()}"


def vec_isa() -> str:
    """The vector ISA inductor compiles this CPU's C++ for (`pick_vec_isa`, "?" where this torch has
    none), kept in the user's cache under what decides it (:func:`_vec_isa_inputs`). inductor picks it
    by compiling a probe for each ISA the CPU has and loading each in a Python process of its own:
    about 1 s of a core in a fresh process (3.75 s against 1.45 s with inductor's imports, AMD EPYC
    Zen 5, torch 2.13). inductor still picks for itself where it first compiles or loads a kernel, so
    what the memo saves is the pick of a process that keys a compile and never calls it (a session
    that reads every output from the cache). A pick is kept only where it is the best ISA the CPU has
    (:func:`_cpu_best_isa`): one lowered by a failed or timed-out probe is picked again next time, so a
    key never names less than the kernels compiled under it."""
    if (kept := _kept_before_inductor()) is not None:
        return kept
    try:
        import torch._inductor.cpu_vec_isa as cpu_vec_isa
        from torch._inductor import config
    except Exception:  # a private module: without it, the capability alone keys them
        return "?"
    best = _cpu_best_isa(cpu_vec_isa, config)
    memo = None
    if best is not None:
        with contextlib.suppress(OSError, RuntimeError, KeyError):  # no home directory: nothing kept
            memo = _vec_isa_memo(config)
    if memo is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if (kept := memo.read_text().strip()) == best:
                return kept
    try:
        isa = str(cpu_vec_isa.pick_vec_isa())
    except Exception:
        return "?"
    if memo is not None and isa == best:
        with contextlib.suppress(OSError):  # a cache that cannot be written: picked again next time
            replace_file(memo, lambda tmp: tmp.write_text(isa))
    return isa


def _kept_before_inductor() -> str | None:
    """The kept pick, read without importing inductor (0.85 s of CPU, most of torch-compile's build in a
    session that reads every output from the cache; AMD EPYC Zen 5, torch 2.13). Before inductor is
    imported its configuration is its defaults, which only the environment decides here (CXX;
    TORCHINDUCTOR_VEC_ISA_OK unset), so the memo's key is known without it; a torch whose defaults
    differ keys another memo, which is not there: its pick is then made as before, by inductor."""
    import platform
    import sys
    from types import SimpleNamespace

    if "torch._inductor.config" in sys.modules or os.environ.get("TORCHINDUCTOR_VEC_ISA_OK") is not None \
            or platform.machine() not in ("x86_64", "AMD64"):
        return None
    defaults = SimpleNamespace(cpp=SimpleNamespace(simdlen=None, vec_isa_ok=None,
                                                   cxx=(None, os.environ.get("CXX", "g++"))))
    with contextlib.suppress(OSError, RuntimeError, KeyError, UnicodeDecodeError, AttributeError):
        kept = _vec_isa_memo(defaults).read_text()
        named = set(kept.split())
        return kept.strip() if named and named <= _cpu_isas() else None  # (a damaged pick: not taken)
    return None


def _vec_isa_memo(config: Any) -> Path:
    """Where the pick made under inductor's `config` (and what else decides it) is kept."""
    return user_cache_dir() / f"vec-isa-{key_of(_vec_isa_inputs(config))[:20]}.txt"


def _cpu_isas() -> set[str]:
    """The x86 ISAs this CPU has as inductor names them (cpu_vec_isa.x86_isa_checker), by ATen's CPUID."""
    import torch

    checks = {"avx2": "_is_avx2_supported", "avx512": "_is_avx512_supported",
              "avx512_vnni": "_is_vnni_supported", "amx_tile": "_is_amx_tile_supported"}
    has = {name for name, check in checks.items() if getattr(torch.cpu, check)()}
    return has if "avx512" in has else has - {"avx512_vnni"}


def _cpu_best_isa(cpu_vec_isa: Any, config: Any) -> str | None:
    """What `pick_vec_isa` returns where every ISA this x86 CPU has (by CPUID, as ATen reads it) builds
    and loads: the first of inductor's ISAs the CPU has, by inductor's own rules (cpp.simdlen,
    ATEN_CPU_CAPABILITY). None elsewhere (another architecture, inductor's vec_isa_ok set, a torch whose
    module lacks these parts): nothing is kept there."""
    import platform
    import warnings

    try:
        if platform.machine() not in ("x86_64", "AMD64") or config.cpp.vec_isa_ok is not None \
                or config.is_fbcode():
            return None
        has = set(cpu_vec_isa.x86_isa_checker())
        isas = [isa for isa in cpu_vec_isa.supported_vec_isa_list if all(f in has for f in str(isa).split())]
        if not isas:
            return None
        if config.cpp.simdlen is None:
            with warnings.catch_warnings():  # an ATEN_CPU_CAPABILITY it ignores: inductor warns itself
                warnings.simplefilter("ignore")
                return str(cpu_vec_isa.get_isa_from_cpu_capability(
                    os.environ.get("ATEN_CPU_CAPABILITY"), isas, cpu_vec_isa.invalid_vec_isa))
        return str(next((isa for isa in isas if isa.bit_width() == config.cpp.simdlen),
                        cpu_vec_isa.invalid_vec_isa))
    except Exception:  # a private module of another shape
        return None


def _vec_isa_inputs(config: Any) -> dict[str, object]:
    """What inductor's pick of a vector ISA follows from: this torch (its version and where it is), the
    CPU as /proc/cpuinfo lists its flags and as ATen sees it through CPUID (a process masked to AVX2
    by .ci/avx2-only sees AVX2 there, whatever the file says), the settings inductor reads
    (ATEN_CPU_CAPABILITY, cpp.simdlen, cpp.vec_isa_ok, its compiler) and each C++ compiler it can
    find, by its resolved path, size and time: a compiler upgraded in place picks again."""
    import platform
    import shutil

    import torch

    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = platform.processor()
    cxx = config.cpp.cxx if isinstance(config.cpp.cxx, (list, tuple)) else (config.cpp.cxx,)
    compilers = {}
    for name in dict.fromkeys(c for c in (os.environ.get("CXX"), *cxx, "c++", "g++", "clang++") if c):
        if (found := shutil.which(str(name))) is not None:
            with contextlib.suppress(OSError):
                real = os.path.realpath(found)
                stat = os.stat(real)
                compilers[str(name)] = [real, stat.st_size, stat.st_mtime_ns]
    return {"torch": torch.__version__, "torch_at": os.path.dirname(torch.__file__),
            "machine": platform.machine(), "capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_flags": hashlib.sha256(flags.encode()).hexdigest(),
            "settings": [os.environ.get("ATEN_CPU_CAPABILITY"), repr(config.cpp.simdlen),
                         repr(config.cpp.vec_isa_ok), repr(config.cpp.cxx)],
            "compilers": compilers}


def shell_safe(path: str | Path) -> bool:
    """Whether inductor's C++ build takes `path` whole: it builds its g++ command line as a string and
    splits it with shlex (torch 2.13), so a space breaks a path in two (`/tmp/a b/...` ran as
    `['g++', '/tmp/a', 'b/...']`) and a quote or a backslash is dropped or joins what follows."""
    try:
        return shlex.split(str(path)) == [str(path)]
    except ValueError:  # an unclosed quote
        return False


def safe_temp_dir() -> Path | None:
    """The system's temporary directory where inductor's build can take its path, else /tmp where it
    can be written, else None."""
    for candidate in (Path(tempfile.gettempdir()), Path("/tmp")):
        if shell_safe(candidate.resolve()) and candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate.resolve()
    return None


def keep_temp_dir_shell_safe(progress: Callable[[str], None]) -> None:
    """inductor precompiles its C++ header in a temporary directory of its own (tempfile, TMPDIR for
    its compile workers): where that path has a space or a quote, every compile failed whatever its
    cache directory. Point both at safe_temp_dir() then, saying so once a process."""
    here = Path(tempfile.gettempdir())
    if shell_safe(here.resolve()):
        return
    safe = safe_temp_dir()
    if safe is None:
        return
    if (before := torch_default_dir()) is not None:
        _REPLACED_DEFAULTS.append(before)
    tempfile.tempdir = str(safe)
    os.environ["TMPDIR"] = str(safe)
    now = torch_default_dir()
    with contextlib.suppress(Exception):  # its precompiled headers' directory, taken when it was imported
        import torch._inductor.codecache as codecache

        if now is not None and not shell_safe(codecache._HEADER_DIR):
            codecache._HEADER_DIR = os.path.join(now, "precompiled_headers")
            codecache._HEADER_LOCK_DIR = os.path.join(codecache._HEADER_DIR, "locks")
    progress(f"torch-compile: inductor's C++ build cannot take the temporary directory {here} (a space or a "
             f"quote in its path): this process's temporary files go to {safe}")


def shell_safe_place(place: Path) -> Path | None:
    """`place`, or where its path is not shell_safe (a space, a quote), a link to it that is: a project
    in a directory named so could not compile torch-compile into its own artifact cache. The link
    lives in safe_temp_dir(), named after the place, and the files still land in the place (the cache
    CI saves). None where no safe directory can hold the link."""
    where = place.resolve()
    if shell_safe(where):
        return where
    tmp = safe_temp_dir()
    if tmp is None:
        return None
    link = tmp / f"encoder-gate-{where.name}-{hashlib.sha256(str(where).encode()).hexdigest()[:8]}"
    try:
        if not (link.is_symlink() and link.resolve() == where):
            fresh = link.with_name(f"{link.name}.{os.getpid()}")
            fresh.unlink(missing_ok=True)
            fresh.symlink_to(where, target_is_directory=True)
            os.replace(fresh, link)  # atomic: another process's link to the same place is as good
    except OSError:
        return None
    return link
