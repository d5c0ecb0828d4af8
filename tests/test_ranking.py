"""A reranker's ranking (encoder_gate.accuracy.ranking): MRR@10 over the queries of a pair dataset, its
change against the reference with a CI over queries, and the mrr_keep check that judges it where drift
and F1 at 0.5 cannot see a reordering."""

from __future__ import annotations

import numpy as np
import pytest

from encoder_gate.accuracy.checks import bounds_for, check, judge_all, not_judged, record
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.accuracy.ranking import (
    MIN_QUERIES,
    Unranked,
    mrr_change,
    ndcgs,
    not_a_reranker,
    not_graded,
    reciprocal_ranks,
)
from encoder_gate.data.pairs import query_ids
from encoder_gate.tasks import Task


def test_reciprocal_ranks_count_the_first_relevant_passage_and_skip_queries_with_nothing_to_rank() -> None:
    queries = np.array([0, 0, 0, 1, 1, 2, 2, 3, 4, 4])
    relevant = np.array([0, 1, 0, 1, 0, 1, 1, 1, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.8, 0.1, 0.4, 0.4, 0.3, 0.2, 0.5, 0.6, 0.1])
    ids, rr = reciprocal_ranks(scores, relevant, queries)
    # query 0: its relevant passage second; 1: tied with an irrelevant one, ranked below it; 2: every
    # passage relevant, 3: one passage, 4: none relevant (no order ranks them differently)
    assert ids.tolist() == [0, 1] and rr.tolist() == [0.5, 0.5]
    many = np.arange(12, dtype=float)  # the relevant passage below ten others: 0
    assert reciprocal_ranks(-many, many == 11, np.zeros(12, dtype=int))[1].tolist() == [0.0]
    rng = np.random.default_rng(1)  # against a plain loop, ties included (scores in tenths)
    queries, relevant = rng.integers(0, 60, 600), rng.random(600) < 0.2
    scores = rng.integers(0, 10, 600) / 10
    expected = {}
    for q in np.unique(queries):
        rel, s = relevant[queries == q], scores[queries == q]
        if rel.any() and not rel.all():
            rank = 1 + int((s[~rel] >= s[rel].max()).sum())
            expected[int(q)] = 1 / rank if rank <= 10 else 0.0
    ids, rr = reciprocal_ranks(scores, relevant, queries)
    assert dict(zip(ids.tolist(), rr.tolist(), strict=True)) == expected


def test_queries_are_a_pair_datasets_first_texts() -> None:
    texts = [("q1", "a"), ("q2", "b"), ("q1", "c")]
    assert query_ids(texts).tolist() == [0, 1, 0]
    assert query_ids(["a", "b"]) is None and query_ids([]) is None


def reranking_set(n_queries: int = 40, passages: int = 5, seed: int = 0):
    """Scores of a reranker that ranks most queries' relevant passage first, the texts and flags."""
    rng = np.random.default_rng(seed)
    texts, scores, relevant = [], [], []
    for q in range(n_queries):
        best = rng.integers(passages)
        for p in range(passages):
            texts.append((f"query {q}", f"passage {p} of query {q}"))
            relevant.append(p == best)
            scores.append(rng.uniform(0.55, 0.75) if p == best else rng.uniform(0.5, 0.7))
    return texts, np.array(scores)[:, None], np.array(relevant)[:, None].astype(np.uint8)


def top_two_swapped(texts, scores: np.ndarray) -> np.ndarray:
    """`scores` with each query's two highest swapped: the same scores, each query's top two reordered."""
    queries = query_ids(texts)
    out = scores.copy()
    for q in np.unique(queries):
        rows = np.flatnonzero(queries == q)
        top2 = rows[np.argsort(-scores[rows, 0])[:2]]
        out[top2, 0] = scores[top2[::-1], 0]
    return out


def judged(texts, reference, probs, gold, rule="point"):
    return evaluate("onnx-int8", probs, reference, gold, precision="int8", size_bytes=1,
                    task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05, queries=query_ids(texts),
                    f1_rule=rule)


