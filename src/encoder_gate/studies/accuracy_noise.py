"""False-alarm and detection rates of the accuracy gate, measured on random half-splits.

The accuracy gate (:func:`encoder_gate.accuracy.evaluation.evaluate`,
:func:`~encoder_gate.accuracy.checks.judge_all`) judges one backend on one evaluation
set. How often does it fail a healthy backend, and how often does it catch a damaged one? This
module answers both by replaying the gate on many random halves of the evaluation set (e.g. 200
splits of 600 of the 1200 bundled test texts, seeded), the way
:func:`encoder_gate.studies.speed_noise.speed_gate_noise` replays the speed gate on repeated runs:

* **false alarms** (:func:`false_alarms`): healthy backends (onnx-fp32, onnx-fp16, onnx-int8)
  against the torch reference: the share of splits where each check fails, and the whole gate,
  under each F1 rule (``point``, ``regression``, ``non-inferiority``);
* **detection** (:func:`detection`): one backend (onnx-int8) damaged at the level of its
  logits (:class:`Damage`): Gaussian noise on every logit, the logits of a few labels scaled
  (a calibration damage: no decision at 0.5 changes), or one label's logit shifted down until
  most of its positive decisions vanish; the share of splits where the F1 keep check, the
  per-label check (any label, and the damaged label itself), the drift/flip checks and the
  whole gate fail.

Every function here is pure: reference probabilities, backend probabilities, gold labels,
label names, bounds and the gate's knobs in, frozen rows (``as_dict()``) out, formatted as
markdown by :func:`format_false_alarms` and :func:`format_detection`. The same seed gives the
same splits, the same noise and the same tables. :func:`session_predictions` obtains the
inputs for a model through :class:`~encoder_gate.runtime.session.GateSession` (the artifact cache is
reused, so nothing cached is rebuilt); ``encoder-gate accuracy-noise`` runs it all:

    preds = session_predictions("default")
    result = measure(preds, splits=200, seed=0, label="joy")
    print("\\n".join(format_result(result)))
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from scipy.special import expit

from encoder_gate.accuracy.checks import CHECKS, judge_all
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.accuracy.f1_rules import F1_RULES, F1Rule
from encoder_gate.accuracy.significance import score
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.config import DEFAULT_CACHE_DIR, GateConfig
from encoder_gate.errors import GateError
from encoder_gate.runtime.session import GateSession
from encoder_gate.tasks import THRESHOLD, Task

REFERENCE = "torch"
#: The healthy backends judged for false alarms.
HEALTHY = ("onnx-fp32", "onnx-fp16", "onnx-int8")
#: The backend whose logits are damaged for the detection rates (judged with its own bounds).
DAMAGED_BASE = "onnx-int8"
DEFAULT_LABEL = "joy"
#: Graded severities: noise sd on every logit; factor on the logits of the most frequent labels;
#: downward shift of one label's logit.
NOISE_SDS = (0.1, 0.25, 0.5, 1.0)
SCALE_FACTORS = (0.5, 2.0)
SCALED_LABELS = 3
SHIFTS = (0.5, 1.0, 1.5, 2.0, 3.0)
#: Probabilities are clipped to [EPS, 1 - EPS] before the logit (float32 sigmoids saturate).
EPS = 1e-7

DamageKind = Literal["noise", "scale", "shift"]
DAMAGE_KINDS: tuple[DamageKind, ...] = ("noise", "scale", "shift")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


# --- splits and logits ----------------------------------------------------------------------


def half_splits(n: int, splits: int, seed: int, size: int | None = None) -> np.ndarray:
    """(splits, size) sorted example indices, each row `size` (default n // 2) of the n examples
    drawn without replacement; the same seed gives the same rows."""
    size = n // 2 if size is None else size
    if splits < 1:
        raise GateError(f"need at least one split, got {splits}")
    if not 2 <= size <= n:
        raise GateError(f"a split must hold between 2 and {n} examples, got {size}")
    rng = np.random.default_rng([seed, 0])
    return np.sort(np.stack([rng.permutation(n)[:size] for _ in range(splits)]), axis=1)


def to_logits(probs: np.ndarray) -> np.ndarray:
    """Sigmoid probabilities back to logits (float64), clipped to [EPS, 1 - EPS] first."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def from_logits(logits: np.ndarray) -> np.ndarray:
    """The sigmoid, overflow-safe."""
    return np.asarray(expit(np.asarray(logits, dtype=np.float64)), dtype=np.float64)


@dataclass(frozen=True)
class Damage:
    """A damage applied to a backend's logits.

    ``noise``: Gaussian noise of sd ``amount`` added to the logits; ``scale``: the logits
    multiplied by ``amount`` (no decision at 0.5 changes: a calibration damage); ``shift``: the
    logits lowered by ``amount``. ``labels``: the damaged labels (empty: every label).
    """

    kind: DamageKind
    amount: float
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in DAMAGE_KINDS:
            raise ValueError(f"damage kind must be one of {', '.join(DAMAGE_KINDS)}; got {self.kind!r}")

    @property
    def where(self) -> str:
        return ", ".join(self.labels) if self.labels else "every label"

    def describe(self) -> str:
        if self.kind == "noise":
            return f"noise sd {self.amount:g} ({self.where})"
        if self.kind == "scale":
            return f"logits x{self.amount:g} ({self.where})"
        return f"logit -{self.amount:g} ({self.where})"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount, "labels": list(self.labels)}


