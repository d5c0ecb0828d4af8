"""A baseline session's predictions, made on other libraries: `--gate-accuracy-baseline FILE`.

A PR that changes requirements.txt is gated on the PR's libraries: the A/B runs base and PR on
them, so a transformers or onnxruntime release that moves the model's outputs moves both sides
alike, and the torch reference with them. The workflow's requirements step therefore runs the
base's `pytest accuracy` on the base's own requirements (its own venv) into ../base-stack, and the
PR's session then judges each backend against that session's predictions of it:

    baseline = AccuracyBaseline.open(Path("../base-stack/accuracy.json"), pr_session)
    baseline.pairs                         # the PR's backends the baseline predicted
    baseline.accuracy_failure("torch")     # the F1 rule and the per-label check, PR vs baseline

The baseline's accuracy.json names the artifact-cache entry that keeps each backend's predictions
(`cached_outputs`' `entry`, :mod:`encoder_gate.runtime.predictions`), so both sessions share one
cache (`--gate-cache-dir`). The entry's key says which texts it predicted: they must be this
session's evaluation texts, in order, or nothing is compared (a GateError saying why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.accuracy.checks import judge_all
from encoder_gate.accuracy.evaluation import Evaluation
from encoder_gate.accuracy.growth import DriftGrowth
from encoder_gate.backends.registry import parse_backend
from encoder_gate.cache import MANIFEST, toolchain_versions
from encoder_gate.errors import GateError
from encoder_gate.runtime.predictions import backend_kind, read_predictions, texts_digest
from encoder_gate.runtime.session import GateSession
from encoder_gate.runtime.versus import AgainstBase
from encoder_gate.tasks import Task

#: What writes the file the option reads.
WRITER = "pytest accuracy"


@dataclass(frozen=True)
class BaselineModel:
    """The model the baseline's accuracy.json names."""

    name: str
    content_hash: str
    task: Task
    label_names: tuple[str, ...]


