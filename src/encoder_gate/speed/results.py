"""Benchmark results and speedups: ``BenchResult``, speedups over torch eager, speedups.json."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from encoder_gate.backends.registry import REFERENCE_BACKEND
from encoder_gate.errors import GateError
from encoder_gate.speed.budget import seconds_text
from encoder_gate.speed.contention import contention_said
from encoder_gate.speed.machine import MachinePeaks, describe_peaks, library_versions, machine_summary
from encoder_gate.speed.rounds import texts_said
from encoder_gate.speed.settings import DEFAULT_ALPHA
from encoder_gate.speed.stats import CONFIDENCE, POWER, STATS_METHOD, PairedStats, paired_stats

Mode = Literal["model", "e2e", "latency", "workers"]
MODES: tuple[Mode, ...] = ("model", "e2e", "latency", "workers")
SPEEDUP_STAT = "min"  # the pytest-benchmark statistic speedups are taken from


@dataclass(frozen=True)
class BenchResult:
    """One benchmark's time (its SPEEDUP_STAT), keyed by what makes two backends comparable."""

    mode: str
    variant: str
    batch_size: int
    dispatch: str
    backend: str
    seconds: float
    info: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def case(self) -> str:
        return case_id(self.mode, self.variant, self.batch_size, self.dispatch)


def case_id(mode: str, variant: str, batch_size: int, dispatch: str) -> str:
    """``model/normal/bs8/bucketed``: the key of a speedup."""
    return f"{mode}/{variant}/bs{batch_size}/{dispatch}"


def case_order(case: str) -> tuple[tuple[int, str], ...]:
    """A case's place in a listing: its parts in order, a batch size by its number (bs8 before bs32)."""
    return tuple((int(part[2:]), "") if re.fullmatch(r"bs\d+", part) else (-1, part)
                 for part in case.split("/"))


_Row = TypeVar("_Row")


def by_case(table: Mapping[str, _Row]) -> list[tuple[str, _Row]]:
    """A table keyed by case, its items in :func:`case_order`."""
    return sorted(table.items(), key=lambda kv: case_order(kv[0]))


KEY_FIELDS = ("mode", "variant", "batch_size", "dispatch", "backend")


def results_from_json(doc: Mapping[str, Any], stat: str = SPEEDUP_STAT) -> list[BenchResult]:
    """The encoder-gate benchmarks of a pytest-benchmark JSON document (others are skipped),
    timed by the statistic ``stat`` of their stats."""
    out = []
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        seconds = (bench.get("stats") or {}).get(stat)
        if seconds is None or not all(k in info for k in KEY_FIELDS):
            continue
        out.append(BenchResult(str(info["mode"]), str(info["variant"]), int(info["batch_size"]),
                               str(info["dispatch"]), str(info["backend"]), float(seconds), info))
    return out


def paired_speedup(reference_seconds: Sequence[float], backend_seconds: Sequence[float]) -> float:
    """Median over rounds of reference time / backend time, rounds taken in turns (A B A B).

    Pairing is what keeps the ratio honest on a shared machine: a burst of load from
    another process lands on one or two neighbouring rounds and changes the ratio of that
    pair only, where separately taken minimums would each catch a different moment of
    the machine's speed.
    """
    if not reference_seconds or len(reference_seconds) != len(backend_seconds):
        raise ValueError(f"need equally many rounds, got {len(reference_seconds)} and {len(backend_seconds)}")
    return float(statistics.median(r / b for r, b in zip(reference_seconds, backend_seconds, strict=True)))


def latest_results(results: Iterable[BenchResult]) -> dict[str, dict[str, BenchResult]]:
    """{case: {backend: result}}, sorted; when a case ran more than once (several files
    merged), the last result wins."""
    table: dict[str, dict[str, BenchResult]] = {}
    for r in results:
        table.setdefault(r.case, {})[r.backend] = r
    return {case: dict(sorted(row.items())) for case, row in by_case(table)}


def compute_speedups(results: Iterable[BenchResult],
                     reference: str = REFERENCE_BACKEND) -> dict[str, dict[str, float]]:
    """{case: {backend: reference time / backend time}} for every case the reference ran.

    The reference itself is left out (its speedup is 1 by definition). A result measured
    in pairs with the reference (``paired_speedup`` in its info) uses that ratio instead,
    and needs no reference result of its own. When a case ran more than once (several
    files merged), the last result wins.
    """
    speedups: dict[str, dict[str, float]] = {}
    for case, row in latest_results(results).items():
        ref = row[reference].seconds if reference in row else None
        out = {}
        for backend, r in row.items():
            if backend == reference:
                continue
            if r.info.get("paired_speedup"):
                out[backend] = float(r.info["paired_speedup"])
            # torch eager's own cell on another device (a CPU row of a GPU session): no speedup
            elif ref and r.seconds > 0 and r.info.get("device") == row[reference].info.get("device"):
                out[backend] = ref / r.seconds
        if out:
            speedups[case] = out
    return speedups


