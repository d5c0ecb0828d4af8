"""The ``encoder-gate`` command line: cli, export and init."""
