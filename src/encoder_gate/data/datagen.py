"""Deterministic generator of the bundled go_emotions-style dataset.

Every text is composed by this project from the phrase banks in
``data_files/vocab.json`` (subjects, topics, emotion cue phrases per label,
intensifiers and hedges, negations, weak cues shared by related labels, neutral
filler sentences).  Each example has go_emotions' schema:
``{"id": str, "text": str, "labels": [label names]}``.

Design choices that keep the data realistic and not saturated:

* every phrase list is partitioned by position between train, validation and test,
  so test sentences are built from frames, cue clauses and fillers that never occur
  in train (emotion *words* are mostly shared; one adjective per label is test-only);
* weak cues ("ugh", "wow", "oh no") are shared by related labels, negated cues flip
  meaning ("not grateful at all" is disapproval) or carry no emotion at all, and
  emotion words also appear literally in neutral filler ("a cafe called Sweet Relief");
* each label has a few core emotion words used most of the time (Zipf-like), so a
  model can learn them; long texts restate the emotion between neutral fillers;
* lengths follow real comments: mostly one short sentence, a long tail of
  multi-paragraph texts (~1/3 over 200 characters), ~2% longer than 512 wordpieces;
* about 5% of examples get label noise.

Reference difficulty (tests/test_datagen.py, slow): TF-IDF + one-vs-rest logistic
regression with class_weight="balanced", trained on train, scores micro-F1 ~0.70 on
test at threshold 0.5.

Only ``random.Random`` instances seeded from ``SEED`` are used, so
``python -m encoder_gate.data.datagen --out DIR`` regenerates the committed files
byte-identically.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from encoder_gate.data.datasets import DATA_DIR
from encoder_gate.data.labels import GO_EMOTIONS_LABELS

SEED = 20240601
SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_SIZES: dict[str, int] = {"train": 3000, "validation": 500, "test": 1200}
VOCAB_PATH = DATA_DIR / "vocab.json"

EMOTIONS: tuple[str, ...] = tuple(x for x in GO_EMOTIONS_LABELS if x != "neutral")
# Relative frequency of each label as the first label of an example (go_emotions is
# skewed too: approval/admiration are common, grief/relief/pride rare).
_COMMON = ("admiration", "amusement", "annoyance", "approval", "gratitude", "curiosity", "love")
_RARE = ("grief", "pride", "relief", "nervousness", "embarrassment", "remorse")
LABEL_WEIGHTS: dict[str, int] = {x: 5 if x in _COMMON else 3 if x in _RARE else 4 for x in EMOTIONS}

# Position pattern that assigns list items to splits (T=train, V=validation, E=test);
# adjectives use S=shared so the emotion words themselves carry over.
_PATTERN = "TTTVE"
_ADJ_PATTERN = "SSSSVE"
_POOL_CODE = {"train": "T", "validation": "V", "test": "E"}

P_NEUTRAL = 0.15  # example is neutral (neutral is always alone)
P_TWO = 0.20  # non-neutral example gets a second label ...
P_THREE = 0.04  # ... or a second and a third
P_RELATED = 0.6  # extra label drawn from a group related to the first
P_WEAK = 0.10  # cue is only a weak interjection shared by related labels
P_FLIP = 0.25  # flip targets (disappointment, disapproval) expressed by a negated cue
P_ADJ = 0.5  # otherwise: adjective frame (else a cue clause)
ADJ_RANK_WEIGHTS = (12, 4, 2, 1)
P_NEG_DISTRACTOR = 0.10  # add a negated cue that carries no emotion
P_LITERAL = 0.05  # add an emotion word used literally ("a cafe called Sweet Relief")
P_NOISE = 0.05  # label noise
LENGTHS: tuple[tuple[str, float], ...] = (
    ("huge", 0.02),
    ("long", 0.13),
    ("medium", 0.31),
    ("short", 1.0),
)
TARGET_CHARS: dict[str, tuple[int, int]] = {
    "medium": (205, 480),
    "long": (500, 1600),
    "huge": (3100, 4300),
}

# Long comments restate their feelings: cue sentences per label, by length class.
CUE_REPEATS: dict[str, tuple[int, int]] = {"short": (1, 1), "medium": (1, 2), "long": (2, 3), "huge": (2, 4)}

_SLOT = re.compile(r"\{(\w+)\}")
_T = TypeVar("_T")


def load_vocab(path: Path = VOCAB_PATH) -> dict[str, Any]:
    """Read the phrase banks."""
    with path.open(encoding="utf-8") as fh:
        vocab: dict[str, Any] = json.load(fh)
    return vocab


def _pool(items: Sequence[_T], split: str, pattern: str = _PATTERN) -> list[_T]:
    """The items of ``items`` that ``split`` may use."""
    code = _POOL_CODE[split]
    return [x for i, x in enumerate(items) if pattern[i % len(pattern)] in (code, "S")]


class _Deck:
    """Draws labels in proportion to LABEL_WEIGHTS, exactly per shuffled round."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._cards: list[str] = []

    def draw(self) -> str:
        if not self._cards:
            self._cards = [x for x in EMOTIONS for _ in range(LABEL_WEIGHTS[x])]
            self._rng.shuffle(self._cards)
        return self._cards.pop()