def speed_stats(results: Iterable[BenchResult],
                alpha: float = DEFAULT_ALPHA) -> dict[str, dict[str, PairedStats]]:
    """{case: {backend: PairedStats}} for every result with per-round data (``paired_log_ratios``
    in its info); the last result of a (case, backend) wins, as in :func:`compute_speedups`."""
    out: dict[str, dict[str, PairedStats]] = {}
    for case, row in latest_results(results).items():
        for backend, r in row.items():
            ratios = r.info.get("paired_log_ratios")
            if ratios:
                out.setdefault(case, {})[backend] = paired_stats(ratios, alpha=alpha)
    return out


#: extra_info of a sized cell (suite/benchmarks.py:test_model_only) -> its speedups.json stats key
SIZING_KEYS = {"paired_clock": "clock", "paired_texts": "texts", "paired_pilot_rounds": "pilot_rounds",
               "paired_ci_target": "ci_target", "paired_ci_half_width": "ci_half_width",
               "paired_rounds_needed": "rounds_needed", "paired_budget_share": "budget_share",
               "paired_budget_cut": "budget_cut", "max_tokens": "max_tokens",
               "paired_others_cores": "others_cores", "device": "device"}


def cell_sizing(info: Mapping[str, Any]) -> dict[str, Any]:
    """How a cell was measured (clock, texts, pilot, CI target and reached half-width, and the
    rounds the target would need when the rounds ran out first), from its extra_info."""
    return {key: info[name] for name, key in SIZING_KEYS.items() if info.get(name) is not None}


def speedup_table(doc: Mapping[str, Any]) -> Mapping[str, Mapping[str, float]]:
    """The {case: {backend: speedup}} table of a speedups document; a table itself is accepted too."""
    inner = doc.get("speedups")
    return inner if isinstance(inner, Mapping) else doc


def log_ratio_table(doc: Mapping[str, Any]) -> dict[str, dict[str, list[float]]]:
    """{case: {backend: per-round log ratios}} of a speedups document ({} for an old one)."""
    table: dict[str, dict[str, list[float]]] = {}
    for case, row in (doc.get("stats") or {}).items():
        for backend, entry in (row or {}).items():
            ratios = (entry or {}).get("log_ratios")
            if ratios:
                table.setdefault(case, {})[backend] = [float(v) for v in ratios]
    return table


