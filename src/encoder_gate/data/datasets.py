"""Loading labelled text datasets (go_emotions' schema by default) into one in-memory form.

Sources: ``"bundled"`` (the generated splits shipped in ``data_files/``), ``"bundled-sentiment"``
(the same splits regrouped into two-class sentiment, see :func:`to_sentiment`), a ``.jsonl`` /
``.json`` / ``.csv`` / ``.parquet`` file, a directory written by ``datasets``'
``save_to_disk``, or ``hf:<dataset id>[:<config>]`` from the Hugging Face Hub.  Labels may
be names, integer indices, a single name/index, or one-hot (one 0/1 column per label
name, or a 0/1 vector per row); a CSV cell holds them separated by ``,``, ``;`` or ``|``, as a JSON list,
or as a Python list (pandas' ``to_csv`` of a list column).  Every user-fixable problem raises
:class:`GateError` naming the file, the row and the fix.  ``pyarrow`` and ``datasets`` are imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from encoder_gate.cache import Stamp, stamps
from encoder_gate.data.cells import INTEGER, read_labels
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.data.pairs import (
    FILE_PAIR_COLUMN,
    Text,
    as_string,
    pair_partner,
    query_ids,
    split_pair,
)
from encoder_gate.data.readers import (
    READERS,
    Table,
    read_hub,
    read_json,
    read_path,
    read_text,
    text_lines,
)
from encoder_gate.data.samples import PASSAGE, QUERY, RELEVANT, expanded
from encoder_gate.errors import GateError, listed

FILTERED_MIN_CHARS = 200
SPLITS: tuple[str, ...] = ("train", "validation", "test")
VARIANTS: tuple[str, ...] = ("normal", "filtered")
#: How a label column holds its labels: told from the cells (auto), or as the project says.
LabelFormat = Literal["auto", "names", "indices", "onehot"]
LABEL_FORMATS: tuple[str, ...] = get_args(LabelFormat)
DATA_DIR = Path(__file__).resolve().parent.parent / "data_files"

# The go_emotions paper's sentiment grouping (Demszky et al. 2020, section 3.3; the file
# data/sentiment_mapping.json of google-research/goemotions). 'neutral' is in none of them.
SENTIMENT_GROUPS: dict[str, tuple[str, ...]] = {
    "positive": ("admiration", "amusement", "approval", "caring", "desire", "excitement",
                 "gratitude", "joy", "love", "optimism", "pride", "relief"),
    "negative": ("anger", "annoyance", "disappointment", "disapproval", "disgust", "embarrassment",
                 "fear", "grief", "nervousness", "remorse", "sadness"),
    "ambiguous": ("confusion", "curiosity", "realization", "surprise"),
}
#: Class order of the two-class sentiment data and of the `sentiment` model (id 0, id 1).
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "positive")
SENTIMENT_SOURCE = "bundled-sentiment"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Texts with multi-hot labels. ``labels`` is a read-only uint8 array (n, len(label_names))."""

    name: str
    texts: tuple[Text, ...]  # each a text, or a sentence pair's two (data.pairs)
    labels: np.ndarray
    label_names: tuple[str, ...]
    variant: str = "normal"
    #: The file it was read from, as it was then (cache.stamps; none for the bundled data or a hub's)
    read_as: tuple[Stamp, ...] = ()
    #: The column of each row's second text ('hypothesis' beside 'premise'): fed with it where the texts
    #: are pairs (`paired`, `pair-column`), else left out (said in the verdict); None for texts alone.
    pair_column: str | None = None
    #: How a one-label model's graded relevance was read as its 0/1 flags (`relevant-grade`), or reranking
    #: samples' lists as flagged pairs (data.samples), said in the verdict, and each row's grade (a
    #: reranker's NDCG reads them); None where the label column held the flags themselves.
    relevance: str | None = None
    grades: np.ndarray | None = None
    #: Each row's reranking sample (data.samples: its source row), whose rows are one query; None where
    #: a query is the rows of one first text.
    samples: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        labels = np.array(self.labels, dtype=np.uint8)
        texts, names = tuple(self.texts), tuple(self.label_names)
        if labels.shape != (len(texts), len(names)):
            raise ValueError(f"labels shape {labels.shape} != ({len(texts)}, {len(names)})")
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        if self.grades is not None:
            grades = np.array(self.grades, dtype=np.float64).reshape(-1)
            if len(grades) != len(texts):
                raise ValueError(f"{len(grades)} grades for {len(texts)} texts")
            grades.setflags(write=False)
            object.__setattr__(self, "grades", grades)
        if self.samples is not None and len(self.samples) != len(texts):
            raise ValueError(f"{len(self.samples)} samples for {len(texts)} texts")
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "label_names", names)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def paired(self) -> bool:
        """Whether each row is a sentence pair, fed as one."""
        return bool(self.texts) and not isinstance(self.texts[0], str)

    @property
    def single_texts(self) -> tuple[str, ...]:
        """The texts of a set without pairs (the bundled splits, a texts file); ValueError for pairs."""
        if self.paired:
            raise ValueError(f"dataset {self.name} holds sentence pairs, not single texts")
        return tuple(t for t in self.texts if isinstance(t, str))

    @cached_property
    def groups(self) -> np.ndarray:
        """One id per row, the same for every copy of a text: its index among the distinct texts in
        order of first appearance (0, 1, ..., n-1 when none repeats). The units the accuracy error
        bars and tests resample and count (accuracy.significance): 50 copies of one text are one
        text's evidence, decided alike by every backend."""
        seen: dict[Text, int] = {}
        return np.fromiter((seen.setdefault(t, len(seen)) for t in self.texts), dtype=np.int64,
                           count=len(self.texts))

    @cached_property
    def queries(self) -> np.ndarray | None:
        """One id per row of a pair dataset, the same for the rows of one first text (a reranker's
        query, whose passages it ranks: accuracy.ranking), or of one reranking sample; None for single
        texts."""
        return query_ids(self.texts, self.samples)

    @property
    def distinct(self) -> int:
        """How many distinct texts the set holds."""
        return int(self.groups.max()) + 1 if len(self.texts) else 0

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """The rows at ``indices`` (or where a boolean mask is true), in that order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.intp).reshape(-1)
        return replace(self, texts=tuple(self.texts[i] for i in idx), labels=self.labels[idx],
                       grades=None if self.grades is None else self.grades[idx],
                       samples=None if self.samples is None else tuple(self.samples[i] for i in idx))

    def head(self, n: int) -> Dataset:
        """The first ``n`` rows (all of them if there are fewer)."""
        if n < 0:
            raise ValueError(f"head(n) needs n >= 0, got {n}")
        return self.subset(np.arange(min(n, len(self))))


def apply_variant(ds: Dataset, variant: Literal["normal", "filtered"] | str) -> Dataset:
    """``normal``: unchanged; ``filtered``: only texts longer than FILTERED_MIN_CHARS characters."""
    if variant == "normal":
        return ds
    if variant != "filtered":
        raise GateError(f"unknown dataset variant {variant!r}; use one of: {', '.join(VARIANTS)}")
    keep = [i for i, text in enumerate(ds.texts) if len(as_string(text)) > FILTERED_MIN_CHARS]
    if not keep:
        raise GateError(
            f"dataset {ds.name}: the 'filtered' variant keeps texts longer than {FILTERED_MIN_CHARS} "
            f"characters and none of its {len(ds)} texts is; use the 'normal' variant or a dataset "
            "with longer texts"
        )
    return replace(ds.subset(keep), variant="filtered")


def bundled_path(split: str) -> Path:
    """Path of a bundled split (``train``, ``validation`` or ``test``) inside the package."""
    if split not in SPLITS:
        raise GateError(f"unknown bundled split {split!r}; use one of: {', '.join(SPLITS)}")
    path = DATA_DIR / f"{split}.jsonl"
    if not path.is_file():
        raise GateError(
            f"bundled data file {path} is missing; reinstall encoder-gate (its package data "
            "data_files/ was not installed) or regenerate it with `python -m encoder_gate.data.datagen`"
        )
    return path


def check_labels_match(ds: Dataset, model_label_names: Sequence[str]) -> None:
    """Raise GateError unless the dataset's labels are the model's id2label names, in order."""
    ours = tuple(ds.label_names)
    model = tuple(str(x) for x in model_label_names)
    fix = "use a dataset labelled with the model's labels, or pass label names matching the model's id2label"

    def norm(x: str) -> str:
        return x.strip().lower()

    if len(ours) != len(model):
        raise GateError(
            f"dataset {ds.name} has {len(ours)} labels ({listed(ours)}) but the model has "
            f"{len(model)} ({listed(model)}); {fix}"
        )
    diffs = [(i, a, b) for i, (a, b) in enumerate(zip(ours, model, strict=True)) if norm(a) != norm(b)]
    if not diffs:
        return
    differing = "; ".join(f"index {i}: dataset {a!r} vs model {b!r}" for i, a, b in diffs[:5])
    more = f" (and {len(diffs) - 5} more)" if len(diffs) > 5 else ""
    order = " (same names, different order)" if sorted(map(norm, ours)) == sorted(map(norm, model)) else ""
    raise GateError(
        f"dataset {ds.name} labels differ from the model's id2label{order}: {differing}{more}; {fix}"
    )


def is_sentiment_labels(names: Sequence[str]) -> bool:
    """True when ``names`` are negative and positive (any order or case): a sentiment head."""
    return len(names) == 2 and sorted(str(n).strip().lower() for n in names) == list(SENTIMENT_LABELS)


def to_sentiment(ds: Dataset, label_names: Sequence[str] | None = None) -> Dataset:
    """Two-class sentiment from go_emotions labels, by the paper's grouping.

    A text is ``positive`` when every one of its labels is in the positive group, and
    ``negative`` when every one is in the negative group. Texts with 'neutral', an ambiguous
    emotion (confusion, curiosity, realization, surprise), labels from both groups, or no
    label at all are dropped. The labels are one-hot in ``label_names`` order (default
    negative, positive; a model whose id2label puts positive first gets that order).
    """
    if tuple(ds.label_names) != GO_EMOTIONS_LABELS:
        raise GateError(
            f"dataset {ds.name} is not labelled with the 28 go_emotions labels, so it cannot be "
            "regrouped into negative/positive sentiment; pass a dataset labelled negative/positive"
        )
    order = SENTIMENT_LABELS if label_names is None else tuple(str(n) for n in label_names)
    if not is_sentiment_labels(order):
        raise GateError(
            f"dataset {SENTIMENT_SOURCE} has 2 labels ('negative', 'positive') but the model has "
            f"{len(order)} ({listed(order)}); use it with a two-class sentiment model such as "
            "--gate-model sentiment, or pass a dataset labelled with the model's labels"
        )
    column = {name.strip().lower(): j for j, name in enumerate(order)}
    groups = {g: np.isin(np.array(ds.label_names), names) for g, names in SENTIMENT_GROUPS.items()}
    keep: list[int] = []
    rows: list[list[int]] = []
    for i, row in enumerate(ds.labels.astype(bool)):
        for group in SENTIMENT_LABELS:
            if row.any() and not (row & ~groups[group]).any():
                keep.append(i)
                onehot = [0, 0]
                onehot[column[group]] = 1
                rows.append(onehot)
    texts = tuple(ds.texts[i] for i in keep)
    labels = np.array(rows, dtype=np.uint8).reshape(len(keep), 2)
    return Dataset(ds.name, texts, labels, order, ds.variant)


def check_single_label(ds: Dataset, task_note: str | None = None) -> None:
    """Raise GateError unless every row has exactly one label (what a softmax head predicts).
    `task_note`: how the model's task was read when its config.json did not say (ModelSpec.task_note)."""
    counts = ds.labels.sum(axis=1)
    bad = np.flatnonzero(counts != 1)
    if bad.size:
        i = int(bad[0])
        tally = ", ".join(f"{int((counts == k).sum())} with {'no' if k == 0 else int(k)} "
                          f"label{'s' if k != 1 else ''}" for k in np.unique(counts[bad]))
        raise GateError(
            f"dataset {ds.name}: the model is a single-label (softmax) classifier, but {bad.size} of "
            f"{len(ds)} rows do not have exactly one label ({tally}; first: row {i + 1}, "
            f"{as_string(ds.texts[i])[:60]!r}); give every row exactly one label"
            + (f". The model's task: {task_note}" if task_note and (counts > 1).any() else "")
        )


