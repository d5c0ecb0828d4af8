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


def test_a_computed_value_is_written_once_and_read_back_where_found(tmp_path: Path):
    """get_or_compute: the first call computes and writes the value (a miss, the computed value
    returned as it is); a later one reads it from the entry (a hit) and computes nothing."""
    cache = ArtifactCache(tmp_path)
    computed: list[int] = []

    def compute() -> dict[str, int]:
        computed.append(1)
        return {"answer": 42}

    def write(value: dict[str, int], out: Path) -> None:
        (out / "v.json").write_text(json.dumps(value))

    def read(entry: Path) -> dict[str, int]:
        return {"read": 1, **json.loads((entry / "v.json").read_text())}

    first, entry = cache.get_or_compute("value", {"k": 1}, compute, write, read)
    assert first == {"answer": 42} and not entry.hit
    again, same = cache.get_or_compute("value", {"k": 1}, compute, write, read)
    assert again == {"read": 1, "answer": 42} and same.hit and same.path == entry.path
    assert computed == [1]


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


def test_an_entry_that_is_no_directory_of_the_cache_or_whose_manifest_lists_nothing_is_rebuilt(
        tmp_path: Path):
    """Hunt 5: an entry replaced by a file errored in every test (NotADirectoryError), every run; one
    that is a symlink to a damaged directory ended in "Cannot call rmtree on a symbolic link"; a
    manifest whose `files` is {} took any directory as valid (another model's file in it too), one
    whose `files` is a list raised AttributeError in every test. Each is rebuilt; a symlink's target
    is left alone."""
    cache = ArtifactCache(tmp_path / "cache")
    as_file = cache.entry_dir("onnx-int8", {"m": 1})
    as_file.parent.mkdir(parents=True)
    as_file.write_text("not a directory")
    assert not cache.get_or_build("onnx-int8", {"m": 1}, write_two_files).hit
    assert as_file.is_dir() and cache.is_valid(as_file)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.onnx").write_bytes(b"damaged")
    linked = cache.entry_dir("onnx-fp16", {"m": 1})
    linked.symlink_to(elsewhere, target_is_directory=True)
    assert not cache.get_or_build("onnx-fp16", {"m": 1}, write_two_files).hit
    assert not linked.is_symlink() and (elsewhere / "model.onnx").read_bytes() == b"damaged"

    for files in ({}, ["model.onnx"], {"model.onnx": 5}):
        entry = cache.get_or_build("onnx-fp32", {"m": 2}, write_two_files).path
        (entry / "model.onnx").write_bytes(b"another model")
        (entry / MANIFEST).write_text(json.dumps({"name": "onnx-fp32", "key": {"m": 2}, "files": files}))
        assert not cache.is_valid(entry)
        rebuilt = cache.get_or_build("onnx-fp32", {"m": 2}, write_two_files)
        assert not rebuilt.hit and (rebuilt.path / "model.onnx").read_bytes() == b"weights" * 100


