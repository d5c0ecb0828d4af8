"""The verdict: decided (encoder_gate.decision) and rendered (encoder_gate.reporting.verdict) from
hand-made accuracy.json / speedups.json / ab.json documents."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.accuracy.checks import NO_GOLD
from encoder_gate.commands.cli import main
from encoder_gate.decision import Status, decide_documents, failures_from
from encoder_gate.documents import AB_FILE, ACCURACY_FILE, SPEEDUPS_FILE, VERDICT_FILE, VERDICT_JSON
from encoder_gate.errors import GateError
from encoder_gate.publish import build_verdict, render_verdict, write_verdict
from encoder_gate.reporting.verdict import render

BACKENDS = ["torch", "torch-compile", "onnx-fp32", "onnx-int8"]
CASE = "model/normal/bs8/bucketed"


def check(observed: float, bound: float, passed: bool, direction: str = "at most") -> dict[str, Any]:
    return {"observed": observed, "bound": bound, "passed": passed, "direction": direction}


def row(*, drift_ok: bool = True, f1_ok: bool = True, labelled: bool = True) -> dict[str, Any]:
    """One backend of accuracy.json, in the shape accuracy_report._row writes."""
    checks = {"drift_mean": check(1e-4, 0.01, True),
              "drift_max": check(0.02 if drift_ok else 0.9, 0.6, drift_ok)}
    summary: dict[str, Any] = {"dtype": "fp32", "size_bytes": 1000,
                               "drift_max": checks["drift_max"]["observed"]}
    if labelled:
        checks["f1_keep"] = check(0.71 if f1_ok else 0.50, 0.70, f1_ok, "at least")
        summary["f1"] = checks["f1_keep"]["observed"]
    return {**summary, "checks": checks,
            "verdict": "pass" if all(c["passed"] for c in checks.values()) else "fail"}


def prov(model: str = "tiny", content_hash: str = "abc", written: str = "2026-11-23T10:00:00+0000",
         source: str = "bundled") -> dict[str, Any]:
    """A provenance block, in the shape runtime.provenance.provenance writes."""
    return {"model": {"name": model, "content_hash": content_hash},
            "dataset": {"source": source, "sha256": None, "split": "test", "variant": "normal",
                        "limit": None},
            "settings": {"device": "cpu", "threads": 1, "backends": list(BACKENDS)}, "written": written}


def accuracy_doc(rows: dict[str, dict[str, Any]], *, not_evaluated: dict[str, str] | None = None,
                 configured: list[str] | None = None, labelled: bool = True) -> dict[str, Any]:
    """An accuracy.json document, in the shape accuracy_report.accuracy_payload writes."""
    return {
        "schema": 1, "provenance": prov(),
        "model": {"name": "tiny", "path": "/x", "task": "multi_label", "model_type": "roberta",
                  "content_hash": "abc"},
        "dataset": {"source": "bundled", "split": "test", "variant": "normal", "examples": 40},
        "threshold": 0.5, "versions": {}, "labelled": labelled,
        "configured_backends": configured if configured is not None else list(BACKENDS),
        "backends": rows, "not_evaluated": not_evaluated or {},
    }


def speedups_doc(*, failures: list[tuple[str, str]] | None = None,
                 regressions: list[tuple[str | None, str]] | None = None,
                 gate: bool = True, warnings: list[str] | None = None) -> dict[str, Any]:
    """A speedups.json document, in the shape bench.finish_session writes (the reference, torch,
    has no speedup of its own): `failures` the speed rule's (backend, line), `regressions`
    pytest-benchmark's (backend, line), each as the structured record the session writes."""
    current = {"torch-compile": 1.10, "onnx-fp32": 1.25, "onnx-int8": 2.50}
    doc: dict[str, Any] = {"reference": "torch", "provenance": prov(written="2026-11-23T10:05:00+0000"),
                           "speedups": {CASE: dict(current)}}
    if gate:
        base = {"torch-compile": 1.12, "onnx-fp32": 1.30, "onnx-int8": 2.45}
        doc["gate"] = {
            "baseline": "0001_base.json", "max_drop": 0.15,
            "compared": {CASE: {b: {"baseline": base[b], "current": current[b]} for b in current}},
            "failures": [{"backend": b, "case": CASE, "rule": "mannwhitney", "observed": current.get(b, 1.0),
                          "bound": base.get(b, 1.0) * 0.85, "baseline": base.get(b, 1.0), "p_value": 0.01,
                          "text": text} for b, text in failures or []],
            "warnings": list(warnings or []),
        }
    if regressions is not None:
        doc["compare"] = {"regressions": [{"backend": b, "case": CASE if b else None, "text": text}
                                          for b, text in regressions]}
    return doc


