"""A repository of two models: `encoder-gate init` in a subdirectory gates that project on its own, its
workflow at the repository's root (GitHub runs those alone) naming the project's paths in both
checkouts, apart from the root project's (its report, cache key, history branch and PR comment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from encoder_gate.commands.layout import WORKFLOW_PATH, workflow_path
from encoder_gate.commands.workflow_comment import COMMENT_MARKER
from test_init import init, step_named, write_model_dir
from test_init_workflow import CHECK_JSONSCHEMA, REQUIREMENTS_STEP, STAND_INS, ZIZMOR

PROJECT = "services/topics"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git repository whose root gates one model and whose services/topics holds a second."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write_model_dir(tmp_path)
    write_model_dir(tmp_path / PROJECT)
    return tmp_path


def workflows(root: Path) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in (root / ".github/workflows").glob("*.yml")}


def test_init_in_a_subdirectory_gates_that_project_with_a_workflow_of_its_own_at_the_root(
        repository: Path) -> None:
    """`init services/topics` wrote services/topics/.github/workflows/encoder-gate.yml, which GitHub never
    runs (and was refused since); a second model was then gated by --gate-model alone, against the first
    model's base, with no history and no CI job (a trial). Now it is a project: its table and tests in its
    directory, its workflow at the root, apart from the root project's."""
    init(repository)
    project = repository / PROJECT
    plan = init(project)
    assert (project / "pyproject.toml").is_file() and (project / "accuracy").is_dir()
    assert not (project / ".github").exists()
    assert workflow_path(PROJECT) == ".github/workflows/encoder-gate-services-topics.yml"
    said = f"a project in the repository's subdirectory {PROJECT}: its own"
    assert any(n.startswith(said) for n in plan.notes)
    docs = workflows(repository)
    root, sub = docs["encoder-gate.yml"], docs["encoder-gate-services-topics.yml"]
    assert (root["name"], sub["name"]) == ("encoder-gate", f"encoder-gate ({PROJECT})")
    assert root["concurrency"]["group"] != sub["concurrency"]["group"]
    steps = sub["jobs"]["gate"]["steps"]
    gate = step_named(steps, "Gate the PR against its base")
    assert gate["working-directory"] == f"pr/{PROJECT}"
    assert "--gate-base ../../../base/services/topics" in gate["run"]
    key = step_named(steps, "Restore the artifact cache")["with"]["key"]
    assert key.startswith("encoder-gate-services-topics-") and f"'pr/{PROJECT}/models/clf/**'" in key
    upload = step_named(steps, "Upload the report and the raw results")["with"]["path"]
    assert all(line.startswith(f"pr/{PROJECT}/.encoder-gate/") for line in upload.split())
    text = (repository / workflow_path(PROJECT)).read_text()
    assert "encoder-gate-history-services-topics" in text and "encoder-gate-history\n" not in text
    marker = COMMENT_MARKER.replace(" -->", f" {PROJECT} -->")
    assert marker in text and COMMENT_MARKER not in text  # each project updates its own PR comment
    assert (repository / WORKFLOW_PATH).read_text().count(COMMENT_MARKER) == 1


def test_a_projects_workflow_steps_reach_its_directory_in_both_checkouts(repository: Path) -> None:
    """The gate step's base check and the requirements step, run as the workflow runs them from the
    project's directory in the PR's checkout: the base's project is found beside it, the base's venv and
    results beside both checkouts (the stand-ins of test_init_workflow, one level per directory deeper)."""
    init(repository / PROJECT)
    steps = workflows(repository)["encoder-gate-services-topics.yml"]["jobs"]["gate"]["steps"]
    workspace = repository / "workspace"
    here, base = workspace / "pr" / PROJECT, workspace / "base" / PROJECT
    for place in (here, base):
        place.mkdir(parents=True)
    (base / "pyproject.toml").write_text("[tool.encoder-gate]\nmodel = 'x'\n")
    (here / "requirements.txt").write_text("onnxruntime==1.32.0\n")
    (base / "requirements.txt").write_text("onnxruntime==1.21.0\n")
    run = step_named(steps, "Gate the PR against its base")["run"]
    probe = run.replace('pytest accuracy benchmarks --gate-cache-dir "$CACHE" "${base[@]}"',
                        'echo "args:${base[*]}"; true')
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", probe], cwd=here, capture_output=True, text=True,
                          check=True)
    assert "args:--gate-base ../../../base/services/topics" in done.stdout
    step = step_named(steps, REQUIREMENTS_STEP)
    assert step["working-directory"] == f"pr/{PROJECT}"
    deeper = STAND_INS.replace("../base-", "../../../base-")  # its venv and results, beside the checkouts
    done = subprocess.run(["bash", "-e", "-c", deeper + step["run"]], cwd=here, capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "REAL_PYTHON": sys.executable, "REPORT": '{"install": []}'})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "base pip: install -q -r ../../../base/services/topics/requirements.txt" in done.stdout
    assert ("base: pytest accuracy benchmarks --gate-cache-dir  --gate-report-dir ../../../base-stack in "
            "topics") in done.stdout
    assert "--gate-speedup-baseline ../../../base-stack/speedups.json" in done.stdout
    assert (workspace / "base-stack" / "speedups.json").is_file()  # beside both checkouts, as at the root


@pytest.mark.skipif(not (Path(CHECK_JSONSCHEMA).is_file() and Path(ZIZMOR).is_file()),
                    reason="check-jsonschema and zizmor (dev extras) are not both installed")
def test_a_projects_workflow_validates_and_zizmor_finds_nothing(repository: Path) -> None:
    init(repository / PROJECT, shards=2)
    path = repository / workflow_path(PROJECT)
    done = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([ZIZMOR, "--offline", "--no-progress", str(path.parent)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and "No findings to report" in done.stdout + done.stderr, done.stdout
