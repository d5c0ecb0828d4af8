"""A results document of the user's is one record (issue 48): a Document with its Reading,
registered in-process or through the ``encoder_gate.documents`` entry-point group, plus its
builder. The test adds one (``energy.json``: joules per 1,000 texts per backend, with a bound) and
sees it judged into the verdict, merged from shards, rendered in verdict.md, waived like any check,
read by history, and written by a pytest session, out of process too."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.commands.cli import main
from encoder_gate.decision import check_waivers, decide_documents, decide_report_dir, failures_from
from encoder_gate.documents import (
    ACCURACY_FILE,
    DOCUMENTS,
    FINDINGS_FILE,
    SHARD_FILE,
    Document,
    register,
    results_documents,
    write_document,
)
from encoder_gate.errors import GateError
from encoder_gate.plugin.findings_file import record_findings
from encoder_gate.shards.plan import deal, descriptor, parse_shard
from encoder_gate.waivers import Waiver

#: The user's module: the record and its Reading, nothing else of encoder-gate's.
PLUGIN = '''
from encoder_gate.decision import Reason
from encoder_gate.documents import Document, Reading

NAME = "energy.json"


def judge(doc):
    bound = doc["bound"]
    return {b: ([Reason("energy", f"{b}: {j:.2f} J per 1,000 texts, more than {bound:g}", j, bound,
                        "at most")] if j > bound else []) for b, j in doc["joules"].items()}


def merge(copies):
    joules = {}
    for c in copies:
        joules.update(c["joules"])
    return {"bound": copies[0]["bound"], "joules": joules}


def lines(doc):
    return [f"{b}: {j:.2f} J per 1,000 texts (at most {doc['bound']:g})" for b, j in doc["joules"].items()]


def summary(doc):
    return {"bound": doc["bound"], "joules": dict(doc["joules"])}


ENERGY = Document(NAME, 1, "the team's energy meter", results=True, holds="Energy per 1,000 texts",
                  reading=Reading(("energy",), judge, merge, lines, summary))
'''
NAME = "energy.json"
#: A session's accuracy.json of three backends (each passes its checks), and its provenance.
ACCURACY = json.loads((Path(__file__).parent / "data" / "verdicts"
                       / "xdist_workers_evaluations_are_merged_into_one_report" / ACCURACY_FILE).read_text())
PROVENANCE = ACCURACY["provenance"]
JOULES = {"torch": 1.5, "onnx-fp32": 0.9, "onnx-int8": 2.6}


def _module() -> types.ModuleType:
    module = types.ModuleType("energy_plugin")
    exec(compile(PLUGIN, "energy_plugin.py", "exec"), module.__dict__)
    return module


@pytest.fixture
def energy() -> Iterator[Document]:
    """energy.json registered for the test, and gone after it."""
    document = register(_module().ENERGY)
    try:
        yield document
    finally:
        del DOCUMENTS[NAME]


def _energy(joules: dict[str, float], bound: float = 2.0) -> dict[str, Any]:
    return {"provenance": PROVENANCE, "bound": bound, "joules": joules}


def test_a_registered_document_is_judged_into_the_verdict_and_fails_the_backend_it_names(energy: Document):
    assert results_documents()[-1] == NAME
    verdict = decide_documents(ACCURACY, None, others={NAME: _energy(JOULES)})
    assert not verdict.passed
    assert verdict.backend("onnx-int8").failed == ("energy",)
    assert verdict.backend("onnx-fp32").status.value == "pass"  # judged there, and passed
    assert [r.text for r in verdict.failures] == ["onnx-int8: 2.60 J per 1,000 texts, more than 2"]
    assert failures_from(verdict, {NAME}) == ["onnx-int8: energy"]  # a session that wrote it fails on it
    assert failures_from(verdict, {ACCURACY_FILE}) == []
    assert decide_documents(ACCURACY, None, others={NAME: _energy({**JOULES, "onnx-int8": 1.0})}).passed


def test_its_check_is_waived_like_any_other_and_a_passing_one_is_stale(energy: Document):
    until = date.today() + timedelta(days=30)
    waiver = Waiver("onnx-int8", "energy", owner="ops", reason="new meter", until=until, accept=3.0)
    check_waivers([waiver], ["torch", "onnx-int8"], ["f1_keep"])  # a check the registry declares
    findings = {"provenance": PROVENANCE, "by_document": {}, "unwritten": [], "waivers": [waiver.to_json()]}
    waived = decide_documents(ACCURACY, None, findings=findings, others={NAME: _energy(JOULES)})
    assert waived.passed and waived.backend("onnx-int8").status.value == "waived"
    worse = decide_documents(ACCURACY, None, findings=findings,
                             others={NAME: _energy({**JOULES, "onnx-int8": 3.5})})
    assert not worse.passed and "worse than the accept 3" in worse.failures[0].text
    fixed = decide_documents(ACCURACY, None, findings=findings,
                             others={NAME: _energy({**JOULES, "onnx-int8": 1.0})})
    assert fixed.passed and "is stale" in fixed.stale_waivers[0]


def test_a_reading_that_breaks_or_names_an_undeclared_check_is_named(energy: Document):
    with pytest.raises(GateError, match=r"energy\.json could not be judged by its Reading: KeyError"):
        decide_documents(ACCURACY, None, others={NAME: {"provenance": PROVENANCE, "joules": JOULES}})
    with pytest.raises(GateError, match="not a registered results document"):
        decide_documents(ACCURACY, None, others={"watts.json": _energy(JOULES)})


def test_registering_is_refused_for_a_taken_name_or_without_a_reading():
    with pytest.raises(GateError, match=r"two documents are registered as 'accuracy\.json'"):
        register(Document(ACCURACY_FILE, 1, "mine", results=True, reading=_module().ENERGY.reading))
    with pytest.raises(GateError, match="needs results=True and its Reading"):
        register(Document(NAME, 1, "mine", results=True))
    assert NAME not in DOCUMENTS


def _shards(tmp_path: Path, joules: dict[str, float]) -> list[Path]:
    """Two shards, each with its backends' accuracy rows (none) and energy.json."""
    plan = deal(ACCURACY["configured_backends"], {}, 2)
    out = []
    for index in (1, 2):
        share = plan.share(index)
        directory = tmp_path / f"shard-{index}"
        write_document(directory, ACCURACY_FILE, {**ACCURACY, "configured_backends": list(share),
                                                  "backends": {n: r for n, r in ACCURACY["backends"].items()
                                                               if n in share}})
        write_document(directory, NAME, _energy({b: j for b, j in joules.items() if b in share}))
        write_document(directory, SHARD_FILE, descriptor(
            parse_shard(f"{index}/2"), plan, provenance=PROVENANCE, commit="c" * 40,
            documents=[ACCURACY_FILE, NAME], seconds={}))
        record_findings(directory, PROVENANCE, {ACCURACY_FILE, NAME}, [])  # a green session's
        out.append(directory)
    return out


