"""The verdict a person reads at a glance: per backend, pass or fail, with the numbers.

Rendered from the :class:`~encoder_gate.decision.Verdict` that :mod:`encoder_gate.decision` decides
from the files the gate's sessions write into the report directory, ``accuracy.json``
(``pytest accuracy``), ``speedups.json`` (``pytest benchmarks``) and ``ab.json`` (``--gate-base``),
so it can be written after either session and again after both (``encoder-gate verdict``). The
decision joins only files of one model and dataset (their provenance,
:mod:`encoder_gate.runtime.provenance`), and the rendering says which it left out and why. This
module decides nothing: every pass, fail and reason comes from the Verdict; the numbers beside them
from the documents it judged.
Written to ``<report-dir>/verdict.md``, with the decided verdict as ``verdict.json`` beside it; a CI
step appends verdict.md to ``$GITHUB_STEP_SUMMARY`` (or posts it as a PR comment on any other CI
system).

    | backend | verdict | micro F1 | drift max | speedup vs torch eager |
    | onnx-int8 | pass | 0.7052 (>= 0.7034) | 0.291 (<= 0.6) | bs1 3.03x (base 2.98x) |
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from encoder_gate.accuracy.ranking import MRR_RANKING, NDCG_RANKING, RANKINGS, Ranking
from encoder_gate.backends.int8_path import cpu_path_short
from encoder_gate.backends.registry import REFERENCE_BACKEND, split_integer_path
from encoder_gate.decision.types import WAIVER, BackendVerdict, Finding, Status, Verdict
from encoder_gate.documents import (
    AB_FILE,
    ACCURACY_FILE,
    DOCUMENTS,
    FINDINGS_FILE,
    SPEEDUPS_FILE,
    readings,
)
from encoder_gate.reporting.ab import (
    BY_BASE_CRITERIA,
    CRITERIA_CHANGED,
    against_base_warnings,
    criteria_changed,
    drift_grown,
    outputs_moved,
)
from encoder_gate.reporting.accuracy import (
    MODEL_NOTES,
    ROW_WARNINGS,
    dataset_notes,
    label_coverage_note,
    limit_note,
    truncation_notes,
)
from encoder_gate.reporting.integer_paths import integer_path_notes, path_disagreement, unjudged_paths
from encoder_gate.reporting.markdown import markdown_cell, markdown_line
from encoder_gate.reporting.session_notes import (
    cache_notes,
    commits_note,
    device_notes,
    explored_notes,
    not_judged_notes,
    padding_notes,
    selection_note,
    session_device,
    shard_note,
)
from encoder_gate.speed.contention import contention_said
from encoder_gate.speed.machine import other_stack, oversubscribed
from encoder_gate.speed.results import by_case
from encoder_gate.speed.rounds import texts_said
from encoder_gate.tasks import task_of_document

if TYPE_CHECKING:
    from encoder_gate.waivers import Waiver


def _bounded(check: Mapping[str, Any] | None, fmt: str) -> str:
    if not check:
        return ""
    sign = ">=" if check["direction"] == "at least" else "<="
    mark = "" if check["passed"] else " **fail**"
    return f"{format(check['observed'], fmt)} ({sign} {format(check['bound'], fmt)}){mark}"


def _with_error_bars(row: Mapping[str, Any], headline: str, keep: Mapping[str, Any] | None, cell: str) -> str:
    """The F1 cell with the change's 95% CI; under a CI rule the value and the CI end it judged."""
    low, high = row.get("f1_delta_ci") or (None, None)
    change = f"change {row['f1_delta']:+.4f} [{low:+.4f}, {high:+.4f}]" if low is not None else ""
    rule = row.get("f1_rule", "point")
    if rule == "point" or not keep:
        return f"{cell}; {change}" if change else cell
    mark = "" if keep["passed"] else " **fail**"
    end = "CI high >=" if rule == "regression" else "CI low >"  # what passes
    return f"{row[headline]:.4f}; {change} ({rule} rule: passes at {end} -{row['f1_margin']:g}){mark}"


def _mrr_cell(row: Mapping[str, Any] | None, reference: bool) -> str:
    """A reranker's MRR@10 (accuracy.ranking); on unlabelled pairs how many queries keep torch's top
    passage, said and not judged; empty where the row ranks nothing."""
    if row is not None and row.get(MRR_RANKING.key) is None:
        kept, queries = row.get("top_passage_kept") or (None, None)
        if kept is None:
            return ""
        return f"{queries} queries" if reference else f"top passage kept in {kept} of {queries} (not judged)"
    return _ranked_cell(row, reference, MRR_RANKING)


