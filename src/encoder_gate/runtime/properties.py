"""How the padding properties draw their examples, and their passes kept by what decides them.

Every gate session draws each property's examples reproducibly: the seed comes from what is judged
(the model's content, the backend, the property and its parameters, the code of the properties:
:func:`property_seed`), so one commit, model and configuration draw the same examples in CI, on a
laptop and in a colleague's clone, and another model draws other examples. Exploring is asked for
(`--gate-explore N`): N random examples a property. A failing example it finds is kept in an
example database inside the artifact cache (:func:`examples_dir`: never `.hypothesis/` in the
project), and every later session of that model and backend replays it before drawing its fixed
examples (:func:`draw`), here and wherever the cache travels (the workflow init writes keeps it).

A property drawn from its seed on a cacheable runner computes the same outputs on the same
examples (what the prediction cache already trusts, :mod:`encoder_gate.runtime.predictions`). So a
property that passed on a runner passes again while nothing that decides it changed: the property
and its parameters, the runner's identity (its artifact's bytes and its libraries' versions), the
model (its tokenizer among its files), the tolerance, the number of examples, the seed, the kept
failing examples, hypothesis's version and the code of the properties. Its pass is kept in the
artifact cache, and the next session (an unchanged PR, or its base on the default branch) reads it
instead of drawing the examples again.

The smoke test feeds fixed texts (the evaluation set's first), so its pass is kept the same way
(`check_key`). An exploring session draws afresh every run, so none of its passes is kept. A
runner that is not cacheable (a wrapper, a test's fault injection) always runs. A failure is never
kept: the check raises before anything is written.

    draw(check, {"texts": text_batches()}, examples, seed_value=s, database=examples_dir(...), explore=0)
    hit = checked_property(cache, key, run)   # key from property_key(...); None: just run()
    run_or_read(session, key, run, backend, check, same)   # the same, noted and said in the session
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import unittest
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import Phase, given, seed
from hypothesis.database import DirectoryBasedExampleDatabase

from encoder_gate.cache import ArtifactCache
from encoder_gate.errors import NotFinite
from encoder_gate.models.spec import ModelSpec
from encoder_gate.runtime.predictions import backend_kind, cacheable

PROPERTIES_RECIPE = 3  # bump when what a kept pass means changes
PASSED_FILE = "passed.json"
#: The example databases' directory inside the artifact cache: one database a model, backend and property.
EXAMPLES_DIR = "examples"


def code_digest(files: Iterable[Path]) -> str:
    """The digest of the files whose code decides the properties (their module, their strategies,
    the encoding they feed through)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def property_seed(model: ModelSpec, backend: str, name: str, code: str, params: Mapping[str, object]) -> int:
    """The seed of a property's fixed examples: from what is judged (the model's content, the backend,
    the property and its parameters, the code of the properties), so the same commit, model and
    configuration draw the same examples everywhere, and another model draws other ones."""
    what = json.dumps([model.content_hash, backend, name, code, {k: str(v) for k, v in params.items()}],
                      sort_keys=True)
    return int.from_bytes(hashlib.sha256(what.encode()).digest()[:8], "big")


def examples_dir(cache_dir: Path, model: ModelSpec, backend: str, name: str,
                 params: Mapping[str, object]) -> Path:
    """The example database of one property of one backend of `model`, inside the artifact cache:
    the failing examples an exploring session found, which every later session replays."""
    which = "-".join([name, *(str(v) for v in params.values())])
    return Path(cache_dir) / EXAMPLES_DIR / model.content_hash[:16] / _safe(backend) / _safe(which)