def test_shards_merge_it_the_verdict_shows_it_and_history_records_it(energy: Document, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]):
    first, second = _shards(tmp_path, JOULES)
    out = tmp_path / "merged"
    assert main(["merge", str(first), str(second), "--out", str(out)]) == 1
    merged = json.loads((out / NAME).read_text())
    assert merged["joules"] == JOULES and merged["schema"] == 1
    assert merged["provenance"]["settings"]["backends"] == ACCURACY["configured_backends"]
    page = (out / "verdict.md").read_text()
    assert page.startswith("## encoder-gate: FAIL") and "| onnx-int8 | **FAIL** (energy)" in page
    assert "Energy per 1,000 texts (energy.json):\n- torch: 1.50 J per 1,000 texts (at most 2)" in page
    assert NAME in json.loads((out / "verdict.json").read_text())["sources"]
    capsys.readouterr()
    store = tmp_path / "store"
    assert main(["history", "record", "--store", str(store), "--report-dir", str(out), "--commit", "a" * 40,
                 "--commit-time", "2026-11-26T00:00:00+00:00"]) == 0
    record = json.loads((store / f"{'a' * 40}.json").read_text())
    assert record["results"][NAME] == {"bound": 2.0, "joules": JOULES}
    assert record["backends"]["onnx-int8"]["status"] == "fail" and not record["verdict"]["passed"]


