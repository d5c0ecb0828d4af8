"""The gate's evaluation and failure messages on synthetic outputs (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from encoder_gate.accuracy.checks import bounds_for, check, observed_and_bound
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError

LABELS = ("joy", "anger", "neutral")
TEXTS = ("so happy", "furious!", "ok", "meh")
GOLD = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.uint8)
REF = np.array([[0.9, 0.1, 0.1], [0.2, 0.8, 0.1], [0.1, 0.1, 0.7], [0.1, 0.2, 0.45]], dtype=np.float32)


def run(probs, thresholds=None, name="onnx-int8"):
    return evaluate(name, probs, REF, GOLD, precision="int8", size_bytes=10, task="multi_label",
                    label_names=LABELS, atol=1e-4, thresholds=thresholds)


def test_identical_outputs_pass_every_check():
    ev = run(REF.copy())
    for name in ("drift_mean", "drift_p99", "drift_max", "flip_rate", "f1_keep"):
        assert check(ev, name, bounds_for("onnx-fp32"), TEXTS, LABELS) is None


def test_failure_message_names_backend_metric_bound_and_worst_samples():
    """A drifted backend fails with backend, metric, value, bound and a per-label table."""
    probs = REF.copy()
    probs[1, 1] = 0.05  # anger flips off for "furious!"
    message = check(run(probs), "drift_max", bounds_for("onnx-int8"), TEXTS, LABELS)
    assert message is not None
    assert message.startswith("onnx-int8: drift_max = 0.75 exceeds the bound 0.6.")
    assert "#1: 'furious!'" in message
    assert "anger" in message and "reference" in message and "-0.7500" in message


def test_a_failure_against_a_bound_the_project_set_says_so():
    """The bound came from [tool.encoder-gate.tolerances]: the message says it is the project's, not
    the shipped table's; another bound of the same backend still names the table."""
    probs = REF.copy()
    probs[1, 1] = 0.05
    bounds = bounds_for("onnx-int8", {"onnx-int8": {"drift_max": 0.5}})
    message = check(run(probs), "drift_max", bounds, TEXTS, LABELS)
    assert message is not None and message.splitlines()[1] == (
        "  (bound: the project's, [tool.encoder-gate.tolerances.onnx-int8] or its option; the default is in "
        "encoder_gate/accuracy/tolerances.py)")
    flips = check(run(probs), "flip_rate", bounds_for("onnx-int8", {"onnx-int8": {"drift_max": 0.5,
                                                                                     "flip_rate": 1.0}}),
                  TEXTS, LABELS)
    assert flips is None
    mean = check(run(probs), "drift_mean", bounds_for("onnx-fp32", {"onnx-fp32": {"drift_max": 0.5}}), TEXTS,
                 LABELS)
    assert mean is not None and "(bounds: encoder_gate/accuracy/tolerances.py; override in" in mean


def test_f1_keep_is_relative_to_the_reference():
    probs = REF.copy()
    probs[:, :] = np.roll(REF, 1, axis=1)
    _observed, bound, holds = observed_and_bound(run(probs), "f1_keep", bounds_for("onnx-int8"))
    assert not holds and bound == pytest.approx(0.99 * run(REF.copy()).metrics["f1"])
    assert "below 0.990 x the torch reference" in check(run(probs), "f1_keep", bounds_for("onnx-int8"),
                                                        TEXTS, LABELS)


def test_tuned_thresholds_change_task_metrics_but_not_drift():
    """Per-label thresholds apply to F1; drift and flips stay judged at 0.5."""
    fixed, tuned = run(REF.copy()), run(REF.copy(), thresholds=np.array([0.5, 0.5, 0.4]))
    assert fixed.metrics["f1"] < 1.0 and tuned.metrics["f1"] == 1.0
    assert fixed.drift == tuned.drift


def test_threshold_mode_is_validated():
    with pytest.raises(GateError, match="thresholds must be one of fixed, tuned"):
        GateConfig(thresholds="best")  # type: ignore[arg-type]


def test_tolerance_overrides_apply_and_unknown_keys_fail():
    assert bounds_for("onnx-int8", {"onnx-int8": {"drift_max": 0.25}}).drift_max == 0.25
    assert bounds_for("onnx:/x/model_quantized.onnx").drift_max == bounds_for("onnx-int8").drift_max
    with pytest.raises(GateError, match="unknown tolerance"):
        bounds_for("onnx-fp16", {"onnx-fp16": {"drift_maxx": 1}})
