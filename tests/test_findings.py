"""A red session never posts PASS: every failed test (the gate's and a team's own), collection error
and gate finding is a finding (findings.json) that the verdict reads like the results documents,
one session or a merged matrix of shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoder_gate.commands.cli import main
from encoder_gate.decision import Finding, decide_documents
from encoder_gate.documents import ACCURACY_FILE, FINDINGS_FILE, SPEEDUPS_FILE, read_document, write_document
from encoder_gate.models.spec import ModelSpec
from encoder_gate.plugin.findings_file import findings_lock, record_findings

PROVENANCE = {"model": {"name": "tiny", "content_hash": "x"}, "dataset": {"source": "bundled"},
              "written": "2026-11-26T00:00:00+0000"}
ACCURACY = {"provenance": PROVENANCE, "configured_backends": ["torch"],  # the reference alone: judged, passes
            "backends": {"torch": {"checks": {}, "verdict": "pass"}}}
SPEEDUPS = {"provenance": PROVENANCE, "speedups": {}}
TEAM_TEST = '''
from encoder_gate.suite.checks import *  # noqa: F403


def test_team_floor(backend_evaluation):
    """The team's own floor, beside the shipped checks: an F1 the tiny model cannot reach."""
    assert backend_evaluation.metrics["f1"] > 0.99, f"{backend_evaluation.name}: below the team's floor"
'''
ONE_BACKEND_FAILS = '''
def test_team_check(backend):
    assert backend.name != "onnx-fp32", "the team's check of onnx-fp32 failed"
