"""A check is one record: registering one reaches every consumer with no other file edited.

No model: 200 synthetic texts x 3 labels (gold: label i % 3; the reference 0.9 on the gold label,
0.05 elsewhere). The registered record observes accuracy.json's `max_abs_diff` (the largest
|p - p_ref| over every output) and carries its own default bound per number format.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from encoder_gate.accuracy.checks import ALL_TASKS, CHECKS, Check, bounds_for, check, judge_all
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.errors import GateError
from encoder_gate.publish import render_verdict
from encoder_gate.results.accuracy import _row
from encoder_gate.suite import checks as shipped

N = 200
LABELS = ("joy", "anger", "neutral")
TEXTS = tuple(f"text {i}" for i in range(N))
GOLD = np.eye(3, dtype=np.uint8)[np.arange(N) % 3]
REF = np.where(GOLD == 1, 0.9, 0.05).astype(np.float32)

MAX_ABS_DIFF = Check("max_abs_diff", ALL_TASKS, "at most", test="drift",
                     defaults={"reference": 0.0, "fp32": 1e-4, "fp16": 0.01, "int8": 0.3})


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Check:
    monkeypatch.setitem(CHECKS, MAX_ABS_DIFF.name, MAX_ABS_DIFF)
    return MAX_ABS_DIFF


def run(shift: float, name: str = "onnx-int8"):
    """The reference with text 7's `joy` probability raised by `shift` (0.05 -> 0.45: no decision
    changes, so drift, flips and F1 stay within INT8's bounds)."""
    probs = REF.copy()
    probs[7, 0] += shift
    return evaluate(name, probs, REF, GOLD, precision="int8", size_bytes=1, task="multi_label",
                    label_names=LABELS, atol=5e-2)


def fresh_suite() -> ModuleType:
    """The shipped accuracy tests imported anew, so their parametrization reads today's registry."""
    spec = importlib.util.spec_from_file_location("fresh_shipped_checks", shipped.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parameters(test_function) -> list[str]:
    [mark] = [m for m in test_function.pytestmark if m.name == "parametrize"]
    return list(mark.args[1])


def test_evaluation_reports_the_registered_check(registered):
    """judge_all lists the new check with its observed value, default bound and verdict."""
    bounds = bounds_for("onnx-int8")
    assert judge_all(run(0.0), bounds)["max_abs_diff"] == {"observed": 0.0, "bound": 0.3, "passed": True,
                                                       "direction": "at most"}
    found = judge_all(run(0.4), bounds)
    assert found["max_abs_diff"] == {"observed": pytest.approx(0.4), "bound": 0.3, "passed": False,
                                     "direction": "at most"}
    assert [name for name, r in found.items() if not r["passed"]] == ["max_abs_diff"]


def test_check_says_why_it_fails_and_nothing_when_it_holds(registered):
    """check() returns None while the bound holds, else the standard message naming the bound's source."""
    bounds = bounds_for("onnx-int8")
    assert check(run(0.2), "max_abs_diff", bounds, TEXTS, LABELS) is None
    message = check(run(0.4), "max_abs_diff", bounds, TEXTS, LABELS)
    assert message is not None
    assert message.startswith("onnx-int8: max_abs_diff = 0.4 exceeds the bound 0.3.")
    assert ("(bounds: the max_abs_diff check's own defaults per number format; override in "
            "[tool.encoder-gate.tolerances.onnx-int8])") in message
    assert "worst samples:" in message and "#7: 'text 7'" in message


def test_project_override_changes_its_bound(monkeypatch):
    """Its defaults follow the number format, and [tool.encoder-gate.tolerances.<backend>] overrides them."""
    override = {"onnx-int8": {"max_abs_diff": 0.5}}
    with pytest.raises(GateError, match="unknown tolerance"):
        bounds_for("onnx-int8", override)
    monkeypatch.setitem(CHECKS, MAX_ABS_DIFF.name, MAX_ABS_DIFF)
    defaults = {"torch": 0.0, "onnx-fp32": 1e-4, "onnx-fp16": 0.01, "onnx-int8": 0.3}
    assert {b: bounds_for(b).of("max_abs_diff") for b in defaults} == defaults
    bounds = bounds_for("onnx-int8", override)
    assert bounds.of("max_abs_diff") == 0.5 and bounds.drift_max == bounds_for("onnx-int8").drift_max
    assert bounds_for("onnx:model_quantized.onnx", override).of("max_abs_diff") == 0.5
    assert check(run(0.4), "max_abs_diff", bounds, TEXTS, LABELS) is None


def test_verdict_renders_the_registered_check(registered):
    """The verdict, rendered from the accuracy.json row the real functions build, fails on it by name."""
    doc = {"provenance": {"model": {"name": "synthetic"}, "dataset": {"source": "s"}},
           "model": {"name": "synthetic", "task": "multi_label"},
           "dataset": {"source": "s", "split": "test", "variant": "normal", "examples": N},
           "configured_backends": ["onnx-int8"],
           "backends": {"onnx-int8": _row(run(0.4), bounds_for("onnx-int8"))}}
    verdict = render_verdict(doc, None)
    assert "| onnx-int8 | **FAIL** (max_abs_diff) |" in verdict
    assert "- onnx-int8: max_abs_diff = 0.4, bound at most 0.3" in verdict


def test_shipped_suite_runs_it_in_the_test_its_record_names(registered):
    """The drift test's parameters grow by the new check, and that test fails on it."""
    suite = fresh_suite()
    assert parameters(suite.test_drift_within_bound) == [*parameters(shipped.test_drift_within_bound),
                                                         "max_abs_diff"]
    assert parameters(suite.test_embeddings_close_to_reference) == parameters(
        shipped.test_embeddings_close_to_reference)
    model = SimpleNamespace(task="multi_label", label_names=LABELS)
    bounds, dataset = bounds_for("onnx-int8"), SimpleNamespace(texts=TEXTS)
    suite.test_drift_within_bound("max_abs_diff", run(0.2), bounds, dataset, model, ())  # no waivers
    with pytest.raises(AssertionError, match=r"max_abs_diff = 0\.4 exceeds the bound 0\.3"):
        suite.test_drift_within_bound("max_abs_diff", run(0.4), bounds, dataset, model, ())


def test_a_failure_on_unlabelled_texts_says_its_drift_and_samples_without_a_task_metric(registered):
    """Unlabelled texts (init's --texts: parity checks only) give a classifier no F1: a failing check's
    message gives the drift, the flips and the worst samples, and no F1 it does not have (it raised
    KeyError: 'f1' from inside the message, on a user's model whose INT8 flips failed)."""
    probs = REF.copy()
    probs[7, 0] += 0.4
    ev = evaluate("onnx-int8", probs, REF, None, precision="int8", size_bytes=1, task="multi_label",
                  label_names=LABELS, atol=5e-2)
    assert ev.metrics == {}
    message = check(ev, "max_abs_diff", bounds_for("onnx-int8"), TEXTS, LABELS)
    assert message is not None and message.startswith("onnx-int8: max_abs_diff = 0.4 exceeds the bound 0.3.")
    assert "decision flips (0.000%)\n  worst samples:" in message and "#7: 'text 7'" in message
    assert " vs reference " not in message  # (with gold labels: "f1 0.9 vs reference 0.9")
