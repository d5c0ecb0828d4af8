"""ab.json, built: the PR against its base, per backend: the accuracy change and the speed cells,
decided (the cells together, with Holm's correction across them:
:func:`encoder_gate.decision.decide_cells`). Rendered by :mod:`encoder_gate.reporting.ab`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from encoder_gate.accuracy.evaluation import Evaluation
from encoder_gate.accuracy.growth import DriftGrowth
from encoder_gate.accuracy.ranking import ranked_keys
from encoder_gate.backends.registry import packages_of
from encoder_gate.cache import toolchain_versions
from encoder_gate.config import GateConfig
from encoder_gate.decision import SpeedCell, cell_fails, decide_cells
from encoder_gate.documents import AB_FILE, write_document
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.versus import LABELS_DIFFER
from encoder_gate.speed.ab import ABSettings, CellDecision
from encoder_gate.tasks import Task


def ab_settings(config: GateConfig) -> ABSettings:
    """The A/B's settings from the session's configuration."""
    settings = ABSettings(min_effect=config.min_slowdown, inconclusive=config.inconclusive,
                          budget_seconds=config.ab_budget)
    if config.ab_round_seconds is not None:
        settings = replace(settings, round_seconds=config.ab_round_seconds)
    return settings


def accuracy_entry(ev: Evaluation, failure: str | None, base_predictions: str | None = None,
                   failed_by: Sequence[str] = (), growth: DriftGrowth | None = None,
                   not_judged: str | None = None, by_base_criteria: str | None = None,
                   rare_lost: str | None = None) -> dict[str, Any]:
    """One backend's accuracy against the base, for ab.json; `base_predictions`: where the base's
    predictions came from (BaseSide.predicted); `failed_by`: what failed it
    (BaseSide.accuracy_failed_by), which its verdict cell names; `growth`: its drift from its own
    torch against the base's (AgainstBase.growth; None for torch itself); `not_judged`: why its F1
    against the base's could not fail (AgainstBase.not_judged): never said as a pass;
    `by_base_criteria`: what would fail it by the base's own pass criteria where it passes by the
    PR's (AgainstBase.by_its_own_criteria); `rare_lost`: the labels too rare to judge that lost every hit
    the base had (AgainstBase.rare_labels_lost): said, never judged."""
    s = ev.stats
    headline = Task.of(ev.task).headline
    d = ev.drift
    out: dict[str, Any] = {"passed": failure is None, "failure": failure, "failed_by": list(failed_by),
                           "metric": headline,
                           "pr": ev.metrics.get(headline), "base": ev.reference_metrics.get(headline),
                           "base_predictions": base_predictions,
                           # how far the PR's outputs moved from the base's on the same texts: said, not
                           # judged (a retrained model's move by design; the F1 rule decides)
                           "outputs": {"drift_max": d.max, "drift_mean": d.mean,
                                       "changed_texts": d.flipped_samples, "texts": d.n_samples},
                           # each side's drift from its own torch, judged (accuracy.growth)
                           "drift_growth": growth.as_dict() if growth is not None else None,
                           # the set too small to see the F1 margin: a pass here rules no such drop out
                           "underpowered": s.underpowered if s is not None else None,
                           "not_judged": not_judged, "by_base_criteria": by_base_criteria,
                           "rare_labels_lost": rare_lost}
    if s is not None:
        out.update({"delta": s.delta.delta, "delta_ci": list(s.delta.ci), "mcnemar_p": s.mcnemar.p_value,
                    "rule": s.rule})
    ranked = ranked_keys(ev)  # a reranker's: its MRR@10 (and NDCG@10) on the PR against the base's
    if ranked:
        out["ranking"] = ranked
    return out


def refused_entry(failure: str, metric: str) -> dict[str, Any]:
    """A backend's accuracy against the base that could not be compared at all (models of other labels:
    AgainstBase.check_comparable), for ab.json: failed, saying why (`failed_by`: LABELS_DIFFER), no
    figure; a `vs base` waiver accepts it (a label renamed on purpose), as any failure against the base."""
    return {"passed": False, "failure": failure, "failed_by": [LABELS_DIFFER], "metric": metric, "pr": None,
            "base": None, "base_predictions": None, "outputs": None, "drift_growth": None,
            "underpowered": None, "not_judged": None, "rare_labels_lost": None}


def speed_entry(cell: SpeedCell, decision: CellDecision, settings: ABSettings) -> dict[str, Any]:
    """One cell for ab.json: the ratio with its CI, the test, and how it was measured."""
    c = cell.cell
    return {"backend": cell.backend, "case": cell.case, "status": decision.status,
            "fails": cell_fails(decision, settings), "ratio": decision.ratio, "ratio_ci": list(decision.ci),
            "p_value": decision.p_value, "alpha": decision.alpha, "mde": decision.mde,
            "rounds": decision.rounds, "rounds_needed": decision.rounds_needed, "clock": c.clock,
            "texts": c.texts, "passes_per_round": c.passes, "describe": decision.describe(),
            "wall_ratio": float(sum(c.pr_wall) / sum(c.base_wall)) if c.base_wall else None,
            # the rounds themselves: `encoder-gate merge` judges shards' cells again, all together
            "cell": asdict(c)}


def speed_entries(cells: list[SpeedCell], settings: ABSettings,
                  base: ABSettings | None = None) -> list[dict[str, Any]]:
    """Each cell decided (Holm across them) for ab.json. Where the base's own settings (`base`: its
    pyproject's min-slowdown and inconclusive) are not the PR's, a cell the PR's pass and the base's
    would fail says why in its `by_base_criteria` (a PR that loosens its own bounds passes by them)."""
    out = [speed_entry(c, d, settings) for c, d in zip(cells, decide_cells(cells, settings), strict=True)]
    if base is None or (base.min_effect, base.inconclusive) == (settings.min_effect, settings.inconclusive):
        return out
    theirs = replace(settings, min_effect=base.min_effect, inconclusive=base.inconclusive)
    for entry, decided in zip(out, decide_cells(cells, theirs), strict=True):
        if not entry["fails"] and cell_fails(decided, theirs):
            entry["by_base_criteria"] = (f"{decided.describe()} (the base's min-slowdown "
                                         f"{theirs.min_effect:g}, inconclusive = {theirs.inconclusive})")
    return out


def ab_payload(*, pr_model: ModelSpec, base_model: ModelSpec | None, base_dir: Path,
               settings: ABSettings, accuracy: Mapping[str, dict[str, Any]],
               speed: list[dict[str, Any]], notes: list[str], criteria_changed: Sequence[str] = (),
               provenance: Mapping[str, Any] | None = None, base_commit: str | None = None,
               base_settings: ABSettings | None = None) -> dict[str, Any]:
    """The whole ab.json document (`provenance`: the PR session's, see encoder_gate.runtime.provenance;
    `base_commit`: the commit checked out in the base's directory, None outside git;
    `criteria_changed`: each pass criterion, waiver or scope the PR's configuration sets otherwise
    than the base's, runtime.base.criteria_changes; `base_settings`: the A/B settings of the base's own
    pyproject)."""
    return {
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "provenance": dict(provenance) if provenance is not None else None,
        "model": {"name": pr_model.name, "content_hash": pr_model.content_hash},
        "base": {"dir": str(base_dir), "commit": base_commit,
                 "model": base_model.name if base_model else None,
                 "content_hash": base_model.content_hash if base_model else None},
        "settings": {"min_effect": settings.min_effect, "alpha": settings.alpha,
                     "inconclusive": settings.inconclusive, "budget_seconds": settings.budget_seconds,
                     # the base's own, which `encoder-gate merge` judges the merged cells by too
                     **({"base": {"min_effect": base_settings.min_effect,
                                  "inconclusive": base_settings.inconclusive}} if base_settings else {})},
        "accuracy": dict(accuracy), "speed": speed, "notes": notes,
        "criteria_changed": list(criteria_changed),
        # both sides ran with these: a PR that upgrades a library is measured with it on both
        "environment": toolchain_versions(packages_of([*accuracy, *(c["backend"] for c in speed)])),
    }


def write_ab(report_dir: Path, payload: Mapping[str, Any]) -> Path:
    return write_document(report_dir, AB_FILE, payload)
