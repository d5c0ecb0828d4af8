"""Accuracy gate: each backend's drift, decision flips and F1 stay within its bounds.

Bounds come from the one tolerance table (encoder_gate.tolerances), overridable in
[tool.encoder-gate.tolerances]; drift and flips are measured against the same-run torch
FP32 reference, F1 against the gold labels.
"""

from __future__ import annotations

import pytest

from encoder_gate.gate import check


@pytest.mark.parametrize("bound", ["drift_mean", "drift_p99", "drift_max", "flip_rate"])
def test_drift_within_bound(bound, backend_evaluation, backend_bounds, gate_dataset, gate_model):
    """Label probabilities stay within the backend's drift and flip bounds."""
    failure = check(backend_evaluation, bound, backend_bounds, gate_dataset.texts, gate_model.label_names)
    assert failure is None, failure


def test_f1_keeps_reference_share(backend_evaluation, backend_bounds, gate_dataset, gate_model):
    """Micro F1 (macro F1 for single-label) keeps its share of the torch reference's."""
    failure = check(backend_evaluation, "f1_keep", backend_bounds, gate_dataset.texts,
                    gate_model.label_names)
    assert failure is None, failure


def test_f1_above_floor(backend_evaluation, backend_bounds, gate_dataset, gate_model):
    """The absolute F1 floor from [tool.encoder-gate.tolerances], where one is configured."""
    if backend_bounds.f1_floor <= 0:
        pytest.skip("no absolute f1_floor configured for this backend")
    failure = check(backend_evaluation, "f1_floor", backend_bounds, gate_dataset.texts,
                    gate_model.label_names)
    assert failure is None, failure
