"""Where inductor keeps what it compiles: its directory (TORCHINDUCTOR_CACHE_DIR), the user's or the
artifact cache's (torch_backend.place_inductor_cache), and what it compiles for (part of every compile
key)."""

from __future__ import annotations

import contextlib
import os

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
