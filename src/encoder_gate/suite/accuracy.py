"""The accuracy gate, as one importable set of tests (see :mod:`encoder_gate.suite`).

- :mod:`~encoder_gate.suite.smoke`: every backend answers with well-formed outputs;
- :mod:`~encoder_gate.suite.checks`: drift and task metrics (overall and per label) within the
  backend's bounds;
- :mod:`~encoder_gate.suite.padding`: hypothesis properties of tokenization and padding.
"""

from __future__ import annotations

from encoder_gate.suite.checks import (
    test_accuracy_keeps_reference_share,
    test_drift_within_bound,
    test_embeddings_close_to_reference,
    test_f1_above_floor,
    test_f1_keeps_reference_share,
    test_per_label_f1_keeps_reference_share,
)
from encoder_gate.suite.padding import (
    test_padding_alone_longest_and_max_length_agree,
    test_padding_awkward_text_is_handled,
    test_padding_batch_composition_does_not_matter,
    test_padding_empty_and_whitespace_only_texts,
    test_padding_is_right_sided_with_contiguous_masks,
    test_padding_long_text_is_truncated_like_the_tokenizer,
    test_padding_same_input_gives_same_output,
)
from encoder_gate.suite.smoke import test_backend_gives_well_formed_probabilities

__all__ = [
    "test_accuracy_keeps_reference_share",
    "test_backend_gives_well_formed_probabilities",
    "test_drift_within_bound",
    "test_embeddings_close_to_reference",
    "test_f1_above_floor",
    "test_f1_keeps_reference_share",
    "test_padding_alone_longest_and_max_length_agree",
    "test_padding_awkward_text_is_handled",
    "test_padding_batch_composition_does_not_matter",
    "test_padding_empty_and_whitespace_only_texts",
    "test_padding_is_right_sided_with_contiguous_masks",
    "test_padding_long_text_is_truncated_like_the_tokenizer",
    "test_padding_same_input_gives_same_output",
    "test_per_label_f1_keeps_reference_share",
]
