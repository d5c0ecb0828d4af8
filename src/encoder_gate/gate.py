"""The accuracy gate: evaluate a backend against the reference and gold labels, check bounds.

    evaluation = evaluate(name, probs, reference, dataset, precision, size_bytes, task)
    failure = check(evaluation, "drift_max", bounds_for(name), texts, label_names)
    assert failure is None, failure

`check` returns None when the bound holds, else a message a person can act on: the
backend, the metric, the observed value, the bound, where the bound comes from, and the
three worst samples with a per-label table of reference vs backend probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from encoder_gate.metrics import (
    Drift,
    cosine_similarity,
    drift,
    multilabel_metrics,
    relative_l2,
    singlelabel_metrics,
)
from encoder_gate.tolerances import Bounds, override_table

CHECKS = ("drift_mean", "drift_p99", "drift_max", "flip_rate", "f1_keep", "f1_floor")
# The checks that fit each task. Multi-label: drift of the sigmoid probabilities, flips of
# the (sample, label) decisions at 0.5, micro F1. Single-label: drift of the softmax
# probabilities, flips of the argmax class (one decision per sample), macro F1 and
# accuracy against the reference's. Feature extraction: no labels and no decisions, so
# no flips and no F1; cosine similarity and relative L2 distance to the reference
# embeddings, plus absolute drift of the embedding values.
TASK_CHECKS: dict[str, tuple[str, ...]] = {
    "multi_label": CHECKS,
    "single_label": (*CHECKS, "accuracy_keep"),
    "feature_extraction": ("drift_mean", "drift_p99", "drift_max", "rel_l2_max", "cosine_min",
                           "cosine_mean"),
}
THRESHOLD = 0.5  # the decision threshold of the roberta-base-go_emotions model card
_AT_LEAST = ("f1_keep", "f1_floor", "accuracy_keep", "cosine_min", "cosine_mean")
GOLD_CHECKS = ("f1_keep", "f1_floor", "accuracy_keep")  # the checks that need gold labels
NO_GOLD = ("F1 skipped: there are no gold labels (unlabelled texts from --gate-texts); every parity "
           "check against the torch reference ran. Pass a labelled --gate-dataset to check F1 too")


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
             atol: float, thresholds: np.ndarray | None = None) -> Evaluation:
    """Drift against the reference and task metrics against gold, for one backend.

    `thresholds` (per label, tuned on validation) replace 0.5 for the task metrics; drift
    and flips are always judged at 0.5, the model card's threshold. A single-label model's
    decision is its argmax class, so its flips are samples whose class changed. Without
    gold labels (`gold=None`, parity only) a classifier gets no task metrics; an encoder's
    metrics need none.
    """
    decision = "argmax" if task == "single_label" else "threshold"
    labelled = gold is not None or task == "feature_extraction"
    empty = np.zeros((len(probs), 0), dtype=np.uint8)

    def metrics_of(p: np.ndarray) -> dict[str, Any]:
        return task_metrics(p, empty if gold is None else gold, task, label_names, reference,
                            thresholds) if labelled else {}

    return Evaluation(
        name=name, precision=precision, size_bytes=size_bytes, task=task,
        drift=drift(probs, reference, atol=atol, threshold=THRESHOLD, decision=decision),
        metrics=metrics_of(probs), reference_metrics=metrics_of(reference),
        probs=probs, reference=reference,
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
    elif check_name == "f1_keep":
        observed, bound = m[ev.headline], bounds.f1_keep * ev.reference_metrics[ev.headline]
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
    if check_name == "f1_keep":
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
        f"  (bounds: encoder_gate/tolerances.py; override in {override_table(ev.name)})",
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
