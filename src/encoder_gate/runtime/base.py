"""The PR's base in the same session: its configuration, model and backends, read from its checkout.

    base = BaseSide.open(Path("../base"), pr_session)     # --gate-base ../base
    base.pairs                                            # backends configured on both sides
    base.accuracy("onnx-int8")                            # PR vs base on the PR's evaluation texts

The base's `[tool.encoder-gate]` decides what is built (model, backends, their `onnx:` files),
each path resolved in the base's checkout; how and where things run (device, threads, batch
sizes, caches, the evaluation set) is the PR session's. Artifacts are content-addressed, so
whatever the PR did not change is built and predicted once for both sides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_gate.accuracy.checks import CHECKS, bounds_for
from encoder_gate.accuracy.evaluation import Evaluation
from encoder_gate.accuracy.growth import DriftGrowth
from encoder_gate.backends.registry import (
    PREBUILT_PREFIX,
    parse_backend,
    with_prebuilt_file,
)
from encoder_gate.cache import sha256_file
from encoder_gate.config import (
    INT8_RECIPE,
    JUDGED_SCOPE,
    PASS_CRITERIA,
    SERVED_SCOPE,
    GateConfig,
    as_json,
    read_pyproject_table,
)
from encoder_gate.data.datasets import VARIANTS
from encoder_gate.data.readers import one_file
from encoder_gate.errors import GateError
from encoder_gate.models.spec import BUILTIN_MODELS, ModelSpec, tokenizer_files_changed, vocabulary_file
from encoder_gate.runtime.inference import longer_than, max_length
from encoder_gate.runtime.predictions import backend_kind
from encoder_gate.runtime.session import GateSession
from encoder_gate.runtime.versus import AgainstBase
from encoder_gate.runtime.worktree import names_commit, not_carried
from encoder_gate.tasks import DOCUMENT_DEFAULT, THRESHOLD
from encoder_gate.waivers import Waiver

#: How the base's backends are named wherever both sides appear (terminal, reports, verdict).
BASE_PREFIX = "base:"

#: A length no text reaches: the tokenizers' encodings compared whole (tokenizer_note), with no warning
#: of a text longer than the model takes.
UNCUT = 1_000_000


def _in_checkout(value: str, root: Path, what: str, also: Path | None = None) -> str:
    """`what` (a model, dataset or ONNX file) resolved inside the checkout `root` (or under `also`,
    the base's model directory, for an ONNX file). For the base's checkout, a relative path it
    lacks but the PR's working directory has is an error: resolved there, the PR would be compared
    with its own files and pass (with `root` the working directory itself, that cannot happen).
    A name found in neither (a hub id, a bundled dataset) is left for the loaders to resolve."""
    candidate = Path(value).expanduser()
    if candidate.is_absolute() or value in BUILTIN_MODELS:
        return value
    for place in (root, also):
        if place is not None and (place / candidate).exists():
            return str((place / candidate).resolve())
    if candidate.exists():
        why = "".join(f"; {reason}" for _, reason in not_carried(Path.cwd(), [candidate]))  # where git says
        raise GateError(
            f"the base's {what} {value!r} is not in the base's checkout {root} but is in the PR's "
            f"({candidate.resolve()}{why}): the PR would be compared with its own files. Put the base's "
            f"{what} into its checkout (fetch its weights there as the PR's job fetches the PR's), or "
            "name an absolute path in the base's [tool.encoder-gate]")
    return value


def _same_dataset(base: str, pr: str) -> bool:
    """The same source: equal names, or two files (one in each checkout) with equal bytes."""
    if base == pr:
        return True
    return Path(base).is_file() and Path(pr).is_file() and sha256_file(Path(base)) == sha256_file(Path(pr))


def _gold_by_text(dataset: Any) -> dict[str, tuple[frozenset[str], ...]]:
    """Each text's gold labels by name (a text of several rows: each row's, in order); empty for texts
    without gold."""
    names, labels = tuple(dataset.label_names), getattr(dataset, "labels", None)
    out: dict[str, tuple[frozenset[str], ...]] = {}
    if labels is None or not names or len(labels) != len(dataset.texts):
        return out
    for text, row in zip(dataset.texts, labels, strict=True):
        gold = frozenset(n for n, on in zip(names, row, strict=True) if on)
        out[str(text)] = (*out.get(str(text), ()), gold)
    return out


def _judged_on(config: GateConfig, dataset: str) -> tuple[str, str]:
    """What a side's accuracy is judged on, and how a note names it: its texts file (unlabelled texts
    replace the dataset), or its dataset (`dataset`: as resolved for the comparison)."""
    if config.texts is not None:
        return str(config.texts), f"texts {config.texts.name!r}"
    pair = f", paired with {config.pair_column!r}" if config.pair_column else ""
    graded = f" relevant from grade {config.relevant_grade:g}" if config.relevant_grade is not None else ""
    # a split where the source has splits (one file has none: "split test" there misled), the variant
    # where it is not the default
    chosen = [*([f"split {config.split}"] if not one_file(dataset) else []),
              *([config.dataset_variant] if config.dataset_variant != VARIANTS[0] else [])]
    read = f"{', '.join(chosen)}; " if chosen else ""
    return dataset, (f"dataset {dataset!r} ({read}text {config.text_column!r}{pair}, labels "
                     f"{config.label_column!r}{graded})")


def _backend_in_checkout(name: str, root: Path, model: str) -> str:
    """The base's backend `name`, an `onnx:PATH` resolved in its checkout or its model directory."""
    model_dir = Path(model) if Path(model).is_absolute() and Path(model).is_dir() else None
    return with_prebuilt_file(name, lambda path: _in_checkout(path, root, "ONNX file", also=model_dir))


