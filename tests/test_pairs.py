"""Sentence pairs (encoder_gate.data.pairs): a dataset whose rows hold two texts (NLI's premise and
hypothesis, a reranker's query and passage) is fed as pairs, each second text in its own segment,
and a backend that mishandles that segment fails where single texts could not show it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.data.datasets import load_dataset
from encoder_gate.data.pairs import PAIR_SEPARATOR, as_string, digest_bytes, pair_in, pair_partner
from encoder_gate.errors import GateError


def pairs_file(path: Path, n: int = 120) -> Path:
    """The bundled test split's texts as pairs (row i's text, row i+1's), with row i's labels."""
    bundled = load_dataset("bundled", split="test").head(n + 1)
    with path.open("w") as fh:
        for i in range(n):
            names = [bundled.label_names[j] for j in np.flatnonzero(bundled.labels[i])]
            fh.write(json.dumps({"premise": bundled.texts[i], "hypothesis": bundled.texts[i + 1],
                                 "labels": names}) + "\n")
    return path


@pytest.mark.stack  # transformers' tokenizers read a batch of tuples as pairs, in every version
def test_a_pair_column_feeds_each_rows_two_texts_as_one_item(tmp_path: Path) -> None:
    data = pairs_file(tmp_path / "nli.jsonl", 5)
    paired = load_dataset(str(data), text_column="premise", pair_column="hypothesis")
    alone = load_dataset(str(data), text_column="premise")
    assert paired.paired and not alone.paired
    assert paired.texts[0] == (alone.texts[0], alone.texts[1]) and paired.pair_column == "hypothesis"
    assert alone.pair_column == "hypothesis"  # left out, which the verdict says (test_init_data)
    assert paired.head(2).paired and paired.subset([1]).texts == (paired.texts[1],)
    with pytest.raises(ValueError, match="holds sentence pairs"):
        paired.single_texts  # noqa: B018 - the embedded models train on single texts only
    assert as_string(paired.texts[0]) == PAIR_SEPARATOR.join(paired.texts[0])
    # a pair's digest is neither its first text's nor its two texts' joined
    assert digest_bytes(paired.texts[0]) not in (digest_bytes(alone.texts[0]), digest_bytes(as_string(
        paired.texts[0])))
    assert digest_bytes("plain") == b"plain"  # the digests of single texts (kept caches) as they were
    with pytest.raises(GateError, match=r"no second text column 'hypotesis' \(pair-column\)"):
        load_dataset(str(data), text_column="premise", pair_column="hypotesis")
    with pytest.raises(GateError, match=r"would hand the model its answers"):  # the labels as a second text
        load_dataset(str(data), text_column="premise", pair_column="labels")
    # the text column itself: said as what it is ("has no second text column 'premise'" listed premise)
    with pytest.raises(GateError, match=r"pair-column 'premise' is .*'s text \(text-column\), not a second "
                                        r"text beside them.*name another of its columns, 'hypothesis'"):
        load_dataset(str(data), text_column="premise", pair_column="premise")
    assert pair_in(["id", "Sentence1", "sentence2", "label"]) == ("Sentence1", "sentence2")
    assert pair_partner("query", ["query", "passage"]) == "passage" and pair_partner("text", ["text"]) is None


def test_init_pairs_a_sentence_pair_datasets_columns(tmp_path: Path) -> None:
    """init finds the pair and writes both columns; a --text-column chosen alone is warned about; a
    --pair-column the file lacks is refused before anything is written."""
    from test_init import init, table_of, write_model_dir

    write_model_dir(tmp_path)
    pairs_file(tmp_path / "nli.jsonl", 3)
    plan = init(tmp_path, dataset="nli.jsonl")
    table = table_of(tmp_path)
    assert (table["text-column"], table["pair-column"]) == ("premise", "hypothesis")
    assert any("text 'premise' paired with 'hypothesis' (sentence pairs)" in n for n in plan.notes)
    plan = init(tmp_path, dataset="nli.jsonl", text_column="premise", force=True)
    assert "pair-column" not in table_of(tmp_path)
    assert any("--pair-column hypothesis feeds each row's two texts" in w for w in plan.warnings)
    with pytest.raises(GateError, match=r"no column 'hyp' \(--pair-column\) beside the text column"):
        init(tmp_path / "other", model=str(tmp_path / "models" / "clf"), dataset=str(tmp_path / "nli.jsonl"),
             pair_column="hyp")
    with pytest.raises(GateError, match=r"--pair-column labels names the label column of .*nli\.jsonl"):
        init(tmp_path, dataset="nli.jsonl", pair_column="labels", force=True)
    assert not (tmp_path / "other" / "pyproject.toml").exists()


def segment_blind(batch, inner):
    """A runner that feeds every token as the first segment (token_type_ids all 0), as an export that
    dropped the input would."""
    return inner.predict({**batch, "token_type_ids": np.zeros_like(batch["token_type_ids"])})


@pytest.mark.slow
def test_a_backend_blind_to_the_second_segment_fails_on_pairs_and_passes_on_single_texts(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On single texts every token is segment 0, so a runner that drops token_type_ids is exact
    there; fed as pairs, its outputs move and its drift fails. The same model and backend, only the
    dataset's pair-column differs (the default model: MiniLM's segment embeddings were pretrained; its
    drift max on 24 pairs 0.21, against 0 alone). Before, the gate fed the first texts alone: it could
    not fail."""
    from encoder_gate.accuracy.checks import bounds_for, check
    from encoder_gate.backends.mock import MockBackend
    from encoder_gate.backends.registry import BACKENDS
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    monkeypatch.setitem(BACKENDS, "segment-blind", lambda: MockBackend(segment_blind, name="segment-blind",
                                                                        around="torch"))
    data = pairs_file(tmp_path / "nli.jsonl", 24)
    judged = {}
    for pair_column in (None, "hypothesis"):
        session = GateSession(GateConfig(model="default", backends=("torch", "segment-blind"),
                                         cache_dir=cache_dir, dataset=str(data), text_column="premise",
                                         pair_column=pair_column, threads=1), progress=lambda _m: None)
        try:
            ev = session.evaluation("segment-blind")
            judged[pair_column] = (ev.drift.max, check(ev, "drift_max", bounds_for("onnx-fp32"),
                                                       session.dataset.texts, ev.label_names))
            if pair_column:  # its batches held the second segment
                batch = session.tokenizer([session.dataset.texts[0]], return_tensors="np")
                assert batch["token_type_ids"].max() == 1
        finally:
            session.close()
    assert judged[None] == (0.0, None)
    drift, failure = judged["hypothesis"]
    print(f"segment-blind drift max on pairs: {drift:.4g}")
    assert drift > 1e-3 and failure and failure.startswith("segment-blind: drift_max = ")
    assert PAIR_SEPARATOR in failure  # its worst samples show both texts


