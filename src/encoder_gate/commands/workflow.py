"""The GitHub Actions workflow `encoder-gate init` writes: the PR gated against its base, the verdict posted.

Used by `encoder-gate init` (:mod:`encoder_gate.commands.init`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from encoder_gate.commands.layout import CACHE_DIR_NAME, PYPROJECT, SHARD_COSTS_FILE, project_slug
from encoder_gate.commands.merge import BENCHMARKS_JSON
from encoder_gate.commands.workflow_comment import comment_script
from encoder_gate.commands.workflow_install import (
    BASE_VENV,
    INSTALL_GATE,
    INSTALL_TOOLS,
    INSTALLED,
    gate_torch,
    install_command,
)
from encoder_gate.config import GateConfig
from encoder_gate.documents import (
    ACCURACY_FILE,
    DOCUMENTS,
    SHARD_FILE,
    SPEEDUPS_FILE,
    VERDICT_FILE,
    VERDICT_JSON,
)
from encoder_gate.errors import GateError
from encoder_gate.runtime.dependency_files import WORKFLOW_REQUIREMENTS

#: A runner label: what `runs-on` takes unquoted in a YAML flow list
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_WORKFLOW = """\
# Gate every pull request on accuracy and speed with encoder-gate (written by `encoder-gate init`).
#
@LAYOUT@#   `pytest accuracy benchmarks --gate-base @BASE@` builds every backend twice, the base's and
#   the PR's (what the PR did not change is built once: artifacts are content-addressed);
#   - speed: each (backend, batch size) times the base and the PR in interleaved rounds of
#     random order on the thread's CPU time, so the runner's load hits both alike; a cell fails
#     when the PR is significantly and at least @MIN_SLOWDOWN@ slower (Holm across cells);
#   - accuracy: each backend's F1 against the base's on the PR's texts (paired bootstrap CI,
#     McNemar, per label), and the usual checks of every backend against this PR's torch.
#   Then, always: the report (tables + PNG plots), the verdict in the job summary and the raw
#   results as an artifact. The PR that adds encoder-gate has no base to compare with: it is
#   gated on its own (accuracy, and each backend's speedup over torch eager in the same run).
# The gate job runs the PR's code with a read-only token and no credentials left on disk; a
# second job, which runs no code of the PR's, posts the verdict as one PR comment (updated on
# every push). A push to the default branch runs the gate alone and saves the artifact cache
# there, where every PR's first run finds it; a third job then records its results in the
# history (the @HISTORY_BRANCH@ branch) and checks what crept across commits.
name: encoder-gate@NAME_SUFFIX@

on:
  pull_request:
  push:
    branches: [main, master]  # the default branch: warms the artifact cache for PRs

# nothing by default; each job asks for what it needs
permissions: {}