def load_dataset(
    source: str = "bundled",
    *,
    split: str = "test",
    variant: Literal["normal", "filtered"] | str = "normal",
    text_column: str = "text",
    label_column: str = "labels",
    label_names: Sequence[str] | None = None,
    label_format: Literal["auto", "names", "indices", "onehot"] | str = "auto",
    pair_column: str | None = None,
    relevant_grade: float | None = None,
) -> Dataset:
    """Load ``source`` (see the module doc) as a :class:`Dataset`, then apply ``variant``; with
    ``pair_column``, each row's text and that column's as a sentence pair (data.pairs); with
    ``relevant_grade``, a one-label model's label column holds graded relevance, a row relevant from
    that grade on."""
    if label_format not in LABEL_FORMATS:
        raise GateError(f"unknown label format {label_format!r}; use one of: {', '.join(LABEL_FORMATS)}")
    if variant not in VARIANTS:
        raise GateError(f"unknown dataset variant {variant!r}; use one of: {', '.join(VARIANTS)}")
    if source == SENTIMENT_SOURCE:
        ds = to_sentiment(load_dataset("bundled", split=split), label_names)
        return apply_variant(replace(ds, name=f"{SENTIMENT_SOURCE}:{split}"), variant)
    read_as: tuple[Stamp, ...] = ()
    if source == "bundled":
        table = read_json(bundled_path(split))
        name = f"bundled:{split}"
    elif source.startswith("hf:"):
        table = read_hub(source[3:], split)
        name = f"{source}[{split}]"
    else:
        path = Path(source).expanduser()
        read_as = stamps([path]) if path.is_file() else ()  # before it is read
        table = read_path(path, split)
        name = table.where
    table = expanded(table)  # reranking samples: one row a (query, passage) pair
    if table.relevance is not None and relevant_grade is not None:
        raise GateError(f"{table.where} holds reranking samples, whose lists of passages give each pair a "
                        f"0/1 flag, not a grade: leave relevant-grade ({relevant_grade:g}) out")
    own = table.class_names.get(label_column)
    if label_names is not None:
        names = tuple(str(x) for x in label_names)
        # the model's labels in another order: its ids are its ClassLabel's, read as names (walk AO:
        # alphabetical ids misread, PASS); other names (a LABEL_0, LABEL_1 model) keep the ids' positions
        if own and list(own) != list(names) and {n.lower() for n in own} == {n.lower() for n in names}:
            table = _ids_as_names(table, label_column, own)
            label_format = "names"  # its ids are its names now, whatever the cells were said to be
    else:
        names = tuple(own or GO_EMOTIONS_LABELS)
    if own and label_format == "auto" and any(INTEGER.match(str(n)) for n in own):
        label_format = "indices"  # a ClassLabel column holds ids: with names that are numbers, never names
    if not names or len(set(names)) != len(names):
        raise GateError(f"label names must be non-empty and unique, got {listed(names)}")
    ds = _build(table, name, text_column, label_column, names, label_format, relevant_grade)
    if pair_column is not None:
        if pair_column in (text_column, label_column):  # (it is there: "has no column X" read as a lie)
            role = "text (text-column)" if pair_column == text_column else "labels (label-column)"
            others = [c for c in table.columns if c not in (text_column, label_column)]
            raise GateError(f"pair-column {pair_column!r} is {table.where}'s {role}, not a second text "
                            "beside them (labels fed as a text would hand the model its answers): name "
                            f"another of its columns, {listed(others)}")
        if pair_column not in table.columns:
            raise GateError(f"{table.where} has no second text column {pair_column!r} (pair-column) beside "
                            f"the text {text_column!r} and the labels {label_column!r}; columns present: "
                            f"{listed(table.columns)}")
        ds = replace(ds, texts=tuple((first, table.text(i, pair_column))
                                     for i, first in enumerate(ds.single_texts)))
    partner = pair_column or pair_partner(text_column, table.columns)
    return apply_variant(replace(ds, read_as=read_as, pair_column=partner), variant)


