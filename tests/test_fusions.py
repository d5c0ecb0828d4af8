"""What the FP16 recipe's optimizer fused, kept beside the file, and the note of a row whose attention it
left unfused (backends.fusions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoder_gate.backends import fusions
from encoder_gate.backends.fusions import FUSIONS_FILE, fusion_note, record_fusions, unfused_here


class Optimized:
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def get_fused_operator_statistics(self) -> dict[str, int]:
        return self.counts


def test_an_fp16_build_that_fused_no_attention_says_so_with_the_fix_where_one_is_known(tmp_path: Path):
    """transformers 5 with onnxruntime 1.21 to 1.30 (measured): FP16 without a single Attention node,
    slower, said by nothing. A fused build says nothing; an unfused one says why, and names the upgrade
    only where it is the cause (not for a model type the optimizer has no fusion for)."""
    fused = {"Attention": 4, "SkipLayerNormalization": 8, "Gelu": 0}
    assert record_fusions(Optimized(fused), tmp_path, "bert") == {"Attention": 4, "SkipLayerNormalization": 8}
    assert fusion_note(tmp_path) is None
    record = json.loads((tmp_path / FUSIONS_FILE).read_text())
    assert set(record) == {"fused", "model_type", "onnxruntime", "transformers"}
    for ort, transformers, upgrade in (("1.30.0", "5.17.0", True), ("1.30.0", "4.57.6", False),
                                       ("1.31.1 (onnxruntime-gpu)", "5.24.0", False)):
        (tmp_path / FUSIONS_FILE).write_text(json.dumps({"fused": {"SkipLayerNormalization": 8},
                                                          "model_type": "bert", "onnxruntime": ort,
                                                          "transformers": transformers}))
        note = fusion_note(tmp_path)
        assert note is not None and note.startswith(f"attention not fused: ONNX Runtime {ort}'s transformer "
                                                    "optimizer (as model type bert) fused none")
        assert ("upgrade onnxruntime" in note) is upgrade
    (tmp_path / FUSIONS_FILE).write_text("not json")
    assert fusion_note(tmp_path) is None
    (tmp_path / FUSIONS_FILE).unlink()  # a build from before the record: nothing known, nothing said
    assert fusion_note(tmp_path) is None


class NoStatistics:
    pass


def test_an_optimizer_without_statistics_records_nothing(tmp_path: Path):
    assert record_fusions(NoStatistics(), tmp_path, "bert") == {}
    assert not (tmp_path / FUSIONS_FILE).exists()


@pytest.mark.parametrize(("ort", "transformers", "unfused"), [
    ("1.30.0", "5.17.0", True), ("1.21.0", "5.24.0", True), ("1.31.1", "5.17.0", False),
    ("1.30.0", "4.57.6", False), (None, "5.24.0", False)])
def test_the_stacks_whose_optimizer_fuses_no_attention_are_named(monkeypatch: pytest.MonkeyPatch,
                                                                  ort: str | None, transformers: str,
                                                                  unfused: bool):
    monkeypatch.setattr(fusions, "installed_version", {"onnxruntime": ort, "transformers": transformers}.get)
    said = unfused_here()
    assert (said is not None) is unfused
    if said:
        assert said.startswith(f"onnxruntime {ort}'s transformer optimizer fuses no attention of ")
