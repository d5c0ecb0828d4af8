"""Model sources: builtin models, local directories, hub ids offline, clear errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.errors import GateError
from encoder_gate.models.resolve import resolve_model
from encoder_gate.models.spec import spec_from_dir

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack


def test_tiny_is_shaped_like_roberta_base_go_emotions(tiny):
    """28 sigmoid labels with go_emotions' names and order, a RoBERTa with a BPE tokenizer."""
    assert tiny.task == "multi_label"
    assert tiny.label_names == GO_EMOTIONS_LABELS
    assert tiny.model_type == "roberta"
    assert (tiny.path / "merges.txt").is_file()


def test_builtin_model_comes_from_cache_the_second_time(cache, tiny):
    again = resolve_model("tiny", cache)
    assert again.path == tiny.path and again.content_hash == tiny.content_hash


def test_local_directory_is_loaded_as_it_is(cache, tiny):
    spec = resolve_model(str(tiny.path), cache)
    assert spec.source == "local" and spec.label_names == tiny.label_names


def test_missing_model_directory_says_so(cache, tmp_path: Path):
    with pytest.raises(GateError, match=r"model directory .*nope.* does not exist"):
        resolve_model(str(tmp_path / "nope"), cache)


def test_directory_without_config_is_not_a_model(tmp_path: Path):
    with pytest.raises(GateError, match=r"has no config\.json"):
        spec_from_dir("x", tmp_path, "local")


def test_a_directory_named_as_a_builtin_is_refused_by_that_name_and_read_as_a_path(
        cache, tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user's model directory called `minilm` (or `tiny`, ...), given by its bare name, was read as
    the builtin of that name: the gate judged a model that was not the user's. Its bare name is now
    refused, naming both and the fix; as a path it is the user's directory."""
    shutil.copytree(tiny.path, tmp_path / "tiny")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GateError, match=r"names both encoder-gate's builtin model 'tiny' and the model "
                                         r"directory tiny/ here.*--gate-model ./tiny"):
        resolve_model("tiny", cache)
    mine = resolve_model("./tiny", cache)
    assert (mine.source, mine.path) == ("local", (tmp_path / "tiny").resolve())


def test_hub_id_offline_gets_a_clear_message(cache, monkeypatch):
    """Offline, a hub id fails with what to do instead, not a hub traceback."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(GateError, match=r"not a local directory and the Hugging Face hub.*local model"):
        resolve_model("encoder-gate-tests/no-such-model", cache)


TELL_APART = ["I love this movie", "I hate this movie", "what a great day", "so annoying honestly"]


def test_tiny_tokenizer_has_its_trained_vocabulary_and_tells_texts_apart(tiny):
    """transformers 5 ignores RobertaTokenizerFast(vocab_file=..., merges_file=...) and builds a
    5-token vocabulary: every text then encodes to `<s> </s>` and the model sees nothing."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from encoder_gate.models.bundled import TINY_VOCAB

    tokenizer = AutoTokenizer.from_pretrained(tiny.path)
    assert len(tokenizer) == TINY_VOCAB
    ids = tokenizer(TELL_APART)["input_ids"]
    assert len({tuple(i) for i in ids}) == len(TELL_APART)
    assert all(len(i) >= 2 + len(t.split()) for i, t in zip(ids, TELL_APART, strict=True))  # words kept
    model = AutoModelForSequenceClassification.from_pretrained(tiny.path).eval()
    assert model.config.vocab_size == TINY_VOCAB
    with torch.no_grad():
        logits = model(**tokenizer(TELL_APART, padding=True, return_tensors="pt")).logits
    # tiny's head is nearly constant (see the README), but distinct inputs still move it;
    # identical token ids would give bit-identical logits
    for i in range(len(TELL_APART)):
        for j in range(i):
            assert (logits[i] - logits[j]).abs().max() > 0, (TELL_APART[i], TELL_APART[j])


@pytest.mark.parametrize("name", ["model-00001-of-00002.safetensors", "model.safetensors.index.json",
                                  "spm.model", "sentencepiece.bpe.model", "added_tokens.json"])
