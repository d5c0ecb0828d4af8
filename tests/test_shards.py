"""The gate over N runners (issue 30): the plan that deals backends to shards, the merge of their
report directories into one session's results and verdict, and both end to end on the tiny model."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.commands.cli import main
from encoder_gate.decision import SpeedCell, decide_cells, decide_documents
from encoder_gate.documents import AB_FILE, ACCURACY_FILE, SHARD_FILE, SPEEDUPS_FILE, write_document
from encoder_gate.errors import GateError
from encoder_gate.plugin.findings_file import record_findings
from encoder_gate.results.ab import speed_entries, speed_entry
from encoder_gate.shards.merge import check_shards, merge_documents, read_shard
from encoder_gate.shards.plan import (
    costs_from,
    deal,
    descriptor,
    joined,
    parse_shard,
    record_costs,
    recorded_costs,
    share_of_plan,
)
from encoder_gate.speed.ab import ABSettings
from encoder_gate.speed.rounds import Cell
from test_ab_sessions import AB_BUDGET, AB_ROUND_SECONDS

SCENARIO = (Path(__file__).parent / "data" / "verdicts"
            / "xdist_workers_evaluations_are_merged_into_one_report")


# --- the plan ----------------------------------------------------------------------------------------


def test_a_shard_is_k_of_n_and_anything_else_says_what_to_pass():
    assert str(parse_shard("2/3")) == "2/3" and parse_shard(" 1 / 1 ").total == 1
    for bad in ("3", "0/3", "4/3", "a/b", "1/0", "-1/2"):
        with pytest.raises(GateError, match="--gate-shard"):
            parse_shard(bad)


def test_backends_are_dealt_longest_first_to_the_least_loaded_shard():
    """LPT: compile (300 s) alone; 200 + 40 and 150 + 90 fill the other two; every shard computes
    the same plan from the same costs, in the configured order within a shard."""
    backends = ["torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8"]
    costs = {"torch": 40, "torch-compile": 300, "onnx-fp32": 90, "onnx-fp16": 200, "onnx-int8": 150}
    plan = deal(backends, costs, 3)
    assert plan.shares == (("torch-compile",), ("torch", "onnx-fp16"), ("onnx-fp32", "onnx-int8"))
    assert plan.source == "recorded" and deal(backends, costs, 3) == plan
    assert plan.shard_of("onnx-int8") == 3 and plan.backends == tuple(backends)
    assert "1/3: torch-compile (about 300 s)" in plan.describe()


def test_without_recorded_costs_every_backend_counts_the_same_and_a_missing_one_the_median():
    equal = deal(["a", "b", "c", "d", "e"], {}, 2)
    assert equal.shares == (("a", "c", "e"), ("b", "d")) and equal.source == "equal"
    assert "equal shares" in equal.describe()
    partial = deal(["a", "b", "c"], {"a": 10, "b": 30}, 2)
    assert partial.costs["c"] == 20 and partial.shares == (("b",), ("a", "c"))


def test_more_shards_than_backends_is_refused():
    with pytest.raises(GateError, match="use at most 2 shards"):
        deal(["torch", "onnx-fp32"], {}, 3)


def test_a_base_takes_the_prs_share_of_the_prs_plan_not_a_deal_of_its_own(tmp_path: Path):
    """The requirements step's base: dealt by its own four backends, it would run other shares than
    the PR's five (onnx-int8 in neither shard's baseline); from the PR's shard.json it runs, of its
    backends, those whose kind the PR's share names. A file that is no shard.json, or of another N,
    is one line."""
    pr = ("torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8")
    base = ("torch", "torch-compile", "onnx-fp32", "onnx-int8")
    plan = deal(pr, {}, 2)
    assert plan.shares == (("torch", "onnx-fp32", "onnx-int8"), ("torch-compile", "onnx-fp16"))
    assert deal(base, {}, 2).shares == (("torch", "onnx-fp32"), ("torch-compile", "onnx-int8"))  # apart
    path = tmp_path / SHARD_FILE
    path.write_text(json.dumps({"shard": "1/2", "plan": plan.to_json(), "backends": list(plan.share(1))}))
    assert share_of_plan(str(path), base, parse_shard("1/2")) == (plan, ("torch", "onnx-fp32", "onnx-int8"))
    assert share_of_plan(str(path), base, parse_shard("2/2"))[1] == ("torch-compile",)
    with pytest.raises(GateError, match=r"its share 2/2 \(torch-compile, onnx-fp16\) names no backend "
                                        r"configured here \(onnx-int8\): this shard has nothing to run"):
        share_of_plan(str(path), ("onnx-int8",), parse_shard("2/2"))
    with pytest.raises(GateError, match="deals 2 shares, not the 3 of --gate-shard 1/3"):
        share_of_plan(str(path), base, parse_shard("1/3"))
    (tmp_path / "costs.json").write_text(json.dumps({"torch": 1.0}))
    with pytest.raises(GateError, match=r"is not a shard\.json of encoder-gate"):
        share_of_plan(str(tmp_path / "costs.json"), base, parse_shard("1/2"))
    with pytest.raises(GateError, match=r"--gate-shard-plan .*nowhere\.json: No such file"):
        share_of_plan(str(tmp_path / "nowhere.json"), base, parse_shard("1/2"))


@pytest.mark.parametrize(("shares", "said"), [
    ([["torch"]], "it deals 2 shares but lists 1"),
    ("ab", "its shares are not lists of backend names"),
    ([["torch"], []], "its shares are not lists of backend names"),
    ([["torch"], ["torch"]], "a backend is in two shares"),
])
def test_a_hand_edited_plan_is_one_line_not_a_crash(tmp_path: Path, shares: object, said: str):
    """A shard.json whose shares do not add up to its total was read as it stood: share 2/2 of a plan
    listing one share crashed pytest (INTERNALERROR, IndexError), and a string was dealt as letters."""
    path = tmp_path / SHARD_FILE
    path.write_text(json.dumps({"plan": {"total": 2, "shares": shares, "costs": {}, "source": "equal"}}))
    with pytest.raises(GateError, match=rf"--gate-shard-plan .* is not a shard\.json of encoder-gate "
                                        rf"\({said}\)"):
        share_of_plan(str(path), ("torch", "onnx-fp32"), parse_shard("2/2"))


def test_recorded_costs_are_kept_per_model_and_merged(tmp_path: Path):
    assert recorded_costs(tmp_path, "tiny") == {}
    record_costs(tmp_path, "tiny", {"torch": 12.0, "onnx-fp32": 3.5})
    record_costs(tmp_path, "tiny", {"onnx-fp32": 4.0})
    record_costs(tmp_path, "other", {"torch": 1.0})
    assert recorded_costs(tmp_path, "tiny") == {"torch": 12.0, "onnx-fp32": 4.0}
    (tmp_path / "shard-costs.json").write_text("{not json")
    assert recorded_costs(tmp_path, "tiny") == {}
    # hunt 5: figures that are no seconds (another version's file, a damaged one) ended a --gate-shard
    # session in an INTERNALERROR; unreadable means equal shares, as the docstring says
    for bad in ('{"tiny": {"torch": "x"}}', '{"tiny": {"torch": null}}', '{"tiny": [1]}',
                '{"tiny": {"t": -1}}'):
        (tmp_path / "shard-costs.json").write_text(bad)
        assert recorded_costs(tmp_path, "tiny") == {}


def test_a_second_session_of_the_same_share_keeps_the_firsts_documents_in_shard_json():
    """The workflow's requirements step runs a second session in a shard's report directory after its
    A/B: shard.json lists both sessions' documents (those still there), the A/B's seconds first; a
    descriptor of another share, plan, commit or model is replaced, not joined."""
    plan = deal(["torch", "onnx-fp32", "onnx-int8"], {}, 2)

    def made(documents: list[str], seconds: dict[str, float], commit: str = "abc", index: int = 1) -> dict:
        return descriptor(parse_shard(f"{index}/2"), plan, provenance={}, commit=commit, documents=documents,
                          seconds=seconds, model="tiny")
    ab = made([ACCURACY_FILE, AB_FILE, "gone.json"], {"torch": 30.0})
    bench = made(["speedups.json"], {"torch": 5.0, "onnx-int8": 4.0})
    there = {ACCURACY_FILE, AB_FILE, "speedups.json"}.__contains__
    both = joined(ab, bench, there)
    assert both["documents"] == sorted([ACCURACY_FILE, AB_FILE, "speedups.json"])
    assert both["seconds"] == {"torch": 30.0, "onnx-int8": 4.0}
    for other in (made([AB_FILE], {}, commit="def"), made([AB_FILE], {}, index=2), None):
        assert joined(other, bench, there) == bench


def test_costs_come_from_a_committed_file_equal_shares_or_the_cache(tmp_path: Path):
    record_costs(tmp_path / "cache", "model", {"torch": 5.0})
    assert costs_from(None, tmp_path / "cache", "model") == {"torch": 5.0}
    assert costs_from("equal", tmp_path / "cache", "model") == {}
    merged = tmp_path / "shard-costs.json"
    merged.write_text(json.dumps({"model": {"torch": 2, "onnx-int8": 7.5}}))
    assert costs_from(str(merged), tmp_path, "model") == {"torch": 2.0, "onnx-int8": 7.5}
    with pytest.raises(GateError, match="holds no seconds per backend for model 'other'"):
        costs_from(str(merged), tmp_path, "other")
    with pytest.raises(GateError, match=r"--gate-shard-costs .*nowhere\.json"):
        costs_from(str(tmp_path / "nowhere.json"), tmp_path, "model")
    merged.write_text(json.dumps({"model": {"torch": -3, "onnx-int8": 7.5}}))  # read as "unknown" before
    with pytest.raises(GateError, match="holds no seconds per backend for model 'model'"):
        costs_from(str(merged), tmp_path, "model")


# --- the merge, on documents ---------------------------------------------------------------------------


def shard_dirs(tmp_path: Path, total: int = 3, commit: str = "c" * 40) -> list[Path]:
    """The scenario's accuracy.json (three backends, one session) cut into `total` shards as each
    shard's session writes it: its backends' rows, its configured backends, and shard.json."""
    whole = json.loads((SCENARIO / ACCURACY_FILE).read_text())
    plan = deal(whole["configured_backends"], {}, total)
    out = []
    for index in range(1, total + 1):
        share = plan.share(index)
        doc = {**whole, "configured_backends": list(share),
               "backends": {n: r for n, r in whole["backends"].items() if n in share}}
        directory = tmp_path / f"shard-{index}"
        write_document(directory, ACCURACY_FILE, doc)
        write_document(directory, SHARD_FILE, descriptor(
            parse_shard(f"{index}/{total}"), plan, provenance=whole["provenance"], commit=commit,
            documents=[ACCURACY_FILE], seconds={}))
        record_findings(directory, whole["provenance"], {ACCURACY_FILE}, [])  # a green session's
        out.append(directory)
    return out


def test_shards_merge_to_the_one_sessions_rows_and_verdict(tmp_path: Path):
    whole = json.loads((SCENARIO / ACCURACY_FILE).read_text())
    results = [read_shard(d) for d in reversed(shard_dirs(tmp_path))]  # any order
    merged = merge_documents(results, check_shards(results))[ACCURACY_FILE]
    assert merged["backends"] == whole["backends"]
    assert list(merged["backends"]) == merged["configured_backends"] == whole["configured_backends"]
    one, sharded = decide_documents(whole, None), decide_documents(merged, None)
    assert [b.to_json() for b in sharded.backends] == [b.to_json() for b in one.backends]
    assert sharded.passed == one.passed and [b.name for b in sharded.backends].count("torch") == 1


def test_a_missing_or_doubled_shard_fails_and_is_named(tmp_path: Path):
    first, second, third = shard_dirs(tmp_path)
    with pytest.raises(GateError, match=r"shard 2/3 is missing \(its backends: onnx-fp32; given: 1/3, 3/3\)"):
        check_shards([read_shard(first), read_shard(third)])
    with pytest.raises(GateError, match="shard 1/3 is given twice"):
        check_shards([read_shard(d) for d in (first, second, third, first)])
    (second / "findings.json").unlink()  # an upload that left it out: a red shard would merge green
    with pytest.raises(GateError, match=r"shard 2/3 \(.*\) has no findings.json, which its session wrote"):
        read_shard(second)
    intact = (first / "accuracy.json").read_text()
    for emptied in ({}, {"schema": 1}):  # walk AL: a KeyError in the merge, and no verdict written
        write_document(first, "accuracy.json", emptied)
        with pytest.raises(GateError, match=r"shard 1/3 \(.*\): its accuracy.json holds no session's"):
            read_shard(first)
    (first / "accuracy.json").write_text(intact)
    for emptied in ({}, {"schema": 1}):  # walk AH: emptied or cut short, it read as no finding: PASS
        write_document(second, "findings.json", emptied)
        with pytest.raises(GateError, match=r"shard 2/3 \(.*\): its findings.json holds no session's"):
            read_shard(second)
    killed = tmp_path / "killed"  # a shard's job cancelled or timed out: its running marker, no shard.json
    run = {"command": "pytest accuracy --gate-shard 2/3", "started": "2026-11-27T01:00:00+0000", "pid": 77}
    write_document(killed, "findings.json", {"provenance": {}, "by_document": {}, "unwritten": [],
                                             "running": {"77": run}})
    with pytest.raises(GateError, match=r"holds no shard.json: a session of this model has not finished "
                                        r".*`pytest accuracy --gate-shard 2/3`, started 2026-11-27T01:00"):
        read_shard(killed)


def test_shards_of_another_plan_model_or_commit_are_refused(tmp_path: Path):
    three = shard_dirs(tmp_path / "a")
    two = shard_dirs(tmp_path / "b", total=2)
    with pytest.raises(GateError, match=r"shard 1/2 .* belongs to another plan"):
        check_shards([read_shard(d) for d in (*three, two[0])])
    other = shard_dirs(tmp_path / "c", commit="d" * 40)
    with pytest.raises(GateError, match=f"shard 2/3 .* ran at commit {'d' * 40}"):
        check_shards([read_shard(three[0]), read_shard(other[1]), read_shard(three[2])])
    moved = json.loads((three[2] / SHARD_FILE).read_text())
    moved["provenance"]["model"]["content_hash"] = "retrained"
    write_document(three[2], SHARD_FILE, moved)
    with pytest.raises(GateError, match=r"shard 3/3 .* gated another model or dataset"):
        check_shards([read_shard(d) for d in three])
    with pytest.raises(GateError, match=r"holds no shard\.json: .*, or its shard checked nothing"):
        read_shard(SCENARIO)


def test_shards_judged_by_other_settings_or_another_selection_of_tests_are_refused(tmp_path: Path):
    """A shard run with other thresholds, threads, batch sizes or F1 rule, or with its own -k, would
    merge into one PASS that no one session gave: refused, naming what differs."""
    from encoder_gate.config import GateConfig

    three = shard_dirs(tmp_path)
    judged = {**GateConfig().judging(), "backends": ["torch"]}
    for directory in three:  # the scenario's blocks as this encoder-gate writes them
        doc = json.loads((directory / SHARD_FILE).read_text())
        doc["provenance"]["settings"] = judged
        write_document(directory, SHARD_FILE, doc)
    check_shards([read_shard(d) for d in three])
    loose = json.loads((three[1] / SHARD_FILE).read_text())
    loose["provenance"]["settings"] = {**judged, "threads": 2, "batch_sizes": [1], "f1_rule": "regression",
                                       "backends": ["onnx-fp32"]}
    write_document(three[1], SHARD_FILE, loose)
    with pytest.raises(GateError, match=r"shard 2/3 .* judged by other settings than shard 1/3 .*: "
                                        r"batch-sizes \[1\], not \[1, 8\]; "
                                        r"f1-rule 'regression', not 'point'; threads 2, not 0\. "
                                        r"Run every shard with the same command"):
        check_shards([read_shard(d) for d in three])
    picked = json.loads((three[1] / SHARD_FILE).read_text())
    picked["provenance"]["settings"] = judged
    picked["provenance"]["selection"] = "-k 'not padding'"
    write_document(three[1], SHARD_FILE, picked)
    with pytest.raises(GateError,
                       match=r"judged by other settings .*: selection \"-k 'not padding'\", not None"):
        check_shards([read_shard(d) for d in three])


def test_a_merge_into_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    assert main(["merge", *map(str, shard_dirs(tmp_path)), "--out", str(tmp_path / "img.png")]) == 1
    assert "--out " in capsys.readouterr().err and (tmp_path / "img.png").read_bytes() == b"\x89PNG"


def test_a_merge_into_one_of_its_shards_is_refused_before_it_overwrites_that_shard(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    shards = shard_dirs(tmp_path)
    before = {p.name: p.read_bytes() for p in shards[0].iterdir() if p.is_file()}
    assert main(["merge", *map(str, shards), "--out", str(shards[0])]) == 1
    assert f"--out {shards[0]} is the shard directory" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in shards[0].iterdir() if p.is_file()} == before


def test_the_command_writes_the_merged_verdict_or_says_why_it_cannot(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]):
    first, second, third = shard_dirs(tmp_path)
    out = tmp_path / "merged"
    status = main(["merge", str(first), str(second), str(third), "--out", str(out)])
    printed = capsys.readouterr().out
    verdict = decide_documents(json.loads((out / ACCURACY_FILE).read_text()), None)
    assert status == (0 if verdict.passed else 1)
    assert "3 shards" in printed and (out / "verdict.md").read_text() in printed
    assert (out / "accuracy.md").is_file() and (out / "verdict.json").is_file()
    assert "onnx-int8" in (out / "report" / "benchmarks.md").read_text()  # the report of the merged results
    assert main(["merge", str(first), str(third), "--out", str(out)]) == 1
    assert "shard 2/3 is missing" in (out / "verdict.md").read_text()
    assert (out / "verdict.md").read_text().startswith("## encoder-gate: FAIL")
    # each shard's reason an item of its own, not the lines joined with a line mark (a trial read "⏎")
    assert "\n  - shard 2/3 is missing" in (out / "verdict.md").read_text() and "⏎" not in (
        out / "verdict.md").read_text()
    refused = json.loads((out / "verdict.json").read_text())  # a real verdict, decided on nothing
    assert refused["passed"] is False and refused["backends"] == [] and refused["sources"] == {}
    assert "shard 2/3 is missing" in refused["session_failures"][0]
    assert not (out / ACCURACY_FILE).exists()
    assert main(["verdict", "--report-dir", str(out)]) == 1
    assert main(["merge", "--out", str(out)]) == 1  # a matrix whose shards uploaded nothing
    assert "no shards to merge" in (out / "verdict.md").read_text()


def _ab_doc(cells: list[SpeedCell], settings: ABSettings, provenance: dict[str, Any]) -> dict[str, Any]:
    decisions = decide_cells(cells, settings)  # each shard's own family
    return {"provenance": provenance, "model": {"name": "tiny", "content_hash": "x"},
            "base": {"dir": "../base", "model": "tiny", "content_hash": "y"},
            "settings": {"min_effect": settings.min_effect, "alpha": settings.alpha,
                         "inconclusive": settings.inconclusive, "budget_seconds": settings.budget_seconds},
            "accuracy": {},
            "speed": [speed_entry(c, d, settings) for c, d in zip(cells, decisions, strict=True)],
            "notes": ["shared note"], "environment": {}}


def test_speed_cells_are_judged_again_with_holm_across_every_shard(tmp_path: Path):
    """Two shards' cells decided as one family: the merged entries are exactly those one session
    gives for the same rounds, not each shard's own decision."""
    rng = np.random.default_rng(3)
    settings = ABSettings()
    cells = [SpeedCell(name, "model/bs8", Cell(clock="thread", texts=8, base=[1.0] * 20,
                                               pr=list(np.exp(rng.normal(shift, 0.02, 20)))))
             for name, shift in (("onnx-fp32", 0.0), ("onnx-int8", 0.07), ("onnx-fp16", 0.045))]
    whole = json.loads((SCENARIO / ACCURACY_FILE).read_text())
    plan = deal(["onnx-fp32", "onnx-int8", "onnx-fp16"], {}, 2)
    dirs = []
    for index in (1, 2):
        share = plan.share(index)
        directory = tmp_path / f"s{index}"
        mine = [c for c in cells if c.backend in share]
        write_document(directory, AB_FILE, _ab_doc(mine, settings, whole["provenance"]))
        write_document(directory, SHARD_FILE, descriptor(parse_shard(f"{index}/2"), plan,
                                                         provenance=whole["provenance"], commit=None,
                                                         documents=[AB_FILE], seconds={}))
        record_findings(directory, whole["provenance"], {AB_FILE}, [])
        dirs.append(directory)
    results = [read_shard(d) for d in dirs]
    merged = merge_documents(results, check_shards(results))[AB_FILE]
    ordered = [c for index in (1, 2) for c in cells if c.backend in plan.share(index)]
    decided = decide_cells(ordered, settings)
    expected = [speed_entry(c, d, settings) for c, d in zip(ordered, decided, strict=True)]
    assert json.loads(json.dumps(merged["speed"])) == json.loads(json.dumps(expected))
    assert merged["notes"] == ["shared note"]
    assert any(e["fails"] for e in merged["speed"]) and any(not e["fails"] for e in merged["speed"])
    # the PR's pyproject loosened its min-slowdown to 0.3: the merged cells are judged by the base's own
    # too, and those the PR's pass and the base's fail say so
    loosened = replace(settings, min_effect=0.3)
    for directory in dirs:
        doc = json.loads((directory / AB_FILE).read_text())
        base = {"min_effect": settings.min_effect, "inconclusive": settings.inconclusive}
        write_document(directory, AB_FILE, {**doc, "settings": {**doc["settings"], "min_effect": 0.3,
                                                                "base": base}})
    again = merge_documents(results := [read_shard(d) for d in dirs], check_shards(results))[AB_FILE]
    expected = speed_entries(ordered, loosened, settings)
    assert json.loads(json.dumps(again["speed"])) == json.loads(json.dumps(expected))
    flagged = [e["backend"] for e in again["speed"] if e.get("by_base_criteria")]
    assert sorted(flagged) == ["onnx-fp16", "onnx-int8"], again["speed"]


