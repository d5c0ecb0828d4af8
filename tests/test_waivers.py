"""Accepted regressions: `[[tool.encoder-gate.waivers]]`, each with an owner, a reason and an end date.

A live waiver turns the failure it names into `waived` (the session passes if nothing else fails);
an expired one fails the gate; a failure worse than `accept` fails; a waiver whose check passes is
reported stale; one naming what the session does not have is a usage error. Decided on hand-made
documents (decision.decide_documents, as tests/test_verdict.py does), and once end to end on tiny.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from encoder_gate.accuracy.checks import CHECKS
from encoder_gate.config import GateConfig
from encoder_gate.decision import Status, check_waivers, decide_documents
from encoder_gate.errors import GateError
from encoder_gate.reporting.verdict import render
from encoder_gate.waivers import Waiver
from test_verdict import (  # the hand-made documents of the verdict tests
    CASE,
    accuracy_doc,
    all_pass,
    check,
    prov,
    row,
    speedups_doc,
)

TODAY = date.today()  # once: a run that crosses midnight still counts 30 days left
FUTURE = TODAY + timedelta(days=30)
PAST = TODAY - timedelta(days=1)


def waiver(**given: object) -> Waiver:
    entry = {"backend": "onnx-int8", "check": "drift_max", "owner": "@ml-platform",
             "reason": "INT8 drift on long texts, tracked in #123", "until": FUTURE, **given}
    return Waiver.parse(entry, 0)


def project_waiving(what: str, tables: str = "") -> str:
    """A tiny project's [tool.encoder-gate] (torch, onnx-int8), its other `tables`, and one waiver of
    onnx-int8 whose check (and label) `what` gives."""
    return ('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-int8"]\n' + tables
            + f'[[tool.encoder-gate.waivers]]\nbackend = "onnx-int8"\n{what}owner = "@ml"\n'
              f'reason = "tracked in #1"\nuntil = {FUTURE}\n')


def findings(*waivers: Waiver) -> dict[str, object]:
    return {"provenance": prov(), "by_document": {}, "unwritten": [],
            "waivers": [w.to_json() for w in waivers]}


def decided(*waivers: Waiver):
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False)  # drift_max 0.9 against 0.6
    return decide_documents(accuracy_doc(rows), None, None, None, findings(*waivers), today=TODAY)


def test_a_live_waiver_passes_the_session_with_a_waived_row_naming_owner_reason_and_days_left():
    verdict = decided(waiver())
    assert verdict.passed and decided().passed is False
    [b] = [b for b in verdict.backends if b.name == "onnx-int8"]
    assert b.status is Status.WAIVED and b.failed == ("drift_max",) and b.waivers == (waiver(),)
    assert verdict.to_json()["backends"][-1]["waivers"][0]["owner"] == "@ml-platform"
    text = render(verdict).markdown
    assert "## encoder-gate: PASS (1 waived)" in text  # in the title, and the owner mentions nobody:
    assert "| waived (drift_max by `@ml-platform`, 30 days left) |" in text
    assert "Waived (accepted, known failures" in text and "INT8 drift on long texts, tracked in #123" in text
    assert "Failures:" not in text
    # its last days in words ("1 days left", "0 days left" before)
    for days, said in ((1, "1 day left"), (0, "expires today")):
        last = decided(waiver(until=TODAY + timedelta(days=days)))
        assert f"| waived (drift_max by `@ml-platform`, {said}) |" in render(last).markdown


def test_an_expired_waiver_fails_the_gate_and_names_it():
    verdict = decided(waiver(until=PAST))
    assert not verdict.passed
    assert [b.status for b in verdict.backends if b.name == "onnx-int8"] == [Status.FAIL]
    text = render(verdict).markdown
    assert f"the waiver of onnx-int8 drift_max by `@ml-platform` expired on {PAST}" in text
    assert f"bound at most 0.6 (its waiver by `@ml-platform` expired on {PAST})" in text  # its failure too


def test_an_expired_waiver_of_a_passing_check_fails_the_session_too():
    """The verdict said FAIL and pytest exited 0 (walk F): the expired waiver is the session's own
    failure, whichever documents it wrote."""
    from encoder_gate.decision import failures_from

    verdict = decide_documents(accuracy_doc(all_pass()), None, None, None, findings(waiver(until=PAST)))
    assert not verdict.passed
    assert any("expired on" in line for line in failures_from(verdict, {"accuracy.json"}))
    # every row passes: the glance under the FAIL names the waiver (it had no line, its reason the
    # 23rd bullet below the table)
    assert (f"**Failed:** the waiver of onnx-int8 drift_max by `@ml-platform` expired on {PAST} (INT8 drift "
            "on long texts, tracked in #123). Why") in render(verdict).markdown


def test_an_expired_waiver_of_a_backend_this_verdict_does_not_judge_leaves_it_to_one_that_does():
    """A shard (or a selection) without onnx-int8 failed on its expired waiver, every selected test
    passing: a matrix of shards went red in every shard for one backend. The verdict that judges
    onnx-int8 (its shard, the merge) fails on it."""
    rows = all_pass()
    del rows["onnx-int8"]
    without = decide_documents(accuracy_doc(rows), None, None, None, findings(waiver(until=PAST)))
    assert without.passed, without.failures
    with_it = decide_documents(accuracy_doc(all_pass()), None, None, None, findings(waiver(until=PAST)))
    assert not with_it.passed


def test_a_waived_records_checks_are_those_a_live_waiver_accepted(tmp_path):
    """A backend with one live and one expired waiver: its record says waived only the live one's check
    (history check counted the expired one's as waived too)."""
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False, f1_ok=False)  # drift_max and f1_keep fail
    verdict = decide_documents(accuracy_doc(rows), None, None, None,
                               findings(waiver(), waiver(check="f1_keep", until=PAST)))
    [b] = [b for b in verdict.backends if b.name == "onnx-int8"]
    assert b.status is Status.FAIL and set(b.failed) == {"drift_max", "f1_keep"}
    assert {w.check for w in b.waivers} == {"drift_max"}


