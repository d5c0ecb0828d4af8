"""Reading a dataset's raw rows: JSON lines or a JSON array, CSV, parquet, a directory saved by
``datasets``, or a Hugging Face Hub dataset, into one :class:`Table` (the rows plus what an error
message needs to point at one). :mod:`encoder_gate.data.datasets` builds a Dataset from it.
``pyarrow`` and ``datasets`` are imported lazily."""

from __future__ import annotations

import ast
import contextlib
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError

READERS = {".jsonl": "json", ".ndjson": "json", ".json": "json", ".csv": "csv", ".tsv": "csv",
           ".parquet": "parquet"}
#: The readable files' suffixes as a sentence names them: ".jsonl/.ndjson/.json/.csv/.tsv/.parquet".
SUFFIXES = "/".join(READERS)


def one_file(source: str) -> bool:
    """Whether a dataset source names one file by its suffix: it has no splits, and its notes name none
    (a verdict said "split test" of a jsonl file)."""
    return Path(source).suffix.lower() in READERS


#: How each table of text files splits a row's cells: a CSV's commas (quoted as RFC 4180 quotes them), a
#: TSV's tabs (unquoted, as GLUE and MS MARCO write them: a text's quote characters are its own).
DIALECTS: dict[str, dict[str, Any]] = {".csv": {}, ".tsv": {"delimiter": "\t", "quoting": csv.QUOTE_NONE}}


@dataclass
class Table:
    """Raw rows of one source plus what error messages need to point at a row."""

    where: str
    columns: list[str]
    rows: list[dict[str, Any]]
    row_numbers: list[int]
    unit: str = "row"
    class_names: dict[str, list[str]] = field(default_factory=dict)
    #: How its rows' relevance flags were read where they are not its own cells (data.samples: a
    #: reranking sample's lists of passages, one row each); None for rows as the source holds them.
    relevance: str | None = None

    def at(self, i: int) -> str:
        return f"{self.where}, {self.unit} {self.row_numbers[i]}"

    def text(self, i: int, column: str) -> str:
        """Row *i*'s text in *column*: a string (empty allowed), or an error naming the row."""
        value = self.rows[i].get(column)
        if value is None:
            raise GateError(
                f"{self.at(i)}: the text ({column!r}) is missing or null; give every row a string "
                "(an empty string is allowed) or drop the row"
            )
        if not isinstance(value, str):
            raise GateError(f"{self.at(i)}: the text ({column!r}) must be a string, got {shown(value)}")
        return value


def shown(value: Any, n: int = 60) -> str:
    """A cell's repr for an error message, cut to *n* characters."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def list_in_text(text: str) -> list[Any]:
    """The list a table's cell holds written as text: JSON (`["a", "b"]`), or Python's, as pandas'
    `to_csv` writes a list column (`['a', 'b']`); ValueError, saying why, where it is neither."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"neither JSON, {exc.msg}, nor a Python list") from None
    if not isinstance(parsed, list):
        raise ValueError(f"a JSON {type(parsed).__name__}, not a list")
    return parsed


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(k for k in row if isinstance(k, str)))
    return list(seen)


def read_path(path: Path, split: str) -> Table:
    if not path.exists():
        raise GateError(
            f"dataset file {path} does not exist; pass an existing {SUFFIXES} file, "
            "a datasets save_to_disk directory, 'bundled' or 'hf:<dataset id>'"
        )
    if path.is_dir():
        return read_saved(path, split)
    kind = READERS.get(path.suffix.lower())
    if kind == "json":
        return read_json(path)
    if kind == "csv":
        return read_csv(path)
    if kind == "parquet":
        return read_parquet(path)
    raise GateError(
        f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {', '.join(READERS)}, or a "
        "directory written by datasets' save_to_disk"
    )


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GateError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from exc


def text_lines(text: str) -> list[str]:
    """The lines of a file read with universal newlines: split at line feeds alone. str.splitlines()
    also splits at U+2028, U+0085 and form feeds, which a text (and a JSON string written with
    ensure_ascii=False) may hold: one row became two, or two malformed JSON lines."""
    return text.split("\n")


