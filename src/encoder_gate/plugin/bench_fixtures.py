"""The benchmark fixtures: settings, texts, cell sizing, the machine's peaks and the record of each
benchmark. Registered by :mod:`encoder_gate.plugin.core` beside the benchmark plugin
(:mod:`encoder_gate.plugin.speed`), whose state in the config's stash they read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from encoder_gate.backends.base import runner_max_tokens
from encoder_gate.backends.registry import packages_of
from encoder_gate.data.datasets import VARIANTS, apply_variant
from encoder_gate.data.pairs import Text
from encoder_gate.errors import GateError
from encoder_gate.plugin.speed import BUDGET, GEMM, RESULTS, SETTINGS, BenchPlugin
from encoder_gate.plugin.stash import call_or_skip
from encoder_gate.speed.batches import BatchPlan, make_batches
from encoder_gate.speed.budget import TimeBudget
from encoder_gate.speed.flops import ModelDims
from encoder_gate.speed.machine import MachinePeaks, library_versions
from encoder_gate.speed.rates import run_info
from encoder_gate.speed.results import SPEEDUP_STAT, BenchResult, case_id
from encoder_gate.speed.rounds import ROUND_SECONDS, clock_for, timed
from encoder_gate.speed.settings import DEFAULT_BENCH_TEXTS, ENV_TEXTS, BenchSettings
from encoder_gate.speed.sizing import TextPool, keep_count, kept_count, overfull, size_cell, sizing_key
from encoder_gate.speed.workers import kept_memory, measure_memory, memory_key


@pytest.fixture(scope="session")
def bench_settings(pytestconfig: pytest.Config) -> BenchSettings:
    """Rounds, texts, workers, pairing and the speedup baseline of this run."""
    return pytestconfig.stash[SETTINGS]

@pytest.fixture(scope="session")
def gate_budget(pytestconfig: pytest.Config) -> TimeBudget | None:
    """The session's timing budget (--gate-budget; None without one), see encoder_gate.speed.budget."""
    return pytestconfig.stash.get(BUDGET, None)

@pytest.fixture(scope="session")
def bench_results(pytestconfig: pytest.Config) -> list[BenchResult]:
    """Every finished benchmark of the session, for the speedup summary."""
    return pytestconfig.stash[RESULTS]

@pytest.fixture(scope="session")
def machine_gemm(pytestconfig: pytest.Config, gate_session: Any) -> MachinePeaks:
    """The machine's GEMM peaks at the session's threads (torch FP32, ONNX Runtime FP32 and
    INT8), measured once per session."""
    if GEMM not in pytestconfig.stash:
        pytestconfig.stash[GEMM] = MachinePeaks.measure(threads=gate_session.config.threads or None)
    return pytestconfig.stash[GEMM]

@pytest.fixture(scope="session")
def bench_pool(gate_session: Any) -> dict[str, TextPool | GateError]:
    """Per variant, the evaluation texts with their token lengths (a GateError if a variant is empty;
    a failure, said once, if a text is encoded as no tokens)."""
    full = call_or_skip(gate_session.load_split, gate_session.config.split, "normal")
    out: dict[str, TextPool | GateError] = {}
    for variant in VARIANTS:
        try:
            texts = tuple(apply_variant(full, variant).texts)
        except GateError as exc:
            out[variant] = exc
            continue
        out[variant] = call_or_skip(TextPool.of, gate_session.tokenizer, texts)
    return out

@pytest.fixture(scope="session")
def bench_texts(bench_pool: dict[str, TextPool | GateError],
                bench_settings: BenchSettings) -> dict[str, Any]:
    """N texts of each variant across the range of lengths (ENCODER_GATE_BENCH_TEXTS, default 64),
    for the benchmarks that are not sized by time (a GateError if a variant is empty)."""
    return {variant: pool if isinstance(pool, GateError) else pool.pick(bench_settings.fixed_texts)
            for variant, pool in bench_pool.items()}

def texts_for(bench_texts: dict[str, Any], variant: str, batch_size: int = 1) -> tuple[Text, ...]:
    """The fixed texts of `variant` (bench_texts) that a test times in batches of `batch_size`: a skip
    where the variant has none, a failure where they cannot fill one batch."""
    found = bench_texts[variant]
    if isinstance(found, GateError):
        pytest.skip(str(found))
    texts: tuple[Text, ...] = found
    if why := overfull(batch_size, len(texts), f"the benchmarks' fixed set ({variant}; {ENV_TEXTS}, "
                                               f"default {DEFAULT_BENCH_TEXTS})"):
        pytest.fail(why, pytrace=False)
    return texts


