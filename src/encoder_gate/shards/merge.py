"""N shards' report directories joined into one session's results, with one session's statistics.

    results = [read_shard(d) for d in dirs]
    plan = check_shards(results)            # a GateError naming the shard: missing, twice, another plan
    documents = merge_documents(results, plan)   # {accuracy.json: ..., speedups.json: ..., ab.json: ...}

Each shard ran whole backends (:mod:`encoder_gate.shards.plan`), so the merge unites:

- accuracy.json: each backend's row as its shard computed it. A row depends only on its backend's
  predictions, the torch reference and the gold labels (the paired bootstrap is seeded), so the
  figures are those one session gives (the per-label Holm correction runs within a backend);
- speedups.json: each cell is a same-run ratio over torch eager measured within one shard (both
  arms on one runner), united; the speed rule's failures and pytest-benchmark's regressions too;
- ab.json: the accuracy changes united; the speed cells judged again, all together, from their
  rounds (each shard writes them), so Holm's correction runs across every cell of every shard, as
  in one session;
- findings.json: what failed each shard's session outside its checks (a failed test, a gate
  finding), each named with its shard, so a red shard fails the merged verdict;
- a results document of the user's (:func:`encoder_gate.documents.register`): by its Reading's
  `merge`, its provenance stamped as the others'.

The verdict is then decided from the merged documents as from one session's
(:func:`encoder_gate.decision.decide_documents`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from encoder_gate.backends.int8_path import disagrees
from encoder_gate.decision import Finding, SpeedCell, findings_of, unfinished
from encoder_gate.documents import (
    AB_FILE,
    ACCURACY_FILE,
    DOCUMENTS,
    FINDINGS_FILE,
    SHARD_FILE,
    SPEEDUPS_FILE,
    read_document,
    readings,
    results_documents,
)
from encoder_gate.errors import GateError
from encoder_gate.results.ab import speed_entries
from encoder_gate.results.accuracy import merge_payloads
from encoder_gate.runtime.provenance import differing_settings, mismatch
from encoder_gate.shards.plan import Shard, ShardPlan, plan_from_json
from encoder_gate.speed.ab import ABSettings
from encoder_gate.speed.results import by_case
from encoder_gate.speed.rounds import Cell


def sharded() -> tuple[str, ...]:
    """The results documents each shard writes of its share (findings.json, what failed its session
    outside them, is united from every shard: `_findings`)."""
    return tuple(name for name in results_documents() if name != FINDINGS_FILE)


def merged() -> tuple[str, ...]:
    """Every document a merge writes."""
    return results_documents()


@dataclass(frozen=True)
class ShardResult:
    """One shard's report directory: its descriptor (shard.json) and the results its session wrote."""

    directory: Path
    shard: Shard
    plan: ShardPlan
    descriptor: Mapping[str, Any]
    documents: Mapping[str, Mapping[str, Any]]

    def name(self) -> str:
        return f"shard {self.shard} ({self.directory})"


