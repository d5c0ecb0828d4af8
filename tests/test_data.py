"""Self-tests of encoder_gate.data.datasets: every source format, label format, variant and error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.data.datasets import (
    FILTERED_MIN_CHARS,
    Dataset,
    apply_variant,
    bundled_path,
    check_labels_match,
    load_dataset,
    load_texts,
)
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.errors import GateError

IDX = {name: i for i, name in enumerate(GO_EMOTIONS_LABELS)}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def hot(*names: str) -> list[int]:
    row = [0] * len(GO_EMOTIONS_LABELS)
    for n in names:
        row[IDX[n]] = 1
    return row


# --- bundled ----------------------------------------------------------------------------------


@pytest.mark.parametrize("split, size", [("train", 3000), ("validation", 500), ("test", 1200)])
def test_bundled_splits_load(split: str, size: int) -> None:
    ds = load_dataset("bundled", split=split)
    assert ds.name == f"bundled:{split}"
    assert len(ds) == size
    assert ds.labels.shape == (size, 28)
    assert ds.labels.dtype == np.uint8
    assert ds.label_names == GO_EMOTIONS_LABELS
    assert ds.variant == "normal"
    assert ds.labels.sum(axis=1).min() >= 1


def test_bundled_path_is_package_data() -> None:
    path = bundled_path("test")
    assert path.is_file()
    assert path.parent.name == "data_files"
    assert path.parent.parent.name == "encoder_gate"


def test_bundled_unknown_split() -> None:
    with pytest.raises(GateError, match=r"unknown bundled split 'dev'.*train, validation, test"):
        load_dataset("bundled", split="dev")


def test_bundled_filtered_variant() -> None:
    ds = load_dataset(variant="filtered")
    assert ds.variant == "filtered"
    assert all(len(t) > FILTERED_MIN_CHARS for t in ds.texts)
    assert 0 < len(ds) < 1200
    assert ds.labels.sum(axis=0).min() >= 1  # every label present in the filtered set


# --- Dataset ----------------------------------------------------------------------------------


def small() -> Dataset:
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.uint8)
    return Dataset("mem", ("a" * 10, "b" * 201, "c" * 200, "d" * 300), labels, ("x", "y"))


def test_dataset_basics() -> None:
    ds = small()
    assert len(ds) == 4
    sub = ds.subset([3, 0])
    assert sub.texts == ("d" * 300, "a" * 10)
    assert sub.labels.tolist() == [[0, 0], [1, 0]]
    assert ds.subset(np.array([True, False, False, True])).texts == (ds.texts[0], ds.texts[3])
    assert ds.head(2).texts == ds.texts[:2]
    assert len(ds.head(99)) == 4
    assert len(ds.head(0)) == 0
    with pytest.raises(ValueError):
        ds.labels[0, 0] = 5  # read-only
    with pytest.raises(ValueError, match="shape"):
        Dataset("bad", ("a",), np.zeros((2, 2)), ("x", "y"))


def test_dataset_copies_labels() -> None:
    raw = np.zeros((1, 2), dtype=np.uint8)
    ds = Dataset("m", ("t",), raw, ("x", "y"))
    raw[0, 0] = 1
    assert ds.labels[0, 0] == 0


def test_apply_variant() -> None:
    ds = small()
    assert apply_variant(ds, "normal") is ds
    filtered = apply_variant(ds, "filtered")
    assert filtered.texts == ("b" * 201, "d" * 300)  # exactly 200 characters is excluded
    assert filtered.variant == "filtered"
    assert filtered.labels.tolist() == [[0, 1], [0, 0]]
    with pytest.raises(GateError, match="unknown dataset variant 'short'"):
        apply_variant(ds, "short")


def test_apply_variant_empty_result() -> None:
    ds = Dataset("tiny.jsonl", ("short text",), np.ones((1, 1)), ("x",))
    with pytest.raises(GateError, match=r"tiny\.jsonl.*longer than 200.*'normal' variant"):
        apply_variant(ds, "filtered")


# --- JSON lines / JSON ------------------------------------------------------------------------


def test_jsonl_label_formats(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "1", "text": "names", "labels": ["joy", "love"]},
            {"id": "2", "text": "indices", "labels": [0, 27]},
            {"id": "3", "text": "single name", "labels": "anger"},
            {"id": "4", "text": "single index", "labels": 3},
            {"id": "5", "text": "", "labels": []},
            {"id": "6", "text": "case and digits", "labels": ["Joy", "2"]},
        ],
    )
    ds = load_dataset(str(path))
    assert ds.name == str(path)
    assert ds.texts[4] == ""  # empty text is allowed
    assert ds.labels.tolist() == [
        hot("joy", "love"),
        hot("admiration", "neutral"),
        hot("anger"),
        hot("annoyance"),
        hot(),
        hot("joy", "anger"),
    ]


def test_jsonl_skips_blank_lines_and_reports_real_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "labels": ["joy"]}\n\n{"text": "b", "labels": ["nope"]}\n')
    with pytest.raises(GateError, match=r"d\.jsonl, line 3: unknown label name 'nope'"):
        load_dataset(str(path))


def test_a_model_with_placeholder_labels_says_to_name_them_in_its_config(tmp_path: Path) -> None:
    """A head trained without label names has transformers' LABEL_0..LABEL_N-1; a dataset of names
    against it said "fix the label, or gate the model this dataset was labelled for". It says what the
    placeholders are and both fixes."""
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "labels": ["billing"]}\n')
    said = (r"d\.jsonl, line 1: unknown label name 'billing'; the model's labels are transformers' "
            r"placeholders LABEL_0 to LABEL_2 .*id2label and label2id .*label-format = \"indices\"")
    with pytest.raises(GateError, match=said):
        load_dataset(str(path), label_names=("LABEL_0", "LABEL_1", "LABEL_2"))


def test_a_csv_of_python_lists_as_pandas_writes_them_is_read(tmp_path: Path) -> None:
    """pandas' to_csv writes a list column as Python's repr, ['billing', 'bug']: refused as "malformed
    JSON label list (Expecting value)". It is read as the list it is; a cell that is neither is refused."""
    path = tmp_path / "d.csv"
    path.write_text("text,labels\na,\"['billing', 'bug']\"\nb,[]\nc,\"[\"\"spam\"\"]\"\n")
    read = load_dataset(str(path), label_names=("billing", "bug", "spam"))
    assert read.labels.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    path.write_text("text,labels\na,billing|bug\nb,spam\n")  # a pipe between names, as ; and , are
    assert load_dataset(str(path), label_names=("billing", "bug", "spam")).labels.tolist() == [[1, 1, 0],
                                                                                              [0, 0, 1]]
    path.write_text("text,labels\na,\"['billing', \"\n")
    with pytest.raises(GateError, match=r"line 2, column 'labels': malformed label list .* nor a Python "):
        load_dataset(str(path), label_names=("billing", "bug", "spam"))


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": "a", "labels": ["joy"]}, {"text": "b", "labels": [1]}]))
    ds = load_dataset(str(path))
    assert ds.labels.tolist() == [hot("joy"), hot("amusement")]


