"""Saved results -> ``benchmarks.md`` and PNG plots (``encoder-gate report``).

Input: pytest-benchmark JSON files written by ``pytest benchmarks --benchmark-autosave``
(or ``--benchmark-json``), and optionally the ``accuracy.json`` of an accuracy run.
Output, in one directory:

* ``benchmarks.md``: per mode, variant and dispatch, a backend x batch size table of
  messages/s with the speedup over torch eager of the same run; latency at batch 1; the
  accuracy table when accuracy.json exists;
* ``throughput_<variant>.png``: messages/s vs batch size, one line per backend and dispatch;
* ``speedup.png``: speedup over torch eager vs batch size (model only), per variant.

Plots use matplotlib's object API on the Agg canvas: no display and no global backend switch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_gate.backends.registry import DEFAULT_BACKENDS
from encoder_gate.data.datasets import VARIANTS
from encoder_gate.documents import (
    AB_FILE,
    ACCURACY_FILE,
    BENCHMARKS_PAGE,
    belonging,
    check_schema,
    check_shape,
    save_figure,
    write_page,
)
from encoder_gate.errors import GateError
from encoder_gate.reporting.ab_plot import plot_vs_base, vs_base_section
from encoder_gate.reporting.accuracy import COLUMNS, column_cell
from encoder_gate.speed.batches import DISPATCHES
from encoder_gate.speed.files import (
    latest_benchmark_file,
    load_benchmark_json,
    newest_gate_save,
    not_a_gate_save,
)
from encoder_gate.speed.gpu_busy import DISPATCH_BOUND_HELP, DISPATCH_BOUND_SHARE
from encoder_gate.speed.results import (
    REFERENCE_BACKEND,
    SPEEDUP_STAT,
    BenchResult,
    compute_speedups,
    read_json,
    results_from_json,
)
from encoder_gate.speed.stats import CONFIDENCE, paired_stats

MODE_TITLES = {"model": "Model only (pre-tokenized)", "e2e": "End to end (tokenize + infer + sigmoid)",
               "workers": "Worker processes (model only; messages / slowest worker)"}
# (key, header, format), shared with accuracy.md; missing keys are left out of the table
ACCURACY_COLUMNS = COLUMNS


@dataclass(frozen=True)
class Row:
    """One benchmark of one backend, with its speedup over torch eager in the same run."""

    mode: str
    variant: str
    dispatch: str
    batch_size: int
    backend: str
    precision: str
    seconds: float  # SPEEDUP_STAT of the rounds
    messages_per_s: float
    speedup: float | None
    info: Mapping[str, Any]


def backend_key(name: str) -> tuple[int, str]:
    """The default backends in their configured order, then any other by name."""
    return (DEFAULT_BACKENDS.index(name) if name in DEFAULT_BACKENDS else len(DEFAULT_BACKENDS), name)


def variant_key(name: str) -> tuple[int, str]:
    return (VARIANTS.index(name) if name in VARIANTS else len(VARIANTS), name)


def one_run(docs: Sequence[Mapping[str, Any]], sources: Sequence[Path]) -> None:
    """A GateError where the documents are not one run's parts: two that hold the same cell (which
    one's figure?), or two measured on other machines or settings (their `encoder_gate` machine
    blocks differ: threads, CPU, its instruction sets). One page, its header, its speedups and its
    "(same run)" plot are of one run: a later save silently replaced an earlier one's cells, and a
    speedup of a threads-2 save was printed beside a threads-1 save's torch (a user's walk,
    2026-11-29)."""
    held: dict[tuple[str, str], Path] = {}
    first = (docs[0].get("machine_info") or {}).get("encoder_gate") or {} if docs else {}
    for doc, source in zip(docs, sources, strict=True):
        block = (doc.get("machine_info") or {}).get("encoder_gate") or {}
        if block != first:
            differ = "; ".join(f"{k} {first.get(k)!r} in {sources[0]}, {block.get(k)!r} here"
                               for k in sorted({*first, *block}) if first.get(k) != block.get(k))
            raise GateError(f"{source} was measured on another machine or with other settings than "
                            f"{sources[0]} ({differ}): one page reports one run; report each with its "
                            "own --out")
        for r in results_from_json(doc):
            if (r.case, r.backend) in held:
                raise GateError(f"{held[(r.case, r.backend)]} and {source} both hold {r.backend} at "
                                f"{r.case}: one page reports one run, and which one's figure would it show? "
                                "Pass one save, or the saves of one run's parts (its shards)")
            held[(r.case, r.backend)] = source


def collect_rows(docs: Sequence[Mapping[str, Any]]) -> list[Row]:
    """encoder-gate benchmarks of every document, a later one's replacing an earlier one's cell (a
    merge's shards each time torch eager; `write_report` refuses it elsewhere: `one_run`)."""
    results: dict[tuple[str, str], BenchResult] = {}
    for doc in docs:
        for r in results_from_json(doc):
            results[(r.case, r.backend)] = r
    speedups = compute_speedups(results.values())
    rows = []
    for r in results.values():
        n = r.info.get("n_messages")
        rate = r.info.get("messages_per_s") or (n / r.seconds if n and r.seconds > 0 else 0.0)
        speedup = 1.0 if r.backend == REFERENCE_BACKEND and r.case in speedups \
            else speedups.get(r.case, {}).get(r.backend)
        rows.append(Row(r.mode, r.variant, r.dispatch, r.batch_size, r.backend,
                        str(r.info.get("precision", "")), r.seconds, float(rate), speedup, r.info))
    return sorted(rows, key=lambda x: (x.mode, variant_key(x.variant), x.dispatch, backend_key(x.backend),
                                       x.batch_size))


# --- markdown -------------------------------------------------------------------------------


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cells) + " |" for cells in body)]


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _cell(row: Row) -> str:
    if row.speedup is None or row.backend == REFERENCE_BACKEND:
        return _rate(row.messages_per_s)
    return f"{_rate(row.messages_per_s)} ({row.speedup:.2f}x)"


