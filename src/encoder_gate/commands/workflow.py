"""The GitHub Actions workflow `encoder-gate init` writes: the PR gated against its base, the verdict posted.

Used by `encoder-gate init` (:mod:`encoder_gate.commands.init`).
"""

from __future__ import annotations

import re
import shlex

from encoder_gate.commands.layout import CACHE_DIR_NAME, PYPROJECT
from encoder_gate.config import GateConfig
from encoder_gate.reporting.verdict import AB_FILE, VERDICT_FILE

_WORKFLOW = """\
# Gate every pull request on accuracy and speed with encoder-gate (written by `encoder-gate init`).
#
# One job, one runner, one pytest session: the PR against its base, checked out beside it.
#   `pytest accuracy benchmarks --gate-base ../base` builds every backend twice, the base's and
#   the PR's (what the PR did not change is built once: artifacts are content-addressed);
#   - speed: each (backend, batch size) times the base and the PR in interleaved rounds of
#     random order on the thread's CPU time, so the runner's load hits both alike; a cell fails
#     when the PR is significantly and at least @MIN_SLOWDOWN@ slower (Holm across cells);
#   - accuracy: each backend's F1 against the base's on the PR's texts (paired bootstrap CI,
#     McNemar, per label), and the usual checks of every backend against this PR's torch.
#   Then, always: the report (tables + PNG plots), the verdict in the job summary and as one PR
#   comment (updated on every push), and the raw results as an artifact. The PR that adds
#   encoder-gate has no base to compare with: it is gated on its own (accuracy, and each
#   backend's speedup over torch eager in the same run).
name: encoder-gate

on:
  pull_request:

env:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"
  # without a base only: timed rounds per benchmark and texts per batch sweep
  ENCODER_GATE_BENCH_ROUNDS: "5"
  ENCODER_GATE_BENCH_TEXTS: "32"
  # the suite's artifact cache (models, exported ONNX files), shared by the base and the PR
  CACHE: ${{ github.workspace }}/@CACHE_DIR@
  # a private model on the Hugging Face hub needs a token (add it as a repository secret):
  # HF_TOKEN: ${{ secrets.HF_TOKEN }}

jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    # read the code; write the one PR comment that carries the verdict (a PR from a fork gets a
    # read-only token whatever this says: its verdict stays in the job summary)
    permissions:
      contents: read
      pull-requests: write
    steps:
      # the base (the target branch where the PR starts) and the PR, side by side
      - name: Check out the base
        uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.base.sha }}
          path: base@LFS@
      - name: Check out the PR
        uses: actions/checkout@v4
        with:
          path: pr@LFS@

      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"

      # one environment, the PR's, judges both sides (a PR that upgrades onnxruntime is
      # measured with the new onnxruntime on both; the verdict says so); encoder-gate itself is
      # installed the way it was installed where `encoder-gate init` ran
      - name: Install encoder-gate
        id: install
        run: |
          python -m venv venv
          # CPU-only torch first, so nothing below pulls the CUDA build
          venv/bin/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
          @INSTALL_ENCODER_GATE@
          if [ -f pr/requirements.txt ]; then venv/bin/pip install -q -r pr/requirements.txt; fi
          echo "$GITHUB_WORKSPACE/venv/bin" >> "$GITHUB_PATH"

      # the artifact cache is content-addressed (entries are keyed by the model's files and
      # the toolchain), so restoring an older cache is safe; it is saved at the end even when
      # the gate failed, so the next push does not rebuild the exports
      - name: Restore the artifact cache
        id: cache
        uses: actions/cache/restore@v4
        with:
          path: ${{ env.CACHE }}
          key: encoder-gate-${{ runner.os }}-@VERSION@-${{ hashFiles(@HASH_FILES@) }}
          restore-keys: |
            encoder-gate-${{ runner.os }}-

      - name: Gate the PR against its base
        working-directory: pr
        run: |
          base=()
          if grep -qs '^\\[tool\\.encoder-gate[].]' ../base/@PYPROJECT@; then
            base=(--gate-base ../base)
          else
            echo "::notice::the base has no [tool.encoder-gate] yet (this PR adds encoder-gate):" \\
              "the PR is gated on its own, not against a base"
          fi
          pytest accuracy benchmarks --gate-cache-dir "$CACHE" "${base[@]}"

      # always, pass or fail: the report, the verdict and the raw results
      - name: Report
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          encoder-gate report --out .encoder-gate/report

      - name: Verdict in the job summary
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          encoder-gate verdict >> "$GITHUB_STEP_SUMMARY"

      # the verdict as one PR comment, found again by its hidden marker and updated on every push;
      # never fails the job (a comment it cannot post is a warning in the summary)
      - name: Verdict as a PR comment
        if: ${{ always() && github.event.pull_request.head.repo.full_name == github.repository }}
        uses: actions/github-script@v7
        env:
          VERDICT_FILE: pr/.encoder-gate/@VERDICT_FILE@
        with:
          script: |
@COMMENT_SCRIPT@

      - name: No PR comment from a fork
        if: ${{ always() && github.event.pull_request.head.repo.full_name != github.repository }}
        run: |
          echo "::notice::no PR comment: a pull request from a fork gets a read-only GITHUB_TOKEN;" \\
            "the verdict is in the job summary"
          echo "encoder-gate posts its verdict as a PR comment, but not on this PR: it comes from a fork," \\
            "and a fork's pull request gets a read-only GITHUB_TOKEN. The verdict is in this job summary" \\
            "(when the gate produced one) and in the encoder-gate-report artifact." >> "$GITHUB_STEP_SUMMARY"

      - name: Upload the report and the raw results
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: encoder-gate-report
          path: |
            pr/.encoder-gate/report/
            pr/.encoder-gate/accuracy.*
            pr/.encoder-gate/@AB_FILE@
            pr/.encoder-gate/speedups.json
            pr/.encoder-gate/verdict.md

      - name: Save the artifact cache
        if: ${{ !cancelled() && steps.cache.outputs.cache-hit != 'true' }}
        uses: actions/cache/save@v4
        with:
          path: ${{ env.CACHE }}
          key: ${{ steps.cache.outputs.cache-primary-key }}
"""

