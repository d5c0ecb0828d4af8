"""Every common encoder family end to end: build, export (fp32 + int8), then the accuracy gate.

tiny-bert, tiny-roberta, tiny-albert and tiny-distilbert are built once into the suite's
cache (a few seconds of training each), exported with `encoder-gate export`, and gated by
the repo's own accuracy/test_accuracy.py in a pytester subprocess (in-process runs that
build torch and ONNX Runtime crash at teardown).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoder_gate.models.resolve import resolve_model
from encoder_gate.models.spec import BUILTIN_MODELS, FAMILIES

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
# what each family's tokenizer gives and its ONNX export reads
INPUTS = {
    "tiny-bert": {"input_ids", "attention_mask", "token_type_ids"},
    "tiny-roberta": {"input_ids", "attention_mask"},
    "tiny-albert": {"input_ids", "attention_mask", "token_type_ids"},
    "tiny-distilbert": {"input_ids", "attention_mask"},
}


CLASSES = {"tiny-bert": "BertTokenizer", "tiny-roberta": "RobertaTokenizer", "tiny-albert": "AlbertTokenizer",
           "tiny-distilbert": "DistilBertTokenizer"}
TELL_APART = ["I love this movie", "I hate this movie", "what a great day", "so annoying honestly"]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    from encoder_gate.data.datasets import load_dataset
    from encoder_gate.models.families import _corpus

    return _corpus(load_dataset("bundled", split="train").texts)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_tokenizer_keeps_its_vocabulary_and_inputs(family, corpus, tmp_path: Path):
    """The saved tokenizer, loaded back as the gate loads it, has the vocabulary it was trained
    with (2000 at most; transformers 5 made 5 of it from vocab files), its family's inputs
    (transformers 5's ALBERT tokenizer gives no token_type_ids unless told) and tells texts of
    the same word count apart."""
    from transformers import AutoTokenizer

    from encoder_gate.models.families import TOKENIZERS, VOCAB_SIZE

    built = TOKENIZERS[family](corpus, tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert 1500 <= len(loaded) <= VOCAB_SIZE and len(loaded) == len(built)
    assert type(loaded).__name__.removesuffix("Fast") == CLASSES[family]  # Fast on 4, plain (fast) on 5
    enc = loaded(TELL_APART)
    assert set(enc) == INPUTS[family]
    assert len({tuple(i) for i in enc["input_ids"]}) == len(TELL_APART)
    assert enc["input_ids"] == built(TELL_APART)["input_ids"]


def test_a_tokenizer_that_comes_back_without_its_vocabulary_is_refused(corpus, tmp_path: Path):
    """What transformers 5 did with RobertaTokenizerFast(vocab_file=..., merges_file=...): the
    tokenizer the gate would load has 5 tokens. The build stops instead of training on that."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import BPE

    from encoder_gate.errors import GateError
    from encoder_gate.models.tokenizers import byte_level_bpe, fast_class, wrap_tokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    five = Tokenizer(BPE(vocab={t: i for i, t in enumerate(specials)}, merges=[], unk_token="<unk>"))
    # RoBERTa's pre-tokenizer: transformers 4's RobertaTokenizerFast reads its state when it is built
    five.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)

    class Forgetful:
        """Keeps the special tokens, drops the trained vocabulary."""

        def __init__(self, tokenizer_object, **kwargs) -> None:
            self.inner = fast_class("Roberta")(tokenizer_object=five, **kwargs)

        def save_pretrained(self, out) -> None:
            self.inner.save_pretrained(out)

    trained = byte_level_bpe(corpus, 500, tmp_path)
    with pytest.raises(GateError, match=r"rebuilt the Forgetful saved in .* with 5 tokens, not the 500"):
        wrap_tokenizer(Forgetful, trained, tmp_path)


def test_families_are_builtin_models(tmp_path: Path):
    """`--gate-model tiny-<family>` is known, and listed in the error for a missing directory."""
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.errors import GateError

    assert set(FAMILIES) <= set(BUILTIN_MODELS)
    with pytest.raises(GateError, match="tiny-albert, tiny-distilbert"):
        resolve_model("./no-such-model", ArtifactCache(tmp_path))