@pytest.mark.parametrize("rule", ["point", "non-inferiority"])
def test_a_backend_that_swaps_each_querys_top_two_fails_mrr_where_drift_and_f1_pass(rule: str) -> None:
    """Every score stays above 0.5 and moves by at most 0.1 (INT8's drift bound is 0.6): drift, flips
    and F1 at 0.5 see nothing; MRR@10 drops, and its failure names the queries ranked lower."""
    texts, reference, gold = reranking_set()
    probs = top_two_swapped(texts, reference)
    assert np.abs(probs - reference).max() < 0.2
    ev = judged(texts, reference, probs, gold, rule)
    bounds = bounds_for("onnx-int8", task=Task.MULTI_LABEL)
    outcome = judge_all(ev, bounds)
    assert outcome["drift_max"]["passed"] and outcome["flip_rate"]["passed"] and outcome["f1_keep"]["passed"]
    assert not outcome["mrr_keep"]["passed"]
    failure = check(ev, "mrr_keep", bounds, texts, ("LABEL_0",))
    assert failure is not None and failure.startswith("onnx-int8: ") and "over 40 ranked queries" in failure
    assert "queries ranked lower most" in failure and "query 'query " in failure and "relevant" in failure
    summary = ev.summary()
    assert summary["mrr"] < summary["mrr"] - summary["mrr_delta"] and summary["ranked_queries"] == 40

    same = judged(texts, reference, reference + 1e-4, gold, rule)  # the same order: kept
    assert judge_all(same, bounds)["mrr_keep"]["passed"]
    assert check(same, "mrr_keep", bounds, texts, ("LABEL_0",)) is None


def test_ndcg_scores_each_querys_order_by_its_grades_as_pytrec_eval_does() -> None:
    """NDCG@10 with linear gains and a 1/log2(1 + rank) discount, against a plain loop (ties rank the
    lower grade first); a query of one grade, or of grades all 0, is not ranked."""
    queries = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3])
    grades = np.array([3, 1, 0, 2, 2, 0, 0, 0, 1])
    scores = np.array([0.2, 0.9, 0.1, 0.5, 0.4, 0.3, 0.2, 0.6, 0.6])
    ids, values = ndcgs(scores, grades, queries)
    dcg0, best0 = 1 + 3 / np.log2(3), 3 + 1 / np.log2(3)  # query 0: grades in the order 1, 3, 0
    dcg3, best3 = 0 + 1 / np.log2(3), 1.0  # query 3: tied, the grade 0 ranked first
    assert ids.tolist() == [0, 3] and np.allclose(values, [dcg0 / best0, dcg3 / best3])
    rng = np.random.default_rng(2)  # against a plain loop, ties included, queries past the cutoff
    queries, grades, scores = rng.integers(0, 40, 900), rng.integers(0, 4, 900), rng.integers(0, 20, 900) / 20
    expected = {}
    for q in np.unique(queries):
        g, sc = grades[queries == q].astype(float), scores[queries == q]
        if g.max() > g.min() and g.max() > 0:
            order = sorted(range(len(g)), key=lambda i: (-sc[i], g[i]))[:10]
            ideal = sorted(g, reverse=True)[:10]
            dcg = sum(g[i] / np.log2(r + 2) for r, i in enumerate(order))
            expected[int(q)] = dcg / sum(v / np.log2(r + 2) for r, v in enumerate(ideal))
    ids, values = ndcgs(scores, grades, queries)
    assert ids.tolist() == sorted(expected) and np.allclose(values, [expected[i] for i in ids.tolist()])


def graded_set(n_queries: int = 30, seed: int = 0):
    """Each query's passages graded 3, 2, 0, 0 (relevant from grade 2: two a query) and scored in that
    order by the reference."""
    rng = np.random.default_rng(seed)
    texts, scores, grades = [], [], []
    for q in range(n_queries):
        for p, (grade, score) in enumerate(zip((3, 2, 0, 0), (0.9, 0.8, 0.3, 0.2), strict=True)):
            texts.append((f"query {q}", f"passage {p} of query {q}"))
            grades.append(grade)
            scores.append(score + rng.uniform(-0.01, 0.01))
    return texts, np.array(scores)[:, None], np.array(grades, dtype=float)


