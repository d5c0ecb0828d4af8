"""The accuracy checks, one record each, and the failure message of a check that does not hold.

    observed, bound, holds = observed_and_bound(evaluation, "drift_max", bounds)
    failure = check(evaluation, "drift_max", bounds, texts, label_names)
    assert failure is None, failure

A check is one :class:`Check` in the registry `CHECKS`: what it observes, the bound it is held
to and which way, the tasks it fits, whether it needs gold labels, why it does not apply, what
it says when it fails, the shipped test that runs it and its column in accuracy.md.
`checks.judge_all` (accuracy.json and the verdict), the shipped tests
(:mod:`encoder_gate.suite.checks`), the accuracy report and the noise study read the records,
so adding a check is adding a record. Its bound is a
:class:`~encoder_gate.accuracy.tolerances.Bounds` field, or its own defaults per number format
(`Check.defaults`), which a project overrides under the check's name in
[tool.encoder-gate.tolerances.BACKEND] like any other bound.

`check` returns None when the bound holds, else a message a person can act on: the
backend, the metric, the observed value, the bound, where the bound comes from, and the
three worst samples with a per-label table of reference vs backend probabilities (for an
encoder, the three samples least similar to the reference; for the per-label check, the
failing labels with their changed examples).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from encoder_gate.accuracy.evaluation import Evaluation
from encoder_gate.accuracy.f1_rules import judged_end
from encoder_gate.accuracy.metrics import cosine_similarity, relative_l2
from encoder_gate.accuracy.overrides import override_table
from encoder_gate.accuracy.per_label import failures_said, positive_texts
from encoder_gate.accuracy.ranking import RANKINGS, Ranking
from encoder_gate.accuracy.tolerances import DEFAULT_BOUNDS, TASK_BOUNDS, Bounds
from encoder_gate.backends.base import NUMBER_FORMATS
from encoder_gate.backends.registry import (
    PREBUILT_PREFIX,
    exact_counterpart,
    names_of_row,
    parse_backend,
    split_integer_path,
)
from encoder_gate.data.pairs import PAIR_SEPARATOR, Text, as_string, clipped
from encoder_gate.errors import GateError
from encoder_gate.records import Registry
from encoder_gate.tasks import DOCUMENT_DEFAULT, Task

Direction = Literal["at least", "at most"]
#: (observed, bound) of a check on one evaluation with one backend's bounds.
Reader = Callable[["Evaluation", "Bounds"], tuple[float, float]]

NO_GOLD = ("F1 skipped: there are no gold labels (unlabelled texts: `texts` in [tool.encoder-gate], or "
           "--gate-texts); every parity check against the torch reference ran. Pass a labelled dataset "
           "(`dataset`, --gate-dataset) to check F1 too")
TOLERANCES = "encoder_gate/accuracy/tolerances.py"
ALL_TASKS = frozenset(Task)
CLASSIFIERS = frozenset(t for t in Task if t.classifier)
ENCODERS = ALL_TASKS - CLASSIFIERS


@dataclass(frozen=True)
class Check:
    """One accuracy check, everything about it in one place.

    By default a check observes the accuracy.json key named like it (`Evaluation.summary()`),
    is held to the bound named like it (a `Bounds` field, or its own `defaults`), and on
    failure says "<name> = <observed> exceeds the bound <bound>" (or "is below") followed by
    the worst samples; the optional fields replace those defaults.
    """

    name: str
    tasks: frozenset[Task]  # the tasks it applies to
    direction: Direction  # observed >= bound ("at least") or observed <= bound ("at most")
    # the shipped test that runs it (encoder_gate.suite.checks): "drift" and "embeddings" are
    # parametrized over their records; "f1_keep", "f1_floor", "accuracy_keep", "per_label", "mrr_keep" and
    # "ndcg_keep" run the record of that name
    test: str
    gold: bool = False  # needs gold labels (skips with NO_GOLD on an unlabelled classifier)
    metric: str = ""  # the Evaluation.summary() key it observes; default: its name
    # its own default bound per number format ("reference", "fp32", "fp16", "int8"), stored in
    # Bounds.own under its name and overridable there; empty: a Bounds field of its name
    defaults: Mapping[str, float] = field(default_factory=dict)
    read: Reader | None = None  # (observed, bound) when not `metric` against its bound
    # its verdict when not by `direction`, or None to fall back on it (the F1 keep check's CI rules)
    decide: Callable[[Evaluation, Bounds], bool | None] | None = None
    off: Callable[[Bounds], str | None] | None = None  # why these bounds switch it off, else None
    unfit: Mapping[Task, str] = field(default_factory=dict)  # why not, for a task it does not fit
    # the failure, in one phrase ("drift_max = 0.75 exceeds the bound 0.6"), from (observed, bound)
    what: Callable[[Evaluation, Bounds, float, float], str] | None = None
    source: str = ""  # where its bound comes from, in the failure message
    # the lines after the failure's first two: (evaluation, bounds, texts, label_names) -> lines
    context: Callable[[Evaluation, Bounds, Sequence[Text], Sequence[str]], list[str]] | None = None
    column: tuple[str, str] | None = None  # (header, format) of its metric's column in accuracy.md
    # why it does not apply to the backend of this name among the session's integer-path twins,
    # else None (for every backend when unset)
    applies_to: Callable[[str, Collection[str]], str | None] | None = None
    # why this evaluation gives it nothing to judge (it could not fail there: no label with enough
    # gold positives, a reference that scores 0), else None: then it is not run, and says why
    vacuous: Callable[[Evaluation], str | None] | None = None
    # why it does not fit a model of this task with this many outputs, on pairs or single texts, whose
    # first texts repeat or not, labelled with grades or not (task, outputs, paired, repeats, graded) ->
    # why, else None: such a check is left out at collection (where the texts are not read yet: repeats
    # True), and not run on such an evaluation
    unsuited: Callable[[Task, int, bool, bool, bool], str | None] | None = None

    def not_for(self, backend: str, twins: Collection[str] = ()) -> str | None:
        """Why it does not apply to `backend` (in a session judging the integer-path `twins`), or
        None when it does."""
        return self.applies_to(backend, twins) if self.applies_to else None

    def not_for_evaluation(self, ev: Evaluation) -> str | None:
        """Why it does not apply to the evaluated backend: as `not_for`, with the twin its
        outputs were held against (if any), or why this evaluation gives it nothing to judge."""
        return (self.not_for(ev.name, held_against(ev)) or self.unfit_for(ev)
                or (self.vacuous(ev) if self.vacuous else None))

    def unfit_for(self, ev: Evaluation) -> str | None:
        """Why it does not fit the evaluated model's outputs and texts (`unsuited`), else None."""
        outputs = ev.probs.shape[1] if ev.probs.ndim == 2 else 0
        graded = ev.grades is not None
        return self.unsuited(ev.task, outputs, ev.paired, ev.queried, graded) if self.unsuited else None

    @property
    def parity(self) -> bool:
        """Whether it compares the backend with the reference alone (no gold labels needed)."""
        return not self.gold

    @property
    def key(self) -> str:
        """The accuracy.json key it observes (when it has no `read`)."""
        return self.metric or self.name

    def judge(self, ev: Evaluation, bounds: Bounds) -> tuple[float, float, bool]:
        """(observed, bound, holds) on `ev` with `bounds`."""
        if self.read:
            observed, bound = self.read(ev, bounds)
        else:
            observed, bound = ev.summary()[self.key], bounds.of(self.name)
        verdict = self.decide(ev, bounds) if self.decide else None
        if verdict is None:
            verdict = observed >= bound if self.direction == "at least" else observed <= bound
        return float(observed), float(bound), bool(verdict)

    def why_not(self, task: Task) -> str:
        """Why it does not apply to a model of `task` (the shipped test's skip reason)."""
        if task in self.unfit:
            return self.unfit[task]
        if not task.classifier:
            return (f"{self.name} needs labels: a feature-extraction encoder has none and is judged "
                    "by cosine similarity and relative L2 distance to the torch reference embeddings")
        if not self.tasks & CLASSIFIERS:
            return (f"{self.name} applies to feature-extraction encoders (embeddings); this {task.value} "
                    "classifier is judged on its label probabilities")
        fits = " and ".join(f"{t.noun}s" for t in Task if t in self.tasks)
        return f"{self.name} applies to {fits}; this model is a {task.noun}"

    def failure(self, ev: Evaluation, bounds: Bounds, observed: float, bound: float,
                texts: Sequence[Text], label_names: Sequence[str]) -> str:
        """The failure message: what failed, where the bound comes from, then the evidence."""
        if self.what:
            what = self.what(ev, bounds, observed, bound)
        elif self.direction == "at least":
            what = f"{self.name} = {observed:.6g} is below the bound {bound:.6g}"
        else:
            what = f"{self.name} = {observed:.6g} exceeds the bound {bound:.6g}"
        source = self.source or (f"the {self.name} check's own defaults per number format" if self.defaults
                                 else TOLERANCES)
        context = self.context or _worst_samples
        where = (f"  (bound: the project's, {override_table(ev.name)} or its option; the default is in "
                 f"{source})" if self.name in bounds.overridden else
                 f"  (bounds: {source}; override in {override_table(ev.name)})")
        return "\n".join([f"{ev.name}: {what}.", where, *context(ev, bounds, texts, label_names)])


