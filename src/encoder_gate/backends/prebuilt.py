"""Where a prebuilt ONNX file (`onnx:PATH`) is: the path as given, from the working directory or
beside the model. Plain paths, no library: the backend that loads it and the session start (which
says a missing file once) both read it here."""

from __future__ import annotations

from pathlib import Path

from encoder_gate.errors import GateError


def resolve_onnx_path(path: Path, model_dir: Path, cwd: Path | None = None) -> tuple[Path, list[str]]:
    """The file `path` names (absolute, or relative to the working directory, `cwd` where the sessions
    will run elsewhere, or the model directory, the working directory first) and a note saying which
    was used when it matters."""
    cwd = Path.cwd() if cwd is None else cwd
    candidates = [("", path)] if path.is_absolute() else [
        ("the working directory", cwd / path), ("the model directory", model_dir / path)]
    found = [(where, p) for where, p in candidates if p.exists()]
    if not found:
        looked = "" if path.is_absolute() else (
            f" (looked relative to the working directory, {cwd}, and to the model directory, "
            f"{model_dir})")
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
    if len(found) == 2 and not found[0][1].samefile(found[1][1]):
        notes.append(f"'{path}' exists relative to both the working directory and the model directory: "
                     f"used {chosen}, not {found[1][1]} (give an absolute path to choose)")
    elif where == "the model directory":
        notes.append(f"'{path}' resolved relative to the model directory: {chosen}")
    return chosen, notes
