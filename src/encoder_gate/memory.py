"""Give memory that Python has freed back to the operating system.

Building a large model's artifacts (an ONNX export, FP16 conversion, INT8 quantization) and
closing a runner free gigabytes inside the process, but glibc's allocator keeps most of it
mapped: building the three ONNX backends of a RoBERTa-base-sized model in one process left
6.0 GB resident after the FP16 build, and 1.9 GB once trimmed (docs/development.md).
`return_freed_memory()` collects Python's garbage and asks
glibc to trim its heaps (`malloc_trim(0)`); on other C libraries it only collects.

A full collection walks every object the process holds: 0.29 s a call in a process that has
imported torch, transformers, ONNX Runtime and hypothesis (414,000 objects; AMD EPYC, 2 cores),
paid after every build and every runner's release. For a small model there is next to nothing to
give back, so below `COLLECT_FROM_BYTES` of weights only the (microseconds-cheap) trim is asked
for: in the self-tests' gate sessions on a 0.4 MB model, 117 collections had cost 34 s of 167.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


#: The model size (bytes of weights) from which what a build or a runner frees is worth a full
#: collection: a model of 32 MB holds about 8M float32 weights, and a runner or a build holds a few
#: copies of them; below it the collection's own cost (above) is the larger.
COLLECT_FROM_BYTES = 32 * 2**20


def return_freed_memory(model_bytes: int) -> None:
    """Collect garbage (for a model of at least `COLLECT_FROM_BYTES` of weights), then return the
    allocator's free pages to the system where glibc allows."""
    if model_bytes >= COLLECT_FROM_BYTES:
        gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
