"""A session's artifact files are built in a process of their own: their memory, and a crash inside
a library, stay there (encoder_gate.runtime.artifact_builds)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from encoder_gate.backends.onnx_build import OPTIMUM_EXPORTER
from encoder_gate.cache import ArtifactCache, NotCached
from encoder_gate.config import GateConfig
from encoder_gate.errors import GateError
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.session import GateSession

ONNX = ["onnx-fp32", "onnx-fp16", "onnx-int8"]  # in a session's order: FP32 first


def in_the_build_process(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run `code` at the start of every build process of this test (a `sitecustomize` on the
    PYTHONPATH the child inherits; this process has started already, so it never runs it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))


def fresh_cache(tmp_path: Path, tiny: ModelSpec) -> Path:
    """An empty artifact cache holding only the shared tiny model."""
    cache_dir = tmp_path / "cache"
    shutil.copytree(tiny.path, cache_dir / tiny.path.name)
    return cache_dir


@pytest.fixture
def derived_only(tiny_cache_with: Callable[..., Path], tmp_path: Path) -> Path:
    """An artifact cache under the test's tmp_path holding the tiny model and the suite's FP32 export
    of it, for a test of the build process whose claim is not the export: its child builds only the
    files derived from it (FP16, INT8), and imports neither torch nor transformers (0.8 s of CPU a
    child, against 4.5 s with the export; AMD EPYC Zen 5). The export in a child is
    test_a_builds_memory_stays_in_its_child's."""
    return tiny_cache_with(tmp_path / "cache", "onnx-fp32")


# A session in a fresh process, as the plugin's collection runs it: every ONNX artifact built
# before any runner opens, then one runner opened from the cache.
PREBUILD = r"""
import json, re, resource, sys
from pathlib import Path
from encoder_gate.config import GateConfig
from encoder_gate.runtime.session import GateSession

from encoder_gate.backends.onnx_build import fp32_exporter

def heavy():
    return [m for m in ("torch", "onnx", "onnxruntime", "transformers") if m in sys.modules]

def peak_kb():  # this process's own peak (VmHWM: ru_maxrss carries the forking parent's over the exec)
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))

cache_dir = Path(sys.argv[1])
names = ["onnx-fp32", "onnx-fp16", "onnx-int8"]
# onnx-fp32's key names its exporter: where optimum is installed, whether its exporter is usable is
# learnt by importing it (and with it torch, transformers, onnx and ONNX Runtime), here, not in a child
exporter = fp32_exporter()["name"]
before = {"heavy": heavy(), "parent_kb": peak_kb()}
session = GateSession(GateConfig(model="tiny", backends=tuple(names), threads=1, cache_dir=cache_dir,
                                  report_dir=cache_dir.parent / "report"), progress=lambda _m: None)
session.prebuild(names)
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
prebuilt = {name: list(v) for name, v in session._prebuilt.items()}
after = {"heavy": heavy(), "parent_kb": peak_kb()}
session.runner("onnx-int8")
record = session.records["onnx-int8"]
print(json.dumps({"exporter": exporter, "before": before, "after": after, "child_kb": child_kb,
                  "prebuilt": prebuilt, "int8_from_cache": record.from_cache}))
session.close()
"""


@pytest.mark.slow
def test_a_builds_memory_stays_in_its_child(tmp_path: Path, tiny: ModelSpec) -> None:
    """The session's process loads no torch, ONNX or transformers to build its three ONNX files: a
    child exports, converts and quantizes, and its peak is not the session's. (Where optimum is
    installed, the session imports it, and them, to learn whether its exporter is usable: the
    exporter is part of onnx-fp32's key. The build then adds nothing to them, nor to its peak.) The
    runner opened afterwards comes from the cache, and its record says this session built it."""
    cache_dir = fresh_cache(tmp_path, tiny)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", PREBUILD, str(cache_dir)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(result["prebuilt"]) == sorted(ONNX), result
    assert not any(hit for hit, _ in result["prebuilt"].values()), result
    before, after = result["before"], result["after"]
    assert after["heavy"] == before["heavy"], result  # the build imported them in the child only
    # torch and the exporter at work: the child's peak, not the session's (which grew by its keys)
    assert after["parent_kb"] - before["parent_kb"] < 0.1 * result["child_kb"], result
    if result["exporter"] != OPTIMUM_EXPORTER:  # nothing asked of them: the session stays small
        assert before["heavy"] == [], result
        assert result["child_kb"] > 1.5 * after["parent_kb"], result
    assert result["int8_from_cache"] is False, result  # built by this session (in its child)
    for name in ONNX:
        assert any(cache_dir.glob(f"{name}-*/model.onnx")), sorted(cache_dir.iterdir())


