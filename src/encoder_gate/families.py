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

ALBERT shares one layer's weights across its layers (what `encoder_gate.dedupe` is for).
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

from encoder_gate.labels import GO_EMOTIONS_LABELS

Progress = Callable[[str], None]
FAMILY_RECIPE = 1  # bump when a builder below changes its output
FAMILY_EPOCHS = 1
VOCAB_SIZE = 2000
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 32, 2, 2, 64
FAMILIES = ("tiny-bert", "tiny-roberta", "tiny-albert", "tiny-distilbert")


def _corpus(train_texts: tuple[str, ...]) -> list[str]:
    text = resources.files("encoder_gate").joinpath("data_files/tiny_corpus.txt").read_text()
    return [*text.splitlines(), *train_texts]


def _wordpiece(corpus: list[str], out: Path) -> Path:
    from tokenizers import BertWordPieceTokenizer

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(corpus, vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    wp.save_model(str(out))
    return out / "vocab.txt"


def _bert_tokenizer(corpus: list[str], out: Path) -> Any:
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab_file=str(_wordpiece(corpus, out)), model_max_length=512)


def _distilbert_tokenizer(corpus: list[str], out: Path) -> Any:
    from transformers import DistilBertTokenizerFast

    return DistilBertTokenizerFast(vocab_file=str(_wordpiece(corpus, out)), model_max_length=512)


def _roberta_tokenizer(corpus: list[str], out: Path) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(out))
    return RobertaTokenizerFast(vocab_file=str(out / "vocab.json"), merges_file=str(out / "merges.txt"),
                                model_max_length=512)


def _albert_tokenizer(corpus: list[str], out: Path) -> Any:
    """A Unigram tokenizer with ALBERT's specials and `[CLS] A [SEP]` template, as a fast
    AlbertTokenizerFast (tokenizer.json only: no spiece.model, no sentencepiece package)."""
    from tokenizers import SentencePieceUnigramTokenizer, Tokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import AlbertTokenizerFast

    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(corpus, vocab_size=VOCAB_SIZE, show_progress=False, special_tokens=specials,
                           unk_token="<unk>")
    ids = {t: sp.token_to_id(t) for t in specials}
    sp.post_processor = TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    return AlbertTokenizerFast(tokenizer_object=Tokenizer.from_str(sp.to_str()), model_max_length=512,
                               do_lower_case=False)


def _config(family: str, tokenizer: Any) -> Any:
    from transformers import AlbertConfig, BertConfig, DistilBertConfig, RobertaConfig

    from encoder_gate.models import label_maps

    head = {"problem_type": "multi_label_classification", **label_maps(GO_EMOTIONS_LABELS),
            "pad_token_id": tokenizer.pad_token_id}
    size = {"vocab_size": len(tokenizer), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
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

    from encoder_gate.train import TINY_TRAINING, _batches, run_epochs

    recipe = replace(TINY_TRAINING, epochs=FAMILY_EPOCHS)
    torch.manual_seed(recipe.seed)
    batches = _batches(tokenizer, texts, labels, recipe)
    optim = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
    run_epochs(model, batches, lambda _i, feats: model(**feats).logits, torch.nn.BCEWithLogitsLoss(),
               optim, recipe, progress)


def build_family(family: str, out: Path, progress: Progress) -> None:
    """Build, train and save `family` (one of FAMILIES) as a Hugging Face model directory."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from encoder_gate.data import load_dataset

    train = load_dataset("bundled", split="train")
    tokenizer = TOKENIZERS[family](_corpus(train.texts), out)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(_config(family, tokenizer))
    progress(f"{family}: training a {LAYERS}-layer hidden-{HIDDEN} {model.config.model_type} "
             f"on {len(train)} bundled texts")
    train_all(model, tokenizer, train.texts, train.labels, progress)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _builder(family: str) -> Callable[[Path, Progress], None]:
    def build(out: Path, progress: Progress) -> None:
        build_family(family, out, progress)

    build.__doc__ = f"Build {family} (encoder_gate.families)."
    return build


# name -> (builder, recipe version, trains on the bundled train split): models.BUILDERS' shape
FAMILY_BUILDERS: dict[str, tuple[Callable[[Path, Progress], None], int, bool]] = {
    name: (_builder(name), FAMILY_RECIPE, True) for name in FAMILIES
}