@pytest.fixture(scope="module", params=FAMILIES)
def family_export(request: pytest.FixtureRequest, cache_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, object]]:
    """Build the family into the suite's cache and `encoder-gate export` fp32 + int8 of it.

    Module-scoped, so torch and ONNX Runtime are imported before any pytester test snapshots
    sys.modules (pytester drops modules a test imported; torch cannot be imported twice)."""
    import onnxruntime as ort
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from encoder_gate.cache import ArtifactCache
    from encoder_gate.commands.cli import main

    family = request.param
    spec = resolve_model(family, ArtifactCache(cache_dir))
    out = tmp_path_factory.mktemp(family) / "onnx"
    assert main(["export", family, "--out", str(out), "--variants", "fp32,int8",
                 "--cache-dir", str(cache_dir), "--threads", "1"]) == 0
    tokenizer = AutoTokenizer.from_pretrained(spec.path)
    model = AutoModelForSequenceClassification.from_pretrained(spec.path).eval()
    with torch.no_grad():
        logits = model(**tokenizer(TELL_APART, padding=True, return_tensors="pt")).logits
    info: dict[str, object] = {
        "vocab": len(tokenizer),
        "distinct_outputs": all((logits[i] - logits[j]).abs().max() > 0
                                for i in range(len(TELL_APART)) for j in range(i)),
        "task": spec.task, "num_labels": spec.num_labels,
        "model_type": AutoConfig.from_pretrained(spec.path).model_type,
        "tokenizer_inputs": set(AutoTokenizer.from_pretrained(spec.path)(["a text"])),
        "onnx_inputs": {f: {i.name for i in ort.InferenceSession(
            str(out / f), providers=["CPUExecutionProvider"]).get_inputs()}
            for f in ("model.onnx", "model_quantized.onnx")},
    }
    return family, out, info


@pytest.mark.slow
def test_family_builds_and_exports(family_export):
    """Each family: its own config and tokenizer inputs; fp32 + int8 exported (and loaded by
    optimum where its ONNX support is installed); distinct texts get distinct outputs."""
    from encoder_gate.backends.optimum_compat import optimum_missing

    family, out, info = family_export
    assert info["task"] == "multi_label" and info["num_labels"] == 28
    assert 1500 <= info["vocab"] <= 2000 and info["distinct_outputs"]
    assert info["model_type"] == family.removeprefix("tiny-")
    assert info["tokenizer_inputs"] == INPUTS[family]
    assert info["onnx_inputs"] == {"model.onnx": INPUTS[family], "model_quantized.onnx": INPUTS[family]}
    data = json.loads((out / "export.json").read_text())
    checked = optimum_missing() is None
    assert data["optimum_check"] == {"ran": checked, "skipped_because": optimum_missing()}
    assert all(row["optimum_loads"] is (True if checked else None) for row in data["variants"].values())
    assert data["variants"]["fp32"]["drift_max"] < 1e-4


@pytest.mark.slow
def test_family_passes_the_accuracy_gate(family_export, cache_dir: Path, tmp_path: Path,
                                         pytester: pytest.Pytester):
    """The shipped accuracy checks pass for torch, onnx-fp32 and onnx-int8 (built by the export)."""
    family, _, _ = family_export
    pytester.makepyfile(test_accuracy="from encoder_gate.suite.checks import *  # noqa: F403\n")
    result = pytester.runpytest(
        "--gate-model", family, "--gate-cache-dir", str(cache_dir), "--gate-threads", "1",
        "--gate-backends", "torch,onnx-fp32,onnx-int8", "--rootdir", str(pytester.path),
        "--gate-report-dir", str(tmp_path / "report"), "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.str()
    assert outcomes["passed"] >= 3 * 5  # drift mean/p99/max, flip rate and F1 keep per backend
    assert json.loads((tmp_path / "report" / "accuracy.json").read_text())["model"]["name"] == family
    result.stdout.fnmatch_lines(["*encoder-gate backends*", "onnx-fp32*from cache*", "onnx-int8*from cache*"])
