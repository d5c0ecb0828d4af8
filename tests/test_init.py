"""`encoder-gate init` scaffolds a user's repository: config, thin test modules, PR workflow."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from encoder_gate.commands import cli
from encoder_gate.commands import init as scaffold
from encoder_gate.commands.init import InitRequest
from encoder_gate.commands.install_source import InstallSource, index_requirement
from encoder_gate.commands.layout import THIN_MODULES
from encoder_gate.commands.pyproject import PIN_ROOTDIR, merge_pyproject, render_table
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


def write_model_dir(root: Path) -> Path:
    """A model directory as `init` finds one under `root`: config.json with two labels, and an ONNX
    file beside it (models/clf/onnx/model_quantized.onnx)."""
    model = root / "models" / "clf"
    (model / "onnx").mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({
        "architectures": ["BertForSequenceClassification"],
        "id2label": {"0": "negative", "1": "positive"},
    }))
    (model / "onnx" / "model_quantized.onnx").write_bytes(b"placeholder")
    return model


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path)


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


def workflow_doc(tmp_path: Path) -> dict:
    return yaml.safe_load((tmp_path / ".github/workflows/encoder-gate.yml").read_text())


def step_named(steps: list[dict], name: str) -> dict:
    [step] = [s for s in steps if s.get("name") == name]
    return step


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


def test_an_onnx_file_that_is_not_there_is_refused_by_init_not_by_the_first_session(
        tmp_path: Path, model_dir: Path) -> None:
    """`--backends torch,onnx:nope.onnx` was written into the table; the first session refused it."""
    with pytest.raises(GateError, match=r"ONNX file nope\.onnx does not exist \(looked relative to the "
                                        r"working directory, .*, and to the model directory"):
        init(tmp_path, backends=("torch", "onnx:nope.onnx"))
    assert not (tmp_path / "pyproject.toml").exists()
    (model_dir / "onnx" / "model.onnx").write_bytes(b"x")  # beside the model, as the session finds it
    init(tmp_path, backends=("torch", "onnx:onnx/model.onnx"))


def test_init_warns_of_onnx_files_a_checkout_of_the_repository_would_not_hold(
        tmp_path: Path, model_dir: Path) -> None:
    """A user's `*.onnx` in .gitignore: init added the file in silence, and the PR against its base
    then failed saying the base's checkout lacked it (a user's walk, 2026-11-29). A file git ignores,
    one outside the repository and a link to outside are named, with why and the fix; a file git holds
    (added with -f past the same pattern) is not."""
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("*.onnx\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.onnx"
    outside.write_bytes(b"x")
    (model_dir / "link.onnx").symlink_to(outside)
    plan = init(tmp_path, backends=("torch", "onnx:models/clf/onnx/model_quantized.onnx", f"onnx:{outside}",
                                    "onnx:models/clf/link.onnx"))
    [warning] = [n for n in plan.notes if n.startswith("warning: not in a checkout of this repository")]
    assert "models/clf/onnx/model_quantized.onnx (ignored by git: *.onnx in .gitignore)" in warning
    assert f"{outside} (outside the repository)" in warning
    assert f"link.onnx (a link to {outside.resolve()}, outside the repository)" in warning
    assert warning.endswith("Commit the file(s) (git add -f, or Git LFS for large ones), or take them out of "
                            "`backends`")
    git("add", "-f", "models/clf/onnx/model_quantized.onnx")
    held = init(tmp_path, backends=("torch", "onnx:models/clf/onnx/model_quantized.onnx"), force=True)
    assert not [n for n in held.notes if n.startswith("warning: not in a checkout")]


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
    kept = "\n[tool.encoder-gate.tolerances.onnx-int8]\nf1 = 0.1\n"  # the team's block, byte for byte
    rendered = render_table(plan.table)
    assert merged == head + rendered + kept + "\n# the next table\n" + tail + "\n" + PIN_ROOTDIR
    assert table_of(tmp_path)["model"] == "models/clf"
    assert "pull_request:" in workflow.read_text()
    assert (tmp_path / "accuracy/test_encoder_gate_accuracy.py").is_file()
    assert "kept of the old [tool.encoder-gate]: tolerances)" in plan.files[0].line(tmp_path)


def test_force_keeps_the_teams_own_settings_and_decides_again_what_its_command_line_gives(
        tmp_path: Path, model_dir: Path) -> None:
    """A trial upgrading encoder-gate ran `init --force` for the new workflow and lost its tightened bound,
    its waiver and its choice of backends, said as "replaced [tool.encoder-gate]" alone. Kept: every
    setting init does not decide from its command line, the blocks (with their comments) byte for byte;
    the backends unless given; decided again: the model, dataset and columns."""
    team = ('[tool.encoder-gate]\nmodel = "models/clf"\nbackends = ["torch", "onnx-int8"]\nthreads = 2\n'
            'targets = ["vnni"]\ndevice = "cuda"\n\n'
            '[tool.encoder-gate.tolerances.onnx-int8]\ndrift_max = 0.0005  # reviewed by @ml-team\n\n'
            '[[tool.encoder-gate.waivers]]\nbackend = "onnx-int8"\ncheck = "drift_max"\nowner = "@ml-team"\n'
            'reason = "tightened"\nuntil = 2027-06-30\n')
    (tmp_path / "pyproject.toml").write_text(team)
    plan = init(tmp_path, force=True)
    table = table_of(tmp_path)
    assert table["backends"] == ["torch", "onnx-int8"] and table["threads"] == 2
    assert table["targets"] == ["vnni"]
    assert "device" not in table  # decided again: --device (cpu) gives none
    assert table["tolerances"] == {"onnx-int8": {"drift_max": 0.0005}}
    assert table["waivers"][0]["owner"] == "@ml-team"
    text = (tmp_path / "pyproject.toml").read_text()
    assert "drift_max = 0.0005  # reviewed by @ml-team\n" in text and "[[tool.encoder-gate.waivers]]" in text
    assert plan.files[0].line(tmp_path).endswith(
        "; kept of the old [tool.encoder-gate]: backends, threads, targets, tolerances, waivers)")
    # backends given on the command line: those, the rest kept
    init(tmp_path, backends=("torch", "onnx-fp32"), force=True)
    assert table_of(tmp_path)["backends"] == ["torch", "onnx-fp32"] and table_of(tmp_path)["threads"] == 2


# --- model, dataset, texts ------------------------------------------------------------------


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
    assert "hashFiles('pr/pyproject.toml', 'venv/installed.txt')" in workflow


def test_a_model_directory_named_as_a_builtin_is_stored_as_a_path(tmp_path: Path) -> None:
    """A directory whose name is a builtin model's (`minilm`) is stored as `./minilm`: its bare name
    is the builtin (a user's MiniLM encoder was judged as the builtin minilm classifier)."""
    (tmp_path / "minilm").mkdir()
    (tmp_path / "minilm" / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    init(tmp_path, model="minilm")
    assert table_of(tmp_path)["model"] == "./minilm"


def test_model_outside_the_project_is_absolute_with_a_warning(tmp_path: Path, model_dir: Path) -> None:
    project = tmp_path / "project"
    plan = init(project, model=str(model_dir))
    absolute = model_dir.resolve().as_posix()
    assert table_of(project)["model"] == absolute
    assert table_of(project)["backends"][-1] == f"onnx:{absolute}/onnx/model_quantized.onnx"
    assert any("outside" in w for w in plan.warnings)


@pytest.mark.parametrize(("files", "named"), [
    ({"uv.lock": "version = 1\n"}, "uv.lock"),
    ({"pyproject.toml": '[project]\nname = "svc"\ndependencies = ["onnxruntime==1.21.0"]\n'},
     "pyproject.toml's dependencies"),
    ({"uv.lock": "version = 1\n", "requirements.txt": "onnxruntime==1.21.0\n"}, None),
    ({}, None),
])
def test_dependencies_the_workflow_would_not_install_are_a_warning(tmp_path: Path, model_dir: Path,
                                                                   files: dict[str, str],
                                                                   named: str | None) -> None:
    """The workflow installs requirements.txt alone: a repository that pins its libraries elsewhere
    (a lock file, pyproject.toml) and has no requirements.txt is told so, with the export commands;
    the runner would otherwise gate the newest releases. With a requirements.txt, or nothing
    declared, no warning."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    plan = init(tmp_path)
    said = [w for w in plan.warnings if "declares its dependencies" in w]
    if named is None:
        assert said == []
        return
    [warning] = said
    assert f"declares its dependencies in {named}:" in warning
    assert "uv export --no-hashes --no-emit-project -o requirements.txt" in warning


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


@pytest.mark.parametrize(("addopts", "said"), [
    ('"-p no:encoder_gate"', "disables the encoder_gate plugin"),
    ('["--benchmark-disable"]', "turns pytest-benchmark's timing off"),
    ('"--benchmark-skip"', "skips every benchmark: the workflow's `pytest accuracy benchmarks` times no "
     "speed"),
    ('"-n auto --dist worksteal"', "runs pytest-xdist: pytest-benchmark times nothing under it"),
    ('["--cov=src", "--cov-report=xml"]', "runs coverage's tracer in every session: the benchmarks refuse "
     "to be timed under it, each failing (a tracer reads every speedup high); add --no-cov to the "
     "workflow's pytest command"),
])
def test_addopts_that_keep_the_gate_from_running_are_warned_of(tmp_path: Path, model_dir: Path, addopts: str,
                                                                said: str) -> None:
    """`-p no:encoder_gate` in addopts was kept without a word: 31 "fixture 'backend' not found"
    errors at the first session; `--benchmark-disable` or xdist there made the speed gate time nothing."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.pytest.ini_options]\naddopts = {addopts}\n")
    warned = init(tmp_path).warnings
    assert any("[tool.pytest.ini_options] addopts has" in w and said in w for w in warned), warned
    harmless = '[tool.pytest.ini_options]\naddopts = "-q -p no:cacheprovider"\n'
    (tmp_path / "pyproject.toml").write_text(harmless)
    assert not any("addopts" in w for w in init(tmp_path, force=True).warnings)


def test_addopts_of_the_config_file_pytest_reads_are_warned_of_wherever_it_is(tmp_path: Path,
                                                                              model_dir: Path) -> None:
    """Only pyproject.toml's addopts were read: a project whose pytest config is its pytest.ini (which
    pytest reads first) or setup.cfg kept `--cov` there without a word. The file pytest reads is
    named; a pyproject.toml beside a pytest.ini is not the one read."""
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --cov=src\n    --benchmark-skip\n")
    warned = [w for w in init(tmp_path).warnings if "addopts" in w]
    assert [w.split(", which")[0] for w in warned] == ["pytest.ini's [pytest] addopts has --benchmark-skip",
                                                       "pytest.ini's [pytest] addopts has --cov=src"]
    (tmp_path / "pytest.ini").unlink()
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\n\n[tool:pytest]\n"
                                        "addopts = -p no:encoder_gate\n")
    warned = [w for w in init(tmp_path, force=True).warnings if "addopts" in w]
    assert len(warned) == 1 and warned[0].startswith("setup.cfg's [tool:pytest] addopts has no:encoder_gate")
    # pytest 9's own TOML forms: pytest.toml first of all, and pyproject.toml's native [tool.pytest]
    (tmp_path / "pytest.toml").write_text('[pytest]\naddopts = ["--cov=src"]\n')
    warned = [w for w in init(tmp_path, force=True).warnings if "addopts" in w]
    assert len(warned) == 1 and warned[0].startswith("pytest.toml's [pytest] addopts has --cov=src")
    (tmp_path / "pytest.toml").unlink()
    (tmp_path / "setup.cfg").unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.pytest]\naddopts = ["--benchmark-disable"]\n')
    warned = [w for w in init(tmp_path, force=True).warnings if "addopts" in w]
    assert len(warned) == 1
    assert warned[0].startswith("pyproject.toml's [tool.pytest] addopts has --benchmark-disable")


def test_init_warns_of_a_label2id_that_contradicts_id2label(tmp_path: Path) -> None:
    """The two label maps disagreeing is said when the project is set up, as the verdict says it."""
    model = write_model_dir(tmp_path)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "label2id": {"negative": 1, "positive": 0}}))
    plan = init(tmp_path)
    assert any(w.startswith("config.json's label2id contradicts its id2label: 'negative' is output 0 by "
                            "id2label, 1 by label2id") for w in plan.warnings), plan.warnings
