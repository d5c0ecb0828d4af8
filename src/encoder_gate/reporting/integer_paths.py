"""The verdict's INT8 lines: the integer path each INT8 row was computed on, the targeted CPUs whose
path no row judged (docs/checks.md, "INT8 on other CPUs"), and the gap between a file's two paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from encoder_gate.backends.int8_path import (
    INTEGER_PATHS,
    IntegerPath,
    cpu_path_short,
    cpu_path_words,
    disagrees,
)
from encoder_gate.backends.registry import split_integer_path, with_integer_path


def integer_path_notes(accuracy: Mapping[str, Any] | None) -> list[str]:
    """What the INT8 rows' verdicts hold for: the integer path each was computed on, and the
    targeted CPUs whose path no row judged (docs/checks.md, "INT8 on other CPUs")."""
    info = (accuracy or {}).get("integer_paths")
    rows = _integer_rows(accuracy)
    if not info or not rows:
        return []
    here = info["this_cpu"]
    if here is None:  # a merge of shards whose runners compute on different paths
        each = ", ".join(f"shard {s}: {p}" for s, p in (info.get("shards") or {}).items())
        paths = ", ".join(f"`{name}` on the {row.get('integer_path') or 'unknown'} path"
                          for name, row in rows.items())
        out = [f"INT8 integer paths: the shards ran on CPUs of different integer paths ({each}); each "
               f"INT8 row was computed on its shard's path: {paths}."]
    else:
        twins = any(split_integer_path(name)[1] for name in rows)  # said where such a row is (walk AG)
        out = [f"INT8 integer paths: this runner's CPU computes int8-weight products on the {here} path "
               f"({cpu_path_words(here)})."
               + (" A row `NAME~PATH` is the same file computed as CPUs of the other path compute it, "
                  "emulated on this one, so that the verdict holds for those CPUs too." if twins else "")]
    out += [f"{line}." for line in path_disagreement(accuracy)]
    for name, judged, missing in _paths_judged(accuracy):
        if not judged:
            out.append(f"`{name}`: no int8 product of its weights can saturate, so every CPU computes the "
                       "same integer products, and its row holds for all of them as far as the integer "
                       "path goes (docs/checks.md, \"INT8 on other CPUs\").")
            continue
        text = f"`{name}`: judged on the {' and '.join(judged)} path"
        ways = [f"`{twin}` computed by {row['computed_by']}" for twin, row in rows.items()
                if split_integer_path(twin)[0] == name and twin != name and row.get("computed_by")]
        out.append(text + "".join(f" ({way})" for way in ways) + _gap(name, rows)
                   + "".join(f"; NOT judged for {cpu_path_words(p)} ({why})" for p, why in missing) + ".")
    return out


def _gap(name: str, rows: Mapping[str, Any]) -> str:
    """The gap between INT8 file `name`'s two paths, as its saturating row measured it (accuracy.json's
    `path_flips`, `path_flip_rate`, `path_drift_max`; the path_flip_rate check's bound where it ran):
    the figures were in accuracy.json only (a user's hunt on an AVX2 runner, twenty-second session)."""
    row = next((r for n, r in rows.items() if split_integer_path(n)[0] == name
                and (r or {}).get("path_drift_max") is not None), None)
    if row is None:
        return ""
    flips, rate = row.get("path_flips"), row.get("path_flip_rate")
    check = (row.get("checks") or {}).get("path_flip_rate") or {}
    bound = f" (<= {check['bound']:.2%})" if isinstance(check.get("bound"), int | float) else ""
    decisions = "" if flips is None or rate is None else (
        f"{flips} decision{'s differ' if flips != 1 else ' differs'} ({rate:.2%}{bound}) and ")
    return f"; between its two paths {decisions}outputs differ by up to {row['path_drift_max']:.3g}"


def path_disagreement(accuracy: Mapping[str, Any] | None) -> list[str]:
    """A line where ONNX Runtime computed another integer path on this runner than its CPU's flags
    say (int8_path.this_cpu_path): the rows hold for what it computed. After a merge of shards on
    CPUs of different paths, such a shard's."""
    info = (accuracy or {}).get("integer_paths") or {}
    how = info.get("how") or {}
    if not disagrees(how):
        return []
    where = "this runner's probe" if info.get("this_cpu") else "one shard's runner's probe"
    return [f"INT8: ONNX Runtime computed {how['observed']} products on {where}, though its CPU flags "
            f"say {how['flags_say']}: every INT8 row is judged on what it computed"]


def unjudged_paths(accuracy: Mapping[str, Any] | None) -> list[str]:
    """One line per INT8 backend whose verdict does not hold on some CPUs because their integer path
    was not judged: what the terminal shows under the verdict table, beside verdict.md's notes."""
    return [f"INT8 {name}: judged on the {' and '.join(judged)} path only; NOT judged for "
            + " nor for ".join(f"{cpu_path_short(p)} ({why})" for p, why in missing)
            for name, judged, missing in _paths_judged(accuracy) if judged and missing]


def _integer_rows(accuracy: Mapping[str, Any] | None) -> dict[str, Any]:
    rows = (accuracy or {}).get("backends") or {}
    return {n: r for n, r in rows.items() if (r or {}).get("integer_path")}


PathsJudged = tuple[str, list[str], list[tuple[IntegerPath, str]]]


def _paths_judged(accuracy: Mapping[str, Any] | None) -> list[PathsJudged]:
    """Each plain INT8 row: its name, the integer paths judged (none: nothing can saturate, one
    path) and each path not judged with why."""
    info = (accuracy or {}).get("integer_paths")
    rows = _integer_rows(accuracy)
    if not info:
        return []
    out: list[PathsJudged] = []
    for name, row in rows.items():
        if split_integer_path(name)[1] is not None:
            continue
        if not row.get("can_saturate"):
            out.append((name, [], []))
            continue
        judged = list(dict.fromkeys([row["integer_path"], *(
            r["integer_path"] for n, r in rows.items()
            if split_integer_path(n)[1] and split_integer_path(n)[0] == name)]))
        unbuilt = info.get("twins_not_judged") or {}
        missing = [(p, "not among the targets" if p not in info.get("target_paths", INTEGER_PATHS)
                    else _why_not(unbuilt.get(with_integer_path(name, p))))
                   for p in INTEGER_PATHS if p not in judged]
        out.append((name, judged, missing))
    return out


def _why_not(said: str | None) -> str:
    """Why a twin has no row: what the session said when it could not compute its path (this
    onnxruntime, this CPU: `runtime.session`'s not_applicable), else that its tests did not run."""
    if said is None:
        return "its twin did not run in this session"
    return f"its twin could not be computed here: {said.split(': ', 1)[-1]}"
