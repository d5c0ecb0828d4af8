"""Predictions on the evaluation set are cached by model, artifact bytes, texts and versions."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoTokenizer

from encoder_gate.config import GateConfig
from encoder_gate.runtime import inference
from encoder_gate.runtime.inference import TOKENS_PER_BATCH, encode, predict_texts, token_batches
from encoder_gate.runtime.session import GateSession


def session(tmp_path: Path, copy: Path) -> GateSession:
    cfg = GateConfig(model="tiny", backends=("torch", "onnx-fp32", f"onnx:{copy}"), limit=40, threads=1,
                     cache_dir=tmp_path / "cache", report_dir=tmp_path / "report")
    return GateSession(cfg, progress=lambda _msg: None)


def origins(state: GateSession) -> dict[str, bool]:
    for name in state.config.backends:
        state.predictions(name)
    return {name: rec.predictions[0] for name, rec in state.records.items() if rec.predictions}


@pytest.mark.slow
def test_one_changed_byte_of_an_onnx_file_recomputes_that_backend_only(tmp_path: Path, tiny_cache_with):
    """A second session takes every backend's predictions from the cache; after one byte of a
    prebuilt ONNX file changes, only that file's predictions are computed again."""
    # a fresh cache (no predictions in it yet) holding the shared cache's tiny model and FP32 export
    tiny_cache_with(tmp_path / "cache", "onnx-fp32")
    copy = tmp_path / "model.onnx"
    first = session(tmp_path, copy)
    shutil.copy(first.runner("onnx-fp32").artifact, copy)  # type: ignore[attr-defined]
    assert origins(first) == {"torch": False, "onnx-fp32": False, f"onnx:{copy}": False}
    kept = {name: first.predictions(name) for name in first.config.backends}
    first.close()

    second = session(tmp_path, copy)
    assert origins(second) == {"torch": True, "onnx-fp32": True, f"onnx:{copy}": True}
    for name, preds in kept.items():
        np.testing.assert_array_equal(second.predictions(name), preds)
    second.close()

    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(copy))
    bias = next(t for t in graph.graph.initializer if "classifier" in t.name and t.name.endswith("bias"))
    values = numpy_helper.to_array(bias).copy()
    values.view(np.uint8)[0] ^= 1  # one bit of one byte of one weight
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(graph, str(copy))
    third = session(tmp_path, copy)
    assert origins(third) == {"torch": True, "onnx-fp32": True, f"onnx:{copy}": False}
    third.close()


def test_outputs_that_hold_nan_fail_every_check_with_one_line_not_a_traceback(tmp_path: Path,
                                                                              tiny_cache_with):
    """A backend whose outputs hold NaN on some texts (FP16's classic overflow): its evaluation is one
    GateError naming the backend, how many texts and the first, where the metrics raised a ValueError
    ("probs contains NaN or infinite values") in every check's setup; and the padding properties'
    agreement, where NaN differed by no number and passed, fails with the same line."""
    from encoder_gate.data.strategies import text_batches
    from encoder_gate.errors import CheckFailed, GateError
    from encoder_gate.suite.padding import Agreement, backend_examples, run_property

    tiny_cache_with(tmp_path / "cache", "onnx-fp32")
    gate = GateSession(GateConfig(model="tiny", backends=("torch", "onnx-fp32"), cache_dir=tmp_path / "cache",
                                  limit=40), progress=lambda _m: None)
    runner = gate.runner("onnx-fp32")
    healthy = runner.predict

    def overflowing(batch):
        out = healthy(batch).copy()
        out[::3, 0] = np.nan  # every third text of each batch
        return out

    runner.predict = overflowing  # type: ignore[method-assign]
    said = r"^onnx-fp32 returned NaN or infinite outputs for 1[34] of 40 texts \(the first: #\d+ '.*\), "
    with pytest.raises(GateError, match=said + r"which no check can judge\. In an FP16 file"):
        gate.evaluation("onnx-fp32")
    # a padding property fails at its first call, before hypothesis draws (and shrinks) any example
    runner.predict = lambda batch: np.full((len(batch["input_ids"]), 28), np.nan)  # type: ignore[method-assign]
    with pytest.raises(CheckFailed, match=r"^onnx-fp32 returned NaN or infinite outputs for 1 of 1 texts"):
        run_property(lambda texts: pytest.fail("an example was drawn"), {"texts": text_batches()}, runner,
                     gate, gate.tokenizer_of("onnx-fp32"), backend_examples(gate))
    gate.close()
    texts = ["a", "b"]
    with pytest.raises(CheckFailed, match=r"^alone vs batched: the backend returned NaN or infinite outputs "
                                          r"for 1 of 2 texts \(the first: #1 'b'\)"):
        Agreement(1e-4)(np.array([[0.5], [np.nan]]), np.array([[0.5], [0.5]]), texts, "alone vs batched")


