"""The PR against its base at a glance: vs_base.png and its markdown section, from ab.json.

Left, each speed cell's PR/base time ratio with its 95% CI beside the line a cell fails past
(1 + the minimum slowdown); right, each backend's change of the headline metric with its 95%
CI beside zero. Colour says the decision: pass, fail or inconclusive; an unchanged cell (the
same artifact on both sides, not timed) is a grey point at 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from encoder_gate.documents import save_figure

COLOURS = {"pass": "tab:green", "fail": "tab:red", "inconclusive": "tab:orange", "unchanged": "tab:grey"}


def plot_vs_base(ab: Mapping[str, Any], path: Path) -> Path | None:
    """Write the two-panel plot of an ab.json document; None when it holds nothing to draw."""
    speed = list(ab.get("speed") or [])
    accuracy = {n: a for n, a in (ab.get("accuracy") or {}).items() if a.get("delta") is not None}
    if not speed and not accuracy:
        return None
    from matplotlib.figure import Figure

    rows = max(len(speed), len(accuracy), 1)
    fig = Figure(figsize=(12.0, 1.2 + 0.45 * rows), layout="constrained")
    left, right = fig.subplots(1, 2, squeeze=True)
    min_effect = float((ab.get("settings") or {}).get("min_effect", 0.05))
    labels = [f"{c['backend']} {c['case']}" for c in speed]
    for y, c in enumerate(speed):
        low, high = c["ratio_ci"]
        left.errorbar(c["ratio"], y, xerr=[[c["ratio"] - low], [high - c["ratio"]]], fmt="o", capsize=3,
                      color=COLOURS[c["status"]])
    left.axvline(1.0, color="grey", linewidth=1, linestyle=":")
    left.axvline(1.0 + min_effect, color="tab:red", linewidth=1, linestyle="--",
                 label=f"fails past +{min_effect:.0%}")
    left.set_yticks(range(len(speed)), labels, fontsize=8)
    left.set_xlabel("PR / base time (median per-round ratio, 95% CI)")
    left.set_title("Speed against the base", fontsize=10)
    left.legend(fontsize=7)
    names = list(accuracy)
    for y, name in enumerate(names):
        a = accuracy[name]
        low, high = a["delta_ci"]
        right.errorbar(a["delta"], y, xerr=[[a["delta"] - low], [high - a["delta"]]], fmt="o", capsize=3,
                       color=COLOURS["pass" if a["passed"] else "fail"])
    right.axvline(0.0, color="grey", linewidth=1, linestyle=":")
    right.set_yticks(range(len(names)), names, fontsize=8)
    metric = next(iter(accuracy.values()))["metric"] if accuracy else "metric"
    right.set_xlabel(f"{metric} change, PR minus base (95% CI)")
    right.set_title("Accuracy against the base", fontsize=10)
    for ax in (left, right):
        ax.grid(True, axis="x", alpha=0.3)
        ax.invert_yaxis()
    fig.suptitle(f"This PR against its base ({(ab.get('base') or {}).get('dir')})")
    save_figure(fig, path)
    return path


def vs_base_section(ab: Mapping[str, Any], plot: Path | None) -> list[str]:
    """Markdown lines: the speed cells and the accuracy changes against the base, and the plot."""
    lines = ["## This PR against its base", ""]
    speed = list(ab.get("speed") or [])
    if speed:
        lines += ["| backend | case | decision | PR/base [95% CI] | p | rounds x texts | clock |",
                  "|---|---|---|---|---|---|---|"]
        for c in speed:
            low, high = c["ratio_ci"]
            if c["status"] == "unchanged":
                lines.append(f"| {c['backend']} | {c['case']} | unchanged | same artifact, not timed | | | |")
                continue
            lines.append(f"| {c['backend']} | {c['case']} | {c['status']} | {c['ratio']:.3f} [{low:.3f}, "
                         f"{high:.3f}] | {c['p_value']:.2g} | {c['rounds']} x {c['texts']} | {c['clock']} |")
        lines.append("")
    accuracy = {n: a for n, a in (ab.get("accuracy") or {}).items() if a.get("delta") is not None}
    if accuracy:
        lines += ["| backend | metric | PR | base | change [95% CI] | decision |",
                  "|---|---|---|---|---|---|"]
        for name, a in accuracy.items():
            low, high = a["delta_ci"]
            lines.append(f"| {name} | {a['metric']} | {a['pr']:.4f} | {a['base']:.4f} | {a['delta']:+.4f} "
                         f"[{low:+.4f}, {high:+.4f}] | {'pass' if a['passed'] else 'FAIL'} |")
        lines.append("")
    if plot is not None:
        lines += [f"![{plot.stem}]({plot.name})", ""]
    return lines
