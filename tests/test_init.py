"""`encoder-gate init` scaffolds a user's repository: config, thin test modules, PR workflow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from encoder_gate.commands import cli
from encoder_gate.commands import init as scaffold
from encoder_gate.commands.init import InitRequest
from encoder_gate.commands.install_source import InstallSource, index_requirement
from encoder_gate.commands.layout import SHARD_COSTS_FILE, THIN_MODULES
from encoder_gate.commands.pyproject import PIN_ROOTDIR, merge_pyproject, render_table
from encoder_gate.commands.workflow import REPORT_ARTIFACT, SHARD_ARTIFACT
from encoder_gate.errors import GateError

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ["torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8"]

PYPROJECT = '''\
# my project's metadata
[project]
name = "my-classifier"   # aligned comment
dependencies = [
    "torch",  # any
]

[tool.ruff]
line-length = 100
notes = """
[tool.encoder-gate]
not a header: inside a multi-line string
"""

# the next table
[tool.black]
skip = ["[x]", 'a]b']

# about other
[other]
key = 1
'''


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "models" / "clf"
    (model / "onnx").mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({
        "architectures": ["BertForSequenceClassification"],
        "id2label": {"0": "negative", "1": "positive"},
    }))
    (model / "onnx" / "model_quantized.onnx").write_bytes(b"placeholder")
    return model


def table_of(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["encoder-gate"]


def written(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# an index install, so the tests do not depend on how encoder-gate is installed here
INDEX_INSTALL = InstallSource(index_requirement(scaffold.package_version()), "index", "from a package index")


def init(root: Path, model: str = "models/clf", install: InstallSource = INDEX_INSTALL,
         **kwargs: Any) -> scaffold.InitPlan:
    plan, _ = scaffold.run_init(InitRequest(model=model, root=root, **kwargs), install)
    return plan


# --- files ----------------------------------------------------------------------------------


def test_fresh_directory_gets_every_file(tmp_path: Path, model_dir: Path) -> None:
    plan = init(tmp_path)
    for rel, content in THIN_MODULES.items():
        assert (tmp_path / rel).read_text() == content
    assert (tmp_path / ".github/workflows/encoder-gate.yml").is_file()
    assert table_of(tmp_path) == {
        "model": "models/clf",
        "backends": [*DEFAULTS, "onnx:models/clf/onnx/model_quantized.onnx"],
        "batch-sizes": [1, 8],
        "threads": 1,
        "f1-rule": "regression",
    }
    assert any("onnx:models/clf/onnx/model_quantized.onnx" in note for note in plan.notes)
    text = (tmp_path / "pyproject.toml").read_text()  # targets shown, commented out, ready to narrow
    [shown] = [line for line in text.splitlines() if line.startswith("# targets = ")]
    uncommented = text.replace(shown, shown[2:].split("  (")[0])
    (tmp_path / "pyproject.toml").write_text(uncommented)
    assert table_of(tmp_path)["targets"] == ["x86-avx2", "x86-vnni", "x86-amx", "arm64"]
    (tmp_path / "pyproject.toml").write_text(text)
    assert [f.action for f in plan.files] == ["wrote"] * 5
    assert (tmp_path / ".gitignore").read_text() == ("# encoder-gate's artifact cache and reports\n"
                                                    ".encoder-gate/\n" + HYPOTHESIS_LINES)


#: What init adds to .gitignore for hypothesis's own caches (issue 68: never in the user's commits).
HYPOTHESIS_LINES = ("# hypothesis's own caches (the gate keeps its examples in .encoder-gate/cache)\n"
                    ".hypothesis/\n")


def test_the_sessions_directory_is_kept_out_of_git_and_other_ignores_stay(tmp_path: Path,
                                                                          model_dir: Path) -> None:
    """init adds .encoder-gate/ to an existing .gitignore (its lines kept, a missing final newline
    mended), and leaves one that ignores it already untouched: `git add -A` never commits the cache."""
    (tmp_path / ".gitignore").write_text("*.pyc\n/dist")
    plan = init(tmp_path)
    assert (tmp_path / ".gitignore").read_text() == ("*.pyc\n/dist\n# encoder-gate's artifact cache and "
                                                     "reports\n.encoder-gate/\n" + HYPOTHESIS_LINES)
    assert any(f.path == ".gitignore" and f.action == "updated" for f in plan.files)
    other = tmp_path / "other"
    other.mkdir()
    (other / ".gitignore").write_text("/.encoder-gate\n.hypothesis\n")
    (other / "models").symlink_to(tmp_path / "models")
    plan = init(other)
    assert (other / ".gitignore").read_text() == "/.encoder-gate\n.hypothesis\n"
    assert all(f.path != ".gitignore" for f in plan.files)


def test_thin_modules_import_the_packaged_suites() -> None:
    assert set(THIN_MODULES) == {"accuracy/test_encoder_gate_accuracy.py",
                                 "benchmarks/test_encoder_gate_speed.py"}
    for rel, content in THIN_MODULES.items():
        compile(content, rel, "exec")
        suite = "accuracy" if rel.startswith("accuracy/") else "benchmarks"
        assert f"from encoder_gate.suite.{suite} import *  # noqa: F403\n" in content
        assert content.startswith('"""') and content.endswith("\n")
        assert max(len(line) for line in content.splitlines()) <= 110


