"""The accuracy gate: evaluate a backend against the reference and gold labels, check bounds.

    evaluation = evaluate(name, probs, reference, dataset, precision, size_bytes, task)
    failure = check(evaluation, "drift_max", bounds_for(name), texts, label_names)
    assert failure is None, failure

`check` returns None when the bound holds, else a message a person can act on: the
backend, the metric, the observed value, the bound, where the bound comes from, and the
three worst samples with a per-label table of reference vs backend probabilities.

With gold labels a classifier's evaluation also carries error bars (`Evaluation.stats`,
:class:`AccuracyStats`, from :mod:`encoder_gate.accuracy.significance`): the headline F1 change with
its paired-bootstrap 95% CI, exact McNemar on the discordant decisions, the minimum
detectable F1 drop, and a per-label verdict. The F1 keep check decides by the configured
rule (`point`, `regression`, `non-inferiority`); `per_label` fails when a label with
enough gold positives loses its F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from encoder_gate.accuracy.metrics import (
    Drift,
    cosine_similarity,
    drift,
    multilabel_metrics,
    relative_l2,
    singlelabel_metrics,
)
from encoder_gate.accuracy.significance import (
    Decision,
    DeltaCI,
    LabelResult,
    McNemar,
    Rule,
    Task,
    correct,
    decide,
    mcnemar,
    min_detectable_drop,
    paired_delta,
    per_label,
    underpowered_warning,
)
from encoder_gate.accuracy.tolerances import Bounds, override_table

CHECKS = ("drift_mean", "drift_p99", "drift_max", "flip_rate", "f1_keep", "f1_floor")
# The checks that fit each task. Multi-label: drift of the sigmoid probabilities, flips of
# the (sample, label) decisions at 0.5, micro F1. Single-label: drift of the softmax
# probabilities, flips of the argmax class (one decision per sample), macro F1 and
# accuracy against the reference's. Feature extraction: no labels and no decisions, so
# no flips and no F1; cosine similarity and relative L2 distance to the reference
# embeddings, plus absolute drift of the embedding values.
# Classifiers with gold labels are also judged label by label (`per_label`).
TASK_CHECKS: dict[str, tuple[str, ...]] = {
    "multi_label": (*CHECKS, "per_label"),
    "single_label": (*CHECKS, "accuracy_keep", "per_label"),
    "feature_extraction": ("drift_mean", "drift_p99", "drift_max", "rel_l2_max", "cosine_min",
                           "cosine_mean"),
}
THRESHOLD = 0.5  # the decision threshold of the roberta-base-go_emotions model card
_AT_LEAST = ("f1_keep", "f1_floor", "accuracy_keep", "cosine_min", "cosine_mean")
GOLD_CHECKS = ("f1_keep", "f1_floor", "accuracy_keep", "per_label")  # the checks that need gold labels
NO_GOLD = ("F1 skipped: there are no gold labels (unlabelled texts from --gate-texts); every parity "
           "check against the torch reference ran. Pass a labelled --gate-dataset to check F1 too")
F1_RULES = ("point", "regression", "non-inferiority")
#: Paired-bootstrap resamples and seed of the F1 change's CI and of the MDE (same resamples).
N_RESAMPLES, SEED = 2000, 0
HEADLINE_WORDS = {"f1": "micro F1", "f1_macro": "macro F1"}


class UnderpoweredWarning(UserWarning):
    """The evaluation set is too small to see an F1 drop of the configured margin."""


def not_applicable(task: str, check_name: str, labelled: bool = True) -> str | None:
    """Why `check_name` does not apply to a model of `task` (with or without gold labels),
    or None when it does."""
    if check_name in TASK_CHECKS[task]:
        if not labelled and check_name in GOLD_CHECKS and task != "feature_extraction":
            return NO_GOLD
        return None
    if task == "feature_extraction":
        if check_name == "flip_rate":
            return ("decision flips do not apply to a feature-extraction encoder: it outputs "
                    "embeddings, not decisions (judged by cosine and relative L2 instead)")
        return (f"{check_name} needs labels: a feature-extraction encoder has none and is judged "
                "by cosine similarity and relative L2 distance to the torch reference embeddings")
    if check_name == "accuracy_keep":
        return ("accuracy keep applies to single-label classifiers; a multi-label model is gated "
                "on micro F1 (exact-match accuracy is reported)")
    return (f"{check_name} applies to feature-extraction encoders (embeddings); this {task} "
            "classifier is judged on its label probabilities")


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
    The decision matrices (n, L) are the ones the task metrics use.
    """

    delta: DeltaCI
    mcnemar: McNemar
    mde_f1: float
    rule: Rule
    margin: float
    min_support: int
    label_names: tuple[str, ...]
    gold: np.ndarray = field(repr=False)
    ref_dec: np.ndarray = field(repr=False)
    dec: np.ndarray = field(repr=False)
    _per_label: dict[float, list[LabelResult]] = field(default_factory=dict, repr=False, compare=False)

    def per_label(self, keep: float) -> list[LabelResult]:
        """Every label judged on its own (:func:`~encoder_gate.accuracy.significance.per_label`)."""
        if keep not in self._per_label:
            self._per_label[keep] = per_label(self.gold, self.ref_dec, self.dec, self.label_names,
                                              min_support=self.min_support, keep=keep)
        return self._per_label[keep]

    def failing_labels(self, keep: float) -> list[LabelResult]:
        """The labels with enough support whose verdict is "fail"."""
        return [r for r in self.per_label(keep) if r.verdict == "fail"]

    def decision(self, point_keep: float) -> Decision:
        """The F1 keep check's verdict under the configured rule."""
        return decide(self.delta, self.rule, self.margin, point_keep, self.delta.ref_value)

    @property
    def underpowered(self) -> str | None:
        """Plain words when the set is too small to see a drop of `margin`, else None."""
        return underpowered_warning(self.mde_f1, self.margin, self.delta.n,
                                    metric=HEADLINE_WORDS.get(self.delta.metric, self.delta.metric))

    def as_dict(self, keep: float) -> dict[str, Any]:
        """The accuracy.json keys: f1_delta, f1_delta_ci, mcnemar_p, mde_f1, per_label and context."""
        return {
            "f1_delta": self.delta.delta, "f1_delta_ci": list(self.delta.ci),
            "mcnemar_p": self.mcnemar.p_value, "mde_f1": self.mde_f1,
            "mcnemar_lost": self.mcnemar.b, "mcnemar_gained": self.mcnemar.c,
            "f1_rule": self.rule, "f1_margin": self.margin, "underpowered": self.underpowered,
            "per_label_keep": keep, "per_label_min_support": self.min_support,
            "per_label": [r.as_dict() for r in self.per_label(keep)],
        }


