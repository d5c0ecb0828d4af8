"""The plugin's session state in the config's stash, and the one way a build step skips or fails.

Every part of the plugin (core hooks, fixtures, the benchmark half) and the shipped suite
reads the session through :func:`gate_session_of` and runs build steps through
:func:`call_or_skip`, so they import this module, never each other.
"""

from __future__ import annotations

from typing import Any

import pytest

from encoder_gate.errors import DeviceUnavailable, GateError, MissingDependency
from encoder_gate.reporting.verdict import Verdict
from encoder_gate.runtime.base import BaseSide
from encoder_gate.runtime.session import GateSession

SESSION_KEY = pytest.StashKey[GateSession]()
BASE_KEY = pytest.StashKey[BaseSide]()  # --gate-base: the base's side


OUTCOMES = pytest.StashKey[dict[str, dict[str, Any]]]()  # backend -> {"ran": n, "skips": [reasons]}


NOTHING_CHECKED = pytest.StashKey[str]()


BACKEND_PROPERTY = "encoder_gate_backend"


WORKER_PAYLOADS = pytest.StashKey[list[dict[str, Any]]]()
#: The verdict written at the session's end (accuracy, speed or vs base), for the terminal's last word.
VERDICT = pytest.StashKey[Verdict]()


def skip_reason(report: pytest.TestReport) -> str:
    """Why a skipped test report was skipped, in the words given to pytest.skip."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return str(reason).removeprefix("Skipped: ")


def params_of(item: pytest.Item) -> dict[str, Any]:
    """The item's parametrize values ({} for an item that is not parametrized)."""
    return dict(getattr(getattr(item, "callspec", None), "params", {}))


def tag_items(items: list[pytest.Item], param: str, prop: str) -> None:
    """Put each item's `param` value on its reports as the user property `prop` (the reports
    carry it to the xdist controller)."""
    for item in items:
        params = params_of(item)
        if param in params:
            item.user_properties.append((prop, str(params[param])))


def gate_session_of(config: pytest.Config) -> GateSession:
    return config.stash[SESSION_KEY]


def call_or_skip(fn: Any, *args: Any) -> Any:
    """Run a build step; a missing device or package skips, any other GateError fails."""
    try:
        return fn(*args)
    except (DeviceUnavailable, MissingDependency) as exc:
        pytest.skip(str(exc))
    except GateError as exc:
        pytest.fail(f"encoder-gate: {exc}", pytrace=False)