def test_json_array_bad_item(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": "a", "labels": []}, ["x"]]))
    with pytest.raises(GateError, match=r"d\.json, item 2: expected a JSON object"):
        load_dataset(str(path))


def test_onehot_vectors_in_label_column(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"text": "a", "labels": hot("joy")}, {"text": "b", "labels": hot("fear", "grief")}],
    )
    for fmt in ("auto", "onehot"):
        ds = load_dataset(str(path), label_format=fmt)
        assert ds.labels.tolist() == [hot("joy"), hot("fear", "grief")]


def test_a_onehot_vector_of_the_wrong_width_is_an_error_not_a_list_of_indices(tmp_path: Path) -> None:
    """One row of 27 values among 28-wide vectors made every row a list of indices {0, 1}: F1 on
    labels no one gave, and a PASS (walk A). A list naming a label twice is no list of labels."""
    rows = [{"text": "a", "labels": hot("joy")}, {"text": "b", "labels": hot("fear")[:-1]}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(GateError, match=r"line 1: 'labels' holds \[0, 0, .*, which names label "
                                        r"'admiration' more than once: a one-hot vector needs exactly 28 "
                                        r"0/1 values"):
        load_dataset(str(path))
    path = write_jsonl(tmp_path / "e.jsonl", [{"text": "a", "labels": ["joy", "JOY"]}])
    with pytest.raises(GateError, match=r"names label 'joy' more than once: a list of labels names each"):
        load_dataset(str(path))
    assert load_dataset(str(write_jsonl(tmp_path / "f.jsonl", [{"text": "a", "labels": [0, 1]}]))).labels[
        0, :2].tolist() == [1, 1]  # indices 0 and 1, each once: admiration and amusement


def test_onehot_columns_auto_and_explicit(tmp_path: Path) -> None:
    rows = []
    for text, names in (("a", ("joy",)), ("b", ("anger", "neutral"))):
        row: dict[str, Any] = {"text": text}
        row.update(zip(GO_EMOTIONS_LABELS, hot(*names), strict=True))
        rows.append(row)
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    assert load_dataset(str(path)).labels.tolist() == [hot("joy"), hot("anger", "neutral")]
    # explicit one-hot ignores the label column even when it exists
    for row in rows:
        row["labels"] = ["love"]
    path = write_jsonl(tmp_path / "e.jsonl", rows)
    ds = load_dataset(str(path), label_format="onehot")
    assert ds.labels.tolist() == [hot("joy"), hot("anger", "neutral")]


def test_custom_columns_and_label_names(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"body": "a", "tags": ["pos"]}, {"body": "b", "tags": [0, 1]}],
    )
    ds = load_dataset(str(path), text_column="body", label_column="tags", label_names=["neg", "pos"])
    assert ds.label_names == ("neg", "pos")
    assert ds.labels.tolist() == [[0, 1], [1, 1]]