def test_every_file_from_pretrained_reads_is_in_the_content_hash(tiny, tmp_path, name):
    """Sharded weights, their index and sentencepiece files key the model: a retrained sharded model
    kept its hash under a fixed list of names, so its exports and predictions were reused and the
    PR was "unchanged". Documentation is not the model."""
    model = tmp_path / "model"
    shutil.copytree(tiny.path, model)
    (model / name).write_bytes(b"before retraining")
    before = spec_from_dir("m", model, "local").content_hash
    (model / name).write_bytes(b"after retraining")
    after = spec_from_dir("m", model, "local").content_hash
    assert after != before
    (model / "README.md").write_text("# a model card\n")
    (model / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    assert spec_from_dir("m", model, "local").content_hash == after


def test_a_classifier_whose_config_names_no_problem_type_is_single_label_and_says_how_it_was_read(
        tmp_path: Path):
    """Many fine-tuned models lack problem_type: read as transformers reads them (softmax), and said,
    with the fix for a multi-label one; a config.json that is no JSON is an error naming the fix."""
    import json

    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
              "id2label": {"0": "a", "1": "b", "2": "c"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    spec = spec_from_dir("m", tmp_path, "local")
    assert spec.task == "single_label" and spec.task_note == (
        "config.json names no problem_type: read as transformers reads it, single-label (softmax over 3 "
        'labels); if the model was trained multi-label (sigmoid), set "problem_type": '
        '"multi_label_classification" in its config.json')
    for problem, task in (("single_label_classification", "single_label"),
                          ("multi_label_classification", "multi_label")):
        (tmp_path / "config.json").write_text(json.dumps({**config, "problem_type": problem}))
        spec = spec_from_dir("m", tmp_path, "local")
        assert spec.task == task and spec.task_note is None
    (tmp_path / "config.json").write_text('{"architectures": ["BertFor')
    with pytest.raises(GateError, match=r"config\.json is not readable JSON .*: save the model again"):
        spec_from_dir("m", tmp_path, "local")


def test_a_label2id_that_contradicts_id2label_is_said_where_the_gate_reads_id2label(tmp_path: Path):
    """Two class names swapped in id2label alone (an NLI trial's PR: F1 0.82 to 0.26, no word of the
    maps disagreeing): said, naming both outputs of each label; not where they agree, nor where label2id
    names other labels alone (id2label renamed, label2id left: transformers' defaults LABEL_0...)."""
    import json

    from encoder_gate.publish import build_verdict
    from test_verdict import accuracy_doc, all_pass, speedups_doc

    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
              "problem_type": "single_label_classification",
              "id2label": {"0": "entailment", "1": "contradiction", "2": "neutral"},
              "label2id": {"entailment": 0, "neutral": 1, "contradiction": 2}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    note = spec_from_dir("m", tmp_path, "local").label2id_note
    assert note is not None and note.startswith(
        "config.json's label2id contradicts its id2label: 'contradiction' is output 1 by id2label, 2 by "
        "label2id; 'neutral' is output 2 by id2label, 1 by label2id. The gate reads id2label")
    for label2id in ({"entailment": 0, "contradiction": 1, "neutral": 2}, {"LABEL_0": 0, "LABEL_1": 1},
                     {"entailment": "x"}, None):
        (tmp_path / "config.json").write_text(json.dumps({**config, "label2id": label2id}))
        assert spec_from_dir("m", tmp_path, "local").label2id_note is None, label2id
    doc = accuracy_doc(all_pass())
    doc["model"]["label2id_note"] = note
    assert f"- {note}" in build_verdict(doc, speedups_doc()).markdown


@pytest.mark.parametrize(("config", "positions"), [
    ({"model_type": "bert", "max_position_embeddings": 512}, 512),
    ({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}, 512),
    ({"model_type": "roberta", "max_position_embeddings": 130}, 128),  # walk A's: an index error before
    ({"model_type": "distilbert"}, None),
    ({"model_type": "gpt2", "n_positions": 64}, 64),  # GPT-2's name: an index error deep in torch before
    ({"model_type": "esm", "max_position_embeddings": 1026, "pad_token_id": 1}, 1024),  # RoBERTa's layout
])
def test_the_tokens_a_model_is_fed_are_what_its_position_embeddings_hold(tmp_path: Path, config, positions):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["XForSequenceClassification"],
                                                      "problem_type": "single_label_classification",
                                                      "id2label": {"0": "a", "1": "b"}, **config}))
    assert spec_from_dir("m", tmp_path, "local").max_positions == positions


