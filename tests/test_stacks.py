"""What differs between the dependency stacks the pyproject allows (issue 69): each guard here kept
an older or newer release from crashing the gate, and says its cause in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.stack


def test_a_hypothesis_without_a_ci_profile_still_loads_the_plugin(monkeypatch: pytest.MonkeyPatch):
    """hypothesis before 6.116 has no built-in "ci" profile: get_profile raised at the plugin's import,
    and no pytest session of that environment could start, the user's own tests included."""
    from types import SimpleNamespace

    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    from encoder_gate.plugin import stash

    def older(name: str):
        if name == "ci":
            raise InvalidArgument(f"Profile {name!r} is not registered")
        return settings.get_profile(name)

    monkeypatch.setattr(stash, "hypothesis_settings", SimpleNamespace(get_profile=older))
    assert set(stash._builtin_profiles()) == {"default"}


def test_the_bootstrap_gives_one_interval_for_one_seed():
    """scipy 1.15 renamed bootstrap's random_state to rng: whichever this scipy takes, the same seed
    gives the same interval (the verdict's error bars do not move between runs)."""
    import numpy as np

    from encoder_gate.statistics import bootstrap_ci

    data = np.random.default_rng(1).normal(size=40)
    first = bootstrap_ci([data], np.mean, confidence=0.95, n_resamples=500, seed=3)
    assert first == bootstrap_ci([data], np.mean, confidence=0.95, n_resamples=500, seed=3)
    assert first != bootstrap_ci([data], np.mean, confidence=0.95, n_resamples=500, seed=4)


def test_a_torch_compile_failure_names_its_real_cause():
    """dynamo's BackendCompilerFailed says only `backend='inductor' raised:` on its first line; the
    cause (inductor without setuptools, as in uv's venvs) is named, with the fix."""
    from encoder_gate.backends.torch_compat import compile_failure

    wrapped = RuntimeError("backend='inductor' raised:\nModuleNotFoundError: No module named 'setuptools'")
    wrapped.inner_exception = ModuleNotFoundError("No module named 'setuptools'", name="setuptools")  # type: ignore[attr-defined]
    line = compile_failure("torch-compile", wrapped)
    assert "\n" not in line
    assert "ModuleNotFoundError: No module named 'setuptools'" in line
    assert "pip install setuptools" in line
    other = compile_failure("torch-compile", ValueError("shapes (3, 4) vs (4, 5)\n\nfrom user code: ..."))
    assert "ValueError: shapes (3, 4) vs (4, 5)" in other and "report it to PyTorch" in other


def test_a_compile_that_fails_at_a_later_call_is_one_line_naming_its_cause_and_every_call_after_says_it(
        tiny_ctx):
    """Before torch 2.13 dynamo compiles a model again at its first one-text batch. torch 2.6's inductor
    failed there on a DeBERTa-v2 (`AssertionError: buf18` in its C++ codegen): the verdict read
    "BackendCompilerFailed: backend='inductor' raised:", the test a traceback from inside inductor, and
    each later call would have compiled and failed again. A dynamo error at a later call is one line
    naming its cause and the versions, and every call after it fails at once with that line."""
    import numpy as np
    import torch

    from encoder_gate.backends import parse_backend
    from encoder_gate.errors import GateError

    runner = parse_backend("torch-compile").build(tiny_ctx)
    calls = []

    def recompiles(**inputs):  # what dynamo raises when inductor fails on the new shapes
        calls.append(inputs)
        failed = torch._dynamo.exc.TorchDynamoException("backend='inductor' raised:\nAssertionError: buf18")
        failed.inner_exception = AssertionError("buf18")  # type: ignore[attr-defined]
        raise failed

    runner._compiled = recompiles  # as after its first call
    batch = {"input_ids": np.ones((1, 7), dtype=np.int64), "attention_mask": np.ones((1, 7), dtype=np.int64)}
    with pytest.raises(GateError) as failed:
        runner.predict(batch)
    line = str(failed.value)
    assert line.startswith("torch-compile: torch.compile failed at a later call, where it compiled again for "
                           "new shapes (inputs 1x7) (AssertionError: buf18; torch ") and "\n" not in line
    assert f"torch {torch.__version__.split('+')[0]}" in line and "transformers " in line
    with pytest.raises(GateError, match="at a later call"):
        runner.predict(batch)
    assert len(calls) == 1  # not compiled (and failed) again


