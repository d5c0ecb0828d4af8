"""INT8 sessions: a QInt8 file's twin on the other integer path (a de-duplicated file, a file that
cannot be built, the CPUID mask or the rewrite), a planted saturation judged on both paths in one
session, sessions on a runner told or masked to saturate, and export on both paths."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

# path_backend is imported here, not in a test: an in-process pytester run drops from sys.modules what
# it imported first, so a module first imported by a test's inner session would be patched, in the next
# test, in a copy its inner session no longer uses
from encoder_gate.backends import path_backend
from encoder_gate.backends.int8_path import TARGETS, cpu_path, cpu_path_short, flags_path
from encoder_gate.backends.int8_rewrite import EXACT_SESSION_OPTION, shared_integer_inputs, unshared_model
from encoder_gate.backends.onnx_backend import OnnxBackend
from encoder_gate.backends.onnx_session import open_session
from encoder_gate.backends.recipes import RecipeBackend
from encoder_gate.backends.registry import parse_backend
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError
from test_int8_path import (
    CHECKS,
    NEEDS_EXACT_OPTION,
    _exact_option_opens,  # noqa: F401  (NEEDS_EXACT_OPTION's skipif condition is evaluated in this module)
    on_saturating_kernels,
)


def deduped_s8(tiny_ctx, tmp_path: Path) -> Path:
    """The tiny model's QInt8 file de-duplicated (encoder-gate export --dedupe's way): its products
    share their all-zero int8 weight zero points."""
    from encoder_gate.backends.dedupe import dedupe_file

    src = RecipeBackend("onnx-int8-s8").artifact(tiny_ctx)[0] / "model.onnx"
    dst = tmp_path / "deduped" / "model.onnx"
    dst.parent.mkdir()
    dedupe_file(src, dst)
    return dst


def test_shared_int8_zero_points_are_copied_per_product_with_the_same_numbers(tiny_ctx, tmp_path):
    """A de-duplicated QInt8 file reads shared int8 zero points in several products (which ONNX
    Runtime 1.25 to 1.32 cannot open with session.x64quantprecision=1); unshared_model gives each
    product its own copy, and the file computes the same numbers, bit for bit."""
    from encoder_gate.backends.base import dummy_batch

    deduped = deduped_s8(tiny_ctx, tmp_path)
    shared = shared_integer_inputs(deduped)
    assert shared and all(count > 1 for count in shared.values())
    unshared = unshared_model(deduped)
    assert shared_integer_inputs(unshared) == {}
    (tmp_path / "unshared.onnx").write_bytes(unshared.SerializeToString())
    batch = dummy_batch(3, 24, ("input_ids", "attention_mask"))
    batch["input_ids"] = np.random.default_rng(1).integers(3, 1000, (3, 24))
    before = open_session(deduped, "cpu", 1).run(None, batch)[0]
    after = open_session(tmp_path / "unshared.onnx", "cpu", 1, (EXACT_SESSION_OPTION,)).run(None, batch)[0]
    assert np.array_equal(before, open_session(tmp_path / "unshared.onnx", "cpu", 1).run(None, batch)[0])
    if cpu_path() == "exact":  # the exact option computes what this CPU computes natively
        assert np.array_equal(before, after)


@NEEDS_EXACT_OPTION
def test_on_a_saturating_runner_a_deduplicated_file_is_judged_on_the_exact_path(tiny_ctx, tmp_path,
                                                                                 monkeypatch):
    """`onnx:model.onnx~exact` of a de-duplicated QInt8 file on a runner without VNNI (told so here):
    the twin opens a copy with one zero point per product under the exact option, and computes the
    exact path; before, ONNX Runtime refused to open the file and the twin was an error."""
    from encoder_gate.backends.base import BuildContext, dummy_batch
    from encoder_gate.backends.path_backend import on_path
    from encoder_gate.cache import ArtifactCache

    deduped = deduped_s8(tiny_ctx, tmp_path)
    tell_the_cpu_it_saturates(monkeypatch)
    ctx = BuildContext(model=tiny_ctx.model, cache=ArtifactCache(tmp_path / "cache"), threads=1)
    plain = parse_backend(f"onnx:{deduped}").build(ctx)
    twin = on_path(plain, "exact", ctx, f"onnx:{deduped}~exact")
    assert twin.integer_path == "exact" and twin.artifact != deduped
    assert shared_integer_inputs(twin.artifact) == {}
    assert any("copied per product" in note for note in twin.notes)
    original = on_path(RecipeBackend("onnx-int8-s8").build(ctx), "exact", ctx, "onnx-int8-s8~exact")
    assert original.artifact.parent.name.startswith("onnx-int8-s8-")  # nothing shared: the file itself
    batch = dummy_batch(2, 16, ("input_ids", "attention_mask"))
    batch["input_ids"] = np.random.default_rng(2).integers(3, 1000, (2, 16))
    assert np.array_equal(twin.predict(batch), original.predict(batch))


def test_a_twin_of_a_file_that_cannot_be_built_is_not_judged_where_its_row_says_why(tmp_path, cache_dir):
    """Walk AI: a stale onnx: file (another model's vocabulary) failed as two backends, the file and
    its ~saturating twin, with twice the errors. Where the session judges the file, its twin is not
    applicable, naming the row that fails; where it judges the twin alone, the twin fails (review AK:
    a skip there passed a file nothing built)."""
    from encoder_gate.errors import NotApplicable, PlainBuildFailed
    from encoder_gate.runtime.session import GateSession

    stale = tmp_path / "stale.onnx"
    stale.write_bytes(b"not an onnx file")
    plain, twin = f"onnx:{stale}@int8", f"onnx:{stale}@int8~saturating"
    both = GateSession(GateConfig(model="tiny", backends=("torch", plain), cache_dir=cache_dir))
    with pytest.raises(GateError, match="ONNX Runtime could not load"):
        both.runner(plain)
    with pytest.raises(NotApplicable, match=rf"~saturating: {plain} could not be built, and its row says "
                                            r"why: ONNX Runtime could not load"):
        both.runner(twin)
    alone = GateSession(GateConfig(model="tiny", backends=("torch", twin), cache_dir=cache_dir))
    with pytest.raises(PlainBuildFailed, match="ONNX Runtime could not load"):
        alone.runner(twin)
    assert alone.records[twin].error is not None  # its row fails
    deselected = GateSession(GateConfig(model="tiny", backends=("torch", plain), cache_dir=cache_dir))
    deselected.selected_checks = frozenset({(twin, "drift_max")})  # -k saturating: the file's tests out
    with pytest.raises(PlainBuildFailed):
        deselected.runner(twin)


def test_a_twin_whose_file_needs_a_missing_package_skips_as_the_file_does(tiny_ctx, monkeypatch):
    """Review AM: a MissingDependency building the file (onnxruntime not installed) failed its twin
    as PlainBuildFailed, where the file's own tests skip."""
    from encoder_gate.backends import onnx_backend
    from encoder_gate.errors import MissingDependency

    def missing(self, ctx):
        raise MissingDependency("onnxruntime is not installed")

    monkeypatch.setattr(onnx_backend.OnnxBackend, "build", missing)
    with pytest.raises(MissingDependency, match="onnxruntime is not installed"):
        parse_backend("onnx-int8~saturating").build(tiny_ctx)


@pytest.mark.parametrize("way", ["session option or rewrite", "masked child"])
def test_a_twin_whose_way_does_not_compute_its_path_is_not_judged(tiny_ctx, monkeypatch, way: str):
    """Where the probe says the way a twin is computed does not compute the path it stands for (the
    exact option on a saturating runner; the masked child or the rewrite on an exact one), as an
    ONNX Runtime release could, the twin is not applicable and says why and where to judge it,
    instead of judging the wrong arithmetic."""
    from encoder_gate.backends import int8_path, path_backend
    from encoder_gate.backends.cpu_mask import MaskedSession, mask_unavailable
    from encoder_gate.errors import NotApplicable

    here = cpu_path()
    other = "saturating" if here == "exact" else "exact"
    if way == "masked child":
        if other != "saturating" or mask_unavailable():
            pytest.skip(f"no masked child here: {mask_unavailable() or 'this CPU saturates itself'}")

        class Unmasked(MaskedSession):  # a child whose ONNX Runtime still computes this CPU's path
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.observed = here

        monkeypatch.setattr(path_backend, "MaskedSession", Unmasked)
    else:
        monkeypatch.setattr(path_backend, "mask_unavailable", lambda: "told so")
        monkeypatch.setattr(int8_path, "_observed", lambda options, emulated: here)  # every way: this CPU's
    plain = RecipeBackend("onnx-int8-s8").build(tiny_ctx)
    with pytest.raises(NotApplicable, match=f"computed {here}'s products on the probe, not the {other} "
                                            "path's, under onnxruntime .*; judge it on"):
        path_backend.on_path(plain, other, tiny_ctx, f"onnx-int8-s8~{other}")


def test_on_an_exact_cpu_the_saturating_twin_is_what_an_avx2_cpu_computes(tiny_ctx, tmp_path):
    """Where CPUID can be masked (cpu_mask), the twin `~saturating` is the file itself in a child
    process whose CPU is masked to AVX2: ONNX Runtime's own AVX2 kernels, float and integer, bit for
    bit what qemu's Haswell computes (where the rewrite matches only the integer products), at this
    CPU's speed. Skips on a saturating CPU, where CPUID cannot be masked, or without qemu."""
    from encoder_gate.backends.base import dummy_batch
    from encoder_gate.backends.cpu_mask import mask_unavailable
    from encoder_gate.backends.path_backend import on_path

    if cpu_path() != "exact":
        pytest.skip("this CPU saturates: its own plain session is the saturating path")
    if mask_unavailable():
        pytest.skip(f"the twin is the rewritten file here: {mask_unavailable()}")
    plain = RecipeBackend("onnx-int8-s8").build(tiny_ctx)
    source = plain.artifact
    twin = on_path(plain, "saturating", tiny_ctx, "onnx-int8-s8~saturating")
    try:
        assert twin.artifact == source and twin.integer_path == "saturating"
        assert any("masked to AVX2" in note for note in twin.notes)
        batch = dummy_batch(4, 40, ("input_ids", "attention_mask"))
        batch["input_ids"] = np.random.default_rng(0).integers(3, 1000, (4, 40))
        masked = twin._session.run(None, batch)[0]
        twin.reopen()  # at_threads and reopen open another masked child, not a plain session
        assert np.array_equal(twin._session.run(None, batch)[0], masked)
    finally:
        twin.close()
    assert not np.array_equal(masked, open_session(source, "cpu", 1).run(None, batch)[0])
    assert np.array_equal(masked, on_saturating_kernels(source, batch, tmp_path))


def test_a_mask_that_cannot_be_built_is_a_reason_not_a_crash(tmp_path, monkeypatch):
    """Where the CPUID mask's library cannot be built (an unwritable cache directory here),
    mask_unavailable says why in one line, so the twin falls back on the rewrite."""
    from encoder_gate.backends import cpu_mask

    if cpu_mask._cannot_mask():
        pytest.skip(f"the CPU cannot be masked here anyway: {cpu_mask._cannot_mask()}")
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    cpu_mask.mask_library.cache_clear()
    try:
        why = cpu_mask.mask_unavailable()
    finally:
        cpu_mask.mask_library.cache_clear()
    assert why is not None and why.startswith("the CPUID mask cannot be built in ")
    assert "set XDG_CACHE_HOME to a writable directory" in why


def test_where_cpuid_cannot_be_masked_the_saturating_twin_is_the_rewritten_file(tiny_ctx, monkeypatch):
    """Without CPUID faulting (told so here) an exact CPU's twin `~saturating` runs the file
    rewritten to saturate, and its notes say why."""
    if cpu_path() != "exact":
        pytest.skip("this CPU saturates: its own plain session is the saturating path")
    monkeypatch.setattr(path_backend, "mask_unavailable", lambda: "no cpuid_fault (told so)")
    twin = path_backend.on_path(RecipeBackend("onnx-int8-s8").build(tiny_ctx), "saturating", tiny_ctx,
                                "onnx-int8-s8~saturating")
    assert twin.artifact.parent.name.startswith("saturating-")
    assert any("emulated on this exact CPU (no cpuid_fault (told so))" in note for note in twin.notes)


# --- a planted saturation case -------------------------------------------------------------------

PLANT_WEIGHT = 1.0


def plant_saturation(src: Path, dst: Path) -> Path:
    """The default model with a classifier whose QInt8 weights saturate on a saturating CPU and
    compute well on an exact one: pooled features 0 and 1 pinned near 1 (pooler bias 4, tanh), and
    in every label's column those two features' weights set to PLANT_WEIGHT, the column's largest
    and of one sign, so the pair quantizes to (127, 127) and meets uint8 activations near 255:
    2 x 255 x 127 = 64,770 is clipped to 32,767. The pair adds a near-constant 2 x PLANT_WEIGHT to
    every logit in FP32, taken off the bias, so torch's decisions stay the trained model's."""
    import torch
    import transformers

    shutil.copytree(src, dst)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(src).eval()
    with torch.no_grad():
        model.bert.pooler.dense.bias[:2] = 4.0
        w, b = model.classifier.weight, model.classifier.bias
        near_one = float(np.tanh(4.0))
        b -= near_one * (2 * PLANT_WEIGHT - (w[:, 0] + w[:, 1]))
        w[:, :2] = PLANT_WEIGHT
    model.save_pretrained(dst)
    return dst


@pytest.mark.slow
def test_a_planted_saturation_fails_on_the_saturating_path_and_passes_on_the_exact_one(
        pytester: pytest.Pytester, default_model, cache_dir: Path, tmp_path: Path, monkeypatch):
    """One session judges the planted QInt8 file on both paths, whatever this CPU computes: the
    exact path keeps its F1, the saturating one fails, and the verdict names the CPUs it fails on."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    planted = plant_saturation(default_model.path, tmp_path / "planted")
    report = tmp_path / "report"
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--gate-model", str(planted), "--gate-backends=torch,onnx-int8-s8",
                                f"--gate-cache-dir={cache_dir}", f"--gate-report-dir={report}",
                                "--gate-limit=200", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    accuracy = json.loads((report / "accuracy.json").read_text())
    rows = accuracy["backends"]
    other = "exact" if cpu_path() == "saturating" else "saturating"
    twin = f"onnx-int8-s8~{other}"
    if twin not in rows:  # this onnxruntime cannot compute that path here (1.21 to 1.24: the exact option)
        why = accuracy["integer_paths"]["twins_not_judged"][twin]
        assert f"its twin could not be computed here: {why.split(': ', 1)[1]}" in result.stdout.str()
        pytest.skip(f"the {other} path is not computed here, and the verdict says why: {why}")
    by_path = {rows[n]["integer_path"]: rows[n] for n in ("onnx-int8-s8", twin)}
    assert by_path["exact"]["verdict"] == "pass", by_path["exact"]["checks"]
    assert by_path["saturating"]["verdict"] == "fail"
    assert not by_path["saturating"]["checks"]["f1_keep"]["passed"]
    gap = by_path["saturating"]["checks"]["path_flip_rate"]  # its decisions against the exact path's
    assert not gap["passed"] and gap["observed"] > gap["bound"] == 0.01
    assert "path_flip_rate" not in by_path["exact"]["checks"]  # the gap is the saturating path's
    verdict = (report / "verdict.md").read_text()
    assert "fails on x86 without VNNI (saturating path)" in verdict
    assert "`onnx-int8-s8`: judged on the" in verdict and "exact" in verdict
    from encoder_gate.backends.path_backend import WAYS

    assert rows[twin]["computed_by"] in WAYS.values()  # the verdict says how the other path was computed
    assert f"`{twin}` computed by {rows[twin]['computed_by']}" in verdict


def tell_the_cpu_it_saturates(monkeypatch, flags: bool = True) -> None:
    """This process's CPU read as AVX2 without VNNI: its flags (unless `flags` is False) and what
    int8_path's probe observes of plain sessions (its arithmetic stays its own; the probes of the
    exact option and of the emulation stay real), so a session takes an AVX2 runner's decisions on
    any x86 CPU; skips elsewhere."""
    from encoder_gate.backends import int8_path

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the saturating path is an x86 matter: this CPU cannot be told it is an AVX2 one")
    if flags:
        monkeypatch.setattr(int8_path, "_this_cpu_flags", lambda: frozenset({"sse4_1", "avx", "avx2", "fma"}))
    real = int8_path._observed
    monkeypatch.setattr(int8_path, "_observed",
                        lambda options, emulated: "saturating" if not options and not emulated else
                        real(options, emulated))


@pytest.fixture
def cache_of_its_own(tiny_cache_with, tmp_path: Path) -> Path:
    """An artifact cache holding the tiny model, its FP32 export and the QInt8 file made from it (the
    suite cache's builds: the same bytes whatever the CPU is told) and nothing predicted: a session
    told its CPU saturates keys what it predicts as the saturating path's, which it is not; that
    must not reach the suite's cache. (The export too: a session looks an INT8 file up after the
    FP32 export it is made from, and without it builds.)"""
    return tiny_cache_with(tmp_path / "cache", "onnx-fp32", "onnx-int8-s8")


@pytest.mark.slow
@NEEDS_EXACT_OPTION
def test_on_a_saturating_runner_the_twin_is_the_file_on_the_exact_path(
        pytester: pytest.Pytester, cache_of_its_own: Path, tmp_path: Path, monkeypatch):
    """What a runner without VNNI (many hosted CI runners: AMD EPYC, AVX2 only) does, on any x86 CPU:
    told its CPU has AVX2 and no VNNI, the session judges the QInt8 file as it is (the saturating
    path's row), and its twin `~exact` is the same file opened with ONNX Runtime's
    session.x64quantprecision=1, not a rewrite; each row names its path, the saturating (plain) row
    is held to the gap between the paths, and the verdict says which CPUs each row's result is for.
    (On an exact CPU the plain row's numbers are exact ones: this test is about the session's flow,
    not its numbers; .ci/avx2-only's test is about both.)"""
    tell_the_cpu_it_saturates(monkeypatch)
    opened: list[tuple[Path, tuple]] = []

    def open_and_note(path, device, threads, config=()):
        opened.append((Path(path), tuple(config)))
        return open_session(path, device, threads, config)

    def no_rewrite(src, dst):
        raise AssertionError(f"a runner whose CPU saturates rewrote {src}: its exact path needs no rewrite")

    monkeypatch.setattr(path_backend, "open_session", open_and_note)
    monkeypatch.setattr(path_backend, "write_saturating", no_rewrite)
    report = tmp_path / "report"
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--gate-model=tiny", "--gate-backends=torch,onnx-int8-s8",
                                f"--gate-cache-dir={cache_of_its_own}",
                                f"--gate-report-dir={report}", "--gate-limit=64", "-p", "no:cacheprovider")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    accuracy = json.loads((report / "accuracy.json").read_text())
    rows = accuracy["backends"]
    assert set(rows) == {"torch", "onnx-int8-s8", "onnx-int8-s8~exact"}
    assert rows["onnx-int8-s8"]["integer_path"] == "saturating"
    assert rows["onnx-int8-s8~exact"]["integer_path"] == "exact"
    assert "path_flip_rate" in rows["onnx-int8-s8"]["checks"]  # the saturating row's gap to the exact one
    assert "path_flip_rate" not in rows["onnx-int8-s8~exact"]["checks"]
    assert accuracy["integer_paths"]["this_cpu"] == "saturating"
    assert [(p.name, config) for p, config in opened] == [("model.onnx", (EXACT_SESSION_OPTION,))]
    assert opened[0][0].parent.name.startswith("onnx-int8-s8-")  # the plain file itself
    result.stdout.fnmatch_lines(["*onnx-int8-s8~exact*", "*exact path on this saturating CPU: ONNX Runtime's "
                                 "session.x64quantprecision=1*"])
    verdict = (report / "verdict.md").read_text()
    assert "this runner's CPU computes int8-weight products on the saturating path" in verdict
    gap = rows["onnx-int8-s8"]
    assert ("`onnx-int8-s8`: judged on the saturating and exact path (`onnx-int8-s8~exact` computed by ONNX "
            f"Runtime with session.x64quantprecision=1); between its two paths {gap['path_flips']} decision"
            ) in verdict  # the gap's figures, which were in accuracy.json only
    bound = gap["checks"]["path_flip_rate"]["bound"]
    assert (f"({gap['path_flip_rate']:.2%} (<= {bound:.2%})) and outputs differ by up to "
            f"{gap['path_drift_max']:.3g}.") in verdict
    assert rows["onnx-int8-s8~exact"]["computed_by"] == "ONNX Runtime with session.x64quantprecision=1"
    assert "computed_by" not in rows["onnx-int8-s8"]  # this CPU's own


AVX2_ONLY = Path(__file__).resolve().parents[1] / ".ci" / "avx2-only"


def masked_to_avx2() -> str:
    """The LD_PRELOAD library of .ci/avx2-only (built on first use): a process preloading it sees
    this x86 CPU as an AVX2 one and runs natively. Skips where the CPU cannot be masked."""
    done = subprocess.run([str(AVX2_ONLY), "printenv", "LD_PRELOAD"], capture_output=True, text=True,
                          timeout=120)
    if done.returncode == 2:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_on_a_cpu_masked_to_avx2_the_session_judges_what_onnx_runtime_computes(
        pytester: pytest.Pytester, cache_of_its_own: Path, tmp_path: Path, monkeypatch):
    """A session on this CPU seen as an AVX2 one (.ci/avx2-only: CPUID masked, native speed), so ONNX
    Runtime's own U8S8 kernels saturate while /proc/cpuinfo keeps the host's flags: the runner's
    path is the observed one (saturating), the QInt8 file's plain row is held to the gap against its
    `~exact` twin, which the exact option computes, and where the flags say otherwise the terminal
    says so. Skips where the CPU cannot be masked (no cpuid_fault, not x86, no gcc)."""
    monkeypatch.setenv("LD_PRELOAD", masked_to_avx2())
    report = tmp_path / "report"
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_subprocess("--gate-model=tiny", "--gate-backends=torch,onnx-int8-s8",
                                           f"--gate-cache-dir={cache_of_its_own}",
                                           f"--gate-report-dir={report}", "--gate-limit=64",
                                           "-p", "no:cacheprovider", "-k", "not padding")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    accuracy = json.loads((report / "accuracy.json").read_text())
    paths, rows = accuracy["integer_paths"], accuracy["backends"]
    assert paths["this_cpu"] == paths["how"]["observed"] == "saturating"
    assert paths["how"]["flags_say"] == flags_path()
    assert (rows["onnx-int8-s8"]["integer_path"], rows["onnx-int8-s8~exact"]["integer_path"]) == \
        ("saturating", "exact")
    assert "path_flip_rate" in rows["onnx-int8-s8"]["checks"]
    if flags_path() == "exact":
        result.stdout.fnmatch_lines(["INT8: ONNX Runtime computed saturating products on this runner's "
                                     "probe, though its CPU flags say exact*"])


@NEEDS_EXACT_OPTION
def test_the_terminal_verdict_says_which_cpus_an_int8_row_was_not_judged_for(
        pytester: pytest.Pytester, cache_dir: Path, tmp_path: Path):
    """Targets that leave out the other integer path: the verdict table's INT8 row holds for this
    CPU's path only, and the line under the table says so, naming the CPUs and why; with every
    target judged there is no such line."""
    here = cpu_path()
    only_here = next(t for t, path in TARGETS.items() if path == here)
    pytester.makepyfile(test_checks=CHECKS)
    args = ["--gate-model=tiny", "--gate-backends=torch,onnx-int8-s8", f"--gate-cache-dir={cache_dir}",
            f"--gate-report-dir={tmp_path / 'report'}", "--gate-limit=64", "-p", "no:cacheprovider"]
    result = pytester.runpytest(*args, f"--gate-targets={only_here}")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    other = "saturating" if here == "exact" else "exact"
    result.stdout.fnmatch_lines([
        "*encoder-gate verdict:*", "onnx-int8-s8 *",
        f"INT8 onnx-int8-s8: judged on the {here} path only; NOT judged for {cpu_path_short(other)} "
        "(not among the targets)"])
    every = pytester.runpytest(*args)
    assert "NOT judged" not in every.stdout.str()


@pytest.mark.slow
@NEEDS_EXACT_OPTION
@pytest.mark.parametrize("told", ["its own flags", "its own flags, no CPUID mask", "avx2 only"])
def test_a_tolerance_and_a_waiver_of_a_path_follow_the_row_that_holds_that_path(
        pytester: pytest.Pytester, cache_of_its_own: Path, tmp_path: Path, monkeypatch, told: str):
    """`[tolerances."onnx-int8-s8~saturating"]` and a waiver of `onnx-int8-s8~saturating` are about
    the file's result on the saturating path: on a CPU with VNNI the twin's row holds it, on one
    without (told so here, on any x86 CPU) the plain row. Either way the tolerance holds that row to
    a drift it cannot meet, the waiver accepts it, and the session passes with that row waived and
    the other row passing on its own bounds; a configuration read on both kinds of runner (a CI
    matrix) means one thing on both."""
    from datetime import date, timedelta

    if told == "avx2 only":
        tell_the_cpu_it_saturates(monkeypatch)
    if told == "its own flags, no CPUID mask":  # an exact CPU's twin is then the rewritten file
        monkeypatch.setattr(path_backend, "mask_unavailable", lambda: "no cpuid_fault (told so)")
    plain = "onnx-int8-s8"
    twin = f"{plain}~{'exact' if cpu_path() == 'saturating' else 'saturating'}"
    saturating, exact = (plain, twin) if cpu_path() == "saturating" else (twin, plain)
    until = (date.today() + timedelta(days=30)).isoformat()
    pytester.makepyprojecttoml(
        '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-int8-s8"]\nlimit = 64\n'
        '[tool.encoder-gate.tolerances."onnx-int8-s8~saturating"]\ndrift_max = 1e-12\n'
        '[[tool.encoder-gate.waivers]]\nbackend = "onnx-int8-s8~saturating"\ncheck = "drift_max"\n'
        f'owner = "@edge"\nreason = "AVX2 hosts, #9"\nuntil = {until}\n[tool.pytest.ini_options]\n')
    pytester.makepyfile(test_checks=CHECKS)
    monkeypatch.delenv("PYTEST_ADDOPTS")
    cache = cache_of_its_own
    result = pytester.runpytest("--rootdir", str(pytester.path), "-c", str(pytester.path / "pyproject.toml"),
                                f"--gate-cache-dir={cache}", "-p", "no:cacheprovider", "-k", "not padding",
                                "-rx")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines([f"*XFAIL*drift_within_bound[[]{saturating}-drift_max[]]*waived by @edge*"])
    decided = {b["name"]: b["status"] for b in
               json.loads((pytester.path / ".encoder-gate" / "verdict.json").read_text())["backends"]}
    assert decided[saturating] == "waived"
    assert decided[exact] == "pass"
    if told == "its own flags, no CPUID mask" and cpu_path() == "exact":
        result.stdout.fnmatch_lines(["*saturating path emulated on this exact CPU (no cpuid_fault (told so))"
                                     "*"])


@pytest.mark.slow
def test_export_judges_a_qint8_file_on_both_paths_and_its_card_says_which_cpus(cache_dir: Path, tiny_ctx,
                                                                                tmp_path: Path, capsys):
    """`encoder-gate export --int8-weights QInt8 --dedupe`: the INT8 variant is measured on both
    paths, export.json holds both, the card names the CPUs and the session option, and the file opens
    with that option (its int8 zero points left one per product);
    with the default uint8 weights the card says the file is the same on every CPU."""
    from encoder_gate.commands.cli import main

    OnnxBackend("fp32").artifact(tiny_ctx)
    out = tmp_path / "s8"
    args = ["export", "tiny", "--variants", "int8", "--cache-dir", str(cache_dir), "--threads", "1"]
    assert main([*args, "--out", str(out), "--int8-weights", "QInt8", "--dedupe"]) == 0
    shipped = out / "model_quantized.onnx"  # de-duplicated, but one int8 zero point per product, so that
    assert shared_integer_inputs(shipped) == {}  # the card's session option opens it on ONNX Runtime 1.25 on
    open_session(shipped, "cpu", 1, (EXACT_SESSION_OPTION,))
    paths = json.loads((out / "export.json").read_text())["variants"]["int8"]["integer_paths"]
    assert paths["can_saturate"] and paths["saturable_pairs"] > 0
    assert {"exact", "saturating"} <= set(paths) and paths["saturating"]["f1"] is not None
    card = (out / "README.md").read_text()
    assert "## INT8 on other CPUs" in card and "session.x64quantprecision" in card
    assert "(this machine)" in card
    # the parity and task tables are of the export machine's path, and say so (walk L #7)
    here = paths["this_cpu"]
    assert card.count(f"| onnx-int8 ({here} path, this machine's) |") == 2
    assert f"onnx-int8 ({here} path, this machine's): drift mean" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "u8")]) == 0
    card = (tmp_path / "u8" / "README.md").read_text()
    assert "The same numbers on every CPU; no session option needed." in card
    assert "| onnx-int8 |" in card  # one path: no word of one
