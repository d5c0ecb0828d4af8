"""Building a session's artifact files (ONNX exports, FP16 conversions, INT8 quantizations) in a
process of their own, so a build's memory, and a crash inside a library, stay in that process.

A session first looks every backend's artifact up in the cache (:func:`build_artifact` on a
lookup-only cache: nothing is built, nothing heavy loaded); what is missing is built by one child
process (``python -m encoder_gate.runtime.artifact_builds REQUEST``), one backend after another,
each outcome reported on its stdout as it ends. The parent then opens its runners from the cache.

Why a child: glibc keeps much of what an export or a quantization freed mapped in the process
that built it, and a session goes on to load its runners on top of that; a child gives all of it
back when it exits. And a build that kills its process (a segmentation fault in a converter, an
abort in a library) kills the child, not the pytest session: that backend then fails its tests
with what happened, and every other backend is judged as usual (a second child builds the rest).

    outcomes = [build_artifact(name, lookup_ctx) for name in names]      # in the session: a lookup
    built = build_in_child(ctx, calibration, missing, progress)           # the rest, in a child
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import IO, Literal

from encoder_gate.backends.base import BuildContext, weights_bytes
from encoder_gate.backends.registry import parse_backend
from encoder_gate.cache import NotCached, changed_files
from encoder_gate.data.calibration import CalibrationSource
from encoder_gate.environment import killed_for_memory, oom_kills
from encoder_gate.errors import DeviceUnavailable, DiskFull, GateError, MissingDependency, NotApplicable
from encoder_gate.memory import return_freed_memory
from encoder_gate.models.spec import ModelSpec
from encoder_gate.processes import close_pipes
from encoder_gate.runtime.provenance import changed_said

#: What became of one backend's artifact: in the cache already, built now, a GateError (that
#: backend's failure, for its tests to report), anything else (left to its runner's own build, in
#: its first test, which meets it again and reports it there), or not in the cache (lookup only).
Kind = Literal["cached", "built", "error", "unexpected", "missing"]

#: A line of the child's stdout that carries an outcome (anything else it prints is passed on).
OUTCOME_MARK = "\x1eencoder-gate-artifact\t"
PROGRESS_MARK = "\x1eencoder-gate-progress\t"
STARTED_MARK = "\x1eencoder-gate-started\n"  # the child read its request: what dies after it is a build
#: How many of a dead child's last stderr lines are kept, and how many its backend's error quotes
#: (progress bars left out).
STDERR_TAIL = 40
LAST_WORDS = 4
PROGRESS_BAR = re.compile(r"\d+%\||it/s\]|s/it\]")


@dataclass(frozen=True)
class ArtifactOutcome:
    name: str
    kind: Kind
    seconds: float
    path: str | None = None
    detail: str | None = None  # the GateError's message, or what else went wrong
    error_type: str = GateError.__name__  # which GateError: a missing package or device skips

    def to_line(self) -> str:
        return OUTCOME_MARK + json.dumps(asdict(self))

    def error(self) -> GateError:
        """The GateError of an `error` outcome, of its own kind again (one from a child came as text)."""
        return GATE_ERRORS.get(self.error_type, GateError)(str(self.detail))


#: The kinds of GateError an outcome carries by name (tests skip on DeviceUnavailable and
#: MissingDependency, fail on the others; DiskFull's failure is its message alone).
GATE_ERRORS: dict[str, type[GateError]] = {
    c.__name__: c for c in (GateError, DeviceUnavailable, MissingDependency, DiskFull)}


def build_artifact(name: str, ctx: BuildContext) -> ArtifactOutcome | None:
    """Build (or, on a lookup-only cache, look up) backend `name`'s artifact file with `ctx`; None
    when it has none (a torch backend, a prebuilt `onnx:PATH`, a name its tests reject)."""
    try:
        backend = parse_backend(name)
    except GateError:
        return None  # its tests say why
    artifact = getattr(backend, "artifact", None)
    if artifact is None:
        return None
    started = time.monotonic()

    def outcome(kind: Kind, path: Path | None = None, detail: str | None = None,
                error_type: str = GateError.__name__) -> ArtifactOutcome:
        return ArtifactOutcome(name, kind, time.monotonic() - started, str(path) if path else None, detail,
                               error_type)

    try:
        path, hit = artifact(ctx)
    except NotApplicable:
        return None
    except NotCached:
        return outcome("missing")
    except GateError as exc:
        return outcome("error", detail=str(exc), error_type=type(exc).__name__)
    except Exception as exc:  # not ours to word here (outside any test)
        return outcome("unexpected", detail=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if ctx.cache.builds:  # a lookup built nothing, so it freed nothing
            return_freed_memory(weights_bytes(ctx.model.path))
    return outcome("cached" if hit else "built", path)


@dataclass(frozen=True)
class ChildRequest:
    """What the child builds with: the session's build context without its callables, where a
    static INT8 recipe reads its calibration texts (a value: the child reads them itself, as the
    session would), and the names."""

    ctx: BuildContext
    calibration: CalibrationSource | None
    names: tuple[str, ...]


def _quiet(_message: str) -> None:
    pass


def build_in_child(ctx: BuildContext, calibration: CalibrationSource | None, names: Sequence[str],
                   progress: Callable[[str], None]) -> list[ArtifactOutcome]:
    """Build `names`' artifacts in a child process, one after another, `progress` hearing the
    child's; one outcome per name. A child that dies fails the backend it was building (with its
    exit, and its last lines on stderr) and a new child builds the ones after it."""
    portable = replace(ctx, progress=_quiet, calibration=None)
    outcomes: list[ArtifactOutcome] = []
    remaining = list(names)
    while remaining:
        request = ChildRequest(portable, calibration, tuple(remaining))
        kills = oom_kills()  # the out-of-memory killer's count so far: a SIGKILL after a rise was memory
        reported, returncode, tail, started = _run_child(request, progress)
        outcomes += reported
        done = {o.name for o in reported}
        remaining = [n for n in remaining if n not in done]
        if not remaining:
            break
        if not started:  # it never read its request: no build of ours died, the process could not start
            progress(f"the build process could not start ({_last_words(tail)}): building "
                     f"{', '.join(remaining)} in this process, as each is first used")
            outcomes += [ArtifactOutcome(n, "unexpected", 0.0, detail="the build process could not start")
                         for n in remaining]
            break
        if returncode == 0:  # it ended without a word on these: never leave them unjudged silently
            outcomes += [ArtifactOutcome(n, "unexpected", 0.0, detail="its build process said nothing of it")
                         for n in remaining]
            break
        dead, remaining = remaining[0], remaining[1:]
        memory = killed_for_memory(kills) if returncode == -signal.SIGKILL else None
        outcomes.append(ArtifactOutcome(dead, "error", 0.0, detail=_death(dead, returncode, tail, memory)))
        if remaining:
            progress(f"building the rest in a new process: {', '.join(remaining)}")
    return outcomes


def _death(name: str, returncode: int, tail: Sequence[str], memory: str | None = None) -> str:
    """What a dead build's backend fails with: the process's end, and its last words. `memory`: the
    out-of-memory killer ended it (environment.killed_for_memory), which a rerun meets again."""
    if memory is not None:
        return (f"building {name}'s artifact ended the process that built it: {memory}. Not a crash, and "
                "not a verdict on the model: the build needs more memory than this runner gives it, so a "
                "rerun ends the same. Give the runner more memory, or build the file on a bigger machine "
                "and gate it as onnx:PATH. The session's other backends were built and judged as usual.")
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exited with status {returncode}"
    return (f"building {name}'s artifact ended the process that built it ({how}): a crash inside the "
            "exporter, converter or quantizer, not a verdict on the model. Run it again; if it stays, build "
            "the file yourself and gate it as onnx:PATH. The session's other backends were built and judged "
            f"as usual. The build's last words on stderr: {_last_words(tail)}")


def _last_words(tail: Sequence[str]) -> str:
    """A dead child's last LAST_WORDS lines on stderr, progress bars left out."""
    words = [line.strip() for line in tail if line.strip() and not PROGRESS_BAR.search(line)]
    return " / ".join(words[-LAST_WORDS:]) or "nothing on stderr"


