"""Whether a PR changes its project's dependencies, which its A/B cannot measure.

An A/B (`--gate-base`, `--gate-base-ref`) runs the base's backends and the PR's in one environment,
the PR's: a PR that only bumps a library (onnxruntime 1.21 to 1.31 cost onnx-int8 a third of its
speedup on an AMD EPYC Zen 5, docs/benchmarks.md) is timed and judged on the new library on both
sides, and passes. So where the project's dependency files differ between base and PR, the A/B says
so in its notes, with what measures such a change: a save made on the base's stack.

    changed = changed_dependency_files(pr_dir, base_dir)   # ["requirements.txt", ...]
    note = dependency_note(changed)                        # None when nothing changed
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The files that pin or name a project's dependencies, as globs below its directory (pyproject.toml
#: apart: only its dependency tables count, not [tool.encoder-gate]).
DEPENDENCY_FILES = ("requirements*.txt", "requirements*.in", "requirements/*.txt", "requirements/*.in",
                    "constraints*.txt", "setup.py", "setup.cfg", "poetry.lock", "uv.lock", "pdm.lock",
                    "Pipfile", "Pipfile.lock", "environment.yml", "environment.yaml", "conda-lock.yml")

#: pyproject.toml's tables that name dependencies (PEP 621, PEP 735, poetry, the build's own).
PYPROJECT_DEPENDENCIES = (("project", "dependencies"), ("project", "optional-dependencies"),
                          ("dependency-groups",), ("tool", "poetry", "dependencies"),
                          ("tool", "poetry", "group"), ("build-system", "requires"))


def _files(project: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for pattern in DEPENDENCY_FILES:
        for path in project.glob(pattern):
            if path.is_file():
                found[path.relative_to(project).as_posix()] = path.read_bytes()
    return found


def _pyproject_dependencies(project: Path) -> list[Any]:
    """pyproject.toml's dependency tables, each None where it has none (as where there is no file:
    a pyproject.toml that holds [tool.encoder-gate] alone names no dependency); its raw text where
    it is no TOML."""
    path = project / "pyproject.toml"
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    try:
        data: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return [text]
    tables = []
    for keys in PYPROJECT_DEPENDENCIES:
        value = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        tables.append(value)
    return tables


#: The one dependency file the workflow `encoder-gate init` writes installs on the runner.
WORKFLOW_REQUIREMENTS = "requirements.txt"


def declared_dependencies(project: Path) -> list[str]:
    """The dependency files in `project` (DEPENDENCY_FILES), and pyproject.toml's dependencies where
    it declares any: what a project pins its libraries in."""
    named = sorted(_files(project))
    if any(table is not None for table in _pyproject_dependencies(project)):
        named.append("pyproject.toml's dependencies")
    return named


def uninstalled_note(project: Path) -> str | None:
    """init's warning for a project whose libraries the workflow would not install: no
    requirements.txt, but dependencies declared elsewhere (a lock file, pyproject.toml); None
    otherwise."""
    declared = declared_dependencies(project)
    if not declared or WORKFLOW_REQUIREMENTS in declared:
        return None
    return (f"this repository has no {WORKFLOW_REQUIREMENTS} and declares its dependencies in "
            f"{', '.join(declared)}: the workflow installs encoder-gate, torch and {WORKFLOW_REQUIREMENTS} "
            "alone, so the runner would gate the newest releases, not your pins. Export them to "
            f"{WORKFLOW_REQUIREMENTS} and commit it (uv export --no-hashes --no-emit-project -o "
            "requirements.txt; poetry export -o requirements.txt; pdm export -o requirements.txt; "
            "pipenv requirements > requirements.txt), or add their install to the workflow's 'Install "
            "encoder-gate' step")


def changed_dependency_files(pr: Path, base: Path, above: int = 0) -> list[str]:
    """The dependency files that differ between the PR's project directory and the base's (added,
    removed or edited), pyproject.toml where its dependency tables differ; and in each of the `above`
    directories over both (a project in a subdirectory of its repository: the repository's own
    requirements), named relative to the project (`../requirements.txt`)."""
    changed: list[str] = []
    for up in range(above + 1):
        here, there = (pr.resolve().parents[up - 1], base.resolve().parents[up - 1]) if up else (pr, base)
        prefix = "../" * up
        mine, theirs = _files(here), _files(there)
        changed += sorted(prefix + name for name in mine.keys() | theirs.keys()
                          if mine.get(name) != theirs.get(name))
        if _pyproject_dependencies(here) != _pyproject_dependencies(there):
            changed.append(f"{prefix}pyproject.toml's dependencies")
    return changed


def dependency_note(changed: Iterable[str]) -> str | None:
    """The A/B's note on a PR that changes its dependencies (None where it changes none)."""
    names = list(changed)
    if not names:
        return None
    return (f"this PR changes its dependencies ({', '.join(names)}), and base and PR both ran on this "
            "environment's libraries: the change's own effect on speed and accuracy is not measured "
            "here; to measure it, compare with the base's gate on the base's stack (pytest accuracy "
            "benchmarks --gate-speedup-baseline FILE --gate-accuracy-baseline FILE "
            "--gate-allow-other-machine, docs/configuration.md; the workflow encoder-gate init writes "
            "runs it after the A/B where requirements.txt changed)")