def decisions(probs: np.ndarray, task: str, thresholds: np.ndarray | None = None) -> np.ndarray:
    """The (n, L) boolean decisions the task metrics score: multi-label, p >= the threshold
    (per label when tuned, else 0.5); single-label, the one-hot of the argmax class."""
    p = np.asarray(probs, dtype=np.float64)
    if task == "multi_label":
        cut = np.full(p.shape[1], THRESHOLD) if thresholds is None else np.asarray(thresholds, np.float64)
        return np.asarray(p >= cut, dtype=np.bool_)
    out = np.zeros(p.shape, dtype=np.bool_)
    out[np.arange(len(p)), p.argmax(axis=1)] = True
    return out


def accuracy_stats(probs: np.ndarray, reference: np.ndarray, gold: np.ndarray, task: str,
                   label_names: Sequence[str], thresholds: np.ndarray | None = None, *,
                   rule: str = "point", margin: float = 0.01, min_support: int = 30) -> AccuracyStats:
    """Error bars of a classifier backend against the reference, both scored against gold."""
    if rule not in F1_RULES:
        raise ValueError(f"rule must be one of {', '.join(F1_RULES)}; got {rule!r}")
    ref_dec, dec = decisions(reference, task, thresholds), decisions(probs, task, thresholds)
    g = np.asarray(gold)
    y = g.astype(bool) if task == "multi_label" else decisions(g, "single_label")
    kind: Task = "multi_label" if task == "multi_label" else "single_label"
    delta = paired_delta(y, ref_dec, dec, kind, n_resamples=N_RESAMPLES, seed=SEED)
    mde = min_detectable_drop(y, ref_dec, task=kind, dec=dec, n_resamples=N_RESAMPLES, seed=SEED)
    test = mcnemar(correct(y, ref_dec, kind), correct(y, dec, kind))
    names = tuple(label_names) or tuple(f"label_{j}" for j in range(ref_dec.shape[1]))
    return AccuracyStats(delta=delta, mcnemar=test, mde_f1=mde, rule=cast(Rule, rule), margin=float(margin),
                         min_support=int(min_support), label_names=names, gold=y, ref_dec=ref_dec,
                         dec=dec)


