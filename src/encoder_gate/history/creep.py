"""Creep: a metric that moved beyond its minimum effect across a window of commits while no single
step did, so every PR gate passed.

`encoder-gate history check --store DIR` compares the newest record with up to `window` earlier
records of its series (:func:`encoder_gate.history.store.same_series`):

- **accuracy**: a backend's headline metric, a reranker's MRR@10 (and NDCG@10), or one label's F1
  (labels with at least the per-label minimum support), below the window's best by more than the F1
  rule's margin
  (`f1-margin`, recorded with each result), while no step between consecutive records lost that
  much;
- **speed**: a speedup over torch eager (a same-run ratio: the machine's drift cancels in it)
  below the window's best by more than the threshold, while no single step fell that far. Only
  records of the same machine and library versions are compared. The threshold is the larger of
  the minimum slowdown and the store's own step-to-step noise on that cell, ``Q3 + 3 IQR`` of
  the absolute log-changes between consecutive records (rustc-perf's rule), once there are at
  least :data:`MIN_STEPS_FOR_NOISE` of them; before that a speed figure's drop is a note, not a creep
  (a README commit failed main's history job: torch-compile at batch 1 5.5% down over two steps of a
  shared runner, whose readings came back up at the next two).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np

from encoder_gate.accuracy.ranking import RANKINGS
from encoder_gate.history.store import on_its_path, other_architecture, same_series

WINDOW = 20
MIN_STEPS_FOR_NOISE = 5
DEFAULT_MARGIN = 0.01  # the F1 rule's default margin, for records that carry none
DEFAULT_MIN_SLOWDOWN = 0.05


@dataclass(frozen=True)
class Creep:
    """One metric that crept: where, how far, against what threshold, and the largest single step."""

    backend: str
    what: str  # "f1", "label joy", "speedup model/normal/bs8/bucketed"
    best: float
    best_commit: str
    newest: float
    threshold: float
    largest_step: float
    unit: str  # "points" (absolute) or "relative"
    steps: int

    def describe(self) -> str:
        if self.unit == "relative":
            drop, thr, step = (1 - self.newest / self.best, 1 - math.exp(-self.threshold),
                               1 - math.exp(-self.largest_step))
            return (f"{self.backend} {self.what}: {self.newest:.3f}x, down {drop:.1%} from {self.best:.3f}x "
                    f"at {self.best_commit[:12]} over {self.steps} commit(s); threshold {thr:.1%}, largest "
                    f"single step {step:.1%}")
        return (f"{self.backend} {self.what}: {self.newest:.4f}, down {self.best - self.newest:.4f} from "
                f"{self.best:.4f} at {self.best_commit[:12]} over {self.steps} commit(s); threshold "
                f"{self.threshold:.4f}, largest single step {self.largest_step:.4f}")


def noise_threshold(steps: Sequence[float]) -> float | None:
    """``Q3 + 3 IQR`` of the absolute step changes, or None with fewer than MIN_STEPS_FOR_NOISE."""
    if len(steps) < MIN_STEPS_FOR_NOISE:
        return None
    q1, q3 = np.percentile(np.abs(steps), [25, 75])
    return float(q3 + 3 * (q3 - q1))


def _crept(series: Sequence[tuple[str, float]], threshold: float) -> tuple[str, float, float] | None:
    """(best commit, best, largest single drop) when the last value is below the best of the
    earlier ones by more than `threshold` while no consecutive drop exceeded it; else None."""
    if len(series) < 2:
        return None
    earlier, (_, newest) = series[:-1], series[-1]
    best_commit, best = max(earlier, key=lambda cv: cv[1])
    drops = [a[1] - b[1] for a, b in pairwise(series)]
    largest = max(drops)
    if best - newest > threshold and largest <= threshold:
        return best_commit, best, largest
    return None


def _values(records: Sequence[Mapping[str, Any]],
            pick: Callable[[Mapping[str, Any]], float | None]) -> list[tuple[str, float]]:
    out = []
    for r in records:
        value = pick(r)
        if value is not None and not math.isnan(value):
            out.append((str(r["commit"]), float(value)))
    return out


def _comparable_speed(record: Mapping[str, Any], newest: Mapping[str, Any]) -> bool:
    """Timed on the same machine with the same libraries (the fingerprint holds both), of a model of the
    same architecture (a BERT to DistilBERT commit moved every speedup on purpose: a trial's onnx-fp32
    6.65x to 5.33x, joined on one line)."""
    return record.get("machine") == newest.get("machine") and not other_architecture(record, newest)


#: How a check's note begins where the newest record shares no figure with the earlier ones of its
#: series: no creep could be seen, and the check says so instead of "no creep" (a record of other
#: batch sizes hid the creep found a record before; a user's walk, 2026-11-29).
NOTHING_COMPARED = "nothing compared"


def check(records: Sequence[Mapping[str, Any]], window: int = WINDOW,
          min_slowdown: float = DEFAULT_MIN_SLOWDOWN) -> tuple[list[Creep], list[str]]:
    """The creeps of the newest record against up to `window` earlier ones of its series, and notes
    (what could not be compared, and why)."""
    if not records:
        return [], ["the store holds no records"]
    newest = records[-1]
    line = same_series(records, newest)[-(window + 1):]
    notes = []
    if len(line) < 2:
        notes.append(f"{newest['commit'][:12]} is the first record of its series: nothing to compare with")
        return [], notes
    found: list[Creep] = []
    compared = 0  # the newest's figures with an earlier value on its line
    for name, entry in (newest.get("backends") or {}).items():
        margin = float(entry.get("margin") or DEFAULT_MARGIN)
        # an INT8 file's figures on one integer path are not its figures on the other (a runner
        # with VNNI and one without): only records of the newest's path are on its line
        path = entry.get("integer_path")
        same_path = on_its_path(line, name, path)
        if path is not None and len(same_path) < len(line) and entry.get("value") is not None:
            notes.append(f"{name}: accuracy compared over the {len(same_path)} record(s) computed on the "
                         f"{path or 'unknown'} integer path, of {len(line)}")
        if entry.get("value") is not None:
            series = _accuracy_series(same_path, name, lambda e: e.get("value"))
            found += _accuracy_creep(series, name, str(entry.get("metric")), margin)
            compared += len(series) >= 2
            if len(series) >= 2 and series[-2][1] - series[-1][1] > margin:  # no creep: the PR gate's to fail
                (before, was), (after, now) = series[-2], series[-1]
                notes.append(f"{name}: {entry.get('metric')} fell {was - now:.4f} in its last step alone "
                             f"({was:.4f} at {before[:12]}, {now:.4f} at {after[:12]}), beyond the F1 margin "
                             f"{margin:g}: not creep, which a PR gate against its base fails; was it merged "
                             "without one?")
        for ranking in RANKINGS:  # a reranker's order (accuracy.ranking), by the same margin
            if entry.get(ranking.key) is not None:
                series = _accuracy_series(same_path, name, partial(_figure, ranking.key))
                found += _accuracy_creep(series, name, ranking.name, margin)
                compared += len(series) >= 2
        floor = int(entry.get("min_support") or 0)
        for label, lab in (entry.get("per_label") or {}).items():  # the labels the check judged
            if lab.get("judged", lab.get("support", 0) >= floor):  # (a record before `judged`: its rows)
                found += _accuracy_creep(_accuracy_series(same_path, name, partial(_label_f1, label)), name,
                                         f"label {label}", margin)
        # (a record of accuracy alone holds no speed: not "another machine's")
        timed = [r for r in line if (((r.get("backends") or {}).get(name) or {}).get("speedups"))]
        comparable = [r for r in timed if _comparable_speed(r, newest)]
        if len(comparable) < len(timed) and entry.get("speedups"):
            notes.append(f"{name}: speed compared over the {len(comparable)} record(s) of this machine, "
                         f"these library versions and this model architecture, of the {len(timed)} that "
                         "hold its speed")
        for case in entry.get("speedups") or {}:
            series = _values(comparable, partial(_log_speedup, name, case))
            compared += len(series) >= 2
            steps = [b[1] - a[1] for a, b in pairwise(series)]
            noise = noise_threshold(steps[:-1])
            threshold = max(-math.log(1 - min_slowdown), noise or 0.0)
            hit = _crept(series, threshold)
            if hit is None:
                continue
            crept = Creep(name, f"speedup {case}", math.exp(hit[1]), hit[0], math.exp(series[-1][1]),
                          threshold, hit[2], "relative", len(series) - 1)
            if noise is None:  # a runner's own run-to-run drift, unknown yet, may reach the minimum slowdown
                earlier = len(steps) - 1
                notes.append(f"not judged as creep, its noise not known yet ({earlier} earlier step(s) of it "
                             f"on this machine; read from {MIN_STEPS_FOR_NOISE}): {crept.describe()}")
            else:
                found.append(crept)
    if not compared:
        notes.append(f"{NOTHING_COMPARED}: {newest['commit'][:12]} shares no figure with the {len(line) - 1} "
                     "earlier record(s) of its series (other batch sizes, cases or backends, another "
                     "machine's speed, no accuracy figure): no creep could be seen")
    return found, notes


def _accuracy_series(line: Sequence[Mapping[str, Any]], name: str,
                     pick: Callable[[Mapping[str, Any]], Any]) -> list[tuple[str, float]]:
    """A backend's accuracy figure (`pick` from its entry) along the records of `line` that hold it."""
    return _values(line, lambda r: pick((r.get("backends") or {}).get(name) or {}))


