"""The plugin's gate behaviour, black-box with pytester on the tiny model: a session that checked
nothing fails and unlabelled --gate-texts (the benchmark sweep, the speedup baseline of
--benchmark-compare, sessions never joined: test_plugin_gate_benchmarks.py).

Runs are in-process (tests/conftest.py imports torch's and onnx's C++-registering modules once,
before any run, so a nested session no longer crashes the interpreter), but where a test reads what a
usage error writes to stderr, or needs a fresh process: a subprocess costs about 7 s of imports
(torch and transformers' model code) on the 2-core AMD EPYC.
Every path option is passed as ``--opt=PATH`` and the pytester directory gets its own
pyproject.toml: a bare path argument outside it would make pytest pick this repository's
pyproject.toml (its addopts and its [tool.encoder-gate] table) as the inner run's configuration.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from encoder_gate.accuracy.checks import NO_GOLD
from encoder_gate.data.datasets import load_texts
from encoder_gate.errors import GateError
from encoder_gate.models.spec import ModelSpec

CHECKS = "from encoder_gate.suite.checks import *  # noqa: F403\n"
BENCHMARKS = "from encoder_gate.suite.benchmarks import *  # noqa: F403\n"


@pytest.fixture(scope="session")
def no_gpu() -> None:
    """Skip when torch sees a CUDA GPU. Asked in a subprocess: pytester drops modules imported
    during a test, and importing torch a second time in one process corrupts the interpreter."""
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True, check=True)
    if probe.stdout.strip() != "False":
        pytest.skip("a GPU is present")


def gate_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester directory that is its own rootdir (no [tool.encoder-gate] table), offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    return pytester


def gate_options(cache_dir: Path, report_dir: Path) -> list[str]:
    """The options of a gate session on tiny at one thread, into `report_dir`."""
    return ["--gate-model=tiny", f"--gate-cache-dir={cache_dir}", "--gate-threads=1",
            f"--gate-report-dir={report_dir}", "-p", "no:cacheprovider"]


@pytest.fixture
def gate_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return gate_project(pytester, monkeypatch)


@pytest.fixture
def report_dir(gate_dir: pytest.Pytester) -> Path:
    return gate_dir.path / "report"


@pytest.fixture
def gate_args(cache_dir: Path, report_dir: Path) -> list[str]:
    return gate_options(cache_dir, report_dir)


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The nonzero counts of the final summary line (passed, skipped, failed, ...)."""
    return {k: v for k, v in result.parseoutcomes().items() if v and k not in ("warnings", "warning")}