@dataclass(frozen=True)
class Evaluation:
    """One backend's outputs judged against the reference and the gold labels."""

    name: str
    precision: str
    size_bytes: int
    task: str
    drift: Drift
    metrics: dict[str, Any]
    reference_metrics: dict[str, Any]
    probs: np.ndarray = field(repr=False)
    reference: np.ndarray = field(repr=False)
    # a classifier with gold labels: the F1 change with error bars and the per-label decisions
    stats: AccuracyStats | None = None

    @property
    def headline(self) -> str:
        """The task metric the F1 bounds use: micro F1, macro F1 (single-label) or cosine."""
        return {"multi_label": "f1", "single_label": "f1_macro"}.get(self.task, "cosine_mean")

    @property
    def labelled(self) -> bool:
        """Whether task metrics against gold labels exist (an encoder's need no labels)."""
        return bool(self.metrics) or self.task == "feature_extraction"

    def checks(self, bounds: Bounds) -> dict[str, dict[str, Any]]:
        """Every check that applies, with its observed value, bound and outcome (for the verdict).

        An absolute F1 floor counts only where one is configured (bound above 0).
        """
        out: dict[str, dict[str, Any]] = {}
        for name in TASK_CHECKS[self.task]:
            unset_floor = name == "f1_floor" and bounds.f1_floor <= 0
            if unset_floor or not_applicable(self.task, name, self.labelled):
                continue
            observed, bound, holds = observed_and_bound(self, name, bounds)
            out[name] = {"observed": observed, "bound": bound, "passed": holds,
                         "direction": "at least" if name in _AT_LEAST else "at most"}
        return out

    def summary(self) -> dict[str, Any]:
        """The stable per-backend keys of accuracy.json (documented in the README).

        For a feature-extraction encoder `flips`, `flip_rate` and `top1_agreement` are null:
        embeddings make no decisions.
        """
        d = self.drift
        decisions = self.task != "feature_extraction"
        out: dict[str, Any] = {
            "dtype": self.precision, "size_bytes": int(self.size_bytes),
            "drift_mean": d.mean, "drift_p50": d.p50, "drift_p99": d.p99, "drift_max": d.max,
            "max_abs_diff": d.max_abs_diff, "share_over_atol": d.share_over_atol,
            "flips": d.flips if decisions else None,
            "flip_rate": d.flip_rate if decisions else None,
            "top1_agreement": d.top1_agreement if decisions else None,
        }
        out.update(self.metrics)
        return out

    def stats_summary(self, bounds: Bounds) -> dict[str, Any]:
        """accuracy.json's error-bar keys (f1_delta, f1_delta_ci, mcnemar_p, mde_f1, per_label, ...)
        for a classifier; null without gold labels; none for a feature-extraction encoder."""
        if self.task == "feature_extraction":
            return {}
        if self.stats is None:
            return dict.fromkeys(("f1_delta", "f1_delta_ci", "mcnemar_p", "mde_f1", "per_label"))
        return self.stats.as_dict(bounds.per_label_keep)


def task_metrics(probs: np.ndarray, gold: np.ndarray, task: str, label_names: Sequence[str],
                 reference: np.ndarray, thresholds: np.ndarray | None = None) -> dict[str, Any]:
    """The metrics that fit the model's task (per-label thresholds when given)."""
    if task == "multi_label":
        cut = THRESHOLD if thresholds is None else thresholds
        return multilabel_metrics(probs, gold, threshold=cut, label_names=label_names).as_dict()
    if task == "single_label":
        return singlelabel_metrics(probs, gold.argmax(axis=1)).as_dict()
    cos = cosine_similarity(probs, reference)
    rel = relative_l2(probs, reference)
    return {"cosine_min": cos.min, "cosine_mean": cos.mean,
            "rel_l2_mean": float(rel.mean()), "rel_l2_max": float(rel.max())}


