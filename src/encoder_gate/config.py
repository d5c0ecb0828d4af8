"""Configuration: `[tool.encoder-gate]` in pyproject.toml, overridden by `--gate-*` options.

One frozen dataclass, validated on construction, with no side effects. Keys in
pyproject use dashes (`batch-sizes`), fields use underscores (`batch_sizes`).
"""

from __future__ import annotations

import math
import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from encoder_gate.accuracy.f1_rules import F1Rule
from encoder_gate.accuracy.thresholds import ThresholdMode, Thresholds, command_line_path, read_setting
from encoder_gate.backends.base import Device, Int8Weights
from encoder_gate.backends.int8_path import INTEGER_PATHS, TARGETS, cpu_path
from encoder_gate.backends.recipes import recipe_of
from encoder_gate.backends.registry import (
    DEFAULT_BACKENDS,
    is_backend_name,
    parse_backend,
    split_integer_path,
    with_integer_path,
)
from encoder_gate.data.datasets import LabelFormat
from encoder_gate.environment import CpuQuota, omp_threads
from encoder_gate.errors import GateError
from encoder_gate.waivers import Waiver

Variant = Literal["normal", "filtered"]
Sweep = Literal["gate", "full"]
InconclusiveMode = Literal["fail", "warn"]  # how an A/B cell that could not decide counts


#: The most intra-op threads a setting may ask for: more is a typo, not a machine.
MOST_THREADS = 1024
#: The most random examples `explore` may draw for each property of each backend: 2,000 took 33 s for
#: one property of one backend of `tiny` (2 cores, AMD EPYC, 2026-11-28), so 10,000 is minutes a test
#: and an hour or more a session; a million ran for hours without a line (a typo, not a study).
MOST_EXPLORE = 10_000
#: The longest share of an A/B round one arm may be given (ab-round-seconds): each of a cell's ten rounds
#: at its first look runs both arms, so a minute each is already twenty minutes a cell.
MAX_ROUND_SECONDS = 60.0


#: Where the gate keeps its artifact cache unless told otherwise (--gate-cache-dir, `cache-dir`).
DEFAULT_CACHE_DIR = Path(".encoder-gate/cache")
#: The most tokens the gate feeds a model of a text (`max-tokens`, --gate-max-tokens), unless the model
#: takes fewer: BERT's 512. A long-context encoder's 2048 or 8192 is judged up to there when raised.
MAX_TOKENS = 512
#: The fewest `max-tokens` allows: special tokens and a few words of every text.
MIN_MAX_TOKENS = 16
#: The columns of a dataset file the gate reads when none is configured.
DEFAULT_TEXT_COLUMN, DEFAULT_LABEL_COLUMN = "text", "labels"


