"""`encoder-gate init` and the evaluation data: the dataset's columns detected from its first row, one
column per label, a dataset the model's labels cannot read (said before the first session), texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoder_gate.commands import columns as scaffold
from encoder_gate.errors import GateError
from test_init import init, table_of, write_model_dir


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path)


def test_columns_are_detected_from_jsonl(tmp_path: Path, model_dir: Path) -> None:
    data = tmp_path / "data" / "eval.jsonl"
    data.parent.mkdir()
    data.write_text('\n{"id": 3, "sentence": "great", "label": "positive"}\n')
    init(tmp_path, dataset="data/eval.jsonl")
    table = table_of(tmp_path)
    assert table["dataset"] == "data/eval.jsonl"
    assert table["text-column"] == "sentence" and table["label-column"] == "label"


def test_columns_are_detected_from_csv(tmp_path: Path) -> None:
    data = tmp_path / "eval.csv"
    data.write_text("id,utterance,target\n1,so good,positive\n")
    assert scaffold.detect_columns(data) == ("utterance", "target")
    data.write_text("text,labels\nhi,joy\n")
    assert scaffold.detect_columns(data) == ("text", "labels")



def test_columns_of_glue_mnli_and_a_reranking_set_are_detected_from_tsv(tmp_path: Path) -> None:
    """MNLI's dev TSV (its parses beside the sentences, gold_label after label1) and a reranking set's
    relevance flag: found without --text-column and --label-column."""
    mnli = tmp_path / "dev_matched.tsv"
    mnli.write_text("index\tgenre\tsentence1_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
                    '0\tfiction\t(ROOT (S "a))\ta man sleeps\ta man is awake\tcontradiction\tcontradiction\n')
    assert scaffold.detect_columns(mnli) == ("sentence1", "gold_label")
    rerank = tmp_path / "rerank.tsv"
    rerank.write_text("qid\tquery\tpassage\tis_relevant\n1\thow to reset\tOpen settings, then reset.\t1\n")
    assert scaffold.detect_columns(rerank) == ("query", "is_relevant")


def test_default_columns_are_not_written(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "eval.json").write_text('[{"text": "hi", "labels": ["positive"]}]')
    init(tmp_path, dataset="eval.json")
    table = table_of(tmp_path)
    assert table["dataset"] == "eval.json"
    assert "text-column" not in table and "label-column" not in table


def test_the_only_other_column_is_the_label_column(tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"utterance": "hi", "mood": ["joy"]}\n')
    assert scaffold.detect_columns(data) == ("utterance", "mood")


def test_unknown_columns_ask_for_the_options(tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"utterance": "hi", "mood": "joy", "source": "web"}\n')
    with pytest.raises(GateError, match="--text-column NAME and --label-column NAME"):
        scaffold.detect_columns(data)
    assert scaffold.detect_columns(data, label_column="mood") == ("utterance", "mood")
    with pytest.raises(GateError, match="no column 'feeling'"):
        scaffold.detect_columns(data, label_column="feeling")


def test_swapped_columns_are_refused_by_init_from_the_first_row(tmp_path: Path) -> None:
    """`--label-column message --text-column emotions` was written into the table; the first session
    then said "line 1: the text ('emotions') must be a string". `--label-column message` alone asked
    for the text column without saying that message holds it."""
    data = tmp_path / "eval.jsonl"
    data.write_text('{"message": "I did not expect that at all, wow", "emotions": ["surprise"]}\n')
    with pytest.raises(GateError, match=r"column 'emotions' of .* holds \"\['surprise'\]\" in its first row, "
                                        r"not a text \(--text-column\)"):
        scaffold.detect_columns(data, text_column="emotions", label_column="message")
    with pytest.raises(GateError, match=r"--label-column 'message' of .* holds texts \(its first row: 'I did "
                                        r"not expect"):
        scaffold.detect_columns(data, label_column="message")
    assert scaffold.detect_columns(data) == ("message", "emotions")


def test_one_column_per_label_is_read_one_hot_without_a_label_column(tmp_path: Path, model_dir: Path) -> None:
    """Walk AO: go_emotions' raw layout (a text column, then one 0/1 column per label) was refused,
    asking for a --label-column the file cannot have; the loader reads it one-hot by the names."""
    data = tmp_path / "eval.csv"  # the model_dir fixture's labels, beside an id and an author
    data.write_text("id,message,author,negative,positive\ne1,what a day,bob,0,1\n")
    assert scaffold.detect_columns(data, label_names=("negative", "positive")) == ("message", None)
    plan = init(tmp_path, dataset="eval.csv")
    table = table_of(tmp_path)
    assert table["text-column"] == "message" and "label-column" not in table
    assert "dataset columns: text 'message', labels one 0/1 column per label, by its name" in plan.notes
    from encoder_gate.data.datasets import load_dataset  # and the gate reads it so

    read = load_dataset(str(data), text_column="message", label_names=("negative", "positive"))
    assert read.labels.tolist() == [[0, 1]]
    other = tmp_path / "other.jsonl"  # 0/1 columns that are not the model's labels: asked for, as before
    other.write_text('{"text": "hi", "id": 1, "sentiment": 0}\n')
    with pytest.raises(GateError, match="--label-column NAME"):
        scaffold.detect_columns(other, label_names=("negative", "positive"))


def test_a_dataset_whose_labels_the_model_lacks_is_said_by_init(tmp_path: Path, model_dir: Path) -> None:
    """A head trained without label names (LABEL_0, LABEL_1) and a dataset of names: init wrote the gate
    without a word, and its first `pytest accuracy` stopped at the start. init reads the dataset as the
    session will and says so, in a warning; a dataset of the model's labels says nothing."""
    (tmp_path / "good.jsonl").write_text('{"text": "hi", "labels": ["positive"]}\n')
    plan = init(tmp_path, dataset="good.jsonl")
    assert not any("will stop at its start" in w for w in plan.warnings)
    placeholders = {"0": "LABEL_0", "1": "LABEL_1"}
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "id2label": placeholders}))
    plan = init(tmp_path, dataset="good.jsonl", force=True)
    [said] = [w for w in plan.warnings if "will stop at its start" in w]
    assert "unknown label name 'positive'; the model's labels are transformers' placeholders" in said


