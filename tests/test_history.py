"""The history store across commits (encoder_gate.history): records from a report directory, and the
creep check: a slow slide that every single step passed is found; a step, noise, another model's
line and an unchanged series are not. No model: documents the end-to-end tests wrote
(`data/verdicts/`) and synthetic records."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.commands.cli import main
from encoder_gate.errors import GateError
from encoder_gate.history.creep import check, noise_threshold, pr_trend
from encoder_gate.history.store import Commit, build_record, git_commit, load_store, record, record_path

SCENARIO = (Path(__file__).parent / "data" / "verdicts"
            / "a_new_backend_runs_through_the_gate_the_cache_and_the_verdict")
MACHINE = {"cpu_model": "x", "versions": {"torch": "2.13.0"}}


def test_a_record_holds_each_backends_figures_and_the_verdict(tmp_path: Path):
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    path, note = record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", "b" * 40))
    assert note is None and path == record_path(tmp_path / "store", "a" * 40)
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1 and doc["commit"] == "a" * 40 and doc["parent"] == "b" * 40
    assert doc["series"]["model"] == "tiny" and doc["series"]["dataset"]["source"] == "bundled"
    accuracy = json.loads((report / "accuracy.json").read_text())
    for name, row in accuracy["backends"].items():
        entry = doc["backends"][name]
        assert entry["metric"] == "f1" and entry["value"] == row["f1"] and entry["ci"] == row.get("f1_ci")
        assert entry["delta_ci"] == row["f1_delta_ci"] and entry["margin"] == row["f1_margin"]
        assert set(entry["per_label"]) == {lab["label"] for lab in row["per_label"]}
        assert entry["drift"]["max"] == row["drift_max"]
    assert {e["status"] for e in doc["backends"].values()} <= {"pass", "fail", "reference"}
    assert isinstance(doc["verdict"]["passed"], bool)
    again, note = record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", None))
    assert again == path and note is not None and "replaced" in note


def test_recording_needs_results_and_a_commit(tmp_path: Path):
    with pytest.raises(GateError, match=r"holds no accuracy\.json or speedups\.json"):
        record(tmp_path / "store", tmp_path, Commit("a" * 40, "", None))
    (tmp_path / "afile").write_text("x")  # both said as "holds no accuracy.json" (walk Y)
    with pytest.raises(GateError, match=r"afile is a file, not a report directory"):
        record(tmp_path / "store", tmp_path / "afile", Commit("a" * 40, "", None))
    with pytest.raises(GateError, match=r"nope is missing, not a report directory"):
        record(tmp_path / "store", tmp_path / "nope", Commit("a" * 40, "", None))
    with pytest.raises(GateError, match="has no commit HEAD"):
        git_commit(tmp_path)


@pytest.mark.parametrize("sha", ["../evil", "a/b c", "main", "abc"])
def test_a_commit_that_is_no_hash_is_refused_before_it_names_a_file(tmp_path: Path, sha: str):
    """A record's file is named by its commit: `--commit ../evil` was written as store/evil.json while
    the line said store/../evil.json, and `x/abc` and `y/abc` overwrote each other."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    with pytest.raises(GateError, match=rf"--commit must be a commit's hash .*got '{re.escape(sha)}'"):
        record(tmp_path / "store", report, Commit(sha, "2026-11-25T10:00:00+00:00", None))
    with pytest.raises(GateError, match=r"--parent must be a commit's hash"):
        record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", sha))
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.json"))


def test_the_commit_comes_from_git(tmp_path: Path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "one")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "two")
    commit = git_commit(tmp_path)
    assert len(commit.sha) == 40 and commit.parent is not None and len(commit.parent) == 40
    assert commit.time[:2] == "20"


