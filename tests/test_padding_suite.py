"""The shipped padding properties: how many examples each backend property draws, and that the
fewest it ever draws still catch a backend that ignores the attention mask."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import encoder_gate.suite.padding as padding
from encoder_gate.backends.mock import MockBackend
from encoder_gate.backends.registry import BACKENDS
from encoder_gate.commands.layout import ACCURACY_MODULE, THIN_MODULES


def test_backend_properties_draw_fewer_examples_on_a_larger_model():
    """A model up to 100 MB of weights gets the profile's examples per backend property; a larger
    one proportionally fewer, at least MIN_BACKEND_EXAMPLES; `at_most` caps either."""
    from types import SimpleNamespace

    from encoder_gate.suite.padding import MIN_BACKEND_EXAMPLES, backend_examples, backend_settings

    full = backend_settings.max_examples
    minilm, roberta_base, huge = (SimpleNamespace(model_bytes=n) for n in (91_000_000, 500_000_000, 10**12))
    assert backend_examples(minilm).max_examples == full
    assert backend_examples(minilm, at_most=5).max_examples == min(5, full)
    expected = min(full, max(MIN_BACKEND_EXAMPLES, round(full / 5)))
    assert backend_examples(roberta_base).max_examples == expected
    assert backend_examples(huge).max_examples == min(full, MIN_BACKEND_EXAMPLES)
    assert backend_examples(roberta_base).deadline is None


PROFILE_PROBE = """
from encoder_gate.suite.padding import backend_settings, tokenizer_settings


def test_examples():
    assert (backend_settings.max_examples, tokenizer_settings.max_examples) == EXPECTED
"""


@pytest.mark.parametrize(("own_profile", "expected"), [(None, 15), ("max_examples=7", 7)],
                         ids=["no-profile", "own-ci-profile"])
def test_under_ci_the_properties_run_encoder_gates_budget_unless_the_project_set_its_own(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, own_profile: str | None, expected: int):
    """With `CI` set hypothesis loads its built-in "ci" profile (100 examples a property, seven times
    encoder-gate's CI budget); that is not a project's choice, so encoder-gate's own applies. A
    project's own "ci" profile (as this repository's conftest.py registers) wins."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    if own_profile:
        pytester.makeconftest("from hypothesis import settings\n"
                              f"settings.register_profile('ci', {own_profile})\n"
                              "settings.load_profile('ci')\n")
    pytester.makepyfile(test_probe=f"EXPECTED = {(expected, expected)!r}\n" + PROFILE_PROBE)
    # a fresh process: the profile is chosen when the suite is imported, and a project's own
    # registered profile would outlive an in-process run
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


# A backend that runs torch with the attention mask all ones, as an export that dropped the mask
# would; and every backend property at its fewest examples (any model counts as large).
def mask_blind(batch, inner):
    """A runner that ignores the attention mask: every position attended, padding included."""
    return inner.predict({**batch, "attention_mask": np.ones_like(batch["attention_mask"])})


#: The runner each mask-blind backend wraps, by the number format it is judged in.
BLIND_AROUND = {"fp32": "onnx-fp32", "fp16": "onnx-fp16", "int8": "onnx-int8"}