def test_a_backend_that_swaps_the_two_relevant_passages_fails_ndcg_where_mrr_and_f1_pass() -> None:
    """Relevant from grade 2, a query's grade 3 and grade 2 passages are both relevant: ranking the 2
    above the 3 keeps MRR@10 (its first passage is relevant either way), F1 and drift, and loses NDCG@10,
    which reads the grades; the failure names the queries with their grades."""
    texts, reference, grades = graded_set()
    probs = top_two_swapped(texts, reference)
    gold = (grades >= 2).astype(np.uint8)[:, None]
    ev = evaluate("onnx-int8", probs, reference, gold, precision="int8", size_bytes=1, task=Task.MULTI_LABEL,
                  label_names=("LABEL_0",), atol=0.05, queries=query_ids(texts), grades=grades)
    bounds = bounds_for("onnx-int8", task=Task.MULTI_LABEL)
    outcome = judge_all(ev, bounds)
    assert outcome["mrr_keep"]["passed"] and outcome["f1_keep"]["passed"] and outcome["drift_max"]["passed"]
    assert not outcome["ndcg_keep"]["passed"]
    summary = ev.summary()
    assert summary["ndcg_queries"] == 30 and summary["ndcg"] < summary["ndcg"] - summary["ndcg_delta"] == 1.0
    failure = check(ev, "ndcg_keep", bounds, texts, ("LABEL_0",))
    assert failure is not None and "NDCG@10" in failure and "over 30 ranked queries" in failure
    assert "grade 3" in failure and "grade 2" in failure
    flags_only = evaluate("onnx-int8", probs, reference, gold, precision="int8", size_bytes=1,
                          task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05,
                          queries=query_ids(texts))
    assert "ndcg_keep" not in judge_all(flags_only, bounds) and "ndcg" not in flags_only.summary()
    unfit = record("ndcg_keep").unfit_for(flags_only)
    assert unfit == not_graded(Task.MULTI_LABEL, 1, True, True, False)
    assert "its labels are 0/1 flags, not grades (relevant-grade)" in str(unfit)
    assert "this model has 3 labels" in str(not_graded(Task.MULTI_LABEL, 3, True, True, True))


def test_on_unlabelled_pairs_a_rerankers_top_passages_kept_are_said_and_nothing_is_judged() -> None:
    """Without gold labels no MRR: how many queries keep torch's top passage is said (accuracy.json's
    `top_passage_kept`), beside the parity checks, and judged by none (no bound of it was measured)."""
    texts, reference, _ = reranking_set()
    swapped = top_two_swapped(texts, reference)
    ev = evaluate("onnx-int8", swapped, reference, None, precision="int8", size_bytes=1,
                  task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05, queries=query_ids(texts))
    summary = ev.summary()
    assert summary["top_passage_kept"] == [0, 40] and "mrr" not in summary
    assert "mrr_keep" not in judge_all(ev, bounds_for("onnx-int8", task=Task.MULTI_LABEL))
    kept = evaluate("onnx-int8", reference, reference, None, precision="int8", size_bytes=1,
                    task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05, queries=query_ids(texts))
    assert kept.summary()["top_passage_kept"] == [40, 40]


def test_too_few_ranked_queries_are_said_not_judged_and_a_model_that_is_no_reranker_says_nothing() -> None:
    texts, reference, gold = reranking_set(n_queries=MIN_QUERIES - 1)
    change = mrr_change(reference[:, 0], reference[:, 0], gold[:, 0] > 0, query_ids(texts))
    assert isinstance(change, Unranked)
    ev = judged(texts, reference, reference, gold)
    bounds = bounds_for("onnx-int8", task=Task.MULTI_LABEL)
    assert "mrr_keep" not in judge_all(ev, bounds)
    assert not_judged(ev, bounds)["mrr_keep"].startswith(f"mrr_keep not judged: {MIN_QUERIES - 1} of the ")
    single = evaluate("onnx-int8", reference, reference, gold, precision="int8", size_bytes=1,
                      task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05)  # single texts: no queries
    assert "mrr_keep" not in judge_all(single, bounds) and "mrr_keep" not in not_judged(single, bounds)
    # a one-label pair classifier (a duplicate question's, a paraphrase's): no first text repeats, so
    # there is no query of several passages; not a reranker's data, and its verdict says nothing of it
    pairs = [(f"question {i}", f"other question {i}") for i in range(len(reference))]
    paraphrase = evaluate("onnx-int8", reference, reference, gold, precision="int8", size_bytes=1,
                          task=Task.MULTI_LABEL, label_names=("LABEL_0",), atol=0.05,
                          queries=query_ids(pairs))
    assert "mrr_keep" not in judge_all(paraphrase, bounds)
    assert "mrr_keep" not in not_judged(paraphrase, bounds)
    assert "top_passage_kept" not in paraphrase.summary() and "mrr" not in paraphrase.summary()
    assert "no first text of these pairs repeats" in str(record("mrr_keep").not_for_evaluation(paraphrase))
    assert "no pair-column" in str(not_a_reranker(Task.MULTI_LABEL, 1, False))
    assert "has 28 labels" in str(not_a_reranker(Task.MULTI_LABEL, 28, True))
    assert not_a_reranker(Task.MULTI_LABEL, 1, True) is None


