"""The verdict a person reads at a glance: per backend, pass or fail, with the numbers.

Rendered from the files the gate's sessions write into the report directory,
``accuracy.json`` (``pytest accuracy``), ``speedups.json`` (``pytest benchmarks``) and ``ab.json``
(``--gate-base``), so it can be written after either session and again after both
(``encoder-gate verdict``). It joins only files of one model and dataset (their provenance,
:mod:`encoder_gate.runtime.provenance`), and says which it left out and why.
Written to ``<report-dir>/verdict.md``; a CI step appends it to ``$GITHUB_STEP_SUMMARY``
(or posts it as a PR comment on any other CI system).

    | backend | verdict | micro F1 | drift max | speedup vs torch eager |
    | onnx-int8 | pass | 0.7052 (>= 0.7034) | 0.291 (<= 0.6) | bs1 3.03x (base 2.98x) |
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.backends.registry import REFERENCE_BACKEND
from encoder_gate.errors import GateError
from encoder_gate.reporting.accuracy import truncation_notes
from encoder_gate.runtime.provenance import mismatch
from encoder_gate.tasks import Task

VERDICT_FILE = "verdict.md"
AB_FILE = "ab.json"  # written by encoder_gate.reporting.ab at the end of a --gate-base session


def _read(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GateError(f"{path} is not readable JSON ({exc}); re-run the session that writes it") from None
    return doc if isinstance(doc, dict) else None


def _bounded(check: Mapping[str, Any] | None, fmt: str) -> str:
    if not check:
        return ""
    sign = ">=" if check["direction"] == "at least" else "<="
    mark = "" if check["passed"] else " **fail**"
    return f"{format(check['observed'], fmt)} ({sign} {format(check['bound'], fmt)}){mark}"


def _with_error_bars(row: Mapping[str, Any], headline: str, keep: Mapping[str, Any] | None,
                     cell: str) -> str:
    """The F1 cell with the change's 95% CI; under a CI rule the value and the CI end it judged."""
    low, high = row.get("f1_delta_ci") or (None, None)
    change = f"change {row['f1_delta']:+.4f} [{low:+.4f}, {high:+.4f}]" if low is not None else ""
    rule = row.get("f1_rule", "point")
    if rule == "point" or not keep:
        return f"{cell}; {change}" if change else cell
    mark = "" if keep["passed"] else " **fail**"
    end = "CI high >=" if rule == "regression" else "CI low >"
    return f"{row[headline]:.4f}; {change} ({rule}: {end} -{row['f1_margin']:g}){mark}"


def _failing_labels(row: Mapping[str, Any]) -> str:
    """`` (joy: F1 0.744 -> 0.500, support 53; ...)`` for a row's failing labels, else ''."""
    bad = [lab for lab in row.get("per_label") or [] if lab.get("verdict") == "fail"]
    if not bad:
        return ""
    return " (" + "; ".join(f"{lab['label']}: F1 {lab['f1_ref']:.3f} -> {lab['f1']:.3f}, support "
                            f"{lab['support']}" for lab in bad) + ")"


def _case_label(case: str, cases: list[str]) -> str:
    """``bs8`` when every case differs only in batch size (the gate sweep), else the whole case id."""
    parts = [c.split("/") for c in cases]
    if all(len(p) == 4 for p in parts) and len({(p[0], p[1], p[3]) for p in parts}) == 1:
        return case.split("/")[2]
    return case