@dataclass(frozen=True)
class GateConfig:
    """Everything the suite needs to know, validated."""

    model: str = "default"
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    dataset: str = "bundled"
    dataset_variant: Variant = "normal"
    split: str = "test"
    text_column: str = DEFAULT_TEXT_COLUMN
    label_column: str = DEFAULT_LABEL_COLUMN
    pair_column: str | None = None  # each row's second text: its rows fed as sentence pairs (data.pairs)
    label_format: LabelFormat = "auto"  # how the label column holds labels (names, indices, one-hot)
    relevant_grade: float | None = None  # a one-label model's graded relevance: relevant from this grade on
    texts: Path | None = None  # a text file, one text per line: parity checks only, no F1
    # static INT8's calibration texts, one per line (default: the dataset's validation split)
    calibration: Path | None = None
    batch_sizes: tuple[int, ...] = (1, 8)  # benchmark batch sizes (a full sweep: 1,2,4,8,16,32)
    sweep: Sweep = "gate"  # benchmarks: the measured gate configuration, or everything
    eval_batch_size: int = 32
    max_tokens: int = MAX_TOKENS  # the most tokens of a text fed (up to the model's own limit)
    limit: int = 0  # evaluate only the first N examples (0: all)
    # the padding properties: 0 draws each property's fixed examples (seeded from what is judged, the
    # same every run); N > 0 explores, N random examples a property, a failure kept for every later
    # session (encoder_gate.runtime.properties)
    explore: int = 0
    # "tuned": per-label, on the validation split; a table (or a JSON file's): each label's, as served
    thresholds: Thresholds = "fixed"
    device: Device = "cpu"
    # where a backend's rows are computed when not on `device` (`[tool.encoder-gate.devices]`, e.g.
    # onnx-int8 = "cpu"): pinned, it runs there or fails saying why; unpinned, a file with no kernels
    # on `device` (dynamic INT8 on a GPU) runs on the CPU, its rows saying so (runtime.session.runner)
    devices: Mapping[str, Device] = field(default_factory=dict)
    threads: int = 0  # intra-op threads of a session that times its backends (0: the library default)
    eval_threads: int = 0  # of the predictions on the evaluation set (0: the library default, all cores)
    cache_dir: Path = DEFAULT_CACHE_DIR
    report_dir: Path = Path(".encoder-gate")
    # the share of a sharded session this one runs ("K/N", --gate-shard; its `backends` are that
    # share's): its results documents say so, and so does the verdict of its report directory
    shard: str | None = None
    int8_per_channel: bool = True
    int8_reduce_range: bool = False
    int8_weights: Int8Weights = "QUInt8"  # QUInt8: exact on every CPU; QInt8: U8S8
    # The CPUs the INT8 files will run on (int8_path.TARGETS): each INT8 ONNX backend's accuracy is
    # judged on every integer path they compute with, this runner's own and the others beside it
    targets: tuple[str, ...] = tuple(TARGETS)
    tolerances: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # How the F1 keep check decides (f1_rules.decide_f1). "point": the backend's F1 keeps
    # f1_keep x the reference's (the CI is reported, not used). "regression": fails only when
    # the whole 95% CI of the F1 change lies below -f1_margin (a drop is shown). "non-inferiority":
    # passes only when the whole CI lies above -f1_margin (a drop is ruled out).
    f1_rule: F1Rule = "point"
    # Absolute F1 (0.01 = one F1 point): the drop the CI rules use, and the drop the evaluation
    # set must be able to see (else an underpowered warning). One point: MLPerf's 99% rule is
    # 0.7 points at the default model's micro F1 of 0.71, which its 1200 test texts cannot
    # resolve (INT8's minimum detectable drop is 0.0095 there); one point is the smallest round
    # margin they do, and a drop below it is within what healthy quantization costs.
    f1_margin: float = 0.01
    # Per-label check: labels with fewer gold positives are reported but not judged (one decision
    # moves a label's F1 by about 1/support: 0.05 at 20 positives; see per_label_keep in
    # tolerances.py for the measurement behind 30).
    per_label_min_support: int = 30
    # Per-label check: the share of its reference F1 each label keeps, for every backend
    # (None: the backend's per_label_keep in tolerances.py).
    per_label_keep: float | None = None
    # The PR against its base in one session (--gate-base DIR, a checkout of the base, or
    # --gate-base-ref REF, checked out in a git worktree): the smallest slowdown worth failing
    # for, how an undecided cell counts, and each cell's time.
    base: Path | None = None
    base_ref: str | None = None
    min_slowdown: float = 0.05
    inconclusive: InconclusiveMode = "warn"
    ab_budget: float = 25.0
    # each arm's share of one timed A/B round (None: the A/B's own, speed.rounds.ROUND_SECONDS, 0.5 s)
    ab_round_seconds: float | None = None
    # accepted, known failures, each with an owner, a reason and an end date (Waiver)
    waivers: tuple[Waiver, ...] = ()
    # The seconds the session may spend timing, shared among its speed cells (speed.budget); None:
    # every cell runs to its own stopping rule. A vs-base cell takes the smaller of its share and
    # ab_budget.
    budget: float | None = None

    def __post_init__(self) -> None:
        if not self.backends:
            raise GateError("no backends configured: pass --gate-backends torch,onnx-fp32,...")
        for name in self.backends:
            parse_backend(name)
        if len(set(self.backends)) != len(self.backends):
            raise GateError(f"backend listed twice in {list(self.backends)}")
        _check_literal("device", self.device, Device, "--gate-device")
        for name, where in self.devices.items():
            _check_literal(f"the device of {name}", where, Device, "[tool.encoder-gate.devices]")
        # a typo would pin nothing, silently (a known backend this session leaves out, --gate-backends
        # or a shard's share, is pinned for the sessions that run it)
        unknown_pins = [name for name in self.devices if not is_backend_name(name)]
        if unknown_pins:
            raise GateError(f"[tool.encoder-gate.devices] pins {', '.join(unknown_pins)}, which names no "
                            f"backend (configured here: {', '.join(self.backends)}): pin a backend by name")
        _check_literal("dataset_variant", self.dataset_variant, Variant, "--gate-dataset-variant")
        _check_literal("label_format", self.label_format, LabelFormat, "--gate-label-format")
        if not isinstance(self.thresholds, Mapping):
            _check_literal("thresholds", self.thresholds, ThresholdMode, "--gate-thresholds")
        _check_literal("sweep", self.sweep, Sweep, "--gate-sweep")
        _check_literal("int8_weights", self.int8_weights, Int8Weights, "int8-weights in [tool.encoder-gate]")
        _check_literal("f1_rule", self.f1_rule, F1Rule, "--gate-f1-rule")
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown or not self.targets:
            raise GateError(f"targets (in [tool.encoder-gate], or --gate-targets) must name CPUs the INT8 "
                            f"files will run on, from {', '.join(TARGETS)}; got {list(self.targets)}")
        if not 0 < self.f1_margin < 1:
            raise GateError(f"f1-margin must be an absolute F1 difference in (0, 1), e.g. 0.01 for one F1 "
                            f"point; got {self.f1_margin} (--gate-f1-margin)")
        if self.per_label_min_support < 1:
            raise GateError(f"per-label-min-support must be a positive number of gold positives, got "
                            f"{self.per_label_min_support} (--gate-per-label-min-support)")
        if self.per_label_keep is not None and not 0 <= self.per_label_keep <= 1:
            raise GateError(f"per-label-keep must be a share of the reference F1 in [0, 1], got "
                            f"{self.per_label_keep} (--gate-per-label-keep)")
        _check_literal("inconclusive", self.inconclusive, InconclusiveMode, "--gate-inconclusive")
        if self.base is not None and self.base_ref:
            raise GateError(f"--gate-base {self.base} and --gate-base-ref {self.base_ref} both name the "
                            "base; pass one")
        if not 0 < self.min_slowdown < 1:
            raise GateError(f"min-slowdown is a fraction in (0, 1), e.g. 0.05 for 5%; got "
                            f"{self.min_slowdown} (--gate-min-slowdown)")
        if not 0 < self.ab_budget < float("inf"):  # nan too: it meant no budget at all
            raise GateError(f"ab-budget is seconds per A/B cell, above 0; got {self.ab_budget} "
                            "(--gate-ab-budget)")
        if self.ab_round_seconds is not None and not 0 < self.ab_round_seconds <= MAX_ROUND_SECONDS:
            raise GateError(f"ab-round-seconds is each arm's share of an A/B round, in seconds above 0 and "
                            f"at most {MAX_ROUND_SECONDS:g} (default 0.5); got {self.ab_round_seconds} "
                            "(--gate-ab-round-seconds)")
        if self.budget is not None and not (0 < self.budget < float("inf")):
            raise GateError(f"budget is the seconds a session may spend timing, above 0; got {self.budget} "
                            "(--gate-budget / budget in [tool.encoder-gate])")
        for name, path, what in (("texts", self.texts, "text"), ("calibration", self.calibration,
                                                                  "calibration text")):
            if path is not None and not path.is_file():
                state = "is a directory, not a file" if path.is_dir() else "does not exist"
                raise GateError(f"{name} file {path} {state} (--gate-{name} / {name} in "
                                f"[tool.encoder-gate]); pass a text file with one {what} per line")
        if not self.batch_sizes or any(b <= 0 for b in self.batch_sizes):
            raise GateError(
                f"batch sizes must be positive integers, got {list(self.batch_sizes)}: "
                "pass e.g. --gate-batch-sizes 1,8,32"
            )
        for name, values in (("batch-sizes", self.batch_sizes), ("targets", self.targets)):
            twice = sorted({str(v) for v in values if values.count(v) > 1})
            if twice:  # each would be measured, or judged, twice over
                raise GateError(f"{name} lists {', '.join(twice)} twice in {list(values)} (--gate-{name} / "
                                f"{name} in [tool.encoder-gate]): name each once")
        grade = self.relevant_grade
        misread = self.texts is not None or self.label_format != "auto"
        if grade is not None and (misread or not math.isfinite(grade)):
            beside = (" beside texts, which hold no labels" if self.texts is not None else
                      f" beside label-format {self.label_format!r}: grades are numbers, read as such; leave "
                      "label-format out" if self.label_format != "auto" else "")
            raise GateError(f"relevant-grade is the grade of relevance from which a row of the dataset is "
                            f"relevant, a finite number read from its label column; got {self.relevant_grade}"
                            f"{beside} (--gate-relevant-grade / relevant-grade in [tool.encoder-gate])")
        if self.max_tokens < MIN_MAX_TOKENS:
            raise GateError(f"max-tokens must be at least {MIN_MAX_TOKENS}, got {self.max_tokens} "
                            "(--gate-max-tokens / max-tokens in [tool.encoder-gate])")
        if self.eval_batch_size <= 0:
            raise GateError(f"eval-batch-size must be positive, got {self.eval_batch_size} "
                            "(--gate-eval-batch-size / eval-batch-size in [tool.encoder-gate])")
        negative = [f"{name} {value} (--gate-{name}): must be 0 ({zero}) or positive" for name, value, zero in
                    (("threads", self.threads, "the default: every core"),
                     ("eval-threads", self.eval_threads, "the default: every core"),
                     ("limit", self.limit, "the default: every text"),
                     ("explore", self.explore, "the default: the fixed examples")) if value < 0]
        if negative:
            raise GateError("; ".join(negative))
        counts = (("threads", self.threads), ("eval-threads", self.eval_threads))
        many = [f"{name} {value}" for name, value in counts if value > MOST_THREADS]
        if many:  # a typo, not a runner: torch and ONNX Runtime would start that many threads
            raise GateError(f"{' and '.join(many)}: at most {MOST_THREADS} (a runner's cores); "
                            "0 gives the library default, every core")
        if self.explore > MOST_EXPLORE:
            raise GateError(f"explore {self.explore} (--gate-explore): at most {MOST_EXPLORE:,} random "
                            "examples, drawn for every padding property of every backend (2,000 take about "
                            "half a minute for one property of a 2-layer model); explore one property in "
                            "steps with -k")

    @classmethod
    def from_sources(cls, table: Mapping[str, Any], overrides: Mapping[str, Any],
                     root: Path) -> GateConfig:
        """Defaults <- pyproject table <- command-line overrides (None means unset)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in known:
                raise GateError(
                    f"unknown key {key!r} in [tool.encoder-gate] of pyproject.toml; known keys: "
                    f"{', '.join(sorted(k.replace('_', '-') for k in known))}"
                )
            if name in spelled:  # f1-rule and f1_rule: one would silently win
                raise GateError(f"{spelled[name]} and {key} in [tool.encoder-gate] of pyproject.toml are one "
                                f"setting given twice; keep one ({name.replace('_', '-')})")
            spelled[name] = key
            values[name] = value
        given = {k: v for k, v in overrides.items() if v is not None}
        for name in _PATHS:  # a command line's path is from where pytest was started, as --gate-model's
            if isinstance(given.get(name), str) and given[name].strip():
                given[name] = str(Path(given[name]).expanduser().absolute())
        if "thresholds" in given:
            given["thresholds"] = command_line_path(given["thresholds"])
        values.update(given)
        return cls(**_coerce(values, root))

    def path_twins(self) -> tuple[str, ...]:
        """Each INT8 ONNX backend on every integer path of `targets` this runner's CPU does not
        compute natively (`onnx-int8~saturating` on a VNNI runner): what the accuracy checks judge
        beside the configured backends."""
        here = cpu_path()
        paths = [p for p in INTEGER_PATHS if p != here and p in {TARGETS[t] for t in self.targets}]
        return tuple(with_integer_path(b, p) for b in self.backends for p in paths
                     if self._paths_may_differ(b))

    def paths_may_differ(self) -> bool:
        """Whether some configured backend may compute other numbers on the two integer paths (an
        INT8 ONNX file with int8 weights): only then do results of CPUs of either path differ."""
        return any(self._paths_may_differ(b) for b in self.backends)

    def gap_twins(self) -> tuple[str, ...]:
        """The twins the gap between a file's two integer paths (the path_flip_rate check) is judged
        with: `path_twins`, when CPUs of both paths are among the `targets`; none when the files run on
        CPUs of one path only (a gap to a path no CPU of theirs computes is no risk of theirs), so a
        runner of either kind decides alike."""
        return self.path_twins() if set(INTEGER_PATHS) <= {TARGETS[t] for t in self.targets} else ()

    def _paths_may_differ(self, name: str) -> bool:
        """Whether backend `name` may compute other numbers on the two paths: an INT8 ONNX backend
        not made exact by its recipe (a prebuilt file is read when built: its twin skips there when
        nothing in it can saturate)."""
        if not name.startswith("onnx") or parse_backend(name).number_format != "int8":
            return False
        recipe = recipe_of(name, *(getattr(self, setting) for setting in INT8_RECIPE))
        return recipe is None or not recipe.same_on_every_cpu

    def pinned_device(self, name: str) -> Device | None:
        """The device `[tool.encoder-gate.devices]` pins backend `name` (or the INT8 file of a twin
        `NAME~PATH`) to, or None."""
        return self.devices.get(name) or self.devices.get(split_integer_path(name)[0])

    def with_(self, **changes: Any) -> GateConfig:
        return replace(self, **changes)

    def judging(self) -> dict[str, Any]:
        """What this session checks and how it judges, as JSON: every field but NOT_JUDGING's. The
        shards of one session agree on all of it, or `encoder-gate merge` refuses them."""
        return {f.name: as_json(getattr(self, f.name)) for f in fields(self) if f.name not in NOT_JUDGING
                and (f.name not in JUDGING_WHEN_SET or getattr(self, f.name))}


#: The settings of the INT8 recipe a backend is built by, in recipes.recipe_of's order: a PR that changes
#: one builds another file than its base (runtime.base.criteria_changes names it).
INT8_RECIPE = ("int8_per_channel", "int8_weights", "int8_reduce_range")


#: The fields that are not judging settings: the model and dataset (the provenance's own blocks,
#: compared apart), where things go, what one shard runs, how fast the predictions go. (PASS_CRITERIA
#: below are the judging settings a PR against its base names when it changes one.)
NOT_JUDGING = frozenset({"model", "dataset", "dataset_variant", "split", "text_column", "label_column",
                         "pair_column", "label_format", "relevant_grade",
                         "limit", "backends", "shard", "cache_dir", "report_dir", "eval_threads",
                         "explore",  # how the properties drew: the provenance's own `explored`
                         "base"})  # the base's checkout path: each runner's own (its model is compared)


#: Judging settings recorded only when set, so that the documents of a session that leaves them unset
#: join those written before they existed (an upgrade of encoder-gate keeps its report directory and
#: its history): the pins of backends to devices, an A/B round's length.
JUDGING_WHEN_SET = frozenset({"devices", "ab_round_seconds"})


def as_json(value: Any) -> Any:
    """`value` as JSON (and a pyproject table) would hold it: paths as text, tuples as lists,
    waivers as their records."""
    if isinstance(value, Waiver):
        return value.to_json()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [as_json(v) for v in value]
    return value


def _check_literal(name: str, value: object, kind: Any, option: str) -> None:
    allowed = get_args(kind)
    if value not in allowed:
        raise GateError(f"{name} must be one of {', '.join(allowed)}, got {value!r} ({option})")


def _split_list(value: Any, name: str) -> tuple[str, ...]:
    """A list given as a TOML array or a comma list (the command line's); `name` says where."""
    if not isinstance(value, (str, list, tuple)):
        raise GateError(f"{name} must be a list, an array such as [1, 8] in [tool.encoder-gate] or a comma "
                        f"list such as 1,8 on the command line; got {value!r}")
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _ints(name: str, value: Any) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in _split_list(value, name))
    except ValueError:
        raise GateError(f"{name} must be a comma list of integers, got {value!r}") from None


