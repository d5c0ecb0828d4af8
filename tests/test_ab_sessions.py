"""The PR against its base (`--gate-base`) end to end with real timing (no mocked clocks) on real
files; `ab-noise`; the base resolved in its own checkout; what the PR changed, named."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.base import base_config

# --- end to end, real timing -----------------------------------------------------------------

SPEED = "from encoder_gate.suite.benchmarks import *  # noqa: F403\n"
ACCURACY = "from encoder_gate.suite.accuracy import *  # noqa: F403\n"


def checkout(root: Path, table: str, files: dict[str, Path] | None = None) -> Path:
    """A repository gated by encoder-gate: pyproject table, thin test files, and model files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.encoder-gate]\n" + table)
    (root / "benchmarks").mkdir(exist_ok=True)
    (root / "benchmarks" / "test_speed.py").write_text(SPEED)
    (root / "accuracy").mkdir(exist_ok=True)
    (root / "accuracy" / "test_accuracy.py").write_text(ACCURACY)
    for rel, src in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
    return root


def run_ab(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pr: Path, base: Path, cache_dir: Path,
           *args: str) -> pytest.RunResult:
    """`pytest benchmarks accuracy --gate-base BASE` run in the PR's checkout, as its CI would.

    Each timed cell may take 300 s (AB_BUDGET), not 25: its rounds are on the thread's clock, but
    its budget on the wall's, and a cell whose first look was sized on a quiet core stopped short of
    it, inconclusive, once the other xdist worker's load rose (seen at 2 to 5 busy processes).

    Each arm's share of a round is AB_ROUND_SECONDS, not 0.5 s: what these sessions claim is the
    verdict on a 30% slowdown, not a round's length (the 30%-more-work test's rounds took 19 s of
    its 22 s at 0.5 s, AMD EPYC Zen 5)."""
    monkeypatch.chdir(pr)
    return pytester.runpytest(
        "benchmarks", "accuracy", "--rootdir", str(pr), "-c", str(pr / "pyproject.toml"),
        "--gate-base", str(base), "--gate-cache-dir", str(cache_dir), f"--gate-ab-budget={AB_BUDGET}",
        f"--gate-ab-round-seconds={AB_ROUND_SECONDS}",
        "--gate-report-dir", str(pr / "report"), "-p", "no:cacheprovider", "-p", "no:randomly", *args)


#: A timed A/B cell's budget in these sessions (seconds; run_ab): what they claim is not the budget
AB_BUDGET = 300
#: Each arm's share of a timed round in these sessions (seconds; run_ab, --gate-ab-round-seconds)
AB_ROUND_SECONDS = 0.1


