"""The pytest plugin, black-box with pytester: options, ids, skips, pyproject config.

Runs that build backends use a subprocess: torch and ONNX Runtime in a nested in-process
session crash the interpreter on teardown.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from encoder_gate.commands.pyproject import PIN_ROOTDIR

SMOKE = """
import numpy as np
from encoder_gate.runtime.inference import predict_texts

def test_smoke(backend, gate_tokenizer, gate_dataset):
    out = predict_texts(backend, gate_tokenizer, list(gate_dataset.texts[:4]), batch_size=2)
    assert out.shape == (4, 28) and np.isfinite(out).all()
"""


@pytest.fixture
def gate_args(cache_dir: Path) -> list[str]:
    return ["--gate-model", "tiny", "--gate-cache-dir", str(cache_dir), "-p", "no:cacheprovider"]


def test_loading_the_plugin_imports_no_heavy_library():
    """The plugin loads with every pytest run in an environment that has encoder-gate installed,
    the user's other tests too: it imports no model or statistics library at load (scipy.stats
    alone cost 0.6 s of each run's start, 1.7 s against 1.1 s for a one-test session)."""
    import subprocess
    import sys

    heavy = ("scipy.stats", "torch", "transformers", "onnxruntime", "onnx", "matplotlib", "sklearn")
    code = (f"import sys, encoder_gate.plugin.core; print([m for m in {heavy!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_session_of_no_gate_test_resolves_no_model_and_writes_nothing(pytester: pytest.Pytester,
                                                                          tmp_path):
    """A project's own tests, in an environment where the plugin loads, with no [tool.encoder-gate]:
    the default model is not trained for them (24 s a session, when this session's forecast read the
    model of a session that had no gate test) and no cache is made."""
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    cache = tmp_path / "cache"
    result = pytester.runpytest(f"--gate-cache-dir={cache}", "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    assert "training" not in result.stdout.str()
    assert not cache.exists()


def test_options_are_in_one_named_group(pytester: pytest.Pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*encoder-gate: encoder accuracy and speed gate*",
                                 "*--gate-model=MODEL*", "*--gate-backends=LIST*",
                                 "*--gate-batch-sizes=LIST*", "*--gate-cache-dir=DIR*"])


def test_backend_fixture_has_one_id_per_backend(pytester: pytest.Pytester, gate_args):
    """`--collect-only` lists one test per configured backend, with readable ids."""
    pytester.makepyfile(test_x=SMOKE)
    result = pytester.runpytest("--collect-only", "-q", *gate_args)
    result.stdout.fnmatch_lines([
        "test_x.py::test_smoke[[]torch[]]", "test_x.py::test_smoke[[]torch-compile[]]",
        "test_x.py::test_smoke[[]onnx-fp32[]]", "test_x.py::test_smoke[[]onnx-fp16[]]",
        "test_x.py::test_smoke[[]onnx-int8[]]",
    ])


def test_pyproject_table_picks_the_backends(pytester: pytest.Pytester, gate_args):
    pytester.makepyprojecttoml('[tool.encoder-gate]\nbackends = ["torch", "onnx-int8"]\n')
    pytester.makepyfile(test_x=SMOKE)
    result = pytester.runpytest("--collect-only", "-q", "--rootdir", str(pytester.path), *gate_args)
    result.stdout.fnmatch_lines(["test_x.py::test_smoke[[]torch[]]", "test_x.py::test_smoke[[]onnx-int8[]]",
                                 "2 tests collected*"])


