"""Merge the `[tool.encoder-gate]` table into a user's pyproject.toml, keeping every other byte.

Used by `encoder-gate init` (:mod:`encoder_gate.commands.init`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from encoder_gate.backends.int8_path import TARGETS
from encoder_gate.commands.layout import PYPROJECT, TABLE_NAME
from encoder_gate.errors import GateError


@dataclass(frozen=True)
class _Header:
    path: tuple[str, ...]
    start: int  # offset of the header line
    end: int  # offset just past the block's last key/value line (trailing comments and blanks excluded)


def render_table(table: Mapping[str, Any]) -> str:
    """``[tool.encoder-gate]`` with ``table``'s keys, as TOML text ending in one newline."""
    body = tomlkit.table()
    body.add(tomlkit.comment("written by `encoder-gate init`; every key can be overridden with --gate-KEY"))
    if "targets" not in table:  # a choice whose default (every CPU) a team serving on one kind may narrow
        body.add(tomlkit.comment(f"targets = {tomlkit.item(list(TARGETS)).as_string()}  "
                                 "(where the INT8 files will run; default all)"))
    for key, value in table.items():
        if isinstance(value, list):
            array = tomlkit.array()
            array.extend(value)
            if len(f"{key} = {array.as_string()}") > 100:
                array.multiline(True)
            body.add(key, array)
        else:
            body.add(key, value)
    tool = tomlkit.table(is_super_table=True)
    tool.add(TABLE_NAME, body)
    doc = tomlkit.document()
    doc.add("tool", tool)
    return tomlkit.dumps(doc).strip("\n") + "\n"


def block_keys(text: str) -> list[str]:
    """The keys of ``[tool.encoder-gate]`` in ``text`` that blocks of their own define
    (``[tool.encoder-gate.tolerances.onnx-int8]``, ``[[tool.encoder-gate.waivers]]``), in order."""
    return list(dict.fromkeys(h.path[2] for h in _headers(text)
                              if h.path[:2] == ("tool", TABLE_NAME) and len(h.path) > 2))


def merge_pyproject(text: str | None, table: Mapping[str, Any], where: str = PYPROJECT,
                    keep_blocks: bool = False) -> str:
    """``text`` with ``[tool.encoder-gate]`` set to ``table``, every other byte unchanged.

    A new table goes after the last ``[tool.*]`` table (or at the end); an existing one
    (with its sub-tables, or with ``keep_blocks`` its own block alone: the sub-tables' blocks, a team's
    tolerances and waivers, kept byte for byte) is replaced where it stands. tomlkit renders the table;
    the splice is textual because tomlkit's in-place replacement drops comments that follow
    the replaced table (and, for out-of-order tables, other tables).
    """
    rendered = render_table(table)
    if text is None or not text.strip():
        return (text or "") + rendered
    old = _parse(text, where)
    nl = "\r\n" if "\r\n" in text else "\n"
    rendered = rendered.replace("\n", nl)
    headers = _headers(text)
    ours = [i for i, h in enumerate(headers)
            if h.path[:2] == ("tool", TABLE_NAME) and (len(h.path) == 2 or not keep_blocks)]
    if keep_blocks:  # (what the blocks kept define is part of the merged table)
        kept = old.get("tool", {}).get(TABLE_NAME, {})
        table = {**table, **{k: kept[k] for k in block_keys(text) if k in kept}}
    if ours:
        new = _replace_blocks(text, headers, ours, rendered, nl)
    else:
        if TABLE_NAME in old.get("tool", {}):
            raise GateError(_by_hand(where, "defines [tool.encoder-gate] with dotted keys or an inline "
                                            "table, which init cannot replace", rendered))
        tool_blocks = [h for h in headers if h.path[:1] == ("tool",)]
        at = tool_blocks[-1].end if tool_blocks else len(text)
        before, after = text[:at], text[at:]
        lead = ("" if before.endswith(("\n", "\r")) else nl) + nl
        trail = nl if after and not after.startswith(("\n", "\r\n")) else ""
        new = before + lead + rendered + trail + after
    _check_merge(old, new, table, where, rendered)
    return new