def test_an_older_torch_gets_what_the_installed_transformers_calls_while_it_compiles(
        monkeypatch: pytest.MonkeyPatch):
    """torch 2.6 has no torch.compiler.is_exporting, which transformers 5.24 calls in its mask code:
    torch 2.6's dynamo failed on it in every torch-compile test of that stack (both inside the
    window). It is given, said once a process, answering False under dynamo and in eager: no
    torch.export runs (torch 2.7 to 2.12's dynamo traced their own as a constant True, torch 2.13's
    as False; both compile that model alike). A torch that has it keeps its own."""
    import torch

    from encoder_gate.backends.torch_compat import give_missing

    said: list[str] = []
    own = getattr(torch.compiler, "is_exporting", None)
    if own is not None:
        give_missing(said.append)
        assert torch.compiler.is_exporting is own and said == []
    monkeypatch.delattr(torch.compiler, "is_exporting", raising=False)
    give_missing(said.append)
    give_missing(said.append)
    [line] = said
    assert f"torch {torch.__version__} has no torch.compiler.is_exporting (torch 2.7 added it)" in line

    def mask_code(x: torch.Tensor) -> torch.Tensor:  # as transformers' mask code calls it
        return x + 1 if torch.compiler.is_exporting() else x - 1

    assert float(torch.compile(mask_code, backend="eager")(torch.zeros(1))[0]) == -1.0
    assert torch.compiler.is_exporting() is False


def test_torchs_warnings_inside_its_compile_are_never_errors_under_a_projects_error_filter():
    """torch 2.6 warns "Skipping serialization of skipfiles_inline_module_allowlist value {}" from its
    cache key at every compile: under a project's `filterwarnings = ["error"]` each torch-compile test
    failed with it. Inside the compile's block that one is ignored (as torch's own script_method
    deprecation), any other of torch's is a warning, and a warning of anyone else's still an error."""
    import warnings

    from encoder_gate.backends.torch_compat import quiet_inductor_import

    def warn(text: str, category: type[Warning], module: str) -> None:
        path = f"{module.replace('.', '/')}.py"
        warnings.warn_explicit(text, category, path, 1, module=module, registry={})

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("error")
        with quiet_inductor_import():
            warn("Skipping serialization of skipfiles_inline_module_allowlist value {}", UserWarning,
                 "torch.utils._config_module")
            warn("some other note of torch's", UserWarning, "torch._inductor.codecache")
            with pytest.raises(UserWarning, match="the user's own"):
                warn("the user's own", UserWarning, "their_package.module")
        with pytest.raises(UserWarning, match="outside the compile"):
            warn("outside the compile", UserWarning, "torch._inductor.codecache")
    assert [str(w.message) for w in seen] == ["some other note of torch's"]


def test_torchs_deprecation_of_its_own_jit_script_is_quiet_where_the_gate_reads_a_models_code():
    """transformers 4.57's ModernBERT decorates methods with torch.compile, so reading its model code
    imported inductor and torch.utils.mkldnn: 14 of torch's `torch.jit.script_method` deprecations in
    the user's summary; its DeBERTa-v2 scripts functions, 7 of `torch.jit.script`'s. Where the gate reads
    a model's code (its meta model, its load, its compile) they are ignored, and only they: a warning
    of anyone else's stays an error under an error filter."""
    import warnings

    from encoder_gate.models.spec import quiet_torch_self_deprecations

    def warn(text: str, category: type[Warning], module: str) -> None:
        path = f"{module.replace('.', '/')}.py"
        warnings.warn_explicit(text, category, path, 1, module=module, registry={})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with quiet_torch_self_deprecations():
            for said in ("`torch.jit.script_method` is deprecated. Please switch to `torch.compile` or "
                         "`torch.export`.", "`torch.jit.script` is deprecated. Please switch to ..."):
                warn(said, DeprecationWarning, "torch.jit._script")
            with pytest.raises(DeprecationWarning, match="their own"):
                warn("`their own` is deprecated", DeprecationWarning, "their_package.module")
        with pytest.raises(DeprecationWarning, match="script_method"):
            warn("`torch.jit.script_method` is deprecated.", DeprecationWarning, "torch.jit._script")


