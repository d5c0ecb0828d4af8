"""ONNX Runtime backends: one class, a precision field, and a prebuilt-file variant.

* `onnx-fp32`, `onnx-fp16`, `onnx-int8`: made from the model by
  :mod:`encoder_gate.backends.onnx_build` (export, FP16 conversion, INT8 quantization);
* `onnx:PATH`: a prebuilt file, such as a published `model_quantized.onnx`, made by any
  tool (see PrebuiltOnnxBackend, and onnx_runner.OnnxRunner for what is handled when it runs,
  onnx_graph for how a file's precision, outputs and external data are read).

Artifacts are cached on disk by model content hash, recipe and toolchain versions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from encoder_gate.backends.base import BuildContext, Device, NumberFormat, Work, dir_size
from encoder_gate.backends.fusions import fusion_note
from encoder_gate.backends.onnx_build import (
    ONNX_RECIPE,
    convert_fp16,
    export_fp32,
    fp32_exporter,
)
from encoder_gate.backends.onnx_graph import (
    ACTIVATIONS,
    GraphInfo,
    Precision,
    choose_output,
    format_bytes,
    infer_precision,
    inspect_onnx,
)
from encoder_gate.backends.onnx_quantize import quantize_int8
from encoder_gate.backends.onnx_runner import ONNX_PACKAGES, OnnxRunner, onnx_identity
from encoder_gate.backends.onnx_session import (
    installed_providers,
    providers_for,
    session_or_signature,
)
from encoder_gate.backends.prebuilt import resolve_onnx_path
from encoder_gate.backends.weights_match import checkpoint_vectors, of_other_weights
from encoder_gate.cache import toolchain_versions
from encoder_gate.errors import GateError
from encoder_gate.models.spec import model_config_value


@functools.lru_cache(maxsize=32)
def _precision_cached(path: str, size: int, mtime: float) -> Precision:
    return infer_precision(inspect_onnx(Path(path)))[0]


#: What each ONNX precision costs a session (:class:`~encoder_gate.backends.base.Work`): its pass's
#: speed against the matmul probe (22.7M / 125M weights: fp32 1.58x / 1.88x, fp16 1.44x / 1.82x,
#: int8 2.04x / 2.73x on a Zen 5 with VNNI) and its build (fp32: the export, 4.3 s / 8.2 s; fp16:
#: the conversion, 2.2 s / 6.6 s; int8: the quantization, 2.0 s / 7.0 s). Without AVX-512 (an
#: AVX2-only AMD EPYC, 2 threads), each pass against torch eager's in the same cold session, 22.7M /
#: 125M weights: fp32 1.11x / 1.26x, fp16 1.06x / 1.21x, int8 1.35x / 1.78x (on the Zen 5: 1.8x /
#: 2.0x, 1.6x / 2.0x, 2.2x / 3.0x); the mean, at torch eager's speed against the probe
#: (docs/development.md, "A cold session's forecast").
ONNX_WORK: dict[Precision, Work] = {
    "fp32": Work(speed=1.7, speed_avx2=1.09, build_seconds=3.4, build_per_mweight=0.038, build="export"),
    "fp16": Work(speed=1.6, speed_avx2=1.04, build_seconds=1.2, build_per_mweight=0.043,
                 build="conversion"),
    "int8": Work(speed=2.3, speed_avx2=1.44, build_seconds=0.9, build_per_mweight=0.049,
                 build="quantization"),
}


@dataclass(frozen=True)
class OnnxBackend:
    """`onnx-fp32`, `onnx-fp16`, `onnx-int8`: built from the model, cached on disk."""

    precision: Precision
    packages: tuple[str, ...] = ONNX_PACKAGES

    @property
    def name(self) -> str:
        return f"onnx-{self.precision}"

    @property
    def number_format(self) -> NumberFormat:
        return self.precision

    @property
    def work(self) -> Work:
        return ONNX_WORK[self.precision]

    def providers(self, device: Device) -> tuple[str, ...]:
        return installed_providers(device)

    def _key(self, ctx: BuildContext, precision: Precision) -> dict[str, object]:
        key: dict[str, object] = {"model": ctx.model.content_hash, **ctx.model.float32_key,
                                  "recipe": ONNX_RECIPE, "opset": ctx.opset, "exporter": fp32_exporter(),
                                  "tools": toolchain_versions(self.packages)}
        if precision == "fp16":
            key["fusion_device"] = ctx.device
        if precision == "int8":
            key["per_channel"] = ctx.int8_per_channel
            key["reduce_range"] = ctx.int8_reduce_range
            key["weights"] = ctx.int8_weights
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

    def artifact_identity(self, ctx: BuildContext) -> dict[str, object]:
        """What its runner's prediction_identity() will be, without opening a session (built first
        when the cache does not hold it)."""
        return onnx_identity(self.artifact(ctx)[0] / "model.onnx", self.precision)

    def build(self, ctx: BuildContext) -> OnnxRunner:
        # fail fast, before any export; not for dynamic INT8, a CPU format, which open_session says on
        # cuda before it asks for CUDA (judged on the CPU then: runtime.devices)
        if self.precision != "int8":
            providers_for(ctx.device)
        path, hit = self.artifact(ctx)
        ctx.progress(f"{self.name}: {'from cache' if hit else 'built'} at {path}")
        file = path / "model.onnx"
        session, ports = session_or_signature(file, ctx.device, ctx.threads, ctx.cache,
                                              onnx_identity(file, self.precision))
        size = dir_size(path, (".onnx", ".onnx_data"))
        notes = [note] if (note := fusion_note(path)) else []  # (an FP16 build's record says it)
        return OnnxRunner(session, ctx, self.name, self.precision, file, hit, size, notes=notes,
                          signature=ports)


@dataclass(frozen=True)
class PrebuiltOnnxBackend:
    """`onnx:PATH[@fp32|@fp16|@int8]`: a prebuilt ONNX file, run with the model's tokenizer.

    PATH is absolute, or relative to the working directory or to the model directory (the
    layout of published models: `onnx/model_quantized.onnx` inside the model's folder). The
    file is judged by the bounds of its precision: given after `@`, else inferred from its graph.
    `spec` is the text after `onnx:` as the user wrote it, so the runner keeps the same name."""

    path: Path
    precision: Precision | None = None
    spec: str = ""
    packages: tuple[str, ...] = ONNX_PACKAGES

    @property
    def number_format(self) -> NumberFormat:
        """The precision given after `@`; else the loosest (int8) until the graph is read."""
        return self.precision or "int8"

    @property
    def work(self) -> Work:
        """Its pass at its precision's speed (FP32's, the slowest, until the graph is read); a
        prebuilt file has nothing to build."""
        return ONNX_WORK[self.precision or "fp32"].pass_only()

    def providers(self, device: Device) -> tuple[str, ...]:
        return installed_providers(device)

    @property
    def name(self) -> str:
        if self.spec:
            return f"onnx:{self.spec}"
        return f"onnx:{self.path}" + (f"@{self.precision}" if self.precision else "")

    def located(self, model_dir: Path) -> Path:
        """The file its path finds (as given, from the working directory, beside `model_dir`)."""
        return resolve_onnx_path(self.path, model_dir)[0]

    def precision_of(self, path: Path) -> Precision:
        """Its precision: given after `@`, else read from the graph of `path`, the file it finds, as
        build() reads it (once per file version per process)."""
        if self.precision is not None:
            return self.precision
        stat = path.stat()
        return _precision_cached(str(path), stat.st_size, stat.st_mtime)

    def artifact_identity(self, ctx: BuildContext) -> dict[str, object]:
        """What its runner's prediction_identity() will be, without opening a session."""
        path = self.located(ctx.model.path)
        return onnx_identity(path, self.precision_of(path))  # as build()

    def build(self, ctx: BuildContext) -> OnnxRunner:
        # no early providers_for: open_session asks, after it says whether the file is a CPU format
        # (judged on the CPU in a cuda session, whatever onnxruntime is installed)
        path, notes = resolve_onnx_path(self.path, ctx.model.path)
        info = inspect_onnx(path)
        missing = info.missing_external_files()
        if missing:
            raise GateError(
                f"{path} keeps its weights in external data files, and "
                f"{', '.join(str(m) for m in missing)} {'is' if len(missing) == 1 else 'are'} missing "
                f"(the graph references {', '.join(info.external_locations)} beside the .onnx file). Copy "
                "the weights file(s) next to the .onnx file under exactly those names."
            )
        vocab = model_config_value(ctx.model.path, "vocab_size")
        if info.vocab_rows is not None and vocab is not None and info.vocab_rows < vocab:
            raise GateError(
                f"{path} looks token ids up in a table of {info.vocab_rows} rows, but the model directory's "
                f"vocabulary has {vocab} (config.json vocab_size): the file was exported from another model, "
                "and the tokenizer's ids would fall outside its table. Pass the model directory this file "
                "was exported from (--gate-model DIR), or export the file from this model "
                "(encoder-gate export)."
            )
        refuse_probabilities(info, ctx, path)
        if (count := of_other_weights(info.vectors, checkpoint_vectors(ctx.model.path))) is not None:
            raise GateError(
                f"{path} holds none of {ctx.model.path}'s weights: not one of its {count} weight vectors "
                "(LayerNorm scales and shifts, biases, kept as floats by every export and quantization) "
                "is among the model directory's. It was exported from other weights (an earlier "
                "checkpoint, another model), and its drift against this model's reference would be the "
                "two models' difference, which INT8's bounds can pass. Export it from this directory's "
                "weights (encoder-gate export), or pass the model directory it was made from "
                "(--gate-model)")
        inferred, evidence = infer_precision(info)
        if self.precision is None:
            precision: Precision = inferred
            notes.append(f"precision {inferred} inferred from the graph ({evidence})")
        else:
            precision = self.precision
            notes.append(f"precision {precision} given in the backend name" + (
                " (the graph agrees)" if precision == inferred else
                f" (the graph looks {inferred}: {evidence})"))
        size = info.size_bytes()
        if info.external_locations:
            data, files = size - path.stat().st_size, info.external_locations
            more = f" and {len(files) - 3} more" if len(files) > 3 else ""
            notes.append(f"weights stored as external data in {', '.join(files[:3])}{more} "
                         f"({format_bytes(data)}, counted in the size)")
        ctx.progress(f"{self.name}: {path} ({format_bytes(size)}, {precision})")
        session, ports = session_or_signature(path, ctx.device, ctx.threads, ctx.cache,
                                              onnx_identity(path, precision))
        # the user's file, loaded as it is: neither built nor cached
        return OnnxRunner(session, ctx, self.name, precision, path, from_cache=None, size_bytes=size,
                          notes=notes, signature=ports)


def refuse_probabilities(info: GraphInfo, ctx: BuildContext, path: Path) -> None:
    """A GateError where the classifier's output the gate would read is computed by a softmax or a
    sigmoid: the gate applies the task's own activation to logits, so it would apply one twice. A
    double softmax keeps every decision (F1, flips) and holds each of two labels' probabilities within
    0.27 of one half, below INT8's drift bounds: a quantized file of that kind passed."""
    task = ctx.model.task
    if not task.classifier or not info.outputs:  # (a graph of no output: ONNX Runtime says so)
        return
    names = [o.name for o in info.outputs]
    index, _ = choose_output(names, task, [o.shape for o in info.outputs], len(ctx.model.label_names))
    op = info.output_op(names[index])
    if op in ACTIVATIONS:
        what = "log-probabilities" if op == "LogSoftmax" else "probabilities"
        raise GateError(
            f"{path}: its output '{names[index]}' is computed by a {op} node, so the file outputs {what}, "
            f"and the gate applies the model's {task.record.output} to a classifier's logits itself: it "
            f"would apply {task.record.output} after the file's {ACTIVATIONS[op]}, which can keep every "
            "decision and hide most drift. Export the logits, the output before the activation (the "
            "model as transformers gives it; `encoder-gate export` does so).")