_LFS = "\n          lfs: true  # the model's weights are in Git LFS (.gitattributes)"

#: Heads the PR comment that carries the verdict, so each push finds and updates the same comment.
COMMENT_MARKER = "<!-- encoder-gate-verdict -->"
#: The most characters GitHub takes in one comment; a longer verdict is cut, with a note.
COMMENT_LIMIT = 65536

# actions/github-script runs this as the body of an async function with `github` (an authenticated
# Octokit), `context`, `core` and `require`. Nothing from the PR is interpolated into it.
_COMMENT_SCRIPT = r"""
// One PR comment carries the verdict: the bot's comment holding the marker is updated, else one
// is created. It never fails the job: what it cannot do is a warning, here and in the job summary.
const fs = require('fs');
const marker = '@MARKER@';
const limit = @LIMIT@; // the most characters GitHub takes in a comment
const file = process.env.VERDICT_FILE;
const { owner, repo } = context.repo;
const pr = context.payload.pull_request;
const sha = pr.head.sha.slice(0, 7);
const run = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
const footer = `\n\n<sub>encoder-gate on ${sha} ([the run](${run})), updated on every push</sub>\n`;

// the verdict, cut at a line end with a note when the comment would be too long
function fit(verdict) {
  const room = limit - marker.length - 1 - footer.length;
  if (verdict.length <= room) return verdict;
  const note = `\n\n**The verdict is cut here**: it is longer than a PR comment may be (${limit} ` +
    `characters). The whole verdict is in the [job summary](${run}) and in the ` +
    'encoder-gate-report artifact.';
  let end = verdict.lastIndexOf('\n', room - note.length);
  if (end <= 0) {
    end = room - note.length;
    const code = verdict.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end -= 1; // not half a surrogate pair
  }
  return verdict.slice(0, end) + note;
}

async function warn(message) {
  core.warning(message);
  await core.summary.addRaw(`\n\n${message}\n`).write();
}

try {
  const where = { owner, repo, issue_number: pr.number };
  const comments = await github.paginate(github.rest.issues.listComments, { ...where, per_page: 100 });
  const old = comments.find((c) => c.user && c.user.type === 'Bot' && (c.body || '').includes(marker));
  let body;
  if (fs.existsSync(file)) {
    body = `${marker}\n${fit(fs.readFileSync(file, 'utf8').trimEnd())}${footer}`;
  } else {
    // no verdict: post nothing; an earlier push's comment must not go on showing its verdict
    await warn(`encoder-gate: no verdict at ${file} (the run stopped before the gate wrote one), ` +
      (old ? `so the PR comment now says so: ${old.html_url}` : 'so no PR comment was posted'));
    if (!old) return;
    body = `${marker}\n## encoder-gate: no verdict for ${sha}\n\nThe run stopped before the gate ` +
      `wrote a verdict: see [the run](${run}). The verdict of an earlier push that was here no ` +
      'longer applies.\n';
  }
  if (old) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: old.id, body });
    core.info(`updated the verdict comment ${old.html_url}`);
  } else {
    const { data } = await github.rest.issues.createComment({ ...where, body });
    core.info(`posted the verdict comment ${data.html_url}`);
  }
} catch (error) {
  const status = error.status ? `HTTP ${error.status}: ` : '';
  await warn(`encoder-gate could not post its verdict as a PR comment (${status}${error.message}); ` +
    'the verdict is in the job summary');
}
"""

