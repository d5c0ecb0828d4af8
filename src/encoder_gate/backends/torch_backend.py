"""PyTorch backends: eager FP32 (the reference) and torch.compile."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoder_gate.backends.base import (
    EAGER_WORK,
    Batch,
    BuildContext,
    Device,
    NumberFormat,
    Work,
    dummy_batch,
)
from encoder_gate.backends.compile_artifacts import CompileArtifacts, compile_artifacts_missing
from encoder_gate.backends.inductor_dir import (
    INDUCTOR_DIR_ENV,
    compile_hardware,
    keep_temp_dir_shell_safe,
    shell_safe,
    shell_safe_place,
    user_inductor_dir,
)
from encoder_gate.backends.torch_compat import (
    CompileCounts,
    compile_counts,
    compile_failure,
    compile_target,
    constant_floats,
    give_missing,
    graphs_note,
    quiet_inductor_import,
)
from encoder_gate.cache import ArtifactCache, key_of, toolchain_versions
from encoder_gate.environment import nvidia_smi, quota_threads
from encoder_gate.errors import DeviceUnavailable, GateError, root_cause
from encoder_gate.models.loading import load_pretrained
from encoder_gate.models.spec import ModelSpec, weights_mismatch

#: The libraries whose versions decide a torch backend's outputs and compiled artifacts.
TORCH_PACKAGES = ("torch", "transformers", "tokenizers")


_LIBRARY_DEFAULT_THREADS: list[int] = []  # default_threads, once read


def default_threads() -> int:
    """torch's intra-op threads for a count of 0: its own default before encoder-gate first set it
    (OMP_NUM_THREADS, or its count of cores), held to a CPU quota's whole cores where one binds
    (environment.quota_threads: a container's quota is CPU time, and torch counts the host's cores)."""
    import torch

    if not _LIBRARY_DEFAULT_THREADS:
        own, held = torch.get_num_threads(), quota_threads()
        _LIBRARY_DEFAULT_THREADS.append(min(own, held) if held else own)
    return _LIBRARY_DEFAULT_THREADS[0]


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads to `threads` (0: torch's own default, see above)."""
    import torch

    torch.set_num_threads(threads or default_threads())


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch at `threads` intra-op threads inside the block (0: its own default), and at the count
    it had before after it."""
    import torch

    before = torch.get_num_threads()
    set_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def require_device(device: str) -> None:
    """Raise a GateError naming the fix when `device` is not usable by torch."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device 'cuda' was asked for but torch sees no CUDA GPU: {why_no_cuda()}")


def why_no_cuda() -> str:
    """Why torch sees no CUDA GPU, with the fix: a CPU build of torch; no NVIDIA driver (no nvidia-smi);
    or a driver whose newest CUDA (nvidia-smi's "CUDA Version") is of an older major version than torch
    was built for, which hides the GPU from it (PyPI's torch 2.15 is built for CUDA 13: a runner whose
    driver supports CUDA 12 at most shows no GPU at all); else the GPU is hidden from this process."""
    import torch

    built = torch.version.cuda
    if not built:
        return (f"torch {torch.__version__} is a CPU build. Install torch's CUDA build on the GPU machine "
                "(PyPI's torch is one on Linux), or use --gate-device cpu.")
    head = f"torch {torch.__version__} is built for CUDA {built}"
    smi = nvidia_smi()
    if smi is None:
        return (f"{head}, and this machine has no NVIDIA driver (no nvidia-smi). Run on a GPU machine, or "
                "use --gate-device cpu.")
    if smi.driver is None or smi.cuda is None:
        return (f"{head}, and nvidia-smi names no driver ({smi.text.strip()[:120] or 'no output'}): check "
                "that the GPU is visible to this machine (a container needs it passed in), or use "
                "--gate-device cpu.")
    line = f"{head}; the NVIDIA driver here is {smi.driver}, whose newest CUDA is {smi.cuda}"
    newest_major = smi.cuda.split(".")[0]
    if int(newest_major) < int(built.split(".")[0]):
        return (f"{line}: a driver older than the CUDA torch was built for hides the GPU from it. Update "
                "the driver, or install the builds of torch and onnxruntime-gpu for CUDA "
                f"{newest_major}, or use --gate-device cpu.")
    return (f"{line}, so the driver is not the cause: the GPU is hidden from this process "
            "(CUDA_VISIBLE_DEVICES, a container's GPU access?), or use --gate-device cpu.")