# a newer push to a PR cancels the run of an older one, so an old verdict never replaces a newer
# one; a push to the default branch runs to its end (its history record and its cache)
concurrency:
  group: encoder-gate@SLUG@-${{ github.event.pull_request.number || github.ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}

env:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"
  # the suite's artifact cache (models, exported ONNX files), shared by the base and the PR
  CACHE: ${{ github.workspace }}/@CACHE_DIR@

jobs:
  gate:
    runs-on: @GATE_RUNNER@
    timeout-minutes: 60
    permissions:
      contents: read@MATRIX@
    steps:
      # the PR as GitHub would merge it, and its base: that merge commit's first parent (the
      # target branch as the merge saw it, not the base the PR was opened against)
      - name: Check out the PR
        uses: @CHECKOUT@
        with:
          path: pr
          fetch-depth: 2
          persist-credentials: false@LFS@
      - name: Find the base
        id: base
        if: ${{ github.event_name == 'pull_request' }}
        run: echo "sha=$(git -C pr rev-parse HEAD^1)" >> "$GITHUB_OUTPUT"
      - name: Check out the base
        if: ${{ github.event_name == 'pull_request' }}
        uses: @CHECKOUT@
        with:
          ref: ${{ steps.base.outputs.sha }}
          path: base
          persist-credentials: false@LFS@

      # one environment, the PR's, judges both sides (a PR that upgrades onnxruntime is
      # measured with the new onnxruntime on both; the verdict says so, and a changed
      # @REQS_FILE@ is gated on the base's own below); encoder-gate itself is installed the
      # way it was installed where `encoder-gate init` ran
""" + INSTALL_GATE + """
      # the artifact cache is content-addressed (entries are keyed by the model's files and
      # the toolchain), so restoring an older cache is safe; it is saved at the end even when
      # the gate failed, so the next push does not rebuild the exports
      - name: Restore the artifact cache
        id: cache
        uses: @CACHE_RESTORE@
        with:
          path: ${{ env.CACHE }}
          key: encoder-gate@SLUG@-${{ runner.os }}-@VERSION@-${{ hashFiles(@HASH_FILES@) }}@CACHE_SHARD@
          restore-keys: |
            encoder-gate@SLUG@-${{ runner.os }}-

      - name: Gate the PR against its base
        working-directory: @PR@
@STEP_ENV@        run: |
          # pytest-benchmark's results for the report; against a base, speed is the A/B's alone
          base=() bench=(--benchmark-json @REPORT_DIR@/@BENCHMARKS_JSON@)
          if grep -qs '^\\[tool\\.encoder-gate[].]' @BASE@/@PYPROJECT@; then
            base=(--gate-base @BASE@) bench=()
          else
            echo "::notice::no base with [tool.encoder-gate] (a push, or the PR that adds encoder-gate):" \\
              "gated on its own, not against a base"
          fi
@SHARD_COSTS@          pytest accuracy benchmarks --gate-cache-dir "$CACHE" "${base[@]}" \\
            "${bench[@]}"@SHARD_ARGS@

@GATE_RESULTS@      # only what this run used (the base's artifacts and the PR's): restored, added to and
      # saved again, the cache would otherwise keep every model the branch ever had
      - name: Prune the artifact cache
        if: >-
          ${{ !cancelled() && steps.cache.outputs.cache-hit != 'true'
          && steps.install.outcome == 'success' }}
        run: encoder-gate prune-cache "$CACHE"

      - name: Save the artifact cache
        if: ${{ !cancelled() && steps.cache.outputs.cache-hit != 'true' }}
        uses: @CACHE_SAVE@
        with:
          path: ${{ env.CACHE }}
          key: ${{ steps.cache.outputs.cache-primary-key }}

@VERDICT_JOB@  # the verdict as one PR comment, found again by its hidden marker and updated on every push:
  # this job checks out nothing and runs no code of the PR's, so it alone may write to the PR;
  # it never fails (a comment it cannot post is a warning in its summary)
  comment:
    needs: @RESULTS_JOB@
    if: ${{ !cancelled() && github.event_name == 'pull_request' && @SAME_REPO@ }}
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      pull-requests: write
    steps:
      - name: Download the verdict
        continue-on-error: true  # no verdict: the script says so on the PR
        uses: @DOWNLOAD_ARTIFACT@
        with:
          name: @REPORT_ARTIFACT@
          path: report

      - name: Verdict as a PR comment
        uses: @GITHUB_SCRIPT@
        env:
          VERDICT_FILE: report/@VERDICT_FILE@
          TREND_FILE: report/@TREND_FILE@
        with:
          script: |
@COMMENT_SCRIPT@

  # a push to the default branch: its results join the history (one JSON record per commit on
  # the @HISTORY_BRANCH@ branch), the creep no single PR gate sees is checked, and the page is
  # rendered there (history/index.html). Only this job may write to the repository, and it never
  # runs on a pull request; it runs encoder-gate on the gate's results, no code of the commit's.
  history:
    needs: @RESULTS_JOB@
    if: ${{ !cancelled() && github.event_name == 'push' }}
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: write
    steps:
""" + INSTALL_TOOLS + """\
      - name: Download the results
        uses: @DOWNLOAD_ARTIFACT@
        with:
          name: @REPORT_ARTIFACT@
          path: results
      - name: Record, check and render
        env:
          GH_TOKEN: ${{ github.token }}
          SHA: ${{ github.sha }}
          PARENT: ${{ github.event.before }}
          WHEN: ${{ github.event.head_commit.timestamp }}
        run: |
          # the history branch, or a new one the first time; the token only for this fetch and push
          auth="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$GH_TOKEN" | base64 -w0)"
          git init -q history && cd history
          git remote add origin "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git"
          if git -c http.extraheader="$auth" fetch -q --depth 1 origin @HISTORY_BRANCH@; then
            git checkout -q FETCH_HEAD
          else
            git checkout -q --orphan @HISTORY_BRANCH@
          fi
          cd ..
          encoder-gate history record --store history/records --report-dir results \\
            --commit "$SHA" --commit-time "$WHEN" --parent "$PARENT"
          encoder-gate history render --store history/records --out history
          status=0
          encoder-gate history check --store history/records > creep.txt || status=$?
          cat creep.txt
          { echo '## encoder-gate history'; echo; sed 's/^/    /' creep.txt; } >> "$GITHUB_STEP_SUMMARY"
          cd history
          git add -A
          git -c user.name=encoder-gate -c user.email=encoder-gate@users.noreply.github.com \\
            commit -q -m "encoder-gate history: ${SHA:0:12}"
          git -c http.extraheader="$auth" push -q origin HEAD:@HISTORY_BRANCH@
          if [ "$status" -ne 0 ]; then echo "::error::a metric crept across commits (above)"; fi
          exit "$status"
      # To publish the page (history/index.html) with GitHub Pages, serve the @HISTORY_BRANCH@
      # branch's root from the repository's Pages settings: nothing else is needed.
