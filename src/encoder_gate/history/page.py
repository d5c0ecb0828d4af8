"""The history page: one static, self-contained HTML file (and PNGs of the same plots) from the store.

`encoder-gate history render --store DIR --out SITE` draws the newest record's series over its
commits: per backend the headline metric, its change against torch FP32 with the 95% CI as a
band, and the speedups over torch eager with their CIs; the labels whose F1 moved most; markers
for commits whose gate failed and for changes of machine or library versions (where the speed
line is not comparable); the creep `history check` finds; and a table with every commit's
numbers. The plots are inline SVG, so the page makes no network request and opens from
``file://``; ``SITE/*.png`` are the same plots for places that show no HTML.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from encoder_gate.accuracy.ranking import RANKINGS
from encoder_gate.backends.int8_path import cpu_path_short
from encoder_gate.backends.registry import REFERENCE_BACKEND
from encoder_gate.data.readers import one_file
from encoder_gate.documents import AB_FILE, ACCURACY_FILE, SPEEDUPS_FILE, save_figure, write_page
from encoder_gate.history.creep import Creep, check
from encoder_gate.history.store import on_its_path, other_architecture, same_series, series_said
from encoder_gate.speed.results import by_case, case_order

PAGE = "index.html"
TOP_LABELS = 5  # labels drawn in the "moved most" plot


def _short(sha: str) -> str:
    return sha[:7]


def _machine_changes(line: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of records whose machine fingerprint (CPU, cores, threads, libraries) differs from the
    last record before them that has one: the speed line is not comparable across them. A record of
    accuracy alone has none, and changes nothing (a trial's page marked a change at each)."""
    changes, last = [], None
    for i, record in enumerate(line):
        machine = record.get("machine")
        if machine is not None:
            if last is not None and machine != last:
                changes.append(i)
            last = machine
    return changes