def test_explicit_formats_are_strict(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "labels": [3]}])
    with pytest.raises(GateError, match="line 1: expected label names but got the index 3"):
        load_dataset(str(path), label_format="names")
    path = write_jsonl(tmp_path / "e.jsonl", [{"text": "a", "labels": ["joy"]}])
    with pytest.raises(GateError, match="line 1: expected integer label indices but got 'joy'"):
        load_dataset(str(path), label_format="indices")
    assert load_dataset(str(path), label_format="names").labels.tolist() == [hot("joy")]


def test_labels_named_by_numbers_are_never_shifted_a_class(tmp_path: Path) -> None:
    """A 1-to-5 stars model (id2label '1'..'5') and data labelled "1".."4": each number was read as an
    index, so every gold label moved up a class (support of '5' from data holding none), PASS. A
    number that names one label and indexes another is refused in format 'auto', saying how to tell;
    'names' and 'indices' read it one way; a number only one reading fits is read that way."""
    stars = ["1", "2", "3", "4", "5"]
    rows = [{"text": f"t{i}", "label": str(1 + i % 4)} for i in range(8)]
    path = write_jsonl(tmp_path / "stars.jsonl", rows)
    with pytest.raises(GateError, match=r"line 1: the label '1' could be the label named '1' \(index 0\) or "
                                        r"the label at index 1 \(named '2'\).*label-format = \"names\" or "
                                        r"\"indices\" in \[tool.encoder-gate\]"):
        load_dataset(str(path), label_column="label", label_names=stars)
    named = load_dataset(str(path), label_column="label", label_names=stars, label_format="names")
    assert named.labels.sum(axis=0).tolist() == [2, 2, 2, 2, 0]  # no "5" in the data, none read
    indexed = load_dataset(str(path), label_column="label", label_names=stars, label_format="indices")
    assert indexed.labels.sum(axis=0).tolist() == [0, 2, 2, 2, 2]
    ints = write_jsonl(tmp_path / "ints.jsonl", [{"text": "a", "label": 3}])
    assert load_dataset(str(ints), label_column="label", label_names=stars,
                        label_format="names").labels.tolist() == [[0, 0, 1, 0, 0]]
    # one reading only: '42' names label 1 of 3 and indexes none; 0 indexes label 0 and names none
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"text": "a", "label": "42"}, {"text": "b", "label": 0}])
    assert load_dataset(str(odd), label_column="label", label_names=["x", "42", "y"]).labels.tolist() == [
        [0, 1, 0], [1, 0, 0]]
    # names that are their own indices ('0'..'2') read alike either way
    same = write_jsonl(tmp_path / "same.jsonl", [{"text": "a", "label": "2"}, {"text": "b", "label": 1}])
    assert load_dataset(str(same), label_column="label", label_names=["0", "1", "2"]).labels.tolist() == [
        [0, 0, 1], [0, 1, 0]]


