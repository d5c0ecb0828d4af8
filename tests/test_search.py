"""`encoder-gate export --search`: every candidate judged, the fastest passing one shipped, a worse one
not; static INT8 calibrates on the validation split only."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.backends.recipes import RECIPES, SEARCH_BACKENDS, RecipeBackend, calibration_of
from encoder_gate.commands.cli import main
from encoder_gate.data import calibration, datasets
from encoder_gate.errors import GateError

pytest.importorskip("onnxruntime")


def _worse_copy(tiny_ctx: Any, out: Path) -> Path:
    """The fused O2 graph (the fastest FP32 recipe) with its MatMul weights squeezed to 4 bits: as fast
    as the real thing, and wrong."""
    from encoder_gate.studies.damage import int4_onnx

    fused, _ = RecipeBackend("onnx-fp32-o2").artifact(tiny_ctx)
    return int4_onnx(fused / "model.onnx", out / "model_worse.onnx")


def _search(cache_dir: Path, tiny_ctx: Any, work: Path) -> tuple[Path, str]:
    """`encoder-gate export tiny --search` over the current defaults, the fused FP32 and INT8
    recipes, static INT8 and a deliberately worse file, with a small speed budget. Timed at batch
    sizes 1 and 2: on tiny, six texts in one batch of 8 ran at 0.6x torch eager's speed on one
    machine (1.3x at batch size 2, 2.3x at 1), and every candidate then failed as slower."""
    worse = _worse_copy(tiny_ctx, work)
    out = work / "tiny-search"
    recipes = ["onnx-fp32", "onnx-fp16", "onnx-int8", "onnx-fp32-o2", "onnx-int8-fused", "onnx-int8-static",
               f"onnx:{worse}@fp32"]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["export", "tiny", "--out", str(out), "--search", "--recipes", ",".join(recipes),
                       "--limit", "120", "--threads", "1", "--search-rounds", "7", "--round-seconds", "0.01",
                       "--speed-texts", "6", "--batch-sizes", "1,2", "--cache-dir", str(cache_dir)])
    assert status == 0, buffer.getvalue()
    return out, buffer.getvalue()


def _mean_speedup(c: dict[str, Any]) -> float:
    return float(np.exp(np.mean(np.log(list(c["speedup"].values())))))


@pytest.mark.slow
def test_search_ships_the_fastest_passing_candidate_and_not_a_worse_one(cache_dir, tiny_ctx, tmp_path):
    """End to end on tiny (one run, so xdist workers do not repeat it): the 4-bit copy fails the FP32
    drift bounds and ships nowhere; per number format the shipped file, under optimum's name, is the
    passing candidate with the highest geometric-mean speedup when it is the default or measurably
    faster than the default head to head, else the default; export.json and the card list every
    candidate; static INT8 says it calibrated on the validation split."""
    out, stdout = _search(cache_dir, tiny_ctx, tmp_path)
    p: dict[str, Any] = json.loads((out / "export.json").read_text())
    worse = next(c for c in p["candidates"] if c["recipe"].endswith("model_worse.onnx@fp32"))
    assert worse["status"] == "failed" and not worse["shipped"]
    assert any(r.startswith("drift_max") for r in worse["reasons"]), worse["reasons"]
    assert worse["speedup"], "a failing candidate is still timed, for the table"
    # INT8 on both integer paths: uint8 weights have one; static QDQ's int8 weights can saturate, so
    # it is judged on the other path too where this CPU can compute it, and says so where not
    int8 = {c["recipe"]: c["integer_paths"] for c in p["candidates"] if c["format"] == "int8"}
    assert list(int8["onnx-int8"]) == ["every CPU"]
    static = int8["onnx-int8-static"]
    assert set(static) == {"exact", "saturating"}, static
    assert all(v in ("passed", "failed") or v.startswith("not judged") for v in static.values()), static

    for fmt, file_name in (("fp32", "model.onnx"), ("int8", "model_quantized.onnx")):
        passing = [c for c in p["candidates"] if c["format"] == fmt and c["passed"]]
        best = max(passing, key=_mean_speedup)
        default = f"onnx-{fmt}"
        if best["recipe"] == default:
            expected = best
        else:  # the fastest challenger ships only if measurably faster than the default, head to head
            cells = best["head_to_head"][default]
            assert [c["batch_size"] for c in cells] == [1, 2]
            faster = any(c["ci"][0] > 1 for c in cells) and not any(c["ci"][1] < 1 for c in cells)
            expected = best if faster else next(c for c in passing if c["recipe"] == default)
        shipped = [c["recipe"] for c in p["candidates"] if c["shipped"] and c["format"] == fmt]
        assert shipped == [expected["recipe"]]
        assert p["search"]["shipped"][fmt] == expected["recipe"]
        assert p["variants"][fmt]["recipe"] == expected["recipe"] and p["variants"][fmt]["file"] == file_name
        assert (out / file_name).is_file() and "fastest passing" in expected["won_because"]
    assert not (out / "model_fp16.onnx").exists()

    assert len(p["candidates"]) == 7
    for c in p["candidates"]:
        assert {"recipe", "format", "passed", "speedup", "f1_delta", "shipped"} <= set(c), c
    fp16 = next(c for c in p["candidates"] if c["recipe"] == "onnx-fp16")
    assert fp16["status"] == "skipped" and "GPU" in fp16["reasons"][0]
    card = (out / "README.md").read_text()
    assert "## Recipe search" in card and "![speedup against F1 change](search.png)" in card
    for c in p["candidates"]:
        assert f"| {c['recipe']} | {c['format']} |" in card
    assert (out / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "estimate: about" in stdout and "[search 3/7" in stdout
    assert p["search"]["calibration"].startswith("bundled:validation")
    judged = p["search"]["judged_on"]
    assert judged["metric"] == "f1" and 0 <= judged["reference_f1"] <= 1  # tiny is untrained: 0.0


def _candidate(recipe: str, fmt: str, speedups: tuple[float, float]) -> Any:
    from encoder_gate.commands.search import Candidate

    cand = Candidate(recipe, fmt, "test", status="passed")
    cand.speed = {bs: {"speedup": s, "ci": (s, s)} for bs, s in zip((1, 8), speedups, strict=True)}
    return cand


@pytest.mark.parametrize(("h2h_ci", "shipped"), [
    ([(1.02, 1.10), (0.99, 1.05)], "onnx-int8-fused"),  # above 1 at bs 1, level at bs 8: replaces
    ([(0.94, 1.01), (0.97, 1.02)], "onnx-int8"),  # level everywhere: the default is kept
    ([(1.05, 1.20), (0.90, 0.98)], "onnx-int8"),  # faster at bs 1 but slower at bs 8: kept
])
def test_a_challenger_replaces_the_default_only_when_measurably_faster_head_to_head(monkeypatch, h2h_ci,
                                                                                    shipped):
    """The winner rule on fixed measurements: the top-ranked challenger is timed against the default
    and ships only if its head-to-head CI is above 1 at some batch size and below 1 at none; a
    default ranked first is timed against the runner-up and ships."""
    from encoder_gate.commands import search

    timed: list[tuple[str, str]] = []

    def fake_h2h(session, cand, rival, role, texts, settings, clock, progress):
        timed.append((cand.recipe, rival.recipe))
        cand.head_to_head[rival.recipe] = [{"batch_size": bs, "speedup": (lo + hi) / 2, "ci": [lo, hi]}
                                           for bs, (lo, hi) in zip((1, 8), h2h_ci, strict=True)]
        return f"against {role} {rival.recipe}"

    monkeypatch.setattr(search, "_head_to_head", fake_h2h)
    cands = [_candidate("onnx-int8", "int8", (2.0, 1.4)), _candidate("onnx-int8-fused", "int8", (2.1, 1.45)),
             _candidate("onnx-int8-rr", "int8", (1.9, 1.3)), _candidate("onnx-fp32", "fp32", (1.4, 1.0)),
             _candidate("onnx-fp32-o2", "fp32", (1.3, 1.0))]
    winners = search._choose_winners(None, cands, [], search.SearchSettings(), "thread", lambda m: None)
    assert winners["int8"].recipe == shipped and winners["fp32"].recipe == "onnx-fp32"
    assert sorted(timed) == [("onnx-fp32", "onnx-fp32-o2"), ("onnx-int8-fused", "onnx-int8")]
    assert {c.recipe for c in cands if c.shipped} == {shipped, "onnx-fp32"}
    kept = winners["int8"].won_because or ""
    assert ("not measurably faster" in kept) == (shipped == "onnx-int8"), kept


def test_a_search_where_nothing_passes_fails_and_leaves_the_table_of_why(cache_dir, tiny_ctx, tmp_path):
    """Only the 4-bit copy as a candidate: nothing ships, the command fails with a message naming the
    table, and search.md/search.json say why the candidate failed."""
    worse = _worse_copy(tiny_ctx, tmp_path)
    out = tmp_path / "nothing"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(["export", "tiny", "--out", str(out), "--search", "--recipes", f"onnx:{worse}@fp32",
                       "--limit", "60", "--threads", "1", "--search-rounds", "7", "--round-seconds", "0.01",
                       "--speed-texts", "4", "--cache-dir", str(cache_dir)])
    assert status != 0
    assert "the search shipped nothing" in err.getvalue() and "search.md" in err.getvalue()
    table = (out / "search.md").read_text()
    assert "model_worse.onnx@fp32 | fp32 |" in table and "| failed: drift_mean" in table
    assert json.loads((out / "search.json").read_text())["candidates"][0]["passed"] is False
    assert not (out / "model.onnx").exists() and not (out / "README.md").exists()


def test_calibration_reads_only_the_validation_split(tiny_ctx, monkeypatch):
    """Building static INT8 reads the bundled validation split and no other; none of its texts is a
    test text."""
    read: list[str] = []
    real = datasets.bundled_path

    def spy(split: str) -> Path:
        read.append(split)
        return real(split)

    monkeypatch.setattr(calibration, "bundled_path", spy)
    texts, where = calibration_of(tiny_ctx)
    path, _ = RecipeBackend("onnx-int8-static").artifact(tiny_ctx)
    assert set(read) == {"validation"}, read
    assert (path / "model.onnx").is_file()
    monkeypatch.setattr(calibration, "bundled_path", real)
    test_texts = set(datasets.load_dataset("bundled", split="test").texts)
    assert texts and not set(texts) & test_texts
    assert where.startswith("bundled:validation")


def test_a_dataset_without_splits_is_refused_for_calibration(tmp_path):
    """One file has no validation split: a clear message with the fix, not a silent use of it."""
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "hi", "labels": ["joy"]}\n')
    with pytest.raises(GateError, match=r"no splits.*--calibration FILE"):
        calibration.calibration_texts(str(data))


def test_a_saved_dataset_without_validation_carves_from_train(tmp_path):
    """A save_to_disk directory with train and test only: calibration takes the end of train and says so."""
    hf = pytest.importorskip("datasets")
    hf.DatasetDict({"train": hf.Dataset.from_dict({"text": [f"train {i}" for i in range(10)]}),
                    "test": hf.Dataset.from_dict({"text": ["test 0"]})}).save_to_disk(str(tmp_path / "d"))
    texts, where = calibration.calibration_texts(str(tmp_path / "d"), 4)
    assert texts == ("train 6", "train 7", "train 8", "train 9")
    assert "last 4 texts of the train split" in where


def test_a_pair_model_calibrates_on_its_validation_splits_pairs(monkeypatch):
    """pair-column set: each calibration item is the row's two texts, as the gate feeds them; a split
    without that column is refused with the fix. (A hub dataset's validation split, read here from a
    table: the hub is out of reach; save_to_disk directories take the same path.)"""
    from encoder_gate.data.readers import Table

    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}"} for i in range(5)]
    read: list[str] = []

    def hub(spec: str, split: str) -> Table:
        read.append(split)
        return Table(f"hf:{spec}[{split}]", ["premise", "hypothesis"], rows, list(range(5)))

    monkeypatch.setattr(calibration, "read_hub", hub)
    texts, where = calibration.calibration_texts("hf:nli", 3, text_column="premise", pair_column="hypothesis")
    assert texts == (("p0", "h0"), ("p1", "h1"), ("p2", "h2")) and "first 3 pairs" in where
    assert read == ["validation"]
    with pytest.raises(GateError, match=r"no second text column 'hyp' \(pair-column\).*tab"):
        calibration.calibration_texts("hf:nli", 3, text_column="premise", pair_column="hyp")


def test_every_recipe_is_a_backend_of_its_number_format():
    """Each recipe is registered, judged by its own number format's bounds, and searched."""
    from encoder_gate.accuracy.checks import bounds_for
    from encoder_gate.accuracy.tolerances import DEFAULT_BOUNDS
    from encoder_gate.backends.registry import parse_backend

    for name, recipe in RECIPES.items():
        assert parse_backend(name).number_format == recipe.number_format
        assert bounds_for(name) == bounds_for(f"onnx-{recipe.number_format}")
        assert bounds_for(name).drift_max == DEFAULT_BOUNDS[recipe.number_format].drift_max
        assert name in SEARCH_BACKENDS


