"""What `encoder-gate history` refuses or says rather than judges: one shard's results alone, or a
gate that failed before it kept any, are no commit's record; a speed drop before the store knows its
noise, and an accuracy loss in one step, are notes of `history check`, not creeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from encoder_gate.documents import VERDICT_JSON
from encoder_gate.errors import GateError
from encoder_gate.history.store import Commit, other_architecture, record

SCENARIO = (Path(__file__).parent / "data" / "verdicts"
            / "a_new_backend_runs_through_the_gate_the_cache_and_the_verdict")
COMMIT = Commit("a" * 40, "2026-11-25T10:00:00+00:00", None)


def test_one_shards_results_are_not_recorded_as_the_commits_gate(tmp_path: Path):
    """Every shard of a matrix writes .encoder-gate/shard: recorded, one shard's share passed, and the
    page drew the commit passing with the other shard's backends empty (a trial's CI, by hand)."""
    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["shard"] = "1/2"
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    (report / VERDICT_JSON).unlink(missing_ok=True)  # (decided again from the documents as they are now)
    said = r"are shard 1/2's alone, a share of the backends: .*record the merged directory \(`encoder-gate"
    with pytest.raises(GateError, match=said):
        record(tmp_path / "store", report, COMMIT)
    assert not (tmp_path / "store").exists()


def test_a_gate_that_failed_before_it_kept_results_is_said_as_such_not_as_no_results(tmp_path: Path):
    """A merge refused (a shard missing) leaves verdict.json alone: recording said "holds no accuracy.json
    or speedups.json: run `pytest accuracy` ... first", where the tests had run and the merge failed."""
    report = tmp_path / "merged"
    report.mkdir()
    why = ("the shards cannot be merged into one verdict:\n  shard 2/2 is missing (its backends: "
           "onnx-fp16; given: 1/2)")
    (report / VERDICT_JSON).write_text(json.dumps({"passed": False, "backends": [], "failures": [],
                                                   "session_failures": [why], "left_out": []}))
    said = (r"holds no results, only the verdict of a gate that failed before it kept any: the shards cannot "
            r"be merged into one verdict: shard 2/2 is missing \(its backends: onnx-fp16; given: 1/2\); a")
    with pytest.raises(GateError, match=said):
        record(tmp_path / "store", report, COMMIT)


def test_a_speed_drop_before_the_stores_noise_is_known_is_a_note_not_a_creep():
    """Three records of a shared runner, torch-compile at batch 1 1.79 -> 1.72 -> 1.69 (5.5% over two
    steps, no step 5%): `history check` failed main on a README commit, and the next two readings came
    back to 1.71 and 1.72. Until the store holds MIN_STEPS_FOR_NOISE earlier steps of a cell, its drop
    is said, not judged; with them (the same drop after a quiet line) it is a creep."""
    from encoder_gate.history.creep import MIN_STEPS_FOR_NOISE, check
    from test_history import synthetic

    young = [synthetic(i, speedup=s) for i, s in enumerate((1.79, 1.72, 1.69))]
    found, notes = check(young)
    assert found == [], found
    [note] = notes
    assert note.startswith("not judged as creep, its noise not known yet (1 earlier step(s) of it on this "
                           "machine; read from 5): onnx-int8 speedup model/normal/bs8/bucketed: 1.690x"), note
    quiet = [synthetic(i, speedup=1.79) for i in range(MIN_STEPS_FOR_NOISE + 1)]
    steady = [*quiet, *(synthetic(len(quiet) + k, speedup=s) for k, s in enumerate((1.72, 1.69)))]
    [creep] = check(steady)[0]
    assert creep.what == "speedup model/normal/bs8/bucketed" and creep.newest == pytest.approx(1.69)


