"""The report directory's documents written, and the verdict decided and written once: what a
session, `encoder-gate verdict` and `encoder-gate merge` call at their end. Decides through
:mod:`encoder_gate.decision`, renders through :mod:`encoder_gate.reporting` (which decides nothing),
writes through :mod:`encoder_gate.documents`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from encoder_gate.decision import (
    Verdict,
    decide_documents,
    decide_report_dir,
    decide_results,
    is_current,
    read_results,
)
from encoder_gate.documents import (
    ACCURACY_FILE,
    ACCURACY_PAGE,
    FINDINGS_FILE,
    VERDICT_FILE,
    VERDICT_JSON,
    read_document,
    registered,
    write_document,
    write_page,
)
from encoder_gate.errors import GateError
from encoder_gate.reporting.accuracy import render_markdown
from encoder_gate.reporting.verdict import VerdictReport, render


def write_payload(out: Path, payload: dict[str, Any]) -> tuple[Path, Path]:
    """Write accuracy.json and accuracy.md for ``payload`` into ``out``; return their paths."""
    return (write_document(out, ACCURACY_FILE, payload),
            write_page(out, ACCURACY_PAGE, render_markdown(payload)))


def drop_superseded(report_dir: Path, names: Iterable[str], progress: Callable[[str], None]) -> list[str]:
    """Remove the results documents `names` (and the page rendered from each) that an earlier session
    left in `report_dir`, and say so: the session ending now ran the tests that write them and wrote
    none (they failed, errored or found nothing to judge), so an earlier session's results must not
    stand in its verdict, nor in any reader's after it (`encoder-gate verdict`, history), as its
    own. Returns the names removed."""
    removed = []
    for name in sorted(names):
        path = Path(report_dir) / name
        if not path.is_file():
            continue
        try:
            doc = read_document(report_dir, name) or {}
        except GateError:
            doc = {}
        written = (doc.get("provenance") or {}).get("written")
        path.unlink()
        kind = registered().get(name)
        page = kind.page if kind is not None else None
        if page:
            (Path(report_dir) / page).unlink(missing_ok=True)
        removed.append(name)
        progress(f"{name} of an earlier session{f' (written {written})' if written else ''} removed from "
                 f"{report_dir}: this session ran the tests that write it and they wrote none, so its "
                 "verdict holds no results of theirs")
    return removed


def render_verdict(accuracy: Mapping[str, Any] | None, speedups: Mapping[str, Any] | None,
                   ab: Mapping[str, Any] | None = None, current: Mapping[str, Any] | None = None) -> str:
    """The verdict markdown (see :func:`build_verdict`)."""
    return build_verdict(accuracy, speedups, ab, current).markdown


def build_verdict(accuracy: Mapping[str, Any] | None, speedups: Mapping[str, Any] | None,
                  ab: Mapping[str, Any] | None = None, current: Mapping[str, Any] | None = None,
                  findings: Mapping[str, Any] | None = None) -> VerdictReport:
    """The verdict of an accuracy.json, a speedups.json, an ab.json and a findings.json document
    (any may be None), decided by :func:`encoder_gate.decision.decide_documents` (which joins only
    those of `current`'s model and dataset), rendered."""
    return render(decide_documents(accuracy, speedups, ab, current, findings))


def current_verdict(report_dir: Path) -> str:
    """The verdict of ``report_dir`` as it stands: verdict.md as the last session wrote it when
    verdict.json says it judged every results document there now (the same documents, written at
    the same times), so nothing is decided twice; else decided again from them and written. Also
    decided again where a session's running marker is there: what became of that session (gone,
    ended by the out-of-memory killer: decision.judge.unfinished) is known only now."""
    report_dir = Path(report_dir)
    docs = read_results(report_dir)
    page = report_dir / VERDICT_FILE
    running = (docs.get(FINDINGS_FILE) or {}).get("running")
    if page.is_file() and not running and is_current(read_document(report_dir, VERDICT_JSON), docs):
        return page.read_text()
    return _write(report_dir, None, decide_results(docs)).markdown


def write_verdict(report_dir: Path, current: Mapping[str, Any] | None = None) -> str:
    """Render the verdict from ``report_dir``'s results files that belong to `current` (see
    :func:`render_verdict`), write ``verdict.md`` there, and return the markdown."""
    return _write(Path(report_dir), current).markdown


def _write(report_dir: Path, current: Mapping[str, Any] | None, verdict: Verdict | None = None
           ) -> VerdictReport:
    report = render(decide_report_dir(report_dir, current) if verdict is None else verdict)
    write_page(report_dir, VERDICT_FILE, report.markdown)
    write_document(report_dir, VERDICT_JSON, report.verdict.to_json())
    return report


def write_decided(report_dir: Path, verdict: Verdict) -> VerdictReport:
    """Write a verdict decided elsewhere (a merge that was refused: decision.refused) as every
    verdict is written: verdict.md and verdict.json."""
    return _write(Path(report_dir), None, verdict)


def refresh_verdict(report_dir: Path, progress: Callable[[str], None],
                    current: Mapping[str, Any] | None = None) -> VerdictReport | None:
    """Rewrite verdict.md (and verdict.json) at the end of the session whose provenance is `current`,
    and return it; an unreadable results file is reported, not raised (None)."""
    try:
        verdict = _write(Path(report_dir), current)
    except GateError as exc:
        progress(f"verdict not written: {exc}")
        return None
    progress(f"verdict: {Path(report_dir) / VERDICT_FILE}")
    return verdict