def test_a_failure_worse_than_accept_fails():
    assert not decided(waiver(accept=0.8)).passed  # observed 0.9: worse than accepted
    assert decided(waiver(accept=0.95)).passed


def test_a_speed_waiver_accepts_the_speed_rule_of_its_backend_alone():
    """The speed rule fails onnx-int8 (speedups.json): a `speed` waiver of it makes the row waived and
    the session pass; a waiver of another backend's speed leaves the failure standing."""
    accuracy = accuracy_doc(all_pass())
    slow = speedups_doc(failures=[("onnx-int8", f"onnx-int8 {CASE}: speedup 2.00x, baseline 2.45x")])
    verdict = decide_documents(accuracy, slow, None, None, findings(waiver(check="speed")))
    assert verdict.passed and [b.status for b in verdict.backends if b.name == "onnx-int8"] == [Status.WAIVED]
    assert not decide_documents(accuracy, slow, None, None, findings()).passed
    other = waiver(check="speed", backend="onnx-fp32")
    assert not decide_documents(accuracy, slow, None, None, findings(other)).passed


def test_a_waiver_of_one_backends_check_leaves_a_gate_that_compared_nothing_failing():
    """A trial's benchmarks against a save of other texts compared no cell ("SPEEDUP GATE FAILED: nothing
    was compared"), and the verdict passed, exit 0: a drift waiver of onnx-int8 had dropped every failure
    of speedups.json as a whole, the waived backends' speed rule being the only one it may accept."""
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False)
    nothing = speedups_doc()
    nothing["gate"]["compared"] = {}
    verdict = decide_documents(accuracy_doc(rows), nothing, None, None, findings(waiver()), today=TODAY)
    assert [b.status for b in verdict.backends if b.name == "onnx-int8"] == [Status.WAIVED]
    assert not verdict.passed and any("nothing was compared against" in s for s in verdict.session_failures)


def test_a_waiver_whose_check_passes_is_stale_not_an_error():
    verdict = decided(waiver(), waiver(backend="onnx-fp32"))
    assert verdict.passed
    assert verdict.stale_waivers == ("the waiver of onnx-fp32 drift_max by @ml-platform is stale: the "
                                     "check passes now; remove it",)
    assert "Stale waivers:" in render(verdict).markdown


