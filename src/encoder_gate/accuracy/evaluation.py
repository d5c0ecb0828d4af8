"""A backend's evaluation: its outputs against the reference and the gold labels, with error bars.

    evaluation = evaluate(name, probs, reference, gold, precision=..., size_bytes=..., task=...,
                          label_names=..., atol=bounds.atol)
    judge_all(evaluation, bounds)   # (accuracy.checks) every check that applies (accuracy.json)

Drift and flips against the same-run torch reference, task metrics against gold labels.
With gold labels a classifier's evaluation also carries error bars (`Evaluation.stats`,
:class:`AccuracyStats`, from :mod:`encoder_gate.accuracy.significance`): the headline F1 change with
its paired-bootstrap 95% CI, exact McNemar on the discordant decisions, the minimum
detectable F1 drop, and a per-label verdict (:mod:`encoder_gate.accuracy.per_label`). The
checks themselves, and the message of a check that fails, are records in
:mod:`encoder_gate.accuracy.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from encoder_gate.accuracy.f1_rules import F1_RULES, F1Decision, F1Rule, decide_f1
from encoder_gate.accuracy.metrics import (
    Drift,
    cosine_similarity,
    drift,
    multilabel_metrics,
    relative_l2,
    singlelabel_metrics,
)
from encoder_gate.accuracy.per_label import LabelResult, per_label, rare_labels_lost
from encoder_gate.accuracy.ranking import (
    Unranked,
    mrr_change,
    ndcg_change,
    ranked_keys,
    ranks,
    top_kept,
)
from encoder_gate.accuracy.significance import (
    DeltaCI,
    McNemar,
    correct,
    mcnemar,
    metric_ci,
    min_detectable_drop,
    paired_delta,
    score,
    underpowered_warning,
)
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.data.pairs import has_queries
from encoder_gate.tasks import THRESHOLD, Task

#: Paired-bootstrap resamples and seed of the F1 change's CI and of the MDE (same resamples).
N_RESAMPLES, SEED = 2000, 0
#: Random guessers drawn per guessing rule to place chance (`AccuracyStats.best_guess`).
GUESSES = 200
#: Texts below which guessers are not drawn: their 95th percentile spreads so wide that a trained
#: head falls under it (review AK: a 70%-accurate 2-class head on 20 texts, in 10 of 20 draws).
MIN_GUESS_TEXTS = 100


class UnderpoweredWarning(UserWarning):
    """The evaluation set is too small to see an F1 drop of the configured margin."""


@dataclass(frozen=True)
class AccuracyStats:
    """A classifier's F1 change with error bars, and the decisions behind it.

    `delta`: backend minus reference headline F1 (micro for multi-label, macro for
    single-label) with its 95% paired-bootstrap CI; `mcnemar`: exact McNemar test of the
    decisions each side gets right (multi-label: one unit per (example, label) decision;
    single-label: per example); `mde_f1`: the smallest F1 drop this set detects at 80%
    power, given this backend's disagreement with the reference
    (:func:`~encoder_gate.accuracy.significance.min_detectable_drop`). `rule`, `margin` and
    `min_support` are the configured F1 rule, F1 margin and per-label support floor.
    The decision matrices (n, L) are the ones the task metrics use; `groups` (None: every
    text distinct) makes each distinct text one unit of every error bar and test
    (:attr:`~encoder_gate.data.datasets.Dataset.groups`).
    """

    task: Task
    delta: DeltaCI
    value_ci: tuple[float, float]  # the backend's own headline metric, 95% bootstrap CI
    mcnemar: McNemar
    mde_f1: float
    rule: F1Rule
    margin: float
    min_support: int
    label_names: tuple[str, ...]
    gold: np.ndarray = field(repr=False)
    ref_dec: np.ndarray = field(repr=False)
    dec: np.ndarray = field(repr=False)
    groups: np.ndarray | None = field(default=None, repr=False)
    _per_label: dict[float, list[LabelResult]] = field(default_factory=dict, repr=False, compare=False)

    def per_label(self, keep: float) -> list[LabelResult]:
        """Every label judged on its own (:func:`~encoder_gate.accuracy.per_label.per_label`)."""
        if keep not in self._per_label:
            self._per_label[keep] = per_label(self.gold, self.ref_dec, self.dec, self.label_names,
                                              min_support=self.min_support, keep=keep, groups=self.groups)
        return self._per_label[keep]

    def rare_labels_lost(self, keep: float, side: str) -> str | None:
        """The labels too rare to judge that lost every hit `side` had (per_label.rare_labels_lost)."""
        return rare_labels_lost(self.per_label(keep), self.min_support, side)

    def failing_labels(self, keep: float) -> list[LabelResult]:
        """The labels with enough support whose verdict is "fail"."""
        return [r for r in self.per_label(keep) if r.verdict == "fail"]

    def decision(self, point_keep: float) -> F1Decision:
        """The F1 keep check's verdict under the configured rule."""
        return decide_f1(self.delta, self.rule, self.margin, point_keep, self.delta.ref_value)

    def best_guess(self) -> tuple[float, str]:
        """The best headline score a rule reaches without reading the texts, and the rule: each rule
        that decides the same for every text (a class; the labels of the k largest supports, which
        for k labels score best), and from `MIN_GUESS_TEXTS` texts on the 95th percentile of `GUESSES`
        random guessers (classes uniformly and in the gold's proportions; labels at their gold rates
        and at one half, as a random head decides): a score at or below it tells no text apart from
        chance."""
        n, width = self.gold.shape
        eye = np.eye(width, dtype=np.bool_)
        rng = np.random.default_rng(SEED)
        rates = self.gold.mean(axis=0)
        if self.task.record.decision == "argmax":
            rules = [(eye[j], f"class {self._label(j)} for every text") for j in range(width)]
            shares = rates / rates.sum() if rates.sum() else np.full(width, 1 / width)
            draws = {"guessing classes at random": lambda: eye[rng.integers(0, width, n)],
                     "guessing classes in the gold's proportions":
                         lambda: eye[rng.choice(width, n, p=shares)]}
        else:
            order = np.argsort(-self.gold.sum(axis=0), kind="stable")
            rules = []
            for k in range(1, width + 1):
                names = ", ".join(self._label(int(j)) for j in order[:k])
                said = f"labels {names}" if k <= 3 else f"the {k} most frequent labels"
                said += " for every text"
                rules.append((np.isin(np.arange(width), order[:k]), said))
            draws = {"guessing each label at its gold rate": lambda: rng.random((n, width)) < rates,
                     "guessing each label with even odds": lambda: rng.random((n, width)) < 0.5}
        scored = [(score(self.gold, np.broadcast_to(row, (n, width)), self.task), said)
                  for row, said in rules]
        for said, draw in draws.items() if n >= MIN_GUESS_TEXTS else ():
            guessed = [score(self.gold, draw(), self.task) for _ in range(GUESSES)]
            scored.append((float(np.percentile(guessed, 95)), f"{said}, the 95th percentile of {GUESSES}"))
        return max(scored, key=lambda pair: pair[0])

    def _label(self, index: int) -> str:
        return repr(self.label_names[index]) if index < len(self.label_names) else str(index)

    @property
    def underpowered(self) -> str | None:
        """Plain words when the set is too small to see a drop of `margin`, else None."""
        units = None if self.groups is None else len(np.unique(self.groups))
        return underpowered_warning(self.mde_f1, self.margin, self.delta.n, metric=self.task.headline_name,
                                    distinct=units if units is not None and units < self.delta.n else None)

    def as_dict(self, keep: float) -> dict[str, Any]:
        """The accuracy.json keys: f1_delta, f1_delta_ci, mcnemar_p, mde_f1, per_label and context."""
        return {
            "f1_delta": self.delta.delta, "f1_delta_ci": list(self.delta.ci), "f1_ci": list(self.value_ci),
            "mcnemar_p": self.mcnemar.p_value, "mde_f1": self.mde_f1,
            "mcnemar_lost": self.mcnemar.b, "mcnemar_gained": self.mcnemar.c,
            "f1_rule": self.rule, "f1_margin": self.margin, "underpowered": self.underpowered,
            "rare_labels_lost": self.rare_labels_lost(keep, "the torch reference"),
            "per_label_keep": keep, "per_label_min_support": self.min_support,
            "per_label": [r.as_dict() for r in self.per_label(keep)],
        }


