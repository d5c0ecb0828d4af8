"""What a session says of its cold work before its first build: which backends each side builds
and evaluates, read from the collected items; :mod:`encoder_gate.speed.forecast` estimates it."""

from __future__ import annotations

import pytest

from encoder_gate.errors import DeviceUnavailable, MissingDependency, NotApplicable
from encoder_gate.plugin.stash import BASE_KEY, gate_session_of, params_of
from encoder_gate.speed.forecast import forecast


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
