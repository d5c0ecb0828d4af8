"""The PR against its base in one session (`--gate-base`): the decision rule, sessions reopened each
round, the base's checkout; test_ab_sessions.py runs it end to end."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.config import GateConfig
from encoder_gate.decision import SpeedCell, decide_cells
from encoder_gate.errors import GateError
from encoder_gate.runtime.base import base_config
from encoder_gate.speed.ab import ABSettings, decide_cell, fits_budget, measure_cell, same_work
from encoder_gate.speed.rounds import Cell, passes_for
from encoder_gate.statistics import holm_levels

SETTINGS = ABSettings()


def test_unchanged_rounds_pass_and_a_clear_slowdown_fails():
    """Per-round log ratios around 0 pass (CI within 5%); around +6% with 2% spread fail."""
    rng = np.random.default_rng(0)
    same = decide_cell(rng.normal(0.0, 0.02, 20), SETTINGS, alpha=0.05)
    slower = decide_cell(rng.normal(np.log(1.06), 0.02, 20), SETTINGS, alpha=0.05)
    assert same.status == "pass" and same.ci[1] <= 1.05
    assert slower.status == "fail" and slower.p_value < 0.05 and slower.ratio > 1.04


def test_a_significant_slowdown_below_the_minimum_effect_does_not_fail():
    """The A/A that failed CI once: every round about 3% slower (p = 1/1024) is significant, but a
    3.2% slowdown is below the 5% minimum effect, so it is not a failure; 6% with the same spread is."""
    small = np.log(np.linspace(1.022, 1.045, 10))
    decision = decide_cell(small, SETTINGS, alpha=0.002)
    assert decision.p_value < 0.002 and decision.ratio < 1.05
    assert decision.status != "fail"
    assert decide_cell(small + np.log(1.06 / 1.032), SETTINGS, alpha=0.002).status == "fail"


def test_a_change_at_the_minimum_slowdown_does_not_ask_for_fewer_rounds_than_it_ran():
    """`PR/base 1.041 [1.033, 1.054] ... 20 rounds ...; about 5 rounds would decide` (walk F): with
    power enough, the change sits at the line; more rounds narrow the CI around it."""
    tight = decide_cell(np.random.default_rng(2).normal(np.log(1.045), 0.02, 20), SETTINGS, alpha=0.05)
    assert tight.status == "inconclusive" and tight.rounds_needed is not None and tight.rounds_needed <= 20
    said = tight.describe()
    assert "rounds would decide" not in said and "close to the minimum slowdown" in said


def test_noisy_rounds_are_inconclusive_and_say_how_many_rounds_would_decide():
    """A spread too wide for the rounds decides nothing, and the rounds it would need are given."""
    noisy = decide_cell(np.random.default_rng(0).normal(0.03, 0.15, 10), SETTINGS, alpha=0.05)
    assert noisy.status == "inconclusive"
    assert noisy.rounds_needed is not None and noisy.rounds_needed > 10
    assert "rounds would decide" in noisy.describe()


def test_holm_judges_the_smallest_p_at_alpha_over_m_and_stops_at_the_first_that_holds():
    """Holm's step-down: levels alpha/m, alpha/(m-1), ...; everything after the first retained p keeps
    a level it cannot pass."""
    levels = holm_levels([0.001, 0.2, 0.01, 0.04], 0.05)
    assert levels[0] == pytest.approx(0.0125) and levels[2] == pytest.approx(0.05 / 3)
    assert levels[3] <= 0.04 and levels[1] <= 0.2


def test_rounds_are_sized_by_time():
    """An arm's share of a round is about round_seconds: fast passes repeat, slow ones run once."""
    assert passes_for(0.01, 0.15) == 15 and passes_for(0.5, 0.15) == 1 and passes_for(0.0, 0.15) == 1
    cell = Cell(clock="thread", base=[1.0, 1.0], pr=[1.1, 1.2])
    assert np.allclose(cell.log_ratios, np.log([1.1, 1.2]))


@pytest.mark.parametrize("reopen_seconds, waits", [(0.0, 0.0), (0.05, 0.0), (0.0, 0.05)],
                         ids=["cheap", "costly", "held-up"])
