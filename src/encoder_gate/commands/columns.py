"""Which columns of a user's dataset file hold the texts and the labels, read from its first row
(`encoder-gate init --dataset`): the common names first, then the file's own shape.

    text, label = detect_columns(Path("data/eval.jsonl"))   # ("comment", "tags")

A file whose columns are a sentence pair's two texts (data.pairs.PAIR_COLUMNS: 'premise' and
'hypothesis') has the first as its text; init feeds the second with it (`pair-column`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from encoder_gate.data.pairs import pair_in
from encoder_gate.data.readers import DIALECTS, read_text, table_reader, text_lines
from encoder_gate.data.samples import pair_row
from encoder_gate.errors import GateError

TEXT_COLUMNS = ("text", "sentence", "comment", "content", "body", "input", "review")
#: (gold_label: SNLI's and MNLI's; relevance, relevant, is_relevant: a reranking set's 0/1 flag)
LABEL_COLUMNS = ("labels", "label", "gold_label", "emotions", "tags", "categories", "classes", "targets",
                 "target", "y", "class", "relevance", "relevant", "is_relevant")


def detect_columns(path: Path, text_column: str | None = None,
                   label_column: str | None = None,
                   label_names: Sequence[str] = ()) -> tuple[str, str | None]:
    """The text and label columns of a dataset file, from its first row (given ones are checked); no
    label column (None) where the file has a column for each of the model's `label_names`: one 0/1
    column per label, read one-hot (walk AO: refused, asking for a --label-column the file cannot
    have; go_emotions' raw layout has id, author and more beside them)."""
    row = first_row(path)
    columns = list(row)
    for given, option in ((text_column, "--text-column"), (label_column, "--label-column")):
        if given is not None and given not in row:
            raise GateError(f"{path} has no column {given!r} ({option}); its columns: {', '.join(columns)}")
    pair = pair_in(columns)  # a sentence pair's first text is the text (init pairs the second with it)
    label = label_column or next((c for c in LABEL_COLUMNS if c in row), None)
    text = text_column or (pair[0] if pair else None) or next((c for c in TEXT_COLUMNS if c in row), None)
    one_hot = label is None and len(label_names) > 1 and all(n in row for n in label_names)
    if one_hot and text is None:  # the longest text of the rest (not an id or an author's name)
        texts = [c for c in columns if c not in label_names and _is_text(row[c])]
        text = max(texts, key=lambda c: len(str(row[c]).split()), default=None)
    if one_hot and text is not None:
        return text, None  # one 0/1 column per label: the loader reads them by the model's names
    if text is None:
        text = next((c for c in columns if c != label and _is_text(row[c])), None)
    if label is None and text is not None:
        others = [c for c in columns if c != text]
        label = others[0] if len(others) == 1 else None  # the only other column
    if text is None and label_column is not None and len(str(row[label_column]).split()) > 3:
        raise GateError(f"--label-column {label_column!r} of {path} holds texts (its first row: "
                        f"{str(row[label_column])[:60]!r}), not labels: pass the column of the labels, and "
                        "this one as --text-column")
    if text is not None and (not isinstance(row[text], str) or row[text].strip().startswith("[")):
        raise GateError(f"column {text!r} of {path} holds {str(row[text])[:60]!r} in its first row, not a "
                        f"text{' (--text-column)' if text_column else ''}: pass --text-column NAME of the "
                        f"column with the texts (its columns: {', '.join(columns)})")
    if text is None or label is None:
        missing = " and ".join(what for what, found in (("text", text), ("label", label)) if found is None)
        raise GateError(
            f"cannot tell which column of {path} holds the {missing} (columns: {', '.join(columns)}); "
            "pass --text-column NAME and --label-column NAME"
        )
    return text, label


def first_row(path: Path) -> dict[str, Any]:
    """The first record of a .jsonl/.ndjson/.json/.csv/.tsv/.parquet file: its first pair where the file
    holds reranking samples (data.samples)."""
    return pair_row(_first_record(path))


def _first_record(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _first_parquet_row(path)
    if suffix in DIALECTS:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            try:
                row = next(table_reader(fh, suffix), None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise GateError(f"{path} is not readable CSV ({exc}); fix the file") from exc
        if row is None:
            raise GateError(f"{path} has no rows under its header; pass a dataset with labelled texts")
        return {k: v for k, v in row.items() if k is not None}
    text = read_text(path)
    if suffix == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GateError(f"{path}, line {exc.lineno}: invalid JSON ({exc.msg}); fix the file") from exc
        return _record(items[0] if items else None, path, "item 1")
    for lineno, line in enumerate(text_lines(text), 1):
        if line.strip():
            try:
                return _record(json.loads(line), path, f"line {lineno}")
            except json.JSONDecodeError as exc:
                raise GateError(f"{path}, line {lineno}: malformed JSON ({exc.msg}); each line must be "
                                "one JSON object") from exc
    raise GateError(f"{path} is empty; pass a dataset with labelled texts")


def _record(obj: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or not obj:
        raise GateError(f"{path}, {where}: expected a JSON object with the text and labels, got {obj!r:.60}")
    return obj


def _first_parquet_row(path: Path) -> dict[str, Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise GateError(f"reading {path} needs pyarrow: pip install pyarrow") from exc
    try:
        batch = next(pq.ParquetFile(path).iter_batches(batch_size=1), None)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise GateError(f"{path} is not a readable Parquet file ({exc}); check the file") from exc
    rows = batch.to_pylist() if batch is not None else []
    if not rows:
        raise GateError(f"{path} has no rows; pass a dataset with labelled texts")
    return dict(rows[0])


def _is_text(value: Any) -> bool:
    """A string that is not a number or a JSON list (CSV cells are all strings)."""
    if not isinstance(value, str) or not value.strip() or value.strip().startswith("["):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False
