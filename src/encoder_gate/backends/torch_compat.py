"""torch.compile across the window: what a transformers release calls on torch that an older torch
lacks, given; torch's warnings about itself around a compile (:func:`quiet_inductor_import`); the
model's float constants taken as constants while it traces (:func:`constant_floats`); and a
compile's failure, said with its real cause (:func:`compile_failure`).

transformers 5 (5.24.0 at least) calls `torch.compiler.is_exporting()` in its attention-mask code
(`masking_utils`, through `utils.import_utils.is_torchdynamo_exporting`), inside a try/except that
answers False in eager mode. `torch.compiler.is_exporting` came in torch 2.7; torch 2.6's dynamo,
tracing that call while it compiles, fails instead (`InternalTorchDynamoError: AttributeError: module
'torch.compiler' has no attribute 'is_exporting'`). transformers 5.24 requires torch>=2.6, so a stack
of both installs, and every torch-compile test of it failed (AMD EPYC, AVX2, 2026-11-29).

It is given here as a function that answers False: what `is_exporting()` answers from torch 2.7 on
everywhere but inside torch.export (the gate calls torch.compile on this path, never torch.export).
Under torch.compile, torch 2.13's dynamo traces its own as False, torch 2.9's as a constant True
(checked; transformers' note on pytorch#176499): either way transformers' mask code keeps the mask,
as the padding mask is a traced tensor there. With it, torch 2.6 compiles that model: the same outputs
as eager, 2.4e-07 apart (tiny, AMD EPYC, 2026-11-29).

    give_missing(progress)   # before torch.compile; says once a process what it gave
"""

from __future__ import annotations

import contextlib
import re
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from encoder_gate.cache import installed_version
from encoder_gate.errors import innermost, root_cause
from encoder_gate.models.spec import quiet_torch_self_deprecations


def give_missing(progress: Callable[[str], None]) -> None:
    """Give torch what the installed transformers calls and this torch lacks (see the module), saying
    so once a process; nothing where torch has it."""
    import torch

    if hasattr(torch.compiler, "is_exporting"):
        return
    import transformers

    setattr(torch.compiler, "is_exporting", not_exporting)  # noqa: B010 (torch's stubs)
    progress(f"torch-compile: torch {torch.__version__} has no torch.compiler.is_exporting (torch 2.7 "
             f"added it), which transformers {transformers.__version__} calls while it compiles: given, "
             "answering False, as later torch answers under torch.compile")


def not_exporting() -> bool:
    """torch.compiler.is_exporting where torch lacks it: no torch.export is running (see the module)."""
    return False


def compile_failure(name: str, exc: BaseException,
                    where: str = "at the model's first call, where it compiles") -> str:
    """One line for a torch.compile that failed `where` (its first call; or a later one, where dynamo
    compiled again for new shapes), naming its real cause: dynamo wraps what inductor raised
    (BackendCompilerFailed's first line is only `backend='inductor' raised:`), so the innermost
    exception is named, with the versions that decide it and the fix where it is known."""
    root = innermost(exc)
    stack = ", ".join(f"{package} {found}" for package in ("torch", "transformers")
                      if (found := installed_version(package)))
    line = f"{name}: torch.compile failed {where} ({root_cause(root)}; {stack})"
    if isinstance(root, ModuleNotFoundError) and root.name == "setuptools":
        return (f"{line}. inductor builds its C++ kernels with setuptools, which this environment lacks "
                "(uv's virtual environments have none): `pip install setuptools`, or leave torch-compile "
                "out of `backends`")
    return (f"{line}. torch and transformers decide what compiles: a newer torch may (torch 2.6's "
            "inductor failed on a DeBERTa-v2's one-text batch, 2.8 and 2.12 compile it), or leave "
            "torch-compile out of `backends` until they agree, or report it to PyTorch")


@contextlib.contextmanager
def quiet_inductor_import() -> Iterator[None]:
    """torch's warnings about itself inside the block (torch.compile's import and first call): each is a
    warning, never an error, under a project's `filterwarnings = ["error"]` (torch 2.6's own "Skipping
    serialization of skipfiles_inline_module_allowlist value {}", from its cache key, failed every
    torch-compile test there); two are ignored, as nothing the user wrote causes them and nothing they
    can do about them: its deprecations of its own `torch.jit.script` and `script_method`
    (:func:`~encoder_gate.models.spec.quiet_torch_self_deprecations`) and that one. Also around the
    model's load (:func:`~encoder_gate.backends.torch_backend.load_torch_model`), where transformers'
    model code may be imported first."""
    with warnings.catch_warnings():
        warnings.filterwarnings("default", module=r"torch(\.|$)")
        TORCH_CACHE_KEY_NOISE.ignore()
        with quiet_torch_self_deprecations():
            yield


