"""Static INT8's calibration texts: the validation split of the configured dataset (never its test
split, the one the gate evaluates on), or the first lines of a calibration file of the user's own.

    source = CalibrationSource("data/nli", pair_column="hypothesis")
    texts, where = source()      # (("a man sleeps", "a man is awake"), ...), "data/nli[validation] (...)"

A sentence-pair model (`pair-column`) calibrates on pairs, as the gate then feeds and judges it: the
second text's segment and the longer sequences enter the activation ranges. A calibration file then
holds one pair a line, its two texts split by a tab (data.pairs.FILE_PAIR_SEPARATOR).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from encoder_gate.data.datasets import (
    SENTIMENT_SOURCE,
    bundled_path,
    load_texts,
)
from encoder_gate.data.pairs import Text
from encoder_gate.data.readers import Table, from_hf, import_datasets, read_hub, read_json
from encoder_gate.errors import GateError

#: How many texts static INT8 calibrates on by default (one calibration run each).
CALIBRATION_TEXTS = 128
#: How a user names calibration texts of their own, in the export command and in the pytest gate.
CALIBRATION_FILE = ("give a text file with one calibration text per line (a sentence pair's two texts "
                    "split by a tab): `--calibration FILE` to `encoder-gate export --search`, "
                    "`calibration = \"FILE\"` in [tool.encoder-gate] (or --gate-calibration FILE) for "
                    "the gate")
#: What a dataset without a validation split gives up from its train split for calibration.
CARVED_FROM_TRAIN = "the last {n} texts of the train split (the source has no validation split)"


@dataclass(frozen=True)
class CalibrationSource:
    """Where static INT8's calibration texts come from, as a value a build process can be handed:
    the first `count` lines of the file `path`, else :func:`calibration_texts` of `dataset`'s
    validation split; each a pair of `text_column`'s and `pair_column`'s texts where that is set.
    Called, it reads them: (texts, where they come from)."""

    dataset: str
    count: int = CALIBRATION_TEXTS
    path: Path | None = None
    text_column: str = "text"
    pair_column: str | None = None

    def __call__(self) -> tuple[tuple[Text, ...], str]:
        if self.path is not None:
            lines = load_texts(self.path, pairs=self.pair_column is not None).texts
            picked = tuple(lines[:self.count])
            kind = "pairs" if self.pair_column is not None else "lines"
            return picked, f"{self.path} (first {len(picked)} of {len(lines)} {kind})"
        return calibration_texts(self.dataset, self.count, text_column=self.text_column,
                                 pair_column=self.pair_column)


def calibration_texts(source: str, n: int = CALIBRATION_TEXTS, *, text_column: str = "text",
                      pair_column: str | None = None) -> tuple[tuple[Text, ...], str]:
    """(texts, where they come from) for static quantization's calibration: the validation split of
    `source`, never its test split (the split the gate evaluates on); with `pair_column`, each row's
    text and that column's as a pair.

    `bundled` and `bundled-sentiment` (the same texts regrouped) read the bundled validation split;
    a save_to_disk directory its `validation` split, or, without one, the last `n` texts of its
    `train` split (said in the description). One file is one table with no splits: it is refused
    with the fix (a calibration file of its own), since any split of it could be the test texts.
    """
    if n <= 0:
        raise GateError(f"the number of calibration texts must be positive, got {n}")

    def picked(table: Table, rows: range) -> tuple[Text, ...]:
        if pair_column is None:
            return tuple(table.text(i, text_column) for i in rows)
        if pair_column not in table.columns:
            raise GateError(f"{table.where} has no second text column {pair_column!r} (pair-column) to "
                            f"calibrate static INT8 on pairs; {CALIBRATION_FILE}")
        return tuple((table.text(i, text_column), table.text(i, pair_column)) for i in rows)

    def first(table: Table) -> tuple[Text, ...]:
        return picked(table, range(min(n, len(table.rows))))

    if source in ("bundled", SENTIMENT_SOURCE):
        texts = read_json(bundled_path("validation"))
        got: tuple[Text, ...] = tuple(texts.text(i, "text") for i in range(min(n, len(texts.rows))))
        return got, f"{source}:validation (first {len(got)} of {len(texts.rows)} texts)"
    if source.startswith("hf:"):
        got = first(read_hub(source[3:], "validation"))
        return got, f"{source}[validation] (first {len(got)} {_kind(pair_column)})"
    path = Path(source).expanduser()
    if path.is_dir():
        datasets = import_datasets(f"loading {path}")
        try:
            saved = datasets.load_from_disk(str(path))
        except Exception as exc:
            raise GateError(f"{path}: datasets could not load it ({exc}); re-save it with "
                            "save_to_disk") from exc
        splits = sorted(saved) if isinstance(saved, datasets.DatasetDict) else []
        if "validation" in splits:
            got = first(from_hf(saved["validation"], f"{path}[validation]"))
            return got, f"{path}[validation] (first {len(got)} {_kind(pair_column)})"
        if "train" in splits:
            table = from_hf(saved["train"], f"{path}[train]")
            got = picked(table, range(max(0, len(table.rows) - n), len(table.rows)))
            return got, f"{path}: " + CARVED_FROM_TRAIN.format(n=len(got))
        raise GateError(f"{path} has splits {splits or ['(one unnamed split)']} but no validation or train "
                        f"split to calibrate static INT8 on (never the test split); {CALIBRATION_FILE}")
    raise GateError(f"dataset {source} is one file with no splits, so static INT8 cannot calibrate on its "
                    f"validation split (any part of it might be a test text); {CALIBRATION_FILE}, with no "
                    "test text among them")


def _kind(pair_column: str | None) -> str:
    return "texts" if pair_column is None else "pairs"
