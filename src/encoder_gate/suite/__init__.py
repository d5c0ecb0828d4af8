"""The tests encoder-gate ships: a user's repository runs them through thin entry files.

`encoder-gate init` writes `accuracy/test_encoder_gate_accuracy.py` and
`benchmarks/test_encoder_gate_speed.py`, each a star import of one module here
(:mod:`encoder_gate.suite.accuracy`, :mod:`encoder_gate.suite.benchmarks`); pytest collects
the imported test functions as if they were written in the entry file. Upgrading
encoder-gate upgrades the tests. The fixtures they use come from the plugin, so a user's
own tests beside the entry files can use them too.

The plugin registers this package for pytest's assertion rewriting, so a failed `assert`
here reports its values like one in a user's own test file.
"""
