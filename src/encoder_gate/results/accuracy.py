"""accuracy.json, built: per backend its summary and error bars, each applicable check judged
against its bound, its accuracy status (decided by :func:`encoder_gate.decision.accuracy_status`),
the integer path it was computed on; united across pytest-xdist workers and shards. Rendered by
:mod:`encoder_gate.reporting.accuracy` (accuracy.md), written by :mod:`encoder_gate.publish`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from encoder_gate.accuracy.checks import judge_all, not_judged
from encoder_gate.accuracy.evaluation import Evaluation
from encoder_gate.accuracy.thresholds import described, judged_at_note
from encoder_gate.accuracy.tolerances import Bounds
from encoder_gate.backends.int8_path import TARGETS, this_cpu_path
from encoder_gate.backends.registry import parse_backend, split_integer_path
from encoder_gate.cache import toolchain_versions
from encoder_gate.decision import accuracy_status
from encoder_gate.runtime.inference import model_limit, tokenizer_note
from encoder_gate.runtime.provenance import provenance
from encoder_gate.tasks import THRESHOLD

if TYPE_CHECKING:
    from encoder_gate.runtime.session import GateSession


def accuracy_payload(state: GateSession) -> dict[str, Any]:
    """Everything accuracy.json holds."""
    cfg, model, ds = state.config, state.model, state.dataset
    here = this_cpu_path()
    return {
        "provenance": provenance(state),
        "model": {"name": model.name, "path": str(model.path), "task": model.task,
                  "model_type": model.model_type, "content_hash": model.content_hash,
                  "label_names": list(model.label_names),
                  **({"task_note": model.task_note} if model.task_note else {}),
                  **({"label2id_note": model.label2id_note} if model.label2id_note else {}),
                  **({"dtype_note": model.dtype_note} if model.dtype_note else {}),
                  **({"threshold_note": note} if state.thresholds is not None
                     and (note := judged_at_note(cfg.thresholds)) else {}),
                  # (the tokenizer as loaded: a session that stopped before it loads none for this)
                  **({"tokenizer_note": note} if "tokenizer" in vars(state)
                     and (note := tokenizer_note(state.tokenizer, model.path)) else {})},
        "dataset": {"source": state.dataset_source, "split": cfg.split, "variant": cfg.dataset_variant,
                    "examples": len(ds), "distinct": ds.distinct, "pair_column": ds.pair_column,
                    "pairs": ds.paired, **({"relevance": ds.relevance} if ds.relevance else {}),
                    "cut": cut_record(state)},
        "threshold": THRESHOLD if state.thresholds is None else described(cfg.thresholds),
        "versions": toolchain_versions(p for name in cfg.backends for p in parse_backend(name).packages),
        "labelled": state.labelled,
        "configured_backends": list(cfg.backends),
        # each row with where it was computed (runtime.devices: the CPU, for dynamic INT8 in a GPU session)
        "backends": {name: {**row, **_path_of(state, name), "device": state.device_of(name)}
                     for name, ev in state.evaluations.items()
                     if (row := _row(ev, state.bounds(name), _selected(state, name))) is not None},
        "integer_paths": {"this_cpu": here.path, "how": here.as_dict(),
                          "targets": list(cfg.targets),
                          "target_paths": sorted({TARGETS[t] for t in cfg.targets}),
                          # each twin this session could not compute, and why (this onnxruntime, this CPU)
                          "twins_not_judged": {name: why for name, why in state.not_applicable.items()
                                               if split_integer_path(name)[1] is not None}},
        "not_evaluated": {name: rec.error for name, rec in state.records.items()
                          if rec.error and name not in state.evaluations},
        "cached_outputs": state.cached_outputs,
        "padding": state.padding,
    }


def cut_record(state: GateSession) -> dict[str, Any]:
    """How many evaluation texts are longer than the tokens the model is fed, that limit, and what a
    long-context model takes beyond it (accuracy.json's and export.json's `dataset.cut`)."""
    texts, limit = state.cut_texts
    takes = model_limit(state.tokenizer) if texts else None
    return {"texts": texts, "max_tokens": limit, **({"model_takes": takes} if takes else {})}


def _path_of(state: GateSession, name: str) -> dict[str, Any]:
    """The integer path backend `name` was judged on (None: no INT8 product), whether its file
    computes other numbers on the other path, and for a twin how it computed its path here."""
    record = state.records.get(name)
    out = {"integer_path": record.integer_path if record else None,
           "can_saturate": record.can_saturate if record else None}
    if record and record.path_way:  # a twin: how it computed the path this CPU does not
        out["computed_by"] = record.path_way
    return out


def _selected(state: GateSession, name: str) -> frozenset[str] | None:
    """The checks of backend `name` whose tests the session's selection kept (None: no selection)."""
    chosen = state.selected_checks
    return None if chosen is None else frozenset(c for b, c in chosen if b == name)