#: The models loaded by :func:`load_torch_model` that a runner still holds, by what they were
#: loaded from: torch eager and torch.compile of one model share one copy of its weights.
_LOADED: weakref.WeakValueDictionary[tuple[str, str, str, bool], Any] = weakref.WeakValueDictionary()


def load_torch_model(ctx: BuildContext) -> Any:
    """The model directory loaded with from_pretrained, in eval mode on ctx.device: the same module
    while a runner holds it (torch eager's and torch.compile's runners read the same weights, which
    torch.compile leaves as they are; a 125M model's second copy was 0.5 GB in every session that
    holds both runners, a PR's that times them against its base)."""
    classifier = bool(ctx.model.task.classifier)
    key = (str(Path(ctx.model.path).resolve()), ctx.model.content_hash, ctx.device, classifier)
    model = _LOADED.get(key)
    if model is not None:
        return model
    from safetensors import SafetensorError

    try:
        with quiet_inductor_import():  # torch's warnings of itself, from transformers' model code
            model = load_pretrained(ctx.model.path, classifier)
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: a weights file that is none
        raise GateError(f"could not load the torch model from {ctx.model.path}: {exc}; if a weights file is "
                        "damaged, save the model again with save_pretrained()") from None
    except RuntimeError:  # transformers' "ignore_mismatched_sizes", its report only in the log
        if not (wrong := weights_mismatch(Path(ctx.model.path), classifier)):
            raise
        raise GateError(f"the weights in {ctx.model.path} do not fit its config.json: {wrong}. Save the "
                        "model again with save_pretrained(), or restore the config.json it was saved "
                        "with") from None
    model = model.to(ctx.device)
    _LOADED[key] = model
    return model


def tokenizer_input_names(path: Path) -> tuple[str, ...] | None:
    """The inputs the model directory's tokenizer returns (None if it cannot be loaded)."""
    from transformers import AutoTokenizer

    try:
        return tuple(AutoTokenizer.from_pretrained(path).model_input_names)
    except (OSError, ValueError):
        return None


class TorchRunner:
    """Runs a transformers model under torch.inference_mode.

    The model is loaded at the first call, unless the build loaded it (handed over as `model`): a
    session that reads every output of this model from the cache (an unchanged PR) never imports
    transformers' model code or reads the weights (a cached session of tiny's five backends took 5.9 s
    against 7.3 s, AMD EPYC Zen 5). Its size comes from the build (`size_bytes`, torch_facts). That
    first call's load is `first_call_seconds`, which the session counts as the build's (base.Runner)."""

    def __init__(self, ctx: BuildContext, name: str, from_cache: bool | None, size_bytes: int,
                 model: Any = None) -> None:
        import torch

        self.name = name
        self.precision = "fp32"
        self.notes: tuple[str, ...] = ()
        self.from_cache = from_cache
        self.size_bytes = size_bytes
        self._load_seconds: float | None = None if model is None else 0.0  # (the build's load: not counted)
        self._torch = torch
        self._model = model
        self._closed = False
        self._ctx = ctx
        self._task = ctx.model.task
        self._device = ctx.device
        self._spec = ctx.model

    @property
    def model(self) -> Any:
        """The eager model, loaded at its first use (its inputs' names, a call)."""
        if self._model is None:
            if self._closed:
                raise GateError(f"{self.name}: called after its runner was closed")
            started = time.monotonic()
            try:
                self._model = load_torch_model(self._ctx)
            except Exception as exc:  # a library's failure (a GPU out of memory): as a build's is said
                if isinstance(exc, GateError):
                    raise
                raise GateError(f"{self.name} could not load its model: {root_cause(exc)}") from exc
            self._load_seconds = time.monotonic() - started
        return self._model

    @property
    def first_call_seconds(self) -> float | None:
        """What loading the model took where its first use loaded it (0.0 where the build did; None
        until it is used): the build's part of that call (base.Runner)."""
        return self._load_seconds

    @property
    def loaded(self) -> bool:
        """Whether it holds its model (base.runner_loaded)."""
        return self._model is not None

    def _module(self) -> Any:
        """What a call runs: the model itself, eager."""
        return self.model

    @functools.cached_property
    def input_names(self) -> tuple[str, ...]:
        """The inputs the model's forward takes, of those a tokenizer gives."""
        forward = getattr(self.model, "_orig_mod", self.model).forward
        return tuple(n for n in ("input_ids", "attention_mask", "token_type_ids")
                     if n in inspect.signature(forward).parameters)

    @functools.cached_property
    def warmup_names(self) -> tuple[str, ...]:
        """What the tokenizer actually feeds: RoBERTa's forward takes token_type_ids but its tokenizer
        gives none, and a warm-up batch with them would leave torch.compile one more graph to compile
        at the first real batch."""
        fed = tokenizer_input_names(self._spec.path)
        return tuple(n for n in self.input_names if fed is None or n in fed)

    def predict(self, batch: Batch) -> np.ndarray:
        torch, model = self._torch, self._module()
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(np.ascontiguousarray(batch[k])).to(self._device)
                      for k in self.input_names if k in batch}
            self._mark(inputs)
            out = model(**inputs)
            raw = getattr(out, self._task.output_name)
            if self._device == "cuda":
                torch.cuda.synchronize()
            host = raw.float().cpu().numpy()
        return self._task.postprocess(host, batch.get("attention_mask"))

    def _mark(self, inputs: dict[str, Any]) -> None:
        """What a compiled runner tells torch.compile of its inputs' shapes (nothing, eager)."""

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        for bs, seq in shapes:
            self.predict(dummy_batch(bs, seq, self.warmup_names))

    def at_threads(self, threads: int) -> contextlib.AbstractContextManager[None]:
        """torch at `threads` intra-op threads inside the block (see base.at_threads)."""
        return torch_threads(threads)

    def prediction_identity(self) -> dict[str, object]:
        """The model directory is a torch backend's artifact."""
        return torch_identity(self._spec)

    def close(self) -> None:
        self._model, self._closed = None, True


