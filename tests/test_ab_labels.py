"""The PR against its base where the models' labels differ: matched by name (accuracy.label_match),
end to end through `test_accuracy_vs_base`, ab.json and the verdict."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.models.spec import ModelSpec

TABLE = '[tool.encoder-gate]\nmodel = "model"\nbackends = ["torch"]\nlimit = {limit}\n'


def _relabel(model_dir: Path, names: dict[str, str]) -> None:
    """Rename labels in config.json only (the weights stay as they are): `names` old -> new."""
    config = json.loads((model_dir / "config.json").read_text())
    config["id2label"] = {k: names.get(v, v) for k, v in config["id2label"].items()}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (model_dir / "config.json").write_text(json.dumps(config))


@pytest.mark.slow
def test_models_without_a_label_in_common_fail_against_the_base_unless_a_waiver_accepts_it(
        pytester: pytest.Pytester, accuracy_vs_base: Any, tmp_path: Path, tiny: ModelSpec):
    """Models with no label of one name cannot be compared: the refusal names both label lists and is a
    failure against the base (ab.json's entry, `failed_by` "labels differ"), so a `vs base` waiver
    accepts it, as a team that renames its labels on purpose needs (walk 43: a check with no way to
    pass; a waiver there had made the session "compare nothing")."""
    for side in ("base", "pr"):
        shutil.copytree(tiny.path, tmp_path / side / "model")
    names = json.loads((tmp_path / "base" / "model" / "config.json").read_text())["id2label"].values()
    _relabel(tmp_path / "base" / "model", {name: f"old_{name}" for name in names})
    table = TABLE.format(limit=20)
    (tmp_path / "base" / "pyproject.toml").write_text(table)
    shutil.copytree(tmp_path / "pr" / "model", pytester.path / "model")
    pytester.makepyprojecttoml(table)
    report = tmp_path / "report"
    failed = accuracy_vs_base(tmp_path / "base", report)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED, failed.stdout.str()[-3000:]
    entry = json.loads((report / "ab.json").read_text())["accuracy"]["torch"]
    assert entry["failed_by"] == ["labels differ"], entry
    assert "no label of one is a label of the other (base: 'old_" in entry["failure"], entry
    # the base's model by its path in the base's checkout, not where that checkout lies on disk
    said = "not compared with the base: the base's model model and the PR's "
    assert entry["failure"].startswith(said), entry
    assert "accuracy vs base: not compared with the base: " in (report / "verdict.md").read_text()
    assert "| **FAIL** (labels differ) |" in (report / "verdict.md").read_text()  # its vs-base cell
    failed.stdout.fnmatch_lines(["*torch * accuracy: FAIL: not compared with the base: *no label of one*"])
    assert "During handling of the above exception" not in failed.stdout.str()  # a failure, said once
    pytester.makepyprojecttoml(f'{table}[[tool.encoder-gate.waivers]]\nbackend = "torch"\ncheck = "vs base"\n'
                               'owner = "@t"\nreason = "every label renamed"\nuntil = 2099-01-01\n')
    waived = accuracy_vs_base(tmp_path / "base", report)
    assert waived.ret == pytest.ExitCode.OK, waived.stdout.str()[-3000:]
    # the refusal a waiver accepts is said so, not "FAIL" above the PASS (a trial's three lines)
    waived.stdout.fnmatch_lines(["torch * accuracy: waived by @t: not compared with the base: *",
                                 "*encoder-gate verdict: PASS*", "*torch*waived (vs base by @t*"])
    # merged, the waiver is the base's too: it accepted the PR that added it, and covers no later one (a
    # trial's next PR, a class-name swap at F1 0.62 against 0.90, passed under the waiver its base kept)
    (tmp_path / "base" / "pyproject.toml").write_text((pytester.path / "pyproject.toml").read_text())
    later = accuracy_vs_base(tmp_path / "base", report)
    assert later.ret == pytest.ExitCode.TESTS_FAILED, later.stdout.str()[-3000:]
    notes = json.loads((report / "ab.json").read_text())["notes"]
    assert ("the waiver of torch vs base by @t until 2099-01-01 is the base's too: a `vs base` waiver "
            "accepts the PR that adds it, and this PR is compared with its base again (remove the waiver)"
            ) in notes, notes


@pytest.mark.slow
def test_labels_swapped_in_the_config_fail_by_their_f1_and_a_label_renamed_is_compared_on_the_rest(
        pytester: pytest.Pytester, accuracy_vs_base: Any, tmp_path: Path, default_model: ModelSpec):
    """A config.json that swaps two labels' names, its weights as they were (a trial's bug: F1 0.97 to
    0.65), is compared label by label with the base's namesakes and fails by the F1 rule; it had been
    called "other labels", to be waived, and with the waiver passed. A label renamed (on the base, here):
    the 27 both have are compared (it had turned every comparison off), and the notes say which were not."""
    shutil.copytree(default_model.path, tmp_path / "base" / "model")
    table = TABLE.format(limit=100)
    (tmp_path / "base" / "pyproject.toml").write_text(table)
    shutil.copytree(default_model.path, pytester.path / "model")
    _relabel(pytester.path / "model", {"admiration": "neutral", "neutral": "admiration"})
    pytester.makepyprojecttoml(table)
    report = tmp_path / "report"
    swapped = accuracy_vs_base(tmp_path / "base", report)
    assert swapped.ret == pytest.ExitCode.TESTS_FAILED, swapped.stdout.str()[-3000:]
    ab = json.loads((report / "ab.json").read_text())
    entry = ab["accuracy"]["torch"]
    assert entry["failed_by"][0] == "F1 rule" and entry["delta"] < -0.05, entry
    notes = ab["notes"]
    assert [n for n in notes if n.startswith(
        "the PR's model orders its labels otherwise than the base's ('neutral' is label 27 on the base and 0 "
        "in the PR; 'admiration' is label 0 on the base and 27 in the PR)")], notes
    swapped.stdout.fnmatch_lines(["*the PR's model (*) lost accuracy against the base's*"])

    # the base's 'happiness' is the PR's 'joy' (the bundled data's gold names the PR's labels)
    shutil.rmtree(pytester.path / "model")
    shutil.copytree(default_model.path, pytester.path / "model")
    _relabel(tmp_path / "base" / "model", {"joy": "happiness"})
    renamed = accuracy_vs_base(tmp_path / "base", report)
    assert renamed.ret == pytest.ExitCode.OK, renamed.stdout.str()[-3000:]
    ab = json.loads((report / "ab.json").read_text())
    assert ab["accuracy"]["torch"]["passed"] is True and ab["accuracy"]["torch"]["delta"] == 0, ab
    notes = ab["notes"]
    assert [n for n in notes if n.startswith("the PR adds 'joy'; it drops 'happiness': compared with the "
                                             "base on the 27 labels both have")], notes
    # what the PR's model makes of the label it adds, said beside it (a trial's new label: F1 0.04, unsaid)
    added = next(n for n in notes if n.startswith("the PR adds 'joy'"))
    assert re.search(r"; the PR's torch F1 of its own: 'joy' \d\.\d{4} \(\d+ texts\)$", added), added
    assert "compared with the base on the 27 labels both have" in (report / "verdict.md").read_text()


def test_one_refusal_of_several_backends_is_one_line_and_a_waived_one_is_no_fail():
    """A class added refused every backend's comparison in a line each, "FAIL" three times above the
    PASS the waivers made (a trial): the backends of one refusal share its line, which says who waived."""
    from encoder_gate.reporting.ab import summary_lines
    from encoder_gate.results.ab import refused_entry

    why = "not compared with the base: the base's model m and the PR's m answer different questions"
    accuracy = {name: refused_entry(why, "f1") for name in ("torch", "onnx-fp32", "onnx-int8")}
    assert summary_lines({"accuracy": accuracy}) == [
        (f"torch, onnx-fp32, onnx-int8 accuracy: FAIL: {why}", True)]
    accuracy["onnx-int8"] = {**accuracy["onnx-int8"], "waived_by": "@ml"}
    assert summary_lines({"accuracy": accuracy}) == [
        (f"torch, onnx-fp32 accuracy: FAIL: {why}", True),
        (f"onnx-int8        accuracy: waived by @ml: {why}", False)]
