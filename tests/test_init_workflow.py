"""`encoder-gate init`'s PR workflow: the gate job, the install line, the hardening, the sharded workflow."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from encoder_gate.commands import cli
from encoder_gate.commands import init as scaffold
from encoder_gate.commands.install_source import InstallSource, index_requirement
from encoder_gate.commands.layout import SHARD_COSTS_FILE
from encoder_gate.commands.workflow import REPORT_ARTIFACT, SHARD_ARTIFACT
from encoder_gate.errors import GateError
from test_init import INDEX_INSTALL, init, step_named, table_of, workflow_doc, write_model_dir


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path)


# --- the workflow ---------------------------------------------------------------------------


def test_workflow_gates_the_pr_against_its_base_in_one_session(tmp_path: Path, model_dir: Path) -> None:
    """One pytest session in the PR's checkout with --gate-base pointing at the base's (no saved
    run needed); the PR that adds encoder-gate runs without it; report, verdict and upload always."""
    init(tmp_path)
    doc = workflow_doc(tmp_path)
    assert "pull_request" in doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "HF_HUB_OFFLINE" not in doc["env"]
    assert set(doc["jobs"]) == {"gate", "comment", "history"}
    job = doc["jobs"]["gate"]
    assert job["timeout-minutes"] == 60
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]
    uses = [s.get("uses", "") for s in steps]

    def index(text: str) -> int:
        return next(i for i, run in enumerate(runs) if text in run)

    gate = index("pytest accuracy benchmarks")
    requirements = runs.index(step_named(steps, REQUIREMENTS_STEP)["run"])
    assert [i for i, run in enumerate(runs) if "pytest" in run] == [gate, requirements]  # one session,
    # and the base's stack only where the PR changes requirements.txt (below)
    assert steps[gate]["working-directory"] == "pr"
    assert '--gate-cache-dir "$CACHE" "${base[@]}"' in runs[gate]
    assert "base=(--gate-base ../base)" in runs[gate]
    assert "--benchmark-autosave" not in runs[gate] and "::notice::" in runs[gate]
    checkouts = [s["with"] for s in steps if s.get("uses", "").startswith("actions/checkout")]
    # the PR's merge commit, then its first parent as the base (not base.sha, where the PR began)
    assert checkouts[0] == {"path": "pr", "fetch-depth": 2, "persist-credentials": False}
    assert runs[index("rev-parse")] == 'echo "sha=$(git -C pr rev-parse HEAD^1)" >> "$GITHUB_OUTPUT"'
    assert checkouts[1] == {"ref": "${{ steps.base.outputs.sha }}", "path": "base",
                            "persist-credentials": False}
    assert "base.sha" not in (tmp_path / ".github/workflows/encoder-gate.yml").read_text()
    install = next(run for run in runs if "pip install" in run)
    assert "--index-url https://download.pytorch.org/whl/cpu" in install
    assert f"venv/bin/pip install -q 'encoder-gate[cpu]=={scaffold.package_version()}'" in install
    assert "if [ -f pr/requirements.txt ]" in install
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    # the libraries installed are in the key: a key of the model and pyproject alone matched after a new
    # torch, so the rebuilt exports were never saved again (a trial's reading of the workflow)
    assert "hashFiles('pr/models/clf/**', 'pr/pyproject.toml', 'venv/installed.txt')" in cache["with"]["key"]
    assert "venv/bin/pip freeze > venv/installed.txt" in install
    assert uses.index(cache["uses"]) < gate
    verdict = index("encoder-gate verdict")
    assert gate < verdict and 'encoder-gate verdict >> "$GITHUB_STEP_SUMMARY"' in runs[verdict]
    assert "always()" in steps[verdict]["if"] and "always()" in steps[index("encoder-gate report")]["if"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    for path in ("pr/.encoder-gate/report/", "pr/.encoder-gate/verdict.md", "pr/.encoder-gate/ab.json"):
        assert path in upload["with"]["path"]


def test_the_workflows_base_check_tells_a_base_with_the_table_from_one_without(tmp_path: Path,
                                                                                model_dir: Path) -> None:
    """The gate step's shell: --gate-base only when the base's pyproject has [tool.encoder-gate]."""
    import subprocess

    init(tmp_path)
    run = next(s["run"] for s in workflow_doc(tmp_path)["jobs"]["gate"]["steps"]
               if "pytest accuracy benchmarks" in s.get("run", ""))
    probe = re.sub(r'pytest accuracy benchmarks --gate-cache-dir "\$CACHE" "\$\{base\[@\]\}" \\\n\s*'
                   r'"\$\{bench\[@\]\}"', 'echo "args:${base[*]}${bench[*]:+ }${bench[*]}"', run)
    (tmp_path / "pr").mkdir()
    alone = "args: --benchmark-json .encoder-gate/benchmarks.json"  # no base: pytest-benchmark's results
    for table, expected in (("[tool.encoder-gate]\nmodel = 'x'\n", "args:--gate-base ../base"),
                            ("[tool.encoder-gate.tolerances]\n", "args:--gate-base ../base"),
                            ("[project]\nname = 'x'\n", alone), (None, alone)):
        shutil.rmtree(tmp_path / "base", ignore_errors=True)
        (tmp_path / "base").mkdir()
        if table is not None:
            (tmp_path / "base" / "pyproject.toml").write_text(table)
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", probe], cwd=tmp_path / "pr",
                              capture_output=True, text=True, check=True)
        assert done.stdout.splitlines()[-1] == expected, (table, done.stdout)


REQUIREMENTS_STEP = "Gate the PR's requirements against the base's"


def pip_stand_in(label: str) -> str:
    """A venv's pip that says what it was asked (`label: ARGS`) and, for a dry run's `--report FILE`,
    writes $REPORT there (pip's installation report)."""
    return (f'#!/bin/sh\necho "{label}: $*"\nwhile [ $# -gt 0 ]; do\n'
            '  if [ "$1" = --report ]; then printf %s "$REPORT" > "$2"; fi; shift\ndone\n')


#: Stand-ins for the requirements step's commands: the venv, pip and the two pytest sessions say what
#: they were asked; the base's session writes speedups.json and accuracy.json unless NO_SPEEDUPS or
#: NO_ACCURACY is set, and exits with BASE_EXIT (0).
STAND_INS = """
python() { echo "python $*"; }
pytest() { echo "pr: pytest $*"; }
mkdir -p ../base-venv/bin
ln -sf "$REAL_PYTHON" ../base-venv/bin/python
cat > ../base-venv/bin/pip << 'PIP'
""" + pip_stand_in("base pip") + """PIP
printf '#!/bin/sh\\necho "base: pytest $* in $(basename "$PWD")"\\nmkdir -p ../base-stack\\n'\\
'[ -n "${NO_SPEEDUPS:-}" ] || echo {} > ../base-stack/speedups.json\\n'\\
'[ -n "${NO_ACCURACY:-}" ] || echo {} > ../base-stack/accuracy.json\\nexit "${BASE_EXIT:-0}"\\n' \\
> ../base-venv/bin/pytest
chmod +x ../base-venv/bin/pip ../base-venv/bin/pytest
"""


def run_stood_in(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A workflow step's shell with the stand-ins above; pip's dry run reports $REPORT (no torch)."""
    return subprocess.run(["bash", "-e", "-c", STAND_INS + script], cwd=cwd, capture_output=True, text=True,
                          check=False, env={**os.environ, "REAL_PYTHON": sys.executable,
                                            "REPORT": '{"install": []}', **env})


def requirements_step(tmp_path: Path, pr: str | None, base: str | None, table: bool = True,
                      **init_args: Any) -> dict:
    """init's requirements step, with pr/ and base/ beside the project holding these requirements.txt
    (None: none) and the base's pyproject.toml the gate's table where `table`."""
    init(tmp_path, **init_args)
    step = step_named(workflow_doc(tmp_path)["jobs"]["gate"]["steps"], REQUIREMENTS_STEP)
    for side, text in (("pr", pr), ("base", base)):
        (tmp_path / side).mkdir()
        if text is not None:
            (tmp_path / side / "requirements.txt").write_text(text)
    if table:
        (tmp_path / "base" / "pyproject.toml").write_text("[tool.encoder-gate]\nmodel = 'x'\n")
    return step


@pytest.mark.parametrize(("pr", "base", "table", "measured"), [
    ("onnxruntime==1.32.0\n", "onnxruntime==1.21.0\n", True, True),   # a bump
    ("onnxruntime==1.21.0\n", None, True, True),                       # requirements added
    (None, "onnxruntime==1.21.0\n", True, True),                       # and removed
    ("onnxruntime==1.21.0\n", "onnxruntime==1.21.0\n", True, False),  # the same
    (None, None, True, False),                                         # none on either side
    ("onnxruntime==1.32.0\n", "onnxruntime==1.21.0\n", False, False),  # a base without the gate
])
def test_a_pr_that_changes_requirements_is_gated_against_the_bases_benchmarks_on_the_bases_stack(
        tmp_path: Path, model_dir: Path, pr: str | None, base: str | None, table: bool,
        measured: bool) -> None:
    """The requirements step's shell: where requirements.txt differs from the base's (and the base has
    the gate), the base's benchmarks run in a venv of the base's requirements, then the PR's are gated
    against their speedups.json (the A/B ran both sides on the PR's libraries); else it runs nothing."""
    step = requirements_step(tmp_path, pr, base, table)
    assert step["working-directory"] == "pr" and "!cancelled()" in step["if"]
    done = run_stood_in(step["run"], tmp_path / "pr")
    assert done.returncode == 0, done.stdout + done.stderr
    said = [line for line in done.stdout.splitlines() if line.split(":")[0] in ("python -m venv ../base-venv",
                                                                              "base pip", "base", "pr")]
    if not measured:
        assert said == [] and "the A/B above measured this PR" in done.stdout, done.stdout
        return
    assert said[0] == "python -m venv ../base-venv"
    assert "::notice::this PR changes requirements.txt" in done.stdout
    base_pip = [line for line in said if line.startswith("base pip:")]
    assert any("encoder-gate[cpu]" in line for line in base_pip)
    assert ("base pip: install -q -r ../base/requirements.txt" in base_pip) is (base is not None)
    base_session = said.index("base: pytest accuracy benchmarks --gate-cache-dir  --gate-report-dir "
                              "../base-stack in base")
    pr_session = said.index("pr: pytest accuracy benchmarks --gate-cache-dir  --gate-speedup-baseline "
                            "../base-stack/speedups.json --gate-accuracy-baseline "
                            "../base-stack/accuracy.json --gate-allow-other-machine --benchmark-json "
                            ".encoder-gate/benchmarks.json")
    assert base_session < pr_session


@pytest.mark.parametrize("shards", [1, 2])
def test_the_requirements_file_the_workflow_installs_is_named_in_one_place(
        monkeypatch: pytest.MonkeyPatch, shards: int) -> None:
    """Every step that installs or compares the requirements file, and every comment of the workflow
    that names it, reads it from runtime.dependency_files.WORKFLOW_REQUIREMENTS (which init's warning
    names too): renamed there, no `requirements.txt` is left in the workflow."""
    from encoder_gate.commands import workflow

    monkeypatch.setattr(workflow, "WORKFLOW_REQUIREMENTS", "deps/pins.txt")
    text = workflow.render_workflow(model_dir="m", version="0.1.0", requirement="encoder-gate[cpu]==0.1.0",
                                    shards=shards, python="3.11")
    assert "requirements.txt" not in text
    assert "venv/bin/pip install -q -r pr/deps/pins.txt" in text and "-r ../base/deps/pins.txt" in text


TORCH_2_13 = '{"install": [{"metadata": {"name": "numpy", "version": "2.4.6"}}, ' \
             '{"metadata": {"name": "torch", "version": "2.13.0"}}]}'


@pytest.mark.parametrize(("requirements", "report", "cuda", "expected"), [
    ("torch==2.13.0\n", TORCH_2_13, False, "install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"),
    ("requests\n", '{"install": [{"metadata": {"name": "requests", "version": "2.32.5"}}]}', False,
     "install -q torch --index-url https://download.pytorch.org/whl/cpu"),
    (None, None, False, "install -q torch --index-url https://download.pytorch.org/whl/cpu"),
    ("torch==2.13.0\n", TORCH_2_13, True, "install -q torch==2.13.0"),
])
def test_the_gate_job_installs_the_torch_its_requirements_resolve_to_first(
        tmp_path: Path, model_dir: Path, requirements: str | None, report: str | None, cuda: bool,
        expected: str) -> None:
    """torch goes in first at the release pip resolves the PR's requirements.txt and encoder-gate to
    (the dry run's report), on a CPU runner from PyTorch's CPU index: installed as the newest CPU build, a
    requirements.txt pinning another torch replaced it with PyPI's CUDA build (about 3 GB, checked with
    pip here). No requirements, or none that need torch: the newest. A GPU runner: PyPI's build."""
    extra = {"device": "cuda", "runner": ("gpu",)} if cuda else {}
    init(tmp_path, **extra)
    step = step_named(workflow_doc(tmp_path)["jobs"]["gate"]["steps"], "Install encoder-gate")
    work = tmp_path / "runner"
    (work / "venv" / "bin").mkdir(parents=True)
    (work / "pr").mkdir()
    if requirements is not None:
        (work / "pr" / "requirements.txt").write_text(requirements)
    (work / "venv" / "bin" / "python").symlink_to(sys.executable)
    pip = work / "venv" / "bin" / "pip"
    pip.write_text(pip_stand_in("pip"))
    pip.chmod(0o755)
    done = subprocess.run(["bash", "-e", "-c", 'python() { echo "python $*"; }\n' + step["run"]], cwd=work,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "REPORT": report or "", "GITHUB_PATH": str(tmp_path / "path")})
    assert done.returncode == 0, done.stdout + done.stderr
    said = [line.removeprefix("pip: ") for line in done.stdout.splitlines() if line.startswith("pip: ")]
    dry_run = ("install -q --dry-run --report venv/resolved.json -r pr/requirements.txt "
               f"encoder-gate[{'gpu' if cuda else 'cpu'}]=={scaffold.package_version()}")
    assert said[: 2 if requirements else 1] == ([dry_run, expected] if requirements else [expected]), said
    assert said[-1] == "install -q -r pr/requirements.txt" if requirements else "requirements" not in said[-1]


def test_the_bases_venv_installs_the_torch_the_bases_requirements_resolve_to(tmp_path: Path,
                                                                             model_dir: Path) -> None:
    """The requirements step's venv: torch first at the base's own resolution (its requirements.txt),
    so the base's benchmarks time the torch the base pins, as its CPU build."""
    step = requirements_step(tmp_path, "torch==2.14.1\n", "torch==2.13.0\n")
    done = run_stood_in(step["run"], tmp_path / "pr", REPORT=TORCH_2_13)
    assert done.returncode == 0, done.stdout + done.stderr
    pip = [line for line in done.stdout.splitlines() if line.startswith("base pip:")]
    assert pip[:2] == ["base pip: install -q --dry-run --report ../base-venv/resolved.json -r "
                       f"../base/requirements.txt encoder-gate[cpu]=={scaffold.package_version()}",
                       "base pip: install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"]


@pytest.mark.parametrize(("missing", "flag"), [("speedups.json", "NO_SPEEDUPS"),
                                             ("accuracy.json", "NO_ACCURACY")])
def test_a_base_whose_gate_wrote_no_baseline_fails_the_requirements_step_saying_so(
        tmp_path: Path, model_dir: Path, missing: str, flag: str) -> None:
    """No baseline from the base's stack (its speedups or its accuracy): the step fails, naming the
    missing file, and the PR's session never runs against nothing."""
    step = requirements_step(tmp_path, "onnxruntime==1.32.0\n", "onnxruntime==1.21.0\n")
    done = run_stood_in(step["run"], tmp_path / "pr", **{flag: "1"})
    assert done.returncode == 1
    assert f"::error::the base's gate on its own requirements wrote no {missing}" in done.stdout
    assert "pr: pytest" not in done.stdout


@pytest.mark.parametrize("planned", [False, True])
def test_a_shard_gates_its_share_of_a_requirements_change_against_the_bases_stack(tmp_path: Path,
                                                                                  model_dir: Path,
                                                                                  planned: bool) -> None:
    """`--shards 2`: each gate job runs the requirements step for its own share, after its A/B and
    before its upload: the base's benchmarks dealt by the PR's plan (the same shard, the PR's
    committed costs by an absolute path, since that session runs in ../base), then the PR's share
    gated against them into the shard's report directory, whose results the verdict job merges."""
    step = requirements_step(tmp_path, "onnxruntime==1.32.0\n", "onnxruntime==1.21.0\n", shards=2)
    names = [s.get("name") for s in workflow_doc(tmp_path)["jobs"]["gate"]["steps"]]
    assert (names.index("Gate the PR against its base") < names.index(REQUIREMENTS_STEP)
            < names.index("Upload this shard's results"))
    assert step["env"]["SHARD"] == "${{ matrix.shard }}"
    costs = tmp_path / "pr" / SHARD_COSTS_FILE
    costs.parent.mkdir(parents=True)
    costs.write_text("{}")
    plan = tmp_path / "pr" / ".encoder-gate" / "shard" / "shard.json"
    if planned:  # the A/B wrote this shard's shard.json: the base takes the PR's share of its plan
        plan.parent.mkdir(parents=True)
        plan.write_text("{}")
    done = run_stood_in(step["run"], tmp_path / "pr", SHARD="2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    share = f"--gate-shard 2/2 {f'--gate-shard-plan {plan}' if planned else f'--gate-shard-costs {costs}'}"
    base = lines.index("base: pytest accuracy benchmarks --gate-cache-dir  --gate-report-dir ../base-stack "
                       f"{share} in base")
    pr = lines.index("pr: pytest accuracy benchmarks --gate-cache-dir  --gate-speedup-baseline "
                     "../base-stack/speedups.json --gate-accuracy-baseline ../base-stack/accuracy.json "
                     "--gate-allow-other-machine "
                     "--benchmark-json .encoder-gate/shard/benchmarks.json "
                     f"--gate-shard 2/2 --gate-report-dir .encoder-gate/shard --gate-shard-costs {costs}")
    assert base < pr


@pytest.mark.parametrize(("shards", "exit_code", "compared"), [(2, 5, False), (2, 1, True), (1, 5, True)])
def test_a_shard_whose_base_has_nothing_to_run_compares_nothing_and_says_so(
        tmp_path: Path, model_dir: Path, shards: int, exit_code: int, compared: bool) -> None:
    """A shard of only backends new in the PR: the base's session exits 5 (pytest's "no tests"), the
    step says nothing of the base's is compared there and passes, as the A/B does of new backends. A
    base that failed is a warning and the PR's session runs against what it wrote; unsharded, a base
    with no tests is no such case."""
    step = requirements_step(tmp_path, "onnxruntime==1.32.0\n", "onnxruntime==1.21.0\n", shards=shards)
    done = run_stood_in(step["run"], tmp_path / "pr", SHARD="2", BASE_EXIT=str(exit_code))
    assert done.returncode == 0, done.stdout + done.stderr
    nothing = "::notice::the base configures none of this shard's backends (new in this PR)"
    assert (nothing in done.stdout) is not compared
    assert ("pr: pytest accuracy benchmarks" in done.stdout) is compared
    assert ("::warning::the base's gate on its own requirements failed (above)" in done.stdout) is compared


def test_workflow_checks_out_lfs_when_the_repository_uses_it(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    init(tmp_path)
    checkouts = [s["with"] for s in workflow_doc(tmp_path)["jobs"]["gate"]["steps"]
                 if s.get("uses", "").startswith("actions/checkout")]
    # the PR and its base carry the model; the history branch holds JSON records only
    assert [c.get("lfs") for c in checkouts] == [True, True, None]
    assert checkouts[-1]["ref"] == "encoder-gate-history"


# --- the install line -----------------------------------------------------------------------

LOCAL_NO_REMOTE = InstallSource(
    index_requirement("0.1.0"), "unknown", "from the local directory /src/encoder-gate (editable), a git "
    "checkout with no 'origin' remote", "the workflow cannot install encoder-gate the way it is installed "
    "here; edit this line of .github/workflows/encoder-gate.yml:\n"
    "    venv/bin/pip install -q 'encoder-gate[cpu]==0.1.0'")


def test_workflow_installs_encoder_gate_from_where_it_is_installed(tmp_path: Path, model_dir: Path) -> None:
    """A VCS install source goes into the workflow's install step and init's notes, with no warning."""
    requirement = "encoder-gate[cpu] @ git+https://github.com/o/encoder-gate.git@" + "a" * 40
    plan = init(tmp_path, install=InstallSource(requirement, "vcs", "from git, o/encoder-gate"))
    install = next(s["run"] for s in workflow_doc(tmp_path)["jobs"]["gate"]["steps"]
                   if s.get("name") == "Install encoder-gate")
    assert f"venv/bin/pip install -q '{requirement}'" in install.splitlines()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (f"the workflow installs {requirement} on Python {python}, the Python init ran in (encoder-gate "
            "is installed here from git, o/encoder-gate)") in plan.notes
    assert not any("install" in w for w in plan.warnings)


@pytest.mark.parametrize("shards", [1, 2])
def test_every_job_of_the_workflow_runs_the_python_init_ran_in(tmp_path: Path, model_dir: Path,
                                                                shards: int, monkeypatch) -> None:
    """The runner gates on the user's Python, not a fixed one: a project on 3.13 (its requirements
    built for it) was installed and gated on 3.11. Every setup-python step, sharded or not."""
    monkeypatch.setattr(scaffold, "sys", SimpleNamespace(version_info=SimpleNamespace(major=3, minor=13)))
    plan = init(tmp_path, install=INDEX_INSTALL, shards=shards)
    python = "3.13"
    assert any(f"on Python {python}, the Python init ran in" in note for note in plan.notes)
    setups = [s["with"]["python-version"] for job in workflow_doc(tmp_path)["jobs"].values()
              for s in job["steps"] if "actions/setup-python@" in s.get("uses", "")]
    assert len(setups) >= 2 and set(setups) == {python}


def test_an_install_the_runner_may_not_repeat_is_a_warning_and_a_next_step(tmp_path: Path,
                                                                           model_dir: Path) -> None:
    """A warning from the install source reaches init's warnings, and the next steps point at it."""
    plan = init(tmp_path, install=LOCAL_NO_REMOTE)
    assert LOCAL_NO_REMOTE.warning in plan.warnings
    edit = "check the install line of .github/workflows/encoder-gate.yml"
    assert any(edit in line for line in scaffold.next_steps(tmp_path, LOCAL_NO_REMOTE))
    assert not any(edit in line for line in scaffold.next_steps(tmp_path, INDEX_INSTALL))


def test_init_again_with_force_keeps_the_tables_model_and_dataset(
        tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`encoder-gate init . --force --shards 2` asked for --model though the table names it (walk I);
    without --force, --model is still required, in one line."""
    monkeypatch.setattr(scaffold, "detect_install_source", lambda: INDEX_INSTALL)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval.jsonl").write_text('{"review": "good", "sentiment": "positive"}\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--model", "models/clf", "--dataset", "data/eval.jsonl"]) == 0
    assert cli.main(["init", "--force", "--shards", "2"]) == 0
    table = table_of(tmp_path)
    assert (table["model"], table["dataset"]) == ("models/clf", "data/eval.jsonl")
    assert (table["text-column"], table["label-column"]) == ("review", "sentiment")
    capsys.readouterr()
    assert cli.main(["init"]) == 1
    assert "--model is required: your Hugging Face model directory" in capsys.readouterr().err


def test_init_again_with_force_keeps_the_tables_unlabelled_texts_unless_given_a_dataset(
        tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade's `init --force` dropped the `texts` the table named (its parity checks then ran on the
    bundled data); a --dataset given replaces them."""
    monkeypatch.setattr(scaffold, "detect_install_source", lambda: INDEX_INSTALL)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "texts.txt").write_text("good\nbad\n")
    (tmp_path / "data" / "eval.jsonl").write_text('{"review": "good", "sentiment": "positive"}\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--model", "models/clf", "--texts", "data/texts.txt"]) == 0
    assert cli.main(["init", "--force"]) == 0
    assert table_of(tmp_path)["texts"] == "data/texts.txt"
    assert cli.main(["init", "--force", "--dataset", "data/eval.jsonl"]) == 0
    table = table_of(tmp_path)
    assert "texts" not in table and table["dataset"] == "data/eval.jsonl"


def test_cli_init_prints_the_install_warning_and_the_next_step(tmp_path: Path, model_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`encoder-gate init` with no usable install source still writes everything (exit 0), prints the
    warning quoting the line on stderr and a next step on stdout."""
    monkeypatch.setattr(scaffold, "detect_install_source", lambda: LOCAL_NO_REMOTE)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--model", "models/clf"]) == 0
    captured = capsys.readouterr()
    assert f"encoder-gate init: warning: {LOCAL_NO_REMOTE.warning}" in captured.err
    assert "    venv/bin/pip install -q 'encoder-gate[cpu]==0.1.0'" in captured.err.splitlines()
    assert "check the install line of .github/workflows/encoder-gate.yml" in captured.out
    assert "venv/bin/pip install -q 'encoder-gate[cpu]==0.1.0'" in \
        (tmp_path / ".github/workflows/encoder-gate.yml").read_text()


# --- the workflow is hardened ---------------------------------------------------------------


def test_the_workflow_keeps_the_prs_code_away_from_write_tokens_and_secrets(tmp_path: Path,
                                                                          model_dir: Path) -> None:
    """Every action pinned to a commit; no checkout leaves credentials behind; the HF token (when
    uncommented) on the gate step only; one run per PR at a time, a newer push cancelling an older
    one (a push to the default branch is never cancelled: its history record); a push to the default
    branch runs the gate alone and saves the cache PRs restore."""
    init(tmp_path)
    text = (tmp_path / ".github/workflows/encoder-gate.yml").read_text()
    doc = workflow_doc(tmp_path)
    on = doc.get("on", doc.get(True))
    assert on["push"] == {"branches": ["main", "master"]} and "pull_request" in on
    group = "encoder-gate-${{ github.event.pull_request.number || github.ref }}"
    [upload] = [st for st in doc["jobs"]["gate"]["steps"]
                if st.get("name") == "Upload the report and the raw results"]
    for name in ("findings.json", "verdict.json", "verdict.md", "accuracy.json", "ab.json"):
        assert f"pr/.encoder-gate/{name}" in upload["with"]["path"]  # the history records the decided verdict
    assert doc["concurrency"] == {"group": group,
                                  "cancel-in-progress": "${{ github.event_name == 'pull_request' }}"}
    steps = [s for job in doc["jobs"].values() for s in job["steps"]]
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z/-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        if step.get("uses", "").startswith("actions/checkout"):
            assert step["with"]["persist-credentials"] is False
    assert "HF_TOKEN" not in doc["env"]
    gate = step_named(doc["jobs"]["gate"]["steps"], "Gate the PR against its base")
    lines = text.splitlines()
    # a private hub model's token: commented, on the two steps that load the model (the gate, and the
    # base's benchmarks on its own requirements), never in the workflow's env
    tokens = [i for i, line in enumerate(lines) if "HF_TOKEN" in line]
    assert len(tokens) == 2 and all(lines[i - 1].strip() == "# env:" for i in tokens)
    assert all(lines[i].strip() == "#   HF_TOKEN: ${{ secrets.HF_TOKEN }}" for i in tokens)
    for token, name in zip(tokens, ("Gate the PR against its base", REQUIREMENTS_STEP), strict=True):
        assert lines.index(f"      - name: {name}") < token < lines.index("        run: |", token - 5)
    assert "secrets." not in gate.get("run", "")
    cache_save = step_named(doc["jobs"]["gate"]["steps"], "Save the artifact cache")
    assert cache_save["if"] == "${{ !cancelled() && steps.cache.outputs.cache-hit != 'true' }}"
    # what the run did not use is pruned first, so the saved cache does not grow with every model
    names = [s.get("name") for s in doc["jobs"]["gate"]["steps"]]
    assert names.index("Prune the artifact cache") == names.index("Save the artifact cache") - 1
    prune = step_named(doc["jobs"]["gate"]["steps"], "Prune the artifact cache")
    assert prune["run"] == 'encoder-gate prune-cache "$CACHE"'
    assert prune["if"] == ("${{ !cancelled() && steps.cache.outputs.cache-hit != 'true' "
                           "&& steps.install.outcome == 'success' }}")


def test_a_push_to_the_default_branch_records_its_results_in_the_history(tmp_path: Path,
                                                                         model_dir: Path) -> None:
    """A third job, on push only and after the gate, alone gets `contents: write`: it downloads the
    gate's results, records them on the history branch, renders the page there and checks creep
    (failing the job on creep, after the record is pushed). It checks out no code of the commit's."""
    from encoder_gate.commands.cli import build_parser
    from encoder_gate.commands.workflow import HISTORY_BRANCH

    init(tmp_path)
    doc = workflow_doc(tmp_path)
    job = doc["jobs"]["history"]
    assert job["needs"] == "gate" and job["if"] == "${{ !cancelled() && github.event_name == 'push' }}"
    assert job["permissions"] == {"contents": "write"}
    assert [j["permissions"] for name, j in doc["jobs"].items() if name != "history"] == [
        {"contents": "read"}, {"pull-requests": "write"}]
    assert not any("checkout" in s.get("uses", "") for s in job["steps"])
    download = step_named(job["steps"], "Download the results")
    assert download["with"] == {"name": "encoder-gate-report", "path": "results"}
    run = step_named(job["steps"], "Record, check and render")["run"]
    assert "${{" not in run  # the event's values come in through env
    commands = [line.strip().rstrip("\\").strip() for line in run.splitlines()
                if line.strip().startswith("encoder-gate history")]
    assert [c.split()[2] for c in commands] == ["record", "render", "check"]
    for command in commands:  # each parses with this encoder-gate's command line
        argv = command.split(">")[0].split("||")[0].split()[1:]
        build_parser().parse_args([a.strip('"') for a in argv])
    assert f"push -q origin HEAD:{HISTORY_BRANCH}" in run and 'exit "$status"' in run


def test_the_report_reads_the_sessions_benchmarks_and_no_continuation_is_swallowed(tmp_path: Path) -> None:
    init(tmp_path)
    doc = workflow_doc(tmp_path)
    runs = {s.get("name"): s.get("run", "") for s in doc["jobs"]["gate"]["steps"]}
    assert "--benchmark-json .encoder-gate/benchmarks.json" in runs["Gate the PR against its base"]
    assert "saved=.encoder-gate/benchmarks.json" in runs["Report"]
    assert 'bench=(--benchmarks "$saved")' in runs["Report"]
    for job in doc["jobs"].values():  # a line continuation the template swallowed joins two lines
        for step in job["steps"]:
            assert not re.search(r"\S {4,}--", step.get("run", "")), step["run"]


# --- the sharded workflow (init --shards N) ---------------------------------------------------


def test_a_sharded_workflow_runs_n_gate_jobs_and_one_verdict_job_that_merges(tmp_path: Path,
                                                                           model_dir: Path) -> None:
    """`--shards 3`: a matrix of three gate jobs, each its share (--gate-shard K/3, dealt by the
    committed costs or in equal shares, never by its own cache) uploading its report directory; one
    verdict job merging them with no code of the PR's; the comment and the history after it; the
    least permissions each."""
    plan = init(tmp_path, shards=3)
    assert any("3 gate jobs" in note for note in plan.notes)
    doc = workflow_doc(tmp_path)
    jobs = doc["jobs"]
    gate, verdict = jobs["gate"], jobs["verdict"]
    assert gate["strategy"] == {"fail-fast": False, "matrix": {"shard": [1, 2, 3]}}
    run = step_named(gate["steps"], "Gate the PR against its base")
    assert run["env"]["SHARD"] == "${{ matrix.shard }}"
    assert '--gate-shard "$SHARD/3" --gate-report-dir .encoder-gate/shard "${costs[@]}"' in run["run"]
    assert f"[ -f {SHARD_COSTS_FILE} ]" in run["run"] and "costs=(--gate-shard-costs equal)" in run["run"]
    upload = step_named(gate["steps"], "Upload this shard's results")
    assert upload["with"]["name"] == f"{SHARD_ARTIFACT}-${{{{ matrix.shard }}}}"
    assert upload["if"] == "always()"
    restore = step_named(gate["steps"], "Restore the artifact cache")
    assert "-shard${{ matrix.shard }}of3" in restore["with"]["key"]
    assert verdict["needs"] == "gate" and verdict["if"] == "${{ !cancelled() }}"
    assert verdict["permissions"] == {"contents": "read"}
    assert not [s for s in verdict["steps"] if s.get("with", {}).get("path") == "pr"]  # no PR checkout
    download = step_named(verdict["steps"], "Download the shards' results")
    assert download["with"] == {"pattern": f"{SHARD_ARTIFACT}-*", "path": "shards"}
    merge = step_named(verdict["steps"], "Merge the shards into one verdict")["run"]
    argv = next(line.split() for line in merge.splitlines() if line.strip().startswith("encoder-gate merge"))
    parsed = cli.build_parser().parse_args(argv[1:])
    assert parsed.command == "merge" and str(parsed.out) == "pr/.encoder-gate"
    assert "--benchmark-json .encoder-gate/shard/benchmarks.json" in run["run"]  # the merge's report
    report = step_named(verdict["steps"], "Upload the report and the raw results")
    assert report["with"]["name"] == REPORT_ARTIFACT
    assert "pr/.encoder-gate/verdict.md" in report["with"]["path"]
    assert jobs["comment"]["needs"] == jobs["history"]["needs"] == "verdict"
    writers = {name: job["permissions"] for name, job in jobs.items()
               if "write" in job["permissions"].values()}
    assert writers == {"comment": {"pull-requests": "write"}, "history": {"contents": "write"}}


def test_the_plain_workflow_has_no_matrix_and_no_verdict_job(tmp_path: Path, model_dir: Path) -> None:
    init(tmp_path)
    jobs = workflow_doc(tmp_path)["jobs"]
    assert set(jobs) == {"gate", "comment", "history"} and "strategy" not in jobs["gate"]
    assert "--gate-shard" not in step_named(jobs["gate"]["steps"], "Gate the PR against its base")["run"]


@pytest.mark.parametrize("shards", [0, 7])
def test_init_refuses_shards_it_cannot_fill(tmp_path: Path, model_dir: Path, shards: int) -> None:
    """The model directory holds an ONNX file: six backends, so one to six gate jobs."""
    with pytest.raises(GateError, match=rf"--shards {shards}: each gate job runs at least one backend, and 6 "
                                        r"are configured: pass 1 \(one gate job\) to 6"):
        init(tmp_path, shards=shards)
    assert not (tmp_path / ".github").exists()


CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


@pytest.mark.skipif(not Path(CHECK_JSONSCHEMA).is_file(), reason="check-jsonschema is not installed (a dev "
                    "extra), so the workflow cannot be checked against GitHub's workflow schema")
@pytest.mark.parametrize("shards", [1, 3])
def test_the_workflow_validates_against_githubs_workflow_schema(tmp_path: Path, model_dir: Path,
                                                               shards: int) -> None:
    """SchemaStore's github-workflow schema, as check-jsonschema vendors it; a broken copy (a
    permission GitHub does not know) fails, so the check can fail."""
    init(tmp_path, shards=shards)
    path = tmp_path / ".github/workflows/encoder-gate.yml"
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("contents: read", "contents: everything", 1))
    check = [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows"]
    done = subprocess.run([*check, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    failed = subprocess.run([*check, str(broken)], capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and "everything" in failed.stdout + failed.stderr


ZIZMOR = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")


@pytest.mark.skipif(not Path(ZIZMOR).is_file(), reason="zizmor is not installed (pip install zizmor, "
                    "a dev extra), so the workflow cannot be audited")
@pytest.mark.parametrize(("lfs", "shards"), [(False, 1), (True, 1), (False, 3), (True, 5)])
def test_zizmor_finds_nothing_in_the_workflow(tmp_path: Path, model_dir: Path, lfs: bool,
                                              shards: int) -> None:
    """zizmor, GitHub Actions' static analysis, with its default persona, offline: the plain
    workflow and the sharded one."""
    if lfs:
        (tmp_path / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    init(tmp_path, shards=shards)
    done = subprocess.run([ZIZMOR, "--offline", "--no-progress", str(tmp_path / ".github/workflows")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr
