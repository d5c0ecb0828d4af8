"""Where a result came from: the model, the dataset and the settings of the session that wrote it.

Every results file of a report directory (accuracy.json, speedups.json, ab.json) carries one
`provenance` block, written by :func:`provenance`; the verdict joins two files only when
:func:`mismatch` finds nothing between them, so a directory that saw `pytest accuracy` on one
model (or one file of a backend) and `pytest benchmarks` on another never shows one's speed in
the other's rows.

    block = provenance(session)             # {"model": ..., "dataset": ..., "settings": ..., "written": ...}
    mismatch(block, other)                  # None, or "model default (1a2b3c4d), not tiny (9f8e7d6c)"
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encoder_gate.backends.int8_path import cpu_path, cpu_path_short
from encoder_gate.cache import changed_files, sha256_file
from encoder_gate.config import batch_sizes_narrowed
from encoder_gate.data.readers import one_file
from encoder_gate.errors import GateError
from encoder_gate.models.spec import content_hash

if TYPE_CHECKING:
    from encoder_gate.runtime.session import GateSession

#: The parts of a provenance block that decide whether two results belong together.
JOINING = ("model", "dataset")


def provenance(session: GateSession) -> dict[str, Any]:
    """The provenance block of a results file written by `session` now."""
    cfg = session.config
    model: dict[str, str | None] = {"name": str(cfg.model), "content_hash": None}
    source = str(cfg.dataset)
    try:  # a model or data that could not be read: as configured (the session's finding says why)
        model = {"name": session.model.name, "content_hash": session.model.content_hash,
                 "dir": str(Path(session.model.path).resolve())}
        source = session.dataset_source
    except GateError:
        pass
    data = Path(source)
    file_hash = dataset_digest(data) if data.is_file() else None
    return {
        "model": model,
        "dataset": {"source": source, "sha256": file_hash, "split": cfg.split, "variant": cfg.dataset_variant,
                    "limit": cfg.limit, "columns": {"text": cfg.text_column, "labels": cfg.label_column,
                                                  **({"pair": cfg.pair_column} if cfg.pair_column else {}),
                                                  **({"relevant_grade": cfg.relevant_grade}
                                                     if cfg.relevant_grade is not None else {})},
                    **({"file": str(data.resolve())} if file_hash else {})},
        "settings": {**cfg.judging(), "backends": list(cfg.backends)},
        # where those backends came from: only sessions of the configuration say what a project gates
        "backends_from": "command line" if session.backends_given else "configuration",
        # what each backend built in this session computed from (its prediction identity's artifact)
        "artifacts": {name: record.artifact for name, record in sorted(session.records.items())
                      if record.artifact},
        # the integer arithmetic this runner's INT8 products take (int8_path), where a backend's
        # numbers depend on it: results of the other one are other numbers (other_cpu)
        **({"integer_path": cpu_path()} if cfg.paths_may_differ() else {}),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # whether the session timed its backends: only then is its thread count that of speed figures,
        # which others' of another count do not join (documents.belonging; a device keeps any apart)
        "timed": session.timing,
        **({"shard": cfg.shard} if cfg.shard else {}),  # a share of a sharded session (merge drops it)
        # its padding properties drew N random examples each (--gate-explore), not their fixed ones
        **({"explored": cfg.explore} if cfg.explore else {}),
        # what its user left out of the project's gate: tests deselected, backends not given
        **({"selection": chosen} if (chosen := " ".join(filter(None, (session.selection, session.narrowed))))
           else {}),
        **({"commit": session.commit} if session.commit else {}),
        # which of its repository's projects the results are of, where it is not the repository's top
        **({"project": session.project} if session.project else {}),
    }


def timed_provenance(session: GateSession, root: Path) -> dict[str, Any]:
    """:func:`provenance` of a document of speed figures (speedups.json, an ab.json that timed): its
    selection also names the batch sizes of the project's `[tool.encoder-gate]` (at `root`) this
    session left out (:func:`~encoder_gate.config.batch_sizes_narrowed`), which only speed depends on."""
    block = provenance(session)
    if narrowed := batch_sizes_narrowed(root, session.config.batch_sizes):
        block["selection"] = " ".join(filter(None, (block.get("selection"), narrowed)))
    return block


def inputs_changed(session: GateSession) -> str | None:
    """Why what `session` computed since it read its model and evaluation file is not of them as its
    records say (their files changed while it ran: a retrain into the model's directory, a git
    checkout or pull in another terminal, an edited dataset), or None. Only what it has read so far
    is looked at."""
    read = vars(session)  # the cached properties it has computed
    stamped = [stamp for name in ("model", "dataset") if name in read for stamp in read[name].read_as]
    return changed_said(changed_files(stamped))


def changed_said(changed: Sequence[str]) -> str | None:
    if not changed:
        return None
    return (f"files this session read changed while it ran: {', '.join(changed)}; what it computed from "
            "them since is not of the contents its results name, so none of it is kept and this "
            "session fails. Run it again once they stay put")


def check_inputs(session: GateSession) -> None:
    """A GateError where :func:`inputs_changed` says why: an artifact-cache entry keyed by the model's
    content hash is not kept (ArtifactCache.keep_check)."""
    if why := inputs_changed(session):
        raise GateError(why)


def dataset_digest(path: Path) -> str:
    """A dataset file's digest, as a provenance block records it (`dataset.sha256`)."""
    return sha256_file(path)[:16]