'''


def test_a_finding_fails_the_verdict_and_a_later_session_keeps_it_while_its_document_stays(tmp_path: Path):
    """A session's findings sit under the documents it wrote: a later green session that writes
    another document keeps them (its verdict joins both documents), one that rewrites the same
    document replaces them; a session that wrote nothing keeps its findings until one writes."""
    red = Finding("test", "AssertionError: below the floor", "accuracy/test_team.py::test_floor[onnx-int8]",
                  "onnx-int8", "call")
    record_findings(tmp_path, PROVENANCE, {ACCURACY_FILE}, [red])
    record_findings(tmp_path, PROVENANCE, {SPEEDUPS_FILE}, [])
    findings = read_document(tmp_path, FINDINGS_FILE)
    verdict = decide_documents(ACCURACY, SPEEDUPS, None, PROVENANCE, findings)
    assert not verdict.passed and verdict.findings == (red,) and verdict.outside_the_checks == (red,)
    assert json.loads(json.dumps(verdict.to_json()))["findings"][0]["nodeid"] == red.nodeid
    alone = decide_documents(None, SPEEDUPS, None, PROVENANCE, findings)  # accuracy.json not joined,
    assert not alone.passed and alone.failures[0].check == "nothing judged"  # and no speedup in speedups.json
    record_findings(tmp_path, PROVENANCE, {ACCURACY_FILE}, [])
    later = read_document(tmp_path, FINDINGS_FILE)
    assert decide_documents(ACCURACY, SPEEDUPS, None, PROVENANCE, later).passed
    record_findings(tmp_path, PROVENANCE, set(), [Finding("gate", "nothing was checked")])
    assert not decide_documents(None, None, None, PROVENANCE, read_document(tmp_path, FINDINGS_FILE)).passed


def test_two_sessions_side_by_side_never_write_over_each_others_findings(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    """Each read-modify-write of findings.json holds the user's findings lock: a session ending
    beside another (CI's `pytest accuracy` beside its `pytest benchmarks`) waits while the other
    writes, then adds its findings to the other's instead of writing over them."""
    import os
    import subprocess
    import sys
    import tempfile
    import time

    # a temporary directory of its own: the lock is held for seconds here, and every session of this
    # user (the other xdist worker's) would wait on the shared one meanwhile
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    red = Finding("test", "AssertionError: below the floor", "accuracy/test_team.py::test_floor[onnx-int8]",
                  "onnx-int8", "call")
    other = ("import sys; from pathlib import Path; "
             "from encoder_gate.plugin.findings_file import record_findings; "
             f"record_findings(Path(sys.argv[1]), {PROVENANCE!r}, {{{SPEEDUPS_FILE!r}}}, [])")
    with findings_lock():
        beside = subprocess.Popen([sys.executable, "-c", other, str(tmp_path)],
                                  env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
        time.sleep(3)  # its imports, then the lock it waits on
        assert beside.poll() is None and not (tmp_path / FINDINGS_FILE).exists()
        # this session's own write, made while it holds the lock (as record_findings does)
        write_document(tmp_path, FINDINGS_FILE, {"provenance": PROVENANCE,
                                                 "by_document": {ACCURACY_FILE: [red.to_json()]}})
    assert beside.wait(timeout=60) == 0
    by_document = (read_document(tmp_path, FINDINGS_FILE) or {})["by_document"]
    assert by_document == {ACCURACY_FILE: [red.to_json()], SPEEDUPS_FILE: []}


def test_a_lock_file_that_cannot_be_opened_is_gone_around_not_a_failed_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another user's lock file, or anything in its place that cannot be opened: the session writes
    its findings as it did before the lock, and does not fail or hang."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    report = tmp_path / "report"
    report.mkdir()
    with findings_lock():
        pass
    (lock,) = (tmp_path / "tmp").glob("encoder-gate-findings*.lock")
    lock.unlink()
    lock.mkdir()  # cannot be opened as a file, by root either
    record_findings(report, PROVENANCE, {ACCURACY_FILE}, [])
    assert (read_document(report, FINDINGS_FILE) or {})["by_document"] == {ACCURACY_FILE: []}


def test_report_directories_share_one_lock_file_and_leave_no_other_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One lock file for all of a user's report directories: a lock file a directory, as before,
    left one behind in the temporary directory for every report directory ever written (763 in
    /tmp after a day of self-test runs)."""
    import tempfile

    from encoder_gate.plugin.findings_file import findings_lock_path

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        record_findings(tmp_path / name, PROVENANCE, {ACCURACY_FILE}, [])
        assert (read_document(tmp_path / name, FINDINGS_FILE) or {})["by_document"] == {ACCURACY_FILE: []}
    assert list((tmp_path / "tmp").iterdir()) == [findings_lock_path()]


def test_a_session_still_running_fails_the_verdict_and_another_sessions_end_keeps_its_marker(tmp_path: Path):
    """Two sessions on one report directory: the end of one (record_findings) takes out its own
    running marker and those it supersedes (a process of this host that is gone, a pid another
    process took since, a marker of another host whose session never ended), but not one whose
    process still runs here, which fails the verdict."""
    import socket
    import subprocess
    import sys
    import time

    from encoder_gate.documents import write_document

    here = socket.gethostname()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(1.1)  # its marker is written after it began, as a session's is
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        other = {"command": "pytest benchmarks", "started": now, "pid": alive.pid, "host": here}
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()  # a process of this host that has ended
        running = {str(alive.pid): other,
                   gone: {"command": "pytest accuracy", "started": now, "pid": int(gone), "host": here},
                   "77": {"command": "pytest accuracy", "started": now, "pid": 77, "host": "ci-runner-7"},
                   "1": {"command": "pytest", "started": "2020-01-01T00:00:00+0000", "pid": 1, "host": here}}
        write_document(tmp_path, FINDINGS_FILE, {"provenance": PROVENANCE, "by_document": {}, "unwritten": [],
                                                 "waivers": [], "running": running})
        record_findings(tmp_path, PROVENANCE, {ACCURACY_FILE}, [])
        findings = read_document(tmp_path, FINDINGS_FILE)
        assert findings["running"] == {str(alive.pid): other}  # pid 1 began after its 2020 marker: reused
        verdict = decide_documents(ACCURACY, None, None, PROVENANCE, findings)
        assert not verdict.passed
        assert "a session of this model has not finished" in verdict.findings[0].reason
        assert f"`pytest benchmarks`, started {now}, pid {alive.pid}" in verdict.findings[0].reason
    finally:
        alive.kill()
        alive.wait()
    record_findings(tmp_path, PROVENANCE, {ACCURACY_FILE}, [])  # its process gone: superseded
    assert decide_documents(ACCURACY, None, None, PROVENANCE, read_document(tmp_path, FINDINGS_FILE)).passed


def test_a_backend_whose_every_test_skipped_is_named_unless_the_session_ran_a_selection():
    from encoder_gate.plugin.outcomes import nothing_checked

    outcomes = {"torch": {"ran": 5, "skips": []}, "onnx-fp32": {"ran": 0, "skips": ["no package x"]},
                "onnx-int8-s8~saturating": {"ran": 0, "skips": ["QAttention is not emulated"]}}
    said = nothing_checked(outcomes)
    assert said is not None and said.startswith("every test of onnx-fp32 was skipped") and "~" not in said
    assert nothing_checked(outcomes, selected=True) is None  # -k f1_above_floor: not the backend's fault
    assert "checked nothing" in str(nothing_checked({"torch": {"ran": 0, "skips": ["cuda"]}}, selected=True))
    # nothing ran and nothing skipped: stopped before its first test, which that finding says, not a skip
    assert nothing_checked({"torch": {"ran": 0, "skips": []}}) is None


def test_a_session_that_should_have_written_a_document_keeps_its_failure_while_others_are_written(
        tmp_path: Path):
    """An interrupted `pytest benchmarks` (it feeds speedups.json, wrote none, and its earlier one
    was removed) and then a green `pytest accuracy`: the stop stands for speedups.json until a session
    writes it, so the verdict stays FAIL (walk M #2: it passed on the accuracy alone)."""
    stop = Finding("gate", "the session stopped before 9 of its 12 tests ran (Ctrl-C, KeyboardInterrupt)")
    record_findings(tmp_path, PROVENANCE, set(), [stop], unwritten_fed={SPEEDUPS_FILE})
    record_findings(tmp_path, PROVENANCE, {ACCURACY_FILE}, [])
    verdict = decide_documents(ACCURACY, None, None, PROVENANCE, read_document(tmp_path, FINDINGS_FILE))
    assert not verdict.passed and verdict.findings == (stop,)
    record_findings(tmp_path, PROVENANCE, {SPEEDUPS_FILE}, [])
    rewritten = read_document(tmp_path, FINDINGS_FILE)
    assert decide_documents(ACCURACY, SPEEDUPS, None, PROVENANCE, rewritten).passed


def test_findings_of_another_model_are_left_out():
    other = {**PROVENANCE, "model": {"name": "default", "content_hash": "y"}}
    findings = {"provenance": other, "by_document": {}, "unwritten": [Finding("gate", "x").to_json()]}
    verdict = decide_documents(ACCURACY, None, None, PROVENANCE, findings)
    assert verdict.findings == ()
    assert any("findings.json in this directory left out" in n for n in verdict.left_out)


@pytest.fixture
def gate_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    return pytester


def _args(cache_dir: Path, report: Path, *more: str) -> list[str]:
    """The tiny gate's arguments; a --gate-backends in `more` replaces the default one (one option
    twice is refused)."""
    given = any(m.startswith("--gate-backends") for m in more)
    backends = [] if given else ["--gate-backends=torch,onnx-fp32"]
    return ["--gate-model=tiny", *backends, f"--gate-cache-dir={cache_dir}",
            f"--gate-report-dir={report}", "--gate-limit=64", "-p", "no:cacheprovider", "-p", "no:randomly",
            *more]


@pytest.mark.slow
def test_a_team_test_failing_gives_a_fail_verdict_naming_it(gate_dir: pytest.Pytester, cache_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]):
    """Every shipped check passes on tiny; the team's own test beside them fails: verdict.md,
    verdict.json and the terminal's last word say FAIL and name the test; `encoder-gate verdict`
    exits 1."""
    report = gate_dir.path / "report"
    gate_dir.makepyfile(test_team_gate=TEAM_TEST)
    result = gate_dir.runpytest(*_args(cache_dir, report))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*encoder-gate verdict: FAIL*", "failed outside the checks:",
                                 "  test_team_gate.py::test_team_floor[[]onnx-fp32[]] (failed): *"])
    decided = json.loads((report / "verdict.json").read_text())
    assert decided["passed"] is False
    assert {f["nodeid"] for f in decided["findings"]} == {"test_team_gate.py::test_team_floor[torch]",
                                                         "test_team_gate.py::test_team_floor[onnx-fp32]"}
    assert all(b["status"] in ("pass", "reference") for b in decided["backends"])  # the checks passed
    # and each row names its own test that failed outside them, for machines as verdict.md does (walk N #2)
    assert {b["name"]: b["failed_tests"] for b in decided["backends"]} == {
        "torch": ["test_team_gate.py::test_team_floor[torch]"],
        "onnx-fp32": ["test_team_gate.py::test_team_floor[onnx-fp32]"]}
    page = (report / "verdict.md").read_text()
    assert "## encoder-gate: FAIL" in page and "Failed outside the checks" in page
    assert "onnx-fp32: below the team's floor" in page
    capsys.readouterr()
    assert main(["verdict", "--report-dir", str(report)]) == 1
    assert "## encoder-gate: FAIL" in capsys.readouterr().out


STOPS = '''
import os

