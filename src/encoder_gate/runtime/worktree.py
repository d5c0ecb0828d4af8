"""The PR's base from a git ref (`--gate-base-ref origin/main`): a detached git worktree of it.

    base_dir = base_worktree(Path.cwd(), "origin/main")   # then as --gate-base base_dir

The worktree lives in the system's temporary directory, one per repository, and is reused:
the next session checks the new commit out in it instead of adding another. When the project
sits in a subdirectory of its repository, the base's copy of that subdirectory is returned.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from encoder_gate.errors import GateError, listed


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GateError("--gate-base-ref needs git on PATH; or check the base out yourself and pass "
                        "--gate-base DIR") from None
    if done.returncode != 0:
        raise GateError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _git_or_none(cwd: Path, *args: str) -> str | None:
    """`git ARGS`' output in `cwd`, or None where it fails (no git, outside a repository, no such
    ref): for questions whose "no" is an answer."""
    try:
        return _git(cwd, *args)
    except (GateError, OSError):
        return None


def names_commit(project: Path, ref: str) -> bool:
    """Whether `ref` names a commit of the git repository `project` is in (False without git, or
    outside a repository): a `--gate-base origin/main` that meant `--gate-base-ref`."""
    return _git_or_none(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is not None


def in_repository(project: Path) -> bool:
    """Whether `project` is inside a git work tree (False without git): where `--gate-base-ref` can
    check a base out."""
    return _git_or_none(project, "rev-parse", "--is-inside-work-tree") == "true"


def head_commit(repo: Path) -> str | None:
    """The commit checked out at `repo` (None without git, or outside a checkout): what a session's
    results, a shard and the base of a PR are of."""
    return _git_or_none(repo, "rev-parse", "HEAD") or None


def where_in_repository(project: Path) -> str:
    """Where `project` sits in its git repository, from the repository's top ("services/topics"; "" at
    the top, or without git): a project of its own in a repository of several."""
    top = _git_or_none(project, "rev-parse", "--show-toplevel")
    if not top:
        return ""
    try:
        place = project.resolve().relative_to(Path(top).resolve())
    except ValueError:
        return ""
    return "" if place == Path() else place.as_posix()


def depth_in_repository(project: Path) -> int:
    """How many directories `project` sits below its repository's top (0 at the top, or without git):
    a base checked out by `base_worktree` sits as deep in its worktree."""
    return len(Path(where_in_repository(project)).parts)


def branches(project: Path) -> list[str]:
    """The local branches of the repository `project` is in ([] without git or a repository)."""
    return (_git_or_none(project, "for-each-ref", "--format=%(refname:short)", "refs/heads") or "").split()


def default_branch(project: Path) -> str | None:
    """The branch a pull request of the repository `project` is in is based on, as `--gate-base-ref`
    names it here: the local branch of the remote's default (origin/HEAD), else the branch checked
    out (where `encoder-gate init` runs, the default branch as a rule); None without either."""
    local = branches(project)
    remote = _git_or_none(project, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if remote:
        name = remote.split("/", 1)[-1]
        return name if name in local else remote
    current = _git_or_none(project, "rev-parse", "--abbrev-ref", "HEAD")
    return current if current in local else None


def worktree_path(toplevel: Path) -> Path:
    """Where the base's worktree of the repository at `toplevel` lives (one per repository)."""
    key = hashlib.sha256(str(toplevel.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"encoder-gate-base-{key}"


def fork_point(toplevel: Path, ref: str, sha: str) -> tuple[str, str | None]:
    """The commit a PR of HEAD is judged against, for the base `ref` (at `sha`), and what to say of
    it: where HEAD left `ref` (their merge-base), so that commits `ref` gained since are not
    counted as this PR's (a branch behind main, run locally, was failed for main's own changes);
    in CI's merge commit, which holds `ref`, that is `ref` itself. None to say where it is."""
    fork = _git_or_none(toplevel, "merge-base", "HEAD", sha)
    if fork is None and _git_or_none(toplevel, "rev-parse", "--is-shallow-repository") == "true":
        return sha, (f"--gate-base-ref {ref}: this clone is shallow, so where HEAD left {ref} is not known: "
                     f"compared with {ref} itself (fetch its history: fetch-depth: 0 in CI)")
    if fork is None:
        return sha, f"--gate-base-ref {ref}: HEAD shares no history with {ref}: compared with {ref} itself"
    if fork == sha:
        return sha, None
    if fork == _git_or_none(toplevel, "rev-parse", "HEAD"):  # no commit of its own: nothing of a PR's
        return sha, (f"--gate-base-ref {ref}: HEAD is behind {ref} with no commit of its own: compared "
                     f"with {ref} itself")
    ahead = _git_or_none(toplevel, "rev-list", "--count", f"HEAD..{sha}") or "some"
    return fork, (f"--gate-base-ref {ref}: this branch left {ref} at {fork[:10]}, and {ref} has {ahead} "
                  f"commit(s) since that HEAD does not hold: the base is {fork[:10]}, so their changes are "
                  f"not counted as this PR's (merge or rebase onto {ref} to be judged against it as it is)")


def base_worktree(project: Path, ref: str, say: Callable[[str], None] = lambda _: None) -> Path:
    """The project's directory in a worktree of the commit a PR of HEAD against `ref` is judged
    against (:func:`fork_point`; checked out detached, reused across sessions); `say` is told
    where that is not `ref` itself, and which commit it checked out where."""
    try:
        toplevel = Path(_git(project, "rev-parse", "--show-toplevel"))
    except GateError:
        raise GateError(f"--gate-base-ref {ref}: {project} is not in a git repository; check the base out "
                        "and pass --gate-base DIR") from None
    try:
        sha = _git(toplevel, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GateError:
        local = branches(toplevel)
        shown = listed(local, 8, quoted=False)
        raise GateError(f"--gate-base-ref {ref}: no such commit in {toplevel}"
                        + (f" (its branches: {shown})" if local else "")
                        + "; name the base's branch or commit, or fetch it first (e.g. git fetch origin; in "
                          "CI check out with fetch-depth: 0)") from None
    sha, note = fork_point(toplevel, ref, sha)
    if note:
        say(note)
    path = worktree_path(toplevel)
    if (path / ".git").is_file():
        _git(path, "checkout", "--quiet", "--detach", "--force", sha)
    else:
        if path.exists():
            shutil.rmtree(path)  # a leftover that is no worktree (an interrupted add)
        _git(toplevel, "worktree", "prune")
        _git(toplevel, "worktree", "add", "--quiet", "--detach", "--force", str(path), sha)
    # which commit the base is and where it lies: a user saw neither outside verdict.md
    say(f"the base: {ref} at {sha[:12]}, checked out in {path} (a git worktree, kept for the next session)")
    return path / project.resolve().relative_to(toplevel.resolve())


def not_carried(project: Path, paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Which of `paths` a checkout of the git repository `project` is in would not hold (a CI runner's,
    the base that `--gate-base-ref` checks out), each with why: outside the repository, a link to
    outside it, or ignored by git (with the pattern and where it is written). [] outside git."""
    top = _git_or_none(project, "rev-parse", "--show-toplevel")
    if not top:
        return []
    root = Path(top).resolve()
    said: list[tuple[Path, str]] = []
    for path in paths:
        real = path.resolve()
        if not real.is_relative_to(root):
            why = (f"a link to {real}, outside the repository" if path.is_symlink() or
                   path.absolute().is_relative_to(root) else "outside the repository")
            said.append((path, why))
        elif (rule := _git_or_none(project, "check-ignore", "--verbose", str(real))) is not None:
            source, _, pattern = rule.partition("\t")[0].rpartition(":")  # ".gitignore:3:*.onnx"
            said.append((path, f"ignored by git: {pattern} in {source.rsplit(':', 1)[0]}"))
    return said