def table_rows(text: str) -> dict[str, list[str]]:
    """backend -> the cells of its verdict table row."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| backend"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


def all_pass() -> dict[str, dict[str, Any]]:
    return {name: row() for name in BACKENDS}


def test_every_configured_backend_gets_a_row_and_all_passing_is_pass():
    """Each configured backend has a row, in configured order; nothing failed gives PASS."""
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc())
    assert text.startswith("## encoder-gate: PASS")
    rows = table_rows(text)
    assert list(rows) == BACKENDS
    assert rows["torch"][:3] == ["reference", "0.7100", ""]  # judged against itself: no bounds
    assert all(cells[0] == "pass" for name, cells in rows.items() if name != "torch")
    assert "Failures:" not in text


def test_the_verdict_says_what_it_read_from_the_cache_and_nothing_when_it_computed_everything():
    """accuracy.json's `cached_outputs` (predictions and kept passes read instead of computed) is one line
    of the verdict, backends in configured order; a session that computed everything has none."""
    doc = accuracy_doc(all_pass())
    assert "artifact cache" not in render_verdict(doc, speedups_doc())
    doc["cached_outputs"] = {"onnx-int8": {"predictions": True, "checks": ["smoke", "padding[cjk]"]},
                         "torch": {"predictions": True, "checks": ["smoke"]},
                         "onnx-fp32": {"predictions": False}}
    text = render_verdict(doc, speedups_doc())
    assert ("- Read from the artifact cache, not computed in this session: the predictions of torch, "
            "onnx-int8; the passes of 3 checks (smoke tests, fixed-example padding properties) of torch, "
            "onnx-int8. An earlier session computed them") in text
    assert "onnx-fp32" not in text.split("Read from the artifact cache")[1].split("\n")[0]


def test_a_session_that_ran_a_selection_of_its_tests_says_so_under_the_title():
    """`pytest accuracy -k 'not padding'`: the verdict judges the documents, but the deselected tests
    never ran; the line right under the title says which session selected what."""
    doc = accuracy_doc(all_pass())
    assert "Selected tests only" not in render_verdict(doc, speedups_doc())
    doc["provenance"]["selection"] = "-k 'not padding and not drift'"
    text = render_verdict(doc, speedups_doc())
    assert text.startswith("## encoder-gate: PASS\n\nSelected tests only (the session of accuracy.json: -k "
                           "'not padding and not drift'): the tests deselected there did not run, and this "
                           "verdict does not cover them.\n")


def test_a_backend_whose_own_test_failed_is_a_fail_in_its_row_though_its_checks_pass():
    """A team's test of onnx-fp32 failed: the title says FAIL, and so does onnx-fp32's row at a glance
    (its checks' own word beside it), not `pass` with the reason lines below the table."""
    from encoder_gate.decision import Finding
    from encoder_gate.publish import build_verdict

    doc = accuracy_doc(all_pass())
    failed = Finding("test", "AssertionError: too slow", "accuracy/test_team.py::test_team_check[onnx-fp32]",
                     "onnx-fp32", "call")
    findings = {"provenance": doc["provenance"], "by_document": {ACCURACY_FILE: [failed.to_json()]},
                "unwritten": []}
    report = build_verdict(doc, None, findings=findings)
    rows = table_rows(report.markdown)
    assert report.markdown.startswith("## encoder-gate: FAIL")
    assert rows["onnx-fp32"][0] == "**FAIL** (test_team_check[onnx-fp32] failed, below; its checks: pass)"
    assert report.markdown.startswith("## encoder-gate: FAIL\n\n**Failed:** onnx-fp32 "
                                      "(test_team_check[onnx-fp32]). Why, with the numbers: below the table.")
    assert rows["onnx-int8"][0] == "pass"
    assert "accuracy/test_team.py::test_team_check[onnx-fp32] (failed): AssertionError: too slow" in (
        report.markdown)


def test_how_the_task_was_read_is_said_when_config_json_did_not_say():
    doc = accuracy_doc(all_pass())
    doc["model"]["task_note"] = "config.json names no problem_type: read as transformers reads it"
    report = build_verdict(doc, speedups_doc())
    assert "- config.json names no problem_type: read as transformers reads it" in report.markdown
    assert report.caveats[0] == doc["model"]["task_note"]


def test_texts_longer_than_the_model_is_fed_are_counted_in_the_verdict_and_the_terminal():
    doc = accuracy_doc(all_pass())
    doc["dataset"]["cut"] = {"texts": 1, "max_tokens": 128}
    report = build_verdict(doc, None)
    said = "1 of 40 evaluation texts is longer than the 128 tokens the model is fed"
    assert f"- {said}" in report.markdown and any(c.startswith(said) for c in report.caveats)


def test_a_limited_evaluation_set_is_said_in_the_verdict_and_the_terminal():
    """Walk AB: `limit = 3` passed on 3 texts, and only verdict.md's model line said how many."""
    doc = accuracy_doc(all_pass())
    assert not any("--gate-limit" in c for c in build_verdict(doc, None).caveats)
    doc["provenance"]["dataset"]["limit"] = 40
    report = build_verdict(doc, None)
    said = "accuracy judged on the first 40 texts of `bundled` only (limit 40, --gate-limit)"
    assert f"- {said}" in report.markdown and said in report.caveats
    doc["provenance"]["dataset"]["limit"] = 5000  # more than the set holds: it cut none (review AM)
    assert not any("--gate-limit" in c for c in build_verdict(doc, None).caveats)


def test_the_users_own_selection_is_recorded_as_given_and_the_plugins_is_not():
    from encoder_gate.plugin.core import _selection

    class Config:
        def __init__(self, **options: Any) -> None:
            self.options = options

        def getoption(self, name: str, default: Any = None) -> Any:
            return self.options.get(name, default)

    assert _selection(Config(keyword="", markexpr="", deselect=None)) is None
    assert _selection(Config(keyword="not padding", markexpr="not slow", deselect=["a.py::t[x]"])) == (
        "-k 'not padding' -m 'not slow' --deselect 'a.py::t[x]'")


def test_a_results_document_without_a_result_of_any_backend_never_passes(tmp_path: Path):
    """accuracy.json emptied of its rows (or a report directory of findings.json alone) judged no
    backend: FAIL, saying so; a results document that is no JSON object is an error, not missing."""
    from encoder_gate.documents import FINDINGS_FILE, read_document, write_document
    from encoder_gate.publish import build_verdict

    empty = accuracy_doc({})
    report = build_verdict(empty, None)
    assert not report.passed and report.markdown.startswith("## encoder-gate: FAIL")
    assert ("nothing was judged: accuracy.json holds no result of any backend; re-run `pytest accuracy` "
            "and/or `pytest benchmarks`") in report.markdown
    findings = {"provenance": prov(), "by_document": {}, "unwritten": []}
    assert not build_verdict(None, None, findings=findings).passed
    for doc in ([], None, "x"):
        (tmp_path / ACCURACY_FILE).write_text(json.dumps(doc))
        with pytest.raises(GateError, match=r"accuracy\.json is not a document of encoder-gate \(a JSON"):
            read_document(tmp_path, ACCURACY_FILE)
    (tmp_path / ACCURACY_FILE).write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(GateError, match="is not readable JSON"):
        read_document(tmp_path, ACCURACY_FILE)
    write_document(tmp_path, FINDINGS_FILE, findings)


def test_configured_backend_without_results_still_gets_a_row():
    """A configured backend that neither evaluated nor benchmarked still appears in the table."""
    rows = all_pass()
    del rows["onnx-int8"]
    text = render_verdict(accuracy_doc(rows, configured=[*BACKENDS, "onnx-fp16"]), None)
    assert list(table_rows(text)) == [*BACKENDS, "onnx-fp16"]


def test_a_configured_backend_nothing_measured_is_not_run_never_pass():
    """A configured backend with no accuracy row, no speedup and no cell against the base is `not
    run` (it was once shown as `pass (speed only)`, with nothing measured); it neither passes nor fails
    the verdict. One with a speedup is judged on speed alone."""
    rows = all_pass()
    del rows["onnx-int8"], rows["onnx-fp32"]
    verdict = decide_documents(accuracy_doc(rows), None)
    assert verdict.backend("onnx-int8").status is Status.NOT_RUN and verdict.passed
    cells = table_rows(render(verdict).markdown)
    assert cells["onnx-int8"][0] == "not run (no results of it in this report directory)"
    sp = speedups_doc()
    sp["provenance"] = prov(written="2026-11-23T09:00:00+0000")
    with_speed = decide_documents(accuracy_doc(rows), sp)
    assert with_speed.backend("onnx-int8").status is Status.PASS
    assert with_speed.backend("onnx-int8").scope == "speed only"


def test_failed_check_fails_that_backend_and_the_title():
    """A failed accuracy check marks its backend **FAIL** naming the check, and the title FAIL."""
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False)
    text = render_verdict(accuracy_doc(rows), speedups_doc())
    assert text.startswith("## encoder-gate: FAIL")
    cells = table_rows(text)
    assert cells["onnx-int8"][0] == "**FAIL** (drift_max)"
    assert "**fail**" in cells["onnx-int8"][2]  # the drift max cell
    assert all(cells[b][0] == "pass" for b in ("torch-compile", "onnx-fp32"))
    assert cells["torch"][0] == "reference"
    assert "- onnx-int8: drift_max = 0.9, bound at most 0.6" in text