@pytest.fixture(scope="session")
def bench_cell_texts(pytestconfig: pytest.Config, gate_session: Any, gate_model: Any,
                     bench_pool: dict[str, TextPool | GateError],
                     bench_settings: BenchSettings) -> Callable[..., tuple[Text, ...]]:
    """``texts(variant, batch_size, dispatch, reference, tokenizer, device)``: the texts of a
    model-only cell. ENCODER_GATE_BENCH_TEXTS fixes their number; unset, a speed baseline's count of
    the case does (a cell is compared only with one of the same work); else it is sized by time (one
    pass of the reference runner over a probe, speed.sizing) once per model, machine and case, and
    kept in the cache, so every backend of the case and the next session time the same texts. A
    backend computing on another device than the session's (runtime.devices) is sized apart, by
    torch eager on its device (`reference`), and never takes the baseline's count of the session's."""
    chosen: dict[str, tuple[Text, ...]] = {}
    cfg = gate_session.config
    key = sizing_key(gate_model.content_hash, _plugin(pytestconfig).fingerprint())

    def texts(variant: str, batch_size: int, dispatch: str, reference: Any,
              tokenizer: Any, device: str | None = None) -> tuple[Text, ...]:
        pool = bench_pool[variant]
        if isinstance(pool, GateError):
            pytest.skip(str(pool))
        fixed = bench_settings.texts  # ENCODER_GATE_BENCH_TEXTS: fewer than the pool holds, it is the limit
        if fixed is not None and fixed > len(pool.texts):  # asked for more than there are: said, not silent
            _plugin(pytestconfig).note(f"{ENV_TEXTS}={fixed} asks for more texts than the {len(pool.texts)} "
                                       f"of the evaluation set ({variant}): its cells timed those "
                                       f"{len(pool.texts)}")
        available, source = ((fixed, f"{ENV_TEXTS}={fixed}") if fixed is not None and fixed < len(pool.texts)
                             else (len(pool.texts), f"the evaluation set ({variant})"))
        if why := overfull(batch_size, available, source):
            pytest.fail(why, pytrace=False)
        if bench_settings.texts is not None:
            return pool.pick(bench_settings.texts, batch_size)
        elsewhere = device is not None and device != cfg.device
        case = case_id("model", variant, batch_size, dispatch) + (f" on {device}" if elsewhere else "")
        clock = clock_for(cfg.threads, device or cfg.device)
        if case not in chosen:
            try:  # the baseline's count where one is compared with: the same work (review)
                found = None if elsewhere else _plugin(pytestconfig).baseline()
            except GateError:
                found = None
            if found is not None and (found.other_machine or (found.doc.get("model") or {}).get(
                    "content_hash") != gate_model.content_hash):
                found = None  # another machine's or model's count: sized here, by time, instead
            # (another library stack on this machine, a PR's requirements against its base's: its count,
            # so every cell compares; sized afresh, torch-compile's batch-8 cell timed 64 texts against
            # the base's 128 and was not compared, MiniLM, 2026-11-28)
            count = found.texts_of(case) if found is not None else None
            if count is not None and found is not None:
                gate_session.progress(f"{case}: {count} texts a pass, as the speed baseline {found.source} "
                                      "timed")
            else:
                count = kept_count(cfg.cache_dir, key, case)
            if count is None:
                def probe(indices: list[int]) -> float:
                    plan = make_batches(tokenizer, [pool.texts[i] for i in indices], batch_size, dispatch)
                    reference.warmup(plan.shapes)
                    cpu, wall = timed(lambda: [reference.predict(b) for b in plan.batches])
                    return cpu if clock == "thread" else wall

                count = size_cell(pool.lengths, batch_size, probe)
                keep_count(cfg.cache_dir, key, case, count)
                gate_session.progress(f"{case}: {count} texts a pass, sized so torch eager's pass takes "
                                      f"at most about {ROUND_SECONDS:g} s ({clock} clock); kept for this "
                                      "model and machine")
            chosen[case] = pool.pick(count, batch_size)
        return chosen[case]

    return texts

