"""The example GitHub Actions workflow gates a PR the way the docs say, with their thresholds."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "pr-gate.yml"


def steps() -> list[dict]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return doc["jobs"]["gate"]["steps"]


def test_base_is_measured_before_the_pr_and_the_report_is_always_uploaded():
    names = [s.get("name", s.get("uses", "")) for s in steps()]
    assert names.index("Baseline on the base") < names.index("Speed gate on the PR (compare with the base)")
    runs = {s.get("name"): s.get("run", "") for s in steps()}
    assert "--benchmark-autosave" in runs["Baseline on the base"]
    assert "--benchmark-compare=0001" in runs["Speed gate on the PR (compare with the base)"]
    assert "pytest accuracy" in runs["Accuracy gate on the PR"]
    upload = next(s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and ".encoder-gate/report/" in upload["with"]["path"]


def test_workflow_uses_the_documented_thresholds():
    page = (ROOT / "docs" / "benchmarks.md").read_text()  # the speed gate's page
    text = WORKFLOW.read_text()
    [fail] = set(re.findall(r"--benchmark-compare-fail=(min:\d+%)", text))
    assert f"--benchmark-compare-fail={fail}" in page
    drop = yaml.safe_load(text)["env"]["ENCODER_GATE_SPEEDUP_MAX_DROP"]
    assert f"ENCODER_GATE_SPEEDUP_MAX_DROP` (default {drop})" in page
    from encoder_gate.speed.settings import DEFAULT_MAX_DROP

    assert float(drop) == DEFAULT_MAX_DROP