def test_a_per_label_waiver_covers_its_label_only():
    rows = all_pass()
    failing = row()
    failing["checks"]["per_label"] = {"observed": 1.0, "bound": 0.0, "passed": False, "direction": "at most"}
    failing["per_label"] = [{"label": "grief", "support": 40, "f1_ref": 0.6, "f1": 0.3, "verdict": "fail"}]
    failing["verdict"] = "fail"
    rows["onnx-int8"] = failing
    doc = accuracy_doc(rows)
    grief, joy = waiver(check="per_label", label="grief"), waiver(check="per_label", label="joy")
    assert decide_documents(doc, None, None, None, findings(grief)).passed
    assert not decide_documents(doc, None, None, None, findings(joy)).passed


def test_a_waiver_naming_what_the_session_does_not_have_is_a_usage_error_saying_what_exists():
    with pytest.raises(GateError, match="no backend 'onnx-int9' in this session; its backends: torch"):
        check_waivers([waiver(backend="onnx-int9")], ["torch", "onnx-int8"], tuple(CHECKS))
    with pytest.raises(GateError, match=r"no check 'drift'; the checks: drift_mean, .*, speed, vs base"):
        check_waivers([waiver(check="drift")], ["torch", "onnx-int8"], tuple(CHECKS))


@pytest.mark.slow
def test_a_waiver_of_a_label_the_model_does_not_have_is_a_usage_error_not_stale(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """`label = "grieff"` for `grief`: the verdict called the waiver stale ("the check passes now"),
    though it could never have accepted anything (walk Y). The session refuses it at collection,
    naming the closest label; the model's own labels pass."""
    from encoder_gate.decision import check_waivers_fit

    labels = ("anger", "grief", "joy")
    check_waivers_fit([waiver(check="per_label", label="grief")], labels, "multi_label")
    with pytest.raises(GateError, match=r"no label 'grieff' \(did you mean 'grief'\?\); its labels: anger"):
        check_waivers_fit([waiver(check="per_label", label="grieff")], labels, "multi_label")
    # a check that does not fit the model's task: it could never accept a failure either (a trial's
    # cosine_min waiver of a multi-label classifier was accepted and said nowhere)
    with pytest.raises(GateError, match=r"waiver of onnx-int8 cosine_min \(@ml-platform\): cosine_min is no "
                                        r"check of this multi_label model \(.*\), so the waiver could never"):
        check_waivers_fit([waiver(check="cosine_min")], labels, "multi_label")
    check_waivers_fit([waiver(check="cosine_min")], (), "feature_extraction")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyprojecttoml(project_waiving('check = "per_label"\nlabel = "grieff"\n'))
    pytester.makepyfile(test_checks="from encoder_gate.suite.checks import *  # noqa: F403\n")
    typo = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert typo.ret == pytest.ExitCode.USAGE_ERROR
    assert "the model has no label 'grieff' (did you mean 'grief'?); its labels" in typo.stderr.str()


def test_narrowing_a_session_with_gate_backends_keeps_the_projects_waivers_and_bounds(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """`--gate-backends torch` was a usage error while a waiver or a tolerance table named the
    project's onnx-int8 (walk F): they are the project's, and judge nothing in that session."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyprojecttoml(project_waiving('check = "drift_max"\n',
                                               "[tool.encoder-gate.tolerances.onnx-int8]\ndrift_max = 0.5\n"))
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    assert pytester.runpytest("--gate-backends", "torch", "--collect-only", "-q").ret == pytest.ExitCode.OK
    typo = pytester.runpytest("--gate-backends", "torch,onnx-int9", "--collect-only", "-q")
    assert typo.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(("given", "says"), [
    ({"until": None}, "missing until"),
    ({"until": "end of year"}, "until must be a TOML date"),
    ({"accept": "0.4"}, "accept must be a number"),
    ({"expires": FUTURE}, "unknown key(s) expires"),
])
def test_a_malformed_waiver_says_which_key(given, says):
    with pytest.raises(GateError, match=says.replace("(", r"\(").replace(")", r"\)")):
        GateConfig.from_sources({"waivers": [{**waiver().to_json(), **given}]}, {}, Path("."))


@pytest.mark.slow
def test_a_waived_failure_xfails_and_the_session_passes(pytester: pytest.Pytester, cache_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    """Tiny's onnx-fp32 held to a drift_max it cannot meet, the failure waived: the test xfails
    saying by whom, the session exits 0, the verdict row is waived; without the waiver it fails."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    table = ('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-fp32"]\nlimit = 64\n'
             '[tool.encoder-gate.tolerances.onnx-fp32]\ndrift_max = 1e-12\n')
    waived = (f'[[tool.encoder-gate.waivers]]\nbackend = "onnx-fp32"\ncheck = "drift_max"\naccept = 1e-4\n'
              f'owner = "@ml-platform"\nreason = "exporter rounding, #7"\nuntil = {FUTURE.isoformat()}\n')
    pytester.makepyprojecttoml(table + waived + "[tool.pytest.ini_options]\n")
    pytester.makepyfile(test_checks_waived="from encoder_gate.suite.checks import *  # noqa: F403\n")
    monkeypatch.delenv("PYTEST_ADDOPTS")
    args = ("--rootdir", str(pytester.path), "-c", str(pytester.path / "pyproject.toml"),
            f"--gate-cache-dir={cache_dir}", "-p", "no:cacheprovider", "-p", "no:randomly",
            "-k", "not padding")
    result = pytester.runpytest(*args, "-rx")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*XFAIL*drift_max*waived by @ml-platform until*exporter rounding, #7*"])
    decided_json = json.loads((pytester.path / ".encoder-gate" / "verdict.json").read_text())
    [fp32] = [b for b in decided_json["backends"] if b["name"] == "onnx-fp32"]
    assert decided_json["passed"] is True and fp32["status"] == "waived"
    pytester.makepyprojecttoml(table + waived.replace(FUTURE.isoformat(), PAST.isoformat())
                               + "[tool.pytest.ini_options]\n")
    expired = pytester.runpytest(*args)
    assert expired.ret == pytest.ExitCode.TESTS_FAILED  # the terminal's last word says why
    expired.stdout.fnmatch_lines([f"the waiver of onnx-fp32 drift_max by @ml-platform expired on {PAST}*"])
    pytester.makepyprojecttoml(table + "[tool.pytest.ini_options]\n")
    assert pytester.runpytest(*args).ret == pytest.ExitCode.TESTS_FAILED