def synthetic(i: int, *, f1: float = 0.70, joy: float = 0.80, speedup: float = 2.0, model: str = "m",
              machine: dict[str, Any] | None = None, path: str = "exact") -> dict[str, Any]:
    """A record as store.build_record writes it, for commit number i."""
    return {"schema": 1, "commit": f"{i:07d}" + "a" * 33, "time": f"2026-11-{1 + i:02d}T10:00:00+00:00",
            "recorded": f"2026-11-{1 + i:02d}T10:05:00+0000", "parent": f"{i - 1:07d}" + "a" * 33,
            "series": {"model": model, "dataset": {"source": "bundled"}},
            "machine": MACHINE if machine is None else machine,
            "backends": {"onnx-int8": {"metric": "f1", "value": f1, "ci": [f1 - 0.02, f1 + 0.02],
                                       "margin": 0.01, "min_support": 30,
                                       "delta": f1 - 0.705, "delta_ci": [f1 - 0.715, f1 - 0.695],
                                       "per_label": {"joy": {"f1": joy, "support": 50},
                                                     "grief": {"f1": joy - 0.3, "support": 3}},
                                       "speedups": {"model/normal/bs8/bucketed": {"speedup": speedup}},
                                       "integer_path": path}},
            "verdict": {"passed": True}}


def noisy(i: int) -> float:
    """About +-1.5% of same-run speedup noise, deterministic."""
    return [0.0, 0.012, -0.008, 0.015, -0.013, 0.004, -0.002, 0.009, -0.011, 0.006, -0.005, 0.01][i % 12]


def test_an_unchanged_noisy_series_reports_nothing():
    records = [synthetic(i, speedup=2.0 * (1 + noisy(i)), f1=0.70 + noisy(i) / 10) for i in range(12)]
    found, notes = check(records)
    assert found == [] and notes == []


def test_a_one_percent_slowdown_per_commit_over_six_commits_is_creep():
    """Each step loses 1% (every PR gate, at a 5% minimum slowdown, passes it); six of them are 5.9%."""
    records = [synthetic(i, speedup=2.0 * (1 + noisy(i))) for i in range(8)]
    records += [synthetic(8 + k, speedup=2.0 * 0.99 ** (k + 1)) for k in range(6)]
    found, _ = check(records)
    [creep] = found
    assert creep.backend == "onnx-int8" and creep.what == "speedup model/normal/bs8/bucketed"
    assert creep.unit == "relative" and creep.newest == pytest.approx(2.0 * 0.99 ** 6)
    assert creep.best == pytest.approx(max(r["backends"]["onnx-int8"]["speedups"]["model/normal/bs8/bucketed"]
                                          ["speedup"] for r in records[:-1]))
    assert f"down {1 - creep.newest / creep.best:.1%}" in creep.describe()
    assert "largest single step" in creep.describe()


def test_one_label_losing_a_little_per_commit_is_creep_and_a_rare_label_is_not_judged():
    records = [synthetic(i, joy=0.80 - 0.003 * i) for i in range(7)]  # 0.018 in 6 steps of 0.003
    found, _ = check(records)
    [creep] = found
    assert creep.what == "label joy" and creep.best == pytest.approx(0.80)
    assert creep.threshold == 0.01 and creep.largest_step == pytest.approx(0.003)
    # a label the check did not judge (its 50 rows copies of fewer than 30 distinct texts) is not
    # watched for creep either; the record says so (`judged`, from its row's verdict)
    for kept in records:
        kept["backends"]["onnx-int8"]["per_label"]["joy"]["judged"] = False
    assert check(records)[0] == []
    from encoder_gate.history.store import _accuracy_entry

    row = {"f1": 0.7, "per_label": [{"label": "joy", "f1": 0.8, "support": 33, "verdict": "low-support"},
                                    {"label": "love", "f1": 0.6, "support": 40, "verdict": "pass"}]}
    assert {k: v["judged"] for k, v in _accuracy_entry(row, "f1")["per_label"].items()} == {
        "joy": False, "love": True}