def damage_logits(logits: np.ndarray, damage: Damage, label_names: Sequence[str],
                  noise: np.ndarray | None = None) -> np.ndarray:
    """`logits` with `damage` applied to its labels' columns. ``noise`` (standard normal, the
    shape of `logits`) is required for a ``noise`` damage; its sd scales it."""
    out = np.array(logits, dtype=np.float64)
    cols = _columns(damage.labels, label_names) if damage.labels else np.arange(out.shape[1])
    if damage.kind == "noise":
        if noise is None or noise.shape != out.shape:
            raise ValueError("a noise damage needs standard normal noise of the logits' shape")
        out[:, cols] += damage.amount * noise[:, cols]
    elif damage.kind == "scale":
        out[:, cols] *= damage.amount
    else:
        out[:, cols] -= damage.amount
    return out


def _columns(labels: Sequence[str], label_names: Sequence[str]) -> np.ndarray:
    names = list(label_names)
    missing = [label for label in labels if label not in names]
    if missing:
        raise GateError(f"unknown label {', '.join(missing)}; the model's labels are {', '.join(names)}")
    return np.array([names.index(label) for label in labels], dtype=np.int64)


def default_damages(label: str, scaled: Sequence[str]) -> tuple[Damage, ...]:
    """The graded damages: noise on every logit (NOISE_SDS), the logits of `scaled` scaled
    (SCALE_FACTORS) and `label`'s logit shifted down (SHIFTS)."""
    return (*(Damage("noise", sd) for sd in NOISE_SDS),
            *(Damage("scale", f, tuple(scaled)) for f in SCALE_FACTORS),
            *(Damage("shift", s, (label,)) for s in SHIFTS))


def most_supported(gold: np.ndarray, label_names: Sequence[str], k: int) -> tuple[str, ...]:
    """The `k` labels with the most gold positives (ties by label order)."""
    support = np.asarray(gold).sum(axis=0)
    order = np.argsort(-support, kind="stable")[:k]
    return tuple(str(label_names[j]) for j in order)


# --- one split ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitVerdict:
    """The gate on one split: the checks that applied, those that failed under each F1 rule,
    and the labels that failed the per-label check."""

    checks: tuple[str, ...]
    failed: tuple[tuple[str, frozenset[str]], ...]  # (rule, failed checks)
    failing_labels: frozenset[str]

    def failed_under(self, rule: str) -> frozenset[str]:
        return dict(self.failed)[rule]


