"""findings.json, read and written under one lock: each session's findings under the documents it
wrote, and the running marker of each session of the model that has not reached its end. The
plugin's stash decides what goes in (:func:`encoder_gate.plugin.stash.mark_running`, its
ExitStatus); this module only keeps the file consistent between sessions side by side."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from encoder_gate.decision import Finding
from encoder_gate.documents import FINDINGS_FILE, read_document, write_document
from encoder_gate.errors import GateError
from encoder_gate.processes import still_running
from encoder_gate.runtime.provenance import mismatch
from encoder_gate.waivers import Waiver


def findings_lock_path() -> Path:
    """The lock file of :func:`findings_lock`: one for every report directory of this user, in the
    temporary directory (the report directory holds the gate's documents alone). One a report
    directory, as before, left a file behind for each directory ever written (763 in /tmp after a
    day of self-test runs, 2026-11-28); each hold lasts milliseconds, so one lock costs nothing."""
    user = f"-{os.getuid()}" if hasattr(os, "getuid") else ""  # Windows' temporary directory is the user's
    return Path(tempfile.gettempdir()) / f"encoder-gate-findings{user}.lock"


@contextlib.contextmanager
def findings_lock() -> Iterator[None]:
    """Held around each read-modify-write of a report directory's findings.json. Two sessions of one
    model side by side (`pytest accuracy` beside `pytest benchmarks`: CI's two lanes, or two terminals)
    each read it, add their running marker or their findings and write it back; without the lock
    one could write over what the other added in between. One lock file for all of a user's report
    directories (:func:`findings_lock_path`). Each holds it for milliseconds: one it cannot open
    or that stays held for a minute is gone around, as before the lock, rather than hanging the
    session."""
    lock = FileLock(str(findings_lock_path()))
    try:
        lock.acquire(timeout=60)
    except (OSError, Timeout):
        yield
        return
    try:
        yield
    finally:
        lock.release()


def findings_of_this_model(report_dir: Path, current: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """findings.json as it stands where it is of `current`'s model and dataset (else empty: a fresh
    one replaces it), and whether it is another model's. An unreadable one is replaced."""
    try:
        old = read_document(report_dir, FINDINGS_FILE) or {}
    except GateError:
        return {}, False
    same = bool(old) and mismatch(old.get("provenance"), current) is None
    return (old if same else {}), bool(old) and not same


def write_findings(report_dir: Path, current: Mapping[str, Any], base: Mapping[str, Any],
                    waivers: Sequence[Waiver], running: Mapping[str, Any], **changes: Any) -> None:
    """findings.json from `base` (this model's, or empty) with `changes` and the sessions `running`
    (none: no `running`), stamped with `current`'s provenance."""
    doc = {"provenance": dict(current), "by_document": dict(base.get("by_document") or {}),
           "unwritten": list(base.get("unwritten") or []), "waivers": [w.to_json() for w in waivers],
           **changes, **({"running": dict(running)} if running else {})}
    write_document(report_dir, FINDINGS_FILE, doc)


def running_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """findings.json's sessions that have not finished, by process id (mark_running)."""
    return {str(k): v for k, v in (doc.get("running") or {}).items()}


def others_running(doc: Mapping[str, Any], mine: int) -> dict[str, Any]:
    """The running markers of other sessions than `mine` (a pid) that still run: each of a process
    of this host that is alive and began before its marker. One whose process is gone (killed or
    crashed), whose pid another process has taken since, or of another host (a report directory
    copied from a runner whose session never ended) is superseded by the session that ends here."""
    here = socket.gethostname()
    return {pid: run for pid, run in running_of(doc).items()
            if pid != str(mine) and run.get("host") == here and still_running(pid, run.get("started"))}


def record_findings(report_dir: Path, current: Mapping[str, Any], written: set[str],
                    mine: Sequence[Finding], waivers: Sequence[Waiver] = (),
                    unwritten_fed: Iterable[str] = ()) -> None:
    """findings.json: this session's findings under each document it wrote (replacing an earlier
    session's there), and under each its tests feed but it did not write (`unwritten_fed`: an
    interrupted `pytest accuracy`, whose earlier accuracy.json drop_superseded removed: its failure
    stands for that document until a session writes it, whatever other documents are written
    meanwhile); under ``unwritten`` when it had neither. The findings of other documents' sessions
    stay. A findings.json of another model or dataset is replaced. This session's running marker
    goes (another session's, still running, stays)."""
    with findings_lock():
        base, _ = findings_of_this_model(report_dir, current)
        ours = [f.to_json() for f in mine]
        by_document = dict(base.get("by_document") or {})
        slots = {*written, *unwritten_fed}
        by_document.update({name: ours for name in slots})
        write_findings(report_dir, current, base, waivers, by_document=by_document,
                        unwritten=[] if slots else ours, running=others_running(base, os.getpid()))


def marked_by_this_session(report_dir: Path) -> dict[str, Any] | None:
    """findings.json where it holds this session's running marker (its own, or its xdist workers'
    for it), else None (none there, or unreadable)."""
    try:
        marked = read_document(report_dir, FINDINGS_FILE) or {}
    except GateError:
        return None
    return marked if str(os.getpid()) in running_of(marked) else None
