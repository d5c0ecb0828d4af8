"""What the workflow `encoder-gate init` writes installs encoder-gate from: the way it is installed here.

pip records how it installed a distribution in its ``direct_url.json`` (PEP 610): from a VCS URL at a
commit, from a local directory or archive, or nothing at all for an install from a package index.
:func:`install_source_from` turns that record into the pip requirement the workflow's install step
uses, so the runner installs the encoder-gate that ``init`` ran with:

* a VCS install: that URL at its commit (``encoder-gate[cpu] @ git+https://host/o/r@<commit>``);
* an index install: that version (``encoder-gate[cpu]==<version>``);
* a local directory: its git checkout's ``origin`` at ``HEAD`` when it has one (an ssh remote is
  written as https: the runner has no ssh key); otherwise the index requirement, with a warning
  that quotes the workflow's line to edit.

The ``cpu`` extra is kept: the workflow installs onnxruntime through it. Credentials in a URL are
never written into the workflow (it is committed); a private repository needs its own token.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

from encoder_gate import __version__
from encoder_gate.commands.layout import WORKFLOW_PATH
from encoder_gate.commands.workflow_install import install_command

DIST_NAME = "encoder-gate"
#: the extra the workflow installs (onnxruntime for the CPU runner), and a GPU runner's gate job
EXTRA, GPU_EXTRA = "cpu", "gpu"
#: seconds each git command may take before the lookup gives up (it fails softly)
GIT_TIMEOUT_S = 10.0
VCS_SCHEMES = ("git", "hg", "svn", "bzr")

Kind = Literal["vcs", "index", "url", "local-git", "unknown"]

# `user@host:path`, git's scp-like syntax (no scheme; the colon comes before any slash)
# (a one-letter "host" is a Windows drive, C:/path)
_SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?(?P<host>[^@/:\s]{2,}):(?P<path>(?!//)\S+)$")


@dataclass(frozen=True)
class InstallSource:
    """The pip requirement the workflow installs encoder-gate with; ``origin`` says how encoder-gate
    is installed here (for init's note); ``warning`` is set when the runner may fail to install the
    requirement, and says which line of the workflow to edit."""

    requirement: str
    kind: Kind
    origin: str
    warning: str | None = None


@dataclass(frozen=True)
class GitCheckout:
    """What git says about a local directory. ``is_checkout`` False: not a git work tree (or git is
    missing); ``subdirectory``: the directory's place in the checkout ('' at its top); ``pushed``:
    whether a branch of origin holds HEAD, as of the clone's last fetch (None: unknown)."""

    is_checkout: bool = False
    remote: str | None = None
    commit: str | None = None
    subdirectory: str = ""
    pushed: bool | None = None


GitLookup = Callable[[Path], GitCheckout]


# --- the pure part: direct_url.json + version + git's answers -> the requirement -------------


def index_requirement(version: str) -> str:
    """``encoder-gate[cpu]==<version>``: the requirement of an install from a package index."""
    return f"{DIST_NAME}[{EXTRA}]=={version}"


def install_source_from(direct_url: Mapping[str, Any] | None, version: str, git: GitLookup) -> InstallSource:
    """The workflow's requirement from PEP 610's ``direct_url.json`` (None: there is none, an index
    install), the installed ``version`` (without a local ``+segment``), and ``git``, asked about a
    local directory it was installed from."""
    if direct_url is None:
        return InstallSource(index_requirement(version), "index", f"from a package index, version {version}")
    url = direct_url.get("url")
    if not isinstance(url, str) or not url.strip():
        return _unknown(version, "an install record (direct_url.json) without a 'url'")
    subdirectory = direct_url.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if isinstance(subdirectory, str) and subdirectory else ""
    vcs_info = direct_url.get("vcs_info")
    if isinstance(vcs_info, Mapping):
        return _from_vcs(url, vcs_info, fragment, version)
    if urlsplit(url).scheme == "file":
        path = Path(url2pathname(urlsplit(url).path))
        dir_info = direct_url.get("dir_info")
        if isinstance(dir_info, Mapping):
            editable = " (editable)" if dir_info.get("editable") else ""
            return _from_directory(path, f"from the local directory {path}{editable}", version, git)
        return _unknown(version, f"from the local file {path}, which the runner does not have")
    public, credentials = reachable_url(url)
    if public is not None and urlsplit(public).scheme in ("http", "https"):
        requirement = f"{DIST_NAME}[{EXTRA}] @ {public}{fragment}"
        warning = _credentials_warning(requirement, credentials)
        return InstallSource(requirement, "url", f"from {public}", warning)
    return _unknown(version, f"from {_redacted(url)}, which the runner cannot fetch")


def _from_vcs(url: str, vcs_info: Mapping[str, Any], fragment: str, version: str) -> InstallSource:
    vcs, commit = vcs_info.get("vcs"), vcs_info.get("commit_id")
    if vcs not in VCS_SCHEMES or not isinstance(commit, str) or not commit:
        return _unknown(version, f"from {_redacted(url)}, with no VCS and commit pip can use "
                        f"(vcs_info {dict(vcs_info)})")
    public, credentials = reachable_url(url)
    if vcs != "git" and not url.startswith(("https://", "http://")):
        public = None  # only git's ssh URLs have a known https twin
    if public is None:
        return _unknown(version, f"from {vcs} at {_redacted(url)}, which is no URL the runner can reach")
    requirement = f"{DIST_NAME}[{EXTRA}] @ {vcs}+{public}@{commit}{fragment}"
    return InstallSource(requirement, "vcs", f"from {vcs}, {public} at {commit}",
                         _credentials_warning(requirement, credentials))


def _from_directory(path: Path, origin: str, version: str, git: GitLookup) -> InstallSource:
    checkout = git(path)
    if not checkout.is_checkout:
        return _unknown(version, f"{origin}, which is not a git checkout (or git cannot read it)",
                        f"push {path} to a repository the runner can reach")
    if not checkout.remote:
        return _unknown(version, f"{origin}, a git checkout with no 'origin' remote",
                        f"push {path} to a repository the runner can reach")
    if not checkout.commit:
        return _unknown(version, f"{origin}, a git checkout with no commit yet",
                        f"commit and push {path}")
    public, credentials = reachable_url(checkout.remote)
    if public is None:
        return _unknown(version, f"{origin}, whose origin {_redacted(checkout.remote)} is no URL the runner "
                        "can reach", f"push {path} to a repository the runner can reach")
    fragment = f"#subdirectory={checkout.subdirectory}" if checkout.subdirectory else ""
    requirement = f"{DIST_NAME}[{EXTRA}] @ git+{public}@{checkout.commit}{fragment}"
    warnings = []
    if checkout.pushed is False:
        warnings.append(
            f"encoder-gate is installed here from {path}, at commit {checkout.commit[:12]}, which no branch "
            f"of its origin holds (as far as that clone knows): push it before the first pull request, or "
            f"the workflow's install step cannot fetch it. The line in {WORKFLOW_PATH}:\n"
            f"    {install_command(requirement)}"
        )
    credentials_warning = _credentials_warning(requirement, credentials)
    if credentials_warning:
        warnings.append(credentials_warning)
    return InstallSource(requirement, "local-git", f"{origin}: its origin {public} at HEAD {checkout.commit}",
                         "\n".join(warnings) or None)


def _unknown(version: str, how: str, fix: str = "") -> InstallSource:
    """The index requirement, with a warning that says why the runner may not install it, and the line."""
    requirement = index_requirement(version)
    example = f"{DIST_NAME}[{EXTRA}] @ git+https://github.com/OWNER/REPO@COMMIT"
    warning = (
        f"the workflow cannot install encoder-gate the way it is installed here ({how}), so it installs "
        f"{requirement} from the package index, and its install step fails while no index has encoder-gate "
        f"{version}. In that case {fix + ', then ' if fix else ''}edit this line of {WORKFLOW_PATH}:\n"
        f"    {install_command(requirement)}\n"
        f"  to install from where the runner can, such as a git URL at a commit:\n"
        f"    {install_command(example)}"
    )
    return InstallSource(requirement, "unknown", how, warning)


def _credentials_warning(requirement: str, credentials: bool) -> str | None:
    if not credentials:
        return None
    return (f"the URL encoder-gate was installed from holds credentials; the workflow installs it without "
            f"them ({requirement}), since the workflow is committed. For a private repository, give the "
            f"install step a token (a repository secret) in {WORKFLOW_PATH}")


def reachable_url(url: str) -> tuple[str | None, bool]:
    """``url`` as the runner can fetch it, and whether credentials were dropped from it: an http(s)
    URL as it is, an ssh or scp-like (``git@host:o/r.git``) or ``git://`` URL as https (the runner
    has no ssh key); None for a local path or ``file:`` URL, which the runner does not have."""
    text = url.strip()
    if not text or any(c.isspace() for c in text):
        return None, False
    scp = _SCP_LIKE.match(text)
    if scp and "://" not in text:
        return f"https://{scp['host']}/{scp['path'].lstrip('/')}", False
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh", "ssh+git") or not parts.hostname:
        return None, False
    credentials = parts.password is not None or (
        parts.username is not None and parts.scheme in ("http", "https"))
    host = parts.hostname if parts.port is None or parts.scheme in ("ssh", "git", "git+ssh", "ssh+git") \
        else f"{parts.hostname}:{parts.port}"
    scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
    return urlunsplit((scheme, host, parts.path, parts.query, "")), credentials


def _redacted(url: str) -> str:
    """``url`` without any user or password, for messages."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


# --- the impure part: the installed distribution and git -------------------------------------


def git_checkout(path: Path) -> GitCheckout:
    """Ask git about ``path``: origin's URL, HEAD, the path's place in the checkout, and whether a
    branch of origin holds HEAD. Fails softly: a git error or timeout leaves that answer empty."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    prefix = git("rev-parse", "--show-prefix")
    if prefix is None:
        return GitCheckout()
    remote = git("remote", "get-url", "origin") or None
    commit = git("rev-parse", "--verify", "--quiet", "HEAD^{commit}") or None
    pushed = None
    if remote and commit:
        branches = git("branch", "--remotes", "--contains", commit, "--list", "origin/*")
        pushed = None if branches is None else bool(branches)
    return GitCheckout(True, remote, commit, prefix.rstrip("/"), pushed)


def detect_install_source(git: GitLookup = git_checkout) -> InstallSource:
    """How encoder-gate is installed in this environment, as the workflow's requirement, with the
    optimum extra where optimum's exporter is installed here (the runner then exports as this
    machine does: optimum's main_export on its transformers, not torch.onnx.export on another)."""
    from encoder_gate.backends.optimum_compat import optimum_missing

    found = _detect(git)
    return with_optimum(found) if optimum_missing() is None else found


def with_optimum(source: InstallSource) -> InstallSource:
    """`source` with the optimum extra beside the cpu one, in its requirement and its warning."""
    plain, both = f"{DIST_NAME}[{EXTRA}]", f"{DIST_NAME}[{EXTRA},optimum]"
    return replace(source, requirement=source.requirement.replace(plain, both),
                   origin=f"{source.origin}, with the optimum extra (optimum is installed here)",
                   warning=source.warning.replace(plain, both) if source.warning else None)


def with_gpu(source: InstallSource) -> InstallSource:
    """`source` with the gpu extra in place of the cpu one (onnxruntime-gpu, never beside onnxruntime):
    what a GPU runner's gate job installs (init --device cuda)."""
    plain, gpu = f"{DIST_NAME}[{EXTRA}", f"{DIST_NAME}[{GPU_EXTRA}"
    return replace(source, requirement=source.requirement.replace(plain, gpu),
                   warning=source.warning.replace(plain, gpu) if source.warning else None)


def _detect(git: GitLookup) -> InstallSource:
    try:
        dist = distribution(DIST_NAME)
    except PackageNotFoundError:
        return _unknown(__version__.split("+", 1)[0],
                        "not as a package: encoder-gate is imported from a source tree",
                        "install it with pip (from a git URL, say)")
    version = dist.version.split("+", 1)[0]
    text = dist.read_text("direct_url.json")
    if text is None:
        return install_source_from(None, version, git)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return _unknown(version, f"an install record (direct_url.json) that is not JSON: {exc.msg}")
    if not isinstance(record, dict):
        return _unknown(version, "an install record (direct_url.json) that is not a JSON object")
    return install_source_from(record, version, git)
