"""Drift from its own torch against the base (accuracy.growth): a conversion that drifts further
from its model than the base's did fails against it, though its F1 and absolute bounds hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder_gate.accuracy.growth import GROWTH_FLOOR, drift_growth
from encoder_gate.config import GateConfig


def test_the_same_drifts_on_both_sides_are_no_growth_and_a_small_set_cannot_fail():
    """Identical per-text drifts (the same file on both sides) pass with p = 1; a large growth on
    too few texts for the one-sided Wilcoxon test to reach 5% passes too (a test that decides
    nothing fails nothing); the allowance is the larger of the share and the floor."""
    ref = np.full((40, 3), 0.2)
    base = ref + 0.01
    same = drift_growth(base, ref, base, ref, share=1.0, drift_mean_bound=0.1)
    assert (same.p_value, same.growth, same.passed) == (1.0, 0.0, True)
    few = drift_growth(ref[:3] + 0.3, ref[:3], base[:3], ref[:3], share=1.0, drift_mean_bound=0.1)
    assert few.growth == pytest.approx(0.29) and few.p_value > 0.05 and few.passed
    many = drift_growth(ref + 0.3, ref, base, ref, share=1.0, drift_mean_bound=0.1)
    assert not many.passed and many.allowed == GROWTH_FLOOR * 0.1
    assert drift_growth(ref + 0.3, ref, base, ref, share=40.0, drift_mean_bound=0.1).passed  # 0.29 < 0.4


def test_a_conversion_that_drifts_further_from_its_own_torch_than_the_bases_fails_against_it(
        tmp_path: Path, cache_dir: Path):
    """A user's damaged INT8 file (weights requantized from noise): drift mean 0.057 from its own torch
    against the base file's 0.001, every decision kept, so its F1, its labels and INT8's absolute
    bounds (drift mean 0.1) all hold; against the base it fails, named `drift growth`. The same file
    on both sides, a drift that grows within its allowance, and a retrained model converted as well
    as the base's (each side judged by its own torch) pass; the project can loosen drift_growth."""
    from encoder_gate.accuracy.checks import bounds_for, check_tolerances
    from encoder_gate.reporting.ab import drift_grown
    from encoder_gate.results.ab import accuracy_entry
    from encoder_gate.runtime.base import BaseSide
    from encoder_gate.runtime.session import BuildRecord, GateSession

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "pyproject.toml").write_text(f'[tool.encoder-gate]\nmodel = "tiny"\ncache-dir = '
                                                      f'"{cache_dir}"\nbackends = ["torch", "onnx-int8"]\n')
    pr = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, backends=("torch", "onnx-int8"),
                                limit=600))
    pr.built = lambda name: BuildRecord(name, 0.0, True, "int8", 1)  # type: ignore[method-assign]
    side = BaseSide.open(tmp_path / "base", pr)
    gold = pr.gold
    assert gold is not None
    rng = np.random.default_rng(0)
    torch_probs = np.where(gold, 0.8, 0.2)
    away = np.where(torch_probs > 0.5, 1.0, -1.0)  # away from the threshold: no decision changes

    def drifting(reference: np.ndarray, mean: float) -> np.ndarray:
        return reference + away * rng.uniform(0, 2 * mean, size=(len(reference), 1))

    healthy = drifting(torch_probs, 0.001)
    side.predictions = lambda name: {"torch": torch_probs, "onnx-int8": healthy}[name]  # type: ignore[method-assign]

    def pr_with(torch: np.ndarray, int8: np.ndarray) -> None:
        pr.predictions = lambda name, max_tokens=None: {"torch": torch, "onnx-int8": int8}[name]  # type: ignore[method-assign]
        side._evaluations.clear()
        side._growths.clear()

    pr_with(torch_probs, drifting(torch_probs, 0.057))
    grown = side.growth("onnx-int8")
    assert grown is not None and not grown.passed and grown.p_value < 1e-10
    assert grown.pr_mean == pytest.approx(0.057, rel=0.1) and grown.base_mean == pytest.approx(0.001, rel=0.1)
    assert grown.allowed == 0.025  # a quarter of INT8's drift_mean bound, above 1.0 x the base's mean
    assert side.growth("torch") is None  # torch's drift is 0 on both sides
    assert side.accuracy_failed_by("onnx-int8") == ["drift growth"]
    failure = side.accuracy_failure("onnx-int8")
    assert failure is not None and "onnx-int8 lost fidelity to its own torch (its F1 rule and per-label " \
        "check held) against the base's onnx-int8" in failure
    assert "drift growth: mean drift from its own torch 0.05" in failure and "drift_growth = 1" in failure
    entry = accuracy_entry(side.accuracy("onnx-int8"), failure, "computed", ["drift growth"], grown)
    assert entry["drift_growth"]["passed"] is False and ": FAIL)" in drift_grown(entry["drift_growth"])
    retrained = np.where(gold, 0.7, 0.3)  # other probabilities, the same decisions
    for torch, int8 in ((torch_probs, healthy),  # the same file on both sides
                        (torch_probs, drifting(torch_probs, 0.0015)),  # grew by 0.0005: within the floor
                        (retrained, drifting(retrained, 0.001))):  # retrained, converted as well
        pr_with(torch, int8)
        assert side.growth("onnx-int8").passed, side.growth("onnx-int8")  # type: ignore[union-attr]
        assert side.accuracy_failed_by("onnx-int8") == []
    check_tolerances({"onnx-int8": {"drift_growth": 100}}, ["torch", "onnx-int8"])  # a known bound
    assert bounds_for("onnx-int8", {"onnx-int8": {"drift_growth": 100}}).drift_growth == 100