def base_config(base_dir: Path, pr: GateConfig, narrowed: bool = False,
                chosen: ChosenFiles | None = None) -> GateConfig:
    """The base checkout's configuration, its paths resolved in it, run the PR session's way;
    `narrowed`: the PR session's backends were chosen on the command line (--gate-backends), and the
    base runs the same kinds of its own (the choice is the session's, not a change the PR made);
    `chosen`: the command line's model and dataset, both sides' (base_table_config)."""
    return run_as_pr(base_table_config(base_dir, pr, narrowed, chosen), pr)


#: What the session's command line gave of what to gate (--gate-model, --gate-dataset: each as given, or
#: None) and the PR's project root they were given in: both sides' (chosen_in).
@dataclass(frozen=True)
class ChosenFiles:
    model: str | None
    dataset: str | None
    project: Path


def chosen_in(root: Path, value: str, project: Path, what: str) -> str:
    """A --gate-model or --gate-dataset of the session's command line in the base's checkout `root`: the
    same path below it as below the PR's project, or as given where it names no path there (a builtin, a
    hub id, a file outside the project: both sides' alike). A second model of a repository gated by
    --gate-model was compared with the base's pyproject model (a trial's topics PR of a README line:
    "labels differ", FAIL, and its real damage never set against the base's topics model). A model the
    base lacks has nothing to compare with; a dataset it lacks is the PR's (both sides are judged on the
    PR's texts)."""
    given = Path(value).expanduser()
    if value in BUILTIN_MODELS or not given.exists():
        return value
    below = os.path.relpath(given.resolve(), project.resolve())
    if below == ".." or below.startswith(".." + os.sep):
        return str(given.resolve())
    if (root / below).exists():
        return str((root / below).resolve())
    if what == "dataset":
        return str(given.resolve())
    raise GateError(f"--gate-{what} {value}: the base's checkout {root} has no {below}, so this {what} has "
                    "nothing of the base's to compare with (a model the PR adds): gate it on its own this "
                    "once, without --gate-base or --gate-base-ref")


def run_as_pr(cfg: GateConfig, pr: GateConfig, served: Collection[str] = (),
              chosen: Collection[str] = ()) -> GateConfig:
    """The base's configuration run the PR session's way: how it runs is the PR session's (where its
    files go, the device, threads, batch sizes), and both sides are judged on the same PR's texts (its
    `limit`; JUDGED_SCOPE: scope_changes names a PR that set it otherwise than its base). What it
    builds (its INT8 recipe too) is the base's own: with the PR's int8-weights both sides built the
    PR's file, "unchanged" (walk AF). What it serves with (SERVED_SCOPE: `max_tokens`) is the PR
    session's, but for those in `served` (served_own: the base's own). `chosen`: the settings the
    session's command line gave, which are both sides' (its `--gate-thresholds`: each side otherwise
    serves its own thresholds; its `--gate-min-slowdown`, a pass criterion the PR did not change; its
    `--gate-label-column` for a second model of the repository, whose base read the first's column)."""
    session = {"cache_dir": pr.cache_dir, "report_dir": pr.report_dir, "device": pr.device,
               "threads": pr.threads, "eval_threads": pr.eval_threads, "batch_sizes": pr.batch_sizes,
               "eval_batch_size": pr.eval_batch_size, "limit": pr.limit,
               **{name: getattr(cfg if name in served else pr, name) for name in SERVED_SCOPE}}
    return cfg.with_(**session, **{name: getattr(pr, name) for name in chosen if name not in session
                                   and (name in PASS_CRITERIA or name in JUDGED_SCOPE)})