@pytest.mark.slow
def test_an_onnx_file_doing_30_percent_more_work_fails_its_speed_row_and_an_unchanged_one_passes(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, slower_onnx: tuple[Path, Path],
        tmp_path: Path, cache_dir: Path):
    """Same outputs, about 30% more work: the PR's onnx: backend fails the speed A/B, named. The
    same file is unchanged and not timed; the same graph saved again (other bytes) is timed and
    passes. Timed for real on the thread's CPU time."""
    import onnx

    src, slower = slower_onnx
    resaved = onnx.load(str(src))
    resaved.doc_string = "exported again: other bytes, the same graph"
    onnx.save(resaved, str(tmp_path / "resaved.onnx"))
    table = 'model = "tiny"\nbackends = ["onnx:onnx/model.onnx"]\nbatch-sizes = [8]\nthreads = 1\n'
    base = checkout(tmp_path / "base", table, {"onnx/model.onnx": src})
    same = checkout(tmp_path / "same", table, {"onnx/model.onnx": src})
    again = checkout(tmp_path / "again", table, {"onnx/model.onnx": tmp_path / "resaved.onnx"})
    slow = checkout(tmp_path / "slow", table, {"onnx/model.onnx": slower})

    unchanged = run_ab(pytester, monkeypatch, same, base, cache_dir, "-k", "speed_vs_base")
    assert unchanged.ret == pytest.ExitCode.OK, unchanged.stdout.str()[-2500:]
    unchanged.stdout.fnmatch_lines(
        ["*onnx:onnx/model.onnx*unchanged: the same artifact (onnx:*) on the same batches, so not timed*"])
    # what its speed cells can take, said under "collected" (the forecast of its builds points there;
    # a user's PR session had said "their estimate is above" where nothing was)
    unchanged.stdout.fnmatch_lines(["collected *", "encoder-gate: 1 speed cell(s) against the base, each at "
                                    "most 300 s of rounds (--gate-ab-budget) and its warm-up: at most about "
                                    "5.0 min in all; a backend whose artifact and batches the PR did not "
                                    "change is not timed"])
    verdict = (same / "report" / "verdict.md").read_text()
    assert "| pass (vs base only) |" in verdict and "unchanged (same artifact, not timed)" in verdict

    # judged against a 30% slowdown, the A/A decides at its first look (10 rounds), where against 5%
    # it ran to its second and stayed inconclusive (21.7 s against 11.5 s, AMD EPYC Zen 5): the
    # claim here is that other bytes are timed; the rule at 5% is the unit tests' above. (20% before:
    # a loaded machine's rounds, 5 to 7.5% apart, left it an estimated 1 run in 200 whose CI reached 1.2)
    timed_aa = run_ab(pytester, monkeypatch, again, base, cache_dir, "-k", "speed_vs_base",
                      "--gate-min-slowdown=0.3")
    assert timed_aa.ret == pytest.ExitCode.OK, timed_aa.stdout.str()[-2500:]
    ab = json.loads((again / "report" / "ab.json").read_text())
    cell = ab["speed"][0]
    assert cell["status"] == "pass" and cell["rounds"] == 10, cell
    # a criterion the command line gave is both sides', never a change of the PR's (nor judged again
    # by the base's own: it is the base's too)
    assert not [c for c in ab["criteria_changed"] if "min-slowdown" in c], ab["criteria_changed"]
    assert ab["settings"]["base"]["min_effect"] == 0.3 and "by_base_criteria" not in cell, ab["settings"]
    # the round's length the option asked for: each arm's passes fill about AB_ROUND_SECONDS of the
    # thread's CPU time (at the default 0.5 s the same cell's arms took 0.45 to 0.55 s a round)
    assert AB_ROUND_SECONDS / 2 < float(np.median(cell["cell"]["base"])) < AB_ROUND_SECONDS * 2, cell
    assert cell["cell"]["reopened"] is True, cell  # two sessions of the tiny file: reopened each round
    assert "sessions opened afresh each round" in (again / "report" / "verdict.md").read_text()

    slower = run_ab(pytester, monkeypatch, slow, base, cache_dir, "-k", "speed_vs_base")
    assert slower.ret == pytest.ExitCode.TESTS_FAILED, slower.stdout.str()[-2500:]
    slower.stdout.fnmatch_lines(["*this PR against its base*",
                                 "*slower than the base: onnx:onnx/model.onnx *"])
    verdict = (slow / "report" / "verdict.md").read_text()
    assert "## encoder-gate: FAIL" in verdict and "**FAIL** (vs base)" in verdict


