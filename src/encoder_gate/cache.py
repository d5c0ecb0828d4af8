"""Content-addressed artifact cache with atomic writes and a file lock.

An artifact is a directory. Its key is a hash of everything that decides its bytes
(the model's content hash, the recipe, the toolchain versions). It is built in a
temporary sibling directory, a manifest with the sha256 of every file is written last,
and the directory is renamed into place: a build killed half-way leaves only a
temporary directory that is never taken as done (the next builder of that key, holding
its lock, deletes it). On reuse the manifest is checked;
a corrupted entry is rebuilt. A file lock per key makes concurrent pytest-xdist
workers build each artifact once.

Every use stamps the entry's directory (its mtime), and each gate session that ran tests adds
itself to ``sessions.json`` when it ends: :func:`prune` removes the entries the last sessions did
not use (`encoder-gate prune-cache`), so a cache that CI restores, adds a new model's artifacts
to and saves again holds what the next run needs, not every model the repository ever had.

    cache = ArtifactCache(Path(".encoder-gate/cache"))
    path, hit = cache.get_or_build("onnx-int8", {"model": spec.content_hash}, build_fn)
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from encoder_gate.environment import SHARED_MODULES, missing_module, optional_module
from encoder_gate.errors import DiskFull, GateError, MissingDependency

MANIFEST = "encoder-gate-manifest.json"
T = TypeVar("T")


#: Seconds a build waits on another process's lock of its entry before it says so.
LOCK_NOTICE_S = 5.0
#: Seconds after its last change within which a file's digest is not kept (see sha256_file).
RACY_SECONDS = 2.0
#: Each file's digest by what its stat said when it was read (device, inode, size, mtime in ns).
_DIGESTS: dict[tuple[int, int, int, int], str] = {}


#: A file as a session read it: its path, size and modification time in ns (:func:`stamps`).
Stamp = tuple[str, int, int]


def stamps(paths: Iterable[Path]) -> tuple[Stamp, ...]:
    """Each file as it is now: what a session checks again before it keeps what it computed from
    them (a model's weights, an evaluation file), cheaply, with no digest."""
    out = []
    for path in paths:  # absolute: a later check from another working directory finds the same file
        st = Path(path).stat()
        out.append((str(Path(path).absolute()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def changed_files(read: Iterable[Stamp]) -> list[str]:
    """The files of `read` no longer as they were read (another size or modification time), or gone."""
    out = []
    for path, size, mtime in read:
        try:
            st = os.stat(path)
        except OSError:
            out.append(f"{path} (gone)")
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            out.append(path)
    return out


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of one file, read in chunks; once per process while its stat is unchanged.

    A session asks for a cached file's digest several times (its lookup, its runner's build, its
    prediction identity, the base's side of each of them): 9 GB read in an unchanged PR at 125M
    weights, several seconds. So a digest is kept, keyed on the file's device, inode, size and
    mtime, unless the file changed less than RACY_SECONDS before it was read (git's "racily clean"
    rule): a write within one timestamp tick of the read cannot hide behind an unchanged size and
    mtime. Any write after that changes the mtime, and the file is read again."""
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    started = time.time()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    hexdigest = digest.hexdigest()
    if started - stat.st_mtime_ns / 1e9 > RACY_SECONDS:
        _DIGESTS[key] = hexdigest
    return hexdigest


def hash_files(root: Path, files: Iterable[Path] | None = None) -> str:
    """One sha256 over the relative names and contents of files under `root`."""
    paths = sorted(files if files is not None else (p for p in root.rglob("*") if p.is_file()))
    digest = hashlib.sha256()
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST:
            continue
        digest.update(rel.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def key_of(parts: Mapping[str, object]) -> str:
    """A short stable hash of a JSON-able mapping."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@functools.cache
def module_distributions(module: str) -> tuple[str, ...]:
    """The installed distributions that provide `module`, sorted (importlib's own map)."""
    return tuple(sorted(set(packages_distributions().get(module, ()))))


@functools.cache
def installed_version(dist: str) -> str | None:
    """The installed version of `dist`, None where it is not installed. `onnxruntime` names the module:
    onnxruntime's version or, where another distribution provides it, that one's, said so ("1.31.1
    (onnxruntime-gpu)"; several, each): an upgrade of onnxruntime-gpu changes every key and fingerprint
    that names onnxruntime, as one of onnxruntime does (before, a GPU machine's keys named none).

    Read once a process: a process computes with the libraries it imported, whatever is installed
    after, and every cache key names them (toolchain_versions). Read each time, a gate session asked
    importlib for about 95 versions, 2 ms each, and a process's first `onnxruntime` walked every
    installed distribution's files (0.29 s; AVX2-only AMD EPYC, 2026-11-29)."""
    # a name that stands for a module several distributions install (environment.SHARED_MODULES): a GPU
    # machine's `onnxruntime` module is onnxruntime-gpu's (onnxruntime-directml's, -openvino's on others,
    # which importlib's map of the installed distributions adds; they must not be installed together)
    providers = dict.fromkeys((dist, *SHARED_MODULES.get(dist, ()),
                               *(module_distributions(dist) if dist in SHARED_MODULES else ())))
    found = []
    for provider in providers:
        try:
            found.append((provider, version(provider)))
        except PackageNotFoundError:
            continue
    if [p for p, _ in found] == [dist]:
        return found[0][1]
    return ", ".join(f"{v} ({p})" for p, v in found) or None


def toolchain_versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and the installed versions of `packages` and of encoder-gate itself: part
    of every key. Each caller names the libraries that change its bytes (a backend: its own
    `packages`), so a new library joins the key where it is used."""
    out = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for dist in dict.fromkeys([*packages, "encoder-gate"]):
        if (found := installed_version(dist)) is not None:
            out[dist] = found
    return out


@dataclass(frozen=True)
class CacheEntry:
    """Where an artifact lives and whether it came from the cache."""

    path: Path
    hit: bool


class NotCached(Exception):
    """What a lookup-only cache's `get_or_build` raises where it would build: the entry's path."""


class ArtifactCache:
    """Directory-per-artifact cache under `root`. `notify` is told, in a line, when a build waits on
    another process's lock (a second session on this cache building the same entry): it had waited
    without a word (100 s for a model another session trained). `keep_check` runs after each build,
    before its entry is kept: it raises where what the build read changed meanwhile (a model
    retrained into its directory mid-session had its new outputs kept under the old model's key, and
    every later session read them)."""

    def __init__(self, root: Path, builds: bool = True, notify: Callable[[str], None] | None = None,
                 keep_check: Callable[[], None] | None = None) -> None:
        self.root = Path(root)
        self.builds = builds  # False: a lookup-only view (lookup_only())
        self.notify = notify
        self.keep_check = keep_check

    def __getstate__(self) -> dict[str, Any]:  # a build process sets its own (its progress, its model)
        return {**self.__dict__, "notify": None, "keep_check": None}

    def lookup_only(self) -> ArtifactCache:
        """This cache, where `get_or_build` raises :class:`NotCached` instead of building: what a
        build would find, without building (encoder_gate.runtime.artifact_builds)."""
        return ArtifactCache(self.root, builds=False, notify=self.notify, keep_check=self.keep_check)

    @contextlib.contextmanager
    def _locked(self, final: Path) -> Any:
        """Hold `final`'s lock; said through `notify` when another process holds it for long."""
        lock = FileLock(str(self.lock_file(final)))
        try:
            lock.acquire(timeout=LOCK_NOTICE_S)
        except Timeout:
            if self.notify is not None:
                self.notify(f"waiting for another process that builds {final.name} in this artifact cache "
                            f"(its lock: {self.lock_file(final)}); this one goes on when that build ends")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def entry_dir(self, name: str, parts: Mapping[str, object]) -> Path:
        return self.root / f"{name}-{key_of(parts)}"

    def holds(self, name: str, parts: Mapping[str, object]) -> bool:
        """Whether an entry called `name` has a key with these `parts` (and any others), read from
        the manifests without checking their files: a forecast's cheap look before a session's first
        build (:mod:`encoder_gate.speed.forecast`)."""
        for entry in self.root.glob(f"{name}-*"):
            try:
                meta = json.loads((entry / MANIFEST).read_text())
            except (OSError, ValueError):
                continue
            key = meta.get("key") if isinstance(meta, dict) and meta.get("name") == name else None
            if isinstance(key, dict) and all(key.get(k) == v for k, v in parts.items()):
                return True
        return False

    @staticmethod
    def lock_file(entry: Path) -> Path:
        """The lock a builder, a replacer or :func:`prune` holds on `entry`."""
        return entry.with_name(entry.name + ".lock")

    def use(self, path: Path) -> None:
        """Stamp an entry as used now (its directory's mtime), which :func:`prune` reads."""
        with contextlib.suppress(OSError):  # a read-only cache is still a cache
            os.utime(path)

    def is_valid(self, path: Path) -> bool:
        """True when `path` is a directory of the cache's own (no symlink) holding a complete
        artifact whose files match its manifest: one file at least, each with its digest."""
        manifest = path / MANIFEST
        if path.is_symlink() or not manifest.is_file():
            return False
        try:
            recorded = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError, TypeError):
            return False
        if not isinstance(recorded, dict) or not recorded or not all(
                isinstance(rel, str) and isinstance(digest, str) for rel, digest in recorded.items()):
            return False  # a manifest of no files took any directory, another model's file in it too
        for rel, digest in recorded.items():
            file = path / rel
            if not file.is_file() or sha256_file(file) != digest:
                return False
        return True

    def orphans(self, final: Path) -> list[Path]:
        """Temporary build directories of ``final``'s key: only a builder holding the key's
        lock writes one, so outside a build they are remains of a killed process."""
        return sorted(p for p in self.root.glob(f".{final.name}.*") if p.is_dir())

    def _remove_orphans(self, final: Path) -> None:
        for orphan in self.orphans(final):  # caller holds the lock: nobody is writing these
            shutil.rmtree(orphan, ignore_errors=True)

    def get_or_build(
        self,
        name: str,
        parts: Mapping[str, object],
        build: Callable[[Path], None],
    ) -> CacheEntry:
        """Return the artifact for `parts`, building it with `build(tmp_dir)` if needed."""
        final = self.entry_dir(name, parts)
        if final.is_dir() and self.is_valid(final):
            self.use(final)
            return CacheEntry(final, hit=True)
        if not self.builds:
            raise NotCached(final)
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(final):
            if final.is_dir() and self.is_valid(final):  # another worker built it meanwhile
                self.use(final)
                return CacheEntry(final, hit=True)
            if final.is_symlink() or final.is_file():  # not the cache's own directory: never reused
                final.unlink()
            elif final.exists():  # corrupted or incomplete: rebuild from scratch
                shutil.rmtree(final)
            self._remove_orphans(final)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=self.root))
            try:
                build(tmp)
                files = {p.relative_to(tmp).as_posix(): sha256_file(p)
                         for p in sorted(tmp.rglob("*")) if p.is_file()}
                meta = {"name": name, "key": dict(parts), "files": files}
                (tmp / MANIFEST).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
                if self.keep_check is not None:
                    self.keep_check()
                os.replace(tmp, final)
            except BaseException as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFull(no_room(self.root, name)) from exc
                if isinstance(exc, ModuleNotFoundError):  # a library's import this environment lacks;
                    # what only an extra installs (onnxruntime) skips the backend, as its build says
                    lacks = MissingDependency if optional_module(exc.name or "") else GateError
                    raise lacks(f"{name} could not be built: {missing_module(exc)}") from exc
                raise
            self.use(final)
        return CacheEntry(final, hit=False)

    def get_or_compute(self, name: str, parts: Mapping[str, object], compute: Callable[[], T],
                       write: Callable[[T, Path], object], read: Callable[[Path], T]) -> tuple[T, CacheEntry]:
        """A value kept under `parts`: `compute()`'d and `write(value, tmp_dir)`-n where the entry is
        built, `read(entry_dir)` where it is found (a hit). What predictions, a property's pass and a
        memory probe's figures share; `get_or_build` does the locking and the manifest."""
        computed: list[T] = []

        def build(tmp: Path) -> None:
            computed.append(compute())
            write(computed[0], tmp)

        entry = self.get_or_build(name, parts, build)
        return (computed[0] if computed else read(entry.path)), entry

    def get_or_compute_json(self, name: str, parts: Mapping[str, object], compute: Callable[[], Any],
                            file: str) -> tuple[Any, CacheEntry]:
        """get_or_compute for a value JSON holds, kept as the entry's `file`."""
        def write(value: Any, tmp: Path) -> None:
            (tmp / file).write_text(json.dumps(value, sort_keys=True))

        return self.get_or_compute(name, parts, compute, write,
                                   read=lambda entry: json.loads((entry / file).read_text()))

    def described(self, name: str, parts: Mapping[str, object], make: Callable[[], T],
                  describe: Callable[[T], dict[str, Any]], file: str) -> tuple[dict[str, Any], T | None]:
        """(`describe(make())`, what `make` made) for something costly to make (a model loaded, a
        session opened) that later sessions need only the description of: where an earlier session
        kept the description under `parts`, it is read and nothing is made (None); else it is made now,
        described and kept, and what was made is returned for its user to keep. A cache that cannot
        keep it (a read-only directory, a lookup-only view) makes and describes it each time."""
        made: list[T] = []

        def compute() -> dict[str, Any]:
            made.append(make())
            return describe(made[0])

        try:
            found, _ = self.get_or_compute_json(name, parts, compute, file)
        except (OSError, NotCached):
            if not made:
                made.append(make())
            return describe(made[0]), made[0]
        return found, (made[0] if made else None)


def no_room(root: Path, name: str) -> str:
    """What a build that ran out of disk says: the cache, what is free there (after its own files were
    removed), and what to do."""
    try:
        free = f"{shutil.disk_usage(root).free / 1e6:,.0f} MB free there now"
    except OSError:
        free = "its free space unreadable"
    return (f"no space left on the disk of the artifact cache at {root} building {name} ({free}): free "
            "space there (`encoder-gate prune-cache` removes what the last sessions did not use), or give "
            "--gate-cache-dir=DIR on a larger disk")


# --- which entries the sessions used, and removing the rest -----------------------------------------

#: The gate sessions that used the cache, oldest first (the last KEPT_SESSIONS of them).
SESSIONS_FILE = "sessions.json"
KEPT_SESSIONS = 20
#: An entry's directory: `<name>-<key_of(parts)>` (ArtifactCache.entry_dir).
ENTRY_NAME = re.compile(r"^(?P<name>.+)-(?P<key>[0-9a-f]{20})$")
#: Clock slack when an entry's stamp is compared with a session's start (same machine, same clock;
#: a filesystem may round its times).
STAMP_SLACK_S = 2.0


def read_sessions(root: Path) -> list[dict[str, Any]]:
    """The recorded sessions (each {"started", "finished", "what"} and, for a share of a sharded
    session, "shard": "K/N"; times in seconds since the epoch), oldest first; an unreadable record
    counts as none."""
    return _sessions_in(read_record(Path(root) / SESSIONS_FILE))


def _sessions_in(doc: Any) -> list[dict[str, Any]]:
    found = doc.get("sessions") if isinstance(doc, dict) else None
    now = time.time() + 86_400  # a start after tomorrow (milliseconds, a clock far off) is no start:
    # prune took it for the last session and offered every entry as unused since

    def started(s: Any) -> bool:
        at = s.get("started") if isinstance(s, dict) else None
        return isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at) and 0 < at < now

    return [s for s in found or [] if started(s)]


