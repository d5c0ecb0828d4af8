"""pytest-benchmark files: the saves under a storage directory, the newest one, their JSON loaded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.speed.results import read_json, results_from_json


def benchmark_files(root: Path) -> list[Path]:
    """pytest-benchmark saves (``<root>/<machine>/NNNN_*.json``, or ``root`` itself), oldest first."""
    root = Path(root)
    if root.is_file():
        return [root]
    found = [p for p in root.rglob("*.json") if p.is_file() and p.name[:4].isdigit()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def newest_gate_save(root: Path) -> Path | None:
    """The newest save under `root` that holds an encoder-gate benchmark, or None: a project's own
    pytest-benchmark tests save beside the gate's (the same `.benchmarks`), and the newest save of
    all was theirs after a run of them, a report of no figure. A save that cannot be read is an
    error, as it was when the newest was taken whatever it held (a session killed mid-save)."""
    return _newest_gate_save(benchmark_files(root))


def _newest_gate_save(files: Sequence[Path]) -> Path | None:
    return next((path for path in reversed(files) if holds_gate_benchmarks(path)), None)


def holds_gate_benchmarks(path: Path) -> bool:
    """Whether the pytest-benchmark file at `path` holds an encoder-gate benchmark (GateError: it
    cannot be read as one)."""
    return bool(results_from_json(load_benchmark_json(path)))


def latest_benchmark_file(root: Path) -> Path:
    """The newest save of the gate's benchmarks under `root` (:func:`newest_gate_save`)."""
    files = benchmark_files(root)
    if not files:
        raise GateError(
            f"no pytest-benchmark results under {root}; run `pytest benchmarks --benchmark-autosave` "
            "first, or pass --benchmarks FILE"
        )
    newest = _newest_gate_save(files)
    if newest is None:
        raise GateError(f"none of the {len(files)} pytest-benchmark saves under {root} holds an "
                        "encoder-gate benchmark (another test suite's saves?); run `pytest benchmarks "
                        "--benchmark-autosave` first, or pass --benchmarks FILE")
    return newest


def load_benchmark_json(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file, checked to hold a ``benchmarks`` list."""
    doc = read_json(path, "benchmark file")
    if not isinstance(doc.get("benchmarks"), list) or not all(isinstance(b, dict) for b in doc["benchmarks"]):
        raise GateError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list of benchmarks)")
    return doc


def not_a_gate_save(path: Path, doc: Mapping[str, Any]) -> str | None:
    """Why a save given by name holds no encoder-gate benchmark (another tool's, a session of the
    user's own benchmarks, one whose every benchmark errored), or None where it holds one."""
    if results_from_json(doc):
        return None
    count = len(doc.get("benchmarks") or [])
    return (f"{path} holds no encoder-gate benchmark (none of its {count} benchmarks has the gate's "
            "extra_info and timing); give a save of `pytest benchmarks` (--benchmark-autosave, or "
            "--benchmark-json FILE)")


def load_benchmarks(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Each path a file, or a directory whose newest save is taken; documents in order."""
    docs = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise GateError(f"benchmark path {path} does not exist")
        docs.append(load_benchmark_json(latest_benchmark_file(path) if path.is_dir() else path))
    return docs