@pytest.mark.slow
def test_a_retrained_model_that_lost_accuracy_fails_and_is_named_as_the_model(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, default_model, tmp_path: Path,
        cache_dir: Path):
    """The PR's model, its classifier head damaged, against the base's: torch's accuracy row fails,
    naming the model; each side judged on the PR's texts."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    worse = tmp_path / "pr" / "model"
    model = AutoModelForSequenceClassification.from_pretrained(default_model.path)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        model.classifier.weight.add_(torch.randn(model.classifier.weight.shape, generator=generator) * 0.3)
    model.save_pretrained(worse)
    AutoTokenizer.from_pretrained(default_model.path).save_pretrained(worse)
    common = 'backends = ["torch"]\nf1-rule = "regression"\nlimit = 200\n'
    base = checkout(tmp_path / "base", 'model = "default"\n' + common)
    pr = checkout(tmp_path / "pr", 'model = "model"\n' + common)
    # under pytest-xdist, as a user's CI may run it: the worker's result reaches the controller (one
    # worker: the one test selected runs on one, and a second worker costs a process of imports)
    result = run_ab(pytester, monkeypatch, pr, base, cache_dir, "-k", "accuracy_vs_base", "-n", "1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2500:]
    result.stdout.fnmatch_lines(["*the PR's model (*) lost accuracy against the base's (default*"])
    report = json.loads((pr / "report" / "ab.json").read_text())
    assert report["accuracy"]["torch"]["passed"] is False and report["accuracy"]["torch"]["delta"] < 0
    moved = report["accuracy"]["torch"]["outputs"]  # how far the outputs moved from the base's, said
    assert moved["drift_max"] > moved["drift_mean"] > 0
    assert 0 < moved["changed_texts"] <= moved["texts"] == 200
    result.stdout.fnmatch_lines(["*torch *accuracy * FAIL; outputs moved from the base's by up to *, "
                                 "decisions changed on * of 200 texts*"])
    # where the base's predictions came from (the shared cache may hold them), and the verdict says so
    source = report["accuracy"]["torch"]["base_predictions"]
    assert source in ("cache", "computed")
    said = "The base's predictions of torch were read from the artifact cache"
    assert (said in (pr / "report" / "verdict.md").read_text()) == (source == "cache")
    # the same PR with its F1 margin loosened until it passes: it passes (its pyproject decides), and the
    # verdict says at its top what the base's own criteria decide (a trial's PR passed so, 0.026 F1
    # worse, the loosening a bullet among the notes)
    (pr / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "model"\n' + common + "f1-margin = 0.9\n"
                                       "per-label-min-support = 100000\n")
    loosened = run_ab(pytester, monkeypatch, pr, base, cache_dir, "-k", "accuracy_vs_base")
    assert loosened.ret == pytest.ExitCode.OK, loosened.stdout.str()[-2500:]
    by_base = json.loads((pr / "report" / "ab.json").read_text())["accuracy"]["torch"]["by_base_criteria"]
    assert by_base.startswith("F1 rule regression: "), by_base
    verdict = (pr / "report" / "verdict.md").read_text()
    assert verdict.startswith("## encoder-gate: PASS"), verdict
    assert f"**By the base's own criteria, it fails:**\n- torch: {by_base}\n" in verdict, verdict
    loosened.stdout.fnmatch_lines(["*encoder-gate verdict: PASS*", "By the base's own criteria, it fails:",
                                   f"  torch: {by_base}"])


def test_ab_noise_pairs_table_shows_each_session_policy_and_bad_arguments_say_why(capsys):
    """The pairs study's table: per session policy, the spread of A'/A across pairs and the
    outcomes; under it, what the A/B's own rule does with that file. One pair, or no minimum
    slowdown, is a clear error before anything is built."""
    from encoder_gate.commands.cli import main
    from encoder_gate.studies.ab_noise import format_pairs

    held = [{"ratio": r, "status": s, "rounds": 10, "reopened": False, "round_sd": 0.01}
            for r, s in ((0.95, "pass"), (1.06, "fail"), (1.0, "pass"))]
    fresh = [{"ratio": r, "status": "pass", "rounds": 10, "reopened": True, "round_sd": 0.03}
             for r in (0.99, 1.01, 1.0)]
    result = {"model": "tiny", "backend": "onnx-fp32", "batch_size": 8, "pairs": 3, "neighbour": False,
              "min_effect": 0.05, "texts": 64, "cells": {"held": held, "reopened": fresh},
              "gate": {"reopens": False, "file_bytes": 91_000_000}}
    table = format_pairs(result)
    assert table[-4] == "| held | 0.950, 1.060 | 5.5% | 1.0% | 1 of 3 | 0 | 10 |"
    assert table[-3].startswith("| reopened | 0.990, 1.010 | 1.0% | 3.0% | 0 of 3 |")
    assert table[-1] == ("The A/B's rule for it: held (a file of 91.0 MB; not a file on the CPU of at most "
                         "32 MiB)")
    result["gate"] = {"reopens": True, "file_bytes": 520_000}
    assert format_pairs(result)[-1] == "The A/B's rule for it: reopened (a file of 0.5 MB; at most 32 MiB)"
    assert main(["ab-noise", "--pairs", "1"]) == 1
    assert "--pairs must be at least 2" in capsys.readouterr().err
    assert main(["ab-noise", "--pairs", "3", "--min-slowdowns", ","]) == 1
    assert "names no minimum slowdown" in capsys.readouterr().err


def test_ab_noise_replays_the_rule_at_each_minimum_effect():
    """ab-noise's replay on recorded rounds: an A/A' pair never fails; a B 4% slower with 1% spread
    fails at a 3% minimum effect and does not at 5% (the point estimate must reach it)."""
    from encoder_gate.studies.ab_noise import format_result, replay

    rng = np.random.default_rng(0)
    a = np.exp(rng.normal(0, 0.01, 120))
    series = {"thread": {"A": list(a), "A2": list(a * np.exp(rng.normal(0, 0.01, 120))),
                         "B": list(a * np.exp(rng.normal(np.log(1.04), 0.01, 120)))}}
    rows = replay(series, [0.03, 0.05], max_rounds=40, trials=50, seed=0)
    at3, at5 = rows
    assert at3["aa"]["fail"] == 0 and at5["aa"]["fail"] == 0
    assert at3["ab"]["fail"] == 1.0 and at5["ab"]["fail"] == 0
    assert at3["measured_slowdown"] == pytest.approx(0.04, abs=0.005)
    table = format_result({"backend": "onnx-int8", "model": "m", "batch_size": 1, "texts": 8, "passes": 2,
                           "blocks": 3, "rounds": 120, "trials": 50, "max_rounds": 40, "neighbour": False,
                           "rates": rows})
    assert any(line.startswith("| thread | +3% |") for line in table)


# --- the base is resolved in its own checkout, and a check that compared nothing never passes ---


@pytest.mark.parametrize("what", ["model", "dataset", "onnx"])
def test_the_base_never_falls_back_to_the_prs_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what):
    """A relative path the base's checkout lacks but the PR's has (weights fetched for the PR only)
    is an error naming both: resolved in the PR's directory, the PR was compared with itself."""
    pr, base = tmp_path / "pr", tmp_path / "base"
    rel = {"model": "model", "dataset": "data/eval.jsonl", "onnx": "onnx/model.onnx"}[what]
    (pr / rel).parent.mkdir(parents=True)
    (pr / rel).mkdir() if what == "model" else (pr / rel).write_text("{}\n")
    base.mkdir()
    key = {"model": 'model = "model"', "dataset": 'dataset = "data/eval.jsonl"',
           "onnx": 'backends = ["torch", "onnx:onnx/model.onnx"]'}[what]
    (base / "pyproject.toml").write_text(f"[tool.encoder-gate]\n{key}\n")
    monkeypatch.chdir(pr)
    with pytest.raises(GateError, match=rf"the base's .* '{rel}' is not in the base's checkout .* but is in "
                                        r"the PR's .*compared with its own files"):
        base_config(base, GateConfig())
    # in the base's own checkout it resolves there, and a name found nowhere (a hub id) is left alone
    (base / rel).parent.mkdir(parents=True, exist_ok=True)
    (base / rel).mkdir() if what == "model" else (base / rel).write_text("{}\n")
    cfg = base_config(base, GateConfig())
    found = {"model": cfg.model, "dataset": cfg.dataset, "onnx": cfg.backends[-1]}[what]
    assert str((base / rel).resolve()) in found
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "someone/some-model"\n')
    assert base_config(base, GateConfig()).model == "someone/some-model"