"""

#: The report, the verdict and the raw results, for the comment and history jobs (shard-costs.json:
#: a sharded run's durations, from the merge).
_UPLOAD_REPORT = """\
      - name: Upload the report and the raw results
        if: always()
        uses: @UPLOAD_ARTIFACT@
        with:
          name: @REPORT_ARTIFACT@
          path: |
            @PR@/.encoder-gate/report/
@RESULTS_PATHS@            @PR@/.encoder-gate/@TREND_FILE@
            @PR@/.encoder-gate/shard-costs.json

"""

#: The history's trend line for the PR comment (the plain gate job's, or the verdict job's).
_TREND_STEPS = """\
      # the default branch's history, read only: one line for the PR comment, whether this PR's
      # results would complete a creep that no single PR gate sees (no history yet: no line)
      - name: Check out the history
        id: history
        if: ${{ always() && github.event_name == 'pull_request' && steps.install.outcome == 'success' }}
        continue-on-error: true
        uses: @CHECKOUT@
        with:
          ref: @HISTORY_BRANCH@
          path: history
          persist-credentials: false
      - name: Trend across the history
        if: ${{ always() && steps.history.outcome == 'success' }}
        working-directory: @PR@
        env:
          # the published history page (GitHub Pages), linked from the line: set the repository
          # variable ENCODER_GATE_HISTORY_URL once the page is published
          HISTORY_URL: ${{ vars.ENCODER_GATE_HISTORY_URL }}
        run: |
          encoder-gate history trend --store @UP@history/records --report-dir .encoder-gate \\
            --url "$HISTORY_URL" > .encoder-gate/@TREND_FILE@ || rm -f .encoder-gate/@TREND_FILE@

"""

#: A PR from a fork gets a read-only token: no comment, and the summary says so.
_FORK_NOTICE = """\
      - name: No PR comment from a fork
        if: ${{ always() && github.event_name == 'pull_request' && @FORK@ }}
        run: |
          echo "::notice::no PR comment: a pull request from a fork gets a read-only GITHUB_TOKEN;" \\
            "the verdict is in the job summary"
          echo "encoder-gate posts its verdict as a PR comment, but not on this PR: it comes from a fork," \\
            "and a fork's pull request gets a read-only GITHUB_TOKEN. The verdict is in this job summary" \\
            "(when the gate produced one) and in the encoder-gate-report artifact." >> "$GITHUB_STEP_SUMMARY"

