"""This session against a baseline session on other libraries (`--gate-accuracy-baseline FILE`).

* `test_accuracy_vs_baseline`: the PR's backend against the baseline's predictions of it (the
  base's `pytest accuracy` on the base's own requirements, read from the shared artifact cache),
  on this session's evaluation texts and gold labels: the headline F1's change with its
  paired-bootstrap CI, McNemar and the per-label check, decided by the configured F1 rule, as
  against the base (encoder_gate.runtime.versus). A library release that moves the model's outputs
  moves the torch reference too, which every other check is judged against: this one sees it.

Without `--gate-accuracy-baseline` it is not collected at all.
"""

from __future__ import annotations

from encoder_gate.plugin.stash import call_or_skip, not_compared
from encoder_gate.results.ab import accuracy_entry
from encoder_gate.results.baseline import VERSUS_BASELINE
from encoder_gate.suite.ab import fail_unless_waived

__all__ = ["test_accuracy_vs_baseline"]


def test_accuracy_vs_baseline(baseline_backend, gate_accuracy_baseline, gate_session, baseline_record,
                              pytestconfig):
    """The PR's backend keeps the baseline's accuracy on the same texts (F1 rule and per-label
    check). Where there is no F1 to compare (unlabelled texts) it fails, saying so, unless
    --gate-allow-skip accepts it. A live `vs baseline` waiver of the backend makes a failure an xfail."""
    baseline = gate_accuracy_baseline
    if why := baseline.accuracy_not_compared:
        not_compared(pytestconfig, baseline.side, why)
    failure = call_or_skip(baseline.accuracy_failure, baseline_backend)
    failed_by = baseline.accuracy_failed_by(baseline_backend) if failure else ()
    baseline_record(accuracy_entry(baseline.accuracy(baseline_backend), failure, "cache", failed_by,
                                   baseline.growth(baseline_backend),
                                   baseline.not_judged(baseline_backend)))
    fail_unless_waived(gate_session, baseline_backend, VERSUS_BASELINE, failure)