def reranker(path, pairs) -> tuple[str, np.ndarray]:
    """MiniLM's encoder with a fresh one-label head (a cross-encoder reranker's shape, one sigmoid score a
    pair: its scores differ by the texts, where a random encoder's barely do), saved to `path`, with its
    scores of `pairs`."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from encoder_gate.models.loading import quiet_transformers
    from encoder_gate.models.spec import minilm_dir

    torch.manual_seed(0)
    with quiet_transformers():  # (its report of the head it lacks)
        model = BertForSequenceClassification.from_pretrained(
            minilm_dir(), num_labels=1, problem_type="multi_label_classification").eval()
        model.save_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    tokenizer.save_pretrained(path)
    with torch.no_grad():
        logits = model(**tokenizer([q for q, _ in pairs], [p for _, p in pairs], padding=True,
                                   return_tensors="pt")).logits
    return str(path), logits[:, 0].numpy()


def reversed_order(batch, inner):
    """A runner whose scores rank every query's passages upside down."""
    return 1.0 - inner.predict(batch)


@pytest.mark.slow
def test_a_reranker_gate_collects_mrr_keep_passes_torch_and_fails_a_reversed_order(
        pytester: pytest.Pytester, cache_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-label model on labelled query-passage pairs: the shipped mrr_keep test is collected for each
    backend, accuracy.json carries MRR@10 and its CI, and a backend that reverses each query's order
    fails it, naming the queries ranked lower."""
    import json

    from encoder_gate.backends.mock import MockBackend
    from encoder_gate.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "reversed", lambda: MockBackend(reversed_order, name="reversed",
                                                                  around="torch"))
    pairs = [(f"what is item {q}?", f"item {q} is thing number {p} of {q * p}") for q in range(12)
             for p in range(4)]
    model, scores = reranker(pytester.path / "reranker", pairs)
    # the relevant passage of each query: the one the model ranks first (its reference MRR@10 is 1)
    relevant = {4 * q + int(np.argmax(scores[4 * q:4 * q + 4])) for q in range(12)}
    rows = [{"query": q, "passage": p, "label": int(i in relevant)} for i, (q, p) in enumerate(pairs)]
    (pytester.path / "rerank.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pytester.makepyfile(test_accuracy="from encoder_gate.suite.checks import *  # noqa: F403\n")
    result = pytester.runpytest(
        "--gate-model", model, "--gate-cache-dir", str(cache_dir), "--gate-backends", "torch,reversed",
        "--gate-dataset", "rerank.jsonl", "--gate-text-column", "query", "--gate-pair-column", "passage",
        "--gate-label-column", "label", "--gate-threads", "1", "--gate-report-dir", "report",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "mrr")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*reversed: *MRR@10*does not keep 0.999 x the reference*over 12 ranked "
                                 "queries*", "*queries ranked lower most*"])
    rows_of = json.loads((pytester.path / "report" / "accuracy.json").read_text())["backends"]
    assert rows_of["torch"]["ranked_queries"] == 12 and rows_of["torch"]["mrr_delta"] == 0
    assert rows_of["torch"]["mrr"] == 1.0
    assert rows_of["reversed"]["mrr"] < rows_of["torch"]["mrr"]
    assert len(rows_of["reversed"]["mrr_delta_ci"]) == 2
    verdict = (pytester.path / "report" / "verdict.md").read_text()
    assert "| backend | verdict | micro F1 | MRR@10 | drift max |" in verdict, verdict
    assert "| 1.0000 over 12 queries |" in verdict and "| 0.2500; change -0.7500 [" in verdict, verdict
    assert "MRR@10" in (pytester.path / "report" / "accuracy.md").read_text()
    # the same queries with graded relevance (TREC's 0 to 3: the top passage 3, the next 1), read relevant
    # from grade 2 on (relevant-grade): the same MRR@10, the verdict saying how its flags were read
    grade = dict.fromkeys(range(len(pairs)), 0)
    for top in relevant:
        grade[top], grade[top - top % 4 + (top + 1) % 4] = 3, 1  # (the next passage of its query: 1)
    (pytester.path / "graded.jsonl").write_text("".join(
        json.dumps({"query": q, "passage": p, "grade": grade[i]}) + "\n" for i, (q, p) in enumerate(pairs)))
    result = pytester.runpytest(
        "--gate-model", model, "--gate-cache-dir", str(cache_dir), "--gate-backends", "torch,reversed",
        "--gate-dataset", "graded.jsonl", "--gate-text-column", "query", "--gate-pair-column", "passage",
        "--gate-label-column", "grade", "--gate-relevant-grade", "2", "--gate-threads", "1",
        "--gate-report-dir", "graded", "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "mrr or ndcg")
    result.assert_outcomes(passed=2, failed=2)  # NDCG@10 on the grades too (ndcg_keep)
    result.stdout.fnmatch_lines(["*reversed: NDCG@10*does not keep 0.999 x the reference*"])
    graded = json.loads((pytester.path / "graded" / "accuracy.json").read_text())
    assert graded["backends"]["torch"]["mrr"] == 1.0 and graded["backends"]["torch"]["ranked_queries"] == 12
    torch_row, reversed_row = graded["backends"]["torch"], graded["backends"]["reversed"]
    assert torch_row["ndcg_delta"] == 0 and torch_row["ndcg_queries"] == 12
    assert reversed_row["ndcg"] < torch_row["ndcg"] and reversed_row["ndcg_delta_ci"][1] < 0
    assert "| MRR@10 | NDCG@10 | drift max |" in (pytester.path / "graded" / "verdict.md").read_text()
    assert graded["dataset"]["relevance"] == ("graded relevance in 'grade' (0, 1, 3), a row relevant from "
                                              "grade 2 on (relevant-grade): 12 of 48 rows")
    assert f"the evaluation set's {graded['dataset']['relevance']}" in (
        pytester.path / "graded" / "verdict.md").read_text()
    # the same pairs unlabelled (`--gate-texts`, a pair a line): no MRR, the top passages kept said
    (pytester.path / "rerank.txt").write_text("".join(f"{q}\t{p}\n" for q, p in pairs))
    result = pytester.runpytest(
        "--gate-model", model, "--gate-cache-dir", str(cache_dir), "--gate-backends", "torch,reversed",
        "--gate-texts", "rerank.txt", "--gate-pair-column", "passage", "--gate-threads", "1",
        "--gate-report-dir", "unlabelled", "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "drift_max")
    result.assert_outcomes(passed=1, failed=1)  # (reversed: its drift)
    verdict = (pytester.path / "unlabelled" / "verdict.md").read_text()
    assert "| backend | verdict | micro F1 | order | drift max |" in verdict, verdict
    assert "| top passage kept in 0 of 12 (not judged) |" in verdict and "| 12 queries |" in verdict, verdict
    # pairs whose first texts never repeat (a duplicate-question classifier's): no queries, so mrr_keep is
    # left out at collection, said in the line of checks left out, and the verdict has no order column
    (pytester.path / "duplicates.jsonl").write_text("".join(
        json.dumps({"query": q + f" ({i})", "passage": p, "label": int(i in relevant)}) + "\n"
        for i, (q, p) in enumerate(pairs)))
    result = pytester.runpytest(
        "--gate-model", model, "--gate-cache-dir", str(cache_dir), "--gate-backends", "torch",
        "--gate-dataset", "duplicates.jsonl", "--gate-text-column", "query", "--gate-pair-column", "passage",
        "--gate-label-column", "label", "--gate-threads", "1", "--gate-report-dir", "duplicates",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "mrr or drift_max")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*mrr_keep: applies to a reranker*no first text of these pairs repeats*"])
    assert "| order |" not in (pytester.path / "duplicates" / "verdict.md").read_text()


def test_a_pr_whose_reranker_lost_its_order_against_the_base_fails_by_the_mrr_rule() -> None:
    """Against a base (`--gate-base`, a baseline), the PR's reranker that swaps each query's top two
    keeps its F1 and per-label decisions (every score above 0.5 on both sides) and fails by MRR@10."""
    from types import SimpleNamespace

    from encoder_gate.reporting.ab import summary_lines
    from encoder_gate.reporting.verdict import _ab_cells
    from encoder_gate.results.ab import accuracy_entry
    from encoder_gate.runtime.versus import MRR_LOSS, NDCG_LOSS, AgainstBase

    flat_texts, flat_scores, flat_gold = reranking_set()
    graded_texts, graded_scores, grades = graded_set()  # relevant from grade 2: both top passages
    graded_gold = (grades >= 2).astype(np.uint8)[:, None]
    model = SimpleNamespace(name="reranker", content_hash="abc", task=Task.MULTI_LABEL,
                            label_names=("LABEL_0",))

    class Versus(AgainstBase):
        base_model = model
        base_scores = flat_scores

        def predictions(self, name: str) -> np.ndarray:  # the base's
            return self.base_scores

    cases = (("kept", flat_texts, flat_scores, flat_gold, None, flat_scores, []),
             ("swapped", flat_texts, flat_scores, flat_gold, None, top_two_swapped(flat_texts, flat_scores),
              [MRR_LOSS]),
             # graded: the PR ranks each query's grade 2 above its grade 3, both relevant: MRR@10 kept
             ("graded", graded_texts, graded_scores, graded_gold, grades,
              top_two_swapped(graded_texts, graded_scores), [NDCG_LOSS]))
    for case, texts, base_scores, gold, graded, pr_out, failed in cases:
        pr = SimpleNamespace(
            model=model, gold=gold, labelled=True, thresholds=None, flips_at=None,
            dataset=SimpleNamespace(texts=texts, groups=None, queries=query_ids(texts), grades=graded),
            config=SimpleNamespace(f1_rule="point", f1_margin=0.01, per_label_min_support=30),
            predictions=lambda name, out=pr_out: out, built=lambda name: SimpleNamespace(precision="fp32",
                                                                                          size_bytes=1),
            bounds=lambda name, against_base=False: bounds_for("onnx-fp32", task=Task.MULTI_LABEL))
        versus = Versus()
        versus.pr, versus.pairs, versus.base_scores = pr, {"torch": "torch"}, base_scores
        versus._evaluations, versus._growths = {}, {}
        assert versus.accuracy_failed_by("torch") == failed, case
        entry = accuracy_entry(versus.accuracy("torch"), None)  # ab.json's, baseline.json's
        ranking = entry["ranking"]
        assert (ranking["mrr_delta"] < 0) == (failed == [MRR_LOSS]), ranking
        [(line, _)] = summary_lines({"accuracy": {"torch": entry}})  # the terminal's line
        cell = _ab_cells({"accuracy": {"torch": {**entry, "failed_by": failed}}})[0]["torch"]  # the verdict's
        measures = (("MRR@10", "mrr"), ("NDCG@10", "ndcg"))[:1 if graded is None else 2]
        for measure, key in measures:
            value, delta = ranking[key], ranking[f"{key}_delta"]
            assert f"{measure} {value:.4f} vs base {value - delta:.4f}, change {delta:+.4f}" in line
            assert f"; {measure} {delta:+.4f} [" in cell, cell
        assert ("ndcg" in ranking) == (graded is not None)
        message = versus.accuracy_failure("torch")
        if failed:
            lost = failed[0].removesuffix(" rule")
            assert message is not None and f"lost its ranking ({lost}; its F1 rule and per-label" in message
            assert f"{lost} rule point: {lost} " in message and "ranked queries" in message
        else:
            assert message is None


def test_init_says_a_rerankers_order_is_judged(tmp_path) -> None:
    """`encoder-gate init` of a one-label model on a dataset of pairs says the check its order gets; of
    the same dataset's first texts alone it says nothing of it."""
    import json

    from test_init import init

    model = tmp_path / "models" / "clf"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({
        "architectures": ["BertForSequenceClassification"], "id2label": {"0": "LABEL_0"},
        "problem_type": "multi_label_classification"}))
    (tmp_path / "rerank.jsonl").write_text("".join(
        json.dumps({"query": f"q{q}", "passage": f"p{p}", "label": int(p == 0)}) + "\n"
        for q in range(3) for p in range(3)))
    said = "a reranker (one score a pair): its order is judged too, MRR@10 over the queries (the rows "
    plan = init(tmp_path, dataset="rerank.jsonl")
    assert any(n.startswith(said + "of one 'query'), check mrr_keep") for n in plan.notes), plan.notes
    plan = init(tmp_path, dataset="rerank.jsonl", text_column="query", label_column="label", force=True)
    assert not any(said in n for n in plan.notes), plan.notes  # (the passage left out: single texts)
    (tmp_path / "duplicates.jsonl").write_text("".join(  # a duplicate-question classifier's pairs
        json.dumps({"question1": f"q{i}", "question2": f"r{i}", "label": i % 2}) + "\n" for i in range(6)))
    plan = init(tmp_path, dataset="duplicates.jsonl", force=True)
    assert not any(said in n for n in plan.notes), plan.notes  # (no first text repeats: no queries)
