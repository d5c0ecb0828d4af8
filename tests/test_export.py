"""`encoder-gate export`: files, model card, numbers equal to the accuracy gate's, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_gate.backends.optimum_compat import optimum_missing
from encoder_gate.commands.cli import main
from encoder_gate.commands.export import FILE_NAMES, fp32_optimizer
from encoder_gate.config import GateConfig
from encoder_gate.runtime.session import GateSession

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(cache_dir: Path, tiny_ctx, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`encoder-gate export tiny` with all three variants (artifacts from the suite's cache: the FP32
    export is put there first, whichever test of this worker ran before)."""
    import contextlib
    import io

    from encoder_gate.backends.onnx_backend import OnnxBackend

    OnnxBackend("fp32").artifact(tiny_ctx)
    out = tmp_path_factory.mktemp("export") / "tiny-onnx"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["export", "tiny", "--out", str(out), "--cache-dir", str(cache_dir), "--threads", "1"])
    assert status == 0, buffer.getvalue()
    return out, buffer.getvalue()


def payload(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "export.json").read_text())
    return data


def test_writes_each_variant_beside_config_and_tokenizer(exported):
    out, _ = exported
    for name in ("model.onnx", "model_fp16.onnx", "model_quantized.onnx", "config.json", "tokenizer.json",
                 "README.md", "export.json"):
        assert (out / name).is_file(), name
    sizes = {v: row["size_bytes"] for v, row in payload(out)["variants"].items()}
    assert sizes == {v: (out / f).stat().st_size for v, f in FILE_NAMES.items()}
    assert sizes["int8"] < sizes["fp32"] and sizes["fp16"] < sizes["fp32"]


def test_progress_is_shown_for_each_step(exported):
    _, stdout = exported
    check = "optimum's ORTModel loads" if optimum_missing() is None else "optimum's ORTModel check skipped"
    for step in ("model tiny: from cache", "onnx-fp32: from cache", "onnx-int8: wrote",
                 "evaluating on 1200 texts", "onnx-fp16: drift mean", check):
        assert step in stdout, step


def test_optimum_check_runs_or_is_reported_skipped_with_the_reason(exported):
    out, stdout = exported
    data = payload(out)
    reason = optimum_missing()
    assert data["optimum_check"] == {"ran": reason is None, "skipped_because": reason}
    assert {row["optimum_loads"] for row in data["variants"].values()} == {True if reason is None else None}
    if reason is not None:
        assert f"optimum's ORTModel check skipped: {reason}; pip install 'encoder-gate[optimum]'" in stdout
        assert "ORTModelForSequenceClassification" not in (out / "README.md").read_text()


