"""Reranking samples (a query and lists of its passages: sentence-transformers' reranking evaluator's,
MTEB's, FlagEmbedding's) read as the labelled pairs the gate judges (encoder_gate.data.samples)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.commands.columns import detect_columns
from encoder_gate.data.datasets import load_dataset
from encoder_gate.errors import GateError
from encoder_gate.reporting.accuracy import dataset_notes

AS_PAIRS = {"text_column": "query", "pair_column": "passage", "label_column": "relevant",
            "label_names": ["LABEL_0"]}


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


SAMPLES = [
    {"query": "what do cats eat", "positive": ["cats eat meat", "cats like fish"],
     "negative": ["dogs bark", "the market fell"]},
    {"query": "capital of france", "positive": ["paris is the capital of france"],
     "negative": ["rome is old"]},
    {"query": "no answer here", "positive": [], "negative": ["nothing relevant"]},
]


def test_each_samples_positives_and_negatives_are_its_querys_pairs_flagged_1_and_0(tmp_path: Path) -> None:
    ds = load_dataset(str(jsonl(tmp_path / "rerank.jsonl", SAMPLES)), **AS_PAIRS)
    assert ds.texts == (("what do cats eat", "cats eat meat"), ("what do cats eat", "cats like fish"),
                        ("what do cats eat", "dogs bark"), ("what do cats eat", "the market fell"),
                        ("capital of france", "paris is the capital of france"),
                        ("capital of france", "rome is old"), ("no answer here", "nothing relevant"))
    assert ds.labels.ravel().tolist() == [1, 1, 0, 0, 1, 0, 0]
    assert ds.queries is not None and ds.queries.tolist() == [0, 0, 0, 0, 1, 1, 2]
    assert ds.pair_column == "passage" and ds.grades is None
    said = ("relevance read from 3 reranking samples ('positive' and 'negative' lists) as 7 (query, passage) "
            "pairs, relevant 1 for a positive passage")
    assert ds.relevance == said
    assert dataset_notes({"relevance": ds.relevance, "pairs": True}) == [f"the evaluation set's {said}"]


def test_each_sample_is_one_query_even_two_of_one_query_text(tmp_path: Path) -> None:
    """As sentence-transformers' evaluator ranks them: a sample's passages are ranked among themselves,
    not with another sample's of the same query text (a passage relevant in one and not in the other
    would tie with itself); a subset keeps each row's sample."""
    rows = [{"query": "q", "positive": ["a"], "negative": ["b"]},
            {"query": "q", "positive": ["b"], "negative": ["c", "d"]}]
    ds = load_dataset(str(jsonl(tmp_path / "twice.jsonl", rows)), **AS_PAIRS)
    assert ds.queries is not None and ds.queries.tolist() == [0, 0, 1, 1, 1]
    tail = ds.subset([2, 3, 4])
    assert tail.queries is not None and tail.queries.tolist() == [0, 0, 0] and tail.samples == (2, 2, 2)
    alone = load_dataset(str(jsonl(tmp_path / "twice.jsonl", rows)), text_column="query",
                         label_column="relevant", label_names=["LABEL_0"])  # the passages not fed
    assert alone.queries is None


def test_a_failures_worst_queries_are_the_samples_it_was_judged_by(tmp_path: Path) -> None:
    """Twelve samples of one query text, each ranked apart: a backend that puts each sample's relevant
    passage last fails mrr_keep over 12 queries, and its failure lists three of those queries (read
    from the texts, all twelve were one query, and the list held one)."""
    from encoder_gate.accuracy.checks import bounds_for, check
    from encoder_gate.accuracy.evaluation import evaluate
    from encoder_gate.tasks import Task

    rows = [{"query": "q", "positive": [f"yes {k}"], "negative": [f"no {k}", f"never {k}"]}
            for k in range(12)]
    ds = load_dataset(str(jsonl(tmp_path / "one-query.jsonl", rows)), **AS_PAIRS)
    relevant = ds.labels[:, 0].astype(bool)
    reference = np.where(relevant, 0.9, 0.6)[:, None]
    probs = np.where(relevant, 0.55, 0.6)[:, None]  # each sample's relevant passage below its others
    ev = evaluate("onnx-int8", probs, reference, ds.labels, precision="int8", size_bytes=1,
                  task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05, queries=ds.queries)
    failure = check(ev, "mrr_keep", bounds_for("onnx-int8", task=Task.MULTI_LABEL), ds.texts, ("LABEL_0",))
    assert failure is not None and "over 12 ranked queries" in failure, failure
    assert failure.count("query 'q': reciprocal rank 1.000 -> 0.333") == 3, failure


