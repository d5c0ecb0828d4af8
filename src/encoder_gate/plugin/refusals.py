"""Why a session must not run, decided once its tests are collected, and what a refusal then
spares: no build.

pytest runs every ``pytest_collection_finish`` after a usage error raised while the items are
modified (its ``finally``), and the gate builds every missing backend there (core's). A session
refused for having no [tool.encoder-gate] table trained the default model and built three ONNX files,
84 s on an AVX2-only AMD EPYC, before its one line. The wrapper here records any such refusal, the
plugin's or another's, and :func:`refused` tells core's hook to do nothing: as a usage error at the
session's start, the session ran nothing, and the report directory keeps the last session's verdict
(a refused session had marked itself running there, which resolved its model: the default model's
training, 60 s, for a session refused for gating it).
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from encoder_gate.config import read_pyproject_table
from encoder_gate.decision import check_waivers_fit
from encoder_gate.errors import GateError
from encoder_gate.plugin.stash import SESSION_KEY

#: The usage error that refused this session while its items were modified.
REFUSED = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config) -> Generator[None, None, None]:
    try:
        return (yield)
    except pytest.UsageError as exc:
        config.stash[REFUSED] = str(exc)
        raise


def refused(config: pytest.Config) -> bool:
    """Whether a usage error refused this session while its items were modified."""
    return REFUSED in config.stash


def unusable_waiver(config: pytest.Config) -> str | None:
    """Why a waiver could never apply to the model: a label it does not have, a check that does not
    fit its task (check_waivers_fit). Read once the model resolves (a model that cannot: its tests
    say why)."""
    state = config.stash.get(SESSION_KEY, None)
    if state is None or not state.config.waivers:
        return None
    try:
        model = state.model
    except GateError:
        return None
    try:
        check_waivers_fit(state.config.waivers, model.label_names, str(model.task))
    except GateError as exc:
        return f"encoder-gate: {exc}"
    return None


def no_table(config: pytest.Config, items: list[pytest.Item], suite_package: str) -> str | None:
    """Why this session must not run: it collected the shipped suite (`suite_package`), names no
    model on the command line, and pytest's rootdir has no [tool.encoder-gate] table. A parent
    directory's pytest.ini (a monorepo) moves the rootdir away from the project's pyproject.toml,
    and the session would then gate the bundled default model, passing, instead of the user's."""
    suite = [i for i in items
             if getattr(getattr(i, "function", None), "__module__", "").startswith(suite_package)]
    if not suite or config.getoption("gate_model") is not None or read_pyproject_table(config.rootpath):
        return None
    found = config.inipath or "no config file"
    return (f"encoder-gate: no [tool.encoder-gate] table in {config.rootpath / 'pyproject.toml'}: that is "
            f"pytest's rootdir (from {found}), so this session would gate the bundled default model, not "
            "yours. A parent directory's pytest.ini or pyproject.toml can move the rootdir: add "
            "[tool.pytest.ini_options] to your project's pyproject.toml (`encoder-gate init` does), or run "
            "pytest with --rootdir=PROJECT -c PROJECT/pyproject.toml; pass --gate-model to gate a model "
            "without a table.")