def test_a_base_lacking_a_file_git_ignores_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user's `*.onnx` in .gitignore: the base's checkout lacks the file the PR's working tree has;
    the error says git ignores it, where and by which pattern (a user's walk, 2026-11-29)."""
    import subprocess

    pr, base = tmp_path / "pr", tmp_path / "base"
    (pr / "onnx").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=pr, check=True)
    (pr / ".gitignore").write_text("*.onnx\n")
    (pr / "onnx" / "model.onnx").write_text("{}\n")
    base.mkdir()
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nbackends = ["onnx:onnx/model.onnx"]\n')
    monkeypatch.chdir(pr)
    with pytest.raises(GateError, match=r"is not in the base's checkout .* but is in the PR's "
                                        r"\(.*model\.onnx; ignored by git: \*\.onnx in \.gitignore\)"):
        base_config(base, GateConfig())


@pytest.mark.slow
@pytest.mark.parametrize("side", ["unlabelled texts", "an encoder"])
def test_accuracy_vs_base_that_compared_nothing_fails_or_is_not_collected_and_says_why(
        pytester: pytest.Pytester, cache_dir: Path, tmp_path: Path, side: str):
    """Unlabelled texts give no F1 to compare: test_accuracy_vs_base fails, saying "not compared"
    and why (it passed having compared nothing), and is skipped with the reason under
    --gate-allow-skip. A feature-extraction encoder has no accuracy to compare with its base at
    all: the test is not collected, and the session says so as for every check that does not fit
    the model's task; its speed cells still run (here unchanged), so the session compared something."""
    model = "minilm-embed" if side == "an encoder" else "tiny"
    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text(f'[tool.encoder-gate]\nmodel = "{model}"\nbackends = ["torch"]\n')
    texts = tmp_path / "texts.txt"
    texts.write_text("I love this so much!\nwhat a terrible day\nok\n")
    pytester.makepyfile(test_vs_base="from encoder_gate.suite.ab import *  # noqa: F403\n")
    args = ["--gate-model", model, "--gate-backends", "torch", "--gate-base", str(base),
            "-k", "accuracy_vs_base" if side == "unlabelled texts" else "vs_base",
            "--gate-cache-dir", str(cache_dir), "--gate-limit", "40", "--gate-batch-sizes", "1",
            "--gate-report-dir", str(tmp_path / "report"), "-p", "no:cacheprovider", "-rs"]
    if side == "unlabelled texts":
        args.append(f"--gate-texts={texts}")
        why = "carry no gold labels"
        failed = pytester.runpytest(*args)
        assert failed.ret == pytest.ExitCode.TESTS_FAILED, failed.stdout.str()[-2000:]
        failed.stdout.fnmatch_lines([f"*not compared with the base: *{why}*"])
        allowed = pytester.runpytest(*args, "--gate-allow-skip")
        assert allowed.ret == pytest.ExitCode.OK, allowed.stdout.str()[-2000:]
        allowed.stdout.fnmatch_lines([f"SKIPPED*not compared with the base: *{why}*"])
        return
    left = pytester.runpytest(*args)
    assert left.ret == pytest.ExitCode.OK, left.stdout.str()[-2000:]
    left.stdout.fnmatch_lines(["*do not apply to this feature_extraction model, or are not configured, "
                               "and were left out*accuracy vs base: *is a feature-extraction encoder*"])
    left.assert_outcomes(passed=1)  # the speed cell; the accuracy test was not collected
    check = "cosine_mean"  # a waiver the PR grants itself is named, though no accuracy was compared
    pytester.makepyprojecttoml(
        f'[[tool.encoder-gate.waivers]]\nbackend = "torch"\ncheck = "{check}"\nowner = "@t"\n'
        'reason = "r"\nuntil = 2099-01-01\n')
    waived = pytester.runpytest(*args)
    assert waived.ret == pytest.ExitCode.OK, waived.stdout.str()[-2000:]
    # said at the verdict's top, where a PASS by bounds the PR set itself is read (it was a note among
    # the others, and in the terminal above the verdict's banner, not under it)
    added = f"the PR adds a waiver: torch {check} by @t until 2099-01-01 (r)"
    assert added in json.loads((tmp_path / "report" / "ab.json").read_text())["criteria_changed"]
    verdict = (tmp_path / "report" / "verdict.md").read_text()
    assert ("\n\n**Judged by criteria this PR changed** (its pyproject decides its own bounds):\n- "
            in verdict), verdict
    said = added.replace("@t", "`@t`")  # (a handle in verdict.md mentions nobody)
    assert verdict.count(said) == 1 and verdict.index(said) < verdict.index("| backend |"), verdict
    waived.stdout.fnmatch_lines(["*encoder-gate verdict: PASS*", "Judged by criteria this PR changed*",
                                 f"  {added}", "backend*verdict*"])