#: Part of a torch model's facts' key (torch_facts): a change to what they hold, or how they are read.
FACTS_RECIPE = 1
FACTS_FILE = "facts.json"


def torch_facts(ctx: BuildContext) -> tuple[int, Any]:
    """(the model's parameter bytes, the model if it was loaded to read them, else None). Kept in
    the artifact cache under the model's files, the libraries that load it and its task's head
    (what from_pretrained makes of them): the first build of a model loads it, and its runner keeps
    that copy; a later session's build reads its size without loading it (ArtifactCache.described)."""
    key = {"recipe": FACTS_RECIPE, **torch_identity(ctx.model), "classifier": bool(ctx.model.task.classifier)}

    def size(model: Any) -> dict[str, Any]:
        return {"size_bytes": sum(p.numel() * p.element_size() for p in model.parameters())}

    facts, model = ctx.cache.described("torch-facts", key, lambda: load_torch_model(ctx), size, FACTS_FILE)
    return int(facts["size_bytes"]), model


def torch_identity(model: ModelSpec) -> dict[str, object]:
    """A torch runner's prediction identity: the model's files, torch's version, and that a
    checkpoint saved in another dtype was loaded as float32 (ModelSpec.float32_key)."""
    return {"artifact": f"model:{model.content_hash}", "versions": toolchain_versions(TORCH_PACKAGES),
            **model.float32_key}


@dataclass(frozen=True)
class TorchBackend:
    """`torch`: eager FP32, the reference every other backend is compared with."""

    name: str = "torch"
    number_format: NumberFormat = "reference"
    packages: tuple[str, ...] = TORCH_PACKAGES
    work: ClassVar[Work] = EAGER_WORK  # 0.90x / 0.93x the matmul probe's rate (22.7M / 125M weights)

    def providers(self, device: Device) -> tuple[str, ...]:
        return ()  # torch names no providers: its device and threads are in the fingerprint

    def artifact_identity(self, ctx: BuildContext) -> dict[str, object]:
        """What its runner's prediction_identity() will be, without loading the model."""
        return torch_identity(ctx.model)

    def build(self, ctx: BuildContext) -> TorchRunner:
        require_device(ctx.device)
        if ctx.threads:
            set_threads(ctx.threads)
        # nothing to build: the model directory is loaded as it is (from_cache None: neither built nor
        # cached), at the first call where its size is known without it (torch_facts)
        size, model = torch_facts(ctx)
        return TorchRunner(ctx, self.name, from_cache=None, size_bytes=size, model=model)


