"""Smoke: every configured backend answers a few texts with well-formed outputs."""

from __future__ import annotations

import numpy as np

from encoder_gate.runtime.inference import predict_texts
from encoder_gate.tasks import Task

__all__ = ["test_backend_gives_well_formed_probabilities"]


def test_backend_gives_well_formed_probabilities(backend, gate_model, gate_tokenizer, gate_dataset):
    """Each backend returns one finite row per text, probabilities in [0, 1] for classifiers."""
    texts = list(gate_dataset.texts[:6])
    out = predict_texts(backend, gate_tokenizer, texts, batch_size=4)
    assert out.shape[0] == len(texts)
    assert np.isfinite(out).all()
    task = Task.of(gate_model.task)
    if task.classifier:
        assert out.shape[1] == gate_model.num_labels
        assert ((out >= 0) & (out <= 1)).all()
    if task.record.output == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-4)
