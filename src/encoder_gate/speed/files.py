"""pytest-benchmark files: the saves under a storage directory, the newest one, their JSON loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.speed.results import read_json


def benchmark_files(root: Path) -> list[Path]:
    """pytest-benchmark saves (``<root>/<machine>/NNNN_*.json``, or ``root`` itself), oldest first."""
    root = Path(root)
    if root.is_file():
        return [root]
    found = [p for p in root.rglob("*.json") if p.is_file() and p.name[:4].isdigit()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def latest_benchmark_file(root: Path) -> Path:
    files = benchmark_files(root)
    if not files:
        raise GateError(
            f"no pytest-benchmark results under {root}; run `pytest benchmarks --benchmark-autosave` "
            "first, or pass --benchmarks FILE"
        )
    return files[-1]


def load_benchmark_json(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file, checked to hold a ``benchmarks`` list."""
    doc = read_json(path, "benchmark file")
    if not isinstance(doc.get("benchmarks"), list) or not all(isinstance(b, dict) for b in doc["benchmarks"]):
        raise GateError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list of benchmarks)")
    return doc


def load_benchmarks(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Each path a file, or a directory whose newest save is taken; documents in order."""
    docs = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise GateError(f"benchmark path {path} does not exist")
        docs.append(load_benchmark_json(latest_benchmark_file(path) if path.is_dir() else path))
    return docs
