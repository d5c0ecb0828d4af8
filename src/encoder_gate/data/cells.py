"""How a dataset's label cells are read (encoder_gate.data.datasets): each row's labels as the model's
multi-hot flags, from names, 0-based indices or one-hot vectors in one label column (said by
`label-format` or told from the cells), from one 0/1 column per label name, or, for a one-label model (a
reranker's relevance), a 0/1 flag a row or graded relevance read from a grade on (`relevant-grade`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoder_gate.data.readers import Table, list_in_text, shown
from encoder_gate.errors import GateError, listed

#: A cell's or a name's text that is a whole number (an index, or a ClassLabel name that is one).
INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class LabelsRead:
    """A table's labels as the model's multi-hot rows, and, where a one-label model's label column held
    graded relevance (`relevant-grade`), how it was read and each row's grade."""

    labels: np.ndarray
    relevance: str | None = None
    grades: np.ndarray | None = None


def read_labels(table: Table, label_column: str, names: tuple[str, ...], fmt: str,
                relevant_grade: float | None = None) -> LabelsRead:
    """Each row's labels from `label_column` (names, indices or one-hot vectors, as `fmt` says or as the
    cells tell; a one-label model's 0/1 flag, or its grades from `relevant_grade` on), or from one 0/1
    column per label name; a cell that cannot be read is one line naming its row and the fix."""
    if relevant_grade is not None:
        return _graded(table, label_column, names, relevant_grade)
    labels = np.zeros((len(table.rows), len(names)), dtype=np.uint8)
    has_label_column = label_column in table.columns
    all_onehot_columns = all(n in table.columns for n in names)
    # one-hot columns: asked for (unless only a label column of 0/1 vectors exists), or
    # auto-detected when there is no label column but a column per label name
    if (fmt == "onehot" and (all_onehot_columns or not has_label_column)) or (
        fmt == "auto" and all_onehot_columns and not has_label_column
    ):
        missing = [n for n in names if n not in table.columns]
        if missing:
            raise GateError(
                f"{table.where}: one-hot labels need one 0/1 column per label name, but "
                f"{listed(missing)} are missing (columns present: {listed(table.columns)}); "
                "add them, or give a label column: label-column in [tool.encoder-gate] (or pytest's "
                "--gate-label-column, encoder-gate export's --label-column)"
            )
        for i, row in enumerate(table.rows):
            for j, col in enumerate(names):
                labels[i, j] = _flag(row.get(col), f"{table.at(i)}, column {col!r}")
        return LabelsRead(labels)
    if not has_label_column:
        raise GateError(
            f"{table.where} has no label column {label_column!r}; columns present: "
            f"{listed(table.columns)}; choose the label column: label-column in [tool.encoder-gate] (or "
            "pytest's --gate-label-column, encoder-gate export's --label-column) "
            "(or give one 0/1 column per label name)"
        )
    cells = [row.get(label_column) for row in table.rows]
    # one label (a reranker's relevance) and a 0/1 cell a row: its flag, not index 0 of its one name
    if len(names) == 1 and fmt in ("auto", "onehot") and all(_is_bit(c) for c in cells):
        flags = np.array([[_flag(c, table.at(i))] for i, c in enumerate(cells)], dtype=np.uint8)
        return LabelsRead(flags.reshape(len(cells), 1))
    one = len(names) == 1 and fmt == "auto"
    numbers = [v for c in cells if (v := cell_number(c)) is not None] if one else []
    if numbers and len(numbers) == len(cells):  # a one-label model's graded relevance or scores
        others = [f"{v:g}" for v in sorted(set(numbers) - {0.0, 1.0})]
        values = listed(others, 5, quoted=False)
        raise GateError(f"{table.where}: the model has one label ({names[0]!r}: a reranker's or a binary "
                        f"classifier's one score), whose label column {label_column!r} holds each row's "
                        f"0/1 flag, and this one holds other values too ({values}): graded relevance or a "
                        "score. Say from which grade a row is relevant (as the model was trained to tell): "
                        "relevant-grade = 1 (say) in [tool.encoder-gate] (init's and export's "
                        "--relevant-grade), or pytest's --gate-relevant-grade; "
                        "or write a 0/1 flag a row. encoder-gate judges classifiers' decisions, not a "
                        "regression's scores")
    # every cell a list of one 0/1 value per label: one-hot vectors (with two labels too, where
    # [0, 1] on every row as indices would give every row both labels)
    if fmt == "onehot" or (
        fmt == "auto" and len(names) >= 2 and all(_is_vector(c, len(names)) for c in cells)
    ):
        for i, cell in enumerate(cells):
            if not _is_vector(cell, len(names)):
                raise GateError(
                    f"{table.at(i)}: expected a one-hot list of {len(names)} 0/1 values in "
                    f"{label_column!r}, got {shown(cell)}; fix the row or use label format 'auto'"
                )
            labels[i] = [_flag(v, table.at(i)) for v in np.asarray(cell).tolist()]
        return LabelsRead(labels)
    index = {n: j for j, n in enumerate(names)}
    lower = {n.lower(): j for j, n in enumerate(names)}
    for i, cell in enumerate(cells):
        items = _items(cell, f"{table.at(i)}, column {label_column!r}")
        seen = [_label_index(item, fmt, names, index, lower, f"{table.at(i)}") for item in items]
        said = [str(item).strip().lower() for item in items]
        if len(set(said)) < len(said):  # a list of labels gives each once: this is no such list
            vector = all(isinstance(v, int) and v in (0, 1) for v in items)
            twice = next(j for j, word in zip(seen, said, strict=True) if said.count(word) > 1)
            raise GateError(
                f"{table.at(i)}: {label_column!r} holds {shown(cell)}, which names label "
                f"{names[twice]!r} more than once"
                + (f": a one-hot vector needs exactly {len(names)} 0/1 values, one per label of the model "
                   f"({listed(list(names))}), in every row" if vector else
                   ": a list of labels names each label once")
            )
        labels[i, seen] = 1
    return LabelsRead(labels)


