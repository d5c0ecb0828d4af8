"""The artifact cache: built once, atomic, corruption detected, one build under a lock."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from encoder_gate.cache import MANIFEST, ArtifactCache, key_of


def write_two_files(out: Path) -> None:
    (out / "model.onnx").write_bytes(b"weights" * 100)
    (out / "config.json").write_text("{}")


def test_second_request_is_a_cache_hit(tmp_path: Path):
    """The same key builds once; the second call reports a hit and does not build."""
    cache = ArtifactCache(tmp_path)
    calls: list[Path] = []

    def build(out: Path) -> None:
        calls.append(out)
        write_two_files(out)

    first = cache.get_or_build("onnx-fp32", {"model": "abc"}, build)
    second = cache.get_or_build("onnx-fp32", {"model": "abc"}, build)
    assert (first.hit, second.hit) == (False, True)
    assert first.path == second.path and len(calls) == 1
    assert json.loads((first.path / MANIFEST).read_text())["files"].keys() == {"model.onnx", "config.json"}


def test_key_changes_with_any_part():
    """Model hash and toolchain versions are part of the key."""
    base = {"model": "abc", "tools": {"torch": "2.13.0"}}
    assert key_of(base) != key_of({**base, "model": "abd"})
    assert key_of(base) != key_of({**base, "tools": {"torch": "2.14.0"}})
    assert key_of(base) == key_of(dict(reversed(list(base.items()))))


def test_failed_build_leaves_nothing_that_counts_as_done(tmp_path: Path):
    """An exception half-way (as when killed) leaves no entry; the next call rebuilds."""
    cache = ArtifactCache(tmp_path)

    def broken(out: Path) -> None:
        (out / "model.onnx").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("onnx-int8", {"m": 1}, broken)
    assert not cache.entry_dir("onnx-int8", {"m": 1}).exists()
    assert not cache.get_or_build("onnx-int8", {"m": 1}, write_two_files).hit


def test_entry_without_manifest_is_rebuilt(tmp_path: Path):
    """A directory left by a killed writer without its manifest is never taken as done."""
    cache = ArtifactCache(tmp_path)
    stale = cache.entry_dir("onnx-fp16", {"m": 1})
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"partial")
    entry = cache.get_or_build("onnx-fp16", {"m": 1}, write_two_files)
    assert not entry.hit
    assert (entry.path / "model.onnx").read_bytes() == b"weights" * 100


def test_corrupted_entry_is_detected_and_rebuilt(tmp_path: Path):
    """A file whose hash no longer matches the manifest makes the entry invalid."""
    cache = ArtifactCache(tmp_path)
    entry = cache.get_or_build("onnx-fp32", {"m": 2}, write_two_files)
    (entry.path / "model.onnx").write_bytes(b"bit rot")
    assert not cache.is_valid(entry.path)
    again = cache.get_or_build("onnx-fp32", {"m": 2}, write_two_files)
    assert not again.hit and cache.is_valid(again.path)


def _worker(root: str, log: str) -> None:
    def build(out: Path) -> None:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        import time

        time.sleep(0.5)
        write_two_files(out)

    ArtifactCache(Path(root)).get_or_build("shared", {"k": 1}, build)


def test_concurrent_processes_build_once(tmp_path: Path):
    """Two processes asking for the same artifact produce one build (file lock)."""
    log = tmp_path / "builds.log"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "c"), str(log))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(log.read_text().splitlines()) == 1


KILLED_BUILDER = """
import sys, time
from pathlib import Path
from encoder_gate.cache import ArtifactCache

def build(out):
    with (out / "model.onnx").open("wb") as fh:  # half an artifact, flushed to disk
        fh.write(b"half" * 1000)
        fh.flush()
    Path(sys.argv[2]).write_text(str(out))  # tell the test where we are
    time.sleep(600)  # killed here, mid-build

ArtifactCache(Path(sys.argv[1])).get_or_build("onnx-int8", {"m": 3}, build)
"""


def test_build_killed_mid_write_is_never_taken_as_done(tmp_path: Path):
    """SIGKILL a real build process half-way: no entry counts as done, the next call rebuilds
    under the (released) lock, and the killed build's temporary directory is cleared."""
    import subprocess
    import sys
    import time

    root, marker = tmp_path / "cache", tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILDER, str(root), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the builder exited before it started writing"
            assert time.monotonic() < deadline, "the builder never started"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(30)
    half = Path(marker.read_text())
    assert half.is_dir() and (half / "model.onnx").stat().st_size == 4000  # the remains are real

    cache = ArtifactCache(root)
    final = cache.entry_dir("onnx-int8", {"m": 3})
    assert not final.exists() and cache.orphans(final) == [half]
    entry = cache.get_or_build("onnx-int8", {"m": 3}, write_two_files)  # would hang on a stale lock
    assert not entry.hit and cache.is_valid(entry.path)
    assert (entry.path / "model.onnx").read_bytes() == b"weights" * 100
    assert cache.orphans(final) == []