def test_a_rerankers_mrr_losing_a_little_per_commit_is_creep():
    """A reranker's MRR@10 (accuracy.ranking) is on its backend's line too: 0.004 a commit, each step
    inside the margin a PR's gate allows, 0.024 over six; recorded from accuracy.json's row."""
    from encoder_gate.history.store import _accuracy_entry

    records = [synthetic(i) for i in range(7)]
    for i, kept in enumerate(records):
        kept["backends"]["onnx-int8"]["mrr"] = 0.80 - 0.004 * i
    [creep] = check(records)[0]
    assert creep.what == "MRR@10" and creep.best == pytest.approx(0.80) and creep.unit == "points"
    assert _accuracy_entry({"f1": 0.7, "mrr": 0.8}, "f1")["mrr"] == 0.8
    assert "mrr" not in _accuracy_entry({"f1": 0.7}, "f1")  # a classifier's record: as before
    from encoder_gate.history.page import _backend_figure

    metric_ax = _backend_figure(records, "onnx-int8", [], [creep]).axes[0]  # the page: beside F1, ringed
    assert metric_ax.get_title() == "onnx-int8: f1 and MRR@10 (95% CI)"
    assert "MRR@10" in [t.get_text() for t in metric_ax.get_legend().get_texts()]
    assert [line for line in metric_ax.get_lines() if line.get_markeredgecolor() == "tab:red"]
    # on graded relevance its NDCG@10 too: recorded, on the same line, drawn beside MRR@10
    for i, kept in enumerate(records):
        kept["backends"]["onnx-int8"].update(mrr=0.80, ndcg=0.70 - 0.004 * i)
    [creep] = check(records)[0]
    assert creep.what == "NDCG@10" and creep.best == pytest.approx(0.70)
    assert _accuracy_entry({"f1": 0.7, "mrr": 0.8, "ndcg": 0.6}, "f1")["ndcg"] == 0.6
    metric_ax = _backend_figure(records, "onnx-int8", [], [creep]).axes[0]
    assert metric_ax.get_title() == "onnx-int8: f1 and MRR@10 and NDCG@10 (95% CI)"
    assert "NDCG@10" in [t.get_text() for t in metric_ax.get_legend().get_texts()]


def test_a_single_step_is_not_creep_it_is_what_the_pr_gate_judges():
    records = [synthetic(i) for i in range(6)] + [synthetic(6, f1=0.67, speedup=1.8)]
    assert check(records)[0] == []


def test_another_models_line_and_another_machine_are_not_compared():
    records = [synthetic(i, speedup=2.0 * 0.99 ** i, model="other") for i in range(8)]
    records.append(synthetic(8, speedup=2.0 * 0.99 ** 8))
    found, notes = check(records)
    assert found == [] and "first record of its series" in notes[0]
    machines = [synthetic(i, speedup=2.0 * 0.99 ** i, machine={"cpu_model": "y"}) for i in range(8)]
    found, notes = check([*machines, synthetic(8, speedup=2.0 * 0.99 ** 8)])
    assert found == [] and "speed compared over the 1 record(s) of this machine" in notes[0]


def test_an_int8_line_on_another_integer_path_is_not_compared():
    """Records whose INT8 row was computed on the saturating path (a runner without VNNI) are not on
    the line of one computed exactly: a label creeping across the two is no creep, and a note says so."""
    records = [synthetic(i, joy=0.80 - 0.003 * i, path="saturating") for i in range(6)]
    records.append(synthetic(6, joy=0.80 - 0.018))
    found, notes = check(records)
    assert found == [] and "computed on the exact integer path, of 7" in notes[0]
    assert check([synthetic(i, joy=0.80 - 0.003 * i) for i in range(7)])[0]  # one path: the creep is seen