def sharp_model(tiny_path: Path, into: Path) -> float:
    """tiny's architecture with weights of std 0.6 under which ignoring the attention mask moves
    PADDED_PAIR's short text, padded to the longest or to 128 tokens, by at least INT8's padding_atol
    and 0.3 more (room for INT8's own error) in torch: the first such seed. How far a seed's weights
    move it depends on the stack's tiny tokenizer (seed 0 at std 0.4: 0.39 with transformers 4.47's,
    0.86 with 5.24's, so the int8 case once passed on the lowest stack), so it is found, not
    assumed. Returns that shift."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from encoder_gate.accuracy.tolerances import DEFAULT_BOUNDS

    floor = DEFAULT_BOUNDS["int8"].padding_atol + 0.3
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    config = AutoConfig.from_pretrained(tiny_path)
    config.initializer_range = 0.6
    alone = tokenizer([padding.PADDED_PAIR[0]], return_tensors="pt")
    padded = [tokenizer(list(padding.PADDED_PAIR), return_tensors="pt", **how)
              for how in ({"padding": "longest"}, {"padding": "max_length", "max_length": 128})]
    shifts = []
    for seed in range(100):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_config(config).eval()
        with torch.no_grad():
            own = torch.sigmoid(model(**alone).logits)[0]
            blind = [torch.sigmoid(model(input_ids=batch["input_ids"],  # a mask of ones: all attended
                                         attention_mask=torch.ones_like(batch["input_ids"])).logits)[0]
                     for batch in padded]
        shift = max(float((own - other).abs().max()) for other in blind)
        if shift >= floor:
            model.save_pretrained(into)
            for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                         "merges.txt"):
                if (tiny_path / name).exists():
                    shutil.copy(tiny_path / name, into / name)
            return shift
        shifts.append(round(shift, 2))
    pytest.fail(f"no seed of 100 moves {padding.PADDED_PAIR[0]!r} by {floor} mask-blind: {shifts}")


@pytest.mark.slow
def test_the_fewest_examples_still_catch_a_backend_that_ignores_the_mask(pytester: pytest.Pytester,
                                                                        tiny, cache_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    """At MIN_BACKEND_EXAMPLES per property, the padding properties pass torch and fail a runner
    that ignores the attention mask, in every number format: around onnx-fp32, onnx-fp16 and
    onnx-int8, each judged by its format's padding_atol (issue 68: INT8's batch dependence is
    bounded, not waved through). The model is tiny's architecture with weights that make attending
    to padding show (sharp_model)."""
    model_dir = pytester.path / "sharp"
    sharp_model(tiny.path, model_dir)
    # the in-process run's registry and example floor, as a project's conftest would set them
    blind = {f"mask-blind-{fmt}": MockBackend(mask_blind, name=f"mask-blind-{fmt}", around=around,
                                              number_format=fmt)
             for fmt, around in BLIND_AROUND.items()}
    for name, backend in blind.items():
        monkeypatch.setitem(BACKENDS, name, lambda backend=backend: backend)
    monkeypatch.setattr(padding, "FULL_EXAMPLES_UP_TO", 1)
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    result = pytester.runpytest(
        "accuracy", "--gate-model", str(model_dir), "--gate-backends", ",".join(["torch", *blind]),
        "--gate-cache-dir", str(cache_dir), "-p", "no:cacheprovider", "-p", "no:randomly",
        "-k", "padding_alone or padding_batch_composition")
    outcomes = result.parseoutcomes()
    # torch passes both; each mask-blind runner fails at least the property whose explicit padded pair
    # every session runs (PADDED_PAIR), whatever its fixed examples drew
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2 + 2 * len(blind), outcomes
    assert not [line for line in result.stdout.lines if line.startswith("FAILED") and "[torch]" in line]
    for name in blind:
        result.stdout.fnmatch_lines([f"FAILED *test_padding_alone_longest_and_max_length_agree[[]{name}[]]*"],
                                    consecutive=False)
    # the properties write no results document: their failures reach the verdict as findings
    decided = json.loads((pytester.path / ".encoder-gate" / "verdict.json").read_text())
    assert decided["passed"] is False
    assert {f["backend"] for f in decided["findings"]} == set(blind)
    assert {f["nodeid"].split("::")[-1].split("[")[0] for f in decided["findings"]} <= {
        "test_padding_alone_longest_and_max_length_agree", "test_padding_batch_composition_does_not_matter"}


def test_a_property_of_a_runner_that_failed_on_a_batch_fails_at_once():
    """Walk AL: a file ONNX Runtime could not compute failed each property through hypothesis's
    examples and shrinking, 60 s a property on a loaded machine; the runner's failure is said at once."""
    from types import SimpleNamespace

    from encoder_gate.errors import GateError
    from encoder_gate.suite.padding import run_property

    with pytest.raises(GateError, match=r"^ONNX Runtime failed to compute f\.onnx$"):
        broken = SimpleNamespace(broken="ONNX Runtime failed to compute f.onnx")
        run_property(None, {}, broken, None, None, None)


