"""`encoder-gate history record|check|render`: the results store across commits, creep, the page.

    encoder-gate history record --store history            # after the gate ran on the default branch
    encoder-gate history check --store history             # exit 1 when a metric crept, or a
                                                           # check stayed waived (--max-waived)
    encoder-gate history render --store history --out site # site/index.html and its PNGs
    encoder-gate history trend --store history --url URL   # the PR comment's line: would this PR creep?
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from encoder_gate.config import check_writable
from encoder_gate.errors import GateError
from encoder_gate.history.creep import DEFAULT_MIN_SLOWDOWN, NOTHING_COMPARED, WINDOW, check, pr_trend
from encoder_gate.history.page import render
from encoder_gate.history.store import (
    Commit,
    build_record,
    git_commit,
    load_store,
    new_series,
    record,
    same_series,
)
from encoder_gate.history.waived import MAX_WAIVED, long_waived
from encoder_gate.runtime.worktree import head_commit

DEFAULT_REPORT_DIR = Path(".encoder-gate")


# Each option once: its flags, its argparse settings; ACTIONS name the options each action takes.
_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "store": ("--store", dict(type=Path, required=True, metavar="DIR",
                              help="the store: one JSON record per commit (a directory, e.g. a checkout "
                                   "of an encoder-gate-history branch)")),
    "report_dir": ("--report-dir", dict(type=Path, default=DEFAULT_REPORT_DIR, metavar="DIR",
                                        help=f"the gate's report directory (default: {DEFAULT_REPORT_DIR})")),
    "repo": ("--repo", dict(type=Path, default=Path("."), metavar="DIR",
                            help="the git checkout whose HEAD is recorded (default: .)")),
    "commit": ("--commit", dict(metavar="SHA", help="the commit, instead of the checkout's HEAD (with "
                                                    "--commit-time)")),
    "commit_time": ("--commit-time", dict(metavar="ISO8601", help="the commit's time, with --commit")),
    "parent": ("--parent", dict(metavar="SHA", help="the commit's parent, with --commit")),
    "out": ("--out", dict(type=Path, default=Path("history-site"), metavar="DIR",
                          help="where index.html and the PNGs go (default: history-site)")),
    "url": ("--url", dict(default=None, metavar="URL",
                          help="the published history page, linked from the line (empty: no link)")),
    "window": ("--window", dict(type=int, default=WINDOW, metavar="N",
                                help="how many earlier records of a series to compare with "
                                     f"(default: {WINDOW})")),
    "max_waived": ("--max-waived", dict(type=int, default=MAX_WAIVED, metavar="N",
                                        help="exit 1 when a check the newest record waives was waived in "
                                             f"more than N records in a row (default: {MAX_WAIVED})")),
    "min_slowdown": ("--min-slowdown", dict(type=float, default=DEFAULT_MIN_SLOWDOWN, metavar="X",
                                            help="the smallest speedup drop that counts, when the store's "
                                                 f"own noise is smaller (default: {DEFAULT_MIN_SLOWDOWN})")),
}

ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "record": ("append this run's results (--report-dir) to the store as <commit>.json",
               ("store", "report_dir", "repo", "commit", "commit_time", "parent")),
    "check": ("compare the newest record with the window before it; exit 1 on creep, or on a check waived "
              "too long", ("store", "window", "max_waived", "min_slowdown")),
    "render": ("write the static page (index.html) and its PNGs", ("store", "out", "window")),
    "trend": ("one line for a PR: whether its results (--report-dir, not recorded) would complete a creep; "
              "exit 0 whatever it says", ("store", "report_dir", "commit", "commit_time", "url", "window",
                                          "min_slowdown")),
}


def history_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (summary, options) in ACTIONS.items():
        sub = actions.add_parser(name, help=summary, description=summary)
        for option in options:
            flag, settings = _OPTIONS[option]
            sub.add_argument(flag, **settings)


def run_history(args: argparse.Namespace) -> int:
    if args.action == "record":
        if args.commit:  # its time orders the store: without one it would sort first, not newest
            try:
                datetime.fromisoformat(args.commit_time or "")
            except ValueError:
                raise GateError(f"--commit-time {args.commit_time or ''!r} is not an ISO 8601 time: "
                                "--commit needs its commit's time, e.g. --commit-time "
                                "2026-11-26T10:00:00+00:00") from None
            commit = Commit(args.commit, args.commit_time or "", args.parent)
        else:
            commit = git_commit(args.repo)
        path, note = record(args.store, args.report_dir, commit)
        for said in (note, new_series(load_store(args.store), commit.sha)):
            if said:
                print(f"encoder-gate history: note: {said}")
        print(f"encoder-gate history: recorded {commit.sha[:12]} in {path}")
        return 0
    if args.window < 1:
        raise SystemExit("encoder-gate history: --window must be at least 1")
    if getattr(args, "max_waived", 0) < 0:
        raise SystemExit("encoder-gate history: --max-waived must be 0 or more (records in a row)")
    if "min_slowdown" in args and not 0 < args.min_slowdown < 1:
        raise GateError(f"--min-slowdown is a fraction in (0, 1), e.g. 0.05 for 5%; got "
                        f"{args.min_slowdown:g}")
    if args.action == "trend":  # informational: exit 0 whatever the trend says
        # the HEAD of the report directory's checkout, where the PR's sessions ran: a document of another
        # commit is not the PR's (history.store.build_record leaves it out)
        sha = args.commit or head_commit(Path(args.report_dir)) or "this PR"
        pr = Commit(sha, args.commit_time or "", None)
        current = build_record(args.report_dir, pr, whole=False)
        records = load_store(args.store) if Path(args.store).is_dir() else []
        print(pr_trend(records, current, window=args.window, min_slowdown=args.min_slowdown,
                       url=args.url or None))
        return 0
    records = load_store(args.store)
    if not records:  # a check of nothing said "no creep at nothing" and passed
        raise GateError(f"history store {args.store} holds no records: nothing to {args.action}; record a "
                        "commit first (encoder-gate history record), or point --store at the store")
    if args.action == "render":
        check_writable(args.out, "--out")
        page = render(records, args.out, window=args.window)
        print(f"encoder-gate history: {page} ({len(records)} record(s)) and its PNGs in {args.out}")
        return 0
    found, notes = check(records, window=args.window, min_slowdown=args.min_slowdown)
    for note in notes:
        print(f"encoder-gate history: note: {note}")
    waived = long_waived(records, args.max_waived)
    if waived:
        print(f"encoder-gate history: {len(waived)} check(s) waived in more than {args.max_waived} records "
              "in a row:")
        for w in waived:
            print(f"- {w.describe()}")
    if not found and any(note.startswith(NOTHING_COMPARED) for note in notes):
        print("encoder-gate history: the check compared nothing (above), so it cannot say there is no creep")
        return 1
    if not found:
        newest = records[-1]["commit"][:12]
        # the earlier records of its series it was compared with (those of another model or data never:
        # a count of the whole store's contradicted "the first record of its series")
        line = same_series(records, records[-1])
        seen, others = min(len(line) - 1, args.window), len(records) - len(line)
        besides = f"{others} of other models or data not compared" if others else ""
        if not seen:  # (its note said so: the first record of its series)
            print(f"encoder-gate history: no creep at {newest}: nothing to compare it with yet"
                  + (f" ({besides})" if besides else ""))
        else:
            print(f"encoder-gate history: no creep at {newest} (window {args.window}: {seen} earlier "
                  f"record(s) of its series{', fewer than it holds' if seen < args.window else ''}"
                  + (f"; {besides}" if besides else "") + ")")
        return 1 if waived else 0
    print(f"encoder-gate history: {len(found)} metric(s) crept while every single step passed:")
    for creep in found:
        print(f"- {creep.describe()}")
    return 1
