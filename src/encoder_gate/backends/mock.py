"""A backend whose outputs come from a function you give it: for tests, as httpx's MockTransport.

    def handler(batch, inner):               # a tokenized batch -> (batch, labels) probabilities
        return np.full((len(batch["input_ids"]), 28), 0.1, dtype=np.float32)

    BACKENDS["mock"] = lambda: MockBackend(handler, name="mock")   # one registry line

It goes through everything a real backend does: the gate's checks (judged by the bounds of
its `number_format`), the prediction cache (keyed by `identity` when one is given: a handler
whose answers change must change its identity too; without one it is always run) and the
verdict. With `around` (a registered backend's name) that backend is built first and its
runner is the handler's `inner` (else None), so a test can perturb a real backend's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from encoder_gate.backends.base import Batch, BuildContext, Device, NumberFormat, Runner
from encoder_gate.backends.registry import parse_backend
from encoder_gate.cache import toolchain_versions

#: handler(batch, inner) -> probabilities; `inner` is the runner of `around`, or None.
Handler = Callable[[Batch, "Runner | None"], np.ndarray]


@dataclass(frozen=True)
class MockBackend:
    """Answers every batch with `handler(batch)`; see the module docstring."""

    handler: Handler
    name: str = "mock"
    number_format: NumberFormat = "fp32"
    packages: tuple[str, ...] = ()
    identity: str | None = None  # set: predictions are cached under it
    around: str | None = None  # a registered backend whose runner the handler gets

    def providers(self, device: Device) -> tuple[str, ...]:
        return ()

    def build(self, ctx: BuildContext) -> MockRunner:
        inner = parse_backend(self.around).build(ctx) if self.around else None
        return MockRunner(self, inner)


class MockRunner:
    """The runner of a MockBackend."""

    def __init__(self, backend: MockBackend, inner: Runner | None) -> None:
        self.name = backend.name
        self.precision = "fp32" if backend.number_format == "reference" else backend.number_format
        self.size_bytes = inner.size_bytes if inner is not None else 0
        self.from_cache = False
        self.notes: tuple[str, ...] = ()
        self._backend = backend
        self._inner = inner

    def predict(self, batch: Batch) -> np.ndarray:
        return np.asarray(self._backend.handler(batch, self._inner), dtype=np.float32)

    def warmup(self, shapes: list[tuple[int, int]]) -> None:
        if self._inner is not None:
            self._inner.warmup(shapes)

    def prediction_identity(self) -> dict[str, object] | None:
        """Cached under the backend's `identity`, or never (None) without one."""
        if self._backend.identity is None:
            return None
        return {"artifact": f"mock:{self._backend.identity}",
                "versions": toolchain_versions(self._backend.packages)}

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