def test_model_card_usage_runs_with_plain_onnxruntime(exported, monkeypatch):
    """The card's Python snippet, run as written (DIR replaced by the directory): the logits it
    computes are the ones optimum-free onnxruntime gives for model.onnx."""
    import re

    out, _ = exported
    card = (out / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    assert "optimum" not in code
    namespace: dict[str, Any] = {}
    exec(compile(code.replace("DIR", str(out)), "model-card", "exec"), namespace)
    logits = namespace["logits"]
    assert logits.shape == (2, 28) and logits.dtype == np.float32
    assert "Multi-label: apply a sigmoid" in card


def test_numbers_equal_the_accuracy_gate(exported, cache_dir: Path):
    """export.json holds what the gate's own session computes for the same backends."""
    out, _ = exported
    data = payload(out)
    backends = ("torch", "onnx-fp32", "onnx-fp16", "onnx-int8")
    session = GateSession(GateConfig(model="tiny", backends=backends, cache_dir=cache_dir, threads=1),
                          progress=lambda _m: None)
    try:
        for name in backends:
            expected = json.loads(json.dumps(session.evaluation(name).summary()))
            got = data["reference"] if name == "torch" else data["variants"][name.removeprefix("onnx-")]
            # floats to float32's resolution at 1 (2**-23; bounds start at 1e-5): ONNX Runtime sums in
            # another order at another thread count (drift mean 2.034e-08 vs 2.042e-08, ORT 1.21), and
            # a prediction cache an earlier session filled at other threads gives one side its outputs
            # (drift max 5.22e-08 vs 5.96e-08, one float32 step at 0.5: failed at 1e-9 in a warm checkout)
            for key, value in expected.items():
                same = pytest.approx(value, rel=1e-6, abs=2**-23) if isinstance(value, float) else value
                assert got[key] == same, (name, key)
    finally:
        session.close()
    assert data["dataset"]["examples"] == 1200 and data["threshold"] == 0.5
    assert data["command"].startswith("encoder-gate export tiny --out ")


def test_readme_is_a_model_card_with_sizes_and_parity(exported):
    out, _ = exported
    card = (out / "README.md").read_text()
    data = payload(out)
    int8 = data["variants"]["int8"]
    assert f"| int8 | `model_quantized.onnx` | {int8['size_bytes'] / 1e6:.1f} |" in card
    assert (f"| onnx-int8 | {int8['size_bytes'] / 1e6:.1f} | {int8['drift_mean']:.2e} | "
            f"{int8['drift_p99']:.2e} | {int8['drift_max']:.2e} | {int8['flips']} |") in card
    assert f"| onnx-fp16 | {data['variants']['fp16']['accuracy']:.4f} |" in card
    assert data["command"] in card and "onnxruntime " in card


def test_the_cards_parity_words_are_the_tasks_own(exported):
    """A single-label model's flips are texts whose argmax class changed, not (text, label) decisions
    at 0.5 (walk S #4): the card says what the numbers below it count, in the task's own words."""
    from encoder_gate.commands.export_card import render_card

    out, _ = exported
    data = payload(out)
    assert "flips = decisions at the threshold that differ from torch FP32" in render_card(data)
    data["model"]["task"] = "single_label"
    card = render_card(data)
    assert "flips = samples whose argmax class differs from torch FP32" in card
    assert "decisions at 0.5" not in card and "Top-1 = texts" in card
    # a checkpoint saved in half precision: the card says the variants were made from it upcast
    data["model"]["dtype_note"] = "the model's weights are saved in float16: the gate loads them as float32"
    assert "- the model's weights are saved in float16: the gate loads them as float32" in render_card(data)


def test_the_int8_settings_are_the_shipped_recipes(exported, tiny_ctx):
    """A search that shipped the per-tensor, reduce-range QInt8 recipe said per_channel=True and
    QUInt8 (the gate's defaults) in the card's Versions line and export.json (walk U): both now
    describe the recipe the file was made by; without a search, the gate's own settings."""
    from types import SimpleNamespace

    from encoder_gate.commands.export import int8_settings
    from encoder_gate.commands.export_card import render_card

    shipped = int8_settings(tiny_ctx, SimpleNamespace(recipe="onnx-int8-pt-rr"))
    assert shipped == {"recipe": "onnx-int8-pt-rr", "per_channel": False, "reduce_range": True,
                       "weights": "QInt8"}
    assert int8_settings(tiny_ctx, None) == {"per_channel": True, "reduce_range": False, "weights": "QUInt8"}
    assert int8_settings(tiny_ctx, SimpleNamespace(recipe="onnx-int8"))["per_channel"] is True  # its own
    out, _ = exported
    data = payload(out)
    data["int8"] = shipped
    assert "INT8 (onnx-int8-pt-rr): per_channel=False, reduce_range=True, weights QInt8." in render_card(data)


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_optimum_loads_the_directory(exported, variant):
    """ORTModelForSequenceClassification.from_pretrained(out, file_name=...) runs each file."""
    if optimum_missing() is not None:
        pytest.skip(optimum_missing())
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    out, _ = exported
    model = ORTModelForSequenceClassification.from_pretrained(out, file_name=FILE_NAMES[variant])
    tokenizer = AutoTokenizer.from_pretrained(out)
    logits = model(**tokenizer(["I love this", "so annoying"], padding=True, return_tensors="np")).logits
    assert np.asarray(logits).shape == (2, 28)


def test_optimize_and_dedupe(cache_dir: Path, tmp_path: Path, capsys):
    """--optimize O2 runs optimum's ORTOptimizer (or, without optimum, ONNX Runtime's optimizer with
    the same options) on FP32; --dedupe reports per variant."""
    from encoder_gate.backends.fusions import unfused_here

    if unfused_here():
        pytest.skip(unfused_here())
    out = tmp_path / "o2"
    assert main(["export", "tiny", "--out", str(out), "--variants", "fp32,int8", "--optimize", "O2",
                 "--dedupe", "--limit", "64", "--cache-dir", str(cache_dir), "--threads", "1"]) == 0
    data = payload(out)
    assert set(data["variants"]) == {"fp32", "int8"} and not (out / "model_fp16.onnx").exists()
    assert data["optimize"] == "O2" and data["dataset"]["examples"] == 64
    assert data["optimizer"] == fp32_optimizer()
    for row in data["variants"].values():
        assert row["dedupe"]["bytes_after"] <= row["dedupe"]["bytes_before"]
    assert data["variants"]["fp32"]["drift_max"] < 1e-4  # fusions keep FP32 numerics
    assert data["variants"]["int8"]["size_bytes"] < 0.6 * data["variants"]["fp32"]["size_bytes"]
    import onnx

    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert "SkipLayerNormalization" in ops and "Attention" in ops  # the O2 transformer fusions happened
    assert "EmbedLayerNormalization" not in ops  # off in optimum's OptimizationConfig, and so here
    assert "--optimize O2 --dedupe --limit 64" in data["command"]


@pytest.mark.parametrize(("args", "message"), [
    (["--variants", "fp32,int4"], "unknown variant 'int4'; known variants: fp32, fp16, int8"),
    (["--variants", ","], "no variants given"),
    (["--optimize", "O7"], "unknown optimization level 'O7'"),
    (["--optimize", "O4"], "O4 is O3 plus FP16 mixed precision"),
    (["--limit", "-1"], "--limit must be 0 (every text) or a positive number of examples, got -1"),
])
def test_bad_input_is_a_clear_error(args, message, tmp_path: Path, capsys):
    assert main(["export", "tiny", "--out", str(tmp_path / "o"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("encoder-gate export: error: ") and message in err
    assert not (tmp_path / "o").exists()  # nothing built or written


def test_out_that_is_a_file_and_missing_model_dir(tmp_path: Path, capsys):
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert main(["export", "tiny", "--out", str(file)]) == 1
    err = capsys.readouterr().err
    assert f"encoder-gate export: error: --out {file} is a file" in err and file.read_text() == "x"
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path / "c")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_data_that_cannot_be_read_is_said_before_anything_is_written(tmp_path: Path, capsys, cache_dir: Path):
    """--dataset empty.csv wrote model.onnx into --out, then failed (walk C)."""
    (tmp_path / "empty.csv").write_text("")
    assert main(["export", "tiny", "--out", str(tmp_path / "o"), "--dataset", str(tmp_path / "empty.csv"),
                 "--variants", "fp32", "--cache-dir", str(cache_dir)]) == 1
    assert "empty.csv" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_out_holds_one_export_and_nothing_else(tmp_path: Path, capsys, cache_dir: Path):
    """An export into a directory of another model's export left that model's files beside the new
    card (walk G): a directory of other files is refused, an earlier export's files this one does
    not write are removed, and said."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["export", "tiny", "--out", str(tmp_path / "mine"), "--cache-dir", str(cache_dir)]) == 1
    assert "holds files that are no export of encoder-gate (notes.txt)" in capsys.readouterr().err
    out = tmp_path / "e"
    assert main(["export", "tiny", "--out", str(out), "--variants", "fp32,int8", "--limit", "16",
                 "--cache-dir", str(cache_dir)]) == 0
    assert (out / "model_quantized.onnx").is_file()
    capsys.readouterr()
    assert main(["export", "tiny", "--out", str(out), "--variants", "fp32", "--limit", "16",
                 "--cache-dir", str(cache_dir)]) == 0
    assert "removed the earlier export's model_quantized.onnx" in capsys.readouterr().out
    assert not (out / "model_quantized.onnx").exists() and (out / "model.onnx").is_file()


def test_parity_only_summary_is_the_gates_own():
    """Without gold labels the card's numbers still come from gate.evaluate: argmax flips for a
    single-label head, no decisions but cosine for an encoder."""
    from types import SimpleNamespace

    from encoder_gate.commands.export import _evaluate

    ref = np.array([[0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    probs = np.array([[0.4, 0.6], [0.3, 0.7]], dtype=np.float32)
    from encoder_gate.data.datasets import Dataset

    two = Dataset("two texts", ("a", "b"), np.zeros((2, 0), dtype=np.uint8), ())  # unlabelled
    sentiment = SimpleNamespace(task="single_label", label_names=("negative", "positive"))
    s = _evaluate("onnx-int8", probs, ref, None, precision="int8", size_bytes=1, data=two,
                  session=SimpleNamespace(model=sentiment, thresholds=None, flips_at=None))
    assert s["flips"] == 1 and s["flip_rate"] == 0.5  # one sample changed class
    assert "f1_macro" not in s and "accuracy" not in s
    encoder = SimpleNamespace(task="feature_extraction", label_names=())
    e = _evaluate("onnx-int8", probs, ref, None, precision="int8", size_bytes=1, data=two,
                  session=SimpleNamespace(model=encoder, thresholds=None, flips_at=None))
    assert e["flips"] is None and e["top1_agreement"] is None and e["cosine_min"] < 1
    from encoder_gate.commands.export import variant_line

    assert variant_line("onnx-int8", s) == "onnx-int8: drift mean 0.1, max 0.2, 1 flips"
    line = variant_line("onnx-int8", e)  # an encoder makes no decisions: no "None flips"
    assert "flips" not in line and line.startswith("onnx-int8: drift mean 0.1, max 0.2, cosine min 0.")
    ranked = {**s, "mrr": 0.75, "mrr_delta": -0.0125}  # a reranker's: its order too
    assert variant_line("onnx-int8", ranked).endswith(", 1 flips, MRR@10 0.7500 (change -0.0125)")
    graded = {**ranked, "ndcg": 0.6, "ndcg_delta": -0.02}  # on graded relevance: NDCG@10 beside it
    assert variant_line("onnx-int8", graded).endswith("MRR@10 0.7500 (change -0.0125), NDCG@10 0.6000 "
                                                      "(change -0.0200)")


def _ops(path: Path) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


@pytest.mark.parametrize(("level", "fused", "absent"), [
    ("O1", set(), {"Attention", "SkipLayerNormalization", "BiasGelu", "FastGelu"}),
    ("O2", {"Attention", "SkipLayerNormalization", "BiasGelu"}, {"FastGelu", "EmbedLayerNormalization"}),
    ("O3", {"Attention", "SkipLayerNormalization", "FastGelu"}, {"BiasGelu", "EmbedLayerNormalization"}),
])
def test_ort_optimizer_levels(tiny_ctx, tmp_path: Path, level, fused, absent):
    """Without optimum, --optimize runs ONNX Runtime's optimizer as optimum's levels define them:
    O1 graph optimizations only, O2 the transformer fusions, O3 those with the GELU approximation."""
    from encoder_gate.backends.fusions import unfused_here

    if level != "O1" and unfused_here():
        pytest.skip(unfused_here())
    from encoder_gate.backends import parse_backend
    from encoder_gate.backends.onnx_build import optimize_with_ort

    fp32, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    optimize_with_ort(tiny_ctx, fp32, tmp_path, level)
    ops = _ops(tmp_path / "model.onnx")
    assert fused <= set(ops) and not absent & set(ops), ops
    # what the transformer fusions fused is kept for the card (none at O1, which runs none)
    from encoder_gate.backends.fusions import FUSIONS_FILE, fusion_note

    assert (tmp_path / FUSIONS_FILE).is_file() is (level != "O1") and fusion_note(tmp_path) is None


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_ort_optimizer_makes_the_graph_optimums_optimizer_makes(tiny_ctx, tmp_path: Path, level):
    """Where optimum is installed: both optimizers, on the same FP32 file, give the same operators."""
    if optimum_missing() is not None:
        pytest.skip(optimum_missing())
    from encoder_gate.backends import parse_backend
    from encoder_gate.backends.onnx_build import optimize_with_optimum, optimize_with_ort

    fp32, _ = parse_backend("onnx-fp32").artifact(tiny_ctx)
    (tmp_path / "ort").mkdir()
    (tmp_path / "optimum").mkdir()
    optimize_with_ort(tiny_ctx, fp32, tmp_path / "ort", level)
    optimize_with_optimum(tiny_ctx, fp32, tmp_path / "optimum", level)
    assert _ops(tmp_path / "ort" / "model.onnx") == _ops(tmp_path / "optimum" / "model.onnx")


def test_export_scores_on_the_projects_configured_data_and_columns(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    """Run in a repository that `encoder-gate init` set up: without --dataset, export reads the data of
    [tool.encoder-gate] with its columns, and says so; the options override the table."""
    from encoder_gate.commands.export_data import project_data
    from encoder_gate.errors import GateError

    def export_data(dataset: str | None, text_column: str | None, label_column: str | None,
                    root: Path) -> tuple[str | None, dict[str, str]]:
        data = project_data(dataset, None, text_column, label_column, root)
        return data.pop("dataset"), data

    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\ndataset = "data/eval.csv"\n'
                                             'text-column = "review"\nlabel-column = "sentiment"\n')
    assert export_data(None, None, None, tmp_path) == (
        "data/eval.csv", {"text_column": "review", "label_column": "sentiment"})
    assert ("evaluation data: data/eval.csv (text 'review', labels 'sentiment'), from [tool.encoder-gate] in "
            in capsys.readouterr().out)
    overridden = export_data(None, "body", None, tmp_path)[1]
    assert overridden == {"text_column": "body", "label_column": "sentiment"}
    # the table's columns are its own data's; no project: the bundled split
    assert export_data("other.csv", None, None, tmp_path) == ("other.csv", {})
    (tmp_path / "data").mkdir()  # --dataset naming the table's own file takes its columns (walk AI)
    (tmp_path / "data" / "eval.csv").write_text("review,sentiment\ngood,pos\n")
    for named in ("data/eval.csv", str(tmp_path / "data" / "eval.csv")):
        assert export_data(named, None, "stars", tmp_path) == (
            named, {"text_column": "review", "label_column": "stars"})
    (tmp_path / "pyproject.toml").write_text('[tool.encoder_gate]\nmodel = "m"\n')  # unreadable for it:
    assert export_data("data/eval.csv", None, None, tmp_path) == ("data/eval.csv", {})  # --dataset needs none
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\ndataset = "data/eval.csv"\n')
    assert export_data("~nosuchuser9/d.csv", None, None, tmp_path) == ("~nosuchuser9/d.csv", {})  # no home
    assert export_data(None, None, None, tmp_path / "elsewhere") == (None, {})

    from encoder_gate.commands.export import ExportRequest

    command = ExportRequest(model="m", out=tmp_path / "x", dataset="data/eval.csv", text_column="review",
                            label_column="sentiment").command()
    assert "--dataset data/eval.csv --text-column review --label-column sentiment" in command
    # a reranker's graded relevance: the table's relevant-grade with its own data, --relevant-grade over it
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\ndataset = "data/eval.csv"\n'
                                             'label-column = "grade"\nrelevant-grade = 2\n')
    assert export_data(None, None, None, tmp_path) == (
        "data/eval.csv", {"label_column": "grade", "relevant_grade": 2})
    assert "labels 'grade', relevant from grade 2), from [tool.encoder-gate]" in capsys.readouterr().out
    assert project_data(None, None, None, None, tmp_path, relevant_grade=1)["relevant_grade"] == 1
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\ndataset = "data/eval.csv"\n'
                                             'relevant-grade = "two"\n')
    with pytest.raises(GateError, match=r"relevant-grade in \[tool.encoder-gate\] must be a number"):
        project_data(None, None, None, None, tmp_path)
    assert "relevant_grade" not in project_data("other.csv", None, None, None, tmp_path)
    with pytest.raises(GateError, match=r"--relevant-grade reads a dataset's grades.*--texts holds no"):
        project_data(None, "t.txt", None, None, tmp_path, relevant_grade=2)
    graded = ExportRequest(model="m", out=tmp_path / "x", dataset="data/eval.csv", label_column="grade",
                           relevant_grade=2).command()
    assert "--label-column grade --relevant-grade 2 " in graded
    # a path starting with "-" (`export -- -lead`): the card's command read it as an option, then
    # stopped on "the following arguments are required: MODEL"
    import shlex

    from encoder_gate.commands.cli import build_parser

    odd = ExportRequest(model="-lead", out=Path("-out"), dataset="-d.csv", cache_dir=Path("-c")).command()
    assert odd.startswith("encoder-gate export ./-lead --out=-out")
    parsed = build_parser().parse_args(shlex.split(odd)[1:])
    assert (parsed.model, str(parsed.out), parsed.dataset) == ("./-lead", "-out", "-d.csv")


def test_export_judges_the_projects_texts_and_takes_texts_given(tmp_path: Path, cache_dir: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch):
    """A project that `encoder-gate init --texts texts.txt` set up: export scored the bundled test split
    instead, without a word (thirty-seventh session). It judges the project's texts on parity alone, says
    so, and takes --texts; --texts with --dataset or the column options is refused."""
    from encoder_gate.commands.export_data import project_data

    texts = ["so happy today", "this is awful", "what a day", "fine, I guess", "never again"]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\ntexts = "texts.txt"\n'
                                             'dataset = "data/eval.csv"\n')  # texts first, as the gate reads
    assert project_data(None, None, None, None, tmp_path) == {"texts": Path("texts.txt")}
    said = capsys.readouterr().out
    assert "evaluation data: texts.txt (unlabelled texts, one per line: parity only)" in said
    assert project_data("other.csv", None, None, None, tmp_path) == {"dataset": "other.csv"}
    assert project_data(None, "t.txt", None, None, tmp_path / "elsewhere") == {"dataset": None,
                                                                               "texts": Path("t.txt")}
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    assert main(["export", "tiny", "--out", str(out), "--variants", "fp32", "--cache-dir", str(cache_dir),
                 "--threads", "1"]) == 0, capsys.readouterr()
    data = payload(out)["dataset"]
    assert (data["source"], data["examples"], data["labels"], data["texts"]) == ("texts.txt", 5, False, True)
    card = (out / "README.md").read_text()
    assert "On 5 texts of `texts.txt`" in card and "holds texts without labels (`--texts`)" in card
    assert "--texts texts.txt" in payload(out)["command"]
    for extra, said in ((["--dataset", "d.csv"], "--dataset and --texts both name the evaluation data"),
                        (["--text-column", "body"], "--text-column and --label-column name a dataset's"),
                        ([], "texts file nope.txt does not exist")):
        assert main(["export", "tiny", "--out", str(tmp_path / "p"), "--texts", "nope.txt" if not extra
                     else "texts.txt", *extra, "--cache-dir", str(cache_dir)]) == 1
        assert said in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_every_vocabulary_file_of_the_model_goes_beside_the_onnx_file(tmp_path: Path):
    """A DeBERTa-v2 saved with its sentencepiece tokenizer alone (spm.model, no tokenizer.json): its export
    held config.json and tokenizer_config.json but not spm.model, so `AutoTokenizer.from_pretrained(DIR)`
    of the card's usage failed (TypeError: stat: path should be string ... not NoneType, transformers
    4.57). Every vocabulary file goes, whatever its name; weights and other files do not."""
    from encoder_gate.backends.onnx_build import copy_side_files

    src, dst = tmp_path / "model", tmp_path / "out"
    src.mkdir()
    dst.mkdir()
    for name in ("config.json", "tokenizer_config.json", "special_tokens_map.json", "spm.model",
                 "sentencepiece.bpe.model", "model.safetensors", "notes.txt", "training_args.bin"):
        (src / name).write_text("x")
    copied = set(copy_side_files(src, dst))
    assert copied == {"config.json", "tokenizer_config.json", "special_tokens_map.json", "spm.model",
                      "sentencepiece.bpe.model"}
    assert not (dst / "model.safetensors").exists() and (dst / "spm.model").is_file()


def test_an_fp16_variant_whose_attention_is_not_fused_is_a_warning_on_the_card(exported):
    """A DeBERTa-v2 (no fusion for its attention), or transformers 5 on onnxruntime before 1.31: the
    shipped FP16 file runs its attention unfused, slower, and the card said nothing of it."""
    from encoder_gate.commands.export_card import render_card

    out, _ = exported
    data = payload(out)
    from encoder_gate.backends.fusions import unfused_here

    if "attention not fused" in (out / "README.md").read_text():  # tiny's BERT is fused, but where
        assert unfused_here()  # the optimizer cannot (a build from before the record says nothing)
    data["variants"]["fp16"]["unfused"] = "attention not fused: ONNX Runtime 1.30.0's optimizer ..."
    assert "- onnx-fp16: attention not fused: ONNX Runtime 1.30.0's" in render_card(data)


def test_the_card_of_a_model_judged_on_sentence_pairs_says_how_they_were_fed(exported):
    """A dataset of sentence pairs (the text column 'premise', 'hypothesis' beside it): read one text a
    row, the card says its parity figures are of the premises alone; fed as pairs, it says so and its
    usage tokenizes pairs (nothing is said of texts that stand alone)."""
    from encoder_gate.commands.export_card import render_card

    out, _ = exported
    data = payload(out)
    assert data["dataset"]["pair_column"] is None and "was not fed" not in render_card(data)
    data["dataset"]["pair_column"] = "hypothesis"
    assert ("Each text alone: `hypothesis`, the second text of each of the dataset's pairs, was not fed"
            in render_card(data))
    data["dataset"]["pairs"] = True  # fed as pairs: said, and the usage tokenizes pairs (it runs: 2026-11-30)
    card = render_card(data)
    assert "was not fed" not in card and "Each row a sentence pair: its text and `hypothesis`" in card
    assert 'tokenizer(["a man sleeps", "is it open?"], ["a man is awake", "the shop opens at 9"],' in card


def test_a_long_context_models_export_takes_max_tokens_and_its_card_says_what_was_cut(exported,
                                                                                       tmp_path: Path):
    """The gate's `max-tokens` reaches the export (the table's, or --max-tokens), its command line
    carries it, and the card says texts were cut below what the model takes, as the verdict does."""
    from encoder_gate.commands.export import ExportRequest
    from encoder_gate.commands.export_card import render_card
    from encoder_gate.commands.export_data import project_data
    from encoder_gate.errors import GateError

    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\nmax-tokens = 2048\n')
    assert project_data(None, None, None, None, tmp_path) == {"dataset": None, "max_tokens": 2048}
    assert project_data(None, None, None, None, tmp_path, max_tokens=1024)["max_tokens"] == 1024
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\nmax-tokens = "2k"\n')
    with pytest.raises(GateError, match=r"max-tokens in \[tool.encoder-gate\] must be an integer, got '2k'"):
        project_data(None, None, None, None, tmp_path)
    assert "--max-tokens 2048" in ExportRequest(model="m", out=tmp_path / "o", max_tokens=2048).command()
    out, _ = exported
    data = payload(out)
    # the bundled split's longest texts are cut at tiny's own 512 (before, the card did not say so)
    assert "longer than the 512 tokens the model is fed" in render_card(data)
    data["dataset"]["cut"] = {"texts": 2, "max_tokens": 512, "model_takes": 2048}
    said = (f"2 of {data['dataset']['examples']} evaluation texts are longer than the 512 tokens "
            "encoder-gate feeds a model (this one takes 2048: no backend was judged beyond 512")
    assert said in render_card(data)


def test_an_export_judges_at_the_projects_thresholds_where_its_model_is_the_projects(
        tmp_path: Path, cache_dir: Path, exported, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The project's served (or tuned) thresholds are where its service decides: the export of the
    project's model judges its card's F1 and flips there, as the gate does, and says so (its card and
    export.json); another model exported from the same directory is judged at 0.5, said in a line.
    Before, every export judged at 0.5, beside a gate that judged elsewhere."""
    from encoder_gate.commands.export_data import project_data

    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\n')
    assert "thresholds" not in project_data(None, None, None, None, tmp_path, model="m")
    assert "decision threshold" not in capsys.readouterr().out
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\n\n'
                                             '[tool.encoder-gate.thresholds]\njoy = 0.35\n')
    assert project_data(None, None, None, None, tmp_path, model="m")["thresholds"] == {"joy": 0.35}
    assert "decision thresholds: 0.35 for every label, as configured" in capsys.readouterr().out
    assert "thresholds" not in project_data(None, None, None, None, tmp_path, model="other")
    assert "are its model's (m), not other's" in capsys.readouterr().out

    labels = payload(exported[0])["model"]["labels"]  # tiny's, served at 0.02 each (its F1 at 0.5 is 0)
    table = "".join(f'"{label}" = 0.02\n' for label in labels)
    (tmp_path / "pyproject.toml").write_text(f'[tool.encoder-gate]\nmodel = "tiny"\n\n'
                                             f'[tool.encoder-gate.thresholds]\n{table}')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["export", "tiny", "--out", str(out), "--variants", "fp32", "--cache-dir", str(cache_dir),
                 "--threads", "1"]) == 0, capsys.readouterr()
    data = payload(out)
    assert data["threshold"] == "0.02 for every label, as configured (`thresholds`)"
    assert data["model"]["threshold_note"].startswith("decisions at the threshold 0.02 for every label")
    assert data["reference"]["f1"] > payload(exported[0])["reference"]["f1"]  # judged at 0.02, not 0.5
    card = (out / "README.md").read_text()
    assert "threshold 0.02 for every label, as configured (`thresholds`); drift" in card


