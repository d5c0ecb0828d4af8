"""optimum is optional: what counts as "installed", and what runs without it.

optimum alone (without optimum-onnx) imports but has no ONNX exporter or ORTModel, and some
releases import `requests` without declaring it. These fake `optimum` packages put each case
first on sys.path; the real environment is restored afterwards.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from encoder_gate.backends.optimum_compat import optimum_missing

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack


@pytest.fixture
def fake_optimum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a fake optimum package (path -> source) and make it the one imported."""
    saved = {k: v for k, v in sys.modules.items() if k == "optimum" or k.startswith("optimum.")}

    def install(files: dict[str, str]) -> None:
        for rel, source in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        for name in saved:
            sys.modules.pop(name, None)
        monkeypatch.syspath_prepend(str(tmp_path))
        optimum_missing.cache_clear()

    yield install
    for name in [k for k in sys.modules if k == "optimum" or k.startswith("optimum.")]:
        del sys.modules[name]
    sys.modules.update(saved)
    optimum_missing.cache_clear()


def exporters() -> tuple[str, str]:
    from encoder_gate.backends.onnx_build import fp32_exporter
    from encoder_gate.commands.export import fp32_optimizer

    return fp32_exporter()["name"], fp32_optimizer()


def test_optimum_without_optimum_onnx_counts_as_absent(fake_optimum):
    fake_optimum({"optimum/__init__.py": "", "optimum/exporters/__init__.py": ""})
    reason = optimum_missing()
    assert reason is not None and "ModuleNotFoundError" in reason and "optimum.exporters.onnx" in reason
    from encoder_gate.backends.onnx_build import ORT_OPTIMIZER, TORCH_EXPORTER

    assert exporters() == (TORCH_EXPORTER, ORT_OPTIMIZER)


def test_optimum_that_imports_an_undeclared_package_counts_as_absent(fake_optimum):
    fake_optimum({"optimum/__init__.py": "", "optimum/exporters/__init__.py": "",
                  "optimum/exporters/onnx/__init__.py": "def main_export(*args, **kwargs): ...\n",
                  "optimum/onnxruntime/__init__.py": "import encoder_gate_no_such_requests  # noqa\n"})
    reason = optimum_missing()
    assert reason is not None and "encoder_gate_no_such_requests" in reason


def test_optimum_that_breaks_at_import_counts_as_absent(fake_optimum):
    """An optimum release built for another transformers fails with whatever its import hits."""
    fake_optimum({"optimum/__init__.py": "raise AttributeError(\"module 'transformers' has no attribute "
                                         "'GenerationMixin'\")\n"})
    assert optimum_missing() == ("optimum's ONNX Runtime support is not importable (AttributeError: module "
                                 "'transformers' has no attribute 'GenerationMixin')")


def test_a_complete_optimum_is_used(fake_optimum):
    fake_optimum({"optimum/__init__.py": "", "optimum/exporters/__init__.py": "",
                  "optimum/exporters/onnx/__init__.py": "def main_export(*args, **kwargs): ...\n",
                  "optimum/onnxruntime/__init__.py": "".join(
                      f"class {n}: ...\n" for n in ("AutoOptimizationConfig", "ORTModelForFeatureExtraction",
                                                    "ORTModelForSequenceClassification", "ORTOptimizer"))})
    assert optimum_missing() is None
    from encoder_gate.backends.onnx_build import OPTIMUM_EXPORTER, OPTIMUM_OPTIMIZER

    assert exporters() == (OPTIMUM_EXPORTER, OPTIMUM_OPTIMIZER)


def test_this_environment_is_judged_by_optimum_onnx():
    """The installed stack: optimum's ONNX support is usable exactly when optimum-onnx is installed
    (the `optimum` extra); the default stack (transformers 5) has neither."""
    try:
        importlib.metadata.version("optimum-onnx")
    except importlib.metadata.PackageNotFoundError:
        assert optimum_missing() is not None
    else:
        assert optimum_missing() is None


def test_optimum_exports_a_sentence_transformers_directory_as_the_encoder_the_gate_pools(
        tiny_ctx, tmp_path: Path) -> None:
    """An embedding model's directory with sentence-transformers' modules.json (the embedded MiniLM
    as shipped, or a user's) is exported through transformers: its last hidden state, which the
    gate pools, as the torch reference runs it. Through sentence-transformers (optimum's choice for
    such a directory) it failed on the missing Pooling module (sentence-transformers 5.7: "missing 1
    required positional argument: 'embedding_dimension'"), and every ONNX backend of minilm-embed was
    lost on the optimum stack."""
    reason = optimum_missing()
    if reason is not None:
        pytest.skip(reason)
    import json
    import shutil
    from dataclasses import replace

    import onnxruntime as ort
    from transformers import AutoConfig, AutoModel

    from encoder_gate.backends.onnx_build import export_fp32_optimum
    from encoder_gate.tasks import Task

    model_dir = tmp_path / "st-encoder"
    AutoModel.from_config(AutoConfig.from_pretrained(tiny_ctx.model.path)).save_pretrained(model_dir)
    for path in tiny_ctx.model.path.iterdir():
        if path.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
            shutil.copy(path, model_dir / path.name)
    (model_dir / "modules.json").write_text(json.dumps([  # as the embedded MiniLM's, its Pooling not shipped
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    # the file optimum tells a sentence-transformers directory by
    (model_dir / "config_sentence_transformers.json").write_text(json.dumps(
        {"__version__": {"sentence_transformers": "2.0.0", "transformers": "4.6.1", "pytorch": "1.8.1"}}))
    (model_dir / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    ctx = replace(tiny_ctx, model=replace(tiny_ctx.model, path=model_dir, task=Task.FEATURE_EXTRACTION,
                                          label_names=()))
    out = tmp_path / "onnx"
    out.mkdir()
    export_fp32_optimum(ctx, out)
    outputs = [o.name for o in ort.InferenceSession(str(out / "model.onnx")).get_outputs()]
    assert outputs[0] == "last_hidden_state", outputs