import pytest


def test_team_stops(backend):
    if backend.name == "torch" and os.environ.get("STOP") == "exit":
        pytest.exit("team stop", returncode=0)
    if backend.name == "torch" and os.environ.get("STOP") == "die":
        os._exit(3)  # what the OOM killer, SIGKILL or a crash in native code leaves: no session end at all
'''


@pytest.mark.slow
def test_a_session_stopped_before_its_end_never_leaves_a_pass(gate_dir: pytest.Pytester, cache_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]):
    """A team test's pytest.exit(returncode=0) (or Ctrl-C) ends the session with tests unrun: the
    verdict fails, saying how many did not run and why, and so does the exit status. A session that
    dies without its end (os._exit here; the OOM killer, SIGKILL) leaves the verdict failing on its
    running marker, not the green verdict of the session before; the next whole session passes."""
    report = gate_dir.path / "report"
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0], test_zz_stops=STOPS)
    args = _args(cache_dir, report, "--gate-backends=torch")
    assert gate_dir.runpytest(*args).ret == pytest.ExitCode.OK
    for nothing_runs in ("--collect-only", "--fixtures", "--setup-plan"):  # collected, no test meant to run
        gate_dir.runpytest(*args, nothing_runs)
        assert (report / "verdict.md").read_text().startswith("## encoder-gate: PASS"), nothing_runs
        assert "running" not in json.loads((report / FINDINGS_FILE).read_text())
    monkeypatch.setenv("STOP", "exit")
    stopped = gate_dir.runpytest(*args)
    assert stopped.ret == pytest.ExitCode.TESTS_FAILED
    stopped.stdout.fnmatch_lines(["*encoder-gate verdict: FAIL*"])
    decided = json.loads((report / "verdict.json").read_text())
    assert decided["passed"] is False
    assert "tests ran (pytest.exit('team stop'))" in json.dumps(decided["findings"])
    monkeypatch.setenv("STOP", "die")
    assert gate_dir.runpytest_subprocess(*args).ret == 3
    page = (report / "verdict.md").read_text()
    assert page.startswith("## encoder-gate: FAIL") and "a session of this model has not finished" in page
    capsys.readouterr()
    assert main(["verdict", "--report-dir", str(report)]) == 1
    monkeypatch.delenv("STOP")
    assert gate_dir.runpytest(*args).ret == pytest.ExitCode.OK
    assert (report / "verdict.md").read_text().startswith("## encoder-gate: PASS")
    assert "running" not in json.loads((report / FINDINGS_FILE).read_text())


@pytest.mark.slow
def test_a_green_session_beside_one_still_running_exits_0_and_says_why_the_verdict_fails(
        gate_dir: pytest.Pytester, cache_dir: Path):
    """Another session of the model still runs (its marker, its process alive on this host): this
    green session's verdict fails on it, its exit status is its own (0), and its last word says why
    the two differ."""
    import socket
    import subprocess
    import sys
    import time

    report = gate_dir.path / "report"
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0])
    args = _args(cache_dir, report, "--gate-backends=torch")
    assert gate_dir.runpytest(*args).ret == pytest.ExitCode.OK
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(1.1)
        doc = json.loads((report / FINDINGS_FILE).read_text())
        doc["running"] = {str(alive.pid): {"command": "pytest benchmarks", "pid": alive.pid,
                                           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                           "host": socket.gethostname()}}
        (report / FINDINGS_FILE).write_text(json.dumps(doc))
        beside = gate_dir.runpytest(*args)
    finally:
        alive.kill()
        alive.wait()
    assert beside.ret == pytest.ExitCode.OK
    beside.stdout.fnmatch_lines(["*encoder-gate verdict: FAIL*",
                                 "this session's own tests and results pass, so it exits 0; the verdict "
                                 "fails*"])


SEES_ITS_MARKER = '''
import json
import os
from pathlib import Path


