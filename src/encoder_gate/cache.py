"""Content-addressed artifact cache with atomic writes and a file lock.

An artifact is a directory. Its key is a hash of everything that decides its bytes
(the model's content hash, the recipe, the toolchain versions). It is built in a
temporary sibling directory, a manifest with the sha256 of every file is written last,
and the directory is renamed into place: a build killed half-way leaves only a
temporary directory that is never taken as done (the next builder of that key, holding
its lock, deletes it). On reuse the manifest is checked;
a corrupted entry is rebuilt. A file lock per key makes concurrent pytest-xdist
workers build each artifact once.

    cache = ArtifactCache(Path(".encoder-gate/cache"))
    path, hit = cache.get_or_build("onnx-int8", {"model": spec.content_hash}, build_fn)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from filelock import FileLock

MANIFEST = "encoder-gate-manifest.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of one file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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


def toolchain_versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and the installed versions of `packages` and of encoder-gate itself: part
    of every key. Each caller names the libraries that change its bytes (a backend: its own
    `packages`), so a new library joins the key where it is used."""
    out = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for dist in dict.fromkeys([*packages, "encoder-gate"]):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class CacheEntry:
    """Where an artifact lives and whether it came from the cache."""

    path: Path
    hit: bool


class ArtifactCache:
    """Directory-per-artifact cache under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entry_dir(self, name: str, parts: Mapping[str, object]) -> Path:
        return self.root / f"{name}-{key_of(parts)}"

    def is_valid(self, path: Path) -> bool:
        """True when `path` holds a complete artifact whose files match its manifest."""
        manifest = path / MANIFEST
        if not manifest.is_file():
            return False
        try:
            recorded = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError):
            return False
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
            return CacheEntry(final, hit=True)
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(final) + ".lock"):
            if final.is_dir() and self.is_valid(final):  # another worker built it meanwhile
                return CacheEntry(final, hit=True)
            if final.exists():  # corrupted or incomplete: rebuild from scratch
                shutil.rmtree(final)
            self._remove_orphans(final)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=self.root))
            try:
                build(tmp)
                files = {p.relative_to(tmp).as_posix(): sha256_file(p)
                         for p in sorted(tmp.rglob("*")) if p.is_file()}
                meta = {"name": name, "key": dict(parts), "files": files}
                (tmp / MANIFEST).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return CacheEntry(final, hit=False)
