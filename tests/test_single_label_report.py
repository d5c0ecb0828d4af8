"""MCC in the reports: a key of accuracy.json and a column of accuracy.md for a single-label model only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from encoder_gate.accuracy.checks import bounds_for
from encoder_gate.accuracy.evaluation import Evaluation, evaluate
from encoder_gate.publish import write_payload
from encoder_gate.results.accuracy import _row

N = 300
RNG = np.random.default_rng(7)
GOLD_IDX = RNG.integers(0, 3, N)
SL_GOLD = np.eye(3, dtype=np.uint8)[GOLD_IDX]
_LOGITS = RNG.normal(0, 1, (N, 3)) + 1.2 * SL_GOLD
SL_REF = np.exp(_LOGITS) / np.exp(_LOGITS).sum(axis=1, keepdims=True)
# a backend whose argmax differs from the reference on some samples, so its MCC differs too
SL_INT8 = SL_REF.copy()
SL_INT8[:40] = SL_INT8[:40, ::-1]


def _single(name: str, probs: np.ndarray) -> Evaluation:
    return evaluate(name, probs, SL_REF, SL_GOLD, precision="fp32", size_bytes=1, task="single_label",
                    label_names=("negative", "neutral", "positive"), atol=5e-2)


def _payload(task: str, evaluations: dict[str, Evaluation]) -> dict[str, Any]:
    return {"model": {"name": "synthetic", "task": task},
            "dataset": {"source": "synthetic", "split": "test", "variant": "normal", "examples": N},
            "threshold": 0.5, "versions": {"numpy": np.__version__}, "labelled": True,
            "backends": {name: _row(ev, bounds_for(name, task=task)) for name, ev in evaluations.items()}}


def _table(md: str) -> dict[str, dict[str, str]]:
    """accuracy.md's backend table (its first table) as {backend: {header: cell}}."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| backend |"))
    end = lines.index("", start)
    rows = [line.strip("|").split("|") for line in lines[start:end] if not line.startswith("|---")]
    header = [cell.strip() for cell in rows[0]]
    return {cells[0].strip(): dict(zip(header, (c.strip() for c in cells), strict=True))
            for cells in rows[1:]}


def test_single_label_report_has_mcc_in_json_and_markdown(tmp_path: Path) -> None:
    """accuracy.json's single-label rows carry sklearn's MCC; accuracy.md shows it in an MCC column."""
    evaluations = {"torch": _single("torch", SL_REF.copy()), "onnx-int8": _single("onnx-int8", SL_INT8)}
    json_path, md_path = write_payload(tmp_path, _payload("single_label", evaluations))
    rows = json.loads(json_path.read_text())["backends"]
    table = _table(md_path.read_text())
    for name, probs in (("torch", SL_REF), ("onnx-int8", SL_INT8)):
        expected = matthews_corrcoef(GOLD_IDX, probs.argmax(axis=1))
        assert rows[name]["mcc"] == pytest.approx(expected, abs=1e-12)
        assert table[name]["MCC"] == f"{expected:.4f}"
    assert rows["torch"]["mcc"] != rows["onnx-int8"]["mcc"]
    assert "MCC (Matthews correlation)" in md_path.read_text()


def test_multi_label_report_has_no_mcc(tmp_path: Path) -> None:
    """A multi-label model's accuracy.json rows have no mcc key and its accuracy.md no MCC column."""
    rng = np.random.default_rng(3)
    gold = (rng.random((N, 4)) < 0.3).astype(np.uint8)
    probs = np.clip(0.5 * gold + 0.5 * rng.random((N, 4)), 0, 1)
    ev = evaluate("torch", probs, probs, gold, precision="fp32", size_bytes=1, task="multi_label",
                  label_names=("a", "b", "c", "d"), atol=1e-4)
    json_path, md_path = write_payload(tmp_path, _payload("multi_label", {"torch": ev}))
    assert "mcc" not in json.loads(json_path.read_text())["backends"]["torch"]
    assert "MCC" not in _table(md_path.read_text())["torch"]
    assert "F1 (micro)" in _table(md_path.read_text())["torch"]
