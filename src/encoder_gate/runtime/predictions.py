"""Predictions on the evaluation set, cached by what decides them.

The gate compares artifacts: an unchanged artifact, fed the same texts the same way by the
same libraries, gives unchanged outputs (the determinism properties in the padding tests
keep that honest). So a backend's predictions are stored in the artifact cache under a key
of the model's content hash, the runner's own identity (its artifact's bytes: the .onnx file
and its external data, or for torch backends the model's content; and the versions of the
libraries its backend names), the texts, the length they are truncated at, the batch size
and device. A changed byte anywhere in that list recomputes that backend's predictions
and nothing else.

Nothing in the key depends on where a checkout sits: a prebuilt `onnx:PATH` is keyed by its
bytes and its file's name, not its directory, so the base's predictions made from one
checkout (the default branch's, the previous PR's) are read by the next. Nor on the intra-op
thread count: the default model's predictions (torch, onnx-fp32, onnx-int8; 300 texts, batch
32) were bitwise equal at one and two threads, so a session that times at one thread reads
what an accuracy-only session predicted at every core (docs/benchmarks.md).

    preds, hit, entry = cached_predictions(cache, runner, model, texts, batch, device, max_tokens, compute)

`entry` is the cache entry's directory name (None: not kept), which accuracy.json records per
backend (`cached_outputs`), so a session on other libraries can compare its predictions with these
(:mod:`encoder_gate.runtime.baseline`, `--gate-accuracy-baseline`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from encoder_gate.backends.registry import with_prebuilt_file
from encoder_gate.cache import ArtifactCache
from encoder_gate.data.pairs import Text, digest_bytes
from encoder_gate.errors import GateError
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.inference import not_finite

PREDICTIONS_FILE = "predictions.npy"
#: Bump when predict_texts changes how it batches or post-processes (2: batches capped at
#: inference.TOKENS_PER_BATCH padded tokens).
PREDICTIONS_RECIPE = 2


class Predicted(NamedTuple):
    """A runner's outputs on some texts: the values, whether they were read from the cache, and the
    name of the cache entry that keeps them (None: a runner no key can see, never kept)."""

    values: np.ndarray
    hit: bool
    entry: str | None


def read_predictions(path: Path) -> np.ndarray:
    """The predictions a cache entry's directory keeps."""
    return np.load(path / PREDICTIONS_FILE, allow_pickle=False)


def cacheable(runner: Any) -> bool:
    """Whether the runner's predictions are decided by what the key sees: its class says what it
    computes with (`prediction_identity`, see :class:`~encoder_gate.backends.base.Runner`) and
    its `predict` was not replaced on the instance (a test's fault injection). A wrapper (e.g.
    encoder_gate.studies.damage) or a test double has no identity and is always computed."""
    return callable(getattr(type(runner), "prediction_identity", None)) and "predict" not in vars(runner)


def artifact_of(runner: Any) -> str | None:
    """What the runner computes from, as its prediction identity names it ("onnx:<digest>",
    "model:<hash>"), or None for a runner with no identity (a wrapper, a test double, or one whose
    `prediction_identity()` says None: its outputs are not decided by an artifact)."""
    if not callable(getattr(type(runner), "prediction_identity", None)):
        return None
    identity = runner.prediction_identity()
    artifact = identity.get("artifact") if identity else None
    return str(artifact) if artifact else None


def texts_digest(texts: Sequence[Text]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(digest_bytes(text))
        digest.update(b"\0")
    return digest.hexdigest()


def backend_kind(name: str) -> str:
    """A backend's name without where its file sits: `onnx:DIR/model.onnx@int8` is
    `onnx:model.onnx@int8` (its bytes are in the key already), any other name as it is."""
    return with_prebuilt_file(name, lambda path: Path(path).name)


def pass_key(runner: Any, model_hash: str, texts: Sequence[Text],
             batch_size: int) -> dict[str, object] | None:
    """What one pass of a runner's artifact over `texts` at `batch_size` is, for any figure kept of
    it (its predictions here, its memory probe's in speed.workers): the backend's kind, the model's
    content hash, the runner's prediction identity, the texts' digest and the batch size. None where
    the runner is not :func:`cacheable` or names no identity: nothing a key could see decides it."""
    identity = runner.prediction_identity() if cacheable(runner) else None
    if identity is None:
        return None
    return {"backend": backend_kind(runner.name), **identity, **_pass_parts(model_hash, texts, batch_size)}


def _pass_parts(model_hash: str, texts: Sequence[Text], batch_size: int) -> dict[str, object]:
    """The parts of a pass's key that no artifact decides: the model's content, the texts, the batch size."""
    return {"model": model_hash, "texts": texts_digest(texts), "batch_size": batch_size}


def _predictions_parts(device: str, max_tokens: int) -> dict[str, object]:
    """What a predictions entry's key adds to its pass's: the recipe, the device and the truncation."""
    return {"recipe": PREDICTIONS_RECIPE, "max_tokens": max_tokens, "device": device}


def _entry_name(backend: str) -> str:
    return "predictions-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", backend)[:48]


def predictions_kept(cache: ArtifactCache, name: str, model_hash: str, texts: Sequence[Text], batch_size: int,
                     device: str, max_tokens: int) -> bool:
    """Whether the cache holds backend `name`'s predictions on `texts` for this model, batch size,
    device and truncation, whatever artifact and versions made them: a forecast's cheap look, before
    the artifact that would name them is built or hashed (:mod:`encoder_gate.speed.forecast`)."""
    return cache.holds(_entry_name(name), {**_pass_parts(model_hash, texts, batch_size),
                                           **_predictions_parts(device, max_tokens)})


def cached_predictions(cache: ArtifactCache, runner: Any, model: ModelSpec, texts: Sequence[Text],
                       batch_size: int, device: str, max_tokens: int,
                       compute: Callable[[], np.ndarray]) -> Predicted:
    """The runner's predictions on `texts`, each truncated at `max_tokens` tokens: from the cache
    when their key is there, else
    computed with `compute()` and stored. A runner that is not :func:`cacheable` is always computed,
    and nothing is stored."""
    passed = pass_key(runner, model.content_hash, texts, batch_size)
    if passed is None:  # nothing decides its outputs that a key could see
        return Predicted(_finite(runner.name, compute(), texts), False, None)
    key = {**passed, **_predictions_parts(device, max_tokens)}
    preds, entry = cache.get_or_compute(
        _entry_name(runner.name), key, compute,
        write=lambda value, tmp: np.save(tmp / PREDICTIONS_FILE, value, allow_pickle=False),
        read=read_predictions)
    return Predicted(_finite(runner.name, preds, texts), entry.hit, entry.path.name)


def _finite(name: str, preds: np.ndarray, texts: Sequence[Text]) -> np.ndarray:
    """`preds`, or a GateError where some are NaN or infinite (inference.not_finite): every check of
    the backend then fails with that one line, not a ValueError from inside the metrics."""
    if said := not_finite(name, preds, texts):
        raise GateError(said)
    return preds