def test_what_the_pr_judges_on_is_named_where_it_differs_from_the_bases(tmp_path: Path):
    """Both sides run the PR session's limit and ab-budget (config.JUDGED_SCOPE): a PR whose pyproject
    sets one otherwise than its base's is named with both values (a PR judged on its first 6 texts
    judged its base there too: a broken model passed, walk 43), and none where they agree; max-tokens,
    what a side serves with, each side its own (config.SERVED_SCOPE)."""
    from encoder_gate.runtime.base import base_table_config, run_as_pr, scope_changes, served_own

    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\nmax-tokens = 128\n')
    pr = GateConfig(model="tiny", limit=6, max_tokens=64, ab_budget=5.0)
    own = base_table_config(base, pr)
    assert (own.limit, own.max_tokens, own.ab_budget) == (0, 128, 25.0)  # the base's, as its pyproject sets
    assert (run_as_pr(own, pr).limit, run_as_pr(own, pr).max_tokens) == (6, 64)  # run on the PR's
    # what a side serves with (max-tokens) is its own where the PR's pyproject set another: a PR that
    # cuts texts to 64 tokens is judged against its base fed its 128; a command line's is the session's
    assert served_own(own, pr) == ("max_tokens",)
    fed_own = run_as_pr(own, pr, served_own(own, pr))
    assert (fed_own.limit, fed_own.max_tokens) == (6, 128)
    chosen = GateConfig(model="tiny", limit=6, max_tokens=64)  # --gate-max-tokens 64: the session's, for both
    assert served_own(own, pr, {"max_tokens"}) == ()
    assert run_as_pr(own, chosen, served_own(own, pr, {"max_tokens"}), {"max_tokens"}).max_tokens == 64
    # --gate-thresholds: both sides at the session's (each otherwise serves its own)
    tuned = GateConfig(model="tiny", thresholds="tuned")
    assert run_as_pr(own, tuned, (), {"thresholds"}).thresholds == "tuned"
    assert run_as_pr(own, tuned).thresholds == "fixed"
    scope = {name: getattr(own, name) for name in ("limit", "max_tokens", "ab_budget")}
    assert scope_changes(scope, {"limit": 6, "max_tokens": 64, "ab_budget": 5.0}) == [
        "the PR changed what is judged: limit 6 texts (base: every text); both sides ran the PR's",
        "the PR changed what is judged: max-tokens 64 tokens a text (base: 128 tokens a text); both sides "
        "ran the PR's",
        "the PR changed what is judged: ab-budget 5 s a speed cell (base: 25 s a speed cell); both sides "
        "ran the PR's",
    ]
    assert scope_changes(scope, dict(scope)) == []
    assert scope_changes(scope, {**scope, "max_tokens": 64}, own=("max_tokens",)) == [
        "the PR changed what is judged: max-tokens 64 tokens a text (base: 128 tokens a text); each side was "
        "fed its own"]
    # the dataset's columns: a PR that drops its pair column feeds both sides one text a row (a trial's NLI
    # model, F1 0.82 to 0.16 on both, PASS: said only below the table, not among what the PR changed)
    paired = {**scope, "text_column": "premise", "pair_column": "hypothesis", "label_column": "label"}
    assert scope_changes(paired, {**paired, "pair_column": None}) == [
        "the PR changed what is judged: pair-column none (base: 'hypothesis'); both sides ran the PR's"]


