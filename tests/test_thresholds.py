"""The thresholds a service decides at (encoder_gate.accuracy.thresholds): a table, or a JSON file of
each label's, read into the configuration; F1, the per-label check and the flips are judged at them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.accuracy.thresholds import check_setting, per_label, read_setting
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError
from encoder_gate.tasks import Task

LABELS = ("joy", "anger", "fear")


def test_a_thresholds_file_or_table_is_read_into_the_configuration(tmp_path: Path, monkeypatch) -> None:
    """A file of the project's (from its root; from where pytest started on the command line) and a
    table are one setting: the configuration holds the values, so a change of them is a change of the
    pass criteria wherever they came from."""
    served = {"joy": 0.35, "anger": 0.6, "fear": 0.5}
    (tmp_path / "served.json").write_text(json.dumps(served))
    from_table = GateConfig.from_sources({"thresholds": served}, {}, tmp_path)
    from_file = GateConfig.from_sources({"thresholds": "served.json"}, {}, tmp_path)
    assert from_table.thresholds == from_file.thresholds == served
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    from_command_line = GateConfig.from_sources({}, {"thresholds": "served.json"}, tmp_path / "sub")
    assert from_command_line.thresholds == served
    assert GateConfig.from_sources({"thresholds": "tuned"}, {}, tmp_path).thresholds == "tuned"
    for bad, said in (("best", r"neither fixed nor tuned, nor a file"), ("", "is empty"),
                      ({"joy": 1.0}, r"'joy' must be a probability strictly between 0 and 1"),
                      ({"joy": True}, r"'joy' must be a probability"), ({}, "must name labels"),
                      ({"sci": {"fi": 0.3}}, r"a label name with a dot is quoted in TOML \(\"sci\.fi\" = ")):
        with pytest.raises(GateError, match=said):
            read_setting(bad, tmp_path)
    (tmp_path / "broken.json").write_text("{joy: 0.3")
    with pytest.raises(GateError, match=r"broken\.json is not readable JSON"):
        read_setting("broken.json", tmp_path)
    with pytest.raises(GateError, match="thresholds must be one of fixed, tuned"):
        GateConfig(thresholds="best")  # type: ignore[arg-type]


def test_the_table_names_each_label_of_the_model_once_and_fits_its_head() -> None:
    assert per_label({"fear": 0.2, "joy": 0.35, "anger": 0.6}, LABELS).tolist() == [0.35, 0.6, 0.2]
    with pytest.raises(GateError, match=r"no threshold for 'fear'; 'rage' is no label of the model\. Name "
                                        r"each of the model's 3 labels once \(its id2label: 'joy', "):
        per_label({"joy": 0.35, "anger": 0.5, "rage": 0.6}, LABELS)
    softmax = SimpleNamespace(name="sentiment", task=Task.SINGLE_LABEL, label_names=LABELS)
    with pytest.raises(GateError, match="single-label classifier, which decides by argmax: leave thresholds"):
        check_setting({"joy": 0.4, "anger": 0.4, "fear": 0.4}, softmax, labelled=True, one_file=None)
    encoder = SimpleNamespace(name="minilm-embed", task=Task.FEATURE_EXTRACTION, label_names=())
    with pytest.raises(GateError, match="feature-extraction encoder, which makes no decisions"):
        check_setting({"joy": 0.4}, encoder, labelled=True, one_file=None)
    sigmoid = SimpleNamespace(name="m", task=Task.MULTI_LABEL, label_names=LABELS)
    check_setting({"joy": 0.4, "anger": 0.4, "fear": 0.4}, sigmoid, labelled=False, one_file="d.jsonl")
    with pytest.raises(GateError, match=r"tunes on the validation split.*the thresholds your service uses"):
        check_setting("tuned", sigmoid, labelled=True, one_file="d.jsonl")


def test_flips_and_f1_are_judged_at_the_served_thresholds() -> None:
    """A backend whose probabilities move across the thresholds the service decides at changes that
    service's answers: counted as flips there, where at 0.5 it flipped nothing."""
    reference = np.array([[0.40, 0.70, 0.10], [0.30, 0.20, 0.05], [0.36, 0.62, 0.30]] * 20)
    moved = reference.copy()
    moved[:, 0] -= 0.06  # joy 0.40 -> 0.34 and 0.36 -> 0.30: across 0.35, nowhere near 0.5
    gold = (reference >= np.array([0.35, 0.6, 0.25])).astype(np.uint8)
    served = np.array([0.35, 0.6, 0.25])
    common = dict(precision="int8", size_bytes=1, task="multi_label", label_names=LABELS, atol=1e-4)
    at_half = evaluate("b", moved, reference, gold, **common)
    at_served = evaluate("b", moved, reference, gold, thresholds=served, flips_at=served, **common)
    assert at_half.drift.flips == 0 and at_half.drift.threshold == 0.5
    assert at_served.drift.flips == 40 and at_served.drift.threshold == (0.35, 0.6, 0.25)
    assert at_served.reference_metrics["f1"] == 1.0 > at_served.metrics["f1"]


