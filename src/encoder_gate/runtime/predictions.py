"""Predictions on the evaluation set, cached by what decides them.

The gate compares artifacts: an unchanged artifact, fed the same texts the same way by the
same libraries, gives unchanged outputs (the determinism properties in the padding tests
keep that honest). So a backend's predictions are stored in the artifact cache under a key
of the model's content hash, the artifact's own bytes (the .onnx file and its external
data; for torch backends the model's content, which is their artifact), the texts, the
batch size, device and threads, and the toolchain versions. A changed byte anywhere in
that list recomputes that backend's predictions and nothing else.

    preds, hit = cached_predictions(cache, runner, model, texts, batch_size, device, threads, compute)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.cache import ArtifactCache, sha256_file, toolchain_versions
from encoder_gate.models.resolve import ModelSpec

PREDICTIONS_FILE = "predictions.npy"
PREDICTIONS_RECIPE = 1  # bump when predict_texts changes how it batches or post-processes


def cacheable(runner: Any) -> bool:
    """Only the suite's own runners, unmodified: their outputs are decided by the key. A
    wrapper (e.g. encoder_gate.studies.damage) or a runner whose `predict` was replaced on the
    instance (a test's fault injection) computes something the key cannot see."""
    from encoder_gate.backends.onnx_backend import OnnxRunner
    from encoder_gate.backends.torch_backend import TorchRunner

    return isinstance(runner, OnnxRunner | TorchRunner) and "predict" not in vars(runner)


def artifact_digest(runner: Any, model: ModelSpec) -> str:
    """What the runner computes with: the ONNX file and its external data, else the model."""
    artifact = getattr(runner, "artifact", None)
    if artifact is None:
        return f"model:{model.content_hash}"
    from encoder_gate.backends.onnx_graph import inspect_onnx

    path = Path(artifact)
    files = [path, *(p for p in inspect_onnx(path).external_files if p.is_file())]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(sha256_file(file).encode())
    return f"onnx:{digest.hexdigest()}"


def texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def prediction_key(runner: Any, model: ModelSpec, texts: Sequence[str], batch_size: int, device: str,
                   threads: int) -> dict[str, object]:
    return {"recipe": PREDICTIONS_RECIPE, "backend": runner.name, "model": model.content_hash,
            "artifact": artifact_digest(runner, model), "texts": texts_digest(texts),
            "batch_size": batch_size, "device": device, "threads": threads,
            "versions": toolchain_versions()}


def _entry_name(backend: str) -> str:
    return "predictions-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", backend)[:48]


def cached_predictions(cache: ArtifactCache, runner: Any, model: ModelSpec, texts: Sequence[str],
                       batch_size: int, device: str, threads: int,
                       compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """The runner's predictions on `texts`: from the cache when their key is there, else
    computed with `compute()` and stored. Returns (predictions, from_cache). A runner that is
    not :func:`cacheable` is always computed, and nothing is stored."""
    if not cacheable(runner):
        return compute(), False
    key = prediction_key(runner, model, texts, batch_size, device, threads)
    computed: list[np.ndarray] = []

    def build(tmp: Path) -> None:
        preds = compute()
        computed.append(preds)
        np.save(tmp / PREDICTIONS_FILE, preds, allow_pickle=False)

    entry = cache.get_or_build(_entry_name(runner.name), key, build)
    if computed:
        return computed[0], False
    return np.load(entry.path / PREDICTIONS_FILE, allow_pickle=False), entry.hit
