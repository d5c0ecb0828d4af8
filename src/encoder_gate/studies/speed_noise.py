"""How noisy the speed gates are: false alarms and detection rates, replayed on unchanged runs.

Two gates are replayed on every ordered pair (baseline run, current run) of N saved runs of an
unchanged tree: pytest-benchmark's own ``--benchmark-compare-fail`` (:func:`compare_failures`)
and the speed gate's speed rules (:data:`~encoder_gate.speed.rules.SPEED_RULES`), the point rule
on the speedups alone and every rule on the paired per-round data (:func:`rule_noise`).
``encoder-gate noise`` prints :func:`format_noise` of :func:`speed_gate_noise`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.speed.results import REFERENCE_BACKEND, compute_speedups, latest_results, results_from_json
from encoder_gate.speed.rules import SPEED_RULES, SpeedComparison, compare_one, point_rule_failures
from encoder_gate.speed.settings import DEFAULT_ALPHA

NOISE_SLOWDOWNS = (0.05, 0.10, 0.20)  # the slowdowns `encoder-gate noise` simulates for the rules
NOISE_RULE_DROPS = (0.05, 0.10, 0.15, 0.20)  # the effect sizes it replays the rules at


def compare_failures(baseline: Mapping[str, Any], current: Mapping[str, Any], stat: str,
                     percent: float, slowdown: Mapping[str, float] | None = None) -> list[str]:
    """What ``--benchmark-compare-fail=<stat>:<percent>%`` would fail: the benchmarks (by
    name) whose ``stat`` grew by more than ``percent`` over the baseline document.
    ``slowdown`` multiplies the current times of the named benchmarks (a simulated regression)."""
    base = {b["name"]: b["stats"][stat] for b in baseline.get("benchmarks", [])
            if stat in (b.get("stats") or {})}
    failed = []
    for bench_doc in current.get("benchmarks", []):
        name, now = bench_doc["name"], (bench_doc.get("stats") or {}).get(stat)
        if name in base and now is not None:
            now *= (slowdown or {}).get(name, 1.0)
            if now > base[name] * (1 + percent / 100):
                failed.append(name)
    return failed


@dataclass(frozen=True)
class NoiseRow:
    """One gate setting over every (baseline run, current run) pair of unchanged runs."""

    gate: str  # "compare" or "speedup"
    setting: str  # e.g. "min:25%" or "max drop 15%"
    pairs: int
    false_failures: int  # pairs of unchanged runs that failed
    caught: int  # simulated regressions that failed
    simulated: int  # simulated regressions tried

    @property
    def false_failure_rate(self) -> float:
        return self.false_failures / self.pairs if self.pairs else 0.0

    @property
    def detection_rate(self) -> float:
        return self.caught / self.simulated if self.simulated else 0.0


@dataclass(frozen=True)
class DetectionRow:
    """One speed-gate rule over every (baseline run, current run) pair of unchanged runs, replayed
    on the paired per-round data: false alarms, and detection of each simulated slowdown."""

    gate: str  # "speed test" (the statistical rule) or "speed point" (the point rule)
    setting: str  # e.g. "max drop 15%, p < 0.05"
    pairs: int
    false_failures: int  # pairs of unchanged runs that failed
    detections: tuple[tuple[float, int, int], ...]  # (slowdown, caught, tried)

    @property
    def false_failure_rate(self) -> float:
        return self.false_failures / self.pairs if self.pairs else 0.0


def _noise_cases(doc: Mapping[str, Any]) -> dict[tuple[str, str], tuple[float, list[float]]]:
    """{(case, backend): (speedup, per-round log ratios)} of a pytest-benchmark save's paired results."""
    results = results_from_json(doc)
    speedups = compute_speedups(results)
    out = {}
    for case, row in latest_results(results).items():
        for backend, r in row.items():
            ratios = r.info.get("paired_log_ratios")
            if ratios and backend in speedups.get(case, {}):
                out[(case, backend)] = (float(speedups[case][backend]), [float(v) for v in ratios])
    return out


def rule_noise(docs: Sequence[Mapping[str, Any]], *, drops: Sequence[float] = NOISE_RULE_DROPS,
               alpha: float = DEFAULT_ALPHA,
               slowdowns: Sequence[float] = NOISE_SLOWDOWNS) -> list[DetectionRow]:
    """False alarms and detection rates of every speed rule (the statistical rule, which falls back
    to the point rule as the speed gate does, and the point rule), from N saved runs of an
    unchanged tree with per-round data (``paired_log_ratios``).

    Every ordered pair (baseline j, current i != j) is a trial. A slowdown ``s`` is simulated
    on the paired data: one backend's per-round times in the current run are multiplied by
    (1 + s), the torch rounds stay as measured, so its log ratios fall by log(1 + s) and its
    speedup by the factor 1 + s (a drop of s / (1 + s)). Empty when no two runs share paired
    results.
    """
    cases = [_noise_cases(d) for d in docs]
    pairs = [(j, i) for j in range(len(docs)) for i in range(len(docs)) if i != j]
    if not any(set(cases[i]) & set(cases[j]) for j, i in pairs):
        return []
    # one measurement per (rule, pair, case, backend, slowdown); each drop decides the same one
    trials: dict[str, list[tuple[int, float, SpeedComparison]]] = {name: [] for name in SPEED_RULES}
    for n, (j, i) in enumerate(pairs):
        for key in sorted(set(cases[i]) & set(cases[j])):
            (then, base_lr), (now, cur_lr) = cases[j][key], cases[i][key]
            for s in (0.0, *slowdowns):
                shifted = [v - math.log1p(s) for v in cur_lr]
                for name, found in trials.items():
                    found.append((n, s, compare_one(*key, then, now / (1 + s), 0.0, alpha, base_lr, shifted,
                                                    ci=False, rule=name)))
    rows = []
    for name, rule in SPEED_RULES.items():
        for drop in drops:
            false: set[int] = set()
            caught = dict.fromkeys(slowdowns, 0)
            tried = dict.fromkeys(slowdowns, 0)
            for n, s, comparison in trials[name]:
                failed = replace(comparison, max_drop=drop).failed
                if s == 0.0:
                    if failed:
                        false.add(n)
                else:
                    tried[s] += 1
                    caught[s] += failed
            rows.append(DetectionRow(f"speed {name}", rule.setting(drop, alpha), len(pairs), len(false),
                                     tuple((s, caught[s], tried[s]) for s in slowdowns)))
    return rows


