"""The noise studies' commands: `encoder-gate noise` (both speed gates' false failures and detection
from repeated unchanged runs), `accuracy-noise` (the accuracy gate's, on random half-splits) and
`ab-noise` (the PR-vs-base speed A/B's, on real files; `--pairs`, as the A/B holds its sessions).
Registered in :data:`encoder_gate.commands.cli.COMMANDS`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from encoder_gate.config import DEFAULT_CACHE_DIR
from encoder_gate.documents import write_json
from encoder_gate.errors import GateError
from encoder_gate.speed.ab import ABSettings
from encoder_gate.speed.files import benchmark_files, load_benchmarks
from encoder_gate.studies import ab_noise, accuracy_noise
from encoder_gate.studies.speed_noise import format_noise, speed_gate_noise

# --- noise ----------------------------------------------------------------------------------


def noise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmarks", nargs="+", type=Path, required=True, metavar="PATH_OR_DIR",
                        help="pytest-benchmark JSON files of repeated runs of an unchanged tree, or "
                             "directories holding them (every save in a directory is used)")
    parser.add_argument("--stat", default="min", choices=("min", "median", "mean"),
                        help="the statistic --benchmark-compare-fail would use (default: min)")
    parser.add_argument("--slowdown", type=float, default=1.3, metavar="FACTOR",
                        help="simulated regression for the detection rate (default: 1.3, 30%% slower)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the speed gate's test (default: 0.05)")


def run_noise(args: argparse.Namespace) -> int:
    if args.slowdown <= 1:
        raise GateError(f"--slowdown must be above 1 (1.3 = 30% slower), got {args.slowdown}")
    files = [f for p in args.benchmarks for f in (benchmark_files(p) if p.is_dir() else [p])]
    docs = load_benchmarks(files)
    if not 0 < args.alpha < 0.5:
        raise GateError(f"--alpha is a significance level in (0, 0.5), e.g. 0.05; got {args.alpha:g}")
    rows = speed_gate_noise(docs, stat=args.stat, slowdown=args.slowdown, alpha=args.alpha)
    print("\n".join(format_noise(rows, len(docs), args.slowdown)))
    return 0


# --- accuracy-noise -------------------------------------------------------------------------


def accuracy_noise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="default", metavar="MODEL",
                        help="a multi-label classifier (anything --gate-model accepts; default: default)")
    parser.add_argument("--splits", type=int, default=200, metavar="N",
                        help="random half-splits of the evaluation set to judge (default: 200)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the splits and of the logit noise (default: 0)")
    parser.add_argument("--label", default="joy", metavar="NAME",
                        help="the label whose logit is shifted down for the one-label damage (default: joy, "
                             "53 gold positives in the bundled test split)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, metavar="DIR",
                        help="the suite's artifact cache, reused so nothing the gate built is rebuilt "
                             "(default: .encoder-gate/cache)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="intra-op threads for torch and ONNX Runtime (0: library default)")


def run_accuracy_noise(args: argparse.Namespace) -> int:
    import time

    if args.splits < 1:
        raise GateError(f"--splits must be at least 1, got {args.splits}")
    started = time.monotonic()
    preds = accuracy_noise.session_predictions(args.model, args.cache_dir, threads=args.threads,
                                               label=args.label)
    result = accuracy_noise.measure(preds, splits=args.splits, seed=args.seed, label=args.label)
    print("\n".join(accuracy_noise.format_result(result, args.cache_dir)))
    print(f"measured in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


# --- ab-noise -------------------------------------------------------------------------------


def ab_noise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="default", metavar="MODEL", help="the model (default: default)")
    parser.add_argument("--backend", default="onnx-int8", metavar="NAME",
                        help="an ONNX backend whose file is A (default: onnx-int8)")
    parser.add_argument("--batch-size", type=int, default=1, metavar="N", help="batch size (default: 1)")
    parser.add_argument("--slowdown", type=float, default=1.05, metavar="FACTOR",
                        help="how much slower B is made, same outputs (default: 1.05)")
    parser.add_argument("--rounds", type=int, default=300, metavar="N",
                        help="interleaved rounds of A, A' and B to record (default: 300)")
    parser.add_argument("--trials", type=int, default=1000, metavar="N",
                        help="trials of the A/B's rule replayed on windows of the rounds (default: 1000)")
    parser.add_argument("--max-rounds", type=int, default=ABSettings().max_rounds, metavar="N",
                        help=f"the most rounds a trial may use (default: {ABSettings().max_rounds})")
    parser.add_argument("--blocks", type=int, default=None, metavar="N",
                        help="blocks of extra work in B instead of calibrating to --slowdown (the same B "
                             "in every condition)")
    parser.add_argument("--neighbour", action="store_true",
                        help="run a CPU-bound numpy process on another core while recording")
    parser.add_argument("--min-slowdowns", default=str(ABSettings().min_effect), metavar="LIST",
                        help="the minimum effects to replay the rule at, comma-separated (default: "
                             f"{ABSettings().min_effect}; e.g. 0.03,0.05)")
    parser.add_argument("--pairs", type=int, default=None, metavar="N",
                        help="instead: N A/A' cells as the A/B measures them, each on its own pair of "
                             "sessions of the file, held for the cell and reopened each round (judged at "
                             "the first of --min-slowdowns)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the result here")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, metavar="DIR",
                        help="the suite's artifact cache (default: .encoder-gate/cache)")


def _min_effects(text: str) -> list[float]:
    """--min-slowdowns, each checked as ABSettings checks a minimum effect."""
    try:
        min_effects = [float(x) for x in text.split(",") if x.strip()]
        for m in min_effects:
            ABSettings(min_effect=m)
    except ValueError as exc:
        raise GateError(f"--min-slowdowns {text!r}: {exc}") from None
    if not min_effects:
        raise GateError(f"--min-slowdowns {text!r} names no minimum slowdown, e.g. 0.05")
    return min_effects


def run_ab_noise(args: argparse.Namespace) -> int:
    if args.pairs is not None:
        return run_ab_noise_pairs(args)
    if args.slowdown <= 1 or args.rounds < args.max_rounds or args.trials < 1:
        raise GateError("--slowdown must be above 1, --rounds at least --max-rounds, --trials at least 1")
    min_effects = _min_effects(args.min_slowdowns)
    minutes = args.rounds * 3 * ABSettings().round_seconds * 1.3 / 60
    print(f"recording {args.rounds} rounds takes about {minutes:.1f} min after the build", file=sys.stderr)
    result = ab_noise.measure(args.model, args.backend, args.batch_size, slowdown=args.slowdown,
                              rounds=args.rounds, trials=args.trials, cache_dir=args.cache_dir,
                              neighbour=args.neighbour, seed=args.seed, max_rounds=args.max_rounds,
                              progress=lambda m: print(m, file=sys.stderr), blocks=args.blocks,
                              min_effects=min_effects)
    print("\n".join(ab_noise.format_result(result)))
    if args.json is not None:
        write_json(args.json, result)
    return 0


def run_ab_noise_pairs(args: argparse.Namespace) -> int:
    if args.pairs < 2:
        raise GateError(f"--pairs must be at least 2: the spread across pairs is the point; got {args.pairs}")
    min_effect = _min_effects(args.min_slowdowns)[0]
    cell = ABSettings().looks[0] * 2 * ABSettings().round_seconds * 1.3
    print(f"{args.pairs} pairs of two cells of at least {ABSettings().looks[0]} rounds take about "
          f"{args.pairs * 2 * cell / 60:.0f} min or more after the build", file=sys.stderr)
    result = ab_noise.measure_pairs(args.model, args.backend, args.batch_size, pairs=args.pairs,
                                    cache_dir=args.cache_dir, neighbour=args.neighbour, seed=args.seed,
                                    progress=lambda m: print(m, file=sys.stderr), min_effect=min_effect)
    print("\n".join(ab_noise.format_pairs(result)))
    if args.json is not None:
        write_json(args.json, result)
    return 0
