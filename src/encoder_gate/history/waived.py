"""Waivers that outlive their purpose: a check waived in too many consecutive records.

A waiver ([[tool.encoder-gate.waivers]], docs/checks.md) accepts a known failure until a date;
renewed again and again, it turns a check off in all but name. `encoder-gate history check` counts,
for each check the newest record waives, the consecutive records of its series (newest first) in
which the same backend's same check was waived, and reports those waived in more than
``--max-waived`` records (default :data:`MAX_WAIVED`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from encoder_gate.history.store import same_series

MAX_WAIVED = 10


@dataclass(frozen=True)
class LongWaived:
    """One backend's check waived in `records` consecutive records, since `since` (a commit)."""

    backend: str
    check: str
    records: int
    since: str
    owners: tuple[str, ...]
    limit: int

    def describe(self) -> str:
        return (f"{self.backend} {self.check}: waived in the last {self.records} records (since "
                f"{self.since[:12]}; by {', '.join(self.owners)}), more than {self.limit}: fix the "
                "failure or change the bound in a reviewed PR, rather than renew the waiver")


def _waived_checks(record: Mapping[str, Any], backend: str) -> set[str]:
    entry = (record.get("backends") or {}).get(backend) or {}
    return set((entry.get("waived") or {}).get("checks") or ())


def long_waived(records: Sequence[Mapping[str, Any]], limit: int = MAX_WAIVED) -> list[LongWaived]:
    """The checks the newest record waives that were waived in more than `limit` consecutive
    records of its series (the newest included)."""
    if not records:
        return []
    newest = records[-1]
    line = same_series(records, newest)
    out = []
    for backend, entry in (newest.get("backends") or {}).items():
        waived = entry.get("waived") or {}
        for check in waived.get("checks") or ():
            run = 0
            for r in reversed(line):
                if check not in _waived_checks(r, backend):
                    break
                run += 1
            if run > limit:
                owners = tuple(dict.fromkeys(str(w.get("owner")) for w in waived.get("waivers") or ()))
                out.append(LongWaived(backend, check, run, str(line[-run]["commit"]), owners, limit))
    return out
