"""pytest-benchmark's own session as the gate reads it: whether it times (and who turned its timing
off), the options its calibrated rounds read and the gate's do not, and what its
``--benchmark-compare`` found to compare with. The speed half (:mod:`encoder_gate.plugin.speed`)
acts on these."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.speed.results import results_from_json

#: pytest-benchmark's options of its own calibrated rounds, which its `pedantic` runs, and so every
#: benchmark of the suite (rounds of their own), do not read.
IGNORED_BENCHMARK_OPTIONS = ("--benchmark-min-rounds", "--benchmark-max-time", "--benchmark-min-time",
                             "--benchmark-warmup", "--benchmark-warmup-iterations",
                             "--benchmark-calibration-precision")


def no_saved_run_line(bench_session: Any, speedup_baseline: Path | None) -> str | None:
    """The summary's line for a ``--benchmark-compare`` that found no saved run of the gate's
    benchmarks (pytest-benchmark's session, after it looked: none, or only a save of other
    benchmarks); None when comparing was not asked for or such a saved run was found.
    Without ``--gate-speedup-baseline`` nothing was compared at all (a session that saves this run,
    the first save of a base; one that saves none stops before its timing: nothing_to_compare)."""
    found = _no_saved_run(bench_session)
    if found is None:
        return None
    if speedup_baseline is not None:
        return f"{found}: pytest-benchmark compared nothing (the speed gate used {speedup_baseline})"
    return f"{found}: nothing was compared (save one on the base with --benchmark-autosave)"


def _no_saved_run(bench_session: Any) -> str | None:
    """What --benchmark-compare found where it found no saved run of the gate's benchmarks; None
    where it was not asked for or found one."""
    wanted = getattr(bench_session, "compare", None)
    mapping = getattr(bench_session, "compared_mapping", None) or {}
    if not wanted or any(results_from_json({"benchmarks": list(b.values())}) for b in mapping.values()):
        return None
    matching = "" if wanted is True else f" matching {wanted!r}"
    found = (f"encoder-gate: --benchmark-compare found no saved run{matching} in "
             f"{getattr(bench_session, 'storage', 'its storage')}")
    if mapping:  # the project's own benchmarks saved after the gate's: pytest-benchmark takes the newest
        found = (f"encoder-gate: --benchmark-compare compared with {', '.join(map(str, mapping))}, which "
                 "holds none of encoder-gate's benchmarks (another test suite's save?; name the gate's with "
                 "--benchmark-compare=NNNN)")
    return found


def nothing_to_compare(config: pytest.Config, speedup_baseline: Path | None) -> None:
    """Where `--benchmark-compare` found no save of the gate's benchmarks, before a cell is timed: a
    session that saves none either (--benchmark-autosave or --benchmark-save, the first save of a
    base) is a usage error, as it would compare nothing and pass (a user's run on a fresh runner,
    2026-11-29); `--benchmark-compare-fail` is disarmed, which pytest-benchmark otherwise answered with
    a traceback after every cell was timed. With --gate-speedup-baseline (`speedup_baseline`) the
    speed gate compares."""
    bench = getattr(config, "_benchmarksession", None)
    found = _no_saved_run(bench)
    if bench is None or found is None:
        return
    bench.compare_fail = []
    if not saves_this_run(bench) and speedup_baseline is None:
        raise pytest.UsageError(
            f"{found}, and this run saves none: the speed gate would "
            "compare nothing and pass. Save one on the base first (`pytest benchmarks "
            "--benchmark-autosave`, its storage kept between CI runs), add --benchmark-autosave to make "
            "this run the first save, or leave --benchmark-compare out")


def saves_this_run(bench_session: Any) -> bool:
    """Whether pytest-benchmark was asked to save this run (--benchmark-autosave or --benchmark-save)."""
    return bool(getattr(bench_session, "save", None) or getattr(bench_session, "autosave", None))


#: What a pytest-benchmark save must share with the run that compares against it (machine_info's
#: `encoder_gate` block): the CPU, its instruction sets, and the integer path its INT8 products take.
CPU_CLASS = ("cpu_model", "isa", "integer_path")


def timing_off_by_xdist(config: pytest.Config) -> bool:
    """Whether pytest-xdist, not the user's --benchmark-disable, turned pytest-benchmark's timing off:
    any `--dist` (or an xdist worker), as pytest-benchmark decides it. Read from the options, not
    from its `xdist_warning`, which pytest-benchmark 5.0.0 (the window's floor) lacks: a session
    under a `--dist` in addopts then timed nothing and passed."""
    asked_off = config.getoption("benchmark_disable", False) \
        and not config.getoption("benchmark_enable", False)
    xdist = config.getoption("dist", "no") != "no" or bool(os.environ.get("PYTEST_XDIST_WORKER"))
    return bool(xdist and not asked_off)


def timing_off(config: pytest.Config) -> bool:
    """Whether pytest-benchmark times nothing this session (--benchmark-disable, or pytest-xdist):
    each benchmark runs once, and no speedup exists."""
    return bool(getattr(getattr(config, "_benchmarksession", None), "disabled", False))