def _accuracy_creep(series: Sequence[tuple[str, float]], name: str, what: str, margin: float) -> list[Creep]:
    """A backend's accuracy figure (its `series`) crept by more than `margin` points."""
    hit = _crept(series, margin)
    if hit is None:
        return []
    return [Creep(name, what, hit[1], hit[0], series[-1][1], margin, hit[2], "points", len(series) - 1)]


def _figure(key: str, entry: Mapping[str, Any]) -> Any:
    return entry.get(key)


def _label_f1(label: str, entry: Mapping[str, Any]) -> float | None:
    f1: float | None = ((entry.get("per_label") or {}).get(label) or {}).get("f1")
    return f1


def _log_speedup(backend: str, case: str, record: Mapping[str, Any]) -> float | None:
    cell = (((record.get("backends") or {}).get(backend) or {}).get("speedups") or {}).get(case) or {}
    value = cell.get("speedup")
    return math.log(value) if value else None


def pr_trend(records: Sequence[Mapping[str, Any]], current: Mapping[str, Any], window: int = WINDOW,
             min_slowdown: float = DEFAULT_MIN_SLOWDOWN, url: str | None = None) -> str:
    """One line for the PR comment: whether this PR's results (`current`, a record not in the
    store) would complete a creep across the last `window` records of the default branch, and a
    link to the history page when one is published."""
    earlier = same_series(records, current)[-window:]
    page = f" ([the history page]({url}))" if url else ""
    if not earlier:
        return (f"History: no earlier record of this model and data on the default branch to compare "
                f"with{page}.")
    found, _ = check([*earlier, current], window=window, min_slowdown=min_slowdown)
    span = f"the last {len(earlier)} default-branch commit(s)"
    timed = any((b or {}).get("speedups") for b in (current.get("backends") or {}).values())
    # a PR gated against its base times it against the base, not torch eager: no speedup to compare
    only = "" if timed else (" (accuracy only: this PR measured no speedup over torch eager, so speed creep "
                             "is not checked)")
    if elsewhere := current.get("other_commits"):  # another commit's figures are never read as the PR's
        said = ", ".join(f"{name} was written at {str(sha)[:12]}" for name, sha in sorted(elsewhere.items()))
        only = f" (not this PR's commit, so not read: {said})"
    if not found:
        return f"History: no creep across {span} with this PR{only}{page}."
    more = f"; and {len(found) - 1} more" if len(found) > 1 else ""
    return (f"History: **with this PR, {len(found)} metric(s) crept across {span}** while no single step "
            f"did: {found[0].describe()}{more}{only}{page}.")
