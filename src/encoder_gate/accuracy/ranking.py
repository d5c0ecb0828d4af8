"""A reranker's ranking: MRR@10 over the queries of a pair dataset, backend against reference.

A reranker (a cross-encoder: one sigmoid score a query-passage pair) serves an order, not a
decision: its passages are sorted by score within each query. Drift in [0, 1] and F1 of 0/1 flags
at a threshold do not see a backend that swaps a query's top two passages while every score
stays on its side of 0.5. So a one-label model judged on pairs is also judged on the rank of the
first relevant passage of each query (its reciprocal rank, 0 beyond the 10th):

    queries = dataset.queries                   # one id per row: its first text (None: no pairs)
    change = mrr_change(reference[:, 0], probs[:, 0], gold[:, 0], queries)
    change.delta, change.ci                    # MRR@10 backend minus reference, 95% CI over queries
    graded = ndcg_change(reference[:, 0], probs[:, 0], dataset.grades, queries)   # NDCG@10, the grades'

Where the rows carry graded relevance (`relevant-grade`: TREC's 0 to 3), NDCG@10 is judged too, on
the grades themselves (linear gains, as pytrec_eval and BEIR count them), where MRR@10 reads the 0/1
flags they give. Each measure and the check that judges it is one record (`MRR_RANKING`,
`NDCG_RANKING`: `Ranking`).

A query is ranked where some but not all of its passages are relevant (a query whose passages are
all relevant, or none, is ranked the same by any order). The interval is a
paired bootstrap over those queries (each resample draws queries, both sides scored on the same
ones), so the unit of evidence is a query, not a pair: 200 pairs of 20 queries are 20 units.
Ties rank pessimistically (a relevant passage tied with an irrelevant one ranks below it), the
same rule on both sides, so a saturated score cannot lift a backend's rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from encoder_gate.accuracy.f1_rules import decide_f1, judged_end
from encoder_gate.accuracy.significance import DeltaCI
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.data.pairs import Text, clipped
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
NDCG = f"NDCG@{CUTOFF}"
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


def ndcgs(scores: np.ndarray, grades: np.ndarray, queries: np.ndarray,
          cutoff: int = CUTOFF) -> tuple[np.ndarray, np.ndarray]:
    """(the ranked queries' ids, each one's NDCG@`cutoff` of the order `scores` give its rows). A query is
    ranked where its rows hold two or more grades, the highest above 0 (any order of equal grades scores
    the same). Gains are the grades, linear, a negative one counting 0; the discount 1/log2(1 + rank);
    ties rank pessimistically (the lower grade first), alike on both sides."""
    scores = np.asarray(scores, dtype=np.float64)
    gains = np.clip(np.asarray(grades, dtype=np.float64), 0.0, None)
    ids, q = np.unique(queries, return_inverse=True)
    q = q.reshape(-1)
    n = len(ids)
    high, low = np.full(n, -np.inf), np.full(n, np.inf)
    np.maximum.at(high, q, gains)
    np.minimum.at(low, q, gains)
    ranked = (high > low) & (high > 0)
    by_score = np.lexsort((gains, -scores, q))  # each query's rows by score, ties the lower grade first
    ideal = np.lexsort((-gains, q))  # each query's rows by grade
    grouped = q[by_score]  # (the same query order under both sorts)
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    rank = np.arange(len(q)) - np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    discount = np.where(rank < cutoff, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg = np.bincount(grouped, weights=gains[by_score] * discount, minlength=n)
    best = np.bincount(grouped, weights=gains[ideal] * discount, minlength=n)
    return ids[ranked].astype(np.int64), dcg[ranked] / best[ranked]


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
    return _change(f"MRR@{cutoff}", reciprocal_ranks(reference, relevant, queries, cutoff),
                   reciprocal_ranks(scores, relevant, queries, cutoff)[1], queries, min_queries,
                   "have two or more passages of which some but not all are relevant")


def ndcg_change(reference: np.ndarray, scores: np.ndarray, grades: np.ndarray, queries: np.ndarray,
                *, cutoff: int = CUTOFF, min_queries: int = MIN_QUERIES) -> DeltaCI | Unranked:
    """NDCG@`cutoff` of `scores` minus the reference's on graded relevance, with its paired-bootstrap CI
    over the ranked queries; or why there is no such change to judge."""
    return _change(f"NDCG@{cutoff}", ndcgs(reference, grades, queries, cutoff),
                   ndcgs(scores, grades, queries, cutoff)[1], queries, min_queries,
                   "have two or more passages of two or more grades")


def _change(metric: str, reference: tuple[np.ndarray, np.ndarray], values: np.ndarray, queries: np.ndarray,
            min_queries: int, rankable: str) -> DeltaCI | Unranked:
    """`values` (one a ranked query) minus the reference's (its ranked queries' ids and values), with
    the paired-bootstrap CI over the queries; or why not (fewer than `min_queries`, which `rankable`)."""
    ranked, ref_values = reference
    if len(ranked) < min_queries:
        return Unranked(f"{len(ranked)} of the {len(np.unique(queries))} queries (the rows of one first "
                        f"text, or of one reranking sample) {rankable}; {metric} is judged on at least "
                        f"{min_queries} such queries (the query is the text column, its passages the "
                        "pair-column)")
    diffs = values - ref_values
    ci = bootstrap_ci([diffs], np.mean, confidence=CONFIDENCE, n_resamples=N_RESAMPLES, seed=SEED,
                      batch=max(1, BATCH_ELEMENTS // len(diffs)))
    assert ci is not None  # (min_queries >= 2)
    spread = np.std(diffs, ddof=1) if len(diffs) > 1 else 0.0
    return DeltaCI(metric=metric, delta=float(diffs.mean()), ci_low=ci[0], ci_high=ci[1],
                   n=len(ranked), ref_value=float(ref_values.mean()), value=float(values.mean()),
                   se=float(spread / np.sqrt(len(diffs))), confidence=CONFIDENCE, n_resamples=N_RESAMPLES)


def ranks(task: Task | str, n_labels: int, paired: bool) -> bool:
    """Whether a model of `task` with `n_labels` outputs, judged on pairs (`paired`) or not, is a
    reranker whose scores rank each query's passages: one sigmoid score a pair."""
    return Task.of(task) is Task.MULTI_LABEL and n_labels == 1 and paired