def test_a_runner_with_a_replaced_predict_is_never_served_from_the_cache(tmp_path: Path):
    """Fault injection on the instance (or a wrapper runner) bypasses the cache: the key cannot see it."""
    from encoder_gate.backends.onnx_runner import OnnxRunner
    from encoder_gate.runtime.predictions import cacheable

    runner = OnnxRunner.__new__(OnnxRunner)  # no session needed to ask
    assert cacheable(runner)
    runner.predict = lambda batch: batch  # type: ignore[method-assign]
    assert not cacheable(runner)
    assert not cacheable(object())


def test_a_runner_whose_identity_is_none_names_no_artifact():
    """A runner class with `prediction_identity` may still answer None (a mock backend with no
    identity): it names no artifact, and building it does not fail."""
    from encoder_gate.runtime.predictions import artifact_of

    class Named:
        def __init__(self, identity: dict[str, object] | None):
            self.identity = identity

        def prediction_identity(self) -> dict[str, object] | None:
            return self.identity

    assert artifact_of(Named(None)) is None
    assert artifact_of(Named({"versions": {}})) is None
    assert artifact_of(Named({"artifact": "onnx:abc"})) == "onnx:abc"
    assert artifact_of(object()) is None


@pytest.mark.slow
def test_the_same_file_from_another_checkout_at_another_thread_count_is_read_from_the_cache(
        tmp_path: Path, tiny_cache_with):
    """The base predicted once from one checkout (the default branch's, say) is read by the next PR's
    session from another directory, at another thread count: the key holds the file's bytes and
    name, not its directory, and no thread count (the outputs were bitwise equal at 1 and 2)."""
    tiny_cache_with(tmp_path / "cache", "onnx-fp32")
    main, pr = tmp_path / "main" / "onnx" / "model.onnx", tmp_path / "pr" / "onnx" / "model.onnx"
    first = session(tmp_path, main)
    main.parent.mkdir(parents=True)
    shutil.copy(first.runner("onnx-fp32").artifact, main)  # type: ignore[attr-defined]
    assert origins(first) == {"torch": False, "onnx-fp32": False, f"onnx:{main}": False}
    first.close()
    pr.parent.mkdir(parents=True)
    shutil.copy(main, pr)
    cfg = GateConfig(model="tiny", backends=("torch", f"onnx:{pr}"), limit=40, threads=2, eval_threads=2,
                     cache_dir=tmp_path / "cache", report_dir=tmp_path / "report")
    for timing in (True, False):
        again = GateSession(cfg, progress=lambda _msg: None, timing=timing)
        assert origins(again) == {"torch": True, f"onnx:{pr}": True}
        again.close()


def _threads_of(runner: object) -> int:
    """The intra-op threads `runner` computes at right now."""
    session = getattr(runner, "_session", None)
    if session is not None:  # ONNX Runtime: fixed when its session opened
        return int(session.get_session_options().intra_op_num_threads)
    import torch

    return torch.get_num_threads()


