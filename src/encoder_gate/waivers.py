"""Waivers: accepted, known failures, each with an owner, a reason and an end date
(`[[tool.encoder-gate.waivers]]` in pyproject.toml, docs/checks.md, "Waivers"). The configuration reads
them (:class:`~encoder_gate.config.GateConfig`'s `waivers`); the verdict applies them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from encoder_gate.errors import GateError


@dataclass(frozen=True)
class Waiver:
    """An accepted, known failure: `[[tool.encoder-gate.waivers]]` in pyproject.toml (docs/checks.md,
    "Waivers"). It covers the failure of one check (an accuracy check's name, or ``speed`` or ``vs
    base``) of one backend (its name as the verdict shows it), for one label when given, while its
    observed value is no worse than `accept` when given, until the end of `until`."""

    backend: str
    check: str
    owner: str
    reason: str
    until: date
    label: str | None = None
    accept: float | None = None

    REQUIRED = ("backend", "check", "owner", "reason", "until")

    @classmethod
    def parse(cls, entry: Any, index: int) -> Waiver:
        """One `[[tool.encoder-gate.waivers]]` table, or a GateError naming the key at fault."""
        where = f"[[tool.encoder-gate.waivers]] number {index + 1}"
        if not isinstance(entry, Mapping):
            raise GateError(f"{where} must be a table (backend, check, owner, reason, until), got {entry!r}")
        missing = [k for k in cls.REQUIRED if entry.get(k) in (None, "")]
        unknown = sorted(set(entry) - {*cls.REQUIRED, "label", "accept"})
        if missing or unknown:
            raise GateError(f"{where}: " + "; ".join(
                [*([f"missing {', '.join(missing)}"] if missing else []),
                 *([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])])
                + " (keys: backend, check, owner, reason, until, and optional label and accept)")
        until = entry["until"]
        if isinstance(until, str):
            try:
                until = date.fromisoformat(until)
            except ValueError:
                until = None
        if not isinstance(until, date) or isinstance(until, datetime):
            raise GateError(f"{where}: until must be a TOML date such as 2026-12-31, got {entry['until']!r}")
        accept = entry.get("accept")
        if accept is not None and (isinstance(accept, bool) or not isinstance(accept, (int, float))):
            raise GateError(f"{where}: accept must be a number in the check's units, got {accept!r}")
        return cls(str(entry["backend"]), str(entry["check"]), str(entry["owner"]), str(entry["reason"]),
                   until, None if entry.get("label") is None else str(entry["label"]),
                   None if accept is None else float(accept))

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "check": self.check, "label": self.label, "accept": self.accept,
                "owner": self.owner, "reason": self.reason, "until": self.until.isoformat()}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Waiver:
        return cls.parse(dict(doc), 0)

    def days_left(self, today: date) -> int:
        """Days until it expires: 0 on its last day, negative once expired."""
        return (self.until - today).days

    def time_left(self, today: date) -> str:
        """Its days left in words: "expires today" on its last day, "1 day left", "19 days left"."""
        days = self.days_left(today)
        return "expires today" if days == 0 else f"{days} day{'s' if days != 1 else ''} left"

    def names(self) -> str:
        return f"{self.backend} {self.check}" + (f" (label {self.label})" if self.label else "")