def read_shard(directory: Path) -> ShardResult:
    """A shard's report directory; one without shard.json, or missing a document its session wrote,
    is a GateError naming it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise GateError(f"{directory} is not a directory: pass each shard's report directory "
                        "(its --gate-report-dir)")
    descriptor = read_document(directory, SHARD_FILE)
    killed = unfinished(_readable(directory, FINDINGS_FILE)) if descriptor is None else []
    if killed:  # before its end (a timeout, a cancelled job): shard.json comes at the end
        raise GateError(f"{directory} holds no {SHARD_FILE}: {killed[0]}")
    if descriptor is None:
        raise GateError(f"{directory} holds no {SHARD_FILE}: it is not a shard's report directory, or its "
                        "shard checked nothing (a session run with --gate-shard K/N writes one once it "
                        "has written results; one whose tests were all deselected or skipped writes none, "
                        "and its backends were not checked): look at that shard's log")
    try:
        shard = Shard(int(descriptor["index"]), int(descriptor["total"]))
        plan = plan_from_json(descriptor["plan"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GateError(f"{directory / SHARD_FILE} is not a shard descriptor ({exc!r}): re-run that "
                        "shard") from None
    documents: dict[str, Mapping[str, Any]] = {}
    kinds = sharded()
    for name in descriptor.get("documents") or []:
        if name not in kinds:
            raise GateError(f"shard {shard} ({directory}) wrote {name}, a results document this encoder-gate "
                            f"does not know (it knows {_names(kinds)}): install the package that registers "
                            "it (its encoder_gate.documents entry point) where the merge runs")
        doc = read_document(directory, name)
        if doc is None:
            raise GateError(f"shard {shard} ({directory}) wrote {name}, and it is not there now: copy the "
                            "whole report directory of each shard")
        # emptied or cut short: a KeyError deep in the merge, and no verdict written (walk AL)
        _whole(doc, ("provenance", "backends") if name == ACCURACY_FILE else ("provenance",),
               f"shard {shard} ({directory}): its {name} holds no session's results")
        documents[name] = doc
    findings = read_document(directory, FINDINGS_FILE)  # what failed its session outside the checks
    if findings is None:  # written with shard.json, always: without it a red shard would merge green
        raise GateError(f"shard {shard} ({directory}) has no {FINDINGS_FILE}, which its session wrote with "
                        f"{SHARD_FILE}: what failed it outside the checks is unknown; copy the whole report "
                        "directory of each shard (the workflow's upload must include it)")
    # emptied or cut short ({} or {"schema": 1}): read as no finding, a red shard merged green (walk AH)
    _whole(findings, ("provenance", "by_document"),
           f"shard {shard} ({directory}): its {FINDINGS_FILE} holds no session's findings")
    documents[FINDINGS_FILE] = findings
    return ShardResult(directory, shard, plan, descriptor, documents)


def _whole(doc: Mapping[str, Any], keys: Sequence[str], what: str) -> None:
    """A GateError saying `what` where `doc` lacks one of the objects `keys` every session writes."""
    if not all(isinstance(doc.get(key), dict) for key in keys):
        raise GateError(f"{what} (no {' or '.join(keys)}, which every session writes): it was emptied or "
                        "cut short; copy the whole report directory of each shard, or run the shard again")


def _readable(directory: Path, name: str) -> Mapping[str, Any] | None:
    """A document of `directory`, or None where there is none or it cannot be read."""
    try:
        return read_document(directory, name)
    except GateError:
        return None


def check_shards(results: Sequence[ShardResult]) -> ShardPlan:
    """The plan every shard ran a share of, once each shard is there exactly once and all of them
    gated the same model and dataset at the same commit on the same plan; else a GateError whose
    lines name each shard that is missing, given twice or does not belong."""
    if not results:
        raise GateError("no shards to merge: pass each shard's report directory")
    first = results[0]
    problems: list[str] = []
    seen: dict[int, ShardResult] = {}
    for r in results:
        if r.shard.total != first.shard.total or r.plan.shares != first.plan.shares:
            problems.append(f"{r.name()} belongs to another plan than {first.name()}: "
                            f"{r.plan.describe()}, not {first.plan.describe()}. Every shard deals the "
                            "configured backends by the recorded durations in its artifact cache: give "
                            "every shard the same configuration and the same cache")
            continue
        if r.shard.index in seen:
            problems.append(f"shard {r.shard} is given twice: {seen[r.shard.index].directory} and "
                            f"{r.directory}")
            continue
        seen[r.shard.index] = r
        why = mismatch(r.descriptor.get("provenance"), first.descriptor.get("provenance") or {},
                       (r.name(), first.name()))
        if why:
            problems.append(f"{r.name()} gated another model or dataset than {first.name()}: {why}")
        other = differing_settings(r.descriptor.get("provenance"), first.descriptor.get("provenance"))
        if other:
            problems.append(f"{r.name()} judged by other settings than {first.name()}: {other}. Run every "
                            "shard with the same command and [tool.encoder-gate]")
        for key, what in (("commit", "commit"), ("encoder_gate", "encoder-gate version")):
            if r.descriptor.get(key) != first.descriptor.get(key):
                problems.append(f"{r.name()} ran at {what} {r.descriptor.get(key)}, {first.name()} at "
                                f"{first.descriptor.get(key)}")
        # a shard whose session failed before writing any results is no other command: its findings
        # fail the merged verdict and name it
        ours, theirs = _results_of(r), _results_of(first)
        if ours and theirs and ours != theirs:
            problems.append(f"{r.name()} wrote {_names(ours)}, {first.name()} wrote {_names(theirs)}: run "
                            "every shard with the same command")
    given = ", ".join(f"{i}/{first.shard.total}" for i in sorted(seen))
    for index in range(1, first.shard.total + 1):
        if index not in seen:
            share = ", ".join(first.plan.share(index))
            problems.append(f"shard {index}/{first.shard.total} is missing (its backends: {share}; given: "
                            f"{given}): a merge never passes over fewer backends than were planned")
    if problems:
        raise GateError("the shards cannot be merged into one verdict:\n  " + "\n  ".join(problems))
    return first.plan


def _results_of(result: ShardResult) -> set[str]:
    """The results documents a shard's session wrote (not its findings)."""
    kinds = sharded()
    return {name for name in result.documents if name in kinds}