@pytest.mark.parametrize("args, message", [
    (["--recipes", "onnx-int8"], "--recipes belongs to the recipe search: add --search"),
    (["--calibration-texts", "0", "--speed-texts", "4"],
     "--speed-texts, --calibration-texts belong to the recipe search: add --search"),  # walk AB: ignored
    (["--search", "--recipes", "onnx-int9"], "unknown recipe 'onnx-int9'"),
    (["--search", "--recipes", "torch"], "unknown recipe 'torch'"),
    (["--search", "--search-rounds", "3"], "at least 7"),
    (["--search", "--optimize", "O2"], "leave out --optimize"),
    (["--search", "--batch-sizes", "1,x"], "comma list of integers"),
    (["--search", "--calibration", "missing.txt"], "is not a file"),
    # walk AB: nan passed "positive" and the whole search ran
    (["--search", "--round-seconds", "nan"], "--round-seconds must be a number of seconds above 0, got nan"),
    (["--search", "--round-seconds", "inf"], "--round-seconds must be a number of seconds above 0, got inf"),
    (["--search", "--speed-texts", "-1"], "--speed-texts must be a positive number of texts, got -1"),
])
def test_bad_search_input_is_a_clear_message(args, message, tmp_path, capsys):
    """Bad search options stop before anything is built, with the fix."""
    status = main(["export", "tiny", "--out", str(tmp_path / "o"), *args])
    assert status != 0
    assert message in capsys.readouterr().err


