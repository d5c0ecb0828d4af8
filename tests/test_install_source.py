"""The workflow installs encoder-gate the way it is installed where `init` ran (PEP 610's direct_url.json)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from encoder_gate.commands import install_source as source
from encoder_gate.commands.install_source import GitCheckout, InstallSource, install_source_from
from encoder_gate.commands.workflow import render_workflow

COMMIT = "3f1c2a9be4d5c6b7a8e9f0a1b2c3d4e5f6a7b8c9"
INSTALL_LINE = "venv/bin/pip install -q 'encoder-gate[cpu]==0.1.0'"


def no_git(path: Path) -> GitCheckout:
    raise AssertionError(f"git was asked about {path}, but this install names no local directory")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "me", "GIT_AUTHOR_EMAIL": "me@example.com",
           "GIT_COMMITTER_NAME": "me", "GIT_COMMITTER_EMAIL": "me@example.com", "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env,
                          check=True)
    return done.stdout.strip()


def make_repo(root: Path, remote: str | None) -> str:
    """A git repository at ``root`` with one commit (and ``remote`` as origin); returns HEAD."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text("[project]\nname = 'encoder-gate'\n")
    git(root, "add", "pyproject.toml")
    git(root, "commit", "-q", "-m", "one commit")
    if remote is not None:
        git(root, "remote", "add", "origin", remote)
    return git(root, "rev-parse", "HEAD")


def local(path: Path, editable: bool = True) -> dict[str, Any]:
    return {"url": path.resolve().as_uri(), "dir_info": {"editable": editable}}


# --- the three ways pip installs -------------------------------------------------------------