def test_a_models_float_constants_end_no_trace_of_its_first_call() -> None:
    """An embedding's norm_type, a float dynamo cannot turn into a tensor, ended the first trace of
    every model of the four families (dynamo then traced it again, floats specialized): inside
    constant_floats the first call traces once, one AOT autograd pass (two without it on torch 2.13).
    A module of the test's own, so nothing of another test's compile is reused."""
    import torch
    from torch._dynamo.utils import counters

    from encoder_gate.backends.torch_compat import constant_floats

    class Embedded(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.norm = torch.nn.Embedding(10, 4), torch.nn.LayerNorm(4)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.norm(self.embed(ids))

    model = Embedded()
    compiled = torch.compile(model, dynamic=True, backend="aot_eager")  # no C++ build: the trace alone
    ids = torch.tensor([[1, 2, 3]])
    before = counters["aot_autograd"]["total"]
    with constant_floats():
        out = compiled(ids)
    assert counters["aot_autograd"]["total"] - before == 1
    torch.testing.assert_close(out, model(ids), rtol=0, atol=0)


def test_torchs_cache_key_warning_is_no_error_in_any_test_of_a_project_that_errors_on_warnings(
        pytester: pytest.Pytester):
    """A compiled model compiles again at a later call (another shape), outside the first call's block,
    and torch 2.6 warns again from its cache key: 2 such warnings in a gate on tiny. The plugin adds
    a filter after the command line's (which pytest applies after the project's `filterwarnings`), so
    that one is ignored in every test under an `error` in either; anyone else's is still an error."""
    (pytester.path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    pytester.makepyfile("""
        import warnings

        def test_torch_compiles_again():
            warnings.warn_explicit("Skipping serialization of skipfiles_inline_module_allowlist value {}",
                                   UserWarning, "torch/utils/_config_module.py", 342,
                                   module="torch.utils._config_module", registry={})

        def test_anyone_elses_is_still_an_error():
            warnings.warn("a project's own", UserWarning)
    """)
    for given in ((), ("-W", "error")):  # the project's filterwarnings, then a command line's too
        result = pytester.runpytest_subprocess("-p", "no:randomly", *given)
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*UserWarning: a project's own*"])


def test_a_dynamo_export_that_fell_back_to_the_examples_shapes_is_refused_naming_them(
        tiny_ctx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """torch 2.6's torch.export failed on transformers 5's mask code with unbounded Dims (a guard
    against 2**63 - 1), and torch.onnx.export(dynamo=True) then fell back to a trace: a file of inputs
    [2, 16], two texts of 16 tokens at most, which the gate judged on texts cut to 16 tokens and
    passed. The Dims are bounded now (torch 2.6 exports tiny with a dynamic batch and length then),
    and a file that still came out static is refused, naming its shapes."""
    import onnx
    import torch
    from onnx import TensorProto, helper

    from encoder_gate.backends.onnx_build import export_fp32_dynamo
    from encoder_gate.errors import GateError

    asked: dict[str, object] = {}

    class Traced:
        def save(self, path: str) -> None:
            ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [2, 16])
            logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 28])
            node = helper.make_node("Constant", [], ["logits"], value=helper.make_tensor(
                "c", TensorProto.FLOAT, [2, 28], [0.0] * 56))
            onnx.save(helper.make_model(helper.make_graph([node], "g", [ids], [logits])), path)

    def export(module, example, **kwargs):  # type: ignore[no-untyped-def]
        asked.update(kwargs)
        return Traced()

    monkeypatch.setattr(torch.onnx, "export", export)
    with pytest.raises(GateError) as caught:
        export_fp32_dynamo(tiny_ctx, tmp_path)
    assert str(caught.value).startswith("torch.onnx.export(dynamo=True) fixed tiny's input shapes at the "
                                        "example's (input_ids (2, 16)): ")
    [dims] = {tuple(d.items()) for d in asked["dynamic_shapes"][0]}  # type: ignore[index]
    assert [(axis, dim.max) for axis, dim in dims] == [(0, 65536), (1, tiny_ctx.model.max_positions)]