def test_an_ab_document_without_rounds_cannot_be_judged_again(tmp_path: Path):
    whole = json.loads((SCENARIO / ACCURACY_FILE).read_text())
    plan = deal(["onnx-fp32"], {}, 1)
    cell = SpeedCell("onnx-fp32", "bs8", Cell(clock="thread", base=[1.0] * 10, pr=[1.0] * 10))
    doc = _ab_doc([cell], ABSettings(), whole["provenance"])
    del doc["speed"][0]["cell"]
    write_document(tmp_path, AB_FILE, doc)
    write_document(tmp_path, SHARD_FILE, descriptor(parse_shard("1/1"), plan, provenance=whole["provenance"],
                                                    commit=None, documents=[AB_FILE], seconds={}))
    record_findings(tmp_path, whole["provenance"], {AB_FILE}, [])
    result = read_shard(tmp_path)
    with pytest.raises(GateError, match="holds no rounds for onnx-fp32 bs8"):
        merge_documents([result], check_shards([result]))


# --- end to end on the tiny model ----------------------------------------------------------------------

ACCURACY = "from encoder_gate.suite.accuracy import *  # noqa: F403\n"
SPEED = "from encoder_gate.suite.benchmarks import *  # noqa: F403\n"


def checkout(root: Path, table: str, files: dict[str, Path] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.encoder-gate]\n" + table)
    for folder, text in (("accuracy", ACCURACY), ("benchmarks", SPEED)):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"test_{folder}.py").write_text(text)
    for rel, src in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
    return root


