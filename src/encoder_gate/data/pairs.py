"""Sentence pairs: datasets whose rows hold two texts a model reads together (NLI's premise and
hypothesis, a paraphrase's two sentences, a reranker's query and passage).

    text: Text = ("a man sleeps", "a man is awake")   # one item fed to the model: a text, or a pair
    tokenizer([text, ...])                             # transformers reads a list of pairs as pairs
    as_string(text)                                    # 'a man sleeps || a man is awake', said or measured

A pair is a tuple of its two texts, wherever a text goes (the dataset, the predictions, the
benchmarks' pools): transformers' tokenizers take a batch of (text, text_pair) tuples as such,
with each second text in its own segment (token_type_ids 1 where the model has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np

from encoder_gate.errors import GateError

#: One item the gate feeds the model: a text, or a sentence pair's two texts.
Text: TypeAlias = str | tuple[str, str]
#: How a pair is written where one string is needed (a report's sample, a length in characters).
PAIR_SEPARATOR = " || "
#: How a file of plain texts (`texts`, `calibration`) holds a pair on its line: its two texts split by
#: one tab, as a two-column TSV (GLUE's files) holds them; and the name such a file's second texts go by.
FILE_PAIR_SEPARATOR = "\t"
FILE_PAIR_COLUMN = "(each line's text after its tab)"


def as_string(text: Text) -> str:
    """`text` as one string: a pair's two texts around PAIR_SEPARATOR."""
    return text if isinstance(text, str) else PAIR_SEPARATOR.join(text)


def clipped(text: str, width: int = 140) -> str:
    """`text` cut to `width` characters for a line of a report, "..." where it was cut."""
    return text if len(text) <= width else text[:width - 3] + "..."


def query_ids(texts: Sequence[Text], samples: Sequence[int] | None = None) -> np.ndarray | None:
    """One id per row, the same for the rows of one first text (a reranking set's query, in order of
    first appearance), or of one sample where `samples` gives each row's (reranking samples: each
    sample a query, as sentence-transformers' evaluator ranks them, even two of one query text); None
    where the texts are single (no pairs: no queries)."""
    if not texts or any(isinstance(t, str) for t in texts):
        return None
    keys: Sequence[object] = [t[0] for t in texts] if samples is None else samples
    ids: dict[object, int] = {}
    return np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)


def has_queries(queries: np.ndarray | None) -> bool:
    """Whether some query holds several rows (`query_ids`' ids: a first text that repeats, or a reranking
    sample of several passages): a reranker's to rank; not a pair classifier's rows, each its own
    question (duplicates, paraphrases), nor single texts (None)."""
    return queries is not None and len(np.unique(queries)) < len(queries)


def split_pair(line: str, where: str) -> tuple[str, str]:
    """A file's line as the pair it holds (FILE_PAIR_SEPARATOR between its two texts, each stripped);
    a GateError naming `where` ("texts.txt:3") for a line without exactly one tab."""
    parts = line.split(FILE_PAIR_SEPARATOR)
    if len(parts) != 2:
        raise GateError(f"{where}: a sentence-pair model (pair-column set) reads each line of a texts or "
                        f"calibration file as a pair, its two texts split by one tab; this line holds "
                        f"{len(parts) - 1} tabs: {line[:80]!r}. Write `first text<TAB>second text` on "
                        "each line")
    first, second = (p.strip() for p in parts)
    return first, second


def digest_bytes(text: Text) -> bytes:
    """The bytes a digest of texts reads for `text`: a text's own UTF-8 (so every digest of single
    texts stays as it was), a pair's two behind a marker no dataset's text starts with."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    first, second = (t.encode("utf-8", "surrogatepass") for t in text)
    return b"\x00pair\x00" + len(first).to_bytes(8, "big") + first + second


#: The columns of a sentence-pair task's two texts (NLI, paraphrase, a reranker's query and passage),
#: as the common datasets name them (GLUE and SuperGLUE, SNLI, MS MARCO, transformers' own
#: `text`/`text_pair`): init pairs them (`text-column` and `pair-column`), and a text column that is
#: one of such a pair, read alone with the other present, is said (Dataset.pair_column).
PAIR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("premise", "hypothesis"), ("sentence1", "sentence2"), ("sentence_1", "sentence_2"),
    ("sentence_a", "sentence_b"), ("question1", "question2"), ("question", "sentence"),
    ("question", "passage"), ("query", "passage"), ("query", "document"), ("text", "text_pair"),
    ("text_a", "text_b"), ("text1", "text2"), ("text_1", "text_2"),
)


def pair_partner(column: str, columns: Sequence[str]) -> str | None:
    """The other text of a sentence pair `column` is one of, where `columns` hold it (PAIR_COLUMNS,
    names compared without case): 'hypothesis' for 'premise' beside it; None for a text of its own."""
    present = {c.lower(): c for c in columns}
    for pair in PAIR_COLUMNS:
        if column.lower() in pair:
            other = pair[1 - pair.index(column.lower())]
            if other in present:
                return present[other]
    return None


def pair_in(columns: Sequence[str]) -> tuple[str, str] | None:
    """The first sentence pair (PAIR_COLUMNS) whose two columns `columns` both hold, as they are named."""
    present = {c.lower(): c for c in columns}
    return next(((present[a], present[b]) for a, b in PAIR_COLUMNS if a in present and b in present), None)
