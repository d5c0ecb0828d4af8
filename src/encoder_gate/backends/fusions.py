"""What ONNX Runtime's transformer optimizer fused in an FP16 build, kept beside its file, and said where
it fused no attention.

The FP16 recipe (:func:`~encoder_gate.backends.onnx_build.convert_fp16`) runs the optimizer before it
halves the weights; a fused Attention node is what makes FP16 fast, above all on a GPU. Whether the
optimizer finds the attention depends on the graph the exporter wrote, which the model's code decides:
a tiny BERT's FP16 graph had 2 Attention nodes with transformers 4.57 under every onnxruntime tried, and
with transformers 5.24 under onnxruntime 1.31.1 and 1.32.0, but none under 1.21.0, 1.22.1, 1.24.4,
1.28.0 and 1.30.0 (thirty-seventh session, AMD EPYC Zen 5): those do not match the attention mask
transformers 5 builds. A file without the fusion still computes the same numbers, so nothing failed;
its row now says why it is slower than it could be, and the fix.

    counts = record_fusions(optimized, out)   # in the build, beside model.onnx
    note = fusion_note(entry_dir)             # when its runner opens (None: fused, or not known)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from encoder_gate.cache import installed_version

#: Beside a built FP16 file: what the optimizer fused in it, and the versions that decided it.
FUSIONS_FILE = "fusions.json"
#: The fused operators that carry a layer's attention.
ATTENTION_OPS = ("Attention", "MultiHeadAttention")
#: The first onnxruntime whose optimizer fuses the attention of transformers 5's models (above).
FUSES_TRANSFORMERS_5 = (1, 31)


def record_fusions(optimized: Any, out: Path, model_type: str) -> dict[str, int]:
    """The optimizer's fused operators (its `get_fused_operator_statistics`, where the release has it),
    written to `out`/FUSIONS_FILE with the versions that made them; {} where it cannot say."""
    try:
        counts = {str(op): int(n) for op, n in optimized.get_fused_operator_statistics().items() if n}
    except Exception:  # an optimizer class without the statistics: nothing to say of it
        return {}
    (out / FUSIONS_FILE).write_text(json.dumps({
        "fused": counts, "model_type": model_type, "onnxruntime": installed_version("onnxruntime"),
        "transformers": installed_version("transformers")}, indent=1))
    return counts


def fusion_note(entry: Path) -> str | None:
    """A runner's note where its FP16 build fused no attention; None where it did, or no record says."""
    try:
        record = json.loads((entry / FUSIONS_FILE).read_text())
        fused, ort, model_type = dict(record["fused"]), str(record["onnxruntime"]), str(record["model_type"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any(fused.get(op) for op in ATTENTION_OPS):
        return None
    note = (f"attention not fused: ONNX Runtime {ort}'s transformer optimizer (as model type {model_type}) "
            "fused none of this graph's attention, so the file runs it as separate MatMul, Softmax and mask "
            "nodes, slower than a fused graph (the numbers are the same)")
    if _too_old_for_transformers_5(ort, str(record.get("transformers") or "")):
        note += ("; onnxruntime 1.31 and later fuse the attention mask transformers 5 builds, 1.21 to 1.30 "
                 "do not: upgrade onnxruntime")
    return note


def unfused_here() -> str | None:
    """Why this environment's optimizer fuses no attention of the models transformers builds, where it
    is so (transformers 5 with onnxruntime before 1.31); None elsewhere."""
    ort, transformers = installed_version("onnxruntime") or "", installed_version("transformers") or ""
    if _too_old_for_transformers_5(ort, transformers):
        return (f"onnxruntime {ort}'s transformer optimizer fuses no attention of transformers "
                f"{transformers}'s models (1.31 and later do: backends.fusions)")
    return None


def _too_old_for_transformers_5(ort: str, transformers: str) -> bool:
    """Whether an onnxruntime (a version, known) fuses no attention of this transformers' models."""
    return _major_minor(transformers) >= (5, 0) and (0, 0) < _major_minor(ort) < FUSES_TRANSFORMERS_5


def _major_minor(text: str) -> tuple[int, int]:
    parts = text.split(" ")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)
