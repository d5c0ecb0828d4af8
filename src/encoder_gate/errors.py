"""One exception type for every problem a user can fix.

Each message says what is wrong and how to fix it; the plugin turns these into a
short pytest usage error or skip instead of a library traceback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


class GateError(Exception):
    """A problem with the user's input or setup, with an actionable message."""


class DeviceUnavailable(GateError):
    """The configured device (a CUDA GPU) is not present: tests skip with this reason."""


class MissingDependency(GateError):
    """An optional package is not installed: tests skip with this reason."""


class NotApplicable(GateError):
    """The backend does not apply to this model or file (an integer path of a file that computes the
    same numbers on every CPU): its tests skip with this reason, and no build is recorded."""


class NoKernelsOnDevice(GateError):
    """A file whose operators have no kernels on the configured device (dynamic INT8's on a CUDA GPU:
    onnx_session.CPU_ONLY_OPS). In a session on that device the backend runs on the CPU instead, its
    rows saying so, unless the configuration pinned it to the device (`[tool.encoder-gate.devices]`):
    then it fails, saying why (runtime.session.runner)."""


class PlainBuildFailed(GateError):
    """A backend built on another (an INT8 file's integer-path twin, on the file) failed building that
    one: where the session judges both, the other's row says it once (runtime.session.runner)."""

    def __init__(self, message: str, plain: str) -> None:
        super().__init__(message)
        self.plain = plain


class DiskFull(GateError):
    """The artifact cache's disk had no room for a build (ENOSPC, or the user's quota): said as that,
    with the directory, what is free there and what to do, not as each build's OSError traceback."""


class CheckFailed(AssertionError):
    """A shipped check found a backend past its bound. Its message is the whole report (what failed,
    where the bound comes from, the worst samples), so the plugin shows it alone: not the check's
    code, nor the test's fixtures (plugin.core's pytest_runtest_makereport)."""


class NotFinite(CheckFailed):
    """A backend's outputs hold NaN or infinite values, which no check can judge
    (runtime.inference.not_finite says which texts). A padding property stops at its first such
    example instead of shrinking it (runtime.properties.draw): shrinking only finds a shorter text
    of the same NaN."""


def innermost(exc: BaseException) -> BaseException:
    """The exception `exc` wraps, innermost first: torch's dynamo keeps what its backend raised as
    `inner_exception` (BackendCompilerFailed), others as the explicit cause (`raise ... from`)."""
    for _ in range(10):  # (a cycle of causes ends here, not in a loop)
        inner = getattr(exc, "inner_exception", None) or exc.__cause__
        if not isinstance(inner, BaseException) or inner is exc:
            break
        exc = inner
    return exc


def root_cause(exc: BaseException) -> str:
    """The innermost cause of `exc` in one line (torch's exporter wraps torch.export's reason in
    a page of advice with terminal colours)."""
    exc = innermost(exc)
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def listed(items: Sequence[object], n: int = 6, *, quoted: bool = True) -> str:
    """The first *n* of *items* for a message, each as its repr (as itself: `quoted=False`), and how many
    there are in all where some were left out."""
    shown = ", ".join(repr(x) if quoted else str(x) for x in items[:n])
    return f"{shown}, ... ({len(items)} in all)" if len(items) > n else shown or "(none)"
