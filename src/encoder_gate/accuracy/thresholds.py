"""The decision thresholds of a sigmoid (multi-label) classifier: where each label's probability
becomes a decision, which the task metrics (F1), the flips and the per-label check are judged at.

    thresholds = "fixed"                          # 0.5, the model card's (the default)
    thresholds = "tuned"                          # per label, tuned on the validation split
    thresholds = "thresholds.json"                # the ones the service uses: {"joy": 0.35, ...}
    [tool.encoder-gate.thresholds]                # or the same as a table
    joy = 0.35

A service that decides at thresholds of its own (per label, tuned once and shipped beside the model)
is judged at those: a backend's probability that moves across 0.35 changes that service's answer, and
one that moves across 0.5 may not. The table (or the file's object) names every label of the model
once; read into the configuration as a table, so a change of its values is a change of the pass
criteria (`config.PASS_CRITERIA`) whether it came in a file or not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from encoder_gate.errors import GateError, listed

ThresholdMode = Literal["fixed", "tuned"]
#: What `thresholds` holds once read: a mode, or each label's threshold.
Thresholds = ThresholdMode | Mapping[str, float]
MODES: tuple[str, ...] = get_args(ThresholdMode)
USAGE = ('thresholds (--gate-thresholds / thresholds in [tool.encoder-gate]) is "fixed" (0.5), "tuned" (per '
         "label, on the validation split), a JSON file of each label's threshold ({\"joy\": 0.35, ...}) or "
         "that table, [tool.encoder-gate.thresholds]")


def command_line_path(value: Any) -> Any:
    """A command line's thresholds file as an absolute path (from where pytest was started, as every
    path of the command line); a mode or a table as it is."""
    if isinstance(value, str) and value.strip() and value not in MODES:
        return str(Path(value).expanduser().absolute())
    return value


def read_setting(value: Any, root: Path) -> Thresholds:
    """The `thresholds` setting as the configuration holds it: a mode, or a table of label -> threshold
    (read from a JSON file, relative to the project's `root`, where a path is given). GateError for
    anything else, with the forms it takes."""
    if isinstance(value, str) and value in MODES:
        return value  # type: ignore[return-value]  # (one of ThresholdMode's)
    if isinstance(value, str):
        if not value.strip():
            raise GateError(f"thresholds is empty: {USAGE}")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise GateError(f"thresholds {value!r} is neither fixed nor tuned, nor a file ({path} does not "
                            f"exist): {USAGE}")
        return read_file(path)
    return _table(value, "[tool.encoder-gate.thresholds]")


def read_file(path: Path) -> dict[str, float]:
    """A JSON file's table of label -> threshold, checked as the setting's (`read_setting`)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GateError(f"thresholds file {path} is not readable JSON ({exc}): {USAGE}") from None
    return _table(value, f"thresholds file {path}")


def _table(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise GateError(f"{where} must name labels and their thresholds, got {str(value)[:80]}: {USAGE}")
    table: dict[str, float] = {}
    for label, cut in value.items():
        if isinstance(cut, Mapping):  # `a.b = 0.3` in TOML is a table a holding b
            raise GateError(f"{where}: {label!r} holds a table ({cut!r}), not a threshold: a label name "
                            f"with a dot is quoted in TOML (\"{label}.{next(iter(cut), '')}\" = ...)")
        if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not 0 < cut < 1 or math.isnan(cut):
            raise GateError(f"{where}: the threshold of {label!r} must be a probability strictly between 0 "
                            "and 1 (a sigmoid output is decided by p >= threshold; one on the logit, t, is "
                            f"1 / (1 + exp(-t)) here), got {cut!r}")
        table[str(label)] = float(cut)
    return table


def per_label(table: Mapping[str, float], label_names: Sequence[str]) -> np.ndarray:
    """`table`'s thresholds in the model's label order; GateError naming each label it lacks, and each
    it names that the model has not (a label renamed since, or the thresholds of another model)."""
    missing = [n for n in label_names if n not in table]
    unknown = [n for n in table if n not in label_names]
    if missing or unknown:
        said = [f"no threshold for {listed(missing, 8)}"] if missing else []
        if unknown:
            said.append(f"{listed(unknown, 8)} {'is' if len(unknown) == 1 else 'are'} no label of the model")
        raise GateError(f"thresholds: {'; '.join(said)}. Name each of the model's {len(label_names)} labels "
                        f"once (its id2label: {listed(list(label_names))})")
    return np.array([table[n] for n in label_names], dtype=np.float64)


def check_setting(setting: Thresholds, model: Any, *, labelled: bool, one_file: str | None) -> None:
    """A GateError, at the session's start, for thresholds the session could not decide at: tuned
    without labelled validation texts (`texts`; `one_file`, a dataset of one file with no splits, any
    part of which might be a test text), or a table that does not name the labels of `model` (a
    ModelSpec), or that a softmax head, deciding by argmax, would ignore."""
    if isinstance(setting, Mapping):
        if not model.task.thresholded:
            decides = "decides by argmax" if model.task.classifier else "makes no decisions"
            raise GateError(f"thresholds name each label's threshold, and model {model.name} is a "
                            f"{model.task.noun}, which {decides}: leave thresholds out")
        per_label(setting, model.label_names)
        return
    if setting != "tuned" or not model.task.thresholded:
        return
    if not labelled:
        raise GateError('thresholds = "tuned" tunes on labelled validation texts, and --gate-texts has '
                        'no labels: use thresholds = "fixed"')
    if one_file is not None:
        raise GateError(f'thresholds = "tuned" tunes on the validation split, and dataset {one_file} is '
                        "one file with no splits (any part of it might be a test text): use thresholds = "
                        '"fixed", the thresholds your service uses (a table, or a JSON file of them), or a '
                        "dataset with a validation split (a save_to_disk directory)")


def described(setting: Thresholds) -> str:
    """How each label's threshold was set, as accuracy.json's `threshold` says it where not 0.5 (tuned,
    or as configured)."""
    if isinstance(setting, Mapping):
        low, high = min(setting.values()), max(setting.values())
        if low == high:
            return f"{low:g} for every label, as configured (`thresholds`)"
        return f"per label as configured (`thresholds`): {low:g} to {high:g} over {len(setting)} labels"
    return "tuned per label on validation"


def judged_at_note(setting: Thresholds) -> str | None:
    """The verdict's line on where decisions were made, when not at 0.5 (None at 0.5)."""
    if setting == "fixed":
        return None
    flips = ", and the flips" if isinstance(setting, Mapping) else " (the flips at 0.5)"
    return (f"decisions at the threshold {described(setting)}, not 0.5: F1, its error bars, McNemar and the "
            f"per-label check are judged there{flips}")
