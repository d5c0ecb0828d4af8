"""What a benchmark run is told through the environment: ``BenchSettings``, ``settings_from_env``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from encoder_gate.errors import GateError

DEFAULT_BENCH_TEXTS = 64  # the texts of a benchmark that is not a sized model-only cell
DEFAULT_ROUNDS = 6  # a model-only cell's pilot (the fewest whose 95% CI covers: speed.stats)
DEFAULT_CI_TARGET = 0.03  # a model-only cell's rounds go on to this CI half-width of its speedup
MAX_ROUNDS = 40  # ... or to this many rounds
DEFAULT_MAX_DROP = 0.15  # measured with paired rounds: docs/noise.md, "The speed gates"
DEFAULT_ALPHA = 0.05  # the speed gate's significance level (one-sided)
DEFAULT_EXTRA_ROUNDS = 0  # borderline re-runs: off
MAX_EXTRA_ROUNDS = 100  # the bound on ENCODER_GATE_BENCH_EXTRA_ROUNDS
DEFAULT_WORKERS = 2
ENV_TEXTS = "ENCODER_GATE_BENCH_TEXTS"
ENV_ROUNDS = "ENCODER_GATE_BENCH_ROUNDS"
ENV_CI = "ENCODER_GATE_BENCH_CI"
ENV_BASELINE = "ENCODER_GATE_SPEEDUP_BASELINE"
ENV_MAX_DROP = "ENCODER_GATE_SPEEDUP_MAX_DROP"
ENV_ALPHA = "ENCODER_GATE_SPEEDUP_ALPHA"
ENV_EXTRA_ROUNDS = "ENCODER_GATE_BENCH_EXTRA_ROUNDS"
ENV_ALLOW_OTHER_MACHINE = "ENCODER_GATE_ALLOW_OTHER_MACHINE"
ENV_WORKERS = "ENCODER_GATE_BENCH_WORKERS"
ENV_PAIRED = "ENCODER_GATE_BENCH_PAIRED"


@dataclass(frozen=True)
class BenchSettings:
    """What the benchmark run is told through the environment (there are no --gate-bench options)."""

    # ENCODER_GATE_BENCH_TEXTS: N texts of each variant, across the range of lengths; unset, a
    # model-only cell is sized by time (speed.sizing) and the other benchmarks take DEFAULT_BENCH_TEXTS
    texts: int | None = None
    # ENCODER_GATE_BENCH_ROUNDS: timed rounds per benchmark; a model-only cell's pilot
    rounds: int = DEFAULT_ROUNDS
    # ENCODER_GATE_BENCH_CI: a paired model-only cell runs rounds (at most MAX_ROUNDS) until its
    # speedup's 95% CI half-width is at most this; 0: the pilot's rounds only
    ci_target: float = DEFAULT_CI_TARGET
    baseline: Path | None = None  # ENCODER_GATE_SPEEDUP_BASELINE: a saved speedups.json to gate against
    max_drop: float = DEFAULT_MAX_DROP  # ENCODER_GATE_SPEEDUP_MAX_DROP: allowed relative speedup loss
    workers: int = DEFAULT_WORKERS  # ENCODER_GATE_BENCH_WORKERS: processes of the multi-process benchmark
    paired: bool = True  # ENCODER_GATE_BENCH_PAIRED (default 1): model-only rounds alternate torch, backend
    alpha: float = DEFAULT_ALPHA  # ENCODER_GATE_SPEEDUP_ALPHA: significance level of the speed gate's test
    # ENCODER_GATE_BENCH_EXTRA_ROUNDS: paired rounds added once to a case borderline against the baseline
    extra_rounds: int = DEFAULT_EXTRA_ROUNDS
    # ENCODER_GATE_ALLOW_OTHER_MACHINE=1: compare with a baseline whose hardware fingerprint differs
    allow_other_machine: bool = False

    @property
    def fixed_texts(self) -> int:
        """The texts of a benchmark that is not sized by time."""
        return self.texts or DEFAULT_BENCH_TEXTS


def settings_from_env(environ: Mapping[str, str] | None = None) -> BenchSettings:
    """Read :class:`BenchSettings` from ``environ`` (default ``os.environ``), validated."""
    env = os.environ if environ is None else environ

    def positive_int(name: str, default: int) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise GateError(f"{name} must be a positive integer, got {raw!r}")
        return value

    def fraction(name: str, default: float, low_open: bool, example: str) -> float:
        raw = env.get(name, "").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = -1.0
        if not (0 < value < 1 if low_open else 0 <= value < 1):
            raise GateError(f"{name} must be a fraction in {'(0' if low_open else '[0'}, 1) such as "
                            f"{example}, got {raw!r}")
        return value

    def flag(name: str, default: bool) -> bool:
        raw = env.get(name, "").strip().lower()
        if raw not in ("", "0", "1", "true", "false", "yes", "no"):
            raise GateError(f"{name} must be 1 or 0, got {raw!r}")
        return default if not raw else raw in ("1", "true", "yes")

    raw_extra = env.get(ENV_EXTRA_ROUNDS, "").strip()
    try:
        extra = int(raw_extra) if raw_extra else DEFAULT_EXTRA_ROUNDS
    except ValueError:
        extra = -1
    if not 0 <= extra <= MAX_EXTRA_ROUNDS:
        raise GateError(f"{ENV_EXTRA_ROUNDS} must be an integer from 0 (off) to {MAX_EXTRA_ROUNDS}, "
                        f"got {raw_extra!r}")
    raw_base = env.get(ENV_BASELINE, "").strip()
    raw_texts = env.get(ENV_TEXTS, "").strip()
    return BenchSettings(texts=positive_int(ENV_TEXTS, DEFAULT_BENCH_TEXTS) if raw_texts else None,
                         ci_target=fraction(ENV_CI, DEFAULT_CI_TARGET, False, "0.03"),
                         rounds=positive_int(ENV_ROUNDS, DEFAULT_ROUNDS),
                         baseline=Path(raw_base).expanduser() if raw_base else None,
                         max_drop=fraction(ENV_MAX_DROP, DEFAULT_MAX_DROP, False, "0.25"),
                         workers=positive_int(ENV_WORKERS, DEFAULT_WORKERS),
                         paired=flag(ENV_PAIRED, True),
                         alpha=fraction(ENV_ALPHA, DEFAULT_ALPHA, True, "0.05"), extra_rounds=extra,
                         allow_other_machine=flag(ENV_ALLOW_OTHER_MACHINE, False))