"""

#: The step for a PR that changes requirements.txt (what its gate job installs): the A/B ran both
#: sides on the PR's libraries, so the base's gate runs again on the base's own requirements, and the
#: PR's speedups (--gate-speedup-baseline) and accuracy (--gate-accuracy-baseline: each backend
#: against the base's predictions there, which the shared cache keeps) are gated against it. A shard
#: does it for its share of the backends (the base dealt by the PR's plan), into the shard's report
#: directory.
_BASE_STACK = """\
      # a PR that changes @REQS_FILE@: the A/B above ran base and PR on the PR's libraries and
      # cannot see the change's own effect (onnxruntime 1.21 to 1.31 cost onnx-int8 a third of its
      # speedup on an AMD EPYC Zen 5; a release that moves the model's outputs moves the torch
      # reference with them). So the base's gate runs again on the base's requirements, in a venv
      # of their own, and each backend's speedup over torch eager and its accuracy on the PR's are
      # gated against it on this runner (the verdict names the versions that differ)
      - name: Gate the PR's requirements against the base's
        if: ${{ !cancelled() && github.event_name == 'pull_request' && steps.install.outcome == 'success' }}
        working-directory: @PR@
@STEP_ENV@        run: |
          if ! grep -qs '^\\[tool\\.encoder-gate[].]' @BASE@/@PYPROJECT@ \\
              || cmp -s <(cat @REQS_FILE@ 2> /dev/null) <(cat @BASE@/@REQS_FILE@ 2> /dev/null)
          then
            echo "@REQS_FILE@ is the base's (or there is no base): the A/B above measured this PR"
            exit 0
          fi
          echo "::notice::this PR changes @REQS_FILE@: its speed and accuracy are gated against the" \\
            "base's gate on the base's requirements"
@SHARD_COSTS@@SHARD_PLAN@          python -m venv @BASE_VENV@
@BASE_TORCH@          @INSTALL_BASE@
          if [ -f @BASE@/@REQS_FILE@ ]; then
            @BASE_VENV@/bin/pip install -q -r @BASE@/@REQS_FILE@
          fi
          ran=0
          (cd @BASE@ && @BASE_VENV@/bin/pytest accuracy benchmarks --gate-cache-dir "$CACHE" \\
            --gate-report-dir @UP@base-stack@SHARD_ARGS_BASE@) || ran=$?
@SHARD_NOTHING@          if [ "$ran" -ne 0 ]; then
            echo "::warning::the base's gate on its own requirements failed (above)"
          fi
          for made in @SPEEDUPS@ @ACCURACY@; do
            if [ ! -f "@UP@base-stack/$made" ]; then
              echo "::error::the base's gate on its own requirements wrote no $made (above)"
              exit 1
            fi
          done
          pytest accuracy benchmarks --gate-cache-dir "$CACHE" \\
            --gate-speedup-baseline @UP@base-stack/@SPEEDUPS@ \\
            --gate-accuracy-baseline @UP@base-stack/@ACCURACY@ \\
            --gate-allow-other-machine --benchmark-json @REPORT_DIR@/@BENCHMARKS_JSON@@SHARD_ARGS@

"""

#: The plain workflow's gate job ends with a changed requirements.txt's gate, then the results: the
#: trend line, the report, the verdict in the job summary and the report artifact.
_GATE_RESULTS = _BASE_STACK + _TREND_STEPS + """\
      # always, pass or fail: the report, the verdict and the raw results
      - name: Report
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: @PR@
        run: |
          bench=()  # the session's speed results, when it got as far as saving them
          saved=.encoder-gate/@BENCHMARKS_JSON@
          if [ -f "$saved" ]; then bench=(--benchmarks "$saved"); fi
          encoder-gate report --out .encoder-gate/report "${bench[@]}"

      - name: Verdict in the job summary
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: @PR@
        run: |
          encoder-gate verdict >> "$GITHUB_STEP_SUMMARY"