def test_documents_are_ranked_as_the_evaluator_ranks_them_positives_first(tmp_path: Path) -> None:
    """`documents` in place of `negative`: the positives, then each other document; a positive the
    documents lack is still ranked (sentence-transformers' always_rerank_positives)."""
    rows = [{"query": "q", "positive": ["b", "z"], "documents": ["a", "b", "c"]}]
    ds = load_dataset(str(jsonl(tmp_path / "docs.jsonl", rows)), **AS_PAIRS)
    assert ds.texts == (("q", "b"), ("q", "z"), ("q", "a"), ("q", "c"))
    assert ds.labels.ravel().tolist() == [1, 1, 0, 0]
    assert "('positive' and 'documents' lists)" in str(ds.relevance)
    mixed = [*rows, {"query": "r", "positive": ["p"], "negative": ["n"]}]  # one of the two a sample
    ds = load_dataset(str(jsonl(tmp_path / "mixed.jsonl", mixed)), **AS_PAIRS)
    assert ds.texts[-2:] == (("r", "p"), ("r", "n")) and ds.labels.ravel().tolist() == [1, 1, 0, 0, 1, 0]
    assert "('positive' lists with 'negative' or 'documents' ones)" in str(ds.relevance)


def test_flagembeddings_lists_and_triplets_of_single_texts_in_a_csv_are_read_too(tmp_path: Path) -> None:
    flag = jsonl(tmp_path / "flag.jsonl", [{"query": "q", "pos": ["yes"], "neg": ["no", "never"],
                                            "pos_scores": [1.0], "neg_scores": [0.1, 0.0]}])
    assert load_dataset(str(flag), **AS_PAIRS).labels.ravel().tolist() == [1, 0, 0]
    with (tmp_path / "triplets.csv").open("w", newline="") as fh:  # sentence-transformers' triplets
        writer = csv.writer(fh)
        writer.writerows([("anchor", "positive", "negative"), ("a query", "its answer", "another answer"),
                          ("b query", "b answer", "a wrong one")])
    ds = load_dataset(str(tmp_path / "triplets.csv"), **AS_PAIRS)
    assert ds.texts[:2] == (("a query", "its answer"), ("a query", "another answer"))
    assert ds.labels.ravel().tolist() == [1, 0, 1, 0]
    with (tmp_path / "lists.csv").open("w", newline="") as fh:  # pandas' to_csv of list columns
        csv.writer(fh).writerows([("query", "positive", "negative"), ("q", "['yes', 'sure']", '["no"]'),
                                  ("r", "[1] a passage that opens with a bracket", "[]")])
    ds = load_dataset(str(tmp_path / "lists.csv"), **AS_PAIRS)
    bracket = ("r", "[1] a passage that opens with a bracket")
    assert ds.texts == (("q", "yes"), ("q", "sure"), ("q", "no"), bracket)
    assert ds.labels.ravel().tolist() == [1, 1, 0, 1]


def test_one_column_a_negative_as_hard_negative_mining_writes_them(tmp_path: Path) -> None:
    """sentence-transformers' mine_hard_negatives "n-tuple" output: negative_1 to negative_N, in number
    order (negative_10 after negative_2), a missing one skipped."""
    row = {"query": "q", "positive": "yes", **{f"negative_{k}": f"no {k}" for k in (1, 2, 10)}}
    ds = load_dataset(str(jsonl(tmp_path / "mined.jsonl", [row, {**row, "negative_10": None}])), **AS_PAIRS)
    assert ds.texts[:4] == (("q", "yes"), ("q", "no 1"), ("q", "no 2"), ("q", "no 10"))
    assert ds.labels.ravel().tolist() == [1, 0, 0, 0, 1, 0, 0]
    assert "('positive' and 'negative_1' to 'negative_10' lists)" in str(ds.relevance)


def test_a_list_of_candidates_flagged_by_labels_as_hard_negative_mining_writes_it(tmp_path: Path) -> None:
    """mine_hard_negatives' "labeled-list" output: the positive column holds every candidate, `labels`
    a 0/1 flag each; a flag list of another length, or of scores, is refused naming the row."""
    rows = [{"query": "q", "positive": ["yes", "no", "never"], "labels": [1, 0, 0]},
            {"query": "r", "positive": ["nope", "sure"], "labels": [0, 1]}]
    ds = load_dataset(str(jsonl(tmp_path / "listed.jsonl", rows)), **AS_PAIRS)
    assert ds.texts == (("q", "yes"), ("q", "no"), ("q", "never"), ("r", "nope"), ("r", "sure"))
    assert ds.labels.ravel().tolist() == [1, 0, 0, 0, 1] and ds.queries.tolist() == [0, 0, 0, 1, 1]
    assert "('positive' lists flagged by 'labels')" in str(ds.relevance)
    for labels in ([1, 0], [0.93, 0.12, 0.05]):
        bad = [rows[1], {**rows[0], "labels": labels}]
        with pytest.raises(GateError, match=r"line 2: 'labels' must hold a 0 or 1 for each of the 3 "):
            load_dataset(str(jsonl(tmp_path / "bad.jsonl", bad)), **AS_PAIRS)
    pairs = [{"query": "q", "positive": "yes", "labels": 1}]  # one label a row: no sample, not read as one
    assert load_dataset(str(jsonl(tmp_path / "pairs.jsonl", pairs)), text_column="query",
                        label_column="labels", label_names=["LABEL_0"]).relevance is None