def test_failed_f1_is_named_and_shows_its_bound():
    """An F1 keep failure names f1_keep, with observed and bound in the F1 cell."""
    rows = all_pass()
    rows["onnx-fp32"] = row(f1_ok=False)
    cells = table_rows(render_verdict(accuracy_doc(rows), None))
    assert cells["onnx-fp32"][0] == "**FAIL** (f1_keep)"
    assert cells["onnx-fp32"][1] == "0.5000 (>= 0.7000) **fail**"


def test_not_evaluated_backend_is_not_checked_and_fails():
    """A backend in not_evaluated shows "not checked" with the reason and fails the verdict."""
    rows = all_pass()
    del rows["onnx-int8"]
    text = render_verdict(accuracy_doc(rows, not_evaluated={"onnx-int8": "onnxruntime is missing"}), None)
    assert text.startswith("## encoder-gate: FAIL")
    assert table_rows(text)["onnx-int8"][0] == "not checked: onnxruntime is missing"


def test_a_pipe_in_a_cell_is_escaped_so_the_row_keeps_its_columns():
    """An error's text with a "|" (a progress bar a crashed build printed) stays in its cell."""
    rows = all_pass()
    del rows["onnx-int8"]
    text = render_verdict(accuracy_doc(rows, not_evaluated={"onnx-int8": "died at 40%| 4/10"}), None)
    line = next(line for line in text.splitlines() if line.startswith("| onnx-int8 "))
    assert "died at 40%\\| 4/10" in line
    header = next(line for line in text.splitlines() if line.startswith("| backend "))
    assert len(line.replace("\\|", "").split("|")) == len(header.split("|"))


