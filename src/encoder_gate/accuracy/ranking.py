"""A reranker's ranking: MRR@10 over the queries of a pair dataset, backend against reference.

A reranker (a cross-encoder: one sigmoid score a query-passage pair) serves an order, not a
decision: its passages are sorted by score within each query. Drift in [0, 1] and F1 of 0/1 flags
at a threshold do not see a backend that swaps a query's top two passages while every score
stays on its side of 0.5. So a one-label model judged on pairs is also judged on the rank of the
first relevant passage of each query (its reciprocal rank, 0 beyond the 10th):

    queries = dataset.queries                   # one id per row: its first text (None: no pairs)
    change = mrr_change(reference[:, 0], probs[:, 0], gold[:, 0], queries)
    change.delta, change.ci                    # MRR@10 backend minus reference, 95% CI over queries

A query is ranked where some but not all of its passages are relevant (a query whose passages are
all relevant, or none, is ranked the same by any order). The interval is a
paired bootstrap over those queries (each resample draws queries, both sides scored on the same
ones), so the unit of evidence is a query, not a pair: 200 pairs of 20 queries are 20 units.
Ties rank pessimistically (a relevant passage tied with an irrelevant one ranks below it), the
same rule on both sides, so a saturated score cannot lift a backend's rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from encoder_gate.accuracy.significance import DeltaCI, decide_f1, judged_end
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.data.pairs import Text, clipped, query_ids
from encoder_gate.statistics import bootstrap_ci
from encoder_gate.tasks import Task

if TYPE_CHECKING:  # (the evaluation holds this module's change: imported for the annotations only)
    from encoder_gate.accuracy.evaluation import Evaluation

#: The ranks counted: a relevant passage below the 10th scores 0 (MRR@10, MS MARCO's measure).
CUTOFF = 10
#: Ranked queries below which the change is not judged: its interval is a bootstrap over queries, and
#: a handful of them (the bootstrap needs two) are a handful of units, whatever the rows.
MIN_QUERIES = 10
MRR = f"MRR@{CUTOFF}"
N_RESAMPLES, SEED, CONFIDENCE = 2000, 0, 0.95
#: Resampled values held at once (the bootstrap's batches): 16 MB of float64, whatever the queries.
BATCH_ELEMENTS = 2_000_000


def reciprocal_ranks(scores: np.ndarray, relevant: np.ndarray, queries: np.ndarray,
                     cutoff: int = CUTOFF) -> tuple[np.ndarray, np.ndarray]:
    """(the ranked queries' ids, each one's reciprocal rank of its best-ranked relevant row, 0 past
    `cutoff`). A query is ranked where some but not all of its rows are relevant. One pass over the
    rows (an MS MARCO dev set is 7,000 queries of 1,000 passages each)."""
    scores, relevant = np.asarray(scores, dtype=np.float64), np.asarray(relevant, dtype=bool)
    ids, q = np.unique(queries, return_inverse=True)
    q = q.reshape(-1)
    n = len(ids)
    ranked = (np.bincount(q[relevant], minlength=n) > 0) & (np.bincount(q[~relevant], minlength=n) > 0)
    best = np.full(n, -np.inf)
    np.maximum.at(best, q[relevant], scores[relevant])  # each query's best-scored relevant row
    others = q[~relevant]  # ties below: pessimistic, alike on both sides
    rank = 1 + np.bincount(others, weights=scores[~relevant] >= best[others], minlength=n)
    rr = np.where(rank <= cutoff, 1.0 / rank, 0.0)
    return ids[ranked].astype(np.int64), rr[ranked]


def top_kept(reference: np.ndarray, scores: np.ndarray, queries: np.ndarray) -> tuple[int, int]:
    """(how many queries of two or more passages keep the reference's top passage first, how many such
    queries there are): a reranker's order without gold labels, said beside the parity checks and not
    judged (no bound of it was measured). A passage tied with the top one counts as the top (the first
    of them by row, on both sides alike)."""
    ids, q = np.unique(queries, return_inverse=True)
    q = q.reshape(-1)
    many = np.bincount(q, minlength=len(ids)) >= 2

    def top(s: np.ndarray) -> np.ndarray:
        order = np.lexsort((np.arange(len(s)), -np.asarray(s, dtype=np.float64), q))  # query, score, row
        first = np.ones(len(order), dtype=bool)
        first[1:] = q[order][1:] != q[order][:-1]
        picked = np.empty(len(ids), dtype=np.int64)
        picked[q[order][first]] = order[first]
        return picked

    kept = (top(reference) == top(scores))[many]
    return int(kept.sum()), int(many.sum())


@dataclass(frozen=True)
class Unranked:
    """Why a set gives the ranking nothing to judge."""

    reason: str


def mrr_change(reference: np.ndarray, scores: np.ndarray, relevant: np.ndarray, queries: np.ndarray,
               *, cutoff: int = CUTOFF, min_queries: int = MIN_QUERIES) -> DeltaCI | Unranked:
    """MRR@`cutoff` of `scores` minus the reference's, with its paired-bootstrap CI over the ranked
    queries; or why there is no such change to judge (fewer than `min_queries` ranked queries)."""
    ranked, ref_rr = reciprocal_ranks(reference, relevant, queries, cutoff)
    _, rr = reciprocal_ranks(scores, relevant, queries, cutoff)
    n_queries = len(np.unique(queries))
    if len(ranked) < min_queries:
        return Unranked(f"{len(ranked)} of the {n_queries} queries (rows grouped by their first text) "
                        f"have two or more passages of which some but not all are relevant; MRR@{cutoff} "
                        f"is judged on at least {min_queries} such queries (the query is the text column, "
                        "its passages the pair-column)")
    diffs = rr - ref_rr
    ci = bootstrap_ci([diffs], np.mean, confidence=CONFIDENCE, n_resamples=N_RESAMPLES, seed=SEED,
                      batch=max(1, BATCH_ELEMENTS // len(diffs)))
    assert ci is not None  # (min_queries >= 2)
    spread = np.std(diffs, ddof=1) if len(diffs) > 1 else 0.0
    return DeltaCI(metric=f"MRR@{cutoff}", delta=float(diffs.mean()), ci_low=ci[0], ci_high=ci[1],
                   n=len(ranked), ref_value=float(ref_rr.mean()), value=float(rr.mean()),
                   se=float(spread / np.sqrt(len(diffs))), confidence=CONFIDENCE, n_resamples=N_RESAMPLES)


def ranks(task: Task | str, n_labels: int, paired: bool) -> bool:
    """Whether a model of `task` with `n_labels` outputs, judged on pairs (`paired`) or not, is a
    reranker whose scores rank each query's passages: one sigmoid score a pair."""
    return Task.of(task) is Task.MULTI_LABEL and n_labels == 1 and paired


