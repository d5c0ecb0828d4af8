"""Where a project overrides a backend's bounds: its [tool.encoder-gate.tolerances.BACKEND] table.

    override_table("onnx-int8")          # [tool.encoder-gate.tolerances.onnx-int8]
    override_table("onnx:model.onnx")    # [tool.encoder-gate.tolerances."onnx:model.onnx"]

Failure messages print the header so a person can paste it into pyproject.toml.
"""

from __future__ import annotations

import re

_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
                 "\r": "\\r"}


def toml_key(key: str) -> str:
    """`key` as a TOML key: bare when it can be (letters, digits, `-`, `_`), else a quoted string,
    so `onnx:onnx/model.onnx` becomes `"onnx:onnx/model.onnx"`."""
    if key and re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return key
    escaped = "".join(_TOML_ESCAPES.get(c, c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}")
                      for c in key)
    return f'"{escaped}"'


def override_table(backend: str) -> str:
    """The pyproject table header that overrides `backend`'s bounds, as valid TOML:
    `[tool.encoder-gate.tolerances.onnx-int8]`, `[tool.encoder-gate.tolerances."onnx:x.onnx"]`."""
    return f"[tool.encoder-gate.tolerances.{toml_key(backend)}]"
