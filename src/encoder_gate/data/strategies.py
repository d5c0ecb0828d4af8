"""Shared hypothesis strategies for text: realistic comments, awkward text, batches, long text.

    from hypothesis import given
    from encoder_gate.data.strategies import text_batches

    @given(text_batches())
    def test_something(texts: list[str]) -> None: ...

- `comment_texts()`: short, realistic comments (1-3 sentences built from everyday words).
- `awkward_texts()`: any of `AWKWARD_KINDS`, each also available on its own:
  `emoji`, `cjk`, `rtl` (Arabic/Hebrew with bidi marks), `combining` (stacked combining
  marks), `control` (control characters that are not whitespace), `zero_width`,
  `long_word` (one word of at least `LONG_WORD_CHARS` characters), `whitespace` (only
  whitespace, at least one character) and `empty` (the empty string).
- `any_texts()`: a comment or awkward text; `text_batches()`: lists of 1-6 of them;
  `any_items(pairs=True)`: sentence pairs of two such texts (what a pair model is fed).
- `long_texts()`: at least `LONG_TEXT_WORDS` whitespace-separated words, so more than 512
  tokens under any subword tokenizer (WordPiece, BPE, SentencePiece all give every
  non-empty word at least one token; 520 words > 512 - 2 special tokens).

The strategies are model-free; they know nothing about a tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import cycle, islice
from types import MappingProxyType
from typing import Literal

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from encoder_gate.data.pairs import Text

WORDS: tuple[str, ...] = (
    "i", "you", "we", "they", "my", "your", "our", "this", "that", "it", "the", "a", "an",
    "and", "but", "or", "so", "because", "if", "when", "just", "really", "very", "not",
    "never", "always", "still", "again", "maybe", "honestly", "literally", "actually",
    "love", "hate", "like", "think", "know", "feel", "want", "need", "hope", "miss",
    "wish", "guess", "said", "saw", "made", "got", "went", "read", "watched", "laughed",
    "cried", "agree", "disagree", "thanks", "sorry", "congrats", "wow", "lol", "omg",
    "tbh", "imo", "yeah", "nope", "ok", "please", "good", "great", "awesome", "terrible",
    "awful", "funny", "sad", "angry", "happy", "scared", "proud", "confused", "tired",
    "weird", "nice", "best", "worst", "new", "old", "whole", "last", "first", "next",
    "game", "movie", "song", "post", "thread", "comment", "story", "team", "friend",
    "mom", "dad", "dog", "cat", "city", "work", "school", "weekend", "coffee", "pizza",
    "today", "yesterday", "tomorrow", "night", "morning", "year", "time", "people",
    "everyone", "nobody", "thing", "idea", "point", "question", "answer", "part",
    "don't", "can't", "won't", "i'm", "it's", "that's", "you're", "isn't", "didn't",
    "what", "why", "how", "who", "where", "is", "was", "are", "were", "be", "have",
    "had", "do", "did", "to", "of", "in", "on", "at", "for", "with", "about", "from",
    "all", "some", "much", "more", "too", "up", "out", "here", "there", "now", "then",
)
SENTENCE_ENDS: tuple[str, ...] = (".", ".", "!", "?", "...", "!!", "", " :)")

LONG_WORD_CHARS = 100  # BERT's WordPiece turns words longer than this into one [UNK]
LONG_TEXT_WORDS = 520

# Every character Python calls whitespace (str.isspace): tab to ideographic space (U+3000, the last).
WHITESPACE: tuple[str, ...] = tuple(c for c in map(chr, range(0x3001)) if c.isspace())
# C0/C1 control characters that are not whitespace (0x1c-0x1f and 0x85 count as whitespace).
CONTROL: tuple[str, ...] = tuple(
    chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if not chr(c).isspace()
)
ZERO_WIDTH: tuple[str, ...] = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
# left-to-right / right-to-left marks, embeddings, overrides and isolates
BIDI_CONTROLS: tuple[str, ...] = ("\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)),
                                  *map(chr, range(0x2066, 0x206A)))
# multi-codepoint emoji: skin tone modifier, ZWJ family, flag, variation selector, ZWJ flag
EMOJI_SEQUENCES: tuple[str, ...] = (
    "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1ec\U0001f1e7",
    "\u2764\ufe0f", "\U0001f3f3\ufe0f\u200d\U0001f308",
)


def _chars(lo: int, hi: int, category: Literal["Lo", "Mn", "So"] = "Lo") -> SearchStrategy[str]:
    """Single assigned characters in [lo, hi] of one Unicode category (letters by default)."""
    return st.characters(min_codepoint=lo, max_codepoint=hi, categories=[category])


def _runs(chars: SearchStrategy[str], min_size: int = 1, max_size: int = 8) -> SearchStrategy[str]:
    """Runs of characters without spaces: a 'word' in a script."""
    return st.lists(chars, min_size=min_size, max_size=max_size).map("".join)


def words() -> SearchStrategy[str]:
    """One everyday word."""
    return st.sampled_from(WORDS)


@st.composite
def sentences(draw: st.DrawFn, max_words: int = 14) -> str:
    """One sentence: 1-`max_words` words, capitalized, with an ending."""
    picked = draw(st.lists(words(), min_size=1, max_size=max_words))
    picked[0] = picked[0][:1].upper() + picked[0][1:]
    return " ".join(picked) + draw(st.sampled_from(SENTENCE_ENDS))


def comment_texts(max_sentences: int = 3) -> SearchStrategy[str]:
    """A short, realistic comment: 1-`max_sentences` sentences of everyday words."""
    return st.lists(sentences(), min_size=1, max_size=max_sentences).map(" ".join)


@st.composite
def _sprinkled(draw: st.DrawFn, pieces: SearchStrategy[str], max_pieces: int = 4,
               max_words: int = 8) -> str:
    """At least one awkward piece, mixed in any order with a few everyday words."""
    parts = draw(st.lists(pieces, min_size=1, max_size=max_pieces))
    parts += draw(st.lists(words(), max_size=max_words))
    return " ".join(draw(st.permutations(parts)))


@st.composite
def _infixed(draw: st.DrawFn, marks: SearchStrategy[str], max_marks: int = 3) -> str:
    """An everyday word with 1-`max_marks` marks inserted at any positions (end included)."""
    word = draw(words())
    for _ in range(draw(st.integers(1, max_marks))):
        at = draw(st.integers(0, len(word)))
        word = word[:at] + draw(marks) + word[at:]
    return word


@st.composite
def _combined(draw: st.DrawFn) -> str:
    """An everyday word whose letters carry 1-5 combining marks each (up to 'zalgo')."""
    word = draw(words())
    marks = _runs(_chars(0x0300, 0x036F, "Mn"), 1, 5)
    at = draw(st.lists(st.integers(0, len(word) - 1), min_size=1, max_size=len(word), unique=True))
    return "".join(ch + (draw(marks) if i in at else "") for i, ch in enumerate(word))


@st.composite
def _long_words(draw: st.DrawFn) -> str:
    """A word of `LONG_WORD_CHARS`-2000 characters: 'sooooo...', 'hahaha...', or letters."""
    chunk = draw(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzAEIOU"), min_size=1, max_size=10))
    repeats = draw(st.integers(-(-LONG_WORD_CHARS // len(chunk)), 2000 // len(chunk)))
    return draw(st.sampled_from(["", "so", "ha", "http://x.io/"])) + chunk * repeats


def _emoji() -> SearchStrategy[str]:
    single = st.one_of(_chars(0x1F300, 0x1FAFF, "So"), _chars(0x2600, 0x27BF, "So"))
    return _runs(st.one_of(single, st.sampled_from(EMOJI_SEQUENCES)), 1, 4)


def _cjk() -> SearchStrategy[str]:
    return _runs(st.one_of(
        _chars(0x4E00, 0x9FFF),  # CJK unified ideographs
        _chars(0x3040, 0x30FF),  # hiragana and katakana
        _chars(0xAC00, 0xD7A3),  # hangul syllables
    ), 1, 12)


def _rtl() -> SearchStrategy[str]:
    letters = st.one_of(_chars(0x0621, 0x064A), _chars(0x05D0, 0x05EA))  # Arabic, Hebrew letters
    word = _runs(letters, 1, 8)
    marked = st.tuples(st.sampled_from(("", *BIDI_CONTROLS)), word).map("".join)
    return st.lists(marked, min_size=1, max_size=4).map(" ".join)


AWKWARD_KINDS: Mapping[str, SearchStrategy[str]] = MappingProxyType({
    "emoji": _sprinkled(_emoji()),
    "cjk": _sprinkled(_cjk()),
    "rtl": _sprinkled(_rtl()),
    "combining": _sprinkled(_combined()),
    "control": _sprinkled(_infixed(st.sampled_from(CONTROL))),
    "zero_width": _sprinkled(st.one_of(_infixed(st.sampled_from(ZERO_WIDTH)),
                                       _runs(st.sampled_from(ZERO_WIDTH), 1, 4))),
    "long_word": _sprinkled(_long_words(), max_pieces=1),
    "whitespace": st.text(st.sampled_from(WHITESPACE), min_size=1, max_size=20),
    "empty": st.just(""),
})


def awkward_texts() -> SearchStrategy[str]:
    """Awkward text of any kind in `AWKWARD_KINDS`."""
    return st.one_of(*AWKWARD_KINDS.values())


def whitespace_texts() -> SearchStrategy[str]:
    """Whitespace only (at least one character): spaces, tabs, newlines, Unicode spaces."""
    return AWKWARD_KINDS["whitespace"]


def any_texts() -> SearchStrategy[str]:
    """A realistic comment or an awkward text."""
    return st.one_of(comment_texts(), awkward_texts())


def any_items(pairs: bool = False) -> SearchStrategy[Text]:
    """What a model is fed: any_texts(), or with `pairs` a sentence pair of two of them (data.pairs)."""
    return st.tuples(any_texts(), any_texts()) if pairs else any_texts()


def text_batches(min_size: int = 1, max_size: int = 6,
                 texts: SearchStrategy[Text] | None = None) -> SearchStrategy[list[Text]]:
    """A batch of `min_size`-`max_size` texts (default: comments and awkward text; or any_items())."""
    return st.lists(texts if texts is not None else any_texts(), min_size=min_size, max_size=max_size)


@st.composite
def long_texts(draw: st.DrawFn, min_words: int = LONG_TEXT_WORDS, extra_words: int = 300) -> str:
    """`min_words`-(`min_words` + `extra_words`) words: a few comments repeated, beyond 512 tokens.

    The words come from a few drawn comments cycled to length, so drawing stays cheap; an
    awkward text may lead the way (it does not count towards `min_words`).
    """
    pool = " ".join(draw(st.lists(comment_texts(), min_size=1, max_size=4))).split()
    count = draw(st.integers(min_words, min_words + extra_words))
    head = draw(st.one_of(st.just(""), awkward_texts()))
    body = " ".join(islice(cycle(pool), count))
    return f"{head} {body}" if head else body