def test_speed_failure_marks_only_its_backend():
    """A gate failure of onnx-fp32 fails onnx-fp32 alone (not torch, not torch-compile)."""
    failure = (f"onnx-fp32 {CASE}: speedup over torch eager 0.90x, baseline 1.30x (-30.8%; allowed -15%)")
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc(failures=[(failure.split(' ')[0], failure)]))
    assert text.startswith("## encoder-gate: FAIL")
    cells = table_rows(text)
    assert cells["onnx-fp32"][0] == "**FAIL** (speed)"
    assert [cells[b][0] for b in ("torch", "torch-compile", "onnx-int8")] == ["reference", "pass", "pass"]
    assert f"- {failure}" in text


def test_speed_failure_of_torch_compile_is_not_charged_to_torch():
    """A gate failure line of torch-compile marks torch-compile, and torch stays pass."""
    failure = f"torch-compile {CASE}: speedup over torch eager 0.50x, baseline 1.12x (-55.4%; allowed -15%)"
    doc = speedups_doc(failures=[("torch-compile", failure)])
    cells = table_rows(render_verdict(accuracy_doc(all_pass()), doc))
    assert cells["torch-compile"][0] == "**FAIL** (speed)"
    assert cells["torch"][0] == "reference"


def test_compare_regression_is_attributed_to_its_backend():
    """A --benchmark-compare-fail line for `...-onnx-fp32-normal-bucketed` fails onnx-fp32 only."""
    line = ("test_model_only[bs8-onnx-fp32-normal-bucketed] (0002_x): Field 'min' has failed "
            "PercentageRegressionCheck: 31.000000000 > 25.000000000")
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc(regressions=[("onnx-fp32", line)]))
    assert text.startswith("## encoder-gate: FAIL")
    cells = table_rows(text)
    assert cells["onnx-fp32"][0] == "**FAIL** (speed)"
    assert [cells[b][0] for b in ("torch", "torch-compile", "onnx-int8")] == ["reference", "pass", "pass"]
    assert f"- {line} (pytest-benchmark --benchmark-compare-fail)" in text


