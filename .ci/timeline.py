"""Where a self-test run's time goes: each test's wall time and CPU, per xdist worker.

As a pytest plugin, it writes one JSON line per test to $TIMELINE_DIR/<worker>.jsonl: the test's
start and end, and the CPU its worker process spent on it and the CPU of that process's children
(inner pytest sessions, ONNX build children, inductor's compilers):

    TIMELINE_DIR=/tmp/tl PYTHONPATH=.ci .venv/bin/pytest -n auto --dist worksteal -p timeline

Run as a script, it reads those files and prints each worker's span and the slowest tests:

    .venv/bin/python .ci/timeline.py /tmp/tl [N]

(docs/development.md, "fourth session": a cold run, 985 s and 1819 s of CPU, 847 s of it in children.)
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, TextIO

import pytest

_out: TextIO | None = None


def _cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
    global _out
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if _out is None:
        folder = Path(os.environ.get("TIMELINE_DIR", "timeline"))
        folder.mkdir(parents=True, exist_ok=True)
        _out = (folder / f"{worker}.jsonl").open("a")
    started, (own, children) = time.time(), _cpu()
    yield
    own_after, children_after = _cpu()
    _out.write(json.dumps({"id": item.nodeid, "worker": worker, "start": started, "end": time.time(),
                           "cpu": own_after - own, "children_cpu": children_after - children}) + "\n")
    _out.flush()


def report(folder: Path, slowest: int) -> None:
    rows = [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.open()]
    if not rows:
        sys.exit(f"no timeline in {folder}: run pytest with -p timeline and TIMELINE_DIR={folder}")
    first = min(r["start"] for r in rows)
    print(f"{len(rows)} tests over {max(r['end'] for r in rows) - first:.0f} s; CPU "
          f"{sum(r['cpu'] for r in rows):.0f} s in the workers, {sum(r['children_cpu'] for r in rows):.0f} s "
          "in their children")
    for worker in sorted({r["worker"] for r in rows}):
        mine = [r for r in rows if r["worker"] == worker]
        print(f"{worker}: {len(mine)} tests, ended at {max(r['end'] for r in mine) - first:.0f} s, "
              f"busy {sum(r['end'] - r['start'] for r in mine):.0f} s, "
              f"CPU {sum(r['cpu'] + r['children_cpu'] for r in mine):.0f} s")
    print("wall s  CPU s  children s  started at  test")
    for r in sorted(rows, key=lambda r: r["start"] - r["end"])[:slowest]:
        print(f"{r['end'] - r['start']:6.1f} {r['cpu'] + r['children_cpu']:6.1f} {r['children_cpu']:11.1f} "
              f"{r['start'] - first:11.0f}  {r['id']}")


if __name__ == "__main__":
    args = sys.argv[1:]
    report(Path(args[0] if args else "timeline"), int(args[1]) if len(args) > 1 else 30)
