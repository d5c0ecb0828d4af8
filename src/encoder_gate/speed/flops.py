"""Matmul FLOPs of an encoder: its sizes (``ModelDims``) and the FLOPs of a sequence, batch or plan."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.errors import GateError
from encoder_gate.speed.batches import BatchPlan


@dataclass(frozen=True)
class ModelDims:
    """The sizes of an encoder that determine its matmul FLOPs."""

    hidden: int
    layers: int
    intermediate: int
    heads: int
    num_labels: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], num_labels: int | None = None) -> ModelDims:
        """From a Hugging Face ``config.json`` (BERT/RoBERTa/ALBERT names, DistilBERT's or GPT-2's)."""

        def pick(*names: str, default: int | None = None) -> int:
            for name in names:
                if config.get(name) is not None:
                    return int(config[name])
            if default is None:
                raise GateError(f"model config has none of {', '.join(names)}; cannot count FLOPs")
            return default

        hidden = pick("hidden_size", "dim", "d_model", "n_embd")
        labels = num_labels if num_labels is not None else len(config.get("id2label") or {}) or \
            int(config.get("num_labels") or 0)
        intermediate = pick("intermediate_size", "hidden_dim", "d_ff", "n_inner", default=4 * hidden)
        heads = pick("num_attention_heads", "n_heads", "num_heads", "n_head")
        return cls(hidden=hidden, layers=pick("num_hidden_layers", "n_layers", "num_layers", "n_layer"),
                   intermediate=intermediate, heads=heads, num_labels=labels)

    @classmethod
    def from_model_dir(cls, path: Path, num_labels: int | None = None) -> ModelDims:
        file = Path(path) / "config.json"
        try:
            config = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise GateError(f"cannot read the model config {file}: {exc}") from None
        return cls.from_config(config, num_labels)


def sequence_flops(dims: ModelDims, seq_len: int) -> int:
    """Matmul FLOPs (multiply + add = 2) of one forward pass over one sequence of ``seq_len`` tokens.

    With s = seq_len, h = hidden, i = intermediate, L = layers, a = heads, d = h / a, n = labels:

        per layer, per token:  2*3h*h (Q, K, V) + 2*h*h (attention output) + 2*2*h*i (FFN)
                             = 8h^2 + 4hi                 (the "2 x parameters" term)
        per layer, attention:  2*s*s*d*a (Q K^T) + 2*s*s*d*a (softmax(.) V) = 4 s^2 h
        classifier head:       2*h*h (pooler / dense on the first token) + 2*h*n (out proj)

        total = L * (s * (8h^2 + 4hi) + 4 s^2 d a) + (2h^2 + 2hn if n > 0 else 0)

    Embedding lookups, layer norms, softmax, GELU and biases are O(s*h) and left out; the
    heads cancel out of the attention term whenever h is divisible by a.
    """
    s, h = int(seq_len), dims.hidden
    if s <= 0:
        return 0
    head_dim = h // dims.heads if dims.heads else h
    per_layer = s * (8 * h * h + 4 * h * dims.intermediate) + 4 * s * s * head_dim * max(dims.heads, 1)
    head = 2 * h * h + 2 * h * dims.num_labels if dims.num_labels > 0 else 0
    return dims.layers * per_layer + head


def batch_flops(dims: ModelDims, lengths: Iterable[int]) -> int:
    """FLOPs of a batch whose rows have these lengths (pass real lengths for useful work,
    or the padded length repeated for what a padded batch actually executes)."""
    return sum(sequence_flops(dims, int(s)) for s in lengths)


def plan_flops(dims: ModelDims, plan: BatchPlan) -> tuple[int, int]:
    """(useful FLOPs over real tokens, executed FLOPs over padded tokens) of a whole plan."""
    useful = executed = 0
    for batch, lengths in zip(plan.batches, plan.lengths, strict=True):
        rows, padded_len = batch["input_ids"].shape
        useful += batch_flops(dims, lengths)
        executed += rows * sequence_flops(dims, padded_len)
    return useful, executed
