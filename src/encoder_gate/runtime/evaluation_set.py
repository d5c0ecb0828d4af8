"""A session's evaluation set: which source its settings read (`bundled` regrouped for a sentiment
head), one split of it, and the set the gate judges, checked against the model.

    ds = evaluation_set(config, model, dataset_source(config, model))

:class:`~encoder_gate.runtime.session.GateSession` keeps each (its `dataset`, `dataset_source`,
`load_split`); nothing here is kept between calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from encoder_gate.accuracy.thresholds import check_setting
from encoder_gate.config import GateConfig
from encoder_gate.data.datasets import (
    SENTIMENT_SOURCE,
    apply_variant,
    check_labels_match,
    check_single_label,
    is_sentiment_labels,
    load_dataset,
    load_texts,
)
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.errors import GateError
from encoder_gate.models.spec import ModelSpec


def evaluation_set(config: GateConfig, model: ModelSpec, source: str) -> Any:
    """The evaluation set: configured source, split and variant, checked against the model.

    With `texts` (a text file, no labels) it holds the texts alone: every parity check
    runs against the torch reference, and the checks that need gold labels skip.
    """
    labelled = config.texts is None
    check_splits(config, model, source)
    ds = load_split(config, model, source, config.split)
    if labelled and model.task.classifier:
        check_labels_match(ds, model.label_names)
    if labelled and model.task.exclusive:
        check_single_label(ds, model.task_note)
    return ds.head(config.limit) if config.limit else ds


def check_splits(config: GateConfig, model: ModelSpec, source: str) -> None:
    """The splits the settings name exist in the source: one file has none to choose, and
    thresholds tuned on any part of it might be tuned on the test texts."""
    single = config.texts is None and Path(source).expanduser().is_file()
    if single and config.split != "test":
        raise GateError(f"dataset {source} is one file with no splits, but split {config.split!r} names "
                        "one: leave split (--gate-split) out")
    check_setting(config.thresholds, model, labelled=config.texts is None,
                  one_file=source if single else None)


def dataset_source(config: GateConfig, model: ModelSpec) -> str:
    """The source actually read: `bundled` becomes `bundled-sentiment` for a sentiment head.

    The bundled splits carry go_emotions' 28 labels; a single-label model whose labels
    are negative and positive gets them regrouped (data.to_sentiment). A feature-
    extraction encoder reads the bundled texts and needs no labels.
    """
    source = config.dataset
    if config.texts is not None:
        return str(config.texts)
    if source != "bundled" or not model.task.exclusive:
        return source
    if is_sentiment_labels(model.label_names):
        return SENTIMENT_SOURCE
    if tuple(n.lower() for n in model.label_names) == GO_EMOTIONS_LABELS:
        return source  # single-label go_emotions: check_single_label says what is wrong
    raise GateError(
        f"model {model.name} is a single-label classifier with labels "
        f"{', '.join(model.label_names)}, but the bundled data is labelled with go_emotions' 28 "
        f"labels (or, as {SENTIMENT_SOURCE}, negative/positive for a sentiment head). Pass a "
        "dataset labelled with the model's labels: `dataset` in [tool.encoder-gate] (or pytest's "
        "--gate-dataset, encoder-gate export's --dataset)"
    )


def load_split(config: GateConfig, model: ModelSpec, source: str, split: str,
               variant: str | None = None) -> Any:
    """One split of `source` (and the configured variant, unless given), with the model's labels; the
    `texts` file, unlabelled, whatever the split."""
    if config.texts is not None:
        texts = load_texts(config.texts, pairs=config.pair_column is not None)
        return apply_variant(texts, variant or config.dataset_variant)
    return load_dataset(source, split=split, variant=variant or config.dataset_variant,
                        text_column=config.text_column, label_column=config.label_column,
                        label_names=model.label_names or None, label_format=config.label_format,
                        pair_column=config.pair_column, relevant_grade=config.relevant_grade)
