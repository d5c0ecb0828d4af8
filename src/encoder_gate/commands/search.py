"""`encoder-gate export MODEL --out DIR --search`: judge every recipe as the gate does, ship the fastest.

    result = run_search(ExportRequest(model="default", out=Path("onnx-default"), search=True))

Each candidate (:data:`~encoder_gate.backends.recipes.SEARCH_BACKENDS`: the gate's own onnx-fp32,
onnx-fp16 and onnx-int8, and every recipe of :mod:`encoder_gate.backends.recipes`) is a backend.
It is built (a build failure is listed with its reason), then judged as the accuracy gate judges
a backend: `GateSession.evaluation` on the test split against the same-run torch reference,
every check of its number format's bounds (`checks.judge_all`). Its speed is measured as the
speed A/B measures a PR: same-run interleaved rounds against torch eager at each configured batch
size (`speed.ab.measure_cell`, the thread's CPU clock with one thread), judged by `speed.ab.decide_cell`.
A candidate passes when every accuracy check holds and it is not significantly slower than torch
eager at any batch size. Per number format, the passing candidates are ranked by the geometric mean
of their speedups. A challenger ranked above its format's current default (onnx-fp32, onnx-int8) is
then timed head to head against it, and replaces it only when it is measurably faster
(`measurably_faster`): two quiet searches of the same model ranked onnx-fp32 and onnx-fp32-o2 in
opposite orders by point estimates 0.01x apart, so a ranking alone would ship whichever the noise
favoured. A default ranked first is timed against the runner-up, for the record. The shipped file
goes out under optimum's file name, and `won_because` says what was measured.

Static INT8 calibrates on the validation split of the configured dataset (or `--calibration
FILE`), never on the test split the candidates are judged on (`GateSession.calibration`).
"""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.accuracy.checks import judge_all
from encoder_gate.backends.int8_path import IntegerPath, cpu_path_words
from encoder_gate.backends.onnx_graph import PRECISIONS
from encoder_gate.backends.recipes import DEFAULT_CANDIDATES, RECIPES, SEARCH_BACKENDS
from encoder_gate.backends.registry import (
    REFERENCE_BACKEND,
    is_backend_name,
    parse_backend,
    with_integer_path,
)
from encoder_gate.cache import toolchain_versions
from encoder_gate.config import GateConfig
from encoder_gate.data.calibration import CALIBRATION_TEXTS
from encoder_gate.data.pairs import Text
from encoder_gate.documents import SEARCH_FILE, schema_of
from encoder_gate.errors import GateError, NotApplicable
from encoder_gate.reporting.search_report import PLOT_FILE, plot_search
from encoder_gate.runtime.session import GateSession
from encoder_gate.speed.ab import ABSettings, judge_at_looks, measure_runners
from encoder_gate.speed.batches import make_batches
from encoder_gate.speed.contention import contention_said
from encoder_gate.speed.rounds import clock_for
from encoder_gate.speed.stats import CONFIDENCE

Progress = Callable[[str], None]
ALPHA = 0.01  # one-sided level of a candidate's "slower than torch eager" test, per cell


@dataclass(frozen=True)
class SearchSettings:
    """What the search builds and how long it times each candidate."""

    candidates: tuple[str, ...] = SEARCH_BACKENDS
    rounds: int = 10  # interleaved rounds per (candidate, batch size) cell
    round_seconds: float = 0.2  # each arm's share of a round
    speed_texts: int = 32  # texts timed per pass
    calibration: Path | None = None  # --calibration FILE: one text per line
    calibration_texts: int = CALIBRATION_TEXTS

    def check(self) -> None:
        unknown = [c for c in self.candidates
                   if not is_backend_name(c) or c in (REFERENCE_BACKEND, "torch-compile")]
        if unknown:
            raise GateError(f"unknown recipe {unknown[0]!r} in --recipes; known: "
                            f"{', '.join(SEARCH_BACKENDS)}, or onnx:PATH@FORMAT for a file of your own")
        if not self.candidates:
            raise GateError("no recipes to search: pass e.g. --recipes onnx-int8,onnx-int8-static")
        if self.rounds < 7:
            raise GateError(f"--search-rounds must be at least 7 (the fewest whose Wilcoxon p can reach "
                            f"{ALPHA}), got {self.rounds}")
        if not 0 < self.round_seconds < math.inf:  # nan too: a round of no length
            raise GateError(f"--round-seconds must be a number of seconds above 0, got {self.round_seconds}")
        for option, count in (("--speed-texts", self.speed_texts),
                              ("--calibration-texts", self.calibration_texts)):
            if count <= 0:
                raise GateError(f"{option} must be a positive number of texts, got {count}")
        if self.calibration is not None and not self.calibration.is_file():
            raise GateError(f"--calibration {self.calibration} is not a file; pass a text file with one "
                            "calibration text per line")

    def ab(self) -> ABSettings:
        return ABSettings(looks=(self.rounds,), round_seconds=self.round_seconds,
                          budget_seconds=math.inf)


