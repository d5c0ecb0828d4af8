"""Thin root conftest: hypothesis profiles only. All logic lives in src/encoder_gate.

The profile comes from HYPOTHESIS_PROFILE, else `ci`, with or without `CI` set: one commit gives one
verdict in CI and on a laptop. `dev` and `thorough` draw at random when named. (The gate's own padding
properties take only the number of examples from here: they draw from a seed of what is judged,
encoder_gate.runtime.properties; `--gate-explore N` explores.)
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