def _ranked_cell(row: Mapping[str, Any] | None, reference: bool, ranking: Ranking) -> str:
    """A reranker's measure of its order (MRR@10, NDCG@10 on graded relevance), with its change's 95% CI
    and its check's outcome; empty where the row ranks nothing."""
    if row is None or row.get(ranking.key) is None:
        return ""
    if reference:
        return f"{row[ranking.key]:.4f} over {row[ranking.count]} queries"
    low, high = row[f"{ranking.key}_delta_ci"]
    check = (row.get("checks") or {}).get(ranking.check)
    failed = check is not None and not check["passed"]
    return f"{row[ranking.key]:.4f}; change {row[f'{ranking.key}_delta']:+.4f} [{low:+.4f}, {high:+.4f}]" + (
        " **fail**" if failed else "")


def _case_label(case: str, cases: list[str]) -> str:
    """``bs8`` when every case differs only in batch size (the gate sweep), else the whole case id."""
    parts = [c.split("/") for c in cases]
    if all(len(p) == 4 for p in parts) and len({(p[0], p[1], p[3]) for p in parts}) == 1:
        return case.split("/")[2]
    return case


def _speed_cells(speedups: Mapping[str, Any] | None) -> dict[str, str]:
    """Per backend: the speedup cell (each case's speedup, with its baseline's where compared)."""
    if not speedups:
        return {}
    compared = (speedups.get("gate") or {}).get("compared") or {}
    table = speedups.get("speedups") or {}
    cells: dict[str, list[str]] = {}
    for case, row in by_case(table):
        label = _case_label(case, list(table))
        for backend, value in row.items():
            base = (compared.get(case) or {}).get(backend)
            text = f"{label} {value:.2f}x" + (f" (base {base['baseline']:.2f}x)" if base else "")
            cells.setdefault(backend, []).append(text)
    cut = {b: e["max_tokens"] for row in (speedups.get("stats") or {}).values()
           for b, e in (row or {}).items() if (e or {}).get("max_tokens")}
    return {b: "; ".join(v) + (f" (texts cut to {cut[b]} tokens, torch's too)" if b in cut else "")
            for b, v in cells.items()}


def _measured(speedups: Mapping[str, Any] | None, ab: Mapping[str, Any] | None) -> list[str]:
    """How each speed cell was measured, one line each: its figure with its 95% CI, rounds, texts,
    clock and CI half-width, and a precision target it missed (speedups.json's stats, ab.json's cells)."""
    lines = []
    for case, row in by_case((speedups or {}).get("stats") or {}):
        for backend, e in sorted((row or {}).items()):
            ci = e.get("ci")
            text = f"{backend} {case}: {e['speedup']:.2f}x" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
            text += f", {e['rounds']} rounds"
            if e.get("texts"):
                text += f" over {texts_said(e['texts'])}"
                if e.get("max_tokens"):  # a file of a static sequence length: both arms
                    text += f" cut to {e['max_tokens']} tokens"
            text += f", {e.get('clock', 'wall')} clock"
            if e.get("ci_half_width") is not None:
                text += f", CI ±{e['ci_half_width']:.1%}"
            if e.get("note"):  # too few rounds for its CI: the terminal said it, so does the page (walk AG)
                text += f" ({e['note']})"
            text += contention_said(e)
            if e.get("rounds_needed"):
                cut = " (its budget share ran out)" if e.get("budget_cut") else ""
                text += (f"; target ±{e['ci_target']:.1%} not reached{cut}: about {e['rounds_needed']} "
                         "rounds would reach it")
            lines.append(text)
    for c in (ab or {}).get("speed") or []:
        if c.get("status") != "unchanged" and c.get("describe"):
            how = ", ".join(x for x in (f"over {texts_said(c['texts'])}" if c.get("texts") else "",
                                        f"{c['clock']} clock" if c.get("clock") else "",
                                        "sessions opened afresh each round"
                                        if (c.get("cell") or {}).get("reopened") else "") if x)
            lines.append(f"{c['backend']} {c['case']} vs base: {c['describe']}" + (f", {how}" if how else "")
                         + contention_said(c.get("cell") or {}))
    return lines