def served_own(base: GateConfig, pr_own: GateConfig | None, chosen: Collection[str] = ()) -> tuple[str, ...]:
    """The settings of SERVED_SCOPE each side is fed its own of: those the PR's pyproject (`pr_own`)
    sets otherwise than the base's, where no command line chose the session's (`chosen`)."""
    if pr_own is None:
        return ()
    return tuple(name for name in SERVED_SCOPE if name not in chosen
                 and getattr(base, name) != getattr(pr_own, name))


def base_table_config(base_dir: Path, pr: GateConfig, narrowed: bool = False,
                      chosen: ChosenFiles | None = None) -> GateConfig:
    """The base checkout's configuration as its pyproject sets it, its paths resolved in it
    (base_config runs it the PR session's way); its model and dataset the command line's where it gave
    them (`chosen`): the session's choice of what to gate, both sides' (chosen_in)."""
    root = base_dir.expanduser()
    if not root.is_dir():
        # (the option's path arrives resolved against the working directory)
        ref = os.path.relpath(root) if root.is_absolute() else str(root)
        if not ref.startswith("..") and names_commit(Path.cwd(), ref):
            raise GateError(f"--gate-base {ref} is not a directory, but it names a commit of this "
                            f"repository: --gate-base-ref {ref} checks that commit out in a git worktree "
                            "and compares with it")
        raise GateError(f"--gate-base {base_dir} is not a directory: pass a checkout of the PR's "
                        "base (git worktree add ../base origin/main; the workflow checks it out), or a git "
                        "ref with --gate-base-ref")
    # the base as the user named it: a ref's worktree is a temporary directory they never gave
    from_ref = pr.base is None and bool(pr.base_ref)
    named = f"--gate-base-ref {pr.base_ref}" if from_ref else f"--gate-base {base_dir}"
    if not (root / "pyproject.toml").is_file():
        fix = ("that commit has no pyproject.toml (it predates `encoder-gate init`?), so there is nothing to "
               "compare with" if from_ref else "has no pyproject.toml: pass the root of the base's checkout")
        raise GateError(f"{named}: {fix}")
    table = dict(read_pyproject_table(root))
    if not table:
        raise GateError(f"{named}: its pyproject.toml has no [tool.encoder-gate] table, so there is nothing "
                        "to compare with (is it the base of this repository, and was `encoder-gate init` "
                        "committed there?)")
    for what in ("model", "dataset"):
        if chosen is not None and (given := getattr(chosen, what)) is not None:
            table[what] = chosen_in(root, given, chosen.project, what)
        elif what in table:
            table[what] = _in_checkout(str(table[what]), root, what)
    backends = table.get("backends", GateConfig().backends)
    if isinstance(backends, str):
        backends = [b.strip() for b in backends.split(",") if b.strip()]
    model_dir = str(table.get("model", GateConfig().model))
    table["backends"] = [_backend_in_checkout(str(b), root, model_dir) for b in backends]
    if narrowed:
        kinds = {backend_kind(n) for n in pr.backends}
        table["backends"] = [b for b in table["backends"] if backend_kind(b) in kinds] or table["backends"]
    try:
        cfg = GateConfig.from_sources(table, {}, root.resolve())
    except GateError as exc:  # named as the base's, not this checkout's, pyproject
        raise GateError(f"the base's [tool.encoder-gate] ({root / 'pyproject.toml'}): {exc}") from None
    return cfg


