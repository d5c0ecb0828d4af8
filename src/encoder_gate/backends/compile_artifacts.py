"""torch.compile's portable cache artifacts, kept in the artifact cache (CompileArtifacts): what a
session compiled, saved when its runner closes, and hot-loaded into torch's caches before the next
session's first compile."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from encoder_gate.cache import ArtifactCache

COMPILE_ARTIFACTS_FILE = "torch-compile-artifacts.bin"


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Silence one logger's warnings for the duration (its level is restored after)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def describe_cache_info(info: Any) -> str:
    """`2 inductor, 2 aot_autograd` from a torch.compiler CacheInfo."""
    artifacts = getattr(info, "artifacts", {}) or {}
    return ", ".join(f"{len(keys)} {kind}" for kind, keys in sorted(artifacts.items()) if keys) or "none"


def compile_artifacts_missing() -> str | None:
    """None where this torch saves and loads torch.compile's portable cache artifacts; else why not,
    in one line with the fix (the window's floor, torch 2.6, has neither call)."""
    import torch

    if hasattr(torch.compiler, "save_cache_artifacts") and hasattr(torch.compiler, "load_cache_artifacts"):
        return None
    return (f"torch {torch.__version__} cannot save torch.compile's artifacts "
            "(torch.compiler.save_cache_artifacts came in torch 2.7): each session compiles again; "
            "pip install 'torch>=2.7' keeps them in the artifact cache")


@dataclass(frozen=True)
class CompileArtifacts:
    """torch.compile's portable cache artifacts in one entry of the artifact cache.

    The bytes are what `torch.compiler.save_cache_artifacts()` returns: the inductor FX
    graphs, AOT autograd entries (and autotune / PGO ones when there are) that this process
    compiled or took from torch's own caches. `load` hot-loads them into torch's on-disk
    caches (TORCHINDUCTOR_CACHE_DIR) before the first compile, which then finds them there.
    On CPU the C++ kernels are not among them: they are compiled again from the cached
    source. A missing, corrupt or unusable entry never fails a build: it is reported with
    `progress` and torch compiles as usual.
    """

    cache: ArtifactCache
    parts: dict[str, object]
    name: str = "torch-compile"
    progress: Callable[[str], None] = lambda _msg: None

    @property
    def entry(self) -> Path:
        return self.cache.entry_dir(self.name, self.parts)

    def found(self) -> bool:
        """Whether the entry is there, whole, for a torch that can load it: stamped as used by this
        session, which `load`s it at its first compile (a session that never compiles reads nothing
        of it, yet keeps it from `encoder-gate prune-cache`)."""
        entry = self.entry
        if not entry.is_dir() or compile_artifacts_missing() is not None:
            return False
        if not self.cache.is_valid(entry):  # get_or_build replaces it when saving
            self.progress(f"{self.name}: compile artifacts at {entry} are incomplete or corrupt: compiling")
            return False
        self.cache.use(entry)
        return True

    def load(self) -> bool:
        """Hot-load the entry's artifacts (stamped as used by `found`); False when there is none or they
        cannot be used."""
        if not self.found():
            return False
        entry = self.entry
        info: Any = None
        try:
            import torch

            data = (entry / COMPILE_ARTIFACTS_FILE).read_bytes()
            with quiet_logger("torch.compiler._cache"):  # its traceback; the line below says it all
                info = torch.compiler.load_cache_artifacts(data)
            problem = "torch could not read them" if info is None or info.empty() else ""
        except Exception as exc:  # whatever torch raises on bytes it cannot use
            problem = f"{type(exc).__name__}: {exc}"[:200]
        if problem:
            self.progress(f"{self.name}: compile artifacts at {entry} could not be loaded ({problem}): "
                          "compiling, and replacing them")
            self._discard(entry)
            return False
        self.progress(f"{self.name}: compile artifacts from cache at {entry} ({describe_cache_info(info)})")
        return True

    def _discard(self, entry: Path) -> None:
        """Remove an intact entry torch cannot use, so the next save writes a usable one."""
        try:
            with FileLock(str(self.cache.lock_file(entry)), timeout=30):
                shutil.rmtree(entry, ignore_errors=True)
        except Exception as exc:  # a busy lock or a read-only cache: keep compiling without it
            self.progress(f"{self.name}: could not remove {entry}: {exc}")

    def save(self) -> Path | None:
        """Store what this process compiled (if anything, and if the entry is not there yet)."""
        missing = compile_artifacts_missing()
        if missing is not None:
            self.progress(f"{self.name}: {missing}")
            return None
        try:
            import torch

            saved = torch.compiler.save_cache_artifacts()
            if saved is None:
                return None
            data, info = saved

            def build(tmp: Path) -> None:
                (tmp / COMPILE_ARTIFACTS_FILE).write_bytes(data)

            entry = self.cache.get_or_build(self.name, self.parts, build)
        except Exception as exc:  # a full disk or a torch that cannot serialize must not fail the run
            self.progress(f"{self.name}: compile artifacts not saved ({type(exc).__name__}: {exc})")
            return None
        if not entry.hit:
            self.progress(f"{self.name}: compile artifacts saved at {entry.path} "
                          f"({len(data) / 1e6:.1f} MB: {describe_cache_info(info)})")
        return entry.path
