"""False-alarm and detection rates of the speed A/B (`--gate-base`), measured on real files.

`encoder-gate ab-noise` builds a backend's ONNX file (A), loads it twice (A and A', an
unchanged PR) and a copy made `slowdown` times slower with identical outputs (B,
:mod:`encoder_gate.studies.slowdown`), and records interleaved rounds of all three in random
order, timed on both clocks, exactly as the A/B test times its two arms. Each trial then
replays the A/B's sequential rule (:func:`encoder_gate.speed.ab.judge_at_looks`: judged at
each look until one decides) on a window of consecutive recorded rounds starting at a random
round: A/A' trials that fail are false alarms, A/B trials that fail are detections.

With `neighbour`, a CPU-bound numpy process runs on the other core while the rounds are
recorded (the load of a shared CI runner).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.onnx_session import open_session
from encoder_gate.backends.registry import parse_backend
from encoder_gate.cache import ArtifactCache
from encoder_gate.data.datasets import load_dataset
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError
from encoder_gate.models.resolve import resolve_model
from encoder_gate.speed.ab import (
    REOPEN_MAX_BYTES,
    ABSettings,
    ReopenPolicy,
    judge_at_looks,
    measure_runners,
    pass_over,
    reopened_by_size,
)
from encoder_gate.speed.batches import BatchPlan, make_batches
from encoder_gate.speed.rounds import passes_for, timed
from encoder_gate.speed.settings import DEFAULT_BENCH_TEXTS
from encoder_gate.speed.sizing import TextPool, sized_texts
from encoder_gate.studies.slowdown import calibrate_blocks, slowed_onnx, thread_seconds


def _busy(stop: Any) -> None:  # pragma: no cover - runs in the neighbour process
    a = np.random.default_rng(0).standard_normal((256, 256))
    while not stop.is_set():
        a = np.tanh(a @ a)


@contextlib.contextmanager
def beside_a_neighbour(on: bool) -> Iterator[None]:
    """Inside the block, with `on`, a CPU-bound numpy process runs on another core."""
    if not on:
        yield
        return
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    proc = context.Process(target=_busy, args=(stop,), daemon=True)
    proc.start()
    time.sleep(1.0)
    try:
        yield
    finally:
        stop.set()
        proc.join(timeout=10)


def record(arms: dict[str, Callable[[], object]], rounds: int, passes: int, seed: int,
           progress: Callable[[str], None]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """`rounds` rounds of every arm in random order; (thread seconds, wall seconds) per arm."""
    names = list(arms)
    thread: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    for r in range(rounds):
        for i in rng.permutation(len(names)):
            name = names[i]
            cpu, elapsed = timed(arms[name], passes)
            thread[name].append(cpu)
            wall[name].append(elapsed)
        if (r + 1) % 50 == 0:
            progress(f"{r + 1}/{rounds} rounds ({time.monotonic() - started:.0f}s)")
    return thread, wall


def trial_rates(base: Sequence[float], pr: Sequence[float], settings: ABSettings, *, max_rounds: int,
                trials: int, seed: int) -> dict[str, float]:
    """Replay the sequential rule on `trials` windows of consecutive rounds: the share of each outcome
    and the mean rounds a trial used."""
    r = np.log(np.asarray(pr) / np.asarray(base))
    if len(r) < max_rounds:
        raise GateError(f"{len(r)} recorded rounds cannot replay cells of up to {max_rounds} rounds")
    rng = np.random.default_rng(seed)
    counts = {"pass": 0, "fail": 0, "inconclusive": 0}
    used = 0
    for _ in range(trials):
        start = int(rng.integers(0, len(r) - max_rounds + 1))
        decision = judge_at_looks(r[start:start + max_rounds], settings, settings.alpha)
        counts[decision.status] += 1
        used += decision.rounds
    return {**{k: v / trials for k, v in counts.items()}, "mean_rounds": used / trials}


def replay(series: dict[str, dict[str, list[float]]], min_effects: Sequence[float], *, max_rounds: int,
           trials: int, seed: int) -> list[dict[str, Any]]:
    """The rule replayed on recorded rounds, one row per (clock, minimum effect): the spread, B's
    measured slowdown, and the outcome shares of A/A' and A/B trials."""
    rows = []
    for clock, arms in series.items():
        aa = np.log(np.asarray(arms["A2"]) / np.asarray(arms["A"]))
        ab = np.log(np.asarray(arms["B"]) / np.asarray(arms["A"]))
        for min_effect in min_effects:
            settings = ABSettings(min_effect=min_effect)
            pairs = enumerate((("aa", "A2"), ("ab", "B")))
            rates = {arm: trial_rates(arms["A"], arms[name], settings, max_rounds=max_rounds, trials=trials,
                                      seed=seed + i) for i, (arm, name) in pairs}
            rows.append({"clock": clock, "min_effect": min_effect, "sd_aa": float(np.std(aa, ddof=1)),
                         "sd_ab": float(np.std(ab, ddof=1)),
                         "measured_slowdown": float(np.exp(np.median(ab)) - 1), **rates})
    return rows