def test_team_sees_the_running_marker(backend):
    running = json.loads((Path(os.environ["REPORT"]) / "findings.json").read_text())["running"]
    assert str(os.getppid()) in running, running  # an xdist worker: its controller's process
'''


@pytest.mark.slow
def test_under_xdist_the_workers_mark_the_controllers_session_and_its_end_takes_it_out(
        gate_dir: pytest.Pytester, cache_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The controller collects nothing: each worker that collected a test of the gate marks the
    session under its controller's process id before its builds, and the controller's end takes the
    marker out (a killed `pytest -n 2` left the last PASS: the review of 2026-11-27)."""
    report = gate_dir.path / "report"
    monkeypatch.setenv("REPORT", str(report))
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0], test_zz_marker=SEES_ITS_MARKER)
    result = gate_dir.runpytest_subprocess(*_args(cache_dir, report, "--gate-backends=torch"), "-n", "1")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert "running" not in json.loads((report / FINDINGS_FILE).read_text())


EVALUATION_BREAKS = '''
import pytest


@pytest.fixture(scope="session")
def backend_evaluation(backend):
    raise RuntimeError("the evaluation broke")
'''


@pytest.mark.slow
def test_a_session_whose_checks_wrote_no_results_shows_none_of_an_earlier_sessions(
        gate_dir: pytest.Pytester, cache_dir: Path, capsys: pytest.CaptureFixture[str]):
    """A green session writes accuracy.json; the next one, on the same model and data, runs the same
    checks and every one errors before it evaluates anything. Its verdict fails on those errors and
    shows no row of the earlier session's (they were not checked now): the earlier accuracy.json and
    its page are removed, and said so, so `encoder-gate verdict` after it does not bring them back."""
    report = gate_dir.path / "report"
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0])
    args = _args(cache_dir, report, "--gate-backends=torch")
    assert gate_dir.runpytest(*args).ret == pytest.ExitCode.OK
    assert (report / ACCURACY_FILE).is_file() and (report / "accuracy.md").is_file()
    gate_dir.makeconftest(EVALUATION_BREAKS)
    result = gate_dir.runpytest(*args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*accuracy.json of an earlier session (written *) removed from *: this "
                                 "session ran the tests that write it and they wrote none*",
                                 "*encoder-gate verdict: FAIL*"])
    assert not (report / ACCURACY_FILE).exists() and not (report / "accuracy.md").exists()
    decided = json.loads((report / "verdict.json").read_text())
    assert decided["passed"] is False and decided["backends"] == []
    assert "RuntimeError: the evaluation broke" in json.dumps(decided["findings"])
    capsys.readouterr()
    assert main(["verdict", "--report-dir", str(report)]) == 1
    assert "| torch" not in capsys.readouterr().out


def test_data_that_cannot_be_read_stops_the_session_before_any_test_with_one_line_and_a_failed_verdict(
        gate_dir: pytest.Pytester, cache_dir: Path):
    """A text column that the file does not have: the session reads the data before any test, so it
    ends there, a usage error in one line, with a failed verdict that says why; no test runs, nothing
    is built (every test that needs the data failed with it, one by one, after the builds)."""
    report = gate_dir.path / "report"
    data = gate_dir.path / "eval.csv"
    data.write_text("review,emotions\nwhat a day,joy\nnot again,annoyance\n")
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0])
    result = gate_dir.runpytest(*_args(cache_dir, report, f"--gate-dataset={data}",
                                       "--gate-text-column=reviews", "--gate-label-column=emotions"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: encoder-gate: *eval.csv has no text column 'reviews'; columns "
                                 "present: 'review', 'emotions'; choose the text column: *"])
    assert "no tests ran" in result.stdout.str() and "building" not in result.stdout.str()
    decided = json.loads((report / "verdict.json").read_text())
    assert decided["passed"] is False
    assert "the evaluation data could not be read: " in json.dumps(decided["findings"])


def test_a_model_that_cannot_be_loaded_stops_the_session_before_any_test_too(gate_dir: pytest.Pytester,
                                                                           cache_dir: Path):
    report = gate_dir.path / "report"
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0])
    args = [a for a in _args(cache_dir, report) if not a.startswith("--gate-model")]
    result = gate_dir.runpytest(*args, "--gate-model=./nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: encoder-gate: model directory './nope' does not exist*"])
    decided = json.loads((report / "verdict.json").read_text())
    assert decided["passed"] is False and "the model could not be read: " in json.dumps(decided["findings"])
    page = (report / "verdict.md").read_text()
    assert "Model `./nope`; no accuracy results" in page and "| backend |" not in page  # no empty table


@pytest.mark.slow
def test_a_failed_test_in_one_of_two_shards_fails_the_merge_and_names_shard_and_test(
        gate_dir: pytest.Pytester, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The team's check fails for onnx-fp32 alone, in whichever shard runs it: that shard's
    session fails; the merge of both shards exits 1 and its verdict names the shard and the test."""
    gate_dir.makepyfile(test_team_check=ONE_BACKEND_FAILS, test_checks_gate=TEAM_TEST.split("\n\n\n")[0])
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"tiny": {"torch": 10, "onnx-fp32": 5}}))
    shards = [tmp_path / f"shard-{k}" for k in (1, 2)]
    rets = []
    for k, report in enumerate(shards, 1):
        rets.append(gate_dir.runpytest(*_args(cache_dir, report, "--gate-shard", f"{k}/2",
                                              "--gate-shard-costs", str(costs))).ret)
    assert rets == [pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED]  # torch, then onnx-fp32
    # a shard's own verdict says it judged its share alone; the merge's does not
    first = (shards[0] / "verdict.md").read_text()
    assert first.startswith("## encoder-gate: PASS\n\nShard 1/2 of a sharded session: this verdict judges "
                            "its share alone (torch); `encoder-gate merge` of every shard's report")
    out = tmp_path / "merged"
    capsys.readouterr()
    assert main(["merge", *map(str, shards), "--out", str(out)]) == 1
    page = (out / "verdict.md").read_text()
    assert "## encoder-gate: FAIL" in page and "of a sharded session" not in page
    assert ("shard 2/2: test_team_check.py::test_team_check[onnx-fp32] (failed): AssertionError: the "
            "team's check of onnx-fp32 failed") in page


MODEL_LEVEL = '''
def test_model_has_labels(gate_model):
    assert gate_model.label_names


