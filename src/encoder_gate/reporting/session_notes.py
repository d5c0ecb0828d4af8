"""The verdict's lines about the sessions behind it: a shard's share, a selection of the tests, an
explored session, what padding saw and what the cache gave, rows computed on another device, checks
with nothing to judge. Each reads the documents judged (or the Verdict's rows) and decides nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from encoder_gate.decision.types import BackendVerdict
from encoder_gate.documents import shards_of


def shard_note(kept: Mapping[str, Mapping[str, Any]]) -> str | None:
    """A line when the documents judged are one share's of a sharded session (their provenance's
    `shard`): its verdict covers that share's backends alone, not the gate."""
    shards = shards_of(kept)
    if not shards:
        return None
    backends = (next(iter(kept.values())).get("provenance") or {}).get("settings", {}).get("backends") or []
    return (f"Shard {' and '.join(shards)} of a sharded session: this verdict judges its share alone"
            + (f" ({', '.join(backends)})" if backends else "")
            + "; `encoder-gate merge` of every shard's report directory gives the session's verdict.")


def selection_note(chosen: Mapping[str, str], written: Mapping[str, str]) -> str | None:
    """A line when a session behind the documents judged ran a selection of its tests (Verdict.selections):
    what it left out did not run. One session writes several documents at one time (`written`): said once."""
    if not chosen:
        return None
    by: dict[tuple[str, str | None], list[str]] = {}  # (two sessions of one selection: two, a trial's)
    for name, picked in chosen.items():
        by.setdefault((picked, written.get(name)), []).append(name)
    which = "; ".join(f"the session of {' and '.join(names)}: {picked}" for (picked, _), names in by.items())
    # (its sessions also judged another model than the project's, or fewer backends or batch sizes:
    # "the tests deselected there" said of those what did not happen, thirty-seventh session)
    return (f"Not the project's whole gate ({which}): what it left out did not run, and this verdict "
            "does not cover it.")


def explored_notes(explored: Mapping[str, int]) -> list[str]:
    """A line when a joined session explored (--gate-explore): its padding properties drew random
    examples, so another run of it may find what this one did not."""
    if not explored:
        return []
    counts = " and ".join(str(n) for n in sorted(set(explored.values())))
    return [f"Explored: the session of {', '.join(sorted(explored))} drew {counts} "
            "random examples a padding property (--gate-explore), not the fixed examples every other "
            "session draws; a failing example it found is kept in the artifact cache and replayed by "
            "every later session of this model."]


def padding_notes(accuracy: Mapping[str, Any] | None, order: Sequence[str] = ()) -> list[str]:
    """The largest difference each backend's padding properties saw (an item alone vs padded, batched,
    moved, truncated), beside its bound (accuracy.json's `padding`): how close each backend came."""
    seen = (accuracy or {}).get("padding") or {}
    names = [n for n in dict.fromkeys([*order, *seen]) if n in seen]
    if not names:
        return []
    cells = [f"{n} {float(seen[n]['largest']):.3g} (<= {float(seen[n]['bound']):g})" for n in names]
    return ["Padding and batching (the padding properties' largest |output alone - output padded or "
            f"batched|, bound padding_atol): {'; '.join(cells)}."]


def cache_notes(accuracy: Mapping[str, Any] | None, order: Sequence[str] = ()) -> list[str]:
    """What the accuracy results took from the artifact cache instead of computing (accuracy.json's
    `cached_outputs`): the backends whose predictions, and how many kept passes of checks, of which."""
    reused = (accuracy or {}).get("cached_outputs") or {}
    names = [n for n in dict.fromkeys([*order, *reused]) if n in reused]
    predicted = [n for n in names if reused[n].get("predictions")]
    checked = [n for n in names if reused[n].get("checks")]
    if not predicted and not checked:
        return []
    parts = [f"the predictions of {', '.join(predicted)}"] if predicted else []
    if checked:
        count = sum(len(reused[n]["checks"]) for n in checked)
        parts.append(f"the passes of {count} check{'s' if count != 1 else ''} (smoke tests, fixed-example "
                     f"padding properties) of {', '.join(checked)}")
    return [f"Read from the artifact cache, not computed in this session: {'; '.join(parts)}. An earlier "
            "session computed them from the same artifact bytes, texts and library versions (their "
            "cache key); an empty --gate-cache-dir computes them again."]


def session_device(*docs: Mapping[str, Any] | None) -> str | None:
    """The device the session of these results documents ran on (the first whose provenance says)."""
    said = ((((d or {}).get("provenance") or {}).get("settings") or {}).get("device") for d in docs)
    return next(filter(None, said), None)


def device_notes(backends: Sequence[BackendVerdict], session: str | None) -> list[str]:
    """The rows computed on another device than the session's (runtime.devices), each named."""
    elsewhere = [f"`{b.name}` on {'the CPU' if b.device == 'cpu' else b.device}" for b in backends
                 if b.computed_elsewhere(session)]
    if not elsewhere:
        return []
    return [f"Computed on another device than this session's ({session}): {', '.join(elsewhere)} (a file "
            "with no kernels on it, or a backend pinned in [tool.encoder-gate.devices]). Each is judged "
            "against the same reference; its speedup is over torch eager on its own device."]


def not_judged_notes(rows: Mapping[str, Any]) -> list[str]:
    """One line per check a row's evaluation gave nothing to judge (accuracy.json's `not_judged`:
    no label with enough gold positives, a reference scoring 0), naming the backends, or "every
    backend": such a check is not run, and the PASS beside it does not hold it."""
    said: dict[str, list[str]] = {}
    for name, row in rows.items():
        for why in ((row or {}).get("not_judged") or {}).values():
            said.setdefault(why, []).append(name)
    return [f"{why} ({'every backend' if len(names) == len(rows) > 1 else ', '.join(names)})"
            for why, names in said.items()]


def commits_note(kept: Mapping[str, Mapping[str, Any]]) -> str | None:
    """A line where the documents judged were written at more than one commit (their provenance's
    `commit`): they join by their model, data and artifacts, which are one, yet the figures of each are
    its commit's (a trial's PR verdict showed the speedups of main's `pytest benchmarks`, and its history
    trend read them as the PR's). None at one commit, or where none says its commit."""
    by: dict[str, list[str]] = {}
    for name, doc in kept.items():
        if commit := (doc.get("provenance") or {}).get("commit"):
            by.setdefault(str(commit), []).append(name)
    if len(by) < 2:
        return None
    which = "; ".join(f"{' and '.join(names)} at {commit[:12]}" for commit, names in by.items())
    return (f"Results of {len(by)} commits, joined as of one model, dataset and artifacts ({which}): each "
            "one's figures are its commit's.")