def throughput_tables(rows: Sequence[Row]) -> list[str]:
    lines: list[str] = []
    for mode in ("model", "e2e", "workers"):
        for variant in sorted({r.variant for r in rows if r.mode == mode}, key=variant_key):
            for dispatch in DISPATCHES:
                sub = [r for r in rows if (r.mode, r.variant, r.dispatch) == (mode, variant, dispatch)]
                if not sub:
                    continue
                sizes = sorted({r.batch_size for r in sub})
                body = []
                for backend in sorted({r.backend for r in sub}, key=backend_key):
                    cells = {r.batch_size: r for r in sub if r.backend == backend}
                    precision = next(iter(cells.values())).precision
                    body.append([backend, precision, *(
                        _cell(cells[b]) if b in cells else "" for b in sizes)])
                eff = {r.batch_size: r.info.get("padding_efficiency") for r in sub}
                lines += [f"### {MODE_TITLES.get(mode, mode)}: {variant}, {dispatch}", "",
                          *_table(["backend", "precision", *(f"bs={b}" for b in sizes)], body), ""]
                if any(v is not None for v in eff.values()):
                    lines += ["Padding efficiency (real / padded tokens): " + ", ".join(
                        f"bs={b} {eff[b]:.2f}" for b in sizes if eff.get(b) is not None) + ".", ""]
    return lines


