"""Tokenize texts and run a backend over many of them, with progress.

Batches are padded to their longest item (right padding, contiguous masks: what ONNX
Runtime's fused attention assumes). For evaluation, texts are sorted by token length
before batching so little compute goes to padding; results come back in input order. A batch
holds at most its batch size of texts and at most :data:`TOKENS_PER_BATCH` padded tokens (its
texts times its longest), so the long texts at the end of a sorted pass go in smaller batches:
an unfused graph's attention scores at 32 texts of 512 tokens are 400 MB a tensor at 125M
weights (12 heads), and ONNX Runtime's arena keeps what its largest batch needed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.backends.base import ADD_A_TOKEN, NO_TOKENS, Runner, runner_max_tokens
from encoder_gate.config import MAX_TOKENS
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError, NotFinite
from encoder_gate.models.spec import model_config_value
from encoder_gate.tasks import Task

#: Where a session's tokenizer carries its `max-tokens` (fed_tokenizer), read by max_length.
CAP_ATTRIBUTE = "encoder_gate_max_tokens"
#: The most padded tokens (texts x the longest one) a prediction batch holds: 32 texts of up to
#: 128 tokens, 8 of 512. Short texts fill the batch size; the per-token work of a batch of 8 long
#: texts is as large as a batch of 32, so the throughput stays.
TOKENS_PER_BATCH = 4096


def max_length(tokenizer: Any) -> int:
    """The truncation length: the tokenizer's own limit, capped at the session's `max-tokens` (512
    unless raised: fed_tokenizer)."""
    limit = int(getattr(tokenizer, "model_max_length", MAX_TOKENS) or MAX_TOKENS)
    return min(limit, int(getattr(tokenizer, CAP_ATTRIBUTE, MAX_TOKENS)))


def model_limit(tokenizer: Any) -> int | None:
    """The most tokens the model itself takes where that is above the most encoder-gate feeds it
    (`max-tokens`, 512 unless raised; a long-context encoder's 4096 or 8192): its tokenizer's limit,
    which the session caps at the model's position embeddings; None at or under it, and for
    transformers' no-limit (1e30)."""
    limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    return limit if max_length(tokenizer) < limit < 1_000_000 else None


def truncating(tokenizer: Any, limit: int) -> Any:
    """The tokenizer, truncating at `limit` tokens when that is below its own limit (a shallow
    copy: the original is left as it is)."""
    if limit >= max_length(tokenizer):
        return tokenizer
    cut = copy.copy(tokenizer)
    cut.model_max_length = limit
    return cut


def fed_tokenizer(tokenizer: Any, positions: int | None, most: int = MAX_TOKENS) -> Any:
    """The tokenizer as a session feeds the model (a shallow copy where it differs; the original is
    left as it is): truncating at the model's `positions`, at most `most` tokens (`max-tokens`), and
    padding on the right, as every batch the gate feeds is (its truncation side is the user's)."""
    own = int(getattr(tokenizer, "model_max_length", 0) or 0)
    # the model's positions bound its own limit whatever the cap (a tokenizer saved with no limit,
    # transformers' 1e30, under a raised max-tokens would feed a 1024-position model 2048 tokens)
    limit = positions if positions is not None and not 0 < own <= positions else own
    if limit == own and most == MAX_TOKENS and getattr(tokenizer, "padding_side", "right") == "right":
        return tokenizer
    fed = copy.copy(tokenizer)
    fed.model_max_length = limit
    setattr(fed, CAP_ATTRIBUTE, most)
    fed.padding_side = "right"
    return fed


def padding_side_note(tokenizer: Any) -> str | None:
    """A line for the verdict where the model's tokenizer pads on the left as saved (its
    tokenizer_config.json's padding_side, or its class's): the gate fed it right-padded batches."""
    saved = getattr(tokenizer, "init_kwargs", None) or {}
    side = saved.get("padding_side", getattr(type(tokenizer), "padding_side", None))
    if side != "left":
        return None
    return ("the model's tokenizer pads on the left (padding_side 'left' in its tokenizer_config.json); the "
            "gate fed every backend right-padded batches, as BERT-family encoders are trained and ONNX "
            "Runtime's fused attention assumes. A left-padded batch moves each text's absolute positions "
            "with its neighbours (torch's own output for a text then depends on its batch): pad on the "
            "right where the model is served too (tokenizer.padding_side = 'right', then save_pretrained), "
            "unless it was trained on left-padded batches")


def encodes_nothing(tokenizer: Any, text: Text = "") -> bool:
    """Whether `tokenizer` encodes `text` (the empty one by default) as no tokens at all: one that adds
    no special tokens (GPT-2's) does so for '', and no model runs on an input of no tokens."""
    return encode(tokenizer, [text])["input_ids"].shape[1] == 0


def empty_text_note(tokenizer: Any) -> str | None:
    """A line for the verdict where the model's tokenizer encodes an empty text as no tokens (a trial's
    GPT-2 classifier: the gate's own empty texts broke three padding properties of every backend, torch
    included, in a traceback from inside transformers)."""
    if not encodes_nothing(tokenizer):
        return None
    return (f"the model's tokenizer encodes an empty text as no tokens ({NO_TOKENS}): the padding properties "
            "draw no such text for it, and an evaluation text of no tokens is refused. Where the model is "
            f"served, refuse empty texts, or {ADD_A_TOKEN}")


def pad_id_note(tokenizer: Any, configured: int | None) -> str | None:
    """A line for the verdict where config.json's pad_token_id (`configured`) is not the tokenizer's pad
    token: a model that finds a text's end by it (GPT-2's classifier) or numbers positions past it
    (RoBERTa's) computes a padded text otherwise than alone (a trial's: torch's own padding properties
    failed, and nothing said why)."""
    padded = getattr(tokenizer, "pad_token_id", None)
    if configured is None or padded is None or configured == padded:
        return None
    return (f"config.json's pad_token_id is {configured}, the tokenizer pads with id {padded} "
            f"({getattr(tokenizer, 'pad_token', None)!r}): a model that finds a text's end by its pad id "
            "(GPT-2's classifier) or numbers positions past it (RoBERTa's) then computes a padded text "
            "otherwise than alone, in every backend and where it is served; set config.json's "
            f"pad_token_id to {padded}, or the tokenizer's pad token to the model's")


def tokenizer_note(tokenizer: Any, model_dir: Path | None = None) -> str | None:
    """The verdict's line on how the model's tokenizer is fed (accuracy.json's model `tokenizer_note`):
    a left padding side, an empty text of no tokens, a pad id other than config.json's (of `model_dir`);
    None where none of them."""
    configured = model_config_value(model_dir, "pad_token_id") if model_dir is not None else None
    notes = [n for n in (padding_side_note(tokenizer), empty_text_note(tokenizer),
                         pad_id_note(tokenizer, configured)) if n]
    return "; ".join(notes) or None


def tokenizer_for(tokenizer: Any, runner: object) -> Any:
    """The tokenizer as `runner` is fed: truncating at its `max_tokens` (a file with a static
    sequence length, run as its owner runs it) when it has one."""
    limit = runner_max_tokens(runner)
    return tokenizer if limit is None else truncating(tokenizer, limit)


def encode(tokenizer: Any, texts: Sequence[Text], *, padding: str | bool = "longest",
           length: int | None = None) -> dict[str, np.ndarray]:
    """Tokenize a batch to numpy, right-padded, truncated at the model's limit."""
    out = tokenizer(list(texts), padding=padding, truncation=True,
                    max_length=length or max_length(tokenizer), return_tensors="np")
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def token_lengths(tokenizer: Any, texts: Sequence[Text]) -> np.ndarray:
    """Token count of each text after truncation (special tokens included)."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length(tokenizer))["input_ids"]
    return np.array([len(i) for i in ids], dtype=np.int64)


def encoded_lengths(tokenizer: Any, texts: Sequence[Text]) -> np.ndarray:
    """:func:`token_lengths` of texts a model is to run on, refusing any the tokenizer encodes as no
    tokens: batched together by length, they fed the model a batch of no tokens. Every pass over
    the evaluation set calls it, the accuracy session's predictions and the benchmarks' batches."""
    lengths = token_lengths(tokenizer, texts)
    if not lengths.all():
        empty = np.flatnonzero(lengths == 0)
        which = f"number {int(empty[0])}, {texts[int(empty[0])]!r:.60}"
        raise GateError(f"{len(empty)} of the {len(texts)} texts (the first: {which}) are encoded as no "
                        f"tokens by the model's tokenizer ({NO_TOKENS}): drop them from the evaluation set, "
                        f"or {ADD_A_TOKEN}")
    return lengths


def longer_than(tokenizer: Any, texts: Sequence[Text], limit: int) -> int:
    """How many of `texts` are longer than `limit` tokens (special tokens included): cut there."""
    ids = tokenizer(list(texts), truncation=True, max_length=limit + 1)["input_ids"]
    return sum(len(i) > limit for i in ids)


def check_batch_size(batch_size: int) -> None:
    if batch_size <= 0:
        raise GateError(f"batch size must be a positive integer, got {batch_size}: "
                        "pass e.g. --gate-batch-sizes 1,8,32")


def token_batches(lengths: np.ndarray, order: np.ndarray, batch_size: int,
                  tokens: int = TOKENS_PER_BATCH) -> list[np.ndarray]:
    """`order` (indices into `lengths`) cut into consecutive batches of at most `batch_size` texts
    and at most `tokens` padded tokens (texts x the longest of them); a text longer than `tokens`
    goes alone."""
    out: list[np.ndarray] = []
    start, longest = 0, 0
    for i, index in enumerate(order):
        length = int(lengths[index])
        count = i - start
        if count and (count >= batch_size or (count + 1) * max(longest, length) > tokens):
            out.append(order[start:i])
            start, longest = i, 0
        longest = max(longest, length)
    if len(order) > start:
        out.append(order[start:])
    return out


def padded_tokens(lengths: np.ndarray, batches: Sequence[np.ndarray]) -> np.ndarray:
    """Each batch's padded tokens (its texts x the longest of them): what a pass computes on, as
    the text count does not tell it (a pass sorted by length leaves its longest texts, the most
    costly ones, to the end)."""
    return np.array([len(idx) * int(lengths[idx].max()) for idx in batches], dtype=np.int64)


def pass_progress(done: int, total: int, tokens_done: int, tokens: int, seconds: float,
                  pace: tuple[float, int]) -> str:
    """How far a pass is, for its progress line: the texts done, the share of its padded tokens
    done and, while some are left, the time the rest takes at `pace` (seconds, padded tokens) of the
    batches after the first: the first carries a runner's one-time costs (torch.compile compiles at
    its first call: a 12 s pass of 500 texts said "about 315 s left" after its first batch). An
    estimate, said once a batch after the first is done: the long texts at the end also spend more
    on attention a token."""
    share = tokens_done / max(tokens, 1)
    line = f"{done}/{total} texts, {share:.0%} of the padded tokens in {seconds:.0f} s"
    pace_seconds, pace_tokens = pace
    if tokens_done < tokens and pace_tokens > 0:
        line += f", about {pace_seconds * (tokens - tokens_done) / pace_tokens:.0f} s left"
    return line


def predict_texts(runner: Runner, tokenizer: Any, texts: Sequence[Text], batch_size: int = 32,
                  *, sort_by_length: bool = True,
                  progress: Callable[[str], None] | None = None) -> np.ndarray:
    """Probabilities for every text, in input order; each text truncated at the runner's limit
    (:func:`tokenizer_for`), in batches of at most `batch_size` texts and TOKENS_PER_BATCH tokens."""
    check_batch_size(batch_size)
    tokenizer = tokenizer_for(tokenizer, runner)
    if not texts:
        raise GateError("no texts to evaluate: the dataset is empty")
    lengths = encoded_lengths(tokenizer, texts)
    order = np.argsort(lengths, kind="stable") if sort_by_length else np.arange(len(texts))
    chunks: list[np.ndarray] = []
    batches = token_batches(lengths, order, batch_size)
    work = padded_tokens(lengths, batches)
    started = last = time.monotonic()
    done = tokens_done = 0
    first: tuple[float, int] | None = None  # when the first batch ended, and its padded tokens
    for idx, cost in zip(batches, work.tolist(), strict=True):
        chunks.append(runner.predict(encode(tokenizer, [texts[i] for i in idx])))
        done, tokens_done = done + len(idx), tokens_done + cost
        now = time.monotonic()
        first = first or (now, tokens_done)
        if progress and (now - last > 5 or done >= len(texts)) and now - started > 2:
            line = pass_progress(done, len(texts), tokens_done, int(work.sum()), now - started,
                                 (now - first[0], tokens_done - first[1]))
            progress(f"{runner.name}: {line}")
            last = now
    stacked = np.concatenate(chunks, axis=0)
    result = np.empty_like(stacked)
    result[order] = stacked
    return result


def not_finite(name: str, outputs: np.ndarray, texts: Sequence[Text]) -> str | None:
    """Why backend `name`'s `outputs` for `texts` (one row each) cannot be judged, where some rows hold
    NaN or infinite values; None where every value is finite. Compared with a reference, NaN is no
    number: every difference with it is NaN, and no bound rejects it (a silent pass)."""
    rows = ~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1)
    if not rows.any():
        return None
    first = int(np.flatnonzero(rows)[0])
    return (f"{name} returned NaN or infinite outputs for {int(rows.sum())} of {len(rows)} texts (the first: "
            f"#{first} {texts[first]!r:.80}), which no check can judge. In an FP16 file that is the classic "
            "overflow: half precision ends at 65504, so a large activation, or an attention mask's large "
            "negative fill, becomes infinite and then NaN (keep those operators in FP32); else the file "
            "or its conversion is broken")


def assert_well_formed(name: str, outputs: np.ndarray, texts: Sequence[Text], model: Any) -> None:
    """Backend `name`'s `outputs` hold one finite row per text (:func:`not_finite`), and for a
    classifier one probability in [0, 1] per label: the smoke test's and the padding properties'."""
    assert outputs.shape[0] == len(texts)
    if said := not_finite(name, outputs, texts):
        raise NotFinite(said)
    if Task.of(model.task).classifier:
        assert outputs.shape[1] == model.num_labels
        assert ((outputs >= 0) & (outputs <= 1)).all()