def _names(documents: Collection[str]) -> str:
    return ", ".join(sorted(documents)) or "no results"


def merge_documents(results: Sequence[ShardResult], plan: ShardPlan) -> dict[str, dict[str, Any]]:
    """The merged results documents (only the kinds the shards wrote), in shard order."""
    ordered = sorted(results, key=lambda r: r.shard.index)
    merged_from = [{"shard": str(r.shard), "directory": str(r.directory),
                    "backends": list(plan.share(r.shard.index)),
                    "written": {n: str((d.get("provenance") or {}).get("written", "?"))
                                for n, d in r.documents.items()}} for r in ordered]
    out: dict[str, dict[str, Any]] = {}
    # a shard whose session wrote no results (it failed before) adds none: its findings say why
    theirs = readings()
    for name in sharded():
        wrote = [r for r in ordered if name in r.documents]
        if not wrote:
            continue
        copies = [r.documents[name] for r in wrote]
        if name in MERGERS:
            out[name] = MERGERS[name](copies, wrote, plan)
        else:  # a user's results document: its own merge, our provenance
            out[name] = {**theirs[name].merge(copies), "provenance": _provenance(copies[0], plan)}
    found = _findings(ordered)
    if found or out:
        anchor = next(iter(out.values()), None) or ordered[0].documents.get(FINDINGS_FILE) or {}
        waivers: list[Any] = next((d.get("waivers") or [] for r in ordered
                                   if (d := r.documents.get(FINDINGS_FILE))), [])
        out[FINDINGS_FILE] = {"provenance": _provenance(anchor, plan), "by_document": {},
                              "unwritten": [f.to_json() for f in found], "waivers": waivers}
    for doc in out.values():
        doc["shards"] = merged_from
    return out


def _findings(ordered: Sequence[ShardResult]) -> list[Finding]:
    """Every shard's findings (of the documents it wrote, and of a session that wrote none), each
    named with its shard."""
    out = []
    for r in ordered:
        out += [Finding(f.kind, f.reason, f.nodeid, f.backend, f.when, str(r.shard))
                for f in findings_of(r.documents.get(FINDINGS_FILE))]
    return out


