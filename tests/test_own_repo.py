"""A stranger's repository: `encoder-gate init`, then the card's commands, outside this repo.

The model is one the suite's registry does not know: a tiny BERT with labels of its own
(`billing`, `bug`, `praise`, `question`), saved with `save_pretrained` under its own
name, and a JSONL dataset with its own column names. Everything runs in subprocesses in
a temporary directory, as a user's CI would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.commands.layout import THIN_MODULES, WORKFLOW_PATH
from encoder_gate.data.datasets import load_dataset

LABELS = ("billing", "bug", "praise", "question")
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")


def labels_of(text: str) -> list[str]:
    """Labels a tiny model can learn from surface cues of the bundled texts."""
    out = []
    if len(text) > 120:
        out.append("billing")
    if "!" in text:
        out.append("praise")
    if "?" in text:
        out.append("question")
    if not out:
        out.append("bug")
    return out


def make_model(out: Path, texts: tuple[str, ...]) -> None:
    """A tiny BERT with its own labels, trained for one epoch, saved like any fine-tuned model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from encoder_gate.models.families import _bert_tokenizer, _corpus, train_all

    out.mkdir(parents=True)
    tokenizer = _bert_tokenizer(_corpus(texts), out)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                        pad_token_id=tokenizer.pad_token_id,
                        problem_type="multi_label_classification",
                        id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    gold = np.array([[name in labels_of(t) for name in LABELS] for t in texts], dtype=np.float32)
    train_all(model, tokenizer, texts, gold, lambda _: None)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def run(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty repository holding only the user's model and dataset."""
    root = tmp_path_factory.mktemp("their-repo")
    train = load_dataset("bundled", split="train")
    make_model(root / "models" / "support-tagger", train.texts[:600])
    test = load_dataset("bundled", split="test").texts[:160]
    (root / "data").mkdir()
    with (root / "data" / "eval.jsonl").open("w") as f:
        for text in test:
            f.write(json.dumps({"comment": text, "tags": labels_of(text)}) + "\n")
    return root


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ENCODER_GATE_", "PYTEST_"))}
    return {**out, "HF_HUB_OFFLINE": "1", "CI": "1", "ENCODER_GATE_BENCH_ROUNDS": "2",
            "ENCODER_GATE_BENCH_TEXTS": "16", "ENCODER_GATE_SPEEDUP_MAX_DROP": "0.9"}


@pytest.mark.slow
def test_init_then_the_card_commands_gate_a_strangers_model(project: Path, env: dict[str, str]):
    """init writes config, thin tests and a workflow; accuracy passes; a broken ONNX file fails by
    name; the unchanged PR against its base passes in one session; the verdict lists every backend."""
    done = run(project, "encoder_gate.commands.cli", "init", ".", "--model", "models/support-tagger",
               "--dataset", "data/eval.jsonl", "--backends", ",".join(BACKENDS), env=env)
    assert done.returncode == 0, done.stderr
    for rel in (*THIN_MODULES, WORKFLOW_PATH, "pyproject.toml"):
        assert (project / rel).is_file(), rel
        assert rel in done.stdout, done.stdout
    table = (project / "pyproject.toml").read_text()
    assert 'text-column = "comment"' in table and 'label-column = "tags"' in table

    accuracy = run(project, "pytest", "accuracy", "-p", "no:cacheprovider", env=env)
    assert accuracy.returncode == 0, accuracy.stdout[-4000:] + accuracy.stderr[-2000:]
    assert "failed" not in accuracy.stdout.splitlines()[-1]
    report = json.loads((project / ".encoder-gate" / "accuracy.json").read_text())
    assert report["model"]["name"].endswith("support-tagger") and report["dataset"]["examples"] == 160
    assert set(report["backends"]) == set(BACKENDS)
    assert report["backends"]["torch"]["f1"] > 0.3  # it learned something: F1 is not vacuous
    assert all(row["verdict"] == "pass" for row in report["backends"].values())

    # a broken artifact: the exported graph with its classifier bias shifted
    import onnx
    from onnx import numpy_helper

    [fp32] = (project / ".encoder-gate" / "cache").glob("onnx-fp32-*/model.onnx")
    graph = onnx.load(str(fp32))
    bias = next(t for t in graph.graph.initializer if "classifier.bias" in t.name)
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 2.0, bias.name))
    onnx.save(graph, str(project / "broken.onnx"))
    broken = run(project, "pytest", "accuracy", "--gate-backends", "torch,onnx:broken.onnx",
                 "--gate-report-dir", "broken-report", "-k", "drift_within_bound", "-p", "no:cacheprovider",
                 env=env)
    assert broken.returncode == 1, broken.stdout[-3000:]
    failed = "FAILED accuracy/test_encoder_gate_accuracy.py::test_drift_within_bound"
    assert f"{failed}[onnx:broken.onnx-drift_max]" in broken.stdout
    assert "onnx:broken.onnx: drift_max = " in broken.stdout
    assert "**FAIL** (drift_mean, drift_p99, drift_max, flip_rate" in (
        project / "broken-report" / "verdict.md").read_text()

    # the PR against its base in one session, as the workflow runs it: here the base is the
    # repository as init left it, so nothing changed and every vs-base row passes
    base = project.parent / f"{project.name}-base"
    shutil.copytree(project, base, ignore=shutil.ignore_patterns(".encoder-gate", "broken*"))
    # (only the vs-base tests: the rest ran above; every artifact is the same on both sides, so the
    # speed cells are unchanged and not timed: no runner's load can fail an untouched model)
    ab = run(project, "pytest", "accuracy", "benchmarks", "--gate-base", str(base), "--gate-batch-sizes", "8",
             "--gate-ab-budget", "5", "-k", "vs_base", "-p", "no:cacheprovider", env=env)
    assert ab.returncode == 0, ab.stdout[-3000:] + ab.stderr[-2000:]
    assert "this PR against its base" in ab.stdout
    verdict = (project / ".encoder-gate" / "verdict.md").read_text()
    for name in BACKENDS:
        assert f"| {name} | {'reference' if name == 'torch' else 'pass'} |" in verdict, verdict
    assert "## encoder-gate: PASS" in verdict and "speed vs base |" in verdict
    assert verdict.count("bs8 unchanged (same artifact, not timed)") == len(BACKENDS), verdict
    assert "Both sides ran in one environment, the PR's: " in verdict
    workflow = (project / WORKFLOW_PATH).read_text()
    assert "pytest accuracy benchmarks" in workflow and "--gate-base ../base" in workflow


