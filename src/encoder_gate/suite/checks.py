"""Accuracy gate: each backend's outputs stay within the bounds that fit the model's task.

Bounds come from the one tolerance table (encoder_gate.accuracy.tolerances, one table per task),
overridable in [tool.encoder-gate.tolerances]; drift, flips and embedding similarity are
measured against the same-run torch FP32 reference, F1 and accuracy against the gold labels.

- multi-label (sigmoid): probability drift, decision flips at 0.5, micro F1, per-label F1;
- single-label (softmax): probability drift, argmax class changes, macro F1 and accuracy,
  per-class F1;
- feature extraction (embeddings): drift of the embedding values, relative L2 distance and
  cosine similarity to the reference embeddings. No flips and no F1;
- a reranker (one sigmoid score a query-passage pair, on labelled pairs) also: MRR@10 over the
  queries (accuracy.ranking).

Each test is marked with the check it runs (`encoder_gate_check`): a check that does not fit the
model's task or labels, or that no bound switches on (an unset F1 floor), is not collected at
all (:mod:`encoder_gate.plugin.applicable`); the terminal says in one line what was left out.

Each check is a record in the registry (:mod:`encoder_gate.accuracy.checks`) that names the
test here that runs it: the drift and embedding tests are parametrized over their records,
the other five run the record of their name.

The F1 keep check decides by the configured rule (--gate-f1-rule: point, regression or
non-inferiority, with --gate-f1-margin); whatever the rule, an evaluation set too small to
see a drop of the margin raises an `UnderpoweredWarning` saying how many examples it needs.
"""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from encoder_gate.accuracy.checks import check, names, not_applicable, observed_and_bound, record, skip_reason
from encoder_gate.accuracy.evaluation import UnderpoweredWarning
from encoder_gate.decision import covering_waiver
from encoder_gate.errors import CheckFailed

__all__ = [
    "test_accuracy_keeps_reference_share",
    "test_drift_within_bound",
    "test_embeddings_close_to_reference",
    "test_f1_above_floor",
    "test_f1_keeps_reference_share",
    "test_mrr_keeps_reference_share",
    "test_ndcg_keeps_reference_share",
    "test_per_label_f1_keeps_reference_share",
]


def gate(check_name, evaluation, bounds, dataset, model, waivers=()):
    why = skip_reason(model.task, check_name, evaluation.labelled, bounds) or record(
        check_name).not_for_evaluation(evaluation)
    if why:
        pytest.skip(why)
    failure = check(evaluation, check_name, bounds, dataset.texts, model.label_names)
    if failure is not None and waivers:  # an accepted, known failure: xfail, and the verdict says waived
        observed, _, _ = observed_and_bound(evaluation, check_name, bounds)
        labels = ([r.label for r in evaluation.stats.failing_labels(bounds.per_label_keep)]
                  if check_name == "per_label" and evaluation.stats is not None else ())
        waiver = covering_waiver(waivers, evaluation.name, check_name, date.today(), observed,
                                 record(check_name).direction, labels)
        if waiver is not None:
            pytest.xfail(f"waived by {waiver.owner} until {waiver.until} ({waiver.reason}): "
                         f"{failure.splitlines()[0]}")
    if failure is not None:
        raise CheckFailed(failure)


@pytest.mark.encoder_gate_check("bound")
@pytest.mark.parametrize("bound", names(test="drift"))
def test_drift_within_bound(bound, backend_evaluation, backend_bounds, gate_dataset, gate_model,
                            backend_waivers):
    """Probabilities (or embeddings) stay within the backend's drift and flip bounds."""
    gate(bound, backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)


@pytest.mark.encoder_gate_check("f1_keep")
def test_f1_keeps_reference_share(backend_evaluation, backend_bounds, gate_dataset, gate_model,
                                  backend_waivers):
    """Micro F1 (macro F1 for single-label) keeps its share of the torch reference's (rule `point`),
    or its change's 95% CI clears -margin (rules `regression`, `non-inferiority`)."""
    stats = backend_evaluation.stats
    if (not_applicable(gate_model.task, "f1_keep", backend_evaluation.labelled) is None
            and stats is not None and stats.underpowered):
        warnings.warn(UnderpoweredWarning(f"{backend_evaluation.name}: {stats.underpowered}"), stacklevel=1)
    gate("f1_keep", backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)


@pytest.mark.encoder_gate_check("per_label")
def test_per_label_f1_keeps_reference_share(backend_evaluation, backend_bounds, gate_dataset, gate_model,
                                            backend_waivers):
    """Every label with enough gold positives keeps its share of its own reference F1 and loses no
    significant number of decisions: a damage confined to one label cannot hide in the micro F1."""
    gate("per_label", backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)


@pytest.mark.encoder_gate_check("f1_floor")
def test_f1_above_floor(backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers):
    """The absolute F1 floor from [tool.encoder-gate.tolerances], where one is configured."""
    gate("f1_floor", backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)


@pytest.mark.encoder_gate_check("accuracy_keep")
def test_accuracy_keeps_reference_share(backend_evaluation, backend_bounds, gate_dataset, gate_model,
                                        backend_waivers):
    """Single-label: accuracy keeps its share of the torch reference's."""
    gate("accuracy_keep", backend_evaluation, backend_bounds, gate_dataset, gate_model,
         backend_waivers)


@pytest.mark.encoder_gate_check("mrr_keep")
def test_mrr_keeps_reference_share(backend_evaluation, backend_bounds, gate_dataset, gate_model,
                                   backend_waivers):
    """A reranker (one sigmoid score a query-passage pair): MRR@10 over the queries keeps its share of
    the torch reference's, or its change's 95% CI clears -margin, by the F1 keep check's rule."""
    gate("mrr_keep", backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)


@pytest.mark.encoder_gate_check("ndcg_keep")
def test_ndcg_keeps_reference_share(backend_evaluation, backend_bounds, gate_dataset, gate_model,
                                    backend_waivers):
    """A reranker on graded relevance (relevant-grade): NDCG@10 over the queries, on the grades, keeps
    its share of the torch reference's, or its change's 95% CI clears -margin, by the F1 keep check's rule."""
    gate("ndcg_keep", backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)


@pytest.mark.encoder_gate_check("bound")
@pytest.mark.parametrize("bound", names(test="embeddings"))
def test_embeddings_close_to_reference(bound, backend_evaluation, backend_bounds, gate_dataset,
                                       gate_model, backend_waivers):
    """Feature extraction: embeddings point the same way as the reference's and keep its scale."""
    gate(bound, backend_evaluation, backend_bounds, gate_dataset, gate_model, backend_waivers)