def _provenance(doc: Mapping[str, Any], plan: ShardPlan) -> dict[str, Any] | None:
    block = doc.get("provenance")
    if not block:
        return None
    settings = {**(block.get("settings") or {}), "backends": list(plan.backends)}
    # one shard's artifacts and its share name that share alone: not the merged document's
    # (and a matrix's shards may run on CPUs of either integer path: the accuracy's integer_paths say each)
    kept = {key: value for key, value in block.items() if key not in ("artifacts", "shard", "integer_path")}
    return {**kept, "settings": settings, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _accuracy(payloads: list[Mapping[str, Any]], results: Sequence[ShardResult], plan: ShardPlan
              ) -> dict[str, Any]:
    merged = merge_payloads([dict(p) for p in payloads], plan.backends)
    shards = [str(r.shard) for r in results]
    # each INT8 row names the integer path it was computed on; the session's own line ("this runner's
    # CPU computes ...") holds for one runner only: shards on CPUs of different paths say each one's
    paths = {shard: (p.get("integer_paths") or {}).get("this_cpu") for shard, p in zip(shards, payloads,
                                                                                       strict=True)}
    if len(set(paths.values())) > 1:
        merged["integer_paths"] = {**(merged.get("integer_paths") or {}), "this_cpu": None, "shards": paths}
    # a shard whose ONNX Runtime computed another path than its CPU's flags say is not hidden by the others
    hows = [(p.get("integer_paths") or {}).get("how") or {} for p in payloads]
    odd = next((h for h in hows if disagrees(h)), None)
    if odd is not None and merged.get("integer_paths") is not None:
        merged["integer_paths"] = {**merged["integer_paths"], "how": odd}
    return {**merged, "configured_backends": list(plan.backends), "provenance": _provenance(merged, plan)}


def _speedups(docs: list[Mapping[str, Any]], results: Sequence[ShardResult], plan: ShardPlan
              ) -> dict[str, Any]:
    merged: dict[str, Any] = dict(docs[0])
    for key in ("seconds", "speedups", "stats"):
        table: dict[str, dict[str, Any]] = {}
        for doc in docs:
            for case, row in (doc.get(key) or {}).items():
                table.setdefault(case, {}).update(row or {})
        merged[key] = {case: dict(sorted(row.items())) for case, row in by_case(table)}
    merged["best_gflops"] = {b: v for doc in docs for b, v in (doc.get("best_gflops") or {}).items()}
    gates = [doc["gate"] for doc in docs if doc.get("gate")]
    if gates:  # each shard compared its own cells against the baseline: every shard's, not the first's
        compared: dict[str, dict[str, Any]] = {}
        for gate in gates:
            for case, row in (gate.get("compared") or {}).items():
                compared.setdefault(case, {}).update(row or {})
        merged["gate"] = {**gates[0], "compared": dict(by_case(compared)),
                          "failures": [f for g in gates for f in g.get("failures") or []],
                          "point_rule": [p for g in gates for p in g.get("point_rule") or []],
                          **{key: _unique(w for g in gates for w in g.get(key) or [])
                             for key in ("warnings", "fingerprint_differences")}}
    compares = [doc["compare"] for doc in docs if doc.get("compare")]
    if compares:
        merged["compare"] = {**compares[0],
                             "regressions": [r for c in compares for r in c.get("regressions") or []]}
    fingerprints = [doc.get("fingerprint") for doc in docs]
    if any(fp != fingerprints[0] for fp in fingerprints):
        merged["fingerprints"] = fingerprints  # each shard's runner; every ratio is within one
    merged["provenance"] = _provenance(docs[0], plan)
    return merged


def _ab(docs: list[Mapping[str, Any]], results: Sequence[ShardResult], plan: ShardPlan) -> dict[str, Any]:
    first = docs[0]
    for doc, r in zip(docs, results, strict=True):
        if doc.get("settings") != first.get("settings"):
            raise GateError(f"{r.name()} compared with the base under other settings ({doc.get('settings')}) "
                            f"than shard {results[0].shard} ({first.get('settings')})")
        if (doc.get("base") or {}).get("content_hash") != (first.get("base") or {}).get("content_hash"):
            raise GateError(f"{r.name()} compared with another base model than shard {results[0].shard}")
    s = first.get("settings") or {}
    settings = ABSettings(min_effect=float(s["min_effect"]), alpha=float(s["alpha"]),
                          inconclusive=s["inconclusive"], budget_seconds=float(s["budget_seconds"]))
    cells = []
    for doc, r in zip(docs, results, strict=True):
        for entry in doc.get("speed") or []:
            rounds = entry.get("cell")
            if not isinstance(rounds, Mapping):
                raise GateError(f"{r.name()}'s {AB_FILE} holds no rounds for {entry.get('backend')} "
                                f"{entry.get('case')} (written by an older encoder-gate): re-run that shard")
            cells.append(SpeedCell(entry["backend"], entry["case"], Cell(**rounds)))
    theirs = s.get("base")  # the base's own A/B settings, where its pyproject's are not the PR's
    base = (replace(settings, min_effect=float(theirs["min_effect"]), inconclusive=theirs["inconclusive"])
            if isinstance(theirs, Mapping) else None)
    accuracy: dict[str, Any] = {}
    for doc in docs:
        accuracy.update(doc.get("accuracy") or {})
    rank = {b: i for i, b in enumerate(plan.backends)}
    environment: dict[str, Any] = {}
    for doc in docs:
        environment.update(doc.get("environment") or {})
    return {**first, "accuracy": dict(sorted(accuracy.items(), key=lambda kv: rank.get(kv[0], len(rank)))),
            "speed": speed_entries(cells, settings, base),  # Holm across every cell of every shard
            "notes": _unique(n for doc in docs for n in doc.get("notes") or []),
            "criteria_changed": _unique(n for doc in docs for n in doc.get("criteria_changed") or []),
            "environment": environment, "provenance": _provenance(first, plan)}


#: How `encoder-gate merge` unites each of the gate's own results documents of the shards: (the
#: shards' copies, the shards that wrote them, the plan) -> the merged document. A user's results
#: document is merged by its Reading (encoder_gate.documents.register).
MERGERS: dict[str, Callable[[list[Mapping[str, Any]], Sequence[ShardResult], ShardPlan], dict[str, Any]]] = {
    ACCURACY_FILE: _accuracy, SPEEDUPS_FILE: _speedups, AB_FILE: _ab}
# each of the gate's own results documents needs its merger (checked on the gate's records alone:
# importing this module loads no user's package through the entry points)
_OWN = {n for n, d in DOCUMENTS.items() if d.results and d.reading is None} - {FINDINGS_FILE}
if set(MERGERS) != _OWN:
    raise ImportError(f"shards.merge has no merger of {sorted(_OWN - set(MERGERS))}")


def _unique(items: Any) -> list[Any]:
    return list(dict.fromkeys(items))