@pytest.mark.slow
def test_a_pr_judged_where_the_base_scores_nothing_is_not_judged_by_its_f1_and_names_its_limit(
        pytester: pytest.Pytester, accuracy_vs_base: Any, tmp_path: Path, tiny: ModelSpec):
    """Where the base's F1 is 0 on the texts judged (here: both serve every label at 0.999, and the PR
    judges its first 8 texts), no PR can score below it: test_accuracy_vs_base does not call that a
    pass. ab.json's entry, the terminal ("not judged") and the verdict's vs-base cell and warnings say
    it could not fail, and the limit the PR's pyproject set beside its base's is named (walk 43: a
    broken model passed so, exit 0, "f1 0.0000 vs base 0.0000 ... pass")."""
    served = "".join(f'"{label}" = 0.999\n' for label in tiny.label_names)
    table = '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\n'
    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text(f"{table}[tool.encoder-gate.thresholds]\n{served}")
    pytester.makepyprojecttoml(f"{table}limit = 8\n[tool.encoder-gate.thresholds]\n{served}")
    report = tmp_path / "report"
    done = accuracy_vs_base(base, report)
    assert done.ret == pytest.ExitCode.OK, done.stdout.str()[-3000:]
    entry = json.loads((report / "ab.json").read_text())["accuracy"]["torch"]
    assert entry["passed"] and entry["base"] == 0.0, entry
    assert entry["not_judged"].startswith("micro F1 vs base not judged: the base's micro F1 is 0 on these 8 "
                                          "texts, and no PR scores below 0, so it could not fail"), entry
    assert "nor could the per-label check" in entry["not_judged"], entry
    done.stdout.fnmatch_lines(["*torch * accuracy f1 0.0000 vs base 0.0000, change *: not judged*",
                               "*against the base (torch): micro F1 vs base not judged: the base's micro F1 "
                               "is 0 on these 8 texts*",
                               "*the PR changed what is judged: limit 8 texts (base: every text)*"])
    verdict = (report / "verdict.md").read_text()
    assert "+0.0000 [+0.0000, +0.0000] not judged" in verdict, verdict
    assert "against the base (torch): micro F1 vs base not judged" in verdict, verdict


@pytest.mark.slow
def test_a_pr_that_cuts_its_texts_shorter_is_judged_against_its_base_fed_its_own(
        pytester: pytest.Pytester, accuracy_vs_base: Any, tmp_path: Path):
    """max-tokens is what a side serves with: a PR whose pyproject cuts texts to 16 tokens is judged
    against its base fed its own 512, so the outputs the cut moved are the PR's change (both had been
    fed the PR's 16, "outputs identical to the base's", walk 43), and the note says each side was fed
    its own."""
    table = '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\nlimit = 20\n'
    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text(table)
    pytester.makepyprojecttoml(f"{table}max-tokens = 16\n")
    report = tmp_path / "report"
    done = accuracy_vs_base(base, report)
    ab = json.loads((report / "ab.json").read_text())
    assert ab["accuracy"]["torch"]["outputs"]["drift_max"] > 0, (ab, done.stdout.str()[-2000:])
    assert ("the PR changed what is judged: max-tokens 16 tokens a text (base: 512 tokens a text); each side "
            "was fed its own") in ab["criteria_changed"], ab