def test_bad_option_is_a_usage_error(pytester: pytest.Pytester, gate_args):
    result = pytester.runpytest("--gate-batch-sizes", "0,8", *gate_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*encoder-gate: batch sizes must be positive integers*--gate-batch-sizes*"])


HELD = """
def test_only_this_backend_is_held(backend, gate_session):
    alive = {n for n, r in gate_session._runners.items() if not isinstance(r, Exception)}
    assert alive <= {backend.name, "torch"}, f"{backend.name}'s tests run with {sorted(alive)} in memory"
"""


def test_runs_and_second_session_takes_artifacts_from_cache(pytester: pytest.Pytester, gate_args):
    """Backends build once; a second session reports every artifact as from cache. Each backend's
    runner is released when its tests are done: only it (and the reference) is in memory. torch
    builds nothing: it is `loaded`, in the first session too."""
    pytester.makepyfile(test_x=SMOKE + HELD)
    args = ["--gate-backends", "torch,onnx-fp32,onnx-int8", *gate_args]
    pytester.runpytest(*args).assert_outcomes(passed=6)
    again = pytester.runpytest(*args)
    again.assert_outcomes(passed=6)
    again.stdout.fnmatch_lines(["*encoder-gate backends*", "torch *loaded *", "onnx-fp32*from cache*",
                                "onnx-int8*from cache*"])


INTERLEAVE = """
import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.name.split("[")[0])  # test_a of each backend, then test_b of each
"""

INTERLEAVED = """
SEEN = {}


def check(backend):
    assert SEEN.setdefault(backend.name, backend) is backend, f"{backend.name} was built again"


def test_a(backend):
    check(backend)


def test_b(backend):
    check(backend)


def test_z_after_all(gate_session):
    alive = [n for n, r in gate_session._runners.items() if not isinstance(r, Exception)]
    assert alive == [], f"{alive} outlived their last test"
"""


def test_interleaved_backends_keep_their_runner_until_their_last_test(pytester: pytest.Pytester, gate_args):
    """The benchmarks run the backends of one case back to back: a runner is kept across those
    switches (never built again) and released after the last test that uses it."""
    pytester.makeconftest(INTERLEAVE)
    pytester.makepyfile(test_x=INTERLEAVED)
    result = pytester.runpytest("--gate-backends", "torch,onnx-fp32", "-v", *gate_args)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_a?torch?*", "*test_a?onnx-fp32?*", "*test_b?torch?*",
                                 "*test_b?onnx-fp32?*", "*test_z_after_all*"])


def test_cuda_without_gpu_skips_with_the_reason(pytester: pytest.Pytester, gate_args):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    pytester.makepyfile(test_x=SMOKE)
    result = pytester.runpytest(
        "--gate-device", "cuda", "--gate-backends", "torch,onnx-fp32", "-rs", *gate_args
    )
    result.assert_outcomes(skipped=2, failed=1)  # a gate that checked nothing: the verdict's report fails
    result.stdout.fnmatch_lines(["encoder-gate verdict F", "*SKIPPED*device 'cuda' was asked for*"])


def test_broken_prebuilt_file_fails_with_a_message(pytester: pytest.Pytester, gate_args, tmp_path):
    """A corrupt onnx:PATH fails its tests with the plugin's message, not a traceback: in full at its
    first test, each later test of it pointing to the first (a stale file's 300 characters were said
    by each of its 24 tests: test_verdict for its row)."""
    bad = tmp_path / "model_quantized.onnx"
    bad.write_bytes(b"not an onnx model")
    pytester.makepyfile(test_x=SMOKE + SMOKE.replace("test_smoke", "test_smoke_again"))
    result = pytester.runpytest("--gate-backends", f"torch,onnx:{bad}", "-p", "no:randomly", *gate_args)
    result.assert_outcomes(passed=2, errors=2)
    out = result.stdout.str().split("short test summary info")[0]  # (CI=true: pytest says it there in full)
    full = re.search(r"encoder-gate: (ONNX Runtime could not load \S+: the file is corrupt.*)", out)
    assert full, out
    assert out.count(full[1]) == 1, out
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_smoke_again*",
        f"encoder-gate: the same error as at the setup of test_smoke[onnx:{bad}] (above)"], consecutive=False)
    assert "Traceback" not in out


EVALUATE = """
def test_evaluated(backend_evaluation):
    assert backend_evaluation.drift.max >= 0
"""