def test_a_label_name_with_a_leading_space_is_found_as_given(tmp_path: Path) -> None:
    """id2label ' pos' and gold ' pos': "unknown label name 'pos'; did you mean ' pos'?" (stripped first)."""
    rows = [{"text": "a", "labels": [" pos"]}, {"text": "b", "labels": ["neg"]}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    assert load_dataset(str(path), label_names=[" pos", "neg"]).labels.tolist() == [[1, 0], [0, 1]]


# --- CSV --------------------------------------------------------------------------------------


def test_csv_label_cells(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "id,text,labels\n"
        '1,"joy, and commas",joy\n'
        "2,semicolons,love;anger\n"
        '3,commas,"fear, grief"\n'
        '4,json,"[""pride"", 21]"\n'
        "5,indices,0;27\n"
        '6,"multi\nline",\n',
        encoding="utf-8",
    )
    ds = load_dataset(str(path))
    assert ds.texts[0] == "joy, and commas"
    assert ds.texts[5] == "multi\nline"
    assert ds.labels.tolist() == [
        hot("joy"),
        hot("love", "anger"),
        hot("fear", "grief"),
        hot("pride"),
        hot("admiration", "neutral"),
        hot(),
    ]


def test_csv_onehot_columns(tmp_path: Path) -> None:
    header = "text," + ",".join(GO_EMOTIONS_LABELS)
    row = "hello," + ",".join(str(v) for v in hot("surprise"))
    path = tmp_path / "d.csv"
    path.write_text(f"{header}\n{row}\n")
    assert load_dataset(str(path)).labels.tolist() == [hot("surprise")]


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,labels\nfine,joy\nbad,42\n")
    with pytest.raises(GateError, match=r"d\.csv, line 3: label index 42 is out of range 0\.\.27"):
        load_dataset(str(path))


def test_csv_labels_after_an_unquoted_comma_are_refused_not_dropped(tmp_path: Path) -> None:
    """Walk AO: `"text",joy,love` kept joy alone (csv.DictReader puts the extra field apart), and the
    gate passed on a third fewer gold labels without a word."""
    path = tmp_path / "d.csv"
    path.write_text('text,labels\n"fine",joy\n"two of them",joy,love\n')
    with pytest.raises(GateError, match=r"d\.csv, line 3: 3 fields, but the header has 2 \(text, labels\): a "
                                        r"cell holding commas must be quoted"):
        load_dataset(str(path))
    path.write_text('text,labels\n"fine",joy\n"two of them","joy,love"\n')
    assert load_dataset(str(path)).labels.tolist()[1] == (np.array(hot("joy")) + hot("love")).tolist()
    path.write_text('text,labels\n"fine",joy,\n"two",love,\n')  # a trailing empty field: as before
    assert load_dataset(str(path)).labels.tolist() == [hot("joy"), hot("love")]


def test_csv_bad_onehot_value(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,a,b\nhello,1,maybe\n")
    with pytest.raises(GateError, match=r"line 2, column 'b': expected a one-hot value 0 or 1, got 'maybe'"):
        load_dataset(str(path), label_names=["a", "b"])


# --- errors -----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"nothere\.jsonl does not exist"):
        load_dataset(str(tmp_path / "nothere.jsonl"))


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("hello")
    with pytest.raises(GateError, match=r"d\.txt: unsupported file type '\.txt'; use \.jsonl"):
        load_dataset(str(path))


@pytest.mark.parametrize("name, content", [("e.jsonl", "\n\n"), ("e.csv", "text,labels\n"), ("e.csv", "")])
def test_empty_dataset(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(GateError, match=rf"{name.replace('.', '[.]')} has no rows"):
        load_dataset(str(path))


def test_missing_text_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"body": "a", "labels": []}])
    with pytest.raises(
        GateError, match=r"d\.jsonl has no text column 'text'; columns present: 'body', 'labels'"
    ):
        load_dataset(str(path))
    with pytest.raises(GateError, match="--gate-text-column"):
        load_dataset(str(path))


def test_missing_label_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "emotion": "joy"}])
    with pytest.raises(
        GateError, match=r"no label column 'labels'; columns present: 'text', 'emotion'.*--gate-label-column"
    ):
        load_dataset(str(path))
    assert load_dataset(str(path), label_column="emotion").labels.tolist() == [hot("joy")]


def test_missing_onehot_columns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "admiration": 1}])
    with pytest.raises(GateError, match=r"one-hot labels need one 0/1 column per label name.*'amusement'"):
        load_dataset(str(path), label_format="onehot")