@dataclass
class Candidate:
    """One recipe: how it was made, how it was judged, whether it shipped."""

    recipe: str
    format: str
    how: str
    status: str = "pending"  # passed, failed, build failed, skipped
    reasons: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    artifact: Path | None = None  # its model.onnx
    from_cache: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    f1_delta: float | None = None
    f1_delta_ci: tuple[float, float] | None = None
    worst_label: dict[str, Any] | None = None
    speed: dict[int, dict[str, Any]] = field(default_factory=dict)
    shipped: bool = False
    won_because: str | None = None
    head_to_head: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # rival -> cells
    # an INT8 file's integer paths (backends.int8_path): path -> "passed", "failed" or "not judged: why";
    # {"every CPU": ...} where none of its weight pairs can saturate
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def mean_speedup(self) -> float | None:
        """Geometric mean of the speedups over the batch sizes (what ranks passing candidates)."""
        values = [s["speedup"] for s in self.speed.values()]
        return float(math.exp(np.mean(np.log(values)))) if values else None

    def as_dict(self) -> dict[str, Any]:
        """export.json's `candidates` entry (docs/schemas.md)."""
        return {"recipe": self.recipe, "format": self.format, "passed": self.passed, "status": self.status,
                "reasons": self.reasons, "how": self.how, "size_bytes": self.size_bytes,
                "speedup": {str(bs): s["speedup"] for bs, s in self.speed.items()},
                "speedup_ci": {str(bs): list(s["ci"]) for bs, s in self.speed.items()},
                "speed_rounds": {str(bs): s["rounds"] for bs, s in self.speed.items()},
                "f1_delta": self.f1_delta,
                "f1_delta_ci": list(self.f1_delta_ci) if self.f1_delta_ci else None,
                "drift_mean": self.summary.get("drift_mean"), "drift_max": self.summary.get("drift_max"),
                "flip_rate": self.summary.get("flip_rate"), "worst_label": self.worst_label,
                "shipped": self.shipped, "won_because": self.won_because, "head_to_head": self.head_to_head,
                "integer_paths": self.paths}