@dataclass(frozen=True)
class TorchCompileBackend:
    """`torch-compile`: torch.compile with dynamic shapes (inductor on CPU and CUDA).

    Compilation happens lazily on the first call; `warmup` runs every shape that will
    be timed so no recompilation lands inside a measurement. torch's portable compile
    artifacts are kept in the artifact cache (see CompileArtifacts): a session that finds
    them loads them before compiling and reports `from cache`; one that does not saves
    what it compiled when the runner is closed.
    """

    name: str = "torch-compile"
    mode: str | None = None
    dynamic: bool = True
    number_format: NumberFormat = "fp32"
    packages: tuple[str, ...] = TORCH_PACKAGES
    #: 0.94x / 1.03x the probe's rate; its compile 13.1 s / 21.2 s (22.7M / 125M weights), traced
    #: twice then: with the model traced once (torch_compat.constant_floats) its first call took 0.75x
    #: / 0.72x as long (31.9 s against 42.4 s, 49.8 s against 69.4 s, cold, one thread, AVX2-only EPYC,
    #: 2026-11-30), so 9.9 s / 15.2 s here (the ratio, not measured on the Zen 5). Without AVX-512 its
    #: pass took 0.91x / 1.24x torch eager's in the same session, 1.07x in the mean, as on the Zen 5
    #: (1.04x / 1.11x): no speed of its own there
    work: ClassVar[Work] = Work(speed=0.98, build_seconds=8.7, build_per_mweight=0.052, build="compile")

    def providers(self, device: Device) -> tuple[str, ...]:
        return ()

    def artifact_identity(self, ctx: BuildContext) -> dict[str, object]:
        """What its runner's prediction_identity() will be, without loading the model."""
        return torch_identity(ctx.model)

    def build(self, ctx: BuildContext) -> TorchRunner:
        require_device(ctx.device)
        if ctx.threads:
            set_threads(ctx.threads)
        key = compile_key(ctx, self.mode, self.dynamic)
        place_inductor_cache(ctx)
        give_missing(ctx.progress)
        store = CompileArtifacts(ctx.cache, key, self.name, ctx.progress)
        size, model = torch_facts(ctx)
        # compiled at its first call: a session reading every output from the cache never compiles
        return CompiledTorchRunner(ctx, self.name, store, size, model=model, mode=self.mode,
                                   dynamic=self.dynamic)


COMPILE_RECIPE = 3  # bump when TorchCompileBackend's compile call or CompileArtifacts' layout changes
#: The inductor entry's own layout version (inductor_entry): apart from COMPILE_RECIPE, as inductor keys
#: each graph and kernel it keeps itself, so a changed compile call finds the kernels built before it.
INDUCTOR_RECIPE = 2

#: What inductor's on-disk cache is kept per: torch alone. Inductor keys what it keeps itself (an FX
#: graph by the graph, torch's version and its configuration; a C++ kernel by its source and compile
#: command), so the stacks of one torch share one directory, transformers' version as any other: a
#: compile of tiny on transformers 4.57 found the kernels transformers 5's had built, 9 s of CPU
#: instead of 18 (torch 2.13, AMD EPYC Zen 5), as a PR that upgrades transformers does its base's.
INDUCTOR_PACKAGES = ("torch",)


def inductor_entry(ctx: BuildContext) -> Path:
    """The artifact cache's entry for inductor's on-disk cache on this machine (place_inductor_cache)."""
    return ctx.cache.entry_dir("inductor", {"recipe": INDUCTOR_RECIPE, "device": ctx.device,
                                            "hardware": compile_hardware(ctx.device),
                                            "versions": toolchain_versions(INDUCTOR_PACKAGES)})