def test_the_probe_models_open_on_the_oldest_supported_onnxruntime():
    """The two models the package builds for itself (the integer-path probe and the peak probe) carry
    an IR version and opset onnxruntime 1.17 reads (IR 9 at most), whatever the installed onnx writes
    by default (onnx 1.23: IR 14, which onnxruntime 1.30-1.31 cannot read: INTERNALERROR at start)."""
    pytest.importorskip("onnxruntime")
    import onnx

    from encoder_gate.backends.int8_path import PROBE_IR_VERSION, PROBE_OPSET, probe_model

    assert PROBE_IR_VERSION <= 9 and PROBE_OPSET <= 13
    for emulated in (False, True):
        model = probe_model(emulated)
        assert model.ir_version == PROBE_IR_VERSION
        assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {PROBE_OPSET}
        onnx.checker.check_model(model)
    import onnxruntime as ort

    ort.InferenceSession(probe_model().SerializeToString(), providers=["CPUExecutionProvider"])


def test_a_dependency_outside_the_window_is_one_line_naming_it_and_the_fix(monkeypatch: pytest.MonkeyPatch):
    """An installed version the pyproject does not allow (here scipy 1.0.0, below every bound it ever
    had) is said in one line, with the install that mends it; a stack inside the window says nothing."""
    from importlib import metadata

    from encoder_gate import environment

    assert environment.outside_the_window() == []
    real = metadata.version
    monkeypatch.setattr(environment.metadata, "version",
                        lambda name: "1.0.0" if name == "scipy" else real(name))
    [line] = environment.outside_the_window()
    assert line.startswith("scipy 1.0.0 is outside the versions encoder-gate supports (scipy>=")
    assert "pip install 'scipy>=" in line


def test_a_module_left_half_removed_by_uninstalling_one_of_its_two_builds_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """onnxruntime and onnxruntime-gpu installed together, then one uninstalled: what is left of the
    module (capi/, no __init__.py) imports as an empty namespace package, and every ONNX backend
    failed deep inside with "no attribute 'SessionOptions'". Said in one line, naming the directory,
    what pip still counts as installed and the fix; found without importing it. (A stand-in module
    here: this process imported the real one.)"""
    from importlib import metadata

    from encoder_gate import environment

    assert environment.half_removed() == []  # this environment's onnxruntime is whole
    (tmp_path / "ortlike" / "capi").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(environment.SHARED_MODULES, "ortlike", ("ortlike", "ortlike-gpu"))
    real = metadata.version

    def version(name: str) -> str:
        if name == "ortlike-gpu":
            return "1.31.1"
        if name == "ortlike":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(environment.metadata, "version", version)
    [line] = environment.half_removed("ortlike")
    assert line == (f"the ortlike module in {tmp_path / 'ortlike'} is half removed, no __init__.py (still "
                    "installed, by pip's records: ortlike-gpu 1.31.1): ortlike and ortlike-gpu ship the "
                    "same files, and uninstalling one of them removes what the other needs. Uninstall both, "
                    "then install one: pip uninstall -y ortlike ortlike-gpu && pip install ortlike")
    (tmp_path / "ortlike" / "__init__.py").write_text("")
    assert environment.half_removed("ortlike") == []


