"""Opening an ONNX Runtime session: the execution providers for a device (CUDA's with TF32 off),
the session's options, the operators no CUDA kernel computes (dynamic INT8's), and one-line errors for
a file ONNX Runtime cannot read or run. Used by every ONNX backend (onnx_backend, recipes,
path_backend) and by the command line's export.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from encoder_gate.cache import ArtifactCache
from encoder_gate.environment import half_removed, omp_threads, quota_threads, reinstall
from encoder_gate.errors import DeviceUnavailable, GateError, MissingDependency, NoKernelsOnDevice


def providers_for(device: str) -> list[str]:
    """Execution providers for `device`, or a GateError saying what to install."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency(
            "onnxruntime is not installed: pip install 'encoder-gate[cpu]' (CPU) or "
            "'encoder-gate[gpu]' (onnxruntime-gpu), never both"
        ) from None
    if not hasattr(ort, "InferenceSession"):  # a session says so at its start; a command here
        raise MissingDependency("; ".join(half_removed()) or "onnxruntime imports without its "
                                "InferenceSession: reinstall it (pip install --force-reinstall onnxruntime)")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        said = (f"device 'cuda' was asked for but this onnxruntime has no CUDAExecutionProvider "
                f"(available: {', '.join(ort.get_available_providers())})")
        if twice := installed_twice():
            raise DeviceUnavailable(
                f"{said}: {twice}. Uninstall both, then install the GPU extra alone: "
                f"{reinstall('onnxruntime', repr('encoder-gate[gpu]'))} (uninstalling onnxruntime alone "
                "leaves the module half removed), or use --gate-device cpu.")
        raise DeviceUnavailable(
            f"{said}. Install the GPU extra "
            "(pip install 'encoder-gate[gpu]', which uses onnxruntime-gpu; uninstall onnxruntime "
            "first, the two must not be installed together) on a machine with an NVIDIA GPU, "
            "or use --gate-device cpu."
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def installed_twice() -> str:
    """Where onnxruntime and onnxruntime-gpu are both installed, that said in words; "" otherwise.
    Both ship the one `onnxruntime` module, so whichever was installed last decides which build it
    is (a CPU build installed after onnxruntime-gpu, by another project's requirement such as
    `optimum[onnxruntime]`, takes its CUDA provider away), and uninstalling one removes files the
    other needs (microsoft/onnxruntime#3326, #26996)."""
    from encoder_gate.cache import installed_version, module_distributions

    if len(module_distributions("onnxruntime")) < 2:
        return ""
    return (f"onnxruntime is installed twice ({installed_version('onnxruntime')}): both ship the one "
            "`onnxruntime` module, and the one installed last decides which build it is")


#: The CUDA execution provider's options: TF32 off. ONNX Runtime computes FP32 products in TF32 (10
#: bits of mantissa) on Ampere and newer GPUs by default (`use_tf32`), torch does not (its
#: matmul TF32 is off by default): an FP32 file would drift from its FP32 reference by the format,
#: not the conversion.
CUDA_PROVIDER_OPTIONS = {"use_tf32": "0"}


def with_options(providers: Sequence[str]) -> list[str | tuple[str, dict[str, str]]]:
    """The providers as ONNX Runtime takes them, each with its options (CUDA_PROVIDER_OPTIONS)."""
    return [(p, dict(CUDA_PROVIDER_OPTIONS)) if p == "CUDAExecutionProvider" else p for p in providers]


def installed_providers(device: str) -> tuple[str, ...]:
    """`providers_for(device)`, or () where onnxruntime or the device is missing."""
    try:
        return tuple(providers_for(device))
    except (GateError, ImportError):
        return ()


def ort_detail(text: str, path: Path) -> str:
    """ONNX Runtime's message without its error-code prefix, source locations and file path."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", first)
    first = first.replace(f"Load model from {path} failed:", "")
    first = re.sub(r"\S+\.(?:cc|h):\d+\s+(?:[\w:~]+\([^)]*\)\s+)?", "", first).strip()
    return first[:300] or "no message"


#: How to get an ONNX file that belongs to the model directory.
EXPORTED_ELSEWHERE = ("If the file was exported from another model, pass the model directory it was exported "
                      "from (--gate-model DIR), or export the file from this model (encoder-gate export).")


def _made_as(path: Path) -> str:
    """`, IR version N, opset K` as the file at `path` declares them, or "" where it cannot be read."""
    try:
        import onnx

        model = onnx.load(str(path), format="protobuf", load_external_data=False)
    except Exception:  # an unreadable file: ONNX Runtime's own words say the rest
        return ""
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return f" (IR version {model.ir_version}{f', opset {opsets[0]}' if opsets else ''})"


def load_error(path: Path, exc: BaseException) -> GateError:
    """ONNX Runtime's load failure, by its message, as a GateError saying what is actually wrong."""
    import onnxruntime as ort

    text = str(exc)
    low = text.lower()
    detail = ort_detail(text, path)
    if "protobuf parsing failed" in low or "invalid_protobuf" in low or "no graph was found" in low:
        return GateError(
            f"ONNX Runtime could not load {path}: the file is corrupt, truncated or not an ONNX model "
            f"({detail}). Re-export it, e.g. `encoder-gate export MODEL --out DIR`, or delete the cache "
            "entry to rebuild it."
        )
    if "cannot parse data from external tensors" in low:
        return GateError(
            f"ONNX Runtime could not load {path}: small tensors that shape inference must read (shapes, "
            f"axes) are stored as external data ({detail}). Save it again with the small tensors inside "
            "the .onnx file: onnx.save(model, path, save_as_external_data=True, size_threshold=1024)."
        )
    # ORT 1.2x: "GetFileLength for ... failed"; 1.21: "filesystem error: cannot get file size: No such
    # file or directory [PATH]"; later: "... external data ..."
    if any(said in low for said in ("external data", "externaldata", "getfilelength",
                                    "cannot get file size")):
        quoted = re.search(r'"([^"]+)"', text)
        bracketed = [b for b in re.findall(r"\[([^\]]+)\]", text) if "/" in b or "\\" in b]  # a path
        missing = f" ({quoted.group(1)})" if quoted else f" ({bracketed[-1]})" if bracketed else ""
        return GateError(
            f"ONNX Runtime could not load {path}: an external data file it references is missing or "
            f"unreadable{missing}: {detail}. Keep every weights file beside the .onnx file, under the "
            "file name the model references."
        )
    if ("type error" in low or "does not match expected type" in low or "bound to different types" in low
            or "type mismatch" in low):
        return GateError(
            f"ONNX Runtime could not load {path}: the graph is invalid, it has a type mismatch inside "
            f"({detail}). The file is intact, but the conversion that made it left inconsistent types, "
            "typically an FP16 conversion that missed a Cast: convert the FP32 file again (onnxruntime's "
            "optimize_model(...).convert_float_to_float16(keep_io_types=True)) or re-export it."
        )
    if "ir version" in low or ("opset" in low and ("unsupported" in low or "not supported" in low)):
        return GateError(
            f"ONNX Runtime {ort.__version__} cannot load {path}{_made_as(path)}: it was made for a newer "
            f"ONNX Runtime ({detail}). Upgrade onnxruntime, or re-export with a lower opset (e.g. opset 17) "
            "and IR version (onnx.save of a model whose ir_version is set lower)."
        )
    if "not_implemented" in low or "could not find an implementation" in low:
        return GateError(
            f"ONNX Runtime {ort.__version__} has no implementation of an operator in {path} for this "
            f"device ({detail}). Upgrade onnxruntime, or re-export without that operator (some fused "
            "and FP16 operators exist only for CUDA)."
        )
    if "invalid_graph" in low or "invalid model" in low:
        return GateError(
            f"ONNX Runtime could not load {path}: the graph is invalid ({detail}). Re-export it, e.g. "
            "`encoder-gate export MODEL --out DIR` or `optimum-cli export onnx`."
        )
    return GateError(f"ONNX Runtime could not load {path} ({detail}). Re-export it, e.g. "
                     "`encoder-gate export MODEL --out DIR`.")


def session_options(threads: int) -> Any:
    """ONNX Runtime's options for a session at `threads` intra-op threads (0: the library default,
    `omp_threads()` where OMP_NUM_THREADS is set, else a CPU quota's cores where one binds
    (`quota_threads()`), else ORT's own, its count of cores) and one inter-op thread, logging only
    what is fatal."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = threads or omp_threads() or quota_threads()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # fatal only: each error also comes as the exception a GateError says in one line (its log
    # repeated every failed run's, about 400 lines of a stale file's session: walk AI)
    options.log_severity_level = 4
    return options


def open_session(path: Path, device: str, threads: int, config: Sequence[tuple[str, str]] = ()) -> Any:
    """An InferenceSession on `path` (with session config entries `config`), with a clear error for
    a missing, corrupt or invalid file."""
    import onnxruntime as ort

    if not path.is_file():
        raise GateError(f"ONNX file {path} does not exist. Check the path after 'onnx:'.")
    if device == "cuda":  # before the providers: a CPU format is judged on the CPU, whatever onnxruntime
        cpu_only = cpu_only_ops(path)
        if cpu_only:
            raise NoKernelsOnDevice(
                f"{path.name}: its {', '.join(cpu_only)} nodes have no CUDA kernel in ONNX Runtime, so on "
                "cuda they would run on the CPU with copies between the devices, its figures the CPU's "
                "passed off as the GPU's (dynamic INT8 is a CPU format)")
    providers = with_options(providers_for(device))
    if device == "cuda":
        load_cuda_libraries()
    options = session_options(threads)
    for key, value in config:
        options.add_session_config_entry(key, value)
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
        raise load_error(path, exc) from None
    if device == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
        # the device is unusable to ONNX Runtime, as to torch without a GPU: its tests skip with this
        # reason, and a session whose backend was never checked fails (or passes --gate-allow-skip)
        raise DeviceUnavailable(f"ONNX Runtime did not start its CUDA provider for {path.name} and fell back "
                                f"to {session.get_providers()[0]}: {cuda_provider_problem()}")
    return session


@dataclass(frozen=True)
class Port:
    """One input or output of a session as ONNX Runtime reports it (its NodeArg's name, element type
    and shape: ints, symbolic names, None)."""

    name: str
    type: str
    shape: tuple[int | str | None, ...] | None


@dataclass(frozen=True)
class Signature:
    """A session's inputs and outputs: all an OnnxRunner reads of its session before the first run."""

    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    @classmethod
    def of(cls, session: Any) -> Signature:
        def ports(args: Any) -> tuple[Port, ...]:
            return tuple(Port(a.name, a.type, None if a.shape is None else tuple(a.shape)) for a in args)

        return cls(ports(session.get_inputs()), ports(session.get_outputs()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        def ports(rows: Any) -> tuple[Port, ...]:
            return tuple(Port(r["name"], r["type"], None if r["shape"] is None else tuple(r["shape"]))
                         for r in rows)

        return cls(ports(data["inputs"]), ports(data["outputs"]))


#: Part of a kept signature's key (session_or_signature): a change to what it holds, or how.
SIGNATURE_RECIPE = 1
SIGNATURE_FILE = "signature.json"


def session_or_signature(path: Path, device: str, threads: int, cache: ArtifactCache,
                         identity: Mapping[str, object]) -> tuple[Any | None, Signature]:
    """(a session of `path` opened now, or None, and the session's signature). On the CPU, where an
    earlier session of the same file (`identity`: its bytes and the libraries' versions) kept its
    signature in the artifact cache (`onnx-signature-<key>`), no session is opened: the runner opens
    it at its first run, and a session that reads every output of the file from the cache (an
    unchanged PR) opens none (three sessions of the 125M reference model's files: 1.2, 0.7 and 0.5 s,
    and their memory, AMD EPYC Zen 5). The first session of a file is opened here, as always (its
    errors said at the build), and keeps its signature. On cuda it is always opened here: whether
    the file has kernels there is found at the opening (runtime.devices)."""
    if device != "cpu":
        session = open_session(path, device, threads)
        return session, Signature.of(session)
    kept, session = cache.described(
        "onnx-signature", {"recipe": SIGNATURE_RECIPE, **identity, "device": device},
        lambda: open_session(path, device, threads), lambda opened: asdict(Signature.of(opened)),
        SIGNATURE_FILE)
    return session, Signature.from_json(kept)


@functools.cache
def load_cuda_libraries() -> None:
    """Load the CUDA and cuDNN libraries ONNX Runtime's CUDA provider needs before a CUDA session starts,
    once a process: the provider looks for them on the loader's path alone, which a GPU runner does not
    point at Python's packages. First torch, whose CUDA build loads its own (its nvidia-* packages:
    libcudart, libcublas, libcudnn, ...), then `onnxruntime.preload_dlls()` (onnxruntime-gpu 1.21 on),
    which loads those of the nvidia-* packages by path, torch's and onnxruntime-gpu's `cuda` extra's
    (the `gpu` extra installs it): onnxruntime-gpu 1.31's provider needs libcurand.so.10, which torch
    2.15 does not bring (seen on the CPU: with torch imported the provider did not load for want of
    it; after preload_dlls every library it needs was found). Its own lines about a library it could
    not load are not printed: a session whose provider did not start fails with cuda_provider_problem's
    one line instead."""
    with contextlib.suppress(ImportError):  # without torch, preload_dlls alone
        importlib.import_module("torch")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    # ONNX Runtime's process-wide logger, as each session's (session_options): fatal only. A provider
    # that cannot load logs two coloured lines there for every session that asks for it; the
    # session's DeviceUnavailable says what they say, with the library, the versions and the fix.
    with contextlib.suppress(Exception):
        ort.set_default_logger_severity(4)
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:  # before onnxruntime 1.21: the loader's path alone
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
        preload(cuda=True, cudnn=True, msvc=False)


#: ONNX Runtime's CUDA provider, a library of its own that it loads at a CUDA session's start.
CUDA_PROVIDER_LIBRARY = "libonnxruntime_providers_cuda.so"


def cuda_provider_problem(library: Path | None = None) -> str:
    """Why ONNX Runtime's CUDA provider did not start, in one line with the fix, as far as it can be told
    here: the session logs only what is fatal (session_options), and ONNX Runtime's own line would be a
    warning. Its provider library is loaded again to read the loader's message (the CUDA or cuDNN
    library it lacks), and the CUDA versions of onnxruntime-gpu's build and of torch's are set side by
    side: onnxruntime-gpu uses the CUDA and cuDNN libraries torch loaded into the process, so their
    major versions must match. `library`: the provider library (default: the installed onnxruntime's)."""
    import ctypes

    import onnxruntime as ort

    try:
        from onnxruntime.capi import build_and_package_info as build

        ort_cuda = str(getattr(build, "cuda_version", "") or "") or None
    except ImportError:
        ort_cuda = None
    try:
        import torch

        torch_cuda, torch_version = torch.version.cuda, torch.__version__
    except ImportError:
        torch_cuda, torch_version = None, None
    library = library or Path(ort.__file__).parent / "capi" / CUDA_PROVIDER_LIBRARY
    built = f"onnxruntime {ort.__version__} is built for CUDA {ort_cuda or '(not recorded)'}"
    brings = f"torch {torch_version} for CUDA {torch_cuda}" if torch_cuda else "torch has no CUDA"
    if not library.is_file():
        return (f"this onnxruntime has no {library.name} ({built}): reinstall onnxruntime-gpu alone "
                "(pip uninstall -y onnxruntime onnxruntime-gpu, then pip install 'encoder-gate[gpu]')")
    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        loads = f"{library.name} does not load ({str(exc).replace(str(library.parent) + '/', '')})"
    else:
        return (f"{library.name} loads, so its CUDA and cuDNN libraries are found: the GPU or its driver "
                f"refused ({built}, {brings}; nvidia-smi says whether the driver runs, and the newest CUDA "
                "it supports)")
    line = f"{loads}. {built}, {brings}"
    if "undefined symbol" in loads:  # found, but older than the provider was built against
        return (f"{line}: a library it loaded lacks that symbol, older than the one the provider was built "
                "against (the NVIDIA driver, whose newest CUDA nvidia-smi names, or a CUDA library of "
                "another version earlier on the loader's path); update the driver, or use --gate-device cpu")
    if "libcuda.so" in loads:  # the driver's own library, never a Python package's
        return (f"{line}. libcuda.so.1 is the NVIDIA driver's library: this machine has no NVIDIA driver "
                "(nvidia-smi says so too); run on a GPU machine, or use --gate-device cpu")
    ort_major, torch_major = (v.split(".")[0] if v else None for v in (ort_cuda, torch_cuda))
    if ort_major and torch_major and ort_major != torch_major:
        return (f"{line}: their CUDA major versions differ, and onnxruntime-gpu uses the CUDA and cuDNN "
                "libraries torch brings: install the onnxruntime-gpu release built for CUDA "
                f"{torch_major}, or torch built for CUDA {ort_major}, or use --gate-device cpu")
    return (f"{line}. Install the CUDA libraries onnxruntime-gpu needs as packages, which the gate loads "
            "before a CUDA session (pip install 'onnxruntime-gpu[cuda]', as encoder-gate[gpu] does; torch "
            "brings cuDNN), or put the named library's directory on LD_LIBRARY_PATH, or use "
            "--gate-device cpu")


#: Operators ONNX Runtime's CUDA execution provider has no kernel for, placed on the CPU behind copies
#: (onnxruntime issues 7745, 12229): dynamic INT8 quantization's, and the QOperator format's (static
#: INT8 as `quantize_static(quant_format=QOperator)` and older tools write it: QLinearMatMul and the
#: contrib QLinear* ops). Read from onnxruntime-gpu 1.31.1's CUDA provider, which names every operator
#: it registers a kernel for: none of these, while MatMulInteger (int8 only), QAttention,
#: QuantizeLinear and DequantizeLinear are there (so a QDQ file runs on the GPU, dequantized).
CPU_ONLY_OPS = frozenset({
    "DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
    "QLinearMatMul", "QLinearConv", "ConvInteger", "QGemm", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearSoftmax", "QLinearConcat", "QLinearWhere", "QLinearReduceMean",
    "QLinearAveragePool", "QLinearGlobalAveragePool", "QEmbedLayerNormalization",
})


def cpu_only_ops(path: Path) -> list[str]:
    """The operators of the file at `path` that run on the CPU whatever the device (CPU_ONLY_OPS)."""
    import onnx

    try:
        graph = onnx.load(str(path), format="protobuf", load_external_data=False).graph
    except Exception:  # an unreadable file: ONNX Runtime's load says why, in open_session's words
        return []
    return sorted({n.op_type for n in graph.node} & CPU_ONLY_OPS)