def test_compare_regression_of_torch_compile_is_not_charged_to_torch():
    """A regression of `...-torch-compile-...` fails torch-compile; torch stays pass (prefix trap)."""
    line = "test_model_only[bs8-torch-compile-normal-bucketed] (0002_x): Field 'min' has failed ..."
    doc = speedups_doc(regressions=[("torch-compile", line)])
    cells = table_rows(render_verdict(accuracy_doc(all_pass()), doc))
    assert cells["torch-compile"][0] == "**FAIL** (speed)"
    assert cells["torch"][0] == "reference"


def test_compare_regression_of_torch_is_attributed_to_torch():
    """A regression of `...-torch-normal-...` (the reference) fails torch, not torch-compile."""
    line = "test_model_only[bs8-torch-normal-bucketed] (0002_x): Field 'min' has failed ..."
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc(regressions=[("torch", line)]))
    assert text.startswith("## encoder-gate: FAIL")
    cells = table_rows(text)
    assert cells["torch-compile"][0] == "pass"
    assert cells["torch"][0] == "**FAIL** (speed)"


def test_passed_compare_does_not_fail():
    """A `compare` entry that passed (no regressions) leaves the verdict PASS."""
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc(regressions=[]))
    assert text.startswith("## encoder-gate: PASS")


def test_speedups_show_with_their_baseline():
    """Speedup cells show the batch size, the current speedup and "(base 1.30x)"; the baseline is named."""
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc(warnings=["model threads differs"]))
    cells = table_rows(text)
    assert cells["onnx-fp32"][3] == "bs8 1.25x (base 1.30x)"
    assert cells["onnx-int8"][3] == "bs8 2.50x (base 2.45x)"
    assert cells["torch"][3] == ""
    assert "against `0001_base.json` (a drop over 15% fails)" in text
    assert "Warnings:\n- model threads differs" in text


def test_speedups_without_baseline_say_so():
    """Without a gate entry the speedups show bare and the verdict says there was no baseline."""
    text = render_verdict(accuracy_doc(all_pass()), speedups_doc(gate=False))
    assert table_rows(text)["onnx-fp32"][3] == "bs8 1.25x"
    assert "Speed: each speedup over torch eager is reported, compared with no earlier run" in text
    assert text.startswith("## encoder-gate: PASS")


def test_speed_only_backends_pass_on_speed_alone():
    """Without accuracy.json each benchmarked backend gets a "pass (speed only)" row."""
    text = render_verdict(None, speedups_doc())
    assert "Model `tiny`; no accuracy results of it in this report directory (run `pytest accuracy`)." in text
    assert {b: c[0] for b, c in table_rows(text).items()} == {
        "torch-compile": "pass (speed only)", "onnx-fp32": "pass (speed only)",
        "onnx-int8": "pass (speed only)"}