def accuracy_stats(probs: np.ndarray, reference: np.ndarray, gold: np.ndarray, task: str | Task,
                   label_names: Sequence[str], thresholds: np.ndarray | None = None, *,
                   rule: str = "point", margin: float = 0.01, min_support: int = 30,
                   groups: np.ndarray | None = None,
                   reference_thresholds: np.ndarray | None = None) -> AccuracyStats:
    """Error bars of a classifier backend against the reference, both scored against gold
    (gold read as the task's decisions: a single-label row's class is its argmax); `groups`:
    one id per distinct text (None: all distinct); `reference_thresholds`: where the reference decides
    at others than the backend (a base that serves other thresholds than the PR), else None."""
    if rule not in F1_RULES:
        raise ValueError(f"rule must be one of {', '.join(F1_RULES)}; got {rule!r}")
    kind = Task.of(task)
    ref_dec = kind.decisions(reference, thresholds if reference_thresholds is None else reference_thresholds)
    dec = kind.decisions(probs, thresholds)
    g = np.asarray(gold)
    y = g.astype(bool) if kind.record.decision == "threshold" else kind.decisions(g)
    delta = paired_delta(y, ref_dec, dec, kind, n_resamples=N_RESAMPLES, seed=SEED, groups=groups)
    value_ci = metric_ci(y, dec, kind, n_resamples=N_RESAMPLES, seed=SEED, groups=groups)
    mde = min_detectable_drop(y, ref_dec, task=kind, dec=dec, n_resamples=N_RESAMPLES, seed=SEED,
                              groups=groups)
    test = mcnemar(correct(y, ref_dec, kind), correct(y, dec, kind), groups)
    names = tuple(label_names) or tuple(f"label_{j}" for j in range(ref_dec.shape[1]))
    return AccuracyStats(task=kind, delta=delta, value_ci=value_ci, mcnemar=test, mde_f1=mde, rule=rule,
                         margin=float(margin), min_support=int(min_support), label_names=names, gold=y,
                         ref_dec=ref_dec, dec=dec, groups=groups)