@dataclass
class _Writer:
    """Builds sentences for one split from that split's share of the phrase banks."""

    rng: random.Random
    vocab: dict[str, Any]
    split: str

    def __post_init__(self) -> None:
        v, s = self.vocab, self.split
        self.frames = _pool(v["frames"], s)
        self.neg_frames = _pool(v["negation_frames"], s)
        self.flip_frames = _pool(v["flip_frames"], s)
        self.weak_templates = _pool(v["weak_templates"], s)
        self.fillers = _pool(v["fillers"], s)
        self.neutral = _pool(v["neutral"], s)
        self.literal = _pool(v["literal"], s)
        self.adj = {k: _pool(e["adj"], s, _ADJ_PATTERN) for k, e in v["labels"].items()}
        # Zipf-like: the first (most common) emotion words of a label are used most.
        top = len(ADJ_RANK_WEIGHTS) - 1
        self.adj_weights = {
            k: _pool([ADJ_RANK_WEIGHTS[min(i, top)] for i in range(len(e["adj"]))], s, _ADJ_PATTERN)
            for k, e in v["labels"].items()
        }
        self.clauses = {k: _pool(e["clauses"], s) for k, e in v["labels"].items()}
        self.flips: dict[str, str] = v["flips"]
        weak: dict[str, list[str]] = v["weak_cues"]
        self.weak = {x: [w for w in weak if x in weak[w]] for x in EMOTIONS}

    def _slot(self, name: str) -> str:
        v, rng = self.vocab, self.rng
        if name == "topic":
            if rng.random() < 0.3:
                return str(rng.choice(v["standalone_topics"]))
            return f"{rng.choice(v['qualifiers'])} {rng.choice(v['events'])}"
        plural = {"subject": "subjects", "place": "places", "time": "times"}
        return str(rng.choice(v[plural.get(name, name + "s")]))

    def fill(self, template: str, **fixed: str) -> str:
        """Fill ``{slot}`` placeholders; ``{Slot}`` capitalises; the sentence too."""

        def repl(match: re.Match[str]) -> str:
            key = match.group(1)
            value = fixed[key.lower()] if key.lower() in fixed else self._slot(key.lower())
            return value[:1].upper() + value[1:] if key[0].isupper() else value

        text = _SLOT.sub(repl, template)
        return text[:1].upper() + text[1:]

    def cue(self, label: str) -> str:
        """One sentence expressing ``label``, of varied strength."""
        rng = self.rng
        sources = sorted(k for k, dst in self.flips.items() if dst == label)
        if sources and rng.random() < P_FLIP:
            adj = rng.choice(self.adj[rng.choice(sources)])
            return self.fill(rng.choice(self.flip_frames), adj=adj)
        r = rng.random()
        if r < P_WEAK and self.weak[label]:
            return self.fill(rng.choice(self.weak_templates), weak=rng.choice(self.weak[label]))
        if r < P_WEAK + P_ADJ:
            intensity = str(rng.choice(self.vocab["intensifiers"]))
            return self.fill(rng.choice(self.frames), adj=self.emotion_word(label), int=intensity)
        clause = str(rng.choice(self.clauses[label]))
        opener = str(rng.choice(self.vocab["openers"]))
        if clause[-1] in "?!":
            return self.fill(opener + clause)
        tail = str(rng.choice(self.vocab["tails"]))
        return self.fill(opener + clause + tail + ("!" if rng.random() < 0.2 else "."))

    def emotion_word(self, label: str) -> str:
        return self.rng.choices(self.adj[label], self.adj_weights[label])[0]

    def negated_distractor(self, labels: Sequence[str]) -> str:
        """A denied emotion ("I'm not furious at all, it's fine") carrying no label."""
        options = [x for x in self.vocab["negatable"] if x not in labels]
        adj = self.rng.choice(self.adj[self.rng.choice(options)][:2])
        return self.fill(self.rng.choice(self.neg_frames), adj=adj)

    def pick(self, bank: Sequence[str]) -> str:
        return self.fill(self.rng.choice(bank))


def _choose_labels(rng: random.Random, deck: _Deck, related: dict[str, list[str]]) -> list[str]:
    if rng.random() < P_NEUTRAL:
        return ["neutral"]
    labels = [deck.draw()]
    r = rng.random()
    extra = 2 if r < P_THREE else 1 if r < P_THREE + P_TWO else 0
    for _ in range(extra):
        pool = related[labels[0]] if rng.random() < P_RELATED else list(EMOTIONS)
        candidates = [x for x in pool if x not in labels] or [x for x in EMOTIONS if x not in labels]
        labels.append(rng.choice(candidates))
    return labels