def test_a_session_decides_at_the_configured_thresholds(cache_dir: Path) -> None:
    """The session's thresholds are the table's in the model's label order, flips counted there; a
    table naming a label the model lacks stops the session at its start, naming it."""
    from encoder_gate.runtime.session import GateSession

    names = GateSession(GateConfig(model="tiny", cache_dir=cache_dir)).model.label_names
    table = {n: 0.25 + 0.01 * i for i, n in enumerate(names)}
    session = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, thresholds=table))
    assert session.thresholds.tolist() == list(table.values()) and session.flips_at is session.thresholds
    assert session.dataset is not None  # (its start's checks passed)
    tuned = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, thresholds="fixed"))
    assert tuned.thresholds is None and tuned.flips_at is None
    wrong = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, thresholds={**table, "rage": 0.3}))
    with pytest.raises(GateError, match="'rage' is no label of the model"):
        wrong.dataset  # noqa: B018 - its start


def test_a_pr_that_moves_a_served_threshold_is_said_beside_its_base() -> None:
    """A PR that moves one label's threshold names that label with both values (each side is scored at
    its own); a table against the model card's 0.5 is said in short, as is a move of many labels."""
    from encoder_gate.runtime.base import criteria_changes

    base = GateConfig(thresholds={"joy": 0.3, "anger": 0.5})
    pr = GateConfig(thresholds={"joy": 0.35, "anger": 0.5})
    said = ("the PR changed the thresholds it serves: joy 0.35 (base: 0.3); each side's F1 is scored at "
            "its own")
    assert criteria_changes(base, pr) == [said]
    assert criteria_changes(base, base) == []
    assert criteria_changes(GateConfig(), pr) == [
        "the PR changed the thresholds it serves: a table of 2 labels, 0.35 to 0.5 (base: 0.5 (the model "
        "card's)); each side's F1 is scored at its own"]
    many = GateConfig(thresholds={f"l{i}": 0.9 for i in range(6)})
    assert criteria_changes(GateConfig(thresholds={f"l{i}": 0.5 for i in range(6)}), many) == [
        "the PR changed the thresholds it serves: l0 0.9 (base: 0.5), l1 0.9 (base: 0.5), l2 0.9 (base: "
        "0.5), and 3 more labels; each side's F1 is scored at its own"]


@pytest.mark.slow
def test_the_base_is_scored_at_the_thresholds_it_serves_not_the_prs(
        pytester: pytest.Pytester, accuracy_vs_base: Any, cache_dir: Path, tmp_path: Path) -> None:
    """Base and PR, one model, each serving its own thresholds: a PR that moves every one to 0.999
    serves an F1 of 0 against its base's at 0.05, and fails, naming the thresholds, not the model (walk
    43: the base was scored at the PR's thresholds, 0 against 0, and it passed)."""
    from encoder_gate.runtime.session import GateSession

    names = GateSession(GateConfig(model="tiny", cache_dir=cache_dir)).model.label_names
    table = '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\nlimit = 40\n'

    def served(at: float) -> str:
        return table + "[tool.encoder-gate.thresholds]\n" + "".join(f'"{n}" = {at}\n' for n in names)

    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text(served(0.05))
    pytester.makepyprojecttoml(served(0.999))
    report = tmp_path / "report"
    done = accuracy_vs_base(base, report)
    assert done.ret == pytest.ExitCode.TESTS_FAILED, done.stdout.str()[-3000:]
    entry = json.loads((report / "ab.json").read_text())["accuracy"]["torch"]
    assert entry["pr"] == 0.0 and entry["base"] > 0 and entry["failed_by"] == ["F1 rule"], entry
    # the answers that changed, each side at its own thresholds (the outputs are the same)
    assert entry["outputs"]["drift_max"] == 0 and entry["outputs"]["changed_texts"] > 0, entry
    done.stdout.fnmatch_lines(["*outputs identical to the base's, decisions changed on * of 40 texts at the "
                               "thresholds each serves*"])
    done.stdout.fnmatch_lines(["*the PR's served thresholds lost accuracy against the base's (the model is "
                               "the same: tiny, *",
                               "*the PR changed the thresholds it serves: *0.999 (base: 0.05)*"])
    # --gate-thresholds on the command line: the session's, for both sides, and no change of the PR's
    chosen = accuracy_vs_base(base, report, "--gate-thresholds", "fixed")
    assert chosen.ret == pytest.ExitCode.OK, chosen.stdout.str()[-3000:]
    assert "thresholds it serves" not in chosen.stdout.str()
    (base / "pyproject.toml").write_text(served(0.999))  # the same thresholds: as before, the PR's both
    again = accuracy_vs_base(base, report)
    assert again.ret == pytest.ExitCode.OK, again.stdout.str()[-3000:]