def test_a_merged_matrix_keeps_the_waived_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Three shards of one session, the shard of onnx-fp32 failing its drift bound, every shard
    configured with the waiver that accepts it (findings.json carries it): the merged verdict has
    the waived row and passes; the same shards without the waiver fail the merge."""
    from encoder_gate.commands.cli import main
    from encoder_gate.documents import ACCURACY_FILE, FINDINGS_FILE, write_document
    from test_shards import shard_dirs

    accepted = waiver(backend="onnx-fp32", accept=1e-3)
    for with_waiver in (True, False):
        dirs = shard_dirs(tmp_path / str(with_waiver))
        for d in dirs:
            acc = json.loads((d / ACCURACY_FILE).read_text())
            if "onnx-fp32" in acc["backends"]:
                fp32 = acc["backends"]["onnx-fp32"]
                fp32["checks"]["drift_max"] = {**fp32["checks"]["drift_max"], "observed": 5e-4,
                                               "passed": False}
                fp32["verdict"] = "fail"
                write_document(d, ACCURACY_FILE, acc)
            write_document(d, FINDINGS_FILE, {"provenance": acc["provenance"], "by_document": {},
                                              "unwritten": [],
                                              "waivers": [accepted.to_json()] if with_waiver else []})
        out = tmp_path / f"merged-{with_waiver}"
        code = main(["merge", *map(str, dirs), "--out", str(out)])
        merged = json.loads((out / "verdict.json").read_text())
        [fp32_row] = [b for b in merged["backends"] if b["name"] == "onnx-fp32"]
        if with_waiver:
            assert code == 0 and merged["passed"] is True and fp32_row["status"] == "waived"
            assert fp32_row["waivers"][0]["owner"] == "@ml-platform"
            assert "| waived (drift_max by `@ml-platform`" in (out / "verdict.md").read_text()
        else:
            assert code == 1 and merged["passed"] is False and fp32_row["status"] == "fail"
    capsys.readouterr()


def test_history_records_the_waived_status_and_check_reports_a_check_waived_too_long(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The record of a session with a waived failure holds the waived row and its waiver (read from
    the verdict the session decided); `history check` exits 1 once the same check was waived in more
    than --max-waived records in a row, naming it, and not before."""
    from encoder_gate.commands.cli import main
    from encoder_gate.documents import ACCURACY_FILE, FINDINGS_FILE, write_document
    from encoder_gate.history.store import Commit, record
    from encoder_gate.publish import write_verdict

    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False)
    report = tmp_path / "report"
    write_document(report, ACCURACY_FILE, accuracy_doc(rows))
    write_document(report, FINDINGS_FILE, findings(waiver()))
    write_verdict(report)
    store = tmp_path / "store"
    for i in range(4):
        record(store, report, Commit(f"{i:07d}" + "a" * 33, f"2026-11-{1 + i:02d}T10:00:00+00:00", None))
    doc = json.loads((store / ("0000003" + "a" * 33 + ".json")).read_text())
    int8 = doc["backends"]["onnx-int8"]
    assert doc["verdict"]["passed"] is True and int8["status"] == "waived"
    assert int8["waived"]["checks"] == ["drift_max"]
    assert int8["waived"]["waivers"][0]["owner"] == "@ml-platform"
    capsys.readouterr()
    assert main(["history", "check", "--store", str(store), "--max-waived", "4"]) == 0
    assert main(["history", "check", "--store", str(store), "--max-waived", "3"]) == 1
    out = capsys.readouterr().out
    assert "onnx-int8 drift_max: waived in the last 4 records (since 0000000" in out
    assert "by @ml-platform), more than 3" in out