def ranking_keys(change: DeltaCI | Unranked | None) -> dict[str, Any]:
    """accuracy.json's ranking keys of a backend: its MRR@10, the change and its CI, the queries
    ranked (all null where nothing was ranked)."""
    if not isinstance(change, DeltaCI):
        return dict.fromkeys(("mrr", "mrr_delta", "mrr_delta_ci", "ranked_queries"))
    return {"mrr": change.value, "mrr_delta": change.delta, "mrr_delta_ci": list(change.ci),
            "ranked_queries": change.n}


# --- the mrr_keep check's parts (its record: accuracy.checks.CHECKS) ----------------------------

def not_a_reranker(task: Task, outputs: int, paired: bool, repeats: bool = True) -> str | None:
    """Why MRR does not fit: the model is no reranker (one sigmoid score a pair), the texts are no
    pairs to rank within their queries, or no first text of the pairs repeats (a pair classifier's
    rows, a paraphrase's or a duplicate question's, each its own query)."""
    if ranks(task, outputs, paired) and repeats:
        return None
    what = (f"this model has {outputs} labels" if outputs != 1 else
            "these texts are single (no pair-column): no query has passages to rank" if not paired else
            "no first text of these pairs repeats: each row is a query of one passage, nothing to rank")
    return (f"mrr_keep applies to a reranker, one sigmoid score a query-passage pair judged on labelled "
            f"pairs (the rows of a query ranked by score); {what}")