def _speed_cells(speedups: Mapping[str, Any] | None,
                 configured: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Per backend: the speedup cell, and the speed failures naming that backend."""
    if not speedups:
        return {}, {}
    gate = speedups.get("gate") or {}
    compared = gate.get("compared") or {}
    table = speedups.get("speedups") or {}
    cells: dict[str, list[str]] = {}
    for case, row in sorted(table.items()):
        label = _case_label(case, list(table))
        for backend, value in row.items():
            base = (compared.get(case) or {}).get(backend)
            text = f"{label} {value:.2f}x" + (f" (base {base['baseline']:.2f}x)" if base else "")
            cells.setdefault(backend, []).append(text)
    timed = {b for row in (speedups.get("seconds") or {}).values() for b in row}
    # longest first, so `torch-compile` is tried before `torch`; names may hold spaces (onnx:PATH)
    known = sorted({*configured, *cells, *timed, str(speedups.get("reference", "torch"))},
                   key=len, reverse=True)
    failures: dict[str, list[str]] = {}
    for line in gate.get("failures") or []:  # "<backend> <case>: ..."
        owner = next((b for b in known if line.startswith(f"{b} ")), line.split(" ", 1)[0])
        failures.setdefault(owner, []).append(line)
    for line in (speedups.get("compare") or {}).get("regressions") or []:
        params = line.split("[", 1)[1].rsplit("]", 1)[0] if "[" in line else ""
        owner = next((b for b in known if f"-{b}-" in f"-{params}-"), "?")
        failures.setdefault(owner, []).append(f"{line} (pytest-benchmark --benchmark-compare-fail)")
    return {b: "; ".join(v) for b, v in cells.items()}, failures


def _ab_cells(ab: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """(accuracy vs base, speed vs base, failures) per backend, from an ab.json document."""
    acc: dict[str, str] = {}
    fails: dict[str, list[str]] = {}
    for name, a in (ab.get("accuracy") or {}).items():
        if a.get("delta") is not None:
            low, high = a["delta_ci"]
            acc[name] = f"{a['delta']:+.4f} [{low:+.4f}, {high:+.4f}]" + ("" if a["passed"] else " **FAIL**")
        if not a.get("passed", True):
            fails.setdefault(name, []).append("accuracy vs base: " + str(a.get("failure", "")).split("\n")[0])
    speed: dict[str, list[str]] = {}
    for c in ab.get("speed") or []:
        low, high = c["ratio_ci"]
        case = c["case"].split("/")[2] if c["case"].count("/") >= 2 else c["case"]
        if c["status"] == "unchanged":
            speed.setdefault(c["backend"], []).append(f"{case} unchanged (same artifact, not timed)")
            continue
        word = {"pass": "", "fail": " **FAIL**", "inconclusive": " inconclusive"}[c["status"]]
        speed.setdefault(c["backend"], []).append(f"{case} {c['ratio']:.3f}x [{low:.3f}, {high:.3f}]{word}")
        if c.get("fails"):
            fails.setdefault(c["backend"], []).append(
                f"speed vs base {c['case']}: {c['describe']} ({c['clock']} clock decided)")
    return acc, {b: "; ".join(v) for b, v in speed.items()}, fails


RERUN = {"accuracy.json": "pytest accuracy", "speedups.json": "pytest benchmarks",
         AB_FILE: "pytest accuracy benchmarks --gate-base DIR"}


def _belonging(docs: Mapping[str, Mapping[str, Any] | None],
               current: Mapping[str, Any] | None) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """The results files that belong to `current` (the session that just ran; without one, the
    newest file's), and a note for each one left out, saying what differs and how to refresh it."""
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


@dataclass(frozen=True)
class Verdict:
    """The verdict rendered: its markdown, and the table's header and rows for a terminal."""

    passed: bool
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # one per backend: name, verdict, then the header's columns
    markdown: str


def render_verdict(accuracy: Mapping[str, Any] | None, speedups: Mapping[str, Any] | None,
                   ab: Mapping[str, Any] | None = None, current: Mapping[str, Any] | None = None) -> str:
    """The verdict markdown (see :func:`build_verdict`)."""
    return build_verdict(accuracy, speedups, ab, current).markdown


def build_verdict(accuracy: Mapping[str, Any] | None, speedups: Mapping[str, Any] | None,
                  ab: Mapping[str, Any] | None = None, current: Mapping[str, Any] | None = None) -> Verdict:
    """The verdict markdown from an accuracy.json, a speedups.json and an ab.json document (any may
    be None), joining only those whose provenance matches `current`'s model and dataset (the
    session that just ran; without one, the newest document's). What is left out is said, and
    why; with nothing left, there is no verdict."""
    docs = {"accuracy.json": accuracy, "speedups.json": speedups, AB_FILE: ab}
    if all(d is None for d in docs.values()):
        raise GateError("no results to judge: run `pytest accuracy` and/or `pytest benchmarks` first "
                        "(they write accuracy.json and speedups.json into the report directory)")
    kept, left_out = _belonging(docs, current)
    if not kept:
        raise GateError("no results of this model and dataset to judge:\n  " + "\n  ".join(left_out))
    accuracy, speedups, ab = kept.get("accuracy.json"), kept.get("speedups.json"), kept.get(AB_FILE)
    rows = dict((accuracy or {}).get("backends") or {})
    not_evaluated = dict((accuracy or {}).get("not_evaluated") or {})
    order = list((accuracy or {}).get("configured_backends") or [])
    speed, speed_failures = _speed_cells(speedups, order)
    gate = (speedups or {}).get("gate") or {}
    for name in [*rows, *not_evaluated, *speed, *(n for n in speed_failures if n != "?")]:
        if name not in order:
            order.append(name)
    task = Task.of(((accuracy or {}).get("model") or {}).get("task", "multi_label"))
    headline = task.headline
    ab_accuracy, ab_speed, ab_failures = _ab_cells(ab) if ab is not None else ({}, {}, {})
    for name in [*ab_accuracy, *ab_speed, *ab_failures]:
        if name not in order:
            order.append(name)

    lines_out: list[tuple[str, ...]] = []
    failed = False
    for name in order:
        row = rows.get(name)
        checks = (row or {}).get("checks") or {}
        bad = [c for c, r in checks.items() if not r["passed"]]
        slow = speed_failures.get(name, [])
        versus = ab_failures.get(name, [])
        if row is None and name in not_evaluated:
            verdict = f"not checked: {not_evaluated[name][:120]}"
            failed = True
        elif bad or slow or versus:
            verdict = "**FAIL** (" + ", ".join([*bad, *(["speed"] if slow else []),
                                                 *(["vs base"] if versus else [])]) + ")"
            failed = True
        elif row is None:
            versus_only = name in ab_accuracy or name in ab_speed
            verdict = "pass (vs base only)" if versus_only else "pass (speed only)"
        elif name == REFERENCE_BACKEND:  # judged against itself: its numbers, no bounds
            verdict = "reference"
        else:
            verdict = "pass"
        keep = checks.get("f1_keep") or checks.get("cosine_mean")
        f1 = _bounded(keep, ".4f") if keep else (
            f"{row[headline]:.4f}" if row and row.get(headline) is not None else "")
        if row and row.get("f1_delta") is not None:
            f1 = _with_error_bars(row, headline, keep, f1)
        if row and row.get("max_tokens"):  # judged on truncated texts, as is its reference
            f1 += f"; texts cut to {row['max_tokens']} tokens"
        drift = _bounded(checks.get("drift_max"), ".3g")
        if name == REFERENCE_BACKEND and row is not None:  # against itself: its F1, no bounds, no drift
            f1, drift = (f"{row[headline]:.4f}" if row and row.get(headline) is not None else ""), ""
        cells: tuple[str, ...] = (name, verdict, f1, drift, speed.get(name, ""))
        if ab is not None:
            cells += (ab_accuracy.get(name, ""), ab_speed.get(name, ""))
        lines_out.append(cells)
    if gate and not gate.get("passed", True):
        failed = True
    compare = (speedups or {}).get("compare") or {}
    if compare and not compare.get("passed", True):
        failed = True

    title = "FAIL" if failed else "PASS"
    out = [f"## encoder-gate: {title}", ""]
    if accuracy is not None:
        m, d = accuracy["model"], accuracy["dataset"]
        out.append(f"Model `{m['name']}` ({m.get('task', '')}); accuracy on {d['examples']} examples of "
                   f"`{d['source']}` against the torch FP32 reference.")
        if accuracy.get("labelled") is False:
            out.append("F1 skipped: there are no gold labels (unlabelled --gate-texts); every parity "
                       "check ran.")
    else:
        model = ((speedups or ab or {}).get("provenance") or {}).get("model") or {}
        out.append(f"Model `{model.get('name')}`; no accuracy results of it in this report directory "
                   "(run `pytest accuracy`).")
    if speedups is None and ab is None:
        out.append("No benchmark results in this report directory (run `pytest benchmarks`).")
    elif speedups is None:
        out.append("Speed is judged against the base (below); no speedup over torch eager was measured "
                   "(`pytest benchmarks` without --gate-base measures it).")
    elif gate:
        out.append(f"Speed: each backend's speedup over torch eager against `{gate['baseline']}` "
                   f"(a drop over {gate['max_drop']:.0%} fails"
                   + (f" when significant, p < {gate['alpha']:g})." if gate.get("alpha") else ")."))
    elif ab is None:
        out.append("Speed: no baseline to compare with (run `pytest benchmarks --benchmark-autosave` on "
                   "the base first, then `--benchmark-compare` on the PR).")
    if ab is not None:
        s = ab.get("settings") or {}
        clocks = sorted({c["clock"] for c in ab.get("speed") or [] if c["status"] != "unchanged"})
        timing = f"{', '.join(clocks)} clock" if clocks else "no cell timed"
        out.append(f"Against the base (`{(ab.get('base') or {}).get('dir')}`), in this session on the same "
                   f"texts: {task.headline_name} change with its 95% CI; speed as PR/base time, the median "
                   f"per-round ratio with its 95% CI ({timing}; a cell fails when "
                   f"significantly slower, Holm across cells, by at least "
                   f"{s.get('min_effect', 0):.0%}; a backend whose artifact the PR did not change "
                   "is unchanged, not timed).")
        env = ab.get("environment") or {}
        if env:
            out.append("Both sides ran in one environment, the PR's: "
                       + ", ".join(f"{k} {v}" for k, v in env.items()) + ".")
        out += [f"- {n}" for n in ab.get("notes") or []]
    out += [f"- {n}" for n in left_out]
    out += [f"- {n}" for n in truncation_notes(rows)]
    columns: tuple[str, ...] = ("backend", "verdict", task.headline_name, "drift max",
                                "speedup vs torch eager")
    if ab is not None:
        columns += (f"{task.headline_name} vs base", "speed vs base")
    out += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines_out]
    problems = [line for lines in speed_failures.values() for line in lines]
    problems += [f"{name}: {line}" for name, lines in ab_failures.items() for line in lines]
    for name, row in rows.items():
        for check, r in ((row or {}).get("checks") or {}).items():
            if not r["passed"]:
                problems.append(f"{name}: {check} = {r['observed']:.6g}, bound {r['direction']} "
                                f"{r['bound']:.6g}" + _failing_labels(row if check == "per_label" else {}))
    if problems:
        out += ["", "Failures:", *[f"- {p}" for p in problems]]
    warnings = [*(gate.get("warnings") or []),
                *(f"{name}: {row['underpowered']}" for name, row in rows.items()
                  if (row or {}).get("underpowered"))]
    if warnings:
        out += ["", "Warnings:", *[f"- {w}" for w in warnings]]
    sources = ", ".join(f"{name} ({(doc.get('provenance') or {}).get('written', '?')})"
                        for name, doc in kept.items())
    missing = [name for name in ("accuracy.json", "speedups.json") if docs[name] is None]
    out += ["", f"_Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')} from {sources}"
                + (f"; {' and '.join(missing)} missing" if missing else "") + "._", ""]
    return Verdict(passed=not failed, header=columns, rows=tuple(lines_out), markdown="\n".join(out))


def write_verdict(report_dir: Path, current: Mapping[str, Any] | None = None) -> str:
    """Render the verdict from ``report_dir``'s results files that belong to `current` (see
    :func:`render_verdict`), write ``verdict.md`` there, and return the markdown."""
    return _write(Path(report_dir), current).markdown


def _write(report_dir: Path, current: Mapping[str, Any] | None) -> Verdict:
    verdict = build_verdict(_read(report_dir / "accuracy.json"), _read(report_dir / "speedups.json"),
                            _read(report_dir / AB_FILE), current)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / VERDICT_FILE).write_text(verdict.markdown)
    return verdict


def refresh_verdict(report_dir: Path, progress: Callable[[str], None],
                    current: Mapping[str, Any] | None = None) -> Verdict | None:
    """Rewrite verdict.md at the end of the session whose provenance is `current`, and return it;
    an unreadable results file is reported, not raised (None)."""
    try:
        verdict = _write(Path(report_dir), current)
    except GateError as exc:
        progress(f"verdict not written: {exc}")
        return None
    progress(f"verdict: {Path(report_dir) / VERDICT_FILE}")
    return verdict


def terminal_rows(verdict: Verdict) -> list[tuple[str, bool]]:
    """The verdict table for a terminal: (line, failed) per row, columns aligned, no markdown."""
    def plain(cell: str) -> str:
        return cell.replace("**", "")

    rows = [tuple(plain(c) for c in row) for row in verdict.rows]
    kept = [i for i in range(len(verdict.header)) if i < 2 or any(row[i] for row in rows)]
    table = [tuple(verdict.header[i] for i in kept), *(tuple(row[i] for i in kept) for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(kept))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return [(lines[0], False), *((line, row[1].startswith("FAIL") or row[1].startswith("not checked"))
                                 for line, row in zip(lines[1:], rows, strict=True))]