def _graded(table: Table, label_column: str, names: tuple[str, ...], relevant_grade: float) -> LabelsRead:
    """A one-label model's rows with graded relevance in `label_column` (TREC's 0 to 3, a score):
    relevant (its one label's flag) where the grade is `relevant_grade` or more, said in `relevance`."""
    setting = f"relevant-grade = {relevant_grade:g}"
    if len(names) != 1:
        raise GateError(f"{setting} reads graded relevance as a one-label model's 0/1 flag (a reranker's); "
                        f"this model has {len(names)} labels: leave relevant-grade (--gate-relevant-grade) "
                        "out")
    if label_column not in table.columns:
        raise GateError(f"{table.where} has no label column {label_column!r} to read grades from "
                        f"({setting}); columns present: {listed(table.columns)}; choose it: label-column in "
                        "[tool.encoder-gate] (or pytest's --gate-label-column)")
    grades = np.empty(len(table.rows))
    for i, row in enumerate(table.rows):
        grade = cell_number(row.get(label_column))
        if grade is None or not np.isfinite(grade):
            raise GateError(f"{table.at(i)}: {setting} reads {label_column!r} as a number, a row's grade of "
                            f"relevance; got {shown(row.get(label_column))}; fix the cell or drop the row")
        grades[i] = grade
    flags = grades >= relevant_grade
    seen = listed([f"{v:g}" for v in np.unique(grades)], 6, quoted=False)
    if flags.all() or not flags.any():
        raise GateError(f"{table.where}: with {setting} {'every' if flags.all() else 'no'} row is relevant "
                        f"(its grades: {seen}), so no decision could be judged; give the grade from which a "
                        "row is relevant, one its rows reach and not all of them")
    said = (f"graded relevance in {label_column!r} ({seen}), a row relevant from grade {relevant_grade:g} on "
            f"(relevant-grade): {int(flags.sum())} of {len(flags)} rows")
    return LabelsRead(flags.reshape(-1, 1).astype(np.uint8), relevance=said, grades=grades)


def _is_vector(cell: Any, k: int) -> bool:
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    return (
        isinstance(cell, (list, tuple))
        and len(cell) == k
        and all(isinstance(v, (bool, int, float)) and v in (0, 1) for v in cell)
    )


_BITS = {"0": 0, "1": 1, "true": 1, "false": 0, "0.0": 0, "1.0": 1}  #: a 0/1 cell's strings, and each flag


def _is_bit(cell: Any) -> bool:
    """A cell holding one 0/1 value (a number, a truth value, or its string), not a list or a name."""
    if isinstance(cell, str):
        return cell.strip().lower() in _BITS
    return isinstance(cell, (bool, int, float, np.integer, np.floating)) and cell in (0, 1)


def cell_number(cell: Any) -> float | None:
    """A cell's number (a CSV's "2" too), None for any other cell (a truth value, a name, a list)."""
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell)
        except ValueError:
            return None
    return None


