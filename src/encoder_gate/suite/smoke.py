"""Smoke: every configured backend answers a few texts with well-formed outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from encoder_gate.runtime import inference
from encoder_gate.runtime.inference import assert_well_formed, max_length, predict_texts
from encoder_gate.runtime.predictions import texts_digest
from encoder_gate.runtime.properties import check_key, code_digest, run_or_read
from encoder_gate.tasks import Task

__all__ = ["test_backend_gives_well_formed_probabilities"]

#: The code that decides the smoke test: this module and the encoding it feeds through.
SMOKE_CODE = code_digest([Path(__file__), Path(inference.__file__)])
SMOKE_TEXTS = 6
SMOKE_BATCH = 4


def test_backend_gives_well_formed_probabilities(backend, gate_session, gate_model, gate_tokenizer,
                                                 gate_dataset):
    """Each backend returns one finite row per text, probabilities in [0, 1] for classifiers. Its
    pass is kept by the runner's identity and the texts (encoder_gate.runtime.properties): an
    unchanged artifact is not run again, so an unchanged PR never compiles torch-compile for it."""
    texts = list(gate_dataset.texts[:SMOKE_TEXTS])

    def run() -> None:
        out = predict_texts(backend, gate_tokenizer, texts, batch_size=SMOKE_BATCH)
        assert_well_formed(backend.name, out, texts, gate_model)
        if Task.of(gate_model.task).record.output == "softmax":
            np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-4)

    key = check_key("smoke", backend, gate_model, SMOKE_CODE,
                    {"texts": texts_digest(texts), "batch_size": SMOKE_BATCH,
                     "max_length": max_length(gate_tokenizer),
                     "device": gate_session.device_of(backend.name)})
    run_or_read(gate_session, key, run, backend.name, "test_backend_gives_well_formed_probabilities",
                f"{len(texts)} texts", label="smoke test")
