"""Running an ONNX file: :class:`OnnxRunner` (a session of it, fitted to what the file can take),
and what decides its outputs (:func:`onnx_identity`: the file's bytes, the libraries' versions, an
INT8 file's integer path on this CPU). The backends that make or find the files are
:mod:`encoder_gate.backends.onnx_backend`'s."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.backends.base import NO_TOKENS, Batch, BuildContext, dummy_batch
from encoder_gate.backends.int8_path import IntegerPath, cpu_path
from encoder_gate.backends.int8_rewrite import SaturationAudit, audit
from encoder_gate.backends.onnx_graph import (
    choose_output,
    format_shape,
    inspect_onnx,
    onnx_digest,
    static_dim,
)
from encoder_gate.backends.onnx_session import (
    CUDA_PROVIDER_OPTIONS,
    EXPORTED_ELSEWHERE,
    Signature,
    open_session,
    ort_detail,
)
from encoder_gate.cache import toolchain_versions
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError, listed
from encoder_gate.models.spec import model_config_value

#: The libraries whose versions decide an ONNX backend's file and outputs: the exporter
#: (torch or optimum), the converters and the runtime.
ONNX_PACKAGES = ("torch", "transformers", "tokenizers", "optimum", "optimum-onnx", "onnx", "onnxruntime",
                 "onnxruntime-gpu")

TOKENIZER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def run_error(path: Path, exc: BaseException, shape: tuple[int, ...], model_dir: Path) -> GateError:
    """ONNX Runtime's failure to compute a batch of `shape` (texts, tokens), as one GateError: its
    message's first line and, where a lookup table of the file is shorter than the texts, that (a
    file exported from a model of fewer positions: walk AI's stale BERT file failed 14 tests with
    ORT tracebacks, "128 by 168")."""
    texts, tokens = (int(shape[0]), int(shape[1])) if len(shape) == 2 else (len(shape), 0)
    said = (f"ONNX Runtime failed to compute {path} on {texts} text(s) of {tokens} tokens "
            f"({ort_detail(str(exc), path)}).")
    if len(shape) == 2 and not tokens:  # the file is not at fault: nothing runs on no tokens
        return GateError(f"{said} The tokenizer encoded the texts, empty, as no tokens: {NO_TOKENS}")
    try:
        info = inspect_onnx(path)
    except Exception:  # what the file holds is a clue, not the error
        return GateError(f"{said} {EXPORTED_ELSEWHERE}")
    types = model_config_value(model_dir, "type_vocab_size")  # the token-type table: 1 or 2 rows
    short = [rows for rows in info.table_rows
             if rows not in (info.vocab_rows, types) and rows > 2 and rows < tokens]
    if short:
        config = model_config_value(model_dir, "max_position_embeddings")
        where = f", where config.json's max_position_embeddings is {config}" if config is not None else ""
        said += f" It looks positions up in a table of {short[0]} rows, shorter than these texts{where}."
    return GateError(f"{said} {EXPORTED_ELSEWHERE}")


def untyped_pairs(runner: object, tokenizer: Any, texts: Callable[[], Sequence[Text]]) -> str | None:
    """Why an ONNX file without a token_type_ids input computes sentence pairs otherwise than its
    model (its second texts as type 0, where the tokenizer and the torch reference give type 1), or
    None: not an ONNX file, not pairs, a file that takes the input, or a tokenizer that gives no types
    (RoBERTa's). Said beside its build, where its drift fails (an NLI trial's file drifted 0.997 unsaid)."""
    if not isinstance(runner, OnnxRunner) or "token_type_ids" in runner.input_names:
        return None
    pair = next((t for t in texts() if not isinstance(t, str)), None)  # (the evaluation set: read here)
    if pair is None:
        return None
    types = tokenizer(*pair).get("token_type_ids")
    if not types or not any(types):
        return None
    return ("takes no token_type_ids input: each pair's second text is computed as type 0, where the "
            "tokenizer (and so the torch reference) gives it type 1, so its outputs are not its model's; "
            "export it with token_type_ids among its inputs (torch.onnx.export's input_names; "
            "`optimum-cli export onnx` and `encoder-gate export` do so)")


DYNAMIC_HINT = (
    "Re-export it with dynamic axes: torch.onnx.export(..., dynamic_axes={'input_ids': {0: 'batch', "
    "1: 'sequence'}, 'attention_mask': {0: 'batch', 1: 'sequence'}, 'logits': {0: 'batch'}}), or "
    "`optimum-cli export onnx` (dynamic by default; not --batch_size/--sequence_length), or the "
    "converter's --dynamic option."
)


class OnnxRunner:
    """Runs an InferenceSession; on CUDA binds inputs and outputs on the device.

    Files made by other tools are run within what they can take: the `logits` output (else
    the first), float16 outputs cast to float32, a file without an attention_mask input one
    unpadded text at a time, static input shapes by padding to them. `notes` says which of
    these applied, in words, for the summary and the report."""

    def __init__(self, session: Any, ctx: BuildContext, name: str, precision: str,
                 artifact: Path, from_cache: bool | None, size_bytes: int, *, notes: Sequence[str] = (),
                 integer_path: IntegerPath | None = None, session_config: Sequence[tuple[str, str]] = (),
                 identity: Mapping[str, object] | None = None, can_saturate: bool | None = None,
                 opener: Callable[[int], Any] | None = None, path_way: str | None = None,
                 signature: Signature | None = None) -> None:
        self.name = name
        self.precision = precision
        self.artifact = artifact
        self.from_cache = from_cache
        self.size_bytes = size_bytes
        # the integer arithmetic its INT8 products are computed with (int8_path); None: not INT8
        self.integer_path: IntegerPath | None = integer_path or (
            native_integer_path(artifact) if precision == "int8" else None)
        # whether a saturating CPU computes other numbers for it than an exact one (int8_rewrite.audit)
        # (a rewritten file computing another's path passes its source's answer)
        self.can_saturate: bool = self.integer_path is not None and (
            audit_file(artifact).can_saturate if can_saturate is None else can_saturate)
        self._session_config = tuple(session_config)  # entries every session of it is opened with
        # how a session of it is opened again at some threads (default: open_session on the artifact;
        # a masked child's for a path computed in one: path_backend)
        self._opener = opener
        # how a twin computes its integer path here, in words (path_backend.on_path); None: natively
        self.path_way = path_way
        self._extra_identity = dict(identity or {})  # what else decides its outputs (the path)
        self._session = session
        self._pending = session is None  # opened at its first run (session_or_signature)
        self._identity: dict[str, object] | None = None  # hashed once: the file this runner opened
        self._threads = ctx.threads  # its own intra-op threads (0: ORT's default)
        self._open_at = ctx.threads  # those its session was opened at (another inside at_threads)
        self._blocks = 0  # how many at_threads blocks it is inside
        self._task = ctx.model.task
        self._device = ctx.device
        self._labels = ctx.model.label_names
        self._model_dir = ctx.model.path
        # ONNX Runtime's failure on a batch, as run_error says it: later calls fail with it at once (walk
        # AL: a file of 64 positions failed 12 tests one by one, 90 s of hypothesis and padding texts)
        self.broken: str | None = None
        ports = Signature.of(session) if session is not None else signature
        assert ports is not None, "an OnnxRunner needs its session or the session's signature"
        inputs = ports.inputs
        self.input_names = tuple(i.name for i in inputs)
        unknown = [n for n in self.input_names if n not in TOKENIZER_INPUTS]
        if unknown or "input_ids" not in self.input_names:
            raise GateError(
                f"{artifact} expects inputs {list(self.input_names)}, but a tokenizer gives only "
                f"{list(TOKENIZER_INPUTS)} (unknown: {unknown or 'none'}; input_ids is required). Export it "
                "with its inputs named as the tokenizer names them and no others (torch.onnx.export's "
                "input_names; `encoder-gate export` does so), or pass the model directory it was made for "
                "(--gate-model)."
            )
        self._dtypes = {i.name: np.int32 if i.type == "tensor(int32)" else np.int64 for i in inputs}
        said = list(notes)
        outputs = ports.outputs
        index, note = choose_output([o.name for o in outputs], self._task, [o.shape for o in outputs],
                                    len(self._labels))
        said += [note] if note else []
        out = outputs[index]
        self._output = out.name
        out_shape: list[Any] | None = list(out.shape) if out.shape else None
        if out.type == "tensor(float16)":
            said.append(f"output '{out.name}' is float16: cast to float32 before postprocessing")
        self._takes_mask = "attention_mask" in self.input_names
        ids_shape = next(i.shape for i in inputs if i.name == "input_ids")
        self._input_shape = format_shape(ids_shape)
        self._fixed_batch = static_dim(ids_shape, 0)
        self._fixed_seq = static_dim(ids_shape, 1)
        self._pad_id = model_config_value(ctx.model.path, "pad_token_id") or 0  # (static lengths' padding)
        # texts are truncated to a static sequence length before they reach predict (Runner.max_tokens)
        self.max_tokens: int | None = self._fixed_seq if "attention_mask" in self.input_names else None
        if not self._takes_mask:
            if self._fixed_seq is not None:
                raise GateError(
                    f"{artifact} takes no attention_mask (inputs: {', '.join(self.input_names)}) and has a "
                    f"static sequence length (input shape {self._input_shape}): every text would have to "
                    "be padded to that length with nothing to mask the padding, which changes its "
                    f"outputs. {DYNAMIC_HINT} An attention_mask input would also let it batch."
                )
            said.append(f"takes only {' and '.join(self.input_names)} (no attention_mask, so padding would "
                        "change its outputs): evaluated one text at a time, unpadded")
        elif self._fixed_batch is not None or self._fixed_seq is not None:
            how = []
            if self._fixed_batch == 1:
                how.append("run one text at a time")
            elif self._fixed_batch is not None:
                how.append(f"run {self._fixed_batch} texts at a time (a short batch is filled with copies "
                           "of its last text, dropped from the results)")
            if self._fixed_seq is not None:
                how.append(f"each text truncated to {self._fixed_seq} tokens, as its owner runs it, and "
                           f"padded to them (pad id {self._pad_id}, mask 0); its torch reference is computed "
                           "on the same truncated texts")
            said.append(f"static input shape {self._input_shape}: " + ", ".join(how))
        self.notes: tuple[str, ...] = tuple(said)
        self._output_checked = False
        self._check_output(out_shape)  # from the graph: static dims only; again at the first run

    def _check_output(self, shape: Sequence[Any] | None) -> None:
        """A classifier's output must be (batch, labels) with the model directory's label count;
        an encoder's must be hidden states (batch, sequence, hidden), which the gate mean-pools."""
        if shape is None:
            return
        rank, width = len(shape), static_dim(shape, len(shape) - 1)
        if not self._task.classifier:
            if rank != 3:
                raise GateError(
                    f"{self.artifact}: output '{self._output}' has shape {format_shape(shape)}, "
                    "not (batch, sequence, hidden): the gate mean-pools an encoder's last hidden state "
                    "over the attention mask itself. Export the file with its hidden states "
                    "(optimum-cli export onnx --task feature-extraction gives last_hidden_state)."
                )
            return
        if rank != 2:
            raise GateError(
                f"{self.artifact}: output '{self._output}' has shape {format_shape(shape)}, not "
                f"(batch, labels): it looks like a feature-extraction export (hidden states), but the model "
                f"directory is a classifier with {len(self._labels)} labels. Export the file for text "
                "classification (optimum-cli export onnx --task text-classification) or pass the encoder's "
                "model directory with --gate-model."
            )
        if width is not None and self._labels and width != len(self._labels):
            shown = listed(self._labels, 8, quoted=False)
            raise GateError(
                f"{self.artifact} outputs {width} labels ('{self._output}' has shape "
                f"{format_shape(shape)}), but the "
                f"model directory has {len(self._labels)} labels in id2label ({shown}). Pass the model "
                "directory this file was exported from (--gate-model DIR), or export the file from this "
                "model (encoder-gate export)."
            )

    def predict(self, batch: Batch) -> np.ndarray:
        if self._takes_mask:
            return self._run(batch)
        # no attention_mask input: one row at a time, with only its real tokens (any padding side)
        mask = batch.get("attention_mask")
        rows = []
        for i in range(len(batch["input_ids"])):
            keep = np.flatnonzero(mask[i]) if mask is not None and mask[i].any() else slice(None)
            row = {k: np.asarray(batch[k])[i:i + 1, keep] for k in ("input_ids", "token_type_ids")
                   if k in batch}
            row["attention_mask"] = np.ones_like(row["input_ids"])
            rows.append(self._run(row))
        return np.concatenate(rows, axis=0)

    def _run(self, batch: Batch) -> np.ndarray:
        """Probabilities for rows this file can take as they are, or once fitted to its static shape."""
        ids = np.asarray(batch["input_ids"])
        mask = batch.get("attention_mask")
        cols = {"input_ids": ids, "attention_mask": np.ones_like(ids) if mask is None else np.asarray(mask)}
        if "token_type_ids" in batch:
            cols["token_type_ids"] = np.asarray(batch["token_type_ids"])
        if self._fixed_seq is not None:
            cols = self._fit_length(cols, self._fixed_seq)
        n = len(ids)
        step = self._fixed_batch or n
        parts = []
        for start in range(0, n, step):
            chunk = {k: v[start:start + step] for k, v in cols.items()}
            real = len(chunk["input_ids"])
            if real < step:  # fill a static batch with copies of the last row, dropped below
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], step - real, axis=0)])
                         for k, v in chunk.items()}
            raw = self._raw(chunk)[:real]
            parts.append(self._task.postprocess(raw, chunk["attention_mask"][:real]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def _fit_length(self, cols: dict[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
        """Right-pad to a static sequence length (pad id, mask 0), or refuse a longer text."""
        width = cols["input_ids"].shape[1]
        if width > length:
            used = np.flatnonzero(cols["attention_mask"].any(axis=0))
            longest = int(used[-1]) + 1 if used.size else 0
            if longest > length:
                raise GateError(
                    f"{self.artifact} has a static input shape {self._input_shape}, so it takes at most "
                    f"{length} tokens, but a text in this batch has {longest}. {DYNAMIC_HINT}"
                )
            return {k: v[:, :length] for k, v in cols.items()}
        if width == length:
            return cols
        fill = {"input_ids": self._pad_id}
        return {k: np.pad(v, ((0, 0), (0, length - width)), constant_values=fill.get(k, 0))
                for k, v in cols.items()}

    def _raw(self, chunk: dict[str, np.ndarray]) -> np.ndarray:
        """The chosen output for one chunk, as float32."""
        if self.broken is not None:  # ORT failed on an earlier batch: every later call says that, at once
            raise GateError(self.broken)
        if self._pending:  # its first run: opened at the threads it runs at
            self._open(self._open_at if self._blocks else self._threads)
        elif not self._blocks and self._open_at != self._threads and self._session is not None:  # at_threads
            self._open(self._threads)
        ids = chunk["input_ids"]
        feeds = {n: np.ascontiguousarray(chunk[n] if n in chunk else np.zeros_like(ids),
                                         dtype=self._dtypes[n]) for n in self.input_names}
        try:
            raw = np.asarray(self._run_cuda(feeds) if self._device == "cuda" else
                             self._session.run([self._output], feeds)[0])
        except Exception as exc:  # ORT raises its own Fail/InvalidArgument/RuntimeException types
            if not type(exc).__module__.startswith("onnxruntime"):
                raise
            said = str(run_error(self.artifact, exc, ids.shape, self._model_dir))
            if not self._output_checked:  # it never computed a batch: every later call says this, at once
                self.broken = said  # (one that did failed on this input: its test fails, not every later)
            raise GateError(said) from None
        if raw.dtype != np.float32:
            raw = raw.astype(np.float32)
        if not self._output_checked:
            self._check_output(("batch", *raw.shape[1:]))
            self._output_checked = True
        return raw

    def _run_cuda(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """IO binding: copy inputs to the GPU once, keep the output there, sync, copy back."""
        import onnxruntime as ort

        binding = self._session.io_binding()
        for name, array in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0))
        binding.bind_output(self._output, "cuda", 0)
        binding.synchronize_inputs()
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        out: np.ndarray = binding.copy_outputs_to_cpu()[0]
        return out

    @contextlib.contextmanager
    def at_threads(self, threads: int) -> Iterator[None]:
        """ORT at `threads` intra-op threads inside the block (see base.at_threads). A session's
        thread pool is fixed when it opens, so the block runs on a session opened at `threads`;
        the runner's own is closed first (two sessions of one file are never held at once: at
        125M weights, 0.5 GB each for FP32). It is opened at its own count again at its next
        computation outside such a block, not at the block's end: a timing session's accuracy
        tests are one block after another (each padding property, each awkward text), and
        reopening between them cost 1.2 s a test on a 125M FP32 file, 13 tests a backend. On CUDA
        the threads do not decide the speed, and nothing changes."""
        if self._device == "cuda" or (self._session is None and not self._pending):
            yield
            return
        if self._pending:  # not opened yet: at `threads` if it runs inside the block
            self._open_at = threads
        elif threads != self._open_at:
            self._open(threads)
        self._blocks += 1
        try:
            yield
        finally:
            self._blocks -= 1

    @property
    def threads_now(self) -> int:
        """The intra-op threads its next computation runs at (0: ORT's default)."""
        return self._open_at if self._blocks else self._threads

    def _open(self, threads: int) -> None:
        """Open the artifact again at `threads`, the old session dropped first (never two at once)."""
        self.close()
        self._session = (self._opener(threads) if self._opener is not None else
                         open_session(self.artifact, self._device, threads, self._session_config))
        self._open_at = threads

    loaded = property(lambda self: self._session is not None, doc="Whether it holds its session (Runner).")

    @property
    def device(self) -> str:
        """Where its session computes ("cpu" or "cuda")."""
        return self._device

    def reopen(self) -> None:
        """A fresh session on the same file (see base.Runner): its weights and buffers land
        elsewhere in memory. Two sessions of one small file run a few percent apart for as long as
        they live (docs/noise.md), so the speed A/B opens both sides afresh each round when their
        files are small (speed.ab.REOPEN_MAX_BYTES)."""
        if self._session is not None:
            self._open(self._threads)

    def prediction_identity(self) -> dict[str, object]:
        """The ONNX file and its external data, byte for byte (hashed at the first call: a 500 MB
        file takes a second, and the predictions cache and the A/B both ask)."""
        if self._identity is None:
            on_gpu = {"cuda_options": dict(CUDA_PROVIDER_OPTIONS)} if self._device == "cuda" else {}
            self._identity = {**onnx_identity(self.artifact, self.precision), **self._extra_identity,
                              **on_gpu}
        return self._identity

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        for bs, seq in shapes:
            self.predict(dummy_batch(bs, seq, self.input_names))

    def close(self) -> None:
        session, self._session, self._pending = self._session, None, False
        if hasattr(session, "close"):  # a masked child's (cpu_mask.MaskedSession): its process ends
            session.close()


def onnx_identity(path: Path, precision: str) -> dict[str, object]:
    """An ONNX runner's prediction identity: its file and external data, byte for byte, the
    libraries' versions, and for an INT8 file whose products can saturate the integer path this CPU
    computes them with (an AVX2 runner's predictions are not a VNNI runner's: int8_path). Only an
    INT8 file is audited: the audit reads the whole file, an FP32 one of 500 MB too."""
    identity: dict[str, object] = {"artifact": f"onnx:{onnx_digest(path)}",
                                   "versions": toolchain_versions(ONNX_PACKAGES)}
    if precision == "int8" and audit_file(path).can_saturate:
        identity["integer_path"] = cpu_path()
    return identity


def native_integer_path(path: Path) -> IntegerPath:
    """The integer path a plain session on the INT8 file `path` computes with on this CPU: "exact"
    where no product can saturate, else this CPU's (int8_path.cpu_path)."""
    return cpu_path() if audit_file(path).can_saturate else "exact"


@functools.lru_cache(maxsize=32)
def _audit_cached(path: str, size: int, mtime: float) -> SaturationAudit:
    return audit(path)


def audit_file(path: Path) -> SaturationAudit:
    """The saturation audit of an ONNX file (int8_rewrite.audit), once per file version per process."""
    stat = path.stat()
    return _audit_cached(str(path), stat.st_size, stat.st_mtime)