def _architecture_changes(line: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of records whose model is of another architecture than the record before's."""
    return [i for i in range(1, len(line)) if other_architecture(line[i], line[i - 1])]


def _architecture_change(line: Sequence[Mapping[str, Any]], i: int) -> str:
    before, after = line[i - 1].get("architecture"), line[i].get("architecture")
    return f"{before} to {after} at {_short(line[i]['commit'])}"


def _axes_common(ax: Any, line: Sequence[Mapping[str, Any]], changes: Sequence[int]) -> None:
    ax.set_xlim(-0.5, len(line) - 0.5)
    ax.set_xticks(range(len(line)), [_short(r["commit"]) for r in line], rotation=60, fontsize=7)
    for i, r in enumerate(line):
        if not (r.get("verdict") or {}).get("passed", True):
            ax.axvspan(i - 0.4, i + 0.4, color="tab:red", alpha=0.12, linewidth=0)
    for i in changes:
        ax.axvline(i - 0.5, color="tab:purple", linestyle="--", linewidth=1)
    for i in _architecture_changes(line):
        ax.axvline(i - 0.5, color="tab:brown", linestyle=":", linewidth=1.5)
    ax.grid(True, alpha=0.3)


def _mark_creep(ax: Any, x: int, y: float) -> None:
    """Ring a point as creep; the legend names the ring once per panel, however many are ringed."""
    named = any(line.get_label() == "creep" for line in ax.get_lines())
    ax.plot([x], [y], "o", markersize=14, markerfacecolor="none", markeredgecolor="tab:red",
            markeredgewidth=2, label="_nolegend_" if named else "creep")


def _backend_figure(line: Sequence[Mapping[str, Any]], name: str, changes: Sequence[int],
                    creeps: Sequence[Creep]) -> Any:
    """Three panels for one backend: headline metric, its change vs torch with CI, speedups with CI."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.0, 3.6), layout="constrained")
    metric_ax, delta_ax, speed_ax = fig.subplots(1, 3)
    entries = [(i, (r.get("backends") or {}).get(name) or {}) for i, r in enumerate(line)]
    metric = next((e.get("metric") for _, e in entries if e.get("metric")), "metric")
    pts = [(i, e["value"]) for i, e in entries if e.get("value") is not None]
    metric_ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="tab:blue")
    cis = [(i, e["ci"]) for i, e in entries if e.get("value") is not None and e.get("ci")]
    if cis:
        metric_ax.fill_between([c[0] for c in cis], [c[1][0] for c in cis], [c[1][1] for c in cis],
                               color="tab:blue", alpha=0.2, label="95% CI")
        metric_ax.legend(fontsize=7)
    crept = {c.what for c in creeps if c.backend == name}
    if metric in crept and pts:
        _mark_creep(metric_ax, *pts[-1])
    drawn = []  # a reranker's order: MRR@10, and NDCG@10 on graded relevance (accuracy.ranking)
    for ranking, (marker, color) in zip(RANKINGS, (("s--", "tab:purple"), ("^--", "tab:green")), strict=True):
        ranked = [(i, e[ranking.key]) for i, e in entries if e.get(ranking.key) is not None]
        if ranked:
            metric_ax.plot([p[0] for p in ranked], [p[1] for p in ranked], marker, color=color,
                           label=ranking.name)
            metric_ax.legend(fontsize=7)
            drawn.append(ranking.name)
            if ranking.name in crept:
                _mark_creep(metric_ax, *ranked[-1])
    title = f"{name}: {metric}" + "".join(f" and {measure}" for measure in drawn)
    metric_ax.set_title(title + (" (95% CI)" if cis else ""), fontsize=10)
    deltas = [(i, e["delta"], e.get("delta_ci")) for i, e in entries if e.get("delta") is not None]
    if deltas:
        xs = [d[0] for d in deltas]
        delta_ax.plot(xs, [d[1] for d in deltas], "o-", color="tab:blue")
        cis = [(d[0], d[2]) for d in deltas if d[2]]
        delta_ax.fill_between([d[0] for d in cis], [d[1][0] for d in cis], [d[1][1] for d in cis],
                              color="tab:blue", alpha=0.2, label="95% CI")
        delta_ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
        margin = next((e.get("margin") for _, e in entries if e.get("margin")), None)
        if margin:
            delta_ax.axhline(-margin, color="tab:red", linestyle="--", linewidth=1,
                             label=f"-{margin:g} margin")
        delta_ax.legend(fontsize=7)
    else:
        delta_ax.text(0.5, 0.5, "no change against torch FP32 recorded", transform=delta_ax.transAxes,
                      ha="center", color="grey")
    delta_ax.set_title(f"{metric} change vs torch FP32 (95% CI)", fontsize=10)
    cases = sorted({c for _, e in entries for c in e.get("speedups") or {}}, key=case_order)
    for case in cases:
        cells: list[tuple[int, Any]] = [(i, (e.get("speedups") or {})[case]) for i, e in entries
                                        if case in (e.get("speedups") or {})]
        (drawn,) = speed_ax.plot([c[0] for c in cells], [c[1]["speedup"] for c in cells], "o-",
                                 label=case.replace("model/", ""))
        bands = [c for c in cells if c[1].get("ci")]
        if bands:
            speed_ax.fill_between([c[0] for c in bands], [c[1]["ci"][0] for c in bands],
                                  [c[1]["ci"][1] for c in bands], color=drawn.get_color(), alpha=0.15)
        if f"speedup {case}" in crept:
            _mark_creep(speed_ax, cells[-1][0], cells[-1][1]["speedup"])
    if cases:
        speed_ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        speed_ax.legend(fontsize=7)
    else:
        benchmarked = any((e or {}).get("speedups") for r in line for e in (r.get("backends") or {}).values())
        why = ("torch eager is the baseline of the others" if benchmarked and name == REFERENCE_BACKEND else
               "none of this backend in these records" if benchmarked else
               "no record holds `pytest benchmarks` results")
        speed_ax.text(0.5, 0.5, f"no speedup recorded\n({why})", transform=speed_ax.transAxes, ha="center",
                      color="grey")
    speed_ax.set_title("speedup over torch eager (95% CI)", fontsize=10)
    waived = [i for i, e in entries if e.get("waived")]  # passed because a waiver accepted a failure
    for ax in (metric_ax, delta_ax, speed_ax):
        _axes_common(ax, line, changes)
        for i in waived:
            ax.axvspan(i - 0.4, i + 0.4, color="tab:orange", alpha=0.15, linewidth=0)
    return fig


def moved_labels(line: Sequence[Mapping[str, Any]], name: str, top: int = TOP_LABELS) -> list[str]:
    """The labels whose F1 (on backend `name`) spans the widest range over the line."""
    spans: dict[str, list[float]] = {}
    for r in line:
        for label, lab in (((r.get("backends") or {}).get(name) or {}).get("per_label") or {}).items():
            spans.setdefault(label, []).append(float(lab["f1"]))
    ranked = sorted(spans, key=lambda lab: (-(max(spans[lab]) - min(spans[lab])), lab))
    return [lab for lab in ranked[:top] if max(spans[lab]) > min(spans[lab])]


def _labels_figure(line: Sequence[Mapping[str, Any]], name: str, labels: Sequence[str],
                   changes: Sequence[int], creeps: Sequence[Creep]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.0, 3.6), layout="constrained")
    ax = fig.subplots(1, 1)
    for label in labels:
        crept = any(c.backend == name and c.what == f"label {label}" for c in creeps)
        found = [(i, (((r.get("backends") or {}).get(name) or {}).get("per_label") or {}).get(label))
                 for i, r in enumerate(line)]
        pts = [(i, float(p["f1"])) for i, p in found if p]
        # a name starting with "_" is one matplotlib's legend leaves out: a zero-width space before it
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                label=f"\u200b{label}" if label.startswith("_") else label)
        if crept and pts:
            _mark_creep(ax, *pts[-1])
    ax.set_title(f"the labels whose F1 moved most ({name})", fontsize=10)
    ax.legend(fontsize=7)
    _axes_common(ax, line, changes)
    return fig


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: no XML prolog


def _judged_on(record: Mapping[str, Any]) -> str:
    """What a record's gate judged when it is not both sides: " (speed only)" for a report directory
    of benchmarks alone, " (accuracy only)"; "" for both, or a record that does not name its documents."""
    judged = set(record.get("provenance") or {})
    accuracy, speed = ACCURACY_FILE in judged, bool(judged & {SPEEDUPS_FILE, AB_FILE})
    return "" if accuracy == speed else (" (accuracy only)" if accuracy else " (speed only)")


def _table(line: Sequence[Mapping[str, Any]], backends: Sequence[str], creeps: Sequence[Creep]) -> str:
    head = "".join(f"<th>{html.escape(b)}</th>" for b in backends)
    # one content, one architecture: a record written before records kept it reads as the others of its
    # model do ("bert e190c5d4" beside "e190c5d4" had looked like two models)
    known = {str((r.get("model") or {}).get("content_hash")): r["architecture"] for r in line
             if r.get("architecture")}
    rows = []
    for r in reversed(line):
        cells = []
        for b in backends:
            e = (r.get("backends") or {}).get(b) or {}
            parts = []
            if e.get("value") is not None:
                parts.append(f"{e.get('metric')} {e['value']:.4f}")
            if e.get("delta_ci"):
                parts.append(f"change {e['delta']:+.4f} [{e['delta_ci'][0]:+.4f}, {e['delta_ci'][1]:+.4f}]")
            for case, cell in by_case(e.get("speedups") or {}):
                ci = cell.get("ci")
                band = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
                parts.append(f"{html.escape(case)} {cell['speedup']:.2f}x{band}")
            if e.get("status"):
                parts.append(html.escape(str(e["status"])))
            for w in (e.get("waived") or {}).get("waivers") or ():  # who accepted what, until when
                said = f"{w.get('check')} waived by {w.get('owner')} until {w.get('until')}"
                parts.append(html.escape(said))
            cells.append("<td>" + "<br>".join(parts) + "</td>")
        passed = (r.get("verdict") or {}).get("passed", True)
        verdict = ("pass" if passed else "<b class=fail>FAIL</b>") + _judged_on(r)
        content = str((r.get("model") or {}).get("content_hash") or "")
        model = " ".join(str(v) for v in (r.get("architecture") or known.get(content), content[:8]) if v)
        rows.append(f"<tr id=\"c{html.escape(r['commit'])}\"><td title=\"{html.escape(r['commit'])}\">"
                    f"<code>{_short(r['commit'])}</code></td><td>{html.escape(str(r.get('time', '')))}</td>"
                    f"<td>{verdict}</td><td><code>{html.escape(model)}</code></td>{''.join(cells)}</tr>")
    return (f"<table><thead><tr><th>commit</th><th>time</th><th>gate</th><th>model</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def earlier_series(records: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The store's records of every series but the newest record's, a list per series, the series whose
    newest commit is the latest first (each in the store's order)."""
    rest = [r for r in records if r.get("series") != records[-1].get("series")]
    groups: list[list[Mapping[str, Any]]] = []
    for r in reversed(rest):
        mine = next((g for g in groups if g[0].get("series") == r.get("series")), None)
        if mine is None:
            groups.append([r])
        else:
            mine.insert(0, r)
    return groups


def render(records: Sequence[Mapping[str, Any]], out: Path, window: int = 20) -> Path:
    """Write SITE/index.html and one PNG per plot for the newest record's series, and a page of the same
    kind for each earlier series in SITE/series-K/ (a renamed model or an edited evaluation set starts
    one: its commits had been on no page), linked from the first; the first page's path."""
    if not records:
        raise ValueError("no records to draw")
    newest = records[-1]
    line = same_series(records, newest)
    others = len(records) - len(line)
    earlier = []
    for k, group in enumerate(earlier_series(records), start=1):
        render(group, Path(out) / f"series-{k}", window)
        last = group[-1]
        earlier.append(f'<li><a href="series-{k}/{PAGE}">{html.escape(series_said(last))}</a>: {len(group)} '
                       f"commit(s), the newest <code>{_short(last['commit'])}</code> at "
                       f"{html.escape(str(last.get('time')))}</li>")
    changes = _machine_changes(line)
    creeps, notes = check(records, window=window)
    backends = list(newest.get("backends") or {})
    # the table holds every backend a commit of the series gated, one the newest no longer has too
    # (walk AJ: an onnx-int8 gated and removed again was nowhere on the page)
    every = list(dict.fromkeys([*backends, *(b for r in line for b in r.get("backends") or {})]))
    sections = []
    out = Path(out)
    for name in backends:
        path = (newest["backends"][name] or {}).get("integer_path")
        drawn = on_its_path(line, name, path) if path else line
        fig = _backend_figure(drawn, name, _machine_changes(drawn), creeps)
        save_figure(fig, out / f"history_{_file_name(name)}.png")
        where = (f"<p>Computed on the {path} integer path ({html.escape(cpu_path_short(path))}): "
                 f"{len(drawn)} of the {len(line)} record(s) hold this file's result on that path, each "
                 "drawn from the row that holds it</p>") if path and len(drawn) < len(line) else ""
        sections.append(f"<h2>{html.escape(name)}</h2>{where}{_svg(fig)}")
    reference = next((b for b in backends if (newest["backends"][b].get("status") == "reference")),
                     backends[0] if backends else None)
    if reference is not None:
        labels = moved_labels(line, reference)
        if labels:
            fig = _labels_figure(line, reference, labels, changes, creeps)
            save_figure(fig, out / "history_labels.png")
            sections.append(f"<h2>Labels that moved most</h2>{_svg(fig)}")
    series = newest.get("series") or {}
    data = series.get("dataset") or {}
    texts = newest.get("texts")  # judged: fewer than the limit, every text (review AM)
    cut = bool(data.get("limit")) and not (isinstance(texts, int) and texts < int(data["limit"]))
    failing = [_short(r["commit"]) for r in line if not (r.get("verdict") or {}).get("passed", True)]
    moved = _architecture_changes(line)
    split = [] if one_file(str(data.get("source"))) else [("split", data.get("split"))]  # (one file: none)
    read = "".join(f", {what} {html.escape(str(value))}" for what, value in
                   (*split, ("variant", data.get("variant"))) if value is not None)
    creep_items = "".join(f"<li class=fail>{html.escape(c.describe())}</li>" for c in creeps) or \
        ("<li>none: no metric moved beyond its minimum effect across the window"
         + (" (creep is what moves while every step passes; the failed commits are the PR gate's to "
            "judge)" if failing else "") + "</li>")
    legend = ("Red columns: commits whose gate failed"
              + (f" ({', '.join(failing)})" if failing else " (none)")
              + "; orange columns: a backend's commits that passed because a waiver accepted a failed check "
              "(the table below names it)"
              + ". Purple dashed lines: the machine or the library versions changed"
              + (f" before {', '.join(_short(line[i]['commit']) for i in changes)}"
                 if changes else " (never)")
              + "; speed is compared only within one machine. Brown dotted lines: the model's architecture "
              "changed" + (f" ({', '.join(_architecture_change(line, i) for i in moved)})" if moved
                           else " (never)")
              + "; speed is not compared across it either. Speedups are same-run ratios over torch "
              "eager; the creep threshold for speed is the larger of the minimum slowdown and Q3 + 3 IQR "
              "of the store's own step-to-step changes (rustc-perf's rule).")
    # the project's directory too in a repository of several (both projects' models named `model`)
    place = series.get("project")
    whose = f"{place}, model {series.get('model')}" if place else str(series.get("model"))
    project = f"project <code>{html.escape(str(place))}</code>, " if place else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>encoder-gate history: {html.escape(whose)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1400px}}svg{{max-width:100%;height:auto}}
table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}}
.fail{{color:#b00}}</style></head><body>
<h1>encoder-gate history: {project}model <code>{html.escape(str(series.get('model')))}</code></h1>
<p>{len(line)} commit(s) of this series (data <code>{html.escape(str(data.get('source')))}</code>{read}{
f", <b>its first {int(data['limit'])} texts only</b> (--gate-limit)" if cut else ""}){
f"; {others} record(s) of other models or data are in the store, each series drawn on its own page "
"(below)" if others else ""}.
Newest: <code>{_short(newest['commit'])}</code> at {html.escape(str(newest.get('time')))}.</p>
<h2>Creep (window {window})</h2><ul>{creep_items}</ul>
{''.join(f'<p>{html.escape(n)}</p>' for n in notes)}
<p>{html.escape(legend)}</p>
{''.join(sections)}
<h2>Every commit</h2>
{_table(line, every, creeps)}
{f"<h2>Earlier series</h2><ul>{''.join(earlier)}</ul>" if earlier else ""}
</body></html>
"""
    return write_page(out, PAGE, page)


def _file_name(backend: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in backend)
