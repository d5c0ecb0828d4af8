"""How ONNX artifacts are made from a model: the FP32 export, FP16 conversion and INT8 quantization.

* FP32: optimum's `main_export` where optimum's ONNX support is installed
  (`encoder-gate[optimum]`), else `torch.onnx.export` (the TorchScript exporter, eager
  attention); the exporter and its version are part of the cache key;
* FP16: the FP32 export run through ONNX Runtime's transformer optimizer and converted to
  FP16 with FP32 inputs and outputs kept (`keep_io_types=True`);
* INT8: :mod:`encoder_gate.backends.onnx_quantize` (dynamic, and the static recipes of `--search`).

:class:`~encoder_gate.backends.onnx_backend.OnnxBackend` caches what these write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import BuildContext, weights_bytes
from encoder_gate.backends.fusions import fusion_note, record_fusions
from encoder_gate.backends.onnx_graph import format_shape, inspect_onnx, static_dim
from encoder_gate.backends.optimum_compat import optimum_missing
from encoder_gate.errors import GateError, root_cause
from encoder_gate.memory import return_freed_memory
from encoder_gate.models.loading import load_pretrained
from encoder_gate.models.spec import TOKENIZER_SIDE_FILES, vocabulary_file, weights_mismatch

ONNX_RECIPE = 1  # bump when an export recipe below changes its output


TORCH_EXPORTER = "torch.onnx.export (TorchScript, dynamo=False, eager attention)"


OPTIMUM_EXPORTER = "optimum main_export"


#: What torch's TorchScript exporter says on every export of an encoder: (category, message, module),
#: as `warnings.filterwarnings` takes them (regexes matched at the start). None is about the user's
#: code or anything they can act on, so none may reach their warnings summary; anything else does.
EXPORTER_NOTICES: tuple[tuple[type[Warning], str, str], ...] = (
    # torch >= 2.9 on dynamo=False, which we ask for (see export_fp32_torch); stacklevel=2
    # attributes it to our call site, so it is matched by message alone
    (DeprecationWarning, r"You are using the legacy TorchScript-based ONNX export", ""),
    # torch >= 2.7: the exporter calls its own deprecated helpers (setup_onnx_logging); the
    # message is generic, so only torch.onnx's modules are matched
    (DeprecationWarning, r"The feature will be removed\. Please remove usage of this function",
     r"torch\.onnx\."),
    # Two notices of the trace itself on every encoder we export (transformers' mask code, torch's
    # indexing symbolic). Whether the traced graph computes what the model does is what the gate
    # measures on the artifact (drift against torch), a failing check rather than a line to read.
    (Warning, r"Converting a tensor to a Python boolean might cause the trace to be incorrect",
     r"(transformers|torch)\."),
    (UserWarning, r"Exporting aten::index operator of advanced indexing", r"torch\.onnx\."),
    # transformers 5.17's eager_mask makes its 0.0 with torch.tensor (a constant: the trace is right)
    (Warning, r"torch\.tensor results are registered as constants in the trace",
     r"transformers\.masking_utils"),
)


#: Loggers whose warnings during our builds are about our recipe's own choices, never the user's model:
#: ONNX Runtime's optimizer ("symbolic shape inference disabled or failed": we turn it off, to save
#: a copy of the model), the dynamo exporter ("torchvision is not installed. Skipping ...") and the
#: quantizer, which warns through the root logger ("Please consider to run pre-processing ..."); on the
#: optimum stack, its exporter ("Weight deduplication check ... requires accelerate": a package
#: encoder-gate does not install) and transformers' config, read by it ("`torch_dtype` is deprecated!":
#: optimum's own call; the user's config is read outside our builds too). Errors still show; whether
#: the artifact is right is what the gate measures.
RECIPE_LOGGERS = ("onnxruntime.transformers", "onnxruntime.quantization", "torch.onnx", "",
                  "optimum.exporters.onnx.base", "transformers.configuration_utils")


@contextmanager
def quiet_exporter_notices() -> Iterator[None]:
    """Ignore the exporter's notices (EXPORTER_NOTICES) and the recipe loggers' warnings
    (RECIPE_LOGGERS) inside the block; every other warning (a tracer or symbolic warning, the
    user's own) is shown as it would be outside. A root-logger warning makes `logging` install a
    stderr handler for good (basicConfig): the root's handlers are put back as they were."""
    loggers = [logging.getLogger(name or None) for name in RECIPE_LOGGERS]
    levels = [logger.level for logger in loggers]
    root_handlers = list(logging.getLogger().handlers)
    with warnings.catch_warnings():
        for category, message, module in EXPORTER_NOTICES:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            logging.getLogger().handlers[:] = root_handlers


#: Beside an ONNX file, what makes its directory a model directory: config.json, the tokenizer's settings
#: and (:func:`copy_side_files`) its vocabulary files, whatever their names (a DeBERTa-v2's spm.model was
#: left out, so an export of one loaded no tokenizer: thirty-seventh session).
SIDE_FILES = ("config.json", *TOKENIZER_SIDE_FILES)


# onnxruntime.transformers optimizer model types by Hugging Face model_type.
OPTIMIZER_TYPES = {"bert": "bert", "roberta": "bert", "distilbert": "bert", "albert": "bert",
                   "xlm-roberta": "bert", "electra": "bert", "camembert": "bert"}


def copy_side_files(src: Path, dst: Path, overwrite: bool = True) -> list[str]:
    """config.json and the tokenizer files of `src` into `dst` (so optimum can load `dst`);
    the names copied. `overwrite=False` keeps files `dst` already has."""
    copied = []
    vocabulary = sorted(p.name for p in src.iterdir() if p.is_file() and vocabulary_file(p.name))
    for name in (*SIDE_FILES, *vocabulary):
        if (src / name).is_file() and (overwrite or not (dst / name).is_file()):
            shutil.copy2(src / name, dst / name)
            copied.append(name)
    return copied


def fp32_exporter() -> dict[str, str]:
    """The exporter that makes onnx-fp32 here and its version (part of the artifact key):
    optimum's main_export when its ONNX support imports (through the transformers library: a
    sentence-transformers directory went through that library's modules before), else torch's
    TorchScript exporter."""
    from importlib.metadata import PackageNotFoundError, version

    if optimum_missing() is None:
        library = {"library": "transformers"}  # main_export's library_name (export_fp32_optimum)
        for dist in ("optimum-onnx", "optimum"):  # optimum 1.x shipped its exporter itself
            try:
                return {"name": OPTIMUM_EXPORTER, "version": f"{dist} {version(dist)}", **library}
            except PackageNotFoundError:
                continue
        return {"name": OPTIMUM_EXPORTER, "version": "unknown (no package metadata)", **library}
    return {"name": TORCH_EXPORTER, "version": f"torch {version('torch')}"}


def export_fp32(ctx: BuildContext, out: Path) -> None:
    """model.onnx (+ config and tokenizer files) in `out`, with the exporter `fp32_exporter` names."""
    if fp32_exporter()["name"] == OPTIMUM_EXPORTER:
        export_fp32_optimum(ctx, out)
    else:
        export_fp32_torch(ctx, out)
    copy_side_files(ctx.model.path, out)


def export_fp32_optimum(ctx: BuildContext, out: Path) -> None:
    """optimum's exporter, the same call as `optimum-cli export onnx`."""
    from optimum.exporters.onnx import main_export

    task = "text-classification" if ctx.model.task.classifier else "feature-extraction"
    ctx.progress(f"onnx-fp32: exporting {ctx.model.name} with optimum (task {task}, opset {ctx.opset})")
    try:
        with quiet_exporter_notices(), warnings.catch_warnings():  # tracer chatter about constants
            warnings.simplefilter("ignore")
            # library "transformers": the model's own graph (logits, or the last hidden state the
            # gate pools), as the torch reference runs it; a directory with sentence-transformers'
            # modules.json (the embedded MiniLM) would otherwise be exported through that library,
            # whose Pooling module the directory may not carry (sentence-transformers 5.7: "missing
            # 1 required positional argument: 'embedding_dimension'")
            main_export(str(ctx.model.path), output=str(out), task=task, opset=ctx.opset, device="cpu",
                        do_validation=False, local_files_only=True, library_name="transformers")
    except Exception as exc:
        raise GateError(f"optimum could not export {ctx.model.path} to ONNX: {exc}") from None


def export_inputs(config: Any) -> tuple[str, ...]:
    """The inputs an export takes: token_type_ids only where the model has more than one token
    type (BERT, ALBERT: 2; RoBERTa: 1; DistilBERT: none), as optimum's exporter decides too."""
    types = getattr(config, "type_vocab_size", 0) or 0
    return ("input_ids", "attention_mask", *(("token_type_ids",) if int(types) > 1 else ()))


def traceable(ctx: BuildContext, **load: Any) -> tuple[tuple[str, ...], str, bool, Any, tuple[Any, ...]]:
    """What both torch exporters trace: (input names, output name, whether the model is a
    feature-extraction encoder, the model as a module of positional tensor inputs and one tensor
    output, an example batch in input order with one padded row, so the attention mask is traced
    as data, not dropped). `load` goes to `from_pretrained` (e.g. attn_implementation="eager")."""
    import torch
    from transformers import AutoConfig

    feature = not ctx.model.task.classifier
    output = "last_hidden_state" if feature else "logits"
    try:
        config = AutoConfig.from_pretrained(ctx.model.path)
        model = load_pretrained(ctx.model.path, not feature, **load)
    except GateError:  # a checkpoint lacking weights: its own line
        raise
    except Exception as exc:  # transformers raises many types for an unloadable directory
        wrong = weights_mismatch(Path(ctx.model.path), not feature) if isinstance(exc, RuntimeError) else ""
        said = f"the weights do not fit its config.json: {wrong}" if wrong else str(exc)
        raise GateError(f"transformers could not load {ctx.model.path} for the ONNX export: {said}") from None
    names = export_inputs(config)

    class Outputs(torch.nn.Module):
        """The model with positional tensor inputs and one tensor output, as the tracer needs."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return getattr(self.model(**dict(zip(names, inputs, strict=True))), output)

    # token 5: past the special tokens of the common vocabularies; a vocabulary of 5 or fewer has none
    # there, and its last token then (an id past the embedding's rows failed the export)
    token = min(5, max(int(getattr(config, "vocab_size", 0) or 0) - 1, 0))
    ids = torch.full((2, 16), token, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # one padded row
    example = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    return names, output, feature, Outputs().eval(), tuple(example[n] for n in names)


def export_fp32_torch(ctx: BuildContext, out: Path) -> None:
    """torch.onnx.export with the TorchScript exporter (dynamo=False) and eager attention.

    Measured on transformers 5: this keeps the graph ONNX Runtime's transformer optimizer fuses
    into Attention and EmbedLayerNormalization (the FP16 recipe), where the dynamo exporter's
    graph loses those fusions and carries weight value_info that quantize_dynamic trips on.
    The example batch has a padded row, so the attention mask is traced as data, not dropped."""
    import torch

    names, output, feature, module, example = traceable(ctx, attn_implementation="eager")
    ctx.progress(f"onnx-fp32: exporting {ctx.model.name} with {TORCH_EXPORTER} (inputs {', '.join(names)}, "
                 f"opset {ctx.opset})")
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[output] = {0: "batch", 1: "sequence"} if feature else {0: "batch"}
    import inspect

    # torch 2.5 added `dynamo` (TorchScript before it, the only exporter); from 2.9 it defaults to True
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    choose: dict[str, Any] = {"dynamo": False} if has_dynamo else {}
    try:
        with quiet_exporter_notices(), torch.no_grad():
            torch.onnx.export(module, example, str(out / "model.onnx"),
                              input_names=list(names), output_names=[output],
                              dynamic_axes=axes, opset_version=ctx.opset, **choose)
    except Exception as exc:
        raise GateError(f"torch.onnx.export could not export {ctx.model.path} to ONNX: {exc}") from None


def optimizer_shape(model_dir: Path, model_type: str) -> tuple[str, int, int]:
    """(optimizer model type, attention heads, hidden size) for onnxruntime.transformers.optimizer."""
    config = json.loads((model_dir / "config.json").read_text())
    heads = int(config.get("num_attention_heads", config.get("n_heads", 0)))
    hidden = int(config.get("hidden_size", config.get("dim", 0)))
    return OPTIMIZER_TYPES.get(model_type, "bert"), heads, hidden


#: Float initializers with more elements than this are left out of the copy that shape inference
#: reads (their names, types and dims stay): inference needs their shapes, never their values.
WEIGHTLESS_ABOVE = 4096


def weightless_copy(model: Any) -> Any:
    """`model` without the data of its large float initializers: what type and shape inference
    reads, at a fraction of the memory (the weights of a 500 MB model are not copied)."""
    import onnx
    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    graph, source = light.graph, model.graph
    graph.name = source.name
    for field in ("node", "input", "output", "value_info"):
        getattr(graph, field).extend(getattr(source, field))
    for init in source.initializer:
        if init.data_type in floats and math.prod(init.dims) > WEIGHTLESS_ABOVE:
            kept = graph.initializer.add()
            kept.name, kept.data_type = init.name, init.data_type
            kept.dims.extend(init.dims)
        else:
            graph.initializer.append(init)
    return light


def add_tensor_types(model: Any) -> None:
    """The element types of every tensor, from ONNX Runtime's symbolic shape inference, added to
    `model`'s value_info without shapes: what `OnnxModel.convert_float_to_float16` adds before it
    converts, but inferred on a :func:`weightless_copy` (on the whole model the inference holds
    several copies of the weights at once: 4.5 GB for a 500 MB RoBERTa-base)."""
    from onnx import TensorProto, ValueInfoProto
    from onnxruntime.transformers.shape_infer_helper import SymbolicShapeInferenceHelper

    light = weightless_copy(model)
    inferred = SymbolicShapeInferenceHelper(light).infer_shapes(light, auto_merge=True,
                                                                guess_output_rank=False)
    if inferred is None:
        return
    known = {vi.name for vi in model.graph.value_info}
    for vi in inferred.graph.value_info:
        if vi.name and vi.name not in known and vi.type.tensor_type.elem_type != TensorProto.UNDEFINED:
            typed = ValueInfoProto()
            typed.CopyFrom(vi)
            typed.type.tensor_type.ClearField("shape")
            model.graph.value_info.append(typed)
            known.add(vi.name)


@contextmanager
def weightless_shape_inference() -> Iterator[None]:
    """Inside the block, ONNX Runtime's transformer optimizer infers shapes for its fusions on a
    :func:`weightless_copy` of the model it fuses. Its `OnnxModel.infer_runtime_shape` builds a
    symbolic shape-inference helper over the whole model, which copies every weight while it
    infers, and the optimizer keeps each helper: fusing a 500 MB RoBERTa-base grew to 3.1 GB
    that way (0.6 GB with the model loaded). The fusions read only shapes and small constants from
    the helper (the weightless copy keeps both) and weight values from the model itself, so the
    fused graph is the same (a self-test compares the files). The optimizer's modules import each
    other by their top-level names (`onnx_model`, not `onnxruntime.transformers.onnx_model`), so
    the class is patched under each name it is loaded as. Where it has no such method (another
    ORT release), nothing is changed."""
    import sys

    import onnxruntime.transformers.optimizer  # noqa: F401  (puts its directory on sys.path)
    from onnxruntime.transformers.shape_infer_helper import SymbolicShapeInferenceHelper

    classes = {id(c): c for name in ("onnx_model", "onnxruntime.transformers.onnx_model")
               if (c := getattr(sys.modules.get(name), "OnnxModel", None)) is not None}
    originals = {key: c.__dict__["infer_runtime_shape"] for key, c in classes.items()
                 if "infer_runtime_shape" in c.__dict__}

    def patched(original: Any) -> Any:
        def infer_runtime_shape(self: Any, dynamic_axis_mapping: dict[str, int] | None = None,
                                update: bool = False) -> Any:
            if getattr(self, "enable_shape_infer", False) and (self.shape_infer_helper is None or update):
                self.shape_infer_helper = SymbolicShapeInferenceHelper(weightless_copy(self.model))
            return original(self, {} if dynamic_axis_mapping is None else dynamic_axis_mapping, update=False)
        return infer_runtime_shape

    for key, original in originals.items():
        classes[key].infer_runtime_shape = patched(original)
    try:
        yield
    finally:
        for key, original in originals.items():
            classes[key].infer_runtime_shape = original


def convert_fp16(ctx: BuildContext, fp32: Path, out: Path) -> None:
    """ORT transformer optimizer (fusions) then FP16 weights, FP32 inputs/outputs kept.

    The conversion is `OnnxModel.convert_float_to_float16`'s, step by step, with the type
    inference it needs run on a weightless copy (:func:`add_tensor_types`)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.optimizer import optimize_model

    model_type, heads, hidden = optimizer_shape(ctx.model.path, ctx.model.model_type)
    ctx.progress(f"onnx-fp16: optimizing ({model_type}, {heads} heads, hidden {hidden}) "
                 "and converting to FP16")
    if ctx.device == "cuda":
        # the optimizer opens a CUDA session of its own (in the build's process, before any of the
        # gate's): the libraries its provider needs, and ONNX Runtime's logger quiet, as for those
        # (on an H200 it printed three coloured warnings about Memcpy nodes and node placement)
        from encoder_gate.backends.onnx_session import load_cuda_libraries
        load_cuda_libraries()
    with quiet_exporter_notices(), weightless_shape_inference():
        optimized = optimize_model(str(fp32 / "model.onnx"), model_type=model_type, num_heads=heads,
                                   hidden_size=hidden, opt_level=1 if ctx.device == "cuda" else 0,
                                   use_gpu=ctx.device == "cuda")
    # the optimizer keeps its shape-inference helper, with a copy of the whole model inside: let it go
    optimized.shape_infer_helper = None
    record_fusions(optimized, out, model_type)
    if (unfused := fusion_note(out)) is not None:
        ctx.progress(f"onnx-fp16: {unfused}")
    return_freed_memory(weights_bytes(ctx.model.path))
    add_tensor_types(optimized.model)
    half = convert_float_to_float16(optimized.model, keep_io_types=True, disable_shape_infer=True)
    optimized.initialize(half)
    optimized.remove_cascaded_cast_nodes()
    optimized.remove_useless_cast_nodes()
    optimized.save_model_to_file(str(out / "model.onnx"))
    copy_side_files(fp32, out)


DYNAMO_EXPORTER = "torch.onnx.export (dynamo=True, SDPA attention)"
DYNAMO_BATCH_MAX = 65536  # the bound of the dynamic batch's range (and of a length no config bounds)


def export_fp32_dynamo(ctx: BuildContext, out: Path) -> None:
    """torch.onnx.export(dynamo=True) with the model's default (SDPA) attention, dynamic batch and
    sequence; a model torch.export cannot capture raises GateError with torch's reason."""
    import torch

    names, output, _, module, example = traceable(ctx)
    ctx.progress(f"onnx-fp32-dynamo: exporting {ctx.model.name} with {DYNAMO_EXPORTER} (opset {ctx.opset})")
    # bounded: torch 2.6's torch.export guards each size against 2**63 - 1, which an unbounded Dim's
    # range fails, and its ONNX exporter then fell back to a trace of the example's shapes unsaid
    batch = torch.export.Dim("batch", max=DYNAMO_BATCH_MAX)
    seq = torch.export.Dim("sequence", max=ctx.model.max_positions or DYNAMO_BATCH_MAX)
    shapes = (tuple({0: batch, 1: seq} for _ in names),)  # forward(*inputs): one varargs tuple
    try:
        with quiet_exporter_notices(), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.export's tracing chatter; the gate judges the result
            program = torch.onnx.export(module, example, dynamo=True, verbose=False,  # no step-by-step prints
                                        input_names=list(names), output_names=[output],
                                        dynamic_shapes=shapes, opset_version=ctx.opset)
            if program is None:
                raise GateError("torch.onnx.export(dynamo=True) returned no program")
            program.save(str(out / "model.onnx"))
    except ImportError as exc:
        missing = exc.name or "onnxscript"
        raise GateError(f"the dynamo exporter needs {missing}: pip install {missing} (onnxscript comes with "
                        "the extra: pip install 'encoder-gate[dynamo]')") from None
    except Exception as exc:
        raise GateError(f"torch.onnx.export(dynamo=True) could not export {ctx.model.name}: "
                        f"{root_cause(exc)}") from None
    fixed = [f"{t.name} {format_shape(t.shape)}" for t in inspect_onnx(out / "model.onnx").inputs
             if static_dim(t.shape, 0) or static_dim(t.shape, 1)]
    if fixed:
        raise GateError(f"torch.onnx.export(dynamo=True) fixed {ctx.model.name}'s input shapes at the "
                        f"example's ({'; '.join(fixed)}): torch.export kept no dynamic batch or length, "
                        f"and torch {torch.__version__}'s exporter fell back to a trace, whose file takes "
                        "no other. Leave onnx-fp32-dynamo out, or export with another torch")
    copy_side_files(ctx.model.path, out)


# --- FP32 graph optimization (optimum's O1-O3) -----------------------------------------

# optimum's AutoOptimizationConfig levels as onnxruntime.transformers.optimizer arguments:
# ORT graph optimization level, whether the Python transformer fusions run, GELU approximation.
# optimum's OptimizationConfig also leaves EmbedLayerNormalization fusion off by default, and
# encoder-gate turns shape inference off as optimum's main_export does.
EXPORT_RECIPE = 2  # bump when optimize_fp32 changes its output
ORT_LEVELS = {
    "O1": {"opt_level": 1, "transformer_fusions": False, "gelu_approximation": False},
    "O2": {"opt_level": 2, "transformer_fusions": True, "gelu_approximation": False},
    "O3": {"opt_level": 2, "transformer_fusions": True, "gelu_approximation": True},
}
OPTIMUM_OPTIMIZER = "optimum ORTOptimizer"
ORT_OPTIMIZER = "onnxruntime.transformers.optimizer"


def fp32_optimizer() -> str:
    """What runs `--optimize` here: optimum's ORTOptimizer when installed, else ONNX Runtime's."""
    return OPTIMUM_OPTIMIZER if optimum_missing() is None else ORT_OPTIMIZER


def optimize_fp32(ctx: BuildContext, fp32: Path, out: Path, level: str) -> None:
    """The FP32 graph optimized at `level` (O1-O3), by `fp32_optimizer()`, with the shape
    information INT8 quantization needs."""
    if fp32_optimizer() == OPTIMUM_OPTIMIZER:
        optimize_with_optimum(ctx, fp32, out, level)
    else:
        optimize_with_ort(ctx, fp32, out, level)
    add_shapes(ctx, fp32, out, level)


def optimize_with_optimum(ctx: BuildContext, fp32: Path, out: Path, level: str) -> None:
    """optimum's ORTOptimizer at `level`, as `optimum-cli export onnx --optimize` runs it."""
    from optimum.onnxruntime import AutoOptimizationConfig, ORTOptimizer

    ctx.progress(f"onnx-fp32: optimizing with optimum ORTOptimizer, AutoOptimizationConfig {level}")
    config = AutoOptimizationConfig.with_optimization_level(level, for_gpu=False)
    config.disable_shape_inference = True  # as optimum's main_export does
    try:
        optimizer = ORTOptimizer.from_pretrained(fp32, file_names=["model.onnx"])
        with quiet_exporter_notices():  # "symbolic shape inference disabled or failed.": we turned it off
            optimizer.optimize(save_dir=out, optimization_config=config, file_suffix="")
    except (NotImplementedError, ValueError, RuntimeError) as exc:
        raise GateError(f"optimum could not optimize {ctx.model.name} at {level}: {exc}") from None


def optimize_with_ort(ctx: BuildContext, fp32: Path, out: Path, level: str) -> None:
    """ONNX Runtime's transformer optimizer with the arguments ORTOptimizer passes it at `level`."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model


    settings = ORT_LEVELS[level]
    model_type, heads, hidden = optimizer_shape(ctx.model.path, ctx.model.model_type)
    ctx.progress(f"onnx-fp32: optimizing with {ORT_OPTIMIZER} at {level} (opt_level {settings['opt_level']}, "
                 f"transformer fusions {'on' if settings['transformer_fusions'] else 'off'}, "
                 f"GELU approximation {'on' if settings['gelu_approximation'] else 'off'})")
    options = FusionOptions(model_type)
    options.enable_embed_layer_norm = False
    options.enable_gelu_approximation = bool(settings["gelu_approximation"])
    options.enable_shape_inference = False
    try:
        with quiet_exporter_notices():
            optimized = optimize_model(str(fp32 / "model.onnx"), model_type=model_type, num_heads=heads,
                                       hidden_size=hidden, opt_level=int(settings["opt_level"]),
                                       optimization_options=options, use_gpu=False,
                                       only_onnxruntime=not settings["transformer_fusions"])
        optimized.save_model_to_file(str(out / "model.onnx"))
        if settings["transformer_fusions"]:  # what O2 and O3 fused: the export's card says where none
            record_fusions(optimized, out, model_type)
    except Exception as exc:  # ORT's optimizer raises bare Exceptions and onnx errors
        raise GateError(f"ONNX Runtime's optimizer could not optimize {ctx.model.name} at {level}: "
                        f"{exc}") from None


def add_shapes(ctx: BuildContext, fp32: Path, out: Path, level: str) -> None:
    """Shape and type information for the optimized graph in out/model.onnx; the side files of
    `fp32` the optimizer did not write."""
    # Fused contrib ops (SkipLayerNormalization, Attention, ...) carry no shape or type
    # information, and INT8 quantization of the optimized graph needs it: ONNX Runtime's own
    # quantization pre-processing (symbolic shape inference, no further optimization) adds it.
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = str((out / "model.onnx").resolve())  # absolute: the call runs from a scratch directory
    # ONNX Runtime drops sym_shape_infer_temp.onnx (+ data) into the working directory when
    # inference is incomplete: run it from a scratch directory, and say what failed
    with tempfile.TemporaryDirectory(prefix="encoder-gate-shapes-") as scratch, contextlib.chdir(scratch):
        try:
            quant_pre_process(model, model, skip_optimization=True, auto_merge=True)
        except Exception as exc:  # ORT raises a bare Exception for incomplete inference
            raise GateError(f"ONNX Runtime's shape inference failed on the {level} graph of "
                            f"{ctx.model.name} ({exc}); export without --optimize, or try a lower "
                            "level") from None

    copy_side_files(fp32, out, overwrite=False)  # keep what the optimizer saved


# --- shipping -----------------------------------------------------------------------------


def place(src: Path, out: Path, file_name: str) -> Path:
    """Copy the ONNX file `src` (a directory: its model.onnx) to out/file_name; external data is
    re-saved under the new name."""
    import onnx

    src = src / "model.onnx" if src.is_dir() else src
    dst = out / file_name
    if not any(p.name != src.name and p.name.startswith(src.name) and p.suffix in {".onnx_data", ".data"}
               for p in src.parent.iterdir()):
        shutil.copyfile(src, dst)
        return dst
    model = onnx.load(str(src), format="protobuf")  # loads the external tensors too
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
              location=f"{file_name}_data")
    return dst


def variant_bytes(path: Path) -> int:
    data = path.with_name(path.name + "_data")
    return path.stat().st_size + (data.stat().st_size if data.is_file() else 0)
