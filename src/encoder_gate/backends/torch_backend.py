"""PyTorch backends: eager FP32 (the reference) and torch.compile."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.backends.base import Batch, BuildContext, dummy_batch, postprocess
from encoder_gate.errors import DeviceUnavailable, GateError


def require_device(device: str) -> None:
    """Raise a GateError naming the fix when `device` is not usable by torch."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            "device 'cuda' was asked for but torch sees no CUDA GPU. Run on a machine with "
            "an NVIDIA GPU and a CUDA build of torch, or use --gate-device cpu."
        )


def load_torch_model(ctx: BuildContext) -> Any:
    """The model directory loaded with from_pretrained, in eval mode on ctx.device."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    cls = AutoModel if ctx.model.task == "feature_extraction" else AutoModelForSequenceClassification
    try:
        model = cls.from_pretrained(ctx.model.path)
    except (OSError, ValueError) as exc:
        raise GateError(f"could not load the torch model from {ctx.model.path}: {exc}") from None
    return model.eval().to(ctx.device)


def tokenizer_input_names(path: Path) -> tuple[str, ...] | None:
    """The inputs the model directory's tokenizer returns (None if it cannot be loaded)."""
    from transformers import AutoTokenizer

    try:
        return tuple(AutoTokenizer.from_pretrained(path).model_input_names)
    except (OSError, ValueError):
        return None


class TorchRunner:
    """Runs a transformers model under torch.inference_mode."""

    def __init__(self, model: Any, ctx: BuildContext, name: str, from_cache: bool) -> None:
        import torch

        self.name = name
        self.precision = "fp32"
        self.notes: tuple[str, ...] = ()
        self.from_cache = from_cache
        self.size_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        self._torch = torch
        self._model = model
        self._task = ctx.model.task
        self._device = ctx.device
        forward = getattr(model, "_orig_mod", model).forward
        self.input_names = tuple(
            n for n in ("input_ids", "attention_mask", "token_type_ids")
            if n in inspect.signature(forward).parameters
        )
        # what the tokenizer actually feeds: RoBERTa's forward takes token_type_ids but its
        # tokenizer gives none, and a warm-up batch with them would leave torch.compile one
        # more graph to compile at the first real batch
        fed = tokenizer_input_names(ctx.model.path)
        self.warmup_names = tuple(n for n in self.input_names if fed is None or n in fed)

    def predict(self, batch: Batch) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(np.ascontiguousarray(batch[k])).to(self._device)
                      for k in self.input_names if k in batch}
            out = self._model(**inputs)
            raw = out.logits if self._task != "feature_extraction" else out.last_hidden_state
            if self._device == "cuda":
                torch.cuda.synchronize()
            host = raw.float().cpu().numpy()
        return postprocess(host, self._task, batch.get("attention_mask"))

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        for bs, seq in shapes:
            self.predict(dummy_batch(bs, seq, self.warmup_names))

    def close(self) -> None:
        self._model = None


@dataclass(frozen=True)
class TorchBackend:
    """`torch`: eager FP32, the reference every other backend is compared with."""

    name: str = "torch"

    def build(self, ctx: BuildContext) -> TorchRunner:
        import torch

        require_device(ctx.device)
        if ctx.threads:
            torch.set_num_threads(ctx.threads)
        # nothing to build: the model directory is loaded as it is
        return TorchRunner(load_torch_model(ctx), ctx, self.name, from_cache=True)


@dataclass(frozen=True)
class TorchCompileBackend:
    """`torch-compile`: torch.compile with dynamic shapes (inductor on CPU and CUDA).

    Compilation happens lazily on the first call; `warmup` runs every shape that will
    be timed so no recompilation lands inside a measurement.
    """

    name: str = "torch-compile"
    mode: str | None = None

    def build(self, ctx: BuildContext) -> TorchRunner:
        import torch

        require_device(ctx.device)
        if ctx.threads:
            torch.set_num_threads(ctx.threads)
        ctx.progress(f"{self.name}: compiling with inductor (first calls are slow)")
        compiled = torch.compile(load_torch_model(ctx), dynamic=True, mode=self.mode)
        runner = TorchRunner(compiled, ctx, self.name, from_cache=False)
        runner.warmup([(2, 16)])  # compile now, so failures show at build time
        return runner