def junit_outcomes(path: Path) -> dict[str, str]:
    """test name -> "passed", "failed" or "skipped: <reason>", from a --junitxml report."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            out[case.get("name", "")] = "failed"
        else:
            out[case.get("name", "")] = "passed" if skipped is None else f"skipped: {skipped.get('message')}"
    return out


# --- pytest's rootdir --------------------------------------------------------------------------


def test_a_gate_options_value_in_another_project_never_moves_the_rootdir_silently(
        gate_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """pytest looks for its rootdir in every path on its command line, an option's value too (pytest
    9.2 decides it before loading entry-point plugins, so their options are not known yet): with
    `--gate-report-dir ../other/reports` first, the other project's config file made it the rootdir,
    and the session gated that project's [tool.encoder-gate] (its model, its backends) without a
    word. A usage error names the option and the fix; `--opt=VALUE` is never read as a path. In a
    subprocess: pytester's in-process run knows the plugin's options before the rootdir; without
    this suite's own pin of every inner run's rootdir (tests/conftest.py's `pytester`, made for this
    very trap), as a user runs pytest."""
    monkeypatch.delenv("PYTEST_ADDOPTS")
    other = (gate_dir.path.parent / f"{gate_dir.path.name}-other").resolve()
    (other / "reports").mkdir(parents=True)
    (other / "pytest.ini").write_text("[pytest]\n")
    gate_dir.makepyfile(test_x="def test_x():\n    pass\n")
    reports = other / "reports"
    moved = gate_dir.runpytest_subprocess("--gate-report-dir", str(reports), "test_x.py", "--collect-only",
                                          "-p", "no:cacheprovider")
    if moved.ret == pytest.ExitCode.OK:  # a pytest that reads the value as the option's: its rootdir kept
        moved.stdout.fnmatch_lines([f"rootdir: {gate_dir.path}"])
    else:
        assert moved.ret == pytest.ExitCode.USAGE_ERROR, moved.stdout.str()[-2000:]
        moved.stderr.fnmatch_lines([f"*rootdir, and with it its configuration and [[]tool.encoder-gate[]], "
                                    f"from {other}, where --gate-report-dir's value {reports} lies, not from "
                                    f"the tests this session runs*Write `--gate-report-dir={reports}`"])
    kept = gate_dir.runpytest(f"--gate-report-dir={reports}", "test_x.py", "--collect-only",
                              "-p", "no:cacheprovider")
    assert kept.ret == pytest.ExitCode.OK, kept.stdout.str()[-2000:]
    kept.stdout.fnmatch_lines([f"rootdir: {gate_dir.path}"])


@pytest.mark.stack  # how each pytest decides its rootdir from its command line
def test_a_gate_options_value_beside_the_project_never_lifts_the_rootdir_above_its_configuration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`pytest accuracy --gate-model ../models/clf` from a project in a monorepo: pytest took the common
    parent of the tests and the value as its start, found the monorepo's pytest.ini there, and the
    session never read the project's own pyproject.toml ([tool.encoder-gate]: its dataset, its
    backends, its bounds). A usage error names the option, the project's configuration and the fix; the
    `=` form, and a value inside the project, keep the project's rootdir. As a user runs pytest: a
    process of its own, the plugin loaded from its entry point."""
    import subprocess
    import sys

    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    mono = tmp_path / "mono"
    (mono / "models" / "clf").mkdir(parents=True)
    (mono / "pytest.ini").write_text("[pytest]\n")
    project = mono / "project"
    (project / "data").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\n\n[tool.encoder-gate]\n'
                                            'model = "tiny"\n')
    (project / "test_x.py").write_text("def test_x():\n    pass\n")

    def pytest_in_project(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "test_x.py", "--collect-only", "-p",
                               "no:cacheprovider", *args], cwd=project, capture_output=True, text=True,
                              timeout=120)

    lifted = pytest_in_project("--gate-model", "../models/clf")
    assert lifted.returncode == pytest.ExitCode.USAGE_ERROR, lifted.stdout[-2000:]
    assert (f"from {mono}, where --gate-model's value ../models/clf lies, not from the tests' own "
            f"configuration in {project}") in lifted.stderr
    assert "Write `--gate-model=../models/clf`" in lifted.stderr
    monkeypatch.setenv("PYTEST_ADDOPTS", "--gate-report-dir ../models/clf")  # a CI's, before the rootdir
    from_env = pytest_in_project()
    assert from_env.returncode == pytest.ExitCode.USAGE_ERROR, from_env.stdout[-2000:]
    assert "Write `--gate-report-dir=../models/clf`" in from_env.stderr
    monkeypatch.delenv("PYTEST_ADDOPTS")
    for kept in (pytest_in_project("--gate-model=../models/clf"),
                 pytest_in_project("--gate-report-dir", "data")):
        assert kept.returncode == pytest.ExitCode.OK, kept.stdout[-2000:] + kept.stderr[-2000:]
        assert f"rootdir: {project}" in kept.stdout


# --- a gate that checked nothing ----------------------------------------------------------------


@pytest.mark.slow
def test_session_where_every_backend_skipped_fails(gate_dir: pytest.Pytester, gate_args: list[str],
                                                   no_gpu: None, report_dir: Path):
    """--gate-device cuda without a GPU skips every backend, so the session fails naming the reasons,
    and the finding (no results document holds it) reaches verdict.json as a FAIL."""
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest("--gate-device=cuda", "--gate-backends=torch,onnx-fp32",
                                *gate_args)
    counts = outcomes(result)  # every test skipped, and the verdict's own report failed
    assert set(counts) == {"skipped", "failed"} and counts["failed"] == 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*encoder-gate: nothing was checked*",
        "encoder-gate: every configured backend was skipped, so this session checked nothing:",
        "  torch: device 'cuda' was asked for but torch sees no CUDA GPU*",
        "  onnx-fp32: device 'cuda' was asked for but this onnxruntime has no CUDAExecutionProvider*",
        "*pass --gate-allow-skip to accept it.",
    ])
    decided = json.loads((report_dir / "verdict.json").read_text())
    assert decided["passed"] is False
    assert [f["kind"] for f in decided["findings"]] == ["gate"]
    assert "checked nothing" in decided["findings"][0]["reason"]