def run_gate(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, repo: Path, report: Path,
             cache_dir: Path, *args: str) -> pytest.RunResult:
    monkeypatch.chdir(repo)
    return pytester.runpytest(
        "--rootdir", str(repo), "-c", str(repo / "pyproject.toml"), "--gate-cache-dir", str(cache_dir),
        "--gate-report-dir", str(report), "-p", "no:cacheprovider", "-p", "no:randomly", *args)


STATS = ("f1", "f1_delta", "f1_delta_ci", "mcnemar_p", "mde_f1", "drift_mean", "drift_p99", "drift_max",
         "flip_rate", "per_label", "checks", "verdict")


@pytest.mark.slow
def test_three_shards_merge_to_the_figures_of_one_session(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          cache_dir: Path):
    """The tiny model's accuracy gate over four backends, once whole and once in three shards: the
    merged accuracy.json has every backend's F1, CI and drift exactly as the one session's, each
    backend once in the verdict; a merge without shard 2 fails and names it."""
    table = ('model = "tiny"\nbackends = ["torch", "onnx-fp32", "onnx-fp16", "onnx-int8"]\nlimit = 64\n')
    repo = checkout(tmp_path / "repo", table)
    # the durations every shard deals by, committed (the shared cache's record moves whenever
    # another session of the tiny model ends, as the other self-tests' do)
    costs = repo / "shard-costs.json"
    costs.write_text(json.dumps({"tiny": {"torch": 10, "onnx-fp32": 5, "onnx-fp16": 4, "onnx-int8": 3}}))
    args = ("accuracy", "-k", "not padding")
    whole = run_gate(pytester, monkeypatch, repo, tmp_path / "whole", cache_dir, *args)
    assert whole.ret == pytest.ExitCode.OK, whole.stdout.str()[-2500:]
    shards = [tmp_path / f"shard-{k}" for k in (1, 2, 3)]
    for k, report in enumerate(shards, 1):
        done = run_gate(pytester, monkeypatch, repo, report, cache_dir, *args, "--gate-shard", f"{k}/3",
                        "--gate-shard-costs", str(costs))
        assert done.ret == pytest.ExitCode.OK, done.stdout.str()[-2500:]
        done.stdout.fnmatch_lines([f"encoder-gate: shard {k}/3 runs *"])
    plans = [json.loads((d / SHARD_FILE).read_text())["plan"]["shares"] for d in shards]
    assert plans == [[["torch"], ["onnx-fp32"], ["onnx-fp16", "onnx-int8"]]] * 3
    out = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "--out", str(out)]) == 0
    one = json.loads((tmp_path / "whole" / ACCURACY_FILE).read_text())["backends"]
    merged = json.loads((out / ACCURACY_FILE).read_text())["backends"]
    assert list(merged) == list(one) == ["torch", "onnx-fp32", "onnx-fp16", "onnx-int8"]
    for name in one:
        assert {k: merged[name].get(k) for k in STATS} == {k: one[name].get(k) for k in STATS}, name
    rows = [line for line in (out / "verdict.md").read_text().splitlines() if line.startswith("| ")]
    assert sorted(r.split(" | ")[0].strip("| ") for r in rows[1:]) == sorted(one), rows
    assert main(["merge", str(shards[0]), str(shards[2]), "--out", str(out)]) == 1
    assert "shard 2/3 is missing" in (out / "verdict.md").read_text()