def test_a_session_whose_artifacts_are_cached_starts_no_build_process(
        tmp_path: Path, tiny_cache_with: Callable[..., Path]) -> None:
    """Looking up is all an unchanged session does: no child, no message about one. (Its cache holds
    the suite's builds: a session building them first cost 12 s of CPU in a child, AVX2-only EPYC.)"""
    cache_dir = tiny_cache_with(tmp_path / "cache", *ONNX)
    config = GateConfig(model="tiny", backends=tuple(ONNX), threads=1, cache_dir=cache_dir,
                        report_dir=tmp_path / "report")
    heard: list[str] = []
    again = GateSession(config, progress=heard.append)
    again.prebuild(ONNX)
    assert all(hit for hit, _ in again._prebuilt.values()) and sorted(again._prebuilt) == sorted(ONNX)
    assert not any("process of its own" in line for line in heard), heard


def test_a_lookup_only_cache_builds_nothing(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache").lookup_only()
    with pytest.raises(NotCached):
        cache.get_or_build("x", {"a": 1}, lambda out: (out / "f").write_text("built"))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


# Loaded by the build process only (PYTHONPATH): its FP16 conversion dies as a crashing converter does.
CRASHING_CONVERTER = """
import os, signal, sys
import encoder_gate.backends.onnx_backend as onnx_backend

def crash(*_args, **_kwargs):
    sys.stderr.buffer.write(b"\\xff\\xfe bytes no codec reads\\n")  # a library's stray bytes
    sys.stderr.buffer.flush()
    sys.stderr.write("fp16 converter: out of its mind\\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGSEGV)

onnx_backend.convert_fp16 = crash
"""


def test_a_build_that_kills_its_process_fails_its_backend_only(tmp_path: Path, derived_only: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A segmentation fault in the FP16 conversion kills the build process, not the session: that
    backend fails with what happened (the signal, its last words on stderr, read past bytes no
    codec reads), a new process builds the backends after it, and their runners open."""
    in_the_build_process(CRASHING_CONVERTER, tmp_path, monkeypatch)
    cache_dir = derived_only
    heard: list[str] = []
    session = GateSession(GateConfig(model="tiny", backends=tuple(ONNX), threads=1, cache_dir=cache_dir,
                                     report_dir=tmp_path / "report"), progress=heard.append)
    session.prebuild(ONNX)
    assert sorted(session._prebuilt) == ["onnx-fp32", "onnx-int8"], (session._prebuilt, heard)
    error = session.records["onnx-fp16"].error or ""
    assert "killed by SIGSEGV" in error and "fp16 converter: out of its mind" in error, error
    assert "not a verdict on the model" in error
    assert any("a new process: onnx-int8" in line for line in heard), heard
    with pytest.raises(GateError, match="killed by SIGSEGV"):
        session.runner("onnx-fp16")
    assert session.runner("onnx-int8") is not None
    session.close()


# Loaded by the build process only: its FP16 conversion ends as the out-of-memory killer ends a process
# (the cgroup's count of its kills rises, then SIGKILL), in the fake cgroup tree EVENTS names.
KILLED_FOR_MEMORY = """
import os, signal
import encoder_gate.backends.onnx_backend as onnx_backend

def killed(*_args, **_kwargs):
    open(EVENTS, "w").write("oom 1\\noom_kill 1\\n")
    os.kill(os.getpid(), signal.SIGKILL)

onnx_backend.convert_fp16 = killed
"""


def test_a_build_the_out_of_memory_killer_ended_says_so_with_the_limit_not_run_it_again(
        tmp_path: Path, derived_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner whose memory limit a 125M model's FP16 build passes: the kernel kills the build process
    with SIGKILL. Said as a crash before ("Run it again", which ends the same); now the limit, that a
    rerun ends the same, and the fix. The backends after it are built as before."""
    from encoder_gate import environment

    fake = tmp_path / "cgroup"
    (fake / "ci-job").mkdir(parents=True)
    (fake / "ci-job" / "memory.max").write_text(f"{3 * 2**30}\n")
    events = fake / "ci-job" / "memory.events"
    events.write_text("oom 0\noom_kill 0\n")
    (tmp_path / "proc-self-cgroup").write_text("0::/ci-job\n")
    monkeypatch.setattr(environment, "CGROUP_ROOT", fake)
    monkeypatch.setattr(environment, "PROC_CGROUP", tmp_path / "proc-self-cgroup")
    in_the_build_process(f"EVENTS = {str(events)!r}\n" + KILLED_FOR_MEMORY, tmp_path, monkeypatch)
    session = GateSession(GateConfig(model="tiny", backends=tuple(ONNX), threads=1,
                                     cache_dir=derived_only, report_dir=tmp_path / "report"),
                          progress=lambda _: None)
    session.prebuild(ONNX)
    error = session.records["onnx-fp16"].error or ""
    assert ("ended the process that built it: the kernel's out-of-memory killer ended it under this "
            f"runner's memory limit of 3.0 GiB ({fake / 'ci-job' / 'memory.max'})") in error, error
    assert "a rerun ends the same. Give the runner more memory" in error and "Run it again" not in error
    assert sorted(session._prebuilt) == ["onnx-fp32", "onnx-int8"]
    session.close()


def test_the_build_process_imports_the_encoder_gate_the_session_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found through pytest's `pythonpath` or a sys.path entry (a source checkout), encoder_gate is
    where no environment variable says: the child's path starts with its directory, and keeps the
    user's own PYTHONPATH after it."""
    import encoder_gate
    from encoder_gate.runtime.artifact_builds import _child_env

    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    path = _child_env()["PYTHONPATH"].split(os.pathsep)
    assert path == [str(Path(encoder_gate.__file__).resolve().parents[1]), "/somewhere/else"]


def test_a_static_int8_recipe_built_in_the_child_calibrates_on_the_sessions_texts(
        tmp_path: Path, derived_only: Path) -> None:
    """The build process reads the calibration texts the session is configured with (here a file
    of its own), so the one file it builds is the one the session's runner opens: no second build
    under another key."""
    cache_dir = derived_only
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("".join(f"calibration text number {i}, somewhat long\n" for i in range(20)))
    session = GateSession(GateConfig(model="tiny", backends=("onnx-int8-static",), threads=1,
                                     cache_dir=cache_dir, report_dir=tmp_path / "report",
                                     calibration=calibration), progress=lambda _m: None)
    session.prebuild(["onnx-int8-static"])
    assert session._prebuilt["onnx-int8-static"][0] is False  # built, in the child
    session.runner("onnx-int8-static")
    entries = sorted(cache_dir.glob("onnx-int8-static-*/encoder-gate-manifest.json"))
    assert len(entries) == 1, entries
    key = json.loads(entries[0].read_text())["key"]
    assert key["calibration"]["where"].startswith(str(calibration)), key["calibration"]
    assert session.records["onnx-int8-static"].from_cache is False
    session.close()


MISSING_QUANTIZER = """
import encoder_gate.backends.onnx_backend as onnx_backend
from encoder_gate.errors import MissingDependency

def missing(*_args, **_kwargs):
    raise MissingDependency("onnxruntime's quantizer is not installed here: pip install onnxruntime")

onnx_backend.quantize_int8 = missing
"""


def test_a_missing_package_in_the_build_process_still_skips(tmp_path: Path, derived_only: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A GateError crosses from the build process as its own kind: a missing package (or device)
    skips that backend's tests, as it did when the session built in itself."""
    from encoder_gate.errors import MissingDependency

    in_the_build_process(MISSING_QUANTIZER, tmp_path, monkeypatch)
    session = GateSession(GateConfig(model="tiny", backends=("onnx-int8",), threads=1,
                                     cache_dir=derived_only, report_dir=tmp_path / "report"),
                          progress=lambda _m: None)
    session.prebuild(["onnx-int8"])
    with pytest.raises(MissingDependency, match="quantizer is not installed"):
        session.runner("onnx-int8")
    session.close()


def test_a_runner_no_prebuild_saw_builds_its_artifact_in_a_child_too(tmp_path: Path,
                                                                      derived_only: Path) -> None:
    """An xdist worker's backend (prebuild runs in no worker) is built in a process of its own at
    its first runner: the same build, the same record."""
    heard: list[str] = []
    session = GateSession(GateConfig(model="tiny", backends=("onnx-int8",), threads=1,
                                     cache_dir=derived_only, report_dir=tmp_path / "report"),
                          progress=heard.append)
    session.runner("onnx-int8")
    assert any("onnx-int8 in a process of its own" in line for line in heard), heard
    assert session.records["onnx-int8"].from_cache is False
    session.close()


def test_a_build_process_that_cannot_start_leaves_the_builds_to_the_session(
        tmp_path: Path, derived_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that dies before it reads its request (an environment where it cannot start) is no
    build's crash: the session says so and builds in itself at the first use, as before there was
    a build process."""
    in_the_build_process("import os, sys\nsys.stderr.write('no interpreter here\\n')\n"
                         "sys.stderr.flush()\nos._exit(3)\n", tmp_path, monkeypatch)
    heard: list[str] = []
    session = GateSession(GateConfig(model="tiny", backends=("onnx-int8",), threads=1,
                                     cache_dir=derived_only, report_dir=tmp_path / "report"),
                          progress=heard.append)
    session.prebuild(["onnx-int8"])
    assert "onnx-int8" not in session._runners and "onnx-int8" not in session.records
    starts = [line for line in heard if "could not start" in line]
    assert len(starts) == 1 and "no interpreter here" in starts[0], heard
    session.runner("onnx-int8")  # in this process, with no second try at a child
    assert len([line for line in heard if "could not start" in line]) == 1, heard
    assert session.records["onnx-int8"].from_cache is False
    session.close()


def test_a_build_process_that_found_no_room_is_a_disk_full_error_in_the_session_too():
    """A child's DiskFull comes back as text; the session's error is a DiskFull again (its test's
    failure then its message alone), as a child's MissingDependency is one again."""
    from encoder_gate.errors import DiskFull, MissingDependency
    from encoder_gate.runtime.artifact_builds import ArtifactOutcome

    full = ArtifactOutcome("onnx-fp32", "error", 1.0, None, "no space left on the disk ...", "DiskFull")
    assert isinstance(full.error(), DiskFull) and str(full.error()) == "no space left on the disk ..."
    missing = ArtifactOutcome("onnx-fp32", "error", 1.0, None, "optimum missing", "MissingDependency")
    assert isinstance(missing.error(), MissingDependency)
    other = ArtifactOutcome("onnx-fp32", "error", 1.0, None, "bad", "SomethingElse")
    assert type(other.error()) is GateError


def test_a_build_process_leaves_no_pipe_open(tiny_ctx):
    """The build process's pipes were left to the garbage collector: a ResourceWarning each, which a
    project whose pytest turns warnings into errors (`filterwarnings = ["error"]`, as strict ones set)
    saw as an error in the setup of its first test after the builds. They are closed."""
    import gc
    import warnings

    from encoder_gate.runtime.artifact_builds import build_in_child

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        outcomes = build_in_child(tiny_ctx, None, ["onnx-fp32"], lambda _m: None)
        gc.collect()
    assert [o.kind for o in outcomes] in (["built"], ["cached"]), outcomes  # a child ran either way
    leaks = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks
