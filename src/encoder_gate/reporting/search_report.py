"""The export search in the model card: the candidate table, the winners' reasons, and search.png.

search.png plots each candidate's speedup over torch eager (one marker per batch size, with
its 95% CI) against its F1 change (with its 95% CI); colour says pass or fail, a ring marks
what was shipped. Both render from export.json's `candidates` alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from encoder_gate.documents import save_figure

PLOT_FILE = "search.png"
COLOURS = {"passed": "tab:green", "failed": "tab:red"}
MARKERS = ["o", "s", "^", "D", "v", "P"]


def plot_search(candidates: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Speedup against F1 change, one point per (candidate, batch size); None with nothing timed."""
    timed = [c for c in candidates if c.get("speedup")]
    if not timed:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 6.0), layout="constrained")
    ax = fig.subplots()
    sizes = sorted({int(bs) for c in timed for bs in c["speedup"]})
    for c in timed:
        x = c.get("f1_delta")
        if x is None:
            x = -(c.get("drift_mean") or 0.0)  # no gold labels: parity only, plotted by drift
        low_x, high_x = c.get("f1_delta_ci") or (x, x)
        for k, bs in enumerate(sizes):
            speed = c["speedup"].get(str(bs))
            if speed is None:
                continue
            low, high = c["speedup_ci"][str(bs)]
            ax.errorbar(x, speed, xerr=[[x - low_x], [high_x - x]], yerr=[[speed - low], [high - speed]],
                        fmt=MARKERS[k % len(MARKERS)], color=COLOURS["passed" if c["passed"] else "failed"],
                        capsize=2, markersize=5, alpha=0.8)
            if c.get("shipped"):
                ax.plot(x, speed, "o", markersize=14, markerfacecolor="none", markeredgecolor="black")
        if c.get("shipped") or not c["passed"]:  # two dozen names overlap: these, the rest in the table
            top = max(c["speedup"].values())
            ax.annotate(c["recipe"].removeprefix("onnx-"), (x, top), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    for k, bs in enumerate(sizes):
        ax.plot([], [], MARKERS[k % len(MARKERS)], color="grey", label=f"batch size {bs}")
    for status in ("passed", "failed"):
        if any(c["passed"] == (status == "passed") for c in timed):
            ax.plot([], [], "s", color=COLOURS[status], label=status)
    ax.plot([], [], "o", markersize=12, markerfacecolor="none", markeredgecolor="black", label="shipped")
    ax.axhline(1.0, color="grey", linewidth=1, linestyle=":")
    ax.axvline(0.0, color="grey", linewidth=1, linestyle=":")
    ax.set_xlabel("F1 change against torch FP32 (95% CI)")
    ax.set_ylabel("speedup over torch eager (same-run rounds, 95% CI)")
    ax.set_title("Export search: every candidate (named: the shipped and the failed; all in the card's "
                 "table)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return path


def _ci(values: Sequence[float] | None, spec: str) -> str:
    return "" if not values else f"[{format(values[0], spec)}, {format(values[1], spec)}]"


def search_section(search: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]) -> list[str]:
    """The model card's search section: how it was judged, the table of every candidate, the winners."""
    sizes = [str(bs) for bs in search["batch_sizes"]]
    judged = search["judged_on"]
    lines = [
        "## Recipe search",
        "",
        f"{len(candidates)} candidates, each judged as the accuracy gate judges a backend (drift, F1 change "
        f"with its 95% paired-bootstrap CI, per-label check, the bounds of its number format) on "
        f"{judged['examples']} texts of `{judged['name']}`, and timed against torch eager in "
        f"{search['rounds']} same-run interleaved rounds per batch size ({search['speed_texts']} texts a "
        f"pass, {search['threads'] or 'default'} thread(s), {search['clock']} clock). Static INT8 calibrated "
        f"on {search['calibration'] or 'nothing (no static candidate built)'}. The search took "
        f"{search['seconds'] / 60:.1f} min (estimated {search['estimate_seconds'] / 60:.1f} min).",
        "",
        "| recipe | format | size MB | drift mean | drift max | F1 change [95% CI] "
        "| worst label (F1 ref -> now) | "
        + " | ".join(f"speedup bs{bs} [95% CI]" for bs in sizes) + " | result |",
        "|---|---|---|---|---|---|---|" + "---|" * len(sizes) + "---|",
    ]
    for c in candidates:
        size = "" if c["size_bytes"] is None else f"{c['size_bytes'] / 1e6:.1f}"
        drift_mean = "" if c["drift_mean"] is None else f"{c['drift_mean']:.2e}"
        drift_max = "" if c["drift_max"] is None else f"{c['drift_max']:.2e}"
        f1 = "" if c["f1_delta"] is None else f"{c['f1_delta']:+.4f} {_ci(c['f1_delta_ci'], '+.4f')}"
        w = c.get("worst_label")
        worst = "" if not w else f"{w['label']} ({w['f1_ref']:.3f} -> {w['f1']:.3f}, {w['verdict']})"
        speeds = [f"{c['speedup'][bs]:.2f}x {_ci(c['speedup_ci'][bs], '.2f')}" if bs in c["speedup"] else ""
                  for bs in sizes]
        result = ("**shipped**, " if c["shipped"] else "") + c["status"]
        if c["reasons"]:
            result += ": " + "; ".join(c["reasons"])
        lines.append(f"| {c['recipe']} | {c['format']} | {size} | {drift_mean} | {drift_max} | {f1} "
                     f"| {worst} | " + " | ".join(speeds) + f" | {result} |")
    lines += ["", "Recipes:", ""]
    lines += [f"- `{c['recipe']}`: {c['how']}" for c in candidates]
    lines += ["", "### Why the winners won", ""]
    won = [c for c in candidates if c["shipped"]]
    lines += [f"- `{c['recipe']}` ({c['format']}): {c['won_because']}" for c in won] or ["- nothing passed"]
    if search.get("plot"):
        lines += ["", f"![speedup against F1 change]({search['plot']})"]
    return [*lines, ""]
