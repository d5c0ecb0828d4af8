"""The verdict's notes on what its checks covered (the task as read, texts cut or limited, no gold
labels, labels the per-label check judged), from the hand-made documents of test_verdict."""

from __future__ import annotations

from typing import Any

from encoder_gate.accuracy.checks import NO_GOLD
from encoder_gate.publish import build_verdict, render_verdict
from test_verdict import accuracy_doc, all_pass, row, speedups_doc, table_rows  # the verdict tests' documents


def test_how_the_task_was_read_is_said_when_config_json_did_not_say():
    doc = accuracy_doc(all_pass())
    doc["model"]["task_note"] = "config.json names no problem_type: read as transformers reads it"
    report = build_verdict(doc, speedups_doc())
    assert "- config.json names no problem_type: read as transformers reads it" in report.markdown
    assert report.caveats[0] == doc["model"]["task_note"]


def test_texts_longer_than_the_model_is_fed_are_counted_in_the_verdict_and_the_terminal():
    doc = accuracy_doc(all_pass())
    doc["dataset"]["cut"] = {"texts": 1, "max_tokens": 128}
    report = build_verdict(doc, None)
    said = "1 of 40 evaluation texts is longer than the 128 tokens the model is fed"
    assert f"- {said}" in report.markdown and any(c.startswith(said) for c in report.caveats)
    assert "every backend judged it cut to 128" in report.markdown  # one text: it, not them
    # a long-context model (8192 positions): the 512 are encoder-gate's, not the model's (a ModernBERT's
    # verdict said "the 512 tokens the model is fed")
    doc["dataset"]["cut"] = {"texts": 3, "max_tokens": 512, "model_takes": 8192}
    said = ("3 of 40 evaluation texts are longer than the 512 tokens encoder-gate feeds a model (this one "
            "takes 8192: no backend was judged beyond 512; max-tokens = 8192 judges them whole)")
    assert f"- {said}" in build_verdict(doc, None).markdown
    from types import SimpleNamespace

    from encoder_gate.runtime.inference import model_limit

    assert [model_limit(SimpleNamespace(model_max_length=n)) for n in (128, 512, 8192, int(1e30))] == [
        None, None, 8192, None]


def test_a_limited_evaluation_set_is_said_in_the_verdict_and_the_terminal():
    """Walk AB: `limit = 3` passed on 3 texts, and only verdict.md's model line said how many."""
    doc = accuracy_doc(all_pass())
    assert not any("--gate-limit" in c for c in build_verdict(doc, None).caveats)
    doc["provenance"]["dataset"]["limit"] = 40
    report = build_verdict(doc, None)
    said = "accuracy judged on the first 40 texts of `bundled` only (limit 40, --gate-limit)"
    assert f"- {said}" in report.markdown and said in report.caveats
    doc["provenance"]["dataset"]["limit"] = 5000  # more than the set holds: it cut none (review AM)
    assert not any("--gate-limit" in c for c in build_verdict(doc, None).caveats)


def test_unlabelled_texts_say_f1_was_skipped():
    """`labelled: false` prints the F1-skipped sentence; the parity checks still decide."""
    rows = {name: row(labelled=False) for name in ("torch", "onnx-fp32")}
    text = render_verdict(accuracy_doc(rows, configured=["torch", "onnx-fp32"], labelled=False), None)
    assert "F1 skipped: there are no gold labels (unlabelled --gate-texts); every parity check ran." in text
    assert text.startswith("## encoder-gate: PASS")
    assert table_rows(text)["onnx-fp32"][1] == ""  # no F1 cell
    labelled = render_verdict(accuracy_doc(all_pass()), None)
    assert "F1 skipped" not in labelled
    assert NO_GOLD.startswith("F1 skipped: there are no gold labels")


def test_a_per_label_check_that_judged_few_labels_says_so_in_the_verdict():
    """1 of 28 labels judged (the others under per-label-min-support gold positives) was said only in
    accuracy.md: the verdict's PASS holds for that label alone, and now says so; every label judged,
    or none (its own not-judged line), says nothing more."""
    def labels(judged: int, total: int) -> list[dict[str, Any]]:
        return [{"label": f"l{i}", "verdict": "pass" if i < judged else "low-support"} for i in range(total)]

    def note_of(judged: int, total: int) -> list[str]:
        rows = all_pass()
        for name in ("onnx-fp32", "onnx-int8"):
            rows[name] = {**rows[name], "per_label": labels(judged, total), "per_label_min_support": 30}
        text = render_verdict(accuracy_doc(rows), None)
        return [line for line in text.splitlines() if line.startswith("- per-label F1 judged")]

    assert note_of(1, 28) == ["- per-label F1 judged 1 of 28 labels: the other 27 have fewer than 30 gold "
                              "positives in the evaluation set (not judged: accuracy.json's per_label holds "
                              "each one's F1, and accuracy.md lists those that fell below their share; more "
                              "labelled rows of them, or per-label-min-support, judge them)"]
    assert note_of(28, 28) == [] and note_of(0, 28) == []
    # judged labels the reference never gets right keep any share of 0: counted apart (a trial's broken
    # file was "judged" on 175 of 200 labels, 156 of them at F1 0 on torch)
    zero = labels(3, 28)
    for lab in zero:
        lab["f1_ref"] = 0.0 if lab["label"] in ("l0", "l1") else 0.5
    rows = all_pass()
    rows["onnx-fp32"] = {**rows["onnx-fp32"], "per_label": zero, "per_label_min_support": 30}
    assert ("- per-label F1 judged 3 of 28 labels (2 of them at F1 0 on the reference, which any F1 keeps): "
            "the other 25") in render_verdict(accuracy_doc(rows), None)


def test_results_of_two_commits_joined_say_whose_figures_are_whose():
    """A trial's PR verdict showed main's speedups (its `pytest benchmarks` at main, the PR session's
    --gate-base writing none) as the PR's: documents of one model and artifacts join, and the verdict
    says which commit each is of; at one commit, or none said, nothing."""
    accuracy, speed = accuracy_doc(all_pass()), speedups_doc()
    accuracy["provenance"]["commit"], speed["provenance"]["commit"] = "1" * 40, "9" * 40
    text = render_verdict(accuracy, speed)
    assert ("Results of 2 commits, joined as of one model, dataset and artifacts (accuracy.json at "
            "111111111111; speedups.json at 999999999999): each one's figures are its commit's.") in text
    speed["provenance"]["commit"] = "1" * 40
    assert "Results of 2 commits" not in render_verdict(accuracy, speed)
    assert "Results of" not in render_verdict(accuracy_doc(all_pass()), speedups_doc())