def test_unlabelled_texts_say_f1_was_skipped():
    """`labelled: false` prints the F1-skipped sentence; the parity checks still decide."""
    rows = {name: row(labelled=False) for name in ("torch", "onnx-fp32")}
    text = render_verdict(accuracy_doc(rows, configured=["torch", "onnx-fp32"], labelled=False), None)
    assert "F1 skipped: there are no gold labels (unlabelled --gate-texts); every parity check ran." in text
    assert text.startswith("## encoder-gate: PASS")
    assert table_rows(text)["onnx-fp32"][1] == ""  # no F1 cell
    labelled = render_verdict(accuracy_doc(all_pass()), None)
    assert "F1 skipped" not in labelled
    assert NO_GOLD.startswith("F1 skipped: there are no gold labels")


def test_no_results_is_an_error_with_advice(tmp_path: Path):
    """With neither file, rendering and writing raise GateError telling to run the pytest sessions."""
    with pytest.raises(GateError, match=r"run `pytest accuracy` and/or `pytest benchmarks` first"):
        render_verdict(None, None)
    with pytest.raises(GateError, match=r"accuracy.json and speedups.json"):
        write_verdict(tmp_path)
    assert not (tmp_path / VERDICT_FILE).exists()


def test_unreadable_json_is_a_gate_error(tmp_path: Path):
    """A corrupt accuracy.json is a GateError naming the file, not a traceback."""
    (tmp_path / "accuracy.json").write_text("{not json")
    with pytest.raises(GateError, match=r"accuracy.json is not readable JSON"):
        write_verdict(tmp_path)


def test_write_verdict_writes_verdict_md_and_returns_it(tmp_path: Path):
    """write_verdict reads both files, writes verdict.md and returns the same markdown."""
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False)
    (tmp_path / "accuracy.json").write_text(json.dumps(accuracy_doc(rows)))
    (tmp_path / "speedups.json").write_text(json.dumps(speedups_doc()))
    text = write_verdict(tmp_path)
    assert (tmp_path / VERDICT_FILE).read_text() == text
    assert text.startswith("## encoder-gate: FAIL")
    assert "from accuracy.json (2026-11-23T10:00:00+0000), speedups.json (2026-11-23T10:05:00+0000)._" in text
    assert table_rows(text)["onnx-int8"][0] == "**FAIL** (drift_max)"


def test_write_verdict_with_only_speedups(tmp_path: Path):
    """With speedups.json alone the verdict is written and says accuracy.json is missing."""
    (tmp_path / "speedups.json").write_text(json.dumps(speedups_doc()))
    text = write_verdict(tmp_path)
    assert "from speedups.json (2026-11-23T10:05:00+0000); accuracy.json missing._" in text


def test_cli_verdict_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`encoder-gate verdict --report-dir DIR` prints the verdict and writes DIR/verdict.md. Results
    without the findings.json their session wrote beside them (an upload that left it out, a file
    deleted) fail: a red session's failed tests are only there."""
    from encoder_gate.plugin.stash import record_findings

    (tmp_path / "accuracy.json").write_text(json.dumps(accuracy_doc(all_pass())))
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1
    assert "findings.json of these results is missing" in capsys.readouterr().out
    (tmp_path / "findings.json").write_text("{}")  # emptied: no provenance, so it joins nothing
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1
    assert "findings.json of these results is missing" in capsys.readouterr().out
    record_findings(tmp_path, prov(), {"accuracy.json"}, [])
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## encoder-gate: PASS")
    assert "| onnx-fp32 | pass |" in out
    assert out.strip() == (tmp_path / VERDICT_FILE).read_text().strip()