@pytest.mark.slow
def test_xdist_workers_evaluations_are_merged_into_one_report(pytester: pytest.Pytester, gate_args):
    """Under `-n 2` each worker evaluates its backends; the controller writes one report with all."""
    import json

    pytester.makepyfile(test_x=EVALUATE)
    report = pytester.path / "report"
    result = pytester.runpytest("-n", "2", "--gate-backends", "torch,onnx-fp32,onnx-int8",
                                "--gate-report-dir", str(report), "--gate-limit", "16", *gate_args)
    result.assert_outcomes(passed=3)
    payload = json.loads((report / "accuracy.json").read_text())
    assert list(payload["backends"]) == ["torch", "onnx-fp32", "onnx-int8"]  # configured order
    assert payload["dataset"]["examples"] == 16
    assert "| onnx-int8 |" in (report / "accuracy.md").read_text()


def test_merge_payloads_unites_backends_in_configured_order():
    from encoder_gate.results.accuracy import merge_payloads

    base = {"model": {"name": "tiny"}, "dataset": {"examples": 4}}
    merged = merge_payloads([{**base, "backends": {"onnx-int8": {"f1": 0.5}}},
                             {**base, "backends": {"torch": {"f1": 0.6}, "onnx-fp32": {"f1": 0.6}}}],
                            order=("torch", "onnx-fp32", "onnx-int8"))
    assert list(merged["backends"]) == ["torch", "onnx-fp32", "onnx-int8"]
    assert merged["model"] == {"name": "tiny"} and merged["backends"]["onnx-int8"] == {"f1": 0.5}
    with pytest.raises(ValueError):
        merge_payloads([])


def test_what_the_workers_read_from_the_cache_is_united_and_a_computation_anywhere_counts():
    """A worker that waited on another's predictions read them from the cache, but this run computed
    them: a backend's predictions count as read only when no process computed them; each kept
    pass read anywhere counts once."""
    from encoder_gate.results.accuracy import merge_payloads

    base = {"model": {"name": "tiny"}, "dataset": {"examples": 4}, "backends": {"torch": {"f1": 0.6}}}
    merged = merge_payloads([
        {**base, "cached_outputs": {"torch": {"predictions": True, "checks": ["smoke"]},
                                "onnx-fp32": {"predictions": True}}},
        {**base, "cached_outputs": {"torch": {"predictions": False, "checks": ["smoke", "padding[cjk]"]},
                                "onnx-int8": {"checks": ["smoke"]}}},
        base])  # a payload from before the field
    assert merged["cached_outputs"] == {"torch": {"predictions": False, "checks": ["padding[cjk]", "smoke"]},
                                    "onnx-fp32": {"predictions": True}, "onnx-int8": {"checks": ["smoke"]}}