@dataclass(frozen=True)
class _Setup:
    """What a study's arms run: the backend built for `ctx` (its ONNX file at `path`) over the
    bundled test texts the A/B picks, bucketed, as few as it would take at this speed."""

    ctx: BuildContext
    backend: str
    path: Path
    tokenizer: Any
    texts: tuple[Text, ...]
    batch_size: int

    def plan(self) -> BatchPlan:
        return make_batches(self.tokenizer, list(self.texts), self.batch_size, "bucketed")

    def feeds(self) -> list[dict[str, Any]]:
        """The plan's batches as a raw ONNX Runtime session of the file takes them."""
        names = {i.name for i in open_session(self.path, "cpu", 1).get_inputs()}
        return [{k: v for k, v in b.items() if k in names} for b in self.plan().batches]

    def runner(self) -> Any:
        """A runner of the backend, as the gate builds it (from the cache)."""
        return parse_backend(self.backend).build(self.ctx)


def _setup(model: str, backend: str, batch_size: int, cache_dir: Path,
           progress: Callable[[str], None]) -> _Setup:
    cache = ArtifactCache(cache_dir)
    spec = resolve_model(model, cache, progress)
    ctx = BuildContext(model=spec, cache=cache, threads=1, progress=progress)
    runner = parse_backend(backend).build(ctx)
    path = getattr(runner, "artifact", None)
    if path is None:
        raise GateError(f"ab-noise needs an ONNX backend (onnx-fp32, onnx-int8, onnx:PATH); {backend} "
                        "has no file")
    from transformers import AutoTokenizer  # a heavy import, only for this command

    tokenizer = AutoTokenizer.from_pretrained(spec.path)
    # the texts the A/B times, chosen as test_speed_vs_base chooses them: across the range of
    # lengths, sized so one pass takes at most a round's share (speed.sizing.size_cell)
    every = tuple(load_dataset("bundled", split="test").texts)
    pool = TextPool.of(tokenizer, every).narrowed(DEFAULT_BENCH_TEXTS)

    def probe(indices: list[int]) -> float:
        plan = make_batches(tokenizer, [pool.texts[i] for i in indices], batch_size, "bucketed")
        runner.warmup(plan.shapes)
        return thread_seconds(pass_over(runner, plan.batches))

    texts = sized_texts(pool, batch_size, probe, ABSettings().round_seconds)
    runner.close()
    return _Setup(ctx, backend, Path(path), tokenizer, texts, batch_size)


def pass_of(session: Any, feeds: Sequence[dict[str, Any]]) -> Callable[[], object]:
    """One pass of `session` over `feeds`."""
    def run() -> None:
        for feed in feeds:
            session.run(None, feed)
    return run


