"""torch.compile artifacts persist in the artifact cache: a new session loads them and says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from encoder_gate.backends.base import BuildContext
from encoder_gate.backends.compile_artifacts import (
    COMPILE_ARTIFACTS_FILE,
    CompileArtifacts,
    compile_artifacts_missing,
)
from encoder_gate.backends.inductor_dir import vec_isa
from encoder_gate.backends.torch_backend import compile_key
from encoder_gate.cache import ArtifactCache
from encoder_gate.models.spec import ModelSpec

#: The tests of the entries themselves need a torch that saves and loads them (2.7 and later; the
#: window's floor, 2.6, compiles in every session and says so: the test after these).
needs_artifacts = pytest.mark.skipif(compile_artifacts_missing() is not None,
                                     reason=str(compile_artifacts_missing()))

# One gate session in a fresh process: build torch-compile on `tiny` (after an ONNX export, with
# `export-first`), predict a few texts, close.
SESSION = """
import json, os, sys, time
from pathlib import Path
import numpy as np
from encoder_gate.config import GateConfig
from encoder_gate.runtime.inference import encode
from encoder_gate.runtime.session import GateSession

cache_dir, out, model, export_first = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
texts = ["I love this so much!", "Why would anyone do that? " * 6, "ok", ""]
lines = []
backends = ("onnx-fp32", "torch-compile") if export_first else ("torch-compile",)
session = GateSession(GateConfig(model=model, backends=backends, threads=1, cache_dir=cache_dir,
                                 report_dir=out.parent / "report"), progress=lines.append)
if export_first:
    # torch.onnx.export in this process, as code of the user's may run it before the compile (a
    # session builds its own exports in a child): torch sets TORCHINDUCTOR_CACHE_DIR to its default
    from encoder_gate.backends.registry import parse_backend
    parse_backend("onnx-fp32").artifact(session.context())
after_export = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
runner = session.runner("torch-compile")
at_compile = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
started = time.perf_counter()
probs = runner.predict(encode(session.tokenizer, texts))
first_predict = time.perf_counter() - started
session.close()
np.save(out, probs)
record = session.records["torch-compile"]
from torch._dynamo.utils import counters
print(json.dumps({"from_cache": record.from_cache, "build_seconds": record.seconds, "notes": record.notes,
                  "aot_autograd": dict(counters["aot_autograd"]),
                  "first_predict_seconds": first_predict, "progress": lines,
                  "inductor_dir_after_export": after_export, "inductor_dir_at_compile": at_compile}))