def speed_gate_noise(docs: Sequence[Mapping[str, Any]], *, stat: str = "min",
               percents: Sequence[float] = (10, 15, 20, 25, 30, 40),
               drops: Sequence[float] = (0.10, 0.15, 0.20, 0.25, 0.30),
               slowdown: float = 1.3, alpha: float = DEFAULT_ALPHA,
               slowdowns: Sequence[float] = NOISE_SLOWDOWNS) -> list[NoiseRow | DetectionRow]:
    """False-failure and detection rates of both gates from N saved runs of an unchanged tree.

    Every ordered pair (baseline j, current i != j) is one trial of the gate, as a PR
    would compare against a base run: N runs give N(N-1) trials. Detection: each
    non-reference benchmark in turn made ``slowdown`` times slower in the current run
    (its time multiplied, its speedup divided), the rest unchanged. Then, where the runs
    hold per-round data, the speed gate's rules with ``slowdowns`` simulated on it
    (:func:`rule_noise`).
    """
    if len(docs) < 2:
        raise GateError("need at least two saved runs of the same benchmarks to measure noise")
    pairs = [(j, i) for j in range(len(docs)) for i in range(len(docs)) if i != j]
    rows: list[NoiseRow | DetectionRow] = []
    for pct in percents:
        false = caught = tried = 0
        for j, i in pairs:
            false += bool(compare_failures(docs[j], docs[i], stat, pct))
            for b in docs[i].get("benchmarks", []):
                if (b.get("extra_info") or {}).get("backend") == REFERENCE_BACKEND:
                    continue
                tried += 1
                caught += b["name"] in compare_failures(docs[j], docs[i], stat, pct, {b["name"]: slowdown})
        rows.append(NoiseRow("compare", f"{stat}:{pct:g}%", len(pairs), false, caught, tried))
    speedups = [compute_speedups(results_from_json(d)) for d in docs]
    for drop in drops:
        false = caught = tried = 0
        for j, i in pairs:
            false += bool(point_rule_failures(speedups[i], speedups[j], drop))
            for case, row in speedups[i].items():
                for backend, value in row.items():
                    tried += 1
                    slowed = {case: {backend: value / slowdown}}
                    caught += bool(point_rule_failures(slowed, speedups[j], drop))
        rows.append(NoiseRow("speedup", f"max drop {drop:.0%}", len(pairs), false, caught, tried))
    rows += rule_noise(docs, alpha=alpha, slowdowns=slowdowns)
    return rows


def format_noise(rows: Sequence[NoiseRow | DetectionRow], runs: int, slowdown: float) -> list[str]:
    lines = [f"{runs} unchanged runs, {runs * (runs - 1)} (baseline, current) pairs; detection: one "
             f"backend's case made {slowdown:g}x slower",
             "| gate | setting | unchanged tree fails | detects the slowdown |", "|---|---|---|---|"]
    for r in rows:
        if isinstance(r, NoiseRow):
            lines.append(f"| {r.gate} | {r.setting} | {r.false_failures}/{r.pairs} "
                         f"({r.false_failure_rate:.0%}) | {r.caught}/{r.simulated} "
                         f"({r.detection_rate:.0%}) |")
    detection = [r for r in rows if isinstance(r, DetectionRow)]
    lines.append("")
    if not detection:
        lines.append("no per-round data (paired_log_ratios) in these runs: the speed gate's statistical "
                     "rule cannot be replayed; save them with paired rounds and this encoder-gate")
        return lines
    slowdowns = [s for s, _, _ in detection[0].detections]
    legend = "; ".join(f"speed {name}: {rule.summary}" for name, rule in SPEED_RULES.items())
    lines += [f"speed gate rules on the paired per-round data ({legend}); a slowdown multiplies one "
              "backend's per-round times in the current run by 1 + s, torch's rounds stay as measured "
              "(s slower = a speedup drop of s / (1 + s))",
              "| rule | setting | unchanged tree fails | "
              + " | ".join(f"detects {s:.0%} slower" for s in slowdowns) + " |",
              "|---|---|---|" + "---|" * len(slowdowns)]
    for r in detection:
        cells = " | ".join(f"{c}/{t} ({c / t if t else 0.0:.0%})" for _, c, t in r.detections)
        lines.append(f"| {r.gate} | {r.setting} | {r.false_failures}/{r.pairs} ({r.false_failure_rate:.0%}) "
                     f"| {cells} |")
    return lines