""" + _FORK_NOTICE + _UPLOAD_REPORT

#: A sharded gate job ends with a changed requirements.txt's gate of its share, then uploads its
#: shard's report directory (both sessions' results) for the verdict job.
_SHARD_RESULTS = _BASE_STACK + """\
      # this shard's report directory (its results, its partial verdict, shard.json): the verdict
      # job merges every shard's into one verdict
      - name: Upload this shard's results
        if: always()
        uses: @UPLOAD_ARTIFACT@
        with:
          name: @SHARD_ARTIFACT@-${{ matrix.shard }}
          path: @PR@/.encoder-gate/shard/
          if-no-files-found: error

"""

#: The sharded workflow's verdict job: every shard's results merged into one verdict.
_VERDICT_JOB = """\
  # the shards' results joined into one verdict with the statistics of one session (encoder-gate
  # merge: each backend's figures as its shard computed them, Holm across every shard's speed
  # cells); a missing shard fails it, naming the shard. It runs no code of the PR's.
  verdict:
    needs: gate
    if: ${{ !cancelled() }}
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read
    steps:
""" + INSTALL_TOOLS + """\
      - name: Download the shards' results
        continue-on-error: true  # a shard that uploaded nothing: the merge names it
        uses: @DOWNLOAD_ARTIFACT@
        with:
          pattern: @SHARD_ARTIFACT@-*
          path: shards
      # the merged results, the report (tables + PNG plots from every shard's benchmarks) and the verdict
      - name: Merge the shards into one verdict
        id: merge
        run: |
          mkdir -p shards @PR@/.encoder-gate
          shopt -s nullglob
          encoder-gate merge shards/* --out @PR@/.encoder-gate
          # to deal the next run's shards by this one's durations, commit @PR@/.encoder-gate/shard-costs.json
          # (in the report artifact) as @SHARD_COSTS_FILE@

""" + _TREND_STEPS + """\
      - name: Verdict in the job summary
        if: ${{ always() && steps.install.outcome == 'success' }}
        run: |
          cat @PR@/.encoder-gate/@VERDICT_FILE@ >> "$GITHUB_STEP_SUMMARY" || true

""" + _FORK_NOTICE + _UPLOAD_REPORT

#: The actions the workflow uses, pinned to the commit of a release (zizmor's unpinned-uses: a tag
#: can be moved to other code); the comment names the release.
ACTIONS = {
    "@CHECKOUT@": ("actions/checkout", "11d5960a326750d5838078e36cf38b85af677262", "v4.4.0"),
    "@SETUP_PYTHON@": ("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "@CACHE_RESTORE@": ("actions/cache/restore", "0057852bfaa89a56745cba8c7296529d2fc39830", "v4.3.0"),
    "@CACHE_SAVE@": ("actions/cache/save", "0057852bfaa89a56745cba8c7296529d2fc39830", "v4.3.0"),
    "@UPLOAD_ARTIFACT@": ("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "@DOWNLOAD_ARTIFACT@": ("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093",
                            "v4.3.0"),
    "@GITHUB_SCRIPT@": ("actions/github-script", "f28e40c7f34bde8b3046d885e986cb6290c5673b", "v7.1.0"),
}
#: The artifact that carries the report and the verdict from the gate job to the comment job.
REPORT_ARTIFACT = "encoder-gate-report"
#: Each shard's report directory, uploaded for the verdict job: `<name>-<K>`.
SHARD_ARTIFACT = "encoder-gate-shard"
#: The branch that holds the history store and its page (records/, index.html).
HISTORY_BRANCH = "encoder-gate-history"
#: The PR's one line of trend across the history (`encoder-gate history trend`), in the report artifact.
TREND_FILE = "trend.md"
#: Whether the PR comes from this repository (its token may write comments) or from a fork.
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
FORK = "github.event.pull_request.head.repo.full_name != github.repository"

_LFS = "\n          lfs: true  # the model's weights are in Git LFS (.gitattributes)"

_TOKEN = re.compile(r"@[A-Z_]+@")


_ONE_JOB = "# One gate job, one runner, one pytest session: the PR against its base, checked out beside it.\n"
_SHARDED = """\
# @N@ gate jobs (a matrix), each a share of the backends on its own runner (`--gate-shard K/@N@`),
# then one verdict job joins them (`encoder-gate merge`): one verdict, one session's statistics.
# Each gate job: the PR against its base, checked out beside it.
"""
_MATRIX = """
    strategy:
      fail-fast: false  # every shard's results, even when one fails
      matrix:
        shard: [@LIST@]"""
#: The gate step's environment: a private model's token, commented out (and a shard's number).
_HF_TOKEN = """\
        # a private model on the Hugging Face hub needs a token, on this step only (add it as a
        # repository secret and uncomment):
        # env:
        #   HF_TOKEN: ${{ secrets.HF_TOKEN }}
"""
_SHARD_ENV = """\
        env:
          SHARD: ${{ matrix.shard }}
          # a private model on the Hugging Face hub needs a token, on this step only (add it as a
          # repository secret and uncomment):
          # HF_TOKEN: ${{ secrets.HF_TOKEN }}
"""
_SHARD_COSTS = """\
          # every runner deals the backends alike: by the committed durations of an earlier run,
          # else in equal shares (never by what its own restored cache recorded)
          costs=(--gate-shard-costs equal)
          if [ -f @SHARD_COSTS_FILE@ ]; then
            costs=(--gate-shard-costs "$PWD/@SHARD_COSTS_FILE@")  # the base's session runs in ../base
          fi
"""
_SHARD_ARGS = (' \\\n'
               '            --gate-shard "$SHARD/@N@" --gate-report-dir .encoder-gate/shard '
               '"${costs[@]}"')
#: The base's gate in a shard: the PR's share (its plan, from the shard.json the A/B wrote), of the
#: base's backends of those kinds; dealt by the base's own list, a base that lacks one of the PR's
#: backends got other shares, and a backend could be in no shard's baseline (before the A/B wrote one:
#: the costs, as before)
_SHARD_PLAN = """\
          # the base takes this shard's share of the PR's plan (the A/B's shard.json): dealt by its own
          # backends, a base without one of the PR's would get other shares than the PR's
          share=("${costs[@]}")
          if [ -f @REPORT_DIR@/@SHARD_FILE@ ]; then
            share=(--gate-shard-plan "$PWD/@REPORT_DIR@/@SHARD_FILE@")
          fi
"""
_SHARD_ARGS_BASE = ' \\\n            --gate-shard "$SHARD/@N@" "${share[@]}"'
#: A shard whose backends are all new in the PR: the base's session has nothing to run (pytest's exit
#: 5, no tests), so nothing of the base's is compared, as the A/B says of those backends.
_SHARD_NOTHING = """\
          if [ "$ran" -eq 5 ]; then
            echo "::notice::the base configures none of this shard's backends (new in this PR):" \\
              "nothing of the base's to compare on its requirements"
            exit 0
          fi
"""


def uploaded() -> list[str]:
    """The report directory's files the report artifact carries: every results document with its
    page, findings.json and the decided verdict (verdict.json beside verdict.md), so that the history
    job records the verdict the gate decided, its findings included, and never decides again without
    them (a failed team test was recorded as a pass)."""
    names = [name for d in DOCUMENTS.values() if d.results
             for name in (d.name, *([d.page] if d.page else []))]
    return [*names, VERDICT_JSON, VERDICT_FILE]


def _layout(shards: int) -> dict[str, str]:
    """The workflow's structure: one gate job (``shards`` 1), or a matrix of `shards` gate jobs, each
    a share of the backends, and a verdict job that merges them."""
    if shards == 1:
        return {"@LAYOUT@": _ONE_JOB, "@MATRIX@": "", "@CACHE_SHARD@": "", "@STEP_ENV@": _HF_TOKEN,
                "@SHARD_COSTS@": "", "@SHARD_PLAN@": "", "@SHARD_NOTHING@": "", "@SHARD_ARGS@": "",
                "@SHARD_ARGS_BASE@": "",
                "@GATE_RESULTS@": _GATE_RESULTS, "@REPORT_DIR@": ".encoder-gate",
                "@VERDICT_JOB@": "", "@RESULTS_JOB@": "gate"}
    n, listed = str(shards), ", ".join(str(k) for k in range(1, shards + 1))
    return {"@LAYOUT@": _SHARDED.replace("@N@", n), "@MATRIX@": _MATRIX.replace("@LIST@", listed),
            "@CACHE_SHARD@": f"-shard${{{{ matrix.shard }}}}of{n}", "@STEP_ENV@": _SHARD_ENV,
            "@SHARD_COSTS@": _SHARD_COSTS, "@SHARD_PLAN@": _SHARD_PLAN, "@SHARD_NOTHING@": _SHARD_NOTHING,
            "@SHARD_ARGS@": _SHARD_ARGS.replace("@N@", n),
            "@SHARD_ARGS_BASE@": _SHARD_ARGS_BASE.replace("@N@", n),
            "@GATE_RESULTS@": _SHARD_RESULTS, "@VERDICT_JOB@": _VERDICT_JOB, "@RESULTS_JOB@": "verdict",
            "@REPORT_DIR@": ".encoder-gate/shard"}


def project_paths(project: str) -> dict[str, str]:
    """The workflow's places for the project at `project` in its repository ("" its root; "services/topics"
    a second model's, init run in that subdirectory): the project's directory in the PR's checkout, from
    the workspace (@PR@); the way up from it to the workspace (@UP@); the base's project directory from it
    (@BASE@: the base checkout sits beside the PR's, the project as deep in it); and what keeps two projects'
    runs apart (@SLUG@: their concurrency group, cache key and history branch; @NAME_SUFFIX@)."""
    parts = list(PurePosixPath(project).parts) if project else []
    up = "../" * (1 + len(parts))
    slug = project_slug(project)
    return {"@PR@": "/".join(["pr", *parts]), "@UP@": up, "@BASE@": "/".join([up + "base", *parts]),
            "@BASE_VENV@": up + BASE_VENV, "@SLUG@": f"-{slug}" if slug else "",
            "@NAME_SUFFIX@": f" ({project})" if project else ""}


def render_workflow(*, model_dir: str | None, version: str, requirement: str, lfs: bool = False,
                    shards: int = 1, runner: tuple[str, ...] = (), gpu_requirement: str | None = None,
                    python: str, project: str = "") -> str:
    """The PR workflow. ``model_dir``: the model directory's glob relative to the repository
    (its files key the artifact cache), None for a hub or builtin model; ``requirement``: what
    pip installs encoder-gate from (:mod:`encoder_gate.commands.install_source`); ``shards``: the
    gate jobs the backends are spread over (1: one gate job, no merge); ``runner``: the labels of
    the runner the gate jobs run on (default ubuntu-latest); ``gpu_requirement``: set for a GPU
    runner, what its gate jobs install instead (encoder-gate[gpu], beside torch's CUDA build; the
    jobs that only read results keep ``requirement`` on ubuntu-latest); ``python``: the jobs' Python
    (major.minor: init gives its own, so the runner gates on the Python the user ran init with);
    ``project``: the project's directory in the repository ("": its root; project_paths)."""
    for given in (requirement,) if gpu_requirement is None else (requirement, gpu_requirement):
        if not given or any(c.isspace() and c != " " for c in given):
            raise ValueError(f"the workflow's pip requirement must be one line, got {given!r}")
    odd = [label for label in runner if not _LABEL.match(label)]
    if odd:
        raise GateError(f"runner labels {odd}: a label is letters, digits, '.', '_' and '-' (--runner "
                        "self-hosted,gpu)")
    if shards < 1:
        raise ValueError(f"the workflow needs at least one gate job, got {shards}")
    places = project_paths(project)
    here, base = places["@PR@"], places["@BASE@"]
    globs = [f"{here}/{model_dir}" if model_dir else None, f"{here}/{PYPROJECT}"]
    hash_files = ", ".join("'" + g.replace("'", "''") + "'" for g in [*globs, INSTALLED] if g)
    script = "".join(f"            {line}\n" if line else "\n"
                     for line in comment_script(project).splitlines())
    replacements = {
        "@MIN_SLOWDOWN@": f"{GateConfig().min_slowdown:.0%}",
        "@CACHE_DIR@": CACHE_DIR_NAME,
        "@PYPROJECT@": PYPROJECT,
        "@RESULTS_PATHS@": "".join(f"            {here}/.encoder-gate/{name}\n" for name in uploaded()),
        "@VERDICT_FILE@": VERDICT_FILE,
        "@VERSION@": version,
        "@PYTHON@": python,
        "@INSTALL_ENCODER_GATE@": install_command(requirement),
        "@INSTALL_GATE@": install_command(gpu_requirement or requirement),
        "@INSTALL_BASE@": install_command(gpu_requirement or requirement, places["@BASE_VENV@"]),
        "@GATE_TORCH@": gate_torch(requirement, gpu_requirement, venv="venv",
                                   reqs_file=WORKFLOW_REQUIREMENTS, reqs=f"{here}/{WORKFLOW_REQUIREMENTS}"),
        "@BASE_TORCH@": gate_torch(requirement, gpu_requirement, venv=places["@BASE_VENV@"],
                                   reqs_file=WORKFLOW_REQUIREMENTS, reqs=f"{base}/{WORKFLOW_REQUIREMENTS}"),
        "@REQS_FILE@": WORKFLOW_REQUIREMENTS,
        "@INSTALLED@": INSTALLED,
        "@VENV@": "venv",
        **places,
        "@SPEEDUPS@": SPEEDUPS_FILE,
        "@SHARD_FILE@": SHARD_FILE,
        "@ACCURACY@": ACCURACY_FILE,
        "@GATE_RUNNER@": f"[{', '.join(runner)}]" if runner else "ubuntu-latest",
        "@HASH_FILES@": hash_files,
        "@LFS@": _LFS if lfs else "",
        "@COMMENT_SCRIPT@": script.rstrip("\n"),
        "@REPORT_ARTIFACT@": REPORT_ARTIFACT,
        "@SAME_REPO@": SAME_REPO,
        "@FORK@": FORK,
        "@HISTORY_BRANCH@": HISTORY_BRANCH + places["@SLUG@"],
        "@TREND_FILE@": TREND_FILE,
        "@SHARD_ARTIFACT@": SHARD_ARTIFACT,
        "@SHARD_COSTS_FILE@": SHARD_COSTS_FILE,
        "@BENCHMARKS_JSON@": BENCHMARKS_JSON,
        **{token: f"{name}@{sha}  # {release}" for token, (name, sha, release) in ACTIONS.items()},
    }
    # the structure first (its blocks hold tokens), then one pass over the values, so a value
    # holding '@' (a git URL at a commit) is never read as a token
    layout = _layout(shards)
    text = _WORKFLOW
    for _ in range(4):  # a block of the structure may hold another's token (@GATE_RESULTS@'s @STEP_ENV@)
        blocks = _TOKEN.sub(lambda m: layout.get(m.group(0), m.group(0)), text)
        if blocks == text:
            break
        text = blocks
    return _TOKEN.sub(lambda m: replacements[m.group(0)], text)