def test_a_timing_session_predicts_at_the_eval_threads_and_times_at_its_own(tmp_path: Path, tiny_cache_with):
    """A session that times at one thread (the PR session, the benchmarks) computes its predictions
    on the evaluation set at `eval_threads`, and its runners are back at one thread after: torch's
    thread count restored, ONNX Runtime's session reopened at its own count."""
    tiny_cache_with(tmp_path / "cache", "onnx-fp32")
    cfg = GateConfig(model="tiny", backends=("torch", "onnx-fp32"), limit=40, threads=1, eval_threads=2,
                     cache_dir=tmp_path / "cache", report_dir=tmp_path / "report")
    state = GateSession(cfg, progress=lambda _msg: None)
    assert state.timing and state.build_threads == 1
    seen: dict[str, set[int]] = {}
    for name in cfg.backends:
        runner = state.runner(name)
        assert _threads_of(runner) == 1
        predict = runner.predict

        def spy(batch, name=name, runner=runner, predict=predict):
            seen.setdefault(name, set()).add(_threads_of(runner))
            return predict(batch)

        runner.predict = spy  # type: ignore[method-assign]  # (not cacheable: always computed)
        assert state.predictions(name).shape[0] == 40
        predict(encode(state.tokenizer, ["back at its own count"]))
        assert _threads_of(runner) == 1, f"{name} not back at its timing threads"
    assert seen == {"torch": {2}, "onnx-fp32": {2}}


def test_an_onnx_runner_stays_open_at_the_eval_threads_until_it_computes_outside_them(tmp_path: Path,
                                                                                      tiny_cache_with):
    """Consecutive blocks at the eval threads (a timing session's padding properties, one a test)
    share one session opened at them; the first computation outside a block reopens it at the
    runner's own count, so no timed pass runs on the eval threads' session."""
    import onnxruntime as ort

    tiny_cache_with(tmp_path / "cache", "onnx-fp32")
    cfg = GateConfig(model="tiny", backends=("onnx-fp32",), limit=8, threads=1, eval_threads=2,
                     cache_dir=tmp_path / "cache", report_dir=tmp_path / "report")
    state = GateSession(cfg, progress=lambda _msg: None)
    runner = state.runner("onnx-fp32")
    batch = encode(state.tokenizer, ["one", "two texts"])
    opened: list[int] = []
    real = ort.InferenceSession

    def counting(*args, **kwargs):
        opened.append(args[1].intra_op_num_threads)
        return real(*args, **kwargs)

    ort.InferenceSession = counting  # type: ignore[misc]
    try:
        for _ in range(3):
            with state.untimed(runner):
                assert _threads_of(runner) == 2 and runner.threads_now == 2
                runner.predict(batch)
        assert opened == [2] and runner.threads_now == 1
        runner.predict(batch)
        assert opened == [2, 1] and _threads_of(runner) == 1
    finally:
        ort.InferenceSession = real  # type: ignore[misc]
    state.close()
    state.close()


@pytest.mark.slow
def test_a_timing_session_predicts_with_torch_compile_at_the_eval_threads_too(tmp_path: Path,
                                                                              tiny_cache_with):
    """torch.compile is no exception: dynamo compiles a second graph at `eval_threads` for the
    predictions (inductor's kernels hold their thread count) and keeps the first, so the runner is
    back at one thread after, computing what it computed at two. (The one thread's kernels are
    seeded from the suite's cache: only the two threads' are built.)"""
    import torch

    tiny_cache_with(tmp_path / "cache", kernels=True)
    cfg = GateConfig(model="tiny", backends=("torch-compile",), limit=12, threads=1, eval_threads=2,
                     cache_dir=tmp_path / "cache", report_dir=tmp_path / "report")
    state = GateSession(cfg, progress=lambda _msg: None)
    runner = state.runner("torch-compile")
    seen: set[int] = set()
    predict = runner.predict

    def spy(batch):
        seen.add(torch.get_num_threads())
        return predict(batch)

    runner.predict = spy  # type: ignore[method-assign]
    at_two = state.predictions("torch-compile")
    assert seen == {2}
    assert torch.get_num_threads() == 1
    texts = list(state.dataset.texts[:12])
    at_one = predict_texts(runner, state.tokenizer, texts, cfg.eval_batch_size)
    assert seen == {1, 2}
    np.testing.assert_allclose(at_one, at_two, atol=1e-5)
    state.close()


