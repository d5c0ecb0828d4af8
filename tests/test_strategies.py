"""The shared hypothesis strategies produce what they claim."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from encoder_gate.data.strategies import (
    AWKWARD_KINDS,
    CONTROL,
    LONG_TEXT_WORDS,
    LONG_WORD_CHARS,
    WHITESPACE,
    WORDS,
    ZERO_WIDTH,
    any_texts,
    awkward_texts,
    comment_texts,
    long_texts,
    text_batches,
)
from encoder_gate.models.spec import minilm_dir

# `find` without shrinking: the first example that matches is proof enough, and fast.
FIND = settings(max_examples=2000, database=None, phases=[Phase.generate])


def is_emoji(c: str) -> bool:
    return 0x1F1E6 <= ord(c) <= 0x1FAFF or 0x2600 <= ord(c) <= 0x27BF


def is_cjk(c: str) -> bool:
    return 0x4E00 <= ord(c) <= 0x9FFF or 0x3040 <= ord(c) <= 0x30FF or 0xAC00 <= ord(c) <= 0xD7A3


# What makes a text belong to each kind of awkward text.
KIND_CHECKS: dict[str, Callable[[str], bool]] = {
    "emoji": lambda t: any(map(is_emoji, t)),
    "cjk": lambda t: any(map(is_cjk, t)),
    "rtl": lambda t: any(unicodedata.bidirectional(c) in ("R", "AL") for c in t),
    "combining": lambda t: any(unicodedata.combining(c) for c in t),
    "control": lambda t: any(c in CONTROL for c in t),
    "zero_width": lambda t: any(c in ZERO_WIDTH for c in t),
    "long_word": lambda t: any(len(w) >= LONG_WORD_CHARS for w in t.split()),
    "whitespace": lambda t: t != "" and t.isspace(),
    "empty": lambda t: t == "",
}


def test_every_kind_has_a_check() -> None:
    """The checks below cover exactly the kinds the module offers."""
    assert set(KIND_CHECKS) == set(AWKWARD_KINDS)


@pytest.mark.parametrize("kind", list(AWKWARD_KINDS))
@given(data=st.data())
def test_each_kind_produces_its_kind(kind: str, data: st.DataObject) -> None:
    """Every text drawn from one kind's strategy belongs to that kind."""
    text = data.draw(AWKWARD_KINDS[kind])
    assert KIND_CHECKS[kind](text), repr(text)


@pytest.mark.parametrize("kind", list(AWKWARD_KINDS))
def test_awkward_texts_can_produce_each_kind(kind: str) -> None:
    """The union strategy reaches every kind."""
    assert KIND_CHECKS[kind](find(awkward_texts(), KIND_CHECKS[kind], settings=FIND))


def test_emoji_can_be_a_multi_codepoint_sequence() -> None:
    """Emoji include ZWJ sequences (family, rainbow flag), not just single code points."""
    assert "\u200d" in find(AWKWARD_KINDS["emoji"], lambda t: "\u200d" in t, settings=FIND)


def test_control_characters_are_not_whitespace() -> None:
    """`control` and `whitespace` do not overlap, so each kind tests one thing."""
    assert not set(CONTROL) & set(WHITESPACE)
    assert all(unicodedata.category(c) == "Cc" for c in CONTROL)
    assert all(c.isspace() for c in WHITESPACE) and " " in WHITESPACE and "\u3000" in WHITESPACE


@given(comment_texts())
def test_comments_are_short_sentences_of_everyday_words(text: str) -> None:
    """Comments are non-empty ASCII made only of the known words and sentence punctuation."""
    assert text.isascii() and text.strip()
    assert len(text.split()) <= 3 * 14 + 3
    known = {w.lower() for w in WORDS}
    for token in text.split():
        word = re.sub(r"[.!?:)]+$", "", token).lower()
        assert word in known or word == "", token


@given(text_batches())
def test_batches_hold_one_to_six_texts(texts: list[str]) -> None:
    """Default batches have 1-6 strings."""
    assert 1 <= len(texts) <= 6
    assert all(isinstance(t, str) for t in texts)


def test_any_texts_mixes_comments_and_awkward_text() -> None:
    """any_texts() reaches both realistic comments and awkward text."""
    assert find(any_texts(), lambda t: t.isascii() and len(t.split()) >= 3, settings=FIND)
    assert find(any_texts(), lambda t: not t.isascii(), settings=FIND)


@settings(max_examples=10)
@given(long_texts())
def test_long_texts_have_enough_words(text: str) -> None:
    """Long texts have at least LONG_TEXT_WORDS whitespace-separated ASCII words."""
    ascii_words = [w for w in text.split() if w.isascii()]
    assert len(ascii_words) >= LONG_TEXT_WORDS


@pytest.fixture(scope="module")
def wordpiece() -> Any:
    """A real tokenizer that needs no build: all-MiniLM-L6-v2's, shipped in site-packages."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


@settings(max_examples=10)
@given(text=long_texts())
def test_long_texts_exceed_512_tokens_for_a_real_tokenizer(wordpiece: Any, text: str) -> None:
    """With a real WordPiece tokenizer, long texts are beyond the 512-token limit."""
    assert len(wordpiece(text)["input_ids"]) > 512