def _add_noise(rng: random.Random, labels: list[str]) -> list[str]:
    """Replace, add or drop one label (never leaving neutral mixed with emotions)."""
    out = list(labels)
    r = rng.random()
    if r < 0.25 and len(out) > 1:
        out.pop(rng.randrange(len(out)))
    elif r < 0.5 and out != ["neutral"]:
        out.append(rng.choice([x for x in EMOTIONS if x not in out]))
    else:
        out[rng.randrange(len(out))] = rng.choice([x for x in GO_EMOTIONS_LABELS if x not in out])
    if len(out) > 1 and "neutral" in out:
        out.remove("neutral")
    return out


def _length_class(rng: random.Random) -> str:
    r = rng.random()
    for name, upper in LENGTHS:
        if r < upper:
            return name
    return "short"


def _place(rng: random.Random, kind: str, core: list[str], fillers: list[str]) -> list[str]:
    """Insert the core sentences among fillers; in huge texts usually near the start."""
    out = list(fillers)
    for sentence in core:
        if kind == "huge":
            r = rng.random()
            lo, hi = (0.0, 0.15) if r < 0.7 else (0.9, 1.0) if r < 0.85 else (0.0, 1.0)
            pos = int(len(out) * (lo + (hi - lo) * rng.random()))
        else:
            pos = rng.randint(0, len(out))
        out.insert(pos, sentence)
    return out


def _paragraphs(rng: random.Random, sentences: list[str]) -> str:
    chunks: list[str] = []
    i = 0
    while i < len(sentences):
        n = rng.randint(3, 6)
        chunks.append(" ".join(sentences[i : i + n]))
        i += n
    return "\n\n".join(chunks)


def _example(writer: _Writer, labels: list[str]) -> str:
    rng = writer.rng
    kind = _length_class(rng)
    if labels == ["neutral"]:
        core = [writer.pick(writer.neutral) for _ in range(2 if rng.random() < 0.3 else 1)]
    else:
        lo_rep, hi_rep = CUE_REPEATS[kind]
        core = [writer.cue(x) for x in labels for _ in range(rng.randint(lo_rep, hi_rep))]
    if rng.random() < P_NEG_DISTRACTOR:
        core.insert(rng.randint(0, len(core)), writer.negated_distractor(labels))
    if rng.random() < P_LITERAL:
        core.insert(rng.randint(0, len(core)), writer.pick(writer.literal))
    if kind == "short":
        text = " ".join(core)
        return text if len(text) >= 30 else f"{text} {writer.pick(writer.fillers)}"
    lo, hi = TARGET_CHARS[kind]
    target = rng.randint(lo, hi)
    fillers: list[str] = []
    bank: list[str] = []  # templates drawn without replacement, so repeats are rare
    while sum(len(s) + 1 for s in core + fillers) < target:
        if not bank:
            bank = list(writer.fillers)
            rng.shuffle(bank)
        fillers.append(writer.fill(bank.pop()))
    sentences = _place(rng, kind, core, fillers)
    return " ".join(sentences) if kind == "medium" else _paragraphs(rng, sentences)


def generate_split(split: str, seed: int = SEED, vocab: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Generate one split (``train``, ``validation`` or ``test``) as a list of examples."""
    vocab = load_vocab() if vocab is None else vocab
    rng = random.Random(seed * 10 + SPLITS.index(split))
    writer = _Writer(rng, vocab, split)
    related = {
        x: [y for y in EMOTIONS if y != x and any(x in g and y in g for g in vocab["groups"])]
        for x in EMOTIONS
    }
    deck = _Deck(rng)
    order = {x: i for i, x in enumerate(GO_EMOTIONS_LABELS)}
    examples: list[dict[str, Any]] = []
    for i in range(SPLIT_SIZES[split]):
        labels = _choose_labels(rng, deck, related)
        text = _example(writer, labels)
        if rng.random() < P_NOISE:
            labels = _add_noise(rng, labels)
        ordered = sorted(labels, key=order.__getitem__)
        examples.append({"id": f"{split}-{i:05d}", "text": text, "labels": ordered})
    return examples


def render_jsonl(examples: Sequence[dict[str, Any]]) -> str:
    """The exact bytes (as text) written for a split: one JSON object per line."""
    return "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples)


def write_splits(out_dir: Path, seed: int = SEED, splits: Sequence[str] = SPLITS) -> list[Path]:
    """Generate and write ``<out_dir>/<split>.jsonl`` for each split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = load_vocab()
    paths = []
    for split in splits:
        path = out_dir / f"{split}.jsonl"
        path.write_text(render_jsonl(generate_split(split, seed, vocab)), encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=DATA_DIR, help="output directory (default: the package's data_files/)"
    )
    parser.add_argument("--seed", type=int, default=SEED, help="seed (the committed files use the default)")
    parser.add_argument("--split", choices=SPLITS, action="append", help="only this split (repeatable)")
    args = parser.parse_args(argv)
    for path in write_splits(args.out, args.seed, args.split or SPLITS):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
