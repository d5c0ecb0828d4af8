"""A registry of named records (backends, checks, speed rules, recipes) that refuses a second
record under a name it already holds.

    CHECKS = Registry.of("check", records)   # each record under its .name; a repeated name: GateError
    CHECKS["new"] = record                   # a new name is added; a known one is a GateError

A registry is a dict, read as one. A dict built from records (`{c.name: c for c in ...}`, or
two dicts merged) keeps the last record of a repeated name and says nothing; this says which
kind and which name. Replacing a record on purpose is `del` then add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from encoder_gate.errors import GateError

V = TypeVar("V")


class Registry(dict[str, V]):
    """A dict of records by name that refuses a duplicate name with a clear error."""

    def __init__(self, kind: str, *parts: Mapping[str, V]) -> None:
        super().__init__()
        self.kind = kind
        for part in parts:
            for name, value in part.items():
                self[name] = value

    @classmethod
    def of(cls, kind: str, records: Iterable[Any]) -> Registry[Any]:
        """A registry of `records`, each under its `name`."""
        out: Registry[Any] = cls(kind)
        for record in records:
            out[record.name] = record
        return out

    def __setitem__(self, name: str, value: V) -> None:
        if name in self:
            raise GateError(f"two {self.kind}s are registered as {name!r}: a {self.kind}'s name must be "
                            f"unique (delete the old one first to replace it)")
        super().__setitem__(name, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]
