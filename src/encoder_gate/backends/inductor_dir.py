"""Where inductor keeps what it compiles: its directory (TORCHINDUCTOR_CACHE_DIR), the user's or the
artifact cache's (torch_backend.place_inductor_cache), and what it compiles for (part of every compile
key)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from encoder_gate.backends.base import Device

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
    with contextlib.suppress(Exception):  # a torch without that module: the variable is the user's
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        if os.path.realpath(USER_INDUCTOR_DIR) == os.path.realpath(default_cache_dir()):
            return None
    return USER_INDUCTOR_DIR


def compile_hardware(device: Device) -> str:
    """What inductor compiles for: the GPU's name, or the CPU's architecture, ATen's capability and
    the vector ISA inductor's C++ is compiled for (part of every compile key)."""
    import platform

    import torch

    if device == "cuda":
        return str(torch.cuda.get_device_name())
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        isa = str(pick_vec_isa())
    except Exception:  # a private module: without it, the capability alone keys them
        isa = "?"
    return f"{platform.machine()}/{torch.backends.cpu.get_cpu_capability()}/{isa}"


def spaceless(place: Path) -> Path | None:
    """`place`, or where it has whitespace in its path, a link to it without: inductor builds its C++
    kernels with a command line it splits at spaces (torch 2.13: `g++ /tmp/a b/...` ran as
    `['g++', '/tmp/a', 'b/...']`, CalledProcessError), so a project in a directory whose name has a
    space could not compile torch-compile into its own artifact cache. The link lives in the system's
    temporary directory, named after the place, and the files still land in the place (the cache CI
    saves). None where that directory has a space too, or no link can be made there."""
    where = place.resolve()
    if not any(c.isspace() for c in str(where)):
        return where
    tmp = Path(tempfile.gettempdir()).resolve()
    if any(c.isspace() for c in str(tmp)):
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
