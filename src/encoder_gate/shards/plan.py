"""The gate over N runners: which backends each shard runs, dealt by their expected cost.

    pytest accuracy benchmarks --gate-shard 2/3      # the second of three shares of the work
    encoder-gate merge shard-1 shard-2 shard-3 --out .encoder-gate   # one verdict

A backend is the unit of work: its build, its predictions and accuracy checks, its padding
properties and its speed cells (gate sweep and vs base) all run in one shard, so a speed cell's
two arms always share one runner and one load. The torch reference's predictions are needed by
every shard's checks: each shard computes them (or reads them from the artifact cache), so no
shard waits on another; that costs one prediction pass of the eval set per shard (about a
minute at the reference size on two cores, nothing when the cache holds them), and the
`torch` backend's own tests (its row, its properties, its benchmark) run in one shard only.

The deal (:func:`deal`) is longest-processing-time first: backends by expected cost, most
expensive first, each to the shard with the least work so far; ties go to the lower shard and the
configured order. The expected cost of a backend is the seconds its tests took in the last session
that ran it (recorded in the artifact cache, ``shard-costs.json``, per model); without a record
every backend counts the same, since they all run the same model (the same FLOPs per text); a
backend without a record among some with one counts their median. Every shard computes the plan
itself, from the configured backends and the same recorded costs: the merge refuses shards
whose plans differ, so a runner that restored another cache cannot drop or double a backend. So
that the shards of one run read the same costs, a sharded session does not record its own into
the cache (shards run one after another on one machine would otherwise deal differently): it
writes them into its shard.json, and `encoder-gate merge` writes every shard's into
``--out/shard-costs.json``, which the next run's cache can take.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate import __version__
from encoder_gate.cache import read_record, update_record
from encoder_gate.errors import GateError
from encoder_gate.runtime.predictions import backend_kind

#: Recorded costs per model in the artifact cache: {model name: {backend: seconds}}.
COSTS_FILE = "shard-costs.json"


@dataclass(frozen=True)
class Shard:
    """The `index`-th (from 1) of `total` shares."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N; anything else is a GateError that says what to pass."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not found:
        raise GateError(f"--gate-shard takes K/N, the K-th of N shares (e.g. 2/3), got {text!r}")
    index, total = int(found[1]), int(found[2])
    if total < 1 or not 1 <= index <= total:
        raise GateError(f"--gate-shard {text}: K counts from 1 to N (e.g. 1/3, 2/3, 3/3)")
    return Shard(index, total)


@dataclass(frozen=True)
class ShardPlan:
    """The backends of each of `total` shards (configured order within each), the costs they were
    dealt by and where those came from (``recorded`` or ``equal``)."""

    total: int
    shares: tuple[tuple[str, ...], ...]
    costs: Mapping[str, float]
    source: str

    def share(self, index: int) -> tuple[str, ...]:
        return self.shares[index - 1]

    @property
    def backends(self) -> tuple[str, ...]:
        """Every planned backend, in the configured order."""
        return tuple(self.costs)

    def shard_of(self, backend: str) -> int:
        return next(i for i, share in enumerate(self.shares, 1) if backend in share)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "shares": [list(s) for s in self.shares],
                "costs": {k: round(v, 3) for k, v in self.costs.items()}, "source": self.source}

    def describe(self) -> str:
        """``1/3: onnx-int8, torch (about 41 s); 2/3: ...``: what each shard runs, and its expected
        seconds when they were recorded."""
        if self.source != "recorded":
            return "; ".join(f"{i}/{self.total}: {', '.join(s)}" for i, s in enumerate(self.shares, 1)) + \
                " (no recorded durations: equal shares)"
        return "; ".join(f"{i}/{self.total}: {', '.join(s)} (about {sum(self.costs[b] for b in s):.0f} s)"
                         for i, s in enumerate(self.shares, 1))


