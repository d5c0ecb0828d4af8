"""The three tasks a model can have, each one record: outputs, decisions and headline metric.

    task = Task("multi_label")            # or Task.of(spec.task); a Task is also its name
    probs = task.postprocess(logits, attention_mask)
    decided = task.decisions(probs)       # (n, L) booleans the task metrics score
    task.headline, task.headline_name     # "f1", "micro F1"

A `Task` is a `str` enum: it compares equal to its name ("multi_label", "single_label",
"feature_extraction"), so config files, JSON reports and cache keys keep the plain name,
while code asks the task what it does instead of comparing strings. Which accuracy checks
apply to a task is said by each check's own record (:mod:`encoder_gate.accuracy.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import numpy as np

#: The decision threshold of the roberta-base-go_emotions model card (multi-label).
THRESHOLD = 0.5


@dataclass(frozen=True)
class TaskRecord:
    """What a task is: how outputs become probabilities and decisions, and what it is scored on."""

    noun: str  # "multi-label classifier", in sentences
    output: Literal["sigmoid", "softmax", "mean-pool"]  # logits (or hidden states) -> what we compare
    decision: Literal["threshold", "argmax"] | None  # None: embeddings make no decisions
    headline: str  # the metric key the F1 bounds use
    headline_name: str  # how a person reads that key
    output_name: str  # the model output that is compared ("logits" or "last_hidden_state")
    method: str  # accuracy.md's sentence on what is compared ({threshold}: the decision threshold)
    usage: str  # the model card's line on how a user turns the outputs into answers


class Task(str, Enum):
    """A model's task; compares equal to its name."""

    MULTI_LABEL = "multi_label"
    SINGLE_LABEL = "single_label"
    FEATURE_EXTRACTION = "feature_extraction"

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def of(cls, task: str | Task) -> Task:
        """The task named `task` (a Task passes through); ValueError names the known ones."""
        try:
            return cls(task)
        except ValueError:
            raise ValueError(f"unknown task {task!r}; known: {', '.join(t.value for t in cls)}") from None

    @property
    def record(self) -> TaskRecord:
        return _RECORDS[self.value]

    @property
    def classifier(self) -> bool:
        """Whether the model has labels and makes decisions (a feature extractor does not)."""
        return self.record.decision is not None

    @property
    def headline(self) -> str:
        return self.record.headline

    @property
    def headline_name(self) -> str:
        return self.record.headline_name

    @property
    def noun(self) -> str:
        """What a model of this task is, in a sentence: "multi-label classifier"."""
        return self.record.noun

    @property
    def output_name(self) -> str:
        return self.record.output_name

    @property
    def exclusive(self) -> bool:
        """Whether a text has exactly one label (its decision is the argmax class)."""
        return self.record.decision == "argmax"

    @property
    def thresholded(self) -> bool:
        """Whether decisions are probabilities at a threshold (one per label, which may be tuned)."""
        return self.record.decision == "threshold"

    def postprocess(self, outputs: np.ndarray, attention_mask: np.ndarray | None) -> np.ndarray:
        """Logits -> probabilities (or hidden states -> mean-pooled embeddings), in float32."""
        x = np.asarray(outputs, dtype=np.float32)
        kind = self.record.output
        if kind == "sigmoid":
            out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
            return out.astype(np.float32)
        if kind == "softmax":
            z = np.exp(x - x.max(axis=-1, keepdims=True))
            return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)
        mask = (np.ones(x.shape[:2]) if attention_mask is None else attention_mask)[..., None]
        pooled = (x * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return pooled.astype(np.float32)

    def decisions(self, probs: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
        """The (n, L) boolean decisions the task metrics score: multi-label, p >= the threshold
        (per label when tuned, else 0.5); single-label, the one-hot of the argmax class."""
        p = np.asarray(probs, dtype=np.float64)
        if self.record.decision == "threshold":
            cut = np.full(p.shape[1], THRESHOLD) if thresholds is None else np.asarray(thresholds, np.float64)
            return np.asarray(p >= cut, dtype=np.bool_)
        if self.record.decision == "argmax":
            out = np.zeros(p.shape, dtype=np.bool_)
            out[np.arange(len(p)), p.argmax(axis=1)] = True
            return out
        raise ValueError(f"a {self.noun} makes no decisions")


_RECORDS: dict[str, TaskRecord] = {
    "multi_label": TaskRecord(
        noun="multi-label classifier", output="sigmoid", decision="threshold", headline="f1",
        headline_name="micro F1", output_name="logits",
        method="threshold {threshold}; drift = per sample, max over labels of |p_backend - p_torch|; "
               "flips = decisions at the threshold that differ from torch FP32.",
        usage="Multi-label: apply a sigmoid to the logits, then a threshold (0.5 below)."),
    "single_label": TaskRecord(
        noun="single-label classifier", output="softmax", decision="argmax", headline="f1_macro",
        headline_name="macro F1", output_name="logits",
        method="single-label (softmax): accuracy, macro F1 and MCC (Matthews correlation) of the argmax "
               "class; drift = per sample, max over classes of |p_backend - p_torch|; flips = samples "
               "whose argmax class differs from torch FP32.",
        usage="Single-label: the softmax of the logits; the predicted label is the argmax."),
    "feature_extraction": TaskRecord(
        noun="feature-extraction encoder", output="mean-pool", decision=None, headline="cosine_mean",
        headline_name="mean cosine", output_name="last_hidden_state",
        method="feature extraction (mean-pooled embeddings): drift = per sample, max over dimensions "
               "of |e_backend - e_torch|; cosine and relative L2 (||e_backend - e_torch|| / ||e_torch||) "
               "against torch FP32.",
        usage="Embeddings: the mean of `last_hidden_state` over the attention mask "
              "(`batch[\"attention_mask\"]`), per text."),
}

#: The task of a results document written before documents named one (every model was a
#: multi-label classifier then).
DOCUMENT_DEFAULT = Task.MULTI_LABEL


def task_of_document(doc: Mapping[str, Any] | None) -> Task:
    """The task of a results document (accuracy.json): its model block's, else DOCUMENT_DEFAULT."""
    return Task.of(((doc or {}).get("model") or {}).get("task", DOCUMENT_DEFAULT))
