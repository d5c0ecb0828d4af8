"""Is optimum's ONNX Runtime support usable here? One answer for every caller.

optimum is optional (`pip install 'encoder-gate[optimum]'`). Used when it can be: the FP32
export (`main_export`), `encoder-gate export --optimize` (`ORTOptimizer`) and the export's
"loads with ORTModelForSequenceClassification" check. Its ONNX parts live in the separate
optimum-onnx package: optimum alone imports, but has no ONNX exporter and no ORTModel (and
some releases import `requests` without declaring it). So "optimum importable" is not the
test; importing the very names we call is, and anything that fails there counts as absent.

    reason = optimum_missing()   # None when usable, else why not (for skip messages)
"""

from __future__ import annotations

import functools

INSTALL_HINT = ("pip install 'encoder-gate[optimum]' (optimum-onnx 0.1.0 needs transformers < 4.58, so "
                "this installs transformers 4.57)")


@functools.lru_cache(maxsize=1)
def optimum_missing() -> str | None:
    """None when optimum's ONNX exporter, ORTOptimizer and ORTModel import; else the reason."""
    try:
        from optimum.exporters.onnx import main_export  # noqa: F401
        from optimum.onnxruntime import (  # noqa: F401
            AutoOptimizationConfig,
            ORTModelForFeatureExtraction,
            ORTModelForSequenceClassification,
            ORTOptimizer,
        )
    except Exception as exc:  # ImportError, or whatever an incompatible release raises at import
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"optimum's ONNX Runtime support is not importable ({type(exc).__name__}: {detail[:200]})"
    return None
