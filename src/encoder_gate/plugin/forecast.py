"""What a session says of its cold work before its first build: which backends each side builds
and evaluates, read from the collected items; :mod:`encoder_gate.speed.forecast` estimates it."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import pytest

from encoder_gate.errors import DeviceUnavailable, MissingDependency, NotApplicable
from encoder_gate.plugin.stash import BASE_KEY, gate_session_of, params_of
from encoder_gate.speed.forecast import Forecast, duration, forecast


def say_forecast(config: pytest.Config, missing: list[str], used: list[str],
                 items: list[pytest.Item], base: bool = False) -> None:
    """Before the first build: what this session's cold work will take (speed.forecast), where it has
    any; with `base`, the --gate-base side's, before its builds. Only an estimate: one that cannot
    be made says why in a line, and the session goes on."""
    gate = gate_session_of(config)
    param = "ab_backend" if base else "backend"

    def evaluates(item: pytest.Item) -> bool:
        """A test that predicts the evaluation set with its backend: the base's accuracy against
        the PR's, or one of the session's own checks."""
        if base:
            return getattr(item, "originalname", None) == "test_accuracy_vs_base"
        return "backend_evaluation" in getattr(item, "fixturenames", ())

    evaluated = [str(params[param]) for item in items
                 if param in (params := params_of(item)) and evaluates(item)]
    try:
        told = forecast(config.stash[BASE_KEY].session if base else gate, missing, used, evaluated,
                        base_of=gate if base else None)
    except (DeviceUnavailable, MissingDependency, NotApplicable):
        return  # its tests skip saying so
    except Exception as exc:  # an estimate must not fail a session
        gate.progress(f"no estimate of this session's work ({type(exc).__name__}: {str(exc)[:200]})")
        return
    if told is not None:
        gate.progress(told.message(timing=gate.timing) + ".")
        gated = [item for item in items if param in params_of(item)]
        said = timeout_too_short(timeout_of(config, gated), told,
                                 sorted({os.path.relpath(item.path, config.rootpath) for item in gated}))
        if said:
            gate.progress(said)


def timeout_of(config: pytest.Config, items: Sequence[pytest.Item]) -> float | None:
    """The shortest per-test limit pytest-timeout sets on `items` (a `timeout` mark of theirs, else its
    --timeout, PYTEST_TIMEOUT, the ini's `timeout`, as pytest-timeout reads them); None where it is
    not installed or sets none (0 is none)."""
    try:
        ini = config.getini("timeout")
    except ValueError:  # no `timeout` ini key: pytest-timeout is not installed
        return None
    default = config.getoption("timeout", None)  # --timeout 0 turns it off: the first given decides
    if default is None:
        default = os.environ.get("PYTEST_TIMEOUT") or ini
    limits = []
    for item in items:
        mark = item.get_closest_marker("timeout")
        given = (mark.args[0] if mark.args else mark.kwargs.get("timeout")) if mark is not None else default
        try:
            limits.append(float(given or 0))
        except (TypeError, ValueError):  # pytest-timeout refuses it itself
            continue
    return min((limit for limit in limits if limit > 0), default=None)


def timeout_too_short(limit: float | None, told: Forecast, modules: Sequence[str]) -> str | None:
    """A line where pytest-timeout's limit is shorter than the builds the session's first tests pay
    (the ONNX files are built together, in one child, in the setup of the first test that needs one;
    torch.compile compiles in the first call): such a test stops mid-build, and so may each test after
    it that needs the same build, a Timeout traceback each (a 20 s limit and a 2-layer model: 7 of
    them, every test of torch-compile). None where nothing is that long."""
    builds = sum(step.seconds for step in told.steps if step.build)
    if limit is None or builds <= limit:
        return None
    give = 60 * math.ceil(max(2 * told.seconds, 600) / 60)  # twice the whole estimate, ten minutes at least
    where = " and ".join(modules) or "the module that imports the gate's tests"
    return (f"pytest-timeout stops a test after {limit:g} s, and this session's first tests build its "
            f"backends (about {duration(builds)}, the estimate above): a test stopped mid-build fails, and "
            "so may each test after it that needs the same build. Give the gate's tests a limit of their "
            f"own: pytestmark = pytest.mark.timeout({give}) in {where}, or --timeout 0 for this session")
