"""``encoder-gate init``: scaffold the gate into a user's own repository.

Three things go into the project directory, and nothing is written until every one of
them has been checked (an existing file or ``[tool.encoder-gate]`` table is refused
without ``force``, so a refusal writes nothing):

1. ``[tool.encoder-gate]`` in ``pyproject.toml``: the model, the backends (plus any ONNX
   files shipped in the model directory, as ``onnx:PATH``), the dataset or the unlabelled
   texts, the dataset's columns when they are not the defaults, and the gate's batch sizes.
   The table is spliced into the file's text, so every other byte (tables, comments,
   formatting) stays as it was; the result is checked by parsing it back.
2. the thin test modules of :data:`THIN_MODULES`, which only import the tests shipped in
   :mod:`encoder_gate.suite`, so upgrading encoder-gate upgrades the tests;
3. ``.github/workflows/encoder-gate.yml``: a pull-request workflow that benchmarks the
   base, then runs the accuracy gate and the compared benchmarks on the PR, and posts the
   verdict as one PR comment. It installs encoder-gate the way it is installed where init runs
   (:mod:`encoder_gate.commands.install_source`); when the runner may not manage that, a
   warning quotes the workflow's line to edit.

:func:`plan_init` reads and validates (and renders every file's new content);
:func:`write_plan` writes; :func:`run_init` does both.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from encoder_gate import __version__
from encoder_gate.accuracy.ranking import MRR, NDCG, ranks
from encoder_gate.accuracy.thresholds import per_label, read_file
from encoder_gate.backends.base import Device
from encoder_gate.backends.registry import (
    DEFAULT_BACKENDS,
    check_prebuilt_files,
    is_backend_name,
    known_backends,
)
from encoder_gate.commands.columns import detect_columns, first_row
from encoder_gate.commands.install_source import InstallSource, detect_install_source, with_gpu
from encoder_gate.commands.layout import (
    GATE_DIR,
    GITIGNORE,
    PYPROJECT,
    TABLE_NAME,
    THIN_MODULES,
    WORKFLOW_PATH,
    workflow_path,
)
from encoder_gate.commands.pyproject import (
    addopts_problems,
    configures_pytest,
    has_gate_table,
    kept_settings,
    merge_pyproject,
    pin_rootdir,
)
from encoder_gate.commands.workflow import render_workflow
from encoder_gate.config import DEFAULT_LABEL_COLUMN, DEFAULT_TEXT_COLUMN
from encoder_gate.data.datasets import is_sentiment_labels, load_dataset
from encoder_gate.data.labels import GO_EMOTIONS_LABELS
from encoder_gate.data.pairs import has_queries, pair_partner
from encoder_gate.data.readers import READERS, text_lines
from encoder_gate.errors import GateError
from encoder_gate.models.spec import BUILTIN_MODELS, read_head
from encoder_gate.runtime.dependency_files import uninstalled_note
from encoder_gate.runtime.worktree import default_branch, in_repository, not_carried, where_in_repository

INIT_BATCH_SIZES = (1, 8)
# One intra-op thread per backend: torch eager's times swing by orders of magnitude when its
# threads compete with other load (shared CI runners), which makes speedups over it noise.
INIT_THREADS = 1
# The F1 rule for a PR gate: fail only when the whole 95% CI of the F1 change lies below one
# point. Measured on the default model's healthy INT8 over 200 half-splits (docs/noise.md, "The accuracy
# gate"): `point` (MLPerf's 99%, the package default) failed 31% of them,
# `regression` 1%.
INIT_F1_RULE = "regression"
#: Label names an NLI model's head has (MNLI, SNLI, XNLI): one that is fed one text a row is warned about.
NLI_LABELS = frozenset({"entailment", "contradiction", "not_entailment"})


@dataclass(frozen=True)
class InitRequest:
    """What ``encoder-gate init`` was asked for. Relative paths are looked up in the current
    directory first, then in ``root``."""

    model: str
    root: Path = Path(".")
    dataset: str | None = None
    texts: str | None = None
    backends: tuple[str, ...] | None = None  # None: DEFAULT_BACKENDS plus the model's ONNX files
    text_column: str | None = None
    label_column: str | None = None
    pair_column: str | None = None  # each row's second text (a sentence pair's): detected where None
    relevant_grade: float | None = None  # a reranker's graded relevance: a row relevant from this grade on
    force: bool = False
    shards: int = 1  # gate jobs the workflow spreads the backends over (docs/shards.md)
    device: Device = "cpu"  # where the gate computes: cuda writes a GPU runner's workflow (`runner`)
    runner: tuple[str, ...] = ()  # the labels of the runner the gate jobs run on (default ubuntu-latest)
    thresholds: str | None = None  # a JSON file of each label's threshold, as the service decides at them


@dataclass(frozen=True)
class PlannedFile:
    """One file ``init`` writes: its path relative to the root, its new content, and the line
    to print once it is written."""

    path: str
    content: str
    action: Literal["wrote", "updated"]
    detail: str = ""

    def line(self, root: Path) -> str:
        shown = Path(os.path.normpath(root / self.path)).as_posix()  # (a subdirectory's workflow: ../..)
        return f"{self.action} {shown}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class InitPlan:
    """Everything ``init`` will write, checked; ``notes`` go to stdout, ``warnings`` to stderr."""

    root: Path
    table: dict[str, Any]
    files: tuple[PlannedFile, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


# --- the whole job --------------------------------------------------------------------------


def plan_init(request: InitRequest, install: InstallSource | None = None) -> InitPlan:
    """Validate the request and render every file; raises GateError, writes nothing. ``install``:
    what the workflow installs encoder-gate from (None: the way it is installed here)."""
    root = request.root
    if root.exists() and not root.is_dir():
        raise GateError(f"{root} is not a directory; pass the project directory to scaffold into")
    project, top, workflow = project_in_repository(root)  # a monorepo's second model: its own project
    notes: list[str] = []
    warnings: list[str] = []
    model_value, model_dir = locate_model(request.model, root, warnings)
    head = None
    if model_dir is not None:  # its head read as the session reads it: what it would refuse, said now
        try:
            head = read_head(model_dir)
        except GateError as exc:
            warnings.append(f"`pytest accuracy` will stop at its start on this model: {exc}")
        else:
            warnings += [head.label2id_note] if head.label2id_note else []
    model_labels = _model_labels(model_dir)  # (config.json read once, for every use below)
    table: dict[str, Any] = {"model": model_value}
    table["backends"] = list(_backends(request.backends, model_dir, root, notes))
    if request.dataset is not None:
        dataset = _existing_file(request.dataset, root, "dataset", "--dataset")
        if dataset.suffix.lower() not in READERS:
            raise GateError(
                f"dataset {request.dataset} is a {dataset.suffix or 'suffix-less'} file; init reads "
                f"{', '.join(READERS)} files. For a saved datasets directory or hf:ID, set "
                "dataset, text-column and label-column in [tool.encoder-gate] by hand"
            )
        table["dataset"] = _stored_path(dataset, root, "dataset", warnings)
        text_column, label_column = detect_columns(dataset, request.text_column, request.label_column,
                                                   model_labels)
        if text_column != DEFAULT_TEXT_COLUMN:
            table["text-column"] = text_column
        if label_column is not None and label_column != DEFAULT_LABEL_COLUMN:
            table["label-column"] = label_column
        labels = repr(label_column) if label_column is not None else "one 0/1 column per label, by its name"
        pair_column = _pair_column(dataset, (text_column, label_column), request, warnings, model_labels)
        if pair_column is not None:
            table["pair-column"] = pair_column
        grade = request.relevant_grade
        if grade is not None and len(model_labels) > 1:  # refused before anything is written
            raise GateError(f"--relevant-grade reads graded relevance as a one-label model's 0/1 flag (a "
                            f"reranker's); {request.model} has {len(model_labels)} labels: leave it out")
        if grade is not None:  # (a whole grade as TOML's integer, as it would be written)
            table["relevant-grade"] = int(grade) if float(grade).is_integer() else grade
        paired = f" paired with {pair_column!r} (sentence pairs)" if pair_column else ""
        graded = f", relevant from grade {grade:g}" if grade is not None else ""
        notes.append(f"dataset columns: text {text_column!r}{paired}, labels {labels}{graded}")
        try:  # read as the session reads it: a label the model lacks (LABEL_0... placeholders) said now
            read = load_dataset(str(dataset), text_column=text_column, label_names=model_labels or None,
                                label_column=label_column or DEFAULT_LABEL_COLUMN, pair_column=pair_column,
                                relevant_grade=request.relevant_grade)
        except GateError as exc:
            warnings.append(f"`pytest accuracy` will stop at its start on this dataset: {exc}")
        else:  # a reranker on queries of several passages each (some first text repeats)
            if read.relevance is not None and grade is None:  # reranking samples, read as pairs
                notes.append(f"the dataset's {read.relevance}")
            if head is not None and has_queries(read.queries) and ranks(head.task, len(head.labels), True):
                notes.append(f"a reranker (one score a pair): its order is judged too, {MRR} over the "
                             f"queries (the rows of one {text_column!r}), check mrr_keep"
                             + (f", and {NDCG} on the grades, check ndcg_keep" if grade is not None else ""))
    elif (request.text_column, request.label_column, request.pair_column, request.relevant_grade) != (
            None, None, None, None):
        raise GateError("--text-column, --label-column, --pair-column and --relevant-grade describe "
                        "--dataset; pass --dataset FILE too")
    if request.texts is not None:
        texts = _existing_file(request.texts, root, "texts", "--texts")
        count = _count_texts(texts)
        table["texts"] = _stored_path(texts, root, "texts", warnings)
        notes.append(f"texts: {count} from {request.texts}, unlabelled, so the accuracy gate runs "
                     "the parity checks only (no F1)")
    if request.dataset is None and request.texts is None and model_dir is not None:
        warnings.extend(_label_warning(model_labels))
    if request.thresholds is not None:  # read and fitted to the model's labels now: nothing written else
        served = _existing_file(request.thresholds, root, "thresholds", "--thresholds")
        setting = read_file(served)
        if model_labels:
            per_label(setting, model_labels)
        table["thresholds"] = _stored_path(served, root, "thresholds", warnings)
        cuts = sorted(setting.values())
        notes.append(f"thresholds: {request.thresholds}, {cuts[0]:g} to {cuts[-1]:g} over {len(cuts)} "
                     "labels: F1, the per-label check and the flips are judged there")
    table["batch-sizes"] = list(INIT_BATCH_SIZES)
    if request.device == "cuda":
        if not request.runner:  # GitHub's hosted ubuntu-latest has no GPU
            raise GateError("--device cuda needs the labels of a GPU runner to run on: --runner "
                            "LABEL[,LABEL] (self-hosted: --runner self-hosted,gpu; a hosted one: its label)")
        table["device"] = "cuda"
        notes.append(f"the gate job runs on the runner labelled {', '.join(request.runner)} with device cuda "
                     "(torch's CUDA build, encoder-gate[gpu]); a file with no CUDA kernels (onnx-int8's "
                     "dynamic INT8) is judged on that runner's CPU in the same job, its rows saying so")
    elif request.device != "cpu":
        raise GateError(f"--device must be cpu or cuda, got {request.device!r}")
    table["threads"] = INIT_THREADS
    table["f1-rule"] = INIT_F1_RULE

    files: list[PlannedFile] = []
    conflicts: list[str] = []
    pyproject = root / PYPROJECT
    old = _read_text(pyproject) if pyproject.is_file() else None
    had_table = old is not None and has_gate_table(old, pyproject)
    if had_table and not request.force:
        conflicts.append(f"{pyproject.as_posix()} already has [tool.{TABLE_NAME}]")
    else:
        given = request.backends is not None
        kept = kept_settings(old, table, given) if old is not None and had_table else []
        new = merge_pyproject(old, table, where=pyproject.as_posix(), keep_blocks=had_table)
        detail = f"{'replaced ' if had_table else ''}[tool.{TABLE_NAME}]"
        if not configures_pytest(root, old):
            new = pin_rootdir(new)
            detail += " and [tool.pytest.ini_options] (pytest's rootdir is this directory)"
        if kept:
            detail += f"; kept of the old [tool.{TABLE_NAME}]: {', '.join(kept)}"
        files.append(PlannedFile(PYPROJECT, new, "wrote" if old is None else "updated", detail))
    model_glob = None
    if model_dir is not None and not Path(model_value).is_absolute():
        model_glob = "**" if model_value == "." else f"{model_value}/**"
    contents = dict(THIN_MODULES)
    install = detect_install_source() if install is None else install
    if not 1 <= request.shards <= len(table["backends"]):
        count = len(table["backends"])
        raise GateError(f"--shards {request.shards}: each gate job runs at least one backend, and {count} "
                        f"are configured: pass 1 (one gate job) to {count}")
    if request.shards > 1:
        notes.append(f"the workflow runs {request.shards} gate jobs, each a share of the backends, and one "
                     "verdict job that merges them (docs/shards.md)")
    gate_install = with_gpu(install) if request.device == "cuda" else install  # what the gate job installs
    python = f"{sys.version_info.major}.{sys.version_info.minor}"  # the user's, as the runner's
    contents[workflow] = render_workflow(model_dir=model_glob, version=package_version(),
                                         requirement=install.requirement,
                                         lfs=_uses_lfs(root) or _uses_lfs(top),
                                         shards=request.shards, runner=request.runner,
                                         gpu_requirement=gate_install.requirement
                                         if request.device == "cuda" else None, python=python,
                                         project=project)
    shown = _shown(root, project, workflow)
    if project:
        notes.append(f"a project in the repository's subdirectory {project}: its own [tool.encoder-gate], "
                     f"tests and workflow ({shown}; GitHub runs the root's workflows alone), its report, "
                     "history branch and PR comment apart from the repository's other projects'")
    notes.append(f"the workflow installs {gate_install.requirement} on Python {python}, the Python "
                 f"init ran in (encoder-gate is installed here {install.origin})")
    if gate_install.warning:  # (it names the root project's workflow)
        warnings.append(gate_install.warning.replace(WORKFLOW_PATH, shown))
    uninstalled = uninstalled_note(root)  # before init writes its own pyproject.toml table
    if uninstalled:
        warnings.append(uninstalled)
    warnings.extend(addopts_problems(old, root))
    for rel, content in contents.items():
        path = root / rel
        if path.is_dir():
            conflicts.append(f"{path.as_posix()} is a directory")
        elif path.exists() and not request.force:
            if _read_text(path) != content:  # (after an upgrade: this build writes it otherwise)
                conflicts.append(f"{path.as_posix()} exists, and this encoder-gate writes it otherwise")
            else:
                notes.append(f"{path.as_posix()} is already up to date")
        else:
            files.append(PlannedFile(rel, content, "wrote", "replaced" if path.exists() else ""))
    ignored = _ignore_gate_dir(root)
    if ignored is not None:
        files.append(ignored)
    if conflicts:
        raise GateError(
            f"{'; '.join(conflicts)}: nothing was written. Pass --force to replace "
            f"{'them' if len(conflicts) > 1 else 'it'} (of pyproject.toml only [tool.{TABLE_NAME}], and of "
            "it only what init decides: the model, dataset and columns, as given or as it names them; "
            "your backends, tolerances, waivers and other settings are kept)"
        )
    return InitPlan(root, table, tuple(files), tuple(notes), tuple(warnings))


#: What init keeps out of git, each with its comment: the sessions' directory, and what hypothesis
#: itself still writes beside the project (its caches; the gate's own examples live in the cache).
IGNORED = ((GATE_DIR, "encoder-gate's artifact cache and reports"),
           (".hypothesis/", "hypothesis's own caches (the gate keeps its examples in .encoder-gate/cache)"))


def _ignore_gate_dir(root: Path) -> PlannedFile | None:
    """.gitignore with the sessions' directory (.encoder-gate/) and hypothesis's (.hypothesis/) added,
    or None when both are ignored already; every other line is kept."""
    path = root / GITIGNORE
    old = _read_text(path) if path.is_file() else ""
    there = {line.strip().lstrip("/").rstrip("/") for line in old.splitlines()}
    missing = [(entry, why) for entry, why in IGNORED if entry.rstrip("/") not in there]
    if not missing:
        return None
    sep = "" if not old or old.endswith("\n") else "\n"
    new = old + sep + "".join(f"# {why}\n{entry}\n" for entry, why in missing)
    return PlannedFile(GITIGNORE, new, "updated" if path.is_file() else "wrote",
                       f"ignores {', '.join(entry for entry, _ in missing)}")


def write_plan(plan: InitPlan) -> list[str]:
    """Write the planned files (creating directories); one printable line per file."""
    lines = []
    for planned in plan.files:
        path = plan.root / planned.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(planned.content)
        lines.append(planned.line(plan.root))
    return lines


def run_init(request: InitRequest, install: InstallSource | None = None) -> tuple[InitPlan, list[str]]:
    """:func:`plan_init` then :func:`write_plan`: the plan and the lines to print."""
    plan = plan_init(request, install)
    return plan, write_plan(plan)


def next_steps(root: Path, install: InstallSource | None = None) -> list[str]:
    """The short "next steps" block printed after a successful init; when the workflow's install
    line may need editing (``install``, None: the way encoder-gate is installed here), it says so."""
    install = detect_install_source() if install is None else install
    cd = [f"  cd {root.as_posix()}"] if root.as_posix() != "." else []
    base = default_branch(root) or "main"
    git = in_repository(root)  # outside git a base is a checkout given as a directory
    ab = f"pytest accuracy benchmarks --gate-base{'-ref ' + base if git else ' DIR'}"
    against = (f"this branch against {base}, in one session (as the workflow gates a PR)" if git else
               "this tree against a checkout of its base in DIR, in one session (in a git repository: "
               f"--gate-base-ref {base})")
    width = len(ab) + 2
    project, _, path = project_in_repository(root)
    workflow = _shown(root, project, path)
    edit = [f"  before the first pull request, check the install line of {workflow} (the warning "
            "above says why and how)"] if install.warning else []
    return [
        "next steps:",
        *cd,
        f"  {'pytest accuracy':<{width}}# the accuracy gate",
        f"  {ab:<{width}}# {against}",
        *edit,
        f"  commit the files above: {workflow} runs the gate on every pull request",
    ]


def project_in_repository(root: Path) -> tuple[str, Path, str]:
    """Where the project at `root` sits in its git repository ("" at its root, "services/topics" below it),
    the repository's root, and the project's workflow's path relative to `root` (workflow_path, at the
    repository's root: GitHub runs those alone). A repository of two models gates each as a project of its
    own (a trial's second model, gated by --gate-model, was compared with the first's base, and had no
    history and no CI job)."""
    project = where_in_repository(root) if root.is_dir() else ""
    if not project:
        return "", root, WORKFLOW_PATH
    here = root.resolve()
    top = here.parents[len(Path(project).parts) - 1]
    return project, top, os.path.relpath(top / workflow_path(project), here)


def _shown(root: Path, project: str, workflow: str) -> str:
    """A project's workflow as init's lines name it: from where init ran (a subdirectory's, at the
    repository's root), or the root project's own path."""
    return os.path.normpath(root / workflow) if project else WORKFLOW_PATH


def runner_labels(given: str | None) -> tuple[str, ...]:
    """--runner's labels; an empty one (`--runner ''`, `a,,b`) is a GateError: it read as ubuntu-latest."""
    if given is None:
        return ()
    labels = tuple(r.strip() for r in given.split(","))
    if not all(labels):
        raise GateError(f"--runner {given!r} names an empty label: give the runner's labels, e.g. --runner "
                        "self-hosted,gpu (without --runner: ubuntu-latest)")
    return labels


# --- model, backends, data ------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def locate_model(model: str, root: Path, warnings: list[str]) -> tuple[str, Path | None]:
    """The ``model`` value to store, and the local model directory (None: builtin or hub id)."""

    path = _find(model, root)
    if path is not None:
        if not path.is_dir():
            raise GateError(
                f"model {model} is a file; pass the Hugging Face model directory (the one with "
                "config.json, written by save_pretrained()). ONNX files inside it are picked up as "
                "backends; others can be given with --backends ...,onnx:PATH"
            )
        if not (path / "config.json").is_file():
            raise GateError(
                f"model directory {model} has no config.json, so it is not a Hugging Face model "
                "directory; pass the directory save_pretrained() wrote (config.json, the weights "
                "and the tokenizer files)"
            )
        stored = _stored_path(path, root, "model", warnings)
        # a directory named as a builtin model is stored as a path: its bare name is the builtin's
        return (f"./{stored}" if stored in BUILTIN_MODELS else stored), path
    if model in BUILTIN_MODELS:
        return model, None
    first = model.replace("\\", "/").split("/", 1)[0]
    if _HUB_ID.match(model) and not (Path(first).is_dir() or (root / first).is_dir()):
        warnings.append(
            f"model {model!r} is not a local directory, so it is taken as a Hugging Face hub id: the "
            "gate needs the hub (or its cache) when it runs; in CI, a private model needs HF_TOKEN "
            f"(see the comment in {WORKFLOW_PATH})"
        )
        return model, None
    raise GateError(
        f"model directory {model} does not exist; pass your fine-tuned model's directory (the one "
        "save_pretrained() wrote, with config.json), a hub id such as org/name, or one of "
        f"{', '.join(BUILTIN_MODELS)}"
    )


#: The files of a model directory's onnx/ folder init adds as backends (optimum's and transformers.js'
#: export and its quantized variant); its other files are named, not added.
ONNX_SHIPPED = ("model.onnx", "model_quantized.onnx")


def detect_onnx_files(model_dir: Path) -> list[Path]:
    """ONNX files shipped with a model: onnx/model.onnx, onnx/model_quantized.onnx, top-level *.onnx."""
    found = [model_dir / "onnx" / name for name in ONNX_SHIPPED]
    found = [p for p in found if p.is_file()]
    return found + sorted(p for p in model_dir.glob("*.onnx") if p.is_file())


def other_onnx_files(model_dir: Path) -> list[Path]:
    """The other ONNX files of the model directory's onnx/ folder (model_fp16.onnx, model_q4.onnx, a
    file of the team's own): each would be one more backend to build, time and judge."""
    return sorted(p for p in (model_dir / "onnx").glob("*.onnx")
                  if p.is_file() and p.name not in ONNX_SHIPPED)


def _backends(given: Sequence[str] | None, model_dir: Path | None, root: Path,
              notes: list[str]) -> tuple[str, ...]:
    backends = _chosen_backends(given, model_dir, root, notes)
    # an onnx:PATH that is not there: now, not at the first session (resolved where the sessions run)
    files = [] if model_dir is None else check_prebuilt_files(backends, str(model_dir), cwd=root.resolve())
    if lost := not_carried(root, files):  # a user's `*.onnx` in .gitignore: the base's checkout then
        notes.append(  # lacked the file, said as a file missing from the base (a user's walk, 2026-11-29)
            f"warning: not in a checkout of this repository, so not on a CI runner nor in the base "
            f"--gate-base-ref checks out: {'; '.join(f'{path} ({why})' for path, why in lost)}. Commit the "
            "file(s) (git add -f, or Git LFS for large ones), or take them out of `backends`")
    return backends


def _chosen_backends(given: Sequence[str] | None, model_dir: Path | None, root: Path,
                     notes: list[str]) -> tuple[str, ...]:
    onnx = detect_onnx_files(model_dir) if model_dir is not None else []
    entries = [f"onnx:{_relative_or_absolute(p, root)}" for p in onnx]
    others = ([f"onnx:{_relative_or_absolute(p, root)}" for p in other_onnx_files(model_dir)]
              if model_dir is not None else [])
    if given is None:
        if entries:
            notes.append(f"found ONNX files in the model directory, added as backends: {', '.join(entries)}")
        if others:
            notes.append(f"other ONNX files in the model directory, not added (each one more backend to "
                         f"build, time and judge): {', '.join(others)}; add those to gate to `backends` in "
                         "[tool.encoder-gate], or pass them in --backends")
        return (*DEFAULT_BACKENDS, *entries)
    backends = tuple(b.strip() for b in given if b.strip())
    if not backends:
        raise GateError("--backends is empty; pass a comma list such as torch,onnx-fp32,onnx-int8")
    for name in backends:
        if not is_backend_name(name):
            raise GateError(
                f"unknown backend {name!r} in --backends; known backends: {', '.join(known_backends())}, "
                "or onnx:PATH for a prebuilt ONNX file"
            )
    if len(set(backends)) != len(backends):
        raise GateError(f"a backend is listed twice in --backends {','.join(backends)}")
    skipped = [e for e in [*entries, *others] if e not in backends]
    if skipped:
        notes.append(f"the model directory has ONNX files not in --backends: {', '.join(skipped)}")
    return backends


def _pair_column(dataset: Path, columns_taken: tuple[str, str | None], request: InitRequest,
                 warnings: list[str], labels: Sequence[str] = ()) -> str | None:
    """The column of each row's second text: --pair-column (checked), else the other of a sentence pair
    the text column is one of (data.pairs), unless the text column was chosen by --text-column: then
    its partner is left out, said; a model whose `labels` are NLI's, fed one text a row, is said too.
    `columns_taken`: the text column and the label column (if any)."""
    columns, text_column = list(first_row(dataset)), columns_taken[0]
    if request.pair_column is not None:
        if request.pair_column in columns_taken:  # the labels fed as a second text: the answers in the input
            which = ("text", "label")[columns_taken.index(request.pair_column)]
            raise GateError(f"--pair-column {request.pair_column} names the {which} column of {dataset}: "
                            "pass the column of each row's second text")
        if request.pair_column not in columns:
            raise GateError(f"{dataset} has no column {request.pair_column!r} (--pair-column) beside the "
                            f"text column {text_column!r}; its columns: {', '.join(columns)}")
        return request.pair_column
    second = pair_partner(text_column, columns)
    if second is not None and request.text_column is not None:
        warnings.append(f"the gate judges every backend on {text_column!r} alone: {second!r}, the second "
                        f"text of each pair, is not fed (the verdict says so); --pair-column {second} feeds "
                        "each row's two texts as a sentence pair")
        return None
    if second is None and (nli := NLI_LABELS & {n.lower() for n in labels}):  # a pair model, one text a row
        warnings.append(f"the model's labels ({', '.join(sorted(nli))}) are an NLI model's, which reads a "
                        f"premise and a hypothesis together, and {dataset.name} gives it one text a row "
                        f"({text_column!r}): pass --pair-column NAME, the column of each row's second text")
    return second


def _count_texts(path: Path) -> int:
    count = sum(1 for line in text_lines(_read_text(path)) if line.strip())
    if not count:
        raise GateError(f"texts file {path} has no texts; write one text per line")
    return count


def _model_labels(model_dir: Path | None) -> list[str]:
    """A classifier's label names from its config.json (id2label, in id order); none where it names
    none or is no classifier."""
    try:
        config = json.loads(_read_text(model_dir / "config.json")) if model_dir is not None else None
    except (json.JSONDecodeError, GateError):
        return []
    if not isinstance(config, dict):  # no model configuration: the session says so, in one line
        return []
    architectures = config.get("architectures") or []
    id2label = config.get("id2label") or {}
    if not isinstance(id2label, dict) or not any("Classification" in str(a) for a in architectures):
        return []
    try:
        return [str(id2label[k]) for k in sorted(id2label, key=int)]
    except ValueError:
        return []


def _label_warning(names: Sequence[str]) -> list[str]:
    """Warn when a classifier's labels (`_model_labels`) cannot be scored on the bundled go_emotions
    data."""
    if not names:
        return []
    if [n.lower() for n in names] == list(GO_EMOTIONS_LABELS) or is_sentiment_labels(names):
        return []
    return [f"the model's labels ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}) are not "
            "go_emotions', so the bundled data cannot score it: pass --dataset FILE (texts labelled "
            "with the model's labels) or --texts FILE (unlabelled texts: parity checks only)"]


def _find(given: str, root: Path) -> Path | None:
    """``given`` as a path: from the current directory, else from ``root``; None if neither exists."""
    path = Path(given).expanduser()
    if path.exists():
        return path
    if not path.is_absolute() and (root / path).exists():
        return root / path
    return None


def _existing_file(given: str, root: Path, what: str, option: str) -> Path:
    path = _find(given, root)
    if path is None:
        raise GateError(f"{what} file {given} does not exist ({option}); pass an existing file")
    if not path.is_file():
        raise GateError(f"{what} {given} is not a file ({option}); pass a file")
    return path


def _relative_or_absolute(path: Path, root: Path) -> str:
    resolved, base = path.resolve(), root.resolve()
    if resolved == base or base in resolved.parents:
        return resolved.relative_to(base).as_posix()
    return resolved.as_posix()


def _stored_path(path: Path, root: Path, what: str, warnings: list[str]) -> str:
    """``path`` relative to the root when inside it; absolute (with a warning) when not."""
    stored = _relative_or_absolute(path, root)
    if Path(stored).is_absolute():
        warnings.append(f"the {what} {stored} is outside {root.as_posix()}, so it is stored as an absolute "
                        "path and the CI workflow's checkout will not have it; move it into the project "
                        "(or use a hub id for the model)")
    return stored


def _uses_lfs(root: Path) -> bool:
    attributes = root / ".gitattributes"
    return attributes.is_file() and "filter=lfs" in _read_text(attributes)


def _read_text(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise GateError(f"{path} is not UTF-8 text ({exc.reason}); re-save it as UTF-8") from exc


def package_version() -> str:
    """encoder-gate's installed version (without a local +segment), for the workflow's pin."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("encoder-gate")
    except PackageNotFoundError:
        found = __version__
    return found.split("+", 1)[0]