def test_days_left_are_counted_from_the_day_the_verdict_was_decided_also_when_read_back_later():
    """verdict.json keeps its day: a verdict rendered after midnight (or read back by the history
    a week on) says the days left it was decided with, not a count that disagrees with its status."""
    from encoder_gate.decision import Verdict

    verdict = decide_documents(accuracy_doc({**all_pass(), "onnx-int8": row(drift_ok=False)}), None, None,
                               None, findings(waiver()), today=TODAY - timedelta(days=3))
    doc = verdict.to_json()
    assert doc["decided_on"] == (TODAY - timedelta(days=3)).isoformat()
    again = Verdict.from_json(doc, verdict.judged)
    assert again.decided_on == verdict.decided_on
    assert "33 days left" in render(again).markdown and "30 days left" not in render(again).markdown
    with pytest.raises(GateError, match="decided_on 'soon' is not a date"):
        Verdict.from_json({**doc, "decided_on": "soon"}, verdict.judged)
    older = {k: v for k, v in doc.items() if k != "decided_on"}  # written before it was recorded
    assert Verdict.from_json(older, {}).decided_on >= TODAY


@pytest.mark.parametrize("runner", ["vnni", "avx2"])
def test_a_waiver_of_the_plain_int8_name_covers_its_result_on_either_path_on_either_runner(runner: str):
    """A waiver of `onnx-int8-s8` names the backend wherever it is computed: the path gap fails on
    the twin `~saturating` on a VNNI runner and on the plain row on an AVX2 one, and one configuration
    reads the same on both (it held on the AVX2 runner only: walk L #4). A plain waiver of a check
    that passes on one path and fails on the other is not stale."""
    gap = {"path_flip_rate": check(0.0139, 0.01, False)}
    failing = {**row(), "checks": {**row()["checks"], **gap}, "verdict": "fail",
               "integer_path": "saturating"}
    passing = {**row(), "integer_path": "exact"}
    rows = {"torch": row(), "onnx-int8-s8": passing, "onnx-int8-s8~saturating": failing} if runner == "vnni" \
        else {"torch": row(), "onnx-int8-s8": failing, "onnx-int8-s8~exact": passing}
    doc = accuracy_doc(rows, configured=list(rows))
    flips = waiver(backend="onnx-int8-s8", check="path_flip_rate")
    verdict = decide_documents(doc, None, None, None, findings(flips), today=TODAY)
    assert verdict.passed and not verdict.stale_waivers
    [waived] = [b for b in verdict.backends if b.status is Status.WAIVED]
    assert waived.name == ("onnx-int8-s8~saturating" if runner == "vnni" else "onnx-int8-s8")
    assert waived.waivers == (flips,)
    def with_waivers(*given: Waiver):
        return decide_documents(doc, None, None, None, findings(*given), today=TODAY)

    # the twin's waiver alone is about the saturating path: it covers the same row on either runner
    assert with_waivers(waiver(backend="onnx-int8-s8~saturating", check="path_flip_rate")).passed
    assert not with_waivers(waiver(backend="onnx-int8-s8~exact", check="path_flip_rate")).passed
    # a plain waiver of a check every path passes is stale on both runners
    drift = with_waivers(flips, waiver(backend="onnx-int8-s8"))
    assert drift.passed and [s for s in drift.stale_waivers if "drift_max" in s]