def test_a_file_of_an_ir_the_installed_onnxruntime_cannot_read_is_one_line_naming_both(tmp_path):
    """A user's ONNX file written with a newer IR than the installed onnxruntime reads (onnx 1.23's
    default IR 14 against onnxruntime 1.30's 13) is one line: onnxruntime's version, the file's IR
    and opset, and the fix; not an INTERNALERROR."""
    pytest.importorskip("onnxruntime")
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from encoder_gate.backends.onnx_session import open_session
    from encoder_gate.errors import GateError

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 99  # newer than any onnxruntime reads
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(GateError) as caught:
        open_session(path, "cpu", 1)
    line = str(caught.value)
    assert "\n" not in line
    assert f"ONNX Runtime {ort.__version__} cannot load {path} (IR version 99, opset 13)" in line
    assert "Upgrade onnxruntime" in line


def test_a_module_a_library_imports_and_the_environment_lacks_is_one_line_naming_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """onnxruntime 1.24 and later import ml_dtypes for their quantization without requiring it, and
    onnx before 1.19 does not bring it: on torch 2.13, transformers 4.47.1, onnx 1.18.0, onnxruntime
    1.32.0 every onnx-int8 test errored with a bare `ModuleNotFoundError: No module named 'ml_dtypes'`
    (22 of them, the build tried again in each). encoder-gate requires ml-dtypes now, and a build that
    meets a module its library imports and the environment lacks fails once, as a GateError naming
    the module, the library and the install; nothing half built is left in the cache."""
    import sys
    from importlib import metadata

    from packaging.requirements import Requirement

    from encoder_gate.cache import ArtifactCache
    from encoder_gate.errors import GateError

    assert "ml-dtypes" in {Requirement(r).name for r in metadata.requires("encoder-gate") or []}
    quant_utils = pytest.importorskip("onnxruntime.quantization.quant_utils")
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # what an environment without it imports
    # the import as onnxruntime's quantization makes it, in a frame of its own file
    importing = compile("from ml_dtypes import int4", quant_utils.__file__, "exec")
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(GateError) as caught:
        cache.get_or_build("onnx-int8", {"k": 1}, lambda out: exec(importing, {}))
    line = str(caught.value)
    owner = next(d for d in ("onnxruntime", "onnxruntime-gpu", "onnxruntime_gpu")
                 if line.startswith(f"onnx-int8 could not be built: the Python module 'ml_dtypes' is not "
                                    f"installed, which {d} "))
    assert line.endswith(f"{metadata.version(owner)} imports: pip install ml-dtypes"), line
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]  # (its lock file stays)
    # a module the gate's own code imports is its caller's to word: no library is named
    import encoder_gate.cache

    ours = compile("import ml_dtypes", encoder_gate.cache.__file__, "exec")
    with pytest.raises(GateError, match=r"'ml_dtypes' is not installed: pip install ml-dtypes$"):
        cache.get_or_build("onnx-int8", {"k": 2}, lambda out: exec(ours, {}))
    # what only an extra installs (the cpu extra's onnxruntime) is a MissingDependency: its tests skip,
    # as the backend's own check before a build says (not an error, as a required package's is)
    from encoder_gate.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    extra = compile("import onnxruntime", encoder_gate.cache.__file__, "exec")
    with pytest.raises(MissingDependency) as skipped:
        cache.get_or_build("onnx-fp16", {"k": 3}, lambda out: exec(extra, {}))
    assert str(skipped.value).endswith("'onnxruntime' is not installed: pip install 'encoder-gate[cpu]' (or "
                                       "'encoder-gate[gpu]' on an NVIDIA GPU)")


def test_an_onnxruntime_that_cannot_run_the_probe_falls_back_on_the_flags(monkeypatch: pytest.MonkeyPatch):
    """The integer-path probe runs when the plugin configures a session: an onnxruntime that cannot
    open it (another release's kernels or IR) must not stop every pytest session of the environment
    (INTERNALERROR, exit 3): the path is then read from the CPU's flags."""
    ort = pytest.importorskip("onnxruntime")

    from encoder_gate.backends import int8_path

    def refuses(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Unsupported model IR version: 14, "
                           "max supported IR version: 13")

    monkeypatch.setattr(ort, "InferenceSession", refuses)
    assert int8_path._observed.__wrapped__((), False) is None  # the plain probe, in this process


