"""Accuracy: metrics, the statistics behind the error bars, bounds, evaluation and checks.

Modules: :mod:`~encoder_gate.accuracy.metrics` (drift, task metrics),
:mod:`~encoder_gate.accuracy.significance` (paired bootstrap, McNemar, power, F1 rules),
:mod:`~encoder_gate.accuracy.per_label` (per-label verdicts),
:mod:`~encoder_gate.accuracy.checks` (the check records and their failure messages),
:mod:`~encoder_gate.accuracy.tolerances` (the bounds), :mod:`~encoder_gate.accuracy.overrides`
(where a project overrides them) and :mod:`~encoder_gate.accuracy.evaluation` (one backend
judged against the reference and the gold labels).

Glossary
--------
reference
    torch FP32 eager, run in the same session on the same texts; every other backend is
    compared with it (and it with itself, exactly).
backend
    A named way to run the model (`torch-compile`, `onnx-int8`, a prebuilt `onnx:PATH`, ...);
    it says its own number format.
number format
    What a backend computes in: "reference" (torch itself), "fp32", "fp16" or "int8". It picks
    the backend's column of the tolerance table, so a new backend needs no tolerance entry.
check
    One judgement of a backend with one bound, a record in
    :data:`~encoder_gate.accuracy.checks.CHECKS` (drift_max, flip_rate, f1_keep, per_label, ...).
bound
    The limit a check holds its observed value to, "at least" or "at most": a field of
    :class:`~encoder_gate.accuracy.tolerances.Bounds` (per task and number format), or a
    check's own default; a project overrides it in [tool.encoder-gate.tolerances.BACKEND].
drift
    Per text, the largest |backend - reference| over its outputs (probabilities, or embedding
    values for an encoder); the drift checks bound its mean, 99th percentile and maximum.
flip
    A decision that differs from the reference's: a (text, label) decision at the threshold
    for a multi-label classifier, the argmax class for a single-label one. Encoders have none.
headline metric
    What a task is scored on (:attr:`~encoder_gate.tasks.Task.headline`): micro F1
    (multi-label), macro F1 (single-label), mean cosine (feature extraction).
F1 rule
    How the F1 keep check decides: `point` (the headline keeps f1_keep x the reference's),
    `regression` (fails only when the change's 95% CI lies wholly below -margin) or
    `non-inferiority` (passes only when the CI lies wholly above -margin). The speed half has
    its own "speed rules".
per-label check
    Every label with enough gold positives keeps its share of its own reference F1 and loses no
    significant number of decisions (Holm-adjusted McNemar); catches damage that micro F1 hides.
minimum detectable drop
    The smallest headline F1 drop the evaluation set detects with 80% power (MDE, the accuracy
    half's minimum detectable effect); above the F1 margin, the set is underpowered.
"""