def read_json(path: Path) -> Table:
    """JSON lines (one object per line); a ``.json`` file may also hold one array of objects."""
    text = read_text(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            whole = json.loads(text)
            if isinstance(whole, dict) and whole and all(isinstance(v, list) for v in whole.values()):
                raise GateError(f"{path} holds one list per column ({', '.join(map(str, whole))}): give one "
                                "row per text, as JSON lines ({\"text\": ..., \"labels\": [...]} a line) or "
                                "one array of such objects (pandas: df.to_json(path, orient=\"records\", "
                                "lines=True))")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GateError(f"{path}, line {exc.lineno}: invalid JSON ({exc.msg}); fix the file") from exc
        for i, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise GateError(f"{path}, item {i}: expected a JSON object with the text and labels")
        return Table(str(path), columns_of(items), items, list(range(1, len(items) + 1)), "item")
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for lineno, line in enumerate(text_lines(text), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GateError(
                f"{path}, line {lineno}: malformed JSON ({exc.msg}); each line must be one JSON object "
                'such as {"text": "...", "labels": ["joy"]}'
            ) from exc
        if not isinstance(obj, dict):
            raise GateError(f"{path}, line {lineno}: expected a JSON object, got {type(obj).__name__}")
        rows.append(obj)
        numbers.append(lineno)
    return Table(str(path), columns_of(rows), rows, numbers, "line")


def table_reader(fh: Any, suffix: str) -> csv.DictReader[str]:
    """A CSV's or TSV's rows (`suffix`'s dialect), a cell as long as a document may be: the csv module's
    default limit of 131,072 characters a field stopped a long-context set at its first long text."""
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    return csv.DictReader(fh, **DIALECTS.get(suffix, {}))


def read_csv(path: Path) -> Table:
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = table_reader(fh, path.suffix.lower())
        try:
            for row in reader:
                if any(str(v).strip() for v in row.get(None) or ()):  # more fields than the header (not
                    # a trailing empty one): DictReader keeps them apart, and the
                    # labels after a first one, unquoted, were dropped without a word (walk AO)
                    header = list(reader.fieldnames or ())
                    fields = len(header) + len(row[None])
                    fix = ("a text holding a tab breaks a TSV's columns: replace it, or write the file as "
                           "JSON lines" if path.suffix.lower() == ".tsv" else
                           "a cell holding commas must be quoted (\"joy,love\"), or separate the labels with "
                           "';' (joy;love)")
                    raise GateError(
                        f"{path}, line {reader.line_num}: {fields} fields, but the header has {len(header)} "
                        f"({', '.join(header)}): {fix}")
                rows.append({k: v for k, v in row.items() if k is not None})
                numbers.append(reader.line_num)
        except UnicodeDecodeError as exc:  # read in blocks: no line number tells where
            raise GateError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
                            "(e.g. from Latin-1: iconv -f latin1 -t utf-8)") from exc
        except csv.Error as exc:
            raise GateError(f"{path}, line {reader.line_num}: unreadable CSV ({exc}); fix the file") from exc
        columns = list(reader.fieldnames or [])
    return Table(str(path), columns, rows, numbers, "line")


def read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise GateError(f"reading {path} needs pyarrow: pip install pyarrow") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise GateError(f"{path} is not a readable Parquet file ({exc}); check the file") from exc
    rows = table.to_pylist()
    return Table(str(path), list(table.column_names), rows, list(range(1, len(rows) + 1)))


def import_datasets(what: str) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise GateError(f"{what} needs the Hugging Face datasets package: pip install datasets") from exc
    return datasets


def read_saved(path: Path, split: str) -> Table:
    markers = ("state.json", "dataset_dict.json", "dataset_info.json")
    if not any((path / m).is_file() for m in markers):
        raise GateError(
            f"{path} is a directory but not one written by datasets' save_to_disk (no state.json or "
            f"dataset_dict.json); pass a {SUFFIXES} file or a save_to_disk directory"
        )
    datasets = import_datasets(f"loading {path}")
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise GateError(f"{path}: datasets could not load it ({exc}); re-save it with save_to_disk") from exc
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise GateError(f"{path} has splits {sorted(ds)} but not {split!r}; choose one of those splits")
        ds = ds[split]
    return from_hf(ds, str(path))


def read_hub(spec: str, split: str) -> Table:
    dataset_id, _, config = spec.partition(":")
    if not dataset_id:
        raise GateError("empty Hub dataset id; use hf:<dataset id> or hf:<dataset id>:<config>")
    datasets = import_datasets(f"loading hf:{spec}")
    try:
        ds = datasets.load_dataset(dataset_id, config or None, split=split)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"[:300]
        raise GateError(
            f"could not load {dataset_id!r} (split {split!r}) from the Hugging Face Hub: the hub is not "
            f"reachable or the dataset/split does not exist ({detail}); download it where the hub is "
            "reachable (save_to_disk or to_json) and pass the local path instead"
        ) from exc
    return from_hf(ds, f"hf:{spec}[{split}]")


def class_names_of(feature: Any) -> list[str] | None:
    """Names of a ClassLabel feature, also inside Sequence(...) or [ClassLabel]."""
    names = getattr(feature, "names", None)
    if isinstance(names, list) and names:
        return [str(x) for x in names]
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return class_names_of(inner)
    if isinstance(feature, list) and feature:
        return class_names_of(feature[0])
    return None


def from_hf(ds: Any, where: str) -> Table:
    rows = ds.to_list() if hasattr(ds, "to_list") else [ds[i] for i in range(len(ds))]
    features = getattr(ds, "features", None) or {}
    class_names = {k: n for k, f in features.items() if (n := class_names_of(f))}
    return Table(where, list(ds.column_names), rows, list(range(1, len(rows) + 1)), "row", class_names)