_TOKEN = re.compile(r"@[A-Z_]+@")


def install_command(requirement: str) -> str:
    """The workflow's line that installs encoder-gate: pip with ``requirement``, quoted for bash."""
    return f"venv/bin/pip install -q {shlex.quote(requirement)}"


def comment_script() -> str:
    """The JavaScript of the workflow's PR-comment step (actions/github-script)."""
    script = _COMMENT_SCRIPT.strip("\n").replace("@MARKER@", COMMENT_MARKER)
    return script.replace("@LIMIT@", str(COMMENT_LIMIT)) + "\n"


def render_workflow(*, model_dir: str | None, version: str, requirement: str, lfs: bool = False) -> str:
    """The PR workflow. ``model_dir``: the model directory's glob relative to the repository
    (its files key the artifact cache), None for a hub or builtin model; ``requirement``: what
    pip installs encoder-gate from (:mod:`encoder_gate.commands.install_source`)."""
    if not requirement or any(c.isspace() and c != " " for c in requirement):
        raise ValueError(f"the workflow's pip requirement must be one line, got {requirement!r}")
    globs = [f"pr/{model_dir}" if model_dir else None, f"pr/{PYPROJECT}"]
    hash_files = ", ".join("'" + g.replace("'", "''") + "'" for g in globs if g)
    script = "".join(f"            {line}\n" if line else "\n" for line in comment_script().splitlines())
    replacements = {
        "@MIN_SLOWDOWN@": f"{GateConfig().min_slowdown:.0%}",
        "@CACHE_DIR@": CACHE_DIR_NAME,
        "@PYPROJECT@": PYPROJECT,
        "@AB_FILE@": AB_FILE,
        "@VERDICT_FILE@": VERDICT_FILE,
        "@VERSION@": version,
        "@INSTALL_ENCODER_GATE@": install_command(requirement),
        "@HASH_FILES@": hash_files,
        "@LFS@": _LFS if lfs else "",
        "@COMMENT_SCRIPT@": script.rstrip("\n"),
    }
    # one pass, so a value holding '@' (a git URL at a commit) is never read as a token
    return _TOKEN.sub(lambda m: replacements[m.group(0)], _WORKFLOW)