@pytest.fixture(scope="session")
def backend_memory(pytestconfig: pytest.Config, gate_session: Any,
                   bench_texts: dict[str, Any]) -> Callable[[str, Any], dict[str, Any]]:
    """``memory(backend, tokenizer)``: the peak memory of one process holding only that backend
    (speed.workers.measure_memory: its GPU memory and resident memory), over the bucketed normal
    texts at the session's largest batch size, measured once per backend, or kept from an earlier
    session that measured the same artifact on the same texts, machine and libraries
    (speed.workers.kept_memory); only for a backend computing on cuda ({} for the CPU's rows,
    whose memory test_workers measures)."""
    measured: dict[str, dict[str, Any]] = {}
    cfg = gate_session.config

    def memory(name: str, tokenizer: Any) -> dict[str, Any]:
        texts = bench_texts["normal"]
        if gate_session.device_of(name) != "cuda" or isinstance(texts, GateError):
            return {}
        if name not in measured:
            size = max(cfg.batch_sizes)
            plan = make_batches(tokenizer, list(texts), size, "bucketed")
            key = memory_key(gate_session.runner(name), gate_session.model.content_hash, list(texts), size,
                             _plugin(pytestconfig).fingerprint())
            started = time.monotonic()

            def probe() -> dict[str, Any]:
                gate_session.progress(f"{name}: its peak GPU memory, in a process holding it alone "
                                      f"(batch {size}, {len(texts)} texts; it loads the backend again, "
                                      "about 10-20 s)")
                return measure_memory(cfg, name, plan.batches)

            try:
                found, kept = kept_memory(gate_session.cache, key, probe)
            except GateError as exc:  # a figure beside the speed, never a speed cell's failure
                gate_session.progress(f"{name}: its peak GPU memory was not measured: {exc}")
                found = {"memory_gpu_mb": None, "memory_peak_rss_mb": None, "memory_error": str(exc)}
                kept = None
            else:  # what the probe cost, where a GPU job's time goes (.ci/gpu-check)
                gpu, rss = (f"{found[k]:,.0f} MB" if found[k] is not None else "not read"
                            for k in ("memory_gpu_mb", "memory_peak_rss_mb"))
                how = (f"kept from an earlier session's probe of this artifact on this machine ({kept})"
                       if kept is not None else f"measured in {time.monotonic() - started:.0f} s")
                gate_session.progress(f"{name}: peak GPU memory {gpu}, resident {rss}, {how}")
            measured[name] = {**found, "memory_batch_size": size, "memory_kept": kept is not None}
        return measured[name]

    return memory

@pytest.fixture(scope="session")
def model_dims(gate_model: Any) -> ModelDims:
    """Layer sizes of the model, for the FLOP counts in extra_info."""
    labels = gate_model.num_labels if gate_model.task.classifier else 0
    return ModelDims.from_model_dir(gate_model.path, num_labels=labels)

@pytest.fixture(scope="session")
def bench_static_info(pytestconfig: pytest.Config, gate_session: Any, gate_model: Any) -> dict[str, Any]:
    """extra_info shared by every benchmark of the session, with the hardware fingerprint (so a
    pytest-benchmark save carries it to the session that compares with it)."""
    return {"model": gate_model.name, "model_type": gate_model.model_type,
            "model_hash": gate_model.content_hash, "threads": gate_session.config.threads,
            "versions": library_versions(),
            "fingerprint": _plugin(pytestconfig).fingerprint()}

@pytest.fixture(scope="session")
def bench_extra_rounds(pytestconfig: pytest.Config) -> Callable[[str, str, Sequence[float]], int]:
    """``extra(case, backend, log_ratios)``: how many more paired rounds a borderline case runs
    (ENCODER_GATE_BENCH_EXTRA_ROUNDS; 0 when off, not borderline, or without a baseline)."""
    return _plugin(pytestconfig).extra_rounds

def _plugin(config: pytest.Config) -> BenchPlugin:
    found = config.pluginmanager.get_plugin("encoder-gate-bench")
    assert isinstance(found, BenchPlugin), "encoder_gate.plugin.core registers the bench plugin"
    return found

@pytest.fixture
def bench_record(benchmark: Any, backend: Any, bench_static_info: dict[str, Any],
                 model_dims: ModelDims, machine_gemm: MachinePeaks,
                 bench_results: list[BenchResult], gate_session: Any) -> Any:
    """Call after timing: fills extra_info and keeps the time for the speedup summary."""

    def done(mode: str, variant: str, batch_size: int, dispatch: str, plan: BatchPlan,
             pass_seconds: float | None = None, **extra: Any) -> dict[str, Any]:
        """`pass_seconds`: time for the whole plan once (default: the median round);
        `extra`: more extra_info (e.g. the worker figures)."""
        device = gate_session.device_of(backend.name)  # where it computed (runtime.devices)
        info: dict[str, Any] = {
            "mode": mode, "backend": backend.name, "precision": backend.precision,
            "model_size_bytes": backend.size_bytes, "batch_size": batch_size, "variant": variant,
            "dispatch": dispatch, "workers": 1, **bench_static_info, **extra, "device": device,
            # a file of a static sequence length: both arms ran on texts cut to it (the verdict says so)
            **({"max_tokens": limit} if (limit := runner_max_tokens(backend)) is not None else {}),
        }
        stats = getattr(benchmark, "stats", None)
        if stats:  # None under --benchmark-disable
            seconds = pass_seconds or float(stats.stats.median)
            peak, kind = (machine_gemm.of(backend.precision, packages_of([backend.name]))
                          if device == "cpu" else (None, None))  # a CPU's peak: no GPU's
            info.update(run_info(plan, seconds, model_dims, peak), peak_kind=kind)
            bench_results.append(BenchResult(
                mode, variant, batch_size, dispatch, backend.name,
                float(getattr(stats.stats, SPEEDUP_STAT)), info))
        benchmark.extra_info.update(info)
        return info

    return done
