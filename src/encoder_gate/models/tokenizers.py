"""Tokenizers: a model directory's, loaded as a session feeds it (:func:`load_tokenizer`), and the ones
trained here, byte-level BPE and transformers' fast classes around them, for the bundled tiny models
(:mod:`encoder_gate.models.bundled`, :mod:`encoder_gate.models.families`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.models.spec import no_tokenizer, saved_by_newer, sentencepiece_missing, vocabulary_file

#: Fewer tokens than a tokenizer of words has (a byte-level BPE has 256 bytes and its special tokens):
#: with no tokenizer file, an empty one, which transformers 5 builds there. (ESM's protein tokenizers
#: have 33 tokens, from their vocab.txt.)
MIN_VOCABULARY = 100


def load_tokenizer(path: Path) -> Any:
    """The tokenizer of the model directory `path`, with a pad token; a GateError, in one line, where the
    directory has none, transformers cannot build it, or it cannot pad (every batch the gate feeds is)."""
    from transformers import AutoTokenizer

    # a directory with no vocabulary file has no tokenizer
    files = any(vocabulary_file(p.name) for p in path.iterdir())
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as exc:
        # transformers 4 opens a vocabulary file it did not find (TypeError: None) or says it
        # "can't load tokenizer" (OSError, 4.47); 5 builds an empty one (below): each, one line
        if not files:
            raise GateError(no_tokenizer(path, "transformers could not build one")) from None
        said = (f": {str(exc).rstrip('.')}" if isinstance(exc, (OSError, ValueError))
                else f" ({type(exc).__name__}: {exc})")
        if (missing := sentencepiece_missing(path)) is not None:
            said = f": {missing} (transformers said{said})"
        raise GateError(f"could not load the tokenizer of {path}{said}" + saved_by_newer(path)) from None
    if len(tokenizer) < MIN_VOCABULARY and not files:  # transformers 5 builds an empty one there
        raise GateError(no_tokenizer(path,
            f"transformers built an empty one ({len(tokenizer)} tokens), which would encode every "
            "text alike and make every figure meaningless"))
    if tokenizer.pad_token is None:  # every batch is padded: each test's traceback, one by one, before
        raise GateError(f"the tokenizer in {path} has no pad token, and every batch the gate "
                        "feeds the model is padded: set one and save it beside the model "
                        "(tokenizer.pad_token = tokenizer.eos_token, or add a [PAD] token and resize the "
                        "model's embeddings; then tokenizer.save_pretrained(DIR))")
    return tokenizer


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
