"""Configuration: defaults, pyproject table, command-line overrides, validation."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from encoder_gate.config import GateConfig, load_config
from encoder_gate.errors import GateError


def test_defaults_are_the_default_model_on_every_cpu_backend(tmp_path: Path):
    cfg = load_config(tmp_path, {})
    assert cfg.model == "default"
    assert cfg.backends == ("torch", "torch-compile", "onnx-fp32", "onnx-fp16", "onnx-int8")
    assert cfg.batch_sizes == (1, 8)  # the gate sweep's
    assert cfg.sweep == "gate" and cfg.texts is None
    assert cfg.cache_dir == tmp_path / ".encoder-gate" / "cache"


def test_pyproject_table_then_cli_overrides(tmp_path: Path):
    """[tool.encoder-gate] sets values; --gate-* options win over it."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nmodel = "tiny"\nbackends = ["torch", "onnx-int8"]\n'
        'batch-sizes = [1, 4]\nint8-reduce-range = true\n'
    )
    cfg = load_config(tmp_path, {"batch_sizes": "2,8", "model": None})
    assert (cfg.model, cfg.backends, cfg.batch_sizes) == ("tiny", ("torch", "onnx-int8"), (2, 8))
    assert cfg.int8_reduce_range is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_sizes": "0"}, r"batch sizes must be positive.*--gate-batch-sizes"),
        ({"batch_sizes": "1,-4"}, r"batch sizes must be positive"),
        ({"batch_sizes": "one"}, r"comma list of integers"),
        ({"backends": "torch,onnx-int4"}, r"unknown backend 'onnx-int4'"),
        ({"backends": "torch,torch"}, r"listed twice"),
        ({"device": "tpu"}, r"device must be one of cpu, cuda.*--gate-device"),
        ({"dataset_variant": "short"}, r"normal, filtered"),
        ({"label_format": "stars"},
         r"label_format must be one of auto, names, indices, onehot.*--gate-label-format"),
        ({"threads": "-1"}, r"^threads -1 \(--gate-threads\): must be 0 \(the default: every core"),
        ({"limit": "-5", "eval_threads": "-2"},
         r"^eval-threads -2 \(--gate-eval-threads\): must be 0 \(the default: every core\) or positive; "
         r"limit -5 \(--gate-limit\): must be 0 \(the default: every text\) or positive$"),
        ({"threads": "100000"}, r"^threads 100000: at most 1024 \(a runner's cores\); 0 gives the library"),
        # hours without a line before
        ({"explore": "1000000"}, r"^explore 1000000 \(--gate-explore\): at most 10,000 random examples"),
        # walk AB: each names its own setting and fix
        ({"eval_batch_size": "-1"}, r"eval-batch-size must be positive, got -1 \(--gate-eval-batch-size"),
        ({"batch_sizes": "8,8"}, r"^batch-sizes lists 8 twice in \[8, 8\] \(--gate-batch-sizes"),
        ({"targets": "x86-avx2,x86-avx2"}, r"^targets lists x86-avx2 twice"),
        ({"report_dir": ""}, r"^report-dir is empty \(--gate-report-dir / report-dir in "
                             r"\[tool\.encoder-gate\]\): give a value, or leave it out for the default"),
        ({"cache_dir": " "}, r"^cache-dir is empty"),
        ({"model": ""}, r"^model is empty"),
        ({"dataset": ""}, r"^dataset is empty"),
        ({"f1_rule": "bayes"}, r"f1_rule must be one of point, regression, non-inferiority.*--gate-f1-rule"),
        ({"f1_margin": "1.5"}, r"f1-margin must be an absolute F1 difference.*--gate-f1-margin"),
        ({"f1_margin": "one point"}, r"f1-margin must be a number"),
        ({"per_label_min_support": "0"}, r"per-label-min-support must be a positive"),
        ({"per_label_keep": "1.2"}, r"per-label-keep must be a share.*--gate-per-label-keep"),
        ({"budget": "0"}, r"budget is the seconds a session may spend timing, above 0; got 0.0 \(--gate"),
        ({"budget": "ten minutes"}, r"budget must be a number"),
        ({"budget": "inf"}, r"budget is the seconds"),
        # TOML values of the wrong type: an error, never a silent cast (walk C)
        ({"threads": 1.9}, r"^threads must be an integer, got 1\.9"),
        ({"threads": True}, r"^threads must be an integer, got True"),
        ({"limit": "10.9"}, r"^limit must be an integer"),
        ({"int8_per_channel": "ture"}, r"^int8-per-channel must be true or false, got 'ture'"),
        ({"model": ["models/sentiment"]}, r"^model must be a string, got \['models/sentiment'\]"),
        ({"cache_dir": 5}, r"^cache-dir must be a path \(a string\), got 5"),
        ({"ab_budget": "nan"}, r"^ab-budget is seconds per A/B cell, above 0; got nan"),
        ({"ab_round_seconds": "0"}, r"^ab-round-seconds is each arm's share of an A/B round, in seconds "
                                    r"above 0 and at most 60 \(default 0\.5\); got 0\.0 \(--gate-ab-round-"),
        ({"ab_round_seconds": "nan"}, r"^ab-round-seconds is each arm's share"),
        ({"ab_round_seconds": "half"}, r"^ab-round-seconds must be a number, got 'half'"),
        ({"budget": True}, r"^budget must be a number, got True"),
        ({"backends": 3}, r"^backends \(backends, --gate-backends\) must be a list, an array .*; got 3"),
        ({"batch_sizes": 8}, r"^batch sizes \(batch-sizes, --gate-batch-sizes\) must be a list, an array"),
    ],
)
def test_bad_values_get_actionable_errors(tmp_path: Path, overrides, message):
    with pytest.raises(GateError, match=message):
        load_config(tmp_path, overrides)