def deal(backends: Sequence[str], costs: Mapping[str, float], total: int) -> ShardPlan:
    """Deal `backends` to `total` shards, longest expected cost first, each to the least loaded
    shard (ties: the lower shard; equal costs: the configured order). Every shard gets at least
    one backend: more shards than backends is a GateError."""
    if total > len(backends):
        raise GateError(f"{total} shards for {len(backends)} backend(s) ({', '.join(backends)}): a "
                        f"backend is the smallest share, so use at most {len(backends)} shards")
    known = {b: float(costs[b]) for b in backends if costs.get(b) is not None and costs[b] > 0}
    fill = statistics.median(known.values()) if known else 1.0
    cost = {b: known.get(b, fill) for b in backends}
    source = "recorded" if known else "equal"
    rank = {b: i for i, b in enumerate(backends)}
    loads = [0.0] * total
    dealt: list[list[str]] = [[] for _ in range(total)]
    for name in sorted(backends, key=lambda b: (-cost[b], rank[b])):
        target = min(range(total), key=lambda i: (loads[i], i))  # costs > 0: each shard gets one first
        dealt[target].append(name)
        loads[target] += cost[name]
    shares = tuple(tuple(sorted(share, key=rank.__getitem__)) for share in dealt)
    return ShardPlan(total=total, shares=shares, costs=cost, source=source)


class NothingToRun(GateError):
    """A share of another session's plan that names none of this session's backends."""


def share_of_plan(source: str, backends: Sequence[str], shard: Shard) -> tuple[ShardPlan, tuple[str, ...]]:
    """``--gate-shard K/N --gate-shard-plan FILE``: the plan another session's shard.json holds (the
    PR's, dealt by its own backends), and of `backends` (this session's: the base's, in the workflow's
    requirements step) those whose kind its K-th share names. Dealt by their own list, a base that
    lacks one of the PR's backends would get other shares, and a backend of the PR's share none of
    the base's. A file that is no shard.json, or of another N, is a GateError."""
    try:
        doc = json.loads(Path(source).read_text())
        plan = plan_from_json(doc["plan"])
    except OSError as exc:
        raise GateError(f"--gate-shard-plan {source}: {exc.strerror or exc} (pass the shard.json of the "
                        "session whose shares this one takes)") from None
    except (ValueError, KeyError, TypeError) as exc:
        said = exc if isinstance(exc, ValueError) else repr(exc)  # a missing key says itself by its repr
        raise GateError(f"--gate-shard-plan {source} is not a shard.json of encoder-gate ({said})") from None
    if plan.total != shard.total:
        raise GateError(f"--gate-shard-plan {source} deals {plan.total} shares, not the {shard.total} of "
                        f"--gate-shard {shard}")
    kinds = {backend_kind(name) for name in plan.share(shard.index)}
    share = tuple(name for name in backends if backend_kind(name) in kinds)
    if not share:
        planned = ", ".join(plan.share(shard.index))
        raise NothingToRun(f"--gate-shard-plan {source}: its share {shard} ({planned}) names no backend "
                        f"configured here ({', '.join(backends)}): this shard has nothing to run")
    return plan, share


def plan_from_json(doc: Mapping[str, Any]) -> ShardPlan:
    """The plan a shard.json holds; a ValueError (its callers: "not a shard.json") where its shares
    are not `total` lists of backend names, each backend in one share."""
    total, shares = int(doc["total"]), doc["shares"]
    if not isinstance(shares, list) or not all(
            isinstance(s, list) and s and all(isinstance(b, str) for b in s) for s in shares):
        raise ValueError("its shares are not lists of backend names")
    if total < 1 or len(shares) != total:
        raise ValueError(f"it deals {total} shares but lists {len(shares)}")
    named = [b for share in shares for b in share]
    if len(set(named)) != len(named):
        raise ValueError("a backend is in two shares")
    return ShardPlan(total=total, shares=tuple(tuple(s) for s in shares),
                     costs={str(k): float(v) for k, v in doc["costs"].items()}, source=str(doc["source"]))


# --- recorded costs --------------------------------------------------------------------------------


def recorded_costs(cache_dir: Path, model: str) -> dict[str, float]:
    """The seconds each backend's tests took in the last session of `model` that ran it ({} when
    none did, or the file is unreadable: the deal then counts every backend the same)."""
    entry = read_record(Path(cache_dir) / COSTS_FILE).get(model)
    if not isinstance(entry, dict) or not all(map(_seconds, entry.values())):  # another version's, or damaged
        return {}
    return {str(k): float(v) for k, v in entry.items()}