def test_the_gate_calibrates_on_the_configured_file_or_the_datasets_validation_split(tmp_path, cache_dir):
    """A static recipe gated in pytest calibrates where the export does: the configured
    `calibration` file, else the validation split of the configured dataset (a project's own
    single file is refused with the fix, never calibrated on the bundled texts instead)."""
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    lines = tmp_path / "calibration.txt"
    lines.write_text("first calibration text\nsecond one\nthird\n")
    said: list[str] = []
    own = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, calibration=lines),
                      progress=said.append, calibration_count=2)
    texts, where = own.context().calibration()
    assert texts == ("first calibration text", "second one")
    assert where == f"{lines} (first 2 of 3 lines)" and own.calibrated_on == where
    assert said[-1] == f"static INT8 calibrates on {where}"

    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "hi", "labels": ["joy"]}\n')
    single = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, dataset=str(data)),
                         progress=said.append)
    with pytest.raises(GateError, match=r"no splits.*`calibration = \"FILE\"` in \[tool.encoder-gate\]"):
        single.context().calibration()

    bundled = GateSession(GateConfig(model="tiny", cache_dir=cache_dir), progress=said.append)
    assert bundled.context().calibration()[1].startswith("bundled:validation")


def test_a_missing_calibration_file_is_a_clear_error(tmp_path):
    from encoder_gate.config import GateConfig

    with pytest.raises(GateError, match=r"calibration file .*missing.txt does not exist.*--gate-calibration"):
        GateConfig(calibration=tmp_path / "missing.txt")


