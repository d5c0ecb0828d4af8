"""Loading a model directory's torch weights, as every backend that reads them does.

`load_pretrained` is transformers' `from_pretrained` with what the gate needs around it:
float32 weights (`spec.float32_load`), transformers' own load report and progress bars kept out of
the user's terminal (the gate says what it loads in its own lines), and a checkpoint that lacks
weights the model's outputs depend on refused in one line. transformers initializes such weights at
random on every load, and the gate loads a model once per process (the torch reference, each
export's child process): each backend would then be built from other random weights, and the
session failed every row on drift, blaming the backends for what the directory lacks (a classifier
saved from its base encoder, its head left out; tried on a RoBERTa classifier without its
`classifier.*` tensors, 2026-11-29).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from encoder_gate.cache import ArtifactCache, toolchain_versions
from encoder_gate.errors import GateError
from encoder_gate.models.spec import float32_load, meta_model, model_class, saved_shapes

#: The modules a feature-extraction encoder may lack the weights of without changing what the gate
#: reads of it (`last_hidden_state`): BERT's, RoBERTa's and ALBERT's pooler, which
#: sentence-transformers' checkpoints often leave out.
UNREAD_BY_ENCODERS = frozenset({"pooler"})


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off inside the block, as they were after it: a load's
    report ("LOAD REPORT ... MISSING ... Consider training on your downstream task") and its
    "Loading weights" bars, which the default model's training printed into the README's first
    command, for a head it is about to train."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def missing_weights(missing: Sequence[str], classifier: bool) -> list[str]:
    """The weights of `missing` (transformers' loading info) that the gate's outputs depend on: every
    one of a classifier's; an encoder's but its pooler's (named `pooler.*` by transformers 5,
    `roberta.pooler.*`, with the base model's prefix, by 4.47)."""
    return sorted(k for k in missing if classifier or not UNREAD_BY_ENCODERS & set(k.split(".")[:2]))


def missing_message(path: Path, missing: Sequence[str], unexpected: Sequence[str], classifier: bool) -> str:
    """One line for a checkpoint without weights its model needs, with the fix."""
    named = ", ".join(missing[:4]) + (f" (and {len(missing) - 4} more)" if len(missing) > 4 else "")
    other = (f" (its checkpoint holds {len(unexpected)} tensor(s) this model does not use, "
             f"{', '.join(sorted(unexpected)[:2])}{', ...' if len(unexpected) > 2 else ''}: saved from "
             "another model class?)") if unexpected else ""
    what = "the fine-tuned classifier (the AutoModelForSequenceClassification you trained)" if classifier \
        else "the whole encoder"
    return (f"{path} lacks weights its config.json builds: {named}{other}. transformers would initialize "
            "them at random on every load, so each backend would be built from other weights and no check "
            f"could mean anything. Save {what} with save_pretrained() into that directory, or point "
            "--gate-model at the directory that holds it")


def load_pretrained(path: Path, classifier: bool, **load: Any) -> Any:
    """`path`'s model as float32 (AutoModelForSequenceClassification, else AutoModel), quietly, in
    eval mode; GateError where its checkpoint lacks weights its outputs depend on. `load` goes to
    `from_pretrained` (e.g. attn_implementation="eager"). Other failures are from_pretrained's own."""
    try:
        with quiet_transformers():
            model, info = model_class(classifier).from_pretrained(path, output_loading_info=True,
                                                                  **{**float32_load(), **load})
    except AttributeError:  # transformers 4.47 reads a safetensors file's metadata, None where it has none
        bare = unmarked_safetensors(Path(path))
        if not bare:
            raise
        import transformers

        raise GateError(
            f"{bare[0]} has no metadata, and transformers {transformers.__version__} reads its 'format' "
            "(it fails with \"'NoneType' object has no attribute 'get'\"): save the model again with "
            "save_pretrained, or write the file with safetensors' save_file(..., metadata={'format': 'pt'}); "
            "newer transformers (4.57, 5) load it as it is") from None
    missing = missing_weights(list(info.get("missing_keys") or ()), classifier)
    if missing:
        raise GateError(missing_message(Path(path), missing, list(info.get("unexpected_keys") or ()),
                                        classifier))
    return model.eval()


def unmarked_safetensors(path: Path) -> list[Path]:
    """The safetensors files of the model directory `path` that hold no metadata (safetensors'
    `save_file` without `metadata=`), which transformers 4 cannot load."""
    from safetensors import safe_open

    bare = []
    for file in sorted(Path(path).glob("*.safetensors")):
        try:
            with safe_open(str(file), "np") as opened:
                if opened.metadata() is None:
                    bare.append(file)
        except Exception:  # an unreadable file: transformers' load says why
            continue
    return bare


def _checkpoint_may_lack(path: Path, classifier: bool) -> bool:
    """Whether the directory's checkpoint may leave out a parameter its model builds (the tensors'
    names against a meta-device model of its config.json, nothing allocated; a tied parameter counts
    as present under any of its names, a name with or without the base model's prefix, and
    transformers 4's legacy `gamma`/`beta`). Cheap, and cautious: a False is final, a True is
    confirmed by loading. False where it cannot tell (names it cannot read, a config transformers
    cannot build): the loads check."""
    saved = {_modern(name) for name in _saved_names(path)}
    if not saved:
        return False
    try:
        with quiet_transformers():
            model = meta_model(path, classifier)
    except Exception:  # transformers raises many types for a config it cannot build: the loads say why
        return False
    prefix = f"{model.base_model_prefix}."
    aliases: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(parameter), []).append(name)

    def present(name: str) -> bool:
        return name in saved or name.removeprefix(prefix) in saved or prefix + name in saved

    return bool(missing_weights([names[0] for names in aliases.values() if not any(map(present, names))],
                                classifier))