def test_a_failed_property_says_its_difference_to_the_verdict_in_one_line(tiny, cache_dir: Path):
    """The verdict's padding line read the largest difference of the properties that passed: 0 beside
    a statically quantized file's two failed ones (0.892 and 0.917 over 0.6, a user's file,
    2026-11-29). A failed property's difference is noted too, and its failure is a check's
    (CheckFailed: its message alone in the report, not a traceback through hypothesis)."""
    import numpy as np
    from hypothesis import settings
    from hypothesis import strategies as st

    from encoder_gate.config import GateConfig
    from encoder_gate.errors import CheckFailed
    from encoder_gate.runtime.session import GateSession
    from encoder_gate.suite.padding import Agreement, run_property

    session = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, explore=3), progress=lambda _m: None)

    class Padded:
        name, broken = "padded", None

        def predict(self, batch: dict) -> np.ndarray:
            return np.zeros((len(batch["input_ids"]), 2))

    agree = Agreement(0.6)

    def check(text: str) -> None:
        agree(np.array([[0.95, 0.0]]), np.array([[0.05, 0.0]]), [text], "padded to 64 tokens")

    with pytest.raises(CheckFailed, match=r"padded to 64 tokens: max \|diff\| 0\.9 > padding_atol 0\.6"):
        run_property(check, {"text": st.text(max_size=3)}, Padded(), session, session.tokenizer,
                     settings(max_examples=3), agree=agree)
    assert session.padding["padded"] == {"largest": pytest.approx(0.9), "bound": 0.6}
    session.close()


def test_a_property_of_a_runner_that_cannot_predict_fails_at_its_first_call(tiny, cache_dir: Path):
    """A runner whose first call fails (torch-compile whose compile fails: a project path inductor's
    C++ build could not take) failed the property through hypothesis's first example, then its
    shrinking, which drew texts and called it again for 74 s on a 2-layer model: one call now, before
    hypothesis, says it."""
    from hypothesis import settings
    from hypothesis import strategies as st

    from encoder_gate.config import GateConfig
    from encoder_gate.errors import GateError
    from encoder_gate.runtime.session import GateSession
    from encoder_gate.suite.padding import run_property

    session = GateSession(GateConfig(model="tiny", cache_dir=cache_dir, explore=3), progress=lambda _m: None)
    calls: list[int] = []

    class Failing:
        name = "torch-compile"
        broken = None

        def predict(self, batch: dict) -> None:
            calls.append(len(batch["input_ids"]))
            raise GateError("torch-compile: torch.compile failed at the model's first call")

    def check(text: str) -> None:
        raise AssertionError("no example is drawn")

    with pytest.raises(GateError, match=r"torch\.compile failed"):
        run_property(check, {"text": st.text()}, Failing(), session, session.tokenizer,
                     settings(max_examples=5))
    assert calls == [1]