@pytest.mark.slow
def test_an_onnx_file_doing_more_work_fails_the_merged_verdict_of_three_shards(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, slower_onnx: tuple[Path, Path],
        tmp_path: Path, cache_dir: Path):
    """A PR whose onnx: file does about 30% more work, gated against its base in three shards (each
    timing only its own cells): the merge fails, naming that file; the unchanged backends pass."""
    src, slower = slower_onnx
    table = ('model = "tiny"\nbackends = ["onnx:onnx/model.onnx", "onnx-fp32", "onnx-int8"]\n'
             "batch-sizes = [8]\nthreads = 1\n")
    base = checkout(tmp_path / "base", table, {"onnx/model.onnx": src})
    pr = checkout(tmp_path / "pr", table, {"onnx/model.onnx": slower})
    shards = [tmp_path / f"shard-{k}" for k in (1, 2, 3)]
    for k, report in enumerate(shards, 1):
        run_gate(pytester, monkeypatch, pr, report, cache_dir, "benchmarks", "accuracy", "-k",
                 "speed_vs_base", "--gate-base", str(base), "--gate-shard", f"{k}/3",
                 f"--gate-ab-budget={AB_BUDGET}",  # not the budget's test: the load may rise mid-cell
                 f"--gate-ab-round-seconds={AB_ROUND_SECONDS}",  # nor the round's length
                 # equal shares: the shared cache's recorded durations move whenever another
                 # self-test of the tiny model ends, and shards dealt by two records don't merge
                 "--gate-shard-costs", "equal")
    out = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "--out", str(out)]) == 1
    assert "vs_base.png" in (out / "report" / "benchmarks.md").read_text()  # the merged report
    ab = json.loads((out / AB_FILE).read_text())
    status = {c["backend"]: c["status"] for c in ab["speed"]}
    assert status == {"onnx:onnx/model.onnx": "fail", "onnx-fp32": "unchanged", "onnx-int8": "unchanged"}, ab
    verdict = (out / "verdict.md").read_text()
    assert "## encoder-gate: FAIL" in verdict and "onnx:onnx/model.onnx" in verdict
    assert "**FAIL** (vs base)" in verdict