def judge(name: str, probs: np.ndarray, reference: np.ndarray, gold: np.ndarray,
          label_names: Sequence[str], bounds: Bounds, *, rules: Sequence[str] = F1_RULES,
          margin: float = 0.01, min_support: int = 30,
          thresholds: np.ndarray | None = None) -> SplitVerdict:
    """The accuracy gate on one set, exactly as the suite runs it (`evaluate`, then
    `checks.judge_all`), under each F1 rule. The bootstrap runs once: the rules share it."""
    ev = evaluate(name, probs, reference, gold, precision="", size_bytes=0, task=Task.MULTI_LABEL,
                  label_names=label_names, atol=bounds.atol, thresholds=thresholds, f1_rule="point",
                  f1_margin=margin, per_label_min_support=min_support)
    if ev.stats is None:
        raise GateError("the accuracy gate computed no statistics: a split needs at least 2 labelled texts")
    failed = []
    checks: tuple[str, ...] = ()
    for rule in rules:
        e = ev if rule == "point" else replace(ev, stats=replace(ev.stats, rule=cast(F1Rule, rule)))
        found = judge_all(e, bounds)
        checks = tuple(found)
        failed.append((rule, frozenset(c for c, r in found.items() if not r["passed"])))
    failing = frozenset(r.label for r in ev.stats.failing_labels(bounds.per_label_keep))
    return SplitVerdict(checks=checks, failed=tuple(failed), failing_labels=failing)


def _verdicts(name: str, probs: np.ndarray, reference: np.ndarray, gold: np.ndarray,
              label_names: Sequence[str], bounds: Bounds, index: np.ndarray, rules: Sequence[str],
              margin: float, min_support: int, thresholds: np.ndarray | None) -> list[SplitVerdict]:
    return [judge(name, probs[i], reference[i], gold[i], label_names, bounds, rules=rules, margin=margin,
                  min_support=min_support, thresholds=thresholds) for i in index]


def _check_inputs(reference: np.ndarray, probs: np.ndarray, gold: np.ndarray,
                  label_names: Sequence[str], rules: Sequence[str]) -> None:
    if probs.shape != reference.shape or gold.shape != reference.shape:
        raise GateError(f"reference {reference.shape}, backend {probs.shape} and gold {gold.shape} must "
                        "have the same (texts, labels) shape")
    if len(label_names) != reference.shape[1]:
        raise GateError(f"{len(label_names)} label names for {reference.shape[1]} labels")
    unknown = [r for r in rules if r not in F1_RULES]
    if unknown or not rules:
        raise GateError(f"f1 rules must be among {', '.join(F1_RULES)}; got {list(rules)}")


# --- false alarms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FalseAlarmRow:
    """One healthy backend under one F1 rule over every split: how many splits each check
    failed, how many the whole gate failed, and which labels the per-label check blamed."""

    backend: str
    rule: str
    splits: int
    failures: tuple[tuple[str, int], ...]  # (check, splits where it failed), in the gate's order
    gate_failures: int  # splits where any check failed
    alarm_labels: tuple[tuple[str, int], ...] = ()  # (label, splits it failed per_label), most first

    def rate(self, check: str) -> float:
        return dict(self.failures)[check] / self.splits

    @property
    def gate_rate(self) -> float:
        return self.gate_failures / self.splits

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "rule": self.rule, "splits": self.splits,
                "failures": dict(self.failures), "gate_failures": self.gate_failures,
                "alarm_labels": dict(self.alarm_labels)}


