"""`encoder-gate export`: ship a model's ONNX variants with a model card of measured numbers.

    run_export(ExportRequest(model="default", out=Path("onnx-default")))

Each variant is the suite's own artifact (`OnnxBackend.artifact`: the same export,
FP16 and INT8 recipes and the same cache entries), copied into the output directory
under optimum's file names (model.onnx, model_fp16.onnx, model_quantized.onnx) beside
config.json and the tokenizer files. Each loads with plain onnxruntime (the model card shows
how) and, where optimum's ONNX support is installed, with `ORTModelForSequenceClassification
.from_pretrained(out, file_name=...)`: the export checks that it does, or reports the check as
skipped with the reason. Every variant is then judged exactly as the accuracy gate judges a
backend: the written file is run over the evaluation texts with the same batching, compared
with torch FP32 eager (`metrics.drift`) and, where gold labels fit the model, scored
(`gate.task_metrics`).
README.md (a model card) and export.json hold the numbers.

`--optimize O1|O2|O3` optimizes the FP32 export at that level of optimum's
`AutoOptimizationConfig`: with optimum's ORTOptimizer where installed (as `optimum-cli export
onnx --optimize` does), else with ONNX Runtime's own transformer optimizer
(`onnxruntime.transformers.optimizer.optimize_model`, which ORTOptimizer calls) given the same
opt_level and fusion options (`ORT_LEVELS`). FP16 and INT8 are then made from the optimized
FP32 file. O4 (O3 + FP16 mixed precision) is GPU-only in optimum and is refused here: export
runs and evaluates on CPU.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.accuracy.checks import bounds_for
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.accuracy.ranking import RANKINGS
from encoder_gate.accuracy.thresholds import Thresholds, described, judged_at_note
from encoder_gate.backends.base import BuildContext, Int8Weights
from encoder_gate.backends.dedupe import dedupe_file
from encoder_gate.backends.fusions import fusion_note
from encoder_gate.backends.int8_path import (
    IntegerPath,
    cpu_path,
    cpu_path_words,
)
from encoder_gate.backends.int8_rewrite import write_unshared
from encoder_gate.backends.onnx_backend import OnnxBackend
from encoder_gate.backends.onnx_build import (
    EXPORT_RECIPE,
    convert_fp16,
    copy_side_files,
    fp32_exporter,
    fp32_optimizer,
    place,
    variant_bytes,
)
from encoder_gate.backends.onnx_quantize import quantize_int8
from encoder_gate.backends.onnx_runner import ONNX_PACKAGES, OnnxRunner, audit_file
from encoder_gate.backends.onnx_session import open_session
from encoder_gate.backends.optimum_compat import INSTALL_HINT, optimum_missing
from encoder_gate.backends.path_backend import on_path
from encoder_gate.backends.recipes import RECIPES, SEARCH_BACKENDS, fp32_artifact
from encoder_gate.cache import sha256_file, toolchain_versions
from encoder_gate.commands.export_card import on_this_path, render_card
from encoder_gate.commands.search import SearchSettings, run_search
from encoder_gate.config import (
    DEFAULT_CACHE_DIR,
    DEFAULT_LABEL_COLUMN,
    DEFAULT_TEXT_COLUMN,
    MAX_TOKENS,
    GateConfig,
)
from encoder_gate.data.datasets import Dataset, load_dataset
from encoder_gate.data.pairs import Text
from encoder_gate.documents import (
    CARD_FILE,
    EXPORT_FILE,
    SEARCH_FILE,
    SEARCH_PAGE,
    write_document,
    write_page,
)
from encoder_gate.errors import GateError, NotApplicable, listed
from encoder_gate.reporting.search_report import search_section
from encoder_gate.results.accuracy import cut_record
from encoder_gate.runtime.inference import encode, predict_texts, tokenizer_note
from encoder_gate.runtime.session import GateSession
from encoder_gate.tasks import THRESHOLD, Task

VARIANTS = ("fp32", "fp16", "int8")
FILE_NAMES = {"fp32": "model.onnx", "fp16": "model_fp16.onnx", "int8": "model_quantized.onnx"}
OPTIMIZE_LEVELS = ("O1", "O2", "O3", "O4")

Progress = Callable[[str], None]




def int8_settings(ctx: BuildContext, winner: Any | None) -> dict[str, Any]:
    """How the shipped INT8 file was quantized: the recipe the search shipped (`winner`), else the
    gate's own settings (a search that shipped a per-tensor QInt8 recipe said per_channel=True, the
    defaults, in the card and export.json: walk U)."""
    recipe = RECIPES.get(winner.recipe) if winner is not None else None
    if recipe is None or recipe.number_format != "int8":
        return {"per_channel": ctx.int8_per_channel, "reduce_range": ctx.int8_reduce_range,
                "weights": ctx.int8_weights}
    return {"recipe": recipe.name, "per_channel": recipe.per_channel, "reduce_range": recipe.reduce_range,
            "weights": recipe.weight_type,
            **({"calibration": recipe.calibration} if recipe.calibration else {})}


def print_progress(message: str) -> None:
    print(f"[encoder-gate] {message}", flush=True)


@dataclass(frozen=True)
class ExportRequest:
    """What `encoder-gate export` was asked to do, validated by `check`."""

    model: str
    out: Path
    variants: tuple[str, ...] = VARIANTS
    optimize: str | None = None
    dedupe: bool = False
    dataset: str | None = None
    texts: Path | None = None  # unlabelled texts, one per line: parity only (the gate's `texts`)
    text_column: str = DEFAULT_TEXT_COLUMN  # the dataset's columns (a file's), as GateConfig names them
    label_column: str = DEFAULT_LABEL_COLUMN
    pair_column: str | None = None  # each row's second text: rows judged as sentence pairs
    relevant_grade: float | None = None  # a reranker's graded relevance: a row relevant from this grade on
    max_tokens: int = MAX_TOKENS  # the most tokens of a text fed (the gate's `max-tokens`)
    limit: int | None = None
    cache_dir: Path = DEFAULT_CACHE_DIR
    threads: int = 0
    search: SearchSettings | None = None  # --search: build every recipe, ship the fastest that pass
    batch_sizes: tuple[int, ...] = (1, 8)  # the search's speed cells
    int8_weights: Int8Weights = "QUInt8"  # the INT8 variant's (the search judges both kinds)
    thresholds: Thresholds = "fixed"  # where a label decides: the project's (export_data.project_data)

    def check(self) -> None:
        """Raise GateError for bad input, before anything is built."""
        if self.search is not None:
            self.search.check()
            if self.optimize or self.dedupe:
                raise GateError("--search builds its own FP32 optimizations (O1-O3 are candidates) and ships "
                                "files as built: leave out --optimize and --dedupe")
        if not self.batch_sizes or min(self.batch_sizes) <= 0:
            raise GateError(f"--batch-sizes must be positive integers, got {self.batch_sizes}")
        if not self.variants:
            raise GateError(f"no variants given: pass e.g. --variants {','.join(VARIANTS)}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise GateError(f"unknown variant {unknown[0]!r}; known variants: {', '.join(VARIANTS)} "
                            f"(pass e.g. --variants fp32,int8)")
        if len(set(self.variants)) != len(self.variants):
            raise GateError(f"variant listed twice in --variants {','.join(self.variants)}")
        if self.optimize is not None and self.optimize not in OPTIMIZE_LEVELS:
            raise GateError(f"unknown optimization level {self.optimize!r}; use one of "
                            f"{', '.join(OPTIMIZE_LEVELS[:3])} (O4 needs a GPU)")
        if self.optimize == "O4":
            raise GateError(
                "--optimize O4 is O3 plus FP16 mixed precision, which optimum builds only for a CUDA "
                "GPU (optimum's main_export refuses O4 without --device cuda); encoder-gate export "
                "runs and evaluates on CPU. Use --optimize O3: the fp16 variant is then the O3 "
                "graph with FP16 weights and FP32 inputs/outputs.")
        if self.out.exists() and not self.out.is_dir():
            raise GateError(f"--out {self.out} is a file; pass a directory (it is created if missing)")
        if self.texts is not None and self.dataset is not None:
            raise GateError("--dataset and --texts both name the evaluation data: give one (--texts: "
                            "unlabelled texts, one per line, judged on parity with torch FP32 alone)")
        if self.texts is not None and not self.texts.expanduser().is_file():
            state = "is a directory, not a file" if self.texts.expanduser().is_dir() else "does not exist"
            raise GateError(f"texts file {self.texts} {state}: pass a text file with one text per line")
        if self.limit is not None and self.limit < 0:  # 0: every text, as the gate's limit
            raise GateError(f"--limit must be 0 (every text) or a positive number of examples, got "
                            f"{self.limit}")
        if self.threads < 0:
            raise GateError(f"--threads must be 0 (library default) or positive, got {self.threads}")

    def command(self) -> str:
        """The command line that reproduces this export, every option explicit. A path that starts
        with "-" is given so that it is no option: `./-lead`, `--out=-x`."""
        def opt(name: str, value: object) -> list[str]:
            return [f"{name}={value}"] if str(value).startswith("-") else [name, str(value)]

        model = f"./{self.model}" if self.model.startswith("-") else self.model
        parts = ["encoder-gate", "export", model, *opt("--out", self.out)]
        if self.search is not None:
            s = self.search
            parts += ["--search", "--batch-sizes", ",".join(map(str, self.batch_sizes)),
                      "--search-rounds", str(s.rounds), "--round-seconds", str(s.round_seconds),
                      "--speed-texts", str(s.speed_texts), "--calibration-texts", str(s.calibration_texts)]
            if s.candidates != SEARCH_BACKENDS:
                parts += ["--recipes", ",".join(s.candidates)]
            if s.calibration is not None:
                parts += opt("--calibration", s.calibration)
        else:
            parts += ["--variants", ",".join(self.variants)]
        if self.optimize:
            parts += ["--optimize", self.optimize]
        if self.dedupe:
            parts.append("--dedupe")
        if self.int8_weights != "QUInt8":
            parts += ["--int8-weights", self.int8_weights]
        if self.texts is not None:
            parts += opt("--texts", self.texts)
            parts += ["--pair-column", self.pair_column] if self.pair_column else []
        if self.dataset:
            parts += opt("--dataset", self.dataset)
            if self.text_column != DEFAULT_TEXT_COLUMN:
                parts += ["--text-column", self.text_column]
            if self.label_column != DEFAULT_LABEL_COLUMN:
                parts += ["--label-column", self.label_column]
            if self.pair_column:
                parts += ["--pair-column", self.pair_column]
            if self.relevant_grade is not None:
                parts += ["--relevant-grade", f"{self.relevant_grade:g}"]
        if self.limit:
            parts += ["--limit", str(self.limit)]
        if self.max_tokens != MAX_TOKENS:
            parts += ["--max-tokens", str(self.max_tokens)]
        if self.threads:
            parts += ["--threads", str(self.threads)]
        parts += opt("--cache-dir", self.cache_dir)
        return shlex.join(parts)


@dataclass
class VariantResult:
    """One written variant: where, how big, how it came to be and how it compares."""

    variant: str
    file: str
    size_bytes: int
    sha256: str
    from_cache: bool
    summary: dict[str, Any]
    dedupe: dict[str, int] | None = None
    optimum_loads: bool | None = None  # None: not checked (optimum's ONNX support not installed)


@dataclass
class ExportResult:
    out: Path
    payload: dict[str, Any]
    variants: list[VariantResult] = field(default_factory=list)


# --- artifacts ----------------------------------------------------------------------------


def variant_artifact(ctx: BuildContext, variant: str, optimize: str | None) -> tuple[Path, bool]:
    """The cache directory holding model.onnx of `variant`, built if not cached.

    Without `optimize` these are the accuracy gate's own cache entries.
    """

    if optimize is None:
        return OnnxBackend(variant).artifact(ctx)  # type: ignore[arg-type]  # checked in ExportRequest
    optimized, hit = fp32_artifact(ctx, optimize)  # type: ignore[arg-type]  # checked in ExportRequest
    if variant == "fp32":
        return optimized, hit
    step = convert_fp16 if variant == "fp16" else quantize_int8
    key: dict[str, object] = {"fp32": optimized.name, "optimize": optimize, "recipe": EXPORT_RECIPE,
                              "variant": variant, "per_channel": ctx.int8_per_channel,
                              "reduce_range": ctx.int8_reduce_range, "weights": ctx.int8_weights,
                              "tools": toolchain_versions(ONNX_PACKAGES)}
    entry = ctx.cache.get_or_build(f"onnx-{variant}-{optimize}", key,
                                   lambda out: step(ctx, optimized, out))
    return entry.path, entry.hit


# --- evaluation ---------------------------------------------------------------------------


def check_optimum_loads(out: Path, file_name: str, task: str, tokenizer: Any, texts: Sequence[Text],
                        expected: np.ndarray) -> None:
    """Load out/file_name with optimum's ORTModel and check it predicts what we measured."""
    from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTModelForSequenceClassification


    kind = Task.of(task)
    cls = ORTModelForSequenceClassification if kind.classifier else ORTModelForFeatureExtraction
    try:
        model = cls.from_pretrained(out, file_name=file_name, provider="CPUExecutionProvider")
    except Exception as exc:  # optimum raises many types for an unloadable directory
        raise GateError(f"optimum's {cls.__name__} could not load {out / file_name}: {exc}") from None
    batch = encode(tokenizer, list(texts))
    feeds = {k: v for k, v in batch.items() if k in model.input_names}
    outputs = model(**feeds, return_dict=True)
    got = kind.postprocess(np.asarray(getattr(outputs, kind.output_name)), batch.get("attention_mask"))
    # padding to this batch's longest text, not the sorted evaluation batches: INT8 scales
    # activations per batch, so allow its padding tolerance; FP32/FP16 agree far closer.
    if not np.allclose(got, expected, atol=0.3 if "quantized" in file_name else 1e-2):
        worst = float(np.abs(got - expected).max())
        raise GateError(f"optimum's {cls.__name__} on {out / file_name} disagrees with encoder-gate's "
                        f"run of the same file (max |diff| {worst:.3g}); please report this.")