def criteria_changes(base: GateConfig, pr: GateConfig, task: str | None = None,
                     declared: tuple[Sequence[str], Sequence[str]] | None = None,
                     scope: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
                     own: Sequence[str] = ()) -> list[str]:
    """Each pass criterion (`PASS_CRITERIA`) and build setting (`INT8_RECIPE`) the PR's
    configuration sets otherwise than the base's, with both values: the PR's pyproject decides its own
    bounds and recipes, so the verdict names them. A tolerance is named bound by bound, with the
    default it replaces (`task`: the model's, for the defaults). `declared`: the base's and the PR's
    backends as their pyproject names them, where the session ran fewer (--gate-backends): what the
    PR changed, not what the command line chose (walk AF). `scope`: the base's and the PR's settings of
    what is judged as their pyprojects set them, and `own`: those each side was fed its own of
    (scope_changes)."""
    out = []
    for name in PASS_CRITERIA:
        theirs, ours = as_json(getattr(base, name)), as_json(getattr(pr, name))
        if name == "backends":  # an onnx: file by its name, wherever each checkout keeps it
            theirs, ours = declared or (theirs, ours)
            theirs, ours = [backend_kind(n) for n in theirs], [backend_kind(n) for n in ours]
        if theirs == ours:
            continue
        if name == "tolerances":
            out += tolerance_changes(base.tolerances, pr.tolerances, task)
            continue
        if name == "thresholds":  # what each side serves, and is judged at
            def said(value: Any) -> str:
                if isinstance(value, dict) and value:
                    low, high = min(value.values()), max(value.values())
                    return f"a table of {len(value)} labels, {low:g} to {high:g}"
                return {"fixed": "0.5 (the model card's)", "tuned": "tuned on the validation split"}.get(
                    str(value), repr(value))

            moved = ([f"{k} {ours.get(k)} (base: {theirs.get(k)})" for k in sorted({*theirs, *ours})
                      if theirs.get(k) != ours.get(k)] if isinstance(theirs, dict) and isinstance(ours, dict)
                     else [f"{said(ours)} (base: {said(theirs)})"])
            if len(moved) > 4:  # every label of a model of 28 moved: the first, and how many
                moved = [*moved[:3], f"and {len(moved) - 3} more labels"]
            out.append(f"the PR changed the thresholds it serves: {', '.join(moved)}; each side's F1 is "
                       "scored at its own")
            continue
        ours, theirs = (("unset (the default)" if v is None else repr(v)) for v in (ours, theirs))
        out.append(f"the PR changed a pass criterion: {name.replace('_', '-')} {ours} (base: {theirs})")
    int8 = [b for b in (*base.backends, *pr.backends)
            if b.startswith(PREBUILT_PREFIX) or parse_backend(b).number_format == "int8"]
    for name in INT8_RECIPE if int8 else ():  # a recipe no backend of either side is built by: no change
        theirs, ours = getattr(base, name), getattr(pr, name)
        if theirs != ours:
            out.append(f"the PR changed what is built: {name.replace('_', '-')} {ours!r} (base: {theirs!r}); "
                       "each side builds its own INT8 file, and they are compared")
    return out + waiver_changes(base.waivers, pr.waivers) + scope_changes(*(scope or ({}, {})), own=own)


def scope_changes(base: Mapping[str, Any], pr: Mapping[str, Any], own: Sequence[str] = ()) -> list[str]:
    """Each setting of what is judged (config.JUDGED_SCOPE) the PR's pyproject sets otherwise than the
    base's (`base`, `pr`: each side's, as its pyproject sets them), with both values: both sides ran
    the PR's, so the base was judged on what the PR chose too; or, those in `own` (served_own), each
    side its own."""
    def column(name: Any) -> str:
        return repr(name) if name else "none"

    said = {"limit": lambda v: f"{v} texts" if v else "every text",
            "max_tokens": lambda v: f"{v} tokens a text", "ab_budget": lambda v: f"{v:g} s a speed cell",
            "text_column": column, "pair_column": column, "label_column": column}
    return [f"the PR changed what is judged: {name.replace('_', '-')} {said[name](pr[name])} (base: "
            f"{said[name](base[name])}); "
            + ("each side was fed its own" if name in own else "both sides ran the PR's")
            for name in JUDGED_SCOPE if name in base and name in pr and base[name] != pr[name]]