# --- the F1, accuracy and per-label checks ------------------------------------------------------


def _f1_keep(ev: Evaluation, bounds: Bounds) -> tuple[float, float]:
    """Rule `point`: the headline F1 against f1_keep x the reference's. The CI rules: the CI's
    upper end (regression) or lower end (non-inferiority) against -margin."""
    s = ev.stats
    if s is not None and s.rule != "point":
        return judged_end(s.delta, s.rule), -s.margin
    return ev.metrics[ev.headline], bounds.f1_keep * ev.reference_metrics[ev.headline]


def _f1_rule(ev: Evaluation, bounds: Bounds) -> bool | None:
    """The CI rules' own verdict (non-inferiority needs the CI strictly above -margin); None for `point`."""
    s = ev.stats
    return s.decision(bounds.f1_keep).passed if s is not None and s.rule != "point" else None


def _f1_keep_failure(ev: Evaluation, bounds: Bounds, observed: float, bound: float) -> str:
    s = ev.stats
    if s is not None and s.rule != "point":
        return f"{ev.task.headline_name} fails the {s.rule} rule: {s.decision(bounds.f1_keep).reason}"
    return (f"{ev.headline} = {observed:.4f} is below {bounds.f1_keep:.3f} x the torch reference "
            f"{ev.reference_metrics[ev.headline]:.4f} = {bound:.4f}")