def test_a_file_given_as_the_model_is_named_as_a_file(tmp_path: Path):
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    (tmp_path / "model.onnx").write_bytes(b"x")
    cache = None
    with pytest.raises(GateError, match=r"model '.*img\.png' is a file, not a model directory"):
        resolve_model(str(tmp_path / "img.png"), cache)  # type: ignore[arg-type]
    with pytest.raises(GateError, match=r"an ONNX file is a backend of its own: onnx:PATH"):
        resolve_model(str(tmp_path / "model.onnx"), cache)  # type: ignore[arg-type]


def test_a_model_saved_by_a_newer_transformers_names_that_as_the_likely_cause(tmp_path: Path):
    """transformers 5 saves tokenizer_class "TokenizersBackend", which 4.57 (the optimum stack)
    cannot load: 224 errors said only that the class does not exist (walk G)."""
    import json

    import transformers

    from encoder_gate.models.spec import saved_by_newer

    major = int(transformers.__version__.split(".")[0])
    (tmp_path / "config.json").write_text(json.dumps({"transformers_version": f"{major + 1}.0.0"}))
    said = saved_by_newer(tmp_path)
    here = transformers.__version__
    assert f"saved by transformers {major + 1}.0.0 and this is transformers {here}" in said
    assert '"PreTrainedTokenizerFast"' in said
    (tmp_path / "config.json").write_text(json.dumps({"transformers_version": transformers.__version__}))
    assert saved_by_newer(tmp_path) == ""


def test_a_model_directory_without_a_tokenizer_is_refused_not_encoded_as_nothing(tiny, tmp_path: Path):
    """Only config.json and the weights (walk U): transformers 5 builds an empty tokenizer (5 tokens)
    that encodes every text to the same ids, and the export card showed drift 0 and an F1 of those
    constant inputs. The session refuses it, naming what the directory holds and the fix."""
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    model = tmp_path / "notok"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny.path / name, model / name)

    def session(path: Path) -> GateSession:
        return GateSession(GateConfig(model=str(path), cache_dir=tmp_path / "cache"), progress=print)

    # transformers 5 builds an empty tokenizer (5 tokens); 4.57 fails opening a vocabulary file it lacks
    with pytest.raises(GateError, match=r"notok holds no tokenizer files "
                                        r"\(it has config\.json, model\.safetensors\), "
                                        r"and transformers (built an empty one|could not build one).*"
                                        r"tokenizer\.save_pretrained"):
        session(model).tokenizer  # noqa: B018
    assert len(session(tiny.path).tokenizer) > 100
    # a real vocabulary of few tokens (ESM's protein tokenizers: 33) from its own vocab.txt is no empty
    # one: it was refused, its message saying the directory held no tokenizer files beside its vocab.txt
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (tmp_path / "vocab.txt").write_text("\n".join([*specials, *"ACDEFGHIKLMNPQRSTVWY"]))  # amino acids
    BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=False).save_pretrained(model)
    assert len(session(model).tokenizer) == 25


def test_a_tokenizer_that_fails_to_build_is_named_by_what_the_directory_holds(
        tmp_path: Path, tiny, monkeypatch: pytest.MonkeyPatch):
    """transformers 4.57 raises a TypeError where no vocabulary file is; one with its files that
    fails so (a tokenizer saved by a newer transformers) is not said to have none (review)."""
    import transformers

    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    def fails(*args, **kwargs):
        raise TypeError("expected str, bytes or os.PathLike object, not NoneType")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fails)
    model = tmp_path / "m"
    model.mkdir()
    shutil.copy(tiny.path / "config.json", model / "config.json")
    shutil.copy(tiny.path / "model.safetensors", model / "model.safetensors")

    def load() -> None:
        GateSession(GateConfig(model=str(model), cache_dir=tmp_path / "cache")).tokenizer  # noqa: B018

    with pytest.raises(GateError, match=r"holds no tokenizer files .*and transformers could not build one"):
        load()
    (model / "vocab.json").write_text("{}")
    with pytest.raises(GateError, match=r"^could not load the tokenizer of .*m \(TypeError: expected str"):
        load()


