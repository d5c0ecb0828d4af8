"""Batches and padding: index groups in dataset or length order, their padding, tokenized plans."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError
from encoder_gate.runtime.inference import encode, encoded_lengths

Dispatch = Literal["ordered", "bucketed"]
DISPATCHES: tuple[Dispatch, ...] = ("ordered", "bucketed")


def batch_indices(lengths: Sequence[int] | np.ndarray, batch_size: int,
                  dispatch: Dispatch | str) -> list[np.ndarray]:
    """Index groups of at most ``batch_size`` items: dataset order, or sorted by length first.

    ``bucketed`` sorts stably by token length, ascending, then cuts batches (exactly what
    ``predict_texts`` does, so the end-to-end benchmark warms the shapes it will run);
    equal lengths keep dataset order. Every index appears exactly once. When the batch
    size divides the count, no grouping into equal batches pads less; with a partial last
    batch, that batch holds the longest texts, so in rare cases it can pad more than
    dataset order.
    """
    if batch_size <= 0:
        raise GateError(f"batch size must be a positive integer, got {batch_size}")
    n = len(lengths)
    if dispatch == "ordered":
        order = np.arange(n)
    elif dispatch == "bucketed":
        order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    else:
        raise GateError(f"unknown dispatch {dispatch!r}; use one of: {', '.join(DISPATCHES)}")
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def padding_stats(lengths: Sequence[int] | np.ndarray, groups: Iterable[np.ndarray]) -> tuple[int, int]:
    """(real tokens, padded tokens) when each group is padded to its longest item."""
    arr = np.asarray(lengths, dtype=np.int64)
    real = padded = 0
    for group in groups:
        if len(group):
            sub = arr[group]
            real += int(sub.sum())
            padded += int(len(sub) * sub.max())
    return real, padded


def padding_efficiency(real_tokens: int, padded_tokens: int) -> float:
    """Real tokens / padded tokens: 1.0 means no compute goes to padding."""
    return real_tokens / padded_tokens if padded_tokens else 1.0


@dataclass(frozen=True)
class BatchPlan:
    """Pre-tokenized batches, each right-padded to its longest item, with their bookkeeping."""

    batches: tuple[dict[str, np.ndarray], ...]
    indices: tuple[np.ndarray, ...]  # dataset positions of each batch's rows
    dispatch: str
    batch_size: int

    @property
    def n_messages(self) -> int:
        return sum(len(i) for i in self.indices)

    @property
    def lengths(self) -> tuple[np.ndarray, ...]:
        """Real token count of every row, per batch (from the attention masks)."""
        return tuple(b["attention_mask"].sum(axis=1).astype(np.int64) for b in self.batches)

    @property
    def real_tokens(self) -> int:
        return int(sum(int(b["attention_mask"].sum()) for b in self.batches))

    @property
    def padded_tokens(self) -> int:
        return int(sum(b["input_ids"].size for b in self.batches))

    @property
    def padding_efficiency(self) -> float:
        return padding_efficiency(self.real_tokens, self.padded_tokens)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """The distinct (batch, seq_len) shapes, sorted: what ``Runner.warmup`` needs."""
        return sorted({(int(b["input_ids"].shape[0]), int(b["input_ids"].shape[1])) for b in self.batches})


def make_batches(tokenizer: Any, texts: Sequence[Text], batch_size: int,
                 dispatch: Dispatch | str) -> BatchPlan:
    """Tokenize ``texts`` into batches of ``batch_size`` in the given dispatch order.

    Uses the same ``encode`` as evaluation (truncation at the model's limit, right
    padding to the longest item of each batch), so the shapes are exactly those that
    ``predict_texts`` produces for the same texts, batch size and sorting.
    """
    if not texts:
        raise GateError("no texts to benchmark")
    lengths = encoded_lengths(tokenizer, texts)
    groups = batch_indices(lengths, batch_size, dispatch)
    batches = tuple(encode(tokenizer, [texts[i] for i in g]) for g in groups)
    return BatchPlan(batches, tuple(groups), str(dispatch), batch_size)