def _safe(text: str) -> str:
    """`text` as one file name: what is not a letter, digit, `_`, `.` or `-` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def kept_examples(database: Path) -> list[str]:
    """The entries of an example database (relative paths, sorted): what a kept pass is keyed on, so
    a failure found after the pass is replayed, not read past."""
    if not database.is_dir():
        return []
    return sorted(str(p.relative_to(database)) for p in database.rglob("*") if p.is_file())


class _Unshrunk(BaseException):
    """A NotFinite on its way out of hypothesis, which catches every Exception to shrink it."""

    def __init__(self, error: NotFinite) -> None:
        super().__init__(error)
        self.error = error


def _stops_at_not_finite(check: Callable[..., None]) -> Callable[..., None]:
    """`check`, raising its NotFinite past hypothesis: an example whose outputs are no numbers fails
    the property as it is, not shrunk. Shrinking it finds only a shorter text of the same NaN, and
    takes minutes: a session of tiny at 50 texts with a file whose logits are NaN past 24 tokens took
    423 s so, 19 s stopped at each property's first such example, the same failures (AVX2-only AMD
    EPYC, 2026-11-29)."""
    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            check(*args, **kwargs)
        except NotFinite as exc:
            raise _Unshrunk(exc) from None
    return run


def draw(check: Callable[..., None], strategies: Mapping[str, Any], examples: hypothesis.settings, *,
         seed_value: int, database: Path, explore: int, explicit: Sequence[Mapping[str, Any]] = ()) -> None:
    """Run property `check` (its arguments drawn from `strategies`, as hypothesis's `given`):
    `explore` > 0 draws that many random examples, keeping a failure in `database`; 0 replays the
    failures kept in `database`, then draws `examples.max_examples` examples from `seed_value`.
    Either way the `explicit` examples run first, every session. An example whose outputs are no
    numbers (NotFinite) fails it at once, unshrunk (exploring, hypothesis may keep it in `database`,
    and later sessions replay it first: a failure at their first example)."""
    try:
        _draw(_stops_at_not_finite(check), strategies, examples, seed_value=seed_value, database=database,
              explore=explore, explicit=explicit)
    except _Unshrunk as stopped:
        raise stopped.error from None


def _draw(check: Callable[..., None], strategies: Mapping[str, Any], examples: hypothesis.settings, *,
          seed_value: int, database: Path, explore: int, explicit: Sequence[Mapping[str, Any]]) -> None:
    def given_check() -> Callable[..., None]:
        test = given(**strategies)(check)
        for kwargs in reversed(explicit):
            test = hypothesis.example(**kwargs)(test)
        return test

    db = DirectoryBasedExampleDatabase(str(database))
    if explore:  # its reuse phase replays the kept failures first, as every session does
        hypothesis.settings(examples, max_examples=explore, database=db, derandomize=False)(given_check())()
        return
    if kept_examples(database):
        replay = hypothesis.settings(examples, database=db, derandomize=False, phases=(Phase.reuse,))
        # every kept entry of a strategy that changed since (dropped by hypothesis): none to run
        with contextlib.suppress(unittest.SkipTest):
            replay(given(**strategies)(check))()
    fixed = hypothesis.settings(examples, database=None, derandomize=False)
    seed(seed_value)(fixed(given_check()))()


def property_key(name: str, runner: Any, model: ModelSpec, examples: hypothesis.settings, code: str,
                 params: Mapping[str, object]) -> dict[str, object] | None:
    """The key a property's pass is kept under, or None when it must run (a runner whose outputs no
    key can see). `params` hold what else decides its examples (its seed, the kept failures)."""
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
    return "property-" + _safe(f"{backend}-{name}")[:64]


#: What a check's run saw, kept with its pass (a padding property's largest difference), or None.
Seen = Mapping[str, Any] | None


def checked_property(cache: ArtifactCache, key: Mapping[str, object],
                     run: Callable[[], Seen]) -> tuple[bool, Seen]:
    """Run the property (`run` raises on a failure, and returns what it saw) unless its pass is kept
    under `key`; keep a pass with what it saw. (True, what the kept run saw) when the pass was read
    from the cache."""
    seen, entry = cache.get_or_compute(
        _entry_name(str(key["property"]), str(key["backend"])), key, run,
        write=_keep_pass, read=_kept_seen)
    return entry.hit, seen


def _keep_pass(seen: Seen, entry: Path) -> None:
    (entry / PASSED_FILE).write_text(json.dumps({"passed": True, "seen": seen}) + "\n")


def _kept_seen(entry: Path) -> Seen:
    """What the kept run of a passed property saw (None where a pass kept by an older encoder-gate
    recorded nothing)."""
    try:
        kept = json.loads((entry / PASSED_FILE).read_text()).get("seen")
    except (OSError, ValueError, AttributeError):
        kept = None
    return kept if isinstance(kept, dict) else None


def run_or_read(session: Any, key: Mapping[str, object] | None, run: Callable[[], Seen], backend: str,
                check: str, same: str, label: str | None = None) -> Seen:
    """Run backend `backend`'s `check` (`run` raises on a failure, and returns what it saw), or read
    its pass where one is kept under `key` (None: it always runs); what the run saw either way. A pass
    read is noted in the session (GateSession.read_kept_pass: the verdict says what it read from the
    cache) and said: `BACKEND LABEL: passed before on this artifact with the same SAME; read from the
    cache` (LABEL: `check` unless given)."""
    if key is None:
        return run()
    hit, seen = checked_property(session.cache, key, run)
    if hit:
        session.read_kept_pass(backend, check)
        session.progress(f"{backend} {label or check}: passed before on this artifact with the same {same}; "
                         "read from the cache")
    return seen