def test_a_config_naming_fewer_labels_than_the_head_has_outputs_is_refused_at_the_start(
        tiny, tmp_path: Path):
    """A config.json edited to 27 labels beside a head of 28 outputs loaded nowhere: every torch test
    failed with transformers' "You set `ignore_mismatched_sizes` to `False`" traceback. It is one line
    when the model is read, before any test, naming both counts."""
    import json

    model = tmp_path / "model"
    shutil.copytree(tiny.path, model)
    config = json.loads((model / "config.json").read_text())
    assert spec_from_dir("m", model, "local").num_labels == 28
    config["id2label"] = {k: v for k, v in config["id2label"].items() if k != "27"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(GateError, match=r"config\.json names 27 labels \(id2label\) but the classifier head "
                                        r"in the weights has 28 outputs: make id2label"):
        spec_from_dir("m", model, "local")


@pytest.mark.parametrize(("edit", "said"), [
    ({"problem_type": "bogus_classification"}, r"has problem_type 'bogus_classification', which transformers "
                                               r"does not know: one of single_label_classification, "
                                               r"multi_label_classification, regression"),
    ({"problem_type": "regression"}, r"has problem_type 'regression': a regression head scores"),
    ({"id2label": {"0": "a", "1": "a"}},
     r"id2label must name each output of the head once: it names 'a' twice"),
    ({"id2label": {"first": "a"}}, r"id2label is not a mapping of the head's output indices"),
    # softmax over one output: 1 for every text, so an ONNX file of another model passed, drift 0
    ({"id2label": {"0": "score"}, "label2id": {"score": 0}, "problem_type": None},
     r"names one label \('score'\) and a single-label head: softmax over one output is 1"),
    ({"architectures": ["RobertaForTokenClassification"]},
     r"names RobertaForTokenClassification, whose head encoder-gate does not judge"),
    ({"architectures": ["BertForQuestionAnswering"]}, r"names BertForQuestionAnswering, whose head"),
])
def test_a_config_the_gate_would_misread_is_refused_naming_the_config(tiny, tmp_path: Path, edit, said):
    """An unknown problem_type was read as single-label (the error then blamed the data), a regression
    head was judged by softmax, and a duplicate label name was said without naming config.json."""
    import json

    model = tmp_path / "model"
    shutil.copytree(tiny.path, model)
    config = {**json.loads((model / "config.json").read_text()), **edit}
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(GateError, match=r"config\.json('s)? " + said):
        spec_from_dir("m", model, "local")


def test_a_tokenizer_without_a_pad_token_is_refused_once_not_in_every_test(tiny, tmp_path: Path):
    """`"pad_token": null`: every test (and `encoder-gate export`) failed with transformers' "Asking to
    pad but the tokenizer does not have a padding token", 44 tracebacks and 6 minutes of hypothesis
    shrinking; the session's tokenizer refuses it in one line."""
    import json

    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import GateSession

    model = tmp_path / "nopad"
    shutil.copytree(tiny.path, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "pad_token": None}))
    special = model / "special_tokens_map.json"
    if special.exists():
        kept = {k: v for k, v in json.loads(special.read_text()).items() if k != "pad_token"}
        special.write_text(json.dumps(kept))
    session = GateSession(GateConfig(model=str(model), cache_dir=tmp_path / "cache"), progress=print)
    with pytest.raises(GateError, match=r"the tokenizer in .*nopad has no pad token, and every batch the "
                                        r"gate feeds the model is padded: set one"):
        session.tokenizer  # noqa: B018


def test_weights_left_as_git_lfs_pointers_say_git_lfs_pull(tiny, tmp_path: Path):
    """A checkout without `git lfs pull` (actions/checkout without lfs: true) holds 130-byte pointer
    files for the weights: said as "truncated or damaged; save the model again" before."""
    from encoder_gate.models.spec import check_weights

    model = tmp_path / "model"
    shutil.copytree(tiny.path, model)
    check_weights(model)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'4d' * 32}\nsize 12345\n"
    (model / "model.safetensors").write_text(pointer)
    with pytest.raises(GateError, match=r"model\.safetensors is a Git LFS pointer, not the weights: run "
                                        r"`git lfs pull`"):
        check_weights(model)


