"""The plugin's command-line options: `OPTIONS`, each a [tool.encoder-gate] key a session may
override (``--gate-KEY``, read into its GateConfig); `SESSION_OPTIONS`, what one session compares
with or which share it runs, which no key holds; `FLAGS`. One record each: the help, the
configuration page (a self-test holds docs/configuration.md to them) and the plugin read them here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from encoder_gate.backends.int8_path import TARGETS
from encoder_gate.backends.prebuilt import resolve_onnx_path
from encoder_gate.backends.registry import split_integer_path, with_prebuilt_file
from encoder_gate.config import read_pyproject_table
from encoder_gate.errors import GateError
from encoder_gate.models.spec import BUILTIN_MODELS

#: The [tool.encoder-gate] keys a session may override, each as ``--gate-KEY``.
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("model", "MODEL", f"model: {', '.join(BUILTIN_MODELS)}, a local HF model directory, or a hub id"),
    ("backends", "LIST", "comma list of backends: torch, torch-compile, onnx-fp32, onnx-fp16, "
                         "onnx-int8, onnx:PATH"),
    ("targets", "LIST", f"comma list of the CPUs the INT8 files will run on, from {', '.join(TARGETS)} "
                        "(default all): each INT8 backend is judged on their integer paths, this "
                        "CPU's always"),
    ("dataset", "SOURCE", "dataset: bundled, a .jsonl/.csv/.parquet file, a saved HF dataset "
                          "directory, or hf:ID"),
    ("dataset-variant", "VARIANT", "normal, or filtered (texts over 200 characters)"),
    ("split", "SPLIT", "dataset split (bundled: train, validation, test)"),
    ("text-column", "NAME", "text column of the dataset"),
    ("label-column", "NAME", "label column of the dataset"),
    ("pair-column", "NAME", "the dataset's column of each row's second text: rows fed as sentence pairs "
                            "(NLI's premise and hypothesis, a reranker's query and passage)"),
    ("label-format", "FORMAT", "how the label column holds labels: auto (default: told from the cells), "
                               "names, indices (0-based) or onehot"),
    ("relevant-grade", "GRADE", "a one-label model's (a reranker's) label column holds graded relevance (0 "
                                "to 3, say): a row is relevant from this grade on"),
    ("texts", "FILE", "a text file, one text per line, instead of a labelled dataset: every parity "
                      "check runs, F1 is skipped (no gold labels)"),
    ("calibration", "FILE", "static INT8's calibration texts, one per line (default: the validation split "
                            "of the dataset, never its test split)"),
    ("batch-sizes", "LIST", "comma list of benchmark batch sizes (default 1,8)"),
    ("sweep", "SWEEP", "benchmarks: gate (default; model-only, normal, bucketed, paired: the measured "
                       "gate configuration) or full (every mode, variant, dispatch, workers, batch "
                       "sizes 1-32)"),
    ("eval-batch-size", "N", "batch size for accuracy evaluation (at most 4,096 padded tokens a batch, too)"),
    ("max-tokens", "N", "the most tokens of a text the gate feeds the model (default 512; a long-context "
                        "encoder is judged up to its own limit where raised, at the cost of its attention)"),
    ("limit", "N", "evaluate only the first N examples (0: all)"),
    ("explore", "N", "the padding properties draw N random examples each instead of their fixed ones (the "
                     "same every run); a failure found is kept in the artifact cache and replayed by every "
                     "later session"),
    ("thresholds", "MODE|FILE", "fixed (0.5, the model card's), tuned (per label, on the validation split), "
                                "or a JSON file of each label's threshold as the service decides at them"),
    ("device", "DEVICE", "cpu or cuda"),
    ("threads", "N", "intra-op threads for torch and ONNX Runtime in a session that times its backends "
                     "(benchmarks, vs base; 0: library default)"),
    ("eval-threads", "N", "intra-op threads of the predictions on the evaluation set, also in a session that "
                          "times at --gate-threads (default 0: the library default, all cores)"),
    ("cache-dir", "DIR", "artifact cache directory (default .encoder-gate/cache)"),
    ("report-dir", "DIR", "report directory (default .encoder-gate)"),
    ("f1-rule", "RULE", "how the F1 keep check decides: point (default; F1 keeps f1_keep x the "
                        "reference's), regression (fails when the whole 95 percent CI of the F1 change lies "
                        "below -margin) or non-inferiority (passes when it lies above -margin)"),
    ("f1-margin", "F1", "the F1 drop the CI rules and the power warning use, absolute (default 0.01: "
                        "one F1 point)"),
    ("per-label-min-support", "N", "per-label check: judge only labels with at least N gold positives "
                                   "(default 30)"),
    ("base", "DIR", "a checkout of the PR's base: its [tool.encoder-gate], model and backends run beside the "
                    "PR's in this session, and the vs-base tests compare each backend's accuracy and speed"),
    ("base-ref", "REF", "a git ref of the PR's base (e.g. origin/main): where HEAD left it (their "
                        "merge-base) is checked out in a git worktree and run as --gate-base"),
    ("min-slowdown", "SHARE", "vs base: the smallest slowdown that fails a cell (default 0.05: 5 percent)"),
    ("inconclusive", "MODE", "vs base: how a cell that could not decide within its budget counts, warn "
                             "(default) or fail"),
    ("ab-budget", "SECONDS", "vs base: the time each speed cell may take for its rounds (default 25)"),
    ("ab-round-seconds", "SECONDS", "vs base: each arm's share of one timed round (default 0.5); a cell runs "
                                    "at least 10 rounds, so shorter rounds decide sooner, each one noisier"),
    ("budget", "SECONDS", "the time the session may spend timing, shared among its speed cells (time a "
                          "cell leaves unused goes to the ones after it; a vs-base cell takes the smaller "
                          "of its share and --gate-ab-budget; default: none, each cell runs to its CI "
                          "target or decision)"),
    ("per-label-keep", "SHARE", "per-label check: the share of its reference F1 every label keeps, for "
                                "every backend (default: the backend's per_label_keep in tolerances.py)"),
)


#: The options of one session that no [tool.encoder-gate] key holds (what it compares with, its share).
SESSION_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("speedup-baseline", "FILE", "speedups.json of the base run to gate speedups against (default: the "
                                 "speedups in the save --benchmark-compare compares with)"),
    ("accuracy-baseline", "FILE", "accuracy.json of a session on other libraries (the base's requirements) "
                                  "whose predictions, in the same artifact cache, each backend's accuracy is "
                                  "gated against"),
    ("shard", "K/N", "run the K-th of N shares of the gate (whole backends, dealt by their recorded "
                     "durations); `encoder-gate merge` joins the N report directories into one verdict"),
    ("shard-costs", "FILE", "with --gate-shard: deal by the seconds in FILE (the shard-costs.json "
                            "`encoder-gate merge` writes, committed so that every runner reads the same), "
                            "or `equal` for equal shares (default: the durations recorded in the artifact "
                            "cache)"),
    ("shard-plan", "FILE", "with --gate-shard: the share of the plan in FILE (another session's shard.json), "
                           "of the backends of its kinds configured here, not a deal of their own"),
)
FLAGS: tuple[tuple[str, str], ...] = (
    ("allow-other-machine", "gate speedups against a baseline whose hardware fingerprint (CPU, ISA flags, "
                            "cores, threads, execution providers, torch/onnxruntime versions) differs (also "
                            "ENCODER_GATE_ALLOW_OTHER_MACHINE=1)"),
    ("allow-skip", "let a session pass in which every configured backend, or every test of one, was skipped "
                   "(by default such a session fails: it checked nothing, or not that backend)"),
)


def add_options(parser: pytest.Parser) -> None:
    """Every --gate-* option, in the plugin's group of pytest's help."""
    group = parser.getgroup("encoder-gate", "encoder-gate: encoder accuracy and speed gate")
    for name, metavar, help_text in (*OPTIONS, *SESSION_OPTIONS):
        group.addoption(f"--gate-{name}", dest=f"gate_{name.replace('-', '_')}",
                        metavar=metavar, default=None, help=help_text)
    for name, help_text in FLAGS:
        group.addoption(f"--gate-{name}", dest=f"gate_{name.replace('-', '_')}", action="store_true",
                        default=False, help=help_text)


# --- how the command line narrowed the project's gate (said as a selection by the verdict) -------------


def backends_narrowed(backends: Sequence[str], projects: Sequence[str], model: str = "") -> str | None:
    """How --gate-backends narrowed the project's gate ("--gate-backends torch,onnx-fp32 (leaving out
    the project's onnx-int8)"; "not the project's 1" of batch sizes read as if the project's were 1),
    or None: a PASS of the rest says nothing of those (walk AE: an onnx-int8 that failed one session
    was out of the next one's PASS without a word). `projects`: the backends
    its [tool.encoder-gate] names (none: it names none, and the defaults are no project's choice);
    an onnx: file is the file its path finds (beside `model` too), however the path is written."""
    given = {_the_file(b, model) for b in backends}
    left = [b for b in projects if _the_file(b, model) not in given and split_integer_path(b)[1] is None]
    if not left:
        return None
    return f"--gate-backends {','.join(backends)} (leaving out the project's {', '.join(left)})"


def other_model(config: pytest.Config) -> str | None:
    """--gate-model naming another model than the project's ("--gate-model tiny (not the project's
    models/clf)"), or None: its PASS had replaced the project's failing verdict without a word."""
    table = read_pyproject_table(config.rootpath)  # a table without `model` gates the default one
    given, mine = config.getoption("gate_model"), table.get("model", "default") if table else None
    if not given or not isinstance(mine, str):
        return None
    if given == mine or Path(given).expanduser().resolve() == (config.rootpath / mine).expanduser().resolve():
        return None
    return f"--gate-model {given} (not the project's {mine})"


def _the_file(name: str, model: str) -> str:
    """`name` with its onnx: file's path as the file it finds: two spellings of one file are one
    backend, two files of one name in two folders two (a path that finds nothing stays as written)."""
    def found(path: str) -> str:
        try:
            return str(resolve_onnx_path(Path(path).expanduser(), Path(model).expanduser())[0].resolve())
        except (GateError, OSError):
            return os.path.normpath(path)

    return with_prebuilt_file(name, found)