def test_backend_builds(backend):
    assert backend.name
'''


def test_a_gate_test_of_no_backend_runs_in_shard_one_alone(gate_dir: pytest.Pytester, cache_dir: Path):
    """Every shard has the same model and data: a test of no backend (a team's test of the model) runs
    in shard 1 and is deselected in the others, so the merge never names its failure twice."""
    gate_dir.makepyfile(test_team=MODEL_LEVEL, test_plain="def test_plain():\n    assert True\n")
    outcomes = []
    for k in (1, 2):
        result = gate_dir.runpytest(*_args(cache_dir, gate_dir.path / f"shard-{k}", "--gate-shard", f"{k}/2",
                                           "--gate-shard-costs", "equal"))
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
        outcomes.append(result.parseoutcomes())
    assert outcomes[0]["passed"] == 3 and "deselected" not in outcomes[0]
    # a plain test without the gate's fixtures too (walk I: a team's failing check ran in every shard)
    assert outcomes[1]["passed"] == 1 and outcomes[1]["deselected"] == 2


def test_a_shard_whose_session_failed_before_writing_results_fails_the_merge_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Shard 2 of 2 wrote no results, only shard.json and its findings (every test errored at setup):
    the merge is no 'other command' refusal; it fails its verdict naming the shard and the test."""
    from encoder_gate.documents import SHARD_FILE, write_document
    from test_shards import shard_dirs

    first, second = shard_dirs(tmp_path, total=2)
    (second / ACCURACY_FILE).unlink()
    descriptor = json.loads((second / SHARD_FILE).read_text())
    write_document(second, SHARD_FILE, {**descriptor, "documents": []})
    red = Finding("test", "GateError: onnx-fp32: the model directory has no tokenizer",
                  "test_x.py::t[onnx-fp32]", "onnx-fp32", "setup")
    record_findings(second, descriptor["provenance"], set(), [red])
    out = tmp_path / "merged"
    assert main(["merge", str(first), str(second), "--out", str(out)]) == 1
    page = (out / "verdict.md").read_text()
    assert "run every shard with the same command" not in page
    assert "shard 2/2: test_x.py::t[onnx-fp32] (error at setup): GateError: onnx-fp32" in page


@pytest.mark.parametrize("damage", ["truncated", "gone", "headless"])
def test_a_model_whose_weights_cannot_be_read_stops_the_session_before_any_test(
        gate_dir: pytest.Pytester, cache_dir: Path, tiny: ModelSpec, damage: str):
    """Weights missing or cut short failed every test that loads the model, one by one (42 errors of
    one line each, before the builds of the rest); the model's weights are read before any test. So
    is a classifier saved without its head, which transformers initializes at random on every load:
    every backend failed on drift against a reference of other random weights."""
    import shutil

    from safetensors.numpy import load_file, save_file

    model = gate_dir.path / "model"
    shutil.copytree(tiny.path, model)
    weights = model / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:4096])
    elif damage == "headless":
        save_file({k: v for k, v in load_file(weights).items() if not k.startswith("classifier.")}, weights,
                  metadata={"format": "pt"})
    else:
        weights.unlink()
    report = gate_dir.path / "report"
    gate_dir.makepyfile(test_checks_gate=TEAM_TEST.split("\n\n\n")[0])
    args = [a for a in _args(cache_dir, report) if not a.startswith("--gate-model")]
    result = gate_dir.runpytest(*args, f"--gate-model={model}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-1500:]
    said = {"truncated": "model.safetensors cannot be read (*): it is truncated or damaged",
            "gone": "*model has no weights (model.safetensors, *): save the model with save_pretrained()*",
            "headless": "*model lacks weights its config.json builds: classifier.dense.bias, "
                        "classifier.dense.weight, classifier.out_proj.bias, classifier.out_proj.weight. "
                        "transformers would initialize them at random on every load*"}[damage]
    result.stderr.fnmatch_lines([f"ERROR: encoder-gate: *{said}*"])
    assert "no tests ran" in result.stdout.str() and "building" not in result.stdout.str()
    decided = json.loads((report / "verdict.json").read_text())
    assert "its weights could not be read: " in json.dumps(decided["findings"])


def test_a_failure_whose_message_opens_with_a_heading_is_said_with_its_cause():
    """dynamo's BackendCompilerFailed says "backend='inductor' raised:" on its first line and the cause on
    the next: the verdict's "failed outside the checks" line was the heading alone. A heading is said
    with the line after it; a one-line message, or a longrepr without a crash, as before."""
    from types import SimpleNamespace

    from encoder_gate.plugin.stash import one_line

    def report(message: str | None, text: str = "") -> SimpleNamespace:
        crash = SimpleNamespace(message=message) if message is not None else None
        return SimpleNamespace(longrepr=SimpleNamespace(reprcrash=crash, __str__=lambda self: text))

    failed = "BackendCompilerFailed: backend='inductor' raised:"
    assert one_line(report(f"{failed}\nAssertionError: buf18\n\nmore")) == f"{failed} AssertionError: buf18"
    assert one_line(report("AssertionError: drift 0.2 > 0.1\nmore")) == "AssertionError: drift 0.2 > 0.1"


def test_an_xfailed_tests_reason_is_its_xfail_words_not_its_traceback():
    """pytest reports an xfailed test as skipped, its longrepr the whole traceback: a session that
    counts its skips ("every vs-base test was skipped") names the xfail's words instead (a waived
    failure's, in the walk of the forty-third session: 40 lines of source in a verdict line)."""
    from encoder_gate.plugin.stash import skip_reason

    skipped = pytest.TestReport("t.py::test_a", ("t.py", 1, "test_a"), {}, "skipped",
                                ("t.py", 1, "Skipped: no GPU here"), "call")
    assert skip_reason(skipped) == "no GPU here"
    trace = "t.py:2: in test_b\n    gate_base.check_comparable()\nE   GateError: ..."
    xfailed = pytest.TestReport("t.py::test_b", ("t.py", 2, "test_b"), {}, "skipped", trace, "call")
    xfailed.wasxfail = "waived by @t until 2099-01-01 (r): not compared with the base"
    assert skip_reason(xfailed) == "xfailed: waived by @t until 2099-01-01 (r): not compared with the base"
