"""Passes of the padding properties and the smoke test, kept by what decides them.

A derandomized hypothesis property (the CI profile: `derandomize=True`) draws the same examples
every run, and a cacheable runner computes the same outputs on the same inputs (what the
prediction cache already trusts, :mod:`encoder_gate.runtime.predictions`). So a property that
passed on a runner passes again while nothing that decides it changed: the property and its
parameters, the runner's identity (its artifact's bytes and its libraries' versions), the model
(its tokenizer among its files), the tolerance, the number of examples, hypothesis's version and
the code of the properties. Its pass is kept in the artifact cache, and the next session (an
unchanged PR, or its base on the default branch) reads it instead of drawing the examples again.

The smoke test feeds fixed texts (the evaluation set's first), so its pass is kept the same way
(`check_key`) in every profile. A random profile (the dev profile) draws afresh every run: that is
how it explores, so none of its properties' passes is kept. A runner that is not cacheable (a
wrapper, a test's fault injection) always runs. A failure is never kept: the check raises before
anything is written.

    hit = checked_property(cache, key, run)   # key from property_key(...); None: just run()
    run_or_read(session, key, run, backend, check, same)   # the same, noted and said in the session
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import hypothesis

from encoder_gate.cache import ArtifactCache
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.predictions import backend_kind, cacheable

PROPERTIES_RECIPE = 1  # bump when what a kept pass means changes
PASSED_FILE = "passed.json"


def code_digest(files: Iterable[Path]) -> str:
    """The digest of the files whose code decides the properties (their module, their strategies,
    the encoding they feed through)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def property_key(name: str, runner: Any, model: ModelSpec, examples: hypothesis.settings, code: str,
                 params: Mapping[str, object]) -> dict[str, object] | None:
    """The key a property's pass is kept under, or None when it must run (examples drawn at random,
    or a runner whose outputs no key can see)."""
    if not examples.derandomize:
        return None
    return check_key(name, runner, model, code, {"max_examples": examples.max_examples,
                                                 "hypothesis": hypothesis.__version__, **params})


def check_key(name: str, runner: Any, model: ModelSpec, code: str,
              params: Mapping[str, object]) -> dict[str, object] | None:
    """The key the pass of a check on fixed inputs (`params` name them: a derandomized property's
    examples, the smoke test's texts) is kept under, or None for a runner whose outputs no key can
    see (it always runs)."""
    identity = runner.prediction_identity() if cacheable(runner) else None
    if identity is None:
        return None
    return {"recipe": PROPERTIES_RECIPE, "property": name, "backend": backend_kind(runner.name),
            "model": model.content_hash, **identity, "code": code,
            **{f"param_{k}": v for k, v in params.items()}}


def _entry_name(name: str, backend: str) -> str:
    return "property-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{backend}-{name}")[:64]


def checked_property(cache: ArtifactCache, key: Mapping[str, object], run: Callable[[], None]) -> bool:
    """Run the property (`run` raises on a failure) unless its pass is kept under `key`; keep a pass.
    True when the pass was read from the cache."""
    def build(tmp: Path) -> None:
        run()
        (tmp / PASSED_FILE).write_text(json.dumps({"passed": True}) + "\n")

    entry = cache.get_or_build(_entry_name(str(key["property"]), str(key["backend"])), key, build)
    return entry.hit


def run_or_read(session: Any, key: Mapping[str, object] | None, run: Callable[[], None], backend: str,
                check: str, same: str, label: str | None = None) -> None:
    """Run backend `backend`'s `check` (`run` raises on a failure), or read its pass where one is
    kept under `key` (None: it always runs). A pass read is noted in the session
    (GateSession.read_kept_pass: the verdict says what it read from the cache) and said:
    `BACKEND LABEL: passed before on this artifact with the same SAME; read from the cache`
    (LABEL: `check` unless given)."""
    if key is None:
        run()
    elif checked_property(session.cache, key, run):
        session.read_kept_pass(backend, check)
        session.progress(f"{backend} {label or check}: passed before on this artifact with the same {same}; "
                         "read from the cache")