def test_the_sides_given_are_reopened_before_every_round_whatever_a_reopen_costs(
        reopen_seconds: float, waits: float):
    """Each side measure_cell is given is reopened before every round (and once when the cell
    starts), whether a reopen costs nothing, 50 ms of work (2.5x a round's work), or 50 ms held up
    on the wall clock: which sides reopen is decided by their files (measure_runners), never by a
    timed reopen, whose cost a load on the other core inflates (the same cell held on one run and
    reopened on the next); the reopen counts in the round's wall time the budget sees."""
    import time

    def busy(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    seen = {"pr": 0, "base": 0}

    def side(name: str):
        def reopen() -> None:
            seen[name] += 1
            busy(reopen_seconds)
            time.sleep(waits)
        return reopen

    said: list[str] = []
    settings = ABSettings(round_seconds=0.02, looks=(10,))
    cell = measure_cell(lambda: busy(0.001), lambda: busy(0.001), clock="thread", settings=settings,
                        alpha=0.01, texts=1, reopen=[side("pr"), side("base")], progress=said.append)
    assert cell.rounds == 10 and cell.reopened and seen == {"pr": 10, "base": 10}
    assert "sessions opened afresh each round" in said[-1]
    if reopen_seconds or waits:  # 100 ms of reopens a round against 40 ms of passes
        assert float(said[0].split("about ")[1].split("s a round")[0]) >= 0.1, said[0]
    held = measure_cell(lambda: busy(0.001), lambda: busy(0.001), clock="thread", settings=settings,
                        alpha=0.01, texts=1)
    assert held.rounds == 10 and not held.reopened


def test_each_runner_that_can_is_reopened_and_warmed_up_on_its_own_shapes():
    """measure_runners reopens each side that has `reopen` before every round (and warms it on its
    own plan's shapes) when its file is small, on the CPU; a side without one (torch eager, a
    wrapper), a file over REOPEN_MAX_BYTES, a runner of unknown size or a session on a GPU keeps
    its one copy; `reopen="never"` keeps both and `reopen="always"` reopens a large file too."""
    from encoder_gate.speed.ab import REOPEN_MAX_BYTES, measure_runners
    from encoder_gate.speed.batches import BatchPlan

    class Fake:
        def __init__(self, reopens: bool, size_bytes: int | None = 500_000, device: str = "cpu") -> None:
            self.reopened, self.warmed = 0, []
            self.device = device
            if size_bytes is not None:
                self.size_bytes = size_bytes
            if reopens:
                self.reopen = self._reopen

        def _reopen(self) -> None:
            self.reopened += 1

        def predict(self, batch) -> None:
            pass

        def warmup(self, shapes) -> None:
            self.warmed.append(list(shapes))

    def plan(length: int) -> BatchPlan:
        ones = np.ones((2, length), np.int64)
        batch = {"input_ids": ones, "attention_mask": ones}
        return BatchPlan(batches=(batch,), indices=(np.arange(2),), dispatch="bucketed", batch_size=2)

    settings = ABSettings(round_seconds=0.001, looks=(10,))
    base, pr = Fake(True), Fake(True)
    cell = measure_runners(base, plan(5), pr, plan(7), clock="thread", settings=settings, alpha=0.01, texts=2)
    assert cell.reopened and base.reopened == pr.reopened == cell.rounds == 10
    assert base.warmed[0] == [(2, 5)] and pr.warmed[0] == [(2, 7)] and len(pr.warmed) == 11
    base, pr = Fake(False), Fake(True)
    cell = measure_runners(base, plan(5), pr, plan(5), clock="thread", settings=settings, alpha=0.01, texts=2)
    assert cell.reopened and pr.reopened == 10 and len(base.warmed) == 1
    base, pr = Fake(False), Fake(False)
    cell = measure_runners(base, plan(5), pr, plan(5), clock="thread", settings=settings, alpha=0.01, texts=2)
    assert not cell.reopened and len(base.warmed) == len(pr.warmed) == 1
    base, pr = Fake(True), Fake(True)  # held on purpose (ab-noise --pairs' held sessions)
    cell = measure_runners(base, plan(5), pr, plan(5), clock="thread", settings=settings, alpha=0.01, texts=2,
                           reopen="never")
    assert not cell.reopened and base.reopened == pr.reopened == 0
    base, pr = Fake(True, REOPEN_MAX_BYTES + 1), Fake(False)  # reopened on purpose, whatever its size
    cell = measure_runners(base, plan(5), pr, plan(5), clock="thread", settings=settings, alpha=0.01, texts=2,
                           reopen="always")
    assert cell.reopened and base.reopened == 10 and pr.reopened == 0
    # a 2-layer model with roberta-base's vocabulary (27.7 MB, its compute a small model's) is reopened:
    # held, its pairs spread by 2 to 3% beside a busy core and failed unchanged files (docs/noise.md)
    base, pr = Fake(True, 27_671_760), Fake(True, 27_671_760)
    cell = measure_runners(base, plan(5), pr, plan(5), clock="thread", settings=settings, alpha=0.01, texts=2)
    assert cell.reopened and base.reopened == pr.reopened == 10
    for held in (Fake(True, REOPEN_MAX_BYTES + 1), Fake(True, None), Fake(True, device="cuda")):
        small = Fake(True, REOPEN_MAX_BYTES)
        cell = measure_runners(held, plan(5), small, plan(5), clock="thread", settings=settings, alpha=0.01,
                               texts=2)
        assert cell.reopened and held.reopened == 0 and small.reopened == 10 and len(held.warmed) == 1


def test_an_onnx_runner_reopened_opens_a_new_session_with_the_same_outputs(tiny_ctx):
    """`reopen` gives the runner a fresh session on its file: other memory, the same outputs."""
    from encoder_gate.backends.base import reopener
    from encoder_gate.backends.onnx_backend import OnnxBackend

    runner = OnnxBackend("fp32").build(tiny_ctx)
    batch = {"input_ids": np.array([[0, 31, 42, 2], [0, 7, 2, 1]]),
             "attention_mask": np.array([[1, 1, 1, 1], [1, 1, 1, 0]])}
    before, session = runner.predict(batch), runner._session
    reopen = reopener(runner)
    assert reopen is not None and reopener(object()) is None
    reopen()
    assert runner._session is not session and runner._session is not None
    np.testing.assert_array_equal(runner.predict(batch), before)
    runner.close()
    reopen()  # a closed runner stays closed
    assert runner._session is None


def test_an_unchanged_cell_is_no_test_and_stays_out_of_holms_family():
    """A cell not timed (same artifact on both sides) passes as unchanged, and the timed cell is
    judged at alpha itself, as the only member of the family."""
    slower = Cell(clock="thread", base=[1.0] * 10, pr=list(np.linspace(1.08, 1.12, 10)))
    cells = [SpeedCell("onnx-int8", "bs1", Cell(clock="thread", unchanged="the same artifact (onnx:ab12)")),
             SpeedCell("onnx-fp32", "bs1", slower)]
    same, slow = decide_cells(cells, SETTINGS)
    assert same.status == "unchanged" and same.rounds == 0 and "not timed" in same.describe()
    assert slow.status == "fail" and slow.alpha == pytest.approx(SETTINGS.per_look(SETTINGS.alpha))


def test_a_cell_stops_at_the_last_look_its_pace_reaches_within_the_budget():
    """Budget 25 s, looks 10/20/40: 10 rounds in 11 s go on to 20 (22 s projected); 10 rounds in
    14 s stop (28 s projected); the last look ends the cell whatever the time."""
    looks = (10, 20, 40)
    assert fits_budget(10, 11.0, looks, 25.0) and not fits_budget(10, 14.0, looks, 25.0)
    assert not fits_budget(20, 22.0, looks, 25.0) and not fits_budget(40, 1.0, looks, 25.0)


def test_a_cell_whose_first_look_cannot_fit_its_budget_says_so_before_it_starts_and_is_not_timed():
    """Arms of 20 ms a pass (wall clock), first look at 10 rounds: about 0.4 s before the first look.
    With a budget of 0.2 s the cell is not timed, the estimate and the budget to ask for are said
    before anything runs, and the session's decision is inconclusive saying why; with 5 s it runs
    and the estimate is said first."""
    import time

    def arm() -> None:
        time.sleep(0.02)

    said: list[str] = []
    tight = ABSettings(budget_seconds=0.2, round_seconds=0.01)
    cell = measure_cell(arm, arm, clock="wall", settings=tight, alpha=0.01, texts=8, progress=said.append)
    assert cell.rounds == 0 and cell.stopped is not None
    assert said[0].startswith("not timed: its first look (10 rounds of about ")
    assert "over its budget of 0.2s (raise --gate-ab-budget to" in said[0]
    [decision] = decide_cells([SpeedCell("onnx-fp32", "bs8", cell)], tight)
    assert decision.status == "inconclusive" and "not timed: its first look" in decision.describe()
    roomy = dataclasses.replace(tight, budget_seconds=5.0)
    said.clear()
    ran = measure_cell(arm, arm, clock="wall", settings=roomy, alpha=0.01, texts=8, progress=said.append)
    assert ran.rounds >= 10 and ran.stopped is None and said[0].startswith("about ")


def test_a_cell_the_machine_slows_past_its_budget_stops_there_and_decides_nothing():
    """The arms calibrate at 10 ms and then take 60 ms (a neighbour arrived): the budget, which the
    estimate fitted, runs out before the first look; the cell stops within it (not at the look) and
    is inconclusive however its rounds look, since a cell too short to fail must not pass."""
    import time

    calls = {"n": 0}

    def arm() -> None:
        calls["n"] += 1
        time.sleep(0.01 if calls["n"] <= 2 else 0.06)

    settings = ABSettings(budget_seconds=0.5, round_seconds=0.005)
    began = time.perf_counter()
    cell = measure_cell(arm, arm, clock="wall", settings=settings, alpha=0.01, texts=8)
    assert time.perf_counter() - began < 0.5 + 0.5  # the budget, and the round that crossed it
    assert 0 < cell.rounds < 10 and "ran out before its first look at 10 rounds" in (cell.stopped or "")
    [decision] = decide_cells([SpeedCell("onnx-fp32", "bs8", cell)], settings)
    assert decision.status == "inconclusive" and "stopped after" in decision.describe()


def test_a_vs_base_cell_times_texts_across_the_range_of_lengths_not_the_first_few():
    """A pool whose first texts are all short: the cell's texts, sized so a pass fits a round's
    share, are drawn across the lengths in proportion (speed.sizing.sized_texts), one batch at least."""
    from encoder_gate.speed.sizing import TextPool, sized_texts

    lengths = tuple([8] * 40 + [64] * 40 + [256] * 40)  # short first, as many datasets are
    pool = TextPool(tuple(f"t{i}" for i in range(len(lengths))), lengths)

    def probe(indices: list[int]) -> float:  # a pass costs its tokens
        return sum(lengths[i] for i in indices) * 1e-4

    chosen = sized_texts(pool, 4, probe, round_seconds=0.5)
    got = sorted(lengths[int(t[1:])] for t in chosen)
    assert len(chosen) % 4 == 0 and sum(got) * 1e-4 <= 0.5 and len(chosen) < len(lengths)
    assert {8, 64, 256} <= set(got)  # short, middling and long, not the first few short ones
    assert len(sized_texts(pool, 4, lambda idx: 10.0, round_seconds=0.05)) == 4  # one batch at least


def test_the_first_look_has_the_rounds_a_wilcoxon_test_needs_to_fail_at_its_level():
    """The exact one-sided Wilcoxon p of n rounds is at least 2**-n: one cell at alpha 0.01 can
    fail at 10 rounds; a cell of ten (Holm's strictest level, 0.001) needs 12, so its first look
    moves there; at every first look, rounds all slower do reach the level."""
    from scipy import stats

    assert SETTINGS.looks_for(0.01) == (10, 20, 40)
    assert SETTINGS.looks_for(0.001) == (12, 20, 40)
    for alpha in (0.01, 0.001, 0.0001):
        first = SETTINGS.looks_for(alpha)[0]
        all_slower = np.linspace(0.05, 0.1, first)
        assert stats.wilcoxon(all_slower, alternative="greater").pvalue < SETTINGS.per_look(alpha)
        if first > SETTINGS.looks[0]:  # raised: one round fewer could not have failed
            fewer = np.linspace(0.05, 0.1, first - 1)
            assert stats.wilcoxon(fewer, alternative="greater").pvalue >= SETTINGS.per_look(alpha)


def test_a_missing_base_or_one_without_a_table_is_a_clear_error(tmp_path: Path):
    """--gate-base names what is wrong: no directory, no pyproject.toml, no [tool.encoder-gate]."""
    with pytest.raises(GateError, match="is not a directory"):
        base_config(tmp_path / "nope", GateConfig())
    with pytest.raises(GateError, match=r"has no pyproject\.toml"):
        base_config(tmp_path, GateConfig())
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(GateError, match=r"no \[tool.encoder-gate\] table"):
        base_config(tmp_path, GateConfig())
    # a ref's worktree is a temporary directory the user never gave: the ref is named, not it
    with pytest.raises(GateError, match=r"^--gate-base-ref pre-init: its pyproject\.toml has no \[tool"):
        base_config(tmp_path, GateConfig(base_ref="pre-init"))
    (tmp_path / "pyproject.toml").unlink()
    with pytest.raises(GateError, match=r"^--gate-base-ref pre-init: that commit has no pyproject\.toml "
                                        r"\(it predates `encoder-gate init`\?\), so there is nothing to "
                                        r"compare with$"):
        base_config(tmp_path, GateConfig(base_ref="pre-init"))
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nf1-rule = "point"\nf1_rule = "point"\n')
    with pytest.raises(GateError, match=r"^the base's \[tool.encoder-gate\] \(.*pyproject\.toml\): "
                                        r"f1-rule and f1_rule .* given twice"):
        base_config(tmp_path, GateConfig())


def test_a_model_and_dataset_chosen_on_the_command_line_are_the_bases_too(tmp_path: Path, monkeypatch):
    """A repository's second model, gated by `--gate-model services/topics/model --gate-dataset ...
    --gate-label-column topics`: its base was the base's pyproject model (the first one), so a README PR
    failed "labels differ" and the model's damage was never set against its base. The base gates the same
    path of its own checkout, reads the dataset there (the PR's where it has none) and the command line's
    columns; a model the base lacks is one line; a builtin or a path outside the project is both sides'."""
    from encoder_gate.runtime.base import ChosenFiles, run_as_pr

    table = ('[tool.encoder-gate]\nmodel = "services/sentiment/model"\n'
             'dataset = "services/sentiment/data.jsonl"\nlabel-column = "label"\n')
    for side in ("base", "pr"):
        for part in ("sentiment", "topics"):
            (tmp_path / side / "services" / part / "model").mkdir(parents=True)
        (tmp_path / side / "pyproject.toml").write_text(table)
        (tmp_path / side / "services" / "sentiment" / "data.jsonl").write_text("{}\n")
    (tmp_path / "pr" / "services" / "topics" / "data.csv").write_text("text,topics\n")  # new in the PR
    base, pr_root = tmp_path / "base", tmp_path / "pr"
    monkeypatch.chdir(pr_root)
    chosen = ChosenFiles(model="services/topics/model", dataset="services/topics/data.csv", project=pr_root)
    pr = GateConfig(model="services/topics/model", dataset="services/topics/data.csv", label_column="topics")
    cfg = base_config(base, pr, chosen=chosen)
    assert cfg.model == str((base / "services/topics/model").resolve())
    assert cfg.dataset == str((pr_root / "services/topics/data.csv").resolve())  # the base has none
    assert base_config(base, pr).model == str((base / "services/sentiment/model").resolve())  # as before
    assert run_as_pr(cfg, pr, chosen={"label_column"}).label_column == "topics"  # the command line's
    assert run_as_pr(cfg, pr).label_column == "label"
    shutil.rmtree(base / "services" / "topics")
    with pytest.raises(GateError, match=r"^--gate-model services/topics/model: the base's checkout .* has no "
                                        r"services/topics/model, so this model has nothing of the base's"):
        base_config(base, pr, chosen=chosen)
    for given in ("tiny", str(tmp_path)):  # a builtin; a directory outside the project
        assert base_config(base, pr, chosen=ChosenFiles(given, None, pr_root)).model == given


def test_backends_chosen_on_the_command_line_narrow_the_base_alike(tmp_path: Path):
    """`--gate-backends torch,onnx-int8` cut the PR to two backends and left the base at five: the
    verdict then named a 'pass criterion the PR changed' the PR never touched (walk H)."""
    from encoder_gate.runtime.base import criteria_changes

    (tmp_path / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "torch-compile", "onnx-int8"]\n')
    pr = GateConfig(model="tiny", backends=("torch", "onnx-int8"))
    assert base_config(tmp_path, pr).backends == ("torch", "torch-compile", "onnx-int8")
    narrowed = base_config(tmp_path, pr, narrowed=True)
    assert narrowed.backends == ("torch", "onnx-int8")
    assert not any("backends" in line for line in criteria_changes(narrowed, pr))
    # walk AF: what the PR's pyproject adds is named from the declared lists, whatever the session ran
    declared = (("torch", "torch-compile", "onnx-int8"), ("torch", "torch-compile", "onnx-int8", "onnx-fp16"))
    assert criteria_changes(narrowed, pr, declared=declared) == [
        "the PR changed a pass criterion: backends ['torch', 'torch-compile', 'onnx-int8', 'onnx-fp16'] "
        "(base: ['torch', 'torch-compile', 'onnx-int8'])"]
    assert criteria_changes(narrowed, pr, declared=(declared[0], declared[0])) == []


def test_a_gate_base_that_names_a_git_ref_says_to_pass_it_as_gate_base_ref(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`--gate-base master` in a repository with a master branch is a ref, not a directory: the
    error says --gate-base-ref master; a name that is neither says what --gate-base takes."""
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "master"], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                                                   "--allow-empty", "-m", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    with pytest.raises(GateError, match=r"^--gate-base master is not a directory, but it names a commit of "
                                        r"this repository: --gate-base-ref master checks"):
        base_config((repo / "master").resolve(), GateConfig())
    with pytest.raises(GateError, match=r"is not a directory: pass a checkout .* or a git ref with "
                                        r"--gate-base-ref$"):
        base_config((repo / "nope").resolve(), GateConfig())


def test_the_base_resolves_its_paths_in_its_own_checkout(tmp_path: Path):
    """The base's model directory and onnx: files are read in its checkout; how things run is the PR's."""
    (tmp_path / "models" / "clf").mkdir(parents=True)
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nmodel = "models/clf"\nbackends = ["torch", "onnx:onnx/model.onnx@int8"]\n'
        "threads = 4\n")
    cfg = base_config(tmp_path, GateConfig(threads=1, batch_sizes=(1,)))
    assert cfg.model == str((tmp_path / "models" / "clf").resolve())
    assert cfg.backends == ("torch", f"onnx:{(tmp_path / 'onnx' / 'model.onnx').resolve()}@int8")
    assert cfg.threads == 1 and cfg.batch_sizes == (1,)


def test_a_base_of_another_architecture_is_named_in_the_notes(tmp_path: Path, cache_dir: Path):
    """A BERT base and a RoBERTa PR were compared (speed failed) with no line saying the model type and
    tokenizer changed."""
    from encoder_gate.runtime.base import BaseSide
    from encoder_gate.runtime.session import GateSession

    pr = GateSession(GateConfig(model="tiny", cache_dir=cache_dir))
    side = BaseSide(GateSession(GateConfig(model="tiny-bert", cache_dir=cache_dir)), pr, tmp_path)
    assert side.model_note == ("the PR's model is a roberta (tiny), the base's a bert (tiny-bert): another "
                               "architecture, another tokenizer, each judged on the same texts")
    same = BaseSide(GateSession(GateConfig(model="tiny", cache_dir=cache_dir)), pr, tmp_path)
    assert same.model_note is None
    # another model type over the same vocabulary files: not "another tokenizer" (a trial's BERT to
    # DistilBERT PR kept its vocab.txt byte for byte)
    shutil.copytree(pr.model.path, tmp_path / "bert")
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    (tmp_path / "bert" / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    at_main = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, base_ref="main"))
    relabelled = BaseSide(GateSession(GateConfig(model=str(tmp_path / "bert"), cache_dir=cache_dir)), at_main,
                          tmp_path)
    assert relabelled.model_note is not None
    assert relabelled.model_note.endswith("another architecture, the same tokenizer vocabulary, each judged "
                                          "on the same texts"), relabelled.model_note
    # the base's model by its path in its checkout and the ref (a worktree's path in /tmp named it)
    assert "the base's a bert (bert at main)" in relabelled.model_note, relabelled.model_note


def test_an_unchanged_backend_shares_the_prs_runner_and_the_base_loads_no_copy(tmp_path: Path,
                                                                            cache_dir: Path):
    """The base's backend whose artifact is the PR's (same model files, same ONNX bytes, same
    libraries): the base side hands back the PR's runner and never loads its own; a base with
    another ONNX file loads its own."""
    from encoder_gate.runtime.base import BaseSide
    from encoder_gate.runtime.session import GateSession

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "pyproject.toml").write_text(
        f'[tool.encoder-gate]\nmodel = "tiny"\ncache-dir = "{cache_dir}"\n'
        'backends = ["torch", "onnx-fp32", "onnx-int8"]\n')
    backends = ("torch", "onnx-fp32", "onnx-int8")
    pr = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, backends=backends, limit=16))
    side = BaseSide.open(tmp_path / "base", pr)
    for name in ("torch", "onnx-fp32"):
        runner = pr.runner(name)
        assert side.shared_runner(name, runner) is runner
    assert side.session.records == {}  # nothing of the base's was loaded
    assert side.unchanged("onnx-fp32")  # its predictions on the PR's texts are the PR's own
    assert np.array_equal(side.predictions("onnx-fp32"), pr.predictions("onnx-fp32"))
    assert side.session.records == {}
    int8 = pr.runner("onnx-int8")
    int8.prediction_identity = lambda: {"artifact": "onnx:another-file"}  # type: ignore[method-assign]
    assert side.shared_runner("onnx-int8", int8) is None
    assert side.shared_runner("onnx-fp32", object()) is None  # a runner with no identity: load the base's


def test_against_the_base_torch_compares_two_fp32_models_by_fp32s_bounds(tmp_path: Path, cache_dir: Path):
    """Torch's own column is exact (the reference against itself: one lost decision fails); against
    the base it compares two models computed in FP32, so a retrained model that loses one
    decision of a well-supported label (F1 1.0 -> 0.98, within FP32's per-label keep, McNemar
    p = 1) passes, and one that loses a third of that label's positives fails, naming it."""
    from encoder_gate.runtime.base import BaseSide
    from encoder_gate.runtime.session import GateSession

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "pyproject.toml").write_text(
        f'[tool.encoder-gate]\nmodel = "tiny"\ncache-dir = "{cache_dir}"\nbackends = ["torch"]\n'
        'f1-rule = "regression"\n')
    pr = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, backends=("torch",), limit=600,
                                f1_rule="regression"))
    assert pr.bounds("torch").per_label_keep == 1.0
    assert pr.bounds("torch", against_base=True) == pr.bounds("onnx-fp32")
    side = BaseSide.open(tmp_path / "base", pr)
    gold = pr.gold
    assert gold is not None
    j = int(gold.sum(axis=0).argmax())  # the best-supported label
    positives = np.flatnonzero(gold[:, j])
    base_probs = np.where(gold, 0.9, 0.1)  # the base: every decision right
    side.predictions = lambda name: base_probs  # type: ignore[method-assign]

    def pr_losing(n: int) -> np.ndarray:
        probs = base_probs.copy()
        probs[positives[:n], j] = 0.1
        return probs

    pr.predictions = lambda name, max_tokens=None: pr_losing(1)  # type: ignore[method-assign]
    assert side.accuracy_failure("torch") is None
    side._evaluations.clear()
    pr.predictions = lambda name, max_tokens=None: pr_losing(len(positives) // 3)  # type: ignore[method-assign]
    failure = side.accuracy_failure("torch")
    assert failure is not None and f"label '{pr.model.label_names[j]}'" in failure
    # walk AG: a label that now fires on 16 texts that are not it, its F1 rule holding: the failure
    # names the per-label loss, not "lost accuracy" beside a micro F1 that held, and so does its cell
    side._evaluations.clear()
    negatives = np.flatnonzero(gold[:, j] == 0)[:16]

    def pr_firing() -> np.ndarray:
        probs = base_probs.copy()
        probs[negatives, j] = 0.9
        return probs

    pr.predictions = lambda name, max_tokens=None: pr_firing()  # type: ignore[method-assign]
    label = pr.model.label_names[j]
    assert side.accuracy_failed_by("torch") == [f"per-label: {label}"]
    failure = side.accuracy_failure("torch")
    said = rf"lost decisions on {label} \(F1 1\.00 -> 0\.\d\d\), per label \(its F1 rule held\) against "
    assert failure is not None and re.search(said, failure) and ": overall, micro F1 " in failure, failure
    assert "F1 rule regression: holds. The per-label check fails" in failure
    # a PR that fires no label at all: the F1 rule fails and the per-label check too, and the failure
    # never says the rule held (a user's broken PR read "...worse by more than the margin" and then
    # "F1 rule regression: holds")
    side._evaluations.clear()
    pr.predictions = lambda name, max_tokens=None: np.full_like(base_probs, 0.1)  # type: ignore[method-assign]
    failure = side.accuracy_failure("torch")
    assert failure is not None and "lies entirely below" in failure, failure
    assert "holds" not in failure and "  The per-label check fails too: each label below" in failure, failure
    assert "F1 fell below 0.95 x the base's" in failure, failure


def test_a_wrong_gate_base_is_a_usage_error_before_anything_is_built(pytester: pytest.Pytester):
    result = pytester.runpytest("--gate-base", str(pytester.path / "no-such-checkout"),
                                "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*encoder-gate: --gate-base * is not a directory*"])
    pytester.makepyprojecttoml('[tool.encoder-gate]\nmodel = "tiny"\n')
    itself = pytester.runpytest("--gate-base", ".", "-p", "no:cacheprovider")  # every row "unchanged", PASS
    assert itself.ret == pytest.ExitCode.USAGE_ERROR
    itself.stderr.fnmatch_lines(["*encoder-gate: --gate-base * is this checkout itself, so the PR would be "
                                 "compared with itself*"])