#: Seconds a record's update waits for another process's (:func:`update_record`) before it lets be.
RECORD_LOCK_S = 30.0


def read_record(path: Path) -> dict[str, Any]:
    """The JSON record at `path`, a dict; none, an unreadable one or another JSON value is {}."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def replace_file(path: Path, write: Callable[[Path], object]) -> Path:
    """Write `path` whole or not at all: through `write(tmp)` into a temporary file beside it (its suffix
    kept, for a writer that reads the format from it), then renamed over it; its directory is made where
    missing, and a write cut short leaves no temporary file behind. OSError is the caller's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def update_record(path: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Read the JSON record at `path` (a dict; none or an unreadable one is {}), apply `change` and
    write what it returns, atomically, all under one lock: the cache's records (its sessions, the
    benchmarks' durations and sizes, the shards' costs) are merged into by every session and xdist
    worker that shares the cache, and two that read before either wrote lost the first's update.
    An unwritable cache raises OSError and leaves no temporary file; a lock another process holds
    for RECORD_LOCK_S is let be (the update is not made: a record is never worth a hung session)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Timeout), FileLock(f"{path}.lock", timeout=RECORD_LOCK_S):
        text = json.dumps(change(read_record(path)), indent=1) + "\n"
        replace_file(path, lambda tmp: tmp.write_text(text))