def _seconds(v: Any) -> bool:
    """A backend's seconds: a number, none below 0 (a negative one was read as "unknown" before)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and v >= 0


def costs_from(source: str | None, cache_dir: Path, model: str) -> dict[str, float]:
    """The costs a shard deals by: `source` a costs file (``shard-costs.json``: {model: {backend:
    seconds}}, or {backend: seconds}), ``equal`` for none, or None for the artifact cache's record."""
    if source is None:
        return recorded_costs(cache_dir, model)
    if source == "equal":
        return {}
    path = Path(source)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise GateError(f"--gate-shard-costs {source}: {exc.strerror or exc} (pass the shard-costs.json "
                        "`encoder-gate merge` wrote, or `equal`)") from None
    except ValueError as exc:
        raise GateError(f"--gate-shard-costs {source} is not valid JSON ({exc})") from None
    table = doc.get(model, doc) if isinstance(doc, dict) else None
    if not isinstance(table, dict) or not all(map(_seconds, table.values())):
        raise GateError(f"--gate-shard-costs {source} holds no seconds per backend for model {model!r} (the "
                        "shard-costs.json `encoder-gate merge` writes: {model: {backend: seconds}})")
    return {str(k): float(v) for k, v in table.items()}


def record_costs(cache_dir: Path, model: str, seconds: Mapping[str, float]) -> None:
    """Keep each backend's seconds of this session for the next deal (the others' stay), under the
    record's lock (cache.update_record): sessions and shards sharing a cache end side by side."""
    if seconds:
        update_record(Path(cache_dir) / COSTS_FILE, lambda doc: with_costs(doc, model, seconds))


def with_costs(doc: Mapping[str, Any], model: str, seconds: Mapping[str, float]) -> dict[str, Any]:
    """A shard-costs document `doc` with `model`'s backends' `seconds` added (the others' stay)."""
    entry = doc.get(model)
    return {**doc, model: {**(entry if isinstance(entry, dict) else {}),
                           **{k: round(float(v), 3) for k, v in seconds.items()}}}


# --- a shard's descriptor ----------------------------------------------------------------------------


def descriptor(shard: Shard, plan: ShardPlan, *, provenance: Mapping[str, Any], commit: str | None,
               documents: Sequence[str], seconds: Mapping[str, float], model: str = "") -> dict[str, Any]:
    """shard.json: which share of which plan this report directory holds, what its session wrote
    (the merge reads only those), at which commit, and what each backend's tests took (`seconds`,
    recorded for the configured `model`: the merge writes them out as the next deal's costs)."""
    return {"index": shard.index, "total": shard.total, "shard": str(shard), "plan": plan.to_json(),
            "backends": list(plan.share(shard.index)), "provenance": dict(provenance), "commit": commit,
            "encoder_gate": __version__, "documents": sorted(documents), "model": model,
            "seconds": {k: round(float(v), 3) for k, v in seconds.items()}}


#: What makes two shard descriptors the same share of the same gate: the share, the plan, the commit
#: and the model.
SAME_SHARE = ("index", "total", "plan", "commit", "model")


def joined(earlier: Mapping[str, Any] | None, new: dict[str, Any], present: Callable[[str], bool]
           ) -> dict[str, Any]:
    """shard.json of a second session in a shard's report directory (the workflow's requirements step
    after the shard's A/B): where the `earlier` descriptor is of the same share (SAME_SHARE), the
    documents it lists that are still `present` are kept beside the new session's, and its seconds
    (the A/B's, which deal the next run) over the new session's; else the `new` descriptor alone."""
    if not earlier or any(earlier.get(key) != new.get(key) for key in SAME_SHARE):
        return new
    kept = {name for name in earlier.get("documents") or [] if isinstance(name, str) and present(name)}
    return {**new, "documents": sorted(kept | set(new["documents"])),
            "seconds": {**new["seconds"], **(earlier.get("seconds") or {})}}
