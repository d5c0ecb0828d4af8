"""The PR's accuracy against a base, decided once for both kinds of base: the PR's base run beside
it in the same session (:class:`encoder_gate.runtime.base.BaseSide`, `--gate-base`), and a baseline
session's predictions on its own libraries (:class:`encoder_gate.runtime.baseline.AccuracyBaseline`,
`--gate-accuracy-baseline`: the base's requirements). Each backend of the PR is judged against its
pair on the other side, on the PR's evaluation texts and gold labels: the F1 rule and the per-label
check (a reranker's MRR@10 too, by the same rule: accuracy.ranking), by the bounds the PR's backend has
against a base (:meth:`GateSession.bounds`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from encoder_gate.accuracy.checks import unsupported_labels
from encoder_gate.accuracy.evaluation import AccuracyStats, Evaluation, evaluate
from encoder_gate.accuracy.f1_rules import F1Decision, decide_f1
from encoder_gate.accuracy.growth import DriftGrowth, drift_growth
from encoder_gate.accuracy.label_match import LabelMatch, match_labels
from encoder_gate.accuracy.per_label import (
    FAILURES_DESCRIBED,
    LabelResult,
    failures_said,
    more_gained,
    most_positives_first,
)
from encoder_gate.accuracy.ranking import RANKINGS, Ranking
from encoder_gate.accuracy.significance import DeltaCI
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.backends.registry import REFERENCE_BACKEND
from encoder_gate.config import ACCURACY_CRITERIA, GateConfig
from encoder_gate.errors import GateError, listed
from encoder_gate.runtime.session import GateSession
from encoder_gate.tasks import Task

#: What fails a backend against its base (`accuracy_failed_by`, ab.json's and baseline.json's `failed_by`).
F1_LOSS, PER_LABEL_LOSS, DRIFT_GROWTH = "F1 rule", "per-label: ", "drift growth"
#: ... and a model that answers another question (other labels, another task: check_comparable)
LABELS_DIFFER = "labels differ"


def ranking_loss(ranking: Ranking) -> str:
    """A reranker's order lost by the F1 rule, in the measure `ranking` (accuracy.ranking)."""
    return f"{ranking.name} rule"


MRR_LOSS, NDCG_LOSS = (ranking_loss(ranking) for ranking in RANKINGS)  # "MRR@10 rule", "NDCG@10 rule"