def test_an_onnxruntime_that_aborts_on_a_session_option_takes_down_a_child_not_the_session():
    """onnxruntime 1.21 to 1.24 abort the process (a C++ assertion) opening the probe with
    session.x64quantprecision: a probe with session options runs in a child process, and one that
    dies reads as no path (its twin is then not judged, saying why)."""
    from encoder_gate.backends import int8_path

    probe = int8_path.probe_model().SerializeToString()
    aborts = (("encoder_gate.test", "1"),)
    real = int8_path._CHILD_PROBE
    try:
        int8_path._CHILD_PROBE = "import os; os.abort()"
        assert int8_path._probe_in_child(probe, aborts) is None
    finally:
        int8_path._CHILD_PROBE = real
    sums, scaled = int8_path._probe_in_child(probe, aborts)  # an unknown key: ignored, the probe runs
    assert sums.shape == scaled.shape == (int8_path.PROBE_SHAPE[0], int8_path.PROBE_SHAPE[2])


def _family_model(family: str):
    """A two-layer model of `family`, random weights, of a class of its own: dynamo keeps compiled graphs
    per code object (tied_batch's, per model class), so nothing another test compiled is reused."""
    import transformers

    classes = {"bert": ("BertConfig", "BertForSequenceClassification", {}),
               "roberta": ("RobertaConfig", "RobertaForSequenceClassification",
                           {"max_position_embeddings": 66, "type_vocab_size": 1}),
               "albert": ("AlbertConfig", "AlbertForSequenceClassification", {"embedding_size": 8}),
               "distilbert": ("DistilBertConfig", "DistilBertForSequenceClassification",
                              {"dim": 16, "n_layers": 2, "n_heads": 2, "hidden_dim": 32})}
    config_name, model_name, extra = classes[family]
    size = ({} if family == "distilbert" else
            {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32})
    config = getattr(transformers, config_name)(vocab_size=50, num_labels=3, pad_token_id=1,
                                                 **{"max_position_embeddings": 64, **size, **extra})
    fresh = type(f"Fresh{model_name}", (getattr(transformers, model_name),), {})
    return fresh(config).eval()


@pytest.mark.parametrize("family", ["bert", "roberta", "albert", "distilbert"])
def test_a_compiled_models_batch_is_one_graph_for_every_batch_size_where_torch_allows(family: str):
    """The compiled runner's batch dimension, as the runner marks it (torch_compat.compile_target): on
    torch 2.13 and later one graph serves a batch of two and a batch of one, whole; before it the batch
    stays a plain dynamic size, so a one-text batch compiles one more whole graph.
    Marked unbacked without the tie, every family of transformers 4.57 broke into three or four graphs
    at attention on torch 2.13 (the padding mask's batch an unrelated symbol), and two or three more at
    the first one-text batch; marked unbacked on torch 2.6 to 2.12, the same with transformers 4.47.
    Traced only (`aot_eager`): the graphs are dynamo's, the same under inductor."""
    import torch
    from torch._dynamo.utils import counters

    from encoder_gate.backends.torch_compat import compile_target, constant_floats

    model = _family_model(family)
    target, mark = compile_target(torch, model, dynamic=True)
    compiled = torch.compile(target, dynamic=True, backend="aot_eager")
    before = counters["stats"]["unique_graphs"]
    for texts in (2, 1, 3):
        ids = torch.arange(texts * 7).reshape(texts, 7) % 40 + 2
        inputs = {"input_ids": ids, "attention_mask": (ids > 4).long()}
        if mark:
            mark(inputs)
        with torch.inference_mode(), constant_floats():
            got = compiled(**inputs).logits
            torch.testing.assert_close(got, model(**inputs).logits, rtol=1e-5, atol=1e-6)
    assert counters["stats"]["unique_graphs"] - before == (1 if mark else 2)