def tolerance_changes(base: Mapping[str, Mapping[str, float]], pr: Mapping[str, Mapping[str, float]],
                      task: str | None = None) -> list[str]:
    """Each bound of [tool.encoder-gate.tolerances] the PR sets otherwise than the base, with the value
    each side judges by: the base's own setting, or the default it leaves ("drift_max of onnx-int8 0.9
    (base: 0.6, the default)"), not the `{}` of a table the base does not have."""
    def value(table: Mapping[str, Mapping[str, float]], backend: str, bound: str) -> str:
        if bound in (table.get(backend) or {}):
            return f"{table[backend][bound]:g}"
        try:  # what this side judges by: a table it inherits (onnx-int8's for ~saturating), or the default
            bounds = bounds_for(backend, table, task=task or DOCUMENT_DEFAULT)
            return f"{bounds.of(bound):g}" + ("" if bound in bounds.overridden else ", the default")
        except (GateError, KeyError, AttributeError):
            return "the default"

    out = []
    for backend in sorted(set(base) | set(pr)):
        mine, theirs = pr.get(backend) or {}, base.get(backend) or {}
        for bound in sorted(set(mine) | set(theirs)):
            if mine.get(bound) != theirs.get(bound):
                out.append(f"the PR changed a pass criterion: tolerance {bound} of {backend} "
                           f"{value(pr, backend, bound)} (base: {value(base, backend, bound)})")
    return out


def _looser(accept: float | None, was: float | None, check: str) -> bool:
    """Whether a waiver accepting up to `accept` accepts more than one accepting up to `was`: no
    bound accepts every value; otherwise by the check's direction (a bound's own, "at least" or
    "at most"; `speed` and `vs base` waivers have no unit of their own, so any change counts)."""
    if accept is None or was is None:
        return accept is None and was is not None
    record = CHECKS.get(check)
    if record is None:
        return accept != was
    return accept > was if record.direction == "at most" else accept < was


def waiver_changes(base: Sequence[Waiver], pr: Sequence[Waiver]) -> list[str]:
    """Each waiver the PR adds, widens (a looser `accept`, or a label dropped so every label is
    covered) or extends (a later `until`) against its base, named like a changed pass criterion:
    a waiver accepts a failure, so a PR that grants itself one must say so in its verdict."""
    def key(w: Waiver) -> tuple[str, str, str | None]:
        return backend_kind(w.backend), w.check, w.label

    theirs = {key(w): w for w in base}
    out = []
    for w in pr:
        was = theirs.get(key(w)) or (theirs.get((key(w)[0], w.check, None)) if w.label else None)
        if was is None and w.label is None:  # covering every label where the base waived one
            was = next((b for k, b in theirs.items() if k[:2] == key(w)[:2]), None)
        if was is None:
            out.append(f"the PR adds a waiver: {w.names()} by {w.owner} until {w.until} ({w.reason})"
                       + (f", accepting up to {w.accept:g}" if w.accept is not None else ""))
            continue
        wider = []
        if was.label is not None and w.label is None:
            wider.append(f"every label (base: label {was.label})")
        if _looser(w.accept, was.accept, w.check):
            wider.append(f"accept {'any value' if w.accept is None else f'{w.accept:g}'} (base: "
                         f"{'any value' if was.accept is None else f'{was.accept:g}'})")
        if wider:
            out.append(f"the PR widens a waiver: {w.names()}: {'; '.join(wider)}")
        if w.until > was.until:
            out.append(f"the PR extends a waiver: {w.names()} until {w.until} (base: {was.until})")
    return out


