"""The results store: one JSON record per commit, small and git-friendly.

`encoder-gate history record --store DIR` runs after a gate session on the default branch: it
reads the report directory (accuracy.json, speedups.json; the verdict decided from them by
:mod:`encoder_gate.decision`) and writes ``DIR/<commit>.json``. Recording a commit again replaces
its record and says so. A record names its series (the model's name and the evaluation data):
records of another model or dataset are kept, and never compared or drawn with these.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from encoder_gate.accuracy.ranking import RANKINGS
from encoder_gate.backends.registry import split_integer_path
from encoder_gate.config import check_writable
from encoder_gate.decision import STOPPED_EARLY, decided
from encoder_gate.documents import (
    ACCURACY_FILE,
    HISTORY_RECORD,
    SPEEDUPS_FILE,
    VERDICT_JSON,
    read_document,
    readings,
    schema_of,
    shards_of,
    write_document,
)
from encoder_gate.errors import GateError
from encoder_gate.tasks import task_of_document

SCHEMA = schema_of(HISTORY_RECORD)  # a record's schema version
#: The speed clock a speedup was paired on when its document does not say (the gate sweep pairs
#: torch eager and the backend on the wall clock).
DEFAULT_CLOCK = "wall"


@dataclass(frozen=True)
class Commit:
    """A commit of the repository: its id, its committer time (ISO 8601) and its first parent."""

    sha: str
    time: str
    parent: str | None


def git_commit(repo: Path, rev: str = "HEAD") -> Commit:
    """`rev` of the git repository at `repo`; a clear error where there is none."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%H%n%cI%n%P", rev],
                             capture_output=True, text=True, check=True).stdout.split("\n")
    except FileNotFoundError:
        raise GateError("git is not installed: pass --commit SHA --commit-time TIME instead") from None
    except subprocess.CalledProcessError as exc:
        raise GateError(f"{repo} has no commit {rev} ({exc.stderr.strip() or 'git log failed'}): run "
                        "`encoder-gate history record` in the repository's checkout, or pass --repo"
                        ) from None
    sha, when, parents = [*out, "", "", ""][:3]
    return Commit(sha=sha, time=when, parent=parents.split()[0] if parents.split() else None)