def _ranking(ev: Evaluation) -> DeltaCI:
    assert isinstance(ev.ranking, DeltaCI), ev.ranking
    return ev.ranking


def unranked(ev: Evaluation) -> str | None:
    """Why this reranker's evaluation ranks nothing (too few queries with relevant and other
    passages); None where it ranks (a model that is no reranker: `not_a_reranker`)."""
    return f"mrr_keep not judged: {ev.ranking.reason}" if isinstance(ev.ranking, Unranked) else None


def _mrr_decision(ev: Evaluation, bounds: Bounds) -> tuple[bool, str]:
    """The F1 keep check's rule (and margin) applied to MRR@10's change: (passed, reason)."""
    change, s = _ranking(ev), ev.stats
    rule, margin = (s.rule, s.margin) if s is not None else ("point", 0.0)
    decided = decide_f1(change, rule, margin, bounds.of("mrr_keep"), change.ref_value)
    return decided.passed, decided.reason


def mrr_decided(ev: Evaluation, bounds: Bounds) -> bool | None:
    """The CI rules' verdict on MRR's change; None under the point rule (its read decides)."""
    s = ev.stats
    return _mrr_decision(ev, bounds)[0] if s is not None and s.rule != "point" else None


def mrr_keep(ev: Evaluation, bounds: Bounds) -> tuple[float, float]:
    """As the F1 keep check: the point rule's MRR against mrr_keep x the reference's, or the CI's end
    against -margin."""
    change, s = _ranking(ev), ev.stats
    if s is not None and s.rule != "point":
        return judged_end(change, s.rule), -s.margin
    return change.value, bounds.of("mrr_keep") * change.ref_value


def mrr_failure(ev: Evaluation, bounds: Bounds, observed: float, bound: float) -> str:
    return f"{_mrr_decision(ev, bounds)[1]}, over {_ranking(ev).n} ranked queries"


def worst_queries(ev: Evaluation, bounds: Bounds, texts: Sequence[Text],
                   label_names: Sequence[str], shown: int = 3) -> list[str]:
    """The queries whose first relevant passage fell furthest, each with its top passages by the
    backend's score beside the reference's."""
    queries = query_ids(texts)
    if queries is None or ev.stats is None:
        return []
    relevant = ev.stats.gold[:, 0]
    ids, ref_rr = reciprocal_ranks(ev.reference[:, 0], relevant, queries)
    _, rr = reciprocal_ranks(ev.probs[:, 0], relevant, queries)
    change = _ranking(ev)
    lines = [f"  {MRR} {change.value:.4f} vs reference {change.ref_value:.4f}, change {change.delta:+.4f} "
             f"[{change.ci_low:+.4f}, {change.ci_high:+.4f}] over {change.n} queries; "
             f"{int((rr < ref_rr).sum())} ranked lower, {int((rr > ref_rr).sum())} higher",
             "  queries ranked lower most (top passages by this backend's score: reference -> backend):"]
    for j in np.argsort(rr - ref_rr, kind="stable")[:shown]:
        if rr[j] >= ref_rr[j]:
            break
        rows = np.flatnonzero(queries == ids[j])
        query = texts[rows[0]][0]
        lines.append(f"  query {clipped(query, 100)!r}: reciprocal rank {ref_rr[j]:.3f} -> {rr[j]:.3f}")
        for i in rows[np.argsort(-ev.probs[rows, 0], kind="stable")][:3]:
            mark = "relevant" if relevant[i] else "        "
            lines.append(f"      {mark} {ev.reference[i, 0]:.4f} -> {ev.probs[i, 0]:.4f}  "
                         f"{clipped(texts[i][1], 80)!r}")
    return lines