def false_alarms(reference: np.ndarray, backends: Mapping[str, np.ndarray], gold: np.ndarray,
                 label_names: Sequence[str], bounds: Mapping[str, Bounds], *, splits: int = 200,
                 seed: int = 0, size: int | None = None, rules: Sequence[str] = F1_RULES,
                 margin: float = 0.01, min_support: int = 30,
                 thresholds: np.ndarray | None = None) -> list[FalseAlarmRow]:
    """False-alarm rates of healthy `backends` (name -> probabilities, judged with
    ``bounds[name]``) against `reference`, on `splits` random subsets of `size` texts (default
    half), one row per (backend, rule). `margin` is the F1 margin of the CI rules,
    `min_support` the per-label support floor, `thresholds` per-label decision thresholds."""
    ref, y = np.asarray(reference), np.asarray(gold)
    index = half_splits(len(ref), splits, seed, size)
    rows = []
    for name, probs in backends.items():
        p = np.asarray(probs)
        _check_inputs(ref, p, y, label_names, rules)
        verdicts = _verdicts(name, p, ref, y, label_names, bounds[name], index, rules, margin, min_support,
                             thresholds)
        blamed = _label_counts(verdicts, label_names)
        for rule in rules:
            failed = [v.failed_under(rule) for v in verdicts]
            counts = tuple((c, sum(c in f for f in failed)) for c in verdicts[0].checks)
            rows.append(FalseAlarmRow(name, rule, len(index), counts, sum(bool(f) for f in failed), blamed))
    return rows


def _label_counts(verdicts: Sequence[SplitVerdict],
                  label_names: Sequence[str]) -> tuple[tuple[str, int], ...]:
    counts = {name: sum(name in v.failing_labels for v in verdicts) for name in label_names}
    return tuple(sorted(((k, c) for k, c in counts.items() if c), key=lambda kc: -kc[1]))


# --- detection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionRow:
    """One damage of the base backend over every split.

    The damage's effect on the whole set: `f1_delta` (micro F1, damaged minus reference),
    `flip_rate` (decisions at 0.5 that differ from the reference); for a damage confined to
    some labels, `kept` (the share of the base backend's positive decisions on those labels that
    survive), `label_f1_ref` and `label_f1` (their pooled F1, reference and damaged) and `judged`
    (splits where one of them had enough gold positives for the per-label check).
    Detections, in splits: `f1_keep` and `gate` per F1 rule; `per_label` (any label failed),
    `on_label` (a damaged label failed; None for every-label damage), `parity` (a drift or flip
    check failed).
    """

    damage: Damage
    base: str
    splits: int
    f1_delta: float
    flip_rate: float
    f1_keep: tuple[tuple[str, int], ...]  # (rule, splits caught)
    per_label: int
    parity: int
    gate: tuple[tuple[str, int], ...]  # (rule, splits caught)
    on_label: int | None = None
    judged: int | None = None
    kept: float | None = None
    label_f1_ref: float | None = None
    label_f1: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"damage": self.damage.as_dict(), "description": self.damage.describe(), "base": self.base,
                "splits": self.splits, "f1_delta": self.f1_delta, "flip_rate": self.flip_rate,
                "kept": self.kept, "label_f1_ref": self.label_f1_ref, "label_f1": self.label_f1,
                "judged": self.judged, "f1_keep": dict(self.f1_keep), "per_label": self.per_label,
                "on_label": self.on_label, "parity": self.parity, "gate": dict(self.gate)}