def evaluate(name: str, probs: np.ndarray, reference: np.ndarray, gold: np.ndarray | None, *,
             precision: str, size_bytes: int, task: str, label_names: Sequence[str],
             atol: float, thresholds: np.ndarray | None = None, f1_rule: str = "point",
             f1_margin: float = 0.01, per_label_min_support: int = 30) -> Evaluation:
    """Drift against the reference and task metrics against gold, for one backend.

    `thresholds` (per label, tuned on validation) replace 0.5 for the task metrics; drift
    and flips are always judged at 0.5, the model card's threshold. A single-label model's
    decision is its argmax class, so its flips are samples whose class changed. Without
    gold labels (`gold=None`, parity only) a classifier gets no task metrics; an encoder's
    metrics need none. A classifier with gold labels (and at least 2 examples) also gets
    `stats` (:class:`AccuracyStats`): `f1_rule` and `f1_margin` decide the F1 keep check,
    `per_label_min_support` is the support below which a label is not judged.
    """
    decision = "argmax" if task == "single_label" else "threshold"
    labelled = gold is not None or task == "feature_extraction"
    empty = np.zeros((len(probs), 0), dtype=np.uint8)

    def metrics_of(p: np.ndarray) -> dict[str, Any]:
        return task_metrics(p, empty if gold is None else gold, task, label_names, reference,
                            thresholds) if labelled else {}

    if f1_rule not in F1_RULES:
        raise ValueError(f"f1_rule must be one of {', '.join(F1_RULES)}; got {f1_rule!r}")
    metrics = metrics_of(probs)
    stats = None
    if gold is not None and task in ("multi_label", "single_label") and len(probs) >= 2:
        stats = accuracy_stats(probs, reference, gold, task, label_names, thresholds, rule=f1_rule,
                               margin=f1_margin, min_support=per_label_min_support)
    return Evaluation(
        name=name, precision=precision, size_bytes=size_bytes, task=task,
        drift=drift(probs, reference, atol=atol, threshold=THRESHOLD, decision=decision),
        metrics=metrics, reference_metrics=metrics_of(reference),
        probs=probs, reference=reference, stats=stats,
    )


def observed_and_bound(ev: Evaluation, check_name: str, bounds: Bounds) -> tuple[float, float, bool]:
    """(observed, bound, holds) for one named check (ValueError if it does not fit the task)."""
    why = not_applicable(ev.task, check_name) if ev.task in TASK_CHECKS else None
    if why:
        raise ValueError(f"{check_name} does not apply to {ev.name}: {why}")
    d, m = ev.drift, ev.metrics
    table = {
        "drift_mean": (d.mean, bounds.drift_mean),
        "drift_p99": (d.p99, bounds.drift_p99),
        "drift_max": (d.max, bounds.drift_max),
        "flip_rate": (d.flip_rate, bounds.flip_rate),
    }
    if check_name in table:
        observed, bound = table[check_name]
    elif check_name == "f1_keep" and ev.stats is not None and ev.stats.rule != "point":
        # the CI rules: the CI's upper end (regression) or lower end (non-inferiority) against -margin
        s = ev.stats
        observed = s.delta.ci_high if s.rule == "regression" else s.delta.ci_low
        return float(observed), float(-s.margin), s.decision(bounds.f1_keep).passed
    elif check_name == "f1_keep":
        observed, bound = m[ev.headline], bounds.f1_keep * ev.reference_metrics[ev.headline]
    elif check_name == "per_label":
        failing = [] if ev.stats is None else ev.stats.failing_labels(bounds.per_label_keep)
        return float(len(failing)), 0.0, not failing
    elif check_name == "f1_floor":
        observed, bound = m[ev.headline], bounds.f1_floor
    elif check_name == "accuracy_keep":
        observed, bound = m["accuracy"], bounds.accuracy_keep * ev.reference_metrics["accuracy"]
    else:  # cosine_min, cosine_mean, rel_l2_max: the metric and its bound share the name
        observed, bound = m[check_name], getattr(bounds, check_name)
    holds = observed >= bound if check_name in _AT_LEAST else observed <= bound
    return float(observed), float(bound), bool(holds)