def test_a_pair_models_texts_are_exported_as_pairs(tmp_path: Path, cache_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`--texts FILE --pair-column ...` (or the project's `texts` beside its `pair-column`): each line's
    two texts, split by a tab, judged as one pair, as the gate reads them; before, --pair-column was
    refused beside --texts and the project's pairs were read as single texts holding a tab."""
    from encoder_gate.commands.export_data import project_data

    (tmp_path / "pairs.txt").write_text("a man sleeps\ta man is awake\ntwo dogs run\tanimals move\n")
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "m"\ntexts = "pairs.txt"\n'
                                             'pair-column = "hypothesis"\n')
    assert project_data(None, None, None, None, tmp_path)["pair_column"] == "hypothesis"
    assert "one pair a line, split by a tab: parity only" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["export", "tiny-bert", "--out", str(out), "--variants", "fp32", "--texts",
                 str(tmp_path / "pairs.txt"), "--pair-column", "hypothesis", "--cache-dir", str(cache_dir),
                 "--threads", "1"]) == 0, capsys.readouterr()
    data = payload(out)["dataset"]
    assert (data["examples"], data["pairs"], data["texts"]) == (2, True, True)
    assert "--pair-column hypothesis" in payload(out)["command"]


def test_a_cross_encoders_card_says_how_its_score_was_read_and_ranks_text(exported) -> None:
    """A sentence-transformers CrossEncoder's export: its card says the task was read from the
    CrossEncoder (as the verdict does) and its hub pipeline is text-ranking, a reranker's."""
    from encoder_gate.commands.export_card import render_card

    out, _ = exported
    data = payload(out)
    assert "Its task:" not in render_card(data) and "pipeline_tag: text-classification" in render_card(data)
    note = "a sentence-transformers CrossEncoder with one output and no problem_type: judged as it serves"
    data["model"].update(task_note=note, cross_encoder="torch.nn.modules.activation.Sigmoid")
    card = render_card(data)
    assert f"Its task: {note}." in card and "pipeline_tag: text-ranking" in card
    assert "MRR@10" not in card  # (not judged on pairs grouped by query: no order to show)
    ranked = {"mrr": 0.78, "mrr_delta": 0.0, "mrr_delta_ci": [0.0, 0.0], "ranked_queries": 28}
    data["reference"].update(ranked)
    for row in data["variants"].values():
        row.update(ranked, mrr=0.77, mrr_delta=-0.01, mrr_delta_ci=[-0.03, 0.0])
    card = render_card(data)
    assert "A reranker's order: MRR@10 over the 28 queries of" in card
    assert "| torch (reference) | 0.7800 | +0.0000 [+0.0000, +0.0000] |" in card
    assert card.count("| 0.7700 | -0.0100 [-0.0300, +0.0000] |") == len(data["variants"])
    assert "NDCG@10" not in card  # (0/1 flags: no grades)
    data["reference"].update(ndcg=0.66, ndcg_delta=0.0, ndcg_delta_ci=[0.0, 0.0], ndcg_queries=27)
    for row in data["variants"].values():
        row.update(ndcg=0.65, ndcg_delta=-0.01, ndcg_delta_ci=[-0.02, 0.0], ndcg_queries=27)
    card = render_card(data)
    assert "A reranker's order: NDCG@10 on the grades of relevance over the 27 queries of" in card
    assert "| backend | NDCG@10 | change [95% CI] |" in card
    assert card.count("| 0.6500 | -0.0100 [-0.0200, +0.0000] |") == len(data["variants"])
