"""Whether a process that marked a gate session is still that session (findings.json's `running`
marker, :mod:`encoder_gate.plugin.stash`): alive on this host, and begun no later than it marked; and
the pipes of a child process closed once it is done with (:func:`close_pipes`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any


def still_running(pid: str, started: Any) -> bool:
    """Whether process `pid` of this host is the one that marked a session at `started`: alive, and
    begun no later (a pid is reused once its process is gone)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, OverflowError):  # gone, or no pid at all
        return False
    except PermissionError:
        pass  # alive, under another user
    began = _process_began(int(pid))
    try:
        marked = datetime.strptime(str(started), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return True
    return began is None or began <= marked + 1.0


def _process_began(pid: int) -> float | None:
    """When process `pid` began (seconds since the epoch), from Linux's /proc; None elsewhere."""
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # starttime, field 22 of stat
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def close_pipes(child: subprocess.Popen[Any]) -> None:
    """Close `child`'s pipes (a dead child's too): left to the garbage collector each is a
    ResourceWarning, an error in a project whose pytest turns warnings into errors."""
    for stream in (child.stdin, child.stdout, child.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # (a reader thread's stream, closed under it)
                stream.close()