@dataclass
class BaseSide(AgainstBase):
    """The base's session beside the PR's, and the A/B pairs between them (each backend's accuracy
    against the base's: :class:`encoder_gate.runtime.versus.AgainstBase`)."""

    session: GateSession  # the base's own (its config, model and runners)
    pr: GateSession
    base_dir: Path
    pairs: dict[str, str] = field(default_factory=dict)  # PR backend name -> the base's name for it
    _evaluations: dict[str, Evaluation] = field(default_factory=dict)
    _growths: dict[str, DriftGrowth | None] = field(default_factory=dict)
    _identities: dict[str, object] = field(default_factory=dict)  # the base's artifact identity, per backend
    #: Where the base's predictions of each PR backend came from: "cache" (an earlier session computed
    #: them on the base's artifact and these texts), "computed" (this session) or "the PR's" (the same
    #: artifact: unchanged). ab.json's `base_predictions`, which the verdict repeats.
    predicted: dict[str, str] = field(default_factory=dict)
    #: The backends the base's pyproject names (its session runs fewer under --gate-backends)
    declared: tuple[str, ...] = ()
    #: What the base's pyproject judges on (config.JUDGED_SCOPE); its session runs the PR's
    scope: dict[str, Any] = field(default_factory=dict)
    #: Of config.SERVED_SCOPE, what the base was fed its own of (served_own)
    fed_own: tuple[str, ...] = ()
    #: The PR's pyproject alone (empty where it was not read): its JUDGED_SCOPE settings and backends,
    #: set against the base's in what the PR changed (criteria_changes)
    pr_scope: dict[str, Any] = field(default_factory=dict)
    pr_declared: tuple[str, ...] = ()

    @classmethod
    def open(cls, base_dir: Path, pr: GateSession, progress: Callable[[str], None] | None = None,
             narrowed: bool = False, pr_own: GateConfig | None = None,
             chosen: Collection[str] = (), files: ChosenFiles | None = None) -> BaseSide:
        """The base at `base_dir` beside the PR's session; `pr_own`: the PR's configuration as its
        pyproject alone sets it (what it serves with, each side its own: run_as_pr); `chosen`: the
        settings the session's command line gave (both sides', and no change of the PR's); `files`:
        its --gate-model and --gate-dataset (the base gates the same of its own checkout)."""
        own = base_table_config(base_dir, pr.config, narrowed, files)
        fed_own = served_own(own, pr_own, chosen)
        cfg = run_as_pr(own, pr.config, fed_own, chosen)
        say = progress or pr.progress
        session = GateSession(cfg, progress=lambda message: say(f"base: {message}"))
        base_names = {backend_kind(n): n for n in cfg.backends}
        pairs = {n: base_names[backend_kind(n)] for n in pr.config.backends if backend_kind(n) in base_names}
        declared = cfg.backends
        if narrowed:  # the names the base's pyproject gives, to say what the PR changed (never a refusal)
            try:
                declared = base_config(base_dir, pr.config, chosen=files).backends
            except GateError:
                declared = cfg.backends
        return cls(session=session, pr=pr, base_dir=base_dir, pairs=pairs, declared=declared,
                   scope={name: getattr(own, name) for name in JUDGED_SCOPE},
                   fed_own=fed_own,
                   pr_scope={name: getattr(pr_own, name) for name in JUDGED_SCOPE
                             if name not in chosen} if pr_own else {},
                   pr_declared=pr_own.backends if pr_own is not None else ())

    @property
    def base_model(self) -> ModelSpec:
        return self.session.model

    @property
    def base_model_name(self) -> str:
        """The base's model by its path in the base's checkout and the ref it was checked out at
        ("models/clf at main"): its worktree's path (/tmp/encoder-gate-base-1b5c77a4db32/models/clf) named a
        place no reviewer knows."""
        name = self.session.model.name
        try:
            inside = Path(name).resolve().relative_to(Path(self.base_dir).resolve()).as_posix()
        except (ValueError, OSError):
            return name  # a builtin or hub model: its own name
        ref = self.pr.config.base_ref
        return f"{inside} at {ref}" if ref and self.pr.config.base is None else inside

    @property
    def own_criteria(self) -> GateSession:
        return self.session  # its configuration is the base's pyproject's pass criteria

    @property
    def other_thresholds(self) -> np.ndarray | None:
        """The thresholds the base serves, where its pyproject sets others than the PR's (a table,
        "tuned" on its own model, or the model card's 0.5), else None. Each side is scored as it
        decides: a PR that moves every threshold to 0.99 serves an F1 of 0, which set against the base's
        scored at the PR's thresholds (0 too) passed, walk 43. Both "tuned": the base's tuned on its
        own model, where the PR changed the model."""
        theirs = as_json(self.session.config.thresholds)
        retuned = theirs == "tuned" and self.session.model.content_hash != self.pr.model.content_hash
        if theirs == as_json(self.pr.config.thresholds) and not retuned:
            return None
        served = self.session.thresholds
        return np.full(len(self.session.model.label_names), THRESHOLD) if served is None else served

    @property
    def only_in_pr(self) -> list[str]:
        return [n for n in self.pr.config.backends if n not in self.pairs]

    @property
    def only_in_base(self) -> list[str]:
        return [n for n in self.session.config.backends if n not in self.pairs.values()]

    @property
    def model_note(self) -> str | None:
        """The architecture the PR changed (a BERT base, a RoBERTa PR: another model and tokenizer,
        compared on the same texts, which no line said), or None."""
        b, p = self.session.model.model_type, self.pr.model.model_type
        if not b or not p or b == p:
            return None
        changed = tokenizer_files_changed(self.session.model.path, self.pr.model.path)
        same = not any(vocabulary_file(name) for name in changed)  # (a trial's: the same vocabulary)
        tokenizer = "the same tokenizer vocabulary" if same else "another tokenizer"
        return (f"the PR's model is a {p} ({self.pr.model.name}), the base's a {b} "
                f"({self.base_model_name}): another architecture, {tokenizer}, each judged on the same "
                "texts")

    @property
    def tokenizer_note(self) -> str | None:
        """How the PR's tokenizer files changed the encoding of the evaluation texts, where they differ
        from the base's and the architecture does not (model_note says that): the texts each side's
        tokenizer, as transformers loads it, encodes otherwise (uncut: a cut is fed_note's), or that none
        is (an XLM-R PR that lowercased in tokenizer.json passed "outputs identical to the base's": that
        tokenizer's class builds its normalizer itself, and nothing said the file's change reached no
        text). None: the same files."""
        b, p = self.session.model, self.pr.model
        if b.model_type != p.model_type or b.content_hash == p.content_hash:  # (its hash covers them all)
            return None
        changed = tokenizer_files_changed(b.path, p.path)
        if not changed:
            return None
        texts = self.pr.dataset.texts  # both sides' evaluation set

        def encoded(tokenizer: Any) -> list[list[int]]:
            return list(tokenizer(list(texts), truncation=True, max_length=UNCUT)["input_ids"])

        moved = sum(theirs != ours for theirs, ours in zip(encoded(self.session.tokenizer),
                                                           encoded(self.pr.tokenizer), strict=True))
        files = f"the PR changed its tokenizer's {', '.join(changed)}"
        if moved:
            return (f"{files}: {moved} of the {len(texts)} evaluation texts {'is' if moved == 1 else 'are'} "
                    "encoded otherwise than by the base's tokenizer (each side judged with its own)")
        if max_length(self.session.tokenizer) != max_length(self.pr.tokenizer):
            return None  # only where each text is cut: fed_note's
        return (f"{files}, yet its tokenizer, as transformers loads it, encodes each of the {len(texts)} "
                "evaluation texts as the base's does: the change reaches no service that loads the model "
                "with transformers, and a service that reads those files otherwise (the tokenizers library "
                "on tokenizer.json) was not judged here")

    @property
    def fed_note(self) -> str | None:
        """The tokens a text each side's model is fed, where they differ and no setting of the PR's says
        so (its tokenizer's model_max_length cut: a user's PR from 128 to 64 failed on a label, and
        nothing named the cut), or None."""
        if self.session.config.max_tokens != self.pr.config.max_tokens:
            return None  # the settings' change is named (criteria_changes)
        theirs, ours = max_length(self.session.tokenizer), max_length(self.pr.tokenizer)
        if theirs == ours:
            return None
        shorter, tokenizer = ("PR", self.pr.tokenizer) if ours < theirs else ("base", self.session.tokenizer)
        texts = self.pr.dataset.texts  # both sides' evaluation set
        cut = longer_than(tokenizer, texts, min(ours, theirs))
        return (f"the PR's model is fed at most {ours} tokens a text, the base's {theirs} (each side's "
                "tokenizer, its model_max_length and the model's positions): a text longer than "
                f"{min(ours, theirs)} tokens is cut shorter on the {shorter}, {cut} of the {len(texts)} "
                "evaluation texts")

    @property
    def dataset_note(self) -> str | None:
        """Why the base's own evaluation set differs from the one both sides are judged on, or None."""
        b, p = self.session.config, self.pr.config
        mine = _in_checkout(p.dataset, Path.cwd(), "dataset")
        (base_source, base_said), (pr_source, _) = _judged_on(b, b.dataset), _judged_on(p, mine)
        same_kind = (b.texts is None) == (p.texts is None)
        same_source = same_kind and _same_dataset(base_source, pr_source)  # (hashes both files once)
        read = ("split", "dataset_variant", "text_column", "label_column", "pair_column", "relevant_grade")
        same_split = all(getattr(b, key) == getattr(p, key) for key in read)
        if same_source and (b.texts is not None or same_split):
            return None
        edited = (same_kind and not same_source and Path(base_source).is_file() and Path(pr_source).is_file()
                  and Path(base_source).name == Path(pr_source).name)
        changed = f"; the PR changed its contents{self._rows_changed()}" if edited else ""
        return (f"the base configured {base_said}{changed}"  # walk AF: not a path alone
                f"; both sides are judged on the PR's, {_judged_on(p, p.dataset)[1]}")

    def _rows_changed(self) -> str:
        """How the PR's evaluation set differs from the base's own in rows and texts (': 400 rows on the
        base, 300 in the PR; 100 of the base's texts are not in the PR's, 0 new'): a PR that drops the
        rows its model gets wrong passes against the base on the rest, and a user saw only "the PR
        changed its contents". Empty where the base's set cannot be read any more (a note only)."""
        try:
            base_set, pr_set = self.session.dataset, self.pr.dataset
        except Exception:
            return ""
        theirs, ours = base_set.texts, pr_set.texts
        base_texts, pr_texts = set(map(str, theirs)), set(map(str, ours))
        gone, new = len(base_texts - pr_texts), len(pr_texts - base_texts)
        rows = "row" if len(theirs) == 1 else "rows"
        # a pair whose two texts the PR swapped (its premise and hypothesis columns): said as such, not
        # as a text gone and one new (a trial's 287 of 287)
        swapped = sum(isinstance(t, tuple) and str(t[::-1]) in base_texts and str(t) not in base_texts
                      for t in set(ours))
        base_gold, pr_gold = _gold_by_text(base_set), _gold_by_text(pr_set)
        relabelled = sum(base_gold[t] != pr_gold[t] for t in base_gold.keys() & pr_gold.keys())
        other = (f"; labelled otherwise in the PR: {relabelled} of the texts both have (both sides are "
                 "scored against the PR's gold, so the base's F1 here is not its own verdict's)"
                 if relabelled else "")
        turned = (f" ({swapped} of them the base's pairs with their two texts swapped)" if swapped else "")
        return (f": {len(theirs)} {rows} on the base, {len(ours)} in the PR; {gone} of the base's texts "
                f"are not in the PR's, {new} new{turned}{other}")

    def runner(self, name: str) -> Any:
        """The base's runner for the PR backend `name`."""
        return self.session.runner(self.pairs[name])

    def shared_runner(self, name: str, pr_runner: Any) -> Any | None:
        """`pr_runner` itself when the base's backend for `name` would compute with the same
        artifact (its backend's `artifact_identity` equals the PR runner's `prediction_identity`:
        the same file bytes, or the same model files, and library versions), else None. The base's
        runner is then never loaded: at 125M weights a second copy of an unchanged backend is
        0.5 GB and its arena, for a speed cell that times nothing."""
        tell = getattr(parse_backend(self.pairs[name]), "artifact_identity", None)
        ours = getattr(pr_runner, "prediction_identity", None)
        if tell is None or ours is None:
            return None
        if name not in self._identities:  # hashing a 500 MB file takes a second: once per backend
            try:
                self._identities[name] = tell(self.session.context(self.pairs[name]))
            except GateError:
                return None  # the base's backend cannot be built: its own runner() says why
        return pr_runner if self._identities[name] == ours() else None

    def release(self, name: str) -> None:
        """Give back the base's runner for the PR backend `name` (its predictions stay)."""
        if name in self.pairs:
            self.session.release(self.pairs[name])

    def predictions(self, name: str) -> np.ndarray:
        """The base's outputs on the PR's evaluation texts (cached by the base's artifact). An
        unchanged backend's are the PR's own (:meth:`unchanged`): the base's runner is not opened
        to look them up."""
        if self.unchanged(name):
            self.predicted[name] = "the PR's"
            return self.pr.predictions(name)
        preds, hit = self.session.predict_on(self.pairs[name], self.pr.dataset.texts)
        self.predicted[name] = "cache" if hit else "computed"
        return preds

    def unchanged(self, name: str) -> bool:
        """Whether the base would compute exactly what the PR does for backend `name`: the same
        model files (tokenizer included), the same artifact (:meth:`shared_runner`), the same
        evaluation batch size and device, fed the same tokens (SERVED_SCOPE: each side its own)."""
        base, pr = self.session, self.pr
        same_run = all(getattr(base.config, k) == getattr(pr.config, k)
                       for k in ("eval_batch_size", "device", *SERVED_SCOPE))
        if base.model.content_hash != pr.model.content_hash or not same_run:
            return False
        try:
            runner = pr.runner(name)
        except GateError:
            return False
        return self.shared_runner(name, runner) is not None

    def close(self) -> None:
        self.session.close()
