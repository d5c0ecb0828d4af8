"""What `encoder-gate export` scores its variants on, and where it decides: the options given, else the
project's [tool.encoder-gate] (its `texts` or `dataset` with their columns, its `max-tokens`, and its
`thresholds` where its model is the one exported), as the gate reads them.

    request = ExportRequest(model=..., out=..., **project_data(dataset, texts, ..., Path.cwd(), model=...))
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from encoder_gate.accuracy.thresholds import described, read_setting
from encoder_gate.config import DEFAULT_LABEL_COLUMN, DEFAULT_TEXT_COLUMN, read_pyproject_table
from encoder_gate.errors import GateError


def project_data(dataset: str | None, texts: str | None, text_column: str | None, label_column: str | None,
                 root: Path, pair_column: str | None = None, max_tokens: int | None = None,
                 model: str | None = None, relevant_grade: float | None = None) -> dict[str, Any]:
    """The evaluation data `encoder-gate export` scores on, as ExportRequest's fields: --dataset (with the
    column options) or --texts, as given; with neither, the project's [tool.encoder-gate]
    (root/pyproject.toml): its `texts` (which the gate reads before its `dataset`), else its `dataset`
    with its `text-column`, `label-column` and `pair-column`, said in a line (and its `max-tokens`, the
    most tokens of a text the gate feeds, unless --max-tokens), the options still overriding the
    columns and its `relevant-grade` (--relevant-grade overriding it); else none of them (the bundled test
    split, scored where its labels fit the model). And the table's `thresholds`, where its model is
    `model` (`_thresholds`)."""
    if texts is not None:  # (--pair-column: a pair model's, each line's two texts split by a tab)
        if text_column or label_column:
            raise GateError("--text-column and --label-column name a dataset's columns, and --texts is a "
                            "text file, one text per line: leave them out")
        if relevant_grade is not None:
            raise GateError("--relevant-grade reads a dataset's grades of relevance, and --texts holds no "
                            "labels: leave it out")
        given = {k: v for k, v in (("max_tokens", max_tokens), ("pair_column", pair_column)) if v}
        return {"dataset": dataset, "texts": Path(texts), **given}  # (both: ExportRequest.check refuses)
    try:
        table = read_pyproject_table(root)
    except GateError:
        if dataset is None:
            raise
        table = {}  # --dataset given: a pyproject it cannot read has nothing to add (review AK)
    where = f"from [tool.encoder-gate] in {root / 'pyproject.toml'}"
    served = _thresholds(table, model, root, where)
    most = max_tokens or table.get("max-tokens")
    if most is not None and (not isinstance(most, int) or isinstance(most, bool)):
        raise GateError(f"max-tokens in [tool.encoder-gate] must be an integer, got {most!r}")
    fed = {"max_tokens": most} if most else {}
    if dataset is None and table.get("texts"):
        paired = {"pair_column": str(table["pair-column"])} if table.get("pair-column") else {}
        print(f"evaluation data: {table['texts']} (unlabelled texts, one "
              f"{'pair a line, split by a tab' if paired else 'per line'}: parity only), {where}; --dataset "
              "or --texts overrides it")
        return {"texts": Path(str(table["texts"])), **fed, **paired, **served}  # (root: the working dir)
    declared = table.get("dataset")
    ours = declared not in (None, "", "bundled")  # bundled: export's default
    from_table = dataset is None and ours
    if from_table:
        dataset = str(declared)
    # the project's data (or --dataset naming its own file: walk AI, refused for a text column 'text'
    # beside [tool.encoder-gate]'s text-column = "message"): its columns are the project's
    if ours and dataset is not None and _same_source(dataset, str(declared), root):
        text_column = text_column or table.get("text-column")
        label_column = label_column or table.get("label-column")
        pair_column = pair_column or table.get("pair-column")
        if relevant_grade is None and (grade := table.get("relevant-grade")) is not None:
            if isinstance(grade, bool) or not isinstance(grade, (int, float)):
                raise GateError(f"relevant-grade in [tool.encoder-gate] must be a number, got {grade!r}")
            relevant_grade = grade
    if from_table:
        said = (f"text {text_column or DEFAULT_TEXT_COLUMN!r}"
                + (f" paired with {pair_column!r}" if pair_column else "")
                + f", labels {label_column or DEFAULT_LABEL_COLUMN!r}"
                + (f", relevant from grade {relevant_grade:g}" if relevant_grade is not None else ""))
        print(f"evaluation data: {dataset} ({said}), {where}; --dataset or --texts overrides it")
    columns = {k: str(v) for k, v in (("text_column", text_column), ("label_column", label_column),
                                      ("pair_column", pair_column)) if v}
    graded = {"relevant_grade": relevant_grade} if relevant_grade is not None else {}
    return {"dataset": dataset, **columns, **graded, **fed, **served}


def _thresholds(table: Mapping[str, Any], model: str | None, root: Path, where: str) -> dict[str, Any]:
    """The project's `thresholds` as ExportRequest's field, where the table's model is the one exported
    (the service's thresholds, or "tuned", judged at as the gate judges: the card's F1, flips and
    per-label figures), said in a line; {} at 0.5 (the table sets none, or names another model: said)."""
    setting = table.get("thresholds", "fixed")
    if setting == "fixed":
        return {}
    declared = table.get("model")
    if model is not None and declared is not None and not _same_source(model, str(declared), root):
        print(f"decision threshold: 0.5 for every label; the thresholds {where} are its model's "
              f"({declared}), not {model}'s")
        return {}
    read = read_setting(setting, root)
    print(f"decision thresholds: {described(read)}, {where}: the card's F1 and flips are judged there")
    return {"thresholds": read}


def _same_source(given: str, declared: str, root: Path) -> bool:
    """Whether two dataset names are one source: equal names (`hf:org/name`), or paths (from `root`,
    `~` expanded) to one file or `save_to_disk` directory."""
    if given == declared:
        return True
    try:  # (~nosuchuser: no home to expand; a directory it may not read)
        paths = [p if p.is_absolute() else root / p
                 for p in (Path(given).expanduser(), Path(declared).expanduser())]
        return all(p.exists() for p in paths) and paths[0].samefile(paths[1])
    except (OSError, RuntimeError):
        return False