class ModelNamed(Protocol):
    """What a comparison says of the other side's model (a ModelSpec, or the one a baseline's
    accuracy.json names)."""

    @property
    def name(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def task(self) -> Any: ...
    @property
    def label_names(self) -> Any: ...


class AgainstBase:
    """The accuracy half of a comparison with a base. A subclass sets `pr` (the PR's session), `pairs`
    (PR backend -> the other side's name for it), `_evaluations` and `_growths` (empty dicts), and gives
    `base_model`, `predictions(name)` (the other side's outputs on the PR's evaluation texts) and
    `side` (how its messages name it: "the base", "the baseline")."""

    pr: GateSession
    pairs: dict[str, str]
    _evaluations: dict[str, Evaluation]
    side = "the base"
    _growths: dict[str, DriftGrowth | None]

    @property
    def base_model(self) -> ModelNamed:
        raise NotImplementedError

    @property
    def base_model_name(self) -> str:
        """The other side's model as its messages name it (a base's: where its checkout holds it)."""
        return self.base_model.name

    def predictions(self, name: str) -> np.ndarray:
        raise NotImplementedError

    @property
    def other_thresholds(self) -> np.ndarray | None:
        """The thresholds the other side decides at, where they are not the PR's, else None (the PR's:
        a baseline is the PR's own model and configuration on other libraries)."""
        return None

    def check_comparable(self) -> None:
        """Both models must answer the same question: the same task, and labels matched by name
        (:func:`~encoder_gate.accuracy.label_match.match_labels`: another order, or some labels only one
        side has where the model's labels are independent decisions)."""
        self.label_match()

    def label_match(self) -> LabelMatch:
        """The labels compared with the other side's, by name; a GateError where none can be."""
        b, p = self.base_model, self.pr.model
        other = self.side.removeprefix("the ")
        if str(b.task) != str(p.task):
            why = f"the {other}'s is a {b.task} model, the PR's a {p.task} one"
        else:
            match = match_labels(b.label_names, p.label_names, exclusive=Task.of(p.task).exclusive)
            if isinstance(match, LabelMatch):
                return match
            theirs, ours = list(b.label_names), list(p.label_names)
            why = f"{match} ({other}: {listed(theirs, 6)}; PR: {listed(ours, 6)})"
        raise GateError(
            f"{self.side}'s model {self.base_model_name} and the PR's {p.name} answer different questions: "
            f"{why}, so "
            "their F1 cannot be compared. A PR that changes its model's task or labels so on purpose has "
            "no base to compare its accuracy with: give it a `vs base` waiver of each backend "
            "([[tool.encoder-gate.waivers]], docs/checks.md#waivers); its own checks still judge it, and "
            "the PRs after it compare again (merged, the waiver is the base's too, and covers none of them)")

    @property
    def label_note(self) -> str | None:
        """Which labels were compared with the other side's, where not all in the same order (each with
        its namesake; those both have), or None."""
        try:
            match = self.label_match()
        except GateError:
            return None  # said by each vs-base test
        note = match.note(self.side.removeprefix("the "))
        if note is None or not match.only_ours or not self.pr.labelled:
            return note
        # what the PR's model makes of the labels it adds, nothing of the other side's to set them
        # against (a trial's new label scored F1 0.04, and no line said so)
        metrics = self.pr.evaluation(REFERENCE_BACKEND).metrics
        f1, support = metrics.get("per_label_f1") or {}, metrics.get("support") or {}
        scored = [f"'{n}' {f1[n]:.4f} ({support.get(n, 0)} texts)" for n in match.only_ours if n in f1]
        return note + (f"; the PR's torch F1 of its own: {', '.join(scored)}" if scored else "")

    def accuracy(self, name: str) -> Evaluation:
        """The PR's backend `name` judged against the base's: F1 change with its CI, McNemar,
        per label, on the PR's evaluation texts and gold labels (`stats.delta` is PR minus base)."""
        if name not in self._evaluations:
            self.check_comparable()
            self._evaluations[name] = self._evaluate(name, self.pr.config)
        return self._evaluations[name]

    def _evaluate(self, name: str, criteria: GateConfig) -> Evaluation:
        """The PR's `name` against the other side's, by the F1 rule, margin and per-label support of
        `criteria` (the PR's configuration, or the base's own: `by_its_own_criteria`)."""
        pr, match = self.pr, self.label_match()  # (the labels both sides have, in the PR's order)
        record = pr.built(name)
        return evaluate(
            name, match.ours_of(pr.predictions(name)), match.theirs_of(self.predictions(name)),
            match.ours_of(pr.gold), precision=record.precision, size_bytes=record.size_bytes,
            task=pr.model.task, label_names=list(match.names), atol=pr.bounds(name, against_base=True).atol,
            thresholds=match.ours_of(pr.thresholds), f1_rule=criteria.f1_rule, f1_margin=criteria.f1_margin,
            per_label_min_support=criteria.per_label_min_support, groups=pr.dataset.groups,
            flips_at=match.ours_of(pr.flips_at), queries=pr.dataset.queries, grades=pr.dataset.grades,
            reference_thresholds=match.theirs_of(self.other_thresholds))

    @property
    def own_criteria(self) -> GateSession | None:
        """The other side's session where it has pass criteria of its own (a base's pyproject), else
        None (a baseline's saved predictions)."""
        return None

    def by_its_own_criteria(self, name: str) -> str | None:
        """Where the PR's `name` keeps the other side's accuracy by the PR's criteria but the other side's
        own (its pyproject's F1 rule and margin, per-label keep and support, and the F1 keep its tolerances
        give) judge otherwise:
        what fails it there, in one line; else None. A PR that loosens its own bounds passes by them
        (its pyproject decides), and the verdict says what the base's would have decided (a retrained
        model 0.026 F1 worse passed with per-label-min-support raised to 1000: the trial of the
        forty-fifth session)."""
        other = self.own_criteria
        if other is None or all(getattr(other.config, key) == getattr(self.pr.config, key)
                                for key in ACCURACY_CRITERIA):
            return None  # the same criteria: the same decision (and no build of the base's for its bounds)
        if self.accuracy_not_compared or self.accuracy_failure(name) is not None:
            return None
        theirs, ours = other.config, self.pr.config
        evaluation = self.accuracy(name)
        if ((theirs.f1_rule, theirs.f1_margin, theirs.per_label_min_support)
                != (ours.f1_rule, ours.f1_margin, ours.per_label_min_support)):
            evaluation = self._evaluate(name, theirs)
        s = evaluation.stats
        if s is None:
            return None
        try:  # (a prebuilt file's bounds read its precision from the base's build)
            bounds = other.bounds(self.pairs[name], against_base=True)
        except GateError:  # said by the base's own tests; what the PR changed is named all the same
            return None
        decision, failing = self._losses(name, s, bounds)
        lost = [*([] if decision.passed else [f"F1 rule {s.rule}: {decision.reason}"]),
                *([f"the per-label check: {', '.join(r.label for r in failing)}"] if failing else [])]
        return "; ".join(lost) or None

    def growth(self, name: str) -> DriftGrowth | None:
        """How far the PR's `name` moved from its own torch against how far the base's moved from the
        base's (accuracy.growth), on the PR's texts; None for the reference itself (its drift is 0 on
        both sides) and where the other side has no torch to measure its backend's drift against."""
        if name not in self._growths:
            pr = self.pr
            if name == REFERENCE_BACKEND or REFERENCE_BACKEND not in self.pairs:
                self._growths[name] = None
            else:
                bounds, match = pr.bounds(name, against_base=True), self.label_match()
                # each side's drift from its own torch, on the labels both have
                self._growths[name] = drift_growth(
                    match.ours_of(pr.predictions(name)), match.ours_of(pr.reference_for(name)),
                    match.theirs_of(self.predictions(name)),
                    match.theirs_of(self.predictions(REFERENCE_BACKEND)), share=bounds.drift_growth,
                    drift_mean_bound=bounds.drift_mean)
        return self._growths[name]

    @property
    def accuracy_not_applicable(self) -> str | None:
        """Why no accuracy comparison with the base can apply to this model at all (a feature-extraction
        encoder: no F1, and its embeddings move by design when retrained), or None. Such a test is
        not collected, as a check that does not fit the model's task is not (plugin.applicable)."""
        if not self.pr.model.task.classifier:
            return (f"{self.pr.model.name} is a feature-extraction encoder: it has no F1 to keep, and a "
                    "retrained encoder's embeddings move by design, so its drift from the base's says "
                    "nothing about a loss")
        return None

    @property
    def accuracy_not_compared(self) -> str | None:
        """Why the PR's accuracy cannot be judged against the base's (no F1 to keep), or None."""
        if why := self.accuracy_not_applicable:
            return why
        if not self.pr.labelled:
            return (f"the evaluation texts ({self.pr.config.dataset}) carry no gold labels, so the PR's F1 "
                    f"cannot be compared with {self.side}'s; gate on a labelled dataset")
        return None

    def not_judged(self, name: str) -> str | None:
        """Why the PR's `name` against the other side's could not fail by its F1 on these texts: the
        other side's F1 is 0, and no PR scores below 0 (a PR judged on its first 6 texts judges its base
        there too, where neither may score anything); said with the per-label check where that could
        not fail either. None where it could (or a ranking is judged too, or nothing is compared)."""
        if self.accuracy_not_compared:
            return None
        ev = self.accuracy(name)
        task = self.pr.model.task
        theirs = ev.reference_metrics.get(task.headline)
        if ev.stats is None or ev.ranking is not None or theirs is None or theirs > 0:
            return None
        other = self.side.removeprefix("the ")
        said = (f"{task.headline_name} vs {other} not judged: {self.side}'s {task.headline_name} is 0 on "
                f"these {len(ev.probs)} texts, and no PR scores below 0, so it could not fail")
        if why := unsupported_labels(ev):
            said += f"; nor could the per-label check: {why}"
        return said + ". Evaluate more texts, on a trained model."

    def rare_labels_lost(self, name: str) -> str | None:
        """The labels too rare to judge against the other side that lost every hit it had there
        (per_label.rare_labels_lost): said, not judged. None where nothing is compared, or none did."""
        if self.accuracy_not_compared or (s := self.accuracy(name).stats) is None:
            return None
        return s.rare_labels_lost(self.pr.bounds(name, against_base=True).per_label_keep, self.side)

    def accuracy_failure(self, name: str) -> str | None:
        """None when the PR's `name` keeps the base's accuracy under the configured F1 rule and
        per-label check; else what was lost, naming the model when `name` is the reference. Where
        nothing can be compared (`accuracy_not_compared`), that is the failure: never a pass."""
        why = self.accuracy_not_compared
        if why:
            return f"not compared with {self.side}: {why}"
        ev = self.accuracy(name)
        s = ev.stats
        if s is None:
            return f"not compared with {self.side}: {name} has no accuracy statistics"
        decision, failing = self._losses(name, s)
        grown, ranked = self.growth(name), self._ranking_losses(name, ev)
        if decision.passed and not failing and (grown is None or grown.passed) and not ranked:
            return None
        b, p = self.base_model, self.pr.model
        # what it lost: its F1 (the rule), or decisions of some labels while its F1 held (walk AG: a
        # label that fires on 348 more texts gains hits and false alarms, and its F1 may rise from 0),
        # or, both holding, its fidelity to its own torch (a damaged conversion of a model whose
        # healthy drift sits far below the absolute bounds)
        shown = most_positives_first(failing)[:FAILURES_DESCRIBED]  # as failures_said, below
        more = len(failing) - FAILURES_DESCRIBED
        named = ", ".join(f"{r.label} (F1 {r.f1_ref:.2f} -> {r.f1:.2f})" for r in shown)
        named += f" and {more} more" if more > 0 else ""
        lost = ("accuracy" if not decision.passed else
                f"decisions on {named}, per label (its F1 rule held)" if failing
                else f"its ranking ({', '.join(r.name for r, _ in ranked)}; its F1 rule and per-label check "
                     "held)" if ranked
                else "fidelity to its own torch (its F1 rule and per-label check held)")
        moved = self.other_thresholds is not None  # each side scored at the thresholds it serves
        at_ours, at_theirs = (" at the PR's thresholds", " at its own") if moved else ("", "")
        who = (f"the PR's served thresholds lost {lost} against {self.side}'s (the model is the same: "
               f"{p.name}, content {p.content_hash})" if name == REFERENCE_BACKEND and moved
               and b.content_hash == p.content_hash else
               f"the PR's model ({p.name}, content {p.content_hash}){' at its thresholds' if moved else ''} "
               f"lost {lost} against {self.side}'s ({self.base_model_name}, content {b.content_hash})"
               if name == REFERENCE_BACKEND else
               f"{name}{at_ours} lost {lost} against {self.side}'s {self.pairs[name]}{at_theirs}")
        task = self.pr.model.task
        # the figures after it are the whole set's, not those labels' (a trial read a McNemar p of the PR
        # gaining decisions beside "lost decisions on" its label as a contradiction)
        overall = "overall, " if decision.passed and failing else ""
        lines = [f"{who}: {overall}{task.headline_name} {ev.metrics[task.headline]:.4f} on the PR vs "
                 f"{ev.reference_metrics[task.headline]:.4f} on {self.side}, change {s.delta.delta:+.4f} "
                 f"[{s.delta.ci_low:+.4f}, {s.delta.ci_high:+.4f}], McNemar p {s.mcnemar.p_value:.2g} "
                 f"({s.mcnemar.b} decisions lost, {s.mcnemar.c} gained"
                 f"{more_gained(s.mcnemar.b, s.mcnemar.c, s.delta.delta < 0)})"
                 f" on {s.delta.n} examples."]
        if grown is not None and not grown.passed:
            lines.append(f"  drift growth: {grown.describe(self.side)} (bound drift_growth = "
                         f"{self.pr.bounds(name, against_base=True).drift_growth:g}, docs/checks.md)")
        if not decision.passed:
            lines.append(f"  F1 rule {s.rule}: {decision.reason}")
        for ranking, lost_by in ranked:
            change = ranking.change_of(ev)
            assert isinstance(change, DeltaCI)
            lines.append(f"  {ranking_loss(ranking)} {s.rule}: {lost_by.reason}, over {change.n} ranked "
                         "queries")
        if failing and not ranked:
            lines.append(("  The per-label check fails too" if not decision.passed else
                          f"  F1 rule {s.rule}: holds. The per-label check fails")
                         + ": each label below makes "
                         f"significantly more wrong decisions against gold than {self.side}'s (McNemar), or "
                         "keeps less than its share of its F1; a label that now fires on texts that are not "
                         "it gains hits and false alarms alike, and its F1 may rise")
        texts = self.pr.dataset.texts
        sides = (self.side.removeprefix("the "), "PR")
        lines += failures_said(failing, texts, sides)
        return "\n".join(lines)

    def _losses(self, name: str, stats: AccuracyStats, bounds: Bounds | None = None,
                ) -> tuple[F1Decision, list[LabelResult]]:
        """The PR's `name` against the base by the bounds it is judged by there (`bounds`: the base's own,
        `by_its_own_criteria`): the F1 rule's decision and the labels that fail the per-label check
        (what `accuracy_failure` says, what `accuracy_failed_by` names)."""
        bounds = bounds or self.pr.bounds(name, against_base=True)
        return stats.decision(bounds.f1_keep), stats.failing_labels(bounds.per_label_keep)

    def _ranking_losses(self, name: str, ev: Evaluation) -> list[tuple[Ranking, F1Decision]]:
        """A reranker's order against the base's, each measure it is judged on (MRR@10; NDCG@10 on
        graded relevance) by the F1 rule (its keep share, its margin): the measures it fails."""
        s = ev.stats
        if s is None:
            return []
        bounds, lost = self.pr.bounds(name, against_base=True), []
        for ranking in RANKINGS:
            change = ranking.change_of(ev)
            if isinstance(change, DeltaCI):
                decided = decide_f1(change, s.rule, s.margin, bounds.f1_keep, change.ref_value)
                if not decided.passed:
                    lost.append((ranking, decided))
        return lost

    def accuracy_failed_by(self, name: str) -> list[str]:
        """What fails the PR's `name` against the base: F1_LOSS (its F1 rule), MRR_LOSS and NDCG_LOSS (a
        reranker's MRR@10, and NDCG@10 on graded relevance, by that rule), and PER_LABEL_LOSS with
        the labels that fail the per-label check; [] where it keeps the base's accuracy (or where
        nothing can be compared: `accuracy_failure` says so)."""
        if self.accuracy_not_compared:
            return []
        s = self.accuracy(name).stats
        if s is None:
            return []
        decision, failing = self._losses(name, s)
        grown = self.growth(name)
        ranked = self._ranking_losses(name, self.accuracy(name))
        return ([] if decision.passed else [F1_LOSS]) + [ranking_loss(r) for r, _ in ranked] + (
            [PER_LABEL_LOSS + ", ".join(r.label for r in failing)] if failing else []) + (
            [DRIFT_GROWTH] if grown is not None and not grown.passed else [])
