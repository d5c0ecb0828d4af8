"""The verdict, decided once (:mod:`encoder_gate.decision.judge`, its waivers by
:mod:`encoder_gate.decision.waiving`) of the types it is made of (:mod:`encoder_gate.decision.types`, all
that reporting may import of it)."""

from encoder_gate.decision.judge import (
    accuracy_status,
    cell_fails,
    decide_cells,
    decide_documents,
    decide_report_dir,
    decide_results,
    decided,
    failures_from,
    findings_of,
    is_current,
    read_results,
    refused,
    unfinished,
)
from encoder_gate.decision.types import (
    NOT_EVALUATED,
    SPEED,
    STOPPED_EARLY,
    VERSUS_BASE,
    WAIVER,
    BackendVerdict,
    Finding,
    Reason,
    SpeedCell,
    Status,
    Verdict,
)
from encoder_gate.decision.waiving import (
    WAIVABLE,
    check_waivers,
    check_waivers_fit,
    covering_waiver,
    waivable,
    waivers_of,
)

__all__ = [
    "NOT_EVALUATED", "SPEED", "STOPPED_EARLY", "VERSUS_BASE", "WAIVABLE", "WAIVER", "BackendVerdict",
    "Finding", "Reason",
    "SpeedCell", "Status", "Verdict", "accuracy_status", "cell_fails", "check_waivers", "check_waivers_fit",
    "covering_waiver",
    "decide_cells", "decide_documents", "decide_report_dir", "decide_results", "decided", "failures_from",
    "findings_of", "is_current", "read_results", "refused", "unfinished", "waivable", "waivers_of",
]