def _saved_names(path: Path) -> set[str]:
    """The tensors' names in the directory's safetensors headers, else in its `pytorch_model*.bin`
    files (read onto the meta device through a memory map: nothing of their data is read); empty
    where they cannot be read."""
    names = set(saved_shapes(path))
    if names:
        return names
    import torch

    for file in sorted(path.glob("pytorch_model*.bin")):
        try:
            names.update(torch.load(file, map_location="meta", weights_only=True, mmap=True))
        except Exception:  # an old (not zip) file, pickled objects, a damaged file: the loads say
            return set()
    return names


def _modern(name: str) -> str:
    """A checkpoint's tensor name as transformers loads it (4.x renamed LayerNorm's gamma and beta)."""
    head, _, last = name.rpartition(".")
    return f"{head}.{ {'gamma': 'weight', 'beta': 'bias'}.get(last, last)}" if head else name


def check_complete(path: Path, classifier: bool, cache: ArtifactCache, content_hash: str) -> None:
    """GateError where `path`'s checkpoint lacks weights its outputs depend on, said once when the
    model is read (not by every test that loads it, after the builds). Where the tensors' names leave
    nothing out (every healthy model) nothing is loaded; the answer is kept per model content and
    transformers version, so a session after the first reads it (its meta model cost 1.4 s of
    imports where nothing else loaded the model's code: RoBERTa, AMD EPYC Zen 5)."""

    def decide() -> list[str]:
        if not _checkpoint_may_lack(path, classifier):
            return []
        try:
            load_pretrained(path, classifier)
        except GateError as exc:
            return [str(exc)]
        except Exception:  # a load that fails otherwise is the loads' to say, where they run
            return []
        return []

    said, _ = cache.get_or_compute_json(
        "weights-complete", {"model": content_hash, "classifier": classifier, "recipe": 1,
                             "versions": toolchain_versions(("transformers",))}, decide, "said.json")
    if said:
        raise GateError(said[0])
