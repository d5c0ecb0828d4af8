"""The export search's recipes: one record each, and every one a backend the gate can run.

    RecipeBackend("onnx-int8-static").build(ctx)   # as `--gate-backends onnx-int8-static` does
    encoder-gate export default --out DIR --search  # builds and judges them all

A recipe is an FP32 graph to start from (the gate's own export, the dynamo exporter's, or the
export optimized at optimum's O1-O3) and a step on it (none, dynamic INT8 with its options,
static QDQ INT8 calibrated on a validation split, FP16). `RECIPES` holds them, generated from
the grid the search covers; `SEARCH_BACKENDS` is what the search judges: the gate's own
`onnx-fp32`, `onnx-fp16` and `onnx-int8` (the current defaults, not repeated here) and every
recipe. A recipe is judged by the bounds of its number format (accuracy/tolerances.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Literal

from encoder_gate.backends.base import BuildContext, Device, Int8Weights, NumberFormat, dir_size
from encoder_gate.backends.onnx_backend import OnnxBackend
from encoder_gate.backends.onnx_build import (
    EXPORT_RECIPE,
    convert_fp16,
    export_fp32_dynamo,
    fp32_optimizer,
    optimize_fp32,
)
from encoder_gate.backends.onnx_quantize import quantize_int8, quantize_static_int8
from encoder_gate.backends.onnx_runner import ONNX_PACKAGES, OnnxRunner
from encoder_gate.backends.onnx_session import installed_providers, open_session, providers_for
from encoder_gate.cache import toolchain_versions
from encoder_gate.data.pairs import Text, digest_bytes
from encoder_gate.errors import GateError
from encoder_gate.records import Registry

Base = Literal["export", "dynamo", "O1", "O2", "O3"]
Step = Literal["none", "dynamic", "static", "fp16"]
#: The fusion level INT8 "after fusion" quantizes: O2, ONNX Runtime's transformer fusions
#: (Attention, SkipLayerNormalization, BiasGelu) without O3's GELU approximation.
FUSED_LEVEL: Base = "O2"
RECIPES_VERSION = 2  # bump when a recipe's output changes


@dataclass(frozen=True)
class Recipe:
    """How one candidate artifact is made."""

    name: str
    number_format: Literal["fp32", "fp16", "int8"]
    base: Base = "export"
    step: Step = "none"
    per_channel: bool = True
    weight_type: Int8Weights = "QInt8"
    reduce_range: bool = False
    calibration: Literal["MinMax", "Percentile", "Entropy"] | None = None

    @property
    def same_on_every_cpu(self) -> bool:
        """Whether no weight pair of its products can saturate, by construction: a dynamic INT8
        recipe with uint8 or 7-bit weights, or no INT8 at all (docs/checks.md, "INT8 on other CPUs")."""
        return self.number_format != "int8" or (self.step == "dynamic" and (
            self.weight_type == "QUInt8" or self.reduce_range))

    def describe(self) -> str:
        """One line for the model card: how the file was made."""
        base = {"export": "the gate's FP32 export",
                "dynamo": "torch.onnx.export(dynamo=True), SDPA attention",
                "O1": "FP32 optimized at O1", "O2": "FP32 optimized at O2 (transformer fusions)",
                "O3": "FP32 optimized at O3 (fusions + GELU approximation)"}[self.base]
        if self.step == "dynamic":
            return (f"dynamic INT8 of {base}: weights {self.weight_type}, "
                    f"{'per channel' if self.per_channel else 'per tensor'}"
                    + (", reduce_range" if self.reduce_range else ""))
        if self.step == "static":
            # (where the texts came from, the validation split or a calibration file, is the search's
            # `calibration`: said beside, not here, where a calibration file would be misnamed)
            return (f"static QDQ INT8 (S8S8, per channel, MatMul) of {base}, {self.calibration} calibration "
                    "on the search's calibration texts")
        if self.step == "fp16":
            return f"FP16 weights of {base}, FP32 inputs/outputs"
        return base


def _dynamic_grid() -> dict[str, Recipe]:
    """Dynamic INT8 over per-channel/per-tensor, QInt8/QUInt8, reduce_range, plain/fused. `-u8` names
    QUInt8 weights; the plain per-channel QUInt8 one without reduce_range is `onnx-int8` itself (its
    default settings), so it is not repeated, and the plain per-channel QInt8 one, `onnx-int8` until
    QUInt8 became the default, is `onnx-int8-s8`."""
    out = {}
    for per_channel, weight, reduce_range, fused in product((True, False), ("QInt8", "QUInt8"),
                                                          (False, True), (False, True)):
        parts = ["onnx-int8", *(["pt"] if not per_channel else []), *(["u8"] if weight == "QUInt8" else []),
                 *(["rr"] if reduce_range else []), *(["fused"] if fused else [])]
        if parts == ["onnx-int8", "u8"]:
            continue  # = onnx-int8
        name = "-".join(parts) if len(parts) > 1 else "onnx-int8-s8"
        out[name] = Recipe(name, "int8", FUSED_LEVEL if fused else "export", "dynamic",
                           per_channel=per_channel, weight_type=weight,  # type: ignore[arg-type]
                           reduce_range=reduce_range)
    return out


#: Every recipe, by backend name.
RECIPES: Registry[Recipe] = Registry.of("recipe", (
    *(Recipe(f"onnx-fp32-{level.lower()}", "fp32", level) for level in ("O1", "O2", "O3")),
    Recipe("onnx-fp32-dynamo", "fp32", "dynamo"),
    *_dynamic_grid().values(),
    Recipe("onnx-int8-static", "int8", "export", "static", calibration="MinMax"),
    Recipe("onnx-int8-static-percentile", "int8", "export", "static", calibration="Percentile"),
))


def recipe_of(name: str, per_channel: bool, weights: Int8Weights, reduce_range: bool) -> Recipe | None:
    """The recipe backend `name` is built by: a search recipe's own, or the built `onnx-int8`'s as
    the INT8 settings (`int8-per-channel`, `int8-weights`, `int8-reduce-range`) make it; None for
    what no recipe builds (a prebuilt `onnx:` file, read only when built)."""
    if name == "onnx-int8":
        return Recipe(name, "int8", "export", "dynamic", per_channel=per_channel, weight_type=weights,
                      reduce_range=reduce_range)
    return RECIPES.get(name)


#: The gate's own ONNX backends the search judges beside the recipes (the current defaults).
DEFAULT_CANDIDATES: tuple[str, ...] = ("onnx-fp32", "onnx-fp16", "onnx-int8")
#: What `export --search` judges, in this order.
SEARCH_BACKENDS: tuple[str, ...] = (*DEFAULT_CANDIDATES, *RECIPES)


def fp32_artifact(ctx: BuildContext, base: Base) -> tuple[Path, bool]:
    """The cache directory of the FP32 graph `base`, built if not cached: the gate's own export,
    the dynamo export, or the gate's export optimized at O1-O3 (export --optimize's entries)."""
    if base == "dynamo":
        key: dict[str, object] = {"model": ctx.model.content_hash, **ctx.model.float32_key,
                                  "opset": ctx.opset, "recipe": RECIPES_VERSION,
                                  "tools": toolchain_versions(ONNX_PACKAGES)}
        entry = ctx.cache.get_or_build("onnx-fp32-dynamo", key, lambda out: export_fp32_dynamo(ctx, out))
        return entry.path, entry.hit
    fp32, hit = OnnxBackend("fp32").artifact(ctx)
    if base == "export":
        return fp32, hit
    key = {"fp32": fp32.name, "optimize": base, "optimizer": fp32_optimizer(), "recipe": EXPORT_RECIPE,
           "tools": toolchain_versions(ONNX_PACKAGES)}
    optimized = ctx.cache.get_or_build(f"onnx-fp32-{base}", key,
                                       lambda out: optimize_fp32(ctx, fp32, out, base))
    return optimized.path, optimized.hit


def calibration_of(ctx: BuildContext) -> tuple[tuple[Text, ...], str]:
    """The context's calibration texts (a pair model's: pairs) and their description; the bundled
    validation split if unset."""
    from encoder_gate.data.calibration import calibration_texts

    texts, where = ctx.calibration() if ctx.calibration is not None else calibration_texts("bundled")
    return tuple(texts), where


@dataclass(frozen=True)
class RecipeBackend:
    """A recipe of `RECIPES` as a backend: built from the model, cached on disk."""

    recipe: str
    packages: tuple[str, ...] = ONNX_PACKAGES

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise GateError(f"unknown recipe {self.recipe!r}; known: {', '.join(RECIPES)}")

    @property
    def record(self) -> Recipe:
        return RECIPES[self.recipe]

    @property
    def name(self) -> str:
        return self.recipe

    @property
    def number_format(self) -> NumberFormat:
        return self.record.number_format

    def providers(self, device: Device) -> tuple[str, ...]:
        return installed_providers(device)

    def artifact(self, ctx: BuildContext) -> tuple[Path, bool]:
        """Directory holding model.onnx of this recipe, built if not cached."""
        r = self.record
        base, hit = fp32_artifact(ctx, r.base)
        if r.step == "none":
            return base, hit
        key: dict[str, object] = {"base": base.name, "recipe": asdict(r), "version": RECIPES_VERSION,
                                  "tools": toolchain_versions(self.packages)}
        if r.step == "dynamic":
            entry = ctx.cache.get_or_build(r.name, key, lambda out: quantize_int8(
                ctx, base, out, per_channel=r.per_channel, reduce_range=r.reduce_range,
                weight_type=r.weight_type, name=r.name))
        elif r.step == "static":
            texts, where = calibration_of(ctx)
            # (the same digest as before pairs for single texts: their UTF-8 between newlines)
            digest = hashlib.sha256(b"\n".join(map(digest_bytes, texts))).hexdigest()
            key["calibration"] = {"where": where, "sha256": digest}
            entry = ctx.cache.get_or_build(r.name, key, lambda out: quantize_static_int8(
                ctx, base, out, texts, str(r.calibration), name=r.name))
        else:
            entry = ctx.cache.get_or_build(r.name, {**key, "device": ctx.device},
                                           lambda out: convert_fp16(ctx, base, out))
        return entry.path, entry.hit

    def build(self, ctx: BuildContext) -> OnnxRunner:
        providers_for(ctx.device)
        path, hit = self.artifact(ctx)
        ctx.progress(f"{self.name}: {'from cache' if hit else 'built'} at {path}")
        session = open_session(path / "model.onnx", ctx.device, ctx.threads)
        size = dir_size(path, (".onnx", ".onnx_data", ".data"))
        return OnnxRunner(session, ctx, self.name, self.number_format, path / "model.onnx", hit, size)