def test_a_failure_found_by_exploring_is_replayed_by_every_later_session(tmp_path: Path):
    """The fixed examples are the same every run and miss a narrow bug; an exploring session finds it
    (here: every value from 500 fails, shrunk to 500) and keeps it in the example database; every later
    session of fixed examples replays it first and fails, until the database no longer holds it."""
    from hypothesis import settings
    from hypothesis import strategies as st

    from encoder_gate.runtime.properties import draw, kept_examples

    examples = settings(max_examples=15, deadline=None)
    database = tmp_path / "examples"
    seen: list[int] = []
    bug = [lambda x: x == 500]  # what fails: narrow, then wide while exploring

    def check(x):
        seen.append(x)
        assert not bug[0](x), f"{x} fails"

    strategies = {"x": st.integers(0, 1000)}
    draw(check, strategies, examples, seed_value=7, database=database, explore=0)
    first = list(seen)
    assert 500 not in first and len(first) >= 10
    seen.clear()
    draw(check, strategies, examples, seed_value=7, database=database, explore=0)
    assert seen == first, "the fixed examples differ between two sessions"
    seen.clear()
    draw(check, strategies, examples, seed_value=8, database=database, explore=0)
    assert seen != first, "another seed (another model, backend or property) drew the same examples"
    assert kept_examples(database) == []
    bug[0] = lambda x: x >= 500
    with pytest.raises(AssertionError, match="500 fails"):
        draw(check, strategies, examples, seed_value=7, database=database, explore=200)
    assert kept_examples(database)
    bug[0] = lambda x: x == 500
    with pytest.raises(AssertionError, match="500 fails"):
        draw(check, strategies, examples, seed_value=7, database=database, explore=0)
    shutil.rmtree(database)
    draw(check, strategies, examples, seed_value=7, database=database, explore=0)


def _failing_from_three(error: type[Exception], seen: list[list[str]]):
    """A property failing with `error` on every list of three texts or more, noting each example."""
    def check(texts):
        seen.append(texts)
        if len(texts) >= 3:
            raise error(f"the backend returned NaN for {len(texts)} texts")
    return check


def test_an_example_whose_outputs_are_no_numbers_fails_its_property_as_drawn_not_shrunk(tmp_path: Path):
    """A property meeting NaN outputs (NotFinite) fails at that example, its line as the check said it:
    hypothesis shrinks every other failure (here to the shortest failing list), and shrinking a NaN
    finds only a shorter text of the same NaN (a partly NaN file's session of tiny: 423 s, 19 s after).
    An AssertionError still shrinks."""
    from hypothesis import settings
    from hypothesis import strategies as st

    from encoder_gate.errors import NotFinite
    from encoder_gate.runtime.properties import draw

    examples = settings(max_examples=50, deadline=None)
    strategies = {"texts": st.lists(st.text(), min_size=1, max_size=8)}
    for error, shrunk in ((NotFinite, False), (AssertionError, True)):
        seen: list[list[str]] = []
        check = _failing_from_three(error, seen)

        with pytest.raises(error) as raised:
            draw(check, strategies, examples, seed_value=7, database=tmp_path / error.__name__, explore=0)
        failing = [texts for texts in seen if len(texts) >= 3]
        assert type(raised.value) is error
        if shrunk:  # hypothesis went on to the smallest failing example
            assert len(failing) > 1 and str(raised.value) == "the backend returned NaN for 3 texts"
        else:  # the first failing example, as the check said it, and the last call
            assert len(failing) == 1 and seen[-1] is failing[0]
            assert str(raised.value) == f"the backend returned NaN for {len(failing[0])} texts"