def test_vcs_install_is_installed_from_that_url_at_its_commit() -> None:
    """A VCS install (pip install git+URL@rev) gives that URL at the commit pip resolved, no warning."""
    direct_url = {"url": "https://github.com/o/encoder-gate.git",
                  "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "main"}}
    got = install_source_from(direct_url, "0.1.0", no_git)
    assert got == InstallSource(f"encoder-gate[cpu] @ git+https://github.com/o/encoder-gate.git@{COMMIT}",
                                "vcs", f"from git, https://github.com/o/encoder-gate.git at {COMMIT}")


def test_vcs_install_over_ssh_is_fetched_over_https_from_its_subdirectory() -> None:
    """An ssh VCS URL becomes https (the runner has no ssh key) and a subdirectory is kept."""
    direct_url = {"url": "ssh://git@github.com/o/mono.git", "subdirectory": "tools/gate",
                  "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
    got = install_source_from(direct_url, "0.1.0", no_git)
    assert got.requirement == \
        f"encoder-gate[cpu] @ git+https://github.com/o/mono.git@{COMMIT}#subdirectory=tools/gate"
    assert got.warning is None


def test_vcs_url_credentials_stay_out_of_the_committed_workflow() -> None:
    """A token in the install URL is dropped from the requirement, and a warning says a private
    repository needs a secret."""
    direct_url = {"url": "https://ghp_secret123@github.com/o/private.git",
                  "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
    got = install_source_from(direct_url, "0.1.0", no_git)
    assert got.requirement == f"encoder-gate[cpu] @ git+https://github.com/o/private.git@{COMMIT}"
    assert got.warning is not None and "credentials" in got.warning and "secret" in got.warning
    assert "ghp_secret123" not in repr(got)


def test_index_install_is_installed_at_that_version() -> None:
    """No direct_url.json (an index install): that version from the index, no warning."""
    got = install_source_from(None, "0.2.1", no_git)
    assert got == InstallSource("encoder-gate[cpu]==0.2.1", "index", "from a package index, version 0.2.1")


def test_archive_at_a_url_is_installed_from_it_and_a_local_archive_is_a_warning(tmp_path: Path) -> None:
    """A wheel at an https URL is installed from it; a local wheel, which the runner lacks, gets the
    index requirement and a warning quoting the line."""
    wheel = "https://example.com/dl/encoder_gate-0.1.0-py3-none-any.whl"
    got = install_source_from({"url": wheel, "archive_info": {}}, "0.1.0", no_git)
    assert (got.requirement, got.kind, got.warning) == (f"encoder-gate[cpu] @ {wheel}", "url", None)
    local_wheel = (tmp_path / "encoder_gate-0.1.0-py3-none-any.whl").as_uri()
    got = install_source_from({"url": local_wheel, "archive_info": {}}, "0.1.0", no_git)
    assert got.requirement == "encoder-gate[cpu]==0.1.0" and got.warning is not None
    assert "from the local file" in got.warning and INSTALL_LINE in got.warning


# --- installed from a local directory ---------------------------------------------------------


def test_local_checkout_with_a_remote_is_installed_from_its_remote_at_head(tmp_path: Path) -> None:
    """A local git checkout with an scp-like origin: origin as https at HEAD; a HEAD that no branch
    of origin holds gets a warning to push it, quoting the line."""
    repo = tmp_path / "tool"
    head = make_repo(repo, "git@github.com:me/tool.git")
    got = install_source_from(local(repo), "0.1.0", source.git_checkout)
    requirement = f"encoder-gate[cpu] @ git+https://github.com/me/tool.git@{head}"
    assert (got.requirement, got.kind) == (requirement, "local-git")
    assert got.origin == f"from the local directory {repo.resolve()} (editable): its origin " \
        f"https://github.com/me/tool.git at HEAD {head}"
    assert got.warning is not None and "push it" in got.warning
    assert f"    venv/bin/pip install -q '{requirement}'" in got.warning.splitlines()

    git(repo, "update-ref", "refs/remotes/origin/main", head)  # as after a push and a fetch
    assert install_source_from(local(repo), "0.1.0", source.git_checkout) == \
        InstallSource(requirement, "local-git", got.origin)


def test_local_directory_inside_a_checkout_is_installed_from_its_subdirectory(tmp_path: Path) -> None:
    """A package in a subdirectory of the checkout gets #subdirectory= in the requirement."""
    repo = tmp_path / "mono"
    (repo / "tools" / "gate").mkdir(parents=True)
    head = make_repo(repo, "https://gitlab.example.com/me/mono.git")
    got = install_source_from(local(repo / "tools" / "gate", editable=False), "0.1.0", source.git_checkout)
    assert got.requirement == \
        f"encoder-gate[cpu] @ git+https://gitlab.example.com/me/mono.git@{head}#subdirectory=tools/gate"
    assert "(editable)" not in got.origin


def test_local_checkout_without_a_remote_prints_which_line_to_edit(tmp_path: Path) -> None:
    """A local checkout with no origin (e.g. a CI's editable install): the index requirement and a
    warning that quotes the workflow's install line and a line to replace it with."""
    repo = tmp_path / "clone"
    make_repo(repo, None)
    got = install_source_from(local(repo), "0.1.0", source.git_checkout)
    assert (got.requirement, got.kind) == ("encoder-gate[cpu]==0.1.0", "unknown")
    assert got.warning is not None
    lines = got.warning.splitlines()
    assert "a git checkout with no 'origin' remote" in lines[0]
    assert "edit this line of .github/workflows/encoder-gate.yml:" in lines[0]
    assert lines[1] == f"    {INSTALL_LINE}"
    assert lines[3] == "    venv/bin/pip install -q 'encoder-gate[cpu] @ git+https://github.com/OWNER/REPO@COMMIT'"


def test_local_directory_that_is_no_checkout_or_whose_remote_is_local_is_a_warning(tmp_path: Path) -> None:
    """Not a git checkout, or an origin that is a local path: the runner cannot fetch either."""
    plain = tmp_path / "plain"
    plain.mkdir()
    got = install_source_from(local(plain), "0.1.0", source.git_checkout)
    assert got.warning is not None and "not a git checkout" in got.warning and INSTALL_LINE in got.warning
    repo = tmp_path / "cloned-from-disk"
    make_repo(repo, str(tmp_path / "upstream.git"))
    got = install_source_from(local(repo), "0.1.0", source.git_checkout)
    assert got.kind == "unknown" and got.warning is not None
    assert "is no URL the runner can reach" in got.warning and INSTALL_LINE in got.warning


def test_git_lookup_fails_softly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git that hangs or is missing makes the directory 'not a checkout', not an init crash."""

    def hang(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(cmd="git", timeout=kwargs["timeout"])

    def missing(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("git")

    for run in (hang, missing):
        monkeypatch.setattr(source.subprocess, "run", run)
        assert source.git_checkout(tmp_path) == GitCheckout()


@pytest.mark.parametrize(("url", "expected"), [
    ("git@github.com:me/tool.git", ("https://github.com/me/tool.git", False)),
    ("github.com:me/tool", ("https://github.com/me/tool", False)),
    ("ssh://git@gitlab.example.com:2222/me/tool.git", ("https://gitlab.example.com/me/tool.git", False)),
    ("git://example.org/tool.git", ("https://example.org/tool.git", False)),
    ("https://github.com/me/tool.git", ("https://github.com/me/tool.git", False)),
    ("https://me:tok@git.example.com:8443/tool.git", ("https://git.example.com:8443/tool.git", True)),
    ("/srv/git/tool.git", (None, False)),
    ("file:///srv/git/tool.git", (None, False)),
    ("C:/work/tool", (None, False)),
    ("../tool", (None, False)),
])
def test_remote_urls_become_what_the_runner_can_fetch(url: str, expected: tuple[str | None, bool]) -> None:
    """ssh and scp-like remotes become https, credentials are dropped, local paths are unreachable."""
    assert source.reachable_url(url) == expected


# --- reading the installed distribution -------------------------------------------------------


class FakeDist:
    def __init__(self, version: str, direct_url: str | None) -> None:
        self.version = version
        self._direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return self._direct_url


@pytest.fixture
def without_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """detect_install_source as on a stack without optimum, whichever this is: where optimum is
    installed (the optimum stack) it adds that extra (the test below it)."""
    import encoder_gate.backends.optimum_compat as compat

    monkeypatch.setattr(compat, "optimum_missing", lambda: "optimum is not installed")


@pytest.mark.usefixtures("without_optimum")
@pytest.mark.parametrize(("text", "requirement", "warned"), [
    (None, "encoder-gate[cpu]==0.3.0", None),
    (json.dumps({"url": "https://github.com/o/r", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}),
     f"encoder-gate[cpu] @ git+https://github.com/o/r@{COMMIT}", None),
    ("{not json", "encoder-gate[cpu]==0.3.0", "not JSON"),
    ("[1, 2]", "encoder-gate[cpu]==0.3.0", "not a JSON object"),
    (json.dumps({"dir_info": {}}), "encoder-gate[cpu]==0.3.0", "without a 'url'"),
])
def test_detect_reads_direct_url_json_of_the_installed_distribution(
        monkeypatch: pytest.MonkeyPatch, text: str | None, requirement: str, warned: str | None) -> None:
    """The installed version (local +segment dropped) and direct_url.json; a broken record is a warning."""
    monkeypatch.setattr(source, "distribution", lambda name: FakeDist("0.3.0+g1234", text))
    got = source.detect_install_source(no_git)
    assert got.requirement == requirement
    if warned is None:
        assert got.warning is None
    else:
        assert got.warning is not None and warned in got.warning
        assert "venv/bin/pip install -q 'encoder-gate[cpu]==0.3.0'" in got.warning


@pytest.mark.usefixtures("without_optimum")
def test_detect_without_an_installed_distribution_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """encoder-gate imported from a source tree (not installed): the package's version and a warning."""

    def missing(name: str) -> None:
        raise source.PackageNotFoundError(name)

    monkeypatch.setattr(source, "distribution", missing)
    got = source.detect_install_source(no_git)
    assert got.requirement == f"encoder-gate[cpu]=={source.__version__}"
    assert got.warning is not None and "source tree" in got.warning


# --- into the workflow ------------------------------------------------------------------------


def test_rendered_workflow_installs_the_requirement() -> None:
    """The install step pip-installs exactly the requirement (one shell word, '@' kept), and the
    cache key keeps the version."""
    requirement = f"encoder-gate[cpu] @ git+https://github.com/o/r.git@{COMMIT}"
    doc = yaml.safe_load(render_workflow(model_dir=None, version="0.1.0", requirement=requirement,
                                         python="3.11"))
    [install] = [s["run"] for s in doc["jobs"]["gate"]["steps"] if s.get("name") == "Install encoder-gate"]
    [dry_run, line] = [line.strip() for line in install.splitlines() if "encoder-gate" in line
                       and not line.strip().startswith("#")]
    assert line == f"venv/bin/pip install -q '{requirement}'"
    assert shlex.split(line)[-1] == shlex.split(dry_run)[-1] == requirement  # torch resolved beside it
    [cache] = [s for s in doc["jobs"]["gate"]["steps"] if s.get("id") == "cache"]
    assert cache["with"]["key"].startswith("encoder-gate-${{ runner.os }}-0.1.0-")


def test_rendered_workflow_refuses_a_requirement_that_is_not_one_line() -> None:
    """A requirement with a newline would break the YAML; it is refused with the value shown."""
    with pytest.raises(ValueError, match="must be one line"):
        render_workflow(model_dir=None, version="0.1.0", requirement="encoder-gate\nrm -rf /", python="3.11")


def test_where_optimum_is_installed_the_workflow_installs_the_optimum_extra_too(monkeypatch):
    """init on the optimum stack wrote encoder-gate[cpu]: CI then exported with torch.onnx.export on
    transformers 5, not as the user's machine did (walk G)."""
    unknown = source._unknown("0.1.0", "from a wheel file")
    both = source.with_optimum(unknown)
    assert both.requirement == "encoder-gate[cpu,optimum]==0.1.0"
    assert "encoder-gate[cpu]" not in (both.warning or "") and "optimum extra" in both.origin
    import encoder_gate.backends.optimum_compat as compat

    monkeypatch.setattr(compat, "optimum_missing", lambda: None)
    assert "[cpu,optimum]" in source.detect_install_source().requirement
    monkeypatch.setattr(compat, "optimum_missing", lambda: "optimum is not installed")
    assert "[cpu,optimum]" not in source.detect_install_source().requirement