def test_the_verdict_says_where_decisions_were_made_when_not_at_05() -> None:
    from encoder_gate.accuracy.thresholds import judged_at_note
    from test_verdict import accuracy_doc, all_pass, build_verdict, speedups_doc

    assert judged_at_note("fixed") is None
    assert judged_at_note("tuned").endswith("the per-label check are judged there (the flips at 0.5)")
    served = judged_at_note({"joy": 0.35, "anger": 0.6, "fear": 0.5})
    assert served == ("decisions at the threshold per label as configured (`thresholds`): 0.35 to 0.6 over "
                      "3 labels, not 0.5: F1, its error bars, McNemar and the per-label check are judged "
                      "there, and the flips")
    doc = accuracy_doc(all_pass())
    doc["model"]["threshold_note"] = served
    report = build_verdict(doc, speedups_doc())
    assert f"- {served}" in report.markdown and served in report.caveats


def test_init_writes_the_services_thresholds_file_fitted_to_the_models_labels(tmp_path: Path) -> None:
    """`encoder-gate init --thresholds FILE`: the file read and fitted to the model's labels before
    anything is written, stored as the project's path, and said; a file of another model's labels is
    refused with nothing written."""
    from test_init import init, table_of, write_model_dir

    write_model_dir(tmp_path)  # labels negative, positive
    (tmp_path / "served.json").write_text(json.dumps({"negative": 0.3, "positive": 0.6}))
    plan = init(tmp_path, thresholds="served.json")
    assert table_of(tmp_path)["thresholds"] == "served.json"
    assert "thresholds: served.json, 0.3 to 0.6 over 2 labels: F1, the per-label check and the flips are " \
           "judged there" in plan.notes
    assert GateConfig.from_sources(table_of(tmp_path), {}, tmp_path).thresholds == {"negative": 0.3,
                                                                                     "positive": 0.6}
    (tmp_path / "other.json").write_text(json.dumps({"joy": 0.3}))
    with pytest.raises(GateError, match=r"no threshold for 'negative', 'positive'; 'joy' is no label"):
        init(tmp_path / "p2", model=str(tmp_path / "models" / "clf"), thresholds=str(tmp_path / "other.json"))
    assert not (tmp_path / "p2" / "pyproject.toml").exists()


def test_a_retrained_models_base_is_scored_at_thresholds_tuned_on_its_own_model(
        cache_dir: Path, tiny, tmp_path: Path) -> None:
    """Both sides "tuned": the PR's thresholds are tuned on the PR's model, so a base of another model
    is scored at its own, tuned on it; the same model on both sides needs none of its own (review,
    forty-third session)."""
    import shutil

    from safetensors.numpy import load_file, save_file

    from encoder_gate.runtime.base import BaseSide
    from encoder_gate.runtime.session import GateSession

    retrained = tmp_path / "retrained"
    shutil.copytree(tiny.path, retrained)
    weights = load_file(retrained / "model.safetensors")
    bias = max(name for name in weights if name.startswith("classifier") and name.endswith("bias"))
    weights[bias] = weights[bias] - 2.0  # every label's probability lower: other tuned thresholds
    save_file(weights, retrained / "model.safetensors", metadata={"format": "pt"})  # (transformers 4's)
    pr = GateSession(GateConfig(model=str(retrained), cache_dir=cache_dir, thresholds="tuned", limit=40))
    base = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, thresholds="tuned", limit=40))
    side = BaseSide(base, pr, tmp_path)
    assert side.other_thresholds is not None
    assert side.other_thresholds.tolist() == base.thresholds.tolist() != pr.thresholds.tolist()
    same = BaseSide(GateSession(GateConfig(model="tiny", cache_dir=cache_dir, thresholds="tuned")),
                    GateSession(GateConfig(model="tiny", cache_dir=cache_dir, thresholds="tuned")), tmp_path)
    assert same.other_thresholds is None