def _ids_as_names(table: Table, column: str, names: Sequence[str]) -> Table:
    """`table` with its label ids in `column` (one, or a list) replaced by the ClassLabel names they
    stand for, so they are matched to the model's labels by name, whatever order each keeps."""
    def name(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            return names[value]
        if isinstance(value, (list, tuple)):
            return [name(v) for v in value]
        return value

    rows = [{**row, column: name(row.get(column))} if column in row else row for row in table.rows]
    return replace(table, rows=rows)


def load_texts(path: Path, *, pairs: bool = False) -> Dataset:
    """A text file, one text per line (blank lines skipped), as a Dataset without labels; with
    `pairs` (a sentence-pair model: `pair-column` set), one pair per line, its two texts split by a
    tab (data.pairs.FILE_PAIR_SEPARATOR).

    For parity checks alone: every backend is judged against the torch reference on these
    texts; nothing that needs gold labels (F1, accuracy) can run.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise GateError(f"texts file {path} does not exist; pass a text file with one text per line")
    read_as = stamps([path])  # before it is read
    lines = [line for line in text_lines(read_text(path)) if line.strip()]
    texts: tuple[Text, ...] = tuple(line.strip() for line in lines)
    if not texts:
        raise GateError(f"texts file {path} holds no text; write one text per line")
    table = path.suffix.lower() in READERS and not (pairs and path.suffix.lower() == ".tsv")  # (pairs: a TSV)
    if table or _json_object(str(texts[0])):  # its rows would be fed as texts
        kind = f"a {path.suffix} file" if table else "JSON rows"
        pairs_too = (" (a sentence-pair model's, one pair a line split by a tab, with `pair-column` set)"
                     if path.suffix.lower() == ".tsv" else "")
        raise GateError(f"texts file {path} is a dataset ({kind}), not plain text: texts (--gate-texts, "
                        f"export's --texts) are one text per line{pairs_too}, judged on parity alone; a "
                        "labelled dataset is --gate-dataset (`dataset` in [tool.encoder-gate], export's "
                        "--dataset)")
    if pairs:
        texts = tuple(split_pair(line, f"{path}:{n}") for n, line in enumerate(lines, 1))
    return Dataset(str(path), texts, np.zeros((len(texts), 0), dtype=np.uint8), (), read_as=read_as,
                   pair_column=FILE_PAIR_COLUMN if pairs else None)


def _json_object(line: str) -> bool:
    """Whether a line is a JSON object (a JSON Lines dataset's row)."""
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# --- building -------------------------------------------------------------------------------


def _build(
    table: Table, name: str, text_column: str, label_column: str, names: tuple[str, ...], fmt: str,
    relevant_grade: float | None = None,
) -> Dataset:
    if not table.rows:
        raise GateError(f"{table.where} has no rows; pass a dataset with at least one labelled text")
    if table.relevance is not None and not {text_column, label_column} <= set(table.columns):
        raise GateError(f"{table.where} holds reranking samples, read as one row a pair of the columns "
                        f"{QUERY!r}, {PASSAGE!r} and {RELEVANT!r}, not {text_column!r} and {label_column!r}: "
                        f"set text-column = \"{QUERY}\", pair-column = \"{PASSAGE}\" and label-column = "
                        f"\"{RELEVANT}\" in [tool.encoder-gate] (encoder-gate init --dataset writes them; "
                        "pytest's --gate-text-column, --gate-pair-column, --gate-label-column)")
    if text_column not in table.columns:
        raise GateError(
            f"{table.where} has no text column {text_column!r}; columns present: "
            f"{listed(table.columns)}; choose the text column: text-column in [tool.encoder-gate] "
            "(or pytest's --gate-text-column, encoder-gate export's --text-column)"
        )
    texts = tuple(table.text(i, text_column) for i in range(len(table.rows)))
    read = read_labels(table, label_column, names, fmt, relevant_grade)
    samples = tuple(table.row_numbers) if table.relevance is not None else None  # (data.samples)
    return Dataset(name, texts, read.labels, names, relevance=read.relevance or table.relevance,
                   grades=read.grades, samples=samples)
