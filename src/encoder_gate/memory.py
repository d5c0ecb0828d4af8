"""Give memory that Python has freed back to the operating system.

Building a large model's artifacts (an ONNX export, FP16 conversion, INT8 quantization) and
closing a runner free gigabytes inside the process, but glibc's allocator keeps most of it
mapped: building the three ONNX backends of a RoBERTa-base-sized model in one process left
6.0 GB resident after the FP16 build, and 1.9 GB once trimmed (docs/development.md).
`return_freed_memory()` collects Python's garbage and asks
glibc to trim its heaps (`malloc_trim(0)`); on other C libraries it only collects.
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


def return_freed_memory() -> None:
    """Collect garbage, then return the allocator's free pages to the system where glibc allows."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