def test_an_accuracy_loss_in_one_step_is_said_by_the_check_though_it_is_no_creep():
    """A model retrained 0.13 worse on main (a PR gate fails it; a direct push skips that): `history
    check` said "no creep" and nothing of it. Still no creep, and a note names the step."""
    from encoder_gate.history.creep import check
    from test_history import synthetic

    found, notes = check([synthetic(i, f1=f1) for i, f1 in enumerate((0.93, 0.93, 0.80))])
    assert found == []
    assert notes == ["onnx-int8: f1 fell 0.1300 in its last step alone (0.9300 at 0000001aaaaa, 0.8000 at "
                     "0000002aaaaa), beyond the F1 margin 0.01: not creep, which a PR gate against its base "
                     "fails; was it merged without one?"], notes
    assert check([synthetic(i, f1=f1) for i, f1 in enumerate((0.93, 0.925))]) == ([], [])


def test_a_change_of_architecture_is_recorded_marked_on_the_page_and_no_speed_is_compared_across_it(
        tmp_path: Path):
    """A BERT to DistilBERT commit moved every speedup on purpose (a trial's onnx-fp32 6.65x to 5.33x),
    drawn on one line with no marker and compared by `history check`: each record keeps its model type
    (from accuracy.json), the page marks the change and names each commit's model in its table, and
    speed is compared only within one architecture (a record written before the key: the same)."""
    from encoder_gate.history.creep import check
    from encoder_gate.history.page import render
    from test_history import synthetic

    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    path, _ = record(tmp_path / "store", report, COMMIT)
    assert json.loads(path.read_text())["architecture"] == json.loads(
        (report / "accuracy.json").read_text())["model"]["model_type"] == "roberta"

    def of(i: int, architecture: str, speedup: float) -> dict:
        return {**synthetic(i, speedup=speedup), "architecture": architecture}

    # eight quiet commits of a bert at 2.1x, then a distilbert at 2.0x losing 1% a step: on one line a
    # creep of 7.6% with no step of 5%; on its own line 3%, none
    records = [*(of(i, "bert", 2.1) for i in range(8)),
               *(of(8 + k, "distilbert", 2.0 * 0.99 ** k) for k in range(4))]
    found, notes = check(records)
    assert found == [], found
    assert ("onnx-int8: speed compared over the 4 record(s) of this machine, these library versions and this "
            "model architecture, of the 12 that hold its speed") in notes, notes
    assert check([{k: v for k, v in r.items() if k != "architecture"} for r in records])[0]  # (joined: one)
    assert not other_architecture({}, {"architecture": "bert"})  # a record before the key: the same
    page = render(records, tmp_path / "site").read_text()
    assert "Brown dotted lines: the model&#x27;s architecture changed (bert to distilbert at 0000008)" in page
    table = page.split("<h2>Every commit</h2>")[1]
    assert "<th>model</th>" in table and "<code>distilbert</code>" in table and "<code>bert</code>" in table
    assert "architecture changed (never)" in render(records[:8], tmp_path / "one").read_text()


def test_the_page_names_a_split_only_of_a_source_that_has_splits(tmp_path: Path):
    """One jsonl file has no splits: the page's header said "split test" of it."""
    from encoder_gate.history.page import render
    from test_history import synthetic

    def of(i: int, source: str) -> dict:
        record = synthetic(i)
        return {**record, "series": {**record["series"], "dataset": {"source": source, "split": "test",
                                                                     "variant": "normal"}}}

    bundled = render([of(i, "bundled") for i in range(2)], tmp_path / "bundled").read_text()
    assert "(data <code>bundled</code>, split test, variant normal" in bundled
    one_file = render([of(i, "data/eval.jsonl") for i in range(2)], tmp_path / "file").read_text()
    assert "(data <code>data/eval.jsonl</code>, variant normal" in one_file