def test_an_int8_line_follows_its_path_across_runners_of_both_kinds(tmp_path: Path):
    """A matrix of runners with VNNI and without records the exact result of an INT8 file under its
    plain name on the first and under its twin `~exact` on the second (walk L #6, #11): the line of
    the newest's plain row holds every record's exact result, so a creep across both kinds is seen,
    and the page draws each backend from the row that holds its path."""
    from encoder_gate.history.page import render

    def both_kinds(i: int) -> dict[str, Any]:
        r = synthetic(i, joy=0.80 - 0.003 * i)
        exact = r["backends"]["onnx-int8"]
        saturating = {**exact, "integer_path": "saturating", "speedups": {},
                      "per_label": {"joy": {"f1": 0.6, "support": 50}}}
        r["backends"] = ({"onnx-int8": saturating, "onnx-int8~exact": exact} if i % 2 else  # an AVX2 runner
                         {"onnx-int8": exact, "onnx-int8~saturating": saturating})
        return r

    records = [both_kinds(i) for i in range(7)]
    found, notes = check(records)
    assert [c.what for c in found] == ["label joy"] and not any("integer path" in n for n in notes)
    page = render(records, tmp_path / "site").read_text()
    assert "onnx-int8~saturating" in page
    assert (tmp_path / "site" / "history_onnx-int8_saturating.png").is_file()


def test_a_backend_added_later_gets_no_integer_path_note():
    """A backend of no INT8 product that older records lack is compared over the records that hold
    it, and no note speaks of an integer path."""
    records = [synthetic(i) for i in range(3)]
    for r in records:
        r["backends"]["onnx-int8"]["integer_path"] = None
    records[-1]["backends"]["onnx-fp32"] = {**records[-1]["backends"]["onnx-int8"]}
    _, notes = check(records)
    assert not any("integer path" in n for n in notes)


def test_the_noise_threshold_is_q3_plus_three_iqr_once_there_are_enough_steps():
    assert noise_threshold([0.01, 0.02]) is None
    assert noise_threshold([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx(0.04 + 3 * 0.02)


def test_a_newest_record_that_shares_no_figure_with_its_line_is_no_pass(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]):
    """A commit's session at other batch sizes, with no accuracy figure, replaced the record in which
    the check had just found creep, and the check said "no creep", having compared nothing (a user's
    walk, 2026-11-29). It says it compared nothing, and exits 1."""
    from encoder_gate.history.creep import NOTHING_COMPARED

    store = tmp_path / "store"
    store.mkdir()
    for i in range(6):
        (store / f"{i:07d}.json").write_text(json.dumps(synthetic(i)))
    other = synthetic(6)
    entry = other["backends"]["onnx-int8"]
    entry.update(value=None, per_label={}, speedups={"model/normal/bs100/bucketed": {"speedup": 2.0}})
    (store / f"{6:07d}.json").write_text(json.dumps(other))
    found, notes = check(load_store(store))
    said = f"{NOTHING_COMPARED}: 0000006aaaaa shares no figure with the 6 earlier record(s) of its series"
    assert found == [] and [n for n in notes if n.startswith(said)]
    assert main(["history", "check", "--store", str(store)]) == 1
    out = capsys.readouterr().out
    assert "the check compared nothing" in out and "no creep at" not in out


def test_the_command_records_then_checks_and_exits_one_on_creep(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]):
    store = tmp_path / "store"
    store.mkdir()
    for i in range(7):
        (store / f"{i:07d}.json").write_text(json.dumps(synthetic(i, joy=0.80 - 0.003 * i)))
    assert main(["history", "check", "--store", str(store)]) == 1
    assert "label joy" in capsys.readouterr().out
    assert main(["history", "check", "--store", str(store), "--window", "2"]) == 0
    assert "no creep at 0000006aaaaa (window 2: 2 earlier record(s) of its series)" in capsys.readouterr().out
    young = tmp_path / "young"
    young.mkdir()
    for i in range(2):
        (young / f"{i:07d}.json").write_text(json.dumps(synthetic(i)))
    assert main(["history", "check", "--store", str(young)]) == 0
    assert "(window 20: 1 earlier record(s) of its series, fewer than it holds)" in capsys.readouterr().out
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    assert main(["history", "record", "--store", str(tmp_path / "other"), "--report-dir", str(report),
                 "--commit", "c" * 40, "--commit-time", "2026-11-25T11:00:00+00:00"]) == 0
    assert [r["commit"] for r in load_store(tmp_path / "other")] == ["c" * 40]
    (store / "junk.json").write_text("{")
    assert main(["history", "check", "--store", str(store)]) == 1
    assert "is not readable JSON" in capsys.readouterr().err


