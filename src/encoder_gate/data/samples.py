"""Reranking samples read as the labelled pairs the gate judges: one row a query and lists of its
passages, as sentence-transformers' CrossEncoderRerankingEvaluator and MTEB's reranking sets hold
them (``{"query": ..., "positive": [...], "negative": [...]}``, or ``"documents"`` in place of
``"negative"``: every candidate, the positives among them), FlagEmbedding's (``"pos"``, ``"neg"``),
sentence-transformers' triplets (``"anchor"``, one positive, one negative) and its hard-negative mining's
n-tuples (``"negative_1"`` to ``"negative_10"``) and labeled lists (every candidate in the positive column,
``"labels"`` a 0/1 flag each), become one row a (query, passage) pair, relevant 1 or 0:

    table = expanded(read_json(Path("rerank.jsonl")))   # columns: query, passage, relevant

A sample's pairs are its positives, then its negatives, or each of its other documents (as the
evaluator's default, ``always_rerank_positives``, ranks them); a file may mix the two kinds of
sample. Its relevance note (:attr:`Table.relevance`) says so in the verdict. The columns' names are
the ones init reads as a reranker's (data.pairs.PAIR_COLUMNS, commands.columns.LABEL_COLUMNS), so
`encoder-gate init --dataset` configures them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from encoder_gate.data.cells import cell_number
from encoder_gate.data.readers import Table, list_in_text, shown
from encoder_gate.errors import GateError

#: The expanded table's columns: each pair's query, its passage, and 1 where the passage is relevant
QUERY, PASSAGE, RELEVANT = "query", "passage", "relevant"
#: What each list is called in a sample, by the libraries that write them (names compared without case)
QUERY_NAMES = ("query", "question", "anchor")
POSITIVE_NAMES = ("positive", "positives", "pos")
NEGATIVE_NAMES = ("negative", "negatives", "neg")
#: One column a negative, as sentence-transformers' mine_hard_negatives writes them (its "n-tuple" format:
#: negative_1 to negative_10)
NUMBERED_NEGATIVE = re.compile(r"(?:negative|neg)_(\d+)", re.IGNORECASE)
DOCUMENTS_NAMES = ("documents",)
#: A 0/1 flag per passage of the positive column, which then holds every candidate (mine_hard_negatives'
#: "labeled-list" format)
LABELS_NAMES = ("labels",)


@dataclass(frozen=True)
class Layout:
    """The columns of a table of samples, as the file names them."""

    query: str
    positive: str
    negatives: tuple[str, ...]  # a sample's irrelevant passages: one column of lists, or one a negative
    documents: str | None  # or every candidate of a sample, its positives among them (one of the two)
    labels: str | None = None  # or a 0/1 flag per passage of `positive`, which holds every candidate

    def said(self) -> str:
        if self.labels is not None:
            return f"{self.positive!r} lists flagged by {self.labels!r}"
        negatives = (repr(self.negatives[0]) if len(self.negatives) == 1 else
                     f"{self.negatives[0]!r} to {self.negatives[-1]!r}" if self.negatives else None)
        if negatives is not None and self.documents is not None:
            return f"{self.positive!r} lists with {negatives} or {self.documents!r} ones"
        return f"{self.positive!r} and {negatives or repr(self.documents)} lists"


def _named(columns: Sequence[str], names: Sequence[str]) -> str | None:
    present = {c.lower(): c for c in columns}
    return next((present[n] for n in names if n in present), None)


def layout_of(columns: Sequence[str], row: Mapping[str, Any]) -> Layout | None:
    """The sample columns of a table whose `columns` are a query's and lists of passages (its first
    `row` holding a text or a list of texts as its positives: not one 0/1 column per label); None for
    any other table."""
    query, positive = _named(columns, QUERY_NAMES), _named(columns, POSITIVE_NAMES)
    negative, documents = _named(columns, NEGATIVE_NAMES), _named(columns, DOCUMENTS_NAMES)
    numbered = sorted((int(m.group(1)), c) for c in columns if (m := NUMBERED_NEGATIVE.fullmatch(c)))
    negatives = (negative,) if negative is not None else tuple(c for _, c in numbered)
    labels = _named(columns, LABELS_NAMES) if not (negatives or documents) else None
    if labels is not None and not isinstance(row.get(labels), (list, tuple)):
        labels = None  # (one label a row: a table of pairs, not of samples)
    if query is None or positive is None or not (negatives or documents or labels):
        return None
    cell = row.get(positive)
    if PASSAGE in {c.lower() for c in columns} or not _is_passages(cell) or cell_number(cell) is not None:
        return None  # (a number written as text: a CSV's 0/1 column of a label named `positive`)
    return Layout(query, positive, negatives, documents, labels)


def _is_passages(cell: Any) -> bool:
    """Whether a cell is one passage or a list of them (a list of strings)."""
    listed = isinstance(cell, (list, tuple)) and all(isinstance(t, str) for t in cell)
    return isinstance(cell, str) or listed


def _unwritten(cell: Any) -> Any:
    """A cell that holds a list written as text (a CSV's: pandas' `to_csv` writes a list column as
    `['a', 'b']`) as that list; any other cell as it is (a passage that only opens with a bracket too)."""
    if isinstance(cell, str) and cell.strip().startswith("["):
        with contextlib.suppress(ValueError):
            return list_in_text(cell.strip())
    return cell


def _passages(table: Table, i: int, column: str) -> list[str]:
    """Row `i`'s passages in `column`: a list of texts, one text, or a list of texts written as text."""
    cell = table.rows[i].get(column)
    if cell is None:
        return []
    if _is_passages(listed := _unwritten(cell)):  # (a list of numbers written as text: a passage, "[1, 2]")
        cell = listed
    elif not _is_passages(cell):
        raise GateError(f"{table.at(i)}: {column!r} must be a list of passages (strings), got {shown(cell)}")
    return [cell] if isinstance(cell, str) else list(cell)


