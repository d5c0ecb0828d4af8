"""What a verdict is made of: a backend's status and reasons, the findings outside the checks,
the verdict itself, and a measured A/B cell. Types only, decided nothing: reporting renders these
(an import-linter contract lets it import nothing else of `encoder_gate.decision`), and
:mod:`encoder_gate.decision.judge` decides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.speed.rounds import Cell
from encoder_gate.waivers import Waiver


class Status(str, Enum):
    """A backend's status in the verdict."""

    PASS = "pass"
    FAIL = "fail"
    REFERENCE = "reference"  # torch FP32: judged against itself, no bounds
    NOT_CHECKED = "not checked"  # configured, but it could not be built or run: fails the session
    INCONCLUSIVE = "inconclusive"  # a speed cell vs base could not decide, under `inconclusive = warn`
    NOT_RUN = "not run"  # configured, but no session in this report directory measured it
    WAIVED = "waived"  # it fails only checks a live waiver accepts ([[tool.encoder-gate.waivers]])

#: The reasons' checks besides the accuracy checks' own names.
SPEED, VERSUS_BASE, NOT_EVALUATED, WAIVER = "speed", "vs base", "not evaluated", "waiver"
#: The reason of a verdict whose documents hold no result of any backend: it never passes.
NOTHING_JUDGED = "nothing judged"
#: How the finding of a session that ended before all its tests ran begins (an interruption, -x, a
#: usage error): its verdict is of the documents an earlier session left, and no commit's gate.
STOPPED_EARLY = "the session stopped before"

@dataclass(frozen=True)
class Reason:
    """Why a backend fails: the check (an accuracy check's name, ``speed``, ``vs base`` or ``not
    evaluated``), the line that says it with its bound, and the observed value and the bound where
    the check has numbers."""

    check: str
    text: str
    observed: float | None = None
    bound: float | None = None
    direction: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "text": self.text, "observed": self.observed, "bound": self.bound,
                "direction": self.direction}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Reason:
        return cls(str(doc["check"]), str(doc["text"]), doc.get("observed"), doc.get("bound"),
                   doc.get("direction"))

@dataclass(frozen=True)
class Finding:
    """What failed a session outside its results documents' checks: a failed or errored test (its
    node id, the backend it ran on, the phase, the one-line reason), a collection error, or a finding
    of the gate itself (a session that checked nothing, a baseline it could not read)."""

    kind: str  # "test", "collection" or "gate"
    reason: str
    nodeid: str | None = None
    backend: str | None = None
    when: str | None = None  # setup, call or teardown
    shard: str | None = None  # the shard whose session found it, after a merge

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "nodeid": self.nodeid, "backend": self.backend,
                "when": self.when, "shard": self.shard}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Finding:
        return cls(str(doc.get("kind", "test")), str(doc.get("reason", "")), doc.get("nodeid"),
                   doc.get("backend"), doc.get("when"), doc.get("shard"))

    def describe(self) -> str:
        where = f"shard {self.shard}: " if self.shard else ""
        if self.kind == "gate":
            return f"{where}{self.reason}"
        phase = f" ({'error at ' + self.when if self.when in ('setup', 'teardown') else 'failed'})"
        return f"{where}{self.nodeid}{phase if self.kind == 'test' else ' (collection error)'}: {self.reason}"

@dataclass(frozen=True)
class BackendVerdict:
    """One backend's status, the checks it failed (in the order they are named), its reasons,
    and what it was judged on when not on everything (``speed only``, ``vs base only``)."""

    name: str
    status: Status
    failed: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    scope: str = ""
    error: str = ""  # why it was not checked
    waivers: tuple[Waiver, ...] = ()  # the live waivers that accept its failures
    # the integer path its INT8 products were computed on (accuracy.json's row): "exact", "saturating",
    # or None (no INT8 product, or no accuracy row)
    integer_path: str | None = None
    # where it was computed (runtime.devices), as accuracy.json's row or speedups.json's devices say
    device: str | None = None

    def computed_elsewhere(self, session: str | None) -> bool:
        """Whether it was computed on another device than its session's `session` (runtime.devices)."""
        return None not in (self.device, session) and self.device != session

    @property
    def standing(self) -> tuple[str, ...]:
        """Its failed checks that no live waiver accepts (all of them when every one is accepted)."""
        accepted = {w.check for w in self.waivers}
        return tuple(c for c in self.failed if c not in accepted) or self.failed

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "failed": list(self.failed),
                "reasons": [r.to_json() for r in self.reasons], "scope": self.scope or None,
                "error": self.error or None, "waivers": [w.to_json() for w in self.waivers],
                "integer_path": self.integer_path, "device": self.device}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BackendVerdict:
        return cls(str(doc["name"]), Status(doc["status"]), tuple(doc.get("failed") or ()),
                   tuple(Reason.from_json(r) for r in doc.get("reasons") or ()), doc.get("scope") or "",
                   doc.get("error") or "", tuple(Waiver.from_json(w) for w in doc.get("waivers") or ()),
                   doc.get("integer_path"), doc.get("device"))