def _on_the_saturating_path(backend: str, twins: Collection[str]) -> str | None:
    """The integer-path gap applies to the row on the saturating path of a file judged on both."""
    if exact_counterpart(backend, twins) is not None:
        return None
    return ("path_flip_rate bounds the gap between an INT8 file's two integer paths: it applies to the "
            "row computed on the saturating path (NAME~saturating, or NAME itself on a CPU without VNNI) of "
            "a file whose weight pairs can saturate, where the exact path ran too and CPUs of both paths are "
            "among the targets")


def _path_gap_failure(ev: Evaluation, bounds: Bounds, observed: float, bound: float) -> str:
    gap = ev.path_gap
    flips = f"{gap.flips} of {gap.n_samples * gap.n_labels} decisions" if gap is not None else "decisions"
    return (f"path_flip_rate = {observed:.4%} exceeds the bound {bound:.4%}: {flips} differ between "
            f"{ev.name} (the saturating path) and {ev.path_gap_with} (the same file on the exact path); the "
            "file's outputs depend on the CPU it runs on (docs/checks.md, \"INT8 on other CPUs\")")


def unsupported_labels(ev: Evaluation) -> str | None:
    """Where no label has the gold positives the per-label check judges a label on (200 texts of 28
    labels rarely do), that in words ("no label has the 30 gold positives ..."); None when some label
    has them. What no_label_judged and a base's `not_judged` (runtime.versus) both say."""
    s = ev.stats
    if s is None or not s.gold.size:
        return None
    support = positive_texts(s.gold, s.groups)  # distinct texts: a copy is no new evidence
    if (support >= s.min_support).any():
        return None
    which = "class" if ev.task.exclusive else "label"
    among = (f"among {len(s.gold)} texts" if s.groups is None or ev.distinct is None else
             f"among {ev.distinct} distinct texts of {len(s.gold)}")
    return (f"no {which} has the {s.min_support} gold positives the check judges one on (the most has "
            f"{int(support.max())}, {among})")


def no_label_judged(ev: Evaluation) -> str | None:
    """Why the per-label check judges nothing here (unsupported_labels), so it could not fail; None
    when some label has the gold positives it judges one on."""
    why = unsupported_labels(ev)
    return None if why is None else (
        f"per_label not judged: {why}, so it could not fail. Evaluate more texts, or lower "
        "per-label-min-support (--gate-per-label-min-support)")


def _one_text_or(other: Callable[[Evaluation], str | None],
                 check: str | None = None) -> Callable[[Evaluation], str | None]:
    """Why a check of F1 (`check`: its name; None: the F1 keep check) judges nothing on a single
    evaluation text, or copies of one (no interval for the CI rules, which fell back to the point rule
    without a word; one text's F1 says nothing of a model's), else `other`'s reason."""
    def why(ev: Evaluation) -> str | None:
        name = check or f"{ev.task.headline_name} keep"
        if len(ev.probs) < 2:
            return (f"{name} not judged: {len(ev.probs)} evaluation text gives its change no interval and "
                    "says nothing of the model's F1; evaluate more texts")
        if ev.distinct is not None and ev.distinct < 2:
            return (f"{name} not judged: the {len(ev.probs)} evaluation texts are copies of one text, which "
                    "gives the change no interval and says nothing of the model's F1; evaluate more "
                    "distinct texts")
        return other(ev)
    return why