def _flag(value: Any, where: str) -> int:
    if isinstance(value, str):
        value = _BITS.get(value.strip().lower(), value)
    if isinstance(value, (bool, int, float, np.integer, np.floating)) and value in (0, 1):
        return int(value)
    raise GateError(f"{where}: expected a one-hot value 0 or 1, got {shown(value)}; fix the cell")


def _items(cell: Any, where: str) -> list[Any]:
    """The label entries of one cell: a list, one name/index, or a CSV string."""
    if cell is None:
        raise GateError(f"{where}: labels are missing (null); use an empty list for a row without labels")
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if isinstance(cell, (list, tuple)):
        return list(cell)
    if isinstance(cell, str):
        text = cell.strip()
        if text.startswith("["):
            try:
                return list_in_text(text)
            except ValueError as exc:
                raise GateError(f"{where}: malformed label list {shown(text)} ({exc})") from None
        return [tok.strip() for tok in re.split(r"[,;|]", text) if tok.strip()]
    return [cell]


def _as_number(item: Any) -> int | None:
    """The integer a label cell holds (an int, an integral float, or a string of digits), else None."""
    if isinstance(item, str) and INTEGER.match(item.strip()):
        return int(item)
    if isinstance(item, float) and item.is_integer():
        return int(item)
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return int(item)
    return None


def _label_index(
    item: Any, fmt: str, names: tuple[str, ...], index: dict[str, int], lower: dict[str, int], where: str
) -> int:
    """The label index a cell's item means: a name of the model's labels, or a 0-based index. Where
    the model's label names are numbers ('1' to '5' stars), a number could be either: the one that
    fits is taken, and a number both fit differently (3: the label named '3', index 2, or index 3,
    named '4') is refused in format 'auto': read one way, every gold label moved a class, silently."""
    k = len(names)
    number = _as_number(item)
    if number is not None and fmt != "names":
        named = index.get(str(number))
        if fmt == "auto" and named is not None and named != number:
            if 0 <= number < k:
                raise GateError(
                    f"{where}: the label {item!r} could be the label named {str(number)!r} (index {named}) "
                    f"or the label at index {number} (named {names[number]!r}): the model's label names are "
                    "numbers. Say which the data holds: label-format = \"names\" or \"indices\" in "
                    "[tool.encoder-gate] (or pytest's --gate-label-format)"
                )
            return named  # no label has that index: the name is meant
        if not 0 <= number < k:
            raise GateError(
                f"{where}: label index {number} is out of range 0..{k - 1} for {k} label names; "
                "indices are 0-based positions in the label names, so check the label names match the data"
            )
        return number
    if fmt == "indices":
        raise GateError(
            f"{where}: expected integer label indices but got {shown(item)}; use label format 'names' or "
            "'auto'"
        )
    if number is not None and not isinstance(item, str):
        item = str(number)  # format 'names': a number names a label
    if not isinstance(item, str):
        raise GateError(f"{where}: a label must be a name or an integer index, got {shown(item)}")
    key = item.strip()
    # exact first: a label named ' pos' (its space kept) is ' pos', not 'pos'
    for found in (index.get(item), index.get(key), lower.get(key.lower())):
        if found is not None:
            return found
    if fmt == "names" and number is not None:
        raise GateError(f"{where}: expected label names but got the index {number}, which names no label; "
                        "use label format 'indices' or 'auto'")
    if list(names) == [f"LABEL_{i}" for i in range(len(names))]:  # a head trained without label names
        raise GateError(
            f"{where}: unknown label name {key!r}; the model's labels are transformers' placeholders "
            f"LABEL_0 to LABEL_{len(names) - 1} (its config.json's id2label was never given names): write "
            "the names into id2label and label2id of its config.json, in the order of the head's outputs "
            "(model.config.id2label = {0: 'name', ...} before save_pretrained), or give the dataset's "
            'labels as indices 0..N-1 (label-format = "indices", --gate-label-format)')
    close = difflib.get_close_matches(key.lower(), list(lower), n=3)
    hint = f"did you mean {', '.join(repr(names[lower[c]]) for c in close)}? " if close else ""
    raise GateError(
        f"{where}: unknown label name {key!r}; {hint}valid names include {listed(names)}; "
        "fix the label, or gate the model this dataset was labelled for: the valid names are the "
        "model's own labels (id2label in its config.json)"
    )