def test_a_base_session_that_compared_nothing_fails_and_says_why(pytester: pytest.Pytester, cache_dir: Path,
                                                                  tmp_path: Path):
    """--gate-base whose vs-base tests all skipped (no GPU), or whose base shares no backend with
    the PR, compared nothing: the session fails and says why, unless --gate-allow-skip."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the vs-base tests would not skip")
    base = tmp_path / "base"
    base.mkdir()
    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch"]\n')
    pytester.makepyfile(test_vs_base="from encoder_gate.suite.ab import *  # noqa: F403\n")
    args = ["--gate-model", "tiny", "--gate-backends", "torch", "--gate-base", str(base),
            "-k", "accuracy_vs_base", "--gate-cache-dir", str(cache_dir),
            "--gate-report-dir", str(tmp_path / "report"), "-p", "no:cacheprovider"]
    skipped = pytester.runpytest(*args, "--gate-device", "cuda")
    assert skipped.ret == pytest.ExitCode.TESTS_FAILED, skipped.stdout.str()[-2000:]
    skipped.stdout.fnmatch_lines(["*nothing was compared with the base*",
                                  "*every vs-base test was skipped*", "*torch: *cuda*"])
    allowed = pytester.runpytest(*args, "--gate-device", "cuda", "--gate-allow-skip")
    assert allowed.ret == pytest.ExitCode.OK, allowed.stdout.str()[-2000:]

    (base / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["onnx-int8"]\n')
    disjoint = pytester.runpytest(*args)
    assert disjoint.ret == pytest.ExitCode.TESTS_FAILED, disjoint.stdout.str()[-2000:]
    disjoint.stdout.fnmatch_lines(
        ["*the base (onnx-int8) and this PR (torch) configure no backend in common*"])


def test_the_same_file_on_the_same_batches_is_the_same_work_and_anything_else_is_not(tiny_ctx,
                                                                                     tmp_path: Path):
    """Two runners of one ONNX file fed equal batches do the same work; another file, other
    batches, or a runner whose predict was replaced (no identity to trust) do not."""
    import onnx

    from encoder_gate.backends.onnx_backend import OnnxBackend

    fp32 = OnnxBackend("fp32")
    a, b = fp32.build(tiny_ctx), fp32.build(tiny_ctx)
    batches = [{"input_ids": np.ones((2, 5), np.int64), "attention_mask": np.ones((2, 5), np.int64)}]
    other = [{"input_ids": np.ones((2, 6), np.int64), "attention_mask": np.ones((2, 6), np.int64)}]
    reason = same_work(a, b, batches, [dict(x) for x in batches])
    assert reason is not None and reason.startswith("the same artifact (onnx:")
    assert same_work(a, b, batches, other) is None

    resaved = onnx.load(str(a.artifact))
    resaved.doc_string = "re-exported"
    onnx.save(resaved, str(tmp_path / "model.onnx"))
    from encoder_gate.backends.registry import parse_backend

    c = parse_backend(f"onnx:{tmp_path / 'model.onnx'}").build(tiny_ctx)
    assert same_work(a, c, batches, batches) is None
    b.predict = lambda batch: a.predict(batch)  # type: ignore[method-assign]
    assert same_work(a, b, batches, batches) is None


def test_a_speed_cell_the_prs_loosened_min_slowdown_passes_says_what_the_bases_decides():
    """A PR that raises its own min-slowdown passes a 12%-slower cell by it; the cell says what the
    base's own min-slowdown decides (ab.json's by_base_criteria, which the verdict puts at its top),
    and a merge of shards judges its merged cells by the base's settings too. Equal settings: nothing."""
    from encoder_gate.decision import SpeedCell
    from encoder_gate.results.ab import speed_entries
    from encoder_gate.speed.rounds import Cell

    rng = np.random.default_rng(0)
    base = list(1.0 + rng.normal(0, 0.01, 20))
    cell = Cell(clock="thread", texts=64, base=base, pr=[b * 1.12 * (1 + rng.normal(0, 0.01)) for b in base])
    cells = [SpeedCell("onnx-int8", "model-normal-bs8-bucketed", cell)]
    loosened, strict = ABSettings(min_effect=0.3), ABSettings(min_effect=0.05)
    [entry] = speed_entries(cells, loosened, strict)
    assert entry["fails"] is False and entry["by_base_criteria"].endswith(
        "(the base's min-slowdown 0.05, inconclusive = warn)"), entry
    assert "by_base_criteria" not in speed_entries(cells, loosened, loosened)[0]
    assert speed_entries(cells, strict, loosened)[0]["fails"] is True  # (failing by the PR's: said so)


def test_what_the_bases_own_criteria_fail_is_listed_by_backend_accuracy_then_speed():
    """The verdict's top lists each accuracy row and speed cell of ab.json that the base's own criteria
    would fail, by backend and cell, under the criteria the PR changed."""
    from types import SimpleNamespace

    from encoder_gate.documents import AB_FILE
    from encoder_gate.reporting.ab import criteria_changed

    ab = {"criteria_changed": ["the PR changed a pass criterion: min-slowdown 0.3 (base: 0.05)"],
          "accuracy": {"torch": {"by_base_criteria": None},
                       "onnx-int8": {"by_base_criteria": "F1 rule point: x"}},
          "speed": [{"backend": "onnx-int8", "case": "model/bs8", "by_base_criteria": "1.12x slower (...)"},
                    {"backend": "onnx-fp32", "case": "model/bs8"}]}
    verdict = SimpleNamespace(judged={AB_FILE: ab})
    assert criteria_changed(verdict) == (  # type: ignore[arg-type]
        ["the PR changed a pass criterion: min-slowdown 0.3 (base: 0.05)"],
        ["onnx-int8: F1 rule point: x", "onnx-int8 speed model/bs8: 1.12x slower (...)"])
