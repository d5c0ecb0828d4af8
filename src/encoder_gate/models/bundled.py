"""The models this project builds itself, offline and seeded: tiny, minilm, minilm-embed, the families.

`default` and `sentiment` are trained by :mod:`encoder_gate.models.train`; every builder
writes a plain Hugging Face model directory into the artifact cache.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from encoder_gate.data.datasets import load_dataset
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.models.families import FAMILY_BUILDERS
from encoder_gate.models.loading import quiet_transformers
from encoder_gate.models.spec import Progress, label_maps, minilm_dir, model_files, quiet
from encoder_gate.models.tokenizers import byte_level_bpe, fast_class, wrap_tokenizer
from encoder_gate.models.train import TINY_TRAINING, fit

TINY_RECIPE = 3  # bump when build_tiny changes its output (3: tokenizer built from the object)


TINY_VOCAB = 2000


MINILM_RECIPE = 1


def build_tiny(out: Path, progress: Progress = quiet) -> None:
    """A tiny RoBERTa classifier shaped like roberta-base-go_emotions, from scratch.

    2 layers, hidden 32, 28 sigmoid labels in go_emotions order, a byte-level BPE
    tokenizer trained on the bundled corpus, and a few seconds of training on the
    bundled train split so its probabilities mean something. Seeded.
    """
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    train = load_dataset("bundled", split="train")
    corpus = resources.files("encoder_gate").joinpath("data_files/tiny_corpus.txt").read_text()
    bpe = byte_level_bpe([*corpus.splitlines(), *train.single_texts], TINY_VOCAB, out)
    tokenizer = wrap_tokenizer(fast_class("Roberta"), bpe, out)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=514,
        type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        problem_type="multi_label_classification", **label_maps(GO_EMOTIONS_LABELS),
    )
    torch.manual_seed(0)
    model = RobertaForSequenceClassification(config)
    fit(model, tokenizer, train.single_texts, train.labels, TINY_TRAINING, progress)
    with quiet_transformers():  # transformers 5's "Writing model shards" bar
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def build_minilm(out: Path, progress: Progress = quiet) -> None:
    """all-MiniLM-L6-v2 with a fresh 28-label multi-label head (seeded, untrained)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    src = minilm_dir()
    torch.manual_seed(0)
    with quiet_transformers():  # its report of the fresh head it lacks
        model = BertForSequenceClassification.from_pretrained(
            src, num_labels=len(GO_EMOTIONS_LABELS), problem_type="multi_label_classification",
            **label_maps(GO_EMOTIONS_LABELS),
        ).eval()
        model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)


def build_minilm_embed(out: Path, progress: Progress = quiet) -> None:
    """all-MiniLM-L6-v2 as shipped, no head: a feature-extraction encoder (BertModel).

    The model files are copied unchanged; the backends mean-pool its last hidden state over
    the attention mask, as the package's sentence-transformers Pooling module does (its
    final Normalize step is left out, so norms stay visible to the checks).
    """
    import shutil

    src = minilm_dir()
    for path in model_files(src):
        shutil.copy2(path, out / path.name)


# name -> (builder, recipe version, whether it trains on the bundled train split)
BUILDERS: dict[str, tuple[Callable[[Path, Progress], None], int, bool]] = {
    "tiny": (build_tiny, TINY_RECIPE, True),
    "minilm": (build_minilm, MINILM_RECIPE, False),
    **FAMILY_BUILDERS,  # tiny-bert, tiny-roberta, tiny-albert, tiny-distilbert
    "minilm-embed": (build_minilm_embed, 1, False),
}