def record_session(root: Path, started: float, what: str, shard: str | None = None,
                   commit: str | None = None) -> None:
    """Add a gate session that began at `started` and ran tests to the cache's record; `shard`: the
    share it ran of a sharded session ("K/N", --gate-shard), so that pruning after it keeps what the
    other shares used; `commit`: the commit it ran at, so that pruning keeps what the sessions just
    before it at that commit used too (`pytest accuracy`, then `pytest benchmarks`). An unwritable
    cache raises OSError, for the session to say (it must not fail it); see :func:`update_record`."""
    this = {"started": round(started, 3), "finished": round(time.time(), 3), "what": what,
            **({"shard": shard} if shard else {}), **({"commit": commit} if commit else {})}
    update_record(Path(root) / SESSIONS_FILE,
                  lambda doc: {"sessions": [*_sessions_in(doc), this][-KEPT_SESSIONS:]})


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class Pruned:
    """What :func:`prune` removed and kept (entry directory names with their bytes)."""

    since: float
    removed: list[tuple[str, int]] = field(default_factory=list)
    kept: list[tuple[str, int]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # in use by a running process: left alone


def prune(root: Path, since: float, dry_run: bool = False) -> Pruned:
    """Remove the entries of the cache at `root` not used since `since` (seconds since the epoch),
    with their lock files, and the remains of builds killed before then. Files of the cache's own
    (records of durations and sizes, sessions.json) and anything not named like an entry stay. An
    entry whose lock another process holds is left alone (it is being built or replaced)."""
    root = Path(root)
    out = Pruned(since=since)
    cutoff = since - STAMP_SLACK_S
    for path in sorted(root.iterdir()):
        built = path.name[1:].rsplit(".", 1)[0]  # a build's temporary directory: .<entry>.<random>
        try:
            if ENTRY_NAME.match(path.name) and path.is_dir():
                size = _size(path)
                fate = _remove_unused(path, path.name, cutoff, dry_run)
                (out.removed if fate == "removed" else out.kept).append((path.name, size))
                if fate == "busy":
                    out.busy.append(path.name)
            elif path.name.startswith(".") and path.is_dir() and ENTRY_NAME.match(built):
                _remove_unused(path, built, cutoff, dry_run)  # what a killed build left
            elif path == ArtifactCache.lock_file(root / path.stem) and ENTRY_NAME.match(path.stem) \
                    and not (root / path.stem).exists():
                _remove_unused(path, path.stem, cutoff, dry_run)  # a lock whose entry is gone
        except FileNotFoundError:  # gone meanwhile: an entry's lock file with its entry, another pruner
            continue
    return out


def _remove_unused(path: Path, entry: str, cutoff: float, dry_run: bool) -> str:
    """Remove `path` (an entry, a build's remains or a lock file of `entry`) unless it was stamped
    at or after `cutoff` or `entry`'s lock is held: "kept", "busy" or "removed"."""
    if path.stat().st_mtime >= cutoff:
        return "kept"
    lock_file = ArtifactCache.lock_file(path.parent / entry)
    try:
        with FileLock(str(lock_file), timeout=0):
            if path.stat().st_mtime >= cutoff:  # used meanwhile
                return "kept"
            if not dry_run:
                if path.is_dir():
                    shutil.rmtree(path)
                if path == lock_file or not (path.parent / entry).exists():
                    lock_file.unlink(missing_ok=True)  # held by us: nobody can be waiting on it
    except Timeout:
        return "busy"
    return "removed"
