"""ONNX Runtime as an x86 CPU without VNNI computes it, on a newer x86 CPU, natively.

    why = mask_unavailable()                 # None where this machine can mask its CPU, else why not
    session = MaskedSession(path, threads)   # an InferenceSession in a child process that sees AVX2 only
    session.run(None, feeds)                 # ONNX Runtime's own AVX2 kernels: U8S8 products saturate

The child preloads `data_files/cpuid_mask.c`, built with the machine's C compiler on first use
(kept in ``$XDG_CACHE_HOME/encoder-gate``, keyed by the source's hash). Linux's CPUID faulting (the
``cpuid_fault`` flag; Intel CPUs since Ivy Bridge, and their virtual machines under KVM) traps every
``cpuid`` of the child, and the library answers without AVX-512, VNNI or AMX. ONNX Runtime's MLAS
then picks its AVX2 kernels, integer and float alike, and runs them at this CPU's speed: what an
AVX2 CPU (an AMD EPYC before Zen 4, many hosted CI runners) computes, not an emulation of its
integer products beside this CPU's float kernels (`int8_rewrite.write_saturating`, the fallback where
CPUID cannot be masked). The feeds and outputs cross a pipe (pickled numpy arrays).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import platform
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from encoder_gate.environment import user_cache_dir
from encoder_gate.errors import GateError
from encoder_gate.processes import close_pipes

SOURCE = Path(__file__).resolve().parents[1] / "data_files" / "cpuid_mask.c"
_HEADER = struct.Struct("<Q")


def mask_unavailable() -> str | None:
    """Why this machine cannot run a process with its CPU masked to AVX2, or None where it can (the
    mask's library is built then, so a failed build is a reason too)."""
    why = _cannot_mask()
    if why is None:
        try:
            mask_library()
        except GateError as error:
            return str(error)
    return why


def _cannot_mask() -> str | None:
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return f"CPUID masking needs Linux on x86_64 (this is {platform.system()} on {platform.machine()})"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "/proc/cpuinfo cannot be read"
    if "cpuid_fault" not in flags.split():
        return "this CPU or its kernel cannot fault on cpuid (no cpuid_fault flag in /proc/cpuinfo)"
    if _compiler() is None:
        return "no C compiler (cc, gcc or clang) to build the CPUID mask"
    return None


def _compiler() -> str | None:
    return next((c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c and shutil.which(c)), None)


@functools.lru_cache(maxsize=1)
def mask_library() -> Path:
    """The CPUID mask's shared library, built on first use (a GateError says why it cannot be)."""
    why = _cannot_mask()
    if why:
        raise GateError(f"cannot mask this CPU to AVX2: {why}")
    from filelock import FileLock

    source = SOURCE.read_bytes()
    cache = user_cache_dir()
    library = cache / f"cpuid_mask-{hashlib.sha256(source).hexdigest()[:16]}.so"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(str(library) + ".lock"):
            if not library.is_file():
                partial = library.with_suffix(f".tmp{os.getpid()}")
                build = [str(_compiler()), "-O2", "-shared", "-fPIC", "-o", str(partial), str(SOURCE), "-ldl"]
                done = subprocess.run(build, capture_output=True, text=True)
                if done.returncode != 0:
                    raise GateError(f"building the CPUID mask ({SOURCE}) failed: "
                                    f"{done.stderr.strip()[-500:]}")
                partial.replace(library)
    except OSError as error:
        raise GateError(f"the CPUID mask cannot be built in {cache} ({error}); set XDG_CACHE_HOME to a "
                        "writable directory") from None
    return library


def masked_env() -> dict[str, str]:
    """This process's environment with the CPUID mask preloaded."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = ":".join(p for p in (str(mask_library()), env.get("LD_PRELOAD")) if p)
    return env


class MaskedSession:
    """An ONNX Runtime InferenceSession on `path` in a child process whose CPU is masked to AVX2:
    `get_inputs`, `get_outputs` and `run` as InferenceSession's. `observed` is the integer path the
    child's ONNX Runtime computes (int8_path's probe), checked by the caller."""

    def __init__(self, path: Path, threads: int, config: Sequence[tuple[str, str]] = ()) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "encoder_gate.backends.cpu_mask", str(path), str(int(threads)),
             json.dumps([list(c) for c in config])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=masked_env())
        meta = self._receive()
        if "error" in meta:
            self.close()
            raise GateError(f"the masked child could not open {path}: {meta['error']}")
        self._inputs = [SimpleNamespace(**i) for i in meta["inputs"]]
        self._outputs = [SimpleNamespace(**o) for o in meta["outputs"]]
        self.observed: str | None = meta["observed"]

    def get_inputs(self) -> list[Any]:
        return self._inputs

    def get_outputs(self) -> list[Any]:
        return self._outputs

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, Any]) -> list[Any]:
        _send(self._pipe("stdin"), (list(output_names) if output_names else None, feeds))
        answer = self._receive()
        if isinstance(answer, dict) and "error" in answer:
            raise GateError(f"the masked ONNX Runtime session failed: {answer['error']}")
        return list(answer)

    def _pipe(self, name: str) -> IO[bytes]:
        pipe = getattr(self._child, name)
        if pipe is None or self._child.poll() is not None:
            raise self._ended()
        return pipe

    def _receive(self) -> Any:
        answer = _read(self._pipe("stdout"))
        if answer is None:
            self._child.wait(timeout=10)
            raise self._ended()
        return answer

    def _ended(self) -> GateError:
        return GateError(f"the masked ONNX Runtime child ended (exit {self._child.returncode}); its stderr "
                         "above says why")

    def close(self) -> None:
        child = getattr(self, "_child", None)
        if child is not None and child.poll() is None:
            if child.stdin is not None:
                child.stdin.close()  # the child ends at the end of its input
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child is not None:
            close_pipes(child)

    def __del__(self) -> None:
        self.close()


def _send(pipe: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_HEADER.pack(len(data)) + data)
    pipe.flush()


def _read(pipe: IO[bytes]) -> Any:
    head = pipe.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    return pickle.loads(pipe.read(size))  # our own child's answers (or parent's requests), over its pipe


def _arg(arg: Any) -> dict[str, Any]:
    return {"name": arg.name, "shape": arg.shape, "type": arg.type}


def _serve(path: str, threads: int, config: list[list[str]]) -> None:
    """The child: open the session, say what it is, then answer each (outputs, feeds) until stdin ends.
    Its stdout carries the answers only: whatever else writes to fd 1 goes to stderr."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    try:
        from encoder_gate.backends.int8_path import observed_path
        from encoder_gate.backends.onnx_session import open_session

        entries = tuple((key, value) for key, value in config)
        session = open_session(Path(path), "cpu", threads, entries)
        meta = {"inputs": [_arg(i) for i in session.get_inputs()],
                "outputs": [_arg(o) for o in session.get_outputs()], "observed": observed_path(entries)}
    except Exception as exc:  # said to the parent, which raises it as a GateError
        _send(answers, {"error": f"{type(exc).__name__}: {exc}"})
        return
    _send(answers, meta)
    while (request := _read(requests)) is not None:
        names, feeds = request
        try:
            _send(answers, session.run(names, feeds))
        except Exception as exc:  # ORT's own errors: the parent raises them
            _send(answers, {"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    if sys.argv[1:] == ["--library"]:  # .ci/avx2-only: the library's path, built if needed
        try:
            print(mask_library())
        except GateError as error:
            sys.exit(str(error))
    else:
        _serve(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
