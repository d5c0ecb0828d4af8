"""The gate has teeth: broken backends fail the accuracy checks, healthy ones pass.

Runs on the `default` model (real pretrained MiniLM, trained head): the tiny model is a
plumbing check whose near-constant outputs cannot show damage. Each damage
(encoder_gate.studies.damage) is judged with the loosest healthy bounds (onnx-int8's), so a pass
there would mean the gate could not tell a bug from quantization noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from encoder_gate.accuracy.checks import CLASSIFIER_CHECKS as CHECKS
from encoder_gate.accuracy.checks import bounds_for, check
from encoder_gate.accuracy.evaluation import evaluate
from encoder_gate.config import GateConfig
from encoder_gate.runtime.inference import predict_texts
from encoder_gate.runtime.session import GateSession
from encoder_gate.studies.damage import DAMAGES, damaged_runner

N_TEXTS = 300  # enough for a stable F1, fast enough for every PR
# mask_ignored pads every text to 128 tokens, about four times the tokens of the texts the others
# run (51 s of a core on 300 texts, AMD EPYC): it is judged on the first 32, where attending to the
# padding already fails its checks by far (its drift mean about 0.45 against onnx-int8's bound of
# 0.1, docs/checks.md); its F1 loss is not asserted (MIN_F1_LOSS)
# labels_permuted and int4_weights fail as far on the first 100 (F1 0.018 and 0.227 against the
# reference's 0.697, drift max 0.99 and 0.98 against a bound of 0.6; each fails five checks): 300
# texts cost them 7 s and 5 s of a core in the self-tests, 100 texts about 2 s (AMD EPYC Zen 5)
TEXTS_OF = {"mask_ignored": 32, "labels_permuted": 100, "int4_weights": 100}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(default_model):
    return default_model


@pytest.fixture(scope="module")
def ctx(default_model, cache):
    from encoder_gate.backends import BuildContext

    return BuildContext(model=default_model, cache=cache)


@pytest.fixture(scope="module")
def setup(gate):
    """The first N_TEXTS texts of the test split, the tokenizer and torch's outputs on them: the
    gate session's reference, predicted once and kept in the shared prediction cache (so a
    second xdist worker running this module reads it instead of predicting it again)."""
    return gate.dataset.head(N_TEXTS), gate.tokenizer, gate.reference[:N_TEXTS]


def judge(name, probs, setup, model, bounds_of):
    ds, _, ref = setup
    bounds = bounds_for(bounds_of)
    ev = evaluate(name, probs, ref, ds.labels, precision="fp32", size_bytes=1, task=model.task,
                  label_names=model.label_names, atol=bounds.atol)
    failures = {c: check(ev, c, bounds, ds.texts, model.label_names) for c in CHECKS if c != "f1_floor"}
    return ev, {c: msg for c, msg in failures.items() if msg}


# damages that change decisions lose at least this much micro-F1 (absolute; measured on 300 texts:
# reference 0.677, perturbed layer 0.632, permuted labels 0.013; recipe 1 of the default model
# read 0.687, 0.645, ~0.05)
MIN_F1_LOSS = {"labels_permuted": 0.3, "perturbed_layer": 0.02}


@pytest.mark.parametrize("damage", DAMAGES)
def test_broken_backend_fails_the_gate(damage, model, ctx, setup, tmp_path: Path):
    """Each damage fails at least one check, with a message naming the backend and samples; one
    that changes decisions loses F1 measurably on the bundled data."""
    n = TEXTS_OF.get(damage, N_TEXTS)
    ds, tok, ref = setup
    texts = ds.head(n)
    runner = damaged_runner(damage, ctx, tmp_path)
    probs = predict_texts(runner, tok, texts.texts)
    ev, failures = judge(runner.name, probs, (texts, tok, ref[:n]), model, "onnx-int8")
    print(f"{damage} on {n} texts: F1 {ev.metrics['f1']:.3f} (reference {ev.reference_metrics['f1']:.3f}), "
          f"drift max {ev.drift.max:.3f}, failed {sorted(failures)}")
    assert failures, f"{damage} passed every check: {ev.drift}"
    message = next(iter(failures.values()))
    assert message.startswith(f"broken-{damage}:")
    assert "worst samples:" in message and "reference" in message
    if damage in MIN_F1_LOSS:
        assert ev.reference_metrics["f1"] - ev.metrics["f1"] >= MIN_F1_LOSS[damage], ev.metrics["f1"]


def test_the_task_is_not_saturated(model, setup):
    """The reference's F1 on the bundled data leaves room to lose: a damage can cost F1 (above)."""
    ev, _ = judge("torch", setup[2], setup, model, "onnx-int8")
    assert ev.reference_metrics["f1"] < 0.95, "the task is saturated: F1 bounds would test nothing"


HEALTHY = ("onnx-fp32", "onnx-fp16", "onnx-int8")
#: torch's micro F1 of the default model on the bundled test split at 0.5 (docs/models.md): built from the
#: weights the package ships, the same on every machine and stack (0.7123 on the default and the lowest
#: stack, AMD EPYC Zen 5, 2026-11-30); one decision moves it by about 0.0003
DOCUMENTED_F1 = 0.7123


@pytest.fixture(scope="module")
def gate(model, cache_dir, tmp_path_factory):
    """The accuracy gate's own session on the whole test split, as `pytest accuracy` runs it (no
    timing, so at eval-threads): its predictions go to the shared prediction cache, where CI's
    gate step on the default model then finds them instead of predicting them again."""
    session = GateSession(GateConfig(model="default", backends=("torch", *HEALTHY), cache_dir=cache_dir,
                                     report_dir=tmp_path_factory.mktemp("report")),
                          progress=lambda _: None, timing=False)
    yield session
    session.close()


def test_the_default_model_reads_the_f1_its_docs_state(gate):
    """The embedded model, its data and how the gate feeds them, held to the figure docs/models.md states:
    a change of any (its shipped weights written again, the tokenizer's truncation, the batching) that
    moves more than about three decisions fails here, to be said there."""
    gold, decided = gate.gold.astype(bool), gate.reference >= 0.5
    f1 = 2 * (gold & decided).sum() / (gold.sum() + decided.sum())
    assert len(gold) == 1200 and f1 == pytest.approx(DOCUMENTED_F1, abs=0.001), f1


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_backend_passes_its_own_bounds(name, model, gate):
    """On the whole test split: on the first 300 texts INT8's F1 can sit within one decision of
    the 99% keep (recipe 1 of the default model: 0.6815 with optimum's export on transformers
    4.57, 0.6795 with torch's on 5.x, bound 0.6798; recipe 2: 0.6753, bound 0.6706), noise of the
    point rule rather than damage; on 1200 it keeps 99.7%."""
    full_setup = (gate.dataset, gate.tokenizer, gate.reference)
    _, failures = judge(name, gate.predictions(name), full_setup, model, name)
    assert not failures, "\n".join(failures.values())