def test_one_setting_spelled_two_ways_is_refused_and_a_directory_is_no_text_file(tmp_path: Path):
    """Walk AB: f1-rule beside f1_rule in [tool.encoder-gate] silently took the later line (another F1
    rule); a directory given as the texts file was said not to exist."""
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nf1-rule = "regression"\n'
                                             'f1_rule = "non-inferiority"\n')
    with pytest.raises(GateError, match=r"^f1-rule and f1_rule in \[tool\.encoder-gate\] of pyproject\.toml "
                                        r"are one setting given twice; keep one \(f1-rule\)"):
        load_config(tmp_path, {})
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "texts").mkdir()
    with pytest.raises(GateError, match=r"texts file .*texts is a directory, not a file \(--gate-texts"):
        load_config(tmp_path, {"texts": str(tmp_path / "texts")})
    with pytest.raises(GateError, match=r"calibration file .*nothing\.txt does not exist"):
        load_config(tmp_path, {"calibration": "nothing.txt"})


def test_a_command_lines_paths_are_from_where_pytest_started_and_the_tables_from_the_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`cd accuracy && pytest . --gate-texts ../data/texts.txt`: --gate-model and --gate-dataset read
    ../ from the working directory, --gate-texts from the project's root (a file above it, said not to
    exist), and --gate-report-dir rt wrote into the root, not here. The table's paths stay the root's."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "texts.txt").write_text("one\ntwo\n")
    here = tmp_path / "accuracy"
    here.mkdir()
    monkeypatch.chdir(here)
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\ncache-dir = "c"\n')
    cfg = load_config(tmp_path, {"texts": "../data/texts.txt", "report_dir": "rt"})
    assert cfg.texts == here / "../data/texts.txt" and cfg.texts.resolve() == tmp_path / "data" / "texts.txt"
    assert cfg.report_dir == here / "rt" and cfg.cache_dir == tmp_path / "c"


def test_decision_rules_default_and_come_from_pyproject_or_options(tmp_path: Path):
    cfg = load_config(tmp_path, {})
    assert (cfg.f1_rule, cfg.f1_margin, cfg.per_label_min_support, cfg.per_label_keep) == (
        "point", 0.01, 30, None)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nf1-rule = "regression"\nf1-margin = 0.02\nper-label-keep = 0.8\n')
    cfg = load_config(tmp_path, {"f1_rule": "non-inferiority", "per_label_min_support": "25"})
    assert (cfg.f1_rule, cfg.f1_margin, cfg.per_label_min_support, cfg.per_label_keep) == (
        "non-inferiority", 0.02, 25, 0.8)