def place_inductor_cache(ctx: BuildContext) -> Path | None:
    """Point inductor's on-disk cache (TORCHINDUCTOR_CACHE_DIR) at an entry of the artifact cache,
    `inductor-<key>`, keyed on the vector ISA inductor compiles for, the CPU capability ATen runs,
    the device and torch's version (INDUCTOR_PACKAGES): the C++ kernels it compiles land in the
    cache CI saves, which the portable compile artifacts (CompileArtifacts) leave out on CPU. A
    runner that restores it compiles nothing (the reference model's first call 9.9 s, against
    19.4 s from the portable artifacts alone and 28.1 s from nothing), and a CPU of another kind
    gets a directory of its own.
    Stamped as used each time (encoder_gate.cache.prune). A TORCHINDUCTOR_CACHE_DIR the user set
    (user_inductor_dir) is left as it is: returns None. (torch's default directory is shared by
    every process of the machine's user: a session masked to AVX2 by .ci/avx2-only that compiled
    into the one an unmasked session had filled died in a kernel, "index out of bounds".) A cache
    whose path has a space or a quote is reached through a link without (inductor_dir.shell_safe_place),
    and a temporary directory of that kind is replaced for the process (keep_temp_dir_shell_safe)."""
    keep_temp_dir_shell_safe(ctx.progress)
    if (users := user_inductor_dir()) is not None:
        if not shell_safe(users):
            ctx.progress(f"torch-compile: inductor's C++ build cannot take {INDUCTOR_DIR_ENV}={users} (a "
                         "space or a quote in its path): its compile will fail; unset it or name another")
        return None
    place = inductor_entry(ctx)
    place.mkdir(parents=True, exist_ok=True)
    ctx.cache.use(place)
    where = shell_safe_place(place)
    if where is None:  # no safe path to it: torch's own directory, said
        ctx.progress(f"torch-compile: inductor's C++ build cannot take the path {place.parent}: it "
                     "compiles into torch's own directory (/tmp/torchinductor_<user>), not the cache's")
        return None
    if os.environ.get(INDUCTOR_DIR_ENV) != str(where):
        os.environ[INDUCTOR_DIR_ENV] = str(where)
        # paths inductor memoized for the previous directory, where it was imported (its import is
        # a second of a session that never compiles)
        with contextlib.suppress(Exception):
            if "torch._inductor" in sys.modules:
                from torch._inductor.utils import clear_caches

                clear_caches()
    return place


#: config.json keys that name or date a model without shaping its graph: two fine-tunings of one
#: architecture compile to the same graphs (label names aside, their count is kept).
NOT_GRAPH_KEYS = frozenset({"_name_or_path", "transformers_version", "id2label", "label2id"})


def graph_hash(model: ModelSpec) -> str:
    """What decides the graphs torch.compile traces from a model: its config.json without names and
    versions (NOT_GRAPH_KEYS), with its task and label count; not its weights (inductor's graphs
    take them as inputs), so a retrained model shares its base's compile artifacts. A config.json
    that cannot be read falls back to the model's content hash."""
    try:
        config = json.loads((model.path / "config.json").read_text())
    except (OSError, ValueError):
        return model.content_hash
    if not isinstance(config, dict):
        return model.content_hash
    shape = {k: v for k, v in config.items() if k not in NOT_GRAPH_KEYS}
    return key_of({"config": shape, "task": model.task, "labels": model.num_labels})


def compile_key(ctx: BuildContext, mode: str | None, dynamic: bool) -> dict[str, object]:
    """What decides torch.compile's artifacts: the model's graph (graph_hash, not its weights), the
    compile recipe, the device and hardware, the thread count and the toolchain versions. On the CPU
    inductor's kernels specialize on the thread count, and torch's own cache key holds it. On cuda
    too, each thread count has its entry: a GPU job's benchmark session (init's 1 thread) that
    loaded its accuracy session's compile (every core) under one key compiled again anyway on an
    H200 (torch 2.11, 30 s at 125M weights; why: `.ci/fx-cache-diff`), and a session that loaded
    its entry saves nothing, so every later benchmark session compiled again. With an entry of its
    own, its first session saves what it compiled and the later ones load it. Call it after the
    thread count is set."""
    import torch

    return {**_compile_parts(ctx.model, ctx.device, torch.get_num_threads()), "task": ctx.model.task,
            "mode": mode, "dynamic": dynamic, "hardware": compile_hardware(ctx.device)}


def _compile_parts(model: ModelSpec, device: str, threads: int) -> dict[str, object]:
    """The parts of :func:`compile_key` that the model's graph, the device, the thread count and this
    torch decide: what :func:`compile_entry_kept` looks up without a build context."""
    return {"recipe": COMPILE_RECIPE, "graph": graph_hash(model), "device": device, "threads": threads,
            "versions": toolchain_versions(TORCH_PACKAGES)}


def compile_entry_kept(cache: ArtifactCache, model: ModelSpec, device: str, threads: int) -> bool:
    """Whether the cache holds torch.compile's artifacts of this model's graph on `device` at
    `threads` (0: torch's default) for this torch, as :func:`compile_key` keys them; False where
    this torch saves none. A forecast's cheap look (:mod:`encoder_gate.speed.forecast`)."""
    if compile_artifacts_missing() is not None:
        return False
    return cache.holds("torch-compile", _compile_parts(model, device, threads or default_threads()))


