"""encoder-gate's speed gate: throughput of every configured backend with pytest-benchmark.

The tests live in the installed package (encoder_gate.suite.benchmarks), so upgrading
encoder-gate upgrades them. Add your own benchmarks beside this file using the plugin's
fixtures (backend, gate_tokenizer, bench_texts, bench_record, ...).
"""

from encoder_gate.suite.benchmarks import *  # noqa: F403
