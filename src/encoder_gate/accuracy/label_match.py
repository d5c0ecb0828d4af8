"""Which labels of two models can be compared, by name: a PR's model against its base's.

    match = match_labels(base_labels, pr_labels, exclusive=task.exclusive)
    if isinstance(match, str): ...            # why nothing can be compared
    pr_probs[:, match.ours], base_probs[:, match.theirs]   # the same labels, in the PR's order

The same names in another order are compared each with its namesake (a config.json that swapped two
labels' names while the weights stayed put lost 0.32 F1, and the gate had called it "other labels",
to be waived). Where the sets differ, a multi-label model's labels are independent decisions: those
both sides have are compared, and the others named; a single-label model's decision is an argmax over
all its classes, so a class added or dropped changes every decision and nothing can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from encoder_gate.errors import listed


@dataclass(frozen=True)
class LabelMatch:
    """The labels two models share: their columns on each side (`ours`: the PR's, `theirs`: the
    other side's), named `names` in the PR's order; and the labels only one side has."""

    ours: tuple[int, ...]
    theirs: tuple[int, ...]
    names: tuple[str, ...]
    only_ours: tuple[str, ...]
    only_theirs: tuple[str, ...]

    @property
    def same(self) -> bool:
        """Both sides have these labels in this order: every column is compared with its own."""
        return self.ours == self.theirs and not self.only_ours and not self.only_theirs

    @overload
    def ours_of(self, values: np.ndarray) -> np.ndarray: ...
    @overload
    def ours_of(self, values: None) -> None: ...

    def ours_of(self, values: np.ndarray | None) -> np.ndarray | None:
        """The PR's per-label `values` (outputs, gold, thresholds: labels on the last axis) of the labels
        both sides have, in the PR's order."""
        return values if values is None or self.same else values[..., list(self.ours)]

    @overload
    def theirs_of(self, values: np.ndarray) -> np.ndarray: ...
    @overload
    def theirs_of(self, values: None) -> None: ...

    def theirs_of(self, values: np.ndarray | None) -> np.ndarray | None:
        """The other side's per-label `values` of the labels both have, in the PR's order."""
        return values if values is None or self.same else values[..., list(self.theirs)]

    def note(self, side: str) -> str | None:
        """What a reader needs of the match, or None where the labels are the same: which moved, which
        are compared, which are one side's alone (`side`: "base")."""
        if self.same:
            return None
        if not self.only_ours and not self.only_theirs:
            moved = [f"'{name}' is label {i} on the {side} and {o} in the PR"
                     for name, i, o in zip(self.names, self.theirs, self.ours, strict=True) if i != o]
            return (f"the PR's model orders its labels otherwise than the {side}'s ({'; '.join(moved[:4])}"
                    f"{f'; and {len(moved) - 4} more' if len(moved) > 4 else ''}): each label is compared "
                    "with its namesake")
        alone = [*([f"the PR adds {listed(list(self.only_ours), 6)}"] if self.only_ours else []),
                 *([f"it drops {listed(list(self.only_theirs), 6)}"] if self.only_theirs else [])]
        return (f"{'; '.join(alone)}: compared with the {side} on the {len(self.names)} labels both have "
                f"({listed(list(self.names), 6)}); a label one side alone has is judged by that side's own "
                "checks only")


def match_labels(theirs: Sequence[str], ours: Sequence[str], exclusive: bool) -> LabelMatch | str:
    """The labels `ours` (the PR's) share with `theirs` (the other side's), by name; or why none can be
    compared (no label shared; a single-label model's classes that differ: `exclusive`)."""
    theirs, ours = tuple(map(str, theirs)), tuple(map(str, ours))
    if theirs == ours:  # (an encoder's: none on either side; its comparison is of embeddings)
        every = tuple(range(len(ours)))
        return LabelMatch(ours=every, theirs=every, names=ours, only_ours=(), only_theirs=())
    if len(set(theirs)) < len(theirs) or len(set(ours)) < len(ours):
        return "a model names two labels alike, so they cannot be matched by name"
    shared = [name for name in ours if name in theirs]
    only_ours = tuple(n for n in ours if n not in theirs)
    only_theirs = tuple(n for n in theirs if n not in ours)
    if not shared:
        return "no label of one is a label of the other"
    if exclusive and (only_ours or only_theirs):
        return ("a single-label model decides among all its classes at once, so a class added, dropped or "
                "renamed changes every decision: none can be compared label by label")
    return LabelMatch(ours=tuple(ours.index(n) for n in shared),
                      theirs=tuple(theirs.index(n) for n in shared),
                      names=tuple(shared), only_ours=only_ours, only_theirs=only_theirs)
