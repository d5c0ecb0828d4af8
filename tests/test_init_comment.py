"""`encoder-gate init`'s PR workflow posts the verdict as one PR comment (its github-script step, in node)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_init import init, step_named, workflow_doc, write_model_dir


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path)


# --- the PR comment -------------------------------------------------------------------------

MARKER = "<!-- encoder-gate-verdict -->"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
FORK = "github.event.pull_request.head.repo.full_name != github.repository"


def gate_steps(tmp_path: Path) -> list[dict]:
    init(tmp_path)
    return workflow_doc(tmp_path)["jobs"]["gate"]["steps"]


def comment_steps(tmp_path: Path) -> list[dict]:
    init(tmp_path)
    return workflow_doc(tmp_path)["jobs"]["comment"]["steps"]


def test_workflow_posts_the_verdict_as_one_pr_comment(tmp_path: Path, model_dir: Path) -> None:
    """A second job, which checks out and runs nothing of the PR's, alone may write PR comments: it
    downloads the gate job's verdict and a github-script step finds the bot's comment by the marker
    and updates it, else creates one, for PRs from this repository only. The gate job that runs the
    PR's code reads, and keeps no credentials."""
    init(tmp_path)
    doc = workflow_doc(tmp_path)
    assert doc["permissions"] == {}
    assert doc["jobs"]["gate"]["permissions"] == {"contents": "read"}
    job = doc["jobs"]["comment"]
    assert job["permissions"] == {"pull-requests": "write"} and job["needs"] == "gate"
    assert job["if"] == f"${{{{ !cancelled() && github.event_name == 'pull_request' && {SAME_REPO} }}}}"
    assert [s["uses"].split("@")[0] for s in job["steps"]] == ["actions/download-artifact",
                                                               "actions/github-script"]
    assert not any("run" in s or "checkout" in s["uses"] for s in job["steps"])  # no code of the PR's
    download = job["steps"][0]
    assert download["with"] == {"name": "encoder-gate-report", "path": "report"}
    upload = step_named(doc["jobs"]["gate"]["steps"], "Upload the report and the raw results")
    assert upload["with"]["name"] == "encoder-gate-report"
    assert "pr/.encoder-gate/verdict.md" in upload["with"]["path"]
    comment = step_named(job["steps"], "Verdict as a PR comment")
    assert comment["env"] == {"VERDICT_FILE": "report/verdict.md", "TREND_FILE": "report/trend.md"}
    script = comment["with"]["script"]
    for needed in (f"const marker = '{MARKER}';", "github.paginate(github.rest.issues.listComments",
                   "github.rest.issues.updateComment(", "github.rest.issues.createComment(",
                   "c.user.type === 'Bot'", "const limit = 65536;"):
        assert needed in script, needed
    assert "${{" not in script  # nothing from the event is interpolated into the script


def test_a_fork_pr_gets_the_summary_and_a_note_instead_of_a_comment(tmp_path: Path, model_dir: Path) -> None:
    """On a fork's PR (inverse condition) a step says in the job summary why there is no comment."""
    steps = gate_steps(tmp_path)
    fallback = step_named(steps, "No PR comment from a fork")
    assert fallback["if"] == f"${{{{ always() && github.event_name == 'pull_request' && {FORK} }}}}"
    names = [s.get("name") for s in steps]
    assert names.index("Verdict in the job summary") < names.index("No PR comment from a fork")
    summary = tmp_path / "summary.md"
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", fallback["run"]], capture_output=True, text=True,
                          env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}, check=True)
    assert done.stdout.startswith("::notice::no PR comment: a pull request from a fork")
    written = summary.read_text()
    assert "not on this PR: it comes from a fork" in written and "read-only GITHUB_TOKEN" in written
    assert "The verdict is in this job summary" in written


NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed, so the PR-comment step's "
                                "JavaScript cannot be checked (install Node.js to run this test)")

# Runs the comment script as actions/github-script does (the body of an async function given
# require, github, context and core), against fakes that record every call.
HARNESS = r"""
const fs = require('fs');
const [scriptPath, scenarioPath] = process.argv.slice(2);
const script = fs.readFileSync(scriptPath, 'utf8');
const scenario = JSON.parse(fs.readFileSync(scenarioPath, 'utf8'));
const calls = [];
const summary = [];
function refuse(what) {
  if (scenario.refuse === what) {
    const error = new Error('Resource not accessible by integration');
    error.status = 403;
    throw error;
  }
}
const core = {
  warning: (m) => calls.push(['warning', m]),
  info: (m) => calls.push(['info', m]),
  summary: { addRaw(text) { summary.push(text); return this; }, async write() { return this; } },
};
const github = {
  rest: { issues: {
    listComments: 'listComments',
    async updateComment(args) { refuse('update'); calls.push(['update', args]); return { data: {} }; },
    async createComment(args) {
      refuse('create');
      calls.push(['create', args]);
      return { data: { html_url: 'https://github.com/me/tool/pull/7#issuecomment-9' } };
    },
  } },
  async paginate(method, args) {
    refuse('list');
    calls.push(['list', method, args]);
    return scenario.comments;
  },
};
const context = {
  repo: { owner: 'me', repo: 'tool' }, serverUrl: 'https://github.com', runId: 42,
  payload: { pull_request: { number: 7, head: { sha: 'abcdef0123456789' } } },
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', 'core', script)(require, github, context, core)
  .then(() => process.stdout.write(JSON.stringify({ calls, summary })))
  .catch((error) => { console.error(error); process.exit(3); });
"""

