"""Datasets from Parquet files, `save_to_disk` directories and the Hugging Face Hub: read, or said why not."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.data.datasets import load_dataset
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.errors import GateError

IDX = {name: i for i, name in enumerate(GO_EMOTIONS_LABELS)}


def hot(*names: str) -> list[int]:
    row = [0] * len(GO_EMOTIONS_LABELS)
    for n in names:
        row[IDX[n]] = 1
    return row


# --- Parquet ----------------------------------------------------------------------------------


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    table = pa.table({"text": ["a", "b", "c"], "labels": [["joy"], ["anger", "fear"], []]})
    pq.write_table(table, path)
    ds = load_dataset(str(path))
    assert ds.labels.tolist() == [hot("joy"), hot("anger", "fear"), hot()]
    pq.write_table(pa.table({"text": ["a", None], "labels": [[1], [2]]}), path)
    with pytest.raises(GateError, match=r"d\.parquet, row 2: the text \('text'\) is missing or null"):
        load_dataset(str(path))


def test_parquet_indices_and_onehot_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a"], "labels": [[0, 5]]}), path)
    assert load_dataset(str(path)).labels.tolist() == [hot("admiration", "caring")]
    cols: dict[str, list[Any]] = {"text": ["a", "b"]}
    for name in GO_EMOTIONS_LABELS:
        cols[name] = [name == "joy", name == "love"]
    pq.write_table(pa.table(cols), path)
    assert load_dataset(str(path)).labels.tolist() == [hot("joy"), hot("love")]


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(GateError, match="pip install pyarrow"):
        load_dataset(str(path))


# --- Hugging Face datasets ----------------------------------------------------------------------


def test_save_to_disk_directory(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "labels": datasets.Sequence(datasets.ClassLabel(names=["no", "yes"])),
        }
    )
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["a"], "labels": [[1]]}, features=features),
            "test": datasets.Dataset.from_dict(
                {"text": ["b", "c"], "labels": [[0], [0, 1]]}, features=features
            ),
        }
    )
    dd.save_to_disk(str(tmp_path / "saved"))
    ds = load_dataset(str(tmp_path / "saved"), split="test")
    assert ds.label_names == ("no", "yes")  # taken from the ClassLabel feature
    assert ds.labels.tolist() == [[1, 0], [1, 1]]
    with pytest.raises(GateError, match=r"has splits \['test', 'train'\] but not 'validation'"):
        load_dataset(str(tmp_path / "saved"), split="validation")
    dd["train"].save_to_disk(str(tmp_path / "single"))
    assert load_dataset(str(tmp_path / "single")).labels.tolist() == [[0, 1]]



def test_a_saved_datasets_label_ids_are_its_classlabels_names_in_its_order(monkeypatch: pytest.MonkeyPatch):
    """Walk AO: a save_to_disk set whose ClassLabel names run alphabetically was read by the model's
    ids (go_emotions order): every support shifted, and a PASS. Its ids are its ClassLabel's,
    matched to the model's labels by name (the table as read_saved gives it, without datasets)."""
    import encoder_gate.data.datasets as data

    table = data.Table("saved", ["text", "labels"], [{"text": "b", "labels": [0]},
                                                      {"text": "c", "labels": [0, 1]}],
                        [1, 2], "row", {"labels": ["no", "yes"]})
    monkeypatch.setattr(data, "read_path", lambda path, split: table)
    ours = load_dataset("saved", label_names=("yes", "no"))
    assert ours.label_names == ("yes", "no") and ours.labels.tolist() == [[0, 1], [1, 1]]
    assert load_dataset("saved", label_names=("no", "yes")).labels.tolist() == [[1, 0], [1, 1]]
    # other names (a model of LABEL_0, LABEL_1): the ids keep their positions, as before (review AQ)
    assert load_dataset("saved", label_names=("LABEL_0", "LABEL_1")).labels.tolist() == [[1, 0], [1, 1]]


def test_directory_that_is_not_a_saved_dataset(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="not one written by datasets' save_to_disk"):
        load_dataset(str(tmp_path))


def test_saved_directory_without_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "state.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(GateError, match="pip install datasets"):
        load_dataset(str(tmp_path))


def test_hub_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("datasets")
    seen: list[Any] = []

    def load(*args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        raise ConnectionError("offline")

    fake.load_dataset = load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(GateError, match=r"hub is not reachable.*pass the local path"):
        load_dataset("hf:some-org/emotions:simplified", split="validation")
    assert seen == [(("some-org/emotions", "simplified"), {"split": "validation"})]


def test_hub_without_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(GateError, match="pip install datasets"):
        load_dataset("hf:some-org/emotions")