# --- how a pass is cut into batches (a token budget per batch) ---------------------------------


@given(lengths=st.lists(st.integers(1, 600), min_size=1, max_size=80), batch_size=st.integers(1, 40),
       tokens=st.integers(16, 5000), sort=st.booleans())
def test_batches_hold_every_text_once_in_order_within_the_size_and_the_token_budget(
        lengths: list[int], batch_size: int, tokens: int, sort: bool):
    counts = np.array(lengths)
    order = np.argsort(counts, kind="stable") if sort else np.arange(len(counts))
    batches = token_batches(counts, order, batch_size, tokens)
    assert np.concatenate(batches).tolist() == order.tolist()
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        assert len(batch) == 1 or len(batch) * counts[batch].max() <= tokens
    if sort:  # greedy: a batch is cut only when the next text would not fit
        for batch, after in itertools.pairwise(batches):
            grown = np.append(batch, after[0])
            assert len(grown) > batch_size or len(grown) * counts[grown].max() > tokens


def test_long_texts_are_predicted_in_smaller_batches_and_short_ones_fill_the_batch_size(tiny):
    """A pass over 40 short texts and 20 of 512 tokens: batches of 32 short ones, then of 8 long
    ones (TOKENS_PER_BATCH = 4096), the outputs back in input order."""
    tokenizer = AutoTokenizer.from_pretrained(tiny.path)
    texts = ["ok " * 3] * 40 + ["word " * 600] * 20
    shapes: list[tuple[int, int]] = []

    class Recording:
        name = "recording"

        def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
            shapes.append(batch["input_ids"].shape)
            return batch["input_ids"][:, :1].astype(np.float32)

    out = predict_texts(Recording(), tokenizer, texts, batch_size=32)  # type: ignore[arg-type]
    assert max(b * t for b, t in shapes) <= TOKENS_PER_BATCH and shapes[0][0] == 32
    assert [b for b, t in shapes if t == 512] == [8, 8, 4]
    assert out.shape == (60, 1) and (out[:, 0] == tokenizer.cls_token_id).all()
    assert len(shapes) == 2 + 3  # 32 + 8 short texts, then 8 + 8 + 4 long ones


def pass_on_a_clock(tiny, monkeypatch, first_call: float = 0.0) -> tuple[list[str], float]:
    """The progress lines of a pass of 40 short and 20 long texts by a runner on a clock that runs one
    second per 1,000 padded tokens, its first call `first_call` seconds more; and the pass's padded
    tokens."""
    tokenizer = AutoTokenizer.from_pretrained(tiny.path)
    texts = ["ok " * 3] * 40 + ["word " * 600] * 20
    clock = [0.0]
    monkeypatch.setattr(inference.time, "monotonic", lambda: clock[0])

    class Timed:
        name = "timed"
        calls = 0

        def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
            self.calls += 1
            clock[0] += batch["input_ids"].size / 1000 + (first_call if self.calls == 1 else 0.0)
            return np.zeros((len(batch["input_ids"]), 1), dtype=np.float32)

    lines: list[str] = []
    predict_texts(Timed(), tokenizer, texts, batch_size=32, progress=lines.append)  # type: ignore[arg-type]
    return lines, (clock[0] - first_call) * 1000