def test_texts_file_is_stored_for_parity_only_runs(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "texts.txt").write_text("first text\n\nsecond text\n")
    plan = init(tmp_path, texts="texts.txt")
    assert table_of(tmp_path)["texts"] == "texts.txt"
    assert any("texts: 2" in note and "parity" in note for note in plan.notes)
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(GateError, match="no texts"):
        init(tmp_path / "other", model=str(model_dir), texts=str(tmp_path / "empty.txt"))


def test_a_sentence_pair_dataset_read_one_text_a_row_says_what_was_left_out(
        tmp_path: Path, model_dir: Path) -> None:
    """An NLI dataset (premise, hypothesis, label): init took 'premise' as the text without a word, and
    the gate judged a sentence-pair model on half of each input (a backend that mishandled the second
    text, its token_type_ids, passed). init pairs them now (tests/test_pairs.py); a text column chosen
    alone is warned about, the loaded dataset names the other, and the verdict's notes say so; fed as
    pairs, nothing is said."""
    from encoder_gate.data.datasets import load_dataset
    from encoder_gate.reporting.accuracy import dataset_notes

    data = tmp_path / "nli.csv"
    data.write_text("Premise,Hypothesis,label\na man sleeps,a man is awake,negative\n")
    assert scaffold.detect_columns(data) == ("Premise", "label")
    plan = init(tmp_path, dataset="nli.csv", text_column="Premise")
    [said] = [w for w in plan.warnings if "alone" in w]
    assert said.startswith("the gate judges every backend on 'Premise' alone: 'Hypothesis', the second text")
    read = load_dataset(str(data), text_column="Premise", label_column="label",
                        label_names=("negative", "positive"))
    assert read.pair_column == "Hypothesis" and read.head(1).pair_column == "Hypothesis"
    [note] = dataset_notes({"examples": 1, "distinct": 1, "pair_column": read.pair_column, "pairs": False})
    assert "pairs each text with a second, in 'Hypothesis'" in note and "would pass" in note
    assert dataset_notes({"examples": 1, "distinct": 1, "pair_column": "Hypothesis", "pairs": True}) == []
    # texts of their own (a 'text' column beside others, or a pair's name without its partner): nothing said
    (tmp_path / "single.jsonl").write_text('{"sentence1": "hi", "label": "positive"}\n')
    assert scaffold.detect_columns(tmp_path / "single.jsonl") == ("sentence1", "label")
    assert load_dataset(str(tmp_path / "single.jsonl"), text_column="sentence1", label_column="label",
                        label_names=("negative", "positive")).pair_column is None
    assert dataset_notes({"examples": 1, "distinct": 1, "pair_column": None}) == []