class Timer:
    """Progress with the elapsed time and, once a candidate is done, the time left at that pace."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.started, self.done = progress, total, time.monotonic(), 0

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        left = ""
        if self.done:
            left = f", about {elapsed / self.done * (self.total - self.done) / 60:.1f} min left"
        self.progress(f"[search {self.done}/{self.total}, {elapsed:.0f}s{left}] {message}")


def estimate_seconds(n: int, reference_seconds: float, batch_sizes: Sequence[int], settings: SearchSettings,
                     build_seconds: float) -> float:
    """Before the search: each candidate built (at the pace of the FP32 export, unless cached),
    evaluated (at the torch reference's pace), and timed in a cell per batch size (its rounds of
    two arms, plus a warm-up and calibration pass), and one head-to-head per number format (FP32, INT8)."""
    cell = settings.rounds * 2 * settings.round_seconds * 1.3 + 2.0
    per = build_seconds + reference_seconds + cell * len(batch_sizes)
    return n * per + 2 * cell * len(batch_sizes)


def _failed_checks(session: GateSession, name: str) -> list[str]:
    """Each accuracy check backend `name` fails, with its observed value and bound."""
    out = []
    for check_name, check in judge_all(session.evaluation(name), session.bounds(name)).items():
        if not check["passed"]:
            side = "<" if check["direction"] == "at least" else ">"
            out.append(f"{check_name} {check['observed']:.4g} {side} bound {check['bound']:.4g}")
    return out


def _judge_paths(session: GateSession, cand: Candidate, runner: Any) -> None:
    """An INT8 candidate whose weight pairs can saturate is judged on the other integer path too, as
    the gate judges it (backends.path_backend): a failure there fails it, so the search ships a
    file whose verdict holds on every CPU (docs/checks.md, "INT8 on other CPUs")."""
    path = getattr(runner, "integer_path", None)
    if path is None:
        return
    if not getattr(runner, "can_saturate", False):
        cand.paths["every CPU"] = "no weight pair can leave int16: the same numbers on every CPU"
        return
    cand.paths[path] = "failed" if cand.reasons else "passed"
    other: IntegerPath = "exact" if path == "saturating" else "saturating"
    twin = with_integer_path(cand.recipe, other)
    try:
        failures = _failed_checks(session, twin)
    except NotApplicable as exc:
        cand.paths[other] = f"not judged: {exc}"
        return
    finally:
        session.release(twin)
    cand.paths[other] = "failed" if failures else "passed"
    cand.reasons += [f"on the {other} path ({cpu_path_words(other)}): {f}" for f in failures]


def _judge_accuracy(session: GateSession, cand: Candidate) -> None:
    """The accuracy gate's checks on the candidate, at the bounds of its number format."""
    ev = session.evaluation(cand.recipe)
    bounds = session.bounds(cand.recipe)
    cand.summary = ev.summary()
    cand.reasons += _failed_checks(session, cand.recipe)
    if ev.stats is not None:
        cand.f1_delta, cand.f1_delta_ci = ev.stats.delta.delta, ev.stats.delta.ci
        judged = [r for r in ev.stats.per_label(bounds.per_label_keep) if r.verdict != "low-support"]
        if judged:
            worst = min(judged, key=lambda r: (r.f1 / r.f1_ref) if r.f1_ref else 1.0)
            cand.worst_label = {"label": worst.label, "f1_ref": worst.f1_ref, "f1": worst.f1,
                                "verdict": worst.verdict, "support": worst.support}


def _time(runner: Any, base: Any, tokenizer: Any, texts: Sequence[Text], batch_size: int,
          settings: SearchSettings, clock: Any, progress: Progress, seed: int) -> dict[str, Any]:
    """One cell: `runner` against `base` in interleaved rounds; the ratio base time / runner time."""
    plan = make_batches(tokenizer, list(texts), batch_size, "bucketed")
    ab = settings.ab()
    cell = measure_runners(base, plan, runner, plan, clock=clock, settings=ab, alpha=ALPHA,
                           texts=len(texts), seed=seed, progress=progress)
    decision = judge_at_looks(cell.log_ratios, ab, ALPHA)
    low, high = decision.ci
    return {"speedup": 1 / decision.ratio, "ci": (1 / high, 1 / low), "rounds": decision.rounds,
            "slower": decision.status == "fail", "p_value": decision.p_value, "clock": clock,
            "others_cores": cell.others_cores}


@dataclass(frozen=True)
class Winner:
    """The candidate shipped for one number format: its cache directory holds model.onnx."""

    recipe: str
    how: str
    file: Path  # the ONNX file
    from_cache: bool


@dataclass(frozen=True)
class SearchResult:
    payload: dict[str, Any]  # export.json's `search` (and, popped from it, `candidates`)
    winners: dict[str, Winner]  # by number format