def test_a_build_waiting_on_another_processs_lock_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Hunt 5: a second session on one cache waited 100 s without a word while the first trained the
    model (or was stopped in a build). After LOCK_NOTICE_S it says whose lock it waits on; a build
    process gets its own `notify` (the session's writer is not pickled with the cache)."""
    import pickle
    import threading

    from filelock import FileLock

    import encoder_gate.cache as cache_module

    monkeypatch.setattr(cache_module, "LOCK_NOTICE_S", 0.05)
    said: list[str] = []
    cache = ArtifactCache(tmp_path, notify=said.append)
    entry = cache.entry_dir("model-tiny", {"m": 3})
    held = FileLock(str(cache.lock_file(entry)))
    held.acquire()
    waiter = threading.Thread(target=cache.get_or_build, args=("model-tiny", {"m": 3}, write_two_files))
    waiter.start()
    for _ in range(200):
        if said:
            break
        waiter.join(0.05)
    held.release()
    waiter.join(10)
    assert not waiter.is_alive() and cache.is_valid(entry)
    assert said == [f"waiting for another process that builds {entry.name} in this artifact cache (its lock: "
                    f"{cache.lock_file(entry)}); this one goes on when that build ends"]
    assert pickle.loads(pickle.dumps(cache)).notify is None and cache.lookup_only().notify == said.append


def test_a_files_digest_is_read_once_while_its_stat_is_unchanged_and_again_after_a_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A session asks for a cached file's digest several times: it is read once while the file's
    size and mtime stay, again after any write, and every time while the file changed within
    RACY_SECONDS of the read (a write in the same timestamp tick cannot hide)."""
    import hashlib
    import time

    from encoder_gate import cache as cache_module

    reads: list[Path] = []
    opened = Path.open

    def counted(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "r" in mode:
            reads.append(self)
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counted)
    old = tmp_path / "model.onnx"
    old.write_bytes(b"weights" * 100)
    then = time.time() - 60
    os.utime(old, (then, then))
    digest = hashlib.sha256(b"weights" * 100).hexdigest()
    assert cache_module.sha256_file(old) == cache_module.sha256_file(old) == digest
    assert reads == [old]
    old.write_bytes(b"bit rot" * 100)  # a write: a new mtime
    assert cache_module.sha256_file(old) == hashlib.sha256(b"bit rot" * 100).hexdigest()
    assert cache_module.sha256_file(old) == hashlib.sha256(b"bit rot" * 100).hexdigest()
    assert reads == [old, old, old]  # written just now: racy, read each time


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


# --- pruning: what the last sessions used stays, the rest goes -------------------------------------


def _age(path: Path, seconds: float) -> None:
    """Make `path` look last used `seconds` ago."""
    import time

    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_hit_stamps_its_entry_and_prune_keeps_only_what_was_used_since(tmp_path: Path):
    """Two models' entries, both a day old; a session then uses one: pruning at its start removes
    the other's entry with its lock file and a killed build's remains, keeps the used entry, the
    cache's own files and anything not named like an entry."""
    import time

    from encoder_gate.cache import prune

    cache = ArtifactCache(tmp_path)
    used = cache.get_or_build("onnx-fp32", {"model": "new"}, write_two_files).path
    old = cache.get_or_build("onnx-fp32", {"model": "old"}, write_two_files).path
    remains = tmp_path / f".{old.name}.x1y2"
    remains.mkdir()
    (tmp_path / "bench-texts.json").write_text("{}")
    (tmp_path / "ab-noise").mkdir()
    for path in (used, old, remains, tmp_path / "bench-texts.json", tmp_path / "ab-noise",
                 Path(f"{old}.lock"), Path(f"{used}.lock")):
        _age(path, 86400)
    started = time.time()
    assert cache.get_or_build("onnx-fp32", {"model": "new"}, write_two_files).hit  # the session's use

    size = sum(p.stat().st_size for p in old.iterdir())  # the two files and the manifest
    dry = prune(tmp_path, started, dry_run=True)
    assert [name for name, _ in dry.removed] == [old.name] and old.is_dir()
    done = prune(tmp_path, started)
    assert [name for name, _ in done.removed] == [old.name] and done.removed[0][1] == size
    assert [name for name, _ in done.kept] == [used.name]
    assert not old.exists() and not Path(f"{old}.lock").exists() and not remains.exists()
    assert used.is_dir() and Path(f"{used}.lock").exists() and cache.is_valid(used)
    assert (tmp_path / "bench-texts.json").exists() and (tmp_path / "ab-noise").is_dir()
    assert prune(tmp_path, started).removed == []  # nothing left to remove


def test_prune_leaves_an_entry_whose_lock_another_process_holds(tmp_path: Path):
    """An old entry being replaced by a running session (its lock held) is neither removed nor
    half-removed."""
    import time

    from encoder_gate.cache import prune

    cache = ArtifactCache(tmp_path)
    old = cache.get_or_build("onnx-int8", {"model": "old"}, write_two_files).path
    _age(old, 3600)
    ctx = mp.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(f"{old}.lock", held, release))
    holder.start()
    try:
        assert held.wait(60)
        done = prune(tmp_path, time.time())
        assert done.busy == [old.name] and done.removed == [] and cache.is_valid(old)
    finally:
        release.set()
        holder.join(60)
    assert [name for name, _ in prune(tmp_path, time.time()).removed] == [old.name]


