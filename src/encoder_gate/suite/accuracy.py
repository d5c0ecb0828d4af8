"""The accuracy gate, as one importable set of tests (see :mod:`encoder_gate.suite`).

- :mod:`~encoder_gate.suite.smoke`: every backend answers with well-formed outputs;
- :mod:`~encoder_gate.suite.checks`: drift and task metrics (overall and per label) within the
  backend's bounds;
- :mod:`~encoder_gate.suite.padding`: hypothesis properties of tokenization and padding;
- :func:`~encoder_gate.suite.ab.test_accuracy_vs_base`: with `--gate-base`, each backend against
  the base's;
- :func:`~encoder_gate.suite.baseline.test_accuracy_vs_baseline`: with `--gate-accuracy-baseline`,
  each backend against a baseline session's predictions on other libraries (the base's requirements).
"""

from __future__ import annotations

from encoder_gate.suite import checks, padding, smoke
from encoder_gate.suite.ab import test_accuracy_vs_base
from encoder_gate.suite.baseline import test_accuracy_vs_baseline
from encoder_gate.suite.checks import *  # noqa: F403
from encoder_gate.suite.padding import *  # noqa: F403
from encoder_gate.suite.smoke import *  # noqa: F403

__all__ = [*smoke.__all__, *checks.__all__, *padding.__all__, "test_accuracy_vs_base",
           "test_accuracy_vs_baseline"]