@contextlib.contextmanager
def constant_floats() -> Iterator[None]:
    """Dynamo traces the model's Python floats as constants inside the block (its
    `specialize_float`, on every torch of the window that has it; nothing where one has not).

    By default dynamo makes each float it meets a symbolic input (dropout's p, LayerNorm's eps,
    attention's scaling, F.embedding's norm_type), to turn it into a tensor after tracing; a float it
    cannot (norm_type, an argument of an operator's own) then ends the trace, which starts again with
    those floats specialized ("Restarting analysis due to fx/passes/_tensorify_python_scalars.py", in
    TORCH_LOGS=dynamo), and every model of the four families has such a float. So every first call traced
    the model twice, and the AOT autograd pass of the first trace missed its cache in every session that
    loaded its compile artifacts. A model's floats are the same in every call, so the graph specialized at
    the start is the one the restart ended with: the same outputs, bit for bit (the default model, batches
    of 1 to 8 and of 512 tokens), in 31.9 s of its first call against 42.4 s cold, and 7.0 s against 17.8
    s from the cache (torch 2.13, one thread, AVX2-only AMD EPYC, 2026-11-30; docs/development.md, "CI
    with three stacks: its time", for tiny and 125M weights). The compile artifacts a session saved before
    it load and hit (checked: the same AOT autograd entry), so COMPILE_RECIPE stays. Dynamo reads it when
    it traces: around a compiled model's first call, and around calls after a change that makes it trace
    again (a thread count). Not around every call: the patch costs about 50 us, a share of a small model's
    one-text batch."""
    import torch

    config = torch._dynamo.config
    if not hasattr(config, "specialize_float"):
        yield
        return
    with config.patch(specialize_float=True):
        yield


#: The first torch whose dynamo keeps a batch dimension marked unbacked in one graph through
#: transformers 4's attention (its SDPA call with a 4-D padding mask). Before it, dynamo could not decide
#: that mask's broadcast (`Could not guard on data-dependent expression Eq(u1, 1)`) and broke the graph
#: there in every layer: tiny RoBERTa on transformers 4.47 compiled into 3 to 6 graphs on torch 2.6, 2.8,
#: 2.10 and 2.12, and one on 2.13 (the batch sizes tied, :func:`tied_batch`; AMD EPYC Zen 5, 2026-11-30).
UNBACKED_BATCH_TORCH = (2, 13)


def unbacked_batch(torch: Any) -> Callable[..., Any] | None:
    """dynamo's `mark_unbacked` where this torch keeps an unbacked batch dimension in one graph (from
    UNBACKED_BATCH_TORCH on), else None: there the batch stays a plain dynamic size, which dynamo
    specializes at 1 (a second whole graph at the first one-text batch) rather than breaking the model
    into pieces that Python joins at every call, as a user's own `torch.compile(model, dynamic=True)`
    on that torch compiles it."""
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(str(torch.__version__)).release[:2]
    except InvalidVersion:
        return None
    if release < UNBACKED_BATCH_TORCH:
        return None
    decorators = getattr(torch._dynamo, "decorators", None)
    return getattr(decorators, "mark_unbacked", None)


def compile_target(torch: Any, model: Any, dynamic: bool,
                   ) -> tuple[Any, Callable[[Mapping[str, Any]], None] | None]:
    """What a compiled runner hands torch.compile, and how it marks each call's inputs before the call:
    with dynamic shapes on a torch that keeps an unbacked batch in one graph (:func:`unbacked_batch`),
    the model with its inputs' batch sizes tied (:func:`tied_batch`) and a marker of every input's batch
    dimension; otherwise the model itself, its inputs unmarked (None)."""
    mark = unbacked_batch(torch) if dynamic else None
    if mark is None:
        return model, None

    def mark_batch(inputs: Mapping[str, Any]) -> None:
        for tensor in inputs.values():
            mark(tensor, 0)

    return tied_batch(model), mark_batch


#: tied_batch's code object per model class (dynamo's compiled graphs are kept per code object).
_TIED_CODE: dict[type, types.CodeType] = {}