def test_a_plain_int8_waiver_is_not_stale_while_a_targeted_path_went_unjudged():
    """Targets of both paths, a VNNI runner, the twin `~saturating` not computable here: the plain row
    passes on the exact path, but runners without VNNI still need the waiver of the plain name, so it
    is not called stale; judged on both paths and passing, it is."""
    rows = {"torch": row(), "onnx-int8-s8": {**row(), "integer_path": "exact", "can_saturate": True}}
    doc = accuracy_doc(rows, configured=list(rows))
    doc["integer_paths"] = {"this_cpu": "exact", "targets": ["x86-avx2", "x86-vnni"],
                            "target_paths": ["exact", "saturating"]}
    plain = waiver(backend="onnx-int8-s8")
    assert not decide_documents(doc, None, None, None, findings(plain), today=TODAY).stale_waivers
    doc["backends"]["onnx-int8-s8~saturating"] = {**row(), "integer_path": "saturating", "can_saturate": True}
    assert decide_documents(doc, None, None, None, findings(plain), today=TODAY).stale_waivers


def test_one_owners_waivers_ending_the_same_day_share_one_group_in_the_row():
    """Four checks of one file waived together read as one group, not four repeats."""
    from encoder_gate.decision import BackendVerdict
    from encoder_gate.reporting.verdict import _word

    checks = ("drift_mean", "cosine_min", "cosine_mean", "rel_l2_max")
    b = BackendVerdict("onnx:m.onnx", Status.WAIVED, checks,
                       waivers=(*(waiver(check=c) for c in checks), waiver(check="speed", owner="@perf")))
    assert _word(b, TODAY) == ("waived (drift_mean, cosine_min, cosine_mean, rel_l2_max by @ml-platform, "
                               "30 days left; speed by @perf, 30 days left)")


def test_a_backend_failing_beside_its_waivers_says_which_failure_each_waiver_accepts():
    """Two checks fail; a live waiver accepts one, the other's waiver accepts less than observed:
    the row fails naming the standing failure and the waived one apart, and each listed reason says
    whether its waiver accepts it or why not."""
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False, f1_ok=False)
    keep = rows["onnx-int8"]["checks"]["f1_keep"]["observed"]
    verdict = decide_documents(accuracy_doc(rows), None, None, None,
                               findings(waiver(), waiver(check="f1_keep", accept=keep + 0.01)))
    [b] = [b for b in verdict.backends if b.name == "onnx-int8"]
    assert not verdict.passed and b.status is Status.FAIL
    text = render(verdict).markdown
    assert "| **FAIL** (f1_keep; waived: drift_max) |" in text
    assert "**Failed:** onnx-int8 (f1_keep)." in text  # the glance names what stands, not the waived one
    assert f"(waived by `@ml-platform` until {FUTURE})" in text
    assert f"(worse than the accept {keep + 0.01:g} of the waiver by `@ml-platform`)" in text


def test_a_label_on_a_waiver_of_a_check_not_judged_per_label_is_refused():
    """`label = "grief"` on a drift_max waiver was accepted and waived all of drift_max, the verdict
    reading `waived (drift_max by @me ...)`: a reviewer reads it as narrow."""
    backends, checks = ["torch", "onnx-int8"], ["drift_max", "per_label"]
    check_waivers([waiver(check="per_label", label="grief")], backends, checks)
    with pytest.raises(GateError, match=r"`label` narrows a waiver of per_label to one label; drift_max is "
                                        r"not judged per label"):
        check_waivers([waiver(label="grief")], backends, checks)