#: The settings of an existing [tool.encoder-gate] `init --force` carries over where its command line does
#: not give them (commands.cli: as if given again).
#: (`texts` where the command line gives neither --texts nor --dataset: a trial's unlabelled set was
#: dropped by an upgrade's `init --force`).
CARRIED_BY_FORCE = ("model", "dataset", "texts", "text-column", "label-column", "pair-column", "thresholds",
                    "relevant-grade")
#: The settings of an existing [tool.encoder-gate] that `init --force` decides again from its command line
#: (those above as carried over); every other one is the team's, kept.
DECIDED_BY_INIT = (*CARRIED_BY_FORCE, "device")


def kept_settings(old: str, table: dict[str, Any], backends_given: bool) -> list[str]:
    """What `init --force` keeps of the existing [tool.encoder-gate] in `old`, the pyproject's text: its
    keys but those it decides again (DECIDED_BY_INIT), set into `table`, and the blocks of their own
    (tolerances, waivers, devices: merge_pyproject keeps them byte for byte); the backends only where none
    are given and the model is the same. The names of those that differ from what init would write. A
    trial upgrading encoder-gate ran `init --force` for the new workflow and lost a tightened bound, its
    waiver and its choice of backends, unsaid."""
    existing = tomllib.loads(old).get("tool", {}).get(TABLE_NAME, {})
    blocks = block_keys(old)
    kept = []
    for key, value in existing.items():
        if key in blocks or key in DECIDED_BY_INIT:
            continue
        if key == "backends" and (backends_given or existing.get("model") != table["model"]):
            continue
        if table.get(key) != value:  # (one init would write the same is no news)
            kept.append(key)
        table[key] = value
    return [*kept, *blocks]


#: What `init` adds to a pyproject.toml when nothing in its directory configures pytest: the
#: directory then is pytest's rootdir, where [tool.encoder-gate] is read, whatever config file a
#: parent directory holds (a monorepo's pytest.ini would otherwise be the rootdir).
PIN_ROOTDIR = ("[tool.pytest.ini_options]\n"
               "# written by `encoder-gate init`: makes this directory pytest's rootdir, so a parent's\n"
               "# pytest.ini cannot move it away from [tool.encoder-gate]\n")


#: The files pytest reads its configuration from, in the order it looks for them in a directory, each
#: with the table that holds it: pytest.toml and .pytest.toml (pytest 9's) and pytest.ini and
#: .pytest.ini are the source even without it; pyproject.toml's is [tool.pytest] (pytest 9's native
#: table) or [tool.pytest.ini_options] (its own branch below).
PYTEST_CONFIG_FILES = (("pytest.toml", "pytest"), (".pytest.toml", "pytest"), ("pytest.ini", "pytest"),
                       (".pytest.ini", "pytest"), (PYPROJECT, "tool.pytest"), ("tox.ini", "pytest"),
                       ("setup.cfg", "tool:pytest"))


def _always_the_source(name: str) -> bool:
    return name.endswith((".toml", "pytest.ini")) and name != PYPROJECT


def configures_pytest(root: Path, pyproject_text: str | None) -> bool:
    """Whether a file in `root` is a pytest config file (pytest looks for these in each directory,
    in this order, and the first one makes that directory the rootdir)."""
    for name, section in PYTEST_CONFIG_FILES:
        if name == PYPROJECT:
            tool = _parse(pyproject_text, PYPROJECT).get("tool", {}) if pyproject_text is not None else {}
            if isinstance(tool, dict) and "pytest" in tool:
                return True
            continue
        path = root / name
        if path.is_file() and (_always_the_source(name) or any(
                line.strip() == f"[{section}]" for line in path.read_text().splitlines())):
            return True
    return False


