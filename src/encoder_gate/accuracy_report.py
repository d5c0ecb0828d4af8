"""accuracy.json and accuracy.md: per backend, task metrics, drift, flips and size.

The JSON keys are stable (see the README, "accuracy.json"). Per backend at least:
accuracy, precision, recall, f1, drift_mean, drift_p99, drift_max, flip_rate, size_bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoder_gate.cache import toolchain_versions
from encoder_gate.gate import NO_GOLD, THRESHOLD, Evaluation
from encoder_gate.tolerances import Bounds

if TYPE_CHECKING:
    from encoder_gate.session import GateSession

SCHEMA = 1
COLUMNS = (  # (key, header, format)
    ("dtype", "dtype", "{}"),
    ("size_bytes", "size MB", "{:.1f}"),
    ("accuracy", "accuracy (exact)", "{:.4f}"),
    ("precision", "precision (micro)", "{:.4f}"),
    ("recall", "recall (micro)", "{:.4f}"),
    ("f1", "F1 (micro)", "{:.4f}"),
    ("f1_macro", "F1 (macro)", "{:.4f}"),
    ("drift_mean", "drift mean", "{:.2e}"),
    ("drift_p99", "drift p99", "{:.2e}"),
    ("drift_max", "drift max", "{:.2e}"),
    ("flip_rate", "flip rate", "{:.3%}"),
    ("cosine_min", "cosine min", "{:.6f}"),
    ("cosine_mean", "cosine mean", "{:.6f}"),
    ("rel_l2_max", "rel. L2 max", "{:.2e}"),
)


def accuracy_payload(state: GateSession) -> dict[str, Any]:
    """Everything accuracy.json holds."""
    cfg, model, ds = state.config, state.model, state.dataset
    return {
        "schema": SCHEMA,
        "model": {"name": model.name, "path": str(model.path), "task": model.task,
                  "model_type": model.model_type, "content_hash": model.content_hash},
        "dataset": {"source": state.dataset_source, "split": cfg.split, "variant": cfg.dataset_variant,
                    "examples": len(ds)},
        "threshold": THRESHOLD if state.thresholds is None else "tuned per label on validation",
        "versions": toolchain_versions(),
        "labelled": state.labelled,
        "configured_backends": list(cfg.backends),
        "backends": {name: _row(ev, state.bounds(name)) for name, ev in state.evaluations.items()},
        "not_evaluated": {name: rec.error for name, rec in state.records.items()
                          if rec.error and name not in state.evaluations},
    }


def _row(ev: Evaluation, bounds: Bounds) -> dict[str, Any]:
    """A backend's summary, each applicable check against its bound, and the verdict."""
    checks = ev.checks(bounds)
    return {**ev.summary(), "checks": checks,
            "verdict": "pass" if all(c["passed"] for c in checks.values()) else "fail"}


def render_markdown(payload: dict[str, Any]) -> str:
    """A model-card style table, one row per backend."""
    m, d = payload["model"], payload["dataset"]
    rows = payload["backends"].values()
    columns = [c for c in COLUMNS if any(row.get(c[0]) is not None for row in rows)]
    about = {
        "multi_label": f"threshold {payload['threshold']}; drift = per sample, max over labels of "
                       "|p_backend - p_torch|; flips = decisions at the threshold that differ from "
                       "torch FP32.",
        "single_label": "single-label (softmax): accuracy and macro F1 of the argmax class; drift = "
                        "per sample, max over classes of |p_backend - p_torch|; flips = samples whose "
                        "argmax class differs from torch FP32.",
        "feature_extraction": "feature extraction (mean-pooled embeddings): drift = per sample, max "
                              "over dimensions of |e_backend - e_torch|; cosine and relative L2 "
                              "(||e_backend - e_torch|| / ||e_torch||) against torch FP32.",
    }.get(m.get("task", "multi_label"), "")
    lines = [
        f"# encoder-gate accuracy: {m['name']}",
        "",
        f"Dataset `{d['source']}` split `{d['split']}`, variant `{d['variant']}`, {d['examples']} "
        f"examples; {about}",
        "",
        *([NO_GOLD, ""] if payload.get("labelled") is False else []),
        "| backend | " + " | ".join(h for _, h, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, row in payload["backends"].items():
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            if key == "size_bytes":
                value = row[key] / 1e6
            cells.append("" if value is None else fmt.format(value))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    versions = ", ".join(f"{k} {v}" for k, v in payload["versions"].items())
    lines += ["", f"Versions: {versions}.", ""]
    return "\n".join(lines)


def write_accuracy_report(state: GateSession) -> tuple[Path, Path]:
    """Write both files into the report directory; return their paths."""
    return write_payload(state.config.report_dir, accuracy_payload(state))


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
    return {**payloads[0], "backends": {name: rows[name] for name in ordered},
            "not_evaluated": {k: v for k, v in missing.items() if k not in rows}}


def write_payload(out: Path, payload: dict[str, Any]) -> tuple[Path, Path]:
    """Write accuracy.json and accuracy.md for ``payload`` into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "accuracy.json", out / "accuracy.md"
    json_path.write_text(json.dumps(payload, indent=2, sort_keys=False))
    md_path.write_text(render_markdown(payload))
    return json_path, md_path