def test_a_gate_error_in_any_test_or_fixture_is_one_clean_line(pytester: pytest.Pytester):
    """A GateError raised in a test body or a fixture fails with its message, no traceback into
    the library (the smoke test on a file of fixed shapes used to show one)."""
    pytester.makepyfile(test_raises="""
import pytest
from encoder_gate.errors import GateError

def deep():
    raise GateError("it takes at most 128 tokens, but a text in this batch has 138")

@pytest.fixture
def broken():
    deep()

def test_body():
    deep()

def test_fixture(broken):
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    assert out.count("encoder-gate: it takes at most 128 tokens, but a text in this batch has 138") >= 2
    assert "def deep" not in out and "raise GateError" not in out


def _item(nodeid: str, fixtures: tuple[str, ...] = (), **params: str):
    from types import SimpleNamespace
    return SimpleNamespace(nodeid=nodeid, callspec=SimpleNamespace(params=params), fixturenames=fixtures)


def test_a_runner_is_released_after_its_last_test_and_the_reference_after_the_last_benchmark():
    from encoder_gate.plugin.stash import release_points

    items = [_item("acc[torch]", backend="torch"), _item("acc[onnx-int8]", backend="onnx-int8"),
             _item("bench[onnx-int8]", ("benchmark",), backend="onnx-int8"), _item("summary"),
             _item("vs_base[onnx-fp32]", ab_backend="onnx-fp32")]
    assert release_points(items) == {"bench[onnx-int8]": ["torch", "onnx-int8"],
                                     "vs_base[onnx-fp32]": ["onnx-fp32"]}


def test_an_onnx_runner_goes_after_its_own_tests_and_opens_again_for_its_speed_cells_vs_base():
    """A retrained PR: every backend's accuracy first, then the speed cells against the base. An
    ONNX runner (a session on a file) is released after its own tests too, not held through the
    others'; torch.compile's (a compile to redo) is kept for its cells."""
    from encoder_gate.plugin.stash import release_points

    items = [_item("acc[onnx-fp32]", backend="onnx-fp32"),
             _item("acc[torch-compile]", backend="torch-compile"),
             _item("vs[onnx-fp32]", ab_backend="onnx-fp32"),
             _item("speed[onnx-fp32-bs1]", ("gate_batch_size",), ab_backend="onnx-fp32"),
             _item("speed[torch-compile-bs1]", ("gate_batch_size",), ab_backend="torch-compile")]
    assert release_points(items) == {"acc[onnx-fp32]": ["onnx-fp32"],
                                     "speed[onnx-fp32-bs1]": ["onnx-fp32"],
                                     "speed[torch-compile-bs1]": ["torch-compile"]}


def test_vs_base_tests_run_backend_by_backend_in_the_places_they_held():
    from encoder_gate.plugin.ab import group_by_backend

    items = [_item("first"), _item("acc[onnx-int8]", ab_backend="onnx-int8"),
             _item("acc[torch]", ab_backend="torch"), _item("middle"),
             _item("speed[onnx-int8-bs1]", ab_backend="onnx-int8"),
             _item("speed[torch-bs1]", ab_backend="torch")]
    group_by_backend(items, ["torch", "onnx-int8"])
    assert [i.nodeid for i in items] == ["first", "acc[torch]", "speed[torch-bs1]", "middle",
                                         "acc[onnx-int8]", "speed[onnx-int8-bs1]"]


THREADS = """
import torch


def test_accuracy(backend, gate_session):
    assert (gate_session.timing, gate_session.build_threads, torch.get_num_threads()) == EXPECTED
"""


@pytest.mark.parametrize("timed", [False, True], ids=["accuracy-only", "timed"])
def test_an_accuracy_only_session_builds_at_eval_threads_and_a_timed_one_at_threads(
        pytester: pytest.Pytester, gate_args, timed: bool):
    """Outputs do not depend on speed, so a session that times nothing uses `eval-threads` (all
    cores by default); one that times (a test at a batch size) uses the `threads` it is timed at."""
    expected = (True, 1, 1) if timed else (False, 2, 2)
    timed_test = "\n\ndef test_timed(gate_batch_size):\n    pass\n" if timed else ""
    pytester.makepyfile(test_x=f"EXPECTED = {expected!r}\n" + THREADS + timed_test)
    result = pytester.runpytest("--gate-backends", "torch", "--gate-threads", "1",
                                "--gate-eval-threads", "2", *gate_args)
    result.assert_outcomes(passed=3 if timed else 1)


PADDING_THREADS = """
import pytest
import torch

from encoder_gate.suite.padding import test_padding_same_input_gives_same_output  # noqa: F401

SEEN = []


@pytest.fixture(autouse=True)
def spy(request):
    if "backend" not in request.fixturenames:
        yield
        return
    backend = request.getfixturevalue("backend")
    predict = backend.predict

    def counted(batch):
        SEEN.append(torch.get_num_threads())
        return predict(batch)

    backend.predict = counted
    yield
    backend.predict = predict


def test_timed(gate_batch_size):
    pass


def test_after(gate_session):
    assert gate_session.timing and SEEN and set(SEEN) == {2}
    assert torch.get_num_threads() == 1
"""


def test_a_timing_session_runs_the_padding_properties_at_the_eval_threads(pytester: pytest.Pytester,
                                                                          gate_args):
    """The padding properties' outputs do not depend on speed: in a session that times at one
    thread (the PR session) they run at `eval-threads`, and the runner is back at one thread after."""
    pytester.makepyfile(test_x=PADDING_THREADS)
    result = pytester.runpytest("--gate-backends", "torch", "--gate-threads", "1",
                                "--gate-eval-threads", "2", *gate_args)
    result.assert_outcomes(passed=4)  # the property, test_timed at batch sizes 1 and 8, test_after

def test_a_parent_config_that_moves_the_rootdir_off_the_table_is_a_usage_error(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cache_dir):
    """A monorepo: a parent pytest.ini makes the parent pytest's rootdir, where there is no
    [tool.encoder-gate], so the session would gate the bundled default model and pass. It is
    refused, saying why and how to pin the rootdir; the table pinned as init pins it, or a model
    named on the command line, is gated."""
    monkeypatch.delenv("PYTEST_ADDOPTS")  # this test is about how pytest finds the rootdir itself
    (pytester.path / "pyproject.toml").unlink()
    (pytester.path / "pytest.ini").write_text("[pytest]\n")
    project = pytester.path / "project"
    (project / "accuracy").mkdir(parents=True)
    (project / "accuracy" / "test_project_gate.py").write_text(
        "from encoder_gate.suite.checks import *  # noqa: F403\n")
    (project / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\n')
    args = ["project/accuracy", "--collect-only", "-q", f"--gate-cache-dir={cache_dir}",
            "-p", "no:cacheprovider"]
    moved = pytester.runpytest(*args)
    assert moved.ret == pytest.ExitCode.USAGE_ERROR, moved.stdout.str()[-2000:]
    table = pytester.path / "pyproject.toml"
    moved.stderr.fnmatch_lines([f"*no [[]tool.encoder-gate[]] table in {table}: that "
                                "is pytest's rootdir (from *pytest.ini)*bundled default model*"
                                "[[]tool.pytest.ini_options[]]*encoder-gate init*"])
    # under xdist a worker cannot raise a usage error (an INTERNALERROR): every test fails with it
    workers = pytester.runpytest(*[a for a in args if a not in ("--collect-only", "-q")],
                                 "-n", "2", "-k", "drift_max")
    assert workers.ret == pytest.ExitCode.TESTS_FAILED, workers.stdout.str()[-2000:]
    workers.stdout.fnmatch_lines(["*no [[]tool.encoder-gate[]] table in *bundled default model*"])
    # run, not collected only: refused before a model is resolved or a file built (pytest runs
    # collection_finish after the refusal: it had trained the default model and built three files)
    cold = pytester.path / "cold"
    run = pytester.runpytest("project/accuracy", "-q", f"--gate-cache-dir={cold}", "-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.stdout.str()[-2000:]
    assert not cold.exists() or not any(cold.iterdir()), sorted(cold.iterdir())
    named = pytester.runpytest(*args, "--gate-model=tiny", "--gate-backends=torch")
    assert named.ret == pytest.ExitCode.OK, named.stdout.str()[-2000:]
    with (project / "pyproject.toml").open("a") as f:
        f.write(PIN_ROOTDIR)
    pinned = pytester.runpytest(*args)
    assert pinned.ret == pytest.ExitCode.OK, pinned.stdout.str()[-2000:] + pinned.stderr.str()[-2000:]
    pinned.stdout.fnmatch_lines(["*test_drift_within_bound[[]torch-drift_max[]]*"])


LATE_FINDING = """
from encoder_gate.plugin.stash import fail_gate


def pytest_sessionfinish(session):
    if FAIL:
        fail_gate(session.config, "a finding recorded at the session's end")
"""


@pytest.mark.parametrize(("fail", "tests", "expected"), [
    (False, "def test_ok():\n    pass\n", pytest.ExitCode.OK),
    (True, "def test_ok():\n    pass\n", pytest.ExitCode.TESTS_FAILED),
    (True, "", pytest.ExitCode.TESTS_FAILED),  # no test collected, and a finding: the gate fails
    (True, "def test_bad():\n    assert False\n", pytest.ExitCode.TESTS_FAILED),
    (False, "", pytest.ExitCode.NO_TESTS_COLLECTED),
], ids=["nothing-found", "finding", "finding-no-tests", "finding-and-failed-test", "no-tests"])
def test_the_exit_status_is_set_once_after_every_part_recorded_its_findings(
        pytester: pytest.Pytester, gate_args: list[str], fail: bool, tests: str, expected: pytest.ExitCode):
    """A finding recorded in any `pytest_sessionfinish` (the accuracy half's, the speed half's, the
    vs-base half's, or a conftest's as here) fails a session whose tests passed: the one hook that
    sets the exit status wraps them all. A status pytest set (a failed test) is kept. (The model is
    the shared tiny one: the findings' provenance names the model, and the default one in a fresh
    cache is trained first, 20 s a run.)"""
    pytester.makeconftest(f"FAIL = {fail!r}\n" + LATE_FINDING)
    pytester.makepyfile(test_x=tests)
    result = pytester.runpytest(*gate_args, "-p", "no:randomly", "--junitxml=junit.xml")
    assert result.ret == expected
    # the verdict's failure of a session whose tests passed is a failed report: the summary counts it
    # and JUnit XML (CI's test-report tools) holds it with its reason; a failed test says it already
    cases = ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    verdict = [c for c in cases if (c.get("classname"), c.get("name")) == ("encoder-gate", "verdict")]
    if fail and "assert False" not in tests:
        result.assert_outcomes(failed=1, passed=1 if tests else 0)
        result.stdout.fnmatch_lines(["FAILED encoder-gate::verdict - the gate's verdict fails: a finding*"])
        [failure] = verdict[0].iter("failure") if len(verdict) == 1 else [None]
        assert failure is not None and "a finding recorded at the session's end" in (failure.text or "")
        stopping = pytester.runpytest(*gate_args, "-p", "no:randomly", "-x", "--tb=line")  # no test is left
        assert "stopping after" not in stopping.stdout.str() and "_Crash(" not in stopping.stdout.str()
    else:
        assert not verdict


def test_an_option_given_twice_on_the_command_line_is_refused():
    """Walk AB: argparse kept the last of two --gate-backends silently (onnx-fp32 gated alone). One
    value twice is no conflict; addopts are not the command line (its value wins over theirs)."""
    from encoder_gate.errors import GateError
    from encoder_gate.plugin.core import _given_once

    with pytest.raises(GateError, match=r"^--gate-backends given twice \(torch and onnx-fp32\): give it "
                                        r"once, as one comma list$"):
        _given_once(["accuracy", "--gate-backends", "torch", "--gate-backends=onnx-fp32"])
    with pytest.raises(GateError, match=r"^--gate-limit given twice \(5 and 10\): give it once$"):
        _given_once(["--gate-limit=5", "-q", "--gate-limit", "10"])
    _given_once(["--gate-limit", "5", "--gate-limit=5", "--gate-model", "tiny", "--gate-limit"])


def test_backends_narrowed_on_the_command_line_are_said_like_a_selection(tmp_path):
    """Walk AE: `--gate-backends torch,onnx-fp32` after a session whose onnx-int8 failed gave a PASS
    that never said the project's onnx-int8 was not checked. The narrowing joins the session's
    selection in its results' provenance: the verdict says what it does not cover, and `history
    record` refuses it like any selection."""
    from encoder_gate.config import GateConfig
    from encoder_gate.plugin.options import backends_narrowed as _narrowed
    from encoder_gate.runtime.provenance import provenance
    from encoder_gate.runtime.session import GateSession

    project = ("torch", "onnx-fp32", "onnx-int8", "onnx-int8~saturating")
    said = "--gate-backends torch,onnx-fp32 (leaving out the project's onnx-int8)"
    assert _narrowed(("torch", "onnx-fp32"), project) == said
    assert _narrowed(("torch", "onnx-fp32", "onnx-int8"), project) is None
    assert _narrowed(("torch",), ()) is None  # no --gate-backends: the project's own
    assert _narrowed(("torch", "onnx:./onnx/m.onnx"), ("torch", "onnx:onnx/m.onnx")) is None  # one file
    model = tmp_path / "model"  # a file beside the model, named from there or from here: one file;
    for folder in ("onnx", "old"):  # two files of one name in two folders: two
        (model / folder).mkdir(parents=True)
        (model / folder / "m.onnx").write_bytes(b"onnx")
    here = f"onnx:{model / 'onnx' / 'm.onnx'}"
    assert _narrowed(("torch", here), ("torch", "onnx:onnx/m.onnx"), str(model)) is None
    assert _narrowed(("torch", here), ("torch", "onnx:onnx/m.onnx", "onnx:old/m.onnx"), str(model)) == (
        f"--gate-backends torch,{here} (leaving out the project's onnx:old/m.onnx)")
    session = GateSession(GateConfig(model=str(tmp_path / "nope"), cache_dir=tmp_path / "cache"),
                          selection="-k drift_max", narrowed=said)
    assert provenance(session)["selection"] == f"-k drift_max {said}"
    assert "selection" not in provenance(GateSession(GateConfig(model=str(tmp_path / "nope"),
                                                                cache_dir=tmp_path / "cache")))


def test_another_model_than_the_projects_is_said_like_a_selection(tmp_path: Path):
    """Hunt 5: `pytest accuracy --gate-model tiny` in a project whose own model failed left a PASS in
    its report directory, `encoder-gate verdict` exit 0, with no word that it was not the project's
    model. It is said as --gate-backends' narrowing is (the verdict's "Not the project's whole gate")."""
    from types import SimpleNamespace

    from encoder_gate.plugin.options import other_model as _other_model

    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "models/clf"\n')
    (tmp_path / "models" / "clf").mkdir(parents=True)

    def config(model: str | None) -> SimpleNamespace:
        return SimpleNamespace(rootpath=tmp_path, getoption=lambda name: model)

    assert _other_model(config("tiny")) == "--gate-model tiny (not the project's models/clf)"
    assert _other_model(config(None)) is None and _other_model(config("models/clf")) is None
    assert _other_model(config(str(tmp_path / "models" / "clf"))) is None  # the same directory
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nbackends = ["torch"]\n')
    assert _other_model(config("tiny")) == "--gate-model tiny (not the project's default)"
    (tmp_path / "pyproject.toml").write_text("")  # no table: no project's model to be another than
    assert _other_model(config("tiny")) is None


def test_batch_sizes_left_out_of_the_projects_are_said_like_a_selection(tmp_path: Path):
    """A benchmark session at `--gate-batch-sizes 8` in a project that names 1 and 8 passed with no
    word of batch size 1 (twenty-first session's hunt). Its speedups.json's selection says it, as
    --gate-backends' narrowing is said; more sizes than the project's, or a project that names none,
    narrow nothing."""
    from encoder_gate.config import batch_sizes_narrowed

    (tmp_path / "pyproject.toml").write_text("[tool.encoder-gate]\nbatch-sizes = [1, 8]\n")
    assert batch_sizes_narrowed(tmp_path, (8,)) == "--gate-batch-sizes 8 (leaving out the project's 1)"
    assert batch_sizes_narrowed(tmp_path, (1, 8, 32)) is None
    assert batch_sizes_narrowed(tmp_path, (8, 1)) is None
    (tmp_path / "pyproject.toml").write_text("[tool.encoder-gate]\nbatch-sizes = [1, 4, 16]\n")
    assert batch_sizes_narrowed(tmp_path, (4,)) == "--gate-batch-sizes 4 (leaving out the project's 1, 16)"
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nbackends = ["torch"]\n')
    assert batch_sizes_narrowed(tmp_path, (8,)) is None  # the defaults are no project's choice


def test_a_projects_own_backend_fixture_is_left_alone(pytester: pytest.Pytester):
    """A conftest's `backend` (a database's) was parametrized over the gate's five backends: its test
    ran five times, the default model trained first, 45 s and 242 MB of cache for a 0.02 s test."""
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef backend():\n    return 'postgres'\n")
    pytester.makepyfile(test_db="def test_db_backend(backend):\n    assert backend == 'postgres'\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_db.py::test_db_backend PASSED*"])
    assert not (pytester.path / ".encoder-gate" / "cache").exists()