@dataclass(frozen=True)
class Evaluation:
    """One backend's outputs judged against the reference and the gold labels."""

    name: str
    precision: str
    size_bytes: int
    task: Task
    drift: Drift
    metrics: dict[str, Any]
    reference_metrics: dict[str, Any]
    probs: np.ndarray = field(repr=False)
    reference: np.ndarray = field(repr=False)
    # a classifier with gold labels: the F1 change with error bars and the per-label decisions
    stats: AccuracyStats | None = None
    # texts truncated at this many tokens, the reference's too (a file with a static sequence
    # length, judged as its owner runs it); None: at the tokenizer's own limit
    max_tokens: int | None = None
    # a row computed on the saturating integer path: its outputs against those of the same file on
    # the exact path, the row `path_gap_with` (registry.exact_counterpart; backends.int8_path)
    path_gap: Drift | None = None
    path_gap_with: str | None = None
    label_names: tuple[str, ...] = ()
    # how many distinct texts, where some repeat (the units of `stats`); None: every text distinct
    distinct: int | None = None
    # a reranker's (one sigmoid score, judged on labelled pairs): its MRR@10 change against the
    # reference over the queries, or why no query could be ranked (accuracy.ranking); None otherwise
    ranking: DeltaCI | Unranked | None = None
    paired: bool = False  # judged on sentence pairs (each row two texts: data.pairs)
    # a reranker's, labelled or not: (queries of two or more passages whose top passage is the
    # reference's, such queries): said, not judged (accuracy.ranking.top_kept)
    top_kept: tuple[int, int] | None = None
    queried: bool = False  # some first text of its pairs repeats: queries of several passages (data.pairs)
    # a reranker's on graded relevance (`relevant-grade`): each row's grade, and its NDCG@10 change against
    # the reference over the queries, or why no query could be ranked; None otherwise
    grades: np.ndarray | None = field(default=None, repr=False)
    graded_ranking: DeltaCI | Unranked | None = None
    # each row's query where the rows are pairs (Dataset.queries: its first text's, or its reranking
    # sample's), whose passages the rankings above ranked together; None for single texts
    queries: np.ndarray | None = field(default=None, repr=False)

    @property
    def one_decision(self) -> str | None:
        """Plain words when the backend decides the same for every text (a classifier's class, or
        set of labels at the threshold), else None: an untrained or broken model. Judged against
        such a reference, every backend keeps its F1 while telling no text apart, so its passes say
        little; the verdict warns, once: on the reference's own row (a backend that decides like a
        reference that does so is not warned again)."""
        what = self._one_decision(self.probs)
        if what is None:
            return None
        if np.array_equal(self.probs, self.reference):  # the reference itself
            return (f"it decides the same for every one of the {len(self.probs)} texts ({what}): is the "
                    "model trained? Judged against such a model, every backend keeps its F1 while telling "
                    "no text apart, so the F1 checks say little")
        if self._one_decision(self.reference) is not None:
            return None  # the reference's row says it
        return (f"it decides the same for every one of the {len(self.probs)} texts ({what}), where the "
                "reference does not")

    @cached_property  # 200 guessers a rule: read by every summary() of the reference's row
    def below_chance(self) -> str | None:
        """Plain words when the reference scores no better against the gold labels than a rule that
        never reads the texts (`AccuracyStats.best_guess`), else None: a head never trained or never
        loaded (a base checkpoint's random classifier). Every backend keeps such a reference's score,
        so the verdict warns, on the reference's own row (not when `one_decision` says it already)."""
        if (self.stats is None or not np.array_equal(self.probs, self.reference) or not len(self.probs)
                or self.one_decision is not None):
            return None
        best, rule = self.stats.best_guess()
        own = self.stats.delta.ref_value
        if own > best or best <= 0:  # (no gold positive at all: the checks say they judged nothing)
            return None
        return (f"its {self.task.headline_name} {own:.4f} is no better than a rule that never reads the "
                f"texts ({rule}: {best:.4f}): is the model trained, and its classifier head loaded? Judged "
                "against such a model, every backend keeps its score, so the F1 checks say little")

    def _one_decision(self, probs: np.ndarray) -> str | None:
        """What `probs` decide for every text alike ("class 'neg'", "labels ...", "no label"), or None
        when the texts are told apart (or there are no decisions, or fewer than two texts)."""
        if not self.task.classifier or len(probs) < 2:
            return None
        if drift_decision(self.task) == "argmax":
            classes = probs.argmax(axis=1)
            return None if (classes != classes[0]).any() else f"class {self._label(int(classes[0]))}"
        chosen = probs >= THRESHOLD
        if (chosen != chosen[0]).any():
            return None
        labels = [self._label(int(j)) for j in np.flatnonzero(chosen[0])]
        return f"labels {', '.join(labels)}" if labels else "no label"

    def _label(self, index: int) -> str:
        return repr(self.label_names[index]) if index < len(self.label_names) else str(index)

    @property
    def headline(self) -> str:
        """The task metric the F1 bounds use: micro F1, macro F1 (single-label) or cosine."""
        return self.task.headline

    @property
    def labelled(self) -> bool:
        """Whether task metrics against gold labels exist (an encoder's need no labels)."""
        return bool(self.metrics) or not self.task.classifier

    def summary(self) -> dict[str, Any]:
        """The stable per-backend keys of accuracy.json (documented in docs/schemas.md).

        For a feature-extraction encoder `flips`, `flip_rate` and `top1_agreement` are null:
        embeddings make no decisions.
        """
        d = self.drift
        decisions = self.task.classifier
        out: dict[str, Any] = {
            "dtype": self.precision, "size_bytes": int(self.size_bytes),
            "drift_mean": d.mean, "drift_p50": d.p50, "drift_p99": d.p99, "drift_max": d.max,
            "max_abs_diff": d.max_abs_diff, "share_over_atol": d.share_over_atol,
            "flips": d.flips if decisions else None,
            "flip_rate": d.flip_rate if decisions else None,
            "top1_agreement": d.top1_agreement if decisions else None,
            "max_tokens": self.max_tokens,
            "one_decision": self.one_decision,
            "below_chance": self.below_chance,
        }
        if self.path_gap is not None:
            g = self.path_gap
            out.update(path_flips=g.flips if decisions else None,
                       path_flip_rate=g.flip_rate if decisions else None, path_drift_max=g.max)
        out.update(self.metrics)
        out.update(ranked_keys(self))
        if self.top_kept is not None:
            out["top_passage_kept"] = list(self.top_kept)
        return out

    def stats_summary(self, bounds: Bounds) -> dict[str, Any]:
        """accuracy.json's error-bar keys (f1_delta, f1_delta_ci, mcnemar_p, mde_f1, per_label, ...)
        for a classifier; null without gold labels; none for a feature-extraction encoder."""
        if not self.task.classifier:
            return {}
        if self.stats is None:
            return dict.fromkeys(("f1_delta", "f1_delta_ci", "f1_ci", "mcnemar_p", "mde_f1", "per_label"))
        return self.stats.as_dict(bounds.per_label_keep)


