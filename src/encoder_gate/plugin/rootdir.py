"""Whether pytest took its rootdir, and with it [tool.encoder-gate], from a --gate-* option's value.

pytest decides its rootdir before it loads entry-point plugins, so it does not know their options
yet and reads every path on the command line as a path of tests, an option's value after a space
too (pytest-dev/pytest#8846; `--opt=VALUE` is never read so). Two ways that moved a session to
another configuration without a word:

- the value lies in another pytest project: `pytest --gate-report-dir ../other/reports accuracy`
  made ../other the rootdir, and the session gated that project's model and backends;
- the value lies beside the project: `pytest accuracy --gate-model ../models/clf` made the common
  parent of the two the rootdir (a monorepo's root configuration, or none at all), above the project's
  own pyproject.toml, whose [tool.encoder-gate] the session then never read.

Either is a usage error naming the option and the fix, at the session's start.
"""

from __future__ import annotations

import configparser
import itertools
import os
import shlex
import tomllib
from pathlib import Path

import pytest

from encoder_gate.errors import GateError
from encoder_gate.plugin.options import FLAGS


def rootdir_from_a_value(config: pytest.Config) -> None:
    """A GateError where pytest's rootdir holds neither the tests this session runs (or, given none,
    the directory it runs in), or sits above a pytest configuration of theirs, and the value of a
    --gate-* option given after a space lies under it (outside that configuration's directory): the
    rootdir pytest took from the value. Nothing where the rootdir or the config file was asked for."""
    if config.getoption("rootdir", None) or config.getoption("inifilename", None):
        return
    here, root = Path(config.invocation_params.dir), config.rootpath.resolve()
    ran = ([(here / str(a).split("::")[0]).resolve() for a in config.args]
           if config.args_source == pytest.Config.ArgsSource.ARGS else [here.resolve()])
    own: Path | None = None  # the tests' own configuration below the rootdir, which pytest passed over
    if any(p.is_relative_to(root) for p in ran):
        own = next(filter(None, (configured_below(p, root) for p in ran)), None)
        if own is None:
            return
    # (PYTEST_ADDOPTS comes first, before the rootdir is decided; an ini file's addopts after it)
    given = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *map(str, config.invocation_params.args)]
    flags = {f"--gate-{name}" for name, _ in FLAGS}  # (no value: what follows one is no option's)
    for option, value in itertools.pairwise(given):
        if (not option.startswith("--gate-") or "=" in option or value.startswith("-")
                or option in flags):
            continue
        path = (here / value).resolve()
        if path.exists() and path.is_relative_to(root) and not (own and path.is_relative_to(own)):
            tests = f"the tests' own configuration in {own}" if own else "the tests this session runs"
            raise GateError(f"pytest took its rootdir, and with it its configuration and "
                            f"[tool.encoder-gate], from {root}, where {option}'s value {value} lies, not "
                            f"from {tests}: pytest looks for its rootdir in every path on its command line "
                            f"(and in PYTEST_ADDOPTS), an option's value after a space too. Write "
                            f"`{option}={value}`")


def configured_below(start: Path, root: Path) -> Path | None:
    """The nearest directory from `start` up to `root` (not `root` itself) holding a configuration
    pytest would have taken its rootdir from (pytest.ini, .pytest.ini, pyproject.toml's [tool.pytest]
    or [tool.pytest.ini_options], tox.ini's [pytest], setup.cfg's [tool:pytest]); None for none."""
    folder = start if start.is_dir() else start.parent
    for d in (folder, *folder.parents):
        if d == root or not d.is_relative_to(root):
            return None
        if _holds_pytest_config(d):
            return d
    return None


def _holds_pytest_config(folder: Path) -> bool:
    if (folder / "pytest.ini").is_file() or (folder / ".pytest.ini").is_file():
        return True
    try:
        tool = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {})
        if isinstance(tool, dict) and "pytest" in tool:
            return True
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        pass
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(folder / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_section(section):
            return True
    return False