def tied_batch(model: Any) -> Callable[..., Any]:
    """`model` called with its keyword inputs, each input's batch size asserted equal to the first's
    (`torch._check`). Marked unbacked one by one, the inputs' batch sizes are unrelated symbols to
    dynamo (u0, u1), and transformers 4's attention, which adds the padding mask to the scores, asks
    whether they are equal: dynamo cannot tell, and broke the graph there in every layer (tiny RoBERTa
    on transformers 4.57 and torch 2.13: three graphs, and two more compiled at the first one-text
    batch). Tied, they are one symbol: one graph for every batch, the same outputs.

    Each model class gets a code object of its own for this function, as a model compiled directly
    has its class's `forward`: dynamo keeps its compiled graphs per code object, at most
    `recompile_limit` (8) of them, and runs the code eagerly after. One code object for every class
    took eight graphs (four models' classes at two thread counts) and ran every later model eagerly,
    where each class's own compiled its own (torch 2.13)."""
    import torch

    def forward(**inputs: Any) -> Any:
        sizes = [tensor.size(0) for tensor in inputs.values()]
        for size in sizes[1:]:
            torch._check(size == sizes[0])
        return model(**inputs)

    code = _TIED_CODE.setdefault(type(model), forward.__code__.replace(
        co_name=f"tied_batch_{type(model).__name__}"))
    return types.FunctionType(code, forward.__globals__, code.co_name, None, forward.__closure__)


class WarningNoise(NamedTuple):
    """A UserWarning a library raises about itself, to ignore: how its message starts, and its module
    (both as written, not regexes)."""

    message: str
    module: str

    def ignore(self) -> None:
        """Ignore it in the innermost warnings context."""
        warnings.filterwarnings("ignore", message=re.escape(self.message), category=UserWarning,
                                module=re.escape(self.module) + r"\Z")

    def pytest_filter(self) -> str:
        """As a filter of pytest's command line (`-W`), which escapes both parts."""
        return f"ignore:{self.message}:UserWarning:{self.module}"


#: torch 2.6's warning at each compile (its FX graph cache key), also where a later call compiles again
#: (another shape): ignored inside the first call's block above, and in every test of a gate session by
#: a filter the plugin adds after the command line's (pytest applies those after the project's
#: `filterwarnings`, so it holds under an `error` in either; a wrapper on every call of the compiled
#: model cost 14% of tiny's and 4.5% of the default model's batch of one)
TORCH_CACHE_KEY_NOISE = WarningNoise("Skipping serialization of ", "torch.utils._config_module")


class CompileCounts(NamedTuple):
    """What torch.compile did in this process so far, by dynamo's counters: inductor's FX graph cache
    hits and misses, the graphs dynamo compiled, and its graph breaks by reason."""

    hits: int
    misses: int
    graphs: int
    breaks: dict[str, int]

    def since(self, before: CompileCounts) -> CompileCounts:
        """What was done after `before` (a compile's own, where nothing else compiled meanwhile)."""
        return CompileCounts(self.hits - before.hits, self.misses - before.misses,
                             self.graphs - before.graphs,
                             {k: n - before.breaks.get(k, 0) for k, n in self.breaks.items()
                              if n > before.breaks.get(k, 0)})


def compile_counts() -> CompileCounts:
    """CompileCounts of this process so far (none where dynamo's private counters are not there)."""
    try:
        from torch._dynamo.utils import counters

        return CompileCounts(int(counters["inductor"]["fxgraph_cache_hit"]),
                             int(counters["inductor"]["fxgraph_cache_miss"]),
                             int(counters["stats"]["unique_graphs"]), dict(counters["graph_break"]))
    except Exception:  # private counters: their absence must not break a compile
        return CompileCounts(0, 0, 0, {})


def graphs_note(compiled: CompileCounts) -> str | None:
    """A compile's note where dynamo split the model into more than one graph, else None: Python runs
    between the graphs at every call, and a batch of a new shape may compile a part of it again (tiny
    RoBERTa on torch 2.6 and transformers 4.47, its batch marked unbacked before UNBACKED_BATCH_TORCH:
    three graphs, two graph breaks at scaled_dot_product_attention, its 1,200 texts' predictions 5.3 s
    against eager's 0.5 s)."""
    if compiled.graphs <= 1:
        return None
    said = f"compiled into {compiled.graphs} graphs, not one"
    if compiled.breaks:
        first = next(iter(compiled.breaks)).strip().splitlines()[0][:160]
        said += f": {sum(compiled.breaks.values())} graph break(s), the first: {first}"
    return (f"{said}; Python runs between them at every call, and a batch of a new shape may compile a "
            "part again (TORCH_LOGS=graph_breaks says where; a newer torch or transformers may compile "
            "the model whole)")