def _day(text: object) -> date:
    """verdict.json's `decided_on`; one written before it was recorded counts as decided today."""
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise GateError(f"verdict.json: decided_on {text!r} is not a date (YYYY-MM-DD); "
                        "run `encoder-gate verdict` again to rewrite it") from None


@dataclass(frozen=True)
class Verdict:
    """The session's verdict: per backend a status, the failures in the order they are listed
    (speed rules, then against the base, then the accuracy checks), the documents it joined and
    those it left out (and why)."""

    passed: bool
    backends: tuple[BackendVerdict, ...]
    failures: tuple[Reason, ...]
    session_failures: tuple[str, ...]  # failures owned by no backend (a speed gate or compare as a whole)
    left_out: tuple[str, ...]
    sources: Mapping[str, str]  # each joined document and when it was written
    missing: tuple[str, ...]  # accuracy.json / speedups.json absent
    judged: Mapping[str, Mapping[str, Any]] = field(repr=False, compare=False, default_factory=dict)
    # what failed the sessions of the joined documents outside their checks (findings.json): each fails
    findings: tuple[Finding, ...] = ()
    stale_waivers: tuple[str, ...] = ()  # live waivers whose check now passes: remove them
    # the day it was decided: waivers' days left are counted from it, also when rendered later
    decided_on: date = field(default_factory=date.today)
    # which CPUs its INT8 rows hold for (accuracy.json's integer_paths: `this_cpu`, the `targets` and
    # their `target_paths`, each shard's after a merge); empty without accuracy results
    integer_paths: Mapping[str, Any] = field(default_factory=dict)
    # every results document there was when it was decided, joined or left out, and when each was
    # written: a verdict is current only while they are (one left out, then deleted: the verdict that
    # had left it out was read again, still naming it)
    read: Mapping[str, str] = field(default_factory=dict)

    def backend(self, name: str) -> BackendVerdict:
        return next(b for b in self.backends if b.name == name)

    def to_json(self) -> dict[str, Any]:
        """verdict.json (its schema version stamped by encoder_gate.documents): everything decided,
        nothing rendered."""
        return {"passed": self.passed,
                "backends": [{**b.to_json(),
                              "failed_tests": [f.nodeid or f.reason for f in self.failed_tests(b.name)]}
                             for b in self.backends],
                "failures": [r.to_json() for r in self.failures],
                "session_failures": list(self.session_failures), "left_out": list(self.left_out),
                "sources": dict(self.sources), "read": dict(self.read), "missing": list(self.missing),
                "findings": [f.to_json() for f in self.findings], "stale_waivers": list(self.stale_waivers),
                "decided_on": self.decided_on.isoformat(), "integer_paths": dict(self.integer_paths),
                "selections": self.selections, "explored": self.explored}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], judged: Mapping[str, Mapping[str, Any]]) -> Verdict:
        """verdict.json as it was decided, beside the documents it judged."""
        return cls(passed=bool(doc["passed"]),
                   backends=tuple(BackendVerdict.from_json(b) for b in doc.get("backends") or ()),
                   failures=tuple(Reason.from_json(r) for r in doc.get("failures") or ()),
                   session_failures=tuple(doc.get("session_failures") or ()),
                   left_out=tuple(doc.get("left_out") or ()), sources=dict(doc.get("sources") or {}),
                   missing=tuple(doc.get("missing") or ()), judged=judged,
                   findings=tuple(Finding.from_json(f) for f in doc.get("findings") or ()),
                   stale_waivers=tuple(doc.get("stale_waivers") or ()),
                   decided_on=_day(doc.get("decided_on")), integer_paths=dict(doc.get("integer_paths") or {}),
                   read=dict(doc.get("read") or doc.get("sources") or {}))

    @property
    def selections(self) -> dict[str, str]:
        """The joined documents whose session ran a selection of its tests (-k, -m, --deselect, --lf,
        --sw; their provenance's `selection`), with it: this verdict does not cover what it left out."""
        return {name: str(sel) for name, doc in self.judged.items()
                if (sel := (doc.get("provenance") or {}).get("selection"))}

    @property
    def explored(self) -> dict[str, int]:
        """The joined documents whose session explored (--gate-explore N: its padding properties drew N
        random examples each, not the fixed ones every other session draws), with N."""
        return {name: int(n) for name, doc in self.judged.items()
                if (n := (doc.get("provenance") or {}).get("explored"))}

    def failed_tests(self, backend: str) -> tuple[Finding, ...]:
        """Backend `backend`'s own tests that failed outside its checks (its row passes them)."""
        return tuple(f for f in self.outside_the_checks if f.backend == backend)

    @property
    def outside_the_checks(self) -> tuple[Finding, ...]:
        """The findings no row of the table already says: a failed test of a backend that passes
        there (a team's own test, a padding property, a smoke test), or of no backend."""
        failing = {b.name for b in self.backends if b.status in (Status.FAIL, Status.NOT_CHECKED)}
        return tuple(f for f in self.findings if f.backend is None or f.backend not in failing)

@dataclass(frozen=True)
class SpeedCell:
    """A measured A/B cell: which backend and case, and its rounds."""

    backend: str
    case: str
    cell: Cell
