"""A GPU runner whose CUDA does not start says why in one line, with the fix: torch that sees no GPU (a
CPU build, no NVIDIA driver, a driver older than the CUDA torch was built for), and ONNX Runtime's CUDA
provider that did not start and fell back to the CPU (the library the loader could not find, and the
CUDA versions of onnxruntime-gpu's build and torch's). All on the CPU: the provider library is stood in
for by shared objects compiled here, whose loader messages are the real loader's; nvidia-smi's output
and the session's providers are faked where a GPU machine would give them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from encoder_gate.backends import onnx_session
from encoder_gate.backends.onnx_session import CUDA_PROVIDER_LIBRARY, cuda_provider_problem

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the stand-in provider is a Linux shared object")


def compiled(tmp_path: Path, name: str, needs: str | None = None) -> Path:
    """A shared object `name` in tmp_path; with `needs`, one that needs the library `needs`, which is
    removed after the link, as a CUDA library the provider was linked against is absent from a runner."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) on this machine to build the stand-in provider library")
    source = tmp_path / f"{name}.c"
    source.write_text("int provider_entry(void) { return 0; }\n")
    args = [cc, "-shared", "-fPIC", "-o", str(tmp_path / name), str(source)]
    if needs:
        (tmp_path / "dep.c").write_text("int dep_entry(void) { return 1; }\n")
        subprocess.run([cc, "-shared", "-fPIC", f"-Wl,-soname,{needs}", "-o", str(tmp_path / needs),
                        str(tmp_path / "dep.c")], check=True)
        args += ["-Wl,--no-as-needed", str(tmp_path / needs)]
    subprocess.run(args, check=True)
    if needs:
        (tmp_path / needs).unlink()
    return tmp_path / name


@pytest.fixture
def versions(monkeypatch: pytest.MonkeyPatch):
    """Set the CUDA version onnxruntime says it was built for, and torch's."""
    import torch
    from onnxruntime.capi import build_and_package_info

    def set_to(ort_cuda: str | None, torch_cuda: str | None) -> None:
        monkeypatch.setattr(build_and_package_info, "cuda_version", ort_cuda, raising=False)
        monkeypatch.setattr(torch.version, "cuda", torch_cuda)

    return set_to


def test_a_missing_cuda_library_is_named_with_both_cuda_versions_and_the_fix(tmp_path, versions):
    """The provider needs a CUDA 13 library that is not there, and torch brings CUDA 12: the line names
    the missing library as the loader says it, both versions, and what to install."""
    provider = compiled(tmp_path, CUDA_PROVIDER_LIBRARY, needs="libstandin.so.13")
    versions("13.0", "12.8")
    line = cuda_provider_problem(provider)
    assert f"{CUDA_PROVIDER_LIBRARY} does not load (libstandin.so.13: cannot open shared object file" in line
    assert "is built for CUDA 13.0, torch" in line
    assert "for CUDA 12.8: their CUDA major versions differ" in line
    assert "install the onnxruntime-gpu release built for CUDA 12, or torch built for CUDA 13" in line
    assert str(tmp_path) not in line  # the library's name, not where a venv keeps it

    versions("13.0", "13.2")  # the same major: the library is missing from the loader's path
    line = cuda_provider_problem(provider)
    assert "libstandin.so.13: cannot open" in line and "differ" not in line
    assert "pip install 'onnxruntime-gpu[cuda]', as encoder-gate[gpu] does" in line
    assert "put the named library's directory on LD_LIBRARY_PATH, or use --gate-device cpu" in line


