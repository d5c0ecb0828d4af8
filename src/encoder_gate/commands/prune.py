"""``encoder-gate prune-cache [DIR]``: remove the artifact cache's entries the last gate sessions
did not use.

    pytest accuracy benchmarks --gate-cache-dir "$CACHE"     # stamps every entry it uses
    encoder-gate prune-cache "$CACHE"                         # then, before the cache is saved

Every session that ran tests records itself in the cache (encoder_gate.cache.record_session), and
every entry it read or built carries its stamp. A CI cache is restored, gains the artifacts of the
PR's model, and is saved again: without pruning it holds every model the repository ever had
(about 0.85 GB each at 125M weights: the ONNX files, the predictions), until the restore takes
minutes and the host evicts it. Pruning keeps what the last session used, which is what the next
run of that branch needs (the base's artifacts and the PR's), and what the sessions just before it at
the same commit used (`pytest accuracy`, then `pytest benchmarks`: one commit's gate). It deletes
nothing when no session is recorded, and `--dry-run` lists what it would remove.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from encoder_gate.cache import KEPT_SESSIONS, SESSIONS_FILE, prune, read_sessions
from encoder_gate.config import DEFAULT_CACHE_DIR
from encoder_gate.errors import GateError

LISTED = 10  # removed entries named in the summary (all with --dry-run)


def prune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cache_dir", nargs="?", type=Path, default=DEFAULT_CACHE_DIR, metavar="DIR",
                        help=f"the artifact cache (--gate-cache-dir; default {DEFAULT_CACHE_DIR})")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--sessions", type=int, default=1, metavar="K",
                      help=f"keep what the last K recorded sessions used (default 1; the cache records "
                           f"its last {KEPT_SESSIONS})")
    keep.add_argument("--days", type=float, default=None, metavar="D",
                      help="keep what was used in the last D days instead")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")


def other_shares(sessions: list[dict[str, object]], kept: int) -> list[dict[str, object]]:
    """The sessions just before the last `kept` that are the other shares of a sharded session the
    kept ones end with (--gate-shard K/N, recorded as "shard"): kept with them, since pruning after
    one share must not remove what the others used (each share builds and reads its own backends).
    Going back from the oldest kept, while sessions are shares of the same N that it has not met yet
    and some share of 1..N is still missing: a share met again belongs to an earlier run (a CI
    shard's own cache records only that shard's runs, and keeps none of them so)."""
    if not sessions or not sessions[-1].get("shard"):
        return []
    total = str(sessions[-1]["shard"]).split("/")[-1]
    seen = {str(s["shard"]) for s in sessions[-kept:] if str(s.get("shard", "")).endswith(f"/{total}")}
    wanted = {f"{k}/{total}" for k in range(1, int(total) + 1)} if total.isdigit() else set()
    extra: list[dict[str, object]] = []
    for session in reversed(sessions[:-kept]):
        shard = str(session.get("shard") or "")
        if not shard.endswith(f"/{total}") or shard in seen or wanted <= seen:
            break
        extra.insert(0, session)
        seen.add(shard)
    return extra


def at_its_commit(sessions: list[dict[str, object]], kept: int) -> list[dict[str, object]]:
    """The sessions just before the last `kept` that ran at the commit the oldest kept one ran at (each
    recorded with its commit; none without git): kept with them, since a commit's gate is often more
    than one session (`pytest accuracy`, then `pytest benchmarks`: pruning after the second removed the
    predictions the first had computed, and the next `pytest accuracy` computed them again)."""
    if not sessions[:-kept] or not (commit := sessions[-kept].get("commit")):
        return []
    earlier: list[dict[str, object]] = []
    for session in reversed(sessions[:-kept]):
        if session.get("commit") != commit:
            break
        earlier.insert(0, session)
    return earlier


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _said(session: dict[str, object]) -> str:
    """A recorded session by its command, cut to 60 characters."""
    command = str(session.get("what", "?"))
    return command if len(command) <= 60 else command[:59] + "…"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def run_prune(args: argparse.Namespace) -> int:
    root: Path = args.cache_dir
    if not root.is_dir():
        raise GateError(f"{root} is not a directory: name the gate's artifact cache (--gate-cache-dir; "
                        f"default {DEFAULT_CACHE_DIR})")
    if args.days is not None:
        if not 0 < args.days < math.inf:  # nan too: a cutoff of nan kept nothing at all
            raise GateError(f"--days must be a positive number of days; got {args.days:g}")
        since, what = time.time() - args.days * 86400, f"in the last {args.days:g} days"
    else:
        if args.sessions < 1:
            raise GateError(f"--sessions must be at least 1; got {args.sessions}")
        sessions = read_sessions(root)
        if not sessions:
            record = root / SESSIONS_FILE
            why = (f"its record of sessions, {record}, cannot be read (the next gate session writes it anew)"
                   if record.is_file() else f"no gate session is recorded in {root} (a pytest session of the "
                   "gate that runs tests records itself when it ends; prune after one)")
            print(f"nothing pruned: {why}")
            return 0
        last = sessions[-args.sessions:]
        shares = other_shares(sessions, len(last))
        last = [*shares, *last]
        same = at_its_commit(sessions, len(last))
        last = [*same, *last]
        since = float(last[0]["started"])
        what = (f"by the last session ({_said(last[-1])}, began {_when(since)})" if len(last) == 1
                else f"by the last {len(last)} sessions (the first began {_when(since)})")
        if shares:
            what += (f": the last was shard {sessions[-1]['shard']} of a sharded session, so the "
                     f"{len(shares)} share(s) before it count as one session with it")
        if same:
            what += (f"{';' if shares else ':'} {len(same)} of them ran before it at its commit "
                     f"{str(same[-1]['commit'])[:12]} ({', '.join(_said(s) for s in same)}), and count as "
                     "one gate with it")
    done = prune(root, since, dry_run=args.dry_run)
    removed = sum(n for _, n in done.removed)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(done.removed)} entries ({_gb(removed)}) not used {what}; kept {len(done.kept)} "
          f"({_gb(sum(n for _, n in done.kept))})")
    listed = done.removed if args.dry_run else done.removed[:LISTED]
    if listed:
        print(f"{'to remove' if args.dry_run else 'removed'}:")
    for name, size in listed:
        print(f"  {name}  {_gb(size)}")
    if len(listed) < len(done.removed):
        print(f"  ... and {len(done.removed) - len(listed)} more")
    if done.busy:
        print(f"left alone, in use by a running process: {', '.join(done.busy)}")
    return 0
