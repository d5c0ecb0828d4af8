"""Where a prebuilt ONNX file (`onnx:PATH`) is: the path as given, from the working directory, beside
the model, or from the project's root. Plain paths, no library: the backend that loads it and the
session start (which says a missing file once) both read it here."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from encoder_gate.errors import GateError

#: The project's root (its pyproject.toml's directory), set by the pytest plugin for its session and
#: the processes it starts: an `onnx:` path of [tool.encoder-gate] is the project's, as its other
#: paths are, so a session started in a subdirectory (`cd accuracy && pytest .`, an IDE's) finds the
#: files `init` wrote as `onnx:models/clf/onnx/model.onnx` (it was a usage error there).
PROJECT_ROOT_ENV = "ENCODER_GATE_PROJECT_ROOT"


def set_project_root(root: Path) -> Callable[[], None]:
    """Where :func:`resolve_onnx_path` looks last, for this process and its children; returns what
    puts the value before back (a session's cleanup: an in-process session leaves none behind)."""
    before = os.environ.get(PROJECT_ROOT_ENV)
    os.environ[PROJECT_ROOT_ENV] = str(Path(root).resolve())

    def restore() -> None:
        if before is None:
            os.environ.pop(PROJECT_ROOT_ENV, None)
        else:
            os.environ[PROJECT_ROOT_ENV] = before

    return restore


def resolve_onnx_path(path: Path, model_dir: Path, cwd: Path | None = None) -> tuple[Path, list[str]]:
    """The file `path` names (absolute, or relative to the working directory, `cwd` where the sessions
    will run elsewhere, the model directory, or the project's root, in that order) and a note saying
    which was used when it matters."""
    cwd = Path.cwd() if cwd is None else cwd
    given = os.environ.get(PROJECT_ROOT_ENV)
    root = Path(given) if given and Path(given) != cwd.resolve() else None  # None: none, or the cwd
    candidates = [("", path)] if path.is_absolute() else [
        ("the working directory", cwd / path), ("the model directory", model_dir / path),
        *([("the project's root", root / path)] if root else [])]
    found = [(where, p) for where, p in candidates if p.exists()]
    if not found:
        looked = "" if path.is_absolute() else (
            f" (looked relative to the working directory, {cwd}, and to the model directory, "
            f"{model_dir}" + (f", and to the project's root, {root}" if root else "") + ")")
        raise GateError(f"ONNX file {path} does not exist{looked}. Check the path after 'onnx:'.")
    where, chosen = found[0]
    if chosen.is_dir():
        inside = sorted(p.relative_to(chosen).as_posix() for p in chosen.rglob("*.onnx"))
        if not inside:
            raise GateError(f"{chosen} is a directory with no .onnx file in it; name an ONNX file "
                            "after 'onnx:'.")
        raise GateError(f"{chosen} is a directory; name the ONNX file in it, e.g. onnx:{path / inside[0]} "
                        f"(it holds {', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''}).")
    notes = []
    if len(found) >= 2 and not found[0][1].samefile(found[1][1]):
        notes.append(f"'{path}' exists relative to both {where} and {found[1][0]}: "
                     f"used {chosen}, not {found[1][1]} (give an absolute path to choose)")
    elif where in ("the model directory", "the project's root"):
        notes.append(f"'{path}' resolved relative to {where}: {chosen}")
    return chosen, notes
