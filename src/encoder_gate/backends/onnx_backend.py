"""ONNX Runtime backends: one class, a precision field, and a prebuilt-file variant.

* `onnx-fp32`: exported with optimum's `main_export`;
* `onnx-fp16`: the FP32 export run through ONNX Runtime's transformer optimizer and
  converted to FP16 with FP32 inputs and outputs kept (`keep_io_types=True`);
* `onnx-int8`: dynamic INT8 quantization of the FP32 export (per-channel and
  reduce_range configurable);
* `onnx:PATH`: a prebuilt file, such as a published `model_quantized.onnx`.

Artifacts are cached on disk by model content hash, recipe and toolchain versions.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from encoder_gate.backends.base import Batch, BuildContext, dir_size, dummy_batch, postprocess
from encoder_gate.cache import toolchain_versions
from encoder_gate.errors import DeviceUnavailable, GateError, MissingDependency

Precision = Literal["fp32", "fp16", "int8"]
ONNX_RECIPE = 1  # bump when an export recipe below changes its output
SIDE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "vocab.txt", "vocab.json", "merges.txt", "spiece.model")
TOKENIZER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# onnxruntime.transformers optimizer model types by Hugging Face model_type.
OPTIMIZER_TYPES = {"bert": "bert", "roberta": "bert", "distilbert": "bert", "albert": "bert",
                   "xlm-roberta": "bert", "electra": "bert", "camembert": "bert"}


def providers_for(device: str) -> list[str]:
    """Execution providers for `device`, or a GateError saying what to install."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency(
            "onnxruntime is not installed: pip install 'encoder-gate[cpu]' (CPU) or "
            "'encoder-gate[gpu]' (onnxruntime-gpu), never both"
        ) from None
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise DeviceUnavailable(
            "device 'cuda' was asked for but this onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(ort.get_available_providers())}). Install the GPU extra "
            "(pip install 'encoder-gate[gpu]', which uses onnxruntime-gpu; uninstall onnxruntime "
            "first, the two must not be installed together) on a machine with an NVIDIA GPU, "
            "or use --gate-device cpu."
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def open_session(path: Path, device: str, threads: int) -> Any:
    """An InferenceSession on `path`, with a clear error for a missing or corrupt file."""
    import onnxruntime as ort

    if not path.is_file():
        raise GateError(f"ONNX file {path} does not exist. Check the path after 'onnx:'.")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=providers_for(device))
    except GateError:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise GateError(
            f"ONNX Runtime could not load {path}: the file is corrupt, truncated or not an "
            f"ONNX model ({first}). Re-export it, e.g. `encoder-gate export MODEL --out DIR`, "
            "or delete the cache entry to rebuild it."
        ) from None
    if device == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
        raise GateError(f"ONNX Runtime fell back to {session.get_providers()[0]} for {path}; "
                        "check the CUDA and cuDNN libraries onnxruntime-gpu needs.")
    return session


class OnnxRunner:
    """Runs an InferenceSession; on CUDA binds inputs and outputs on the device."""

    def __init__(self, session: Any, ctx: BuildContext, name: str, precision: str,
                 artifact: Path, from_cache: bool, size_bytes: int) -> None:
        self.name = name
        self.precision = precision
        self.artifact = artifact
        self.from_cache = from_cache
        self.size_bytes = size_bytes
        self._session = session
        self._task = ctx.model.task
        self._device = ctx.device
        self.input_names = tuple(i.name for i in session.get_inputs())
        self._output = session.get_outputs()[0].name
        unknown = [n for n in self.input_names if n not in TOKENIZER_INPUTS]
        if unknown:
            raise GateError(
                f"{artifact} expects inputs {list(self.input_names)}, but a tokenizer gives only "
                f"{list(TOKENIZER_INPUTS)} (unknown: {unknown}). Export the model for "
                "text classification (encoder-gate export) or pass the matching --gate-model."
            )

    def predict(self, batch: Batch) -> np.ndarray:
        feeds = {n: np.ascontiguousarray(batch[n], dtype=np.int64) if n in batch
                 else np.zeros_like(batch["input_ids"], dtype=np.int64) for n in self.input_names}
        raw = self._run_cuda(feeds) if self._device == "cuda" else \
            self._session.run([self._output], feeds)[0]
        return postprocess(raw, self._task, batch.get("attention_mask"))

    def _run_cuda(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """IO binding: copy inputs to the GPU once, keep the output there, sync, copy back."""
        import onnxruntime as ort

        binding = self._session.io_binding()
        for name, array in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0))
        binding.bind_output(self._output, "cuda", 0)
        binding.synchronize_inputs()
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        out: np.ndarray = binding.copy_outputs_to_cpu()[0]
        return out

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        for bs, seq in shapes:
            self.predict(dummy_batch(bs, seq, self.input_names))

    def close(self) -> None:
        self._session = None


def copy_side_files(src: Path, dst: Path, overwrite: bool = True) -> list[str]:
    """config.json and the tokenizer files of `src` into `dst` (so optimum can load `dst`);
    the names copied. `overwrite=False` keeps files `dst` already has."""
    copied = []
    for name in SIDE_FILES:
        if (src / name).is_file() and (overwrite or not (dst / name).is_file()):
            shutil.copy2(src / name, dst / name)
            copied.append(name)
    return copied