def test_every_pass_criterion_the_pr_changed_is_named(tmp_path: Path):
    """The PR's pyproject sets its own pass criteria: each one that differs from the base's is named
    with both values (ab.json's notes, so the terminal and verdict.md), and none when equal."""
    from encoder_gate.runtime.base import criteria_changes

    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-int8"]\n'
        "[tool.encoder-gate.tolerances.onnx-int8]\ndrift_max = 0.25\n")
    same = GateConfig(model="tiny", backends=("torch", "onnx-int8"),
                      tolerances={"onnx-int8": {"drift_max": 0.25}})
    assert criteria_changes(base_config(base, same), same) == []
    pr = GateConfig(model="tiny", backends=("torch", "onnx-int8", "onnx-fp32"), min_slowdown=0.3,
                    f1_margin=0.05, f1_rule="regression", tolerances={"onnx-int8": {"drift_max": 0.9}})
    changes = criteria_changes(base_config(base, pr), pr)
    assert changes == [
        "the PR changed a pass criterion: backends ['torch', 'onnx-int8', 'onnx-fp32'] "
        "(base: ['torch', 'onnx-int8'])",
        "the PR changed a pass criterion: tolerance drift_max of onnx-int8 0.9 (base: 0.25)",
        "the PR changed a pass criterion: f1-rule 'regression' (base: 'point')",
        "the PR changed a pass criterion: f1-margin 0.05 (base: 0.01)",
        "the PR changed a pass criterion: min-slowdown 0.3 (base: 0.05)",
    ]
    # a criterion the base leaves unset (each backend's own per-label keep) is said so, not as None
    keep = replace(same, per_label_keep=0.5)
    assert criteria_changes(base_config(base, keep), keep) == [
        "the PR changed a pass criterion: per-label-keep 0.5 (base: unset (the default))"]
    # walk AF: a bound the base leaves at its default is named with that default, not as `{}`; an
    # INT8 recipe the PR changes is built its way on the PR's side only, and named
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\n'
                                         'backends = ["torch", "onnx-int8"]\n')
    pr = GateConfig(model="tiny", backends=("torch", "onnx-int8"), int8_weights="QInt8",
                    tolerances={"onnx-int8": {"drift_max": 0.9}, "onnx-int8~saturating": {"flip_rate": 0.05}})
    built = base_config(base, pr)
    assert built.int8_weights == "QUInt8"  # the base's own recipe, not the PR's
    assert criteria_changes(built, pr, "multi_label") == [
        "the PR changed a pass criterion: tolerance drift_max of onnx-int8 0.9 (base: 0.6, the default)",
        "the PR changed a pass criterion: tolerance flip_rate of onnx-int8~saturating 0.05 (base: 0.02, the "
        "default)",
        "the PR changed what is built: int8-weights 'QInt8' (base: 'QUInt8'); each side builds its own INT8 "
        "file, and they are compared",
    ]
    # a bound the other side inherits is named with its value (review); a recipe no backend is built by is
    # no change
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\n'
                                         'backends = ["torch", "onnx-int8"]\n'
                                         '[tool.encoder-gate.tolerances.onnx-int8]\ndrift_max = 0.3\n')
    pr = GateConfig(model="tiny", backends=("torch", "onnx-int8"),
                    tolerances={"onnx-int8": {"drift_max": 0.3}, "onnx-int8~saturating": {"drift_max": 0.5}})
    assert criteria_changes(base_config(base, pr), pr, "multi_label") == [
        "the PR changed a pass criterion: tolerance drift_max of onnx-int8~saturating 0.5 (base: 0.3)"]
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\n')
    fp32 = GateConfig(model="tiny", backends=("torch",), int8_weights="QInt8")
    assert criteria_changes(base_config(base, fp32), fp32) == []


def test_a_waiver_the_pr_adds_widens_or_extends_is_named_against_its_base(tmp_path: Path):
    """A waiver accepts a failure: a PR that grants itself one (adds it, accepts a worse value,
    drops its label, moves its end date later) is named in its verdict like a changed bound; the
    same waivers, or a narrower or shorter one, are not."""
    from datetime import date

    from encoder_gate.runtime.base import criteria_changes
    from encoder_gate.waivers import Waiver

    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-int8"]\n'
        '[[tool.encoder-gate.waivers]]\nbackend = "onnx-int8"\ncheck = "drift_max"\naccept = 0.4\n'
        'owner = "@ml"\nreason = "long texts, #123"\nuntil = 2026-12-31\n'
        '[[tool.encoder-gate.waivers]]\nbackend = "onnx-int8"\ncheck = "per_label"\nlabel = "grief"\n'
        'owner = "@ml"\nreason = "rare label"\nuntil = 2026-12-31\n')
    drift = Waiver("onnx-int8", "drift_max", "@ml", "long texts, #123", date(2026, 12, 31), accept=0.4)
    grief = Waiver("onnx-int8", "per_label", "@ml", "rare label", date(2026, 12, 31), label="grief")
    same = GateConfig(model="tiny", backends=("torch", "onnx-int8"), waivers=(drift, grief))
    assert criteria_changes(base_config(base, same), same) == []
    narrower = GateConfig(model="tiny", backends=("torch", "onnx-int8"),
                          waivers=(replace(drift, accept=0.3, until=date(2026, 12, 1)),))
    assert criteria_changes(base_config(base, narrower), narrower) == []
    pr = GateConfig(model="tiny", backends=("torch", "onnx-int8"), waivers=(
        replace(drift, accept=0.5, until=date(2027, 1, 31)),
        replace(grief, label=None),
        Waiver("onnx-int8", "speed", "@perf", "bug fix costs 8%", date(2026, 12, 15))))
    assert criteria_changes(base_config(base, pr), pr) == [
        "the PR widens a waiver: onnx-int8 drift_max: accept 0.5 (base: 0.4)",
        "the PR extends a waiver: onnx-int8 drift_max until 2027-01-31 (base: 2026-12-31)",
        "the PR widens a waiver: onnx-int8 per_label: every label (base: label grief)",
        "the PR adds a waiver: onnx-int8 speed by @perf until 2026-12-15 (bug fix costs 8%)",
    ]