def _run_child(request: ChildRequest, progress: Callable[[str], None],
               ) -> tuple[list[ArtifactOutcome], int, list[str], bool]:
    """One child over `request`: its outcomes as they came, its exit status, its last stderr lines
    (every stderr line is passed on to ours as it comes), and whether it read its request."""
    with tempfile.NamedTemporaryFile(prefix="encoder-gate-build-", suffix=".pickle", delete=False) as f:
        pickle.dump(request, f)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
    outcomes: list[ArtifactOutcome] = []
    child: subprocess.Popen[str] | None = None
    started = False
    try:
        # errors="replace": a library's stray bytes must not end the reader (the child would then
        # block on a full pipe)
        child = subprocess.Popen([sys.executable, "-m", __name__, f.name], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1,
                                 env=_child_env())
        assert child.stdout is not None and child.stderr is not None
        relay = threading.Thread(target=_relay_stderr, args=(child.stderr, tail), daemon=True)
        relay.start()
        for line in child.stdout:
            if line == STARTED_MARK:
                started = True
            elif line.startswith(OUTCOME_MARK):
                outcomes.append(ArtifactOutcome(**json.loads(line[len(OUTCOME_MARK):])))
            elif line.startswith(PROGRESS_MARK):
                progress(line[len(PROGRESS_MARK):].rstrip("\n"))
            else:
                sys.stdout.write(line)
        returncode = child.wait()
        relay.join(timeout=5)
    finally:
        if child is not None:
            if child.poll() is None:  # we were interrupted (Ctrl-C): it goes too
                child.kill()
                child.wait()
            close_pipes(child)
        with contextlib.suppress(FileNotFoundError):  # the child removes it once read
            os.unlink(f.name)
    return outcomes, returncode, list(tail), started