@dataclass
class AccuracyBaseline(AgainstBase):
    """A baseline session's predictions beside the PR's session, and the pairs between them."""

    pr: GateSession
    path: Path  # the baseline's accuracy.json
    document: dict[str, Any]
    entries: dict[str, str]  # the baseline's backend -> the cache entry of its predictions
    pairs: dict[str, str] = field(default_factory=dict)
    _evaluations: dict[str, Evaluation] = field(default_factory=dict)
    _growths: dict[str, DriftGrowth | None] = field(default_factory=dict)
    _predictions: dict[str, np.ndarray] = field(default_factory=dict)
    _keys: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # each entry's, read once
    side = "the baseline"

    @classmethod
    def open(cls, path: Path, pr: GateSession) -> AccuracyBaseline:
        """Read the baseline's accuracy.json; a GateError for a file that is not one, one an older
        encoder-gate wrote, or one whose backends share nothing kept with this session's."""
        try:
            doc = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise GateError(f"--gate-accuracy-baseline {path}: no such file; give the accuracy.json that "
                            f"`{WRITER}` wrote on the other libraries") from None
        except (OSError, ValueError) as exc:
            raise GateError(f"--gate-accuracy-baseline {path}: not readable JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict) or "backends" not in doc:
            raise GateError(f"--gate-accuracy-baseline {path}: not an accuracy.json of encoder-gate (written "
                            f"by `{WRITER}`)")
        cached = doc.get("cached_outputs") or {}
        entries = {name: str(got["entry"]) for name, got in cached.items()
                   if isinstance(got, dict) and got.get("entry")}
        if "label_names" not in doc["model"] or not entries:
            raise GateError(f"--gate-accuracy-baseline {path}: it names no predictions to compare with "
                            "(written by an older encoder-gate, or by a session that predicted nothing): "
                            f"run `{WRITER}` there again with this encoder-gate")
        kinds = {backend_kind(name): name for name in entries}
        pairs = {n: kinds[backend_kind(n)] for n in pr.config.backends if backend_kind(n) in kinds}
        if not pairs:
            raise GateError(f"--gate-accuracy-baseline {path}: its predictions ({', '.join(entries)}) are of "
                            f"no backend this session runs ({', '.join(pr.config.backends)})")
        return cls(pr=pr, path=Path(path), document=doc, entries=entries, pairs=pairs)

    @property
    def base_model(self) -> BaselineModel:
        m = self.document["model"]
        return BaselineModel(str(m.get("name")), str(m.get("content_hash")), Task.of(m.get("task")),
                             tuple(m.get("label_names") or ()))

    @property
    def encoder(self) -> bool:
        """A feature-extraction encoder: judged by its embeddings' checks, not by an F1."""
        return not self.pr.model.task.classifier

    @property
    def accuracy_not_applicable(self) -> str | None:
        """None for a classifier, and for an encoder whose model is the baseline's (the same weights
        on other libraries: its embeddings should not move); a retrained encoder's move by design."""
        b, p = self.base_model, self.pr.model
        if self.encoder and b.content_hash != p.content_hash:
            return (f"{p.name} is a feature-extraction encoder and its model is not the baseline's "
                    f"({b.name}, content {b.content_hash}; here {p.content_hash}): a retrained encoder's "
                    "embeddings move by design, so their drift from the baseline's says nothing about a loss")
        return None

    @property
    def accuracy_not_compared(self) -> str | None:
        """Why nothing can be compared with the baseline: no F1 here (as against a base; an encoder
        needs none), or its predictions are of other texts than this session's evaluation texts (the
        PR changed the dataset settings too, or the base's differ), or None."""
        if self.encoder:
            return self.accuracy_not_applicable or self._other_texts
        return super().accuracy_not_compared or self._other_texts

    def accuracy_failure(self, name: str) -> str | None:
        """A classifier's as against a base (the F1 rule, per label); an encoder's embeddings of
        backend `name` against the baseline's by the checks and bounds it is judged by against torch
        (drift, cosine, relative L2): the same weights on other libraries keep within them."""
        if not self.encoder:
            return super().accuracy_failure(name)
        if why := self.accuracy_not_compared:
            return f"not compared with {self.side}: {why}"
        failing = self._moved(name)
        if not failing:
            return None
        said = "; ".join(f"{check} {row['observed']:.4g} (bound: {row['direction']} {row['bound']:g})"
                         for check, row in failing.items())
        return (f"{name}'s embeddings moved from {self.side}'s {self.pairs[name]} on the same "
                f"{len(self.pr.dataset.texts)} texts beyond its bounds: {said}")

    def accuracy_failed_by(self, name: str) -> list[str]:
        if not self.encoder:
            return super().accuracy_failed_by(name)
        return [] if self.accuracy_not_compared else list(self._moved(name))

    def _moved(self, name: str) -> dict[str, dict[str, Any]]:
        """An encoder's checks of backend `name` against the baseline's embeddings that fail."""
        judged = judge_all(self.accuracy(name), self.pr.bounds(name))
        return {check: row for check, row in judged.items() if not row["passed"]}

    @cached_property
    def _other_texts(self) -> str | None:
        """Why the baseline's predictions are of other texts than this session's (read once: every
        check of every backend asks), or None."""
        texts, cfg = self.pr.dataset.texts, self.pr.config
        digest = texts_digest(texts)
        for theirs in self.pairs.values():
            key = self._key(theirs)
            if key is not None and key.get("texts") != digest:
                return (f"the baseline ({self.path}) predicted other texts than this session's {len(texts)} "
                        f"evaluation texts ({cfg.dataset}, split {cfg.split}), so their F1 cannot be paired: "
                        "both sessions must evaluate the same dataset settings (a PR that changes them and "
                        "its requirements is gated on both in two PRs, each against its base)")
        return None

    def _key(self, theirs: str) -> dict[str, Any] | None:
        """The cache key of the baseline's predictions of `theirs` (None: the entry is not there),
        its entry checked once."""
        if theirs not in self._keys:
            entry = self.pr.cache.root / self.entries[theirs]
            key = None
            if self.pr.cache.is_valid(entry):
                key = json.loads((entry / MANIFEST).read_text()).get("key")
                key = key if isinstance(key, dict) else {}
            self._keys[theirs] = key
        return self._keys[theirs]

    def predictions(self, name: str) -> np.ndarray:
        """The baseline's outputs of the PR backend `name`'s pair, read from the shared cache: a
        GateError where the entry is gone, or where it predicted other texts than this session's."""
        if name not in self._predictions:
            theirs = self.pairs[name]
            key = self._key(theirs)
            if key is None:
                raise GateError(
                    f"the baseline's predictions of {theirs} ({self.entries[theirs]}) are not in the "
                    f"artifact cache {self.pr.cache.root}: run both sessions with the same "
                    f"--gate-cache-dir, or `{WRITER}` on the baseline's libraries again")
            texts = self.pr.dataset.texts
            if key.get("texts") != texts_digest(texts):
                raise GateError(f"not compared with the baseline: {self._other_texts}")
            values = read_predictions(self.pr.cache.root / self.entries[theirs])
            if values.shape[0] != len(texts):  # the digest matched: a damaged entry
                raise GateError(f"the baseline's predictions of {theirs} hold {values.shape[0]} rows for "
                                f"{len(texts)} texts; `{WRITER}` on the baseline's libraries again")
            self._predictions[name] = values
        return self._predictions[name]

    @property
    def not_in_baseline(self) -> list[str]:
        """This session's backends the baseline did not predict (nothing to compare them with)."""
        return [n for n in self.pr.config.backends if n not in self.pairs]

    def versions_changed(self) -> list[str]:
        """The libraries whose versions differ between the baseline and this session ("torch 2.6.0 ->
        2.13.0"), of those this session's backends name."""
        theirs = self.document.get("versions") or {}
        ours = toolchain_versions(p for n in self.pr.config.backends for p in parse_backend(n).packages)
        return [f"{lib} {theirs[lib]} -> {ours[lib]}" for lib in ours
                if lib in theirs and theirs[lib] != ours[lib] and lib != "encoder-gate"]