def _reference_scores_nothing(metric: str) -> Callable[[Evaluation], str | None]:
    """Why a check of keeping a share of the reference's `metric` ("headline": the task's F1) judges
    nothing here: the reference scores 0, and any backend keeps a share of 0; None otherwise."""
    def why(ev: Evaluation) -> str | None:
        key = ev.headline if metric == "headline" else metric
        ref = ev.reference_metrics.get(key)
        if ref is None or ref > 0:
            return None
        name = ev.task.headline_name if metric == "headline" else metric
        return (f"{name} keep not judged: the torch reference's {name} is 0 on these {len(ev.probs)} texts, "
                "and any backend keeps a share of 0, so it could not fail. Is the model trained, and the "
                "evaluation set its own (its labels, its columns)?")
    return why


def _failing_labels(ev: Evaluation, bounds: Bounds) -> tuple[float, float]:
    """How many labels fail the per-label check, against none."""
    return len([] if ev.stats is None else ev.stats.failing_labels(bounds.per_label_keep)), 0.0


def _per_label_failure(ev: Evaluation, bounds: Bounds, observed: float, bound: float) -> str:
    assert ev.stats is not None
    keep, s = bounds.per_label_keep, ev.stats
    judged = sum(r.verdict != "low-support" for r in s.per_label(keep))
    return (f"{observed:.0f} of {judged} labels with at least {s.min_support} gold positives fail the "
            f"per-label check (each keeps >= {keep:g} x its reference F1 and loses no significant number "
            f"of decisions, Holm-adjusted McNemar p >= 0.05); the overall {ev.task.headline_name} change "
            f"is {s.delta.delta:+.4f} [{s.delta.ci_low:+.4f}, {s.delta.ci_high:+.4f}]")


def _failing_label_lines(ev: Evaluation, bounds: Bounds, texts: Sequence[Text],
                         label_names: Sequence[str]) -> list[str]:
    """Each failing label: its support, both F1s, McNemar and the changed examples."""
    assert ev.stats is not None
    return failures_said(ev.stats.failing_labels(bounds.per_label_keep), texts)


# --- the evidence under a failure ----------------------------------------------------------------


def _worst_samples(ev: Evaluation, bounds: Bounds, texts: Sequence[Text],
                   label_names: Sequence[str]) -> list[str]:
    """The drift summary and the three worst samples (for an encoder, the least similar ones)."""
    if not ev.task.classifier:
        return _describe_embeddings(ev, texts)
    flips = "argmax class changes" if ev.task.record.decision == "argmax" else "decision flips"
    # the task metric where there are gold labels (unlabelled texts have none: parity checks only)
    metric = (f"; {ev.headline} {ev.metrics[ev.headline]:.4f} vs reference "
              f"{ev.reference_metrics[ev.headline]:.4f}" if ev.headline in ev.metrics else "")
    lines = [
        f"  drift mean {ev.drift.mean:.4g}, p99 {ev.drift.p99:.4g}, max {ev.drift.max:.4g}; "
        f"{ev.drift.flips} {flips} ({ev.drift.flip_rate:.3%}){metric}",
        "  worst samples:",
    ]
    for idx in ev.drift.worst_samples(3):
        lines.extend(describe_sample(idx, _shown(texts[idx]), ev.reference[idx], ev.probs[idx], label_names))
    hint = probabilities_read_as_logits(ev.probs, ev.reference, ev.task.record.output)
    return [*lines, f"  {hint}"] if hint else lines


def probabilities_read_as_logits(probs: np.ndarray, reference: np.ndarray, output: str) -> str | None:
    """Why the backend's outputs look like probabilities the gate read as logits (an ONNX file that
    ends in its own sigmoid or softmax), or None: the gate's sigmoid of values in [0, 1] lies in
    [0.5, 0.731] whatever the text, and its softmax of a row that sums to 1 within e^-1..e of the
    uniform share, while the reference's spreads beyond."""
    if probs.size == 0 or probs.ndim != 2:
        return None
    if output == "sigmoid":
        low, high = 0.5, 1 / (1 + math.exp(-1))
    elif output == "softmax":
        classes = probs.shape[1]
        low, high = 1 / (1 + (classes - 1) * math.e), math.e / (math.e + classes - 1)
    else:
        return None
    eps = 1e-6
    inside = bool(probs.min() >= low - eps and probs.max() <= high + eps)
    if not inside or (reference.min() >= low - eps and reference.max() <= high + eps):
        return None
    return (f"every output of this backend lies in [{low:.3g}, {high:.3g}], the {output} of values in "
            f"[0, 1], while the reference's do not: the file seems to output probabilities (its own "
            f"{output}), which the gate reads as logits and passes through a {output} again; export the "
            "classifier's logits (the output before the activation)")


