"""Backend names -> backends: one record per backend, the default list, and the reference.

Adding a backend is one module in this folder plus one line in `BACKENDS` below. The
record is a factory; the backend itself says what it is (`number_format`, `packages`:
see :class:`~encoder_gate.backends.base.Backend`). Heavy libraries are imported only when a
backend is parsed (`lazy` imports its module then), so listing names stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from encoder_gate.backends.base import Backend, Device
from encoder_gate.backends.int8_path import INTEGER_PATHS, IntegerPath
from encoder_gate.backends.onnx_graph import PRECISIONS, Precision
from encoder_gate.backends.prebuilt import resolve_onnx_path
from encoder_gate.backends.recipes import RECIPES
from encoder_gate.errors import GateError
from encoder_gate.records import Registry


def lazy(module: str, factory: str, **kwargs: Any) -> Callable[[], Backend]:
    """A factory that imports `encoder_gate.backends.<module>` only when called."""

    def make() -> Backend:
        made: Backend = getattr(importlib.import_module(f"encoder_gate.backends.{module}"), factory)(**kwargs)
        return made

    return make


#: Every named backend, in the order reports list them. One line per backend.
BACKENDS: Registry[Callable[[], Backend]] = Registry("backend", {
    "torch": lazy("torch_backend", "TorchBackend"),
    "torch-compile": lazy("torch_backend", "TorchCompileBackend"),
    "onnx-fp32": lazy("onnx_backend", "OnnxBackend", precision="fp32"),
    "onnx-fp16": lazy("onnx_backend", "OnnxBackend", precision="fp16"),
    "onnx-int8": lazy("onnx_backend", "OnnxBackend", precision="int8"),
}, {  # the export search's recipes (onnx-fp32-o2, onnx-int8-static, ...): one record each in recipes.RECIPES
    name: lazy("recipes", "RecipeBackend", recipe=name) for name in RECIPES
})
#: The backend every other one is compared with (torch FP32 eager).
REFERENCE_BACKEND = "torch"
#: What a project gets when it names no backends (config default, `encoder-gate init`).
DEFAULT_BACKENDS: tuple[str, ...] = ("torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8")
#: A prebuilt ONNX file: `onnx:PATH[@fp32|@fp16|@int8]`.
PREBUILT_PREFIX = "onnx:"
#: Between an INT8 ONNX backend's name and the integer path it is judged on (backends.path_backend).
PATH_SEPARATOR = "~"


def split_integer_path(name: str) -> tuple[str, IntegerPath | None]:
    """`onnx-int8~saturating` -> ("onnx-int8", "saturating"); a name without a path -> (name, None)."""
    head, sep, tail = name.rpartition(PATH_SEPARATOR)
    for path in INTEGER_PATHS:
        if sep and head and tail == path:
            return head, path
    return name, None


def with_integer_path(name: str, path: IntegerPath) -> str:
    """The backend `name` judged on integer path `path`."""
    return f"{name}{PATH_SEPARATOR}{path}"


def names_of_row(name: str, integer_path: str | None) -> tuple[str, ...]:
    """The names a row of results answers to in `[tool.encoder-gate]` (its waivers and tolerances):
    its own; for a plain INT8 row `NAME~PATH` of the integer path this runner computed it on; for a
    twin `NAME~PATH` the plain NAME too. `NAME~saturating` names NAME's result on the saturating path
    whichever row holds it: the twin on a VNNI runner, the plain row on an AVX2 one (and `NAME~exact`
    the other way round); the plain NAME names its result on every path, so one configuration reads
    the same on runners of either kind."""
    inner, path = split_integer_path(name)
    if path is not None:
        return (name, inner)
    if integer_path not in INTEGER_PATHS:
        return (name,)
    return (name, with_integer_path(name, integer_path))


def exact_counterpart(name: str, twins: Collection[str]) -> str | None:
    """The row whose outputs the row `name` is held against on the exact integer path (the
    path_flip_rate check), where `name` is computed on the saturating path: NAME for the twin
    NAME~saturating (a VNNI runner's), NAME~exact for a plain NAME whose exact twin is among the
    session's `twins` (an AVX2 runner's, whose plain row saturates); None for every other row. The
    gap between a file's two paths is the saturating path's, whichever row holds it."""
    inner, path = split_integer_path(name)
    if path == "saturating":
        return inner
    if path is None and with_integer_path(name, "exact") in twins:
        return with_integer_path(name, "exact")
    return None


def known_backends() -> tuple[str, ...]:
    """The registered backend names (a test may register more)."""
    return tuple(BACKENDS)


def is_backend_name(name: str) -> bool:
    """Whether `name` is a registered backend or a prebuilt-file spec, either maybe with an integer
    path (`onnx-int8~saturating`), without building anything."""
    return split_integer_path(name)[0] in BACKENDS or prebuilt_file(name) is not None


def packages_of(names: Iterable[str]) -> tuple[str, ...]:
    """The libraries the named backends depend on, each once, in order."""
    return tuple(dict.fromkeys(p for name in names for p in parse_backend(name).packages))


def providers_of(names: Iterable[str], device: Device) -> tuple[str, ...]:
    """The execution providers the named backends run on for `device`, each once."""
    return tuple(dict.fromkeys(p for name in names for p in parse_backend(name).providers(device)))


def parse_backend(name: str) -> Backend:
    """A registered name, or `onnx:PATH[@fp32|@fp16|@int8]` -> a Backend."""
    name = name.strip()
    if name in BACKENDS:
        return BACKENDS[name]()
    inner, integer_path = split_integer_path(name)
    if integer_path is not None:
        if parse_backend(inner).number_format != "int8" or not inner.startswith("onnx"):
            raise GateError(f"{name!r}: only INT8 ONNX backends have an integer path (~exact, ~saturating); "
                            f"{inner!r} is not one")
        return lazy("path_backend", "IntegerPathBackend", inner=inner, path=integer_path)()
    if (parts := prebuilt_file(name)) is not None:
        path, precision = parts
        return lazy("onnx_backend", "PrebuiltOnnxBackend", path=Path(path).expanduser(), precision=precision,
                    spec=name[len(PREBUILT_PREFIX):])()
    close = difflib.get_close_matches(name, list(BACKENDS), n=1, cutoff=0.75)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    plain = ", ".join(b for b in BACKENDS if b not in RECIPES)
    raise GateError(
        f"unknown backend {name!r}.{hint} Known backends: {plain}, "
        f"the export search's recipes ({', '.join(RECIPES)}), "
        "or onnx:PATH for a prebuilt ONNX file (e.g. onnx:model_quantized.onnx; PATH may be relative "
        "to the model directory, and @fp32, @fp16 or @int8 after it sets the precision it is judged by)."
    )


def split_precision(spec: str) -> tuple[str, Precision | None]:
    """`onnx/model.onnx@int8` -> ("onnx/model.onnx", "int8"); no suffix -> (spec, None).

    Only a precision-like suffix is taken off: `v@2/model.onnx` stays a path."""
    head, sep, tail = spec.rpartition("@")
    if not sep or not head:
        return spec, None
    for precision in PRECISIONS:
        if tail.lower() == precision:
            return head, precision
    if re.fullmatch(r"(?:fp|int|uint|bf|float|q|w)\d+", tail.lower()):
        raise GateError(
            f"unknown precision {tail!r} in backend 'onnx:{spec}': write onnx:{head}@fp32, @fp16 or @int8, "
            "or leave the suffix out to infer the precision from the file's graph."
        )
    return spec, None


def prebuilt_file(name: str) -> tuple[str, Precision | None] | None:
    """A prebuilt backend's file and precision: `onnx:DIR/model.onnx@int8` (an integer path after it
    or not) -> ("DIR/model.onnx", "int8"); None for a name that is not of a prebuilt file."""
    inner = split_integer_path(name.strip())[0]
    if not inner.startswith(PREBUILT_PREFIX) or len(inner) == len(PREBUILT_PREFIX):
        return None
    return split_precision(inner[len(PREBUILT_PREFIX):])


def with_prebuilt_file(name: str, where: Callable[[str], str]) -> str:
    """`name` with its `onnx:` file's path replaced by `where(path)`, its precision and integer path
    kept; any other name as it is."""
    inner, integer_path = split_integer_path(name.strip())
    parts = prebuilt_file(inner)
    if parts is None:
        return name
    path, precision = parts
    renamed = PREBUILT_PREFIX + where(path) + (f"@{precision}" if precision else "")
    return with_integer_path(renamed, integer_path) if integer_path else renamed


def check_prebuilt_files(backends: Iterable[str], model: str, cwd: Path | None = None) -> list[Path]:
    """The files of the `onnx:PATH` backends, or a GateError naming the first whose file is not there,
    when the model is a local directory (a file is looked for beside it too, and in `cwd`, default the
    working directory): said once at the start, not as an error of each of its tests (walk AA: 28 of
    them). A built-in model's directory exists only once built: [] then."""
    if not Path(model).expanduser().is_dir():
        return []
    return [resolve_onnx_path(Path(parts[0]).expanduser(), Path(model).expanduser(), cwd)[0]
            for name in backends if (parts := prebuilt_file(name)) is not None]
