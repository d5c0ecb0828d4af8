"""Session state: the model, data, reference and built backends, each made once.

The pytest plugin keeps one `GateSession` in `config.stash`; fixtures ask it for what
they need and it builds lazily. A failed build is remembered too, so every test of
that backend reports the same error without rebuilding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any

import numpy as np

from encoder_gate.accuracy.checks import bounds_for
from encoder_gate.accuracy.evaluation import Evaluation, drift_decision, evaluate
from encoder_gate.accuracy.metrics import drift, tune_thresholds
from encoder_gate.accuracy.thresholds import per_label
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.backends.base import (
    BuildContext,
    Device,
    Runner,
    at_threads,
    first_call_seconds,
    runner_loaded,
    runner_max_tokens,
    runner_notes,
    weights_bytes,
)
from encoder_gate.backends.onnx_runner import untyped_pairs
from encoder_gate.backends.registry import (
    REFERENCE_BACKEND,
    exact_counterpart,
    parse_backend,
    split_integer_path,
)
from encoder_gate.cache import ArtifactCache
from encoder_gate.config import GateConfig
from encoder_gate.data.calibration import CALIBRATION_TEXTS, CalibrationSource
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError, NotApplicable, PlainBuildFailed
from encoder_gate.memory import return_freed_memory
from encoder_gate.models.resolve import resolve_model
from encoder_gate.models.spec import ModelSpec
from encoder_gate.models.tokenizers import load_tokenizer
from encoder_gate.runtime.artifact_builds import build_artifact, build_in_child
from encoder_gate.runtime.devices import build_on_its_device, planned_device
from encoder_gate.runtime.evaluation_set import dataset_source, evaluation_set, load_split
from encoder_gate.runtime.inference import (
    fed_tokenizer,
    longer_than,
    max_length,
    predict_texts,
    tokenizer_for,
    truncating,
)
from encoder_gate.runtime.predictions import Predicted, artifact_of, cached_predictions
from encoder_gate.runtime.provenance import check_inputs
from encoder_gate.tasks import THRESHOLD


@dataclass
class BuildRecord:
    """How one backend came to be, for the terminal summary and the reports."""

    name: str
    seconds: float
    from_cache: bool | None = None
    precision: str = ""
    size_bytes: int = 0
    error: str | None = None
    notes: tuple[str, ...] = ()  # what the backend decided about an artifact (e.g. inferred precision)
    predictions: tuple[bool, float] | None = None  # (from cache, seconds) on the evaluation set
    max_tokens: int | None = None  # the runner's own input limit (a static sequence length), if any
    integer_path: str | None = None  # an INT8 ONNX runner's integer arithmetic (backends.int8_path)
    can_saturate: bool | None = None  # whether that arithmetic differs between CPUs for its file
    path_way: str | None = None  # how a twin computed its integer path here (path_backend.WAYS)
    artifact: str | None = None  # what its outputs are computed from (predictions.artifact_of)
    device: str = "cpu"  # where it computes: the session's device, a pinned one, or the CPU (runner)


@dataclass
class GateSession:
    """Lazily built, shared state of one pytest session."""

    config: GateConfig
    progress: Callable[[str], None] = print
    records: dict[str, BuildRecord] = field(default_factory=dict)
    _runners: dict[str, Runner | GateError] = field(default_factory=dict)
    # backend -> (its artifact was in the cache, seconds): what prebuild() built before any runner
    _prebuilt: dict[str, tuple[bool, float]] = field(default_factory=dict)
    _looked_up: set[str] = field(default_factory=set)  # every name prebuild() saw, whatever became of it
    _settled: set[str] = field(default_factory=set)  # records a runner's first call has settled (_settle)
    # backend -> why it computes on the CPU: a file with no kernels on the session's device (devices)
    _fell_back: dict[str, str] = field(default_factory=dict)
    _references: dict[str, Runner] = field(default_factory=dict)  # device -> torch eager there (reference_on)
    _closed: bool = False
    not_applicable: dict[str, str] = field(default_factory=dict)  # backend -> why it was not built (runner)
    #: What this session read from the artifact cache instead of computing, per backend: whether its
    #: predictions on the evaluation set were (False: computed here) and the checks whose kept pass it read
    #: (the smoke test, derandomized properties). accuracy.json's `cached_outputs`, repeated by the verdict.
    cached_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The largest difference the padding properties saw per backend (alone vs padded, batched, moved or
    #: truncated), its bound padding_atol: accuracy.json's `padding` (a kept pass keeps what its run saw).
    padding: dict[str, dict[str, float]] = field(default_factory=dict)
    _predictions: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)  # (name, max tokens)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    #: Whether this session times its runners (benchmarks, vs base): then they run at `threads`, the count
    #: their speed is measured at; else (accuracy only) at `eval_threads`, all cores by default. Set before
    #: the first build. Predictions on the evaluation set run at `eval_threads` either way (`at_threads`).
    timing: bool = True
    #: The user's own selection of the session's tests (pytest's -k, -m, --deselect), or None: the
    #: tests it deselected did not run, and its results documents say so (provenance `selection`).
    selection: str | None = None
    #: The project's backends --gate-backends left out of this session ("--gate-backends torch (not the
    #: project's onnx-int8)"), or None: its verdict does not cover them either (provenance `selection`).
    narrowed: str | None = None
    #: Whether its backends came from --gate-backends, not the configuration (provenance `backends_from`)
    backends_given: bool = False
    #: Under a selection, the (backend, check) of each shipped accuracy test it kept (None: every one
    #: ran): accuracy.json holds a backend's checks whose tests ran, so the verdict judges no other.
    selected_checks: frozenset[tuple[str, str]] | None = None
    #: The commit checked out where the session runs (None outside git): its results documents say
    #: which commit they are of (a history record of another commit refuses them).
    commit: str | None = None
    #: Where the project sits in its git repository ("services/topics"; "" at its top): its results say
    #: which of a repository's projects they are of (a history record's series, its page's title).
    project: str = ""
    calibration_count: int = CALIBRATION_TEXTS  # how many calibration texts static INT8 reads
    _calibration: tuple[tuple[Text, ...], str] | None = None

    @property
    def build_threads(self) -> int:
        """The intra-op threads this session's runners are built with (see `timing`)."""
        return self.config.threads if self.timing else self.config.eval_threads

    def untimed(self, runner: Any) -> AbstractContextManager[object]:
        """Inside the block `runner` computes at `eval_threads` (all cores by default) when this session built
        it at another count to time it (see `timing`): the predictions on the evaluation set and the padding
        properties, whose outputs do not depend on how fast they come. Its own count again after the block."""
        if self.build_threads != self.config.eval_threads:
            return at_threads(runner, self.config.eval_threads)
        return nullcontext()

    @cached_property
    def cache(self) -> ArtifactCache:
        return ArtifactCache(self.config.cache_dir, notify=self.progress,
                             keep_check=partial(check_inputs, self))  # nothing of files changed since read

    @cached_property
    def model(self) -> ModelSpec:
        return resolve_model(self.config.model, self.cache, self.progress)

    @cached_property
    def model_bytes(self) -> int:
        """The size of the model directory's weight files (what a property test's example costs
        grows with), read from the disk without loading them."""
        return weights_bytes(self.model.path)

    @cached_property
    def tokenizer(self) -> Any:
        """The model's tokenizer, truncating at its positions; a GateError where the directory has none."""
        # a tokenizer that does not know the model's positions (no model_max_length saved) would
        # feed it texts longer than its position embeddings hold: an index error deep in torch
        positions = self.model.max_positions  # (inference.fed_tokenizer: max-tokens, right padding too)
        return fed_tokenizer(load_tokenizer(self.model.path), positions, self.config.max_tokens)

    @cached_property
    def dataset(self) -> Any:
        """The evaluation set: configured source, split and variant, checked against the model
        (runtime.evaluation_set)."""
        return evaluation_set(self.config, self.model, self.dataset_source)

    @property
    def labelled(self) -> bool:
        """Whether the evaluation texts carry gold labels (not so with `texts`)."""
        return self.config.texts is None

    @property
    def gold(self) -> np.ndarray | None:
        """The gold labels of the evaluation set, or None for unlabelled texts."""
        return self.dataset.labels if self.labelled else None

    @cached_property
    def cut_texts(self) -> tuple[int, int]:
        """How many evaluation texts are longer than the tokens the model is fed, and that limit:
        the reference and every backend see their first `limit` tokens (accuracy.json says so)."""
        limit = max_length(self.tokenizer)
        return longer_than(self.tokenizer, self.dataset.texts, limit), limit

    @cached_property
    def dataset_source(self) -> str:
        """The source actually read (runtime.evaluation_set.dataset_source): `bundled-sentiment` for a
        sentiment head's `bundled`."""
        return dataset_source(self.config, self.model)

    def load_split(self, split: str, variant: str | None = None) -> Any:
        """One split of the configured dataset source (and variant, unless given), with the
        model's labels; the `texts` file, unlabelled, whatever the split."""
        return load_split(self.config, self.model, self.dataset_source, split, variant)

    def device_of(self, name: str) -> Device:
        """Where backend `name` computes: the device the configuration pins it to, else the session's,
        except for a file with no kernels there, which runs on the CPU (:meth:`runner`)."""
        return "cpu" if name in self._fell_back else planned_device(self.config, name)

    def context(self, name: str | None = None) -> BuildContext:
        """What backend `name` is built with (on its device, :meth:`device_of`); without a name, on the
        session's device."""
        return self._context_on(self.config.device if name is None else self.device_of(name))

    def _context_on(self, device: Device) -> BuildContext:
        cfg = self.config
        return BuildContext(model=self.model, cache=self.cache, device=device,
                            threads=self.build_threads, int8_per_channel=cfg.int8_per_channel,
                            int8_reduce_range=cfg.int8_reduce_range, int8_weights=cfg.int8_weights,
                            progress=self.progress,
                            calibration=self.calibration)

    @property
    def calibration_source(self) -> CalibrationSource:
        """Where static INT8's calibration texts come from: the first `calibration_count` lines of
        the configured `calibration` file, else the validation split of the configured dataset
        (:func:`~encoder_gate.data.calibration.calibration_texts`), never its test split."""
        return CalibrationSource(self.dataset_source, self.calibration_count, self.config.calibration,
                                 self.config.text_column, self.config.pair_column)

    def calibration(self) -> tuple[tuple[Text, ...], str]:
        """Static INT8's calibration texts and where they come from (:attr:`calibration_source`).
        Read once, when a static recipe is first built."""
        if self._calibration is None:
            self._calibration = self.calibration_source()
            self.progress(f"static INT8 calibrates on {self._calibration[1]}")
        return self._calibration

    @property
    def calibrated_on(self) -> str | None:
        """Where static INT8's calibration texts came from, once a static recipe read them."""
        return self._calibration[1] if self._calibration is not None else None

    def prebuild(self, names: Sequence[str], before: Callable[[list[str]], None] | None = None) -> None:
        """Build the artifacts of `names` that are files (the ONNX exports, conversions and quantizations: a
        backend with `artifact(ctx)`) into the cache now, before any runner holds memory, in a process of
        their own (:mod:`encoder_gate.runtime.artifact_builds`): a build's peak then lands on no runner opened
        so far (a PR session that times its backends against its base keeps them all until its speed cells;
        its INT8 quantization peaked at 3.4 GB on a 125M model that way, docs/development.md), what it leaves
        mapped goes with its process, and a build that crashes fails its own backend, not the session. Each
        runner is opened from the cache later, as before, and its record says whether this session built the
        artifact. A build that fails is kept as that backend's failure, for its tests to report. `before` is
        told the names whose artifacts are missing, before any is built (the session's forecast)."""
        todo = [name for name in dict.fromkeys(names)
                if name not in self._runners and name not in self._looked_up]
        if not todo:  # (a session of no gate test: nothing is resolved, the model not even trained)
            return
        self._looked_up.update(todo)
        lookup = self.cache.lookup_only()
        looked = (build_artifact(name, replace(self.context(name), cache=lookup)) for name in todo)
        outcomes = [o for o in looked if o is not None]
        missing = [o.name for o in outcomes if o.kind == "missing"]
        if before is not None:
            before(missing)
        for device in dict.fromkeys(self.device_of(name) for name in missing):  # one child a device
            these = [name for name in missing if self.device_of(name) == device]
            self.progress(f"building {', '.join(these)} in a process of its own (its memory goes with it)")
            outcomes += build_in_child(self.context(these[0]), self.calibration_source, these, self.progress)
        for outcome in outcomes:
            if outcome.kind in ("cached", "built"):
                self._prebuilt[outcome.name] = (outcome.kind == "cached", outcome.seconds)
            elif outcome.kind == "error":
                self._runners[outcome.name] = outcome.error()
                self.records[outcome.name] = BuildRecord(outcome.name, outcome.seconds, error=outcome.detail)
            # "unexpected": not ours to word here (outside any test): its runner's build, in its
            # first test, meets it again and reports it there

    def runner(self, name: str) -> Runner:
        """The built backend `name`; built on first use, then shared until :meth:`release`d (then
        built again from the artifact cache if asked for; the first build's record stays). Its
        artifact file, if it has one that no :meth:`prebuild` saw (an xdist worker's backend), is
        built in a process of its own first, as prebuild builds it."""
        if name not in self._runners and name not in self._looked_up:
            self.prebuild([name])
        if name not in self._runners:
            started, lazy = time.monotonic(), False
            try:
                runner, elsewhere = build_on_its_device(self.config, name, self._context_on)
                lazy = not runner_loaded(runner)  # (it loads at its first call: nothing to give back yet)
                if elsewhere is not None:
                    self._fell_back[name] = elsewhere
                    self.progress(f"{name}: {elsewhere}")
            except NotApplicable as exc:  # its tests skip, and the verdict says why (an integer path's twin)
                self.not_applicable[name] = str(exc)
                raise
            except GateError as exc:
                if isinstance(exc, PlainBuildFailed) and exc.plain in self.config.backends and (
                        self.selected_checks is None or any(b == exc.plain for b, _ in self.selected_checks)):
                    # the file's row, judged in this session (not -k ~path), fails saying why: once
                    raise NotApplicable(f"{name}: {exc.plain} could not be built, and its row says why: "
                                        f"{str(exc).splitlines()[0][:160]}") from None
                self._runners[name] = exc
                self.records[name] = BuildRecord(name, time.monotonic() - started, error=str(exc))
                raise
            finally:  # what the build freed (an export, a conversion); nothing where it loaded nothing
                return_freed_memory(0 if lazy else self.model_bytes)
            self._runners[name] = runner
            hit, seconds = self._prebuilt.get(name, (True, 0.0))  # built by prebuild(): not from the cache
            if name not in self.records:  # (a runner opened again after its release keeps the first's)
                self.records[name] = BuildRecord(
                    name, time.monotonic() - started + seconds, runner.from_cache and hit, runner.precision,
                    runner.size_bytes,
                    notes=(*runner_notes(runner), *filter(None, [self._fell_back.get(name), untyped_pairs(
                        runner, self.tokenizer, lambda: self.dataset.texts)])),
                    max_tokens=runner_max_tokens(runner),
                    integer_path=getattr(runner, "integer_path", None),
                    can_saturate=getattr(runner, "can_saturate", None),
                    path_way=getattr(runner, "path_way", None), artifact=artifact_of(runner),
                    device=self.device_of(name))
        found = self._runners[name]
        if isinstance(found, GateError):
            raise found
        self._note_broken(name, found)
        record = self.records.get(name)
        if record is not None and record.error:  # its library failed on an earlier batch: at once, again
            raise GateError(record.error)
        return found

    def _note_broken(self, name: str, runner: Runner) -> None:
        """Keep a runner's failure on a batch (an ONNX file ONNX Runtime could not compute: its
        `broken`) in its record, as a build's failure: said once, on its row when it was not evaluated
        ("not checked: ..."), and its later tests fail with it, built again too; its record and
        evaluation stay readable (bounds, the payload)."""
        broken = getattr(runner, "broken", None)
        if broken and name in self.records and not self.records[name].error:
            self.records[name].error = str(broken)

    def built(self, name: str) -> BuildRecord:
        """How backend `name` was built (precision, size, input limit), building it if it never was,
        without building it again once released."""
        if name not in self.records:
            self.runner(name)
        found = self._runners.get(name)
        if isinstance(found, GateError):
            raise found
        return self.records[name]

    def release(self, name: str) -> None:
        """Close backend `name`'s runner and give its memory back; its record, predictions and evaluation
        stay. The plugin releases each backend when its tests are done: a session holds one model's runners
        at a time, not every backend's (five copies of a 500 MB model, each with its activation arena)."""
        found = self._runners.get(name)
        if found is None or isinstance(found, GateError):
            return
        self._note_broken(name, found)  # (built again, it would fail its tests one by one again)
        del self._runners[name]
        self._settle(name, found)
        held = runner_loaded(found)  # (one never called holds nothing to give back: no collection)
        found.close()
        del found
        return_freed_memory(self.model_bytes if held else 0)

    def _settle(self, name: str, runner: Runner) -> None:
        """Complete the record of a runner that built part of itself at its first call (torch.compile
        compiles there, `first_call_seconds`): whether that came from the cache and its notes, from
        the first such runner of `name`; the seconds of every one (a runner opened again after its
        release and called compiles again). A runner never called leaves its record as it was
        built: its notes say it was not compiled."""
        record, took = self.records.get(name), first_call_seconds(runner)
        if record is None or record.error or took is None:
            return
        if name not in self._settled:
            self._settled.add(name)
            record.from_cache = runner.from_cache and self._prebuilt.get(name, (True, 0.0))[0]
            record.notes = runner_notes(runner)
        record.seconds += took

    def tokenizer_of(self, name: str) -> Any:
        """The tokenizer as backend `name` is fed: truncating at its static sequence length, if it
        has one (see :func:`~encoder_gate.runtime.inference.tokenizer_for`)."""
        return tokenizer_for(self.tokenizer, self.built(name))  # its record keeps the runner's max_tokens

    def max_tokens(self, name: str) -> int:
        """The length backend `name`'s texts are truncated at."""
        return self.truncated_to(name) or max_length(self.tokenizer)

    def truncated_to(self, name: str) -> int | None:
        """The length backend `name` truncates texts at when it is below the tokenizer's own, else None."""
        limit = self.built(name).max_tokens
        return limit if limit is not None and limit < max_length(self.tokenizer) else None

    def predictions(self, name: str, max_tokens: int | None = None) -> np.ndarray:
        """The backend's outputs on the whole evaluation set, each text truncated at the backend's
        own limit or at `max_tokens` (the torch reference of a file with a static sequence length):
        computed once per session, and taken from the cache when the model, artifact, texts,
        truncation and versions are unchanged."""
        tokenizer = self.tokenizer_of(name) if max_tokens is None else truncating(self.tokenizer, max_tokens)
        key = (name, max_length(tokenizer))
        if key not in self._predictions:
            texts = self.dataset.texts
            runner = self.runner(name)
            started, compiled = time.monotonic(), first_call_seconds(runner)
            preds, hit, entry = self._cached_predictions(runner, texts, tokenizer, self.device_of(name))
            self._predictions[key] = preds
            own = key[1] == self.max_tokens(name)
            if name in self.records and own:  # a first call's compile is the build's, not the pass's
                compiling = (first_call_seconds(runner) or 0.0) - (compiled or 0.0)
                self.records[name].predictions = (hit, time.monotonic() - started - compiling)
            if own:  # and where they are kept: a session on other libraries may compare with them
                self.cached_outputs.setdefault(name, {}).update({"predictions": hit, "entry": entry})
            if hit:
                cut = "" if own else f" truncated to {key[1]} tokens"
                self.progress(f"{name}: predictions on {len(texts)} texts{cut} from cache")
        return self._predictions[key]

    def saw_padding(self, name: str, largest: float, bound: float) -> None:
        """Note the largest difference a padding property of backend `name` saw, under `bound`."""
        seen = self.padding.setdefault(name, {"largest": 0.0, "bound": bound})
        seen["largest"], seen["bound"] = max(seen["largest"], largest), bound

    def read_kept_pass(self, name: str, check: str) -> None:
        """Note that backend `name`'s `check` passed by its kept pass (runtime.properties), not run here."""
        self.cached_outputs.setdefault(name, {}).setdefault("checks", []).append(check)

    def predict_on(self, name: str, texts: Sequence[Text]) -> tuple[np.ndarray, bool]:
        """The backend's outputs on other texts than the evaluation set's (e.g. the PR's, for
        the base's runners), through the prediction cache, and whether they were read from it."""
        started = time.monotonic()
        preds, hit, _ = self._cached_predictions(self.runner(name), texts, self.tokenizer_of(name),
                                                 self.device_of(name))
        if name in self.records:
            self.records[name].predictions = (hit, time.monotonic() - started)
        return preds, hit

    def _cached_predictions(self, runner: Any, texts: Sequence[Text], tokenizer: Any,
                            device: str) -> Predicted:
        """The runner's outputs on `texts` as `tokenizer` encodes them, computed on `device` (from the
        prediction cache when their key is there)."""

        cfg = self.config

        def compute() -> np.ndarray:
            with self.untimed(runner):
                return predict_texts(runner, tokenizer, texts, cfg.eval_batch_size, progress=self.progress)

        return cached_predictions(self.cache, runner, self.model, texts, cfg.eval_batch_size, device,
                                  max_length(tokenizer), compute)

    @property
    def reference(self) -> np.ndarray:
        """torch FP32 eager outputs on the evaluation set: the reference of every check."""
        return self.predictions(REFERENCE_BACKEND)

    def reference_for(self, name: str) -> np.ndarray:
        """The reference backend `name` is judged against: torch FP32 eager on the same texts,
        truncated where `name` truncates them (a file with a static sequence length)."""
        return self.predictions(REFERENCE_BACKEND, self.max_tokens(name))

    def bounds(self, name: str, *, against_base: bool = False) -> Bounds:
        """The backend's accuracy bounds for the model's task, with the project's overrides.

        A prebuilt file (onnx:PATH) gets the bounds of its runner's precision (inferred from
        its graph or given as onnx:PATH@int8): onnx-PRECISION's bounds and overrides, then the
        overrides under its own name. A configured per-label-keep replaces every backend's.

        `against_base`: the bounds of the PR's backend against the base's. The reference's own
        column is exact (torch against itself: one lost decision fails); against the base it
        compares two models, each computed in FP32, so it takes FP32's column (a retrained
        model keeps each label's F1 within FP32's per-label keep, its headline by the F1 rule)."""
        # a prebuilt file's precision is known once built (read from its graph)
        number_format = self.built(name).precision if name.startswith("onnx:") else None
        if against_base and parse_backend(name).number_format == "reference":
            number_format = "fp32"
        bounds = bounds_for(name, self.config.tolerances, task=self.model.task, number_format=number_format,
                            integer_path=self._integer_path(name))
        if self.config.per_label_keep is not None:  # --gate-per-label-keep: every backend
            bounds = replace(bounds, per_label_keep=self.config.per_label_keep,
                             overridden=bounds.overridden | {"per_label"})
        return bounds

    def _integer_path(self, name: str) -> str | None:
        """The integer path plain backend `name` computes on here, where the tolerances name one of
        its paths (`[tool.encoder-gate.tolerances."NAME~PATH"]`, which the plain row takes where this
        CPU computes PATH itself); None otherwise, without building anything."""
        paths = [split_integer_path(k) for k in self.config.tolerances]
        if split_integer_path(name)[1] is not None or not any(inner == name and p for inner, p in paths):
            return None
        return self.built(name).integer_path

    def evaluation(self, name: str) -> Evaluation:
        """Drift and task metrics of backend `name` on the evaluation set, computed once; a backend
        on the other integer path (NAME~saturating) also against NAME's outputs (its path gap)."""
        if name not in self.evaluations:
            record = self.built(name)
            ev = evaluate(
                name, self.predictions(name), self.reference_for(name), self.gold,
                precision=record.precision, size_bytes=record.size_bytes, task=self.model.task,
                label_names=self.model.label_names, atol=self.bounds(name).atol,
                thresholds=self.thresholds, f1_rule=self.config.f1_rule,
                f1_margin=self.config.f1_margin, per_label_min_support=self.config.per_label_min_support,
                max_tokens=self.truncated_to(name), groups=self.dataset.groups, flips_at=self.flips_at,
                queries=self.dataset.queries, grades=self.dataset.grades,
            )
            exact = exact_counterpart(name, self.config.gap_twins())
            against = self._exact_path_predictions(exact) if exact else None
            if against is not None:  # the same file on the exact path: the gap between the two
                gap = drift(self.predictions(name), against, threshold=THRESHOLD,
                            decision=drift_decision(self.model.task))
                ev = replace(ev, path_gap=gap, path_gap_with=exact)
            self.evaluations[name] = ev
        return self.evaluations[name]

    def _exact_path_predictions(self, name: str) -> np.ndarray | None:
        """The predictions of `name`, the exact path's row a saturating one is held against; None
        where it cannot run here (its file has one path only, or the way to compute it is not
        applicable: its own tests say why)."""
        try:
            return self.predictions(name)
        except (NotApplicable, GateError):
            return None

    @cached_property
    def thresholds(self) -> np.ndarray | None:
        """Per-label thresholds: as configured (a table), or tuned on the validation split with the
        reference backend (`thresholds = "tuned"`); None for the model card's fixed 0.5."""
        if self.config.thresholds == "fixed" or not self.model.task.thresholded:
            return None
        if not isinstance(self.config.thresholds, str):
            return per_label(self.config.thresholds, self.model.label_names)

        val = self.load_split("validation")
        self.progress(f"tuning per-label thresholds on {len(val)} validation texts")
        probs = self._cached_predictions(self.runner(REFERENCE_BACKEND), val.texts, self.tokenizer,
                                         self.device_of(REFERENCE_BACKEND)).values
        tuned: np.ndarray = tune_thresholds(probs, val.labels)
        return tuned

    @property
    def flips_at(self) -> np.ndarray | None:
        """Where a decision flips: at the thresholds the project serves (a table), else None (0.5)."""
        return None if isinstance(self.config.thresholds, str) else self.thresholds

    def close(self) -> None:
        """Close every runner (their records settled first); a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        for name, runner in self._runners.items():
            if not isinstance(runner, GateError):
                self._settle(name, runner)
                runner.close()
        for other in self._references.values():
            other.close()

    def reference_on(self, device: Device) -> Runner:
        """torch eager on `device`: the reference a speed cell of a backend computing there is timed
        against (a CPU speedup is never set against a GPU's time); the reference's own runner on its
        device, else one of its own, built once."""
        if device == self.device_of(REFERENCE_BACKEND):
            return self.runner(REFERENCE_BACKEND)
        if device not in self._references:
            self._references[device] = parse_backend(REFERENCE_BACKEND).build(self._context_on(device))
        return self._references[device]
