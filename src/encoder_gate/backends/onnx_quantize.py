"""INT8 files from the FP32 export: ONNX Runtime's dynamic quantization (`onnx-int8`), and its static
QDQ quantization with calibrated activation ranges (the static recipes `encoder-gate export --search`
judges)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.onnx_build import copy_side_files, quiet_exporter_notices
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError


def quantize_int8(ctx: BuildContext, fp32: Path, out: Path, *, per_channel: bool | None = None,
                  reduce_range: bool | None = None, weight_type: str | None = None,
                  name: str = "onnx-int8") -> None:
    """Dynamic INT8 quantization of the weights (MatMul/Gemm, and Attention in a fused graph), as
    optimum's ORTQuantizer does; per_channel, reduce_range and weight_type default to the context's."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    per_channel = ctx.int8_per_channel if per_channel is None else per_channel
    reduce_range = ctx.int8_reduce_range if reduce_range is None else reduce_range
    weight_type = ctx.int8_weights if weight_type is None else weight_type
    ctx.progress(f"{name}: dynamic quantization (per_channel={per_channel}, reduce_range={reduce_range}, "
                 f"weights {weight_type})")
    with quiet_exporter_notices():
        quantize_dynamic(str(fp32 / "model.onnx"), str(out / "model.onnx"), per_channel=per_channel,
                         reduce_range=reduce_range, weight_type=getattr(QuantType, weight_type))
    copy_side_files(fp32, out)


#: Static QDQ INT8 as ONNX Runtime's quantization guide recommends on CPU: the QDQ format with
#: signed activations and weights (S8S8, "the default ... balanced performance and accuracy"),
#: weights per channel, after its pre-processing (symbolic shape inference and graph
#: optimization, `quant_pre_process`). Only MatMul is quantized: in an unfused encoder it carries
#: every weight and both attention products; LayerNorm, Softmax, GELU and the residual Adds stay
#: FP32 (their activation ranges are wide and quantizing them buys little on CPU).
#: Activations asymmetric (they are not centred on 0 after GELU/Softmax), weights symmetric.
STATIC_OP_TYPES = ("MatMul",)
STATIC_EXTRA_OPTIONS = {"ActivationSymmetric": False, "WeightSymmetric": True}
#: Calibration texts of the histogram methods (Percentile, Entropy), which hold every output in memory.
HISTOGRAM_TEXTS = 16


def quantize_static_int8(ctx: BuildContext, fp32: Path, out: Path, texts: Sequence[Text], method: str,
                         *, name: str = "onnx-int8-static") -> None:
    """Static QDQ INT8 of the FP32 graph, activation ranges calibrated (`method`: MinMax, Percentile,
    Entropy) on `texts`, one text per calibration run (no padding enters the ranges); a pair model's
    texts are pairs, each fed as the gate feeds it (its second text in its own segment)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from transformers import AutoTokenizer

    if not texts:
        raise GateError(f"{name}: no calibration texts; static quantization needs some")
    if method != "MinMax":
        # ORT's histogram calibrators keep every intermediate output of every run in memory: 128
        # padded texts of `default` reached 22 GB and were OOM-killed; 16 texts keep it to a few GB
        texts = texts[:HISTOGRAM_TEXTS]
    tokenizer = AutoTokenizer.from_pretrained(ctx.model.path)
    pre = (out / "preprocessed.onnx").resolve()  # absolute: the call runs from a scratch directory
    src = str((fp32 / "model.onnx").resolve())
    with tempfile.TemporaryDirectory(prefix="encoder-gate-pre-") as scratch, contextlib.chdir(scratch):
        try:
            quant_pre_process(src, str(pre), auto_merge=True)
        except Exception as exc:  # ORT raises bare Exceptions for incomplete shape inference
            raise GateError(f"{name}: ONNX Runtime's quantization pre-processing failed on "
                            f"{ctx.model.name} ({exc})") from None
    inputs = [i.name for i in onnx.load(str(pre), format="protobuf", load_external_data=False).graph.input]

    # MinMax takes each text unpadded (no pad token enters a range); ORT's histogram calibrators
    # (Percentile, Entropy) stack every run's outputs, so there every text is right-padded to the
    # longest calibration text (masked in attention, but its activations enter the histograms)
    longest = max(len(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"])
    padding: dict[str, Any] = {} if method == "MinMax" else {"padding": "max_length", "max_length": longest}

    class Texts(CalibrationDataReader):
        """One tokenized text per call, with the inputs the graph takes."""

        def __init__(self) -> None:
            self._rows = iter(texts)

        def get_next(self) -> dict[str, Any] | None:
            text = next(self._rows, None)
            if text is None:
                return None
            enc = tokenizer([text], truncation=True, return_tensors="np", **padding)
            ids = enc["input_ids"]
            return {n: (enc[n] if n in enc else ids * 0).astype("int64") for n in inputs}

    ctx.progress(f"{name}: static QDQ quantization, {method} calibration on {len(texts)} texts")
    try:
        with quiet_exporter_notices():
            quantize_static(str(pre), str(out / "model.onnx"), Texts(), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=list(STATIC_OP_TYPES), per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=getattr(CalibrationMethod, method),
                            extra_options=dict(STATIC_EXTRA_OPTIONS))
    except Exception as exc:  # ORT's quantizer raises many types
        raise GateError(f"{name}: ONNX Runtime's static quantization failed on {ctx.model.name} "
                        f"({type(exc).__name__}: {str(exc)[:300]})") from None
    finally:
        pre.unlink(missing_ok=True)
    copy_side_files(fp32, out)