def run_search(request: Any, settings: SearchSettings, progress: Progress) -> SearchResult:
    """Build and judge every candidate and pick the winners (`request`: an ExportRequest; the
    search's plot is written into request.out, the winners are shipped by the export)."""
    settings.check()
    started = time.monotonic()
    config = GateConfig(model=request.model, backends=("torch",), dataset=request.dataset or "bundled",
                        texts=request.texts, text_column=request.text_column,
                        label_column=request.label_column, pair_column=request.pair_column,
                        limit=request.limit or 0, cache_dir=request.cache_dir, threads=request.threads,
                        batch_sizes=request.batch_sizes, calibration=settings.calibration,
                        max_tokens=request.max_tokens, thresholds=request.thresholds)
    # static INT8 calibrates on --calibration FILE or the dataset's validation split (GateSession.calibration)
    session = GateSession(config, progress=progress, calibration_count=settings.calibration_texts)
    model = session.model
    ds = session.dataset  # the test split: what every candidate is judged on
    progress(f"search {model.name} ({model.model_type}, {model.task}): {len(settings.candidates)} "
             f"candidates, judged on {len(ds)} texts of {ds.name}, timed at batch sizes "
             f"{', '.join(map(str, config.batch_sizes))} with {config.threads or 'default'} thread(s)")
    t0 = time.monotonic()
    reference = session.reference
    reference_seconds = time.monotonic() - t0
    t0 = time.monotonic()
    torch_runner = session.runner("torch")
    fp32 = session.runner("onnx-fp32")
    build_seconds = 0.0 if fp32.from_cache else time.monotonic() - t0
    estimate = estimate_seconds(len(settings.candidates), reference_seconds, config.batch_sizes, settings,
                                build_seconds)
    progress(f"estimate: about {estimate / 60:.0f} min ({len(settings.candidates)} candidates x (build "
             f"{build_seconds:.0f}s unless cached + evaluation ~{reference_seconds:.0f}s + "
             f"{len(config.batch_sizes)} speed cells of {settings.rounds} rounds)); torch reference on "
             f"{len(reference)} texts took {reference_seconds:.0f}s")
    clock = clock_for(config.threads, config.device)
    texts = list(ds.texts[:settings.speed_texts])
    timer = Timer(progress, len(settings.candidates))
    candidates: list[Candidate] = []
    for name in settings.candidates:
        backend = parse_backend(name)
        how = (RECIPES[name].describe() if name in RECIPES else f"the gate's own {name} (current default)"
               if name in DEFAULT_CANDIDATES else f"a file of your own, judged as {backend.number_format}")
        cand = Candidate(name, str(backend.number_format), how)
        candidates.append(cand)
        if cand.format == "fp16" and config.device == "cpu":
            cand.status = "skipped"
            cand.reasons.append("FP16 is for the GPU: no GPU here (device cpu); on the CPU execution "
                                "provider FP16 runs through inserted Casts, which says nothing about a GPU")
            timer.done += 1
            timer.say(f"{name}: skipped ({cand.reasons[0]})")
            continue
        timer.say(f"{name}: building ({how})")
        try:
            runner = session.runner(name)
        except GateError as exc:
            cand.status = "build failed"
            cand.reasons.append(str(exc).splitlines()[0])  # the gate's own words: whole, never cut
            timer.done += 1
            timer.say(f"{name}: build failed: {cand.reasons[-1]}")
            continue
        cand.size_bytes, cand.from_cache = runner.size_bytes, bool(runner.from_cache)
        cand.artifact = Path(str(getattr(runner, "artifact", "")))
        try:
            timer.say(f"{name}: evaluating on {len(ds)} texts")
            _judge_accuracy(session, cand)
            _judge_paths(session, cand, runner)
            for i, bs in enumerate(config.batch_sizes):
                timer.say(f"{name}: timing against torch eager at batch size {bs}")
                cand.speed[bs] = _time(runner, torch_runner, session.tokenizer, texts, bs, settings, clock,
                                       progress, seed=i)
                if cand.speed[bs]["slower"]:
                    cand.reasons.append(f"slower than torch eager at batch size {bs} "
                                        f"({cand.speed[bs]['speedup']:.2f}x)")
        except Exception as exc:  # a candidate that builds but cannot run (an ORT kernel error, ...)
            said = textwrap.shorten(str(exc).strip(), 300, placeholder=" ...")  # a library's: at a word
            cand.reasons.append(f"could not run: {type(exc).__name__}: {said}")
        cand.status = "failed" if cand.reasons else "passed"
        # its evaluation stays; two dozen open ONNX Runtime sessions, each keeping its memory arena,
        # outgrew 23 GB on `default` (the head-to-head builds a winner again from the cache)
        session.release(name)
        timer.done += 1
        timer.say(f"{name}: {cand.status}" + (f" ({'; '.join(cand.reasons)})" if cand.reasons else "")
                  + f", F1 change {_signed(cand.f1_delta)}, speedup "
                  + ", ".join(f"bs{bs} {s['speedup']:.2f}x{contention_said(s)}"
                              for bs, s in cand.speed.items()))
    winners = _choose_winners(session, candidates, texts, settings, clock, progress)
    rows = [c.as_dict() for c in candidates]
    reference_eval = session.evaluation("torch")  # its headline: micro F1, or macro F1 for one label a text
    reference_f1 = reference_eval.summary().get(reference_eval.task.headline)
    session.close()
    payload = {
        "schema": schema_of(SEARCH_FILE),
        "judged_on": {"name": ds.name, "examples": len(ds), "reference_f1": reference_f1,
                      "metric": reference_eval.task.headline},
        "calibration": session.calibrated_on,
        "batch_sizes": list(config.batch_sizes),
        "threads": config.threads,
        "clock": clock,
        "rounds": settings.rounds,
        "round_seconds": settings.round_seconds,
        "speed_texts": len(texts),
        "estimate_seconds": round(estimate, 1),
        "seconds": round(time.monotonic() - started, 1),
        "shipped": {fmt: w.recipe for fmt, w in winners.items()},
        "versions": toolchain_versions(("onnxruntime", "onnx", "torch", "transformers")),
        "candidates": rows,
    }
    request.out.mkdir(parents=True, exist_ok=True)
    plot = plot_search(rows, request.out / PLOT_FILE)
    payload["plot"] = plot.name if plot else None
    shipped = {fmt: Winner(w.recipe, w.how, w.artifact, w.from_cache)
               for fmt, w in winners.items() if w.artifact is not None}
    return SearchResult(payload, shipped)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def measurably_faster(cells: Sequence[dict[str, Any]]) -> bool:
    """Head to head, faster than the rival: the speedup's CI (speed.stats.CONFIDENCE) lies above 1 at
    some batch size and below 1 at none."""
    return any(c["ci"][0] > 1 for c in cells) and not any(c["ci"][1] < 1 for c in cells)