def memory_table(rows: Sequence[Row]) -> list[str]:
    """Peak resident memory of one worker process holding one backend, per batch size."""
    sub = [r for r in rows if r.mode == "workers" and r.info.get("backend_peak_rss_mb") is not None]
    if not sub:
        return []
    sizes = sorted({r.batch_size for r in sub})
    body = []
    for backend in sorted({r.backend for r in sub}, key=backend_key):
        cells = {r.batch_size: r for r in sub if r.backend == backend}
        first = next(iter(cells.values()))
        body.append([backend, f"{first.info.get('model_size_bytes', 0) / 1e6:.1f}", *(
            f"{cells[b].info['backend_peak_rss_mb']:,.0f}" if b in cells else "" for b in sizes)])
    workers = sub[0].info.get("workers", "?")
    return ["## Peak memory per backend (MB)", "",
            f"Peak resident memory (Linux VmHWM) of one of {workers} worker processes, each holding "
            "one backend and running its share of the bucketed batches; the interpreter with numpy "
            "alone takes about 30 MB.", "",
            *_table(["backend", "size on disk", *(f"bs={b}" for b in sizes)], body), ""]


def gpu_memory_table(rows: Sequence[Row]) -> list[str]:
    """Each GPU backend's peak GPU memory beside its process's peak resident memory: one process
    holding only that backend (speed.workers.measure_memory), at the session's largest batch size."""
    first: dict[str, Row] = {}
    failed: dict[str, str] = {}
    for r in rows:
        if r.info.get("memory_gpu_mb") is not None:
            first.setdefault(r.backend, r)
        elif r.info.get("memory_error"):
            failed.setdefault(r.backend, str(r.info["memory_error"]))
    if not first and not failed:
        return []
    ordered = sorted(first.items(), key=lambda kv: backend_key(kv[0]))
    kept = [name for name, r in ordered if r.info.get("memory_kept")]
    body = [[name, f"{r.info.get('model_size_bytes', 0) / 1e6:.1f}", f"{r.info['memory_gpu_mb']:,.0f}",
             f"{r.info['memory_peak_rss_mb']:,.0f}", str(r.info.get("memory_batch_size", ""))]
            for name, r in ordered]
    return ["## Peak GPU memory per backend (MB)", "",
            "One process holding only the backend, after its warm-up and one pass over the bucketed "
            "texts: what the GPU holds for it (the device's memory in use after the pass less before "
            "the backend was built: weights, ONNX Runtime's arena or torch's cache, workspaces; not "
            "the CUDA context) and the process's peak resident memory (VmHWM).", "",
            *_table(["backend", "size on disk", "GPU peak", "CPU peak RSS", "batch size"], body), "",
            *([f"Kept from an earlier session's probe of the same artifact, texts, machine and libraries "
               f"(speed.workers.kept_memory): {', '.join(kept)}.", ""] if kept else []),
            *(f"- {name}: not measured: {why}" for name, why in sorted(failed.items())),
            *([""] if failed else [])]


def dispatch_bound_lines(rows: Sequence[Row]) -> list[str]:
    """The GPU cells whose GPU idled most of the wall time (speed.gpu_busy), named with what helps;
    each GPU cell's busy share, where the profiler saw its work."""
    measured = [r for r in rows if r.info.get("gpu_busy_share") is not None]
    if not measured:
        return []
    bound = [r for r in measured if r.info.get("dispatch_bound")]
    said = ", ".join(f"{r.backend} bs={r.batch_size} ({r.info['gpu_busy_share']:.0%})"
                     for r in sorted(measured, key=lambda r: (backend_key(r.backend), r.batch_size)))
    lines = ["## GPU busy time", "",
             f"The share of a pass's wall time the GPU spent computing (its kernels and copies, traced "
             f"once by torch's profiler): {said}.", ""]
    if bound:
        lines += [f"**Dispatch-bound** (the GPU busy under {DISPATCH_BOUND_SHARE:.0%} of the wall time: "
                  f"the host's launches, not the GPU, set the speed, and the speedup measures the "
                  f"host): {', '.join(f'{r.backend} bs={r.batch_size}' for r in bound)}. "
                  f"What would help: {DISPATCH_BOUND_HELP}.", ""]
    return lines