RUN_URL = "https://github.com/me/tool/actions/runs/42"


def comment_script(tmp_path: Path) -> str:
    return step_named(comment_steps(tmp_path), "Verdict as a PR comment")["with"]["script"]


def run_comment_script(tmp_path: Path, verdict: str | None, comments: list[dict],
                       refuse: str | None = None, trend: str | None = None) -> dict:
    """The comment step's outcome: the recorded calls ([kind, args]) and what went to the summary."""
    assert NODE is not None
    script = tmp_path / "script.js"
    script.write_text(comment_script(tmp_path))
    (tmp_path / "harness.js").write_text(HARNESS)
    (tmp_path / "scenario.json").write_text(json.dumps({"comments": comments, "refuse": refuse}))
    verdict_file = tmp_path / "pr" / ".encoder-gate" / "verdict.md"
    if verdict is not None:
        verdict_file.parent.mkdir(parents=True)
        verdict_file.write_text(verdict)
    trend_file = tmp_path / "pr" / ".encoder-gate" / "trend.md"
    if trend is not None:
        trend_file.parent.mkdir(parents=True, exist_ok=True)
        trend_file.write_text(trend + "\n")
    done = subprocess.run([NODE, "harness.js", "script.js", "scenario.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "VERDICT_FILE": str(verdict_file),
                               "TREND_FILE": str(trend_file)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def writes(outcome: dict) -> list[list]:
    return [call for call in outcome["calls"] if call[0] in ("create", "update")]


@needs_node
def test_comment_script_is_valid_javascript(tmp_path: Path, model_dir: Path) -> None:
    """`node --check` parses the step's script wrapped in an async function, as github-script runs it."""
    assert NODE is not None
    wrapped = tmp_path / "comment.js"
    wrapped.write_text(f"(async function () {{\n{comment_script(tmp_path)}\n}})();\n")
    done = subprocess.run([NODE, "--check", str(wrapped)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


VERDICT = "## encoder-gate: PASS\n\n| backend | verdict |\n| onnx-int8 | pass |\n"


@needs_node
def test_first_push_creates_the_comment_with_the_marker_and_the_verdict(tmp_path: Path,
                                                                        model_dir: Path) -> None:
    """No earlier comment: one comment is created, the marker on top, then the verdict and the run."""
    human = {"id": 1, "user": {"type": "User"}, "body": f"quoting {MARKER}"}
    outcome = run_comment_script(tmp_path, VERDICT, [human])
    assert outcome["calls"][0][:2] == ["list", "listComments"]
    assert outcome["calls"][0][2] == {"owner": "me", "repo": "tool", "issue_number": 7, "per_page": 100}
    [[kind, args]] = writes(outcome)
    assert kind == "create" and args["issue_number"] == 7
    assert args["body"].startswith(f"{MARKER}\n{VERDICT.rstrip()}\n")
    assert "abcdef0" in args["body"] and RUN_URL in args["body"]


@needs_node
def test_later_pushes_update_the_bots_comment(tmp_path: Path, model_dir: Path) -> None:
    """The bot's comment holding the marker is updated in place; a person's comment quoting the marker
    is left alone, and nothing new is created."""
    comments = [{"id": 1, "user": {"type": "User"}, "body": f"see {MARKER}"},
                {"id": 5, "user": {"type": "Bot"}, "body": "another bot"},
                {"id": 9, "user": {"type": "Bot"}, "body": f"{MARKER}\n## encoder-gate: FAIL",
                 "html_url": "https://github.com/me/tool/pull/7#issuecomment-9"}]
    [[kind, args]] = writes(run_comment_script(tmp_path, VERDICT, comments))
    assert kind == "update" and args["comment_id"] == 9 and "issue_number" not in args
    assert args["body"].startswith(f"{MARKER}\n## encoder-gate: PASS")


@needs_node
def test_a_verdict_too_long_for_a_comment_is_cut_with_a_note(tmp_path: Path, model_dir: Path) -> None:
    """A verdict over GitHub's 65536 characters is cut at a line end, with a note pointing to the job
    summary and the artifact; the body stays within the limit."""
    rows = "".join(f"| backend-{i} | pass | {'x' * 80} |\n" for i in range(1200))
    [[_, args]] = writes(run_comment_script(tmp_path, "## encoder-gate: PASS\n" + rows, []))
    body = args["body"]
    assert len(body) <= 65536 and len(rows) > 65536
    assert body.startswith(MARKER) and "**The verdict is cut here**" in body
    assert "[job summary](" + RUN_URL + ")" in body and "encoder-gate-report artifact" in body
    kept = body.split("\n\n**The verdict is cut here**")[0].splitlines()
    assert kept[-1].endswith("|")  # a whole row, not half of one


TREND = "History: no creep across the last 12 default-branch commit(s) with this PR ([the history page](u))."


@needs_node
def test_the_history_trend_line_follows_the_verdict(tmp_path: Path, model_dir: Path) -> None:
    """The gate job's trend line (when the history had one) follows the verdict, before the footer."""
    [[_, args]] = writes(run_comment_script(tmp_path, VERDICT, [], trend=TREND))
    assert args["body"].startswith(f"{MARKER}\n{VERDICT.rstrip()}\n\n{TREND}\n\n<sub>encoder-gate on")


@needs_node
def test_a_verdict_cut_for_length_leaves_room_for_the_trend_line(tmp_path: Path, model_dir: Path) -> None:
    rows = "".join(f"| backend-{i} | pass | {'x' * 80} |\n" for i in range(1200))
    [[_, args]] = writes(run_comment_script(tmp_path, "## encoder-gate: PASS\n" + rows, [], trend=TREND))
    body = args["body"]
    assert len(body) <= 65536 and "**The verdict is cut here**" in body and TREND in body


def test_the_gate_job_reads_the_history_for_a_trend_line_without_write_access(tmp_path: Path,
                                                                               model_dir: Path) -> None:
    """On a PR the gate job checks out the history branch read-only (no history yet: the step's failure
    is allowed and there is no line), writes the trend line into the report artifact, and the page's
    URL comes from a repository variable through the environment, never into the script."""
    steps = gate_steps(tmp_path)
    names = [s.get("name") for s in steps]
    history = step_named(steps, "Check out the history")
    assert history["uses"].startswith("actions/checkout@") and history["continue-on-error"] is True
    assert history["with"] == {"ref": "encoder-gate-history", "path": "history", "persist-credentials": False}
    assert "github.event_name == 'pull_request'" in history["if"]
    trend = step_named(steps, "Trend across the history")
    assert trend["if"] == "${{ always() && steps.history.outcome == 'success' }}"
    assert trend["env"] == {"HISTORY_URL": "${{ vars.ENCODER_GATE_HISTORY_URL }}"}
    assert "encoder-gate history trend --store ../history/records" in trend["run"]
    assert "${{" not in trend["run"] and "> .encoder-gate/trend.md" in trend["run"]
    assert names.index("Gate the PR against its base") < names.index("Trend across the history") \
        < names.index("Upload the report and the raw results")
    upload = step_named(steps, "Upload the report and the raw results")
    assert "pr/.encoder-gate/trend.md" in upload["with"]["path"]


@needs_node
def test_no_verdict_posts_nothing_and_says_so(tmp_path: Path, model_dir: Path) -> None:
    """The verdict file is missing: no comment is created, a warning goes to the log and the summary,
    and the step does not fail."""
    outcome = run_comment_script(tmp_path, None, [])
    assert writes(outcome) == []
    [warning] = [m for kind, m, *_ in outcome["calls"] if kind == "warning"]
    assert "no verdict at" in warning and "no PR comment was posted" in warning
    assert any(warning in text for text in outcome["summary"])


@needs_node
def test_no_verdict_marks_an_earlier_pushs_comment_stale(tmp_path: Path, model_dir: Path) -> None:
    """The verdict file is missing and an earlier push's comment exists: it no longer shows the old
    verdict but says this push has none, with the run's link."""
    old = {"id": 9, "user": {"type": "Bot"}, "body": f"{MARKER}\n## encoder-gate: PASS",
           "html_url": "https://github.com/me/tool/pull/7#issuecomment-9"}
    [[kind, args]] = writes(run_comment_script(tmp_path, None, [old]))
    assert kind == "update" and args["comment_id"] == 9
    assert args["body"].startswith(f"{MARKER}\n## encoder-gate: no verdict for abcdef0")
    assert RUN_URL in args["body"] and "PASS" not in args["body"]


@needs_node
@pytest.mark.parametrize("refuse", ["list", "create"])
def test_a_refused_comment_is_a_warning_not_a_failed_job(tmp_path: Path, model_dir: Path,
                                                         refuse: str) -> None:
    """A read-only token (HTTP 403, e.g. a Dependabot PR) makes a warning in the log and the summary;
    the script does not throw."""
    outcome = run_comment_script(tmp_path, VERDICT, [], refuse=refuse)
    [warning] = [m for kind, m, *_ in outcome["calls"] if kind == "warning"]
    assert warning.startswith("encoder-gate could not post its verdict as a PR comment (HTTP 403: ")
    assert "the verdict is in the job summary" in warning and any(warning in t for t in outcome["summary"])