def test_a_pass_tells_its_share_of_the_padded_tokens_and_the_time_they_leave(tiny, monkeypatch):
    """A pass sorted by length leaves its long texts to the end: its progress line counts the padded
    tokens, not the texts, and says how long the rest takes at the pace so far. On a clock that runs
    one second per 1,000 padded tokens the estimate is exact: 56 of 60 texts done are 80% of the work."""
    lines, total = pass_on_a_clock(tiny, monkeypatch)
    # the first line comes 5 s in, after the short texts and two batches of 8 long ones
    done = total - 4 * 512
    assert lines[0] == (f"timed: 56/60 texts, {done / total:.0%} of the padded tokens in "
                        f"{done / 1000:.0f} s, about {(total - done) / 1000:.0f} s left")
    assert lines[-1] == f"timed: 60/60 texts, 100% of the padded tokens in {total / 1000:.0f} s"


def test_a_first_call_that_compiles_is_left_out_of_the_time_a_pass_says_it_has_left(tiny, monkeypatch):
    """torch.compile compiles at its first call: a pass of 500 texts that took 12 s said "about 315 s
    left" after its first batch of 32. The estimate is the pace of the batches after the first, and
    a line after the first batch alone says none."""
    lines, total = pass_on_a_clock(tiny, monkeypatch, first_call=30.0)
    assert lines[0].startswith("timed: 32/60 texts, ") and "left" not in lines[0]  # the compile alone
    done = total - 4 * 512  # the next line: after the 8 short texts and two batches of 8 long ones
    assert lines[1] == (f"timed: 56/60 texts, {done / total:.0%} of the padded tokens in "
                        f"{30 + done / 1000:.0f} s, about {(total - done) / 1000:.0f} s left")


# --- every artifact file first (GateSession.prebuild) -------------------------------------------


def test_artifact_files_are_built_before_any_runner_opens_and_the_record_says_this_session_built_them(
        tmp_path: Path, tiny):
    shutil.copytree(tiny.path, tmp_path / "cache" / tiny.path.name)  # a fresh cache: nothing built yet
    cfg = GateConfig(model="tiny", backends=("torch", "onnx-fp32"), limit=16, threads=1,
                     cache_dir=tmp_path / "cache", report_dir=tmp_path / "report")
    said: list[str] = []
    state = GateSession(cfg, progress=said.append)
    state.prebuild(["torch", "onnx-fp32", "onnx-bogus"])
    assert not state._runners and any(m.startswith("onnx-fp32: built at ") for m in said)
    assert list((tmp_path / "cache").glob("onnx-fp32-*/model.onnx"))
    record = state.built("onnx-fp32")  # opened from the cache now; built by this session all the same
    assert record.from_cache is False and record.seconds > 0
    state.close()
    again = GateSession(cfg, progress=lambda _msg: None)
    again.prebuild(["onnx-fp32"])
    assert again.built("onnx-fp32").from_cache is True
    again.close()


def test_a_build_that_breaks_outside_a_test_is_left_to_the_test_that_opens_it(tmp_path: Path, tiny,
                                                                             monkeypatch):
    """prebuild runs at collection's end, outside any test: a library's own exception there would
    end the whole session, so it is left for the backend's first test to meet and report, once: a
    GateError naming the backend and the cause, which its later tests raise again."""
    from encoder_gate.backends.onnx_backend import OnnxBackend
    from encoder_gate.errors import GateError

    def broken(self, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("the exporter fell over")

    monkeypatch.setattr(OnnxBackend, "artifact", broken)
    state = session(tmp_path, tmp_path / "unused.onnx")
    state.prebuild(["onnx-fp32"])
    assert not state._runners and not state._prebuilt and "onnx-fp32" not in state.records
    for _ in range(2):
        with pytest.raises(GateError, match=r"^onnx-fp32 could not be built: RuntimeError: the exporter fell "
                                            r"over$"):
            state.runner("onnx-fp32")
    state.close()