def test_unknown_pyproject_key_names_the_known_ones(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nbatchsize = 3\n')
    with pytest.raises(GateError, match=r"unknown key 'batchsize'.*batch-sizes"):
        load_config(tmp_path, {})


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        GateConfig().model = "tiny"  # type: ignore[misc]


def test_tolerances_name_a_backend_of_the_session_and_known_bounds():
    """A table under a misspelled backend used to be no bound at all, silently (walk C)."""
    from encoder_gate.accuracy.checks import check_tolerances

    backends = ("torch", "onnx-int8", "onnx:m/model.onnx")
    check_tolerances({"onnx-int8": {"drift_max": 0.01}, "onnx-int8~saturating": {"f1_keep": 0.9},
                      "onnx-fp16": {"drift_max": 0.01}, "onnx:m/model.onnx": {"drift_max": 0.1}}, backends)
    with pytest.raises(GateError, match=r"tolerances\.onnx-int9\]: no backend 'onnx-int9' in this session, "
                                        r"so its bounds would apply to .*\(did you mean 'onnx-int8'\?\)"):
        check_tolerances({"onnx-int9": {"drift_max": 0.0001}}, backends)
    with pytest.raises(GateError, match=r"unknown tolerance 'drfit_max' .* \(did you mean 'drift_max'\?\)"):
        check_tolerances({"onnx-int8": {"drfit_max": 0.1}}, backends)
    with pytest.raises(GateError, match=r"drift_max in .* must be a number, got 'small'"):
        check_tolerances({"onnx-int8": {"drift_max": "small"}}, backends)
    with pytest.raises(GateError, match=r"must be a table of tables"):
        check_tolerances(["onnx-int8"], backends)
    # out of range: a negative bound fails every backend, a share above 1 (or below 0) none (walk Y)
    for name, value, says in [("drift_max", -0.1, "0 or more"), ("flip_rate", 1.5, "a share in"),
                              ("f1_keep", -1, "a share in"), ("per_label_keep", 7, "a share in")]:
        with pytest.raises(GateError, match=rf"{name} = {value} in .* must be {says}"):
            check_tolerances({"onnx-int8": {name: value}}, backends)
    # a bound no value can cross (walk AB: drift_max = inf passed the gate)
    for value in (math.inf, math.nan, -math.inf):
        with pytest.raises(GateError, match=rf"drift_max = {value!r} in .* must be a finite number: a "
                                            r"bound no value can cross checks nothing.*waive it"):
            check_tolerances({"onnx-int8": {"drift_max": value}}, backends)
    # onnx-<format> bounds prebuilt files of that format: with none configured, they bound nothing
    with pytest.raises(GateError, match=r"no backend 'onnx-fp16' in this .*backends: torch, onnx-int8$"):
        check_tolerances({"onnx-fp16": {"drift_max": 0.5}}, ("torch", "onnx-int8", "torch"))


def test_a_probability_bound_above_one_is_refused_for_a_classifier_alone():
    """Walk AB: drift_max = 5 could never fail a classifier (probabilities differ by at most 1); an
    encoder's embeddings have no such ceiling."""
    from encoder_gate.accuracy.checks import bounds_for

    for task in ("multi_label", "single_label"):
        with pytest.raises(GateError, match=r"^atol = 2, drift_max = 5 for onnx-int8 in \[tool\."
                                            r"encoder-gate\.tolerances\]: .*differ by at most 1, so a bound "
                                            r"above 1 could never fail"):
            bounds_for("onnx-int8", {"onnx-int8": {"drift_max": 5, "atol": 2}}, task=task)
    assert bounds_for("onnx-int8", {"onnx-int8": {"drift_max": 1}}).drift_max == 1
    assert bounds_for("onnx-int8", {"onnx-int8": {"drift_max": 5}}, task="feature_extraction").drift_max == 5


def test_a_cache_or_report_directory_that_cannot_be_written_is_said_at_the_start(tmp_path: Path):
    """It used to be a traceback at the session's end, every test already run (walk C)."""
    from encoder_gate.config import check_writable

    check_writable(tmp_path / "new" / "cache", "the artifact cache")
    assert not (tmp_path / "new").exists()  # a collection makes nothing
    (tmp_path / "file").write_text("")
    with pytest.raises(GateError, match=r"^the artifact cache .*file is a file, not a directory"):
        check_writable(tmp_path / "file", "the artifact cache")
    with pytest.raises(GateError, match=r"^the report directory .*file/report cannot be written \(.*\)"):
        check_writable(tmp_path / "file" / "report", "the report directory")
    # hunt 5: a symlink to nothing passed (its parent is writable), then every write met "File exists"
    (tmp_path / "dangling").symlink_to(tmp_path / "nonexist" / "deeper")
    for path in (tmp_path / "dangling", tmp_path / "dangling" / "cache"):
        with pytest.raises(GateError, match=r"^the artifact cache .* cannot be made: .*dangling is a "
                                            r"symbolic link to .*nonexist/deeper, which does not exist"):
            check_writable(path, "the artifact cache")


def test_a_pyproject_that_is_not_utf8_or_whose_tool_is_no_table_is_one_line(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_bytes("# caf\xe9\n[tool.encoder-gate]\n".encode("latin-1"))
    with pytest.raises(GateError, match=r"pyproject\.toml is not UTF-8 text .*: TOML files are UTF-8"):
        load_config(tmp_path, {})
    (tmp_path / "pyproject.toml").write_text('tool = "x"\n')
    with pytest.raises(GateError, match=r"^\[tool\] in .*pyproject\.toml must be a table"):
        load_config(tmp_path, {})


def test_the_tables_model_and_dataset_are_the_projects_from_a_subdirectory_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`pytest` started in accuracy/ read `models/clf` relative to accuracy/ (review E): it is the
    project's path, as cache-dir and texts are; from the root it stays as written."""
    (tmp_path / "models" / "clf").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval.jsonl").write_text("")
    (tmp_path / "accuracy").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.encoder-gate]\nmodel = "models/clf"\ndataset = "data/eval.jsonl"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config(tmp_path, {})
    assert (cfg.model, cfg.dataset) == ("models/clf", "data/eval.jsonl")
    monkeypatch.chdir(tmp_path / "accuracy")
    cfg = load_config(tmp_path, {})
    assert (cfg.model, cfg.dataset) == ("../models/clf", "../data/eval.jsonl")
    assert load_config(tmp_path, {"model": "models/clf"}).model == "models/clf"  # an option: as given


def test_the_tables_onnx_files_are_the_projects_from_a_subdirectory_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`cd accuracy && pytest .` was a usage error for the `onnx:models/clf/onnx/model.onnx` that init
    writes (a user's hunt, twenty-second session): looked for from accuracy/ and from the model
    directory only. The session's project root is looked in last, and said."""
    from encoder_gate.backends.prebuilt import PROJECT_ROOT_ENV, resolve_onnx_path, set_project_root

    (tmp_path / "models" / "clf" / "onnx").mkdir(parents=True)
    (tmp_path / "models" / "clf" / "onnx" / "model.onnx").write_bytes(b"onnx")
    (tmp_path / "accuracy").mkdir()
    monkeypatch.chdir(tmp_path / "accuracy")
    monkeypatch.delenv(PROJECT_ROOT_ENV, raising=False)
    given, model = Path("models/clf/onnx/model.onnx"), Path("../models/clf")
    with pytest.raises(GateError, match=r"does not exist \(looked relative to the working directory, .*, and "
                                        r"to the model directory, \.\./models/clf\)"):
        resolve_onnx_path(given, model)
    restore = set_project_root(tmp_path)  # as the plugin does at the session's start (and its cleanup)
    found, notes = resolve_onnx_path(given, model)
    assert found.resolve() == (tmp_path / "models" / "clf" / "onnx" / "model.onnx").resolve()
    assert notes == [f"'{given}' resolved relative to the project's root: {found}"]
    with pytest.raises(GateError, match=r"and to the project's root, .*\)\. Check the path"):
        resolve_onnx_path(Path("models/clf/onnx/other.onnx"), model)
    monkeypatch.chdir(tmp_path)  # from the root: the working directory's, no note
    found, notes = resolve_onnx_path(given, Path("models/clf"))
    assert found == Path.cwd() / given and notes == []
    restore()
    assert PROJECT_ROOT_ENV not in os.environ


def test_a_near_miss_of_the_table_name_is_named_not_read_as_no_table(tmp_path: Path):
    """`[tool.encoder_gate]` (underscore): the session said pytest's rootdir had no table and blamed a
    parent's pytest.ini (walk Y); the table is named, with the spelling that works."""
    from encoder_gate.config import read_pyproject_table

    (tmp_path / "pyproject.toml").write_text('[tool.encoder_gate]\nmodel = "tiny"\n')
    with pytest.raises(GateError, match=r"\[tool\.encoder_gate\] in .*: the table is \[tool\.encoder-gate\]"):
        read_pyproject_table(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.encoder-gate]\nmodel = "tiny"\n[tool.other]\nx = 1\n')
    assert read_pyproject_table(tmp_path) == {"model": "tiny"}


def test_an_ab_round_length_reaches_the_ab_cells_and_is_recorded_only_when_set(tmp_path: Path):
    """--gate-ab-round-seconds sets each arm's share of an A/B round; unset, the A/B's own (0.5 s),
    and the documents' settings leave it out, so that they join those written before it existed."""
    from encoder_gate.results.ab import ab_settings
    from encoder_gate.speed.rounds import ROUND_SECONDS

    given = load_config(tmp_path, {"ab_round_seconds": "0.1"})
    assert ab_settings(given).round_seconds == 0.1 and given.judging()["ab_round_seconds"] == 0.1
    unset = load_config(tmp_path, {})
    assert ab_settings(unset).round_seconds == ROUND_SECONDS == 0.5
    assert "ab_round_seconds" not in unset.judging()