#: The tokens of the two shapes CompiledTorchRunner._warm_up compiles first (before torch 2.13).
WARM_TOKENS = 8


class CompiledTorchRunner(TorchRunner):
    """A TorchRunner over a torch.compile'd model, compiled at its first call, that saves its
    compile artifacts on close.

    Compiling at the first call, not at the build: a session whose predictions, smoke test and
    padding properties of this model all come from the cache (an unchanged PR) calls it never,
    and pays no compile (22 s of an unchanged PR's 66 s at 125M weights, AVX2 kernels). Until then
    `from_cache` says whether its compile artifacts were found, and its note says it was not
    compiled; the first call settles both (`first_call_seconds`), and a failure there is a GateError
    naming the backend, raised again by every later call rather than compiling again.

    With dynamic shapes, the batch dimension is marked unbacked, every input's tied to the first's
    (torch_compat.tied_batch): dynamo otherwise specializes a size of 1 and compiles a second graph
    at the first one-text batch (the padding property's texts alone, the bs1 speed cells), 10 s on
    the default model and more at 125M weights. Checked on BERT, RoBERTa, ALBERT and DistilBERT:
    one graph, the same outputs. Before torch 2.13 an unbacked batch broke transformers 4's
    attention into pieces, so there it is left a plain dynamic size (torch_compat.unbacked_batch).

    `at_threads` (TorchRunner's) changes torch's thread count, and dynamo guards on it: the first
    call at another count compiles a second graph (inductor's CPU kernels hold their count), kept
    beside the first, so going back costs nothing. A timing session's evaluation predictions at
    2 threads instead of 1 pay that compile once and halve the pass: on the reference model
    (125M, 2 cores) the second graph cost 25 s with inductor's caches cold and 12 s warm, and
    60 texts took 4.8 s at 2 threads against 9.3 s at 1 (docs/development.md)."""

    def __init__(self, ctx: BuildContext, name: str, store: CompileArtifacts, size_bytes: int, *,
                 model: Any = None, mode: str | None = None, dynamic: bool = True) -> None:
        found = store.found()
        super().__init__(ctx, name, from_cache=found, size_bytes=size_bytes, model=model)
        self._store, self._found, self._save = store, found, True
        self._mode, self._dynamic = mode, dynamic
        self._compiled: Any = None  # torch.compile's module, made at the first call
        self._compile_seconds: float | None = None
        self._loaded_from: Path | None = None  # the entry its compile artifacts were loaded from
        self._failed: GateError | None = None
        # marks each call's inputs' batch dimension (torch_compat.compile_target), set at the compile
        self._mark_batch: Callable[[Mapping[str, Any]], None] | None = None
        self._progress = ctx.progress
        self.notes = (NOT_COMPILED,)

    @property
    def first_call_seconds(self) -> float | None:
        """Its first call's compile, and the model's load where that call (or its inputs' names
        before it) loaded it; None until it is called."""
        if self._compile_seconds is None:
            return None
        return self._compile_seconds + (self._load_seconds or 0.0)

    def _module(self) -> Any:
        return self._compiled

    def predict(self, batch: Batch) -> np.ndarray:
        if self._failed is not None:
            raise self._failed
        if self._compiled is not None:
            try:
                return super().predict(batch)
            except self._torch._dynamo.exc.TorchDynamoException as exc:
                # compiled again for this batch's shapes (before torch 2.13: its first one-text batch,
                # whose size dynamo specializes) and failed there: inductor's AssertionError 'buf18' on
                # DeBERTa-v2, torch 2.6, a traceback from inside it before (thirty-seventh session).
                # Every later call fails with the same line, not with a compile of its own
                shape = "x".join(str(n) for n in next(iter(batch.values())).shape)
                where = f"at a later call, where it compiled again for new shapes (inputs {shape})"
                self._failed = GateError(compile_failure(self.name, exc, where))
                raise self._failed from None
        model = self.model  # (a failure to load is said as such, not as the compile's)
        self._progress(f"{self.name}: compiling with inductor at its first call "
                       f"({'from cached compile artifacts' if self._found else 'slow the first time'})")
        before, started = compile_counts(), time.monotonic()
        try:
            with quiet_inductor_import(), constant_floats():
                if self._found and self._store.load():  # into torch's caches, before the compile
                    self._loaded_from = self._store.entry
                target, self._mark_batch = compile_target(self._torch, model, self._dynamic)
                self._compiled = self._torch.compile(target, dynamic=self._dynamic, mode=self._mode)
                warmed = self._warm_up(batch)
                out = super().predict(batch)
        except Exception as exc:  # whatever dynamo or inductor raise: one line naming the backend
            self._failed = GateError(compile_failure(self.name, exc))
            raise self._failed from None
        self._compile_seconds = time.monotonic() - started
        done = compile_counts().since(before)
        self._settle(done._replace(graphs=done.graphs - 1) if warmed else done)  # (its one-text graph)
        return out

    def _warm_up(self, batch: Batch) -> bool:
        """Before torch 2.13 (no unbacked batch: torch_compat.unbacked_batch), compile dynamo's two graphs,
        any batch's and the one-text batch's, on the same shapes in every session (2 texts, then 1, of
        WARM_TOKENS tokens): the second's cache key follows what was compiled before it, so a session
        that began with one text missed what one that began larger kept (torch 2.8: 12.6 s again)."""
        if not self._dynamic or self._mark_batch is not None or any(v.ndim != 2 for v in batch.values()):
            return False
        tokens = min(WARM_TOKENS, *(v.shape[1] for v in batch.values()))
        for texts in (2, 1):
            super().predict({k: np.resize(v[:1, :tokens], (texts, tokens)) for k, v in batch.items()})
        return True

    def _settle(self, done: CompileCounts) -> None:
        """from_cache and notes once the first call compiled (or found) its graphs (`done`: what that
        call did, by dynamo's counters)."""
        hits, misses = done.hits, done.misses
        # no graph at all: dynamo ran code this process had compiled for another model of the class (a
        # --gate-base side's, whose model differs in its weights alone), and consulted no cache: said as
        # caches disabled on every such PR before (thirty-seventh session)
        reused = not done.graphs and not hits and not misses
        self.from_cache = bool(self._loaded_from and (hits or reused) and not misses)
        if self._loaded_from and misses:  # loaded, yet inductor compiled: torch's cache key saw a difference
            self.notes = (f"compile artifacts loaded from {self._loaded_from}, but inductor compiled "
                          f"{misses} of {hits + misses} graph(s) anyway (torch's cache key differs: "
                          "inductor config, compiler or CPU?)",)
        elif self._loaded_from and not hits and not reused:
            self.notes = (f"compile artifacts loaded from {self._loaded_from}, but inductor's FX graph "
                          "cache was not consulted (caches disabled, e.g. "
                          "TORCHINDUCTOR_FORCE_DISABLE_CACHES?)",)
        else:
            self.notes = ()
        if (split := graphs_note(done)) is not None:
            self.notes = (*self.notes, split)

    @contextlib.contextmanager
    def at_threads(self, threads: int) -> Iterator[None]:
        """TorchRunner's, with the model's floats constant inside the block (constant_floats): dynamo
        guards on the thread count, so the first call at another count traces the model again. On
        cuda the count stays the session's (`threads`, which its compile key holds): the kernels run
        on the GPU at any count, and an accuracy session's evaluation at every core compiled graphs
        that a GPU job's benchmark session, at init's one thread, could not load (it compiled again:
        30 s at 125M weights on an H200; `.ci/gpu-check`'s FX-cache probe names the thread count)."""
        counted = contextlib.nullcontext() if self._device == "cuda" else torch_threads(threads)
        with counted, constant_floats():
            yield

    def leave_compile_artifacts(self) -> None:
        """Save nothing at close. For a helper process's runner (speed.workers: a worker, a memory
        probe): the first save of an entry is the only one, and a probe that closes before its
        session would leave its own graphs (compiled for its shapes) standing for the session's,
        which later sessions then load and miss. The session's runner saves what it compiled."""
        self._save = False

    def _mark(self, inputs: dict[str, Any]) -> None:
        if self._mark_batch is not None:
            self._mark_batch(inputs)

    def close(self) -> None:
        compiled, self._save = self._save and self._compile_seconds is not None, False
        try:
            if compiled and self._loaded_from is None:
                self._store.save()  # what it compiled, where none was loaded
        finally:
            self._compiled = None
            super().close()


#: A CompiledTorchRunner's note until its first call: what a session that never called it reports.
NOT_COMPILED = ("not compiled: no test in this session ran it (its predictions and checks were read "
                "from the cache)")