def test_a_model_type_the_installed_transformers_does_not_know_is_one_line_at_the_start(tmp_path: Path):
    """A ModernBERT under transformers 4.47 (which came in 4.48): each of the session's 105 tests failed
    at its setup with transformers' paragraph. It is refused once, naming the type, this transformers,
    the one that saved it and the fix; a model of its own code (auto_map) says that encoder-gate does
    not run it. A type transformers knows, or none, passes."""
    import json

    import transformers

    from encoder_gate.models.spec import check_model_type

    model = tmp_path / "model"
    model.mkdir()
    for config, said in (({"model_type": "bert"}, None), ({}, None),
                         ({"model_type": "encoder-from-2031", "transformers_version": "9.1.0"},
                          rf"names model type 'encoder-from-2031', which transformers "
                          rf"{transformers.__version__} does not know \(the model was saved by "
                          r"transformers 9\.1\.0\): install a transformers that knows it"),
                         ({"model_type": "my_bert", "auto_map": {"AutoModel": "modeling.MyBert"}},
                          r"its auto_map points at code of the model's own, which encoder-gate does not "
                          r"run")):
        (model / "config.json").write_text(json.dumps(config))
        if said is None:
            check_model_type(model)
        else:
            with pytest.raises(GateError, match=said):
                check_model_type(model)