def test_dependency_files_that_differ_between_base_and_pr_are_named(tmp_path: Path):
    """Added, removed and edited dependency files, and pyproject.toml where its dependency tables
    differ (not where only [tool.encoder-gate] does); nothing where they are the same."""
    from encoder_gate.runtime.dependency_files import changed_dependency_files, dependency_note

    base, pr = tmp_path / "base", tmp_path / "pr"
    for side in (base, pr):
        (side / "requirements").mkdir(parents=True)
        (side / "requirements" / "ci.txt").write_text("pytest\n")
        (side / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["onnxruntime==1.21.0"]\n'
                                             '[tool.encoder-gate]\nmodel = "tiny"\n')
    assert changed_dependency_files(pr, base) == [] and dependency_note([]) is None
    (pr / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["onnxruntime==1.21.0"]\n'
                                       '[tool.encoder-gate]\nmodel = "default"\n')
    assert changed_dependency_files(pr, base) == []  # the gate's own table is no dependency
    (pr / "pyproject.toml").unlink()
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\n')
    assert changed_dependency_files(pr, base) == []  # no file names no more than a file of none
    (pr / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["onnxruntime==1.31.1"]\n')
    (pr / "requirements.txt").write_text("onnxruntime==1.31.1\n")  # added
    (base / "uv.lock").write_text("version = 1\n")  # removed in the PR
    (pr / "requirements" / "ci.txt").write_text("pytest>=8\n")  # edited
    changed = changed_dependency_files(pr, base)
    assert changed == ["requirements.txt", "requirements/ci.txt", "uv.lock", "pyproject.toml's dependencies"]
    note = dependency_note(changed)
    assert note is not None and "requirements.txt, requirements/ci.txt" in note
    assert "not measured here" in note and "--gate-allow-other-machine" in note


def test_a_project_in_a_subdirectory_compares_its_repositorys_dependency_files_too(tmp_path: Path):
    """The project in models/gate of its repository, the requirements at the repository's top: the
    directories above the project, as deep as it sits (a --gate-base-ref worktree mirrors it)."""
    import subprocess

    from encoder_gate.runtime.dependency_files import changed_dependency_files
    from encoder_gate.runtime.worktree import depth_in_repository

    base, pr = tmp_path / "base", tmp_path / "pr"
    for side, pin in ((base, "1.21.0"), (pr, "1.31.1")):
        (side / "models" / "gate").mkdir(parents=True)
        (side / "requirements.txt").write_text(f"onnxruntime=={pin}\n")
    subprocess.run(["git", "init", "-q", str(pr)], check=True)
    assert depth_in_repository(pr / "models" / "gate") == 2 and depth_in_repository(pr) == 0
    assert depth_in_repository(tmp_path) == 0  # no repository
    assert changed_dependency_files(pr / "models" / "gate", base / "models" / "gate") == []
    assert changed_dependency_files(pr / "models" / "gate", base / "models" / "gate", 2) == [
        "../../requirements.txt"]


def test_a_pr_that_changes_its_dependencies_says_the_ab_did_not_measure_that(
        pytester: pytest.Pytester, cache_dir: Path, tmp_path: Path):
    """Base and PR run on the PR's environment: a PR whose requirements.txt differs from the base's
    (a dependency bump) is told, in ab.json's notes and the verdict, that the A/B measured the
    change's code, not the new libraries (an onnxruntime bump that cost INT8 a third passed so)."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\n')
    (base / "requirements.txt").write_text("onnxruntime==1.21.0\n")
    pytester.makefile(".txt", requirements="onnxruntime==1.31.1\n")
    pytester.makepyfile(test_vs_base="from encoder_gate.suite.ab import *  # noqa: F403\n")
    result = pytester.runpytest("--gate-model", "tiny", "--gate-backends", "torch", "--gate-base", str(base),
                                "-k", "vs_base", "--gate-cache-dir", str(cache_dir), "--gate-limit", "40",
                                "--gate-batch-sizes", "1", "--gate-report-dir", str(tmp_path / "report"),
                                "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    notes = json.loads((tmp_path / "report" / "ab.json").read_text())["notes"]
    assert [n for n in notes if n.startswith("this PR changes its dependencies (requirements.txt)")], notes
    assert "this PR changes its dependencies" in (tmp_path / "report" / "verdict.md").read_text()