@pytest.mark.slow
def test_the_reference_repository_script_builds_what_the_docs_measure(tmp_path: Path, env: dict[str, str]):
    """`.ci/reference-repo DIR` (here at one layer of width 64): a RoBERTa-shaped multi-label model
    with roberta-base's vocabulary, the test texts under column names of their own, and `init`'s
    files; the gate collects in it, its rootdir pinned there."""
    root = tmp_path / "reference"
    script = Path(__file__).resolve().parents[1] / ".ci" / "reference-repo"
    done = subprocess.run([sys.executable, str(script), str(root), "--layers", "1", "--hidden", "64",
                           "--texts", "20"], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    config = json.loads((root / "model" / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == ("roberta", 1, 64)
    assert config["vocab_size"] == 50265 and config["problem_type"] == "multi_label_classification"
    rows = [json.loads(line) for line in (root / "data" / "eval.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and all(set(r) == {"message", "emotions"} for r in rows)
    table = (root / "pyproject.toml").read_text()
    assert 'text-column = "message"' in table and "[tool.pytest.ini_options]" in table
    collected = run(root, "pytest", "accuracy", "--collect-only", "-q", "-p", "no:cacheprovider", env=env)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert "test_drift_within_bound[torch-drift_max]" in collected.stdout
    with pytest.raises(subprocess.CalledProcessError):  # a non-empty directory is refused
        subprocess.run([sys.executable, str(script), str(root)], capture_output=True, check=True)