#: addopts of a project's pytest configuration that keep its gate from running as the workflow runs it.
ADDOPTS_PROBLEMS = (
    (("-pno:encoder_gate", "no:encoder_gate"), "disables the encoder_gate plugin: every shipped test "
     "fails for want of its fixtures (backend, backend_evaluation); remove it there"),
    (("--benchmark-disable",), "turns pytest-benchmark's timing off: `pytest benchmarks` times nothing, "
     "and the speed gate fails saying it checked nothing; remove it there"),
    (("--benchmark-skip",), "skips every benchmark: the workflow's `pytest accuracy benchmarks` times no "
     "speed cell (--benchmark-only lifts it, but skips the accuracy tests); remove it there"),
    (("-n", "--numprocesses", "--dist"), "runs pytest-xdist: pytest-benchmark times nothing under it, and "
     "the speed gate fails saying so (run the self-tests with -n on the command line instead); remove it "
     "there"),
    (("--cov",), "runs coverage's tracer in every session: the benchmarks refuse to be timed under it, "
     "each failing (a tracer reads every speedup high); add --no-cov to the workflow's pytest command, "
     "or take --cov out of addopts"),
)


def pytest_addopts(root: Path, pyproject_text: str | None) -> tuple[str, Any]:
    """The addopts of the config file pytest reads in `root`, in pytest's order (pytest 9's
    pytest.toml and .pytest.toml; pytest.ini, .pytest.ini; pyproject.toml with [tool.pytest] (pytest
    9's native table) or [tool.pytest.ini_options]; tox.ini with [pytest]; setup.cfg with
    [tool:pytest]), named with its table: ("pytest.ini's [pytest]", "--cov=src"); ("", None) where
    none is there. A string, or a TOML list."""
    import configparser

    for name, section in PYTEST_CONFIG_FILES:
        if name == PYPROJECT:
            tool = _parse(pyproject_text, PYPROJECT).get("tool", {}) if pyproject_text else {}
            table = tool.get("pytest") if isinstance(tool, dict) else None
            if not isinstance(table, dict) or not table:
                continue
            native = {k: v for k, v in table.items() if k != "ini_options"}
            if native:
                return f"{PYPROJECT}'s [tool.pytest]", native.get("addopts")
            ini = table.get("ini_options")
            opts = ini.get("addopts") if isinstance(ini, dict) else None
            return f"{PYPROJECT}'s [tool.pytest.ini_options]", opts
        path = root / name
        if not path.is_file():
            continue
        if name.endswith(".toml"):  # pytest 9's files: TOML
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8")).get(section, {})
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                return "", None  # pytest says what is wrong with it
            return f"{name}'s [{section}]", table.get("addopts") if isinstance(table, dict) else None
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return "", None
        if parser.has_section(section) or _always_the_source(name):
            return f"{name}'s [{section}]", parser.get(section, "addopts", fallback=None)
    return "", None


def addopts_problems(pyproject_text: str | None, root: Path) -> list[str]:
    """What in the addopts of the project's pytest config file in `root` (:func:`pytest_addopts`:
    pytest.ini's, pyproject.toml's, ...) keeps the gate from running as init's workflow runs it
    (pytest reads addopts into every session, the workflow's too), one line each."""
    import itertools
    import shlex

    where, opts = pytest_addopts(root, pyproject_text)
    try:
        words = shlex.split(opts) if isinstance(opts, str) else [str(w) for w in opts or ()]
    except ValueError:
        return []
    joined = [a + b for a, b in itertools.pairwise(words)]  # "-p no:x" as one word
    out = []
    for spellings, what in ADDOPTS_PROBLEMS:
        found = next((w for w in [*words, *joined] if w in spellings or
                      any(w.startswith(f"{s}=") for s in spellings if s.startswith("--"))), None)
        if found is not None:
            out.append(f"{where} addopts has {found}, which {what}")
    return out


def pin_rootdir(text: str) -> str:
    """`text` (a pyproject.toml) with :data:`PIN_ROOTDIR` appended, checked by parsing it back."""
    nl = "\r\n" if "\r\n" in text else "\n"
    new = text.rstrip("\r\n") + nl + nl + PIN_ROOTDIR.replace("\n", nl)
    parsed = _parse(new, PYPROJECT).get("tool", {})
    if parsed.get("pytest", {}).get("ini_options") != {}:  # pragma: no cover - a table init just wrote
        raise GateError(_by_hand(PYPROJECT, "could not take [tool.pytest.ini_options]", PIN_ROOTDIR))
    return new


