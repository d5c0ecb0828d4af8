"""The backend protocol: build once, then `predict(batch) -> probabilities`.

    runner = parse_backend("onnx-int8").build(ctx)
    probs = runner.predict(tokenizer(texts, padding="longest", return_tensors="np"))
    runner.close()

A batch is a mapping of numpy arrays as a Hugging Face tokenizer returns them
(`input_ids`, `attention_mask`, optionally `token_type_ids`). `predict` returns float32
probabilities of shape (batch, labels): sigmoid for multi-label heads, softmax for
single-label heads, and mean-pooled embeddings for feature-extraction encoders. The
post-processing is the task's own (:meth:`encoder_gate.tasks.Task.postprocess`, numpy), so
backends differ only in how they compute logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.data.pairs import Text
    from encoder_gate.models.spec import ModelSpec

Device = Literal["cpu", "cuda"]
Batch = Mapping[str, np.ndarray]
#: The type of dynamic INT8's weights. QUInt8 (uint8 weights) makes every matrix product U8U8, which
#: x86 CPUs compute exactly with or without VNNI; QInt8 (int8) makes them U8S8, whose pair sums
#: saturate at int16 on x86 CPUs without VNNI (docs/checks.md, "INT8 on other CPUs").
Int8Weights = Literal["QInt8", "QUInt8"]


@dataclass(frozen=True)
class BuildContext:
    """Everything a backend needs to build its runner."""

    model: ModelSpec
    cache: ArtifactCache
    device: Device = "cpu"
    threads: int = 0  # 0: the library's default
    int8_per_channel: bool = True
    int8_reduce_range: bool = False
    int8_weights: Int8Weights = "QUInt8"
    opset: int = 18
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    # static INT8's calibration texts and where they come from, e.g. (texts, "bundled:validation"):
    # the export search passes the configured dataset's validation split; None: the bundled one
    calibration: Callable[[], tuple[Sequence[Text], str]] | None = None


@dataclass(frozen=True)
class Work:
    """What a backend costs a session, for the forecast said before a cold session starts
    (:mod:`encoder_gate.speed.forecast`). `speed`: its pass over the evaluation set, in matmul
    FLOPs a second, as a multiple of torch's float32 matmul rate on this machine at the same
    threads (a probe). `build_seconds` and `build_per_mweight`: its build (an export, a conversion,
    torch.compile's compile), fixed and per million weights, in seconds of this project's 2-core
    AMD EPYC Zen 5 (scaled by the interpreter's speed elsewhere); 0 for one with nothing to build.
    Measured on the default model (22.7M weights) and the reference repository (125M):
    docs/development.md, "A cold session's forecast". `speed_avx2`: its pass's speed on an x86
    CPU without AVX-512 (AVX2 only, as most hosted CI runners' AMD EPYCs are), where it differs:
    ONNX Runtime's FP32 and INT8 kernels gain far less over torch's there (its FP32 pass 1.1x to
    1.3x torch eager's, against 1.8x to 2.0x on the Zen 5); None: `speed`."""

    speed: float
    build_seconds: float = 0.0
    build_per_mweight: float = 0.0
    build: str = "build"  # what its build is called in the forecast ("compile")
    speed_avx2: float | None = None

    def build_time(self, weights: int) -> float:
        """Its build's seconds on the reference machine for a model of `weights` weights."""
        return self.build_seconds + self.build_per_mweight * weights / 1e6

    def speed_on(self, avx2_only: bool) -> float:
        """Its pass's speed against the matmul probe on a CPU with AVX-512, or (`avx2_only`) without."""
        return self.speed_avx2 if avx2_only and self.speed_avx2 is not None else self.speed

    def pass_only(self) -> Work:
        """The same pass, with nothing to build (a prebuilt file, a twin of another backend's file)."""
        return Work(speed=self.speed, speed_avx2=self.speed_avx2)


#: A backend that says nothing of its work (a recipe of the export search, a wrapper): computed as
#: fast as torch eager, nothing to build.
EAGER_WORK = Work(speed=0.92)


class Runner(Protocol):
    """A built backend. `predict` must be safe to call many times.

    A runner may also have `notes: tuple[str, ...]`, human-readable lines on how it runs
    (e.g. "output 'logits' used (of 2 outputs: logits, hidden)", "precision int8 inferred
    from the graph (MatMulInteger x18)"); the torch and ONNX runners always have it (empty
    when there is nothing to say). It is not a required member, so runners written elsewhere
    (wrappers, test doubles) stay Runners: read it with `runner_notes(runner)`.

    A runner whose outputs are decided by its artifact also has `prediction_identity() ->
    dict`: what it computes with (the artifact's digest, the versions of its backend's
    `packages`). Its predictions on the evaluation set are then cached under that identity
    (:mod:`encoder_gate.runtime.predictions`); a runner without it is always run. Its backend
    may then tell that identity before building it, `artifact_identity(ctx) -> dict`: a PR's
    unchanged backend then shares the base's runner instead of loading a second copy
    (:meth:`encoder_gate.runtime.base.BaseSide.shared_runner`).

    A runner that takes at most so many tokens per text (an ONNX file with a static sequence
    length) has `max_tokens: int`; its texts are then truncated to that length, as its owner
    runs it. Read it with `runner_max_tokens(runner)` (None: the tokenizer's own limit).

    A runner that builds part of itself at its first call (torch.compile compiles there; torch eager
    loads its model there, where its build did not) has `first_call_seconds: float | None`: what that
    first call spent building, None until it is made. Its
    `from_cache` and `notes` are settled by that call too; the session's record takes them when the
    runner is given back. Read it with `first_call_seconds(runner)`.

    A runner that loads its model or opens its session at its first call, not at its build, has
    `loaded: bool`, False until then (and after its close): a session that reads every output of it
    from the cache never loads it, and has no memory of it to give back. Read it with
    `runner_loaded(runner)` (True for a runner that does not say).

    A runner that can open its artifact again has `reopen() -> None`: afterwards it computes the
    same outputs from a fresh copy elsewhere in memory. Where a copy lands moves a small model's
    speed by a few percent for as long as the copy lives, so the speed A/B reopens both sides each
    round when their files are small, on the CPU (:func:`encoder_gate.speed.ab.measure_cell`). Read it with
    `reopener(runner)` (None: the runner keeps its one copy).

    A runner that saves what it built for later sessions at its close (torch.compile's artifacts)
    has `leave_compile_artifacts() -> None`: it then saves nothing. A helper process's runner (a
    worker, a memory probe: :mod:`encoder_gate.speed.workers`) calls it, since the first save of
    an entry is the only one and the session's own runner is the one to make it. Call it with
    `leave_artifacts_to_session(runner)`.
    """

    name: str
    precision: str
    size_bytes: int

    @property
    def from_cache(self) -> bool | None:
        """Whether its artifact was found in the cache (False: built now; None: it builds nothing, the
        model directory or the user's file is loaded as it is)."""
        ...

    def predict(self, batch: Batch) -> np.ndarray:
        """Probabilities (or embeddings) for one tokenized batch."""
        ...

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        """Run every (batch, seq_len) shape once so later timed calls do no compiling."""
        ...

    def close(self) -> None: ...


def runner_notes(runner: object) -> tuple[str, ...]:
    """The runner's notes (see Runner), or () for a runner that has none."""
    return tuple(str(n) for n in getattr(runner, "notes", ()) or ())


def first_call_seconds(runner: object) -> float | None:
    """What the runner's first call spent building (see Runner), or None: it builds nothing there,
    or was not called yet."""
    took = getattr(runner, "first_call_seconds", None)
    return float(took) if took is not None else None


def at_threads(runner: object, threads: int) -> AbstractContextManager[object]:
    """Inside the block, `runner` computes at `threads` intra-op threads (0: its library's default,
    all cores), and at its own count again after: a session that times at one thread predicts the
    evaluation set at every core (the outputs do not depend on it, docs/benchmarks.md). A runner
    with no `at_threads` of its own (a test double, a wrapper) runs as it is."""
    own = getattr(runner, "at_threads", None)
    return own(threads) if callable(own) else nullcontext()


def reopener(runner: object) -> Callable[[], None] | None:
    """The runner's `reopen` (see Runner), or None for a runner that has none."""
    own = getattr(runner, "reopen", None)
    return own if callable(own) else None


def leave_artifacts_to_session(runner: object) -> None:
    """The runner saves nothing for later sessions at its close (see Runner); a runner that saves
    nothing anyway is left as it is."""
    leave = getattr(runner, "leave_compile_artifacts", None)
    if callable(leave):
        leave()


def runner_loaded(runner: object) -> bool:
    """Whether the runner holds its model or session (see Runner): True for one that does not say."""
    return bool(getattr(runner, "loaded", True))


def runner_max_tokens(runner: object) -> int | None:
    """The most tokens the runner takes per text (see Runner), or None for no limit of its own."""
    limit = getattr(runner, "max_tokens", None)
    return int(limit) if limit else None


#: The column of the tolerance table a backend is judged by: the reference itself (exact), or
#: the number format its artifact computes in.
NumberFormat = Literal["reference", "fp32", "fp16", "int8"]
NUMBER_FORMATS: tuple[NumberFormat, ...] = ("reference", "fp32", "fp16", "int8")


class Backend(Protocol):
    """A named recipe that builds a Runner for a model, and says what it is.

    `number_format` picks its bounds in the tolerance table (for a prebuilt file whose
    precision is read from its graph, the loosest until built: the runner's `precision`
    then decides). `packages` are the distributions whose versions key its artifacts and its
    predictions and enter the speed gate's hardware fingerprint.
    """

    @property
    def name(self) -> str: ...

    @property
    def number_format(self) -> NumberFormat: ...

    @property
    def packages(self) -> tuple[str, ...]: ...

    def providers(self, device: Device) -> tuple[str, ...]:
        """The execution providers it runs on for `device` (the speed fingerprint names them);
        empty when it has none to name or its library is not installed."""
        ...

    def build(self, ctx: BuildContext) -> Runner: ...


def dummy_batch(batch_size: int, seq_len: int, input_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A right-padded batch of the given shape, for warm-up runs."""
    ids = np.full((batch_size, seq_len), 5, dtype=np.int64)
    batch = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "token_type_ids" in input_names:
        batch["token_type_ids"] = np.zeros_like(ids)
    return {k: v for k, v in batch.items() if k in input_names}


WEIGHT_FILES = (".safetensors", ".bin")  # a Hugging Face model directory's weights

#: Why a text of no tokens runs on no backend, torch included: how a tokenizer comes to give one (the
#: empty text, where it adds no special tokens) and that nothing runs on it; said wherever one appears.
NO_TOKENS = ("it adds no special tokens, as GPT-2's does, and no model runs on an input of no tokens, "
             "torch neither")
#: What makes a text of no tokens impossible, as the model is served.
ADD_A_TOKEN = "have the tokenizer add a token to every text (a BOS token)"


def dir_size(path: Path, suffixes: tuple[str, ...]) -> int:
    """Bytes of the weight files under `path` (what a user would ship)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))


def weights_bytes(model_dir: Path) -> int:
    """The size of a model directory's weight files, read from the disk without loading them."""
    return dir_size(model_dir, WEIGHT_FILES)