def _coerce(values: dict[str, Any], root: Path) -> dict[str, Any]:
    """Turn strings from the command line and TOML values into field types."""
    out = dict(values)
    if "backends" in out:
        out["backends"] = _split_list(out["backends"], "backends (backends, --gate-backends)")
    if "targets" in out:
        out["targets"] = _split_list(out["targets"], "targets (targets, --gate-targets)")
    if "thresholds" in out:
        out["thresholds"] = read_setting(out["thresholds"], root)
    if "devices" in out:
        given = out["devices"]
        if not isinstance(given, Mapping) or not all(isinstance(v, str) for v in given.values()):
            raise GateError("devices must be a table of backend = device: [tool.encoder-gate.devices] with "
                            f'lines such as onnx-int8 = "cpu"; got {given!r}')
        out["devices"] = {str(k): v for k, v in given.items()}
    if "waivers" in out:
        given = out["waivers"]
        if not isinstance(given, (list, tuple)):
            raise GateError("waivers must be an array of tables: [[tool.encoder-gate.waivers]] "
                            "(docs/checks.md)")
        out["waivers"] = tuple(w if isinstance(w, Waiver) else Waiver.parse(w, i)
                               for i, w in enumerate(given))
    if "batch_sizes" in out:
        out["batch_sizes"] = _ints("batch sizes (batch-sizes, --gate-batch-sizes)", out["batch_sizes"])
    for name in ("threads", "eval_threads", "limit", "explore", "eval_batch_size", "per_label_min_support",
                 "max_tokens"):
        if name in out:
            out[name] = _integer(name, out[name])
    for name in _TEXTS:
        if out.get(name) is not None and not isinstance(out[name], str):
            raise GateError(f"{name.replace('_', '-')} must be a string, got {out[name]!r}")
    for name in (*_TEXTS, *_PATHS, "base"):
        if isinstance(out.get(name), str) and not out[name].strip():  # "" would be the working directory
            key = name.replace("_", "-")
            raise GateError(f"{key} is empty (--gate-{key} / {key} in [tool.encoder-gate]): give a value, "
                            "or leave it out for the default")
    for name in ("f1_margin", "per_label_keep", "min_slowdown", "ab_budget", "ab_round_seconds", "budget",
                 "relevant_grade"):
        if out.get(name) is not None:
            try:
                if isinstance(out[name], bool):
                    raise TypeError
                out[name] = float(out[name])
            except (TypeError, ValueError):
                raise GateError(f"{name.replace('_', '-')} must be a number, got {out[name]!r}") from None
    for name in (*_PATHS, "base"):
        if out.get(name) is not None and not isinstance(out[name], (str, Path)):
            raise GateError(f"{name.replace('_', '-')} must be a path (a string), got {out[name]!r}")
    for name in _PATHS:  # the table's: from the project's root
        if out.get(name) is not None:
            path = Path(out[name]).expanduser()
            out[name] = path if path.is_absolute() else root / path
    if out.get("base") is not None:  # a command-line path: from where pytest was started
        out["base"] = Path(out["base"]).expanduser().resolve()
    for name in ("int8_per_channel", "int8_reduce_range"):
        if name in out and not isinstance(out[name], bool):
            word = str(out[name]).strip().lower()
            if word not in _TRUE + _FALSE:
                raise GateError(f"{name.replace('_', '-')} must be true or false, got {out[name]!r}")
            out[name] = word in _TRUE
    return out