def test_the_search_plot_names_the_shipped_and_the_failed_and_lists_only_outcomes_that_happened(
        tmp_path, monkeypatch):
    """Two dozen candidate names overlap: the plot names the shipped and the failed ones (the card's
    table lists all), and its legend shows `failed` only when one failed."""
    from encoder_gate.reporting import search_report

    figures = []
    monkeypatch.setattr(search_report, "save_figure", lambda fig, path, dpi=110: figures.append(fig) or path)

    def cand(recipe, passed, shipped=False):
        return {"recipe": recipe, "passed": passed, "shipped": shipped, "f1_delta": 0.0,
                "f1_delta_ci": [-0.01, 0.01], "speedup": {"1": 2.0}, "speedup_ci": {"1": [1.9, 2.1]}}

    search_report.plot_search([cand("onnx-int8", True, True), cand("onnx-int8-rr", True),
                               cand("onnx-fp32-o2", True)], tmp_path / "a.png")
    search_report.plot_search([cand("onnx-int8", True, True), cand("onnx-int8-pt", False)],
                              tmp_path / "b.png")
    expected = ((["int8"], ["batch size 1", "passed", "shipped"]),
                (["int8", "int8-pt"], ["batch size 1", "passed", "failed", "shipped"]))
    for fig, (named, legend) in zip(figures, expected, strict=True):
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.texts] == named
        assert [t.get_text() for t in ax.get_legend().get_texts()] == legend