@pytest.mark.slow
def test_an_onnx_file_without_token_type_ids_is_said_beside_its_drift_on_pairs(
        tmp_path: Path, cache_dir: Path, default_model) -> None:
    """A BERT file exported without the token_type_ids input computes each pair's second text as the
    first segment: its drift fails on pairs (an NLI trial's 0.997), and its build says why, naming the
    input and the fix; the same file on single texts, where every token is segment 0, says nothing."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession
    from test_foreign_onnx_tools import torchscript_export

    model = AutoModelForSequenceClassification.from_pretrained(default_model.path).eval()
    ids = torch.tensor([[101, 2023, 102, 2003, 102]])
    path = torchscript_export(model, tmp_path / "untyped.onnx", (ids, torch.ones_like(ids)),
                              ["input_ids", "attention_mask"], ["logits"])
    data = pairs_file(tmp_path / "nli.jsonl", 24)
    said = {}
    for pair_column in (None, "hypothesis"):
        session = GateSession(GateConfig(model="default", backends=("torch", f"onnx:{path}"),
                                         cache_dir=cache_dir, dataset=str(data), text_column="premise",
                                         pair_column=pair_column, threads=1), progress=lambda _m: None)
        try:
            ev = session.evaluation(f"onnx:{path}")
            said[pair_column] = (ev.drift.max, session.records[f"onnx:{path}"].notes)
        finally:
            session.close()
    assert said[None][0] < 1e-4 and not any("token_type_ids" in n for n in said[None][1])
    drift, notes = said["hypothesis"]
    assert drift > 1e-3, drift
    assert any(n.startswith("takes no token_type_ids input: each pair's second text is computed as type 0")
               and "among its inputs" in n for n in notes), notes


def test_untyped_pairs_is_said_only_where_the_tokenizer_types_a_pairs_second_text(tiny_ctx, tmp_path) -> None:
    """A file without token_type_ids fed pairs by a tokenizer that types them (BERT's) is said; not where
    the texts are single, the file takes the input, or the tokenizer gives no types (RoBERTa's)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from encoder_gate.backends.onnx_runner import untyped_pairs
    from encoder_gate.backends.registry import parse_backend
    from encoder_gate.models.spec import minilm_dir
    from test_foreign_onnx_tools import torchscript_export

    model = AutoModelForSequenceClassification.from_pretrained(tiny_ctx.model.path).eval()
    ids = torch.tensor([[0, 31, 32, 2]])
    untyped = parse_backend("onnx:" + str(torchscript_export(
        model, tmp_path / "untyped.onnx", (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"],
        ["logits"]))).build(tiny_ctx)
    typed = parse_backend("onnx:" + str(torchscript_export(
        model, tmp_path / "typed.onnx", (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        ["input_ids", "attention_mask", "token_type_ids"], ["logits"]))).build(tiny_ctx)
    bert = AutoTokenizer.from_pretrained(minilm_dir())
    roberta = AutoTokenizer.from_pretrained(tiny_ctx.model.path)
    pairs = [("a man sleeps", "a man is awake")]
    assert "token_type_ids input" in (untyped_pairs(untyped, bert, lambda: pairs) or "")
    assert untyped_pairs(untyped, bert, lambda: ["a man sleeps"]) is None
    assert untyped_pairs(typed, bert, lambda: pairs) is None
    assert untyped_pairs(untyped, roberta, lambda: pairs) is None
    assert untyped_pairs(object(), bert, lambda: pairs) is None  # not an ONNX file's runner


@pytest.mark.stack  # how each transformers encodes a batch of pairs: ids, type ids, padding
def test_a_pair_models_padding_properties_draw_pairs(pytester: pytest.Pytester, cache_dir: Path) -> None:
    """Fed pairs, the batch properties (alone vs padded, neighbours and order) and the tokenizer's
    (right-sided, contiguous masks, each item's own ids and type ids) draw pairs, each second text in its
    own segment and padded with the rest: they pass a healthy BERT (tiny-bert) on torch."""
    from encoder_gate.commands.layout import ACCURACY_MODULE, THIN_MODULES
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession
    from encoder_gate.suite.padding import fed_pairs

    data = pairs_file(pytester.path / "nli.jsonl", 20)
    config = GateConfig(model="tiny-bert", dataset=str(data), text_column="premise", pair_column="hypothesis",
                        cache_dir=cache_dir)
    assert fed_pairs(GateSession(config)) and not fed_pairs(GateSession(GateConfig(model="tiny-bert",
                                                                                   cache_dir=cache_dir)))
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    result = pytester.runpytest(
        "accuracy", "--gate-model", "tiny-bert", "--gate-backends", "torch",
        "--gate-cache-dir", str(cache_dir), "--gate-dataset", str(data), "--gate-text-column", "premise",
        "--gate-pair-column", "hypothesis", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-k", "padding_alone or batch_composition or right_sided")
    result.assert_outcomes(passed=3)


def test_a_one_label_models_0_1_column_is_its_flag(tmp_path: Path) -> None:
    """A cross-encoder reranker (one sigmoid output: problem_type multi_label_classification) and its
    relevance labels, 0 or 1 a row: 'label index 1 is out of range 0..0' stopped the session, and a
    column of 0 alone read every row as relevant (index 0, its one label). Each cell is its flag."""
    data = tmp_path / "rel.jsonl"
    data.write_text("".join(json.dumps({"query": "q", "passage": f"p{i}", "label": v}) + "\n"
                            for i, v in enumerate([0, 1, True, "0", "1", 0.0])))
    read = load_dataset(str(data), text_column="query", pair_column="passage", label_column="label",
                        label_names=("LABEL_0",))
    assert read.labels[:, 0].tolist() == [0, 1, 1, 0, 1, 0] and read.paired
    names = tmp_path / "names.jsonl"  # the label's name, or none: as before
    names.write_text('{"text": "a", "labels": ["LABEL_0"]}\n{"text": "b", "labels": []}\n')
    assert load_dataset(str(names), label_names=("LABEL_0",)).labels[:, 0].tolist() == [1, 0]
    with pytest.raises(GateError, match=r"out of range 0\.\.0"):  # told they are indices, they are read so
        load_dataset(str(data), text_column="query", label_column="label", label_names=("LABEL_0",),
                     label_format="indices")
    graded = tmp_path / "graded.jsonl"  # MS MARCO's and TREC's grades: no flag, and no index either
    graded.write_text("".join(json.dumps({"query": "q", "passage": f"p{i}", "label": v}) + "\n"
                              for i, v in enumerate([0, 1, 2, 3, 0.5])))
    with pytest.raises(GateError, match=r"holds other values too \(0\.5, 2, 3\): graded relevance or a "
                                        r"score\. Say from which grade a row is relevant.*"
                                        r"relevant-grade = 1"):
        load_dataset(str(graded), text_column="query", pair_column="passage", label_column="label",
                     label_names=("LABEL_0",))
    as_csv = tmp_path / "graded.csv"  # a CSV's cells are strings
    as_csv.write_text("query,passage,label\nq,p0,0\nq,p1,2\nq,p2,1\n")
    with pytest.raises(GateError, match=r"holds other values too \(2\): graded relevance"):
        load_dataset(str(as_csv), text_column="query", pair_column="passage", label_column="label",
                     label_names=("LABEL_0",))


def test_graded_relevance_is_read_relevant_from_the_grade_the_project_gives(tmp_path: Path) -> None:
    """`relevant-grade`: a one-label model's label column of grades (TREC's 0 to 3, a CSV's strings too)
    read as its 0/1 flag, relevant from that grade on, and said; refused for a model of more labels, a
    cell that is no number, a grade no row or every row reaches, and beside unlabelled texts."""
    from encoder_gate.config import GateConfig

    graded = tmp_path / "graded.csv"
    graded.write_text("query,passage,label\nq,p0,0\nq,p1,2\nq,p2,1\nr,p3,3\nr,p4,0\n")
    read = dict(text_column="query", pair_column="passage", label_column="label", label_names=("LABEL_0",))
    two = load_dataset(str(graded), relevant_grade=2, **read)
    assert two.labels[:, 0].tolist() == [0, 1, 0, 1, 0] and two.paired
    assert two.relevance == ("graded relevance in 'label' (0, 1, 2, 3), a row relevant from grade 2 on "
                             "(relevant-grade): 2 of 5 rows")
    assert load_dataset(str(graded), relevant_grade=1, **read).labels[:, 0].tolist() == [0, 1, 1, 1, 0]
    assert two.head(3).relevance == two.relevance  # kept by a limit's head
    flags = tmp_path / "flags.jsonl"  # flags are grades 0 and 1: relevant-grade 1 reads them as they are
    flags.write_text("".join(json.dumps({"query": "q", "passage": f"p{i}", "label": v}) + "\n"
                             for i, v in enumerate([0, 1, 1])))
    assert load_dataset(str(flags), relevant_grade=1, **read).labels[:, 0].tolist() == [0, 1, 1]
    with pytest.raises(GateError, match=r"relevant-grade = 4 no row is relevant \(its grades: 0, 1, 2, 3\)"):
        load_dataset(str(graded), relevant_grade=4, **read)
    with pytest.raises(GateError, match=r"relevant-grade = 0 every row is relevant"):
        load_dataset(str(graded), relevant_grade=0, **read)
    with pytest.raises(GateError, match=r"this model has 2 labels: leave relevant-grade"):
        load_dataset(str(graded), relevant_grade=2, **{**read, "label_names": ("a", "b")})
    worded = tmp_path / "worded.csv"
    worded.write_text("query,passage,label\nq,p0,0\nq,p1,high\n")
    with pytest.raises(GateError, match=r"worded.csv, line 3: relevant-grade = 2 reads 'label' as a number.*"
                                        r"got 'high'"):
        load_dataset(str(worded), relevant_grade=2, **read)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(GateError, match=r"relevant-grade is the grade of relevance.*a finite number"):
            GateConfig(relevant_grade=bad)
    texts = tmp_path / "texts.txt"
    texts.write_text("a\tb\n")
    with pytest.raises(GateError, match=r"beside texts, which hold no labels"):
        GateConfig(relevant_grade=1, texts=texts)
    with pytest.raises(GateError, match=r"beside label-format 'indices': grades are numbers, read as such"):
        GateConfig(relevant_grade=1, label_format="indices")
    # [tool.encoder-gate] holds a number (TOML's 2 or 2.0); the command line a string
    assert GateConfig.from_sources({"relevant-grade": 2}, {}, tmp_path).relevant_grade == 2.0
    assert GateConfig.from_sources({}, {"relevant_grade": "1.5"}, tmp_path).relevant_grade == 1.5
    with pytest.raises(GateError, match=r"relevant-grade must be a number, got 'high'"):
        GateConfig.from_sources({"relevant-grade": "high"}, {}, tmp_path)


def test_init_writes_the_grade_a_reranking_sets_rows_are_relevant_from(tmp_path: Path, monkeypatch) -> None:
    """A reranker's TSV of graded relevance: init without --relevant-grade warns that the session would stop,
    naming the setting; with it, it writes `relevant-grade` and says it, and `init --force` keeps it."""
    from encoder_gate.commands import cli
    from encoder_gate.commands import init as scaffold
    from test_init import INDEX_INSTALL, init, table_of, write_model_dir

    monkeypatch.setattr(scaffold, "detect_install_source", lambda: INDEX_INSTALL)  # as the CLI would install
    model = write_model_dir(tmp_path)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "id2label": {"0": "LABEL_0"},
                                                   "problem_type": "multi_label_classification"}))
    (tmp_path / "dev.tsv").write_text("query\tpassage\trelevance\n" + "".join(
        f"q{q}\tp{p}\t{(q + p) % 4}\n" for q in range(3) for p in range(4)))
    plan = init(tmp_path, dataset="dev.tsv", pair_column="passage")
    assert "relevant-grade" not in table_of(tmp_path)
    assert any("will stop at its start" in w and "relevant-grade = 1 (say)" in w for w in plan.warnings)
    plan = init(tmp_path, dataset="dev.tsv", pair_column="passage", relevant_grade=2, force=True)
    assert table_of(tmp_path)["relevant-grade"] == 2
    assert any("labels 'relevance', relevant from grade 2" in n for n in plan.notes), plan.notes
    assert any("and NDCG@10 on the grades, check ndcg_keep" in n for n in plan.notes), plan.notes
    assert not any("will stop" in w for w in plan.warnings), plan.warnings
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--force"]) == 0  # scaffolding again keeps the table's settings
    assert "relevant-grade = 2\n" in (tmp_path / "pyproject.toml").read_text()  # (not 2.0)
    with pytest.raises(GateError, match=r"--relevant-grade describe --dataset"):
        init(tmp_path / "other", model=str(model), relevant_grade=2)
    (model / "config.json").write_text(json.dumps(config))  # two labels: refused before anything is written
    with pytest.raises(GateError, match=r"--relevant-grade reads graded relevance.*has 2 labels"):
        init(tmp_path / "two", model=str(model), dataset=str(tmp_path / "dev.tsv"), pair_column="passage",
             relevant_grade=2)
    assert not (tmp_path / "two" / "pyproject.toml").exists()


def test_an_nli_model_given_one_text_a_row_is_warned_about_by_init(tmp_path: Path) -> None:
    """A head whose labels are entailment, neutral and contradiction, and a dataset of single texts:
    init says the model reads pairs; the same model with its pairs, and another model, say nothing."""
    from test_init import init, write_model_dir

    model = write_model_dir(tmp_path)
    config = json.loads((model / "config.json").read_text())
    names = {"0": "entailment", "1": "neutral", "2": "contradiction"}
    (model / "config.json").write_text(json.dumps({**config, "id2label": names,
                                                   "label2id": {v: int(k) for k, v in names.items()}}))
    (tmp_path / "single.jsonl").write_text('{"text": "a man sleeps", "label": "neutral"}\n')
    pairs_file(tmp_path / "nli.jsonl", 2)
    plan = init(tmp_path, dataset="single.jsonl")
    assert any("an NLI model's, which reads a premise and a hypothesis together" in w for w in plan.warnings)
    plan = init(tmp_path, dataset="nli.jsonl", force=True)
    assert not any("NLI model's" in w for w in plan.warnings)


def test_static_int8_of_a_pair_model_calibrates_on_its_pairs(tmp_path: Path, cache_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A pair model's static INT8 reads pairs for its activation ranges, as the gate then feeds and
    judges it: from a calibration file (two texts a line, split by a tab) or the dataset's validation
    split. Before, it calibrated on the first texts alone, its second segment's activations never seen.
    A calibration line without its tab is refused, naming the file and line."""
    import onnxruntime.quantization as ortq

    from encoder_gate.backends.onnx_quantize import quantize_static_int8
    from encoder_gate.backends.recipes import fp32_artifact
    from encoder_gate.config import GateConfig
    from encoder_gate.data.calibration import CalibrationSource
    from encoder_gate.runtime.session import GateSession

    data = pairs_file(tmp_path / "nli.jsonl", 12)
    calibration = tmp_path / "calibration.tsv"
    rows = [json.loads(line) for line in data.read_text().splitlines()[:6]]
    one_line = [tuple(" ".join(row[c].split()) for c in ("premise", "hypothesis")) for row in rows]
    calibration.write_text("".join(f"{first}\t{second}\n" for first, second in one_line))
    config = GateConfig(model="tiny-bert", cache_dir=cache_dir, dataset=str(data), text_column="premise",
                        pair_column="hypothesis", calibration=calibration)
    session = GateSession(config, progress=lambda _m: None)
    texts, where = session.calibration()
    assert len(texts) == 6 and all(isinstance(t, tuple) for t in texts) and "first 6 of 6 pairs" in where
    assert texts == tuple(one_line)
    fed: list[dict[str, np.ndarray]] = []
    real = ortq.quantize_static

    def spying(model_input, model_output, reader, **kwargs):
        class Spy(ortq.CalibrationDataReader):
            def get_next(self):
                item = reader.get_next()
                if item is not None:
                    fed.append(item)
                return item
        return real(model_input, model_output, Spy(), **kwargs)

    monkeypatch.setattr(ortq, "quantize_static", spying)
    ctx = session.context("onnx-fp32")
    fp32, _ = fp32_artifact(ctx, "export")
    files = {}
    for kind, items in (("pairs", texts), ("first texts", tuple(t[0] for t in texts))):
        (out := tmp_path / kind).mkdir()
        fed.clear()
        quantize_static_int8(ctx, fp32, out, items, "MinMax")
        files[kind] = (out / "model.onnx").read_bytes()
        types = [f["token_type_ids"] for f in fed]
        assert len(types) == 6 and all(t.shape[0] == 1 for t in types)  # one unpadded item a run
        assert all(t.max() == 1 for t in types) if kind == "pairs" else all(t.max() == 0 for t in types)
    assert files["pairs"] != files["first texts"]  # the second segment moved the activation ranges

    calibration.write_text("a premise\ta hypothesis\njust one text\n")
    with pytest.raises(GateError, match=r"calibration\.tsv:2: a sentence-pair model .* holds 0 tabs"):
        CalibrationSource("unused", path=calibration, pair_column="hypothesis")()
    session.close()


def test_a_pair_models_texts_file_holds_a_pair_a_line(tmp_path: Path) -> None:
    """--gate-texts of a pair model: each line's two texts split by a tab, fed as a pair; a single
    model's line keeps its tab inside its one text."""
    from encoder_gate.data.datasets import load_texts

    texts = tmp_path / "texts.txt"
    texts.write_text("a man sleeps\ta man is awake\n\n two dogs \t  run \n")
    paired = load_texts(texts, pairs=True)
    assert paired.texts == (("a man sleeps", "a man is awake"), ("two dogs", "run")) and paired.paired
    assert paired.pair_column is not None
    alone = load_texts(texts)
    assert alone.texts[0] == "a man sleeps\ta man is awake" and not alone.paired and alone.pair_column is None
    texts.write_text("one\ttwo\tthree\n")
    with pytest.raises(GateError, match=r"texts\.txt:1: .* holds 2 tabs.*first text<TAB>second text"):
        load_texts(texts, pairs=True)
    tsv = tmp_path / "pairs.tsv"  # a pair a line is a TSV: read so for a pair model, a dataset's for others
    tsv.write_text("a man sleeps\ta man is awake\n")
    assert load_texts(tsv, pairs=True).texts == (("a man sleeps", "a man is awake"),)
    with pytest.raises(GateError, match=r"pairs\.tsv is a dataset \(a \.tsv file\)"):
        load_texts(tsv)
