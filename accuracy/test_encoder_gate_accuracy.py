"""encoder-gate's accuracy gate: drift, F1 and padding properties for every configured backend.

The tests live in the installed package (encoder_gate.suite.accuracy), so upgrading
encoder-gate upgrades them. Add your own tests beside this file using the plugin's
fixtures (gate_model, gate_dataset, gate_reference, backend, backend_evaluation, ...).
"""

from encoder_gate.suite.accuracy import *  # noqa: F403