def test_unknown_label_name(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"text": "a", "labels": ["joy"]}, {"text": "b", "labels": ["angr"]}]
    )
    with pytest.raises(GateError) as info:
        load_dataset(str(path))
    msg = str(info.value)
    assert "d.jsonl, line 2" in msg
    assert "unknown label name 'angr'" in msg
    assert "did you mean 'anger'" in msg
    assert "valid names include 'admiration', 'amusement'" in msg


def test_label_index_out_of_range(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "labels": [28]}])
    with pytest.raises(GateError, match=r"line 1: label index 28 is out of range 0\.\.27.*0-based"):
        load_dataset(str(path))
    path = write_jsonl(tmp_path / "e.jsonl", [{"text": "a", "labels": [-1]}])
    with pytest.raises(GateError, match="label index -1 is out of range"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"text": None, "labels": []}, r"line 2: the text \('text'\) is missing or null"),
        ({"labels": []}, r"line 2: the text \('text'\) is missing or null"),
        ({"text": 5, "labels": []}, r"line 2: the text \('text'\) must be a string, got 5"),
        ({"text": "a", "labels": None}, r"line 2, column 'labels': labels are missing \(null\)"),
        ({"text": "a", "labels": [{"x": 1}]}, r"line 2: a label must be a name or an integer index"),
        ({"text": "a", "labels": [True]}, r"line 2: a label must be a name or an integer index"),
    ],
)
def test_bad_rows(tmp_path: Path, row: dict[str, Any], expected: str) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "ok", "labels": ["joy"]}, row])
    with pytest.raises(GateError, match=expected):
        load_dataset(str(path))


def test_malformed_json_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "labels": []}\n{"text": "b", "labels": []}\n{"text": "c", labels: []}\n')
    with pytest.raises(GateError, match=r"d\.jsonl, line 3: malformed JSON .*one JSON object"):
        load_dataset(str(path))
    path.write_text('["not", "an", "object"]\n')
    with pytest.raises(GateError, match=r"line 1: expected a JSON object, got list"):
        load_dataset(str(path))


def test_bad_arguments() -> None:
    with pytest.raises(GateError, match="unknown label format 'binary'"):
        load_dataset(label_format="binary")
    with pytest.raises(GateError, match="unknown dataset variant 'long'"):
        load_dataset(variant="long")
    with pytest.raises(GateError, match="label names must be non-empty and unique"):
        load_dataset(label_names=["joy", "joy"])


# --- check_labels_match -------------------------------------------------------------------------


def test_check_labels_match() -> None:
    ds = small()
    check_labels_match(ds, ["x", "y"])
    check_labels_match(ds, ["X ", "y"])  # case and whitespace are ignored
    with pytest.raises(GateError, match=r"dataset mem has 2 labels \('x', 'y'\) but the model has 3"):
        check_labels_match(ds, ["x", "y", "z"])
    with pytest.raises(GateError, match=r"index 1: dataset 'y' vs model 'w'.*id2label"):
        check_labels_match(ds, ["x", "w"])
    with pytest.raises(GateError, match="same names, different order"):
        check_labels_match(ds, ["y", "x"])


def test_check_labels_match_bundled() -> None:
    ds = load_dataset().head(5)
    check_labels_match(ds, GO_EMOTIONS_LABELS)
    generic = [f"LABEL_{i}" for i in range(28)]
    with pytest.raises(GateError, match=r"index 0: dataset 'admiration' vs model 'LABEL_0'.*and 23 more"):
        check_labels_match(ds, generic)


def test_two_label_onehot_vectors_are_vectors_not_both_indices(tmp_path: Path) -> None:
    """[0, 1] on every row of a two-label set read as the indices 0 and 1 gave every row both
    labels (review E); a list of indices among other lists still reads as indices."""
    rows = [{"text": "a", "labels": [0, 1]}, {"text": "b", "labels": [1, 0]}]
    path = write_jsonl(tmp_path / "b.jsonl", rows)
    assert load_dataset(str(path), label_names=["negative", "positive"]).labels.tolist() == [[0, 1], [1, 0]]
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "a", "labels": [1]}, *rows[:1]])
    assert load_dataset(str(path), label_names=["negative", "positive"]).labels.tolist() == [[0, 1], [1, 1]]