def test_cli_verdict_prints_the_decided_verdict_until_a_results_document_changes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`encoder-gate verdict` prints the verdict the last session decided (verdict.json names the
    documents it judged and when they were written) and decides nothing again; once a results
    document is rewritten, or one it did not judge appears, it decides again and rewrites both files.
    It exits 1 on a failing verdict, as `merge` does."""
    from encoder_gate.plugin.stash import record_findings

    (tmp_path / "accuracy.json").write_text(json.dumps(accuracy_doc(all_pass())))
    record_findings(tmp_path, prov(), {"accuracy.json"}, [])
    write_verdict(tmp_path)
    stored = (tmp_path / VERDICT_FILE).read_text()
    marked = stored.replace("## encoder-gate: PASS", "## encoder-gate: PASS (as stored)")
    (tmp_path / VERDICT_FILE).write_text(marked)
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("## encoder-gate: PASS (as stored)")
    rows = all_pass()
    rows["onnx-int8"] = row(drift_ok=False)
    doc = accuracy_doc(rows)
    doc["provenance"] = prov(written="2026-11-23T11:00:00+0000")
    (tmp_path / "accuracy.json").write_text(json.dumps(doc))
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1  # a failing verdict exits 1
    assert capsys.readouterr().out.startswith("## encoder-gate: FAIL")
    assert json.loads((tmp_path / VERDICT_JSON).read_text())["passed"] is False
    (tmp_path / "speedups.json").write_text(json.dumps(speedups_doc()))  # judged by no verdict yet
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1
    assert "speedups.json (2026-11-23T10:05:00+0000)" in capsys.readouterr().out


def test_cli_verdict_fails_for_a_model_or_dataset_changed_since_its_results(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Walk AE: after `pytest accuracy`, a retrained classifier bias (or an evaluation file cut in
    half), and `encoder-gate verdict` still printed PASS and exited 0: the results are of the files
    as they were. It prints the stored verdict, then fails for the files here now, naming each."""
    from encoder_gate.cache import hash_files, sha256_file
    from encoder_gate.models.spec import model_files
    from encoder_gate.plugin.stash import record_findings

    model, data, report = tmp_path / "model", tmp_path / "eval.jsonl", tmp_path / "report"
    model.mkdir()
    report.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    data.write_text('{"text": "a", "labels": [0]}\n')
    block = prov(model="model", content_hash=hash_files(model, model_files(model))[:20], source="eval.jsonl")
    block["model"]["dir"], block["dataset"]["file"] = str(model), str(data)  # where, from anywhere
    block["dataset"]["sha256"] = sha256_file(data)[:16]
    doc = accuracy_doc(all_pass())
    doc["provenance"] = block
    (report / "accuracy.json").write_text(json.dumps(doc))
    record_findings(report, block, {"accuracy.json"}, [])
    assert main(["verdict", "--report-dir", str(report)]) == 0
    (model / "model.safetensors").write_bytes(b"retrained")
    data.write_text("")
    assert main(["verdict", "--report-dir", str(report)]) == 1
    captured = capsys.readouterr()
    assert "## encoder-gate: PASS" in captured.out  # the verdict of the files as they were
    assert re.search(rf"^encoder-gate verdict: FAIL for the files here now: the model directory {model} "
                     r"changed since (accuracy|findings)\.json was written \(content \w{8} then, \w{8} now\)",
                     captured.err)
    assert re.search(rf"the dataset {data} changed since \w+\.json was written \(contents ", captured.err)


def test_cli_verdict_without_results_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`encoder-gate verdict` on an empty directory exits 1 with the advice on stderr."""
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "encoder-gate verdict: error: no results to judge: run `pytest accuracy`" in err
    (tmp_path / "verdict.md").write_text("")
    assert main(["verdict", "--report-dir", str(tmp_path / "verdict.md")]) == 1
    assert "is not a directory: name the report directory" in capsys.readouterr().err


def test_gate_failure_of_a_path_with_spaces_is_attributed_to_that_backend():
    """A speed failure of `onnx:my models/m.onnx` fails that backend's row, whole name and all."""
    name = "onnx:my models/m.onnx"
    acc = {"provenance": prov(), "model": {"name": "t", "task": "multi_label"},
           "dataset": {"source": "b", "examples": 1},
           "configured_backends": ["torch", name],
           "backends": {b: {"checks": {}, "verdict": "pass"} for b in ("torch", name)}}
    sp = {"reference": "torch", "provenance": prov(), "speedups": {"model/normal/bs8/bucketed": {name: 1.0}},
          "gate": {"baseline": "base.json", "max_drop": 0.15, "compared": {},
                   "failures": [{"backend": name, "case": "model/normal/bs8/bucketed", "rule": "point",
                                 "observed": 1.0, "bound": 1.7, "baseline": 2.0, "p_value": None,
                                 "text": f"{name} model/normal/bs8/bucketed: speedup over torch eager "
                                         "1.00x, baseline 2.00x (-50.0%; allowed -15%)"}]}}
    text = render_verdict(acc, sp)
    assert f"| {name} | **FAIL** (speed)" in text and "| torch | reference" in text


