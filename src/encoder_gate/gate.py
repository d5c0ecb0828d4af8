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
    singlelabel_metrics,
)
from encoder_gate.tolerances import Bounds

CHECKS = ("drift_mean", "drift_p99", "drift_max", "flip_rate", "f1_keep", "f1_floor")
THRESHOLD = 0.5  # the decision threshold of the roberta-base-go_emotions model card


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

    def summary(self) -> dict[str, Any]:
        """The stable per-backend keys of accuracy.json (documented in the README)."""
        d = self.drift
        out: dict[str, Any] = {
            "dtype": self.precision, "size_bytes": int(self.size_bytes),
            "drift_mean": d.mean, "drift_p50": d.p50, "drift_p99": d.p99, "drift_max": d.max,
            "max_abs_diff": d.max_abs_diff, "share_over_atol": d.share_over_atol,
            "flips": d.flips, "flip_rate": d.flip_rate, "top1_agreement": d.top1_agreement,
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
    return {"cosine_min": cos.min, "cosine_mean": cos.mean}


def evaluate(name: str, probs: np.ndarray, reference: np.ndarray, gold: np.ndarray, *,
             precision: str, size_bytes: int, task: str, label_names: Sequence[str],
             atol: float, thresholds: np.ndarray | None = None) -> Evaluation:
    """Drift against the reference and task metrics against gold, for one backend.

    `thresholds` (per label, tuned on validation) replace 0.5 for the task metrics; drift
    and flips are always judged at 0.5, the model card's threshold.
    """
    return Evaluation(
        name=name, precision=precision, size_bytes=size_bytes, task=task,
        drift=drift(probs, reference, atol=atol, threshold=THRESHOLD),
        metrics=task_metrics(probs, gold, task, label_names, reference, thresholds),
        reference_metrics=task_metrics(reference, gold, task, label_names, reference, thresholds),
        probs=probs, reference=reference,
    )


def observed_and_bound(ev: Evaluation, check_name: str, bounds: Bounds) -> tuple[float, float, bool]:
    """(observed, bound, holds) for one named check."""
    d = ev.drift
    ref = float(ev.reference_metrics[ev.headline])
    got = float(ev.metrics[ev.headline])
    table = {
        "drift_mean": (d.mean, bounds.drift_mean),
        "drift_p99": (d.p99, bounds.drift_p99),
        "drift_max": (d.max, bounds.drift_max),
        "flip_rate": (d.flip_rate, bounds.flip_rate),
        "f1_keep": (got, bounds.f1_keep * ref),
        "f1_floor": (got, bounds.f1_floor),
    }
    observed, bound = table[check_name]
    holds = observed >= bound if check_name.startswith("f1") else observed <= bound
    return float(observed), float(bound), holds


def check(ev: Evaluation, check_name: str, bounds: Bounds, texts: Sequence[str],
          label_names: Sequence[str]) -> str | None:
    """None when the bound holds, else an actionable failure message."""
    observed, bound, holds = observed_and_bound(ev, check_name, bounds)
    if holds:
        return None
    if check_name == "f1_keep":
        what = (f"{ev.headline} = {observed:.4f} is below {bounds.f1_keep:.3f} x the torch reference "
                f"{ev.reference_metrics[ev.headline]:.4f} = {bound:.4f}")
    elif check_name == "f1_floor":
        what = f"{ev.headline} = {observed:.4f} is below the configured floor {bound:.4f}"
    else:
        what = f"{check_name} = {observed:.6g} exceeds the bound {bound:.6g}"
    lines = [
        f"{ev.name}: {what}.",
        f"  (bounds: encoder_gate/tolerances.py; override in [tool.encoder-gate.tolerances.{ev.name}])",
        f"  drift mean {ev.drift.mean:.4g}, p99 {ev.drift.p99:.4g}, max {ev.drift.max:.4g}; "
        f"{ev.drift.flips} decision flips ({ev.drift.flip_rate:.3%}); "
        f"{ev.headline} {ev.metrics[ev.headline]:.4f} vs reference {ev.reference_metrics[ev.headline]:.4f}",
        "  worst samples:",
    ]
    for idx in ev.drift.worst_samples(3):
        lines.extend(describe_sample(idx, texts[idx], ev.reference[idx], ev.probs[idx], label_names))
    return "\n".join(lines)


def describe_sample(idx: int, text: str, ref: np.ndarray, got: np.ndarray,
                    label_names: Sequence[str], rows: int = 5) -> list[str]:
    """A sample's text and the labels where backend and reference differ most."""
    shown = text if len(text) <= 140 else text[:137] + "..."
    out = [f"  #{idx}: {shown!r}", f"      {'label':<16}{'reference':>10}{'backend':>10}{'diff':>10}"]
    names = list(label_names) or [str(i) for i in range(len(ref))]
    for j in np.argsort(-np.abs(got - ref))[:rows]:
        out.append(f"      {names[j]:<16}{ref[j]:>10.4f}{got[j]:>10.4f}{got[j] - ref[j]:>+10.4f}")
    return out
