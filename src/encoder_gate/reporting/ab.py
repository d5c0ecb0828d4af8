"""ab.json: the PR against its base, per backend: the accuracy change and the speed cells, decided.

Written at the end of a `--gate-base` session; the verdict's "vs base" columns read it.
The speed cells are decided together, with Holm's correction across them
(:func:`encoder_gate.decision.decide_cells`), so one session's p-values share one family-wise
error rate; this module only writes and prints what was decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from encoder_gate.accuracy.ranking import RANKINGS
from encoder_gate.decision.types import Verdict
from encoder_gate.documents import AB_FILE


def outputs_moved(outputs: Mapping[str, Any]) -> str:
    """How far a backend's outputs moved from the base's on the same texts (ab.json's `outputs`), in
    words: "outputs identical to the base's", or the largest and mean move of a label probability
    and the texts whose decision changed."""
    if not outputs["drift_max"]:  # the same outputs: an answer changes only where the thresholds moved
        changed = outputs.get("changed_texts") or 0
        return "outputs identical to the base's" + (
            f", decisions changed on {changed} of {outputs['texts']} texts at the thresholds each serves"
            if changed else "")
    return (f"outputs moved from the base's by up to {outputs['drift_max']:.3g} (mean "
            f"{outputs['drift_mean']:.3g}), decisions changed on {outputs['changed_texts']} of "
            f"{outputs['texts']} texts")


def order_moved(ranking: Mapping[str, Any]) -> str:
    """A reranker's MRR@10 (and NDCG@10 on graded relevance) on the PR against the base's (ab.json's
    `ranking`: accuracy.ranking), in words; empty where nothing was ranked."""
    said = []
    for measure in RANKINGS:
        value, delta = ranking.get(measure.key), ranking.get(f"{measure.key}_delta")
        if value is not None and delta is not None:
            low, high = ranking[f"{measure.key}_delta_ci"]
            said.append(f"{measure.name} {value:.4f} vs base {value - delta:.4f}, change {delta:+.4f} "
                        f"[{low:+.4f}, {high:+.4f}] over {ranking[measure.count]} queries")
    return "; ".join(said)


def drift_grown(growth: Mapping[str, Any], side: str = "base") -> str:
    """A backend's mean drift from its own torch on each side (ab.json's `drift_growth`), in words, with
    the growth it may have (a user read the mean beside the table's drift max, and no bound)."""
    word = (f"; it may grow by {growth['allowed']:.3g}" if growth["passed"] else
            f", more than the {growth['allowed']:.3g} it may: FAIL")
    return (f"mean drift from its own torch {growth['pr_mean']:.3g} vs {side} {growth['base_mean']:.3g} "
            f"({growth['growth']:+.3g}{word})")


def against_base_warnings(accuracy: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The warnings of ab.json's `accuracy` entries that did not fail, under the first of `keys` each
    holds (`not_judged`: its F1 could not fail; `underpowered`: a pass rules no drop out), each text
    once with the backends it holds for: "against the base (torch, onnx-fp32): ..."."""
    by: dict[str, list[str]] = {}
    for name, entry in accuracy.items():
        key = next((k for k in keys if entry.get(k)), None)
        if key is not None and entry.get("passed") is not False:
            by.setdefault(str(entry[key]), []).append(name)
    return [f"against the base ({', '.join(names)}): {text}" for text, names in by.items()]


def summary_lines(payload: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(line, failed) per backend and cell, for the terminal."""
    out: list[tuple[str, bool]] = []
    width = max([16, *(len(n) for n in payload.get("accuracy", {})), *(len(c["backend"])
                                                                          for c in payload.get("speed", []))])
    refused: dict[tuple[str, str | None], list[str]] = {}  # one line for the backends of one refusal
    for name, a in payload.get("accuracy", {}).items():
        by = a.get("waived_by")  # a failure a live waiver accepts: said so, not "FAIL" above a PASS
        if a.get("delta") is None:  # refused, no figure (models of other labels): its failure's first line
            if a.get("passed") is False:
                why = str(a.get("failure") or "not compared").splitlines()[0]
                refused.setdefault((why, by), []).append(name)
            continue
        low, high = a["delta_ci"]
        ranked = f"; {moved}" if (moved := order_moved(a.get("ranking") or {})) else ""
        moved = f"; {outputs_moved(a['outputs'])}" if a.get("outputs") else ""
        moved += f"; {drift_grown(a['drift_growth'])}" if a.get("drift_growth") else ""
        word = ((f"waived by {by}" if by else "FAIL") if not a["passed"] else
                "not judged" if a.get("not_judged") else "pass")
        out.append((f"{name:<{width}} accuracy {a['metric']} {a['pr']:.4f} vs base {a['base']:.4f}, change "
                    f"{a['delta']:+.4f} [{low:+.4f}, {high:+.4f}]{ranked}: {word}{moved}",
                    not a["passed"] and not by))
    out[:0] = [(f"{', '.join(names):<{width}} accuracy: {f'waived by {by}' if by else 'FAIL'}: {why}", not by)
               for (why, by), names in refused.items()]
    # why an F1 against the base could not fail, once for the backends it holds for
    out += [(line, False) for key in ("not_judged", "rare_labels_lost")
            for line in against_base_warnings(payload.get("accuracy", {}), (key,))]
    for c in payload.get("speed", []):
        word = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive",
                "unchanged": "pass"}[c["status"]]
        how = "" if c["status"] == "unchanged" else f" ({c['clock']} clock, {c['texts']} texts)"
        out.append((f"{c['backend']:<{width}} speed {c['case']}{how}: {c['describe']}: {word}",
                    bool(c["fails"])))
    return out


#: The head of the list of what a PR's configuration judges it by otherwise than its base's.
CRITERIA_CHANGED = "**Judged by criteria this PR changed** (its pyproject decides its own bounds)"


#: The head of the list of the backends the base's own criteria would fail.
BY_BASE_CRITERIA = "By the base's own criteria, it fails"


def criteria_changed(verdict: Verdict) -> tuple[list[str], list[str]]:
    """Each pass criterion, waiver or judged scope the PR's configuration sets otherwise than its
    base's (ab.json's `criteria_changed`, runtime.base.criteria_changes), with both values; and each
    backend that passes against the base by the PR's criteria but fails by the base's, with why."""
    ab = verdict.judged.get(AB_FILE) or {}
    failing = [f"{name}: {entry['by_base_criteria']}" for name, entry in (ab.get("accuracy") or {}).items()
               if (entry or {}).get("by_base_criteria")]
    failing += [f"{c['backend']} speed {c['case']}: {c['by_base_criteria']}" for c in ab.get("speed") or []
                if c.get("by_base_criteria")]
    return list(ab.get("criteria_changed") or ()), failing
