"""Where the gate lives in a user's repository: the thin test modules, pyproject's table, the workflow.

One place for every path and name `encoder-gate init` writes, read by the init command, the
pyproject merge and the workflow template alike.
"""

from __future__ import annotations

ACCURACY_MODULE = "accuracy/test_encoder_gate_accuracy.py"
SPEED_MODULE = "benchmarks/test_encoder_gate_speed.py"
WORKFLOW_PATH = ".github/workflows/encoder-gate.yml"
PYPROJECT = "pyproject.toml"
TABLE_NAME = "encoder-gate"

# the workflow's artifact cache, under $GITHUB_WORKSPACE
CACHE_DIR_NAME = "encoder-gate-cache"

# what the sessions write in the repository (the artifact cache, models and ONNX files of hundreds
# of MB, and the reports): init keeps it out of git, or `git add -A` commits the cache
GITIGNORE = ".gitignore"
GATE_DIR = ".encoder-gate/"

#: The durations every shard of the workflow deals by, committed in the repository (what `encoder-gate
#: merge` writes as shard-costs.json); without it the shards deal equal shares.
SHARD_COSTS_FILE = ".github/encoder-gate-shard-costs.json"


def project_slug(project: str) -> str:
    """A project's directory in its repository as one name ("services/topics": "services-topics"; "" the
    root's): its workflow's file, concurrency group, cache key and history branch."""
    return "-".join(part for part in project.split("/") if part)


def workflow_path(project: str = "") -> str:
    """The workflow of the project at `project` in its repository, from the repository's root: WORKFLOW_PATH
    for the root's project, one named after the project for another (GitHub runs the root's workflows
    alone)."""
    return WORKFLOW_PATH.replace(".yml", f"-{project_slug(project)}.yml") if project else WORKFLOW_PATH


ACCURACY_TEXT = '''\
"""encoder-gate's accuracy gate: drift, F1 and padding properties for every configured backend.

The tests live in the installed package (encoder_gate.suite.accuracy), so upgrading
encoder-gate upgrades them. Add your own tests beside this file using the plugin's
fixtures (gate_model, gate_dataset, gate_reference, backend, backend_evaluation, ...).
"""

from encoder_gate.suite.accuracy import *  # noqa: F403
'''

SPEED_TEXT = '''\
"""encoder-gate's speed gate: throughput of every configured backend with pytest-benchmark.

The tests live in the installed package (encoder_gate.suite.benchmarks), so upgrading
encoder-gate upgrades them. Add your own benchmarks beside this file using the plugin's
fixtures (backend, gate_tokenizer, bench_texts, bench_record, ...).
"""

from encoder_gate.suite.benchmarks import *  # noqa: F403
'''

#: The thin test modules ``init`` writes: path relative to the project root -> content.
#: encoder-gate's own ``accuracy/`` and ``benchmarks/`` hold the same files.
THIN_MODULES: dict[str, str] = {ACCURACY_MODULE: ACCURACY_TEXT, SPEED_MODULE: SPEED_TEXT}