def other_cpu(block: Mapping[str, Any] | None, anchor: Mapping[str, Any] | None) -> str | None:
    """Why `block`'s results were computed on a CPU of another integer path than `anchor`'s (one
    directory holding `pytest accuracy` of one runner and `pytest benchmarks` of another), or None;
    a block without one (an older encoder-gate's, a merge of a matrix's shards) is not held to it."""
    mine, theirs = (block or {}).get("integer_path"), (anchor or {}).get("integer_path")
    if not mine or not theirs or mine == theirs:
        return None
    return (f"computed on a CPU of the {mine} integer path ({cpu_path_short(mine)}), not the {theirs} one "
            f"({cpu_path_short(theirs)}): its INT8 products are other numbers there")


def _differing(mine: Mapping[str, Any], theirs: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """Each of `keys` whose value differs, by its pyproject name: "f1-rule 'regression', not 'point'"."""
    return [f"{key.replace('_', '-')} {mine.get(key)!r}, not {theirs.get(key)!r}"
            for key in keys if mine.get(key) != theirs.get(key)]


def differing_settings(block: Mapping[str, Any] | None, anchor: Mapping[str, Any] | None) -> str | None:
    """What `block`'s session judged by otherwise than `anchor`'s ("threads 2, not 1; ..."): its
    settings but the backends, and its selection of tests; None when they agree."""
    def judged(b: Mapping[str, Any] | None) -> dict[str, Any]:
        b = b or {}
        settings = {k: v for k, v in (b.get("settings") or {}).items() if k != "backends"}
        return {**settings, "selection": b.get("selection")}

    mine, theirs = judged(block), judged(anchor)
    return "; ".join(_differing(mine, theirs, sorted(set(mine) | set(theirs)))) or None


def backends_dropped(block: Mapping[str, Any] | None, anchor: Mapping[str, Any] | None) -> str | None:
    """What keeps `block`'s results out of `anchor`'s verdict where the project's configuration
    changed between them: the backends `block`'s session gated that the configuration no longer
    names ("its session gated onnx-int8, which the project's configuration no longer names (it
    names torch, onnx-fp32)"), or None. A speedups.json of the backends of then had shown the
    dropped ones as rows of their own ("pass (speed only)"). Only where both sessions gated the
    configuration's backends (`backends_from`): a choice on the command line (--gate-backends) is
    no change of the project's, nor a shard's share of them, nor a block of an older encoder-gate."""
    blocks = (block or {}, anchor or {})
    if any(b.get("backends_from") != "configuration" or b.get("shard") for b in blocks):
        return None
    then, now = ([str(n) for n in (b.get("settings") or {}).get("backends") or ()] for b in blocks)
    gone = [name for name in then if name not in now]
    if not gone or not now:
        return None
    return (f"its session gated {', '.join(gone)}, which the project's configuration no longer names (it "
            f"names {', '.join(now)})")


def differing_criteria(block: Mapping[str, Any] | None, anchor: Mapping[str, Any] | None,
                       criteria: tuple[str, ...]) -> str | None:
    """What keeps `block`'s results, decided by `criteria` (settings) when they were written, out
    of `anchor`'s session, which judges by other values of them ("judged with tolerances {}, not
    {...}"), or None. A block or anchor without settings (an older encoder-gate's) is not held to
    them, nor to a criterion one of them does not record."""
    mine, theirs = (block or {}).get("settings"), (anchor or {}).get("settings")
    if not isinstance(mine, Mapping) or not isinstance(theirs, Mapping):
        return None
    differ = _differing(mine, theirs, [key for key in criteria if key in mine and key in theirs])
    return (f"judged with {'; '.join(differ)} (this session's settings): its results are of the "
            "settings of then" if differ else None)


def _describe(part: str, block: Mapping[str, Any]) -> str:
    value = block.get(part) or {}
    if part == "model":
        return f"{value.get('name')} ({str(value.get('content_hash'))[:8]})"
    split = "" if one_file(str(value.get("source"))) else f", split {value.get('split')}"
    split += f", first {value['limit']}" if value.get("limit") else ""
    return f"{value.get('source')}{split}"


def _part(part: str, block: Mapping[str, Any], other: Mapping[str, Any]) -> str:
    """`block`'s `part` in words, and where that reads as `other`'s (the same file and split), what
    else differs: its contents, its columns, its variant."""
    said = _describe(part, block)
    if said != _describe(part, other):
        return said
    mine, theirs = block.get(part) or {}, other.get(part) or {}
    keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return f"{said} ({', '.join(_value(k, mine.get(k)) for k in keys)})" if keys else said


def _value(key: str, value: Any) -> str:
    if value is None:
        return f"{'contents' if key == 'sha256' else key} not recorded"
    if key == "sha256":
        return f"contents {str(value)[:8]}"
    if key == "columns" and isinstance(value, Mapping):
        return "columns " + ", ".join(f"{k} {v!r}" for k, v in value.items())
    return f"{key} {value}"


def _short(artifact: str) -> str:
    kind, _, digest = artifact.partition(":")
    return f"{kind}:{digest[:8]}" if digest else artifact[:16]


def mismatch(block: Mapping[str, Any] | None, anchor: Mapping[str, Any], names: tuple[str, str] = (
        "these results", "those")) -> str | None:
    """What keeps `block`'s result from joining `anchor`'s ("model X (hash), not Y (hash); ..."), or None.
    A result with no block (written by an encoder-gate before provenance) never joins. A backend
    both sessions built from different files keeps them apart too (an `onnx:PATH` file changed
    between `pytest accuracy` and `pytest benchmarks`, an INT8 option); a block without artifacts
    (an older encoder-gate's) is not held to them. Shards of one plan share no backend but the
    torch reference, whose artifact is the model itself, so between them this is the model check.
    `names`: what `block` and `anchor` are, where a value is said to be whose ("b25d9c59 in
    speedups.json, d40d53d9 in this session's": a trial read "in these results, not" as its session's)."""
    if not block:
        return "no provenance (written by an older encoder-gate)"
    differ = [_differs(part, block, anchor, names) for part in JOINING
              if not _same(part, block.get(part) or {}, anchor.get(part) or {})]
    if not any(d.startswith("model ") for d in differ):  # another model's backends differ with it: unsaid
        mine, theirs = block.get("artifacts") or {}, anchor.get("artifacts") or {}
        differ += [f"{name} computed from {_short(str(mine[name]))}, not {_short(str(theirs[name]))}"
                   for name in sorted(set(mine) & set(theirs)) if mine[name] != theirs[name]]
    return "; ".join(differ) or None


def _differs(part: str, block: Mapping[str, Any], anchor: Mapping[str, Any], names: tuple[str, str]) -> str:
    """How `block`'s `part` differs from `anchor`'s, in words: "model 'model' of other contents
    (d7428a92 in speedups.json, a868c3e4 in this session's)" where one model directory was retrained
    (walk AG: "model model (d7428a92), not model (a868c3e4)"; its name quoted: a directory named
    `model` read "model model"), else both as read."""
    mine, theirs = block.get(part) or {}, anchor.get(part) or {}
    ours, other = names
    if part == "model" and mine.get("name") == theirs.get("name"):
        return (f"model {str(mine.get('name'))!r} of other contents ({str(mine.get('content_hash'))[:8]} in "
                f"{ours}, {str(theirs.get('content_hash'))[:8]} in {other})")
    said = _describe(part, block)
    if said == _describe(part, anchor):  # one file and split, read otherwise: which value is whose (a trial
        # read "data/eval.jsonl, split test (contents ead34b18), not data/eval.jsonl, split test (...)")
        keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        return f"{part} {said}: " + "; ".join(
            f"{_value(k, mine.get(k))} in {ours}, {_value(k, theirs.get(k))} in {other}" for k in keys)
    return f"{part} {_part(part, block, anchor)}, not {_part(part, anchor, block)}"


#: What identifies each part of JOINING by its contents, and the key that only says where it was read:
#: one model or dataset file named by two paths ("data/eval.jsonl" from the project, the same file
#: absolute from a subdirectory) is one.
_CONTENTS: dict[str, tuple[str, tuple[str, ...]]] = {"model": ("content_hash", ("name", "dir")),
                                                      "dataset": ("sha256", ("source", "file"))}


def _same(part: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Whether two provenance blocks' `part` is one model or dataset: equal, or of equal recorded
    contents and equal in all else but the path they were read by."""
    if mine == theirs:
        return True
    digest, where = _CONTENTS.get(part, ("", ()))
    if not digest or not mine.get(digest) or mine.get(digest) != theirs.get(digest):
        return False
    def rest(block: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in block.items() if k not in where}

    return rest(mine) == rest(theirs)


def changed_since(blocks: Mapping[str, Mapping[str, Any] | None], head: str | None = None) -> list[str]:
    """What the files the results documents were computed from hold now, where it differs: the model
    directory (its content hash) and a dataset file (its sha256), by the absolute paths their
    provenance names (`dir`, `file`: whatever directory the command runs from), and the commit
    checked out where the report directory is (`head`, None: not in a repository) where they name
    another and were computed here (their model directory is here: a CI run's downloaded report
    is not held to a local checkout's commit). `encoder-gate verdict` reads documents written
    earlier; a PASS of them says nothing of a model retrained since (walk AE), nor of a later commit
    (a session that stopped on its configuration left the last one's PASS). A path that is not here
    (another machine's checkout, a pruned cache) is not checked."""
    out: dict[str, str] = {}
    mine = [b for b in blocks.values() if isinstance(b, Mapping)]
    commits = sorted({str(b["commit"]) for b in mine if b.get("commit")})
    dirs = [str((b.get("model") or {}).get("dir") or "") for b in mine]
    here = any(d and (Path(d) / "config.json").is_file() for d in dirs)
    if head and commits and here and head not in commits:
        out["commit"] = (f"the results were written at commit {', '.join(c[:12] for c in commits)}, and "
                         f"{head[:12]} is checked out here now")
    for name, block in blocks.items():
        model, data = (block or {}).get("model") or {}, (block or {}).get("dataset") or {}
        path, recorded = Path(str(model.get("dir") or "")), model.get("content_hash")
        if recorded and model.get("dir") and (path / "config.json").is_file():
            now = content_hash(path)
            if now != recorded:
                out[f"model {path}"] = (f"the model directory {path} changed since {name} was written "
                                        f"(content {str(recorded)[:8]} then, {now[:8]} now)")
        source, digest = Path(str(data.get("file") or "")), data.get("sha256")
        if digest and data.get("file") and source.is_file():
            now = dataset_digest(source)
            if now != digest:
                out[f"dataset {source}"] = (f"the dataset {source} changed since {name} was written "
                                            f"(contents {str(digest)[:8]} then, {now[:8]} now)")
    return list(out.values())

