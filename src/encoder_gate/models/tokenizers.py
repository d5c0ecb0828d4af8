"""Tokenizers trained here: byte-level BPE, and transformers' fast classes around them.

Used by the bundled tiny models (:mod:`encoder_gate.models.bundled`, :mod:`encoder_gate.models.families`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError


def special_token(tok: Any, token: str) -> tuple[str, int]:
    """(token, id) of a special token the trained vocabulary must hold."""
    index = tok.token_to_id(token)
    if index is None:
        raise GateError(f"the trained tokenizer has no {token} token; please report this")
    return token, int(index)


def fast_class(family: str) -> Any:
    """transformers' fast tokenizer class of a family ("Bert", "Roberta", ...): `BertTokenizerFast`
    is its own class on transformers 4 and an alias of `BertTokenizer` (fast) on 5."""
    import transformers

    return getattr(transformers, f"{family}TokenizerFast")


def byte_level_bpe(corpus: list[str], vocab_size: int, out: Path) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer` with RoBERTa's specials and `<s> A </s>`; its
    vocab.json and merges.txt are written to `out` too (RoBERTa's file layout)."""
    from tokenizers import ByteLevelBPETokenizer, Tokenizer
    from tokenizers.processors import RobertaProcessing

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=2, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(out))
    tok = Tokenizer.from_str(bpe.to_str())
    tok.post_processor = RobertaProcessing(special_token(tok, "</s>"), special_token(tok, "<s>"))
    return tok


def wrap_tokenizer(cls: Any, tok: Any, out: Path, **kwargs: Any) -> Any:
    """`cls` (a transformers tokenizer class) around the trained `tokenizers.Tokenizer` `tok`,
    saved to `out` and loaded back from there with AutoTokenizer: the tokenizer the gate will
    load is the one the model trains with.

    Built from the object (`tokenizer_object=`), not from vocab/merges files: transformers 5
    ignores `vocab_file=`/`merges_file=` and silently builds a 5-token vocabulary. A tokenizer
    that comes back with another vocabulary, or that tells distinct texts apart no longer, is a
    GateError rather than a model trained on garbage."""
    from transformers import AutoTokenizer

    cls(tokenizer_object=tok, model_max_length=512, **kwargs).save_pretrained(out)
    loaded = AutoTokenizer.from_pretrained(out)
    probe = ["I love this so much!", "what a terrible day", "thanks, that helped"]
    ids = [tuple(i) for i in loaded(probe)["input_ids"]]
    if len(loaded) != tok.get_vocab_size() or len(set(ids)) != len(probe):
        raise GateError(
            f"transformers {_version('transformers')} rebuilt the {cls.__name__} saved in {out} with "
            f"{len(loaded)} tokens, not the {tok.get_vocab_size()} it was trained with (probe texts encode "
            f"to {len(set(ids))} distinct id sequences of {len(probe)}); please report this."
        )
    return loaded


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)