@pytest.mark.parametrize("rel", sorted(THIN_MODULES))
def test_this_repository_uses_the_same_thin_modules(rel: str) -> None:
    ours = ROOT / rel
    if not ours.is_file():
        pytest.skip(f"{rel} is not in this checkout yet")
    assert ours.read_text() == THIN_MODULES[rel]


def test_onnx_detection_covers_the_model_layouts(tmp_path: Path, model_dir: Path) -> None:
    (model_dir / "onnx" / "model.onnx").write_bytes(b"x")
    (model_dir / "b.onnx").write_bytes(b"x")
    (model_dir / "a.onnx").write_bytes(b"x")
    found = [p.relative_to(model_dir).as_posix() for p in scaffold.detect_onnx_files(model_dir)]
    assert found == ["onnx/model.onnx", "onnx/model_quantized.onnx", "a.onnx", "b.onnx"]


def test_init_names_the_other_onnx_files_it_does_not_add(tmp_path: Path, model_dir: Path) -> None:
    """onnx/probs.onnx beside onnx/model.onnx: not added (a transformers.js folder holds eight), but
    named with how to add it, never passed over in silence (walk S #3)."""
    (model_dir / "onnx" / "model.onnx").write_bytes(b"x")
    (model_dir / "onnx" / "probs.onnx").write_bytes(b"x")
    plan = init(tmp_path)
    backends = table_of(tmp_path)["backends"]
    assert any(b.endswith("onnx/model.onnx") for b in backends)
    assert not any(b.endswith("probs.onnx") for b in backends)
    note = next(n for n in plan.notes if n.startswith("other ONNX files in the model directory, not added"))
    assert "probs.onnx" in note and "--backends" in note


def test_explicit_backends_are_kept_as_given(tmp_path: Path, model_dir: Path) -> None:
    plan = init(tmp_path, backends=("torch", "onnx-int8"))
    assert table_of(tmp_path)["backends"] == ["torch", "onnx-int8"]
    assert any("not in --backends" in note for note in plan.notes)
    with pytest.raises(GateError, match="unknown backend 'onnx-fp8'"):
        init(tmp_path / "other", model=str(model_dir), backends=("torch", "onnx-fp8"))


# --- pyproject.toml -------------------------------------------------------------------------


