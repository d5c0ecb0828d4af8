"""The verdict of every end-to-end scenario, unchanged by a refactor of how it is decided.

`tests/data/verdicts/` holds the results documents (accuracy.json, speedups.json, ab.json) that the
end-to-end self-tests wrote (a self-test run's report directories, one directory per scenario,
named after its test), and beside them `expected.txt`: the verdict.md and the terminal table the
code of 79194bf rendered from them, before the decision moved into `encoder_gate.decision`. Each
case renders the verdict again and compares: the same pass/fail, reasons and figures.

A deliberate change of the verdict's text regenerates the files
(`ENCODER_GATE_REGEN_VERDICTS=1 pytest tests/test_verdict_snapshots.py`) and shows in the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from encoder_gate.errors import GateError
from encoder_gate.publish import build_verdict
from encoder_gate.reporting.verdict import terminal_rows

CASES = Path(__file__).parent / "data" / "verdicts"
WRITTEN = re.compile(r"^_Written \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S* from ", re.MULTILINE)


def _doc(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise GateError(f"{path.name} is not readable JSON") from None
    return doc if isinstance(doc, dict) else None


def rendered(case: Path) -> str:
    """verdict.md (its time stamp masked) and the terminal table, or the error the verdict raises."""
    try:
        verdict = build_verdict(_doc(case / "accuracy.json"), _doc(case / "speedups.json"),
                                _doc(case / "ab.json"))
    except GateError as exc:
        return f"error: {exc}\n"
    table = "\n".join(f"{'x' if failed else ' '} {line}" for line, failed in terminal_rows(verdict))
    markdown = WRITTEN.sub("_Written <time> from ", verdict.markdown)
    return f"passed: {verdict.passed}\n\n{markdown}\n--- terminal ---\n{table}\n"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_the_verdict_of_each_scenario_is_what_it_was(case: str) -> None:
    expected = CASES / case / "expected.txt"
    got = rendered(CASES / case)
    if os.environ.get("ENCODER_GATE_REGEN_VERDICTS"):
        expected.write_text(got)
    assert got == expected.read_text()


def test_the_scenarios_cover_every_kind_of_verdict() -> None:
    """Passing and failing verdicts, accuracy-only, speed-only, vs-base, and refused joins."""
    texts = [(CASES / c / "expected.txt").read_text() for c in sorted(os.listdir(CASES))]
    assert any(t.startswith("passed: True") for t in texts)
    assert any(t.startswith("passed: False") for t in texts)
    assert any("vs base" in t for t in texts) and any("left out" in t for t in texts)
    assert any(t.startswith("error: ") for t in texts)
