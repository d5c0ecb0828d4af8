"""``encoder-gate merge DIR... --out DIR``: the shards of one gate joined into one verdict.

    pytest accuracy benchmarks --gate-shard 1/3 --gate-report-dir shard-1   # on each runner
    encoder-gate merge shard-1 shard-2 shard-3 --out .encoder-gate           # then, once

It writes the merged accuracy.json (and accuracy.md), speedups.json and ab.json into --out,
the report (`report/benchmarks.md` and its plots, from every shard's `benchmarks.json`), decides
the verdict from them as one session would (verdict.md, verdict.json), prints it, and exits 1
when it fails. Shards that cannot be merged (one missing, one given twice, another plan,
model, dataset or commit) fail the verdict too: verdict.md then says which shard and why, and
no results document is left in --out for a later verdict to judge.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection
from pathlib import Path

from encoder_gate.cache import read_record
from encoder_gate.commands.layout import SHARD_COSTS_FILE
from encoder_gate.config import check_writable
from encoder_gate.decision import refused
from encoder_gate.documents import (
    AB_FILE,
    ACCURACY_FILE,
    ACCURACY_PAGE,
    VERDICT_JSON,
    write_document,
    write_json,
)
from encoder_gate.errors import GateError
from encoder_gate.publish import refresh_verdict, write_decided, write_payload
from encoder_gate.reporting.benchmarks import write_report
from encoder_gate.shards.merge import check_shards, merge_documents, merged, read_shard
from encoder_gate.shards.plan import COSTS_FILE, with_costs
from encoder_gate.speed.files import holds_gate_benchmarks

#: A session's pytest-benchmark results in its report directory (the workflow's `--benchmark-json`):
#: each shard's, for the merged report; the plain workflow's, for its report.
BENCHMARKS_JSON = "benchmarks.json"


def merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="*", type=Path, metavar="DIR",
                        help="each shard's report directory (the --gate-report-dir of a session run with "
                             "--gate-shard K/N), every shard of the plan once")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where the merged results and the verdict go (e.g. .encoder-gate)")


def run_merge(args: argparse.Namespace) -> int:
    out: Path = args.out
    inside = [d for d in args.shards if Path(d).resolve() == out.resolve()]
    if inside:  # the merged documents would replace that shard's own, which a second merge then reads
        raise GateError(f"--out {out} is the shard directory {inside[0]}: the merged results would overwrite "
                        "its own; give a directory of its own (e.g. --out .encoder-gate)")
    check_writable(out, "--out")
    try:
        results = [read_shard(d) for d in args.shards]
        plan = check_shards(results)
        documents = merge_documents(results, plan)
    except GateError as exc:
        return _cannot_merge(out, str(exc))
    for name, doc in documents.items():
        if name == ACCURACY_FILE:
            write_payload(out, doc)
        else:
            write_document(out, name, doc)
    for name in merged():  # an earlier merge's document of a kind these shards did not write
        if name not in documents:
            (out / name).unlink(missing_ok=True)
    seconds = {name: float(v) for r in results for name, v in (r.descriptor.get("seconds") or {}).items()}
    if seconds:  # the merge's own output, no lock file in it (a cache's record is locked: record_costs)
        costs, model = out / COSTS_FILE, str(results[0].descriptor.get("model") or "")
        write_json(costs, with_costs(read_record(costs), model, seconds))
    print(f"encoder-gate merge: {len(results)} shards ({plan.describe()}) into {out}; each backend's "
          f"seconds in {out / COSTS_FILE} (commit it as {SHARD_COSTS_FILE} to deal the next run by them, "
          "or pass it with --gate-shard-costs)")
    _report(out, [r.directory for r in results], set(documents))
    report = refresh_verdict(out, lambda message: None)
    if report is None:
        return _cannot_merge(out, "no verdict could be decided from the merged results")
    print(report.markdown, end="" if report.markdown.endswith("\n") else "\n")
    return 0 if report.verdict.passed else 1


def _report(out: Path, shards: list[Path], documents: Collection[str]) -> None:
    """The report (benchmarks.md and its plots) into `out`/report: every shard's pytest-benchmark
    results (a shard run with `--benchmark-json <its report dir>/benchmarks.json`) with the merged
    accuracy and A/B results. Nothing to draw is no error: the verdict is what decides (a shard that
    timed nothing, its share all accuracy or unchanged against its base, wrote a save of none)."""
    benches = [d / BENCHMARKS_JSON for d in shards
               if (d / BENCHMARKS_JSON).is_file() and holds_gate_benchmarks(d / BENCHMARKS_JSON)]
    accuracy = out / ACCURACY_FILE if ACCURACY_FILE in documents else None
    ab = out / AB_FILE if AB_FILE in documents else None
    if not benches and accuracy is None and ab is None:
        return
    files = write_report(out / "report", benches or None, accuracy, None, ab, shards=True)  # theirs only
    print(f"encoder-gate merge: the report in {files.markdown} ({len(benches)} shard(s) with benchmarks)")


def _cannot_merge(out: Path, why: str) -> int:
    """verdict.md says the merge failed and why; no results are left in `out` to be judged later."""
    for name in (*merged(), VERDICT_JSON, ACCURACY_PAGE):
        (out / name).unlink(missing_ok=True)
    text = write_decided(out, refused(f"the shards were not merged: {why}")).markdown
    print(text, end="" if text.endswith("\n") else "\n")
    print(f"encoder-gate merge: error: {why}", file=sys.stderr)
    return 1