def has_gate_table(text: str, path: Path) -> bool:
    tool = _parse(text, path.as_posix()).get("tool", {})
    return isinstance(tool, dict) and TABLE_NAME in tool


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GateError(f"{where} is not valid TOML ({exc}); fix it before running init") from None


def _by_hand(where: str, why: str, rendered: str) -> str:
    return f"{where} {why}; add this table to it by hand:\n{rendered}"


def _check_merge(old: dict[str, Any], new_text: str, table: Mapping[str, Any], where: str,
                 rendered: str) -> None:
    """The merged text must parse to the old document with only [tool.encoder-gate] changed."""
    try:
        new = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        new = None
    ok = new is not None and new.get("tool", {}).get(TABLE_NAME) == dict(table)
    if ok and new is not None:
        old_rest = {k: v for k, v in old.items() if k != "tool"}
        new_rest = {k: v for k, v in new.items() if k != "tool"}
        old_tool = {k: v for k, v in old.get("tool", {}).items() if k != TABLE_NAME}
        new_tool = {k: v for k, v in new.get("tool", {}).items() if k != TABLE_NAME}
        ok = old_rest == new_rest and old_tool == new_tool
    if not ok:
        raise GateError(_by_hand(where, "is laid out in a way init cannot merge into (e.g. `tool` "
                                        "defined with dotted keys or an inline table)", rendered))


def _replace_blocks(text: str, headers: list[_Header], ours: list[int], rendered: str, nl: str) -> str:
    """Replace the first run of consecutive encoder-gate blocks with ``rendered``; drop the others."""
    runs: list[list[int]] = []
    for i in ours:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    pieces: list[str] = []
    pos = 0
    for n, run in enumerate(runs):
        start, end = headers[run[0]].start, headers[run[-1]].end
        if n:
            # a later run: drop the blank lines before it too, so no double gap is left
            start = len(text[:start].rstrip("\r\n")) + len(nl) if text[:start].strip() else start
            start = max(start, pos)
        pieces.append(text[pos:start])
        if n == 0:
            pieces.append(rendered)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _headers(text: str) -> list[_Header]:
    """Every ``[table]`` / ``[[array]]`` header of valid TOML ``text``, with its block's extent.

    A small scanner: lines at statement level are blank, comments, headers or key/value
    pairs; a value runs on across lines while inside a multi-line string or brackets.
    """
    headers: list[_Header] = []
    pos, n = 0, len(text)
    while pos < n:
        eol = text.find("\n", pos)
        line_end = n if eol < 0 else eol + 1
        stripped = text[pos:line_end].strip()
        if not stripped or stripped.startswith("#"):
            pos = line_end
        elif stripped.startswith("["):
            headers.append(_Header(_header_path(stripped), pos, line_end))
            pos = line_end
        else:
            pos = _value_end(text, pos)
            if headers:
                last = headers[-1]
                headers[-1] = _Header(last.path, last.start, pos)
    return headers


def _header_path(line: str) -> tuple[str, ...]:
    inner = line[2:] if line.startswith("[[") else line[1:]
    key, quote = [], ""
    for ch in inner:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "]":
            break
        key.append(ch)
    node: Any = tomllib.loads(f"{''.join(key)} = 0")
    path: list[str] = []
    while isinstance(node, dict):
        name, node = next(iter(node.items()))
        path.append(name)
    return tuple(path)


def _value_end(text: str, pos: int) -> int:
    """Offset just past the key/value statement starting at ``pos`` (its last line included)."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            triple = text.startswith(ch * 3, i)
            i = _string_end(text, i + (3 if triple else 1), ch, triple)
            continue
        if ch == "#":
            eol = text.find("\n", i)
            i = n if eol < 0 else eol
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "\n" and depth <= 0:
            return i + 1
        i += 1
    return n


def _string_end(text: str, i: int, quote: str, triple: bool) -> int:
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and quote == '"':
            i += 2
            continue
        if triple and text.startswith(quote * 3, i):
            i += 3
            while i < n and text[i] == quote:  # up to two quotes may end the content
                i += 1
            return i
        if not triple and ch == quote:
            return i + 1
        i += 1
    return n