#: The settings whose value is a file or directory path: in [tool.encoder-gate] from the project's
#: root, on the command line from where pytest was started (`cd accuracy && pytest . --gate-texts
#: ../data/texts.txt` had looked for the file above the root).
_PATHS = ("cache_dir", "report_dir", "texts", "calibration")
#: The settings whose value is a name, not a number or a path.
_TEXTS = ("model", "dataset", "dataset_variant", "split", "text_column", "label_column", "pair_column",
          "label_format",
          "device", "sweep",
          "int8_weights", "f1_rule", "inconclusive", "base_ref", "shard")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _integer(name: str, value: Any) -> int:
    """`value` as an integer: a TOML integer or a command line's digits; never a truth value, and never
    a fraction cut short (threads = 1.9 is no 1)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise GateError(f"{name.replace('_', '-')} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GateError(f"{name.replace('_', '-')} must be an integer, got {value!r}") from None


#: The settings that decide pass or fail, as against how and where the gate runs: a PR that
#: changes one against its base has each named in the verdict (runtime.base.criteria_changes).
PASS_CRITERIA = ("backends", "tolerances", "thresholds", "f1_rule", "f1_margin", "per_label_min_support",
                 "per_label_keep", "min_slowdown", "inconclusive")
#: What a side is judged on, as its pyproject sets it: how many of the evaluation texts (`limit`), how
#: many tokens of each (`max_tokens`), how long each speed cell against the base is timed (`ab_budget`).
#: Both sides of a PR against its base run the PR session's, so a PR that sets one otherwise than its
#: base's pyproject is named (runtime.base.scope_changes): a PR judged on its first 6 texts judges its
#: base there too, where neither side may score anything; a PR that drops its pair column feeds both
#: sides one text a row (a trial's NLI model: F1 0.82 to 0.16 on both sides, PASS, said below the table).
JUDGED_SCOPE = ("limit", "max_tokens", "ab_budget", "text_column", "pair_column", "label_column")
#: Of JUDGED_SCOPE, what a side serves with, not how much of it is judged: where the PR's pyproject sets
#: it otherwise than the base's, each side is fed its own (a PR that cuts texts to 64 tokens for speed is
#: judged against its base fed its 512: the accuracy the cut costs is the PR's change, walk 43); a
#: command line's value is the session's, for both.
SERVED_SCOPE = ("max_tokens",)
#: The pass criteria an accuracy result is decided by when it is written, and those a speed cell
#: against the base is (documents.Document.judged_by).
ACCURACY_CRITERIA = ("tolerances", "thresholds", "f1_rule", "f1_margin", "per_label_min_support",
                     "per_label_keep")
VERSUS_BASE_CRITERIA = ("min_slowdown", "inconclusive")
#: What a speed figure was measured at: speedups of another thread count are other figures, never
#: shown beside a session's that timed at its own (walk AD: a session refused at threads 2 showed the
#: speedups of an earlier one at 1 in its rows).
SPEED_CONDITIONS = ("threads",)
#: What every result was computed on: a CPU's accuracy and a GPU's speedups are not one verdict's.
COMPUTED_ON = ("device",)


def read_pyproject_table(root: Path) -> dict[str, Any]:
    """The `[tool.encoder-gate]` table of root/pyproject.toml, or {}."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise GateError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): TOML files are UTF-8; "
                        "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise GateError(f"{path} is not valid TOML: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise GateError(f"[tool] in {path} must be a table")
    near = [k for k in tool if k != "encoder-gate"
            and k.replace("_", "-").replace(" ", "-").lower() in ("encoder-gate", "encodergate")]
    if "encoder-gate" not in tool and near:  # a near miss would gate the bundled default model instead
        raise GateError(f"[tool.{near[0]}] in {path}: the table is [tool.encoder-gate] (a hyphen, lower "
                        "case); rename it")
    table = tool.get("encoder-gate", {})
    if not isinstance(table, dict):
        raise GateError(f"[tool.encoder-gate] in {path} must be a table")
    return table