def _hold_lock(path: str, held, release) -> None:  # type: ignore[no-untyped-def]
    from filelock import FileLock

    with FileLock(path):
        held.set()
        release.wait(60)


def test_sessions_are_recorded_newest_last_and_only_the_last_twenty_kept(tmp_path: Path):
    from encoder_gate.cache import KEPT_SESSIONS, read_sessions, record_session

    assert read_sessions(tmp_path) == []
    for i in range(KEPT_SESSIONS + 3):
        record_session(tmp_path, 1000.0 + i, f"pytest accuracy #{i}")
    sessions = read_sessions(tmp_path)
    assert len(sessions) == KEPT_SESSIONS and sessions[-1]["what"] == f"pytest accuracy #{KEPT_SESSIONS + 2}"
    assert [s["started"] for s in sessions] == sorted(s["started"] for s in sessions)
    (tmp_path / "sessions.json").write_text("not json")
    assert read_sessions(tmp_path) == []  # unreadable: none, and prune-cache then removes nothing
    # hunt 5: NaN ended prune-cache in a traceback; a start in milliseconds (or a clock far off) was
    # taken for the last session, and every entry offered as unused since
    (tmp_path / "sessions.json").write_text('{"sessions": [{"started": NaN, "what": "a"}, '
                                            '{"started": 1e12, "what": "b"}, {"started": true, "what": "c"}, '
                                            '{"started": 1700000000, "what": "d"}]}')
    assert [s["what"] for s in read_sessions(tmp_path)] == ["d"]