#: A "vs base" cell of a backend ab.json holds nothing of: new in the PR, or not in that session.
NOT_COMPARED = "not compared"


def _ab_cells(ab: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(accuracy vs base, speed vs base) per backend, from an ab.json document."""
    acc: dict[str, str] = {}
    for name, a in (ab.get("accuracy") or {}).items():
        if a.get("delta") is None and a.get("passed") is False:  # refused, no figure (labels differ)
            acc[name] = f"**FAIL** ({'; '.join(a.get('failed_by') or ['not compared'])})"
        if a.get("delta") is not None:
            low, high = a["delta_ci"]
            by = f" ({'; '.join(a['failed_by'])})" if a.get("failed_by") else ""  # a rise of F1 beside FAIL
            verdict = f" **FAIL**{by}" if not a["passed"] else " not judged" if a.get("not_judged") else ""
            ranked = a.get("ranking") or {}  # a reranker's order too (accuracy.ranking)
            order = "".join(f"; {r.name} {ranked[f'{r.key}_delta']:+.4f} [{r_low:+.4f}, {r_high:+.4f}]"
                            for r in RANKINGS if ranked.get(f"{r.key}_delta") is not None
                            for r_low, r_high in [ranked[f"{r.key}_delta_ci"]])  # (not the F1's low, high)
            acc[name] = f"{a['delta']:+.4f} [{low:+.4f}, {high:+.4f}]{order}{verdict}"
    speed: dict[str, list[str]] = {}
    for c in ab.get("speed") or []:
        low, high = c["ratio_ci"]
        case = c["case"].split("/")[2] if c["case"].count("/") >= 2 else c["case"]
        if c["status"] == "unchanged":
            speed.setdefault(c["backend"], []).append(f"{case} unchanged (same artifact, not timed)")
            continue
        word = {"pass": "", "fail": " **FAIL**", "inconclusive": " inconclusive"}[c["status"]]
        speed.setdefault(c["backend"], []).append(f"{case} {c['ratio']:.3f}x [{low:.3f}, {high:.3f}]{word}")
    return acc, {b: "; ".join(v) for b, v in speed.items()}


def _fails_where(name: str, row: Mapping[str, Any], rows: Mapping[str, Any]) -> str:
    """Where an INT8 row's failure holds: on its path's CPUs, or on every CPU when the file fails on
    both paths."""
    base = split_integer_path(name)[0]
    paths = [r for n, r in rows.items() if split_integer_path(n)[0] == base and (r or {}).get("integer_path")]
    if len(paths) > 1 and all(r.get("verdict") == "fail" for r in paths):
        return "fails on both integer paths: every CPU"
    return f"fails on {cpu_path_short(row['integer_path'])} ({row['integer_path']} path)"


def _head(text: str) -> str:
    """A reason up to its first colon outside parentheses: "the session stopped before 20 of its 46
    tests ran (pytest: stopping after 1 failures)", not "... (pytest"."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ":" and depth == 0:
            return text[:i]
    return text


def failed_at_a_glance(verdict: Verdict, most: int = 6) -> str | None:
    """One line under a FAIL's title: what failed, by backend (its checks, a test of it outside
    them) and then the session's own (a speed gate as a whole, a collection error); the reasons
    with their numbers follow below the table."""
    if verdict.passed:
        return None
    parts = [f"{b.name} ({', '.join(b.standing)})" for b in verdict.backends
             if b.status in (Status.FAIL, Status.NOT_CHECKED)]
    parts += [f"{f.backend} ({_test_name(f)})" if f.backend else
              _head(f.nodeid or f.reason) for f in verdict.outside_the_checks]
    named = {check for b in verdict.backends for check in b.failed}  # a backend's: said with it
    # a backend's failure is said with it; an expired waiver is the session's, whatever its rows say
    expired = {r.text for r in verdict.failures if r.check == WAIVER}
    owned = {r.text for r in verdict.failures} - expired
    parts += [s.split(":", 1)[0] if s.startswith("speed:") else _head(s) if s in expired else s[:80]
              for s in verdict.session_failures if s not in owned and s.split(":", 1)[0] not in named]
    parts = list(dict.fromkeys(parts))
    if not parts:
        return None
    shown = "; ".join(parts[:most]) + (f"; and {len(parts) - most} more" if len(parts) > most else "")
    return f"**Failed:** {shown}. Why, with the numbers: below the table."


def _row_warnings(rows: Mapping[str, Any], ab: Mapping[str, Any] | None) -> list[str]:
    """The rows' warnings (`ROW_WARNINGS`) and ab.json's underpowered ones, each text once with the
    backends it holds for (one set of texts: the backends that decide alike share it). A row whose
    accuracy failed has no underpowered warning: "a pass here does not rule out a drop" is of a
    pass (a backend failing on its speed alone keeps it: its accuracy passed)."""
    by: dict[str, list[str]] = {}
    for name, row in rows.items():
        for key in ROW_WARNINGS:
            if (row or {}).get(key) and not (key == "underpowered" and row.get("verdict") == "fail"):
                by.setdefault(str(row[key]), []).append(name)
    # against the base: an F1 that could not fail (no pass to warn of), else an underpowered pass
    return ([f"{', '.join(names)}: {text}" for text, names in by.items()]
            + against_base_warnings((ab or {}).get("accuracy") or {}, ("not_judged", "underpowered"))
            + against_base_warnings((ab or {}).get("accuracy") or {}, ("rare_labels_lost",)))


def _waived_by(w: Waiver, today: date) -> str:
    return (f"  - waived by {w.owner} until {w.until} ({w.time_left(today)}): {w.reason}"
            + (f"; accepted up to {w.accept:g}" if w.accept is not None else ""))


def _test_name(f: Finding) -> str:
    """A failed test as a reader names it: its function and parameters, not its file."""
    return (f.nodeid or f.reason).rsplit("::", 1)[-1]


def _row_word(b: BackendVerdict, verdict: Verdict, most: int = 3) -> str:
    """The verdict cell of a backend's row: its status, and a fail where a test of it outside the
    checks failed (a team's test, a padding property) though its checks pass: the row says so at a
    glance, naming `most` of those tests and counting the rest (each is listed below the table: a
    backend whose every test errored named 21 in its cell, a row of 1,000 characters)."""
    tests = [_test_name(f) for f in verdict.failed_tests(b.name)]
    word = _word(b, verdict.decided_on)
    if b.status is Status.NOT_RUN and verdict.selections:  # -k onnx-fp32: the reference's own tests
        word = "not run (none of its checks' tests was selected)"
    if not tests:
        return word
    named = ", ".join(tests[:most]) + (f" and {len(tests) - most} more" if len(tests) > most else "")
    return f"**FAIL** ({named} failed, below; its checks: {word})"


#: The longest error a not-checked backend's table cell says itself; a longer one is said in full under
#: the table, among the failures.
NOT_CHECKED_CELL = 60


def said_below(verdict: Verdict) -> list[str]:
    """Why each backend not checked was not, where its table cell is too short to say it (a terminal
    prints these under its table; verdict.md lists them among the failures)."""
    return [r.text for b in verdict.backends
            if b.status is Status.NOT_CHECKED and len(b.error) > NOT_CHECKED_CELL for r in b.reasons]


def _word(b: BackendVerdict, today: date) -> str:
    """A backend's status as its table cell."""
    if b.status is Status.NOT_CHECKED:  # a long error (a stale file's: 300 characters) widened every row
        return f"not checked: {b.error}" if len(b.error) <= NOT_CHECKED_CELL else "not checked (why: below)"
    if b.status is Status.FAIL:
        waived = [c for c in b.failed if c not in b.standing]  # beside the failures no live waiver accepts
        return "**FAIL** (" + ", ".join(b.standing) + (f"; waived: {', '.join(waived)}" if waived else "") \
            + ")"
    if b.status is Status.INCONCLUSIVE:
        return "inconclusive (speed vs base)"
    if b.status is Status.NOT_RUN:
        return "not run (no results of it in this report directory)"
    if b.status is Status.WAIVED:
        by: dict[tuple[str, str], list[str]] = {}  # one owner's waivers ending the same day: one group
        for w in b.waivers:
            by.setdefault((w.owner, w.time_left(today)), []).append(w.check)
        return "waived (" + "; ".join(f"{', '.join(dict.fromkeys(checks))} by {owner}, {left}"
                                      for (owner, left), checks in by.items()) + ")"
    return f"{b.status.value} ({b.scope})" if b.scope else b.status.value


@dataclass(frozen=True)
class VerdictReport:
    """The verdict rendered: the decided :class:`~encoder_gate.decision.Verdict`, its markdown, and
    the table's header and rows for a terminal."""

    verdict: Verdict
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # one per backend: name, verdict, then the header's columns
    markdown: str
    caveats: tuple[str, ...] = ()  # what a reader of the table must know of what it does not cover

    @property
    def passed(self) -> bool:
        return self.verdict.passed


def render(verdict: Verdict) -> VerdictReport:
    """The verdict's markdown and terminal table, with the numbers of the documents it judged."""
    kept = verdict.judged
    if not kept and not verdict.backends:  # judged on nothing (a refused merge): why, and no table
        # a failure of several lines (a refused merge's: a shard's reason each) as nested items, not joined
        why = [line for s in ([f.describe() for f in verdict.findings] or verdict.session_failures)
               for i, part in enumerate(s.splitlines()) if part.strip()
               for line in [f"- {part.rstrip()}" if i == 0 else f"  - {part.strip()}"]]
        text = "\n".join(map(markdown_line, ["## encoder-gate: FAIL", "", "Nothing was judged:", *why, ""]))
        return VerdictReport(verdict=verdict, header=("backend", "verdict"), rows=(), markdown=text)
    accuracy, speedups, ab = kept.get(ACCURACY_FILE), kept.get(SPEEDUPS_FILE), kept.get(AB_FILE)
    rows = dict((accuracy or {}).get("backends") or {})
    speed = _speed_cells(speedups)
    gate = (speedups or {}).get("gate") or {}
    task = task_of_document(accuracy)
    headline = task.headline
    ab_accuracy, ab_speed = _ab_cells(ab) if ab is not None else ({}, {})

    lines_out: list[tuple[str, ...]] = []
    session = session_device(accuracy, speedups)
    ranked = any(row.get("mrr") is not None or row.get("top_passage_kept") for row in rows.values())
    graded = any(row.get(NDCG_RANKING.key) is not None for row in rows.values())  # (relevant-grade)
    for backend in verdict.backends:
        name = backend.name
        row = rows.get(name)
        checks = (row or {}).get("checks") or {}
        keep = checks.get("f1_keep") or checks.get("cosine_mean")
        f1 = _bounded(keep, ".4f") if keep else (
            f"{row[headline]:.4f}" if row and row.get(headline) is not None else "")
        if row and row.get("f1_delta") is not None:
            f1 = _with_error_bars(row, headline, keep, f1)
        if row and row.get("max_tokens"):  # judged on truncated texts, as is its reference
            f1 += f"; texts cut to {row['max_tokens']} tokens"
        if row and row.get("can_saturate") and row.get("verdict") == "fail":  # where the failure holds
            f1 += "; " + _fails_where(name, row, rows)
        drift = _bounded(checks.get("drift_max"), ".3g")
        if name == REFERENCE_BACKEND and row is not None:  # against itself: its F1, no bounds, no drift
            f1, drift = (f"{row[headline]:.4f}" if row and row.get(headline) is not None else ""), ""
        shown = f"{name} (on {backend.device})" if backend.computed_elsewhere(session) else name
        cells: tuple[str, ...] = (shown, _row_word(backend, verdict), f1,
                                  *((_mrr_cell(row, name == REFERENCE_BACKEND),) if ranked else ()),
                                  *((_ranked_cell(row, name == REFERENCE_BACKEND, NDCG_RANKING),)
                                    if graded else ()), drift,
                                  speed.get(name, ""))
        if ab is not None:
            cells += (ab_accuracy.get(name, NOT_COMPARED), ab_speed.get(name, NOT_COMPARED))
        lines_out.append(cells)

    accepted = sum(b.status is Status.WAIVED for b in verdict.backends)  # in the title, not a row alone
    title = ("PASS" + (f" ({accepted} waived)" if accepted else "")) if verdict.passed else "FAIL"
    out = [f"## encoder-gate: {title}", ""]
    shard, selection = shard_note(kept), selection_note(verdict.selections, verdict.sources)
    out += [line for note in (shard, selection, commits_note(kept)) if note for line in (note, "")]
    glance = failed_at_a_glance(verdict)
    if glance:
        out += [glance, ""]
    changed, by_base = criteria_changed(verdict)
    if changed:  # a PR that passes by bounds it loosened itself: said at the top, not among the notes
        out += [CRITERIA_CHANGED + ":", *[f"- {c}" for c in changed], ""]
    if by_base:
        out += [f"**{BY_BASE_CRITERIA}:**", *[f"- {c}" for c in by_base], ""]
    if accuracy is not None:
        m, d = accuracy["model"], accuracy["dataset"]
        out.append(f"Model `{m['name']}` ({m.get('task', '')}); accuracy on {d['examples']} examples of "
                   f"`{d['source']}` against the torch FP32 reference.")
        if accuracy.get("labelled") is False:
            out.append("F1 skipped: there are no gold labels (unlabelled --gate-texts); every parity "
                       "check ran.")
    else:
        model = ((speedups or ab or kept.get(FINDINGS_FILE) or {}).get("provenance") or {}).get("model") or {}
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
        out.append("Speed: each speedup over torch eager is reported, compared with no earlier run (a pull "
                   "request is judged against its base with --gate-base; a saved run compares with "
                   "`--benchmark-compare`, a history with `encoder-gate history check`).")
    if ab is not None:
        s = ab.get("settings") or {}
        clocks = sorted({c["clock"] for c in ab.get("speed") or [] if c["status"] != "unchanged"})
        timing = f"{', '.join(clocks)} clock" if clocks else "no cell timed"
        based = ab.get("base") or {}
        at = f", commit {str(based['commit'])[:12]}" if based.get("commit") else ""
        out.append(f"Against the base (`{based.get('dir')}`{at}), the PR and its base run in one session on "
                   f"the same texts: {task.headline_name} change with its 95% CI; speed as PR/base time, the "
                   f"median per-round ratio with its 95% CI ({timing}; a cell fails when "
                   f"significantly slower, Holm across cells, by at least "
                   f"{s.get('min_effect', 0):.0%}; a backend whose artifact the PR did not change "
                   "is unchanged, not timed).")
        env = ab.get("environment") or {}
        if env:
            out.append("Both sides ran in one environment, the PR's: "
                       + ", ".join(f"{k} {v}" for k, v in env.items()) + ".")
        out += [f"- {n}" for n in ab.get("notes") or []]
        moved = [f"{n}: {outputs_moved(a['outputs'])}" for n, a in (ab.get("accuracy") or {}).items()
                 if a.get("outputs")]
        if moved:
            out.append("- On the same texts (said, not judged: the F1 rule decides) " + "; ".join(moved)
                       + ".")
        grown = [f"{n}: {drift_grown(a['drift_growth'])}" for n, a in (ab.get("accuracy") or {}).items()
                 if a.get("drift_growth")]
        if grown:
            out.append("- Each side's drift from its own torch (judged, docs/checks.md#drift-from-its-own-"
                       "torch-against-the-base) "
                       + "; ".join(grown) + ".")
        cached = [n for n, a in (ab.get("accuracy") or {}).items() if a.get("base_predictions") == "cache"]
        if cached:
            out.append(f"- The base's predictions of {', '.join(cached)} were read from the artifact "
                       "cache: an earlier session computed them from the base's artifacts on these texts.")
    out += [f"- {n}" for n in verdict.left_out]
    out += [f"- {n}" for n in explored_notes(verdict.explored)]
    model_notes = [n for key in MODEL_NOTES if (n := ((accuracy or {}).get("model") or {}).get(key))]
    out += [f"- {n}" for n in model_notes]
    cut = [*limit_note((accuracy or {}).get("dataset"),
                       (((accuracy or {}).get("provenance") or {}).get("dataset") or {}).get("limit")),
           *dataset_notes((accuracy or {}).get("dataset"), (accuracy or {}).get("labelled") is not False)]
    unjudged = [*not_judged_notes(rows), *filter(None, [label_coverage_note(rows)])]
    out += [f"- {n}" for n in (*cut, *truncation_notes(rows), *unjudged)]
    order = [REFERENCE_BACKEND, *(b.name for b in verdict.backends)]
    out += [f"- {n}" for n in (*padding_notes(accuracy, order), *cache_notes(accuracy, order))]
    out += [f"- {n}" for n in (*device_notes(verdict.backends, session), *integer_path_notes(accuracy))]
    ranking = MRR_RANKING.name if any(row.get("mrr") is not None for row in rows.values()) else "order"
    columns: tuple[str, ...] = ("backend", "verdict", task.headline_name, *((ranking,) if ranked else ()),
                                *((NDCG_RANKING.name,) if graded else ()), "drift max",
                                "speedup vs torch eager")
    if ab is not None:
        columns += (f"{task.headline_name} vs base", "speed vs base")
    if lines_out:  # no row (nothing was evaluated): no table, the lines below say why
        out += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        # a "|" inside a cell (an error's text) would end it: escaped, as GitHub's tables read it
        out += ["| " + " | ".join(map(markdown_cell, cells)) + " |" for cells in lines_out]
    problems = [r.text for r in verdict.failures]
    if problems:
        out += ["", "Failures:", *[f"- {p}" for p in problems]]
    waived = [b for b in verdict.backends if b.status is Status.WAIVED]
    if waived:
        today = verdict.decided_on
        out += ["", "Waived (accepted, known failures: each passes until its waiver ends):"]
        for b in waived:  # each failure, its waiver under it (a list of all of them nested under the last)
            checks = {r.check for r in b.reasons}
            for r in b.reasons:
                out += [f"- {r.text}", *(_waived_by(w, today) for w in b.waivers if w.check == r.check)]
            out += [_waived_by(w, today) for w in b.waivers if w.check not in checks]
    if verdict.stale_waivers:
        out += ["", "Stale waivers:", *[f"- {s}" for s in verdict.stale_waivers]]
    outside = verdict.outside_the_checks
    if outside:
        out += ["", "Failed outside the checks (each fails the verdict):",
                *[f"- {f.describe()}" for f in outside]]
    out += _their_sections(kept)
    measured = _measured(speedups, ab)
    if measured:
        out += ["", "Speed cells (paired interleaved rounds; the 95% CI of each figure):",
                *[f"- {m}" for m in measured]]
    # its runner's fingerprint, and a merge's each shard's
    runners = [(speedups or {}).get("fingerprint"), *((speedups or {}).get("fingerprints") or [])]
    said = next((note for fp in runners if (note := oversubscribed(fp))), None)
    crowded = [f"speedups.json: {said}"] if said else []
    warnings = [*(gate.get("warnings") or []), *crowded, *other_stack(accuracy, speedups),
                *_row_warnings(rows, ab),
                *(f"{e.get('backend')} {e.get('case')} vs base: inconclusive, {e.get('describe')}"
                  for e in (ab or {}).get("speed") or [] if e.get("status") == "inconclusive")]
    if warnings:
        out += ["", "Warnings:", *[f"- {w}" for w in warnings]]
    sources = ", ".join(f"{name} ({written})" for name, written in verdict.sources.items())
    missing = verdict.missing
    out += ["", f"_Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')} from {sources}"
                + (f"; {' and '.join(missing)} missing" if missing else "") + "._", ""]
    markdown = "\n".join(map(markdown_line, out))  # a label's or an error's text kept on its line
    return VerdictReport(verdict=verdict, header=columns, rows=tuple(lines_out), markdown=markdown,
                         caveats=(*(note for note in (shard, selection) if note), *model_notes,
                                  *cut, *unjudged,
                                  *crowded,
                                  *verdict.left_out,
                                  *path_disagreement(accuracy), *unjudged_paths(accuracy)))


def _their_sections(kept: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A section for each of the user's results documents the verdict judged: its `holds`, then
    the lines its Reading shows (what it could not show is said, not raised: the verdict is decided)."""
    out: list[str] = []
    for name, reading in readings().items():
        if name not in kept:
            continue
        try:
            lines = [str(line) for line in reading.lines(kept[name])]
        except Exception as exc:  # the user's code: the verdict stands, this section says why it is empty
            lines = [f"(its Reading could not show it: {type(exc).__name__}: {exc})"]
        out += ["", f"{DOCUMENTS[name].holds or name} ({name}):", *[f"- {line}" for line in lines]]
    return out


def terminal_rows(report: VerdictReport) -> list[tuple[str, bool]]:
    """The verdict table for a terminal: (line, failed) per row, columns aligned, no markdown."""
    def plain(cell: str) -> str:
        return cell.replace("**", "")

    rows = [tuple(plain(c) for c in row) for row in report.rows]
    kept = [i for i in range(len(report.header)) if i < 2 or any(row[i] for row in rows)]
    table = [tuple(report.header[i] for i in kept), *(tuple(row[i] for i in kept) for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(kept))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    failing = (Status.FAIL, Status.NOT_CHECKED)
    return [(lines[0], False), *((line, b.status in failing)
                                 for line, b in zip(lines[1:], report.verdict.backends, strict=True))]