def test_each_action_takes_and_lists_only_its_own_options(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["history", "record", "--help"])
    listed = capsys.readouterr().out
    assert "--commit-time" in listed and "--window" not in listed and "--out" not in listed
    with pytest.raises(SystemExit) as exited:  # an option of another action is a usage error
        main(["history", "render", "--store", "s", "--max-waived", "3"])
    assert exited.value.code == 2 and "unrecognized arguments: --max-waived" in capsys.readouterr().err


def test_a_store_that_is_a_file_or_a_commit_time_that_is_no_time_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    assert main(["history", "record", "--store", str(tmp_path / "img.png"), "--report-dir", str(report),
                 "--commit", "a" * 40, "--commit-time", "2026-11-25T10:00:00+00:00"]) == 1
    assert "the history store (--store) " in capsys.readouterr().err
    assert main(["history", "record", "--store", str(tmp_path / "s"), "--report-dir", str(report),
                 "--commit", "a" * 40, "--commit-time", "notatime"]) == 1  # it was ignored, silently
    assert "--commit-time 'notatime' is not an ISO 8601 time" in capsys.readouterr().err


def test_the_store_is_ordered_by_the_instant_of_each_commit_whatever_its_offset(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """git's %cI keeps each committer's UTC offset: 12:00+05:00 is 07:00Z, before 10:00Z, though its
    text sorts after; the store sorted the text and judged the wrong commit as the newest."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    record(tmp_path / "store", report, Commit("b" * 40, "2026-11-25T10:00:00+00:00", None))
    record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T12:00:00+05:00", None))
    assert [r["commit"][0] for r in load_store(tmp_path / "store")] == ["a", "b"]
    for wrong in ("5", "0", "-0.05"):  # a percentage, or a threshold that makes every step a creep
        assert main(["history", "check", "--store", str(tmp_path / "store"), "--min-slowdown", wrong]) == 1
        assert "--min-slowdown is a fraction in (0, 1)" in capsys.readouterr().err


def test_results_written_at_another_commit_are_not_recorded_as_this_ones(tmp_path: Path):
    """A session that failed before writing left the last branch's results: recorded under this
    commit, the history held another commit's PASS (walk F)."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["commit"] = "b" * 40
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    with pytest.raises(GateError, match=r"written at commit bbbbbbbbbbbb, not aaaaaaaaaaaa: run the gate at"):
        record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", None))
    record(tmp_path / "store", report, Commit("b" * 40, "2026-11-25T10:00:00+00:00", None))


def test_the_results_of_a_selection_of_the_tests_are_not_recorded_as_the_commits_gate(tmp_path: Path):
    """`pytest accuracy -k onnx-fp32`, then `history record`: the record held a passing commit, and the
    page drew it so, without a word of the backends and checks it never ran (walk R #4)."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["selection"] = "-k onnx-fp32"
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    said = r"are of a selection of the gate's tests \(accuracy\.json: -k onnx-fp32\): a commit's record holds"
    said += r".* without what narrowed them \(named above: -k, .*--gate-batch-sizes or --gate-model"
    with pytest.raises(GateError, match=said):
        record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", None))
    assert not (tmp_path / "store").exists()


def test_results_left_out_of_the_verdict_are_not_recorded_as_the_commits_gate(tmp_path: Path):
    """accuracy.json judged under another F1 rule than the later `pytest benchmarks` session: the
    verdict left accuracy out and passed on speed, and the record held a passing commit with no
    accuracy (walk T C). A record refuses it, quoting why accuracy.json was left out."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["settings"]["f1_rule"] = "regression"
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    later = {**accuracy["provenance"], "written": "2026-11-25T08:00:00+0000",
             "settings": {**accuracy["provenance"]["settings"], "f1_rule": "point"}}
    (report / "speedups.json").write_text(json.dumps({"schema": 1, "reference": "torch", "provenance": later,
                                                      "speedups": {}}))
    said = r"are not all of one gate: accuracy\.json in this directory left out: judged with f1-rule"
    with pytest.raises(GateError, match=said):
        record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", None))
    # a PR's trend line reads what its verdict joined, as the verdict did (walk AJ: refused, "then record")
    assert main(["history", "trend", "--store", str(tmp_path / "none"), "--report-dir", str(report)]) == 0


def test_a_prs_trend_line_says_whether_it_would_complete_a_creep():
    """The PR comment's line: the PR's results against the default branch's records (not recorded);
    a PR that takes the fifth 1% step of a slide is told, one that holds the line is not, a new
    model's line has nothing to compare with, and a published page is linked."""
    history = [synthetic(i, speedup=2.0 * (1 + noisy(i))) for i in range(8)]
    history += [synthetic(8 + k, speedup=2.0 * 0.99 ** (k + 1)) for k in range(5)]
    crept = pr_trend(history, synthetic(13, speedup=2.0 * 0.99 ** 6), url="https://o.github.io/r/")
    assert crept.startswith("History: **with this PR, 1 metric(s) crept across the last 13 default-branch")
    assert "onnx-int8 speedup model/normal/bs8/bucketed" in crept
    assert crept.endswith("([the history page](https://o.github.io/r/)).")
    held = pr_trend(history[:8], synthetic(8, speedup=2.0))
    assert held == "History: no creep across the last 8 default-branch commit(s) with this PR."
    assert "no earlier record of this model" in pr_trend(history, synthetic(13, model="retrained-elsewhere"))
    # a PR gated against its base has no speedup over torch eager: the line says it compared accuracy
    # alone, not "no creep" as if speed had been looked at (walk W)
    untimed = synthetic(8, speedup=2.0)
    untimed["backends"] = {n: {**b, "speedups": {}} for n, b in untimed["backends"].items()}
    assert pr_trend(history[:8], untimed) == (
        "History: no creep across the last 8 default-branch commit(s) with this PR (accuracy only: this PR "
        "measured no speedup over torch eager, so speed creep is not checked).")


def test_a_prs_trend_reads_no_figures_another_commit_wrote(tmp_path: Path):
    """The PR's accuracy beside main's speedups.json (restored with the report directory): the verdict says
    whose each is, and the trend read main's speedups as the PR's (the forty-eighth session's upgrade
    trial). Its record leaves out what another commit than the PR's wrote, and its line says so."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["commit"] = "a" * 40
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    mains = {**accuracy["provenance"], "commit": "b" * 40, "written": "2026-11-25T08:00:00+0000"}
    (report / "speedups.json").write_text(json.dumps({"schema": 1, "reference": "torch", "provenance": mains,
                                                      "speedups": {"model/normal/bs8/bucketed":
                                                                   {"torch-nudged": 1.5}}}))
    pr = Commit("a" * 40, "", None)
    current = build_record(report, pr, whole=False)
    assert current["other_commits"] == {"speedups.json": "b" * 40}
    assert not any(b["speedups"] for b in current["backends"].values()) and current["backends"]["torch"]
    line = pr_trend([{**current, "commit": "c" * 40}], current)
    assert line == ("History: no creep across the last 1 default-branch commit(s) with this PR (not this "
                    "PR's commit, so not read: speedups.json was written at bbbbbbbbbbbb).")
    mains["commit"] = "a" * 40  # the same commit: read
    (report / "speedups.json").write_text(json.dumps({"schema": 1, "reference": "torch", "provenance": mains,
                                                      "speedups": {"model/normal/bs8/bucketed":
                                                                   {"torch-nudged": 1.5}}}))
    current = build_record(report, pr, whole=False)
    assert "other_commits" not in current and current["backends"]["torch-nudged"]["speedups"]
    with pytest.raises(GateError, match=r"written at commit aaaaaaaaaaaa, not cccccccccccc"):
        build_record(report, Commit("c" * 40, "", None))  # a record to keep still refuses it


def test_the_trend_command_reads_the_report_and_never_fails_on_a_creep(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]):
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    assert main(["history", "trend", "--store", str(tmp_path / "none"), "--report-dir", str(report)]) == 0
    assert "no earlier record of this model and data" in capsys.readouterr().out
    store = tmp_path / "store"
    assert main(["history", "record", "--store", str(store), "--report-dir", str(report),
                 "--commit", "c" * 40, "--commit-time", "2026-11-25T11:00:00+00:00"]) == 0
    capsys.readouterr()
    assert main(["history", "trend", "--store", str(store), "--report-dir", str(report), "--url", ""]) == 0
    assert capsys.readouterr().out.strip() == (
        "History: no creep across the last 1 default-branch commit(s) with this PR (accuracy only: this PR "
        "measured no speedup over torch eager, so speed creep is not checked).")

def test_a_negative_max_waived_is_refused(tmp_path: Path):
    with pytest.raises(SystemExit, match="--max-waived must be 0 or more"):
        main(["history", "check", "--store", str(tmp_path), "--max-waived", "-1"])


def test_commits_of_one_time_are_ordered_by_their_parents_not_by_when_recorded(tmp_path: Path):
    """Six commits of one time (a rebase, a scripted series), the root recorded last: `history check`
    judged the root as the newest and said "no creep" over a 6% fall."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    chain = ["f", "e", "d", "c", "b", "a"]  # f is the root, a the newest
    for sha in reversed(chain):  # recorded newest first
        parent = chain[chain.index(sha) - 1] * 40 if sha != "f" else None
        record(tmp_path / "store", report, Commit(sha * 40, "2026-11-28T12:00:00+00:00", parent))
    assert [r["commit"][0] for r in load_store(tmp_path / "store")] == chain


def test_a_record_of_another_series_at_the_same_commit_is_refused_not_replaced(tmp_path: Path):
    """A monorepo gating two models recorded both at each push: the second replaced the first, whose
    history was lost without a word."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", None))
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["model"]["name"] = "other-model"
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    with pytest.raises(GateError, match=r"aaaaaaaaaaaa is recorded in .* for another series \(model tiny, "
                                        r"dataset bundled\), not this run's \(model other-model"):
        record(tmp_path / "store", report, Commit("a" * 40, "2026-11-25T10:00:00+00:00", None))
    assert [r["series"]["model"] for r in load_store(tmp_path / "store")] == ["tiny"]


def test_a_rerankers_relevant_grade_is_part_of_its_series_and_nothing_else_moves():
    """Another `relevant-grade` reads other gold flags from the same file: another series. Unset, the
    series is what it was before the setting existed, so earlier records stay on their line."""
    from encoder_gate.history.store import series_of

    data = {"source": "dev.tsv", "sha256": "ab", "split": "test", "variant": "normal", "limit": 0}
    provenance = {"model": {"name": "reranker"}, "dataset": {**data, "columns": {"text": "query"}}}
    assert series_of(provenance) == {"model": "reranker", "dataset": data}
    graded = [{**provenance, "dataset": {**data, "columns": {"relevant_grade": g}}} for g in (1, 2)]
    assert series_of(graded[0])["dataset"]["relevant_grade"] == 1
    assert series_of(graded[0]) != series_of(graded[1]) != series_of(provenance)


def test_a_check_of_an_empty_store_checks_nothing_and_says_so(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]):
    """`history check` of an empty store (a --store path one directory off) said "no creep at nothing"
    and exited 0."""
    (tmp_path / "store").mkdir()
    assert main(["history", "check", "--store", str(tmp_path / "store")]) != 0
    assert "holds no records: nothing to check; record a commit first" in capsys.readouterr().err