def test_prune_cache_command_keeps_the_last_sessions_and_removes_nothing_without_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    import time

    from encoder_gate.cache import record_session
    from encoder_gate.commands.cli import main

    cache = ArtifactCache(tmp_path)
    entries = [cache.get_or_build("onnx-fp32", {"model": m}, write_two_files).path for m in "abc"]
    for i, entry in enumerate(entries):  # a used 3 h ago, b 2 h ago, c 1 h ago
        _age(entry, 3600 * (3 - i))
    assert main(["prune-cache", str(tmp_path)]) == 0
    assert "nothing pruned: no gate session is recorded" in capsys.readouterr().out
    assert all(e.is_dir() for e in entries)
    (tmp_path / "sessions.json").write_text("not json")
    assert main(["prune-cache", str(tmp_path)]) == 0
    assert "nothing pruned: its record of sessions, " in capsys.readouterr().out
    assert all(e.is_dir() for e in entries)
    (tmp_path / "sessions.json").unlink()

    now = time.time()
    record_session(tmp_path, now - 2.5 * 3600, "pytest accuracy")  # used b
    record_session(tmp_path, now - 1.5 * 3600, "pytest accuracy benchmarks")  # used c
    assert main(["prune-cache", str(tmp_path), "--sessions", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would remove 1 entries") and entries[0].name in out and entries[0].is_dir()
    assert main(["prune-cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "removed 2 entries" in out and "by the last session (pytest accuracy benchmarks" in out
    assert [e.is_dir() for e in entries] == [False, False, True]
    assert main(["prune-cache", str(tmp_path / "nope")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert main(["prune-cache", str(tmp_path), "--days", "0"]) == 1
    assert main(["prune-cache", str(tmp_path), "--days", "nan"]) == 1  # its cutoff kept nothing: all removed
    assert "--days must be a positive number of days; got nan" in capsys.readouterr().err
    assert entries[2].is_dir()


def test_prune_cache_after_a_shard_keeps_what_every_share_of_its_sharded_session_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """An unsharded session, then shards 1/2 and 2/2 of one sharded session: pruning after shard 2/2
    keeps what shard 1/2 used too (each share builds its own backends), not what the session before
    them used alone."""
    import time

    from encoder_gate.cache import read_sessions, record_session
    from encoder_gate.commands.cli import main
    from encoder_gate.commands.prune import other_shares

    cache = ArtifactCache(tmp_path)
    entries = [cache.get_or_build("onnx-fp32", {"model": m}, write_two_files).path for m in "abc"]
    for i, entry in enumerate(entries):  # a used 3 h ago, b 2 h ago (shard 1/2), c 1 h ago (shard 2/2)
        _age(entry, 3600 * (3 - i))
    now = time.time()
    record_session(tmp_path, now - 3.2 * 3600, "pytest accuracy")
    record_session(tmp_path, now - 2.5 * 3600, "pytest accuracy --gate-shard 1/2", "1/2")
    record_session(tmp_path, now - 1.5 * 3600, "pytest accuracy --gate-shard 2/2", "2/2")
    sessions = read_sessions(tmp_path)
    assert [s.get("shard") for s in sessions] == [None, "1/2", "2/2"]
    assert other_shares(sessions, 1) == [sessions[1]] and other_shares(sessions, 2) == []
    assert other_shares(sessions[:2], 1) == []  # 1/2 alone: the share before it is no share of it
    # a CI shard's own cache: only its runs of shard 2/2, each an earlier run, none kept with the last
    alone: list[dict[str, object]] = [{"started": float(t), "shard": "2/2"} for t in (1, 2, 3)]
    assert other_shares(alone, 1) == []
    assert main(["prune-cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "removed 1 entries" in out and "the last was shard 2/2 of a sharded session" in out
    assert [e.is_dir() for e in entries] == [False, True, True]


def test_prune_cache_keeps_what_the_sessions_before_the_last_at_its_commit_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A user's `pytest accuracy`, then `pytest benchmarks`, at one commit: pruning after the second
    removed the predictions the first had computed (left alone by the forty-seventh session). The
    sessions just before the last at its commit count with it; one at another commit, or without one
    (outside git), does not."""
    import time

    from encoder_gate.cache import read_sessions, record_session
    from encoder_gate.commands.cli import main
    from encoder_gate.commands.prune import at_its_commit

    cache = ArtifactCache(tmp_path)
    entries = [cache.get_or_build("onnx-fp32", {"model": m}, write_two_files).path for m in "abc"]
    for i, entry in enumerate(entries):  # a used 3 h ago (commit 1), b 2 h ago and c 1 h ago (commit 2)
        _age(entry, 3600 * (3 - i))
    now = time.time()
    record_session(tmp_path, now - 3.2 * 3600, "pytest accuracy benchmarks", commit="1" * 40)
    record_session(tmp_path, now - 2.5 * 3600, "pytest accuracy", commit="2" * 40)
    record_session(tmp_path, now - 1.5 * 3600, "pytest benchmarks", commit="2" * 40)
    sessions = read_sessions(tmp_path)
    assert at_its_commit(sessions, 1) == [sessions[1]] and at_its_commit(sessions, 2) == []
    assert at_its_commit([{"started": 1.0}, {"started": 2.0}], 1) == []  # no commit: none counted
    assert main(["prune-cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "removed 1 entries" in out, out
    assert ("by the last 2 sessions (the first began " in out and ": 1 of them ran before it at its commit "
            "222222222222 (pytest accuracy), and count as one gate with it" in out), out
    assert [e.is_dir() for e in entries] == [False, True, True]


def test_nothing_is_kept_of_a_model_or_data_file_that_changed_since_it_was_read(tmp_path: Path):
    """Hunt 5: weights copied into the model's directory 2.5 s into a session had its exports and
    predictions kept under the old weights' key, and every later session read them (the healthy model
    then failed on drift 0.974); an evaluation file edited mid-session had its new digest stamped on
    results of the old texts. The files read are stamped (size, mtime) when read, and a build whose
    inputs changed meanwhile keeps nothing; the session fails, saying which file."""
    import time
    from types import SimpleNamespace

    from encoder_gate.cache import stamps
    from encoder_gate.data.datasets import load_dataset
    from encoder_gate.errors import GateError
    from encoder_gate.models.spec import ModelSpec, model_files
    from encoder_gate.runtime.provenance import check_inputs, inputs_changed
    from encoder_gate.tasks import Task

    model_dir = tmp_path / "clf"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"A" * 64)
    (model_dir / "config.json").write_text("{}")
    model = ModelSpec("clf", model_dir, "local", Task.MULTI_LABEL, ("joy",), "a" * 20, "bert",
                      read_as=stamps(model_files(model_dir)))
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"text": "a", "labels": ["joy"]}) + "\n")
    session = SimpleNamespace(model=model, dataset=load_dataset(str(data)).head(1))  # as a session read them
    assert inputs_changed(session) is None
    cache = ArtifactCache(tmp_path / "cache", keep_check=lambda: check_inputs(session))
    assert cache.get_or_build("onnx-fp32", {"m": "A"}, write_two_files).path.is_dir()

    time.sleep(0.01)
    (model_dir / "model.safetensors").write_bytes(b"B" * 64)  # a retrain, or a git checkout
    with pytest.raises(GateError,
                       match=r"files this session read changed while it ran: .*model\.safetensors; "
                       r"what it computed from them since is not of the contents"):
        cache.get_or_build("onnx-int8", {"m": "A"}, write_two_files)
    entry = cache.entry_dir("onnx-int8", {"m": "A"})
    assert not entry.exists() and not cache.orphans(entry)
    data.write_text("")  # the dataset edited too: both named
    said = inputs_changed(session)
    assert said is not None and "model.safetensors" in said and str(data) in said



def _update(record: str, cache_dir: Path, who: str) -> None:
    """`who`'s update of one of the cache's records, through that record's own function."""
    from encoder_gate.cache import record_session
    from encoder_gate.shards.plan import record_costs
    from encoder_gate.speed import estimate, sizing

    if record == "sessions":
        record_session(cache_dir, 1700000000.0 + len(who), f"pytest {who}")
    elif record == "durations":
        estimate.record(cache_dir, "key", {estimate.Case(who, "test_model_only", "torch", 8): 1.5})
    elif record == "sizes":
        sizing.keep_count(cache_dir, "key", who, 64)
    else:
        record_costs(cache_dir, "tiny", {who: 3.0})


def _update_slowly(record: str, cache_dir: Path, read: Path) -> None:
    """The first's update, half a second between its read of the record and its write (`read` is
    touched then): in a process of its own."""
    import time

    replace = os.replace

    def slowly(src: str, dst: str) -> None:
        read.touch()
        time.sleep(0.5)
        replace(src, dst)

    os.replace = slowly  # type: ignore[assignment]  # this forked process's alone
    _update(record, cache_dir, "first")


@pytest.mark.parametrize("record", ["sessions", "durations", "sizes", "costs"])
def test_two_processes_updating_one_record_at_once_keep_both_updates(tmp_path: Path, record: str):
    """The cache's records are merged into by every session and xdist worker sharing the cache (CI
    runs two gate sessions side by side on one): a second process's update while the first had
    read the record and not yet written it was lost (the benchmarks' durations, the shards' costs).
    Each waits on the record's lock now, and reads the first's update before it adds its own."""
    from encoder_gate.cache import read_record, read_sessions
    from encoder_gate.shards.plan import COSTS_FILE
    from encoder_gate.speed import estimate, sizing

    read = tmp_path / "first-has-read"
    first = mp.get_context("fork").Process(target=_update_slowly, args=(record, tmp_path, read))
    first.start()
    for _ in range(1000):  # until the first has read the record (10 s at the most)
        if read.exists():
            break
        first.join(0.01)
    assert read.exists()
    _update(record, tmp_path, "second")
    first.join(10)
    assert first.exitcode == 0
    both = ["first", "second"]
    kept = {"sessions": lambda: [s["what"] for s in read_sessions(tmp_path)] == [f"pytest {w}" for w in both],
            "durations": lambda: [r["id"] for r in estimate.load(tmp_path)["key"]] == both,
            "sizes": lambda: [sizing.kept_count(tmp_path, "key", w) for w in both] == [64, 64],
            "costs": lambda: read_record(tmp_path / COSTS_FILE)["tiny"] == {w: 3.0 for w in both}}
    assert kept[record](), sorted(p.name for p in tmp_path.iterdir())


def test_a_gpu_machines_onnxruntime_gpu_is_named_wherever_onnxruntime_is(monkeypatch: pytest.MonkeyPatch,
                                                                          request: pytest.FixtureRequest):
    """onnxruntime-gpu ships the `onnxruntime` module: every key (toolchain_versions) and every speed
    fingerprint (library_versions) names its version, said as onnxruntime-gpu's, so that upgrading it
    changes them as upgrading onnxruntime does (before, a GPU machine's artifact and prediction keys
    named no onnxruntime, and its `versions` said "not installed"). Another distribution of the
    module (importlib's map) is named too; a CPU machine's value is the bare version, as before."""
    from importlib.metadata import PackageNotFoundError

    from encoder_gate import cache
    from encoder_gate.speed.machine import library_versions

    def installed(found: dict[str, str], providers: tuple[str, ...] = ()):
        def version(dist: str) -> str:
            if dist not in found:
                raise PackageNotFoundError(dist)
            return found[dist]
        monkeypatch.setattr(cache, "version", version)
        monkeypatch.setattr(cache, "module_distributions", lambda module: providers)
        cache.installed_version.cache_clear()  # read once a process: each machine here is another process

    # (after the test, the process's own versions again: nothing is kept of the fakes)
    request.addfinalizer(cache.installed_version.cache_clear)

    installed({"onnxruntime-gpu": "1.31.1", "torch": "2.11.0"}, ("onnxruntime-gpu",))
    assert cache.installed_version("onnxruntime") == "1.31.1 (onnxruntime-gpu)"
    gpu = cache.toolchain_versions(["torch", "onnxruntime"])
    assert gpu["onnxruntime"] == "1.31.1 (onnxruntime-gpu)"
    assert library_versions(("torch", "onnxruntime", "numpy")) == {
        "torch": "2.11.0", "onnxruntime": "1.31.1 (onnxruntime-gpu)", "numpy": "not installed"}
    installed({"onnxruntime-gpu": "1.32.0", "torch": "2.11.0"})  # importlib's map need not list it
    assert cache.toolchain_versions(["torch", "onnxruntime"]) != gpu
    installed({"onnxruntime-directml": "1.31.0"}, ("onnxruntime-directml",))
    assert cache.installed_version("onnxruntime") == "1.31.0 (onnxruntime-directml)"
    installed({"onnxruntime": "1.32.0"}, ("onnxruntime",))
    assert cache.installed_version("onnxruntime") == "1.32.0"
    assert cache.toolchain_versions(["onnxruntime"])["onnxruntime"] == "1.32.0"
    installed({"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}, ("onnxruntime", "onnxruntime-gpu"))
    assert cache.installed_version("onnxruntime") == "1.32.0 (onnxruntime), 1.31.1 (onnxruntime-gpu)"
    assert cache.installed_version("optimum") is None


def test_a_build_that_finds_no_room_on_the_disk_says_so_in_one_line(tmp_path: Path,
                                                                    pytester: pytest.Pytester):
    """A build whose write fails with ENOSPC (or the user's quota) leaves nothing behind and raises
    DiskFull: the cache, what is free there, what to do; and the plugin reports such a failure as that
    message alone, not the build's traceback. Any other OSError is raised as it was."""
    import errno

    from encoder_gate.errors import DiskFull, GateError

    store = ArtifactCache(tmp_path / "cache")

    def full(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull, match=r"no space left on the disk of the artifact cache at .*cache building "
                                       r"onnx-fp32 \([\d,]+ MB free there now\): free space there .*"
                                       r"--gate-cache-dir=DIR on a larger disk") as caught:
        store.get_or_build("onnx-fp32", {"k": 1}, full)
    assert isinstance(caught.value, GateError) and not list((tmp_path / "cache").glob(".onnx-fp32-*"))

    def denied(tmp: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError):
        store.get_or_build("onnx-fp32", {"k": 2}, denied)
    pytester.makepyfile(test_full="""
        from encoder_gate.errors import DiskFull

        def test_a_build():
            message = "no space left on the disk of the artifact cache at /c building torch-compile"
            raise DiskFull(message)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no space left on the disk of the artifact cache at /c building *"])
    result.stdout.no_fnmatch_line("*raise DiskFull(message)*")
