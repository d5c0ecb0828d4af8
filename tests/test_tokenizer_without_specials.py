"""A tokenizer that adds no special tokens (GPT-2's), and a config.json whose pad_token_id is not the
tokenizer's (the forty-eighth session's tokenizer trial).

Such a tokenizer encodes the empty text as no tokens, and no model runs on no tokens, torch neither: the
gate's own empty texts broke three padding properties of every backend in a traceback from inside
transformers, and ONNX Runtime's failure on one of them then failed every later test of its backend
(`broken`), said as "exported from another model". And with config.json's pad_token_id other than the
tokenizer's, torch's own padding properties failed, unexplained. Built here: a 1-layer GPT-2
classifier with a byte-level BPE tokenizer of its own, random weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.errors import GateError

CORPUS = ["the invoice was wrong again", "great support, thank you", "the app crashes on start",
          "how do I change my plan", "refund please", "love the new design", "it is slow today"] * 5


def gpt2_classifier(root: Path, pad_token_id: int | None = None) -> Path:
    """A GPT-2 sequence classifier (1 layer, 32 wide) and its byte-level BPE tokenizer, saved in `root`:
    the tokenizer pads with its end-of-text token, config.json says `pad_token_id` (the tokenizer's
    where None)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                  model_max_length=64)
    tok.save_pretrained(root)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=64, vocab_size=len(tok),
                        pad_token_id=tok.pad_token_id if pad_token_id is None else pad_token_id,
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                        id2label={0: "billing", 1: "praise"}, label2id={"billing": 0, "praise": 1},
                        problem_type="single_label_classification")
    import torch

    torch.manual_seed(0)
    GPT2ForSequenceClassification(config).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gpt2_classifier(tmp_path_factory.mktemp("gpt2"))


def test_the_empty_text_of_no_tokens_is_said_and_refused_in_an_evaluation_set(gpt2_dir: Path) -> None:
    from transformers import AutoTokenizer

    from encoder_gate.runtime.inference import encodes_nothing, predict_texts, tokenizer_note

    tok = AutoTokenizer.from_pretrained(gpt2_dir)
    assert encodes_nothing(tok) and not encodes_nothing(tok, " ")  # (byte-level BPE keeps a space)
    note = tokenizer_note(tok, gpt2_dir)
    assert note is not None and note.startswith("the model's tokenizer encodes an empty text as no tokens")
    assert "config.json's pad_token_id" not in note  # they agree here

    class Unused:  # never reached: refused before any batch runs
        name = "torch"

        def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
            raise AssertionError("a batch ran")

    with pytest.raises(GateError, match=r"^1 of the 3 texts \(the first: number 1, ''\) are encoded "
                                        r"as no tokens by the model's tokenizer .* drop them from the"):
        predict_texts(Unused(), tok, ["refund please", "", "slow"])  # type: ignore[arg-type]


def test_the_benchmarks_refuse_a_text_of_no_tokens_as_the_evaluation_does(gpt2_dir: Path) -> None:
    """`pytest benchmarks` draws its texts from the same evaluation set: its pool and its batches refuse
    a text of no tokens in the same line (they had met the model on a batch of no tokens)."""
    from transformers import AutoTokenizer

    from encoder_gate.speed.batches import make_batches
    from encoder_gate.speed.sizing import TextPool

    tok = AutoTokenizer.from_pretrained(gpt2_dir)
    texts = ["refund please", "slow", "", "great support"]
    assert make_batches(tok, [t for t in texts if t], 2, "bucketed").n_messages == 3
    for build in (lambda: make_batches(tok, texts, 2, "bucketed"), lambda: TextPool.of(tok, texts)):
        with pytest.raises(GateError, match=r"^1 of the 4 texts \(the first: number 2, ''\) are encoded "
                                            r"as no tokens by the model's tokenizer .* drop them from the"):
            build()


def test_a_pad_id_other_than_config_jsons_is_said(tmp_path: Path, gpt2_dir: Path) -> None:
    from transformers import AutoTokenizer

    from encoder_gate.runtime.inference import pad_id_note, tokenizer_note

    tok = AutoTokenizer.from_pretrained(gpt2_dir)
    assert pad_id_note(tok, tok.pad_token_id) is None and pad_id_note(tok, None) is None
    config = json.loads((gpt2_dir / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "pad_token_id": 7}))
    note = tokenizer_note(tok, tmp_path)
    said = f"config.json's pad_token_id is 7, the tokenizer pads with id {tok.pad_token_id} ('<|endoftext|>')"
    assert note is not None and said in note, note


def test_onnx_runtime_failing_on_one_input_fails_that_call_alone_and_says_why() -> None:
    """A runner that computed a batch before fails only the call whose input broke it; one that never
    did says its failure at once on every later call. A batch of no tokens is said as such, not as a
    file exported from another model."""
    from encoder_gate.backends.onnx_runner import run_error

    said = str(run_error(Path("/nowhere/model.onnx"), RuntimeError("Reshape node"), (1, 0), Path("/nowhere")))
    assert "on 1 text(s) of 0 tokens" in said and "encoded the texts, empty, as no tokens" in said
    assert "exported" not in said


@pytest.mark.slow
def test_the_padding_properties_of_a_gpt2_classifier_pass_and_the_empty_kind_is_skipped_saying_why(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cache_dir: Path, gpt2_dir: Path) -> None:
    """Each backend's padding properties draw no text of no tokens (they had failed on torch itself, and
    ORT's one failure had failed every later test of its backend); `awkward[empty]` is skipped, saying
    why. Then the same model whose config.json's pad_token_id is not its tokenizer's: torch's own padding
    property fails, saying the model depends on its padding, and the verdict's note says where."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makepyfile(test_acc="from encoder_gate.suite.accuracy import *  # noqa: F403\n")
    rows = [{"text": t, "label": "praise" if ("love" in t or "great" in t) else "billing"} for t in CORPUS]
    data = pytester.path / "eval.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = pytester.path / "report"
    common = [f"--gate-dataset={data}", "--gate-label-column=label", f"--gate-cache-dir={cache_dir}",
              f"--gate-report-dir={report}",
              "--gate-backends=torch,onnx-fp32", "-p", "no:cacheprovider", "-p", "no:randomly", "-rs"]
    result = pytester.runpytest("-k", "padding or drift", f"--gate-model={gpt2_dir}", *common)
    out = result.stdout.str()
    assert result.ret == 0, out[-4000:]
    assert "the model's tokenizer encodes an empty text as no tokens (it adds no special tokens" in out
    result.assert_outcomes(passed=36, skipped=2)  # awkward[empty] of each backend skipped
    note = json.loads((report / "accuracy.json").read_text())["model"]["tokenizer_note"]
    assert note.startswith("the model's tokenizer encodes an empty text as no tokens"), note

    mismatched = gpt2_classifier(pytester.path / "mismatched", pad_token_id=7)
    result = pytester.runpytest("-k", "(padding and alone and torch) or drift", f"--gate-model={mismatched}",
                                *common)
    out = result.stdout.str()
    assert result.ret == 1, out[-4000:]
    said = "this is the torch reference itself: the model's own output depends on its padding"
    assert said in out, out[-4000:]
    note = json.loads((report / "accuracy.json").read_text())["model"]["tokenizer_note"]
    assert "config.json's pad_token_id is 7, the tokenizer pads with id" in note, note