def test_a_latin1_csv_and_a_json_of_columns_say_what_to_do(tmp_path: Path) -> None:
    """A Latin-1 CSV was "line 0: unreadable CSV ('utf-8' codec ...); fix the file"; a .json of one
    list per column (pandas' to_json default) was "line 1: the text ('message') must be a string"."""
    latin = tmp_path / "d.csv"
    latin.write_bytes("text,labels\ncaf\u00e9 au lait,joy\n".encode("latin-1"))
    with pytest.raises(GateError, match=r"d\.csv is not UTF-8 text \(invalid continuation byte at byte "
                                        r"\d+\); save it as UTF-8"):
        load_dataset(str(latin))
    columns = tmp_path / "d.json"
    columns.write_text(json.dumps({"message": ["hi", "bye"], "emotions": [["joy"], ["sadness"]]}))
    with pytest.raises(GateError, match=r"d\.json holds one list per column \(message, emotions\): give one "
                                        r"row per text"):
        load_dataset(str(columns), text_column="message", label_column="emotions")


def test_a_line_separator_inside_a_text_splits_no_row(tmp_path: Path) -> None:
    """U+2028, U+0085 and a form feed are no line ends of a file: str.splitlines() split a --gate-texts
    line holding one into two texts, and a JSON-lines row whose string holds it raw (json.dumps with
    ensure_ascii=False writes it so) into two malformed lines."""
    texts = tmp_path / "texts.txt"
    texts.write_text("one\u2028still one\nform\x0cfeed\nnext\u0085line\n", encoding="utf-8")
    assert load_texts(texts).texts == ("one\u2028still one", "form\x0cfeed", "next\u0085line")
    rows = tmp_path / "d.jsonl"
    rows.write_text(json.dumps({"text": "a\u2028b", "labels": ["joy"]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert load_dataset(str(rows)).texts == ("a\u2028b",)


def test_a_classlabel_column_of_numbered_classes_is_read_as_its_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review of the numbered-labels rule: a saved dataset's ClassLabel column holds ids. With the
    model's names '0'..'2' in its order, `auto` refused them as ambiguous; in the reverse order they
    were rewritten as names first, and `indices` (what the refusal suggested) then read each as a
    position in the model's order: every gold label moved. Ids are ids, whatever the format says."""
    import encoder_gate.data.datasets as datasets
    from encoder_gate.data.readers import Table

    rows = [{"text": t, "labels": i} for t, i in zip("abcd", [0, 1, 2, 0], strict=True)]
    table = Table("saved", ["text", "labels"], rows, [1, 2, 3, 4], "row", {"labels": ["0", "1", "2"]})
    monkeypatch.setattr(datasets, "read_path", lambda path, split: table)
    for names in (("0", "1", "2"), ("2", "1", "0")):
        for fmt in ("auto", "indices", "names"):
            ds = load_dataset("saved-dir", label_names=names, label_format=fmt)
            assert [names[j] for j in ds.labels.argmax(axis=1)] == ["0", "1", "2", "0"], (names, fmt)


def test_a_tsv_is_read_as_glue_and_ms_marco_write_it(tmp_path: Path) -> None:
    """Tab-separated, unquoted: a text's quote characters are its own (a CSV reader would have joined
    lines at an unbalanced one); a text holding a tab is refused naming the line; init reads its columns."""
    from encoder_gate.commands.columns import first_row

    data = tmp_path / "dev.tsv"
    data.write_text('sentence\tlabel\nhe said "hi\tjoy\nno "quotes" closed\tanger\n')
    ds = load_dataset(str(data), text_column="sentence", label_column="label")
    assert ds.texts == ('he said "hi', 'no "quotes" closed') and ds.labels.sum() == 2
    assert first_row(data) == {"sentence": 'he said "hi', "label": "joy"}
    data.write_text("sentence\tlabel\na\ttab inside\tjoy\n")
    with pytest.raises(GateError, match=r"dev\.tsv, line 2: 3 fields, but the header has 2 .*holding a tab"):
        load_dataset(str(data), text_column="sentence", label_column="label")


def test_a_document_longer_than_the_csv_modules_field_limit_is_read(tmp_path: Path) -> None:
    """The csv module stops at 131,072 characters a field by default: a long-context set's first long
    document stopped the session ("field larger than field limit"); the gate cuts it where it feeds."""
    from encoder_gate.commands.columns import first_row

    for name, sep in (("long.csv", ","), ("long.tsv", "\t")):
        data = tmp_path / name
        data.write_text(f"text{sep}labels\n" + "word " * 40_000 + f"{sep}joy\nshort{sep}anger\n")
        ds = load_dataset(str(data))
        assert len(ds.texts[0]) == 200_000 and ds.texts[1] == "short"
        assert first_row(data)["labels"] == "joy"