def task_metrics(probs: np.ndarray, gold: np.ndarray, task: str | Task, label_names: Sequence[str],
                 reference: np.ndarray, thresholds: np.ndarray | None = None) -> dict[str, Any]:
    """The metrics that fit the model's task (per-label thresholds when given)."""
    decision = Task.of(task).record.decision
    if decision == "threshold":
        cut = THRESHOLD if thresholds is None else thresholds
        return multilabel_metrics(probs, gold, threshold=cut, label_names=label_names).as_dict()
    if decision == "argmax":
        return singlelabel_metrics(probs, gold.argmax(axis=1)).as_dict()
    cos = cosine_similarity(probs, reference)
    rel = relative_l2(probs, reference)
    return {"cosine_min": cos.min, "cosine_mean": cos.mean,
            "rel_l2_mean": float(rel.mean()), "rel_l2_max": float(rel.max())}


def drift_decision(task: Task) -> str:
    """What a decision is when drift counts flips: a single-label model's argmax class, else each
    (sample, label) probability at the threshold."""
    return "argmax" if task.record.decision == "argmax" else "threshold"


def evaluate(name: str, probs: np.ndarray, reference: np.ndarray, gold: np.ndarray | None, *,
             precision: str, size_bytes: int, task: str | Task, label_names: Sequence[str],
             atol: float, thresholds: np.ndarray | None = None, f1_rule: str = "point",
             f1_margin: float = 0.01, per_label_min_support: int = 30,
             max_tokens: int | None = None, groups: np.ndarray | None = None,
             flips_at: np.ndarray | None = None, queries: np.ndarray | None = None,
             grades: np.ndarray | None = None, reference_thresholds: np.ndarray | None = None) -> Evaluation:
    """Drift against the reference and task metrics against gold, for one backend.

    `thresholds` (per label: tuned on validation, or as the project serves them) replace 0.5 for
    the task metrics; flips are judged at 0.5, the model card's threshold, or at `flips_at` (the
    served thresholds: where the service's answers change). A single-label model's
    decision is its argmax class, so its flips are samples whose class changed. Without
    gold labels (`gold=None`, parity only) a classifier gets no task metrics; an encoder's
    metrics need none. A classifier with gold labels (and at least 2 examples) also gets
    `stats` (:class:`AccuracyStats`): `f1_rule` and `f1_margin` decide the F1 keep check,
    `per_label_min_support` is the support below which a label is not judged. `max_tokens` says
    that both `probs` and `reference` come from texts truncated at that length. `groups` (one id
    per distinct text, :attr:`~encoder_gate.data.datasets.Dataset.groups`) makes each
    distinct text one unit of the error bars and tests. `queries` (one id per row of a pair dataset,
    :attr:`~encoder_gate.data.datasets.Dataset.queries`) rank a one-label model's scores within each
    query, against the reference's (`Evaluation.ranking`); with `grades` (a row's graded relevance,
    :attr:`~encoder_gate.data.datasets.Dataset.grades`) by NDCG@10 too (`Evaluation.graded_ranking`).
    `reference_thresholds`: where the reference decides at other thresholds than the backend (a base
    that serves others than the PR: each side is scored as it serves), else None (`thresholds`).
    """
    kind = Task.of(task)
    labelled = gold is not None or not kind.classifier
    empty = np.zeros((len(probs), 0), dtype=np.uint8)

    def metrics_of(p: np.ndarray, at: np.ndarray | None = thresholds) -> dict[str, Any]:
        return task_metrics(p, empty if gold is None else gold, kind, label_names, reference,
                            at) if labelled else {}

    if f1_rule not in F1_RULES:
        raise ValueError(f"f1_rule must be one of {', '.join(F1_RULES)}; got {f1_rule!r}")
    metrics = metrics_of(probs)
    reference_at = thresholds if reference_thresholds is None else reference_thresholds
    # where an answer changes: at the served thresholds (0.5 otherwise); each side at its own where the
    # reference serves others (a base's)
    flip_cuts: dict[str, Any] = (
        {"threshold": THRESHOLD if flips_at is None else flips_at} if reference_thresholds is None else
        {"threshold": THRESHOLD if thresholds is None else thresholds,
         "reference_threshold": reference_thresholds})
    stats = None
    units = len(probs) if groups is None else len(np.unique(groups))
    if gold is not None and kind.classifier and units >= 2:
        stats = accuracy_stats(probs, reference, gold, kind, label_names, thresholds, rule=f1_rule,
                               margin=f1_margin, min_support=per_label_min_support, groups=groups,
                               reference_thresholds=reference_thresholds)
    ranking, graded, kept = None, None, None
    queried = has_queries(queries)
    if queries is not None and queried and ranks(kind, probs.shape[1], True):  # a reranker's order
        kept = top_kept(reference[:, 0], probs[:, 0], queries)
        if gold is not None:
            ranking = mrr_change(reference[:, 0], probs[:, 0], np.asarray(gold)[:, 0] > 0, queries)
        if gold is not None and grades is not None:
            graded = ndcg_change(reference[:, 0], probs[:, 0], grades, queries)
    return Evaluation(
        name=name, precision=precision, size_bytes=size_bytes, task=kind,
        drift=drift(probs, reference, atol=atol, decision=drift_decision(kind), **flip_cuts),
        metrics=metrics, reference_metrics=metrics_of(reference, reference_at),
        probs=probs, reference=reference, stats=stats, max_tokens=max_tokens, label_names=tuple(label_names),
        distinct=units if units < len(probs) else None, ranking=ranking, paired=queries is not None,
        top_kept=kept, queried=queried, grades=grades, graded_ranking=graded, queries=queries,
    )