"""


def run_session(tmp_path: Path, cache_dir: Path, tag: str, model: str = "tiny",
                own_inductor_dir: str | None = "", export_first: bool = False,
                ) -> tuple[dict[str, object], np.ndarray]:
    """One session in a subprocess whose inductor cache is `tmp_path/inductor-<own_inductor_dir>`
    (a fresh empty one named `tag` by default), so whatever it does not compile comes from our
    artifact cache, not from /tmp/torchinductor_<user>; or, `own_inductor_dir=None`, with
    TORCHINDUCTOR_CACHE_DIR unset, as a user runs it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    if own_inductor_dir is not None:
        inductor = tmp_path / f"inductor-{own_inductor_dir or tag}"
        inductor.mkdir(exist_ok=True)
        env["TORCHINDUCTOR_CACHE_DIR"] = str(inductor)
    out = tmp_path / f"probs-{tag}.npy"
    done = subprocess.run([sys.executable, "-c", SESSION, str(cache_dir), str(out), model,
                           "1" if export_first else "0"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, np.load(out)


@needs_artifacts
@pytest.mark.slow
def test_later_sessions_load_the_compile_artifacts_and_inductors_kernels_and_predict_alike(
        tmp_path: Path, tiny: ModelSpec, monkeypatch: pytest.MonkeyPatch,
        tiny_cache_with: Callable[..., Path]) -> None:
    """One compile in a fresh cache (its inductor entry seeded with the suite's kernels of tiny, so
    it builds no C++: the second session below does, into a directory of its own), then the
    sessions after it, each in a fresh process:

    1. TORCHINDUCTOR_CACHE_DIR unset, as a user runs it, after an ONNX export in its own process
       (code of the user's, `encoder-gate export` or a fallback build may run one there: torch sets
       TORCHINDUCTOR_CACHE_DIR to /tmp/torchinductor_<user> the first time it asks, which the
       export does): it compiles, saves a torch-compile-* entry, and inductor's on-disk cache is an
       inductor-* entry of the artifact cache (the C++ kernels the portable artifacts leave out on
       CPU), not the default shared with every process of the user's (where a session masked to
       AVX2 died in a kernel another CPU's session had compiled);
    2. with an empty TORCHINDUCTOR_CACHE_DIR of its own, as a user may set: it loads the entry,
       reports `from cache` with no notes and bitwise-equal outputs, and leaves that directory to
       the user (nothing written to the inductor-* entry);
    3. a retrained model (one bias moved), TORCHINDUCTOR_CACHE_DIR unset again: the same graphs,
       from the base's artifacts and the inductor-* entry's kernels (no new shared object there), on
       its own weights. (It was two sessions, the unset variable's and the retrained model's: 12 s
       of a fresh process each, AMD EPYC Zen 5.)"""
    # a fresh cache holding the shared tiny model and the suite cache's kernels of it
    cache_dir = tiny_cache_with(tmp_path / "cache", kernels=True)
    # every session reads inductor's vector ISA kept (inductor_dir.vec_isa), so each process that
    # compiles or loads a kernel picks it itself inside its inductor directory, the first as the third:
    # with the pick kept only after the first, the third's probes were new files in the inductor entry
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    vec_isa()

    first, first_probs = run_session(tmp_path, cache_dir, "first", own_inductor_dir=None, export_first=True)
    assert first["from_cache"] is False, first
    entries = sorted(p for p in cache_dir.glob("torch-compile-*") if p.is_dir())
    assert len(entries) == 1, first
    assert (entries[0] / COMPILE_ARTIFACTS_FILE).stat().st_size > 0
    places = sorted(p for p in cache_dir.glob("inductor-*") if p.is_dir())
    assert len(places) == 1, first
    assert first["inductor_dir_at_compile"] == str(places[0].resolve()), first
    assert first["inductor_dir_after_export"] != first["inductor_dir_at_compile"], first
    kernels = sorted(places[0].rglob("*.so"))
    assert kernels and any(places[0].rglob("fxgraph/**/*")), sorted(places[0].iterdir())

    def inductor_entry() -> list[tuple[str, int]]:
        return sorted((str(p), p.stat().st_mtime_ns) for p in places[0].rglob("*"))

    before = inductor_entry()
    second, second_probs = run_session(tmp_path, cache_dir, "second")
    assert second["from_cache"] is True, second
    assert second["notes"] == [], second
    # traced once, its AOT autograd pass from the cache: no trace dropped for a float (constant_floats)
    assert second["aot_autograd"].get("autograd_cache_miss", 0) == 0, second
    assert second["aot_autograd"].get("autograd_cache_hit") == 1, second
    assert second["inductor_dir_at_compile"] == str(tmp_path / "inductor-second"), second
    assert sorted(p for p in cache_dir.glob("torch-compile-*") if p.is_dir()) == entries  # nothing re-saved
    assert sorted(p for p in cache_dir.glob("inductor-*") if p.is_dir()) == places
    assert inductor_entry() == before
    np.testing.assert_array_equal(second_probs, first_probs)

    # a retrained model (one bias moved): the same graphs, from the base's artifacts, on its own weights
    from safetensors.numpy import load_file, save_file

    retrained = tmp_path / "retrained"
    shutil.copytree(tiny.path, retrained)
    weights = load_file(retrained / "model.safetensors")
    # the head's last bias (out_proj): it moves every logit
    bias = max(name for name in weights if name.startswith("classifier") and name.endswith("bias"))
    weights[bias] = weights[bias] + 1.0
    save_file(weights, retrained / "model.safetensors")
    third, third_probs = run_session(tmp_path, cache_dir, "retrained", str(retrained), own_inductor_dir=None)
    assert third["from_cache"] is True, third
    assert third["aot_autograd"].get("autograd_cache_miss", 0) == 0, third
    assert third["inductor_dir_at_compile"] == first["inductor_dir_at_compile"], third
    assert sorted(p for p in cache_dir.glob("torch-compile-*") if p.is_dir()) == entries
    assert sorted(places[0].rglob("*.so")) == kernels  # nothing compiled again
    assert np.abs(third_probs - first_probs).max() > 0.05  # its own weights, not the base's
    for tag, run in (("first", first), ("second", second), ("retrained", third)):  # shown with -s
        print(f"\n{tag}: build {run['build_seconds']:.1f}s, "
              f"first predict {run['first_predict_seconds']:.2f}s")


@needs_artifacts
def test_unreadable_artifacts_fall_back_to_compiling(tmp_path: Path) -> None:
    """An intact entry whose bytes torch cannot read is reported, removed (so the next save
    replaces it) and the build goes on compiling; a missing entry is no error either."""
    lines: list[str] = []
    store = CompileArtifacts(ArtifactCache(tmp_path), {"model": "x"}, progress=lines.append)
    assert store.load() is False
    assert lines == []
    store.cache.get_or_build(store.name, store.parts,
                             lambda tmp: (tmp / COMPILE_ARTIFACTS_FILE).write_bytes(b"not torch's"))
    assert store.load() is False
    assert "could not be loaded" in lines[-1]
    assert not store.entry.exists()


@needs_artifacts
def test_corrupt_entry_is_not_loaded(tmp_path: Path) -> None:
    """A file that no longer matches the entry's manifest is never handed to torch."""
    lines: list[str] = []
    store = CompileArtifacts(ArtifactCache(tmp_path), {"model": "x"}, progress=lines.append)
    store.cache.get_or_build(store.name, store.parts,
                             lambda tmp: (tmp / COMPILE_ARTIFACTS_FILE).write_bytes(b"bytes"))
    (store.entry / COMPILE_ARTIFACTS_FILE).write_bytes(b"other")
    assert store.load() is False
    assert "incomplete or corrupt" in lines[-1]


def test_a_torch_without_compile_artifacts_says_so_once_and_keeps_compiling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch 2.6 (the window's floor) has no save_cache_artifacts: a save is one line naming the
    torch and the fix, with nothing written; a load finds nothing and says nothing."""
    import torch

    monkeypatch.delattr(torch.compiler, "save_cache_artifacts", raising=False)
    lines: list[str] = []
    store = CompileArtifacts(ArtifactCache(tmp_path), {"model": "x"}, progress=lines.append)
    assert store.save() is None and store.load() is False
    assert lines == [f"torch-compile: torch {torch.__version__} cannot save torch.compile's artifacts "
                     "(torch.compiler.save_cache_artifacts came in torch 2.7): each session compiles "
                     "again; pip install 'torch>=2.7' keeps them in the artifact cache"]
    assert not store.entry.exists()


def test_compile_key_holds_the_recipe_and_the_graph_not_the_weights(tiny_ctx: BuildContext,
                                                                     tmp_path: Path) -> None:
    """A retrained model (other weights, other name, same config) shares its base's compile
    artifacts; another shape of config, another recipe or dynamic setting does not."""
    base = compile_key(tiny_ctx, None, True)
    assert base == compile_key(tiny_ctx, None, True)
    assert base != compile_key(tiny_ctx, "max-autotune", True)
    assert base != compile_key(tiny_ctx, None, False)
    assert {"torch", "python"} <= set(base["versions"])  # type: ignore[arg-type]
    retrained = tmp_path / "retrained"
    shutil.copytree(tiny_ctx.model.path, retrained)
    config = json.loads((retrained / "config.json").read_text())
    config |= {"_name_or_path": "me/retrained", "transformers_version": "9.9.9"}
    (retrained / "config.json").write_text(json.dumps(config))
    other = replace(tiny_ctx, model=replace(tiny_ctx.model, path=retrained, content_hash="0" * 64))
    assert compile_key(other, None, True) == base
    config["num_hidden_layers"] += 1
    (retrained / "config.json").write_text(json.dumps(config))
    assert compile_key(other, None, True) != base


def test_a_compile_is_kept_per_thread_count_on_the_cpu_and_on_cuda(
        tiny_ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inductor's CPU kernels hold the thread count they were compiled at. On cuda a GPU job's
    benchmark session (1 thread) that shared its accuracy session's key (every core) loaded that
    compile, compiled again anyway on an H200 and saved nothing: each thread count has its own
    entry there too, which its first session fills."""
    import torch

    from encoder_gate.backends import torch_backend

    monkeypatch.setattr(torch_backend, "compile_hardware", lambda device: f"{device} hardware")
    before = torch.get_num_threads()
    keys: dict[str, list[dict[str, object]]] = {"cpu": [], "cuda": []}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for device in keys:
                keys[device].append(compile_key(replace(tiny_ctx, device=device), None, True))
    finally:
        torch.set_num_threads(before)
    for device, (one, two) in keys.items():
        assert one != two and one["threads"] == 1 and two["threads"] == 2, device
    assert keys["cuda"][0] != keys["cpu"][0]


@pytest.mark.slow
def test_a_session_that_reads_every_output_from_the_cache_never_compiles(
        pytester: pytest.Pytester, tiny_cache_with: Callable[..., Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """torch-compile compiles at its first call and the smoke test's pass is kept like a
    property's of fixed examples: a second session on the same model, artifact and texts (an unchanged
    PR) reads its predictions, smoke test and properties from the cache and compiles nothing, nor
    loads the model (its size read from the cache), and its summary says so. The first session
    compiled (its C++ kernels read from the suite's inductor entry: what it compiles is the graph,
    which no torch-compile entry held)."""
    from encoder_gate.commands.layout import ACCURACY_MODULE, THIN_MODULES

    cache = tiny_cache_with(tmp_path / "cache", kernels=True)
    (pytester.path / ACCURACY_MODULE).parent.mkdir(parents=True, exist_ok=True)
    (pytester.path / ACCURACY_MODULE).write_text(THIN_MODULES[ACCURACY_MODULE])
    # (at one thread, the kernels' count: at the machine's count it built them again, 20 s of CPU)
    args = ["accuracy", "--gate-model", "tiny", "--gate-backends", "torch-compile", "--gate-cache-dir",
            str(cache), "--gate-eval-threads", "1", "--gate-limit", "24",
            "-k", "well_formed or padding_same_input or drift_within_bound",
            "-s", "-p", "no:cacheprovider"]
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    monkeypatch.delenv("CI", raising=False)  # fixed examples with or without CI: the pass is kept too
    compiling = "compiling with inductor at its first call"
    # which of transformers' model code each session imported (the model's class, which loads the
    # weights; not the auto classes' mapping, which transformers' tokenizer code imports)
    pytester.makeconftest("import sys\n\n\ndef pytest_unconfigure(config):\n"
                          "    print('model code imported:', sorted(m for m in sys.modules if m.startswith("
                          "'transformers.models.') and '.modeling_' in m and '.auto.' not in m))\n")
    first = pytester.runpytest_subprocess(*args)
    assert first.ret == 0, first.stdout.str()[-3000:]
    assert compiling in first.stdout.str()
    assert "note: not compiled" not in first.stdout.str()
    assert "artifact cache" not in (pytester.path / ".encoder-gate" / "verdict.md").read_text()
    first.stdout.fnmatch_lines(["model code imported: ['transformers.models.roberta.modeling_roberta']"])
    size = json.loads((pytester.path / ".encoder-gate" / "accuracy.json").read_text())["backends"][
        "torch-compile"]["size_bytes"]
    second = pytester.runpytest_subprocess(*args)
    assert second.ret == 0, second.stdout.str()[-3000:]
    assert second.parseoutcomes() == first.parseoutcomes()
    # nor loaded the model: its size is the first session's, read from the cache (torch_facts)
    second.stdout.fnmatch_lines(["model code imported: []"])
    assert json.loads((pytester.path / ".encoder-gate" / "accuracy.json").read_text())["backends"][
        "torch-compile"]["size_bytes"] == size > 0
    second.stdout.fnmatch_lines([
        "*torch-compile smoke test: passed before on this artifact with the same 6 texts; read from*",
        "*torch-compile: predictions on 24 texts from cache",
        "*note: not compiled: no test in this session ran it*"], consecutive=False)
    assert compiling not in second.stdout.str()
    # and the verdict says what it read from the cache: here everything, which the first computed
    said = (pytester.path / ".encoder-gate" / "verdict.md").read_text()
    assert ("Read from the artifact cache, not computed in this session: the predictions of torch, "
            "torch-compile; the passes of 2 checks") in said, said
    assert json.loads((pytester.path / ".encoder-gate" / "accuracy.json").read_text())["cached_outputs"][
        "torch-compile"]["checks"] == ["test_backend_gives_well_formed_probabilities",
                                       "test_padding_same_input_gives_same_output"]


def test_a_runner_that_compiled_at_its_first_call_settles_its_record_once(tmp_path: Path) -> None:
    """The session's record of a runner that compiles at its first call takes that call's seconds,
    from-cache and notes when the runner is given back, once however often the session is closed;
    one never called keeps the record it was built with."""
    from encoder_gate.config import GateConfig
    from encoder_gate.runtime.session import BuildRecord, GateSession

    class Runner:
        def __init__(self, first_call_seconds: float | None) -> None:
            self.from_cache, self.notes, self.first_call_seconds = True, (), first_call_seconds

        def close(self) -> None:
            pass

    session = GateSession(GateConfig(model="tiny", backends=("torch",), cache_dir=tmp_path / "cache"),
                          progress=lambda _msg: None)
    for name, took in (("called", 2.5), ("released", 4.0), ("never", None)):
        session._runners[name] = Runner(took)  # type: ignore[assignment]
        session.records[name] = BuildRecord(name, 1.0, from_cache=False, notes=("not compiled",))
    session.release("released")
    session.close()
    session.close()
    records, called = session.records, session.records["called"]
    assert (called.seconds, called.from_cache, called.notes) == (3.5, True, ())
    assert records["released"].seconds == 5.0
    assert (records["never"].seconds, records["never"].notes) == (1.0, ("not compiled",))


@pytest.mark.parametrize(("hits", "misses", "graphs", "from_cache", "note"), [
    (1, 0, 1, True, None),
    # a --gate-base side whose model differs in its weights alone: dynamo runs the code it compiled for
    # the PR's model, no graph and no cache consulted; every such PR's table said "caches disabled?"
    (0, 0, 0, True, None),
    (0, 0, 1, False, "inductor's FX graph cache was not consulted"),
    (0, 1, 1, False, "inductor compiled 1 of 1 graph(s) anyway"),
])
def test_a_loaded_compiles_record_says_what_its_first_call_did(hits: int, misses: int, graphs: int,
                                                                 from_cache: bool, note: str | None) -> None:
    from types import SimpleNamespace

    from encoder_gate.backends.torch_backend import CompiledTorchRunner
    from encoder_gate.backends.torch_compat import CompileCounts

    runner = SimpleNamespace(_loaded_from="cache/torch-compile-x", from_cache=None, notes=())
    CompiledTorchRunner._settle(runner, CompileCounts(hits, misses, graphs, {}))  # type: ignore[arg-type]
    assert runner.from_cache is from_cache
    assert (note in " ".join(runner.notes)) if note else runner.notes == ()


@needs_artifacts
@pytest.mark.slow
def test_a_helper_process_compiles_for_itself_and_leaves_the_compile_entry_to_its_session(
        tiny_cache_with: Callable[..., Path], tmp_path: Path) -> None:
    """A memory probe's or a worker's process (speed.workers) compiles torch-compile for its own
    shapes and saves nothing: it closes before its session does, and the first save of an entry is
    the only one, so its graphs would have stood for the session's. (The session's runner saves
    at its close: test_later_sessions_load_the_compile_artifacts_and_inductors_kernels...)"""
    from encoder_gate.config import GateConfig
    from encoder_gate.speed.workers import measure_memory

    # the tiny model and the suite's C++ kernels of it, no torch-compile entry yet
    cache = tiny_cache_with(tmp_path / "cache", kernels=True)
    config = GateConfig(model="tiny", cache_dir=cache, threads=1)
    ids = np.full((2, 6), 5, dtype=np.int64)
    batch = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    assert measure_memory(config, "torch-compile", [batch])["memory_peak_rss_mb"] > 0
    assert [p for p in cache.glob("torch-compile-*") if p.is_dir()] == []


def test_torchs_own_default_inductor_directory_is_not_taken_for_the_users(tiny_ctx: BuildContext,
                                                                          monkeypatch: pytest.MonkeyPatch):
    """Importing torch._dynamo writes torch's default TORCHINDUCTOR_CACHE_DIR into the environment: a
    plugin loaded before encoder-gate's (or .ci/fxprobe.py) did, and the gate then compiled into the
    machine's shared /tmp directory. That value is not the user's: the artifact cache's inductor-*
    entry is placed; a directory the user chose is left as it is."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    from encoder_gate.backends import inductor_dir, torch_backend

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    monkeypatch.setattr(inductor_dir, "USER_INDUCTOR_DIR", default_cache_dir())
    assert inductor_dir.user_inductor_dir() is None
    place = torch_backend.place_inductor_cache(tiny_ctx)
    assert place is not None and place.name.startswith("inductor-")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(place.resolve())
    chosen = str(tiny_ctx.cache.root / "mine")
    monkeypatch.setattr(inductor_dir, "USER_INDUCTOR_DIR", chosen)
    assert inductor_dir.user_inductor_dir() == chosen
    assert torch_backend.place_inductor_cache(tiny_ctx) is None


def test_an_inductor_directory_with_a_space_or_a_quote_in_its_path_is_reached_through_a_safe_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_ctx: BuildContext):
    """inductor splits its C++ command line with shlex (a project under "/tmp/a b ü" or "o'brien"
    failed every torch-compile test with g++'s CalledProcessError): such an entry is given to inductor
    as a link in a safe temporary directory, whose files land in the entry; a safe path is itself; no
    safe temporary directory gives None (torch's own directory, said by the caller)."""
    import tempfile

    from encoder_gate.backends import inductor_dir, torch_backend
    from encoder_gate.backends.inductor_dir import safe_temp_dir, shell_safe, shell_safe_place

    assert shell_safe("/tmp/dé$x&#[a]*") and not shell_safe("/tmp/a b") and not shell_safe("/tmp/o'brien")
    assert not shell_safe('/tmp/say "hi"') and not shell_safe("/tmp/back\\slash")
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(links))
    plain = tmp_path / "plain" / "inductor-x"
    plain.mkdir(parents=True)
    assert shell_safe_place(plain) == plain.resolve()
    for name in ("a b ü", "o'brien"):
        odd = tmp_path / name / "inductor-y"
        odd.mkdir(parents=True)
        link = shell_safe_place(odd)
        assert link is not None and link.parent == links.resolve() and link.resolve() == odd.resolve()
        (link / "kernel.so").write_bytes(b"x")
        assert (odd / "kernel.so").read_bytes() == b"x"
        assert shell_safe_place(odd) == link  # the same link again (two processes: either one's)
    # the gate's own placement: an artifact cache under a directory with a space
    monkeypatch.setattr(inductor_dir, "USER_INDUCTOR_DIR", None)
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    spaced_ctx = replace(tiny_ctx, cache=ArtifactCache(tmp_path / "my project" / "cache"))
    place = torch_backend.place_inductor_cache(spaced_ctx)
    assert place is not None and shell_safe(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    assert Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).resolve() == place.resolve()
    monkeypatch.setattr(inductor_dir, "safe_temp_dir", lambda: None)
    assert shell_safe_place(tmp_path / "a b ü" / "inductor-y") is None
    assert safe_temp_dir() is not None  # (the real one: this machine's /tmp)


def test_a_temporary_directory_inductor_cannot_take_is_replaced_for_the_process_and_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """inductor precompiles its C++ header in a temporary directory of its own: a TMPDIR with a space
    or a quote failed every compile whatever the cache's path. tempfile's and TMPDIR (inductor's compile
    workers read it) then point at a safe one, said; a safe TMPDIR is left alone, nothing said."""
    import tempfile

    import torch._inductor.codecache as codecache
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    from encoder_gate.backends import inductor_dir
    from encoder_gate.backends.inductor_dir import keep_temp_dir_shell_safe

    monkeypatch.setattr(inductor_dir, "_REPLACED_DEFAULTS", [])
    said: list[str] = []
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    keep_temp_dir_shell_safe(said.append)
    assert said == [] and tempfile.gettempdir() == str(tmp_path)
    odd = tmp_path / "t mp'é"
    odd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(odd))
    before = default_cache_dir()  # torch's default under it, as a TMPDIR of the session's start gives
    headers = hasattr(codecache, "_HEADER_DIR")  # (torch 2.6 precompiles no header)
    if headers:
        odd_headers = os.path.join(before, "precompiled_headers")
        monkeypatch.setattr(codecache, "_HEADER_DIR", odd_headers)
        monkeypatch.setattr(codecache, "_HEADER_LOCK_DIR", os.path.join(odd_headers, "locks"))
    monkeypatch.setattr(inductor_dir, "USER_INDUCTOR_DIR", before)
    keep_temp_dir_shell_safe(said.append)
    # its precompiled headers' directory (taken when inductor was imported) moves too, and torch's
    # default of before is still not taken for the user's
    if headers:
        assert " " not in codecache._HEADER_DIR
        assert codecache._HEADER_LOCK_DIR.startswith(codecache._HEADER_DIR)
    assert inductor_dir.user_inductor_dir() is None
    assert tempfile.gettempdir() != str(odd) and " " not in tempfile.gettempdir()
    assert os.environ["TMPDIR"] == tempfile.gettempdir()
    assert len(said) == 1 and "cannot take the temporary directory" in said[0] and "t mp'é" in said[0]


@pytest.mark.slow
def test_a_process_that_has_not_imported_inductor_reads_the_kept_vector_isa_without_it(tmp_path: Path):
    """A cached session's torch-compile build keys its compile with the vector ISA: the pick kept by an
    earlier process is read without importing inductor (its configuration is then its defaults);
    a damaged one is not taken, and inductor picks again."""
    # each process prints its pick and whether inductor was imported; the second then damages the
    # kept pick (argv[1]) and picks again (two processes: a third, for the damaged pick, cost 5 s)
    code = ("import sys; from pathlib import Path; from encoder_gate.backends import inductor_dir as d\n"
            "print(d.vec_isa(), 'torch._inductor.config' in sys.modules, sep='|')\n"
            "if len(sys.argv) > 1:\n"
            "    Path(sys.argv[1]).write_text('avx512; rm -rf /')\n"
            "    print(d._kept_before_inductor(), d.vec_isa(), 'torch._inductor.config' in sys.modules,\n"
            "          sep='|')\n")
    unset = ("ATEN_CPU_CAPABILITY", "TORCHINDUCTOR_VEC_ISA_OK")
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, "XDG_CACHE_HOME": str(tmp_path)}

    def process(*damage: Path) -> list[list[str]]:
        done = subprocess.run([sys.executable, "-c", code, *map(str, damage)], capture_output=True,
                              text=True, env=env, timeout=120, check=True)
        return [line.split("|") for line in done.stdout.strip().splitlines()[-1 - len(damage):]]

    [[isa, imported]] = process()
    memos = list((tmp_path / "encoder-gate").glob("vec-isa-*.txt"))
    if not memos:
        pytest.skip(f"no pick is kept here ({isa}: not x86, or this torch's inductor lacks the parts)")
    assert imported == "True"  # the first pick is inductor's
    # read without inductor; the damaged pick not taken (None), and inductor's own picked again
    assert process(memos[0]) == [[isa, "False"], ["None", isa, "True"]]
    assert memos[0].read_text() == isa


def test_inductors_vector_isa_is_picked_once_and_kept_by_what_decides_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    """inductor picks its vector ISA by compiling a probe for each ISA the CPU has and loading each in a
    process of its own (about 1 s of a core in a fresh process that keys a compile): the pick is kept
    in the user's cache, picked again where what decides it changes (here ATEN_CPU_CAPABILITY), and
    neither a damaged file nor a pick lower than the CPU's best (a probe that failed to build or load
    once) is taken or kept."""
    cpu_vec_isa = pytest.importorskip("torch._inductor.cpu_vec_isa")
    from torch._inductor import config

    from encoder_gate.backends import inductor_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    best = inductor_dir._cpu_best_isa(cpu_vec_isa, config)
    if best is None:
        pytest.skip("no pick is kept on this machine (not x86, or this torch's inductor lacks the parts)")
    picks: list[str] = []

    def toolchain_builds_all() -> str:  # what inductor picks where every probe builds and loads
        picks.append("picked")
        return str(inductor_dir._cpu_best_isa(cpu_vec_isa, config))

    monkeypatch.setattr(cpu_vec_isa, "pick_vec_isa", toolchain_builds_all)
    assert inductor_dir.vec_isa() == best and len(picks) == 1
    assert inductor_dir.vec_isa() == best and len(picks) == 1  # kept
    [memo] = (tmp_path / "encoder-gate").glob("vec-isa-*.txt")
    assert memo.read_text() == best
    memo.write_text("avx512; rm -rf /")  # damaged: not taken
    assert inductor_dir.vec_isa() == best and len(picks) == 2
    assert memo.read_text() == best
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # decides the pick: another entry
    assert inductor_dir.vec_isa() == "avx2" and len(picks) == 3
    assert len(list((tmp_path / "encoder-gate").glob("vec-isa-*.txt"))) == 2
    assert inductor_dir.compile_hardware("cpu").endswith("/avx2")
    # a probe that failed once (a full disk, a timeout): the lower pick is said, and not kept
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    memo.unlink()
    monkeypatch.setattr(cpu_vec_isa, "pick_vec_isa", lambda: picks.append("lower") or "INVALID_VEC_ISA")
    assert inductor_dir.vec_isa() == "INVALID_VEC_ISA" and not memo.exists()
    assert inductor_dir.vec_isa() == "INVALID_VEC_ISA" and picks.count("lower") == 2


def test_inductors_directory_is_one_per_torch_whatever_transformers_is(
        tiny_ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inductor keys each graph and kernel it keeps itself, so the artifact cache keeps its directory
    per torch (and machine), not per transformers: a PR that upgrades transformers, or another stack
    on the same torch, finds the kernels that are the same. Another torch gets a directory of its own."""
    from encoder_gate import cache as cache_module
    from encoder_gate.backends.torch_backend import inductor_entry

    installed = cache_module.installed_version
    here = inductor_entry(tiny_ctx)

    def upgraded(package: str) -> str | None:
        return {"transformers": "99.0.0", "tokenizers": "99.0.0"}.get(package) or installed(package)

    monkeypatch.setattr(cache_module, "installed_version", upgraded)
    assert inductor_entry(tiny_ctx) == here
    monkeypatch.setattr(cache_module, "installed_version",
                        lambda package: "99.0.0" if package == "torch" else installed(package))
    assert inductor_entry(tiny_ctx) != here


def test_a_compiled_runner_on_cuda_keeps_its_thread_count_in_a_block_of_another() -> None:
    """dynamo guards on torch's thread count: an accuracy session's evaluation at every core compiled
    graphs a GPU job's benchmark session (init's one thread) could not load, 30 s at 125M on an H200.
    On cuda the block leaves the count as it is (the kernels run on the GPU); on the CPU it sets it, as
    inductor's CPU kernels hold it. (The runner's own logic, on a stand-in: no GPU here.)"""
    from types import SimpleNamespace

    import torch

    from encoder_gate.backends.torch_backend import CompiledTorchRunner

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    for device, inside in (("cuda", before), ("cpu", other)):
        with CompiledTorchRunner.at_threads(SimpleNamespace(_device=device), other):  # type: ignore[arg-type]
            assert torch.get_num_threads() == inside, device
        assert torch.get_num_threads() == before


# A session in a fresh process that predicts batches of the given sizes first (argv[3]: "8,1"), on a
# torch whose batch is not marked unbacked (argv[2] "old": as before torch 2.13), and prints its record.
FIRST_CALLS = """
import json, sys
from pathlib import Path
import encoder_gate.backends.torch_compat as compat
if sys.argv[2] == "old":
    compat.unbacked_batch = lambda torch: None  # dynamo specializes a batch of one, as torch 2.8 does
from encoder_gate.config import GateConfig
from encoder_gate.runtime.inference import encode
from encoder_gate.runtime.session import GateSession
cache = Path(sys.argv[1])
texts = ["I love this so much!", "Why would anyone do that? " * 6, "ok", "", "a b c", "fine", "x " * 20, "so"]
session = GateSession(GateConfig(model="tiny", backends=("torch-compile",), threads=1, cache_dir=cache,
                                 report_dir=cache.parent / "report"), progress=lambda line: None)
runner = session.runner("torch-compile")
for n in sys.argv[3].split(","):
    runner.predict(encode(session.tokenizer, texts[:int(n)]))
session.close()
record = session.records["torch-compile"]
print(json.dumps({"from_cache": record.from_cache, "notes": list(record.notes)}))
"""


@needs_artifacts
@pytest.mark.slow
def test_a_session_that_begins_with_one_text_loads_what_one_that_began_with_eight_kept(
        tmp_path: Path, tiny_cache_with: Callable[..., Path]) -> None:
    """Where dynamo compiles a second graph for a batch of one text (before torch 2.13), that graph's
    cache key followed the shapes compiled before it: `pytest benchmarks`, its bs1 cell first, missed
    what `pytest accuracy` (its evaluation batches first) had kept, and compiled again (torch 2.8, a
    trial's 2-layer model: 12.6 s). Every session now compiles the two graphs on the same shapes first.
    Here on this torch with its batch left a plain dynamic size, as before 2.13 (it missed so too)."""
    cache = tiny_cache_with(tmp_path / "cache", kernels=True)

    def session(first_calls: str) -> dict[str, object]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / first_calls)}
        done = subprocess.run([sys.executable, "-c", FIRST_CALLS, str(cache), "old", first_calls], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert session("8,1") == {"from_cache": False, "notes": []}  # compiled, and kept
    assert session("1") == {"from_cache": True, "notes": []}