def load_config(root: Path, overrides: Mapping[str, Any]) -> GateConfig:
    """The configuration for a pytest session rooted at `root`."""
    table = read_pyproject_table(root)
    config = GateConfig.from_sources(table, overrides, root)
    defaults_relative = {"cache_dir": config.cache_dir, "report_dir": config.report_dir}
    fixed: dict[str, Any] = {k: (v if v.is_absolute() else root / v) for k, v in defaults_relative.items()}
    # the table's model and dataset paths are the project's, as its other paths
    for name in ("model", "dataset"):
        given = table.get(name)
        if overrides.get(name) is None and isinstance(given, str):
            fixed[name] = project_path(root, given)
    return config.with_(**fixed)


def project_path(root: Path, given: str) -> str:
    """A path of [tool.encoder-gate] as seen from here: relative to the project's `root`, so that a
    session started in a subdirectory reads it too (unchanged when started at the root); as given
    when it is absolute, names nothing under the root, or names something from here already."""
    if Path(given).is_absolute() or not (root / given).exists() or Path(given).exists():
        return given
    return os.path.relpath(root / given)


def check_writable(path: Path, what: str) -> None:
    """A GateError unless `path` is a directory this process can write into, or one it can make
    (nothing is made here): found at the start, not as a traceback when the session writes its
    last file."""
    if path.exists() and not path.is_dir():
        raise GateError(f"{what} {path} is a file, not a directory: give a directory")
    dangling = next((p for p in (path, *path.parents) if p.is_symlink() and not p.exists()), None)
    if dangling is not None:  # it passed as a directory to make, then every write met "File exists"
        raise GateError(f"{what} {path} cannot be made: {dangling} is a symbolic link to "
                        f"{os.readlink(dangling)}, which does not exist; make its target, or give another "
                        "directory")
    there = next((p for p in (path, *path.parents) if p.exists()), None)
    try:
        if there is None or not there.is_dir():
            raise NotADirectoryError(20, "a file stands in its path")
        with tempfile.TemporaryFile(dir=there):
            pass
    except OSError as exc:
        raise GateError(f"{what} {path} cannot be written ({exc.strerror or exc}): give a directory this "
                        "user can write") from None