def _child_env() -> dict[str, str]:
    """Our environment, with the directory this encoder_gate was imported from first on the child's
    path: a session that found it through pytest's `pythonpath` setting or a sys.path entry of its
    own (a source checkout) has it where no environment variable says."""
    home = str(Path(__file__).resolve().parents[2])
    path = [home, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}


def _relay_stderr(stream: IO[str], tail: collections.deque[str]) -> None:
    with contextlib.suppress(ValueError, OSError):  # the stream closed under it (a child killed)
        for line in stream:
            tail.append(line)
            sys.stderr.write(line)


def _unchanged(model: ModelSpec) -> None:
    """A GateError where the model's files changed since the session hashed them: the build read
    other weights than its entry's key names (ArtifactCache.keep_check)."""
    if why := changed_said(changed_files(model.read_as)):
        raise GateError(why)


def _child_main(request_file: str) -> int:
    request: ChildRequest = pickle.loads(Path(request_file).read_bytes())
    with contextlib.suppress(OSError):  # read: gone, also where the session that wrote it is killed
        os.unlink(request_file)
    out = sys.stdout
    out.write(STARTED_MARK)
    out.flush()

    def say(message: str) -> None:
        out.write(PROGRESS_MARK + message.replace("\n", " ") + "\n")
        out.flush()

    ctx = replace(request.ctx, progress=say, calibration=request.calibration)
    ctx.cache.notify = say  # a wait on another session's lock, said as this process's progress
    ctx.cache.keep_check = partial(_unchanged, ctx.model)  # nothing built from weights changed meanwhile
    for name in request.names:
        outcome = build_artifact(name, ctx) or ArtifactOutcome(
            name, "unexpected", 0.0, detail="the build process found no artifact to build for it")
        if outcome.kind == "built":
            say(f"{name}: built at {outcome.path} in {outcome.seconds:.1f}s (before any runner is open; "
                "opened from there later)")
        out.write(outcome.to_line() + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