def not_a_reranker(task: Task, outputs: int, paired: bool, repeats: bool = True,
                   graded: bool = False) -> str | None:
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


def not_graded(task: Task, outputs: int, paired: bool, repeats: bool = True,
               graded: bool = False) -> str | None:
    """Why NDCG does not fit: as MRR (`not_a_reranker`), or the rows carry 0/1 flags, not grades."""
    unfit = not_a_reranker(task, outputs, paired, repeats)
    if unfit is None and graded:
        return None
    what = unfit.split("; ", 1)[1] if unfit else "its labels are 0/1 flags, not grades (relevant-grade)"
    return (f"ndcg_keep applies to a reranker judged on graded relevance (relevant-grade: TREC's 0 to 3, "
            f"say), its order scored by the grades; {what}")


@dataclass(frozen=True)
class Ranking:
    """One measure of a reranker's order and the check that judges it (its record: accuracy.checks): the
    evaluation's change of it against the reference, the per-query values that change is the mean of,
    what they are computed against (the 0/1 flags, or the grades), and accuracy.json's keys. The check
    decides by the F1 keep check's rule and margin; its point shares are the F1 keep's."""

    name: str  # MRR@10
    check: str  # mrr_keep
    key: str  # accuracy.json's `mrr`, `mrr_delta`, `mrr_delta_ci`
    count: str  # accuracy.json's count of ranked queries
    change_of: Callable[[Evaluation], DeltaCI | Unranked | None]
    per_query: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    target_of: Callable[[Evaluation], np.ndarray | None]  # a row's flag or grade
    marked: Callable[[float], str]  # a passage's flag or grade, as a failure shows it
    # why it does not fit a model and its texts (task, outputs, paired, repeats, graded): its check's
    unsuited: Callable[[Task, int, bool, bool, bool], str | None]
    each: str  # what one query's value is called (MRR@10 is the mean of reciprocal ranks)

    def keys(self, change: DeltaCI | Unranked | None) -> dict[str, Any]:
        """accuracy.json's keys of a backend's change (all null where nothing was ranked)."""
        if not isinstance(change, DeltaCI):
            return dict.fromkeys((self.key, f"{self.key}_delta", f"{self.key}_delta_ci", self.count))
        return {self.key: change.value, f"{self.key}_delta": change.delta,
                f"{self.key}_delta_ci": list(change.ci), self.count: change.n}

    def _change(self, ev: Evaluation) -> DeltaCI:
        change = self.change_of(ev)
        assert isinstance(change, DeltaCI), change
        return change

    def unranked(self, ev: Evaluation) -> str | None:
        """Why this reranker's evaluation ranks nothing (too few queries to rank); None where it ranks
        (a model the measure does not fit: the record's `unsuited`)."""
        change = self.change_of(ev)
        return f"{self.check} not judged: {change.reason}" if isinstance(change, Unranked) else None

    def _decision(self, ev: Evaluation, bounds: Bounds) -> tuple[bool, str]:
        """The F1 keep check's rule (and margin) applied to the change: (passed, reason)."""
        change, s = self._change(ev), ev.stats
        rule, margin = (s.rule, s.margin) if s is not None else ("point", 0.0)
        decided = decide_f1(change, rule, margin, bounds.of(self.check), change.ref_value)
        return decided.passed, decided.reason

    def decided(self, ev: Evaluation, bounds: Bounds) -> bool | None:
        """The CI rules' verdict on the change; None under the point rule (its read decides)."""
        s = ev.stats
        return self._decision(ev, bounds)[0] if s is not None and s.rule != "point" else None

    def keep(self, ev: Evaluation, bounds: Bounds) -> tuple[float, float]:
        """As the F1 keep check: the point rule's value against the check's share of the reference's, or
        the CI's end against -margin."""
        change, s = self._change(ev), ev.stats
        if s is not None and s.rule != "point":
            return judged_end(change, s.rule), -s.margin
        return change.value, bounds.of(self.check) * change.ref_value

    def failure(self, ev: Evaluation, bounds: Bounds, observed: float, bound: float) -> str:
        return f"{self._decision(ev, bounds)[1]}, over {self._change(ev).n} ranked queries"

    def worst(self, ev: Evaluation, bounds: Bounds, texts: Sequence[Text], label_names: Sequence[str],
              shown: int = 3) -> list[str]:
        """The queries whose value fell furthest, each with its top passages by the backend's score
        beside the reference's."""
        queries, target = ev.queries, self.target_of(ev)  # (the queries it was ranked by)
        if queries is None or target is None:
            return []
        ids, before = self.per_query(ev.reference[:, 0], target, queries)
        _, after = self.per_query(ev.probs[:, 0], target, queries)
        change = self._change(ev)
        lines = [f"  {self.name} {change.value:.4f} vs reference {change.ref_value:.4f}, change "
                 f"{change.delta:+.4f} [{change.ci_low:+.4f}, {change.ci_high:+.4f}] over {change.n} "
                 f"queries; {int((after < before).sum())} ranked lower, {int((after > before).sum())} higher",
                 "  queries ranked lower most (top passages by this backend's score: reference -> backend):"]
        for j in np.argsort(after - before, kind="stable")[:shown]:
            if after[j] >= before[j]:
                break
            rows = np.flatnonzero(queries == ids[j])
            query = texts[rows[0]][0]
            lines.append(f"  query {clipped(query, 100)!r}: {self.each} {before[j]:.3f} -> {after[j]:.3f}")
            for i in rows[np.argsort(-ev.probs[rows, 0], kind="stable")][:3]:
                lines.append(f"      {self.marked(float(target[i])):8} {ev.reference[i, 0]:.4f} -> "
                             f"{ev.probs[i, 0]:.4f}  {clipped(texts[i][1], 80)!r}")
        return lines


def _flags(ev: Evaluation) -> np.ndarray | None:
    return None if ev.stats is None else ev.stats.gold[:, 0]


#: MRR@10 on the 0/1 flags (mrr_keep), and NDCG@10 on the grades where the rows carry them (ndcg_keep)
MRR_RANKING = Ranking(MRR, "mrr_keep", "mrr", "ranked_queries", lambda ev: ev.ranking, reciprocal_ranks,
                      _flags, lambda flag: "relevant" if flag else "", not_a_reranker, "reciprocal rank")
NDCG_RANKING = Ranking(NDCG, "ndcg_keep", "ndcg", "ndcg_queries", lambda ev: ev.graded_ranking, ndcgs,
                       lambda ev: ev.grades, lambda grade: f"grade {grade:g}", not_graded, NDCG)
RANKINGS = (MRR_RANKING, NDCG_RANKING)


def ranked_keys(ev: Evaluation) -> dict[str, Any]:
    """The keys of each measure of a reranker's order its evaluation holds, as accuracy.json's rows and
    ab.json's `ranking` carry them (none for any other model)."""
    return {key: value for ranking in RANKINGS if (change := ranking.change_of(ev)) is not None
            for key, value in ranking.keys(change).items()}