def batch_sizes_narrowed(root: Path, sizes: Sequence[int]) -> str | None:
    """How --gate-batch-sizes narrowed the project's speed gate ("--gate-batch-sizes 8 (not the
    project's 1)"), or None: a benchmark session's PASS at batch size 8 said nothing of the project's
    batch size 1, and its verdict did not say it had left one out, as it says of backends and models.
    Only where [tool.encoder-gate] names its batch sizes (the defaults are no project's choice); more
    sizes than the project's narrow nothing."""
    table = read_pyproject_table(root)
    if "batch-sizes" not in table:
        return None
    try:
        projects = GateConfig.from_sources(table, {}, root).batch_sizes
    except GateError:  # a table the session's own options mended: nothing of the project's to compare
        return None
    left = [b for b in projects if b not in sizes]
    if not left:
        return None
    given, dropped = ",".join(map(str, sizes)), ", ".join(map(str, left))
    return f"--gate-batch-sizes {given} (leaving out the project's {dropped})"


def quota_note(config: GateConfig, quota: CpuQuota) -> str | None:
    """What a binding CPU quota (environment.cpu_quota) does to this session's thread counts, in one
    line, or None where it does nothing: the counts left at 0 run at the quota's whole cores, not at
    the libraries' count of the host's cores; an eval-threads above them is said with its fix (a
    timed `threads` above them is the speed plugin's line: speed.machine.oversubscribed)."""
    counts = (("threads", config.threads), ("eval-threads", config.eval_threads))
    held = [name for name, value in counts if value == 0] if not omp_threads() else []  # it sets their count
    said = []
    if held:
        said.append(f"{' and '.join(held)} at the library default run at {quota.threads} thread"
                    f"{'s' if quota.threads > 1 else ''}, not one a core it sees")
    if config.eval_threads > quota.threads:
        said.append(f"eval-threads {config.eval_threads} is more: each parallel region's threads wait on "
                    f"those the quota throttles; set it to at most {quota.threads} (--gate-eval-threads)")
    return f"{quota.said()}: {'; '.join(said)}" if said else None