def test_merge_keeps_every_other_byte(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    plan = init(tmp_path)
    merged = (tmp_path / "pyproject.toml").read_text()
    block = "\n" + render_table(plan.table)
    assert block in merged
    assert merged.replace(block, "", 1) == PYPROJECT + "\n" + PIN_ROOTDIR  # nothing configured pytest here
    # after the last [tool.*] table and before the comment that belongs to the next one
    assert merged.index("[tool.black]") < merged.index(block) < merged.index("# about other")
    parsed = tomllib.loads(merged)
    assert parsed["tool"]["ruff"]["notes"].startswith("[tool.encoder-gate]")
    assert parsed["tool"]["black"] == {"skip": ["[x]", "a]b"]}
    assert plan.files[0].line(tmp_path) == \
        f"updated {(tmp_path / 'pyproject.toml').as_posix()} ([tool.encoder-gate] and " \
        "[tool.pytest.ini_options] (pytest's rootdir is this directory))"


@pytest.mark.parametrize(("config_file", "text", "pinned"), [
    (None, None, True),
    ("pytest.ini", "[pytest]\n", False),
    ("tox.ini", "[tox]\nenvlist = py\n\n[pytest]\naddopts = -ra\n", False),
    ("setup.cfg", "[metadata]\nname = x\n", True),  # no [tool:pytest]: not a pytest config
    ("pyproject.toml", "[tool.pytest.ini_options]\naddopts = \"-ra\"\n", False),
])
def test_init_pins_pytests_rootdir_unless_the_directory_configures_pytest(
        tmp_path: Path, model_dir: Path, config_file: str | None, text: str | None, pinned: bool) -> None:
    """Without a pytest config file of its own, a parent's pytest.ini (a monorepo) becomes the
    rootdir and [tool.encoder-gate] is not read: init adds [tool.pytest.ini_options], unless a file
    here already configures pytest (adding one would then override it)."""
    if config_file:
        (tmp_path / config_file).write_text(text or "")
    init(tmp_path)
    parsed = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert parsed["tool"]["encoder-gate"]["model"] == "models/clf"
    assert ("pytest" in parsed["tool"]) is (pinned or config_file == "pyproject.toml")
    assert (PIN_ROOTDIR in (tmp_path / "pyproject.toml").read_text()) is pinned
    if config_file == "pyproject.toml":
        assert parsed["tool"]["pytest"] == {"ini_options": {"addopts": "-ra"}}


def test_merge_without_tool_tables_appends_and_keeps_crlf() -> None:
    old = '[project]\r\nname = "x"\r\n'
    merged = merge_pyproject(old, {"model": "m", "batch-sizes": [1, 8]})
    assert merged.startswith(old + "\r\n[tool.encoder-gate]\r\n")
    assert "\n" not in merged.replace("\r\n", "")
    assert tomllib.loads(merged)["tool"]["encoder-gate"] == {"model": "m", "batch-sizes": [1, 8]}


def test_merge_refuses_what_it_cannot_splice() -> None:
    with pytest.raises(GateError, match="by hand"):
        merge_pyproject('tool = {ruff = {x = 1}}\n', {"model": "m"})
    with pytest.raises(GateError, match="not valid TOML"):
        merge_pyproject("[tool\n", {"model": "m"})


def test_existing_table_is_refused_without_force_and_nothing_is_written(tmp_path: Path,
                                                                         model_dir: Path) -> None:
    text = PYPROJECT + '\n[tool.encoder-gate]\nmodel = "default"\n'
    (tmp_path / "pyproject.toml").write_text(text)
    before = written(tmp_path)
    with pytest.raises(GateError, match=r"already has \[tool.encoder-gate\].*--force"):
        init(tmp_path)
    assert written(tmp_path) == before
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_existing_test_file_is_refused_without_force_and_nothing_is_written(tmp_path: Path,
                                                                             model_dir: Path) -> None:
    mine = tmp_path / "benchmarks" / "test_encoder_gate_speed.py"
    mine.parent.mkdir()
    mine.write_text("# my own\n")
    with pytest.raises(GateError) as err:
        init(tmp_path)
    assert "benchmarks/test_encoder_gate_speed.py exists" in str(err.value) and "--force" in str(err.value)
    assert not (tmp_path / "pyproject.toml").exists() and not (tmp_path / "accuracy").exists()
    assert mine.read_text() == "# my own\n"


def test_force_replaces_the_table_and_the_files_only(tmp_path: Path, model_dir: Path) -> None:
    old_table = ('[tool.encoder-gate]\nmodel = "default"  # old\n\n'
                 '[tool.encoder-gate.tolerances.onnx-int8]\nf1 = 0.1\n')
    head, tail = PYPROJECT.split("# the next table\n")
    (tmp_path / "pyproject.toml").write_text(head + old_table + "\n# the next table\n" + tail)
    workflow = tmp_path / ".github" / "workflows" / "encoder-gate.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("old: true\n")
    plan = init(tmp_path, force=True)
    merged = (tmp_path / "pyproject.toml").read_text()
    assert merged == head + render_table(plan.table) + "\n# the next table\n" + tail + "\n" + PIN_ROOTDIR
    assert table_of(tmp_path)["model"] == "models/clf"
    assert "pull_request:" in workflow.read_text()
    assert (tmp_path / "accuracy/test_encoder_gate_accuracy.py").is_file()
    assert "replaced [tool.encoder-gate]" in plan.files[0].line(tmp_path)


# --- model, dataset, texts ------------------------------------------------------------------


def test_columns_are_detected_from_jsonl(tmp_path: Path, model_dir: Path) -> None:
    data = tmp_path / "data" / "eval.jsonl"
    data.parent.mkdir()
    data.write_text('\n{"id": 3, "sentence": "great", "label": "positive"}\n')
    init(tmp_path, dataset="data/eval.jsonl")
    table = table_of(tmp_path)
    assert table["dataset"] == "data/eval.jsonl"
    assert table["text-column"] == "sentence" and table["label-column"] == "label"


def test_columns_are_detected_from_csv(tmp_path: Path) -> None:
    data = tmp_path / "eval.csv"
    data.write_text("id,utterance,target\n1,so good,positive\n")
    assert scaffold.detect_columns(data) == ("utterance", "target")
    data.write_text("text,labels\nhi,joy\n")
    assert scaffold.detect_columns(data) == ("text", "labels")


def test_default_columns_are_not_written(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "eval.json").write_text('[{"text": "hi", "labels": ["positive"]}]')
    init(tmp_path, dataset="eval.json")
    table = table_of(tmp_path)
    assert table["dataset"] == "eval.json"
    assert "text-column" not in table and "label-column" not in table


def test_the_only_other_column_is_the_label_column(tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"utterance": "hi", "mood": ["joy"]}\n')
    assert scaffold.detect_columns(data) == ("utterance", "mood")


def test_unknown_columns_ask_for_the_options(tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"utterance": "hi", "mood": "joy", "source": "web"}\n')
    with pytest.raises(GateError, match="--text-column NAME and --label-column NAME"):
        scaffold.detect_columns(data)
    assert scaffold.detect_columns(data, label_column="mood") == ("utterance", "mood")
    with pytest.raises(GateError, match="no column 'feeling'"):
        scaffold.detect_columns(data, label_column="feeling")


def test_one_column_per_label_is_read_one_hot_without_a_label_column(tmp_path: Path, model_dir: Path) -> None:
    """Walk AO: go_emotions' raw layout (a text column, then one 0/1 column per label) was refused,
    asking for a --label-column the file cannot have; the loader reads it one-hot by the names."""
    data = tmp_path / "eval.csv"  # the model_dir fixture's labels, beside an id and an author
    data.write_text("id,message,author,negative,positive\ne1,what a day,bob,0,1\n")
    assert scaffold.detect_columns(data, label_names=("negative", "positive")) == ("message", None)
    plan = init(tmp_path, dataset="eval.csv")
    table = table_of(tmp_path)
    assert table["text-column"] == "message" and "label-column" not in table
    assert "dataset columns: text 'message', labels one 0/1 column per label, by its name" in plan.notes
    from encoder_gate.data.datasets import load_dataset  # and the gate reads it so

    read = load_dataset(str(data), text_column="message", label_names=("negative", "positive"))
    assert read.labels.tolist() == [[0, 1]]
    other = tmp_path / "other.jsonl"  # 0/1 columns that are not the model's labels: asked for, as before
    other.write_text('{"text": "hi", "id": 1, "sentiment": 0}\n')
    with pytest.raises(GateError, match="--label-column NAME"):
        scaffold.detect_columns(other, label_names=("negative", "positive"))


def test_texts_file_is_stored_for_parity_only_runs(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "texts.txt").write_text("first text\n\nsecond text\n")
    plan = init(tmp_path, texts="texts.txt")
    assert table_of(tmp_path)["texts"] == "texts.txt"
    assert any("texts: 2" in note and "parity" in note for note in plan.notes)
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(GateError, match="no texts"):
        init(tmp_path / "other", model=str(model_dir), texts=str(tmp_path / "empty.txt"))


@pytest.mark.parametrize(("make", "model", "dataset", "message"), [
    (False, "models/missing", None, "model directory models/missing does not exist"),
    (True, "models/clf", None, "has no config.json"),
    (False, "models/clf", "missing.jsonl", "dataset file missing.jsonl does not exist"),
])
def test_missing_inputs_are_actionable_errors(tmp_path: Path, make: bool, model: str, dataset: str | None,
                                              message: str) -> None:
    (tmp_path / "models").mkdir()
    if make:
        (tmp_path / model).mkdir()
    else:
        (tmp_path / "models" / "clf").mkdir()
        (tmp_path / "models" / "clf" / "config.json").write_text("{}")
    with pytest.raises(GateError, match=message):
        init(tmp_path, model=model, dataset=dataset)
    assert written(tmp_path) <= {"models/clf/config.json"}


def test_hub_id_is_kept_with_a_warning(tmp_path: Path) -> None:
    plan = init(tmp_path, model="my-org/my-classifier")
    assert table_of(tmp_path)["model"] == "my-org/my-classifier"
    assert any("hub id" in w for w in plan.warnings)
    workflow = (tmp_path / ".github/workflows/encoder-gate.yml").read_text()
    assert "hashFiles('pr/pyproject.toml')" in workflow


def test_model_outside_the_project_is_absolute_with_a_warning(tmp_path: Path, model_dir: Path) -> None:
    project = tmp_path / "project"
    plan = init(project, model=str(model_dir))
    absolute = model_dir.resolve().as_posix()
    assert table_of(project)["model"] == absolute
    assert table_of(project)["backends"][-1] == f"onnx:{absolute}/onnx/model_quantized.onnx"
    assert any("outside" in w for w in plan.warnings)


# --- the workflow ---------------------------------------------------------------------------


def workflow_doc(tmp_path: Path) -> dict:
    return yaml.safe_load((tmp_path / ".github/workflows/encoder-gate.yml").read_text())


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
    assert [i for i, run in enumerate(runs) if "pytest" in run] == [gate]  # one session
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
    assert "hashFiles('pr/models/clf/**', 'pr/pyproject.toml')" in cache["with"]["key"]
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
    assert f"the workflow installs {requirement} (encoder-gate is installed here from git, o/encoder-gate)" \
        in plan.notes
    assert not any("install" in w for w in plan.warnings)


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


def step_named(steps: list[dict], name: str) -> dict:
    [step] = [s for s in steps if s.get("name") == name]
    return step


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



# --- the command line -----------------------------------------------------------------------


def test_cli_init_prints_what_it_wrote(tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--model", "models/clf"]) == 0
    out = capsys.readouterr().out
    for line in ("wrote accuracy/test_encoder_gate_accuracy.py",
                 "wrote benchmarks/test_encoder_gate_speed.py",
                 "wrote .github/workflows/encoder-gate.yml",
                 "wrote pyproject.toml ([tool.encoder-gate] and [tool.pytest.ini_options] (pytest's rootdir "
                 "is this directory))"):
        assert line in out.splitlines()
    for command in ("pytest accuracy", "pytest accuracy benchmarks --gate-base DIR"):  # outside git
        assert command in out

    assert cli.main(["init", "--model", "models/clf"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("encoder-gate init: error: ") and "--force" in err


def test_the_next_steps_name_the_branch_a_pr_is_based_on(tmp_path: Path) -> None:
    """Run where the repository's default branch is `trunk`: the command to gate a branch against its
    base names `trunk`, not a `main` that is not there. Outside a repository `--gate-base-ref` cannot
    check a base out (walk AA): the command takes a checkout's directory, and says the other."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    outside = scaffold.next_steps(tmp_path, INDEX_INSTALL)
    assert any("pytest accuracy benchmarks --gate-base DIR " in line
               and "in a git repository: --gate-base-ref main" in line for line in outside)
    git("init", "-q", "-b", "trunk")
    git("commit", "-q", "--allow-empty", "-m", "first")
    steps = scaffold.next_steps(tmp_path, INDEX_INSTALL)
    assert any("pytest accuracy benchmarks --gate-base-ref trunk" in line and "against trunk" in line
               for line in steps)


def test_cli_verdict_prints_through_current_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[Path] = []

    def current_verdict(report_dir: Path) -> str:
        calls.append(report_dir)
        return "## verdict: pass\n"

    monkeypatch.setattr(cli, "current_verdict", current_verdict)
    (tmp_path / "verdict.json").write_text('{"schema": 1, "passed": true}')  # as current_verdict leaves it
    assert cli.main(["verdict", "--report-dir", str(tmp_path)]) == 0
    assert calls == [tmp_path] and capsys.readouterr().out == "## verdict: pass\n"
    (tmp_path / "verdict.json").write_text('{"schema": 1, "passed": false}')
    assert cli.main(["verdict", "--report-dir", str(tmp_path)]) == 1  # the exit status is the verdict's


def test_a_reader_that_goes_away_keeps_the_verdicts_exit_status(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Walk AH: `encoder-gate verdict | true` (and `merge ... | head -1`) exited 0 on a FAIL: a
    BrokenPipeError ended the command at once with 0, and merge before writing its verdict. The
    command goes on without its reader and exits with the verdict's status."""
    import io
    import os
    import sys

    monkeypatch.setattr(cli, "current_verdict", lambda report_dir: "## encoder-gate: FAIL\n" * 20000)
    (tmp_path / "verdict.json").write_text('{"schema": 1, "passed": false}')
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    pipe = io.TextIOWrapper(os.fdopen(write, "wb"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", pipe)
    assert cli.main(["verdict", "--report-dir", str(tmp_path)]) == 1
    assert sys.stdout is pipe  # given back; what it held went nowhere, so closing it raises nothing
    pipe.close()


def test_a_stdout_that_cannot_be_written_fails_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Walk AL: `encoder-gate verdict > /dev/full` ended in an OSError traceback; its output lost, the
    command fails saying why in one line (review AP: int8-audit --json exited 0 with nothing written)."""
    import errno
    import io
    import sys

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "current_verdict", lambda report_dir: "## encoder-gate: PASS\n")
    (tmp_path / "verdict.json").write_text('{"schema": 1, "passed": true}')
    monkeypatch.setattr(sys, "stdout", Full())
    assert cli.main(["verdict", "--report-dir", str(tmp_path)]) == 1
    said = "encoder-gate verdict: error: could not write to stdout (No space left on device)\n"
    assert capsys.readouterr().err == said


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
    token = next(i for i, line in enumerate(lines) if "HF_TOKEN" in line)
    assert text.count("HF_TOKEN") == 2 and lines[token - 1].strip() == "# env:"  # HF_TOKEN: ...HF_TOKEN
    assert lines.index("      - name: Gate the PR against its base") < token < lines.index(
        "        run: |", token - 5)
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