def test_no_creep_counts_the_records_of_its_own_series_and_says_the_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """After a commit that changed the evaluation data, `history check` said "the first record of its
    series" and then "window 20: 9 record(s) in it", counting the other series' records."""
    from encoder_gate.commands.cli import main
    from test_history import synthetic

    store = tmp_path / "store"
    store.mkdir()
    for i in range(3):
        (store / f"{i:07d}.json").write_text(json.dumps(synthetic(i, model="old")))
    (store / "new.json").write_text(json.dumps(synthetic(3)))
    assert main(["history", "check", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "0000003aaaaa is the first record of its series: nothing to compare with" in out, out
    assert ("no creep at 0000003aaaaa: nothing to compare it with yet (3 of other models or data not "
            "compared)") in out, out
    (store / "newer.json").write_text(json.dumps(synthetic(4)))
    assert main(["history", "check", "--store", str(store)]) == 0
    assert ("no creep at 0000004aaaaa (window 20: 1 earlier record(s) of its series, fewer than it holds; "
            "3 of other models or data not compared)") in capsys.readouterr().out


def test_records_of_accuracy_alone_mark_no_change_of_machine_and_are_not_counted_as_another_machines(
        tmp_path: Path):
    """A trial's page said "the machine or the library versions changed before" three commits, each after
    a record of `pytest accuracy` alone (no speed, no machine), and `history check` said "speed compared
    over the 4 record(s) of this machine ... of 7": the other 3 held no speed at all."""
    from encoder_gate.history.creep import check
    from encoder_gate.history.page import render
    from test_history import synthetic

    def accuracy_alone(i: int) -> dict:
        record = synthetic(i)
        record["backends"]["onnx-int8"]["speedups"] = {}
        return {**record, "machine": None}

    records = [synthetic(0), accuracy_alone(1), synthetic(2), accuracy_alone(3), synthetic(4)]
    assert not [n for n in check(records)[1] if "speed compared over" in n]
    page = render(records, tmp_path / "a").read_text()
    assert "the machine or the library versions changed (never)" in page
    records.append(synthetic(5, machine={"cpu_model": "other"}))
    assert "speed compared over the 1 record(s) of this machine, these library versions and this model " \
           "architecture, of the 4 that hold its speed" in " ".join(check(records)[1])
    assert "changed before 0000005" in render(records, tmp_path / "b").read_text()


def test_a_session_that_stopped_before_its_tests_ran_is_not_recorded_as_the_commits_gate(tmp_path: Path):
    """A `--benchmark-compare` refused as a usage error (a save of another CPU class) ran none of its
    tests; its verdict, of the documents earlier sessions left, failed by that refusal, and `history
    record` stored it: a red column for a healthy commit (a trial's store)."""
    from encoder_gate.decision import STOPPED_EARLY
    from encoder_gate.documents import FINDINGS_FILE, write_document

    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    provenance = json.loads((report / "accuracy.json").read_text())["provenance"]
    stopped = (f"{STOPPED_EARLY} 10 of its 10 tests ran (a usage error, in the session's output): this "
               "verdict does not cover them; run the session to its end")
    write_document(report, FINDINGS_FILE, {"provenance": provenance, "by_document": {}, "waivers": [],
                                           "unwritten": [{"kind": "gate", "reason": stopped}]})
    said = (r"did not run to its end \(the session stopped before 10 of its 10 tests ran .*run `pytest "
            r"accuracy` and `pytest benchmarks` to their end")
    with pytest.raises(GateError, match=said):
        record(tmp_path / "store", report, COMMIT)


def test_a_commit_of_accuracy_alone_is_recorded_once_the_stale_speedups_are_deleted(tmp_path: Path):
    """A stale speedups.json (an earlier model's) refused the record, as it should, but said only "run
    `pytest benchmarks`"; a trial deleted it and got the same refusal, verdict.json still naming the
    deleted file: the refusal says how to record accuracy alone, and a verdict whose left-out document
    is gone is decided again."""
    from encoder_gate.commands.cli import main

    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    model = {**accuracy["provenance"]["model"], "content_hash": "0" * 20}  # an earlier model's
    earlier = {**accuracy["provenance"], "model": model, "written": "2026-11-20T10:00:00+0000"}
    speedups = {"model/normal/bs8/bucketed": {"onnx-fp32": 2.0}}
    (report / "speedups.json").write_text(json.dumps({"reference": "torch", "provenance": earlier,
                                                      "speedups": speedups}))
    main(["verdict", "--report-dir", str(report)])  # verdict.json, as a session leaves it
    assert json.loads((report / VERDICT_JSON).read_text())["left_out"][0].startswith("speedups.json")
    said = (r"speedups.json in this directory left out: .*\(or, to record this commit's accuracy alone, "
            r"delete .*speedups.json first\)")
    with pytest.raises(GateError, match=said):
        record(tmp_path / "store", report, COMMIT)
    (report / "speedups.json").unlink()
    path, _ = record(tmp_path / "store", report, COMMIT)
    assert json.loads(path.read_text())["verdict"]["left_out"] == []


def test_a_record_that_starts_a_new_series_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """60 rows appended to the evaluation set started a new series, and the page drew one commit, with no
    word at record time (a trial): `history record` says what changed, and what the page and the check do."""
    from encoder_gate.history.store import new_series
    from test_history import synthetic

    def of_data(i: int, sha: str) -> dict:
        record = synthetic(i)
        data = {"source": "data/eval.jsonl", "sha256": sha}
        return {**record, "series": {**record["series"], "dataset": data}}

    records = [of_data(0, "aaaa1111bbbb"), of_data(1, "aaaa1111bbbb"), of_data(2, "cccc2222dddd")]
    assert new_series(records, records[1]["commit"]) is None
    assert new_series(records, records[0]["commit"]) is None  # (the first of the store: nothing before it)
    said = new_series(records, records[2]["commit"])
    assert said == ("0000002aaaaa starts a new series (dataset data/eval.jsonl (contents aaaa1111) -> "
                    "data/eval.jsonl (contents cccc2222)): the page draws it from here, and `history check` "
                    "compares it with its own records only (0000001aaaaa and the records before it stay in "
                    "the store)"), said
    # said by the command that records it
    from encoder_gate.commands.cli import main

    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    record(tmp_path / "store", report, COMMIT)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["dataset"]["sha256"] = "e" * 16  # the evaluation data edited
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    assert main(["history", "record", "--store", str(tmp_path / "store"), "--report-dir", str(report),
                 "--commit", "b" * 40, "--commit-time", "2026-11-26T10:00:00+00:00"]) == 0
    assert f"note: {'b' * 12} starts a new series (dataset bundled" in capsys.readouterr().out


def test_an_earlier_commits_ab_json_the_verdict_left_out_does_not_block_this_commits_record(tmp_path: Path):
    """A PR's `--gate-base-ref` session left ab.json; the gate at main then wrote accuracy.json and its
    verdict, which left that ab.json out (another commit's). `history record` held it to the commit
    anyway: "written at commit <the PR's>, not <main's>: run the gate at <main's> first", right after
    that gate (a trial's second project). What the verdict left out is no part of the record."""
    from encoder_gate.commands.cli import main

    report = tmp_path / "report"
    shutil.copytree(SCENARIO, report)
    accuracy = json.loads((report / "accuracy.json").read_text())
    accuracy["provenance"]["commit"] = COMMIT.sha
    (report / "accuracy.json").write_text(json.dumps(accuracy))
    ab = json.loads((SCENARIO.parent / "a_retrained_model_that_lo0-pr" / "ab.json").read_text())
    ab["provenance"] = {**accuracy["provenance"], "commit": "b" * 40, "written": "2026-11-20T10:00:00+0000"}
    (report / "ab.json").write_text(json.dumps(ab))
    main(["verdict", "--report-dir", str(report)])  # verdict.json, as the session leaves it
    assert json.loads((report / VERDICT_JSON).read_text())["left_out"][0].startswith(
        "ab.json in this directory left out: written at commit bbbbbbbbbbbb")
    path, _ = record(tmp_path / "store", report, COMMIT)
    assert json.loads(path.read_text())["commit"] == COMMIT.sha
