"""A repository of two projects (init in each model's directory): each project's history is its own.

The third trial of the forty-seventh session kept both projects' stores apart by their history branches,
yet both models were named `model`: a record of one project written into the other's store at a new
commit started "a new series" said as a change of dataset alone, and both pages were titled
"encoder-gate history: model". The results now say which project they are of (provenance `project`, the
project's directory in its repository, set only below the repository's top), the series holds it, and
the page's title and the notes name it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from encoder_gate.commands.layout import ACCURACY_TEXT
from encoder_gate.errors import GateError
from encoder_gate.history.page import render
from encoder_gate.history.store import Commit, load_store, new_series, record, series_of
from encoder_gate.runtime.worktree import where_in_repository
from test_history_refusals import COMMIT, SCENARIO


def _git_repository(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_where_a_project_sits_in_its_repository(tmp_path: Path) -> None:
    top = _git_repository(tmp_path / "repo")
    (top / "services" / "topics").mkdir(parents=True)
    assert where_in_repository(top) == ""
    assert where_in_repository(top / "services" / "topics") == "services/topics"
    (tmp_path / "plain").mkdir()
    assert where_in_repository(tmp_path / "plain") == ""  # outside git: as the top


def _of_project(tmp_path: Path, project: str | None, name: str) -> Path:
    """The scenario's report directory, its documents written by the project at `project`."""
    report = tmp_path / name
    shutil.copytree(SCENARIO, report)
    for doc_path in report.glob("*.json"):
        doc = json.loads(doc_path.read_text())
        if isinstance(doc, dict) and isinstance(doc.get("provenance"), dict):
            doc["provenance"].pop("project", None)
            doc["provenance"].update({"project": project} if project else {})
            doc_path.write_text(json.dumps(doc))
    return report


def test_a_projects_record_names_it_in_its_series_its_page_and_a_new_series_note(tmp_path: Path) -> None:
    store = tmp_path / "store"
    topics = _of_project(tmp_path, "services/topics", "topics")
    path, _ = record(store, topics, COMMIT)
    doc = json.loads(path.read_text())
    assert doc["series"]["project"] == "services/topics"
    page = render(load_store(store), tmp_path / "site").read_text()
    assert "<title>encoder-gate history: services/topics, model " in page
    assert "<h1>encoder-gate history: project <code>services/topics</code>, model <code>" in page

    # the other project's results recorded into this store by mistake: at the same commit refused, naming
    # both projects; at a new commit a new series, said as another project's (not as a dataset change)
    sentiment = _of_project(tmp_path, "services/sentiment", "sentiment")
    with pytest.raises(GateError, match=r"for another series \(project services/topics, model .*\), not this "
                                        r"run's \(project services/sentiment, model "):
        record(store, sentiment, COMMIT)
    later = Commit("b" * 40, "2026-11-26T10:00:00+00:00", COMMIT.sha)
    record(store, sentiment, later)
    said = new_series(load_store(store), later.sha)
    assert said is not None and said.startswith(
        "bbbbbbbbbbbb starts a new series (project services/topics -> services/sentiment): "), said


def test_a_root_projects_series_is_as_it_was_so_its_older_records_stay_on_its_line(tmp_path: Path) -> None:
    """No `project` at the repository's top: records written before it existed are of the same series."""
    provenance = json.loads((SCENARIO / "accuracy.json").read_text())["provenance"]
    assert "project" not in series_of(provenance)
    assert series_of({**provenance, "project": "services/topics"}) == {"project": "services/topics",
                                                                      **series_of(provenance)}
    store = tmp_path / "store"
    record(store, _of_project(tmp_path, None, "root"), COMMIT)
    page = render(load_store(store), tmp_path / "site").read_text()
    assert "<h1>encoder-gate history: model <code>" in page
    later = Commit("b" * 40, "2026-11-26T10:00:00+00:00", COMMIT.sha)
    record(store, _of_project(tmp_path, "services/topics", "moved"), later)
    said = new_series(load_store(store), later.sha)
    assert said is not None and "(project (the repository's top) -> services/topics)" in said, said


@pytest.mark.slow
def test_a_session_in_a_projects_directory_writes_its_project_into_its_results(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """The session's own documents: accuracy.json of a gate run in services/topics of a repository."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _git_repository(pytester.path)
    project = pytester.path / "services" / "topics"
    (project / "accuracy").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\n\n[tool.encoder-gate]\n'
                                            'model = "tiny"\nbackends = ["torch", "onnx-fp32"]\nlimit = 64\n')
    (project / "accuracy" / "test_encoder_gate_accuracy.py").write_text(ACCURACY_TEXT)
    monkeypatch.chdir(project)
    report = project / "report"
    result = pytester.runpytest("accuracy", "-k", "drift", f"--rootdir={project}", "-c",
                                str(project / "pyproject.toml"),
                                f"--gate-cache-dir={cache_dir}", f"--gate-report-dir={report}",
                                "-p", "no:cacheprovider", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()[-3000:]
    provenance = json.loads((report / "accuracy.json").read_text())["provenance"]
    assert provenance["project"] == "services/topics"
