"""Where each backend computes: its rows' device.

A session runs on its configured device (`device`, --gate-device). `[tool.encoder-gate.devices]` pins a
backend to another one (`onnx-int8 = "cpu"`). A file with no kernels on the session's device (dynamic
INT8's operators on a CUDA GPU: onnx_session.CPU_ONLY_OPS) is not skipped there: unpinned, it is built
on the CPU and judged there, against the same reference, its rows naming the CPU; pinned to a device it
cannot run on, it fails, saying why and what mends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from encoder_gate.backends.base import BuildContext, Device, Runner
from encoder_gate.backends.registry import parse_backend, split_integer_path
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError, NoKernelsOnDevice, root_cause


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
    first = context(device)
    held = HeldProgress(first.progress)
    if device == "cpu" or config.pinned_device(name) is not None:
        held.release()  # no fall back to say twice: its lines go out as they come
    try:
        runner = parse_backend(name).build(replace(first, progress=held))
    except NoKernelsOnDevice as exc:  # what the try said ("from cache at ...") the CPU's build says again
        if config.pinned_device(name) is not None or device == "cpu":
            raise GateError(f"{name} is pinned to {device} ([tool.encoder-gate.devices]) and cannot run "
                            f"there: {exc}. Pin it to the CPU ({split_integer_path(name)[0]} = \"cpu\"), "
                            "or drop the pin: a file with no kernels on the session's device is then "
                            "judged on the CPU") from None
        return parse_backend(name).build(context("cpu")), f"computed on the CPU in a {device} session: {exc}"
    except BaseException as exc:
        held.release()  # a build that failed otherwise: what it said before is said
        if isinstance(exc, Exception) and not isinstance(exc, GateError):
            # a library's own failure: a GateError, which the session keeps for the backend's later
            # tests (each of 22 tests built it again, and failed the same)
            raise GateError(f"{name} could not be built: {root_cause(exc)}") from exc
        raise
    held.release()
    return runner, None


class HeldProgress:
    """A build's progress held until :meth:`release`, then passed on as it comes: the lines of a try on
    the session's device that ends in NoKernelsOnDevice are never said (the CPU's build says its own)."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress = progress
        self.lines: list[str] | None = []

    def __call__(self, message: str) -> None:
        if self.lines is None:
            self.progress(message)
        else:
            self.lines.append(message)

    def release(self) -> None:
        lines, self.lines = self.lines or [], None
        for message in lines:
            self.progress(message)