def latency_table(rows: Sequence[Row]) -> list[str]:
    sub = [r for r in rows if r.mode == "latency"]
    if not sub:
        return []
    body = [[r.backend, r.variant, *(f"{r.info[k]:.2f}" if k in r.info else "" for k in
                                     ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms")),
             f"{r.speedup:.2f}x" if r.speedup is not None else ""]
            for r in sorted(sub, key=lambda r: (variant_key(r.variant), backend_key(r.backend)))]
    return ["## Latency at batch size 1 (ms per message)", "",
            *_table(["backend", "variant", "p50", "p90", "p99", "speedup"], body), ""]


def accuracy_table(acc: Mapping[str, Any], bench_model: str | None = None) -> list[str]:
    backends = acc.get("backends") or {}
    if not isinstance(backends, Mapping) or not backends:
        return ["## Accuracy", "", "accuracy.json holds no backends.", ""]
    present = [c for c in ACCURACY_COLUMNS
               if any(isinstance(v, Mapping) and v.get(c[0]) is not None for v in backends.values())]
    body = []
    for name, row in backends.items():
        body.append([name, *(column_cell(row if isinstance(row, Mapping) else {}, key, fmt)
                             for key, _, fmt in present)])
    model, dataset = acc.get("model"), acc.get("dataset")
    about = []
    if isinstance(model, Mapping):
        about.append(f"model `{model.get('name', '?')}`")
    elif model:
        about.append(f"model `{model}`")
    if isinstance(dataset, Mapping):  # its scalars (`cut` is said by its own note, in accuracy.md)
        about.append("dataset " + ", ".join(f"{k} `{v}`" for k, v in dataset.items()
                                            if not isinstance(v, Mapping | list)))
    elif dataset:
        about.append(f"dataset `{dataset}`")
    acc_model = model.get("name") if isinstance(model, Mapping) else model
    if bench_model and acc_model and acc_model != bench_model:
        about.append(f"note: the benchmarks above are of model `{bench_model}`, not `{acc_model}`")
    return ["## Accuracy", "", *([("; ".join(about) + "."), ""] if about else []),
            *_table(["backend", *(h for _, h, _ in present)], body), ""]


def header_lines(docs: Sequence[Mapping[str, Any]], sources: Sequence[Path],
                 rows: Sequence[Row]) -> list[str]:
    lines = ["# encoder-gate benchmarks", ""]
    if sources:
        lines.append("Source: " + ", ".join(f"`{p}`" for p in sources) + ".")
    if docs:
        machine = docs[-1].get("machine_info") or {}
        cpu = (machine.get("cpu") or {}).get("brand_raw") or machine.get("processor") or "unknown CPU"
        count = (machine.get("cpu") or {}).get("count")
        lines.append(f"Machine: {cpu}{f', {count} logical cores' if count else ''}; "
                     f"run {docs[-1].get('datetime', '?')}.")
    if rows:
        info = rows[0].info
        versions = info.get("versions") or {}
        lines.append(f"Model `{info.get('model', '?')}` ({info.get('model_type', '?')}), "
                     f"threads {info.get('threads') or 'library default'}; "
                     + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
        # each row carries the peak of its backend's library and number format
        peaks = {str(r.info.get("peak_kind", "FP32 torch")): float(r.info["machine_gemm_gflops"])
                 for r in rows if r.info.get("machine_gemm_gflops")}
        if peaks:
            lines.append("Machine GEMM peaks (a backend's share is of its own library's, at its format): "
                         + ", ".join(f"{kind} {rate:.1f}" for kind, rate in sorted(peaks.items()))
                         + " G(FL)OP/s.")
    paired = any(r.info.get("paired_speedup") for r in rows)
    how = ("the median of its rounds' ratios to torch eager's, paired round by round (the figure the gate "
           f"reports), or where a run did not pair them the ratio of their {SPEEDUP_STAT} rounds"
           if paired else f"from the {SPEEDUP_STAT} round of each")
    lines += ["", "Cells: messages/s at the median round's wall time, a throughput (speedup over torch "
              f"eager in the same run and case, {how}; the two are on different clocks and need not "
              "divide into each other). `bucketed` sorts texts by token length before batching; "
              "`ordered` keeps dataset order.", ""]
    return lines


def render_markdown(rows: Sequence[Row], docs: Sequence[Mapping[str, Any]], sources: Sequence[Path],
                    accuracy: Mapping[str, Any] | None, plots: Sequence[Path]) -> str:
    lines = header_lines(docs, sources, rows)
    if rows:
        lines += ["## Throughput (messages/s)", "", *throughput_tables(rows), *latency_table(rows),
                  *memory_table(rows), *gpu_memory_table(rows), *dispatch_bound_lines(rows)]
    else:  # every save read holds the gate's benchmarks (write_report): none was found
        lines += ["No pytest-benchmark save of the gate's benchmarks was found: run `pytest benchmarks "
                  "--benchmark-autosave` (or "
                  "`--benchmark-json FILE`, then `encoder-gate report --benchmarks FILE`) for these tables "
                  "and plots.", ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p.stem}]({p.name})" for p in plots), ""]
    if accuracy is not None:
        lines += accuracy_table(accuracy, str(rows[0].info.get("model")) if rows else None)
    return "\n".join(lines).rstrip() + "\n"


# --- plots ----------------------------------------------------------------------------------


def _figure(ncols: int) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(6.0 * ncols, 4.2), layout="constrained")