def test_a_provider_that_loads_points_at_the_gpu_or_its_driver_and_one_missing_says_so(tmp_path, versions):
    versions(None, None)
    line = cuda_provider_problem(compiled(tmp_path, CUDA_PROVIDER_LIBRARY))
    assert line.startswith(f"{CUDA_PROVIDER_LIBRARY} loads, so its CUDA and cuDNN libraries are found: "
                           "the GPU or its driver refused"), line
    assert "built for CUDA (not recorded), torch has no CUDA; nvidia-smi says" in line
    line = cuda_provider_problem(tmp_path / "elsewhere" / CUDA_PROVIDER_LIBRARY)
    assert line.startswith(f"this onnxruntime has no {CUDA_PROVIDER_LIBRARY} (onnxruntime "), line
    assert "then pip install 'encoder-gate[gpu]'" in line


def test_a_cuda_session_that_fell_back_to_the_cpu_fails_in_one_line_saying_why(tmp_path, monkeypatch):
    """open_session on cuda whose session came up on the CPU provider (what ONNX Runtime does when its
    CUDA provider cannot start): a DeviceUnavailable naming the file, the provider it fell back to and why,
    never a session whose figures would be the CPU's."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "model.onnx"))

    order: list[str] = []

    class FellBack:
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            order.append("session")

        def get_providers(self) -> list[str]:
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", FellBack)
    monkeypatch.setattr(onnx_session, "cuda_provider_problem", lambda: "the reason, with its fix")
    monkeypatch.setattr(onnx_session, "load_cuda_libraries", lambda: order.append("the CUDA libraries"))
    from encoder_gate.errors import DeviceUnavailable

    # the device unusable, as torch without a GPU: its tests skip with the line, and the session fails
    said = (r"^ONNX Runtime did not start its CUDA provider for model\.onnx and fell back to "
            r"CPUExecutionProvider: the reason, with its fix$")
    with pytest.raises(DeviceUnavailable, match=said):
        onnx_session.open_session(tmp_path / "model.onnx", "cuda", threads=1)
    # the CUDA and cuDNN libraries are loaded before the session, whose provider then finds them
    assert order == ["the CUDA libraries", "session"]
    order.clear()
    onnx_session.open_session(tmp_path / "model.onnx", "cpu", threads=1)  # the CPU: nothing to load
    assert order == ["session"]


def test_the_cuda_libraries_load_once_torch_first_then_onnxruntimes_preload_quietly(monkeypatch, capsys):
    """load_cuda_libraries: torch imported (its CUDA build loads its libraries), then onnxruntime's
    preload_dlls for what torch lacks (onnxruntime-gpu 1.31's provider needs libcurand.so.10, which
    torch 2.15 does not bring), its own lines not printed, once a process; an onnxruntime without
    preload_dlls (before 1.21, or a CPU build's that returns at once) is left to the loader's path."""
    import onnxruntime as ort

    calls: list[dict[str, bool]] = []

    def preload(**kwargs: bool) -> None:
        calls.append(kwargs)
        print("Failed to load libcurand.so.10: cannot open shared object file")

    monkeypatch.setattr(ort, "preload_dlls", preload, raising=False)
    severities: list[int] = []
    monkeypatch.setattr(ort, "set_default_logger_severity", severities.append)
    onnx_session.load_cuda_libraries.cache_clear()
    try:
        onnx_session.load_cuda_libraries()
        onnx_session.load_cuda_libraries()
        assert calls == [{"cuda": True, "cudnn": True, "msvc": False}]
        assert severities == [4]  # ONNX Runtime's own lines on a provider it could not load: fatal only
        assert "torch" in sys.modules
        assert capsys.readouterr().out == ""
        monkeypatch.delattr(ort, "preload_dlls")
        onnx_session.load_cuda_libraries.cache_clear()
        onnx_session.load_cuda_libraries()  # nothing to call, nothing raised
    finally:
        onnx_session.load_cuda_libraries.cache_clear()


def test_a_provider_whose_library_lacks_a_symbol_names_the_driver(tmp_path, monkeypatch, versions):
    """The provider found every library but one is older than it was built against (the driver, most
    often): said so, not as a library missing from the loader's path."""
    import ctypes

    def refuse(path: str, *_args: object) -> None:
        raise OSError(f"{path}: undefined symbol: cuTensorMapEncodeTiled")

    provider = compiled(tmp_path, CUDA_PROVIDER_LIBRARY)
    monkeypatch.setattr(ctypes, "CDLL", refuse)
    versions("13.0", "13.2")
    line = cuda_provider_problem(provider)
    assert "undefined symbol: cuTensorMapEncodeTiled" in line
    assert "LD_LIBRARY_PATH" not in line
    assert "the NVIDIA driver, whose newest CUDA nvidia-smi names" in line


SMI = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {driver}              Driver Version: {driver}      CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
"""


@pytest.mark.parametrize(("torch_cuda", "smi", "expected"), [
    (None, None, r"torch .* is a CPU build\. Install torch's CUDA build on the GPU machine"),
    ("13.2", None, r"is built for CUDA 13\.2, and this machine has no NVIDIA driver \(no nvidia-smi\)"),
    ("13.2", SMI.format(driver="550.54.15", cuda="12.4"),
     r"built for CUDA 13\.2; the NVIDIA driver here is 550\.54\.15, whose newest CUDA is 12\.4: a driver "
     r"older than the CUDA torch was built for hides the GPU from it\. Update the driver, or install the "
     r"builds of torch and onnxruntime-gpu for CUDA 12, or use --gate-device cpu"),
    ("13.2", SMI.format(driver="580.159.04", cuda="13.0"),  # a minor version older is fine for CUDA
     r"driver here is 580\.159\.04, whose newest CUDA is 13\.0, so the driver is not the cause: the GPU is "
     r"hidden from this process"),
    ("12.4", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
     r"nvidia-smi names no driver \(NVIDIA-SMI has failed because it couldn't communicate"),
])
def test_torch_that_sees_no_gpu_says_why(monkeypatch, torch_cuda, smi, expected):
    """require_device on cuda where torch sees no GPU: the build, the driver and nvidia-smi's newest CUDA
    decide the line (PyPI's torch 2.15 is built for CUDA 13, and a runner whose driver supports CUDA 12
    at most shows no GPU at all)."""
    import shutil
    import subprocess

    import torch

    from encoder_gate.backends import torch_backend
    from encoder_gate.errors import DeviceUnavailable

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", torch_cuda)
    found = "/usr/bin/nvidia-smi" if smi is not None else None
    monkeypatch.setattr(shutil, "which", lambda name: found if name == "nvidia-smi" else None)
    ran = subprocess.CompletedProcess(["nvidia-smi"], 0, stdout=smi or "", stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *_a, **_k: ran)
    with pytest.raises(DeviceUnavailable, match=r"^device 'cuda' was asked for but torch sees no CUDA GPU: .*"
                                                + expected):
        torch_backend.require_device("cuda")
    torch_backend.require_device("cpu")  # the CPU asks nothing of CUDA


@pytest.mark.parametrize(("smi", "driver"), [
    (None, None),
    (SMI.format(driver="580.159.04", cuda="13.0"), "580.159.04"),
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", None),
])
def test_the_driver_in_a_gpu_fingerprint_is_the_one_nvidia_smi_names(monkeypatch, smi, driver):
    """One reading of the NVIDIA driver (environment.nvidia_smi) serves why torch sees no GPU (above)
    and the GPU in a speed baseline's fingerprint: the banner's driver version, None without one."""
    import shutil
    import subprocess

    from encoder_gate.environment import nvidia_smi
    from encoder_gate.speed import machine

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/nvidia-smi" if smi is not None else None)
    ran = subprocess.CompletedProcess(["nvidia-smi"], 0 if driver else 9, stdout=smi or "", stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *_a, **_k: ran)
    assert machine._nvidia_driver() == driver
    read = nvidia_smi()
    assert (read is None) == (smi is None)
    if read is not None:
        assert (read.driver, read.cuda) == ((driver, "13.0") if driver else (None, None))
