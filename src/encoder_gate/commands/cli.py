"""The ``encoder-gate`` command: ``encoder-gate <subcommand> [options]``.

Each subcommand is one :class:`Command` in :data:`COMMANDS`: a help line, a function
that adds its arguments to its parser, and a function that runs it and returns the exit
status. To add one (e.g. ``export``), write those two functions and add an entry.

    encoder-gate init --model models/my-classifier --dataset data/test.jsonl   # in your repository
    encoder-gate export default --out onnx-default --variants fp32,int8 --dedupe
    encoder-gate report                                  # newest save under .benchmarks
    encoder-gate report --benchmarks .benchmarks/Linux-CPython-3.11-64bit/0003_x.json --out rep
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from encoder_gate.accuracy.thresholds import MODES
from encoder_gate.commands import export, init
from encoder_gate.commands.export_data import project_data
from encoder_gate.commands.history import history_arguments, run_history
from encoder_gate.commands.merge import merge_arguments, run_merge
from encoder_gate.commands.prune import prune_arguments, run_prune
from encoder_gate.commands.pyproject import CARRIED_BY_FORCE
from encoder_gate.commands.search import SearchSettings
from encoder_gate.commands.studies import (
    ab_noise_arguments,
    accuracy_noise_arguments,
    noise_arguments,
    run_ab_noise,
    run_accuracy_noise,
    run_noise,
)
from encoder_gate.config import (
    DEFAULT_CACHE_DIR,
    DEFAULT_LABEL_COLUMN,
    DEFAULT_TEXT_COLUMN,
    check_writable,
    project_path,
    read_pyproject_table,
)
from encoder_gate.data.readers import SUFFIXES
from encoder_gate.documents import AB_FILE, ACCURACY_FILE, SPEEDUPS_FILE, VERDICT_JSON, read_document
from encoder_gate.errors import GateError
from encoder_gate.history.store import instant
from encoder_gate.publish import current_verdict
from encoder_gate.reporting.benchmarks import write_report
from encoder_gate.runtime.provenance import changed_since
from encoder_gate.runtime.worktree import head_commit

DEFAULT_BENCHMARKS_ROOT = Path(".benchmarks")
DEFAULT_VERDICT_DIR = Path(".encoder-gate")  # the gate's report directory (--gate-report-dir's default)
REPORT_SUBDIR = "report"  # report's own output, inside the gate's report directory


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- report ---------------------------------------------------------------------------------


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmarks", nargs="+", type=Path, metavar="PATH_OR_DIR",
                        help="pytest-benchmark JSON files, or directories whose newest save is used "
                             f"(default: the newest save under {DEFAULT_BENCHMARKS_ROOT})")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_VERDICT_DIR, metavar="DIR",
                        help="the gate's report directory (--gate-report-dir), whose accuracy.json, ab.json "
                             f"and speedups.json are read (default: {DEFAULT_VERDICT_DIR})")
    parser.add_argument("--accuracy", type=Path, metavar="FILE",
                        help=f"accuracy.json of an accuracy run (default: DIR/{ACCURACY_FILE} if it exists)")
    parser.add_argument("--ab", type=Path, metavar="FILE",
                        help=f"ab.json of a --gate-base session (default: DIR/{AB_FILE} if it exists)")
    parser.add_argument("--out", type=Path, metavar="OUT",
                        help="output directory for benchmarks.md and the PNGs "
                             f"(default: DIR/{REPORT_SUBDIR})")


def _written(path: Path, keys: tuple[str, ...]) -> float | None:
    """When the document at `path` says it was written (the value at `keys`, ISO 8601), else its file's
    time; None where there is no file. A report directory copied without its files' times (a downloaded
    artifact) read a pytest-benchmark save as older than the speedups.json of its own session."""
    if not path.is_file():
        return None
    try:
        value: Any = json.loads(path.read_text())
        for key in keys:
            value = value[key]
    except (OSError, ValueError, KeyError, TypeError):
        return path.stat().st_mtime
    when = instant(value)
    return when if when != -math.inf else path.stat().st_mtime


def run_report(args: argparse.Namespace) -> int:
    report_dir: Path = args.report_dir  # (a second model's: a trial's report drew the first model's)
    out: Path = args.out or report_dir / REPORT_SUBDIR
    check_writable(out, "--out")
    accuracy = args.accuracy
    if accuracy is None and (report_dir / ACCURACY_FILE).is_file():
        accuracy = report_dir / ACCURACY_FILE
    ab = args.ab
    if ab is None and (report_dir / AB_FILE).is_file():
        ab = report_dir / AB_FILE
    files = write_report(out, args.benchmarks, accuracy, DEFAULT_BENCHMARKS_ROOT, ab)
    for source in files.sources:
        print(f"read {source}")
    print("".join(f"warning: left out: {why}\n" for why in files.left_out), end="", file=sys.stderr)
    speedups = report_dir / SPEEDUPS_FILE
    last_run = _written(speedups, ("provenance", "written")) if args.benchmarks is None else None
    older = [s for s in files.sources
             if last_run is not None and (_written(s, ("datetime",)) or 0.0) < last_run - 60]
    if older:  # the newest save is not the last run's (a PR run is not saved)
        print(f"warning: the newest pytest-benchmark save, {older[0]}, is older than {speedups}: its tables "
              "are an earlier run's figures, not the last session's; save that session with "
              "--benchmark-autosave or --benchmark-json FILE (then --benchmarks FILE)", file=sys.stderr)
    if not files.sources and args.benchmarks is None and speedups.is_file():  # walk AG: a run, not saved
        print(f"warning: no pytest-benchmark save to draw the throughput tables and plots from; the last "
              f"session's speedups are in {speedups} and its verdict. Save a session with "
              "--benchmark-autosave (or --benchmark-json FILE, then --benchmarks FILE)", file=sys.stderr)
    for used in (accuracy, ab if files.versus_drawn else None):  # (one left out is said above, not read)
        if used is not None:
            print(f"read {used}")
    print(f"wrote {files.markdown}")
    for plot in files.plots:
        print(f"wrote {plot}")
    return 0


# --- export ---------------------------------------------------------------------------------


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="default, tiny, minilm, tiny-bert, ..., or a local Hugging Face model directory "
                             "(anything --gate-model accepts)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output directory: new, empty, or an earlier export's (its files are "
                             "replaced); a directory holding other files is refused")
    parser.add_argument("--variants", default="fp32,fp16,int8", metavar="LIST",
                        help="comma list of fp32, fp16, int8 (default: all three)")
    parser.add_argument("--optimize", metavar="LEVEL",
                        help="ONNX Runtime optimization level as optimum defines it: O1 (basic), O2 "
                             "(extended + transformer fusions), O3 (O2 + GELU approximation); O4 "
                             "(O3 + FP16 mixed precision) is GPU-only in optimum and refused on CPU. Run "
                             "by optimum's ORTOptimizer where installed, else by ONNX Runtime's "
                             "transformer optimizer with the same options")
    parser.add_argument("--int8-weights", choices=("QUInt8", "QInt8"), default="QUInt8",
                        help="the INT8 variant's weights: QUInt8 (default; the same numbers on every CPU) or "
                             "QInt8 (faster on CPUs with VNNI or AMX, saturates on x86 CPUs without: both "
                             "paths are measured and the card says which CPUs each holds for)")
    parser.add_argument("--dedupe", action="store_true",
                        help="store identical initializers once in every variant (shared weights, "
                             "e.g. ALBERT's layers)")
    parser.add_argument("--dataset", metavar="SRC",
                        help="labelled evaluation data (what --gate-dataset accepts), test split; default: "
                             "the `texts` or `dataset` of [tool.encoder-gate] in ./pyproject.toml (with its "
                             "columns), else the bundled test split, scored when the model has its "
                             "go_emotions labels")
    parser.add_argument("--texts", metavar="FILE",
                        help="unlabelled evaluation texts, one per line (what --gate-texts accepts): parity "
                             "with torch FP32 only, no task metrics")
    parser.add_argument("--text-column", metavar="NAME",
                        help=f"the dataset's text column (default: {DEFAULT_TEXT_COLUMN})")
    parser.add_argument("--label-column", metavar="NAME",
                        help=f"the dataset's label column (default: {DEFAULT_LABEL_COLUMN})")
    parser.add_argument("--pair-column", metavar="NAME",
                        help="the dataset's column of each row's second text: rows judged as sentence pairs "
                             "(with --texts: each line's two texts, split by a tab)")
    parser.add_argument("--relevant-grade", type=float, metavar="GRADE",
                        help="a reranker's dataset of graded relevance: a row is relevant from this grade on "
                             "(default: [tool.encoder-gate]'s relevant-grade, with its dataset)")
    parser.add_argument("--max-tokens", type=int, metavar="N",
                        help="the most tokens of a text fed (default: [tool.encoder-gate]'s max-tokens, "
                             "else 512)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N examples (0: all)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="intra-op threads for torch and ONNX Runtime (0: library default)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, metavar="DIR",
                        help="the suite's artifact cache, reused so nothing the gate built is rebuilt "
                             "(default: .encoder-gate/cache)")
    search = parser.add_argument_group("recipe search (--search)")
    defaults = SearchSettings()
    search.add_argument("--search", action="store_true",
                        help="build every recipe (FP32 plain, O1-O3, dynamo; dynamic INT8 grid; static QDQ "
                             "INT8; FP16 on a GPU), judge each as the gate does, ship the fastest that "
                             "passes per number format, with a table of every candidate and search.png")
    search.add_argument("--recipes", metavar="LIST",
                        help=f"comma list of candidates (default: all {len(defaults.candidates)}: "
                             f"{', '.join(defaults.candidates)})")
    search.add_argument("--batch-sizes", default="1,8", metavar="LIST",
                        help="batch sizes of the speed cells (default: 1,8)")
    search.add_argument("--search-rounds", type=int, metavar="N",
                        help=f"interleaved rounds per candidate and batch size (default: {defaults.rounds})")
    search.add_argument("--round-seconds", type=float, metavar="S",
                        help=f"each arm's share of a round (default: {defaults.round_seconds})")
    search.add_argument("--speed-texts", type=int, metavar="N",
                        help=f"texts timed per pass (default: {defaults.speed_texts})")
    search.add_argument("--calibration", type=Path, metavar="FILE",
                        help="static INT8's calibration texts, one per line (default: the validation split "
                             "of the dataset; never its test split)")
    search.add_argument("--calibration-texts", type=int, metavar="N",
                        help=f"how many calibration texts (default: {defaults.calibration_texts})")


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise GateError(f"{option} takes a comma list of integers, e.g. 1,8; got {text!r}") from None


#: The recipe search's own options: (option, argparse dest, SearchSettings field).
SEARCH_OPTIONS = (("--recipes", "recipes", "candidates"), ("--calibration", "calibration", "calibration"),
                  ("--search-rounds", "search_rounds", "rounds"),
                  ("--round-seconds", "round_seconds", "round_seconds"),
                  ("--speed-texts", "speed_texts", "speed_texts"),
                  ("--calibration-texts", "calibration_texts", "calibration_texts"))


def run_export(args: argparse.Namespace) -> int:
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    search = None
    # the search's own options, as given (None: not given, the search's default), each by its field
    given = {option: (field, getattr(args, dest)) for option, dest, field in SEARCH_OPTIONS
             if getattr(args, dest) is not None}
    if args.search:
        chosen = {field: value for field, value in given.values()}
        if "candidates" in chosen:
            chosen["candidates"] = tuple(r.strip() for r in chosen["candidates"].split(",") if r.strip())
        search = SearchSettings(**chosen)
    elif given:  # it would be ignored (walk AB: --calibration-texts 0 without --search was accepted)
        raise GateError(f"{', '.join(given)} belong{'s' if len(given) == 1 else ''} to the recipe search: "
                        "add --search")
    data = project_data(args.dataset, args.texts, args.text_column, args.label_column, Path.cwd(),
                        args.pair_column, args.max_tokens, model=args.model,
                        relevant_grade=args.relevant_grade)
    request = export.ExportRequest(model=args.model, out=args.out, variants=variants, optimize=args.optimize,
                            dedupe=args.dedupe, **data, limit=args.limit,
                            cache_dir=args.cache_dir, threads=args.threads, search=search,
                            batch_sizes=_int_list(args.batch_sizes, "--batch-sizes"),
                            int8_weights=args.int8_weights)
    export.run_export(request)  # its progress names every file it wrote, once
    return 0


# --- init -----------------------------------------------------------------------------------


def init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR",
                        help="the project to scaffold into (default: the current directory)")
    parser.add_argument("--model", metavar="PATH_OR_ID",
                        help="your fine-tuned Hugging Face model directory (with config.json), or a hub id "
                             "(org/name); ONNX files inside the directory are added as backends (default, "
                             "with --force: the model, dataset and columns DIR's [tool.encoder-gate] names)")
    parser.add_argument("--dataset", metavar="FILE",
                        help=f"labelled evaluation data: a {SUFFIXES} file; its text and label columns "
                             "are detected from the first row")
    parser.add_argument("--texts", metavar="FILE",
                        help="unlabelled texts, one per line: the accuracy gate then runs the parity "
                             "checks only")
    parser.add_argument("--text-column", metavar="NAME", help="the dataset's text column (default: detected)")
    parser.add_argument("--label-column", metavar="NAME",
                        help="the dataset's label column (default: detected)")
    parser.add_argument("--pair-column", metavar="NAME",
                        help="the dataset's column of each row's second text, fed with the text as a "
                             "sentence pair (default: detected, e.g. hypothesis beside premise)")
    parser.add_argument("--relevant-grade", type=float, metavar="GRADE",
                        help="a reranker's dataset of graded relevance (0 to 3, say): a row is relevant from "
                             "this grade on")
    parser.add_argument("--backends", metavar="LIST",
                        help="comma list of backends (default: torch, torch-compile, onnx-fp32, onnx-fp16, "
                             "onnx-int8, plus the model directory's ONNX files as onnx:PATH)")
    parser.add_argument("--force", action="store_true",
                        help="replace existing files and an existing [tool.encoder-gate] table")
    parser.add_argument("--shards", type=int, default=1, metavar="N",
                        help="spread the gate over N runners: a matrix of N gate jobs, each a share of the "
                             "backends, and a verdict job that merges them (default 1: one gate job)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: a GPU runner's gate (needs --runner; dynamic INT8 judged on its CPU)")
    parser.add_argument("--runner", metavar="LABELS", help="the gate jobs' runner labels (ubuntu-latest)")
    parser.add_argument("--thresholds", metavar="FILE",
                        help='the thresholds your service decides at: a JSON file of each label\'s ({"joy": '
                             "0.35, ...}); F1, the per-label check and the flips are judged there "
                             "(default 0.5)")


def run_init(args: argparse.Namespace) -> int:
    backends = None if args.backends is None else tuple(args.backends.split(","))
    kept = _kept_by_force(args)
    request = init.InitRequest(model=args.model or kept["model"], root=args.dir,
                               dataset=args.dataset or kept.get("dataset"),
                               texts=args.texts or (kept.get("texts") if args.dataset is None else None),
                               backends=backends, text_column=args.text_column or kept.get("text-column"),
                               label_column=args.label_column or kept.get("label-column"), force=args.force,
                               pair_column=args.pair_column or kept.get("pair-column"),
                               relevant_grade=(args.relevant_grade if args.relevant_grade is not None
                                               else float(kept["relevant-grade"]) if "relevant-grade" in kept
                                               else None),
                               shards=args.shards, device=args.device,
                               runner=init.runner_labels(args.runner),
                               thresholds=args.thresholds or kept.get("thresholds"))
    plan, lines = init.run_init(request)
    for warning in plan.warnings:
        print(f"encoder-gate init: warning: {warning}", file=sys.stderr)
    for line in (*plan.notes, *lines, "", *init.next_steps(args.dir)):
        print(line)
    return 0


def _kept_by_force(args: argparse.Namespace) -> dict[str, str]:
    """Without --model: with --force, what DIR's [tool.encoder-gate] names (its model, dataset or texts
    and columns, the paths as seen from here), so scaffolding again keeps them; else a usage error."""
    table = read_pyproject_table(args.dir) if args.model is None else {}
    model = table.get("model")
    if args.model is None and not (args.force and isinstance(model, str)):
        where = args.dir / "pyproject.toml"
        raise GateError("--model is required: your Hugging Face model directory"
                        + (f" (with --force, the model [tool.encoder-gate] of {where} names is kept, and it "
                           "names none)" if args.force else ""))
    kept = {k: str(v) for k, v in table.items()  # (relevant-grade, a number: below)
            if k in CARRIED_BY_FORCE and k != "relevant-grade" and isinstance(v, str) and v not in MODES}
    grade = table.get("relevant-grade")
    if isinstance(grade, (int, float)) and not isinstance(grade, bool):
        kept["relevant-grade"] = str(grade)
    for key in ("model", "dataset", "texts", "thresholds"):  # the table's paths, as seen from here
        if key in kept:
            kept[key] = project_path(args.dir, kept[key])
    return kept


# --- verdict --------------------------------------------------------------------------------


def verdict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_VERDICT_DIR, metavar="DIR",
                        help="the gate's report directory, where the accuracy and speed results are and "
                             f"verdict.md is written (default: {DEFAULT_VERDICT_DIR})")


def run_verdict(args: argparse.Namespace) -> int:
    """Print the verdict; exit 1 when it fails (as `merge` does), so a CI step can gate on it."""
    if not Path(args.report_dir).is_dir():
        raise GateError(f"--report-dir {args.report_dir} is not a directory: name the report directory a "
                        "gate session wrote (default .encoder-gate)")
    text: str = current_verdict(args.report_dir)
    print(text, end="" if text.endswith("\n") else "\n")
    decided = read_document(args.report_dir, VERDICT_JSON) or {}
    judged = {name: (read_document(args.report_dir, name) or {}).get("provenance")
              for name in decided.get("sources") or {}}
    changed = changed_since(judged, head_commit(Path(args.report_dir).resolve()))
    if changed:  # of the files as they were, not these (walk AE); on stdout, as a job summary keeps
        print("encoder-gate verdict: FAIL for the files here now: " + "; ".join(changed)
              + ". Run the gate again (pytest accuracy, pytest benchmarks) to judge them")
        return 1
    return 0 if decided.get("passed") else 1


# --- int8-audit -----------------------------------------------------------------------------


def audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="ONNX files to audit")
    parser.add_argument("--nodes", type=int, default=10, metavar="N",
                        help="list the N products with the largest share of saturable pairs (default 10; "
                             "0: none, -1: all)")
    parser.add_argument("--json", action="store_true", help="print the audits as JSON")


def run_audit(args: argparse.Namespace) -> int:
    """The static saturation audit of each file (backends.int8_rewrite.audit): exit 0 whatever it finds."""
    import json

    from encoder_gate.backends.int8_path import cpu_path, cpu_path_words
    from encoder_gate.backends.int8_rewrite import audit

    found = {}
    for path in args.files:
        if not path.is_file():
            raise GateError(f"{path} is not a file; name an ONNX file")
        if path.stat().st_size == 0:
            raise GateError(f"{path} is empty; name an ONNX file")
        try:
            import onnx

            model = onnx.load(str(path), format="protobuf")
            if not model.graph.node:  # protobuf reads many a non-ONNX file as an empty model
                raise GateError(f"{path} holds no ONNX graph (no nodes); name an ONNX file")
            found[str(path)] = audit(model)
        except GateError:
            raise
        except Exception as exc:  # onnx's DecodeError and friends: not a readable ONNX file
            raise GateError(f"{path} could not be read as an ONNX model ({type(exc).__name__}: "
                            f"{exc})") from None
    if args.json:
        print(json.dumps({name: a.as_dict() for name, a in found.items()}, indent=2))
        return 0
    here = cpu_path()
    print(f"this CPU computes U8S8 products on the {here} path ({cpu_path_words(here)})")
    for name, result in found.items():
        print(f"\n{name}: {result.summary()}")
        listed = sorted(result.products, key=lambda p: -p.share)
        for p in listed[:None if args.nodes < 0 else args.nodes]:
            shape = "x".join(map(str, p.shape)) or "computed"
            print(f"  {p.saturable:>9,} of {p.pairs:>10,} pairs ({p.share:6.2%})  {p.op_type:<22} "
                  f"{shape:<12} {p.node}")
    return 0


COMMANDS: dict[str, Command] = {
    "noise": Command("false-failure and detection rates of both speed gates from repeated unchanged runs",
                     noise_arguments, run_noise),
    "ab-noise": Command("false-alarm and detection rates of the PR-vs-base speed A/B, on real files",
                        ab_noise_arguments, run_ab_noise),
    "accuracy-noise": Command("false-alarm and detection rates of the accuracy gate on random half-splits of "
                              "the evaluation set, healthy and damaged backends", accuracy_noise_arguments,
                              run_accuracy_noise),
    "report": Command("turn saved benchmark (and accuracy) JSON into benchmarks.md and PNG plots",
                      report_arguments, run_report),
    "export": Command("export a model's ONNX FP32/FP16/INT8 variants with a model card of measured parity "
                      "and F1", export_arguments, run_export),
    "init": Command("scaffold the gate into your repository: [tool.encoder-gate], the test modules and a "
                    "GitHub Actions workflow", init_arguments, run_init),
    "verdict": Command("print the gate's verdict (markdown) and write it to <report-dir>/verdict.md; exit 1 "
                       "when it fails",
                       verdict_arguments, run_verdict),
    "merge": Command("join the report directories of a gate run in shards (--gate-shard K/N) into one "
                     "verdict", merge_arguments, run_merge),
    "int8-audit": Command("which INT8 matrix products of ONNX files can saturate on x86 CPUs without VNNI, "
                          "per node and in total, and what cures it", audit_arguments, run_audit),
    "history": Command("keep the gate's results across commits (record), find what crept while every PR "
                       "passed (check), draw them (render)", history_arguments, run_history),
    "prune-cache": Command("remove the artifact cache's entries the last gate session did not use (before CI "
                           "saves the cache)", prune_arguments, run_prune),
}


# --- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="encoder-gate",
        description="Accuracy and speed gate for transformer encoder classifiers.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run, parser=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``encoder-gate``; returns the exit status (2 for usage errors, 1 for GateError)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said with the command's own usage (`encoder-gate verdict DIR`: its --report-dir)
        (getattr(args, "parser", None) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    out = _ReaderMayLeave(sys.stdout)
    stdout, sys.stdout = sys.stdout, out
    try:
        status: int = args.run(args)
    except GateError as exc:
        print(f"encoder-gate {args.command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        out.flush()  # a pipe's buffer, here: its reader gone, it goes nowhere, not to exit 120
        sys.stdout = stdout
    if out.failed is not None:  # its output is lost (a full disk): one line, and not a success
        with contextlib.suppress(OSError):  # (stderr on the same full disk: the status says it)
            print(f"encoder-gate {args.command}: error: could not write to stdout "
                  f"({out.failed.strerror or out.failed})", file=sys.stderr)
        return status or 1
    return status


class _ReaderMayLeave:
    """stdout whose reader may go away (`| head`, `| true`) or that cannot be written (`> /dev/full`):
    the command goes on without it and writes its files. A reader gone, it keeps its exit status (a
    BrokenPipeError ended it at once with 0: a failed merge behind `| true` exited 0 and wrote no
    verdict, walk AH); output lost otherwise is said in one line and fails it (a full disk ended a
    PASS in a traceback, walk AL, and int8-audit --json exited 0 with nothing written, review AP)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._gone = False
        self.failed: OSError | None = None  # a write that failed otherwise than by its reader leaving

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._leave(exc)
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._leave(exc)

    def _leave(self, exc: OSError) -> None:
        self._gone = True
        if not isinstance(exc, BrokenPipeError):  # a full disk, say: main says it and fails
            self.failed = exc
        with contextlib.suppress(OSError, ValueError):  # what is still buffered goes nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