def _batch_axis(ax: Any, sizes: Sequence[int]) -> None:
    if len(sizes) > 1:
        ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("batch size")
    ax.grid(True, alpha=0.3)


STYLES = {"bucketed": "-", "ordered": "--"}


def backend_colors(rows: Sequence[Row]) -> dict[str, Any]:
    """One colour per backend of the report, the same in every plot (matplotlib's cycle, in the
    backends' order): onnx-fp32 is one colour in the throughput and the speedup plots alike."""
    return {b: f"C{i % 10}" for i, b in enumerate(sorted({r.backend for r in rows}, key=backend_key))}


def plot_throughput(rows: Sequence[Row], variant: str, path: Path) -> Path | None:
    """messages/s vs batch size for one variant: model only and end to end side by side."""
    modes = [m for m in ("model", "e2e") if any(r.mode == m and r.variant == variant for r in rows)]
    if not modes:
        return None
    fig = _figure(len(modes))
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    colors = backend_colors(rows)
    for ax, mode in zip(axes, modes, strict=True):
        sub = [r for r in rows if r.mode == mode and r.variant == variant]
        _plot_lines(ax, sub, lambda r: r.messages_per_s, colors)
        _batch_axis(ax, sorted({r.batch_size for r in sub}))
        ax.set_ylabel("messages/s")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{MODE_TITLES.get(mode, mode)}, {variant}", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"Throughput vs batch size: {variant} variant")
    save_figure(fig, path)
    return path


def _plot_lines(ax: Any, rows: Sequence[Row], value: Callable[[Row], float], colors: dict[str, Any],
                interval: Callable[[Row], tuple[float, float] | None] = lambda _r: None) -> None:
    """One line per backend and dispatch: `value` against batch size, in its colour (backend_colors),
    with `interval`'s bars where it gives one."""
    for backend in sorted({r.backend for r in rows}, key=backend_key):
        for dispatch in DISPATCHES:
            cells = sorted((r for r in rows if r.backend == backend and r.dispatch == dispatch),
                           key=lambda r: r.batch_size)
            if not cells:
                continue
            xs, ys = [r.batch_size for r in cells], [value(r) for r in cells]
            ax.plot(xs, ys, STYLES[dispatch], marker="o", color=colors[backend],
                    label=f"{backend} ({dispatch})")
            bars = [interval(r) for r in cells]
            if any(bars):
                low = [y - b[0] if b else 0.0 for y, b in zip(ys, bars, strict=True)]
                high = [b[1] - y if b else 0.0 for y, b in zip(ys, bars, strict=True)]
                ax.errorbar(xs, ys, yerr=[low, high], fmt="none", ecolor=colors[backend], elinewidth=1.2,
                            capsize=4, label="_nolegend_")