def _row(ev: Evaluation, bounds: Bounds, selected: frozenset[str] | None = None) -> dict[str, Any] | None:
    """A backend's summary and error bars, each applicable check against its bound, and its accuracy
    status (decided by :func:`encoder_gate.decision.accuracy_status`). Under a selection of the tests
    (`selected`), only the checks whose tests ran, the others named in `not_selected`, and no row at
    all when none of its checks ran (a team's test of the backend alone): the verdict judges what ran.
    The checks this evaluation gave nothing to judge are in `not_judged`, each with why."""
    checks, vacuous = judge_all(ev, bounds), not_judged(ev, bounds)
    left: list[str] = []
    if selected is not None:
        left = sorted(set(checks) - selected)
        checks = {c: r for c, r in checks.items() if c in selected}
        vacuous = {c: why for c, why in vacuous.items() if c in selected}
        if not checks:
            return None
    return {**ev.summary(), **ev.stats_summary(bounds), "checks": checks,
            **({"not_selected": left} if left else {}), **({"not_judged": vacuous} if vacuous else {}),
            "verdict": accuracy_status(checks).value}


def merge_payloads(payloads: list[dict[str, Any]], order: Sequence[str] = ()) -> dict[str, Any]:
    """One payload from several processes' (pytest-xdist workers) of the same run.

    Model, dataset and versions are the same in every worker; each worker evaluated the
    backends its tests needed, so the backend rows are united (a backend evaluated by two
    workers gave the same numbers: the data and artifacts are the same).
    """
    if not payloads:
        raise ValueError("no accuracy payloads to merge")
    rows: dict[str, Any] = {}
    for payload in payloads:
        rows.update(payload["backends"])
    missing: dict[str, str] = {}
    for payload in payloads:
        missing.update(payload.get("not_evaluated") or {})
    rank = {name: i for i, name in enumerate(order)}
    ordered = sorted(rows, key=lambda name: (rank.get(name, len(rank)), name))
    merged = dict(payloads[0])
    if "integer_paths" in merged:  # a twin another process could not compute, said whichever wrote it
        merged["integer_paths"] = {**merged["integer_paths"], "twins_not_judged": {
            name: why for p in payloads
            for name, why in ((p.get("integer_paths") or {}).get("twins_not_judged") or {}).items()
            if name not in rows}}
    return {**merged, "backends": {name: rows[name] for name in ordered},
            "not_evaluated": {k: v for k, v in missing.items() if k not in rows},
            "cached_outputs": merge_cached_outputs([p.get("cached_outputs") or {} for p in payloads]),
            "padding": merge_padding([p.get("padding") or {} for p in payloads])}


def merge_padding(parts: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """The largest padding difference each backend's properties saw in any process of one run."""
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        for name, seen in part.items():
            into = out.setdefault(name, {"largest": 0.0, "bound": float(seen["bound"])})
            into["largest"] = max(into["largest"], float(seen["largest"]))
    return out


def merge_cached_outputs(parts: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """What the processes of one run read from the cache (GateSession.cached_outputs), united: a
    backend's predictions count as read only when no process computed them (a worker that waited on
    another's computation read it from the cache, but this run computed it), and every kept pass
    read anywhere counts once."""
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, got in part.items():
            into = out.setdefault(name, {})
            if "predictions" in got:
                into["predictions"] = bool(into.get("predictions", True) and got["predictions"])
            if got.get("checks"):
                into["checks"] = sorted({*into.get("checks", ()), *got["checks"]})
            if got.get("entry"):  # the same key in every process: one entry
                into["entry"] = got["entry"]
    return out
