"""--gate-base-ref: the base checked out in a git worktree the next session reuses, at the point the
PR's branch left it (runtime.worktree), and what a session says of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError


def test_what_a_base_ref_session_says_before_pytests_terminal_exists_is_in_its_header(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """--gate-base-ref's checkout is said in the plugin's pytest_configure, which runs before pytest's
    terminal reporter exists: that line (which commit, where) and the fork point's note were lost, and
    are now in the session's header."""
    import subprocess

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=pytester.path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    pytester.makepyprojecttoml('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\n')
    git("add", "-A")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    (pytester.path / "README.md").write_text("a PR\n")
    git("add", "-A")
    git("commit", "-qm", "pr")
    result = pytester.runpytest("--gate-base-ref", "HEAD~1", "--co", "-p", "no:cacheprovider")
    said = f"[[]encoder-gate] the base: HEAD~1 at {base[:12]}, checked out in * (a git worktree, kept for "
    result.stdout.fnmatch_lines(["*test session starts*", said + "the next session)", "rootdir: *"])


def test_a_base_ref_is_checked_out_in_one_reused_worktree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """--gate-base-ref REF: the project's directory as of REF, in a worktree the next session reuses;
    an unknown ref and a directory outside git are clear errors."""
    import subprocess

    from encoder_gate.runtime.worktree import base_worktree

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    repo = tmp_path / "repo"
    (repo / "project").mkdir(parents=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "trunk")
    (repo / "project" / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\n')
    git("add", "-A")
    git("commit", "-qm", "base")
    first = git("rev-parse", "HEAD")
    (repo / "project" / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "default"\n')
    git("commit", "-qam", "pr")

    said: list[str] = []
    base = base_worktree(repo / "project", first, said.append)
    assert base.name == "project" and 'model = "tiny"' in (base / "pyproject.toml").read_text()
    assert said == [f"the base: {first} at {first[:12]}, checked out in {base.parent} (a git worktree, kept "
                    "for the next session)"], said
    again = base_worktree(repo / "project", "HEAD")
    assert again == base and 'model = "default"' in (again / "pyproject.toml").read_text()
    with pytest.raises(GateError, match=r"no such commit in .* \(its branches: trunk\); name the base's"):
        base_worktree(repo / "project", "no-such-branch")
    (tmp_path / "plain").mkdir()
    with pytest.raises(GateError, match="is not in a git repository"):
        base_worktree(tmp_path / "plain", "HEAD")
    with pytest.raises(GateError, match="both name the base"):
        GateConfig(base=base, base_ref="HEAD")


def test_a_branch_behind_its_base_ref_is_judged_against_where_it_left_it(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    """A PR branch run locally while main moved on: `--gate-base-ref main` checked out main's tip,
    and main's own new model and requirements were blamed on the PR (FAIL). The base is where the
    branch left main (their merge-base), and said so; in CI's merge commit, which holds main, it is
    main itself, with nothing said."""
    import subprocess

    from encoder_gate.runtime.worktree import base_worktree

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                              check=True, capture_output=True, text=True).stdout.strip()

    def model(name: str) -> None:
        (repo / "pyproject.toml").write_text(f'[tool.encoder-gate]\nmodel = "{name}"\n')

    git("init", "-q", "-b", "main")
    model("left")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "pr")
    (repo / "README.md").write_text("the PR's change\n")
    git("add", "-A")
    git("commit", "-qm", "pr")
    git("checkout", "-q", "main")
    for name in ("retrained", "retrained again"):  # main's own, after the branch left it
        model(name)
        git("commit", "-qam", name)
    git("checkout", "-q", "pr")
    said: list[str] = []

    def note(line: str) -> None:  # the fork point's notes; every checkout also says its commit
        if not line.startswith("the base: "):
            said.append(line)

    base = base_worktree(repo, "main", note)
    assert 'model = "left"' in (base / "pyproject.toml").read_text()
    left = git("merge-base", "HEAD", "main")
    assert said == [f"--gate-base-ref main: this branch left main at {left[:10]}, and main has 2 commit(s) "
                    f"since that HEAD does not hold: the base is {left[:10]}, so their changes are not "
                    "counted as this PR's (merge or rebase onto main to be judged against it as it is)"]
    git("merge", "-q", "--no-edit", "main")  # as CI's merge commit: main's tip is the base, unsaid
    said.clear()
    merged = base_worktree(repo, "main", note)
    assert 'model = "retrained again"' in (merged / "pyproject.toml").read_text()
    assert said == []
    # a shallow clone (CI's fetch-depth 1) knows no fork point: main itself, and why, with the fix
    shallow = tmp_path / "shallow"
    for args, cwd in ((["clone", "-q", "--depth", "1", "--branch", "pr", f"file://{repo}", str(shallow)],
                       tmp_path),
                      (["fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main"], shallow)):
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
    base = base_worktree(shallow, "origin/main", note)
    assert 'model = "retrained again"' in (base / "pyproject.toml").read_text()
    assert said == ["--gate-base-ref origin/main: this clone is shallow, so where HEAD left origin/main is "
                    "not known: compared with origin/main itself (fetch its history: fetch-depth: 0 in CI)"]
    # HEAD behind main with no commit of its own: main itself (not HEAD against itself), said
    said.clear()
    git("checkout", "-q", "--detach", left)
    behind = base_worktree(repo, "main", note)
    assert 'model = "retrained again"' in (behind / "pyproject.toml").read_text()
    assert said == ["--gate-base-ref main: HEAD is behind main with no commit of its own: compared with main "
                    "itself"]
