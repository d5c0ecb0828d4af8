"""Padding, batching, truncation and tokenization properties, for every configured backend.

Hypothesis draws realistic comments and awkward text (`encoder_gate.data.strategies`); each
property runs against each built backend (ids are the backend names), so
`pytest accuracy -k padding` selects all of them. Agreement between outputs is judged
with the backend's `padding_atol` from `encoder_gate.accuracy.tolerances` (never a literal here).

Properties:

- padding invariance: an item's output is the same alone, padded to the longest item of
  its batch, and padded to a fixed length. The fixed length is `PADDED_LENGTH` (128, or
  the model's limit if lower), not 512: the property does not depend on the length and
  128 keeps each example fast. All three encodings truncate at that same length.
- batch composition: an item's output depends neither on its neighbours nor on its
  position in the batch (texts of any length, truncated at `PADDED_LENGTH` too: three
  batches of up to six 512-token texts per example made it the costliest property, and
  long inputs have a property of their own below).
- truncation: text beyond the model's limit (`inference.max_length`, at most 512 tokens)
  is truncated, not an error; the ids are the tokenizer's own content ids cut to fit
  between the special tokens (compared as ids, nothing is decoded), and the output equals
  the output of that explicitly truncated batch.
- masks: `inference.encode` pads on the right with contiguous masks (ones, then zeros),
  with the tokenizer's own `pad_token_id` (backend-independent, so run once, not per backend).
- awkward text: every kind in `strategies.AWKWARD_KINDS` gives one finite row per text,
  probabilities in [0, 1], the right number of labels.
- empty and whitespace-only text: the empty string encodes to just the special tokens
  (`<s> </s>`, `[CLS] [SEP]`) under every tokenizer that adds them (one that adds none, GPT-2's,
  encodes it as no tokens, on which no model runs: the properties then draw no text of no tokens,
  `awkward[empty]` is skipped saying so, and the verdict's tokenizer note says it). Whitespace-only
  text depends on the tokenizer: WordPiece (BERT, MiniLM, DistilBERT) strips all of it, so it also gives just
  the special tokens and the same output as the empty string; byte-level BPE (RoBERTa,
  roberta-base-go_emotions, the `tiny` model) keeps whitespace as tokens (one or more per
  character, e.g. `Ġ` for a space, `Ċ` for a newline), so the model sees them. Either
  way it is the special tokens around the tokenizer's own content ids, and well formed.
- determinism: the same batch twice gives the same output, exactly on CPU (within
  `padding_atol` on CUDA), even with another batch shape run in between; `predict` does
  not modify its input (at most `PADDED_LENGTH` tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from encoder_gate.backends.base import NO_TOKENS
from encoder_gate.backends.registry import REFERENCE_BACKEND
from encoder_gate.data import strategies
from encoder_gate.data.pairs import Text
from encoder_gate.data.strategies import (
    AWKWARD_KINDS,
    comment_texts,
    long_texts,
    text_batches,
    whitespace_texts,
)
from encoder_gate.errors import CheckFailed, GateError, NotFinite
from encoder_gate.plugin.stash import HYPOTHESIS_BUILTINS
from encoder_gate.runtime import inference
from encoder_gate.runtime.inference import assert_well_formed, encode, encodes_nothing, max_length, not_finite
from encoder_gate.runtime.properties import (
    code_digest,
    draw,
    examples_dir,
    kept_examples,
    property_key,
    property_seed,
    run_or_read,
)

__all__ = [
    "test_padding_alone_longest_and_max_length_agree",
    "test_padding_awkward_text_is_handled",
    "test_padding_batch_composition_does_not_matter",
    "test_padding_empty_and_whitespace_only_texts",
    "test_padding_is_right_sided_with_contiguous_masks",
    "test_padding_long_text_is_truncated_like_the_tokenizer",
    "test_padding_long_text_predicts_like_its_truncated_ids",
    "test_padding_same_input_gives_same_output",
]

PADDED_LENGTH = 128  # max_length padding in these tests (see the module docstring)

#: An example every session runs first, whatever it draws: a two-token text batched with a long one
#: (about 60 tokens with any tokenizer here, under PADDED_LENGTH), so the short one is padded by
#: dozens of tokens. A backend that ignores the attention mask fails on it in every session.
PADDED_PAIR = ("I agree.",
               "Honestly I did not expect the ending at all, and after thinking about it for a whole week "
               "I still cannot decide whether it was brilliant or simply lazy writing from a tired team.")

# encoder-gate's budget for projects that load no hypothesis profile of their own. The examples are
# drawn from a seed of what is judged whatever the profile (encoder_gate.runtime.properties), with
# or without `CI`; a project's own loaded profile (e.g. this repository's conftest.py) sets how many.
settings.register_profile("encoder-gate", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def _profile() -> settings:
    """The project's loaded hypothesis profile, or encoder-gate's own when the project loaded none
    (hypothesis's built-in "default", or its "ci", which CI variables load: 100 examples a property)."""
    current = getattr(settings, "get_current_profile_name", None)  # hypothesis 6.139 on
    name = current() if current else str(getattr(settings, "_current_profile", None) or "default")
    if settings.get_profile(name) is not HYPOTHESIS_BUILTINS.get(name):
        return settings()
    return settings.get_profile("encoder-gate")


# The backend fixture is session-scoped, so hypothesis reuses it across examples safely.
# Keep the profile's own suppressions and add ours.
tokenizer_settings = settings(_profile(), deadline=None)
backend_settings = settings(
    _profile(),
    deadline=None,
    suppress_health_check=[*_profile().suppress_health_check, HealthCheck.function_scoped_fixture],
)


#: Weights (bytes) up to which a backend property draws its profile's examples; a larger model
#: draws proportionally fewer, never fewer than MIN_BACKEND_EXAMPLES. A backend that pads, masks or
#: batches wrongly is wrong on almost every padded batch, so a few examples find it, while each
#: example costs in proportion to the model's size: a RoBERTa-base (500 MB) draws a fifth of a
#: MiniLM's (91 MB). The tokenizer properties, which cost no model, keep the whole profile.
FULL_EXAMPLES_UP_TO = 100_000_000
MIN_BACKEND_EXAMPLES = 3


def backend_examples(gate_session: Any, at_most: int | None = None) -> settings:
    """The hypothesis settings of one backend property in this session (see FULL_EXAMPLES_UP_TO)."""
    wanted = backend_settings.max_examples if at_most is None else min(at_most, backend_settings.max_examples)
    weights = gate_session.model_bytes
    if weights > FULL_EXAMPLES_UP_TO:
        wanted = min(wanted, max(MIN_BACKEND_EXAMPLES, round(wanted * FULL_EXAMPLES_UP_TO / weights)))
    return settings(backend_settings, max_examples=wanted)


def padding_atol(backend: Any, gate_session: Any) -> float:
    """The backend's padding tolerance for the model's task (probabilities or embeddings)."""
    return float(gate_session.bounds(backend.name).padding_atol)


#: The code that decides the backend properties: this module, its strategies and the encoding they
#: feed through (a kept pass is keyed on it, encoder_gate.runtime.properties).
PROPERTY_CODE = code_digest([Path(__file__), Path(strategies.__file__), Path(inference.__file__)])


def run_property(check: Any, strategies: dict[str, Any], backend: Any, gate_session: Any,
                 backend_tokenizer: Any, examples: settings, agree: Agreement | None = None,
                 explicit: tuple[dict[str, Any], ...] = (), **params: object) -> None:
    """Run a backend property (`check`, its arguments drawn from `strategies`) at the evaluation
    threads, as the predictions: its kept failures replayed, then its fixed examples drawn from a seed
    of what is judged, or, exploring (--gate-explore N), N random ones (runtime.properties.draw). A
    property of fixed examples on a cacheable runner that passed before with everything that decides
    it unchanged is read from the artifact cache instead of drawing its examples again
    (encoder_gate.runtime.properties); an exploring session always draws."""
    broken = getattr(backend, "broken", None)
    if broken:  # its library failed on an earlier batch: said at once, not by hypothesis's every example
        raise GateError(broken)  # and its shrinking (walk AL: 60 s a property on a loaded machine)

    name = check.__qualname__.split(".")[0]  # the test's own name (check is defined inside it)
    explore = gate_session.config.explore
    database = examples_dir(gate_session.config.cache_dir, gate_session.model, backend.name, name, params)
    seed_value = property_seed(gate_session.model, backend.name, name, PROPERTY_CODE, params)

    def run() -> dict[str, float] | None:
        with gate_session.untimed(backend):
            # a backend that cannot predict at all (torch-compile whose compile fails) fails here, in one
            # call, not in hypothesis's first example and then its shrinking, which ran the failing call
            # again for 74 s of a 2-layer model's property (its strategies drawing texts all along); and
            # one whose outputs are no numbers (its shrinking took 25 s a property of tiny at NaN)
            if said := not_finite(backend.name, backend.predict(encode(backend_tokenizer, ["a"])), ["a"]):
                raise NotFinite(said)
            draw(check, strategies, examples, seed_value=seed_value, database=database, explore=explore,
                 explicit=explicit)
        return None if agree is None else {"largest": agree.largest}

    key = None if explore else property_key(
        name, backend, gate_session.model, examples, PROPERTY_CODE,
        {**params, "atol": padding_atol(backend, gate_session),
         **({"pairs": True} if fed_pairs(gate_session) else {}),  # (single texts' keys as they were)
         "device": gate_session.device_of(backend.name), "padded_length": padded_length(backend_tokenizer),
         "max_length": max_length(backend_tokenizer),
         "seed": seed_value, "kept_failures": kept_examples(database)})
    which = f"[{'-'.join(str(v) for v in params.values())}]" if params else ""  # as pytest's id
    try:
        seen = run_or_read(gate_session, key, run, backend.name, name + which,
                           f"{examples.max_examples} fixed examples")
    except BaseException:  # a failed property's difference is the verdict's too: its padding line said
        if agree is not None and agree.largest > 0:  # 0 beside two failed properties (0.892, 0.917)
            gate_session.saw_padding(backend.name, agree.largest, agree.atol)
        raise
    if agree is not None and seen and "largest" in seen:
        gate_session.saw_padding(backend.name, float(seen["largest"]), agree.atol)


def run_tokenizer_property(check: Any, strategies: dict[str, Any], gate_session: Any) -> None:
    """Run a property of the tokenizer alone (no backend: checked once a session), drawn as the
    backend properties are (runtime.properties.draw), at the tokenizer's budget."""
    name = check.__qualname__.split(".")[0]
    draw(check, strategies, tokenizer_settings, explore=gate_session.config.explore,
         seed_value=property_seed(gate_session.model, "tokenizer", name, PROPERTY_CODE, {}),
         database=examples_dir(gate_session.config.cache_dir, gate_session.model, "tokenizer", name, {}))


def with_special_tokens(tok: Any, content: list[int]) -> tuple[list[int], list[int]]:
    """`content` ids between the tokenizer's single-text special tokens, and that sequence's
    token type ids, read off the tokenizer's own encoding of a probe word (transformers 5's
    tokenizers no longer have build_inputs_with_special_tokens or
    create_token_type_ids_from_sequences)."""
    probe = tok("hello", add_special_tokens=False)["input_ids"]
    full = tok("hello", return_token_type_ids=True)
    ids = list(full["input_ids"])
    types = list(full.get("token_type_ids") or [0] * len(ids))
    for i in range(len(ids) - len(probe) + 1):
        if probe and ids[i:i + len(probe)] == probe:
            end = i + len(probe)
            return ids[:i] + content + ids[end:], types[:i] + [types[i]] * len(content) + types[end:]
    raise AssertionError(f"the tokenizer encodes 'hello' as {ids}, which does not hold its content ids "
                         f"{probe}: cannot tell its special tokens apart")


#: Said after a padding property the torch reference itself fails: the model's own outputs depend on
#: its padding (a trial's GPT-2 classifier, its config.json's pad_token_id not its tokenizer's), so every
#: backend fails it alike, and no backend is at fault.
REFERENCE_DEPENDS = ("; this is the torch reference itself: the model's own output depends on its padding "
                     "(every backend inherits it, none is at fault). Check how the model finds its text's "
                     "end or positions: config.json's pad_token_id against the tokenizer's pad token (the "
                     "verdict's tokenizer note says where they differ), and that its head reads the "
                     "attention mask")


class Agreement:
    """Row-wise agreement within a backend's padding_atol, naming the worst text and its difference
    if not, and keeping the largest difference it saw (the verdict states it beside the bound).
    `reference`: the backend is the torch reference, whose failure is the model's own (REFERENCE_DEPENDS)."""

    def __init__(self, atol: float, reference: bool = False) -> None:
        self.atol = atol
        self.reference = reference
        self.largest = 0.0

    def __call__(self, actual: np.ndarray, expected: np.ndarray, texts: list[Text], what: str) -> None:
        assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
        for outputs in (actual, expected):  # NaN differs from nothing by a number: no bound rejects it
            if said := not_finite("the backend", outputs, texts):
                raise NotFinite(f"{what}: {said}")
        diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max(axis=1)
        worst = int(diff.argmax())
        self.largest = max(self.largest, float(diff[worst]))
        if diff[worst] > self.atol:  # a check's failure: its message alone in the report, no traceback
            raise CheckFailed(f"{what}: max |diff| {diff[worst]:.3g} > padding_atol {self.atol:g} "
                              f"for text {worst} {texts[worst]!r:.120}"
                              + (REFERENCE_DEPENDS if self.reference else ""))


def agreement(backend: Any, gate_session: Any) -> Agreement:
    """The Agreement of `backend`'s padding properties in this session."""
    return Agreement(padding_atol(backend, gate_session), reference=backend.name == REFERENCE_BACKEND)


def fed(tokenizer: Any, items: Any) -> Any:
    """`items` as a backend property feeds them: without the ones `tokenizer` encodes as no tokens, where
    it encodes the empty text so (it adds no special tokens, as GPT-2's does: no model runs on no tokens,
    torch neither, and the verdict says so once, inference.empty_text_note); `items` as they are else."""
    if not encodes_nothing(tokenizer):
        return items
    return items.filter(lambda item: not encodes_nothing(tokenizer, item))


def padded_length(tokenizer: Any) -> int:
    return min(PADDED_LENGTH, max_length(tokenizer))


def fed_pairs(gate_session: Any) -> bool:
    """Whether the session's model is fed sentence pairs (`pair-column`): the batch properties then
    draw pairs, the second text of each in its own segment, padded with the rest."""
    return bool(gate_session.dataset.paired)


def test_padding_alone_longest_and_max_length_agree(backend, gate_session, backend_tokenizer):
    """Each item's output is the same alone, padded to the batch's longest, and to max_length (a pair
    model's items are pairs)."""
    examples = backend_examples(gate_session)
    agree = agreement(backend, gate_session)
    pairs = fed_pairs(gate_session)
    short, long = PADDED_PAIR  # as pairs: the short one twice, and the long one with it (dozens of pads)
    explicit = [(short, short), (long, short)] if pairs else [short, long]

    def check(texts):
        length = padded_length(backend_tokenizer)
        alone = np.concatenate([backend.predict(encode(backend_tokenizer, [t], length=length))
                                for t in texts])
        longest = backend.predict(encode(backend_tokenizer, texts, length=length))
        fixed = backend.predict(encode(backend_tokenizer, texts, padding="max_length", length=length))
        agree(longest, alone, texts, "padded to the longest vs alone")
        agree(fixed, alone, texts, f"padded to max_length {length} vs alone")

    items = fed(backend_tokenizer, strategies.any_items(pairs))
    run_property(check, {"texts": text_batches(texts=items)}, backend, gate_session,
                 backend_tokenizer, examples, agree=agree, explicit=({"texts": explicit},))


def test_padding_batch_composition_does_not_matter(backend, gate_session, backend_tokenizer):
    """An item's output depends neither on its neighbours nor on its position in the batch (a pair
    model's items are pairs)."""
    examples = backend_examples(gate_session)
    agree = agreement(backend, gate_session)
    items = fed(backend_tokenizer, strategies.any_items(fed_pairs(gate_session)))

    def check(data):
        target = data.draw(items, label="target")
        first = data.draw(st.lists(items, max_size=5), label="neighbours")
        second = data.draw(st.lists(items, max_size=5), label="other neighbours")
        i = data.draw(st.integers(0, len(first)), label="position")
        j = data.draw(st.integers(0, len(second)), label="other position")
        batch = [*first[:i], target, *first[i:]]
        order = data.draw(st.permutations(range(len(batch))), label="order")
        other = [*second[:j], target, *second[j:]]

        length = padded_length(backend_tokenizer)
        out = backend.predict(encode(backend_tokenizer, batch, length=length))
        shuffled = backend.predict(encode(backend_tokenizer, [batch[k] for k in order], length=length))
        moved = backend.predict(encode(backend_tokenizer, other, length=length))
        agree(shuffled, out[list(order)], [batch[k] for k in order], "same batch, another order")
        agree(moved[j:j + 1], out[i:i + 1], [target], "other neighbours")

    run_property(check, {"data": st.data()}, backend, gate_session, backend_tokenizer, examples, agree=agree)


def beyond_limit(tok: Any) -> Any:
    """Texts longer than the tokens `tok` feeds (every word at least one token): LONG_TEXT_WORDS beyond
    512, more where `max-tokens` is raised for a long-context model."""
    return long_texts(min_words=max(strategies.LONG_TEXT_WORDS, max_length(tok) + 8))


def truncated(tok: Any, text: str, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`text` cut to the tokenizer's own truncated ids, between its special tokens, as a batch of
    one with the inputs of `batch` (what encode() gave: token_type_ids only where it gives them). A
    tokenizer saved with truncation_side 'left' keeps a long text's end, as its model is served."""
    limit = max_length(tok)
    content = tok(text, add_special_tokens=False)["input_ids"]
    room = limit - tok.num_special_tokens_to_add(pair=False)
    assert len(content) > room, "long_texts() should exceed the model's limit"
    kept = content[-room:] if tok.truncation_side == "left" else content[:room]
    ids, types = with_special_tokens(tok, kept)
    explicit = {"input_ids": np.array([ids], dtype=np.int64),
                "attention_mask": np.ones((1, limit), dtype=np.int64),
                "token_type_ids": np.array([types], dtype=np.int64)}
    return {k: v for k, v in explicit.items() if k in batch}


def test_padding_long_text_is_truncated_like_the_tokenizer(gate_tokenizer, gate_session):
    """Text beyond the limit is cut by encode() to the tokenizer's own truncated ids, unmasked,
    beside a short neighbour (a tokenizer property: checked once, not per backend)."""
    def check(text, neighbour):
        batch = encode(gate_tokenizer, [text, neighbour])
        explicit = truncated(gate_tokenizer, text, batch)
        assert batch["input_ids"].shape[1] == max_length(gate_tokenizer)
        for key, value in explicit.items():
            np.testing.assert_array_equal(batch[key][0], value[0], err_msg=key)

    run_tokenizer_property(check, {"text": beyond_limit(gate_tokenizer), "neighbour": comment_texts()},
                           gate_session)


# Each example runs three full-length sequences (512 tokens for BERT-sized models), the costliest
# property per example; the truncation itself is checked with the whole profile above.
def test_padding_long_text_predicts_like_its_truncated_ids(backend, gate_session, gate_model,
                                                           backend_tokenizer):
    """A text beyond the limit, batched with a short one, predicts like its truncated ids alone."""
    examples = backend_examples(gate_session, at_most=5)
    agree = agreement(backend, gate_session)

    def check(text, neighbour):
        batch = encode(backend_tokenizer, [text, neighbour])
        explicit = truncated(backend_tokenizer, text, batch)
        out = backend.predict(batch)
        assert_well_formed(backend.name, out, [text, neighbour], gate_model)
        agree(out[:1], backend.predict(explicit), [text], "truncated by encode() vs explicitly truncated ids")

    run_property(check, {"text": beyond_limit(backend_tokenizer), "neighbour": comment_texts()}, backend,
                 gate_session,
                 backend_tokenizer, examples, agree=agree)


def test_padding_is_right_sided_with_contiguous_masks(gate_tokenizer, gate_session):
    """encode() pads on the right with the tokenizer's pad id; masks are ones then zeros; each item's
    ids and type ids are its own (a pair model's items are pairs: its second segment's type ids too)."""
    def check(texts, padding):
        tok = gate_tokenizer
        assert tok.pad_token_id is not None, "the tokenizer has no pad token"
        length = padded_length(tok)
        batch = encode(tok, texts, padding=padding, length=length)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        assert ids.dtype == mask.dtype == np.int64
        # each alone, as a batch of one as encode() makes it (transformers' tok(text, "") reads an empty
        # second text as none: one segment, where a batch of pairs keeps its empty second segment)
        own = [{k: v[0] for k, v in tok([t], truncation=True, max_length=length).items()} for t in texts]
        width = length if padding == "max_length" else max(len(o["input_ids"]) for o in own)
        assert ids.shape == mask.shape == (len(texts), width)
        for row, alone in enumerate(own):
            n = len(alone["input_ids"])
            assert mask[row].tolist() == [1] * n + [0] * (width - n), f"mask of text {row}"
            assert ids[row, :n].tolist() == alone["input_ids"], f"ids of text {row}"
            assert (ids[row, n:] == tok.pad_token_id).all(), f"padding of text {row}"
            if "token_type_ids" in batch:
                assert batch["token_type_ids"][row, :n].tolist() == alone["token_type_ids"], f"types of {row}"
                assert (batch["token_type_ids"][row, n:] == tok.pad_token_type_id).all()

    padding = st.sampled_from(["longest", "max_length"])
    items = text_batches(texts=strategies.any_items(fed_pairs(gate_session)))
    run_tokenizer_property(check, {"texts": items, "padding": padding}, gate_session)


# Five kinds per backend, each a narrow strategy: a few examples of each are enough, and the
# kinds together still get more examples per backend than any other property.
@pytest.mark.parametrize("kind", list(AWKWARD_KINDS))
def test_padding_awkward_text_is_handled(backend, gate_session, gate_model, backend_tokenizer, kind):
    """Each kind of awkward text, alone or batched with a comment, gives well-formed outputs."""
    examples = backend_examples(gate_session, at_most=8)
    if kind == "empty" and encodes_nothing(backend_tokenizer):
        pytest.skip(f"the model's tokenizer encodes an empty text as no tokens ({NO_TOKENS}): nothing to "
                    "compare (the verdict says so)")
    awkward = fed(backend_tokenizer, AWKWARD_KINDS[kind])

    def check(data):
        texts = data.draw(st.lists(awkward, min_size=1, max_size=3), label=kind)
        texts += data.draw(st.lists(comment_texts(), max_size=1), label="comment")
        out = backend.predict(encode(backend_tokenizer, texts))
        assert_well_formed(backend.name, out, texts, gate_model)

    run_property(check, {"data": st.data()}, backend, gate_session, backend_tokenizer, examples, kind=kind)


def test_padding_empty_and_whitespace_only_texts(backend, gate_session, gate_model, gate_tokenizer,
                                                 backend_tokenizer):
    """'' is just the special tokens; whitespace is specials around the tokenizer's content ids."""
    examples = backend_examples(gate_session)

    def check(text):
        tok = gate_tokenizer
        empty = encode(tok, [""])
        assert empty["input_ids"][0].tolist() == with_special_tokens(tok, [])[0]
        specials = len(with_special_tokens(tok, [])[0])
        # cut where encode cuts: whitespace of more tokens than the model holds (a short
        # model_max_length, few position embeddings) is truncated, not a padding fault
        content = tok(text, add_special_tokens=False)["input_ids"][:max(0, max_length(tok) - specials)]
        spaced = encode(tok, [text])
        assert spaced["input_ids"][0].tolist() == with_special_tokens(tok, content)[0]
        if type(tok.backend_tokenizer.model).__name__ == "WordPiece":
            assert content == [], "WordPiece should strip whitespace-only text"

        batch = encode(backend_tokenizer, ["", text])
        if batch["input_ids"].shape[1]:  # (a tokenizer of no special tokens that strips it: nothing runs)
            assert_well_formed(backend.name, backend.predict(batch), ["", text], gate_model)

    run_property(check, {"text": whitespace_texts()}, backend, gate_session, backend_tokenizer, examples)


def test_padding_same_input_gives_same_output(backend, gate_session, backend_tokenizer):
    """The same batch twice gives the same output (exactly on CPU); predict leaves its input alone."""
    examples = backend_examples(gate_session)
    agree = agreement(backend, gate_session)

    def check(texts, other):
        length = padded_length(backend_tokenizer)
        batch = encode(backend_tokenizer, texts, length=length)
        kept = {k: v.copy() for k, v in batch.items()}
        first = backend.predict(batch)
        backend.predict(encode(backend_tokenizer, other, length=length))
        second = backend.predict(batch)
        for key, value in kept.items():
            np.testing.assert_array_equal(batch[key], value, err_msg=f"predict modified {key}")
        if gate_session.device_of(backend.name) == "cpu":
            np.testing.assert_array_equal(first, second)
        else:
            agree(second, first, texts, "second run")

    texts = fed(backend_tokenizer, strategies.any_texts())
    run_property(check, {"texts": text_batches(texts=texts), "other": text_batches(max_size=3, texts=texts)},
                 backend, gate_session, backend_tokenizer, examples, agree=agree)