def speedups_document(results: Sequence[BenchResult], *, model: Mapping[str, Any] | None = None,
                      gemm: MachinePeaks | None = None, reference: str = REFERENCE_BACKEND,
                      fingerprint: Mapping[str, Any] | None = None,
                      alpha: float = DEFAULT_ALPHA,
                      provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``speedups.json`` holds: the speedups, times, best GFLOP/s per backend, the machine.

    ``stats``: {case: {backend: {speedup, ci, mde_slowdown, rounds, log_ratios, note}}} for the
    paired results (:func:`~encoder_gate.speed.stats.paired_stats`; ``stats_method`` says how).
    ``fingerprint``: the hardware the run was measured on
    (:func:`~encoder_gate.speed.machine.hardware_fingerprint`); default: the one recorded in the
    results' extra_info (a pytest-benchmark save), else None.
    ``provenance``: the session's (:func:`encoder_gate.runtime.provenance.provenance`), which the
    verdict checks before joining these speedups with accuracy.json.
    """
    if fingerprint is None:
        fingerprint = next((r.info["fingerprint"] for r in results
                            if isinstance(r.info.get("fingerprint"), Mapping)), None)
    best: dict[str, dict[str, Any]] = {}
    for r in results:
        rate = r.info.get("padded_gflops_per_s")
        if rate is not None and rate > best.get(r.backend, {}).get("padded_gflops_per_s", -1.0):
            best[r.backend] = {"case": r.case, "padded_gflops_per_s": float(rate),
                               "gflops_per_s": float(r.info.get("gflops_per_s", 0.0))}
            peak = r.info.get("machine_gemm_gflops")  # the backend's own peak (its library and format)
            if peak:
                best[r.backend].update(gemm_fraction=float(rate) / float(peak), peak=float(peak),
                                       peak_kind=r.info.get("peak_kind", "FP32 torch"))
    return {
        "reference": reference,
        "provenance": dict(provenance) if provenance is not None else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": dict(model or {}),
        "machine": machine_summary(),
        "versions": library_versions(),
        # torch's FP32 rate: what an older baseline recorded, compared as a load snapshot
        "machine_gemm_gflops": gemm.fp32_torch if gemm else None,
        "machine_peaks": gemm.to_json() if gemm else None,
        "best_gflops": best,
        "statistic": SPEEDUP_STAT,
        "seconds": {c: {b: r.seconds for b, r in row.items()} for c, row in latest_results(results).items()},
        "speedups": compute_speedups(results, reference),
        # where each backend computed (runtime.devices: dynamic INT8 of a GPU session on the CPU)
        "devices": {r.backend: r.info["device"] for r in results if r.info.get("device")},
        "stats": {case: {b: {**st.to_json(), **cell_sizing(latest_results(results)[case][b].info)}
                         for b, st in row.items()}
                  for case, row in speed_stats(results, alpha).items()},
        "stats_method": dict(STATS_METHOD),
        "fingerprint": dict(fingerprint) if fingerprint is not None else None,
    }


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise GateError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise GateError(f"the {what} {path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise GateError(f"the {what} {path} must hold a JSON object")
    return doc


def format_speedups(doc: Mapping[str, Any]) -> list[str]:
    """Terminal lines for a speedups document: one row per case, one column per backend."""
    table = speedup_table(doc)
    lines: list[str] = []
    if not table:
        reference = doc.get("reference", REFERENCE_BACKEND)
        timed = {b for row in (doc.get("seconds") or {}).values() if isinstance(row, dict) for b in row}
        alone = (f"no other backend was benchmarked beside the reference {reference!r}" if reference in timed
                 else f"the reference {reference!r} was not benchmarked beside the others")
        lines.append(f"no speedups: {alone} (a speedup is a backend's time against {reference}'s in the same "
                     "run): benchmark both")
    else:
        backends = sorted({b for row in table.values() for b in row})
        width = max(len(c) for c in table)
        lines.append(f"{'case':<{width}}  " + "  ".join(f"{b:>13}" for b in backends))
        for case, row in table.items():
            cells = "  ".join(f"{row[b]:>12.2f}x" if b in row else f"{'-':>13}" for b in backends)
            lines.append(f"{case:<{width}}  {cells}")
    lines += format_stats(doc)
    peaks = doc.get("machine_peaks")
    gemm = doc.get("machine_gemm_gflops")
    if peaks:
        lines.append(describe_peaks(peaks))
    elif gemm:  # a document from before per-library peaks
        lines.append(f"machine FP32 GEMM: {gemm:.1f} GFLOP/s (torch matmul, median)")
    if peaks or gemm:
        for backend, best in sorted((doc.get("best_gflops") or {}).items()):
            share = best.get("gemm_fraction")
            kind = best.get("peak_kind", "FP32 torch")
            of = f"({share:.0%} of the {kind} peak)" if share is not None else ""
            lines.append(f"  {backend:<16} best {best['padded_gflops_per_s']:7.2f} GFLOP/s executed "
                         f"{of} at {best['case']}")
    return lines


def format_stats(doc: Mapping[str, Any]) -> list[str]:
    """Per (case, backend) with paired rounds: the speedup, its CI and the minimum detectable
    slowdown (``stats`` of a speedups document)."""
    rows = [(backend, case, entry) for case, row in (doc.get("stats") or {}).items()
            for backend, entry in (row or {}).items()]
    if not rows:
        return []
    bw, cw = max(len(b) for b, _, _ in rows), max(len(c) for _, c, _ in rows)
    lines = [f"paired rounds: speedup, its {CONFIDENCE:.0%} CI (bootstrap), and the smallest drop the "
             f"test detects with {POWER:.0%} power (MDE)"]
    for backend, case, entry in sorted(rows, key=lambda r: (case_order(r[1]), r[0])):
        ci = entry.get("ci")
        mde = entry.get("mde_slowdown")
        text = (f"  {backend:<{bw}}  {case:<{cw}}  {entry['speedup']:6.2f}x  "
                + (f"CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "CI -") + "  "
                + (f"MDE {mde:.1%}" if mde is not None else "MDE -") + f"  {entry['rounds']} rounds")
        if entry.get("texts"):
            text += f" over {texts_said(entry['texts'])}, {entry.get('clock', 'wall')} clock"
        if entry.get("ci_half_width") is not None:
            text += f", CI ±{entry['ci_half_width']:.1%}"
        text += contention_said(entry)
        if entry.get("rounds_needed"):
            why = ""
            if entry.get("budget_cut"):
                why = f" within its budget share of {seconds_text(entry['budget_share'])}"
            text += (f" (target ±{entry['ci_target']:.1%} not reached{why}: about {entry['rounds_needed']} "
                     f"rounds would reach it)")
        if entry.get("note"):
            text += f"  ({entry['note']})"
        lines.append(text)
    return lines
