"""The report directory's documents: their names, their schema versions, atomic writes, and which
of them belong together.

Every file the gate writes into a report directory (``--gate-report-dir``, default
``.encoder-gate``) is written here, and only here: JSON documents (:func:`write_document`, which
stamps each with its schema version), markdown pages (:func:`write_page`) and plots
(:func:`save_figure`), each to a temporary file first and then renamed over the old one, so a
reader (another session, `encoder-gate verdict`, a CI step) never sees half a file.

A verdict joins only documents of one model and dataset (:func:`belonging`, from the provenance
block each carries: :mod:`encoder_gate.runtime.provenance`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.runtime.provenance import mismatch

# the results documents, what writes each, and the pages and documents made from them
ACCURACY_FILE = "accuracy.json"  # pytest accuracy
SPEEDUPS_FILE = "speedups.json"  # pytest benchmarks
AB_FILE = "ab.json"  # pytest accuracy benchmarks --gate-base DIR
VERDICT_JSON = "verdict.json"  # the decided verdict (encoder_gate.decision)
ACCURACY_PAGE = "accuracy.md"
VERDICT_FILE = "verdict.md"
BENCHMARKS_PAGE = "benchmarks.md"  # encoder-gate report
SHARD_FILE = "shard.json"  # --gate-shard K/N: which share of which plan this directory holds
# what failed the sessions outside the results documents: failed and errored tests (the gate's and
# the team's own), the gate's own findings (nothing checked, an unreadable baseline), collection errors
FINDINGS_FILE = "findings.json"

#: Each JSON document's schema version, written into it as ``schema``; bump one when its keys
#: change meaning (docs/schemas.md describes each).
SCHEMAS = {ACCURACY_FILE: 1, SPEEDUPS_FILE: 1, AB_FILE: 1, VERDICT_JSON: 1, SHARD_FILE: 1, FINDINGS_FILE: 1}

#: What rewrites each results document, for the note on one left out of a verdict.
RERUN = {ACCURACY_FILE: "pytest accuracy", SPEEDUPS_FILE: "pytest benchmarks",
         AB_FILE: "pytest accuracy benchmarks --gate-base DIR",
         FINDINGS_FILE: "the pytest session of this model"}


def _replace(path: Path, write: Any) -> Path:
    """Write through `write(tmp)` into a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` as JSON to `path` atomically (temp file + rename)."""
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    return _replace(Path(path), lambda tmp: tmp.write_text(text))


def write_document(report_dir: Path, name: str, doc: Mapping[str, Any]) -> Path:
    """Write one of the report directory's JSON documents, stamped with its schema version."""
    if name not in SCHEMAS:
        raise ValueError(f"{name} is not a report document (known: {', '.join(SCHEMAS)})")
    body = {key: value for key, value in doc.items() if key != "schema"}
    return write_json(Path(report_dir) / name, {"schema": SCHEMAS[name], **body})


def write_page(report_dir: Path, name: str, text: str) -> Path:
    """Write a markdown page into the report directory atomically."""
    return _replace(Path(report_dir) / name, lambda tmp: tmp.write_text(text))


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (its format from `path`'s suffix)."""
    return _replace(Path(path), lambda tmp: fig.savefig(tmp, dpi=dpi))


def read_document(report_dir: Path, name: str) -> dict[str, Any] | None:
    """A JSON document of the report directory, or None when there is none; an unreadable one is a
    GateError that says which session rewrites it."""
    path = Path(report_dir) / name
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GateError(f"{path} is not readable JSON ({exc}); re-run the session that writes it") from None
    return doc if isinstance(doc, dict) else None


def belonging(docs: Mapping[str, Mapping[str, Any] | None],
              current: Mapping[str, Any] | None) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """The results documents that belong to `current` (the provenance of the session that just ran;
    without one, the newest document's), and a note for each one left out, saying what differs and
    how to refresh it. A document without provenance never joins."""
    present = {name: doc for name, doc in docs.items() if doc is not None}
    dated = sorted((str(d["provenance"].get("written", "")), name) for name, d in present.items()
                   if d.get("provenance"))
    anchor = current or (present[dated[-1][1]]["provenance"] if dated else None)
    kept: dict[str, Mapping[str, Any]] = {}
    notes: list[str] = []
    for name, doc in present.items():
        block = doc.get("provenance")
        why = mismatch(block, anchor or {})  # no anchor: nothing carries provenance
        if why is None:
            kept[name] = doc
            continue
        written = f", written {block.get('written')}" if block else ""
        notes.append(f"{name} in this directory left out: {why}{written}; run `{RERUN[name]}` for this one")
    return kept, notes
