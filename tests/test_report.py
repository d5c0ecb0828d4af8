"""encoder_gate.reporting.benchmarks and `encoder-gate report`: markdown tables and PNG plots from
saved JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from encoder_gate.commands import cli
from encoder_gate.reporting import benchmarks as report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BACKENDS = {"torch": ("fp32", 1.0), "onnx-fp32": ("fp32", 0.5), "onnx-int8": ("int8", 0.25)}


def saved_benchmarks() -> dict:
    """A pytest-benchmark document shaped like benchmarks/test_throughput.py writes it."""
    benchmarks = []
    for mode in ("model", "e2e"):
        for variant in ("normal", "filtered"):
            for dispatch in ("ordered", "bucketed"):
                for bs in (1, 4, 16):
                    for backend, (precision, t) in BACKENDS.items():
                        median = t * (1.5 if dispatch == "ordered" else 1.0) / bs ** 0.5
                        benchmarks.append(entry(mode, variant, dispatch, bs, backend, precision, median))
    for variant in ("normal", "filtered"):
        for backend, (precision, t) in BACKENDS.items():
            e = entry("latency", variant, "ordered", 1, backend, precision, t / 100)
            e["extra_info"].update(latency_p50_ms=t * 10, latency_p90_ms=t * 12, latency_p99_ms=t * 20)
            benchmarks.append(e)
    benchmarks.append({"name": "test_unrelated", "extra_info": {}, "stats": {"median": 1.0}})
    return {"machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2}},
            "datetime": "2026-01-01T00:00:00", "benchmarks": benchmarks}


def entry(mode, variant, dispatch, bs, backend, precision, median) -> dict:
    return {"name": f"test_{mode}[bs{bs}-{backend}-{variant}-{dispatch}]",
            "group": f"{mode} {variant} bs={bs}",
            "params": {"backend": backend, "batch_size": bs, "variant": variant, "dispatch": dispatch},
            "extra_info": {"mode": mode, "variant": variant, "dispatch": dispatch, "batch_size": bs,
                           "backend": backend, "precision": precision, "n_messages": 64,
                           "messages_per_s": 64 / median, "padding_efficiency": 0.9 if dispatch == "bucketed"
                           else 0.5, "model": "tiny", "model_type": "roberta", "threads": 1,
                           "machine_gemm_gflops": 30.0, "versions": {"torch": "2.13.0"}},
            "stats": {"median": median, "mean": median, "min": median, "max": median, "ops": 1 / median}}


ACCURACY = {
    "model": {"name": "tiny"}, "dataset": {"source": "bundled", "split": "test", "variant": "normal"},
    "backends": {
        "torch": {"accuracy": 0.47, "precision": 0.58, "recall": 0.40, "f1": 0.45, "drift_mean": 0.0,
                  "drift_p99": 0.0, "drift_max": 0.0, "flip_rate": 0.0, "size_bytes": 499_000_000},
        "onnx-int8": {"accuracy": 0.475, "precision": 0.582, "recall": 0.398, "f1": 0.447,
                      "drift_mean": 0.00119, "drift_p99": 0.01, "drift_max": 0.0212, "flip_rate": 0.004,
                      "size_bytes": 125_000_000},
    },
}


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "Linux-CPython-3.11-64bit" / "0001_abc_20260101_000000.json"
    path.parent.mkdir()
    path.write_text(json.dumps(saved_benchmarks()))
    return path


def test_rows_carry_speedups_over_torch_eager(saved):
    rows = report.collect_rows([json.loads(saved.read_text())])
    assert len(rows) == 2 * 2 * 2 * 3 * 3 + 2 * 3
    int8 = next(r for r in rows if (r.mode, r.variant, r.dispatch, r.batch_size, r.backend)
                == ("model", "filtered", "bucketed", 4, "onnx-int8"))
    assert int8.speedup == pytest.approx(4.0)
    assert int8.messages_per_s == pytest.approx(64 / (0.25 / 2))


def test_report_writes_markdown_and_plots(saved, tmp_path):
    acc = tmp_path / "accuracy.json"
    acc.write_text(json.dumps(ACCURACY))
    files = report.write_report(tmp_path / "out", [saved], acc)
    md = files.markdown.read_text()
    assert "### Model only (pre-tokenized): normal, bucketed" in md
    assert "| backend | precision | bs=1 | bs=4 | bs=16 |" in md
    assert "| onnx-int8 | int8 | 256 (4.00x) | 512 (4.00x) | 1,024 (4.00x) |" in md
    assert "| torch | fp32 | 64.0 | 128 | 256 |" in md
    assert md.index("normal, ordered") < md.index("filtered, ordered")  # normal first
    assert "## Latency at batch size 1 (ms per message)" in md
    assert "| onnx-fp32 | normal | 5.00 | 6.00 | 10.00 | 2.00x |" in md
    assert "Padding efficiency (real / padded tokens): bs=1 0.90, bs=4 0.90, bs=16 0.90." in md
    assert "Machine: Test CPU, 2 logical cores" in md
    assert "## Accuracy" in md and "| onnx-int8 | 125.0 | 0.4750 | 0.5820 | 0.3980 | 0.4470 |" in md
    assert "not `tiny`" not in md  # same model in both
    assert "from the min round of each" in md  # no run here paired its rounds with torch eager's
    doc = json.loads(saved.read_text())
    for e in doc["benchmarks"]:
        if e["extra_info"].get("backend") == "onnx-int8":
            e["extra_info"]["paired_speedup"] = 3.5  # the gate's paired median, as the sweep records it
    paired = tmp_path / "paired.json"
    paired.write_text(json.dumps(doc))
    md = report.write_report(tmp_path / "out2", [paired], acc).markdown.read_text()
    assert "| onnx-int8 | int8 | 256 (3.50x) |" in md
    assert "the median of its rounds' ratios to torch eager's, paired round by round" in md
    assert [p.name for p in files.plots] == ["throughput_normal.png", "throughput_filtered.png",
                                             "speedup.png"]
    for plot in files.plots:
        data = plot.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000, plot
        assert f"![{plot.stem}]({plot.name})" in md


def test_a_backend_has_one_colour_in_every_plot(saved, tmp_path, monkeypatch):
    """The throughput and speedup plots draw each backend in the same colour (the speedup plot has
    no torch line, which shifted every colour by one before)."""
    from matplotlib.colors import to_hex

    rows = report.collect_rows([json.loads(saved.read_text())])
    drawn: dict[str, dict[str, set[str]]] = {}

    def keep(fig, path, dpi=110):
        for ax in fig.axes:
            for line in ax.get_lines():
                backend = line.get_label().split(" (")[0]
                if not backend.startswith("_") and backend != "torch eager":
                    drawn.setdefault(path.name, {}).setdefault(backend, set()).add(to_hex(line.get_color()))
        return path

    monkeypatch.setattr(report, "save_figure", keep)
    report.plot_throughput(rows, "normal", tmp_path / "t.png")
    report.plot_speedups(rows, tmp_path / "s.png")
    assert set(drawn["s.png"]) == set(drawn["t.png"]) - {"torch"}
    for backend, colours in drawn["s.png"].items():
        assert colours == drawn["t.png"][backend] and len(colours) == 1, backend


def test_the_speedup_plot_bars_each_cell_with_the_verdicts_interval(tmp_path, monkeypatch):
    """Each speedup point with paired rounds carries a bar from its CI (speed.stats.paired_stats, the
    interval the verdict prints); a cell without per-round data (an older save) is drawn without one."""
    from matplotlib.container import ErrorbarContainer

    from encoder_gate.speed.stats import paired_stats

    rounds = {1: [0.64, 0.65, 0.63, 0.66, 0.64, 0.62, 0.65], 8: [0.57, 0.58, 0.55, 0.6, 0.57, 0.56, 0.59]}

    def row(backend: str, bs: int, ratios: list[float] | None) -> report.Row:
        info = {"paired_log_ratios": ratios} if ratios else {}
        speedup = paired_stats(ratios).speedup if ratios else 1.5
        return report.Row("model", "normal", "bucketed", bs, backend, "fp16", 0.1, 10.0, speedup, info)

    rows = [row("onnx-fp16", bs, ratios) for bs, ratios in rounds.items()] + [row("onnx-int8", 1, None)]
    figures = []
    monkeypatch.setattr(report, "save_figure", lambda fig, path, dpi=110: figures.append(fig) or path)
    report.plot_speedups(rows, tmp_path / "s.png")
    (ax,) = figures[0].axes
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]  # onnx-fp16's; int8 has none
    segments = bars.lines[2][0].get_segments()
    drawn = sorted((float(seg[0][0]), float(seg[0][1]), float(seg[1][1])) for seg in segments)
    expected = sorted((float(bs), *paired_stats(ratios).ci) for bs, ratios in rounds.items())
    assert [v for cell in drawn for v in cell] == pytest.approx([v for cell in expected for v in cell])
    assert "bars: the 95% CI of its paired rounds" in ax.get_title()


FOREIGN_SAVE = {"benchmarks": [{"name": "test_parse", "extra_info": {}, "stats": {"median": 1, "min": 1}}]}


def test_a_save_of_no_encoder_gate_benchmark_given_by_name_is_refused_in_one_line(tmp_path, monkeypatch,
                                                                                  capsys):
    """A project's own pytest-benchmark save given to `report --benchmarks`: a page saying "no
    encoder-gate benchmarks", exit 0, where `--accuracy` of another tool's JSON exits 1. Beside an
    accuracy file (a CI session that failed before it timed anything), left out and said: the
    accuracy page is still written."""
    monkeypatch.chdir(tmp_path)
    foreign = tmp_path / "0001_other.json"
    foreign.write_text(json.dumps(FOREIGN_SAVE))
    why = (f"{foreign} holds no encoder-gate benchmark (none of its 1 benchmarks has the gate's extra_info "
           "and timing); give a save of `pytest benchmarks` (--benchmark-autosave, or --benchmark-json FILE)")
    assert cli.main(["report", "--benchmarks", str(foreign), "--out", "rep"]) == 1
    assert capsys.readouterr().err.strip() == f"encoder-gate report: error: {why}"
    (tmp_path / ".encoder-gate").mkdir()
    (tmp_path / ".encoder-gate" / "accuracy.json").write_text(json.dumps(ACCURACY))
    assert cli.main(["report", "--benchmarks", str(foreign), "--out", "rep"]) == 0
    assert capsys.readouterr().err == f"warning: left out: {why}\n"
    page = (tmp_path / "rep" / "benchmarks.md").read_text()
    assert "## Accuracy" in page and f"_Left out: {why}._" in page


def test_the_newest_save_of_the_gates_benchmarks_is_reported_not_the_projects_own(saved, tmp_path,
                                                                                  monkeypatch, capsys):
    """A project's own benchmarks saved after the gate's, in the same `.benchmarks`: `report` took the
    newest save of all, theirs, and wrote a page of no figure; it takes the gate's newest now, and
    where only theirs are there, says so."""
    root = tmp_path / "project"
    gate, theirs = (root / ".benchmarks" / "m" / name for name in ("0001_gate.json", "0002_theirs.json"))
    gate.parent.mkdir(parents=True)
    gate.write_text(saved.read_text())
    theirs.write_text(json.dumps(FOREIGN_SAVE))
    os.utime(gate, (1000, 1000))
    monkeypatch.chdir(root)
    assert cli.main(["report", "--out", "rep"]) == 0
    assert "read .benchmarks/m/0001_gate.json" in capsys.readouterr().out
    assert cli.main(["report", "--benchmarks", ".benchmarks", "--out", "rep"]) == 0  # a directory: the same
    assert "read .benchmarks/m/0001_gate.json" in capsys.readouterr().out
    cut = root / ".benchmarks" / "m" / "0003_cut.json"  # a session killed as it saved: said, not passed
    cut.write_text(saved.read_text()[:200])
    assert cli.main(["report", "--out", "rep"]) == 1
    assert "0003_cut.json is not valid JSON" in capsys.readouterr().err
    cut.unlink()
    gate.unlink()
    assert cli.main(["report", "--benchmarks", ".benchmarks", "--out", "rep"]) == 1
    assert ("none of the 1 pytest-benchmark saves under .benchmarks holds an encoder-gate benchmark (another "
            "test suite's saves?)") in capsys.readouterr().err


def test_a_hand_edited_save_whose_figures_are_strings_is_one_line(saved, tmp_path, monkeypatch, capsys):
    """A save whose extra_info figures were put in quotes by hand: a ValueError traceback from deep in
    the page's formatting."""
    monkeypatch.chdir(tmp_path)
    doc = json.loads(saved.read_text())
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        bench["extra_info"] = {k: str(v) if isinstance(v, float) else v for k, v in info.items()}
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    assert cli.main(["report", "--benchmarks", str(edited), "--out", str(tmp_path / "rep")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"encoder-gate report: error: {edited}: a figure this encoder-gate cannot read (")
    assert "was one edited by hand?" in err and len(err.strip().splitlines()) == 1
    # the accuracy file's figure in quotes, no save: that file named (the line began ": a figure")
    acc = tmp_path / "accuracy.json"
    acc.write_text(json.dumps({**ACCURACY, "backends": {n: {**row, "f1": str(row["f1"])} for n, row in
                                                        ACCURACY["backends"].items()}}))
    assert cli.main(["report", "--accuracy", str(acc), "--out", str(tmp_path / "rep")]) == 1
    assert capsys.readouterr().err.startswith(f"encoder-gate report: error: {acc}: a figure this ")


def test_cli_report_defaults_to_the_newest_save(saved, tmp_path, monkeypatch, capsys):
    root = tmp_path / "project"
    newest = root / ".benchmarks" / "machine" / "0002_new.json"
    older = root / ".benchmarks" / "machine" / "0001_old.json"
    newest.parent.mkdir(parents=True)
    older.write_text(json.dumps({"benchmarks": []}))
    newest.write_text(saved.read_text())
    os.utime(older, (1000, 1000))
    monkeypatch.chdir(root)
    assert cli.main(["report", "--out", "rep"]) == 0
    out = capsys.readouterr().out
    assert "read .benchmarks/machine/0002_new.json" in out and "wrote rep/benchmarks.md" in out
    assert (root / "rep" / "speedup.png").is_file()
    assert "## Accuracy" not in (root / "rep" / "benchmarks.md").read_text()  # no accuracy.json here


def test_cli_report_picks_up_the_default_accuracy_file(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".encoder-gate").mkdir()
    (tmp_path / ".encoder-gate" / "accuracy.json").write_text(json.dumps(ACCURACY))
    assert cli.main(["report", "--benchmarks", str(saved.parent), "--out", "rep"]) == 0
    assert "## Accuracy" in (tmp_path / "rep" / "benchmarks.md").read_text()
    (tmp_path / ".encoder-gate" / "accuracy.json").write_text(json.dumps({**ACCURACY, "model": "default"}))
    assert cli.main(["report", "--benchmarks", str(saved.parent), "--out", "rep"]) == 0
    md = (tmp_path / "rep" / "benchmarks.md").read_text()
    assert "benchmarks above are of model `tiny`, not `default`" in md
    # a second model's report directory (--gate-report-dir): read there, written under it (a trial's
    # `report --report-dir` was refused, and a plain `report` drew the first model's accuracy.json)
    (tmp_path / "topics").mkdir()
    (tmp_path / "topics" / "accuracy.json").write_text(json.dumps(ACCURACY))
    assert cli.main(["report", "--benchmarks", str(saved.parent), "--report-dir", "topics"]) == 0
    md = (tmp_path / "topics" / "report" / "benchmarks.md").read_text()
    assert "## Accuracy" in md and "not `default`" not in md


def test_cli_report_of_a_file_that_is_no_accuracy_json_is_one_line(saved, tmp_path, capsys):
    """`report --accuracy` of another JSON ({"foo": 1}) wrote a page saying "accuracy.json holds no
    backends" and exited 0."""
    other = tmp_path / "other.json"
    for doc, said in (({"foo": 1}, "the document has no backends"),
                      ({"backends": [1]}, "backends is an array, not an object")):
        other.write_text(json.dumps(doc))
        assert cli.main(["report", "--benchmarks", str(saved.parent), "--accuracy", str(other),
                         "--out", str(tmp_path / "rep")]) == 1
        assert f"other.json is not an accuracy.json of encoder-gate ({said})" in capsys.readouterr().err


def test_cli_report_after_an_unsaved_run_says_where_its_speedups_are(tmp_path, monkeypatch, capsys):
    """Walk AG: `pytest benchmarks` without a save, then `encoder-gate report`: the page said "No
    benchmark results were found", exit 0, and nothing named speedups.json or the save it needs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".encoder-gate").mkdir()
    (tmp_path / ".encoder-gate" / "speedups.json").write_text(json.dumps({"speedups": {}}))
    (tmp_path / ".encoder-gate" / "accuracy.json").write_text(json.dumps(ACCURACY))
    assert cli.main(["report", "--out", "rep"]) == 0
    err = capsys.readouterr().err
    assert ("warning: no pytest-benchmark save to draw the throughput tables and plots from; the last "
            "session's speedups are in .encoder-gate/speedups.json") in err and "--benchmark-autosave" in err
    assert "No pytest-benchmark save of the gate's benchmarks was found: run `pytest benchmarks" in (
        tmp_path / "rep" / "benchmarks.md").read_text()


def test_a_save_older_than_the_last_sessions_speedups_is_told_by_their_recorded_times(
        saved, tmp_path, monkeypatch, capsys):
    """A report directory copied without its files' times (a downloaded artifact) warned that the save of
    the same session was older than its speedups.json: their recorded times decide (the save's
    `datetime`, speedups.json's provenance `written`), the files' times only where one says none."""
    monkeypatch.chdir(tmp_path)
    save = tmp_path / ".benchmarks" / "machine" / "0001_run.json"
    save.parent.mkdir(parents=True)
    doc = json.loads(saved.read_text())
    (tmp_path / ".encoder-gate").mkdir()
    speedups = tmp_path / ".encoder-gate" / "speedups.json"
    written = "2026-12-01T06:01:44+0000"
    for save_time, warned in (("2026-12-01T06:01:44.057123+00:00", False),
                              ("2026-11-30T06:01:44+00:00", True)):
        save.write_text(json.dumps({**doc, "datetime": save_time}))
        speedups.write_text(json.dumps({"speedups": {}, "provenance": {"written": written}}))
        os.utime(save, (1000, 1000))  # the file's time says older: copied without it
        assert cli.main(["report", "--out", "rep"]) == 0
        assert ("is older than .encoder-gate/speedups.json" in capsys.readouterr().err) is warned


def test_cli_report_errors_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report"]) == 1
    assert "nothing to report" in capsys.readouterr().err
    assert cli.main(["report", "--benchmarks", "missing.json"]) == 1
    assert "benchmark path missing.json does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["report", "--benchmarks", str(bad)]) == 1
    assert "is not valid JSON" in capsys.readouterr().err


def test_cli_lists_subcommands_and_requires_one(capsys):
    assert "report" in cli.COMMANDS
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "report" in capsys.readouterr().out


def test_report_has_worker_throughput_and_peak_memory_per_backend(tmp_path):
    doc = saved_benchmarks()
    for bs in (1, 4):
        for backend, (precision, t) in BACKENDS.items():
            e = entry("workers", "normal", "bucketed", bs, backend, precision, t / bs)
            e["extra_info"].update(workers=2, backend_peak_rss_mb={"torch": 700.0}.get(backend, 250.0) + bs,
                                   model_size_bytes=90_900_000)
            doc["benchmarks"].append(e)
    path = tmp_path / "0001_w.json"
    path.write_text(json.dumps(doc))
    md = report.write_report(tmp_path / "out", [path], None).markdown.read_text()
    assert "### Worker processes (model only; messages / slowest worker): normal, bucketed" in md
    assert "| onnx-int8 | int8 | 256 (4.00x) | 1,024 (4.00x) |" in md
    assert "## Peak memory per backend (MB)" in md and "one of 2 worker processes" in md
    assert "| torch | 90.9 | 701 | 704 |" in md and "| onnx-int8 | 90.9 | 251 | 254 |" in md


def ab_document(model_hash: str = "abc") -> dict:
    """An ab.json as a --gate-base session writes it: two speed cells decided from their rounds
    (one unchanged, one 12% slower) and one accuracy row."""
    import numpy as np

    from encoder_gate.decision import SpeedCell
    from encoder_gate.results.ab import speed_entry
    from encoder_gate.speed.ab import ABSettings, decide_cell
    from encoder_gate.speed.rounds import Cell

    settings = ABSettings()
    rng = np.random.default_rng(0)
    speed = []
    for backend, factor in (("onnx-fp32", 1.0), ("onnx-int8", 1.12)):
        base = list(1.0 + rng.normal(0, 0.01, 20))
        pr = [b * factor * (1 + rng.normal(0, 0.01)) for b in base]
        cell = Cell(clock="thread", texts=64, base=base, pr=pr, base_wall=base, pr_wall=pr)
        decision = decide_cell(cell.log_ratios, settings, settings.alpha)
        speed.append(speed_entry(SpeedCell(backend, "model-normal-bs8-bucketed", cell), decision, settings))
    return {"model": {"name": "m", "content_hash": model_hash}, "base": {"dir": "../base"},
            "settings": {"min_effect": 0.05}, "speed": speed,
            "accuracy": {"torch": {"passed": False, "metric": "micro_f1", "pr": 0.66, "base": 0.71,
                                   "delta": -0.05, "delta_ci": [-0.07, -0.03]}}}


def test_an_ab_json_becomes_a_vs_base_plot_and_tables(tmp_path: Path):
    """The report draws ab.json (speed ratios and accuracy changes with their CIs) beside its
    tables, and leaves out an ab.json of another model than the accuracy file, saying so."""
    ab = tmp_path / "ab.json"
    ab.write_text(json.dumps(ab_document()))
    files = report.write_report(tmp_path / "out", None, None, tmp_path / "no-saves", ab)
    plot = tmp_path / "out" / "vs_base.png"
    assert plot in files.plots and plot.read_bytes()[:8] == PNG_MAGIC
    md = files.markdown.read_text()
    assert "## This PR against its base" in md and "![vs_base](vs_base.png)" in md
    assert "| onnx-fp32 | model-normal-bs8-bucketed | pass |" in md
    assert "| onnx-int8 | model-normal-bs8-bucketed | fail |" in md
    assert "| torch | micro_f1 | 0.6600 | 0.7100 | -0.0500 [-0.0700, -0.0300] | FAIL |" in md

    acc = tmp_path / "accuracy.json"
    acc.write_text(json.dumps({"model": {"name": "other", "content_hash": "zzz"}, "backends": {}}))
    other = report.write_report(tmp_path / "other", None, acc, tmp_path / "no-saves", ab)
    text = other.markdown.read_text()
    assert "is of another model than the accuracy file: left out" in text and "vs_base" not in text
    # of the same model, written at another commit: left out as the verdict leaves it out, and said
    written = {"model": {"name": "m", "content_hash": "m1"}, "written": "2026-11-30T10:00:00+0000"}
    acc.write_text(json.dumps({"model": {"name": "m", "content_hash": "m1"}, "backends": {},
                               "provenance": {**written, "commit": "243c0d41ca6d" + "0" * 28}}))
    ab.write_text(json.dumps({**ab_document(), "model": {"name": "m", "content_hash": "m1"},
                              "provenance": {**written, "commit": "b64c560d1e4b" + "0" * 28}}))
    stale = report.write_report(tmp_path / "stale", None, acc, tmp_path / "no-saves", ab)
    [why] = stale.left_out
    assert why.startswith("ab.json in this directory left out: written at commit b64c560d1e4b"), why
    text = stale.markdown.read_text()
    assert "written at commit b64c560d1e4b, not 243c0d41ca6d" in text and "vs_base" not in text
    assert files.versus_drawn and not other.versus_drawn and not stale.versus_drawn  # (`read ab.json`)
    # of another model and another commit: the commit said first, as the verdict says it (a trial's report
    # said "another model" and its verdict "another commit" of one file)
    ab.write_text(json.dumps({**ab_document(), "model": {"name": "m", "content_hash": "m0"},
                              "provenance": {**written, "commit": "b64c560d1e4b" + "0" * 28}}))
    [why] = report.write_report(tmp_path / "both", None, acc, tmp_path / "no-saves", ab).left_out
    assert why.startswith("ab.json in this directory left out: written at commit b64c560d1e4b"), why


def test_a_foreign_ab_json_or_benchmark_file_is_one_line(tmp_path):
    """Hand-edited or foreign files gave AttributeError / KeyError tracebacks (review E)."""
    from encoder_gate.errors import GateError
    from encoder_gate.reporting.benchmarks import write_report
    from encoder_gate.speed.files import load_benchmark_json

    for doc in ({"model": "m"}, {"speed": [{"backend": "x"}]}, {"accuracy": {"x": {"delta": 0.1}}}):
        ab = tmp_path / "ab.json"
        ab.write_text(json.dumps(doc))
        with pytest.raises(GateError, match=r"ab\.json is not an ab\.json this encoder-gate can read"):
            write_report(tmp_path / "out", None, None, None, ab)
    (tmp_path / "b.json").write_text(json.dumps({"benchmarks": [1, 2]}))
    with pytest.raises(GateError, match=r"is not a pytest-benchmark JSON file"):
        load_benchmark_json(tmp_path / "b.json")


def test_the_pages_accuracy_table_reads_its_cells_as_accuracy_md_does():
    """`encoder-gate report`'s accuracy table showed MDE 0.0000 ("detects any drop") where accuracy.md
    says none differs, the F1 change without its CI, and the dataset's `cut` as a Python dict."""
    acc = {"model": {"name": "m"},
           "dataset": {"source": "bundled", "examples": 1200, "cut": {"texts": 0, "max_tokens": 128}},
           "backends": {"onnx-fp32": {"f1": 0.7, "f1_delta": 0.0, "f1_delta_ci": [0.0, 0.0], "mde_f1": 0.0},
                        "onnx-int8": {"f1": 0.69, "f1_delta": -0.01, "f1_delta_ci": [-0.02, 0.0],
                                      "mde_f1": 0.0105}}}
    page = "\n".join(report.accuracy_table(acc))
    assert "| onnx-fp32 | 0.7000 | +0.0000 [+0.0000, +0.0000] | n/a (no decision differs) |" in page
    assert "| onnx-int8 | 0.6900 | -0.0100 [-0.0200, +0.0000] | 0.0105 |" in page
    assert "{" not in page and "dataset source `bundled`, examples `1200`." in page


def test_a_page_of_saves_that_are_not_one_run_is_refused(tmp_path: Path):
    """`encoder-gate report --benchmarks` of three saves put a threads-1 save's torch beside a
    threads-2 save's speedup, one header and a "(same run)" plot over them (a user's walk,
    2026-11-29): saves of other settings, or two holding the same cell, are refused, naming both; the
    parts of one run (different cells, the same machine block) make one page."""
    from tests.test_bench import fake_benchmark_doc, medians

    def save(name: str, threads: int, keep: set[str]) -> Path:
        doc = fake_benchmark_doc({k: v for k, v in medians().items() if k[4] in keep})
        doc["machine_info"]["encoder_gate"] = {"cpu_model": "Test CPU", "threads": threads}
        (path := tmp_path / f"{name}.json").write_text(json.dumps(doc))
        return path

    one, again = save("0001", 1, {"torch", "onnx-fp32"}), save("0002", 1, {"torch", "onnx-int8"})
    other = save("0003", 2, {"onnx-int8"})
    with pytest.raises(report.GateError, match=r"0003\.json was measured on another machine or with other "
                                               r"settings than .*0001\.json \(threads 1 in .*, 2 here\)"):
        report.write_report(tmp_path / "out", [one, other], None)
    with pytest.raises(report.GateError, match=r"0001\.json and .*0002\.json both hold torch at "):
        report.write_report(tmp_path / "out", [one, again], None)
    parts = save("0004", 1, {"onnx-int8"})
    assert report.write_report(tmp_path / "out", [one, parts], None).markdown.is_file()
    assert report.write_report(tmp_path / "merged", [one, again], None, shards=True).markdown.is_file()
