"""The PR comment's script in the workflow `encoder-gate init` writes: one comment per PR carries the
verdict, found again by its hidden marker and updated on every push (actions/github-script).

Used by :mod:`encoder_gate.commands.workflow`.
"""

from __future__ import annotations

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

// the history's trend line, when the gate job wrote one
const trendFile = process.env.TREND_FILE;
const trend = trendFile && fs.existsSync(trendFile) ? `\n\n${fs.readFileSync(trendFile, 'utf8').trim()}` : '';

// the verdict, cut at a line end with a note when the comment (with the trend line) would be too long
function fit(verdict) {
  const room = limit - marker.length - 1 - trend.length - footer.length;
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
    body = `${marker}\n${fit(fs.readFileSync(file, 'utf8').trimEnd())}${trend}${footer}`;
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


def comment_marker(project: str = "") -> str:
    """The hidden marker of a project's PR comment: COMMENT_MARKER for the repository's root project, one
    naming the project for another (each project's workflow updates its own comment)."""
    return COMMENT_MARKER if not project else COMMENT_MARKER.replace(" -->", f" {project} -->")


def comment_script(project: str = "") -> str:
    """The JavaScript of the workflow's PR-comment step (actions/github-script) of the project at
    `project` in its repository ("": its root)."""
    script = _COMMENT_SCRIPT.strip("\n").replace("@MARKER@", comment_marker(project))
    return script.replace("@LIMIT@", str(COMMENT_LIMIT)) + "\n"
