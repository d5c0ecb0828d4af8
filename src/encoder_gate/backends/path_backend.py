"""`NAME~exact`, `NAME~saturating`: an INT8 ONNX backend judged on one integer path, on any CPU.

    parse_backend("onnx-int8~saturating")   # onnx-int8 as an x86 CPU without VNNI computes it

A plain INT8 backend computes what this runner's CPU computes (:func:`int8_path.cpu_path`). Its
twin on the other path is computed here too: natively where the CPU has that path, else the
exact path through ONNX Runtime's ``session.x64quantprecision=1`` (weights to uint8 at load, on
x86) and the saturating path through the file rewritten to compute it
(:func:`int8_rewrite.write_saturating`, kept in the artifact cache). A file none of whose products
can saturate has one path only; its twin is not applicable (the test skips and says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from encoder_gate.backends.base import BuildContext, Device, NumberFormat
from encoder_gate.backends.cpu_mask import MaskedSession, mask_unavailable
from encoder_gate.backends.int8_path import (
    IntegerPath,
    cpu_path,
    cpu_path_words,
    emulation_options,
    observed_path,
)
from encoder_gate.backends.int8_rewrite import EXACT_SESSION_OPTION, write_saturating, write_unshared
from encoder_gate.backends.onnx_graph import onnx_digest
from encoder_gate.backends.onnx_runner import ONNX_PACKAGES, OnnxRunner, audit_file
from encoder_gate.backends.onnx_session import installed_providers, open_session
from encoder_gate.backends.registry import parse_backend, with_integer_path
from encoder_gate.cache import toolchain_versions
from encoder_gate.errors import (
    DeviceUnavailable,
    GateError,
    MissingDependency,
    NotApplicable,
    PlainBuildFailed,
)

EMULATION_VERSION = 7  # bump when write_saturating's output changes
#: How a twin computes the path this CPU does not (accuracy.json's `computed_by`, the verdict's notes).
WAYS = {"option": f"ONNX Runtime with {'='.join(EXACT_SESSION_OPTION)}",
        "masked": "ONNX Runtime's own AVX2 kernels, in a child process whose CPU is masked to AVX2",
        "rewrite": "the file rewritten to saturate (int8_rewrite.write_saturating), beside this CPU's float "
                   "kernels"}


@dataclass(frozen=True)
class IntegerPathBackend:
    """The INT8 ONNX backend `inner` on integer path `path` (see the module's docstring)."""

    inner: str
    path: IntegerPath
    packages: tuple[str, ...] = ONNX_PACKAGES

    @property
    def name(self) -> str:
        return with_integer_path(self.inner, self.path)

    @property
    def number_format(self) -> NumberFormat:
        return parse_backend(self.inner).number_format

    def providers(self, device: Device) -> tuple[str, ...]:
        return installed_providers(device)

    def build(self, ctx: BuildContext) -> OnnxRunner:
        if ctx.device != "cpu":
            raise NotApplicable(f"{self.name}: integer paths are a CPU matter (ONNX Runtime's x86 U8S8 "
                                f"kernels); on {ctx.device} only the plain file is judged")
        try:
            plain = parse_backend(self.inner).build(ctx)
        except (NotApplicable, MissingDependency, DeviceUnavailable):
            raise  # skips, as the file's own tests do (review AM)
        except GateError as exc:  # its file's own failure: the session says it once where both are judged
            raise PlainBuildFailed(str(exc), self.inner) from None
        if not isinstance(plain, OnnxRunner):
            raise GateError(f"{self.name}: only an ONNX backend has an integer path; {self.inner} is not one")
        return on_path(plain, self.path, ctx, self.name)


def on_path(plain: OnnxRunner, path: IntegerPath, ctx: BuildContext, name: str) -> OnnxRunner:
    """The INT8 runner `plain` computing on integer path `path`, named `name`: itself where this CPU
    computes that path, else a runner opened with the exact session option, or for the saturating
    path the file itself in a child process whose CPU is masked to AVX2 (cpu_mask), or where CPUID
    cannot be masked the file rewritten to saturate (`plain` closed then). NotApplicable where its
    file has one path only, or where this CPU cannot compute the path asked for (a saturating op the
    rewrite does not emulate, or a way that does not compute the path on int8_path's probe under
    this ONNX Runtime)."""
    source = plain.artifact
    found = audit_file(source)
    here = cpu_path()
    if not found.can_saturate:
        plain.close()
        raise NotApplicable(f"{name}: {found.summary()}; {plain.name} is judged once")
    if path == here:
        plain.name = name
        plain.notes = (*plain.notes, f"{path} path: this CPU's own")
        return plain
    notes = list(plain.notes)
    size, hit, precision = plain.size_bytes, plain.from_cache, plain.precision
    plain.close()
    identity = {"integer_path": path}
    unmasked = mask_unavailable() if path == "saturating" else None
    if path == "saturating" and unmasked is None:
        session = MaskedSession(source, ctx.threads)
        _check_way(session.observed, path, WAYS["masked"], name, here, session)
        notes.append(f"saturating path: {WAYS['masked']} (CPUID faulting; cpu_mask): what "
                     f"{cpu_path_words('saturating')} compute")
        return OnnxRunner(session, ctx, name, precision, source, hit, size, notes=notes,
                          integer_path="saturating", identity=identity, can_saturate=True,
                          opener=lambda threads: MaskedSession(source, threads), path_way=WAYS["masked"])
    if path == "saturating" and found.not_emulated:
        raise NotApplicable(f"{name}: not judged on this {here} CPU: its {', '.join(found.not_emulated)} "
                            f"products can saturate on {cpu_path_words('saturating')}, only MatMulInteger is "
                            f"emulated, and {unmasked}; run the gate on such a CPU to judge that path")
    options = emulation_options() if path == "saturating" else (EXACT_SESSION_OPTION,)
    _check_way(observed_path(options, emulated=path == "saturating"), path,
               WAYS["rewrite" if path == "saturating" else "option"], name, here, options=options)
    if path == "exact":
        opened, shared = source, found.shared
        if shared:  # ONNX Runtime 1.25 on cannot load them with the option (shared_integer_inputs)
            digest = onnx_digest(source)
            key = {"source": f"onnx:{digest}", "unshared": 1, "tools": toolchain_versions(("onnx",))}
            entry = ctx.cache.get_or_build(f"unshared-{digest[:12]}", key,
                                           lambda out: write_unshared(source, out / "model.onnx"))
            opened = entry.path / "model.onnx"
            notes.append(f"{len(shared)} int8 initializers read by {sum(shared.values())} products copied "
                         f"per product: ONNX Runtime 1.25 on cannot open shared ones with "
                         f"{'='.join(EXACT_SESSION_OPTION)}")
        session = open_session(opened, ctx.device, ctx.threads, (EXACT_SESSION_OPTION,))
        notes.append(f"exact path on this {here} CPU: ONNX Runtime's {'='.join(EXACT_SESSION_OPTION)} "
                     "(int8 weights to uint8 at load)")
        return OnnxRunner(session, ctx, name, precision, opened, hit, size, notes=notes,
                          integer_path="exact", session_config=(EXACT_SESSION_OPTION,), identity=identity,
                          path_way=WAYS["option"])
    digest = onnx_digest(source)  # the file and its external data (a 500 MB file takes a second)
    key = {"source": f"onnx:{digest}", "emulation": EMULATION_VERSION, "tools": toolchain_versions(("onnx",))}
    entry = ctx.cache.get_or_build(f"saturating-{digest[:12]}", key, lambda out: _write(source, out))
    emulated = entry.path / "model.onnx"
    session = open_session(emulated, ctx.device, ctx.threads, options)
    notes.append(f"saturating path emulated on this exact CPU ({unmasked}): {found.saturable:,} of "
                 f"{found.pairs:,} weight pairs ({found.share:.2%}) can saturate on "
                 f"{cpu_path_words('saturating')}, rewritten as pair sums clipped to int16")
    return OnnxRunner(session, ctx, name, precision, emulated, entry.hit, size, notes=notes,
                      integer_path="saturating", identity=identity, can_saturate=True, session_config=options,
                      path_way=WAYS["rewrite"])


def _check_way(computed: str | None, path: IntegerPath, how: str, name: str, here: IntegerPath,
               session: MaskedSession | None = None, options: tuple[tuple[str, str], ...] = ()) -> None:
    """NotApplicable unless `how` computed `path`'s products on int8_path's probe: checked, not assumed.
    Where the probe could not run with the exact option on an onnxruntime that aborts on it, it says
    so and which release computes it."""
    if computed == path:
        return
    if session is not None:
        session.close()
    version = toolchain_versions(("onnxruntime",))["onnxruntime"]
    if computed is None and EXACT_SESSION_OPTION in options and _aborts_on_exact_option(version):
        raise NotApplicable(f"{name}: not judged on this {here} CPU: onnxruntime {version} aborts opening an "
                            f"integer product with {'='.join(EXACT_SESSION_OPTION)} (1.21 to 1.24 do), which "
                            f"computing the {path} path here needs; pip install 'onnxruntime>=1.25' judges "
                            f"it on this CPU, or judge it on {cpu_path_words(path)}")
    raise NotApplicable(f"{name}: not judged on this {here} CPU: {how} computed "
                        f"{computed or 'neither path'}'s products on the probe, not the {path} path's, "
                        f"under onnxruntime {version}; "
                        f"judge it on {cpu_path_words(path)}")


def _aborts_on_exact_option(version: str) -> bool:
    """Whether onnxruntime `version` is a release that aborts the process opening an integer product
    with EXACT_SESSION_OPTION (a C++ assertion, int8_path._probe_in_child): 1.21 to 1.24."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version("1.21") <= Version(Version(version).base_version) < Version("1.25")
    except InvalidVersion:
        return False


def _write(source: Path, out: Path) -> None:
    write_saturating(source, out / "model.onnx")