def _flags(table: Table, i: int, layout: Layout, count: int) -> list[int]:
    """Row `i`'s 0/1 flag of each of its `count` candidates (`layout.labels`), or an error naming the row."""
    cell = _unwritten(table.rows[i].get(layout.labels or ""))
    flags = list(cell) if isinstance(cell, (list, tuple)) else None
    if flags is None or len(flags) != count or any(f not in (0, 1) for f in flags):
        raise GateError(f"{table.at(i)}: {layout.labels!r} must hold a 0 or 1 for each of the {count} "
                        f"passages of {layout.positive!r}, got {shown(cell)} (a list of scores is a "
                        "teacher's, not relevance)")
    return [int(f) for f in flags]


def expanded(table: Table) -> Table:
    """`table` as one row a (query, passage) pair where it holds reranking samples (module doc);
    any other table as it is."""
    layout = layout_of(table.columns, table.rows[0]) if table.rows else None
    if layout is None:
        return table
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for i, number in enumerate(table.row_numbers):
        query = table.text(i, layout.query)
        if layout.labels is not None:  # every candidate in `positive`, each flagged
            candidates = _passages(table, i, layout.positive)
            for passage, relevant in zip(candidates, _flags(table, i, layout, len(candidates)), strict=True):
                rows.append({QUERY: query, PASSAGE: passage, RELEVANT: relevant})
                numbers.append(number)
            continue
        positives = _passages(table, i, layout.positive)
        negatives = [n for column in layout.negatives for n in _passages(table, i, column)]
        documents = _passages(table, i, layout.documents) if layout.documents else []
        if negatives and documents:  # as sentence-transformers' evaluator: one of the two a sample
            raise GateError(f"{table.at(i)}: a sample holds negatives or {layout.documents!r}, not both: "
                            "keep the one its passages are ranked from")
        if both := next((p for p in positives if p in negatives), None):
            raise GateError(f"{table.at(i)}: the passage {shown(both)} is both in {layout.positive!r} "
                            "and among its negatives: keep it in one list")
        negatives += [d for d in documents if d not in positives]
        for passage, relevant in [(p, 1) for p in positives] + [(n, 0) for n in negatives]:
            rows.append({QUERY: query, PASSAGE: passage, RELEVANT: relevant})
            numbers.append(number)
    if not rows:
        raise GateError(f"{table.where} holds reranking samples ({layout.said()}) without a passage: give "
                        "each query its passages")
    note = (f"relevance read from {len(table.rows)} reranking samples ({layout.said()}) as {len(rows)} "
            f"(query, passage) pairs, relevant 1 for a positive passage")
    return replace(table, columns=[QUERY, PASSAGE, RELEVANT], rows=rows, row_numbers=numbers, relevance=note)


def pair_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A file's first `row` as its first pair where it is a reranking sample (what init reads a
    file's columns from); any other row as it is."""
    table = Table("(a first row)", [k for k in row if isinstance(k, str)], [dict(row)], [1])
    if layout_of(table.columns, row) is None:
        return dict(row)
    try:
        return expanded(table).rows[0]
    except GateError:  # a sample without passages, or one refused: the session says why, in its line
        return {QUERY: "", PASSAGE: "", RELEVANT: 0}