def detection(reference: np.ndarray, base_probs: np.ndarray, gold: np.ndarray, label_names: Sequence[str],
              bounds: Bounds, damages: Sequence[Damage], *, base: str = DAMAGED_BASE, splits: int = 200,
              seed: int = 0, size: int | None = None, rules: Sequence[str] = F1_RULES,
              margin: float = 0.01, min_support: int = 30,
              thresholds: np.ndarray | None = None) -> list[DetectionRow]:
    """Detection rates of `damages` applied to the logits of `base_probs` (judged with `bounds`,
    the base backend's), on the same splits as :func:`false_alarms` with the same seed. The
    noise of a noise damage is drawn once from `seed` (one damaged artifact, many test sets) and
    the same standard normal draw is scaled for every sd, so severities are graded."""
    ref, y, base_p = np.asarray(reference), np.asarray(gold), np.asarray(base_probs)
    _check_inputs(ref, base_p, y, label_names, rules)
    index = half_splits(len(ref), splits, seed, size)
    logits = to_logits(base_p)
    noise = np.random.default_rng([seed, 1]).standard_normal(logits.shape)
    task = Task.MULTI_LABEL
    ref_dec = task.decisions(ref, thresholds)
    base_dec = task.decisions(base_p, thresholds)
    # the parity checks (no gold labels needed): for a multi-label model, drift and decision flips
    parity = {name for name, c in CHECKS.items() if c.parity}
    rows = []
    for damage in damages:
        probs = from_logits(damage_logits(logits, damage, label_names, noise))
        dec = task.decisions(probs, thresholds)
        name = f"{base}+{damage.kind}"
        verdicts = _verdicts(name, probs, ref, y, label_names, bounds, index, rules, margin, min_support,
                             thresholds)
        first = [v.failed_under(rules[0]) for v in verdicts]
        effect: dict[str, Any] = {}
        if damage.labels:
            cols = _columns(damage.labels, label_names)
            labels = frozenset(damage.labels)
            g = y[:, cols].astype(bool)
            effect = {
                "on_label": sum(bool(labels & v.failing_labels) for v in verdicts),
                "judged": int(sum(bool((y[i][:, cols].sum(axis=0) >= min_support).any()) for i in index)),
                "kept": _share(dec[:, cols].sum(), base_dec[:, cols].sum()),
                "label_f1_ref": score(g, ref_dec[:, cols], task),
                "label_f1": score(g, dec[:, cols], task),
            }
        rows.append(DetectionRow(
            damage=damage, base=base, splits=len(index),
            f1_delta=score(y, dec, task) - score(y, ref_dec, task),
            flip_rate=float(np.mean((probs >= THRESHOLD) != (ref >= THRESHOLD))),
            f1_keep=tuple((r, sum("f1_keep" in v.failed_under(r) for v in verdicts)) for r in rules),
            per_label=sum(bool(v.failing_labels) for v in verdicts),
            parity=sum(bool(f & parity) for f in first),
            gate=tuple((r, sum(bool(v.failed_under(r)) for v in verdicts)) for r in rules),
            **effect,
        ))
    return rows