def variant_line(name: str, summary: Mapping[str, Any]) -> str:
    """One exported variant's parity in a line: drift, then flips (a classifier) or the lowest
    cosine (an encoder, which makes no decisions), and F1 where there are gold labels (a reranker's
    MRR@10 too, and NDCG@10 on graded relevance)."""
    parts = [f"drift mean {summary['drift_mean']:.3g}", f"max {summary['drift_max']:.3g}"]
    if summary.get("flips") is not None:
        parts.append(f"{summary['flips']} flips")
    if summary.get("cosine_min") is not None:
        parts.append(f"cosine min {summary['cosine_min']:.6f}")
    if summary.get("f1") is not None:
        parts.append(f"F1 {summary['f1']:.4f}")
    parts += [f"{r.name} {summary[r.key]:.4f} (change {summary[f'{r.key}_delta']:+.4f})"  # a reranker's order
              for r in RANKINGS if summary.get(r.key) is not None]
    return f"{on_this_path(name, summary)}: " + ", ".join(parts)


#: What an INT8 variant's card says of each integer path (a subset of its summary).
PATH_KEYS = ("f1", "drift_max", "flip_rate", "flips")


def _other_path(runner: OnnxRunner, ctx: BuildContext, tokenizer: Any, data: Dataset,
                reference: np.ndarray, gold: np.ndarray | None, session: Any, batch_size: int,
                summary: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    """An INT8 variant on both integer paths (backends.int8_path): this CPU's, from `summary`, and the
    other one computed here (path_backend.on_path), or why it could not be."""
    found = audit_file(runner.artifact)
    own = runner.integer_path or "exact"
    out: dict[str, Any] = {"this_cpu": cpu_path(), "can_saturate": found.can_saturate,
                           "audit": found.summary(), "saturable_pairs": found.saturable, "pairs": found.pairs,
                           own: {k: summary.get(k) for k in PATH_KEYS}}
    if not found.can_saturate:
        return out
    other: IntegerPath = "exact" if own == "saturating" else "saturating"
    try:  # on the other path `runner` is closed for the twin (its predictions are done)
        twin = on_path(runner, other, ctx, f"{runner.name}~{other}")
    except NotApplicable as exc:
        out[other] = {"not_judged": str(exc)}
        return out
    progress(f"{runner.name}: computing the {other} path too, as {cpu_path_words(other)} compute it")
    probs = predict_texts(twin, tokenizer, data.texts, batch_size, progress=progress)
    twin.close()
    judged = _evaluate(twin.name, probs, reference, gold, precision="int8", size_bytes=runner.size_bytes,
                       session=session, data=data)
    out[other] = {k: judged.get(k) for k in PATH_KEYS}
    return out


def _evaluate(name: str, probs: np.ndarray, reference: np.ndarray, gold: np.ndarray | None,
              *, precision: str, size_bytes: int, session: Any, data: Dataset) -> dict[str, Any]:
    """The accuracy gate's per-backend summary: gate.evaluate with the gate's atol for the task, at the
    session's thresholds (the project's: 0.5 unless it serves its own), parity only when there are no
    gold labels, a reranker's order over the queries of `data`'s pairs (on its grades too,
    `relevant-grade`)."""
    model = session.model
    grades = data.grades if gold is not None else None
    return evaluate(name, probs, reference, gold, precision=precision, size_bytes=size_bytes,
                    task=model.task, label_names=model.label_names, queries=data.queries, grades=grades,
                    thresholds=session.thresholds, flips_at=session.flips_at,
                    atol=bounds_for(name, task=model.task).atol).summary()


def _evaluation_data(session: Any, request: ExportRequest, progress: Progress,
                     ) -> tuple[Dataset, np.ndarray | None, dict[str, Any]]:
    """(the evaluation set, its gold labels or None, its description).

    --dataset given: that source's test split, checked against the model's labels; --texts: those
    texts, unlabelled (parity only). Otherwise the bundled test split; its gold labels are used
    when the model is a multi-label classifier with go_emotions' labels in order, else only its
    texts (parity).
    """

    model = session.model
    given = request.dataset is not None or request.texts is not None
    if given or Task.of(model.task).thresholded:
        try:
            ds = session.dataset
        except GateError as exc:
            if given:
                raise
            progress(f"bundled labels do not fit {model.name} ({str(exc)[:120]}...): parity only")
        else:
            gold = np.asarray(ds.labels) if Task.of(model.task).classifier and session.labelled else None
            # a file has no splits: the whole file is read
            split = None if Path(session.dataset_source).expanduser().is_file() else "test"
            return ds, gold, {"source": session.dataset_source, "name": ds.name, "split": split,
                              "examples": len(ds), "labels": gold is not None,
                              "pair_column": ds.pair_column, "pairs": ds.paired,
                              **({"relevance": ds.relevance} if ds.relevance else {}),
                              "cut": cut_record(session),
                              **({"texts": True} if request.texts is not None else {})}
    ds = load_dataset("bundled", split="test")
    ds = ds.head(request.limit) if request.limit else ds
    return ds, None, {"source": "bundled", "name": ds.name, "split": "test",
                      "examples": len(ds), "labels": False, "pair_column": None}


# --- the command --------------------------------------------------------------------------


def run_export(request: ExportRequest, progress: Progress = print_progress) -> ExportResult:
    """Build (or take from the cache) every variant, write it with its model card, measure it.

    --out is a new or empty directory, or an earlier export's: that export's files this one does
    not write are removed (the card names what the directory holds), and a directory of other
    files is refused. An export that fails into a directory it made leaves nothing behind."""
    request.check()
    earlier, existed = _earlier_export(request.out), request.out.exists()
    try:
        result = _run_export(request, progress)
    except BaseException as exc:
        if earlier is None and request.out.is_dir() and not isinstance(exc, ShippedNothing):
            # it was new or empty: no half-written export stays (a search's table of why stays)
            for path in (request.out.iterdir() if existed else [request.out]):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise
    stale = sorted(name for name in (earlier or set()) - export_files(result.payload)
                   if (request.out / name).is_file())
    for name in stale:
        (request.out / name).unlink()
    if stale:
        progress(f"removed the earlier export's {', '.join(stale)} from {request.out} (this export did not "
                 "write them)")
    return result


def export_files(payload: Mapping[str, Any]) -> set[str]:
    """The files an export writes, by its export.json: the card and export.json, the side files,
    each variant's file (and its external data) and, after a search, the search's table."""
    return {EXPORT_FILE, CARD_FILE, *(payload.get("side_files") or []),
            *(n for v in (payload.get("variants") or {}).values() for n in (v["file"], f"{v['file']}_data")),
            *((SEARCH_FILE, SEARCH_PAGE) if "search" in payload else ())}


class ShippedNothing(GateError):
    """The search passed no candidate: --out holds its table of why, and no export."""


def _earlier_export(out: Path) -> set[str] | None:
    """The files an earlier export wrote into `out` (by its export.json), or None when `out` is new
    or empty; a GateError when it holds files that are no export's."""
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not present:
        return None
    try:  # its search's table too, which a failed search left beside it
        files = export_files(json.loads((out / EXPORT_FILE).read_text())) | {SEARCH_FILE, SEARCH_PAGE}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        shown = listed(present, 5, quoted=False)
        raise GateError(f"--out {out} holds files that are no export of encoder-gate ({shown}): give a new "
                        "or empty directory, or an earlier export's") from None
    return files


def _run_export(request: ExportRequest, progress: Progress) -> ExportResult:
    started = time.monotonic()
    config = GateConfig(model=request.model, backends=("torch",), dataset=request.dataset or "bundled",
                        texts=request.texts, text_column=request.text_column,
                        label_column=request.label_column, pair_column=request.pair_column,
                        relevant_grade=request.relevant_grade, limit=request.limit or 0,
                        cache_dir=request.cache_dir, threads=request.threads,
                        int8_weights=request.int8_weights, max_tokens=request.max_tokens,
                        thresholds=request.thresholds)
    session = GateSession(config, progress=progress)
    model = session.model
    session.tokenizer  # noqa: B018 - a directory without one is refused before any build (walk Z)
    # data that cannot be read is said before any build, and before --out holds a file
    data, gold, data_desc = _evaluation_data(session, request, progress)
    texts = data.texts
    found = run_search(request, request.search, progress) if request.search is not None else None
    ctx = session.context()
    artifacts = {}
    if found is not None:
        for variant, winner in found.winners.items():
            progress(f"onnx-{variant}: shipping {winner.recipe} from {winner.file}")
            artifacts[variant] = (winner.file, winner.from_cache)
    else:
        progress(f"export {model.name} ({model.model_type}, {model.task}) -> {request.out}: "
                 f"{', '.join(request.variants)}"
                 + (f", optimize {request.optimize}" if request.optimize else "")
                 + (", dedupe" if request.dedupe else ""))
        for variant in request.variants:
            path, hit = variant_artifact(ctx, variant, request.optimize)
            progress(f"onnx-{variant}: {'from cache' if hit else 'built'} at {path}")
            artifacts[variant] = (path, hit)
    if not artifacts and found is not None:  # no card to write, but the table of why each failed
        request.out.mkdir(parents=True, exist_ok=True)
        write_document(request.out, SEARCH_FILE, found.payload)
        table = search_section(found.payload, found.payload["candidates"])
        write_page(request.out, SEARCH_PAGE, "\n".join(table) + "\n")
        raise ShippedNothing(f"the search shipped nothing: no candidate passed; every candidate and why it "
                             f"failed is in {request.out / 'search.md'} (and search.json)")

    out = request.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in set(FILE_NAMES) - set(artifacts) if found is not None else ():
        for path in (out / FILE_NAMES[stale], out / f"{FILE_NAMES[stale]}_data"):
            path.unlink(missing_ok=True)  # an earlier export's file the search did not ship
    side = copy_side_files(model.path, out)
    placed: dict[str, tuple[Path, dict[str, int] | None]] = {}
    for variant, (path, _) in artifacts.items():
        dst = place(path, out, FILE_NAMES[variant])
        stats = None
        if request.dedupe:

            d = dedupe_file(dst)
            stats = d.as_dict()
            progress(f"onnx-{variant}: dedupe removed {d.removed} duplicate initializers "
                     f"({d.bytes_before - d.bytes_after} bytes), {d.file_bytes_before} -> "
                     f"{d.file_bytes_after} bytes")
            audited = audit_file(dst)
            if audited.can_saturate and audited.shared:
                write_unshared(dst, dst)  # so that the card's session option can open it
                stats.update(file_bytes_after=dst.stat().st_size, kept_per_product=len(audited.shared))
                progress(f"onnx-{variant}: {len(audited.shared)} int8 weights or zero points kept one per "
                         "product (ONNX Runtime 1.25 on cannot open shared ones with "
                         "session.x64quantprecision=1)")
        placed[variant] = (dst, stats)
        progress(f"onnx-{variant}: wrote {dst} ({variant_bytes(dst) / 1e6:.1f} MB)")

    tokenizer = session.tokenizer
    # an argmax decides by none; the project's own thresholds (tuned, or served) where it has them
    flips = "" if session.flips_at is not None else ", the flips at 0.5"  # (tuned: F1's thresholds alone)
    threshold = (None if not Task.of(model.task).thresholded else THRESHOLD if session.thresholds is None
                 else described(request.thresholds) + flips)
    decides = f", threshold {threshold}" if threshold is not None else ""
    progress(f"evaluating on {len(texts)} texts of {data_desc['name']} (batch {config.eval_batch_size}"
             f"{decides})")
    torch_runner = session.runner("torch")
    reference = predict_texts(torch_runner, tokenizer, texts, config.eval_batch_size, progress=progress)
    results: dict[str, Any] = {"torch": _evaluate("torch", reference, reference, gold, precision="fp32",
                                                  size_bytes=torch_runner.size_bytes, session=session,
                                                  data=data)}
    variants: list[VariantResult] = []
    skipped = optimum_missing()
    if skipped:
        progress(f"optimum's ORTModel check skipped: {skipped}; {INSTALL_HINT}")
    for variant, (dst, stats) in placed.items():
        name = f"onnx-{variant}"
        size = variant_bytes(dst)
        runner = OnnxRunner(open_session(dst, ctx.device, ctx.threads), ctx, name, variant, dst,
                            artifacts[variant][1], size)
        probs = predict_texts(runner, tokenizer, texts, config.eval_batch_size, progress=progress)
        summary = _evaluate(name, probs, reference, gold, precision=variant, size_bytes=size, session=session,
                            data=data)
        if runner.integer_path is not None:  # INT8: the other integer path too, where it differs
            summary["integer_paths"] = _other_path(runner, ctx, tokenizer, data, reference, gold, session,
                                                   config.eval_batch_size, summary, progress)
        runner.close()
        entry = artifacts[variant][0]  # (a search's winner is its file); a build that fused keeps a record
        if unfused := fusion_note(entry if entry.is_dir() else entry.parent):
            summary["unfused"] = unfused
            progress(f"{name}: {unfused}")
        progress(variant_line(name, summary))
        if not skipped:
            check_optimum_loads(out, dst.name, model.task, tokenizer, texts[:8], probs[:8])
            progress(f"{name}: optimum's ORTModel loads {dst.name} and agrees")
        variants.append(VariantResult(variant, dst.name, size, sha256_file(dst), artifacts[variant][1],
                                      summary, stats, optimum_loads=None if skipped else True))
        results[name] = summary
    session.close()

    payload = {
        "command": request.command(),
        "model": {"name": model.name, "path": str(model.path), "source": model.source, "task": model.task,
                  "model_type": model.model_type, "content_hash": model.content_hash,
                  "labels": list(model.label_names), **({"task_note": n} if (n := model.task_note) else {}),
                  **({"dtype_note": n} if (n := model.dtype_note) else {}),
                  **({"label2id_note": n} if (n := model.label2id_note) else {}),
                  **({"cross_encoder": a} if (a := model.cross_encoder) else {}),
                  **({"threshold_note": n} if session.thresholds is not None
                     and (n := judged_at_note(request.thresholds)) else {}),
                  **({"tokenizer_note": note} if (note := tokenizer_note(tokenizer, model.path)) else {})},
        "dataset": data_desc,
        "threshold": threshold,
        "eval_batch_size": config.eval_batch_size,
        "exporter": fp32_exporter(),
        "optimize": request.optimize,
        "optimizer": fp32_optimizer() if request.optimize else None,
        "optimum_check": {"ran": not skipped, "skipped_because": skipped},
        "dedupe": request.dedupe,
        "int8": int8_settings(ctx, found.winners.get("int8") if found else None),
        "side_files": side,
        "versions": toolchain_versions(ONNX_PACKAGES),
        "reference": {"backend": "torch", **results["torch"]},
        "variants": {v.variant: {"file": v.file, "backend": f"onnx-{v.variant}", "size_bytes": v.size_bytes,
                                 "sha256": v.sha256, "from_cache": v.from_cache, "dedupe": v.dedupe,
                                 "optimum_loads": v.optimum_loads,
                                 **({"recipe": found.winners[v.variant].recipe,
                                     "how": found.winners[v.variant].how} if found else {}),
                                 **v.summary} for v in variants},
        "seconds": round(time.monotonic() - started, 1),
    }
    if found is not None:
        payload["search"] = {k: v for k, v in found.payload.items() if k != "candidates"}
        payload["candidates"] = found.payload["candidates"]
    write_document(out, EXPORT_FILE, payload)  # atomically, stamped with its schema version
    write_page(out, CARD_FILE, render_card(payload))
    progress(f"wrote {out / 'README.md'} and {out / 'export.json'} ({payload['seconds']:.0f}s)")
    return ExportResult(out, payload, variants)
