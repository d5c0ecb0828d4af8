"""The speed baseline: read once, refused if from another machine, and what makes it less comparable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.documents import SPEEDUPS_FILE, check_schema
from encoder_gate.errors import GateError
from encoder_gate.speed.machine import (
    STACK_FIELDS,
    MachineMismatch,
    fingerprint_differences,
    machine_mismatch_message,
)
from encoder_gate.speed.results import read_json
from encoder_gate.speed.settings import ENV_ALLOW_OTHER_MACHINE, BenchSettings


@dataclass(frozen=True)
class Baseline:
    """A speedups document to gate against, where it came from, and how its hardware fingerprint
    differs from this run's (empty: the same machine, or a fingerprint unknown on a side)."""

    doc: Mapping[str, Any]
    source: str
    differences: Sequence[str] = ()

    @property
    def other_machine(self) -> bool:
        """Whether the fingerprints differ in a field of the machine (CPU, cores, threads, GPU), not
        only of the library stack (:data:`~encoder_gate.speed.machine.STACK_FIELDS`)."""
        return any(d.split(":", 1)[0].split(".", 1)[0] not in STACK_FIELDS for d in self.differences)

    def texts_of(self, case: str) -> int | None:
        """The texts a pass of `case` timed in the baseline (its paired cells' `texts`), or None where
        it does not say: a session compared with it times as many, so its figures are of the same
        work (rules.unlike_cells), whatever its own sizing would find today."""
        stats = self.doc.get("stats")
        row = stats.get(case) if isinstance(stats, Mapping) else None
        entries = [e for e in (row.values() if isinstance(row, Mapping) else ()) if isinstance(e, Mapping)]
        counts = {int(e["texts"]) for e in entries if isinstance(e.get("texts"), int) and e["texts"] > 0}
        return next(iter(counts)) if len(counts) == 1 else None

    def warnings(self, current: Mapping[str, Any]) -> list[str]:
        """Why this run's speedups document ``current`` may not compare well with the baseline."""
        out = comparability_warnings(current, self.doc)
        if self.differences:
            out.append("baseline from another machine or stack, compared as asked "
                       f"(--gate-allow-other-machine or {ENV_ALLOW_OTHER_MACHINE}=1): "
                       f"{'; '.join(self.differences)}")
        elif current.get("fingerprint") and not self.doc.get("fingerprint"):
            out.append("the baseline has no hardware fingerprint (saved by an older encoder-gate): "
                       "cannot check it was measured on this machine")
        return out


def open_baseline(settings: BenchSettings, fingerprint: Mapping[str, Any] | None,
                  compared: tuple[Mapping[str, Any], str] | None = None) -> Baseline | None:
    """The speed baseline of a session, read and checked against this run's hardware ``fingerprint``.

    The baseline is ``settings.baseline`` (a speedups.json) when set, else ``compared``: a
    speedups document and where it came from (e.g. the pytest-benchmark save that
    ``--benchmark-compare`` compares with); None when there is neither. A malformed file raises
    a GateError; a baseline whose fingerprint differs raises
    :class:`~encoder_gate.speed.machine.MachineMismatch`, unless ``settings.allow_other_machine``
    (then :meth:`Baseline.warnings` names the differences).
    """
    doc: Mapping[str, Any]
    if settings.baseline is not None:
        doc, source = read_baseline(settings.baseline), str(settings.baseline)
    elif compared is not None:
        doc, source = compared
    else:
        return None
    differences = fingerprint_differences(fingerprint, doc.get("fingerprint"))
    if differences and not settings.allow_other_machine:
        raise MachineMismatch(machine_mismatch_message(source, differences))
    return Baseline(doc, source, tuple(differences))


def read_baseline(path: Path) -> dict[str, Any]:
    """A speedups.json to gate against, or a GateError when the file is none (another tool's JSON,
    a pytest-benchmark save): its `speedups` table maps each case to each backend's speedup."""
    doc = read_json(path, "speedup baseline")
    check_schema(doc, SPEEDUPS_FILE, path)
    table = doc.get("speedups")
    if not isinstance(table, Mapping) or not all(
            isinstance(row, Mapping) and all(isinstance(v, (int, float)) for v in row.values())
            for row in table.values()):
        raise GateError(f"the speedup baseline {path} is not a speedups.json of encoder-gate (no `speedups` "
                        "table of case -> backend -> speedup): point --gate-speedup-baseline (or "
                        "ENCODER_GATE_SPEEDUP_BASELINE) at the speedups.json an earlier `pytest benchmarks` "
                        "wrote into its report directory")
    if not any(table.values()):  # before the fingerprint: its empty providers read as another machine
        raise GateError(f"the speedup baseline {path} holds no speedup (a shard whose share was torch alone, "
                        "or a session that timed nothing): point --gate-speedup-baseline at a whole "
                        "session's speedups.json, or the one `encoder-gate merge` wrote")
    return doc


def comparability_warnings(current: Mapping[str, Any], baseline: Mapping[str, Any],
                           gemm_tolerance: float = 1.5) -> list[str]:
    """Reasons two speedups documents may not be comparable (different model, threads, load).

    The GEMM rate is a snapshot of how much CPU the run got: when it differs by more than
    ``gemm_tolerance`` times, the machine was loaded differently, and backends do not
    suffer load alike (torch's OpenMP barriers degrade far more than ONNX Runtime's
    threads on an oversubscribed machine).
    """
    out = []
    cur_model, base_model = current.get("model") or {}, baseline.get("model") or {}
    for key in ("content_hash", "threads", "device"):
        if key in cur_model and key in base_model and cur_model[key] != base_model[key]:
            named = (f" (model {cur_model.get('name')!r} now, {base_model.get('name')!r} in the baseline: "
                     "another model's times, unless it is this one retrained)"
                     if key == "content_hash" and cur_model.get("name") != base_model.get("name") else "")
            out.append(f"model {key} differs: {cur_model[key]!r} now, {base_model[key]!r} in the "
                       f"baseline{named}")
    cur_gemm, base_gemm = current.get("machine_gemm_gflops"), baseline.get("machine_gemm_gflops")
    if cur_gemm and base_gemm and max(cur_gemm / base_gemm, base_gemm / cur_gemm) > gemm_tolerance:
        out.append(f"machine GEMM rate {cur_gemm:.0f} GFLOP/s now vs {base_gemm:.0f} in the baseline: "
                   "the machine is loaded differently; pin --gate-threads below the free cores")
    return out