def test_a_shard_that_wrote_a_document_this_install_does_not_know_is_refused(tmp_path: Path,
                                                                             energy: Document):
    first, second = _shards(tmp_path, JOULES)
    del DOCUMENTS[NAME]
    try:
        assert main(["merge", str(first), str(second), "--out", str(tmp_path / "merged")]) == 1
        assert "energy.json, a results document this encoder-gate does not know" in (
            tmp_path / "merged" / "verdict.md").read_text()
    finally:
        register(energy)


def _installed(site: Path) -> Path:
    """The user's module installed as a package would be: the module and its dist-info, whose
    entry_points.txt names the record in the ``encoder_gate.documents`` group."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "energy_plugin.py").write_text(PLUGIN)
    info = site / "energy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: energy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[encoder_gate.documents]\nenergy = energy_plugin:ENERGY\n")
    return site


def test_an_installed_package_registers_it_for_the_commands_out_of_process(tmp_path: Path, energy: Document):
    first, second = _shards(tmp_path, JOULES)  # written here (registered by the fixture); merged elsewhere
    out = tmp_path / "merged"
    code = f"from encoder_gate.commands.cli import main; raise SystemExit(main(['merge', {str(first)!r}, " \
           f"{str(second)!r}, '--out', {str(out)!r}]))"
    env = {"PYTHONPATH": str(_installed(tmp_path / "site")), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "| onnx-int8 | **FAIL** (energy)" in (out / "verdict.md").read_text()
    broken = tmp_path / "broken"
    _installed(broken)
    (broken / "energy_plugin.py").write_text("raise RuntimeError('no meter')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "PYTHONPATH": str(broken)}, timeout=300)
    assert run.returncode == 1
    assert "entry point energy (energy_plugin:ENERGY) cannot be loaded: RuntimeError: no meter" in (
        run.stdout + run.stderr)


SESSION_CONFTEST = textwrap.dedent('''
    import sys
    sys.path.insert(0, {site!r})
    import energy_plugin
    from encoder_gate.documents import DOCUMENTS, register
    from encoder_gate.plugin.stash import write_results

    if energy_plugin.NAME not in DOCUMENTS:
        register(energy_plugin.ENERGY)


    def pytest_sessionfinish(session):
        joules = {{"torch": 1.0, "onnx-fp32": 2.5}}
        write_results(session.config, "energy.json", {{"bound": 2.0, "joules": joules}})
''')


@pytest.mark.slow
def test_a_session_that_writes_it_fails_on_it(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                             cache_dir: Path):
    """The builder: a conftest writes energy.json at the session's end (write_results, with the
    session's provenance); the verdict judges it, and the session, whose tests pass, fails."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    site = _installed(pytester.path / "site")
    pytester.makeconftest(SESSION_CONFTEST.format(site=str(site)))
    pytester.makepyfile(test_smoke="def test_backend(backend):\n    assert backend.name\n")
    report = pytester.path / "report"
    try:
        result = pytester.runpytest("--gate-model=tiny", "--gate-backends=torch,onnx-fp32",
                                    f"--gate-cache-dir={cache_dir}", f"--gate-report-dir={report}",
                                    "--gate-limit=64", "-p", "no:cacheprovider", "-p", "no:randomly")
        result.assert_outcomes(passed=2, failed=1)  # the verdict's own report: encoder-gate::verdict
        assert result.ret == 1
        result.stdout.fnmatch_lines(["FAILED encoder-gate::verdict - the gate's verdict fails: onnx-fp32*"])
        assert "| onnx-fp32 | **FAIL** (energy)" in (report / "verdict.md").read_text()
        verdict = decide_report_dir(report)
        assert verdict.backend("onnx-fp32").failed == ("energy",) and NAME in verdict.sources
        assert json.loads((report / FINDINGS_FILE).read_text())["by_document"] is not None
    finally:
        DOCUMENTS.pop(NAME, None)