def _head_to_head(session: GateSession, cand: Candidate, rival: Candidate, role: str, texts: Sequence[Text],
                  settings: SearchSettings, clock: Any, progress: Progress) -> str:
    """`cand` against `rival` in same-run interleaved rounds at each batch size (kept in
    cand.head_to_head); what was measured, in words."""
    runner, other = session.runner(cand.recipe), session.runner(rival.recipe)
    cells = []
    for i, bs in enumerate(session.config.batch_sizes):
        progress(f"{cand.recipe} against {role} {rival.recipe} at batch size {bs}")
        cell = _time(runner, other, session.tokenizer, texts, bs, settings, clock, progress, seed=100 + i)
        cells.append({"batch_size": bs, "speedup": cell["speedup"], "ci": list(cell["ci"])})
    session.release(rival.recipe)
    cand.head_to_head[rival.recipe] = cells
    return (f"against {role} {rival.recipe} ({rival.mean_speedup:.2f}x), head to head: "
            + ", ".join(f"bs{c['batch_size']} {c['speedup']:.3f}x [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]"
                        for c in cells))


def _choose_winners(session: GateSession, candidates: list[Candidate], texts: Sequence[Text],
                    settings: SearchSettings, clock: Any, progress: Progress) -> dict[str, Candidate]:
    """Per number format, the fastest passing candidate; a challenger to the format's current default
    ships only when it is measurably faster than the default head to head (see the module's doc)."""
    winners: dict[str, Candidate] = {}
    for fmt in PRECISIONS:
        ranked = sorted((c for c in candidates if c.passed and c.format == fmt),
                        key=lambda c: -(c.mean_speedup or 0.0))
        if not ranked:
            continue
        top = ranked[0]
        default = next((c for c in ranked if c.recipe == f"onnx-{fmt}"), None)
        lead = (f"fastest passing {fmt} candidate of {len(ranked)} by point estimate: {top.recipe}, "
                f"geometric-mean speedup {top.mean_speedup:.2f}x over torch eager")
        if default is None or default is top:
            win, why = top, [lead]
            if len(ranked) > 1:
                why.append(_head_to_head(session, top, ranked[1], "the runner-up", texts, settings, clock,
                                         progress))
        else:
            measured = _head_to_head(session, top, default, "the current default", texts, settings, clock,
                                     progress)
            if measurably_faster(top.head_to_head[default.recipe]):
                win, why = top, [lead, measured + ": measurably faster, so it replaces the default"]
            else:
                rule = (f"a challenger replaces the default only when its {CONFIDENCE:.0%} CI lies above 1 "
                        "at some batch size and below 1 at none")
                win, why = default, [f"the current default, kept: the {lead}; but {measured}: not "
                                     f"measurably faster ({rule})"]
        win.shipped = True
        win.won_because = "; ".join(why)
        winners[fmt] = win
    return winners
