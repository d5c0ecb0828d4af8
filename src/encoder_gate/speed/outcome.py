"""The end of a benchmark session: write speedups.json, run the speed gate, say how it went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from encoder_gate.documents import SPEEDUPS_FILE, write_document
from encoder_gate.errors import listed
from encoder_gate.speed.baseline import Baseline, open_baseline
from encoder_gate.speed.machine import MachinePeaks
from encoder_gate.speed.results import BenchResult, case_order, format_speedups, speedups_document
from encoder_gate.speed.rules import SpeedComparison, SpeedupFailure, compare_speed, unlike_cells
from encoder_gate.speed.settings import BenchSettings
from encoder_gate.speed.stats import CONFIDENCE

#: What a gate against another run's figures can promise (docs/noise.md, "Against a save"): said
#: under every such gate's result, so no one reads it as the PR's own A/B.
ACROSS_RUNS = ("across runs these gates are coarse alarms: in 46 unchanged runs measured here the absolute "
               "compare (min:25%) failed once and the speedup rule never, and neither caught a file doing "
               "about 10% more work (docs/noise.md); to judge a PR's code or model, compare it with its "
               "base in one session (--gate-base); a change of libraries, which one session cannot hold, "
               "is judged this way")


@dataclass(frozen=True)
class SessionOutcome:
    """What the end of a benchmark session wrote and found."""

    path: Path
    doc: dict[str, Any]
    failures: list[SpeedupFailure]
    warnings: list[str]
    settings: BenchSettings
    comparisons: list[SpeedComparison] = field(default_factory=list)

    def lines(self) -> list[tuple[str, str]]:
        """Terminal lines as (text, style), style one of "", "red", "yellow", "green"."""
        out = [(line, "") for line in format_speedups(self.doc)]
        out.append((f"written to {self.path}", ""))
        regressed = (self.doc.get("compare") or {}).get("regressions") or []
        if regressed:  # pytest-benchmark's own list is handed over to the gate: its reasons are said here
            out.append((f"pytest-benchmark's --benchmark-compare-fail found {len(regressed)} regression(s) "
                        "in the absolute times (each fails its backend):", "red"))
            out += [(f"  {r.get('text')}", "red") for r in regressed]
        base = self.settings.baseline
        if base is None:
            return out
        out += [(f"warning: {w}", "yellow") for w in self.warnings]
        point = [c for c in self.comparisons if c.rule == "point"]
        if point:
            reasons = sorted({c.reason or "" for c in point})
            out.append((f"point rule (a drop over {self.settings.max_drop:.0%} fails, no significance test) "
                        f"for {len(point)} of {len(self.comparisons)} comparisons: {'; '.join(reasons)}"
                        + (" (an older speedups.json, or a save without paired_log_ratios)"
                           if any("no per-round data in the baseline" in r for r in reasons) else ""),
                        "yellow"))
        if self.comparisons:
            out.append((f"speed comparisons against {base} (fail: a drop over {self.settings.max_drop:.0%} "
                        f"and p < {self.settings.alpha:g}, one-sided Mann-Whitney U on per-round log "
                        "ratios):", ""))
            out += [(f"  {c.describe()}", "") for c in self.comparisons]
        if self.failures:
            out.append((f"SPEEDUP GATE FAILED against {base} ({len(self.failures)} drops over "
                        f"{self.settings.max_drop:.0%}):", "red"))
            out += [(f"  {f}", "red") for f in self.failures]
        elif self.comparisons:
            out.append((f"speedup gate passed against {base} (max drop {self.settings.max_drop:.0%})",
                        "green"))
        else:
            out.append((f"SPEEDUP GATE FAILED: nothing was compared against {base}", "red"))
        out.append((ACROSS_RUNS, ""))
        return out


def _uncompared(doc: Mapping[str, Any], baseline: Baseline) -> list[str]:
    """What the gate against `baseline` left out: this run's cells it has no figure for, and its
    cells this run did not measure (another batch size, a backend not selected)."""
    def cells(d: Mapping[str, Any]) -> set[tuple[str, str]]:
        return {(case, b) for case, row in (d.get("speedups") or {}).items() for b in (row or {})}

    mine, theirs = cells(doc), cells(baseline.doc)
    if not mine & theirs:
        return [f"the speed baseline {baseline.source} shares no case and backend with this run: nothing was "
                "compared against it"]
    unlike = unlike_cells(doc, baseline.doc)
    out = [f"{len(unlike)} cell(s) timed on other work than the baseline's, so not compared (a speedup "
           "over other texts is another figure): "
           + "; ".join(f"{b} {case} ({why})" for (case, b), why in sorted(unlike.items()))] if unlike else []
    for cut, what in ((mine - theirs, "not in the baseline, so not compared"),
                      (theirs - mine, "in the baseline but not measured in this run")):
        if cut:
            named = [f"{b} {case}" for case, b in sorted(cut)]
            out.append(f"{len(cut)} cell(s) {what}: {listed(named, quoted=False)}")
    return out


def _inconclusive(comparisons: Sequence[SpeedComparison], max_drop: float) -> list[str]:
    """The passes whose drop CI reaches past ``max_drop``: not a finding of no drop (the accuracy
    side's underpowered warning, for speed)."""
    weak = [(c, ci[1]) for c in comparisons if c.inconclusive and (ci := c.drop_ci) is not None]
    if not weak:
        return []
    return [f"{len(weak)} speed comparison(s) passed without ruling out a drop over {max_drop:.0%} (the "
            f"drop's {CONFIDENCE:.0%} CI reaches past it; more rounds, a larger --gate-budget or a quieter "
            "runner would decide): " + "; ".join(f"{c.backend} {c.case} drop {c.drop:+.1%}, CI up to "
                                                  f"{high:+.1%}" for c, high in weak)]


def finish_session(results: Sequence[BenchResult], settings: BenchSettings, report_dir: Path,
                   model: Mapping[str, Any], gemm: MachinePeaks | None, baseline: Baseline | None = None,
                   compare_regressions: Sequence[Mapping[str, Any]] | None = None,
                   fingerprint: Mapping[str, Any] | None = None,
                   provenance: Mapping[str, Any] | None = None) -> SessionOutcome:
    """Write ``<report_dir>/speedups.json``; gate against a baseline when there is one.

    The baseline is ``baseline`` when the caller opened it already (the plugin does, with
    :func:`~encoder_gate.speed.baseline.open_baseline`, before the benchmarks run), else
    ``settings.baseline`` (a speedups.json), read here. The gate's outcome is stored in the
    document under ``gate`` (baseline, max drop, alpha, and per case and backend the baseline
    and current speedups, the shift of the median log ratio, the test's p-value and the rule
    that decided), so the verdict can be rendered from speedups.json alone; so is
    pytest-benchmark's own ``--benchmark-compare-fail`` verdict (``compare_regressions``)
    under ``compare``.

    A baseline read here whose hardware fingerprint differs from ``fingerprint`` raises
    :class:`~encoder_gate.speed.machine.MachineMismatch` (before anything is written), unless
    ``settings.allow_other_machine``; then the differences become warnings.
    """
    doc = speedups_document(results, model=model, gemm=gemm, fingerprint=fingerprint, alpha=settings.alpha,
                            provenance=provenance)
    failures: list[SpeedupFailure] = []
    warnings: list[str] = []
    if compare_regressions is not None:  # a regression over other texts than the save's is no finding
        unlike = [dict(r) for r in compare_regressions if r.get("unlike")]
        doc["compare"] = {"regressions": [dict(r) for r in compare_regressions if not r.get("unlike")],
                          **({"not_compared": unlike} if unlike else {})}
        warnings += [f"pytest-benchmark's --benchmark-compare-fail compared {r['text']}, but this run timed "
                     f"other texts than the save's ({r['unlike']}): another figure, not judged"
                     for r in unlike]
    comparisons: list[SpeedComparison] = []
    if baseline is None:
        baseline = open_baseline(settings, doc.get("fingerprint"))
    if baseline is not None:
        comparisons = compare_speed(doc, baseline.doc, settings.max_drop, settings.alpha)
        failures = [c.failure() for c in comparisons if c.failed]
        warnings += baseline.warnings(doc)
        warnings += _uncompared(doc, baseline)
        warnings += _inconclusive(comparisons, settings.max_drop)
        doc["gate"] = {
            "baseline": baseline.source, "max_drop": settings.max_drop, "alpha": settings.alpha,
            "compared": {case: {c.backend: c.to_json() for c in comparisons if c.case == case}
                         for case in sorted({c.case for c in comparisons}, key=case_order)},
            "failures": [f.to_json() for f in failures], "warnings": warnings,
            "point_rule": [f"{c.backend} {c.case}: {c.reason}" for c in comparisons if c.rule == "point"],
            "fingerprint_differences": list(baseline.differences),
        }
    path = write_document(Path(report_dir), SPEEDUPS_FILE, doc)
    outcome_settings = settings if settings.baseline is not None or baseline is None else replace(
        settings, baseline=Path(baseline.source))
    return SessionOutcome(path, doc, failures, warnings, outcome_settings, comparisons)