def test_a_backend_that_cannot_be_built_fails_each_test_with_its_message_once(gate_dir: pytest.Pytester,
                                                                               gate_args: list[str]):
    """A GateError at build (here a missing ONNX file) fails that backend's tests with the gate's one
    line, in full at its first test, not chained under the GateError (pytest printed it twice,
    "During handling of the above exception, another exception occurred"), and its twin's not at all
    (walk AI)."""
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest("--gate-backends=torch,onnx:missing.onnx", "-k", "well_formed or drift",
                                "-p", "no:randomly", *gate_args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    out = result.stdout.str().split("short test summary info")[0]  # (CI=true: pytest says it there in full)
    lines = result.stdout.lines
    errors = [line for line in lines if line.startswith("encoder-gate: ONNX file missing.onnx does not")]
    assert len(errors) == 1, out[-3000:]  # the file's; its ~saturating twin is not judged, saying why
    # each later test of it points to the first (a stale file's 300 characters were said 24 times),
    # and the verdict's row to the line under its table that says it whole
    first = "test_drift_within_bound[onnx:missing.onnx-drift_mean]"
    # its four drift checks, and path_flip_rate where this CPU computes the saturating path (AVX2 without
    # VNNI: the file's own path is that one; an AMD EPYC of family 23 failed here, counting 4 of 3)
    its_tests = [line for line in lines
                 if line.startswith("ERROR test_checks.py::test_drift_within_bound[onnx:missing.onnx-")]
    assert len(its_tests) == outcomes(result)["errors"] in (4, 5), out[-3000:]
    said = out.count(f"encoder-gate: the same error as at the setup of {first} (above)")
    assert said == len(its_tests) - 1, out[-3000:]
    result.stdout.fnmatch_lines(["*encoder-gate verdict: FAIL*", "onnx:missing.onnx*not checked (why: below)",
                                 "onnx:missing.onnx: ONNX file missing.onnx does not exist (*"],
                                consecutive=False)
    assert not [line for line in lines if line.startswith("ONNX file missing.onnx")], out[-3000:]
    assert "During handling of the above exception" not in out, out[-3000:]


def test_a_missing_onnx_file_beside_a_model_directory_is_said_once_at_the_start(
        gate_dir: pytest.Pytester, gate_args: list[str], tiny):
    """Walk AA: with the user's own model directory, `onnx:nope/model.onnx` was 28 errors of one
    message, half of them its ~saturating twin's; now one usage error before any test."""
    gate_dir.makepyfile(test_checks=CHECKS)
    args = [a for a in gate_args if not a.startswith("--gate-model")]
    result = gate_dir.runpytest(f"--gate-model={tiny.path}",
                                "--gate-backends=torch,onnx:nope/model.onnx@int8", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(["ERROR: encoder-gate: ONNX file nope/model.onnx does not exist (looked "
                                 "relative to the working directory, *, and to the model directory, *). "
                                 "Check the path after 'onnx:'."])


def test_a_session_of_fewer_backends_than_the_project_names_says_which_it_left_out(
        gate_dir: pytest.Pytester, gate_args: list[str], report_dir: Path):
    """Walk AE: the project names torch, onnx-fp32 and onnx-int8; `--gate-backends torch,onnx-fp32`
    passed without a word of onnx-int8. Its verdict says it like a selection of the tests."""
    gate_dir.makepyprojecttoml('[tool.pytest.ini_options]\n[tool.encoder-gate]\n'
                               'backends = ["torch", "onnx-fp32", "onnx-int8"]\n')
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest("--gate-backends=torch,onnx-fp32", "--gate-limit=16", "-k", "drift_max",
                                *gate_args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    said = (report_dir / "verdict.md").read_text()
    assert ("Not the project's whole gate (the session of accuracy.json and findings.json: -k drift_max "
            "--gate-backends torch,onnx-fp32 (leaving out the project's onnx-int8); --gate-model tiny (not "
            "the project's default))") in said  # its table names no model: the project's is the default


def test_a_classifiers_probability_bound_above_one_is_a_usage_error_not_an_internal_error(
        gate_dir: pytest.Pytester, gate_args: list[str]):
    """Known only once the model's task is (a feature extractor's embeddings have no ceiling): the
    refusal came from the first bounds read at collection, an INTERNALERROR (review of walk AB's fix)."""
    gate_dir.makepyprojecttoml('[tool.pytest.ini_options]\n[tool.encoder-gate.tolerances.onnx-int8]\n'
                               'drift_max = 5\n')
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest("--gate-backends=torch,onnx-int8", "--collect-only", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(["ERROR: encoder-gate: drift_max = 5 for onnx-int8 in [[]tool.encoder-gate"
                                 ".tolerances[]]: *a bound above 1 could never fail*"])


@pytest.mark.parametrize("option", ["costs", "plan"])
def test_shard_costs_or_plan_without_a_shard_is_refused(gate_dir: pytest.Pytester, gate_args: list[str],
                                                        option: str):
    """Walk AB: --gate-shard-costs alone was accepted and decided nothing (a missing file was refused
    only with --gate-shard); --gate-shard-plan alike."""
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest(f"--gate-shard-{option}=nope.json", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines([f"ERROR: encoder-gate: --gate-shard-{option} deals the shares of a sharded "
                                 "session: give --gate-shard K/N with it, or leave it out"])


def test_a_share_of_another_plan_naming_none_of_its_backends_runs_nothing_and_says_so(
        gate_dir: pytest.Pytester, gate_args: list[str], tmp_path: Path):
    """The requirements step's base whose shard of the PR's plan holds only backends new in the PR:
    pytest's "no tests" (exit 5), which the step reads as nothing of the base's to compare, with why;
    not a usage error that fails the step."""
    import json

    from encoder_gate.shards.plan import deal

    plan = deal(("torch", "onnx-fp32", "onnx-fp16"), {}, 2)  # (torch, onnx-fp16), (onnx-fp32)
    (tmp_path / "shard.json").write_text(json.dumps({"plan": plan.to_json()}))
    gate_dir.makepyfile(test_checks=CHECKS)
    args = ["--gate-backends=torch,onnx-fp16", "--gate-shard=2/2",
            f"--gate-shard-plan={tmp_path / 'shard.json'}"]
    result = gate_dir.runpytest(*args, *gate_args)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(["*encoder-gate: --gate-shard-plan *: its share 2/2 (onnx-fp32) names no "
                                 "backend configured here (torch, onnx-fp16): this shard has nothing*"])


@pytest.mark.slow
def test_a_selection_of_the_checks_is_judged_on_the_checks_it_ran(gate_dir: pytest.Pytester,
                                                                    gate_args: list[str], report_dir: Path):
    """`-k flip_rate` with a drift bound that fails: pytest ran only the flip-rate tests and passed
    them, and the verdict failed on the deselected drift_max (walk R #2). accuracy.json now holds the
    checks whose tests ran, names the others, and the verdict passes on what ran; without the
    selection the same bound fails."""
    gate_dir.makepyprojecttoml('[tool.pytest.ini_options]\n[tool.encoder-gate.tolerances.onnx-fp32]\n'
                               'drift_max = 1e-15\n')
    gate_dir.makepyfile(test_checks=CHECKS)
    args = ["--gate-backends=torch,onnx-fp32", "--gate-limit=32", *gate_args]
    result = gate_dir.runpytest(*args, "-k", "flip_rate")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    row = json.loads((report_dir / "accuracy.json").read_text())["backends"]["onnx-fp32"]
    assert set(row["checks"]) == {"flip_rate"} and "drift_max" in row["not_selected"]
    verdict = (report_dir / "verdict.md").read_text()
    assert "## encoder-gate: PASS" in verdict and "-k flip_rate" in verdict
    whole = gate_dir.runpytest(*args, "-k", "drift_within_bound")
    assert whole.ret == pytest.ExitCode.TESTS_FAILED
    assert "drift_max" in json.loads((report_dir / "verdict.json").read_text())["backends"][1]["failed"]
    # a team's own test alone: none of the gate's checks ran, so no result is judged, nor written
    gate_dir.makepyfile(test_team="def test_team(backend_evaluation):\n"
                                  "    assert backend_evaluation.probs.size\n")
    team = gate_dir.runpytest(*args, "-k", "team")
    assert team.ret == pytest.ExitCode.OK, team.stdout.str()[-3000:]
    team.stdout.fnmatch_lines(["encoder-gate: this selection (-k team) ran none of the gate's checks and "
                               "wrote no results, so it exits as its tests do*"])
    # a failing one: it fails its session, and the checks' results of the session before stay (walk T A)
    gate_dir.makepyfile(test_bad="def test_bad_team(backend_evaluation):\n"
                                 "    assert not backend_evaluation.probs.size\n")
    bad = gate_dir.runpytest(*args, "-k", "bad_team")
    assert bad.ret == pytest.ExitCode.TESTS_FAILED
    assert "removed" not in bad.stdout.str() and (report_dir / "accuracy.json").is_file()


@pytest.mark.slow
def test_allow_skip_lets_a_session_that_checked_nothing_pass(gate_dir: pytest.Pytester,
                                                             gate_args: list[str], no_gpu: None):
    """With --gate-allow-skip the same all-skipped session exits 0 and says nothing about it."""
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest("--gate-device=cuda", "--gate-backends=torch,onnx-fp32",
                                "--gate-allow-skip", "-rs", *gate_args)
    assert list(outcomes(result)) == ["skipped"]
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["SKIPPED*device 'cuda' was asked for but torch sees no CUDA GPU*"])
    assert "every configured backend was skipped" not in result.stdout.str()


SKIPS_ONNX = '''
import pytest


def pytest_runtest_setup(item):
    if "onnx-fp32" in item.nodeid:
        pytest.skip("the team skips onnx-fp32 here")
'''


def test_a_session_that_skipped_every_test_of_one_backend_fails_naming_it(gate_dir: pytest.Pytester,
                                                                          gate_args: list[str]):
    """torch ran, onnx-fp32's every test skipped (a conftest's skip, a device or package it lacks):
    the verdict would show it `not run` under a PASS title, so the session fails naming it, and a
    shard of a matrix that did so fails its merge too (walk K #5, #6); --gate-allow-skip accepts it."""
    gate_dir.makepyfile(test_checks=CHECKS)
    gate_dir.makeconftest(SKIPS_ONNX)
    args = ["--gate-backends=torch,onnx-fp32", "--gate-limit=64", *gate_args]  # no -k: a selection is let be
    result = gate_dir.runpytest(*args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*encoder-gate: backends not checked*",
                                 "encoder-gate: every test of onnx-fp32 was skipped, so this session did not "
                                 "check it:", "  onnx-fp32: the team skips onnx-fp32 here",
                                 "*encoder-gate verdict: FAIL*"])
    assert gate_dir.runpytest(*args, "--gate-allow-skip").ret == pytest.ExitCode.OK


# --- --gate-texts FILE --------------------------------------------------------------------------


@pytest.mark.slow
def test_unlabelled_texts_run_parity_checks_and_skip_f1(gate_dir: pytest.Pytester, gate_args: list[str],
                                                        report_dir: Path, texts_file):
    """--gate-texts runs every drift check on the texts; F1 is not collected for want of gold labels,
    and the summary says so in one line."""
    texts = texts_file(gate_dir.path / "texts.txt", 30)
    gate_dir.makepyfile(test_checks=CHECKS)
    junit = gate_dir.path / "junit.xml"
    result = gate_dir.runpytest(f"--gate-texts={texts}", "--gate-backends=torch,onnx-fp32",
                                "-rs", f"--junitxml={junit}", *gate_args)
    assert result.ret == pytest.ExitCode.OK
    assert set(outcomes(result)) == {"passed"}  # nothing skipped: what cannot apply is not collected
    cases = junit_outcomes(junit)
    for backend in ("torch", "onnx-fp32"):
        for bound in ("drift_mean", "drift_p99", "drift_max", "flip_rate"):
            assert cases[f"test_drift_within_bound[{backend}-{bound}]"] == "passed"
        for test in ("test_f1_keeps_reference_share", "test_f1_above_floor",
                     "test_per_label_f1_keeps_reference_share"):
            assert f"{test}[{backend}]" not in cases
    result.stdout.fnmatch_lines(["encoder-gate: * check(s) do not apply to this multi_label model, or are "
                                 "not configured, and were left out (*f1_keep, *: F1 skipped: there are no "
                                 "gold labels*"])
    assert NO_GOLD in result.stdout.lines  # the terminal summary line

    payload = json.loads((report_dir / "accuracy.json").read_text())
    assert payload["labelled"] is False
    assert payload["dataset"]["examples"] == 30
    assert payload["dataset"]["source"] == str(texts)
    assert list(payload["backends"]) == ["torch", "onnx-fp32"]
    for row in payload["backends"].values():
        assert "f1" not in row and "f1_keep" not in row["checks"]
        assert row["checks"]["drift_max"]["passed"] and row["verdict"] == "pass"
    verdict = (report_dir / "verdict.md").read_text()
    assert verdict.startswith("## encoder-gate: PASS")
    assert "F1 skipped: there are no gold labels (unlabelled --gate-texts)" in verdict


def test_missing_texts_file_is_a_usage_error(gate_dir: pytest.Pytester, gate_args: list[str]):
    """--gate-texts naming a file that does not exist stops the run before collection, naming it."""
    gate_dir.makepyfile(test_checks=CHECKS)
    missing = gate_dir.path / "no-such-texts.txt"
    result = gate_dir.runpytest(f"--gate-texts={missing}", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*encoder-gate: texts file {missing} does not exist*"])


def test_load_texts_rejects_an_empty_file(tmp_path: Path):
    """A texts file with only blank lines is a GateError; blank lines are skipped otherwise."""
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n")
    with pytest.raises(GateError, match=r"holds no text"):
        load_texts(empty)
    some = tmp_path / "some.txt"
    some.write_text("first text\n\n  second text  \n")
    ds = load_texts(some)
    assert ds.texts == ("first text", "second text")
    assert ds.labels.shape == (2, 0)


def test_a_dataset_given_as_the_texts_file_is_refused(tmp_path: Path):
    """`--gate-texts data/eval.jsonl` fed each JSON row to the model as a text, replaced the labelled
    dataset without a word and passed (walk Y): a dataset's file, or JSON rows under any name, is
    refused pointing at --gate-dataset; a text that starts with a brace is still a text."""
    rows = '{"message": "so happy", "emotions": ["joy"]}\n'
    for name in ("eval.jsonl", "eval.csv", "rows.txt"):
        (tmp_path / name).write_text(rows)
        with pytest.raises(GateError, match=r"is a dataset .*, not plain text: .*--gate-dataset"):
            load_texts(tmp_path / name)
    (tmp_path / "braces.txt").write_text("{not json} but a text\n")
    assert load_texts(tmp_path / "braces.txt").texts == ("{not json} but a text",)


def test_a_dataset_given_as_the_texts_file_is_a_usage_error_in_every_suite(gate_dir: pytest.Pytester,
                                                                            gate_args: list[str]):
    """`pytest benchmarks --gate-texts eval.jsonl` failed each benchmark at setup with the message,
    where `pytest accuracy` gave one usage error (walk Z): both stop at the start, alike."""
    (gate_dir.path / "eval.jsonl").write_text('{"message": "so happy", "emotions": ["joy"]}\n')
    gate_dir.makepyfile(test_benchmarks=BENCHMARKS)
    result = gate_dir.runpytest_subprocess("--gate-texts=eval.jsonl", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*texts file *eval.jsonl is a dataset (a .jsonl file), not plain text*"])


def test_a_session_refused_after_it_began_says_why_it_stopped(gate_dir: pytest.Pytester, gate_args: list[str],
                                                              tiny, report_dir: Path):
    """A model directory without tokenizer files, refused once the session has begun (its marker
    written): the verdict's stop reads "(no reason given)" beside the refusal (walk Z B); it names
    the usage error now."""
    import shutil

    model = gate_dir.path / "notok"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny.path / name, model / name)
    gate_dir.makepyfile(test_checks=CHECKS)
    args = [a for a in gate_args if not a.startswith("--gate-model")]
    result = gate_dir.runpytest_subprocess(f"--gate-model={model}", "--gate-backends=torch,onnx-fp32", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    assert "notok holds no tokenizer files" in result.stderr.str()
    said = (report_dir / "verdict.md").read_text()
    assert "(a usage error, in the session's output)" in said and "no reason given" not in said


def test_a_projects_own_tests_are_told_nothing_of_the_gate(gate_dir: pytest.Pytester):
    """With encoder-gate merely installed, every pytest session of a project printed the gate's header
    lines: "model 'default', ... its first session trains it: 21 s" and the speed cells' clock, over
    tests that train nothing. They come under "collected N items", where a test of the gate was."""
    gate_dir.makepyfile(test_own="def test_own():\n    pass\n")
    own = gate_dir.runpytest("test_own.py", "-p", "no:cacheprovider")
    assert own.ret == pytest.ExitCode.OK
    assert "encoder-gate:" not in own.stdout.str()
    gate_dir.makepyfile(test_checks=CHECKS, test_speed=BENCHMARKS)
    gate = gate_dir.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    gate.stdout.fnmatch_lines(["encoder-gate: model 'default', the embedded default classifier*",
                               "encoder-gate: its speed cells are timed in rounds of their own on*"])
    # under xdist the controller says nothing under "collected": the header says them, for a gate's run
    assert "encoder-gate:" not in gate_dir.runpytest("test_own.py", "-n", "1", "-p", "no:cacheprovider"
                                                    ).stdout.str()
    explored = gate_dir.runpytest("test_own.py", "-n", "1", "--gate-explore=3", "-p", "no:cacheprovider")
    explored.stdout.fnmatch_lines(["encoder-gate: exploring: the padding properties draw 3 random*"])


def test_a_projects_own_pytest_session_runs_no_probe_of_the_gate(tmp_path: Path):
    """With encoder-gate merely installed, a project's own pytest session ran the gate's integer-path
    probe (ONNX Runtime opened on a model, to name the INT8 twins a waiver may cover) in its
    pytest_configure: about 0.25 s of CPU in every session of the environment, for nothing it runs.
    In a fresh process, as the user's session starts."""
    (tmp_path / "test_own.py").write_text("def test_own():\n    pass\n")
    (tmp_path / "conftest.py").write_text(
        "import sys\n\ndef pytest_unconfigure(config):\n    loaded = ('onnxruntime', 'torch')\n"
        "    open('loaded.txt', 'w').write(' '.join(m for m in loaded if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_own.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "loaded.txt").read_text() == ""


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_verdict_is_kept_where_it_can_be_written(
        gate_dir: pytest.Pytester, gate_args: list[str], report_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Hunt 5, a full filesystem: under the artifact cache, the session's bookkeeping there (its
    sessions.json, each backend's seconds) ended it in a traceback of 80 lines with no verdict; under
    the report directory, an INTERNALERROR at its start and a second traceback at its end. The cache's
    records are said as not kept and the verdict is written; a report directory that cannot be
    written is one line."""
    import errno

    import encoder_gate.plugin.core as core
    import encoder_gate.plugin.stash as stash

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    gate_dir.makepyfile(test_checks=CHECKS)
    args = ["--gate-backends=torch", "-k", "drift_max", *gate_args]
    monkeypatch.setattr(core, "record_costs", full)
    cache_full = gate_dir.runpytest(*args)
    assert cache_full.ret == pytest.ExitCode.OK, cache_full.stdout.str()[-2000:]
    cache_full.stdout.fnmatch_lines(["*each backend's seconds (a shard deals by them) not recorded in * "
                                     "(No space left on device)*", "*encoder-gate verdict: PASS*"])
    monkeypatch.setattr(stash, "record_findings", full)
    report_full = gate_dir.runpytest(*args)
    assert report_full.ret == pytest.ExitCode.TESTS_FAILED
    assert "Traceback" not in report_full.stdout.str() + report_full.stderr.str()
    report_full.stderr.fnmatch_lines(["encoder-gate: this session's results could not be written "
                                      "([[]Errno 28[]] No space left on device): free space there*"])


def test_another_plugins_oserror_at_the_sessions_end_stays_its_own(gate_dir: pytest.Pytester):
    """Review: the full-disk line ("this session's results could not be written") wrapped every
    sessionfinish of the session, so a project's conftest failing to open its own file lost its
    traceback to the gate's line, in a session of no gate test."""
    gate_dir.makeconftest("def pytest_sessionfinish(session):\n"
                          "    open('/nonexistent-dir/junit.xml', 'w')\n")
    gate_dir.makepyfile(test_own="def test_own():\n    pass\n")
    result = gate_dir.runpytest_subprocess("test_own.py", "-p", "no:cacheprovider")
    assert "results could not be written" not in result.stderr.str() + result.stdout.str()
    assert "FileNotFoundError" in result.stderr.str() + result.stdout.str()


TOUCHES_THE_MODEL = '''
import os


def test_touch(gate_model):
    os.utime(gate_model.path / "config.json")  # a retrain or a checkout, in another terminal
'''


@pytest.mark.slow
def test_an_xdist_worker_that_saw_the_model_change_fails_the_session(
        gate_dir: pytest.Pytester, tiny: ModelSpec, cache_dir: Path, report_dir: Path):
    """Review: under -n the controller reads neither the model nor the data, so a change a worker saw
    passed the session and its accuracy.json was written; the worker says it to the controller."""
    import shutil

    model = gate_dir.path / "m"
    shutil.copytree(tiny.path, model)
    gate_dir.makepyfile(test_touch=TOUCHES_THE_MODEL)
    args = [f"--gate-model={model}", f"--gate-cache-dir={cache_dir}", f"--gate-report-dir={report_dir}",
            "-p", "no:cacheprovider"]
    for extra in ((), ("-n", "1")):
        result = gate_dir.runpytest_subprocess(*args, *extra)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, (extra, result.stdout.str()[-2000:])
        said = f"*files this session read changed while it ran: {model / 'config.json'}*"
        result.stdout.fnmatch_lines([said])


def test_pytest_benchmarks_only_and_skip_are_a_selection_the_verdict_names():
    """`pytest accuracy benchmarks --benchmark-only` skipped every accuracy test and passed "speed
    only", its verdict telling the user to run the accuracy tests they had asked for (a user's walk,
    2026-11-29): --benchmark-only and --benchmark-skip are selections, named as -k is."""
    from types import SimpleNamespace

    from encoder_gate.plugin.core import _selection

    def config(**given: object) -> SimpleNamespace:
        return SimpleNamespace(getoption=lambda name, default=None: given.get(name, default))

    assert _selection(config(benchmark_only=True)) == "--benchmark-only"
    assert _selection(config(keyword="bs1", benchmark_skip=True)) == "-k bs1 --benchmark-skip"
    assert _selection(config()) is None


def test_a_dataset_without_the_configured_column_stops_in_one_line_and_says_nothing_of_the_checks(
        gate_dir: pytest.Pytester, gate_args: list[str]):
    """A renamed column stops the session at its start, a usage error: nothing ran, so the line on
    the checks that do not apply (which stood as the last word beside the error) is not said."""
    (gate_dir.path / "eval.jsonl").write_text('{"body": "so happy", "emotions": ["joy"]}\n' * 4)
    gate_dir.makepyfile(test_checks=CHECKS)
    result = gate_dir.runpytest("--gate-dataset=eval.jsonl", "--gate-text-column=message",
                                "--gate-label-column=emotions", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(["*encoder-gate: eval.jsonl has no text column 'message'*"])
    assert "do not apply" not in result.stdout.str() + result.stderr.str()


def test_the_checks_of_other_kinds_of_model_are_named_and_dash_v_says_why():
    """The line of the checks left out gave each one's reason in every session, 700 characters for a
    multi-label model of which a reader needs none (a trial): the checks of other kinds of model are
    named, what is not configured or labelled keeps its reason, and `-v` gives every reason."""
    from types import SimpleNamespace

    from encoder_gate.plugin import applicable
    from encoder_gate.plugin.stash import SESSION_KEY

    def line(verbosity: int) -> str | None:
        config = SimpleNamespace(stash=pytest.Stash(), get_verbosity=lambda: verbosity)
        config.stash[SESSION_KEY] = SimpleNamespace(model=SimpleNamespace(task="multi_label"))
        config.stash[applicable.LEFT_OUT] = {"f1_floor": "no absolute f1_floor configured for this backend",
                                             "cosine_min": "applies to feature-extraction encoders"}
        config.stash[applicable.ANOTHER_KIND] = {"cosine_min"}
        config.stash[applicable.LEFT_OUT_TESTS] = 3
        return applicable.summary_line(config)  # type: ignore[arg-type]

    assert line(0) == ("encoder-gate: 2 check(s) do not apply to this multi_label model, or are not "
                       "configured, and were left out (f1_floor: no absolute f1_floor configured for this "
                       "backend; cosine_min: checks of other kinds of model (-v says why)): pytest counted "
                       "their 3 tests as collected; they do not run")
    assert "cosine_min: applies to feature-extraction encoders" in str(line(1))