def check(ev: Evaluation, check_name: str, bounds: Bounds, texts: Sequence[str],
          label_names: Sequence[str]) -> str | None:
    """None when the bound holds, else an actionable failure message."""
    observed, bound, holds = observed_and_bound(ev, check_name, bounds)
    if holds:
        return None
    if check_name == "per_label":
        return _per_label_failure(ev, bounds, texts)
    if check_name == "f1_keep" and ev.stats is not None and ev.stats.rule != "point":
        what = (f"{HEADLINE_WORDS.get(ev.headline, ev.headline)} fails the {ev.stats.rule} rule: "
                f"{ev.stats.decision(bounds.f1_keep).reason}")
    elif check_name == "f1_keep":
        what = (f"{ev.headline} = {observed:.4f} is below {bounds.f1_keep:.3f} x the torch reference "
                f"{ev.reference_metrics[ev.headline]:.4f} = {bound:.4f}")
    elif check_name == "accuracy_keep":
        what = (f"accuracy = {observed:.4f} is below {bounds.accuracy_keep:.3f} x the torch reference "
                f"{ev.reference_metrics['accuracy']:.4f} = {bound:.4f}")
    elif check_name == "f1_floor":
        what = f"{ev.headline} = {observed:.4f} is below the configured floor {bound:.4f}"
    elif check_name in _AT_LEAST:
        what = f"{check_name} = {observed:.6g} is below the bound {bound:.6g}"
    else:
        what = f"{check_name} = {observed:.6g} exceeds the bound {bound:.6g}"
    lines = [
        f"{ev.name}: {what}.",
        f"  (bounds: encoder_gate/accuracy/tolerances.py; override in {override_table(ev.name)})",
    ]
    if ev.task == "feature_extraction":
        return "\n".join([*lines, *_describe_embeddings(ev, texts)])
    flips = "argmax class changes" if ev.task == "single_label" else "decision flips"
    lines += [
        f"  drift mean {ev.drift.mean:.4g}, p99 {ev.drift.p99:.4g}, max {ev.drift.max:.4g}; "
        f"{ev.drift.flips} {flips} ({ev.drift.flip_rate:.3%}); "
        f"{ev.headline} {ev.metrics[ev.headline]:.4f} vs reference {ev.reference_metrics[ev.headline]:.4f}",
        "  worst samples:",
    ]
    for idx in ev.drift.worst_samples(3):
        lines.extend(describe_sample(idx, texts[idx], ev.reference[idx], ev.probs[idx], label_names))
    return "\n".join(lines)


def _per_label_failure(ev: Evaluation, bounds: Bounds, texts: Sequence[str]) -> str:
    """The failing labels: each with its support, both F1s, McNemar and the changed examples."""
    assert ev.stats is not None
    keep, s = bounds.per_label_keep, ev.stats
    failing = s.failing_labels(keep)
    judged = sum(r.verdict != "low-support" for r in s.per_label(keep))
    lines = [
        f"{ev.name}: {len(failing)} of {judged} labels with at least {s.min_support} gold positives "
        f"fail the per-label check (each keeps >= {keep:g} x its reference F1 and loses no significant "
        f"number of decisions, Holm-adjusted McNemar p >= 0.05); the overall "
        f"{HEADLINE_WORDS.get(ev.headline, ev.headline)} change is {s.delta.delta:+.4f} "
        f"[{s.delta.ci_low:+.4f}, {s.delta.ci_high:+.4f}].",
        f"  (bounds: encoder_gate/accuracy/tolerances.py per_label_keep, or --gate-per-label-keep / "
        f"--gate-per-label-min-support; override in {override_table(ev.name)})",
    ]
    lines += ["  " + r.failure_message(texts).replace("\n", "\n  ") for r in failing]
    return "\n".join(lines)


def _describe_embeddings(ev: Evaluation, texts: Sequence[str]) -> list[str]:
    """Summary and the three samples least similar to the reference, for an encoder."""
    cos = cosine_similarity(ev.probs, ev.reference)
    rel = relative_l2(ev.probs, ev.reference)
    m = ev.metrics
    lines = [
        f"  cosine to the torch reference: min {m['cosine_min']:.6f}, mean {m['cosine_mean']:.6f}; "
        f"relative L2 mean {m['rel_l2_mean']:.4g}, max {m['rel_l2_max']:.4g}; "
        f"abs drift mean {ev.drift.mean:.4g}, max {ev.drift.max:.4g}",
        "  worst samples (lowest cosine):",
    ]
    for idx in cos.worst_samples(3):
        text = texts[idx] if len(texts[idx]) <= 140 else texts[idx][:137] + "..."
        lines += [f"  #{idx}: {text!r}",
                  f"      cosine {cos.per_row[idx]:.6f}, relative L2 {rel[idx]:.4g}, "
                  f"norm {np.linalg.norm(ev.probs[idx]):.4g} vs reference "
                  f"{np.linalg.norm(ev.reference[idx]):.4g}, max |diff| {ev.drift.per_sample[idx]:.4g}"]
    return lines


def describe_sample(idx: int, text: str, ref: np.ndarray, got: np.ndarray,
                    label_names: Sequence[str], rows: int = 5) -> list[str]:
    """A sample's text and the labels where backend and reference differ most."""
    shown = text if len(text) <= 140 else text[:137] + "..."
    out = [f"  #{idx}: {shown!r}", f"      {'label':<16}{'reference':>10}{'backend':>10}{'diff':>10}"]
    names = list(label_names) or [str(i) for i in range(len(ref))]
    for j in np.argsort(-np.abs(got - ref))[:rows]:
        out.append(f"      {names[j]:<16}{ref[j]:>10.4f}{got[j]:>10.4f}{got[j] - ref[j]:>+10.4f}")
    return out