def test_full_sweep_cells_name_their_case():
    """With several modes or variants, each speedup cell names its whole case, not just the batch size."""
    sp = {"provenance": prov(), "speedups": {"model/normal/bs8/bucketed": {"onnx-fp32": 1.1},
                       "e2e/normal/bs8/bucketed": {"onnx-fp32": 0.9}}}
    text = render_verdict(None, sp)
    assert "model/normal/bs8/bucketed 1.10x" in text and "e2e/normal/bs8/bucketed 0.90x" in text


def test_batch_sizes_are_listed_by_their_number_not_their_spelling():
    """bs1, bs8, bs32 in that order (not bs1, bs32, bs8 as the strings sort), in the row's cell and in
    the measured cells' lines (seen on the first GPU run's verdict)."""
    cases = {f"model/normal/bs{n}/bucketed": {"onnx-fp16": float(n)} for n in (32, 1, 8)}
    stats = {case: {"onnx-fp16": {"speedup": v["onnx-fp16"], "rounds": 7}} for case, v in cases.items()}
    text = render_verdict(None, {"provenance": prov(), "speedups": cases, "stats": stats})
    assert "bs1 1.00x; bs8 8.00x; bs32 32.00x" in text
    measured = [line for line in text.splitlines() if line.startswith("- onnx-fp16 model/normal/")]
    assert [line.split("/")[2] for line in measured] == ["bs1", "bs8", "bs32"]


def test_statistical_gate_names_its_significance_level():
    """A speed gate that tested significance says a drop fails only when significant, with its alpha."""
    doc = speedups_doc()
    doc["gate"]["alpha"] = 0.05
    text = render_verdict(accuracy_doc(all_pass()), doc)
    assert "(a drop over 15% fails when significant, p < 0.05)." in text


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
    assert ("accuracy.json in this directory left out: dataset data/eval.csv, split test (columns text "
            "'review', labels 'sentiment'), not data/eval.csv, split test (columns text 'reviews', labels "
            "'sentiment')") in text
    current = {**prov(), "dataset": data("3333bbbb4444", "review")}
    assert ("dataset data/eval.csv, split test (contents 1111aaaa), not data/eval.csv, split test (contents "
            "3333bbbb)") in render_verdict(acc, {**speedups_doc(), "provenance": current}, None, current)


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
    assert ("accuracy.json in this directory left out: dataset data/eval.jsonl, split test, not "
            "/repo/data/eval.jsonl, split test") in render_verdict(acc, sp, None, sp["provenance"])
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
    said = "accuracy.json in this directory left out: model model of other contents (d7428a92, not a868c3e4),"
    assert said in text and "computed from" not in text


def test_another_dataset_is_left_out_and_a_file_without_provenance_never_joins():
    """Same model, other dataset: left out by name; a file from before provenance is left out too,
    and with nothing of this model left there is no verdict."""
    sp = speedups_doc()
    sp["provenance"] = prov(source="data/eval.jsonl", written="2026-11-23T11:00:00+0000")
    text = render_verdict(accuracy_doc(all_pass()), sp, None, prov())
    assert "speedups.json in this directory left out: dataset data/eval.jsonl, split test, not bundled" \
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
    from encoder_gate.reporting.verdict import integer_path_notes

    info = {"this_cpu": "exact", "targets": ["x86-avx2", "x86-vnni"], "target_paths": ["exact", "saturating"]}
    exact = {"integer_path": "exact", "can_saturate": False}
    plain = {"integer_paths": info, "backends": {"onnx-int8": exact}}
    assert not any("NAME~PATH" in line for line in integer_path_notes(plain))
    twin = {"integer_paths": info, "backends": {
        "onnx-int8": {"integer_path": "exact", "can_saturate": True},
        "onnx-int8~saturating": {"integer_path": "saturating", "can_saturate": True,
                                 "computed_by": "rewrite"}}}
    assert "A row `NAME~PATH` is the same file" in integer_path_notes(twin)[0]
