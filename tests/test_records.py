"""Registries refuse a second record under a name they hold: backends, checks, speed rules, recipes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from encoder_gate.accuracy.checks import CHECKS
from encoder_gate.backends.recipes import RECIPES
from encoder_gate.backends.registry import BACKENDS
from encoder_gate.errors import GateError
from encoder_gate.records import Registry
from encoder_gate.speed.rules import SPEED_RULES


def test_a_repeated_name_is_a_clear_error_where_a_dict_kept_the_last():
    records = [SimpleNamespace(name="drift_max", v=1), SimpleNamespace(name="drift_max", v=2)]
    assert {r.name: r for r in records}["drift_max"].v == 2  # what the registries did: silently the last
    with pytest.raises(GateError, match=r"two checks are registered as 'drift_max'"):
        Registry.of("check", records)
    with pytest.raises(GateError, match=r"two backends are registered as 'onnx-fp32'"):
        Registry("backend", {"onnx-fp32": 1}, {"onnx-fp32": 2})  # a recipe named like a gate backend


@pytest.mark.parametrize(("registry", "kind", "known"), [
    (BACKENDS, "backend", "torch"), (CHECKS, "check", "drift_max"), (SPEED_RULES, "speed rule", "test"),
    (RECIPES, "recipe", "onnx-fp32-o2"),
])
def test_every_registry_refuses_a_known_name_and_takes_a_new_one(registry, kind, known):
    assert isinstance(registry, Registry) and registry.kind == kind and known in registry
    before = registry[known]
    with pytest.raises(GateError, match=rf"two {kind}s are registered as '{known}'"):
        registry[known] = object()
    with pytest.raises(GateError):
        registry.update({known: object()})
    assert registry[known] is before
    registry["a-new-one"] = before  # a new name is one more record
    try:
        assert registry["a-new-one"] is before
    finally:
        del registry["a-new-one"]