def measure(model: str, backend: str, batch_size: int, *, slowdown: float, rounds: int, trials: int,
            cache_dir: Path, neighbour: bool, seed: int, max_rounds: int,
            progress: Callable[[str], None], blocks: int | None = None,
            min_effects: Sequence[float] = (ABSettings().min_effect,)) -> dict[str, Any]:
    """Record the rounds and replay the rule on them; the whole result as a JSON-able dict."""
    setup = _setup(model, backend, batch_size, cache_dir, progress)
    path, feeds, n_texts = setup.path, setup.feeds(), len(setup.texts)

    def time_of(file: Path) -> float:
        run = pass_of(open_session(file, "cpu", 1), feeds)
        run()
        return thread_seconds(run)

    work = Path(cache_dir) / "ab-noise"
    if blocks is None:
        progress(f"calibrating a copy of {path.name} {slowdown:.2f}x slower")
        blocks, calibrated = calibrate_blocks(time_of, path, work, slowdown)
    else:  # given (e.g. the count a quiet calibration found): B is then the same file in every condition
        calibrated = float("nan")
    slow = slowed_onnx(path, work / "slow.onnx", blocks)
    files = (("A", path), ("A2", path), ("B", slow))
    arms = {name: pass_of(open_session(file, "cpu", 1), feeds) for name, file in files}
    for run in arms.values():
        run()
    passes = passes_for(thread_seconds(arms["A"]), ABSettings().round_seconds)
    with beside_a_neighbour(neighbour):
        progress(f"recording {rounds} rounds of A, A', B ({passes} pass(es) of {n_texts} texts each)"
                 + (" beside a CPU-bound neighbour" if neighbour else ""))
        thread, wall = record(arms, rounds, passes, seed, progress)
    return {"model": model, "backend": backend, "batch_size": batch_size, "rounds": rounds,
            "trials": trials, "max_rounds": max_rounds, "neighbour": neighbour,
            "slowdown_target": slowdown, "slowdown_calibrated": calibrated, "blocks": blocks,
            "passes": passes, "texts": n_texts,
            "rates": replay({"thread": thread, "wall": wall}, min_effects, max_rounds=max_rounds,
                            trials=trials, seed=seed),
            "series": {"thread": thread, "wall": wall}}


#: How the pairs study holds its sessions: one pair for the whole cell, or reopened each round
#: (what the A/B does for a small file: speed.ab.reopened_by_size), whatever the file's size.
SESSION_POLICIES: dict[str, ReopenPolicy] = {"held": "never", "reopened": "always"}


def measure_pairs(model: str, backend: str, batch_size: int, *, pairs: int, cache_dir: Path,
                  neighbour: bool, seed: int, progress: Callable[[str], None],
                  min_effect: float = ABSettings().min_effect) -> dict[str, Any]:
    """A/A' cells as the A/B measures them, each on its own pair of sessions of one file (two PR
    sessions of a file exported again: the same graph, other bytes), once with the pair held for
    the whole cell and once reopened each round, the two in random order per pair. Recording one
    long series (:func:`measure`) keeps one pair and cannot show how far pairs differ."""
    setup = _setup(model, backend, batch_size, cache_dir, progress)
    plan = setup.plan()
    settings = ABSettings(min_effect=min_effect)
    rng = np.random.default_rng(seed)
    cells: dict[str, list[dict[str, Any]]] = {policy: [] for policy in SESSION_POLICIES}
    probe = setup.runner()
    gate = {"reopens": reopened_by_size(probe), "file_bytes": getattr(probe, "size_bytes", None)}
    probe.close()
    started = time.monotonic()
    with beside_a_neighbour(neighbour):
        for k in range(pairs):
            for i in rng.permutation(len(SESSION_POLICIES)):
                policy = list(SESSION_POLICIES)[i]
                a, a2 = setup.runner(), setup.runner()
                cell = measure_runners(a, plan, a2, plan, clock="thread", settings=settings,
                                       alpha=settings.alpha, texts=len(setup.texts), seed=seed + k,
                                       reopen=SESSION_POLICIES[policy])
                a.close()
                a2.close()
                decision = judge_at_looks(cell.log_ratios, settings, settings.alpha)
                cells[policy].append({"ratio": decision.ratio, "status": decision.status,
                                      "rounds": decision.rounds, "reopened": cell.reopened,
                                      "round_sd": float(np.std(cell.log_ratios, ddof=1))})
            progress(f"{k + 1}/{pairs} pairs ({time.monotonic() - started:.0f}s)")
    return {"model": model, "backend": backend, "batch_size": batch_size, "pairs": pairs,
            "neighbour": neighbour, "min_effect": min_effect, "texts": len(setup.texts), "cells": cells,
            "gate": gate}


