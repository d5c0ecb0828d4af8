"""The verdict: decided (encoder_gate.decision) and rendered (encoder_gate.reporting.verdict) from
hand-made accuracy.json / speedups.json / ab.json documents."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.commands.cli import main
from encoder_gate.decision import Status, decide_documents
from encoder_gate.documents import ACCURACY_FILE, VERDICT_FILE, VERDICT_JSON
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
    assert "Not the project's whole gate" not in render_verdict(doc, speedups_doc())
    doc["provenance"]["selection"] = "-k 'not padding and not drift'"
    text = render_verdict(doc, speedups_doc())
    assert text.startswith("## encoder-gate: PASS\n\nNot the project's whole gate (the session of "
                           "accuracy.json: -k 'not padding and not drift'): what it left out did not run, "
                           "and this verdict does not cover it.\n")
    # two sessions of one selection, written at two times, are two (a trial read main's speedups.json and
    # its PR's accuracy.json as "the session of" both); one session's documents are one
    speed = speedups_doc()
    speed["provenance"]["selection"] = doc["provenance"]["selection"]
    assert ("(the session of accuracy.json: -k 'not padding and not drift'; the session of speedups.json: "
            "-k 'not padding and not drift')") in render_verdict(doc, speed)
    speed["provenance"]["written"] = doc["provenance"]["written"]
    assert "(the session of accuracy.json and speedups.json: -k" in render_verdict(doc, speed)


def test_a_backend_whose_own_test_failed_is_a_fail_in_its_row_though_its_checks_pass():
    """A team's test of onnx-fp32 failed: the title says FAIL, and so does onnx-fp32's row at a glance
    (its checks' own word beside it), not `pass` with the reason lines below the table."""
    from encoder_gate.decision import Finding

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
    # every test of it an error (its module half removed): three named in its cell, the rest counted
    errors = [Finding("test", "AttributeError: no SessionOptions", f"accuracy/test_a.py::test_{i}[onnx-fp32]",
                      "onnx-fp32", "setup") for i in range(21)]
    findings["by_document"][ACCURACY_FILE] = [e.to_json() for e in errors]
    many = build_verdict(doc, None, findings=findings)
    assert table_rows(many.markdown)["onnx-fp32"][0] == (
        "**FAIL** (test_0[onnx-fp32], test_1[onnx-fp32], test_2[onnx-fp32] and 18 more failed, below; its "
        "checks: pass)")
    listed = [f"accuracy/test_a.py::test_{i}[onnx-fp32] (error at setup)" for i in range(21)]
    assert all(line in many.markdown for line in listed)


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
    assert "- onnx-int8: onnxruntime is missing" in text.split("Failures:")[1]


def test_a_long_reason_a_backend_was_not_checked_is_said_in_full_below_the_table_not_cut_in_its_cell():
    """A stale or corrupt file's error (300 characters) was cut at 120 in its cell, mid-word, and said in
    full nowhere, while the line above the table sent the reader below it; it widened every row of the
    terminal's table too. The cell points below, where the failures list says it whole."""
    rows = all_pass()
    del rows["onnx-int8"]
    why = ("ONNX Runtime could not load /tmp/x/broken.onnx: the file is corrupt, truncated or not an ONNX "
           "model (its protobuf does not parse). Re-export it, e.g. `encoder-gate export MODEL --out DIR`.")
    text = render_verdict(accuracy_doc(rows, not_evaluated={"onnx-int8": why}), None)
    assert table_rows(text)["onnx-int8"][0] == "not checked (why: below)"
    assert "**Failed:** onnx-int8 (not evaluated). Why, with the numbers: below the table." in text
    assert f"- onnx-int8: {why}" in text.split("Failures:")[1]


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
    from encoder_gate.plugin.findings_file import record_findings

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
    from encoder_gate.plugin.findings_file import record_findings

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
    from encoder_gate.plugin.findings_file import record_findings

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
    # on stdout, after the verdict: the job summary (`encoder-gate verdict >> $GITHUB_STEP_SUMMARY`) kept
    # the PASS alone where this was on stderr
    assert re.search(rf"^encoder-gate verdict: FAIL for the files here now: the model directory {model} "
                     r"changed since (accuracy|findings)\.json was written \(content \w{8} then, \w{8} now\)",
                     captured.out, re.MULTILINE)
    assert re.search(rf"the dataset {data} changed since \w+\.json was written \(contents ", captured.out)


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


@pytest.mark.parametrize(("damage", "said"), [
    (lambda doc: doc.update(backends=[1, 2]), "backends is an array, not an object"),
    (lambda doc: doc["backends"].update({"onnx-fp32": None}), "backends.onnx-fp32 is null, not an object"),
    (lambda doc: doc["backends"]["onnx-fp32"].pop("checks"), "backends.onnx-fp32 has no checks"),
    (lambda doc: doc["backends"]["onnx-fp32"]["checks"]["drift_max"].update(passed="yes"),
     "backends.onnx-fp32.checks.drift_max.passed is a string, not true or false"),
])
def test_a_damaged_results_document_is_one_line_never_a_traceback_or_a_pass(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any, said: str):
    """A hand-edited or damaged accuracy.json was read as it stood: backends as an array raised a
    TypeError from inside the judge, a row of null or without its checks was read as passed."""
    from encoder_gate.plugin.findings_file import record_findings

    doc = accuracy_doc(all_pass())
    damage(doc)
    (tmp_path / "accuracy.json").write_text(json.dumps(doc))
    record_findings(tmp_path, prov(), {"accuracy.json"}, [])
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"accuracy.json is not a document of encoder-gate as written ({said}); remove it, or re-run " \
           "`pytest accuracy`" in err


def test_a_damaged_findings_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "accuracy.json").write_text(json.dumps(accuracy_doc(all_pass())))
    (tmp_path / "findings.json").write_text(json.dumps({"provenance": prov(), "by_document": "x"}))
    assert main(["verdict", "--report-dir", str(tmp_path)]) == 1
    assert "findings.json is not a document of encoder-gate as written (by_document is a string, not an " \
           "object)" in capsys.readouterr().err


def test_a_row_no_check_judged_reads_not_run_not_pass():
    """A session that ran only a team's own test of `backend_evaluation` (selected by path) wrote rows
    no shipped check judged: onnx-fp32 read `pass ... drift max 4.47e-08`. It reads `not run`."""
    rows = all_pass()
    rows["onnx-fp32"] = {**rows["onnx-fp32"], "checks": {}}
    verdict = decide_documents(accuracy_doc(rows), None, None, None, None)
    status = {b.name: b.status for b in verdict.backends}
    assert status["onnx-fp32"] is Status.NOT_RUN and status["torch"] is Status.REFERENCE
    assert status["onnx-int8"] is Status.PASS
