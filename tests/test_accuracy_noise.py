"""The accuracy gate's false-alarm and detection rates on random half-splits (accuracy_noise).

No model: synthetic probabilities, 800 texts x 20 labels (most labels ~200 gold positives, the
damaged one 80, so every label has >= 30 positives in a half), reference logits around +2 for
gold positives and -3 for negatives; a healthy backend adds logit noise of sd 0.05.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoder_gate.accuracy.checks import bounds_for
from encoder_gate.accuracy.evaluation import F1_RULES
from encoder_gate.commands.cli import main
from encoder_gate.errors import GateError
from encoder_gate.studies import accuracy_noise
from encoder_gate.studies.accuracy_noise import (
    AccuracyNoise,
    Damage,
    DetectionRow,
    FalseAlarmRow,
    Predictions,
    damage_logits,
    default_damages,
    detection,
    false_alarms,
    format_detection,
    format_false_alarms,
    format_result,
    from_logits,
    half_splits,
    measure,
    most_supported,
    reproduce_command,
    to_logits,
)

N, L, TARGET = 800, 20, 5
NAMES = tuple(f"emotion_{j}" for j in range(L))
INT8, FP32 = bounds_for("onnx-int8"), bounds_for("onnx-fp32")
BOUNDS = {"onnx-fp32": FP32, "onnx-int8": INT8}
SPLITS = 12


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    prevalence = np.full(L, 0.25)
    prevalence[TARGET] = 80 / N
    gold = (rng.random((N, L)) < prevalence).astype(np.uint8)
    logit = np.where(gold == 1, 2.0 + rng.normal(0, 1.5, (N, L)), -3.0 + rng.normal(0, 1.5, (N, L)))
    return gold, logit


GOLD, LOGIT = _data()
REF = from_logits(LOGIT)
HEALTHY = from_logits(LOGIT + np.random.default_rng(1).normal(0, 0.05, LOGIT.shape))


@pytest.fixture(scope="module")
def alarms() -> list[FalseAlarmRow]:
    return false_alarms(REF, {"onnx-fp32": REF.copy(), "onnx-int8": HEALTHY}, GOLD, NAMES, BOUNDS,
                        splits=SPLITS, seed=0)


@pytest.fixture(scope="module")
def one_label() -> list[DetectionRow]:
    damages = [Damage("shift", s, (NAMES[TARGET],)) for s in (0.5, 2.0)]
    return detection(REF, HEALTHY, GOLD, NAMES, INT8, damages, splits=SPLITS, seed=0)


def test_healthy_backends_rarely_alarm(alarms: list[FalseAlarmRow]) -> None:
    by = {(r.backend, r.rule): r for r in alarms}
    assert set(by) == {(b, rule) for b in BOUNDS for rule in F1_RULES}
    for rule in F1_RULES:  # identical to the reference: no check ever fails
        assert by[("onnx-fp32", rule)].gate_failures == 0
    for rule in ("point", "regression"):
        row = by[("onnx-int8", rule)]
        assert row.splits == SPLITS
        assert row.gate_rate <= 0.1, row
        assert all(row.rate(c) == 0 for c in ("drift_mean", "drift_p99", "drift_max", "flip_rate"))
    checks = [c for c, _ in by[("onnx-int8", "point")].failures]
    assert checks == ["drift_mean", "drift_p99", "drift_max", "flip_rate", "f1_keep", "per_label"]


def test_one_label_damage_is_caught_by_per_label_not_by_micro_f1(one_label: list[DetectionRow]) -> None:
    mild, strong = one_label
    assert strong.judged == SPLITS  # the label has >= 30 gold positives in every half
    assert strong.kept is not None and strong.kept < 0.5  # most of its positive decisions are gone
    assert strong.label_f1 is not None and strong.label_f1_ref is not None
    assert strong.label_f1 < 0.85 * strong.label_f1_ref
    assert abs(strong.f1_delta) < 0.01  # micro F1 hardly moves: one label of 20
    assert strong.on_label is not None and strong.on_label >= SPLITS - 1
    assert strong.per_label >= strong.on_label
    assert dict(strong.f1_keep)["point"] <= 1
    assert dict(strong.f1_keep)["regression"] == 0
    assert dict(strong.gate)["point"] >= strong.on_label
    assert mild.kept is not None and mild.kept > strong.kept
    assert dict(mild.gate)["point"] <= 1


def test_global_noise_is_caught_as_it_grows() -> None:
    rows = detection(REF, HEALTHY, GOLD, NAMES, INT8, [Damage("noise", 0.05), Damage("noise", 1.5)], splits=4)
    small, large = rows
    assert large.f1_delta < small.f1_delta < 0.01
    assert large.flip_rate > small.flip_rate
    assert dict(large.gate)["point"] == 4 and large.parity == 4
    assert small.on_label is None and small.judged is None and small.kept is None


def test_logits_round_trip_and_damages() -> None:
    np.testing.assert_allclose(from_logits(to_logits(REF)), REF, atol=1e-7)
    assert np.isfinite(to_logits(np.array([[0.0, 1.0]]))).all()  # clipped, not infinite
    z = np.random.default_rng(0).standard_normal(LOGIT.shape)
    scaled = damage_logits(LOGIT, Damage("scale", 0.5, NAMES[:3]), NAMES)
    assert np.array_equal(scaled > 0, LOGIT > 0)  # a calibration damage: no decision at 0.5 moves
    np.testing.assert_array_equal(scaled[:, 3:], LOGIT[:, 3:])
    shifted = damage_logits(LOGIT, Damage("shift", 1.0, (NAMES[TARGET],)), NAMES)
    np.testing.assert_allclose(LOGIT[:, TARGET] - shifted[:, TARGET], 1.0)
    noisy = damage_logits(LOGIT, Damage("noise", 0.5), NAMES, z)
    np.testing.assert_allclose(noisy - LOGIT, 0.5 * z)
    with pytest.raises(ValueError, match="noise"):
        damage_logits(LOGIT, Damage("noise", 0.5), NAMES)
    with pytest.raises(GateError, match="unknown label nope"):
        damage_logits(LOGIT, Damage("shift", 1.0, ("nope",)), NAMES)
    with pytest.raises(ValueError, match="damage kind"):
        Damage("flip", 1.0)  # type: ignore[arg-type]
    kinds = [d.kind for d in default_damages("joy", ("a", "b", "c"))]
    assert kinds == ["noise"] * 4 + ["scale"] * 2 + ["shift"] * 5
    assert most_supported(GOLD, NAMES, 1) != (NAMES[TARGET],)


def test_same_seed_same_splits_and_rows() -> None:
    a, b, c = half_splits(100, 5, 3), half_splits(100, 5, 3), half_splits(100, 5, 4)
    assert a.shape == (5, 50) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert all(len(set(row)) == 50 and list(row) == sorted(row) for row in a)
    assert half_splits(100, 2, 0, size=30).shape == (2, 30)
    with pytest.raises(GateError):
        half_splits(100, 0, 0)
    damages = [Damage("noise", 0.3), Damage("shift", 1.0, (NAMES[TARGET],))]
    first = detection(REF, HEALTHY, GOLD, NAMES, INT8, damages, splits=3, seed=7)
    again = detection(REF, HEALTHY, GOLD, NAMES, INT8, damages, splits=3, seed=7)
    assert first == again
    other = detection(REF, HEALTHY, GOLD, NAMES, INT8, damages, splits=3, seed=8)
    assert other[0].f1_delta != first[0].f1_delta  # another seed: other noise


def test_rows_as_dict_and_markdown(alarms: list[FalseAlarmRow], one_label: list[DetectionRow]) -> None:
    doc = json.loads(json.dumps([r.as_dict() for r in (*alarms, *one_label)]))
    assert doc[0]["backend"] == "onnx-fp32" and doc[0]["failures"]["f1_keep"] == 0
    assert doc[-1]["damage"] == {"kind": "shift", "amount": 2.0, "labels": [NAMES[TARGET]]}
    assert doc[-1]["description"] == f"logit -2 ({NAMES[TARGET]})"

    table = format_false_alarms(alarms)
    assert table[0] == ("| backend | f1 rule | drift_mean | drift_p99 | drift_max | flip_rate | f1_keep | "
                        "per_label | gate |")
    rows = [line for line in table if line.startswith("|")]
    assert len(rows) == 2 + len(alarms)
    assert {line.count("|") for line in rows} == {10}
    assert rows[2] == "| onnx-fp32 | point | 0% | 0% | 0% | 0% | 0% | 0% | 0% |"

    lines = format_detection(one_label)
    assert {line.count("|") for line in lines} == {15}
    assert lines[3].startswith(f"| logit -2 ({NAMES[TARGET]}) | ")
    assert "| 100% |" in lines[3]  # judged in every split

    result = AccuracyNoise(model="default", dataset="synthetic", texts=N, size=N // 2, splits=SPLITS, seed=0,
                           label=NAMES[TARGET], support=int(GOLD[:, TARGET].sum()), margin=0.01,
                           min_support=30, false_alarms=tuple(alarms), detection=tuple(one_label))
    text = "\n".join(format_result(result))
    assert "## Accuracy gate false alarms: model default" in text
    assert "## Accuracy gate detection: onnx-int8 damaged at the logits" in text
    assert text.endswith(f"reproduce: encoder-gate accuracy-noise --model default --splits {SPLITS} --seed 0 "
                         f"--label {NAMES[TARGET]}")
    assert json.loads(json.dumps(result.as_dict()))["splits"] == SPLITS
    assert reproduce_command("m", 5, 1, "joy", accuracy_noise.DEFAULT_CACHE_DIR).endswith("--label joy")
    assert reproduce_command("m", 5, 1, "joy", "/tmp/c").endswith("--cache-dir /tmp/c")  # type: ignore[arg-type]


def _predictions() -> Predictions:
    return Predictions(model="default", dataset="synthetic", reference=REF,
                       backends={"onnx-fp32": REF.copy(), "onnx-int8": HEALTHY}, gold=GOLD,
                       label_names=NAMES, bounds=BOUNDS)


def test_measure_and_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(GateError, match="damaged base backend"):
        measure(_predictions(), splits=1, base="onnx-fp16")
    with pytest.raises(GateError, match="unknown label"):
        measure(_predictions(), splits=1, label="joy")

    asked: dict[str, object] = {}

    def fake(model: str, cache_dir: object, **kw: object) -> Predictions:
        asked.update(model=model, cache_dir=cache_dir, **kw)
        return _predictions()

    monkeypatch.setattr(accuracy_noise, "session_predictions", fake)
    assert main(["accuracy-noise", "--splits", "2", "--seed", "3", "--label", NAMES[TARGET],
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert asked["model"] == "default" and asked["threads"] == 1
    assert out.count("| onnx-int8 |") == 3 and out.count("| logit -") == 5
    reproduce = f"encoder-gate accuracy-noise --model default --splits 2 --seed 3 --label {NAMES[TARGET]}"
    assert out.rstrip().endswith(f"reproduce: {reproduce}")
    assert asked["label"] == NAMES[TARGET]
    assert main(["accuracy-noise", "--splits", "2", "--label", "nope"]) == 1  # measure refuses it
    assert "unknown label nope" in capsys.readouterr().err
    assert main(["accuracy-noise", "--splits", "0"]) == 1