def format_pairs(result: dict[str, Any]) -> list[str]:
    """The pairs study as a markdown table, one row per session policy."""
    where = ", CPU-bound neighbour on the other core" if result["neighbour"] else ", quiet"
    lines = [f"{result['backend']} of {result['model']}, batch {result['batch_size']}, one thread, "
             f"{result['texts']} texts per pass; {result['pairs']} A/A' pairs of sessions of one file, "
             f"judged at +{result['min_effect']:.0%}{where}",
             "",
             "| sessions | A'/A per pair: min, max | sd across pairs | per-round sd (median) | A/A' fails | "
             "inconclusive | mean rounds |",
             "|---|---|---|---|---|---|---|"]
    for policy, cells in result["cells"].items():
        ratios = np.array([c["ratio"] for c in cells])
        statuses = [c["status"] for c in cells]
        lines.append(f"| {policy} | {ratios.min():.3f}, "
                     f"{ratios.max():.3f} | {np.std(np.log(ratios), ddof=1):.1%} | "
                     f"{np.median([c['round_sd'] for c in cells]):.1%} | "
                     f"{statuses.count('fail')} of {len(cells)} | {statuses.count('inconclusive')} | "
                     f"{np.mean([c['rounds'] for c in cells]):.0f} |")
    gate = result.get("gate")
    if gate is not None:
        size = f"a file of {gate['file_bytes'] / 1e6:.1f} MB" if gate["file_bytes"] is not None else "no file"
        rule = "at most" if gate["reopens"] else "not a file on the CPU of at most"
        lines += ["", f"The A/B's rule for it: {'reopened' if gate['reopens'] else 'held'} ({size}; "
                      f"{rule} {REOPEN_MAX_BYTES / 2**20:g} MiB)"]
    return lines


def format_result(result: dict[str, Any]) -> list[str]:
    """The result as a markdown table, one row per clock."""
    lines = [f"{result['backend']} of {result['model']}, batch {result['batch_size']}, one thread, "
             f"{result['texts']} texts x {result['passes']} pass(es) per arm; B = a copy "
             f"with {result['blocks']} blocks of extra work; "
             f"{result['rounds']} recorded rounds, {result['trials']} trials of up to {result['max_rounds']} "
             f"rounds" + (", CPU-bound neighbour on the other core" if result["neighbour"] else ", quiet"),
             "",
             "| clock | fails at | per-round sd (A/A') | B measured | A/A' fails | A/A' inconclusive | "
             "B caught | B inconclusive | mean rounds (A/A', B) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in result["rates"]:
        aa, ab = row["aa"], row["ab"]
        lines.append(f"| {row['clock']} | +{row['min_effect']:.0%} | {row['sd_aa']:.1%} | "
                     f"{row['measured_slowdown']:+.1%} | {aa['fail']:.1%} | {aa['inconclusive']:.1%} | "
                     f"{ab['fail']:.1%} | {ab['inconclusive']:.1%} | "
                     f"{aa['mean_rounds']:.0f}, {ab['mean_rounds']:.0f} |")
    return lines