def _describe_embeddings(ev: Evaluation, texts: Sequence[Text]) -> list[str]:
    """Summary and the three samples least similar to the reference, for an encoder."""
    cos = cosine_similarity(ev.probs, ev.reference)
    rel = relative_l2(ev.probs, ev.reference)
    m = ev.metrics
    lines = [
        f"  cosine to the torch reference: min {m['cosine_min']:.6f}, mean {m['cosine_mean']:.6f}; "
        f"relative L2 mean {m['rel_l2_mean']:.4g}, max {m['rel_l2_max']:.4g}; "
        f"abs drift mean {ev.drift.mean:.4g}, max {ev.drift.max:.4g}",
        "  worst samples (lowest cosine):",
    ]
    for idx in cos.worst_samples(3):
        lines += [f"  #{idx}: {clipped(as_string(texts[idx]))!r}",
                  f"      cosine {cos.per_row[idx]:.6f}, relative L2 {rel[idx]:.4g}, "
                  f"norm {np.linalg.norm(ev.probs[idx]):.4g} vs reference "
                  f"{np.linalg.norm(ev.reference[idx]):.4g}, max |diff| {ev.drift.per_sample[idx]:.4g}"]
    return lines


def _shown(text: Text, width: int = 140) -> str:
    """`text` as a sample's line shows it: a pair's two texts each clipped to half the width, so the
    second shows beside a long first (a query's passage, a premise's hypothesis)."""
    if isinstance(text, str):
        return clipped(text, width)
    first, second = (clipped(t, (width - len(PAIR_SEPARATOR)) // 2) for t in text)
    return as_string((first, second))


def describe_sample(idx: int, text: str, ref: np.ndarray, got: np.ndarray,
                    label_names: Sequence[str], rows: int = 5) -> list[str]:
    """A sample's text and the labels where backend and reference differ most."""
    out = [f"  #{idx}: {clipped(text)!r}",
           f"      {'label':<16}{'reference':>10}{'backend':>10}{'diff':>10}"]
    names = list(label_names) or [str(i) for i in range(len(ref))]
    for j in np.argsort(-np.abs(got - ref))[:rows]:
        out.append(f"      {names[j]:<16}{ref[j]:>10.4f}{got[j]:>10.4f}{got[j] - ref[j]:>+10.4f}")
    return out


# --- the registry ---------------------------------------------------------------------------------

# Multi-label: drift of the sigmoid probabilities, flips of the (sample, label) decisions at
# 0.5, micro F1. Single-label: drift of the softmax probabilities, flips of the argmax class
# (one decision per sample), macro F1 and accuracy against the reference's. Feature
# extraction: no labels and no decisions, so no flips and no F1; cosine similarity and
# relative L2 distance to the reference embeddings, plus absolute drift of the embedding
# values. Classifiers with gold labels are also judged label by label (`per_label`).
def _order_check(ranking: Ranking) -> Check:
    """The check of a reranker's order by the measure `ranking` (accuracy.ranking: its record holds
    how it reads, decides, fails and fits)."""
    return Check(ranking.check, frozenset({Task.MULTI_LABEL}), "at least", test=ranking.check, gold=True,
                 metric=ranking.key, read=ranking.keep, decide=ranking.decided, what=ranking.failure,
                 context=ranking.worst, vacuous=ranking.unranked, unsuited=ranking.unsuited,
                 defaults={fmt: bounds.f1_keep for fmt, bounds in DEFAULT_BOUNDS.items()},
                 column=(ranking.name, "{:.4f}"),
                 unfit={Task.SINGLE_LABEL: f"{ranking.check} applies to a reranker, one sigmoid score a "
                        "query-passage pair; a single-label classifier's classes rank no passages"})


# The order is the order of accuracy.json's `checks` and of accuracy.md's columns.
CHECKS: Registry[Check] = Registry.of("check", (
    Check("drift_mean", ALL_TASKS, "at most", test="drift", column=("drift mean", "{:.2e}")),
    Check("drift_p99", ALL_TASKS, "at most", test="drift", column=("drift p99", "{:.2e}")),
    Check("drift_max", ALL_TASKS, "at most", test="drift", column=("drift max", "{:.2e}")),
    Check("flip_rate", CLASSIFIERS, "at most", test="drift", column=("flip rate", "{:.3%}"),
          unfit={Task.FEATURE_EXTRACTION: "decision flips do not apply to a feature-extraction encoder: it "
                 "outputs embeddings, not decisions (judged by cosine and relative L2 instead)"}),
    Check("f1_keep", CLASSIFIERS, "at least", test="f1_keep", gold=True, read=_f1_keep, decide=_f1_rule,
          what=_f1_keep_failure, vacuous=_one_text_or(_reference_scores_nothing("headline"))),
    Check("f1_floor", CLASSIFIERS, "at least", test="f1_floor", gold=True,
          read=lambda ev, b: (ev.metrics[ev.headline], b.f1_floor),
          # an absolute floor counts only where one is configured (bound above 0)
          off=lambda b: "no absolute f1_floor configured for this backend" if b.f1_floor <= 0 else None,
          what=lambda ev, _b, observed, bound: (f"{ev.headline} = {observed:.4f} is below the configured "
                                                f"floor {bound:.4f}")),
    Check("accuracy_keep", frozenset({Task.SINGLE_LABEL}), "at least", test="accuracy_keep", gold=True,
          read=lambda ev, b: (ev.metrics["accuracy"], b.accuracy_keep * ev.reference_metrics["accuracy"]),
          vacuous=_reference_scores_nothing("accuracy"),
          what=lambda ev, b, observed, bound: (
              f"accuracy = {observed:.4f} is below {b.accuracy_keep:.3f} x the torch reference "
              f"{ev.reference_metrics['accuracy']:.4f} = {bound:.4f}"),
          unfit={Task.MULTI_LABEL: "accuracy keep applies to single-label classifiers; a multi-label model "
                 "is gated on micro F1 (exact-match accuracy is reported)"}),
    Check("per_label", CLASSIFIERS, "at most", test="per_label", gold=True, read=_failing_labels,
          what=_per_label_failure, context=_failing_label_lines,
          vacuous=_one_text_or(no_label_judged, "per_label"),
          source=f"{TOLERANCES} per_label_keep, or --gate-per-label-keep / --gate-per-label-min-support"),
    # the gap between an INT8 file's two integer paths (its twin's decisions against its own):
    # OpenVINO calls a metric gap over 1% between a saturating and an exact CPU the sign of
    # saturation; the default model's QInt8 file differs in 0.24% of its decisions
    Check("path_flip_rate", CLASSIFIERS, "at most", test="drift", applies_to=_on_the_saturating_path,
          what=_path_gap_failure, defaults=dict.fromkeys(NUMBER_FORMATS, 0.01),
          unfit={Task.FEATURE_EXTRACTION: "decision flips do not apply to a feature-extraction encoder"}),
    # a reranker's order (one sigmoid score a pair, labelled pairs): MRR@10 over the queries, and NDCG@10 on
    # graded relevance (relevant-grade), each keeps its share of the reference's, or its change's CI clears
    # -margin, by the F1 keep check's rule; the shares are the F1 keep's (MLPerf's 99% for a quantized model)
    *(_order_check(ranking) for ranking in RANKINGS),
    Check("cosine_min", ENCODERS, "at least", test="embeddings", column=("cosine min", "{:.6f}")),
    Check("cosine_mean", ENCODERS, "at least", test="embeddings", column=("cosine mean", "{:.6f}")),
    Check("rel_l2_max", ENCODERS, "at most", test="embeddings", column=("rel. L2 max", "{:.2e}")),
))


def names(task: str | Task | None = None, test: str | None = None) -> tuple[str, ...]:
    """The registered checks (that fit `task`, that `test` runs), in registry order."""
    kind = None if task is None else Task.of(task)
    return tuple(name for name, c in CHECKS.items()
                 if (kind is None or kind in c.tasks) and (test is None or c.test == test))


#: The checks that fit each task and apply to every backend, as registered at import.
TASK_CHECKS: dict[str, tuple[str, ...]] = {t.value: tuple(n for n in names(t) if CHECKS[n].applies_to is None)
                                           for t in Task}
#: The checks every classifier runs on its whole set (both classifier tasks, not label by label).
CLASSIFIER_CHECKS = tuple(n for n, c in CHECKS.items()
                          if c.tasks >= CLASSIFIERS and c.test != "per_label" and c.applies_to is None)


def record(check_name: str) -> Check:
    """The registered check `check_name`; ValueError names the known ones."""
    if check_name not in CHECKS:
        raise ValueError(f"unknown check {check_name!r}; known: {', '.join(CHECKS)}")
    return CHECKS[check_name]


def not_applicable(task: str | Task, check_name: str, labelled: bool = True) -> str | None:
    """Why `check_name` does not apply to a model of `task` (with or without gold labels),
    or None when it does."""
    kind, rec = Task.of(task), record(check_name)
    if kind in rec.tasks:
        return NO_GOLD if rec.gold and not labelled and kind.classifier else None
    return rec.why_not(kind)


def skip_reason(task: str | Task, check_name: str, labelled: bool, bounds: Bounds) -> str | None:
    """Why `check_name` is not run: it does not fit the task or the labels, or `bounds` switch it
    off (an unset absolute floor); None when it runs."""
    off = record(check_name).off
    return not_applicable(task, check_name, labelled) or (off(bounds) if off else None)


def observed_and_bound(ev: Evaluation, check_name: str, bounds: Bounds) -> tuple[float, float, bool]:
    """(observed, bound, holds) for one named check (ValueError if it does not fit the task)."""
    why = not_applicable(ev.task, check_name) or record(check_name).not_for_evaluation(ev)
    if why:
        raise ValueError(f"{check_name} does not apply to {ev.name}: {why}")
    return CHECKS[check_name].judge(ev, bounds)


def check(ev: Evaluation, check_name: str, bounds: Bounds, texts: Sequence[Text],
          label_names: Sequence[str]) -> str | None:
    """None when the bound holds, else an actionable failure message."""
    observed, bound, holds = observed_and_bound(ev, check_name, bounds)
    if holds:
        return None
    return CHECKS[check_name].failure(ev, bounds, observed, bound, texts, label_names)


def judge_all(ev: Evaluation, bounds: Bounds) -> dict[str, dict[str, Any]]:
    """Every registered check that runs on `ev`, with its observed value, bound and outcome (for
    accuracy.json and the verdict): those that fit the task and labels, less those `bounds`
    switch off (an absolute F1 floor counts only where one is configured, above 0)."""
    out: dict[str, dict[str, Any]] = {}
    for name, rec in CHECKS.items():
        if skip_reason(ev.task, name, ev.labelled, bounds) or rec.not_for_evaluation(ev):
            continue
        observed, bound, holds = rec.judge(ev, bounds)
        out[name] = {"observed": observed, "bound": bound, "passed": holds, "direction": rec.direction}
    return out


def held_against(ev: Evaluation) -> tuple[str, ...]:
    """The twin row `ev`'s outputs were held against on the other integer path, if any."""
    return (ev.path_gap_with,) if ev.path_gap_with else ()


def not_judged(ev: Evaluation, bounds: Bounds) -> dict[str, str]:
    """The checks that fit `ev`'s task and labels, that `bounds` switch on, and that this
    evaluation gives nothing to judge (`Check.vacuous`), each with why: accuracy.json and the
    verdict say them, never a pass of a check that could not fail."""
    out: dict[str, str] = {}
    for name, rec in CHECKS.items():
        if (rec.vacuous is None or skip_reason(ev.task, name, ev.labelled, bounds)
                or rec.not_for(ev.name, held_against(ev)) or rec.unfit_for(ev)):
            continue
        why = rec.vacuous(ev)
        if why:
            out[name] = why
    return out


#: The override keys that are not bounds.
_NOT_BOUNDS = ("own", "overridden")


#: The bounds in the units of a classifier's outputs, probabilities: a difference of two is at most 1
#: (a feature extractor's embeddings have no such ceiling).
PROBABILITY_UNITS = frozenset({"drift_mean", "drift_p99", "drift_max", "atol", "padding_atol"})

#: The bounds that are shares (of the reference's F1 or accuracy, of decisions, a cosine): in [0, 1].
SHARES = frozenset({"flip_rate", "f1_keep", "f1_floor", "accuracy_keep", "per_label_keep", "cosine_min",
                    "cosine_mean", "mrr_keep", "ndcg_keep"})


def check_tolerances(tolerances: Any, backends: Sequence[str]) -> None:
    """[tool.encoder-gate.tolerances] as the sessions read it, or a GateError naming what is wrong:
    a table per configured backend (or `NAME~PATH` of one, or `onnx-<format>` for the prebuilt files
    of that format), each a table of known bounds with numbers. A table under a backend the session
    does not have would be silently no bound at all."""
    if not isinstance(tolerances, Mapping):
        raise GateError("[tool.encoder-gate.tolerances] must be a table of tables, one per backend: "
                        f"{override_table('onnx-int8')} with drift_max = 0.05")
    backends = list(dict.fromkeys(backends))
    prebuilt = any(b.startswith(PREBUILT_PREFIX) for b in backends)  # onnx-<format> bounds its files
    rows = [*backends, *(f"onnx-{fmt}" for fmt in NUMBER_FORMATS if prebuilt)]
    known = {f.name for f in fields(Bounds) if f.name not in _NOT_BOUNDS} | {
        name for name, c in CHECKS.items() if c.defaults}
    for key, table in tolerances.items():
        inner, path = split_integer_path(str(key))
        if key not in rows and not (path is not None and inner in backends):
            near = difflib.get_close_matches(str(key), rows, n=1)
            raise GateError(f"{override_table(str(key))}: no backend {key!r} in this session, so its bounds "
                            f"would apply to nothing{f' (did you mean {near[0]!r}?)' if near else ''}; its "
                            f"backends: {', '.join(backends)}")
        if not isinstance(table, Mapping):
            raise GateError(f"{override_table(str(key))} must be a table of bounds, e.g. drift_max = 0.05")
        for name, value in table.items():
            if name not in known:
                near = difflib.get_close_matches(str(name), sorted(known), n=1)
                raise GateError(f"unknown tolerance {name!r} in {override_table(str(key))}"
                                f"{f' (did you mean {near[0]!r}?)' if near else ''}; known: "
                                f"{', '.join(sorted(known))}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise GateError(f"{name} in {override_table(str(key))} must be a number, got {value!r}")
            if not math.isfinite(value):  # a bound of inf passes everything, nan decides nothing
                raise GateError(f"{name} = {value!r} in {override_table(str(key))} must be a finite number: "
                                "a bound no value can cross checks nothing. To accept a known failure, waive "
                                "it ([[tool.encoder-gate.waivers]], docs/checks.md)")
            top = 1 if name in SHARES else math.inf
            if not 0 <= value <= top:  # a negative bound fails every backend; a share above 1 none
                raise GateError(f"{name} = {value!r} in {override_table(str(key))} must be "
                                + ("a share in [0, 1]" if top == 1 else "0 or more") + ", as its default "
                                "bounds are (docs/checks.md)")


def bounds_for(backend: str, overrides: Mapping[str, Mapping[str, float]] | None = None,
               task: str = DOCUMENT_DEFAULT, number_format: str | None = None,
               integer_path: str | None = None) -> Bounds:
    """The bounds of `backend` (a name, or onnx:PATH) for a model of `task`, with project
    overrides applied (the same [tool.encoder-gate.tolerances.BACKEND] table for every task).

    The column is `number_format` when given (a built prebuilt file's precision), else the
    backend's own (:func:`~encoder_gate.backends.registry.parse_backend`; a prebuilt onnx:PATH
    without @fp32/@fp16/@int8 is judged like the loosest ONNX recipe it could be, int8). A
    prebuilt file takes the overrides of `onnx-<number format>`, then those under its own name; a
    backend on one integer path (`onnx-int8~saturating`) those of the backend, then its own; a
    plain INT8 backend computed on `integer_path` its own, then those of `NAME~integer_path`
    (registry.names_of_row: the same result a twin of that name is on another CPU).
    """
    try:
        table = TASK_BOUNDS[Task.of(task)]
    except ValueError:
        raise GateError(f"no tolerance bounds for task {task!r}; known: {', '.join(TASK_BOUNDS)}") from None
    fmt = parse_backend(backend).number_format if number_format is None else number_format
    if fmt not in table:
        raise GateError(f"no tolerance bounds for number format {fmt!r} of backend {backend!r}; "
                        f"known: {', '.join(NUMBER_FORMATS)}")
    own: dict[str, float] = {}
    for name, c in CHECKS.items():
        if c.defaults:
            if fmt not in c.defaults:
                raise GateError(f"check {name} has no default bound for number format {fmt!r}")
            own[name] = float(c.defaults[fmt])
    inner = split_integer_path(backend)[0]  # onnx-int8~saturating: onnx-int8's overrides, then its own
    tables = list(dict.fromkeys([*([f"onnx-{fmt}"] if backend.startswith(PREBUILT_PREFIX) else []), inner,
                                 *names_of_row(backend, integer_path)]))
    changes: dict[str, float] = {}
    for key in tables:
        changes.update((overrides or {}).get(key, {}))
    known = {f.name for f in fields(Bounds) if f.name not in _NOT_BOUNDS} | set(own)
    unknown = sorted(set(changes) - known)
    if unknown:
        raise GateError(f"unknown tolerance {unknown} for {backend} in [tool.encoder-gate.tolerances]; "
                        f"known: {', '.join(sorted(known))}")
    above = sorted(k for k in PROBABILITY_UNITS & set(changes) if Task.of(task).classifier and changes[k] > 1)
    if above:  # a difference of two probabilities is at most 1: such a bound could never fail
        raise GateError(f"{', '.join(f'{k} = {changes[k]!r}' for k in above)} for {backend} in "
                        "[tool.encoder-gate.tolerances]: a classifier's outputs are compared as "
                        "probabilities, which differ by at most 1, so a bound above 1 could never fail; give "
                        "one in [0, 1]")
    own.update({k: float(v) for k, v in changes.items() if k in own})
    return replace(table[fmt], own=own, overridden=frozenset(changes),
                   **{k: float(v) for k, v in changes.items() if k not in own})
