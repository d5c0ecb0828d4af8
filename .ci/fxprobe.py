"""What inductor's FX graph cache key saw, input by input: a pytest plugin for .ci/gpu-check.

`PYTHONPATH=.ci pytest -p fxprobe ...` with `FXPROBE_OUT=DIR`: each time torch computes an FX graph
cache key's hash details, this writes one JSON line to DIR/PID.jsonl: the key (where this torch can
compute it again) and, for each example input, its type, the hash of what the key's pickler makes of
it, and its cache metadata field by field (a tensor's dtype, shape, requires_grad, storage size, ...)
with whether inductor has marked it static. `.ci/fx-cache-diff --probe` compares two sessions'.
Only pytest's process is probed: a memory probe's process of its own, which compiles again, is not
(its lookups are in the torch log).

Why: torch's own hash details (TORCH_LOGS=+torch._inductor.codecache) printed the same text for two
keys whose inputs hashed differently (an H200, torch 2.11, 2026-11-28: the 202 parameters of the
reference repository's graph): the text is not always what the key hashed. These records are taken
when the details are, from the same objects.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

# importing inductor's codecache (and torch itself, where TORCH_LOGS names it) writes torch's default
# TORCHINDUCTOR_CACHE_DIR into the environment; this plugin loads before encoder-gate's, which would
# take it for the user's and not place its own
_inductor_dir = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
import torch  # noqa: E402
import torch._inductor.codecache as codecache  # noqa: E402

if _inductor_dir is None:
    os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
else:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _inductor_dir

_original = codecache.FxGraphCachePickler.debug_lines


def _fields(obj: Any) -> dict[str, str]:
    if isinstance(obj, torch.Tensor):
        meta = codecache.extract_tensor_metadata_for_cache_key(obj)
        shown = {f.name: repr(getattr(meta, f.name)) for f in dataclasses.fields(meta)}
        return {**shown, "static": repr(hasattr(obj, "_is_inductor_static"))}
    return {"value": repr(obj)[:200]}


def _key(pickler: Any, details: Any) -> str | None:
    try:
        get_key = getattr(pickler, "get_key", None)
        return str(get_key(details)) if get_key else "f" + str(pickler.get_hash(details))
    except Exception:  # a diagnostic records what it can
        return None


def _probing_debug_lines(self: Any, details: Any) -> list[str]:
    lines = _original(self, details)
    try:  # a diagnostic never breaks the compile it watches (a full disk, an input of a new kind)
        inputs = [{"type": type(obj).__qualname__, "hash": self.get_hash(obj)[:12], "fields": _fields(obj)}
                  for obj in getattr(details, "example_inputs", None) or []]
        record = {"details": type(details).__qualname__, "key": _key(self, details), "inputs": inputs}
        out = os.environ.get("FXPROBE_OUT", "fxprobe")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"{os.getpid()}.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    except Exception as exc:
        print(f"fxprobe: not recorded ({type(exc).__name__}: {exc})", file=sys.stderr)
    return lines


codecache.FxGraphCachePickler.debug_lines = _probing_debug_lines  # type: ignore[method-assign]
