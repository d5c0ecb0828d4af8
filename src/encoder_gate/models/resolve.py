"""`--gate-model NAME` -> ModelSpec: a bundled model (built once, cached), a local directory, or a hub id.

`tiny`, `minilm`, `default`, `sentiment` and `minilm-embed` are built by this project
(offline, deterministic, cached); a local directory is used as it is; anything else is taken as a hub id and
resolved with `from_pretrained`, which works where the hub or its cache is reachable.
Every backend then loads the directory with the same `from_pretrained` code.
"""

from __future__ import annotations

import os
from pathlib import Path

from encoder_gate.cache import ArtifactCache, sha256_file, toolchain_versions
from encoder_gate.data.datasets import bundled_path
from encoder_gate.errors import GateError
from encoder_gate.models.bundled import BUILDERS
from encoder_gate.models.spec import (
    BUILD_PACKAGES,
    BUILTIN_MODELS,
    HUB_PATTERNS,
    ModelSpec,
    Progress,
    quiet,
    spec_from_dir,
)
from encoder_gate.models.train import TINY_TRAINING, build_default_model, build_sentiment_model


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or (os.sep in name and Path(name).parent.exists())


def resolve_model(name: str, cache: ArtifactCache, progress: Progress = quiet) -> ModelSpec:
    """Turn `--gate-model` into a ModelSpec, building a builtin model once if needed."""
    if name in BUILTIN_MODELS and (Path(name).expanduser() / "config.json").is_file():
        raise GateError(
            f"model {name!r} names both encoder-gate's builtin model {name!r} and the model directory "
            f"{name}{os.sep} here, and a builtin's name is read as the builtin, so the gate would judge "
            f"a model that is not yours: give your directory as a path, ./{name} (model = \"./{name}\" in "
            f"[tool.encoder-gate], --gate-model ./{name}, encoder-gate export ./{name}), or rename it")
    if name == "default":
        return build_default_model(cache, progress)
    if name == "sentiment":
        return build_sentiment_model(cache, progress)
    if name in BUILDERS:
        builder, recipe, trains = BUILDERS[name]
        key: dict[str, object] = {"recipe": recipe, "tools": toolchain_versions(BUILD_PACKAGES)}
        if trains:
            key["train_data"] = sha256_file(bundled_path("train"))
            key["training"] = TINY_TRAINING.__dict__
        entry = cache.get_or_build(f"model-{name}", key, lambda out: builder(out, progress))
        progress(f"model {name}: {'from cache' if entry.hit else 'built'} at {entry.path}")
        return spec_from_dir(name, entry.path, "builtin")
    path = Path(name).expanduser()
    if path.is_dir():
        return spec_from_dir(name, path.resolve(), "local")
    if path.is_file():
        hint = (" (an ONNX file is a backend of its own: onnx:PATH in backends, beside its model directory)"
                if path.suffix == ".onnx" else "")
        raise GateError(f"model {name!r} is a file, not a model directory: pass the Hugging Face model "
                        f"directory (config.json, tokenizer, weights) it belongs to{hint}")
    if _looks_like_path(name) or path.suffix in {".onnx", ".json"}:
        raise GateError(
            f"model directory {name!r} does not exist. Pass an existing Hugging Face model "
            f"directory, a hub id, or one of {', '.join(BUILTIN_MODELS)}."
        )
    return _resolve_hub(name)


def _resolve_hub(model_id: str) -> ModelSpec:
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(model_id, allow_patterns=list(HUB_PATTERNS))
    except Exception as exc:  # the hub raises many types: offline, 404, auth
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "is disabled (HF_HUB_OFFLINE=1)" if offline else "is not reachable or has no such model"
        raise GateError(
            f"could not load model {model_id!r}: it is not a local directory and the Hugging "
            f"Face hub {why} "
            f"({type(exc).__name__}). Pass a local model directory (save_pretrained output), "
            f"run where the hub or its cache is reachable, or use one of {', '.join(BUILTIN_MODELS)}."
        ) from None
    return spec_from_dir(model_id, Path(local), "hub")