@pytest.mark.slow
def test_each_shards_second_session_joins_its_first_in_the_merge(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache_dir: Path):
    """The sharded workflow's requirements step, on the tiny model in two shards: in each shard's
    report directory a first session (accuracy, as the A/B's), then the PR's benchmarks against the
    base's, which ran dealt by the same plan into a directory of their own. The merge holds both
    sessions of every shard: each backend's accuracy and its speedup compared with the base's."""
    table = ('model = "tiny"\nbackends = ["torch", "onnx-fp32", "onnx-int8"]\nlimit = 32\n'
             "batch-sizes = [8]\nthreads = 1\n")
    repo = checkout(tmp_path / "repo", table)
    monkeypatch.setenv("ENCODER_GATE_BENCH_ROUNDS", "2")  # the sweep runs, not a figure (as CI's stacks)
    monkeypatch.setenv("ENCODER_GATE_BENCH_TEXTS", "8")
    shards = [tmp_path / f"shard-{k}" for k in (1, 2)]
    for k, shard in enumerate(shards, 1):
        share = ("--gate-shard", f"{k}/2", "--gate-shard-costs", "equal")
        base = tmp_path / f"base-stack-{k}"
        for report, args in ((base, ("benchmarks",)), (shard, ("accuracy", "-k", "not padding")),
                             (shard, ("benchmarks", "--gate-speedup-baseline", str(base / SPEEDUPS_FILE),
                                      "--gate-allow-other-machine"))):
            done = run_gate(pytester, monkeypatch, repo, report, cache_dir, *args, *share)
            assert done.ret == pytest.ExitCode.OK, done.stdout.str()[-2500:]
        listed = json.loads((shard / SHARD_FILE).read_text())["documents"]
        assert {ACCURACY_FILE, SPEEDUPS_FILE} <= set(listed), listed
    out = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "--out", str(out)]) == 0
    accuracy = json.loads((out / ACCURACY_FILE).read_text())
    assert list(accuracy["backends"]) == ["torch", "onnx-fp32", "onnx-int8"]
    gate = json.loads((out / SPEEDUPS_FILE).read_text())["gate"]
    assert {b for row in gate["compared"].values() for b in row} == {"onnx-fp32", "onnx-int8"}, gate