def test_a_sentencepiece_tokenizer_without_the_package_says_pip_install_sentencepiece(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A DeBERTa-v2 saved with its sentencepiece tokenizer alone (spm.model, no tokenizer.json), where
    the sentencepiece package is not installed: transformers 5.24 says "`tiktoken` is required to read a
    `tiktoken` file". The gate names the file, the package and the fix; a tokenizer.json, or no
    sentencepiece model, needs none."""
    import importlib.util

    from encoder_gate.models.spec import sentencepiece_missing

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sentencepiece"
                        else real(name, *a))
    for name in ("config.json", "tokenizer_config.json", "spm.model"):
        (tmp_path / name).write_text("x")
    said = sentencepiece_missing(tmp_path)
    assert said is not None and said.startswith("its vocabulary is a sentencepiece model (spm.model) with no "
                                                "tokenizer.json") and "pip install sentencepiece" in said
    (tmp_path / "tokenizer.json").write_text("{}")
    assert sentencepiece_missing(tmp_path) is None
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "spm.model").unlink()
    assert sentencepiece_missing(tmp_path) is None


def test_weights_that_do_not_fit_config_json_name_the_tensor_and_both_shapes(tiny, tmp_path: Path):
    """max_position_embeddings edited (or dropped, transformers' default 512 against 514 saved): every
    test failed with transformers' "You set `ignore_mismatched_sizes` to `False`... look at the above
    report", the report only in the log."""
    import json

    from encoder_gate.backends.base import BuildContext
    from encoder_gate.backends.torch_backend import load_torch_model

    model = tmp_path / "model"
    shutil.copytree(tiny.path, model)
    config = json.loads((model / "config.json").read_text())
    saved = config["max_position_embeddings"]
    (model / "config.json").write_text(json.dumps({**config, "max_position_embeddings": saved + 4}))
    from encoder_gate.cache import ArtifactCache

    ctx = BuildContext(model=spec_from_dir("m", model, "local"), cache=ArtifactCache(tmp_path / "cache"))
    with pytest.raises(GateError, match=rf"the weights in .*model do not fit its config\.json: "
                                        rf".*position_embeddings\.weight \[{saved}, \d+\] in the weights, "
                                        rf"\[{saved + 4}, \d+\] by config\.json"):
        load_torch_model(ctx)


def _without(src: Path, out: Path, prefix: str) -> Path:
    """A copy of the model directory `src` whose weights leave out every tensor named `prefix*`."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(src, out)
    weights = out / "model.safetensors"
    kept = {k: v for k, v in load_file(weights).items() if not k.startswith(prefix)}
    assert len(kept) < len(load_file(weights)), prefix
    save_file(kept, weights, metadata={"format": "pt"})
    return out


def test_a_classifier_saved_without_its_head_is_refused_once_naming_the_tensors(
        tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A classifier's head missing from its checkpoint (saved from its base encoder): transformers drew
    it at random on every load, and the gate failed every backend on drift against a reference of
    other random weights. It is one GateError naming the tensors, from the loads and from the check
    at the session's start, whose answer is kept (a second session loads nothing)."""
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.models import loading

    headless = _without(tiny.path, tmp_path / "model", "classifier.")
    said = (r"lacks weights its config\.json builds: classifier\.dense\.bias, "
            r"classifier\.dense\.weight, classifier\.out_proj\.bias, classifier\.out_proj\.weight\. "
            r"transformers would initialize them at random on every load.* Save the fine-tuned classifier")
    with pytest.raises(GateError, match=said):
        loading.load_pretrained(headless, classifier=True)
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(GateError, match=said):
        loading.check_complete(headless, True, cache, "hash-of-headless")
    import torch
    from safetensors.torch import load_file

    old_format = tmp_path / "old-format"  # the same weights as pytorch_model.bin: read by name too
    shutil.copytree(headless, old_format)
    torch.save(load_file(old_format / "model.safetensors"), old_format / "pytorch_model.bin")
    (old_format / "model.safetensors").unlink()
    assert loading._checkpoint_may_lack(old_format, True)
    with pytest.raises(GateError, match=said):
        loading.check_complete(old_format, True, cache, "hash-of-old-format")
    monkeypatch.setattr(loading, "load_pretrained", lambda *a, **k: pytest.fail("loaded again"))
    monkeypatch.setattr(loading, "_checkpoint_may_lack", lambda *a: pytest.fail("read again"))
    with pytest.raises(GateError, match=said):
        loading.check_complete(headless, True, cache, "hash-of-headless")


def test_an_encoder_may_lack_its_pooler_but_not_a_layer(tiny, tmp_path: Path):
    """Read as a feature-extraction encoder (its last hidden state), a checkpoint without a pooler
    (tiny's RoBERTa classifier has none; sentence-transformers' often leave it out) is whole; one
    without an encoder layer's tensor is not. Healthy models load nothing at the session's check."""
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.models import loading

    cache = ArtifactCache(tmp_path / "cache")
    assert loading.load_pretrained(tiny.path, classifier=False) is not None
    assert not loading._checkpoint_may_lack(tiny.path, False)
    assert not loading._checkpoint_may_lack(tiny.path, True)
    loading.check_complete(tiny.path, False, cache, tiny.content_hash)
    layerless = _without(tiny.path, tmp_path / "layerless", "roberta.encoder.layer.1.output.dense")
    assert loading._checkpoint_may_lack(layerless, False)
    with pytest.raises(GateError, match=r"encoder\.layer\.1\.output\.dense\.bias, .*Save the whole encoder"):
        loading.check_complete(layerless, False, cache, "hash-of-layerless")


def test_the_meta_model_imports_nothing_under_the_meta_device(tiny):
    """The session's weights check builds the model on the meta device (spec.meta_model) and imports
    the model's code before it sets it: under it, module-level tensors are made on meta, and torch
    2.6's torch._dynamo, first imported by transformers' model code, failed there, which broke every
    later torch.compile of the session ("partially initialized module 'torch._dynamo'"); transformers
    4.47.1's from_config imported 97 modules under it. In a fresh process, as a session first reads a
    model; transformers' probes of modules that are not there (torch_mlu) import nothing."""
    probe = textwrap.dedent(f"""
        import importlib.abc, pathlib, sys, torch, torch.utils._device
        under_meta = []
        class Watch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if torch.get_default_device().type == "meta":
                    under_meta.append(name)
        sys.meta_path.insert(0, Watch())
        from encoder_gate.models.spec import meta_model
        meta_model(pathlib.Path({str(tiny.path)!r}), True)
        import torch._dynamo  # raises where an import under the meta device broke it
        under_meta = [name for name in under_meta if name in sys.modules]  # not a probe of one absent
        print(len(under_meta), "imported under the meta device, the first:", under_meta[:6])
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1].startswith("0 imported"), done.stdout


def test_the_gates_loads_print_none_of_transformers_reports_and_leave_its_settings(
        tiny, tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    """transformers' load report ("LOAD REPORT ... MISSING ... Consider training on your downstream
    task") and its progress bars came into the README's first command, for the head the default model
    is about to train; the gate says what it loads in its own lines. The user's settings stay."""
    from transformers.utils import logging

    from encoder_gate.models.loading import load_pretrained, quiet_transformers

    before = (logging.get_verbosity(), logging.is_progress_bar_enabled())
    load_pretrained(tiny.path, classifier=False)  # no pooler, the head's tensors unused: a report's matter
    with quiet_transformers():
        from transformers import AutoModelForSequenceClassification

        AutoModelForSequenceClassification.from_pretrained(tiny.path).save_pretrained(tmp_path / "saved")
    out, err = capfd.readouterr()
    phrases = ("LOAD REPORT", "Some weights", "Loading weights", "Writing model")
    printed = [phrase for phrase in phrases if phrase in out + err]
    assert not printed, out + err
    assert (logging.get_verbosity(), logging.is_progress_bar_enabled()) == before


def test_a_model_the_gate_builds_is_saved_without_transformers_bar(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    """transformers 5's "Writing model shards" bar came into `--gate-model tiny`'s first session (the
    tiny and family models, the damage study's copies were saved bare): the gate's own saves are
    quiet, as its loads are. (Its training left out: the save is what is watched.)"""
    from encoder_gate.models import families

    family = "tiny-bert"
    monkeypatch.setattr(families, "train_all", lambda *_args: None)
    families.build_family(family, tmp_path / family, lambda _msg: None)
    out, err = capfd.readouterr()
    assert (tmp_path / family / "config.json").is_file()
    assert "Writing model" not in out + err, out + err


def test_a_sentence_transformers_cross_encoder_is_read_as_it_serves_its_one_score(tmp_path: Path):
    """A reranker saved by sentence-transformers' CrossEncoder (one output, no problem_type) is read as
    the CrossEncoder reads it, the sigmoid of its one logit, and said, whichever version saved it: 6 on
    (config_sentence_transformers.json), 4 and 5 (config.json's block), before 4 (its activation key).
    The same head saved by transformers alone stays refused with the fix, as before; `encoder-gate init`
    says so before it writes a gate that would stop at its start."""
    import json

    from test_init import init

    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
              "id2label": {"0": "LABEL_0"}}
    model = tmp_path / "ce"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(GateError, match=r"names one label \('LABEL_0'\) and a single-label head.*sentence-"):
        spec_from_dir("m", model, "local")
    assert any("will stop at its start on this model: " in w and "single-label head" in w
               for w in init(tmp_path / "p1", model=str(model)).warnings)
    (model / "config_sentence_transformers.json").write_text(json.dumps(
        {"model_type": "CrossEncoder", "activation_fn": "torch.nn.modules.activation.Sigmoid"}))
    spec = spec_from_dir("m", model, "local")
    assert spec.task == "multi_label" and spec.label_names == ("LABEL_0",)
    assert spec.task_note.startswith("a sentence-transformers CrossEncoder with one output and no "
                                     "problem_type: judged as it serves its score, the sigmoid of its one")
    assert not any("will stop" in w for w in init(tmp_path / "p2", model=str(model)).warnings)
    (model / "config_sentence_transformers.json").unlink()
    identity = "torch.nn.modules.linear.Identity"
    for marked in ({"sentence_transformers": {"activation_fn": identity, "version": "4.1"}},
                   {"sbert_ce_default_activation_function": identity}):
        (model / "config.json").write_text(json.dumps({**config, **marked}))
        spec = spec_from_dir("m", model, "local")
        assert spec.task == "multi_label" and spec.cross_encoder == identity
        assert "the order of the scores it serves (Identity of that logit)" in spec.task_note
    # a sentence-transformers embedding model's file is no CrossEncoder's; a stated problem_type wins
    (model / "config.json").write_text(json.dumps(config))
    (model / "config_sentence_transformers.json").write_text('{"model_type": "SentenceTransformer"}')
    with pytest.raises(GateError, match="single-label head"):
        spec_from_dir("m", model, "local")
    (model / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification",
                                                   "sbert_ce_default_activation_function": "x.Identity"}))
    assert spec_from_dir("m", model, "local").task_note is None
