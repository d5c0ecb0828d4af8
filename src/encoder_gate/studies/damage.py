"""Deliberately broken backends, to prove that the gate has teeth.

Each is a real, plausible conversion bug, not a random-number generator:

* `mask_ignored`: a static-shape export that pads to 128 tokens and drops the attention
  mask (every pad token is attended to);
* `labels_permuted`: an id2label mapping off by one (outputs rotated by one label);
* `truncated_16`: inputs cut to 16 tokens (a max_length set far too low);
* `perturbed_layer`: one encoder layer's weights damaged by noise (a bad weight copy);
* `int4_weights`: an ONNX model whose MatMul weights were squeezed to 4 bits per tensor,
  a much worse quantization than the default dynamic INT8.

    runner = damaged_runner("labels_permuted", ctx)
    probs = predict_texts(runner, tokenizer, texts)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.backends.base import Batch, BuildContext, Runner
from encoder_gate.backends.onnx_backend import OnnxBackend, PrebuiltOnnxBackend
from encoder_gate.backends.torch_backend import TorchBackend
from encoder_gate.models.loading import load_pretrained, quiet_transformers
from encoder_gate.models.spec import spec_from_dir

DAMAGES = ("mask_ignored", "labels_permuted", "truncated_16", "perturbed_layer", "int4_weights")


@dataclass
class DamagedRunner:
    """Wraps a healthy runner and corrupts its inputs or outputs."""

    inner: Runner
    damage: str
    name: str = ""
    precision: str = "fp32"
    size_bytes: int = 0
    from_cache: bool = True

    def __post_init__(self) -> None:
        self.name = self.name or f"broken-{self.damage}"
        self.size_bytes = self.inner.size_bytes

    def predict(self, batch: Batch) -> np.ndarray:
        feeds = dict(batch)
        if self.damage == "mask_ignored":
            ids, mask = feeds["input_ids"], feeds["attention_mask"]
            pad = int(ids[mask == 0][0]) if (mask == 0).any() else 1
            width = max(128, ids.shape[1])
            padded = np.full((ids.shape[0], width), pad, dtype=ids.dtype)
            padded[:, : ids.shape[1]] = np.where(mask == 1, ids, pad)
            feeds = {k: (padded if k == "input_ids" else np.ones_like(padded)) for k in feeds}
        if self.damage == "truncated_16":
            feeds = {k: v[:, :16] for k, v in feeds.items()}
        out = self.inner.predict(feeds)
        if self.damage == "labels_permuted":
            out = np.roll(out, 1, axis=1)
        return out

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        self.inner.warmup(shapes)

    def close(self) -> None:
        self.inner.close()


def perturbed_model_dir(ctx: BuildContext, out: Path, layer: int = 0, scale: float = 0.5) -> Path:
    """A copy of the model with gaussian noise (scale x weight std) on one encoder layer."""
    import torch
    from transformers import AutoTokenizer

    model = load_pretrained(ctx.model.path, classifier=True)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.base_model.encoder.layer[layer].parameters():
            if p.dim() == 2:
                p.add_(torch.randn(p.shape, generator=gen) * p.std() * scale)
    with quiet_transformers():  # transformers 5's "Writing model shards" bar
        model.save_pretrained(out)
    AutoTokenizer.from_pretrained(ctx.model.path).save_pretrained(out)
    return out


def int4_onnx(fp32_onnx: Path, out: Path) -> Path:
    """Fake-quantize every 2-D MatMul weight to 4 bits (16 levels, per tensor)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32_onnx), format="protobuf")
    matmul_inputs = {i for node in model.graph.node if node.op_type in ("MatMul", "Gemm")
                     for i in node.input}
    for init in model.graph.initializer:
        if init.name in matmul_inputs and len(init.dims) == 2:
            w = numpy_helper.to_array(init)
            step = np.abs(w).max() / 7 or 1.0
            init.CopyFrom(numpy_helper.from_array((np.round(w / step).clip(-8, 7) * step)
                                                  .astype(np.float32), init.name))
    onnx.save(model, str(out))
    return out


def damaged_runner(damage: str, ctx: BuildContext, workdir: Path) -> Runner:
    """Build the damaged backend `damage` for the model in `ctx`."""
    if damage == "perturbed_layer":
        path = perturbed_model_dir(ctx, workdir / "perturbed")
        spec: Any = replace(spec_from_dir("perturbed", path, "local"), task=ctx.model.task)
        return DamagedRunner(TorchBackend().build(replace(ctx, model=spec)), damage)
    if damage == "int4_weights":
        fp32, _ = OnnxBackend("fp32").artifact(ctx)
        path = int4_onnx(fp32 / "model.onnx", workdir / "model_int4.onnx")
        return DamagedRunner(PrebuiltOnnxBackend(path).build(ctx), damage, precision="int4")
    if damage not in DAMAGES:
        raise ValueError(f"unknown damage {damage!r}; known: {', '.join(DAMAGES)}")
    return DamagedRunner(TorchBackend().build(ctx), damage)
