"""Tiny classifiers of every common encoder family: BERT, RoBERTa, ALBERT and DistilBERT.

`--gate-model tiny-bert | tiny-roberta | tiny-albert | tiny-distilbert`. Each is built from
a config (2 layers, hidden 32, seeded) with go_emotions' 28 labels as a multi-label head
and the tokenizer its family ships with, trained with `tokenizers` on the bundled corpus
(ALBERT's needs no sentencepiece package: it is saved as tokenizer.json only):

| model | tokenizer | inputs |
|---|---|---|
| tiny-bert | WordPiece (BertTokenizerFast) | input_ids, attention_mask, token_type_ids |
| tiny-roberta | byte-level BPE (RobertaTokenizerFast) | input_ids, attention_mask |
| tiny-albert | Unigram (AlbertTokenizerFast) | input_ids, attention_mask, token_type_ids |
| tiny-distilbert | WordPiece (DistilBertTokenizerFast) | input_ids, attention_mask |

ALBERT shares one layer's weights across its layers (what `encoder_gate.backends.dedupe` is for).
Every model trains for a few seconds on the bundled train split (all weights, one epoch of
the `tiny` recipe) so its probabilities move away from 0.5 and the gate has something to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.data.datasets import load_dataset
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.models.loading import quiet_transformers
from encoder_gate.models.spec import FAMILIES, Progress, label_maps
from encoder_gate.models.tokenizers import byte_level_bpe, fast_class, special_token, wrap_tokenizer
from encoder_gate.models.train import TINY_TRAINING, run_epochs, training_batches

FAMILY_RECIPE = 2  # bump when a builder below changes its output (2: tokenizers built from objects)
FAMILY_EPOCHS = 1
VOCAB_SIZE = 2000
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 32, 2, 2, 64


def _corpus(train_texts: tuple[str, ...]) -> list[str]:
    text = resources.files("encoder_gate").joinpath("data_files/tiny_corpus.txt").read_text()
    return [*text.splitlines(), *train_texts]


def _wordpiece(corpus: list[str]) -> Any:
    """A lowercasing WordPiece `tokenizers.Tokenizer` with BERT's specials and `[CLS] A [SEP]`."""
    from tokenizers import BertWordPieceTokenizer, Tokenizer
    from tokenizers.processors import BertProcessing

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(corpus, vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok = Tokenizer.from_str(wp.to_str())
    # BertWordPieceTokenizer sets its post-processor only when its vocabulary already has
    # [CLS] and [SEP], so an untrained one has none: add the template explicitly
    tok.post_processor = BertProcessing(special_token(tok, "[SEP]"), special_token(tok, "[CLS]"))
    return tok


def _bert_tokenizer(corpus: list[str], out: Path) -> Any:
    return wrap_tokenizer(fast_class("Bert"), _wordpiece(corpus), out)


def _distilbert_tokenizer(corpus: list[str], out: Path) -> Any:
    return wrap_tokenizer(fast_class("DistilBert"), _wordpiece(corpus), out)


def _roberta_tokenizer(corpus: list[str], out: Path) -> Any:
    return wrap_tokenizer(fast_class("Roberta"), byte_level_bpe(corpus, VOCAB_SIZE, out), out)


def _albert_tokenizer(corpus: list[str], out: Path) -> Any:
    """A Unigram tokenizer with ALBERT's specials and `[CLS] A [SEP]` template, as a fast
    AlbertTokenizerFast (tokenizer.json only: no spiece.model, no sentencepiece package).

    Its inputs are named explicitly: transformers 5's AlbertTokenizer no longer gives
    token_type_ids by default, and ALBERT has two token types."""
    from tokenizers import SentencePieceUnigramTokenizer, Tokenizer
    from tokenizers.processors import TemplateProcessing

    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(corpus, vocab_size=VOCAB_SIZE, show_progress=False, special_tokens=specials,
                           unk_token="<unk>")
    tok = Tokenizer.from_str(sp.to_str())
    tok.post_processor = TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[special_token(tok, "[CLS]"), special_token(tok, "[SEP]")])
    return wrap_tokenizer(fast_class("Albert"), tok, out, do_lower_case=False,
                          model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def _config(family: str, tokenizer: Any) -> Any:
    from transformers import AlbertConfig, BertConfig, DistilBertConfig, RobertaConfig


    head: dict[str, Any] = {"problem_type": "multi_label_classification", **label_maps(GO_EMOTIONS_LABELS),
            "pad_token_id": tokenizer.pad_token_id}
    size: dict[str, Any] = {"vocab_size": len(tokenizer), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE}
    if family == "tiny-bert":
        return BertConfig(**size, max_position_embeddings=512, **head)
    if family == "tiny-roberta":
        return RobertaConfig(**size, max_position_embeddings=514, type_vocab_size=1,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **head)
    if family == "tiny-albert":
        return AlbertConfig(**size, embedding_size=16, max_position_embeddings=512,
                            classifier_dropout_prob=0.1, **head)
    return DistilBertConfig(vocab_size=len(tokenizer), dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS,
                            hidden_dim=INTERMEDIATE, max_position_embeddings=512, **head)


TOKENIZERS: dict[str, Callable[[list[str], Path], Any]] = {
    "tiny-bert": _bert_tokenizer, "tiny-roberta": _roberta_tokenizer,
    "tiny-albert": _albert_tokenizer, "tiny-distilbert": _distilbert_tokenizer,
}


def train_all(model: Any, tokenizer: Any, texts: tuple[str, ...], labels: np.ndarray,
              progress: Progress) -> None:
    """All weights, BCE loss, the `tiny` recipe (TINY_TRAINING) for one epoch, length-bucketed batches.

    One epoch already takes the loss to the label priors (about 0.18), where three epochs of
    `tiny` end too: these models are for plumbing, not accuracy."""
    import torch


    recipe = replace(TINY_TRAINING, epochs=FAMILY_EPOCHS)
    torch.manual_seed(recipe.seed)
    batches = training_batches(tokenizer, texts, labels, recipe)
    optim = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
    run_epochs(model, batches, lambda _i, feats: model(**feats).logits, torch.nn.BCEWithLogitsLoss(),
               optim, recipe, progress)


def build_family(family: str, out: Path, progress: Progress) -> None:
    """Build, train and save `family` (one of FAMILIES) as a Hugging Face model directory."""
    import torch
    from transformers import AutoModelForSequenceClassification


    train = load_dataset("bundled", split="train")
    tokenizer = TOKENIZERS[family](_corpus(train.single_texts), out)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(_config(family, tokenizer))
    progress(f"{family}: training a {LAYERS}-layer hidden-{HIDDEN} {model.config.model_type} "
             f"on {len(train)} bundled texts")
    train_all(model, tokenizer, train.single_texts, train.labels, progress)
    with quiet_transformers():  # transformers 5's "Writing model shards" bar
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _builder(family: str) -> Callable[[Path, Progress], None]:
    def build(out: Path, progress: Progress) -> None:
        build_family(family, out, progress)

    build.__doc__ = f"Build {family} (encoder_gate.models.families)."
    return build


# name -> (builder, recipe version, trains on the bundled train split): models.BUILDERS' shape
FAMILY_BUILDERS: dict[str, tuple[Callable[[Path, Progress], None], int, bool]] = {
    name: (_builder(name), FAMILY_RECIPE, True) for name in FAMILIES
}