def _share(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


# --- from a model, through the gate's session -----------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """What the measurement needs from one model: the torch reference and each backend's
    probabilities on the evaluation set, gold labels, label names, each backend's bounds and
    the gate's configured knobs."""

    model: str
    dataset: str
    reference: np.ndarray = field(repr=False)
    backends: Mapping[str, np.ndarray] = field(repr=False)
    gold: np.ndarray = field(repr=False)
    label_names: tuple[str, ...]
    bounds: Mapping[str, Bounds]
    thresholds: np.ndarray | None = field(default=None, repr=False)
    margin: float = 0.01
    min_support: int = 30


def session_predictions(model: str = "default", cache_dir: Path = DEFAULT_CACHE_DIR,
                        backends: Sequence[str] = HEALTHY, *, threads: int = 0, label: str | None = None,
                        progress: Callable[[str], None] = _stderr) -> Predictions:
    """The reference and `backends`' predictions on the evaluation set of `model` (the bundled
    test split), obtained through :class:`~encoder_gate.runtime.session.GateSession` with the artifact
    cache at `cache_dir`, with each backend's bounds and the gate's default knobs
    (:class:`~encoder_gate.config.GateConfig`). Multi-label classifiers only. `label`, when given,
    is checked against the model's labels before any prediction runs."""
    config = GateConfig(model=model, backends=(REFERENCE, *backends), cache_dir=Path(cache_dir),
                        threads=threads)
    session = GateSession(config, progress=progress)
    try:
        if Task.of(session.model.task) is not Task.MULTI_LABEL:
            raise GateError(f"accuracy noise is measured on multi-label classifiers (damage at the sigmoid "
                            f"logits); model {model} is {session.model.task}")
        if label is not None and label not in session.model.label_names:
            raise GateError(f"{label!r} is not a label of {model}; its labels: "
                            f"{', '.join(session.model.label_names)}")
        gold = session.gold
        assert gold is not None  # no texts file: the bundled split carries labels
        reference = np.asarray(session.reference)
        probs = {name: np.asarray(session.predictions(name)) for name in backends}
        return Predictions(model=model, dataset=str(getattr(session.dataset, "name", config.dataset)),
                           reference=reference, backends=probs, gold=np.asarray(gold),
                           label_names=tuple(session.model.label_names),
                           bounds={name: session.bounds(name) for name in backends},
                           thresholds=session.thresholds, margin=config.f1_margin,
                           min_support=config.per_label_min_support)
    finally:
        session.close()


@dataclass(frozen=True)
class AccuracyNoise:
    """Both tables of one measurement, with what they were measured on."""

    model: str
    dataset: str
    texts: int
    size: int
    splits: int
    seed: int
    label: str
    support: int  # the label's gold positives on the whole set
    margin: float
    min_support: int
    false_alarms: tuple[FalseAlarmRow, ...]
    detection: tuple[DetectionRow, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "dataset": self.dataset, "texts": self.texts, "size": self.size,
                "splits": self.splits, "seed": self.seed, "label": self.label, "support": self.support,
                "margin": self.margin, "min_support": self.min_support,
                "false_alarms": [r.as_dict() for r in self.false_alarms],
                "detection": [r.as_dict() for r in self.detection]}


def measure(preds: Predictions, *, splits: int = 200, seed: int = 0, label: str = DEFAULT_LABEL,
            size: int | None = None, rules: Sequence[str] = F1_RULES,
            damages: Sequence[Damage] | None = None, base: str = DAMAGED_BASE) -> AccuracyNoise:
    """False alarms of every healthy backend in `preds` and detection of `damages` (default:
    :func:`default_damages` with `label` and the most frequent labels) on `base`."""
    if base not in preds.backends:
        raise GateError(f"the damaged base backend {base} is not among {', '.join(preds.backends)}")
    support = int(np.asarray(preds.gold)[:, _columns((label,), preds.label_names)].sum())
    if damages is None:
        damages = default_damages(label, most_supported(preds.gold, preds.label_names, SCALED_LABELS))
    knobs: dict[str, Any] = {"splits": splits, "seed": seed, "size": size, "rules": rules,
                             "margin": preds.margin, "min_support": preds.min_support,
                             "thresholds": preds.thresholds}
    alarms = false_alarms(preds.reference, preds.backends, preds.gold, preds.label_names, preds.bounds,
                          **knobs)
    caught = detection(preds.reference, preds.backends[base], preds.gold, preds.label_names,
                       preds.bounds[base], damages, base=base, **knobs)
    n = len(preds.reference)
    return AccuracyNoise(model=preds.model, dataset=preds.dataset, texts=n,
                         size=n // 2 if size is None else size,
                         splits=splits, seed=seed, label=label, support=support, margin=preds.margin,
                         min_support=preds.min_support, false_alarms=tuple(alarms), detection=tuple(caught))


# --- markdown -------------------------------------------------------------------------------


def _pct(count: int, total: int) -> str:
    return f"{100 * count / total:.3g}%" if total else "-"


def format_false_alarms(rows: Sequence[FalseAlarmRow]) -> list[str]:
    """A markdown table: per (backend, rule), the share of splits where each check and the gate
    fail; then the labels the per-label check blamed."""
    if not rows:
        return ["no false-alarm rows"]
    checks = list(dict.fromkeys(c for r in rows for c, _ in r.failures))
    lines = ["| backend | f1 rule | " + " | ".join(checks) + " | gate |",
             "|---|---|" + "---|" * (len(checks) + 1)]
    for r in rows:
        found = dict(r.failures)
        cells = [_pct(found[c], r.splits) if c in found else "n/a" for c in checks]
        gate = _pct(r.gate_failures, r.splits)
        lines.append(f"| {r.backend} | {r.rule} | " + " | ".join(cells) + f" | {gate} |")
    blamed = {r.backend: r.alarm_labels for r in rows if r.alarm_labels}
    for backend, labels in blamed.items():
        splits = next(r.splits for r in rows if r.backend == backend)
        lines.append(f"\nper_label false alarms of {backend} by label (of {splits} splits): "
                     + ", ".join(f"{name} {count}" for name, count in labels))
    return lines


def format_detection(rows: Sequence[DetectionRow]) -> list[str]:
    """A markdown table: per damage, its effect on the whole set and the share of splits where the
    F1 keep check (per rule), the per-label check (any label; the damaged one), the drift/flip
    checks and the whole gate (per rule) fail."""
    if not rows:
        return ["no detection rows"]
    rules = [r for r, _ in rows[0].f1_keep]
    lines = ["| damage | micro F1 change | flips | damaged labels: positives kept, F1 | label judged | "
             + " | ".join(f"f1_keep {r}" for r in rules)
             + " | per_label | per_label on damaged label | drift/flip | "
             + " | ".join(f"gate {r}" for r in rules) + " |",
             "|---|---|---|---|---|" + "---|" * (2 * len(rules) + 3)]
    for r in rows:
        n = r.splits
        if r.kept is None or r.label_f1_ref is None or r.label_f1 is None:
            effect = "-"
        else:
            effect = f"{r.kept:.0%}, {r.label_f1_ref:.3f} -> {r.label_f1:.3f}"
        judged = "-" if r.judged is None else _pct(r.judged, n)
        on_label = "-" if r.on_label is None else _pct(r.on_label, n)
        lines.append(f"| {r.damage.describe()} | {r.f1_delta:+.4f} | {r.flip_rate:.2%} | {effect} | {judged} "
                     "| "
                     + " | ".join(_pct(c, n) for _, c in r.f1_keep)
                     + f" | {_pct(r.per_label, n)} | {on_label} | {_pct(r.parity, n)} | "
                     + " | ".join(_pct(c, n) for _, c in r.gate) + " |")
    return lines


def reproduce_command(model: str, splits: int, seed: int, label: str, cache_dir: Path | None = None) -> str:
    """The ``encoder-gate accuracy-noise`` command line that measures these tables again."""
    cmd = f"encoder-gate accuracy-noise --model {model} --splits {splits} --seed {seed} --label {label}"
    if cache_dir is not None and Path(cache_dir) != DEFAULT_CACHE_DIR:
        cmd += f" --cache-dir {cache_dir}"
    return cmd


def format_result(result: AccuracyNoise, cache_dir: Path | None = None) -> list[str]:
    """Both tables with their headings, the knobs they were measured with, and the command that
    reproduces them."""
    r = result
    base = r.detection[0].base if r.detection else DAMAGED_BASE
    where = (f"{r.splits} random subsets of {r.size} of the {r.texts} texts of {r.dataset} (seed {r.seed}; "
             f"one split = {100 / r.splits:.3g}%)")
    knobs = (f"f1 rules: point (f1_keep x reference micro F1), regression and non-inferiority "
             f"(95% paired-bootstrap CI against -{r.margin:g}); per_label: labels with >= {r.min_support} "
             f"gold positives in the split, Holm-corrected")
    return [
        f"## Accuracy gate false alarms: model {r.model}",
        "",
        f"Healthy backends against the torch reference on {where}: the share of splits where each "
        f"check fails, and the whole gate. {knobs}.",
        "",
        *format_false_alarms(r.false_alarms),
        "",
        f"## Accuracy gate detection: {base} damaged at the logits",
        "",
        f"The same splits; {base}'s probabilities to logits, damaged, back through the sigmoid, judged "
        f"with {base}'s bounds. Effect columns on all {r.texts} texts (micro F1 change and flips against "
        f"the reference; positives kept: the damaged labels' positive decisions left of {base}'s). "
        f"{r.label} has {r.support} gold positives in all {r.texts} texts; 'label judged' is the share "
        f"of splits where a damaged label has >= {r.min_support} (else the per-label check skips it).",
        "",
        *format_detection(r.detection),
        "",
        f"reproduce: {reproduce_command(r.model, r.splits, r.seed, r.label, cache_dir)}",
    ]
