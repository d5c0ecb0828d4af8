"""baseline.json: the PR's backends against a baseline session's predictions of them, made on other
libraries (`--gate-accuracy-baseline FILE`, :mod:`encoder_gate.runtime.baseline`): each backend's
accuracy entry as ab.json has it (:func:`encoder_gate.results.ab.accuracy_entry`), the baseline's
file and model, and the library versions that differ.

It is a results document with its own check, ``vs baseline``, registered as a user's is (through the
``encoder_gate.documents`` entry point in pyproject.toml: its :class:`~encoder_gate.documents.Reading`
judges, merges, shows and summarises it), so a waiver names it apart from ``vs base``: accepting a
new library's effect is another decision than accepting a PR's own model change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from encoder_gate.config import ACCURACY_CRITERIA, COMPUTED_ON
from encoder_gate.decision.types import Reason
from encoder_gate.documents import Document, Reading
from encoder_gate.runtime.baseline import AccuracyBaseline

BASELINE_FILE = "baseline.json"
#: The check its failures carry (a waiver's `check`).
VERSUS_BASELINE = "vs baseline"


def baseline_payload(baseline: AccuracyBaseline, accuracy: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The whole document but its provenance (the session's, stamped where it is written:
    plugin.stash.write_results): `accuracy`, per PR backend, its entry against the baseline's."""
    model, ours = baseline.base_model, baseline.pr.model
    written_by = baseline.document.get("provenance") or {}
    # what a reader needs beside the figures: the model changed since, its labels in another order (said
    # against a base, not against a baseline: a trial's reordered classes)
    changed = (f"the model changed since the baseline: content {model.content_hash} there, "
               f"{ours.content_hash} here" if model.content_hash != ours.content_hash else None)
    return {
        "baseline": {"file": str(baseline.path), "model": model.name, "content_hash": model.content_hash,
                     "commit": written_by.get("commit"), "versions": baseline.document.get("versions") or {},
                     "pairs": dict(baseline.pairs)},
        "versions_changed": baseline.versions_changed(),
        "not_in_baseline": baseline.not_in_baseline,  # configured here, not predicted there
        "metric_name": baseline.pr.model.task.headline_name,  # how the verdict names `metric`
        "notes": [n for n in (changed, baseline.label_note) if n],
        "accuracy": dict(accuracy),
    }


def judge(doc: Mapping[str, Any]) -> dict[str, list[Reason]]:
    """Per backend compared, what fails it: its accuracy change against the baseline's."""
    def reasons(entry: Mapping[str, Any]) -> list[Reason]:
        if entry.get("passed", True):
            return []
        first = str(entry.get("failure", "")).split("\n")[0]
        return [Reason(VERSUS_BASELINE, f"accuracy vs baseline: {first}")]

    return {name: reasons(entry) for name, entry in (doc.get("accuracy") or {}).items()}


def merge(copies: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The shards' copies as one: every backend's entry, the first's baseline."""
    accuracy: dict[str, Any] = {}
    changed: list[str] = []
    missing: list[str] = []
    for copy in copies:
        accuracy.update(copy.get("accuracy") or {})
        changed += [c for c in copy.get("versions_changed") or [] if c not in changed]
        missing += [n for n in copy.get("not_in_baseline") or [] if n not in missing]
    return {"baseline": copies[0].get("baseline"), "versions_changed": changed, "not_in_baseline": missing,
            "metric_name": copies[0].get("metric_name"), "notes": copies[0].get("notes") or [],
            "accuracy": accuracy}


def lines(doc: Mapping[str, Any]) -> list[str]:
    """verdict.md's lines: the libraries that changed, then each backend's F1 on both sides."""
    base = doc.get("baseline") or {}
    changed = ", ".join(doc.get("versions_changed") or [])
    out = [f"against {base.get('file')} ({base.get('model')}): "
           + (f"libraries changed: {changed}" if changed else "the same libraries")]
    out += doc.get("notes") or []
    for name, e in (doc.get("accuracy") or {}).items():
        ci = e.get("delta_ci") or [float("nan"), float("nan")]
        delta = "" if e.get("delta") is None else (
            f", change {e['delta']:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]")
        pr, theirs, metric = e.get("pr"), e.get("base"), doc.get("metric_name") or e.get("metric")
        figures = ("" if pr is None or theirs is None else
                   f"{metric} {pr:.4f} here vs {theirs:.4f} on the baseline{delta}, ")
        out.append(f"{name}: {figures}{'kept' if e.get('passed') else 'lost'}")
    out += [f"{name}: not in the baseline, nothing to compare with"
            for name in doc.get("not_in_baseline") or []]
    return out


def summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a history record keeps: each backend's pass and change, the libraries that changed."""
    return {"versions_changed": list(doc.get("versions_changed") or []),
            "accuracy": {name: {"passed": e.get("passed"), "delta": e.get("delta")}
                         for name, e in (doc.get("accuracy") or {}).items()}}


#: The record: the entry point `baseline` in pyproject.toml registers it in every process.
BASELINE = Document(BASELINE_FILE, 1, "pytest accuracy --gate-accuracy-baseline FILE", results=True,
                    holds="the PR's backends against a baseline session on other libraries (the base's "
                          "requirements)",
                    reading=Reading((VERSUS_BASELINE,), judge, merge, lines, summary), of_its_commit=True,
                    fed_by=("baseline_backend",), judged_by=(*ACCURACY_CRITERIA, *COMPUTED_ON))
