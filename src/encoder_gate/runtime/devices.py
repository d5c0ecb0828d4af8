"""Where each backend computes: its rows' device.

A session runs on its configured device (`device`, --gate-device). `[tool.encoder-gate.devices]` pins a
backend to another one (`onnx-int8 = "cpu"`). A file with no kernels on the session's device (dynamic
INT8's operators on a CUDA GPU: onnx_session.CPU_ONLY_OPS) is not skipped there: unpinned, it is built
on the CPU and judged there, against the same reference, its rows naming the CPU; pinned to a device it
cannot run on, it fails, saying why and what mends it.
"""

from __future__ import annotations

from collections.abc import Callable

from encoder_gate.backends.base import BuildContext, Device, Runner
from encoder_gate.backends.registry import parse_backend, split_integer_path
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError, NoKernelsOnDevice


def planned_device(config: GateConfig, name: str) -> Device:
    """The device backend `name` is built for first: the one it is pinned to, else the session's; an
    INT8 file's twin `NAME~PATH` (a CPU's integer path, backends.path_backend) on the CPU."""
    if split_integer_path(name)[1] is not None:
        return "cpu"
    return config.pinned_device(name) or config.device


def build_on_its_device(config: GateConfig, name: str,
                        context: Callable[[Device], BuildContext]) -> tuple[Runner, str | None]:
    """Backend `name` built by `context(device)` on its planned device, and None; a file with no
    kernels there, unpinned, built on the CPU instead, and why (for its record's notes)."""
    device = planned_device(config, name)
    try:
        return parse_backend(name).build(context(device)), None
    except NoKernelsOnDevice as exc:
        if config.pinned_device(name) is not None or device == "cpu":
            raise GateError(f"{name} is pinned to {device} ([tool.encoder-gate.devices]) and cannot run "
                            f"there: {exc}. Pin it to the CPU ({split_integer_path(name)[0]} = \"cpu\"), "
                            "or drop the pin: a file with no kernels on the session's device is then "
                            "judged on the CPU") from None
        return parse_backend(name).build(context("cpu")), f"computed on the CPU in a {device} session: {exc}"