def series_of(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two records comparable: the model's name and the evaluation data (not the model's
    content: a retrained model stays on its line, which is what a creep check is for). A reranker's
    `relevant-grade` where set: another grade reads other gold flags from the same file; the project's
    directory in its repository where it is not the top (two projects' models both named `model`). Each
    left out where unset, so that the records written before it existed stay on their line."""
    model, data = provenance.get("model") or {}, provenance.get("dataset") or {}
    grade = (data.get("columns") or {}).get("relevant_grade")
    dataset = {k: data.get(k) for k in ("source", "sha256", "split", "variant", "limit")}
    return {**({"project": project} if (project := provenance.get("project")) else {}),
            "model": model.get("name"), "dataset": {**dataset, **({"relevant_grade": grade}
                                                                   if grade is not None else {})}}


def _accuracy_entry(row: Mapping[str, Any], headline: str) -> dict[str, Any]:
    labels = row.get("per_label") or []
    return {"metric": headline, "value": row.get(headline), "ci": row.get("f1_ci"),
            "delta": row.get("f1_delta"), "delta_ci": row.get("f1_delta_ci"),
            "margin": row.get("f1_margin"), "min_support": row.get("per_label_min_support"),
            "per_label": {lab["label"]: {"f1": lab["f1"], "support": lab["support"],
                                         # judged, or not: its support counts distinct texts (per_label)
                                         "judged": lab.get("verdict") != "low-support"} for lab in labels},
            "drift": {k: row.get(f"drift_{k}") for k in ("mean", "p99", "max")},
            "flip_rate": row.get("flip_rate"), "integer_path": row.get("integer_path"),
            # a reranker's order: MRR@10, and NDCG@10 on graded relevance (accuracy.ranking)
            **{r.key: row[r.key] for r in RANKINGS if row.get(r.key) is not None}}


def _speed_entries(speedups: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per backend, per case: the speedup over torch eager with its CI, rounds and clock."""
    out: dict[str, dict[str, Any]] = {}
    stats = speedups.get("stats") or {}
    for case, row in (speedups.get("speedups") or {}).items():
        for backend, value in row.items():
            s = (stats.get(case) or {}).get(backend) or {}
            out.setdefault(backend, {})[case] = {"speedup": value, "ci": s.get("ci"),
                                                 "rounds": s.get("rounds"),
                                                 "clock": s.get("clock", DEFAULT_CLOCK)}
    return out


def build_record(report_dir: Path, commit: Commit, whole: bool = True) -> dict[str, Any]:
    """The record of one commit from the report directory's results and the verdict its session
    decided (:func:`encoder_gate.decision.decided`: verdict.json, with the documents it judged):
    history records that verdict, waived backends and their waivers included, and never decides
    again. `whole`: a record to keep, refused where the verdict left a results document out or one was
    written at another commit; else a PR's trend, which reads what its verdict joined (walk AJ, an earlier
    main session's speedups.json refused it) but leaves out a document of another commit than `commit`'s
    (`other_commits`)."""
    if not Path(report_dir).is_dir():  # a typo or a file: said as such, not as a directory without results
        what = "a file" if Path(report_dir).exists() else "missing"
        raise GateError(f"{report_dir} is {what}, not a report directory: pass the gate's --gate-report-dir "
                        "(default .encoder-gate) with --report-dir")
    if read_document(report_dir, ACCURACY_FILE) is None and read_document(report_dir, SPEEDUPS_FILE) is None:
        failed = read_document(report_dir, VERDICT_JSON) or {}
        said = failed.get("session_failures") if failed.get("passed") is False else None
        if said:  # a gate that failed before it kept any results (a merge refused: a shard missing)
            why = " ".join(line.strip() for line in str(said[0]).splitlines())
            raise GateError(f"{report_dir} holds no results, only the verdict of a gate that failed before "
                            f"it kept any: {why}; a commit is recorded from its gate's results: mend that, "
                            "and run the gate again")
        raise GateError(f"{report_dir} holds no {ACCURACY_FILE} or {SPEEDUPS_FILE}: run `pytest accuracy` "
                        "and `pytest benchmarks` first (or pass --report-dir)")
    verdict = decided(report_dir)
    stopped = [f.reason for f in verdict.findings if f.reason.startswith(STOPPED_EARLY)]
    if stopped:  # its verdict is of what earlier sessions left: recorded, a healthy commit drew as failed
        raise GateError(f"the last gate session in {report_dir} did not run to its end ({stopped[0]}); a "
                        "commit's record holds its whole gate: run `pytest accuracy` and `pytest benchmarks` "
                        "to their end, then record")
    if shards := shards_of(verdict.judged):  # its share of the backends, passing: drawn as the commit's
        raise GateError(f"the results in {report_dir} are shard {' and '.join(shards)}'s alone, a share of "
                        "the backends: a commit's record holds its whole gate; record the merged directory "
                        "(`encoder-gate merge SHARD_DIR... --out DIR`, then --report-dir DIR)")
    acc, speed_doc = verdict.judged.get(ACCURACY_FILE), verdict.judged.get(SPEEDUPS_FILE)
    provenance = dict((acc or speed_doc or {}).get("provenance") or {})
    written_at = {str(c) for d in verdict.judged.values() if (c := (d.get("provenance") or {}).get("commit"))}
    other = sorted(written_at - {commit.sha}) if commit.sha and len(commit.sha) == 40 else []
    foreign = {name: str(c) for name, d in verdict.judged.items()
               if (c := (d.get("provenance") or {}).get("commit")) and str(c) in other}
    if other and not whole:  # a PR's trend: what another commit wrote is not the PR's (a trial's trend
        other = []           # read main's speedups.json, restored beside the PR's accuracy, as the PR's)
    if other:  # an earlier session's results, left by one that failed before writing its own
        raise GateError(f"the results in {report_dir} were written at commit {other[0][:12]}, not "
                        f"{commit.sha[:12]}: run the gate at {commit.sha[:12]} first (or record "
                        f"{other[0][:12]})")
    stale = [note for note in verdict.left_out if note.startswith((ACCURACY_FILE, SPEEDUPS_FILE))]
    if stale and whole:  # the page would draw the commit as passing on what was joined, without the rest
        name = next(n for n in (ACCURACY_FILE, SPEEDUPS_FILE) if stale[0].startswith(n))
        raise GateError(f"the results in {report_dir} are not all of one gate: {stale[0]}; a commit's "
                        "record holds its whole gate: run that command with the same settings, then record "
                        f"(or, to record this commit's {'speed' if name == ACCURACY_FILE else 'accuracy'} "
                        f"alone, delete {Path(report_dir) / name} first)")
    if verdict.selections:  # a record is the commit's gate: its page would show this as the commit passing
        chosen = "; ".join(f"{name}: {sel}" for name, sel in verdict.selections.items())
        raise GateError(f"the results in {report_dir} are of a selection of the gate's tests ({chosen}): a "
                        "commit's record holds its whole gate, and the tests left out did not run; run "
                        "`pytest accuracy` and `pytest benchmarks` without what narrowed them (named above: "
                        "-k, -m, --deselect, --lf, --sw, or a --gate-backends, --gate-batch-sizes or "
                        "--gate-model other than the project's), then record")
    headline = task_of_document(acc).headline
    rows = {} if ACCURACY_FILE in foreign else (acc or {}).get("backends") or {}
    speed = {} if SPEEDUPS_FILE in foreign else _speed_entries(speed_doc or {})
    judged = {b.name: b for b in verdict.backends}
    backends: dict[str, dict[str, Any]] = {}
    for name in [*rows, *(b for b in speed if b not in rows)]:
        entry = _accuracy_entry(rows[name], headline) if name in rows else {"metric": headline}
        status = judged[name].status.value if name in judged else None
        backends[name] = {**entry, "speedups": speed.get(name, {}), "status": status}
        if name in judged and judged[name].waivers:  # what was accepted, by whom, until when
            accepted = {w.check for w in judged[name].waivers}  # live ones; an expired one accepted none
            backends[name]["waived"] = {"checks": [c for c in judged[name].failed if c in accepted],
                                        "waivers": [w.to_json() for w in judged[name].waivers]}
    return {
        "schema": SCHEMA, "commit": commit.sha, "time": commit.time, "parent": commit.parent,
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "series": series_of(provenance),
        "model": provenance.get("model"),
        # its model type (bert, distilbert): speed across a change of it is not compared (history.creep)
        "architecture": ((acc or {}).get("model") or {}).get("model_type"),
        "texts": ((acc or {}).get("dataset") or {}).get("examples"),  # judged (fewer than a limit: all)
        "provenance": {name: doc.get("provenance") for name, doc in verdict.judged.items()},
        "machine": (speed_doc or {}).get("fingerprint"),
        "versions": {**((acc or {}).get("versions") or {}), **((speed_doc or {}).get("versions") or {})},
        "backends": backends,
        "results": _their_summaries(verdict.judged),
        # (a trend's record alone) the documents another commit wrote, left out of its backends
        **({"other_commits": foreign} if foreign else {}),
        # every reason the verdict failed: its checks', its session's (a speed gate as a whole) and
        # what failed outside the checks (a failed test, a collection error): a FAIL never records none
        "verdict": {"passed": verdict.passed,
                    "failures": list(dict.fromkeys([*(r.text for r in verdict.failures),
                                                    *verdict.session_failures,
                                                    *(f.describe() for f in verdict.findings)])),
                    "left_out": list(verdict.left_out)},
    }


def _their_summaries(judged: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What each of the user's results documents keeps in a record (its Reading's summary), by name."""
    out: dict[str, Any] = {}
    for name, reading in readings().items():
        if name in judged:
            try:
                out[name] = reading.summary(judged[name])
            except Exception as exc:  # the user's code: say whose, never a traceback from inside it
                raise GateError(f"{name}'s Reading could not summarise it for the history record: "
                                f"{type(exc).__name__}: {exc}") from None
    return out


def record_path(store: Path, sha: str) -> Path:
    return Path(store) / f"{sha}.json"


def record(store: Path, report_dir: Path, commit: Commit) -> tuple[Path, str | None]:
    """Write the commit's record into the store; the note when it replaced an earlier one."""
    if not commit.sha:
        raise GateError("no commit to record: pass --commit SHA, or run in a git checkout")
    for what, sha in (("--commit", commit.sha), ("--parent", commit.parent)):
        if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{7,64}", sha):  # a record's file is named by it
            raise GateError(f"{what} must be a commit's hash (7 to 64 hex digits, e.g. `git rev-parse "
                            f"HEAD`), got {sha!r}")
    doc = build_record(report_dir, commit)
    check_writable(Path(store), "the history store (--store)")
    path = record_path(store, commit.sha)
    note = None
    if path.is_file():
        old = load_record(path)
        if old.get("series") != doc.get("series"):  # a record a commit: another model's would be lost
            raise GateError(f"{commit.sha[:12]} is recorded in {store} for another series "
                            f"({series_said(old)}), not this run's ({series_said(doc)}): give each model and "
                            "dataset a store of its own (--store)")
        note = (f"{commit.sha[:12]} was recorded before (at {old.get('recorded')}); its record is replaced "
                "by this run's")
    write_document(Path(store), path.name, doc, kind=HISTORY_RECORD)
    return path, note


def new_series(records: Sequence[Mapping[str, Any]], commit: str) -> str | None:
    """Where the record of `commit` starts a series the record before it (by commit time) is not of (a
    model renamed, the evaluation data edited), what changed and what the page and the check do with
    it; else None. A routine edit of the data restarted the page with no word (a trial's 60 rows)."""
    at = next((i for i, r in enumerate(records) if str(r.get("commit")) == commit), 0)
    if not at:  # not in the store, or the first of it
        return None
    now, before = records[at], records[at - 1]
    if now.get("series") == before.get("series"):
        return None
    was, new = before.get("series") or {}, now.get("series") or {}
    changed = [f"{key} {_said(key, was.get(key))} -> {_said(key, new.get(key))}"
               for key in ("project", "model", "dataset") if was.get(key) != new.get(key)]
    return (f"{commit[:12]} starts a new series ({'; '.join(changed)}): the page draws it from here, and "
            f"`history check` compares it with its own records only ({str(before.get('commit'))[:12]} and "
            "the records before it stay in the store)")


def _said(key: str, value: Any) -> str:
    """A series' project, model or dataset in a note: a dataset by its source and contents' hash."""
    if key == "project" and not value:
        return "(the repository's top)"
    if isinstance(value, Mapping):
        sha = value.get("sha256")
        return f"{value.get('source')}" + (f" (contents {str(sha)[:8]})" if sha else "")
    return str(value)


def series_said(record: Mapping[str, Any]) -> str:
    """A record's series in words: its project where set, its model, its data (source and contents)."""
    series = record.get("series") or {}
    return ", ".join(f"{key} {_said(key, series.get(key))}" for key in ("project", "model", "dataset")
                     if key != "project" or series.get(key))


def load_record(path: Path) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GateError(f"history record {path} is not readable JSON ({exc}): delete it or record its "
                        "commit again") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not doc.get("commit"):
        raise GateError(f"history record {path} is not a schema-{SCHEMA} record of encoder-gate: move it "
                        "out of the store")
    return doc


def load_store(store: Path) -> list[dict[str, Any]]:
    """Every record in the store, oldest commit first (by commit time, then by when recorded)."""
    root = Path(store)
    if not root.is_dir():
        raise GateError(f"history store {store} does not exist: `encoder-gate history record --store "
                        f"{store}` creates it")
    records = [load_record(p) for p in sorted(root.glob("*.json"))]
    by_commit = {str(r.get("commit")): r for r in records}

    def depth(record: Mapping[str, Any]) -> int:
        """Its ancestors in the store, by `parent`: commits of one time (a rebase, a scripted series)
        are ordered by their history, not by when each was recorded."""
        seen, parent = 0, record.get("parent")
        while parent in by_commit and seen < len(records):
            seen, parent = seen + 1, by_commit[str(parent)].get("parent")
        return seen

    return sorted(records, key=lambda r: (instant(r.get("time")), depth(r), str(r.get("recorded"))))


def instant(when: Any) -> float:
    """A time written as ISO 8601 (a commit's, each committer's own UTC offset; a document's) as seconds
    since the epoch: the text of 12:00+05:00 sorts after 10:00+00:00, the instant before it. No time (or
    none readable) sorts first; one of no offset is UTC's."""
    try:
        moment = datetime.fromisoformat(str(when))
    except ValueError:
        return -math.inf
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def other_architecture(record: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two records' models are of other architectures (model types), both known: a record
    written before the store kept it is taken as the same."""
    a, b = record.get("architecture"), other.get("architecture")
    return a is not None and b is not None and a != b


def same_series(records: Sequence[Mapping[str, Any]], newest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The records on `newest`'s line (same model name and data), oldest first, `newest` last."""
    return [r for r in records if r.get("series") == newest.get("series")]


def on_its_path(records: Sequence[Mapping[str, Any]], name: str, path: str | None) -> list[Mapping[str, Any]]:
    """The records holding backend `name`'s result on integer path `path` (an INT8 file's figures on
    one path are not its figures on the other), each with that result under `name`: the plain row of
    a runner that computes the path itself, or the twin `NAME~PATH` of a runner of the other kind
    (registry.names_of_row). Without a path (no INT8 product), the records that hold `name`."""
    inner = split_integer_path(name)[0]
    out: list[Mapping[str, Any]] = []
    for r in records:
        backends = r.get("backends") or {}
        entry = backends.get(name) if path is None else next(
            (e for n, e in backends.items()
             if split_integer_path(n)[0] == inner and (e or {}).get("integer_path") == path), None)
        if entry is not None:
            out.append({**r, "backends": {**{n: e for n, e in backends.items() if n != name}, name: entry}})
    return out