def export_fp32(ctx: BuildContext, out: Path) -> None:
    """optimum's exporter, the same call as `optimum-cli export onnx`."""
    from optimum.exporters.onnx import main_export

    task = "feature-extraction" if ctx.model.task == "feature_extraction" else "text-classification"
    ctx.progress(f"onnx-fp32: exporting {ctx.model.name} with optimum (task {task}, opset {ctx.opset})")
    try:
        with warnings.catch_warnings():  # tracer chatter about constants; not the user's concern
            warnings.simplefilter("ignore")
            main_export(str(ctx.model.path), output=str(out), task=task, opset=ctx.opset,
                        device="cpu", do_validation=False, local_files_only=True)
    except Exception as exc:
        raise GateError(f"optimum could not export {ctx.model.path} to ONNX: {exc}") from None
    copy_side_files(ctx.model.path, out)


def convert_fp16(ctx: BuildContext, fp32: Path, out: Path) -> None:
    """ORT transformer optimizer (fusions) then FP16 weights, FP32 inputs/outputs kept."""
    import json

    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((ctx.model.path / "config.json").read_text())
    model_type = OPTIMIZER_TYPES.get(ctx.model.model_type, "bert")
    heads = int(config.get("num_attention_heads", config.get("n_heads", 0)))
    hidden = int(config.get("hidden_size", config.get("dim", 0)))
    ctx.progress(f"onnx-fp16: optimizing ({model_type}, {heads} heads, hidden {hidden}) "
                 "and converting to FP16")
    optimized = optimize_model(str(fp32 / "model.onnx"), model_type=model_type, num_heads=heads,
                               hidden_size=hidden, opt_level=1 if ctx.device == "cuda" else 0,
                               use_gpu=ctx.device == "cuda")
    optimized.convert_float_to_float16(keep_io_types=True)
    optimized.save_model_to_file(str(out / "model.onnx"))
    copy_side_files(fp32, out)


def quantize_int8(ctx: BuildContext, fp32: Path, out: Path) -> None:
    """Dynamic INT8 quantization of MatMul/Gemm weights, as optimum's ORTQuantizer does."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ctx.progress(f"onnx-int8: dynamic quantization (per_channel={ctx.int8_per_channel}, "
                 f"reduce_range={ctx.int8_reduce_range})")
    quantize_dynamic(str(fp32 / "model.onnx"), str(out / "model.onnx"),
                     per_channel=ctx.int8_per_channel, reduce_range=ctx.int8_reduce_range,
                     weight_type=QuantType.QInt8)
    copy_side_files(fp32, out)


@dataclass(frozen=True)
class OnnxBackend:
    """`onnx-fp32`, `onnx-fp16`, `onnx-int8`: built from the model, cached on disk."""

    precision: Precision

    @property
    def name(self) -> str:
        return f"onnx-{self.precision}"

    def _key(self, ctx: BuildContext, precision: Precision) -> dict[str, object]:
        key: dict[str, object] = {"model": ctx.model.content_hash, "recipe": ONNX_RECIPE,
                                  "opset": ctx.opset, "tools": toolchain_versions()}
        if precision == "fp16":
            key["fusion_device"] = ctx.device
        if precision == "int8":
            key["per_channel"] = ctx.int8_per_channel
            key["reduce_range"] = ctx.int8_reduce_range
        return key

    def artifact(self, ctx: BuildContext) -> tuple[Path, bool]:
        """Directory holding model.onnx for this precision, built if not cached."""
        fp32 = ctx.cache.get_or_build("onnx-fp32", self._key(ctx, "fp32"),
                                      lambda out: export_fp32(ctx, out))
        if self.precision == "fp32":
            return fp32.path, fp32.hit
        step = convert_fp16 if self.precision == "fp16" else quantize_int8
        entry = ctx.cache.get_or_build(self.name, self._key(ctx, self.precision),
                                       lambda out: step(ctx, fp32.path, out))
        return entry.path, entry.hit

    def build(self, ctx: BuildContext) -> OnnxRunner:
        providers_for(ctx.device)  # fail fast, before any export
        path, hit = self.artifact(ctx)
        ctx.progress(f"{self.name}: {'from cache' if hit else 'built'} at {path}")
        session = open_session(path / "model.onnx", ctx.device, ctx.threads)
        size = dir_size(path, (".onnx", ".onnx_data"))
        return OnnxRunner(session, ctx, self.name, self.precision, path / "model.onnx", hit, size)


@dataclass(frozen=True)
class PrebuiltOnnxBackend:
    """`onnx:PATH`: a prebuilt ONNX file, run with the model's tokenizer."""

    path: Path

    @property
    def name(self) -> str:
        return f"onnx:{self.path}"

    def build(self, ctx: BuildContext) -> OnnxRunner:
        session = open_session(self.path, ctx.device, ctx.threads)
        precision = "int8" if _is_quantized(session) else "onnx"
        return OnnxRunner(session, ctx, self.name, precision, self.path, from_cache=True,
                          size_bytes=self.path.stat().st_size)


def _is_quantized(session: Any) -> bool:
    meta = session.get_modelmeta()
    return "quant" in (meta.producer_name or "").lower()