def test_shards_on_cpus_of_different_integer_paths_say_each_ones_path(tmp_path: Path):
    """Runners of a matrix differ (one with VNNI, one without): the merged document does not claim
    the first shard's CPU for all, the verdict's note names each shard's path, and a shard whose
    ONNX Runtime computed another path than its flags say is not hidden by the others."""
    from encoder_gate.reporting.integer_paths import integer_path_notes

    dirs = shard_dirs(tmp_path)
    for d, path in zip(dirs, ("exact", "saturating", "exact"), strict=True):
        doc = json.loads((d / ACCURACY_FILE).read_text())
        # the second runner's flags say VNNI, but its ONNX Runtime saturates (int8_path's probe)
        how = {"path": path, "flags_say": "exact", "observed": path, "why": "..."}
        doc["integer_paths"] = {"this_cpu": path, "how": how, "targets": ["x86-avx2", "x86-vnni"],
                                "target_paths": ["exact", "saturating"]}
        for row in doc["backends"].values():
            row["integer_path"], row["can_saturate"] = path, False
        write_document(d, ACCURACY_FILE, doc)
    results = [read_shard(d) for d in dirs]
    merged = merge_documents(results, check_shards(results))[ACCURACY_FILE]
    assert merged["integer_paths"]["this_cpu"] is None
    assert merged["integer_paths"]["shards"] == {"1/3": "exact", "2/3": "saturating", "3/3": "exact"}
    note = integer_path_notes(merged)[0]
    assert note.startswith(
        "INT8 integer paths: the shards ran on CPUs of different integer paths (shard 1/3: exact, "
        "shard 2/3: saturating, shard 3/3: exact); each INT8 row was computed on its shard's path: ")
    assert "`onnx-fp32` on the saturating path" in note  # shard 2/3's, named (the rows do not say it)
    assert merged["integer_paths"]["how"]["observed"] == "saturating"  # not hidden by the shards that agree
    assert integer_path_notes(merged)[1] == (
        "INT8: ONNX Runtime computed saturating products on one shard's runner's probe, though its CPU "
        "flags say exact: every INT8 row is judged on what it computed.")
    same = [read_shard(d) for d in shard_dirs(tmp_path / "same")]
    merged_same = merge_documents(same, check_shards(same))[ACCURACY_FILE]
    assert "shards" not in (merged_same.get("integer_paths") or {})