@pytest.mark.slow
def test_two_sessions_of_one_commit_give_one_verdict_as_each_propertys_pass_is_kept_per_artifact(
        pytester: pytest.Pytester, tiny_cache_with, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Issue 68, and what keeps it so, in sessions of `pytest accuracy` on tiny, none with a profile of
    the project's: the first, without `CI`, draws each backend property's fixed examples; the second,
    with `CI` set, would draw the same ones, so it reads each property's pass from the artifact cache
    and says so, and writes a verdict.json equal to the first's but for when it was written; a third
    that explores (--gate-explore) draws again, and its verdict says it explored."""
    # a cache of its own, no property has passed in it yet; the shared builds, not built again
    cache = tiny_cache_with(tmp_path / "cache", "onnx-fp32", "onnx-int8")
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    backends = ("torch", "onnx-fp32", "onnx-int8")
    args = ["accuracy", "--gate-model", "tiny", "--gate-backends", ",".join(backends), "--gate-cache-dir",
            str(cache), "--gate-limit", "48", "-s", "-p", "no:cacheprovider"]
    property_kept = "test_padding_same_input_gives_same_output: passed before on this artifact"

    def verdict() -> dict:
        decided = json.loads((pytester.path / ".encoder-gate" / "verdict.json").read_text())
        return {k: v for k, v in decided.items() if k not in ("sources", "read", "decided_on")}

    # fresh processes: the profile is chosen when the suite is imported
    first_run = pytester.runpytest_subprocess(*args)
    assert first_run.ret == 0, first_run.stdout.str()[-3000:]
    assert "read from the cache" not in first_run.stdout.str()  # nothing had passed in this cache
    first = verdict()
    assert first["explored"] == {}
    monkeypatch.setenv("CI", "true")
    second = pytester.runpytest_subprocess(*args)
    assert second.ret == 0, second.stdout.str()[-3000:]
    kept = "with the same * fixed examples; read from the cache"
    second.stdout.fnmatch_lines([f"*{name} {property_kept} {kept}" for name in backends], consecutive=False)
    assert verdict() == first
    # an exploring session draws again, and says so, in verdict.json and verdict.md
    explored = pytester.runpytest_subprocess(*args, "--gate-explore", "3")
    assert explored.ret == 0, explored.stdout.str()[-3000:]
    assert property_kept not in explored.stdout.str()
    explored.stdout.fnmatch_lines(["encoder-gate: exploring: the padding properties draw 3 random examples*"])
    assert verdict()["explored"] == {"accuracy.json": 3, "findings.json": 3}
    said = "- Explored: the session of accuracy.json, findings.json drew 3 random examples a padding property"
    assert said in (pytester.path / ".encoder-gate" / "verdict.md").read_text()


def test_whitespace_longer_than_a_short_model_is_truncated_as_encode_truncates_it(
        pytester: pytest.Pytester, tiny, cache_dir: Path):
    """A healthy model whose tokenizer holds 8 tokens (model_max_length 8; or few position
    embeddings) failed the whitespace property on torch: its expected ids were the whole content,
    not the content cut where encode cuts it ('\\x85' * 16 is 32 byte-level tokens)."""
    model_dir = pytester.path / "short"
    shutil.copytree(tiny.path, model_dir)
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    (model_dir / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 8}))
    test = pytester.path / "test_ws.py"
    test.write_text(
        "from encoder_gate.runtime.inference import encode\n"
        "from encoder_gate.suite.padding import test_padding_empty_and_whitespace_only_texts  # noqa\n\n"
        "def test_the_long_whitespace_is_cut(gate_tokenizer):\n"
        "    assert len(encode(gate_tokenizer, ['\\x85' * 16])['input_ids'][0]) == 8\n")
    result = pytester.runpytest(str(test), "--gate-model", str(model_dir), "--gate-backends", "torch",
                                "--gate-cache-dir", str(cache_dir), "-p", "no:cacheprovider",
                                "--gate-explore", "30")
    result.assert_outcomes(passed=2)


@pytest.mark.stack  # a tokenizer's padding and truncation sides, as each transformers reads them
def test_a_tokenizer_saved_to_pad_and_cut_on_the_left_is_fed_right_padded_and_cut_as_saved(
        pytester: pytest.Pytester, tiny, cache_dir: Path):
    """A tokenizer saved with padding_side and truncation_side 'left' (a DistilBERT user's, 2026-11-30):
    the gate's own properties failed torch itself ("AssertionError: mask of text 0", a long text's ids
    compared with its start), and onnx-fp16 failed its flips (ONNX Runtime's fused attention assumes
    right padding: drift max 6.5e-4 left-padded, 1.9e-5 right-padded). The gate pads every batch on
    the right, cuts a long text where the tokenizer cuts it (its end kept), and the verdict says so."""
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.inference import encode, padding_side_note
    from encoder_gate.runtime.session import GateSession

    model_dir = pytester.path / "left"
    shutil.copytree(tiny.path, model_dir)
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    (model_dir / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left",
                                                                  "truncation_side": "left"}))
    session = GateSession(GateConfig(model=str(model_dir), backends=("torch",), cache_dir=cache_dir),
                          progress=lambda _m: None)
    fed = session.tokenizer
    assert (fed.padding_side, fed.truncation_side) == ("right", "left")
    assert encode(fed, ["a b c d", "a"])["attention_mask"][1].tolist()[:2] == [1, 1]  # ones, then zeros
    note = padding_side_note(fed)
    assert note and note.startswith("the model's tokenizer pads on the left (padding_side 'left'")
    assert padding_side_note(GateSession(GateConfig(model="tiny", cache_dir=cache_dir)).tokenizer) is None
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    result = pytester.runpytest(
        "accuracy", "--gate-model", str(model_dir), "--gate-backends", "torch", "--gate-cache-dir",
        str(cache_dir), "--gate-limit", "50", "-p", "no:cacheprovider", "-p", "no:randomly", "-k",
        "drift_max or right_sided or truncated_like_the_tokenizer or predicts_like_its_truncated or batch_co")
    result.assert_outcomes(passed=5)
    accuracy = json.loads((pytester.path / ".encoder-gate" / "accuracy.json").read_text())
    assert accuracy["model"]["tokenizer_note"] == note
    assert note in (pytester.path / ".encoder-gate" / "verdict.md").read_text()


@pytest.mark.stack  # a tokenizer's limit and truncation, as each transformers reads them
def test_a_long_context_model_is_fed_up_to_max_tokens_and_its_long_text_properties_go_beyond_it(
        pytester: pytest.Pytester, cache_dir: Path):
    """A BERT of 1024 positions (its tokenizer's limit 1024): fed at most 512 tokens unless `max-tokens`
    is raised, where the long-text properties draw texts beyond 1024 (their 520 words were shorter than
    its limit: 'long_texts() should exceed the model's limit'), and pass on torch."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from encoder_gate.config import GateConfig
    from encoder_gate.models.resolve import resolve_model
    from encoder_gate.runtime.inference import max_length, model_limit
    from encoder_gate.runtime.session import GateSession

    bert = resolve_model("tiny-bert", GateSession(GateConfig(cache_dir=cache_dir)).cache)
    model_dir = pytester.path / "long"
    config = AutoConfig.from_pretrained(bert.path)
    config.max_position_embeddings = 1024
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(bert.path / name, model_dir / name)
    settings = json.loads((model_dir / "tokenizer_config.json").read_text())
    (model_dir / "tokenizer_config.json").write_text(json.dumps({**settings, "model_max_length": 1024}))

    def fed(**given: int) -> object:
        return GateSession(GateConfig(model=str(model_dir), cache_dir=cache_dir, **given)).tokenizer

    assert (max_length(fed()), model_limit(fed())) == (512, 1024)
    assert (max_length(fed(max_tokens=1024)), model_limit(fed(max_tokens=1024))) == (1024, None)
    assert max_length(fed(max_tokens=4096)) == 1024  # never beyond the model's own
    # a tokenizer saved with no limit (transformers' 1e30): its model's positions bound it, raised or not
    # (it was fed 2048 tokens at max-tokens 2048, beyond the 1024 positions, and its limit unsaid at 512)
    unlimited = {k: v for k, v in settings.items() if k != "model_max_length"}
    (model_dir / "tokenizer_config.json").write_text(json.dumps(unlimited))
    assert (max_length(fed(max_tokens=2048)), model_limit(fed())) == (1024, 1024)
    (model_dir / "tokenizer_config.json").write_text(json.dumps({**settings, "model_max_length": 1024}))
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    result = pytester.runpytest(
        "accuracy", "--gate-model", str(model_dir), "--gate-backends", "torch", "--gate-cache-dir",
        str(cache_dir), "--gate-max-tokens", "1024", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-k", "truncated_like_the_tokenizer or predicts_like_its_truncated")
    result.assert_outcomes(passed=2)
