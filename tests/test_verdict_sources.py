"""The verdict of documents from other sessions, from hand-made accuracy.json / speedups.json / ab.json:
results of another model, dataset, file, setting, CPU or commit left out, the PR against its base,
verdict.json, the findings a session fails on, warnings and notes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.commands.cli import main
from encoder_gate.decision import Status, decide_documents, failures_from
from encoder_gate.documents import AB_FILE, ACCURACY_FILE, SPEEDUPS_FILE, VERDICT_JSON
from encoder_gate.errors import GateError
from encoder_gate.publish import build_verdict, render_verdict, write_verdict
from encoder_gate.reporting.verdict import render
from test_verdict import BACKENDS, CASE, accuracy_doc, all_pass, prov, row, speedups_doc, table_rows


def test_results_of_cpus_of_two_integer_paths_are_never_joined(tmp_path: Path):
    """accuracy.json from a runner with VNNI and speedups.json from one without (a directory two runners
    wrote into, walk L #1): the verdict of the newest leaves the other out, naming both paths; a
    document of no integer path (an older encoder-gate's, a merged matrix's) is not held to it."""
    acc = accuracy_doc(all_pass())
    acc["provenance"] = {**prov(written="2026-11-23T09:00:00+0000"), "integer_path": "exact"}
    speed = speedups_doc()
    speed["provenance"] = {**speed["provenance"], "integer_path": "saturating"}
    verdict = decide_documents(acc, speed)
    assert ("accuracy.json in this directory left out: computed on a CPU of the exact integer path (x86 with "
            "VNNI or AMX, ARM64), not the saturating one (x86 without VNNI)") in "\n".join(verdict.left_out)
    assert verdict.backend("onnx-int8").scope  # judged on speed alone
    del speed["provenance"]["integer_path"]
    assert not decide_documents(acc, speed).left_out


def test_speed_of_backends_the_configuration_no_longer_names_is_left_out():
    """A project that dropped onnx-int8 from its backends: the speedups.json of the earlier
    configuration showed onnx-int8 as a row of its own, `pass (speed only)` (a helper as a user,
    twenty-second session). Between two sessions of the configuration's backends it is left out,
    naming what is no longer configured; a session given --gate-backends, a shard, or a document of
    an older encoder-gate (no `backends_from`) is no change of the project's, and joins as before."""
    acc = accuracy_doc({name: r for name, r in all_pass().items() if name != "onnx-int8"},
                       configured=["torch", "torch-compile", "onnx-fp32"])
    acc["provenance"]["settings"]["backends"] = ["torch", "torch-compile", "onnx-fp32"]
    speed = speedups_doc()  # written later: the anchor is the accuracy session that just ran
    for doc in (acc, speed):
        doc["provenance"]["backends_from"] = "configuration"
    verdict = decide_documents(acc, speed, current=acc["provenance"])
    assert ("speedups.json in this directory left out: its session gated onnx-int8, which the project's "
            "configuration no longer names (it names torch, torch-compile, onnx-fp32)"
            ) in "\n".join(verdict.left_out)
    assert not any(b.name == "onnx-int8" for b in verdict.backends)
    for given in ({"backends_from": "command line"}, {"shard": "1/2"}, {"backends_from": None}):
        speed["provenance"] = {**speed["provenance"], **given}
        assert not decide_documents(acc, speed, current=acc["provenance"]).left_out, given
        speed["provenance"] = {**speed["provenance"], "backends_from": "configuration", "shard": None}
    # a backend added since: the earlier speedups.json joins, its rows a share of the new configuration's
    acc["provenance"]["settings"]["backends"] = [*BACKENDS, "onnx-fp16"]
    assert not decide_documents(acc, speed, current=acc["provenance"]).left_out


def test_verdict_json_says_which_cpus_each_int8_row_holds_for():
    """verdict.json, read by machines (history, a bot), carries each row's integer path and the CPUs
    the INT8 rows were judged for, not only verdict.md's notes (walk L #5); read back alike."""
    from encoder_gate.decision import Verdict

    rows = all_pass()
    rows["onnx-int8"] = {**rows["onnx-int8"], "integer_path": "exact"}
    rows["onnx-int8~saturating"] = {**row(), "integer_path": "saturating"}
    acc = accuracy_doc(rows)
    acc["integer_paths"] = {"this_cpu": "exact", "how": {"path": "exact"},
                            "targets": ["x86-avx2", "x86-vnni"], "target_paths": ["exact", "saturating"]}
    doc = decide_documents(acc, None).to_json()
    assert doc["integer_paths"] == {"this_cpu": "exact", "targets": ["x86-avx2", "x86-vnni"],
                                    "target_paths": ["exact", "saturating"]}
    paths = {b["name"]: b["integer_path"] for b in doc["backends"]}
    assert paths["onnx-int8"] == "exact" and paths["onnx-int8~saturating"] == "saturating"
    assert paths["onnx-fp32"] is None
    again = Verdict.from_json(doc, {})
    assert again.backend("onnx-int8~saturating").integer_path == "saturating"
    assert doc["selections"] == {}
    acc["provenance"] = {**acc["provenance"], "selection": "--lf"}  # a rerun of the last failures
    assert decide_documents(acc, None).to_json()["selections"] == {"accuracy.json": "--lf"}
    assert again.integer_paths["this_cpu"] == "exact"


def test_results_of_two_models_are_never_joined_and_the_verdict_names_the_mismatch(tmp_path: Path):
    """accuracy.json of `default` and speedups.json of `tiny` in one directory: the verdict of the
    newest (or of the session that just ran) leaves the other out, naming both models and the fix."""
    acc = accuracy_doc(all_pass())
    acc["provenance"] = prov(model="default", content_hash="d3fau1t0", written="2026-11-23T09:00:00+0000")
    (tmp_path / "accuracy.json").write_text(json.dumps(acc))
    (tmp_path / "speedups.json").write_text(json.dumps(speedups_doc()))  # tiny, written later
    text = write_verdict(tmp_path)
    assert "accuracy.json in this directory left out: model default (d3fau1t0), not tiny (abc)" in text
    assert "run `pytest accuracy` for this one" in text
    assert "Model `tiny`; no accuracy results of it" in text and "on 40 examples" not in text
    assert table_rows(text)["onnx-int8"][0] == "pass (speed only)"
    assert all(cells[1] == "" for cells in table_rows(text).values())  # no F1 of the other model

    # the accuracy session that just ran (default) is the anchor: now the speedups are left out
    current = acc["provenance"]
    text = write_verdict(tmp_path, current)
    assert "speedups.json in this directory left out: model tiny (abc), not default (d3fau1t0)" in text
    assert "run `pytest benchmarks` for this one" in text
    assert all(cells[3] == "" for cells in table_rows(text).values())  # no speedup of the other model


def test_results_of_one_dataset_file_read_two_ways_are_never_joined_and_the_note_says_how_they_differ():
    """The same file and split, but other contents or another text column: the two results do not
    belong together, and the note says what differs rather than naming the same file twice."""
    def data(sha: str, text: str) -> dict[str, Any]:
        return {"source": "data/eval.csv", "sha256": sha, "split": "test", "variant": "normal", "limit": None,
                "columns": {"text": text, "labels": "sentiment"}}

    acc = accuracy_doc(all_pass())
    acc["provenance"] = {**prov(written="2026-11-23T09:00:00+0000"),
                         "dataset": data("1111aaaa2222", "review")}
    current = {**prov(), "dataset": data("1111aaaa2222", "reviews")}
    text = render_verdict(acc, {**speedups_doc(), "provenance": current}, None, current)
    # which value is whose: the left-out results' first (a trial could not tell which hash was the file's)
    assert ("accuracy.json in this directory left out: dataset data/eval.csv: columns text "
            "'review', labels 'sentiment' in accuracy.json, columns text 'reviews', labels 'sentiment' in "
            "this session's") in text
    current = {**prov(), "dataset": data("3333bbbb4444", "review")}
    assert ("dataset data/eval.csv: contents 1111aaaa in accuracy.json, contents 3333bbbb in this session's"
            ) in render_verdict(acc, {**speedups_doc(), "provenance": current}, None, current)


def test_results_computed_from_another_file_of_one_backend_are_never_joined():
    """`onnx:m.onnx` changed between `pytest accuracy` and `pytest benchmarks`: the speed session's
    verdict leaves the accuracy of the old file out, naming both files; a backend only one of them
    built, or a block from before artifacts were recorded, does not keep them apart."""
    name = "onnx:m.onnx"
    acc = accuracy_doc(all_pass())
    acc["provenance"] = {**prov(written="2026-11-23T09:00:00+0000"),
                         "artifacts": {"torch": "model:abc", name: "onnx:1111aaaa2222"}}
    current = {**prov(), "artifacts": {"torch": "model:abc", name: "onnx:3333bbbb4444",
                                       "onnx-fp16": "onnx:5555"}}
    text = render_verdict(acc, speedups_doc(), None, current)
    assert ("accuracy.json in this directory left out: onnx:m.onnx computed from onnx:1111aaaa, not "
            "onnx:3333bbbb") in text
    assert "run `pytest accuracy` for this one" in text
    acc["provenance"]["artifacts"][name] = "onnx:3333bbbb4444"  # the same file: joined
    assert "left out" not in render_verdict(acc, speedups_doc(), None, current)
    del acc["provenance"]["artifacts"]
    assert "left out" not in render_verdict(acc, speedups_doc(), None, current)


def test_accuracy_judged_under_other_tolerances_is_left_out_of_a_later_session_naming_them():
    """A tolerance edited between `pytest accuracy` and `pytest benchmarks` (walk R #1): accuracy.json's
    checks were decided by the bound of then, so the benchmark session's verdict leaves it out,
    naming both values, instead of showing a pass the new bound would fail; a setting accuracy is
    not judged by (threads), or an older block without settings, keeps it in."""
    acc = accuracy_doc(all_pass())
    acc["provenance"] = {**prov(written="2026-11-23T09:00:00+0000")}
    acc["provenance"]["settings"] = {**acc["provenance"]["settings"], "tolerances": {}}
    current = prov()
    current["settings"] = {**current["settings"], "tolerances": {"onnx-int8": {"drift_max": 0.0001}}}
    text = render_verdict(acc, speedups_doc(), None, current)
    assert ("accuracy.json in this directory left out: judged with tolerances {}, not {'onnx-int8': "
            "{'drift_max': 0.0001}} (this session's settings)") in text
    assert "run `pytest accuracy` for this one" in text
    current["settings"] = {**current["settings"], "tolerances": {}, "threads": 2}
    kept = render_verdict(acc, speedups_doc(), None, current)
    assert "accuracy.json in this directory left out" not in kept
    del acc["provenance"]["settings"]
    current["settings"]["tolerances"] = {"onnx-int8": {"drift_max": 0.0001}}
    older = render_verdict(acc, speedups_doc(), None, current)
    assert "accuracy.json in this directory left out" not in older


def test_speedups_measured_at_another_thread_count_are_left_out_naming_both():
    """Walk AD: a benchmark session refused at --gate-threads 2 showed, in its rows, the speedups an
    earlier session measured at 1 thread; they are other figures. Accuracy is not measured at a
    thread count: it stays."""
    sp = speedups_doc()
    current = prov()
    current["settings"] = {**current["settings"], "threads": 2}
    text = render_verdict(accuracy_doc(all_pass()), sp, None, current)
    assert ("speedups.json in this directory left out: judged with threads 1, not 2 (this session's "
            "settings)") in text and "run `pytest benchmarks` for this one" in text
    assert "accuracy.json in this directory left out" not in text
    assert "left out" not in render_verdict(accuracy_doc(all_pass()), sp, None, prov())
    # a session that timed nothing (`pytest accuracy`) measured at no thread count: the speedups stay
    # (review: an accuracy-only session at threads 0 left out the benchmarks' speedups at 1)
    assert "left out" not in render_verdict(accuracy_doc(all_pass()), sp, None, {**current, "timed": False})
    assert "left out" not in render_verdict(accuracy_doc(all_pass()), {**sp, "provenance": {
        **sp["provenance"], "timed": False}}, None, current)
    # another device: no result joins, timed or not (a CPU's accuracy beside a GPU's speedups)
    gpu = {**prov(), "timed": False, "settings": {**prov()["settings"], "device": "cuda"}}
    acc = accuracy_doc(all_pass())
    acc["provenance"] = gpu
    text = render_verdict(acc, sp, None, gpu)
    assert "speedups.json in this directory left out: judged with device 'cpu', not 'cuda'" in text


def test_one_model_and_dataset_read_by_two_paths_join_by_their_contents():
    """A session started in a subdirectory names the project's files by other paths (an absolute
    one, `../data/eval.jsonl`): the same bytes are one model and one dataset; other bytes are not."""
    acc, sp = accuracy_doc(all_pass()), speedups_doc()
    acc["provenance"] = prov(model="models/clf", content_hash="abc", source="data/eval.jsonl")
    acc["provenance"]["dataset"]["sha256"] = "d00d"
    sp["provenance"] = prov(model="/repo/models/clf", content_hash="abc", source="/repo/data/eval.jsonl",
                            written="2026-11-23T10:05:00+0000")
    acc["provenance"]["model"]["dir"] = "/elsewhere/models/clf"  # another checkout of the same bytes
    sp["provenance"]["model"]["dir"] = "/repo/models/clf"
    sp["provenance"]["dataset"]["sha256"] = "d00d"
    assert "left out" not in render_verdict(acc, sp, None, sp["provenance"])
    sp["provenance"]["dataset"]["sha256"] = "beef"
    assert ("accuracy.json in this directory left out: dataset data/eval.jsonl, not "
            "/repo/data/eval.jsonl") in render_verdict(acc, sp, None, sp["provenance"])
    sp["provenance"]["dataset"]["sha256"] = "d00d"
    sp["provenance"]["model"]["content_hash"] = "abd"
    assert "left out: model models/clf (abc), not /repo/models/clf (abd)" in render_verdict(
        acc, sp, None, sp["provenance"])


def test_a_retrained_model_of_one_name_is_said_once_not_by_its_backends_hashes():
    """Walk AG: "model model (d7428a92), not model (a868c3e4); onnx-fp16 computed from onnx:735260f0,
    not ...": one model directory retrained reads as its other contents, its backends unsaid."""
    acc, sp = accuracy_doc(all_pass()), speedups_doc()
    acc["provenance"] = {**prov(model="model", content_hash="d7428a92aa"),
                         "artifacts": {"onnx-fp16": "onnx:735260f0aa"}}
    sp["provenance"] = {**prov(model="model", content_hash="a868c3e4bb", written="2026-11-23T10:05:00+0000"),
                        "artifacts": {"onnx-fp16": "onnx:99990000bb"}}
    text = render_verdict(acc, sp, None, sp["provenance"])
    # whose each hash is, by name (a trial read "d7428a92 in these results" as its own session's model)
    said = ("accuracy.json in this directory left out: model 'model' of other contents (d7428a92 in "
            "accuracy.json, a868c3e4 in this session's),")
    assert said in text and "computed from" not in text


def test_another_dataset_is_left_out_and_a_file_without_provenance_never_joins():
    """Same model, other dataset: left out by name; a file from before provenance is left out too,
    and with nothing of this model left there is no verdict."""
    sp = speedups_doc()
    sp["provenance"] = prov(source="data/eval.jsonl", written="2026-11-23T11:00:00+0000")
    text = render_verdict(accuracy_doc(all_pass()), sp, None, prov())
    assert "speedups.json in this directory left out: dataset data/eval.jsonl, not bundled" \
        in text
    old = speedups_doc()
    del old["provenance"]
    text = render_verdict(accuracy_doc(all_pass()), old)
    assert "speedups.json in this directory left out: no provenance (written by an older encoder-gate)" \
        in text
    with pytest.raises(GateError, match="no results of this model and dataset to judge"):
        render_verdict(None, old)


def test_the_reference_row_shows_its_own_f1_without_bounds_even_when_it_fails_against_the_base():
    """torch judged against itself has no bounds to show; a retrained model that lost accuracy fails
    its row (vs base), and the cell still reads the plain F1."""
    ab = {"provenance": prov(), "settings": {"min_effect": 0.05}, "speed": [],
          "accuracy": {"torch": {"passed": False, "failure": "the PR's model (m) lost accuracy",
                                 "metric": "f1", "pr": 0.5, "base": 0.7, "delta": -0.2,
                                 "delta_ci": [-0.25, -0.15]}}}
    text = render_verdict(accuracy_doc(all_pass()), None, ab)
    torch_row = table_rows(text)["torch"]
    assert torch_row[:3] == ["**FAIL** (vs base)", "0.7100", ""]
    assert torch_row[4].startswith("-0.2000 [-0.2500, -0.1500] **FAIL**")
    assert "Speed is judged against the base" in text and "No benchmark results" not in text


def test_the_verdict_says_how_far_each_backends_outputs_moved_from_the_bases():
    """A retrained model whose F1 kept the base's passes, and the verdict says its outputs moved, and
    how far, beside an unchanged artifact's identical ones: a reviewer sees the model changed."""
    def entry(outputs: dict[str, Any]) -> dict[str, Any]:
        return {"passed": True, "failure": None, "metric": "f1", "pr": 0.7, "base": 0.7, "delta": 0.0,
                "delta_ci": [-0.01, 0.01], "outputs": outputs}

    ab = {"provenance": prov(), "settings": {"min_effect": 0.05}, "speed": [],
          "accuracy": {"torch": entry({"drift_max": 0.0712, "drift_mean": 0.0213, "changed_texts": 3,
                                       "texts": 300}),
                       "onnx-fp32": entry({"drift_max": 0.0, "drift_mean": 0.0, "changed_texts": 0,
                                           "texts": 300})}}
    text = render_verdict(accuracy_doc(all_pass()), None, ab)
    assert ("- On the same texts (said, not judged: the F1 rule decides) torch: outputs moved from the "
            "base's by up to 0.0712 (mean 0.0213), decisions changed on 3 of 300 texts; onnx-fp32: outputs "
            "identical to the base's.") in text
    assert table_rows(text)["torch"][0] == "reference"  # its F1 kept the base's: no failure


def test_a_reference_that_decides_the_same_for_every_text_passes_with_a_warning():
    """An untrained head keeps its F1 against itself: the verdict passes what it checked, and warns."""
    rows = all_pass()
    rows["torch"]["one_decision"] = "it decides the same for every one of the 40 texts (no label): ..."
    text = render_verdict(accuracy_doc(rows), None)
    assert text.startswith("## encoder-gate: PASS")
    assert "Warnings:\n- torch: it decides the same for every one of the 40 texts (no label)" in text


def speed_cell(backend: str, status: str, fails: bool) -> dict[str, Any]:
    """One speed cell of ab.json, in the shape reporting.ab.speed_entry writes."""
    return {"backend": backend, "case": CASE, "status": status, "fails": fails, "ratio": 1.04,
            "ratio_ci": [0.97, 1.12], "clock": "thread", "describe": "PR/base 1.040x [0.970, 1.120]"}


@pytest.mark.parametrize(("policy_fails", "status", "word", "passed"), [
    (False, Status.INCONCLUSIVE, "inconclusive (speed vs base)", True),
    (True, Status.FAIL, "**FAIL** (vs base)", False),
])
def test_an_undecided_speed_cell_is_inconclusive_under_warn_and_fails_under_fail(
        policy_fails: bool, status: Status, word: str, passed: bool):
    """A cell vs base that could not decide makes its backend inconclusive (the session passes) when
    the policy warns, and fails it, with the cell as its reason, when the policy fails."""
    ab = {"provenance": prov(), "settings": {"min_effect": 0.05}, "accuracy": {},
          "speed": [speed_cell("onnx-int8", "inconclusive", policy_fails)]}
    verdict = decide_documents(accuracy_doc(all_pass()), None, ab)
    assert verdict.backend("onnx-int8").status is status and verdict.passed is passed
    assert verdict.backend("onnx-fp32").status is Status.PASS
    assert table_rows(render(verdict).markdown)["onnx-int8"][0] == word
    warned = f"- onnx-int8 {CASE} vs base: inconclusive, PR/base 1.040x"
    assert warned in render(verdict).markdown  # under Warnings too
    if policy_fails:
        [reason] = verdict.backend("onnx-int8").reasons
        assert reason.check == "vs base" and "speed vs base" in reason.text and "thread clock" in reason.text


def test_verdict_json_holds_each_backends_status_and_reasons_with_their_bounds(tmp_path: Path):
    """verdict.json, beside verdict.md: a schema version, the session's status, per backend a status
    and each failing check's name, observed value and bound; the reference and not-checked kinds."""
    rows = all_pass()
    rows["onnx-int8"] = row(f1_ok=False)
    del rows["torch-compile"]
    (tmp_path / "accuracy.json").write_text(json.dumps(accuracy_doc(
        rows, not_evaluated={"torch-compile": "inductor needs a C++ compiler"})))
    write_verdict(tmp_path)
    doc = json.loads((tmp_path / VERDICT_JSON).read_text())
    assert doc["schema"] == 1 and doc["passed"] is False
    status = {b["name"]: b["status"] for b in doc["backends"]}
    assert status == {"torch": "reference", "torch-compile": "not checked", "onnx-fp32": "pass",
                      "onnx-int8": "fail"}
    [int8] = [b for b in doc["backends"] if b["name"] == "onnx-int8"]
    assert int8["failed"] == ["f1_keep"]
    assert int8["reasons"] == [{"check": "f1_keep", "text": "onnx-int8: f1_keep = 0.5, bound at least 0.7",
                                "observed": 0.5, "bound": 0.7, "direction": "at least"}]
    assert doc["sources"] == {"accuracy.json": "2026-11-23T10:00:00+0000"}
    assert doc["missing"] == ["speedups.json"]


def test_a_failed_speed_gate_owned_by_no_backend_still_fails_the_session():
    """A compare regression whose test names no known backend is listed and fails the verdict as a
    session failure, though no row carries it."""
    line = "test_other[bs8] (0001_base): Field 'min' has failed PercentageRegressionCheck: 30 > 25"
    verdict = decide_documents(accuracy_doc(all_pass()), speedups_doc(regressions=[(None, line)]))
    assert not verdict.passed and verdict.session_failures
    assert all(b.status in (Status.PASS, Status.REFERENCE) for b in verdict.backends)
    assert any(line in r.text for r in verdict.failures)


def test_a_session_fails_on_the_documents_it_wrote_and_not_on_an_earlier_sessions():
    """The exit status's findings (decision.failures_from): a failed accuracy check counts for the
    session that wrote accuracy.json, a failed speed rule (and the speed gate as a whole) for the
    one that wrote speedups.json, a cell slower than the base for the one that wrote ab.json; a
    later session that wrote only speedups.json is not failed by the accuracy it did not judge."""
    rows = all_pass()
    rows["onnx-int8"] = row(f1_ok=False)
    slow = f"onnx-fp32 {CASE}: speedup over torch eager 0.90x, baseline 1.30x (-30.8%; allowed -15%)"
    ab = {"provenance": prov(), "settings": {"min_effect": 0.05}, "accuracy": {},
          "speed": [speed_cell("torch-compile", "fail", True)]}
    verdict = decide_documents(accuracy_doc(rows), speedups_doc(failures=[('onnx-fp32', slow)]), ab)
    assert not verdict.passed
    assert failures_from(verdict, {ACCURACY_FILE}) == ["onnx-int8: f1_keep"]
    speed_only = failures_from(verdict, {SPEEDUPS_FILE})
    assert speed_only == ["onnx-fp32: speed", "speed: the speedups fail their rule against 0001_base.json"]
    assert failures_from(verdict, {AB_FILE}) == ["torch-compile: vs base"]
    assert failures_from(verdict, set()) == []
    passing = decide_documents(accuracy_doc(rows), speedups_doc())
    assert failures_from(passing, {SPEEDUPS_FILE}) == []  # the earlier accuracy failure is not its own


def test_speed_timed_at_more_threads_than_cores_is_a_warning_and_a_caveat():
    """Walk AL: `threads = 8` on a 2-core runner was said only in pytest's header, which `-q` hides;
    the verdict passed its speedups without a word. speedups.json's fingerprint says it."""
    doc = speedups_doc()
    assert build_verdict(accuracy_doc(all_pass()), doc).caveats == build_verdict(
        accuracy_doc(all_pass()), {**doc, "fingerprint": {"threads": 2, "usable_cores": 2}}).caveats
    doc["fingerprint"] = {"threads": 8, "logical_cores": 64, "usable_cores": 2}
    report = build_verdict(accuracy_doc(all_pass()), doc)
    said = ("speedups.json: threads = 8 on 2 cores: the threads of each timed round take turns on the "
            "cores, so the speed figures measure that as much as the backends; set threads (or "
            "--gate-threads) to at most 2 on this runner")
    assert said in report.caveats and f"- {said}" in report.markdown.split("Warnings:")[1]
    doc["fingerprint"] = "not an object"  # (review AP: an AttributeError)
    assert not any("take turns" in c for c in build_verdict(accuracy_doc(all_pass()), doc).caveats)
    doc["fingerprints"] = [{"threads": 8, "usable_cores": 8}, {"threads": 8, "usable_cores": 2}]  # a merge's
    assert said in build_verdict(accuracy_doc(all_pass()), doc).caveats


def test_a_set_too_small_to_see_the_margin_against_the_base_is_said_once():
    """A retrained PR's -0.0100 [-0.0217, +0.0000] passed with no word that 300 texts cannot see a
    one-point drop; against the torch reference the same change said so (walk F)."""
    small = "The evaluation set (300 examples) is too small to see a drop of 0.0100 in macro F1"
    entry = {"passed": True, "failure": None, "metric": "f1", "pr": 0.7, "base": 0.71, "underpowered": small}
    ab = {"provenance": prov(), "settings": {"min_effect": 0.05}, "speed": [],
          "accuracy": {"torch": entry, "onnx-fp32": entry}}
    text = render(decide_documents(accuracy_doc(all_pass()), None, ab)).markdown
    assert text.count(f"- against the base (torch, onnx-fp32): {small}") == 1
    rows = all_pass()  # against the torch reference, the rows' one warning is said once too
    for name in ("onnx-fp32", "onnx-int8"):
        rows[name]["underpowered"] = small
    text = render(decide_documents(accuracy_doc(rows), None)).markdown
    assert text.count(small) == 1 and f"- onnx-fp32, onnx-int8: {small}" in text
    # a row that failed: "a pass here does not rule out a drop" is not said of it (it was, on FAILs)
    rows["onnx-int8"] = {**row(f1_ok=False), "underpowered": small}
    text = render(decide_documents(accuracy_doc(rows), None)).markdown
    assert text.startswith("## encoder-gate: FAIL") and f"- onnx-fp32: {small}" in text
    assert "onnx-int8: The evaluation set" not in text and "onnx-fp32, onnx-int8:" not in text
    failed = {"torch": entry, "onnx-fp32": {**entry, "passed": False, "failure": "the PR lost accuracy"}}
    text = render(decide_documents(accuracy_doc(all_pass()), None, {**ab, "accuracy": failed})).markdown
    assert f"- against the base (torch): {small}" in text
    # a backend that fails on its speed alone keeps it: its accuracy passed, on too few texts
    slow = {**ab, "speed": [speed_cell("onnx-fp32", "fail", True)]}
    verdict = decide_documents(accuracy_doc(all_pass()), None, slow)
    assert verdict.backend("onnx-fp32").status is Status.FAIL
    assert f"- against the base (torch, onnx-fp32): {small}" in render(verdict).markdown


def test_a_pr_against_its_base_joins_the_verdict_of_its_own_commit_only():
    """A main-branch session showed the vs-base columns of another branch's PR, and rows of backends
    it never built as `pass (vs base only)` (walk H): ab.json is of its commit."""
    here, there = {**prov(), "commit": "a" * 40}, {**prov(), "commit": "b" * 40}
    doc = {**accuracy_doc(all_pass()), "provenance": here}
    ab = {"provenance": there, "settings": {"min_effect": 0.05}, "accuracy": {},
          "speed": [speed_cell("onnx-int8", "pass", False)]}
    verdict = decide_documents(doc, None, ab, here)
    assert AB_FILE not in verdict.judged
    assert any("ab.json in this directory left out: written at commit bbbbbbbbbbbb, not aaaaaaaaaaaa" in n
               for n in verdict.left_out)
    assert AB_FILE in decide_documents(doc, None, {**ab, "provenance": here}, here).judged
    # another PR's ONNX file differs with its commit: the commit is the reason (it said "onnx-int8
    # computed from onnx:ce313fd5, not onnx:dbe708e6", a hunt's main branch after a PR's session)
    here["artifacts"] = {"onnx-int8": "onnx:" + "a" * 16}
    there["artifacts"] = {"onnx-int8": "onnx:" + "b" * 16}
    notes = decide_documents({**doc, "provenance": here}, None, {**ab, "provenance": there}, here).left_out
    assert any("ab.json in this directory left out: written at commit bbbbbbbbbbbb, not aaaaaaaaaaaa (its "
               "results are of that commit's PR)," in n for n in notes), notes


def test_an_unevaluated_backend_fails_the_session_that_wrote_its_accuracy():
    rows = all_pass()
    del rows["onnx-int8"]
    missing = {"onnx-int8": "onnxruntime is missing"}
    verdict = decide_documents(accuracy_doc(rows, not_evaluated=missing), None)
    assert failures_from(verdict, {ACCURACY_FILE}) == ["onnx-int8: not evaluated"]


def test_the_speed_of_a_file_of_a_static_length_says_its_texts_were_cut():
    """A file exported for 16 tokens is timed, as torch beside it, on texts cut to 16 tokens: its
    speedup is of those (walk S: 4.42x beside the full-length onnx-fp32's 3.4x read as faster),
    so its cell and its measured line say so, as its F1 cell does."""
    speed = speedups_doc()
    speed["stats"] = {CASE: {"onnx-int8": {"speedup": 2.5, "ci": [2.4, 2.6], "rounds": 12, "texts": 64,
                                           "clock": "thread", "max_tokens": 16},
                             "onnx-fp32": {"speedup": 1.25, "ci": [1.2, 1.3], "rounds": 12, "texts": 64,
                                           "clock": "thread"}}}
    text = render_verdict(accuracy_doc(all_pass()), speed)
    cells = table_rows(text)
    assert cells["onnx-int8"][3].endswith("(texts cut to 16 tokens, torch's too)")
    assert "cut to" not in cells["onnx-fp32"][3]
    assert f"onnx-int8 {CASE}: 2.50x [2.40, 2.60], 12 rounds over 64 texts cut to 16 tokens" in text


def test_a_wall_clock_cell_timed_beside_other_processes_says_so():
    """A cell at two threads (the wall clock) while other processes kept 1.4 cores busy: its line
    says so, since its CI does not cover that load (walk P); on the thread clock it does not."""
    speed = speedups_doc()
    speed["stats"] = {CASE: {"onnx-int8": {"speedup": 42.3, "ci": [41.5, 46.0], "rounds": 40, "texts": 16,
                                           "clock": "wall", "others_cores": 1.4},
                             "onnx-fp32": {"speedup": 1.25, "ci": [1.2, 1.3], "rounds": 12, "texts": 64,
                                           "clock": "thread", "others_cores": 1.4}}}
    text = render_verdict(accuracy_doc(all_pass()), speed)
    line = next(x for x in text.splitlines() if x.startswith(f"- onnx-int8 {CASE}"))
    assert "other processes kept 1.4 cores busy meanwhile" in line
    assert "cores busy" not in next(x for x in text.splitlines() if x.startswith(f"- onnx-fp32 {CASE}"))


def test_the_glance_line_keeps_a_reasons_parenthesis_whole():
    """`-x`: the finding reads "... 46 tests ran (pytest: stopping after 1 failures): ...", and the
    line under the title cut it at its first colon, "(pytest" (walk T B)."""
    from encoder_gate.decision.types import Finding, Verdict
    from encoder_gate.reporting.verdict import failed_at_a_glance

    stop = ("the session stopped before 20 of its 46 tests ran (pytest: stopping after 1 failures): this "
            "verdict does not cover them; run the session to its end")
    verdict = Verdict(passed=False, backends=(), failures=(), session_failures=(), left_out=(), sources={},
                      missing=(), findings=(Finding("gate", stop),))
    glance = failed_at_a_glance(verdict)
    assert glance is not None
    assert "the session stopped before 20 of its 46 tests ran (pytest: stopping after 1 failures)" in glance
    assert "this verdict does not cover" not in glance


def test_an_argument_a_command_does_not_take_gets_that_commands_usage(capsys: pytest.CaptureFixture[str]):
    """`encoder-gate verdict empty` printed the top-level usage (walk Y): the command's own says
    what it takes instead (--report-dir)."""
    with pytest.raises(SystemExit) as stopped:
        main(["verdict", "empty"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "usage: encoder-gate verdict [-h] [--report-dir DIR]" in err
    assert "unrecognized arguments: empty" in err


def test_the_twin_rows_are_explained_only_where_one_is():
    """Walk AG: the INT8 note explained "a row `NAME~PATH`" under a table that had none."""
    from encoder_gate.reporting.integer_paths import integer_path_notes

    info = {"this_cpu": "exact", "targets": ["x86-avx2", "x86-vnni"], "target_paths": ["exact", "saturating"]}
    exact = {"integer_path": "exact", "can_saturate": False}
    plain = {"integer_paths": info, "backends": {"onnx-int8": exact}}
    assert not any("NAME~PATH" in line for line in integer_path_notes(plain))
    twin = {"integer_paths": info, "backends": {
        "onnx-int8": {"integer_path": "exact", "can_saturate": True},
        "onnx-int8~saturating": {"integer_path": "saturating", "can_saturate": True,
                                 "computed_by": "rewrite"}}}
    assert "A row `NAME~PATH` is the same file" in integer_path_notes(twin)[0]


def test_accuracy_and_speed_of_two_library_stacks_joined_in_one_verdict_are_said():
    """`pytest accuracy`, an upgrade of onnxruntime, `pytest benchmarks`: the verdict joined a row's
    accuracy of one stack with its speed of the other, PASS, and named no version."""
    doc, speed = accuracy_doc(all_pass()), speedups_doc()
    doc["versions"] = {"python": "3.11", "torch": "2.13.0", "onnxruntime": "1.32.0"}
    speed["versions"] = {"torch": "2.13.0", "onnxruntime": "1.21.0", "optimum": "not installed"}
    text = render_verdict(doc, speed)
    assert ("- accuracy.json and speedups.json were computed on other library versions (onnxruntime 1.32.0 "
            "for accuracy, 1.21.0 for speed): each row joins its accuracy on one with its speed on the "
            "other; run `pytest accuracy benchmarks` in one session to judge one stack") in text
    merged = {"shards": [{"shard": "1/2"}, {"shard": "2/2"}]}  # each row of its own shard's runner
    assert "other library versions" not in render_verdict({**doc, **merged}, {**speed, **merged})
    speed["versions"]["onnxruntime"] = "1.32.0"
    assert "other library versions" not in render_verdict(doc, speed)


def test_cli_verdict_fails_for_results_of_another_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]):
    """A PR's commit whose session stopped on its configuration (an unknown key: a usage error, no
    document written): `encoder-gate verdict` printed the last commit's PASS and exited 0."""
    import subprocess

    from encoder_gate.cache import hash_files
    from encoder_gate.models.spec import model_files
    from encoder_gate.plugin.findings_file import record_findings

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "judged")
    judged = git("rev-parse", "HEAD")
    report, model = tmp_path / ".encoder-gate", tmp_path / "model"
    report.mkdir()
    model.mkdir()
    (model / "config.json").write_text("{}")
    doc = accuracy_doc(all_pass())
    doc["provenance"] = {**prov(), "commit": judged}
    # a CI run's report, downloaded into a checkout: its model directory is the runner's, not here
    elsewhere = {**doc["provenance"], "model": {**doc["provenance"]["model"], "dir": "/home/runner/work/m"}}
    (report / "accuracy.json").write_text(json.dumps({**doc, "provenance": elsewhere}))
    record_findings(report, elsewhere, {"accuracy.json"}, [])
    git("commit", "-q", "--allow-empty", "-m", "a later commit, the report downloaded")
    monkeypatch.chdir(tmp_path)
    assert main(["verdict"]) == 0  # not held to this checkout's commit
    git("reset", "-q", "--hard", judged)
    (model / "model.safetensors").write_bytes(b"weights")
    computed = {"dir": str(model), "content_hash": hash_files(model, model_files(model))[:20]}
    doc["provenance"]["model"] = {**doc["provenance"]["model"], **computed}  # computed here
    (report / "accuracy.json").write_text(json.dumps(doc))
    record_findings(report, doc["provenance"], {"accuracy.json"}, [])
    assert main(["verdict"]) == 0
    git("commit", "-q", "--allow-empty", "-m", "bogus-key = 3")
    now = git("rev-parse", "HEAD")
    assert main(["verdict"]) == 1
    out = capsys.readouterr().out
    assert out.count("## encoder-gate: PASS") == 3  # the stored verdict, as it was
    assert out.rstrip().endswith(
        "encoder-gate verdict: FAIL for the files here now: the results were written at commit "
        f"{judged[:12]}, and {now[:12]} is checked out here now. Run the gate again (pytest accuracy, "
        "pytest benchmarks) to judge them")



def test_a_rare_label_that_lost_every_hit_against_the_base_is_said_by_name():
    """ab.json's `rare_labels_lost` of a passing backend: one warning line, with the backends it holds
    for, in the verdict (and ab's terminal lines)."""
    from encoder_gate.reporting.ab import summary_lines

    said = "1 label too rare to judge (fewer than 30 gold positives) found none of its gold texts, where ..."
    entry = {"passed": True, "failure": None, "metric": "f1", "pr": 0.46, "base": 0.46, "delta": 0.0007,
             "delta_ci": [-0.001, 0.002], "rare_labels_lost": said}
    ab = {"provenance": prov(), "settings": {"min_effect": 0.05}, "speed": [],
          "accuracy": {"torch": entry, "onnx-fp32": {**entry, "rare_labels_lost": None}}}
    text = render(decide_documents(accuracy_doc(all_pass()), None, ab)).markdown
    assert text.startswith("## encoder-gate: PASS") and f"- against the base (torch): {said}" in text
    assert (f"against the base (torch): {said}", False) in summary_lines(ab)
