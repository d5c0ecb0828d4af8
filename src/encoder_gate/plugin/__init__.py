"""The pytest plugin: options, session fixtures, the benchmark half and the summary."""
