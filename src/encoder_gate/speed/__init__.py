"""Speed: benchmark plans, timing, statistics and the speed gate.

The pytest-benchmark tests of :mod:`encoder_gate.suite.benchmarks` are thin; everything they
compute is here, as plain functions over numpy arrays and dictionaries so it can be unit-tested:
:mod:`~encoder_gate.speed.settings`, :mod:`~encoder_gate.speed.batches`,
:mod:`~encoder_gate.speed.flops`, :mod:`~encoder_gate.speed.machine`,
:mod:`~encoder_gate.speed.workers`, :mod:`~encoder_gate.speed.rates`,
:mod:`~encoder_gate.speed.results`, :mod:`~encoder_gate.speed.stats`,
:mod:`~encoder_gate.speed.rules`, :mod:`~encoder_gate.speed.baseline`,
:mod:`~encoder_gate.speed.files`, :mod:`~encoder_gate.speed.outcome` and
:mod:`~encoder_gate.speed.estimate`. How noisy the gates are is a study, in
:mod:`encoder_gate.studies.speed_noise`.

Glossary:

* **case**: what makes two backends' times comparable: mode, variant, batch size and dispatch,
  keyed as ``model/normal/bs8/bucketed`` (:func:`~encoder_gate.speed.results.case_id`). The
  **mode** is ``model`` (pre-tokenized batches through ``Runner.predict``), ``e2e`` (raw texts:
  tokenization + inference + sigmoid), ``latency`` (one message per call) or ``workers``
  (several processes); the **dispatch** is ``ordered`` (dataset order) or ``bucketed`` (texts
  sorted by token length, then batched), each batch right-padded to its longest item.
* **round**: one timed pass of a benchmark over all its batches (ENCODER_GATE_BENCH_ROUNDS of
  them per benchmark).
* **speedup**: torch eager time / backend time for the same case in the same run. Ratios taken
  within one run survive a noisy, shared machine better than absolute times, which is why the
  speed gate compares speedups, and why the backends of one case run back to back. Unpaired,
  each side's fastest round (``min``: load from other processes only ever adds time);
  paired, the median per-round ratio.
* **paired rounds**: the model-only default: each backend round follows a torch eager round
  over the same batches, so a burst of load hits both; a backend's per-round log ratios
  (log torch time / backend time, ``paired_log_ratios``) are the data the speed gate tests.
* **speed rule**: how one (case, backend) is decided from the baseline's and this run's
  speedups and rounds (:data:`~encoder_gate.speed.rules.SPEED_RULES`): ``test`` fails a drop
  over ``max_drop`` that is significant (one-sided Mann-Whitney U on the per-round log ratios,
  p < ``alpha``); ``point`` fails a drop over ``max_drop`` alone, and decides where the test
  cannot (no per-round data on a side, too few rounds).
* **speed gate**: this run's speedups compared against a baseline's, every (case, backend) in
  both decided by the speed rules (:func:`~encoder_gate.speed.rules.compare_speed`); at the end
  of a session by :func:`~encoder_gate.speed.outcome.finish_session`.
* **baseline**: the speedups document the speed gate compares with: a saved speedups.json
  (ENCODER_GATE_SPEEDUP_BASELINE, ``--gate-speedup-baseline``), else the pytest-benchmark save
  ``--benchmark-compare`` compares with (:func:`~encoder_gate.speed.baseline.open_baseline`).
* **fingerprint**: what a run was measured on (CPU model, ISA flags, cores, threads, execution
  providers, torch and onnxruntime versions:
  :func:`~encoder_gate.speed.machine.hardware_fingerprint`); a baseline with another
  fingerprint is refused unless ENCODER_GATE_ALLOW_OTHER_MACHINE=1.
* **minimum detectable slowdown** (MDE): the smallest speedup drop the test detects with 80%
  power, given the rounds and their spread
  (:func:`~encoder_gate.speed.stats.min_detectable_slowdown`). It is the speed half's
  "minimum detectable effect"; the accuracy half's is
  :func:`~encoder_gate.accuracy.significance.min_detectable_drop`, an F1 drop.
"""