def speedup_interval(row: Row) -> tuple[float, float] | None:
    """The CONFIDENCE interval of a row's speedup over torch eager from its paired rounds
    (speed.stats.paired_stats, the verdict's); None for a row without per-round data or of one round."""
    ratios = row.info.get("paired_log_ratios")
    return paired_stats(ratios).ci if ratios else None


def plot_speedups(rows: Sequence[Row], path: Path) -> Path | None:
    """Speedup over torch eager vs batch size (model only), one panel per variant."""
    sub = [r for r in rows if r.mode == "model" and r.speedup is not None
           and r.backend != REFERENCE_BACKEND]
    if not sub:
        return None
    variants = sorted({r.variant for r in sub}, key=variant_key)
    fig = _figure(len(variants))
    axes = fig.subplots(1, len(variants), squeeze=False)[0]
    colors = backend_colors(rows)
    for ax, variant in zip(axes, variants, strict=True):
        part = [r for r in sub if r.variant == variant]
        _plot_lines(ax, part, lambda r: r.speedup or 0.0, colors, speedup_interval)
        ax.axhline(1.0, color="grey", linewidth=1, linestyle=":", label="torch eager")
        _batch_axis(ax, sorted({r.batch_size for r in part}))
        ax.set_ylabel("speedup over torch eager (x)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Model only, {variant}; bars: the {CONFIDENCE:.0%} CI of its paired rounds", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("Speedup over torch eager (same run)")
    save_figure(fig, path)
    return path


# --- the command ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    plots: tuple[Path, ...]
    sources: tuple[Path, ...]
    left_out: tuple[str, ...] = ()  # saves given that hold no gate benchmark, an ab.json apart: each with why
    versus_drawn: bool = False  # the ab.json given was drawn (not left out)


def resolve_sources(benchmarks: Sequence[Path] | None, default_root: Path | None) -> list[Path]:
    """The benchmark files to read: each given file, the newest save in each given
    directory, or (nothing given) the newest save under ``default_root`` if there is one (None:
    nothing but what is given)."""
    if benchmarks:
        out = []
        for path in benchmarks:
            if not path.exists():
                raise GateError(f"benchmark path {path} does not exist")
            out.append(latest_benchmark_file(path) if path.is_dir() else path)
        return out
    newest = newest_gate_save(default_root) if default_root is not None and default_root.is_dir() else None
    return [newest] if newest is not None else []


def _with_vs_base(versus: Mapping[str, Any], ab: Path | None, acc: Mapping[str, Any] | None, out: Path,
                  text: str, plots: list[Path]) -> tuple[str, list[Path], list[str]]:
    """The page and plots with the PR-against-base section, and why it was left out: an ab.json of
    another model than the accuracy file, or one that does not belong with it as the verdict joins
    documents (another commit's: a trial's report drew the A/B of the commit before, which the verdict
    had left out)."""
    if acc is not None and acc.get("provenance") and versus.get("provenance"):  # as the verdict says it
        _, notes = belonging({AB_FILE: versus}, acc["provenance"])
        if notes:
            return text + f"\n_{notes[0]}._\n", plots, notes
    model = (versus.get("model") or {}).get("content_hash")
    if acc is not None and model != (acc.get("model") or {}).get("content_hash"):  # (no provenance to read)
        why = f"{ab} is of another model than the accuracy file: left out"
        return text + f"\n_{why}._\n", plots, [why]
    plot = plot_vs_base(versus, out / "vs_base.png")
    text += "\n" + "\n".join(vs_base_section(versus, plot))
    return text, plots + ([plot] if plot is not None else []), []


def write_report(out: Path, benchmarks: Sequence[Path] | None = None, accuracy: Path | None = None,
                 default_root: Path | None = Path(".benchmarks"), ab: Path | None = None,
                 shards: bool = False) -> ReportFiles:
    """Write benchmarks.md and the plots into ``out``; raise GateError when there is nothing to report.
    ``ab``: the ab.json of a --gate-base session, drawn as vs_base.png with its tables (left out,
    and said so, when it is of another model than the accuracy file). The saves are one run's
    (`one_run`), but for a merge's `shards`, each of its own runner and torch eager."""
    sources = resolve_sources(benchmarks, default_root)
    acc = read_json(accuracy, "accuracy file") if accuracy is not None else None
    if acc is not None and accuracy is not None:
        check_schema(acc, ACCURACY_FILE, accuracy)
    if acc is not None and (why := check_shape(acc, {"backends!": {"*": dict}})):  # what the page reads
        raise GateError(f"{accuracy} is not an accuracy.json of encoder-gate ({why}); give the one `pytest "
                        "accuracy` wrote (--gate-report-dir, default .encoder-gate)")
    versus = read_json(ab, "ab file") if ab is not None else None
    if versus is not None and ab is not None:
        check_schema(versus, AB_FILE, ab)
    if not sources and acc is None and versus is None:
        raise GateError(
            f"nothing to report: no save of the gate's benchmarks under {default_root}, no accuracy file and "
            "no ab.json; run `pytest accuracy benchmarks --gate-base ../base` or `pytest benchmarks "
            "--benchmark-autosave` (or pass --benchmarks FILE_OR_DIR)"
        )
    docs = [load_benchmark_json(p) for p in sources]
    # a save of no gate benchmark given by name: refused where it is all there is to report, else
    # left out and said (a failed CI session's save, whose accuracy page must still be written)
    whys = [not_a_gate_save(path, doc) for path, doc in zip(sources, docs, strict=True)]
    foreign = [why for why in whys if why]
    if foreign and len(foreign) == len(sources) and acc is None and versus is None:
        raise GateError(foreign[0])
    sources = [p for p, why in zip(sources, whys, strict=True) if why is None]
    docs = [d for d, why in zip(docs, whys, strict=True) if why is None]
    out.mkdir(parents=True, exist_ok=True)
    inputs = ", ".join(str(p) for p in (*sources, accuracy, ab) if p is not None)
    if not shards:
        one_run(docs, sources)
    try:
        rows = collect_rows(docs)
        plots = [p for variant in sorted({r.variant for r in rows}, key=variant_key)
                 if (p := plot_throughput(rows, variant, out / f"throughput_{variant}.png")) is not None]
        speed = plot_speedups(rows, out / "speedup.png")
        if speed is not None:
            plots.append(speed)
        text = render_markdown(rows, docs, sources, acc, plots)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # hand-edited: a figure in quotes
        raise GateError(f"{inputs}: a figure this encoder-gate cannot read ({type(exc).__name__}: {exc}); "
                        "was one edited by hand? Write it again (`pytest benchmarks --benchmark-autosave`, "
                        "`pytest accuracy`)") from None
    text += "".join(f"\n_Left out: {why}._\n" for why in foreign)
    drawn = False
    if versus is not None:
        try:
            text, plots, apart = _with_vs_base(versus, ab, acc, out, text, plots)
            foreign += apart
            drawn = not apart
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a hand-edited or foreign file
            raise GateError(f"{ab} is not an ab.json this encoder-gate can read ({type(exc).__name__}: "
                            f"{exc}); re-run the session that writes it (--gate-base)") from None
    md = write_page(out, BENCHMARKS_PAGE, text)
    return ReportFiles(md, tuple(plots), tuple(sources), tuple(foreign), drawn)