def test_one_01_column_per_label_named_positive_and_negative_is_no_sample(tmp_path: Path) -> None:
    """A sentiment set of one 0/1 column per label beside a `question` is read as before, not as lists."""
    path = jsonl(tmp_path / "onehot.jsonl", [{"question": "good?", "positive": 1, "negative": 0},
                                             {"question": "bad?", "positive": 0, "negative": 1}])
    ds = load_dataset(str(path), text_column="question", label_column="positive", label_names=["positive"])
    assert ds.texts == ("good?", "bad?") and ds.relevance is None
    with (tmp_path / "onehot.csv").open("w", newline="") as fh:  # a CSV's cells are text: "1", "0"
        csv.writer(fh).writerows([("question", "positive", "negative"), ("good?", "1", "0"),
                                  ("bad?", "0", "1")])
    ds = load_dataset(str(tmp_path / "onehot.csv"), text_column="question", label_column="positive",
                      label_names=["positive"])
    assert ds.texts == ("good?", "bad?") and ds.labels.ravel().tolist() == [1, 0] and ds.relevance is None


@pytest.mark.parametrize(("rows", "config", "said"), [
    (SAMPLES, {}, "holds reranking samples, read as one row a pair of the columns 'query', 'passage' "
                  "and 'relevant', not 'text' and 'labels': set text-column = \"query\", pair-column = "
                  "\"passage\""),
    (SAMPLES, {**AS_PAIRS, "relevant_grade": 1.0},
     "holds reranking samples, whose lists of passages give each pair a 0/1 flag, not a grade: leave "
     "relevant-grade (1) out"),
    ([{"query": "q", "positive": ["same"], "negative": ["other", "same"]}], AS_PAIRS,
     "line 1: the passage 'same' is both in 'positive' and among its negatives: keep it in one list"),
    ([SAMPLES[0], {"query": "q", "positive": ["p"], "negative": [3]}], AS_PAIRS,
     "line 2: 'negative' must be a list of passages (strings), got [3]"),
    ([{"query": "q", "positive": [], "negative": []}], AS_PAIRS,
     "without a passage: give each query its passages"),
    ([{"query": "q", "positive": ["p"], "negative": ["n"], "documents": ["n", "p"]}], AS_PAIRS,
     "line 1: a sample holds negatives or 'documents', not both: keep the one its passages are ranked from"),
])
def test_samples_the_gate_cannot_judge_are_refused_in_one_line_naming_the_fix(
        tmp_path: Path, rows: list[dict], config: dict, said: str) -> None:
    with pytest.raises(GateError) as raised:
        load_dataset(str(jsonl(tmp_path / "bad.jsonl", rows)), **config)
    assert said in str(raised.value)


def test_init_configures_a_file_of_samples_as_a_rerankers_pairs(tmp_path: Path) -> None:
    """`encoder-gate init --dataset` on a file of samples writes the pair's columns and says how the
    samples were read and that the order is judged."""
    from test_init import init, table_of

    model = tmp_path / "models" / "clf"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({
        "architectures": ["BertForSequenceClassification"], "id2label": {"0": "LABEL_0"},
        "problem_type": "multi_label_classification"}))
    path = jsonl(tmp_path / "rerank.jsonl", SAMPLES)
    assert detect_columns(path) == ("query", "relevant")
    plan = init(tmp_path, dataset="rerank.jsonl")
    table = table_of(tmp_path)
    columns = (table["text-column"], table["pair-column"], table["label-column"])
    assert columns == ("query", "passage", "relevant")
    said = "the dataset's relevance read from 3 reranking samples ('positive' and 'negative' lists)"
    assert any(n.startswith(said) for n in plan.notes), plan.notes
    assert any("its order is judged too, MRR@10" in n for n in plan.notes), plan.notes
    assert not plan.warnings, plan.warnings
    ds = load_dataset(str(path), **AS_PAIRS)
    np.testing.assert_array_equal(ds.labels.ravel(), [1, 1, 0, 0, 1, 0, 0])
