"""How many texts a gate-sweep cell times, kept per model and machine.

A cell's texts are sized so that torch eager's arm of a round takes at most about
`ROUND_SECONDS`: 1, 2, 4, 8, ... bucketed batches drawn across the lengths
(:func:`encoder_gate.speed.rounds.spread`), one batch at least. The count is found once, by a
pass of torch over each step up to the first that takes longer (each at most a round's time),
and kept in
``<cache-dir>/bench-texts.json`` under the model's content hash and the machine's fingerprint
(with its threads and libraries), per case: the next session on this model and machine times
the same texts, so its figures and pytest-benchmark's saved rounds compare like with like. A
new model, a new machine or another thread count sizes again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.cache import read_record, update_record
from encoder_gate.data.pairs import Text
from encoder_gate.runtime.inference import encoded_lengths
from encoder_gate.speed.rounds import ROUND_SECONDS, spread

FILE_NAME = "bench-texts.json"
@dataclass(frozen=True)
class TextPool:
    """The texts a variant's benchmarks draw from, with their token lengths."""

    texts: tuple[Text, ...]
    lengths: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer: Any, texts: Sequence[Text]) -> TextPool:
        """`texts` with their token lengths as the batches will hold them: truncated where
        :func:`~encoder_gate.runtime.inference.token_lengths` truncates, as make_batches does, so
        a text longer than the limit counts as long as it runs (a tokenizer with no limit of its
        own, or one above 512, is still cut at 512); a GateError if one is encoded as no tokens."""
        return cls(tuple(texts), tuple(int(n) for n in encoded_lengths(tokenizer, texts)))

    def narrowed(self, k: int) -> TextPool:
        """The `k` texts :meth:`pick` draws (one at a time), with their lengths: a smaller pool of
        the same mix."""
        idx = spread(self.lengths, k)
        return TextPool(tuple(self.texts[i] for i in idx), tuple(self.lengths[i] for i in idx))

    def pick(self, k: int, batch_size: int = 1) -> tuple[Text, ...]:
        """`k` texts across the range of lengths, in bucketed batches of `batch_size`
        (:func:`~encoder_gate.speed.rounds.spread`)."""
        return tuple(self.texts[i] for i in spread(self.lengths, k, batch_size))


def overfull(batch_size: int, available: int, source: str) -> str | None:
    """Why a cell cannot time batches of `batch_size` from the `available` texts `source` holds (its
    batches would hold fewer, timed and labelled as `batch_size`), or None."""
    if batch_size <= available:
        return None
    return (f"batch size {batch_size} is larger than the {available} texts of {source}: its batches would "
            f"hold {available} texts, timed as batch size {batch_size}; give batch sizes of at most "
            f"{available} (--gate-batch-sizes, batch-sizes) or more texts")


def sizing_key(model_hash: str, fingerprint: Mapping[str, Any]) -> str:
    """The key a model's counts are kept under on one machine (threads and libraries included)."""
    machine = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
    return f"{model_hash}|{machine[:16]}"


def _path(cache_dir: Path) -> Path:
    return Path(cache_dir) / FILE_NAME


def _load(cache_dir: Path) -> dict[str, dict[str, int]]:
    return _counts(read_record(_path(cache_dir)))


def _counts(doc: Any) -> dict[str, dict[str, int]]:
    with contextlib.suppress(TypeError, ValueError):
        if isinstance(doc, dict):
            return {str(k): {str(c): int(n) for c, n in v.items()}
                    for k, v in doc.items() if isinstance(v, dict)}
    return {}


def kept_count(cache_dir: Path, key: str, case: str) -> int | None:
    """The count kept for `case` of `key`, or None."""
    return _load(cache_dir).get(key, {}).get(case)


def keep_count(cache_dir: Path, key: str, case: str, count: int) -> None:
    """Keep `count` for `case` of `key` (read, update and write under the record's lock: xdist
    workers and parallel sessions share the cache; cache.update_record)."""

    def kept(doc: dict[str, Any]) -> dict[str, Any]:
        counts = _counts(doc)
        return {**counts, key: {**counts.get(key, {}), case: count}}

    update_record(_path(cache_dir), kept)


def size_cell(lengths: Sequence[int], batch_size: int, probe: Callable[[list[int]], float],
              round_seconds: float = ROUND_SECONDS) -> int:
    """The count of texts a cell times: `batch_size` x the largest of 1, 2, 4, 8, ... batches
    whose pass of the reference arm (`probe`: its seconds on the texts at the given indices) takes
    at most `round_seconds`, or all the texts; one batch at least. Each step is timed as it is
    (a batch of long texts costs more than one of short ones), and the next is tried only when
    twice this one's time fits."""
    n = len(lengths)
    count = min(batch_size, n)
    seconds = probe(spread(lengths, count, batch_size))
    while count < n and seconds * 2 <= round_seconds:
        bigger = min(count * 2, n)
        took = probe(spread(lengths, bigger, batch_size))
        if took > round_seconds:
            break
        count, seconds = bigger, took
    return count


def sized_texts(pool: TextPool, batch_size: int, probe: Callable[[list[int]], float],
                round_seconds: float = ROUND_SECONDS) -> tuple[Text, ...]:
    """The texts of a cell sized by time (:func:`size_cell`: `probe` times a pass over the texts
    at the given indices), drawn across the pool's lengths in bucketed batches of `batch_size`:
    what a vs-base cell times (suite/ab.py) and the A/B noise study measures."""
    return pool.pick(size_cell(pool.lengths, batch_size, probe, round_seconds), batch_size)
