"""The registry of the files the gate writes (encoder_gate.documents.DOCUMENTS): one record each,
the page that describes them held to it, and every JSON document written through it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from encoder_gate.documents import (
    DOCUMENTS,
    documents_table,
    readings,
    results_documents,
    schema_of,
    write_document,
)
from encoder_gate.errors import GateError
from encoder_gate.shards.merge import MERGERS, sharded

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"


def test_docs_schemas_md_shows_the_registry_as_it_is():
    """The table at the top of docs/schemas.md is the registry's, row for row: a document added,
    renamed or given a new schema version changes the page with it."""
    page = DOCS.read_text()
    assert "\n".join(documents_table()) in page


def test_each_json_documents_section_states_its_registered_schema_version():
    """Where docs/schemas.md has a section for a document, the version it states is the registry's."""
    page = DOCS.read_text()
    for name, version in ((n, d.schema) for n, d in DOCUMENTS.items() if d.schema is not None):
        section = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", page, re.S | re.M)
        if section is not None and "`schema` (" in section.group(1):
            assert f"`schema` ({version})" in section.group(1), name


def test_every_results_document_is_merged_by_a_merger_and_decided_from():
    """A results document is read by the verdict and merged across shards: each of the gate's own
    has its merger (a user's is merged by its Reading: tests/test_own_results.py)."""
    assert set(results_documents()) == {n for n, d in DOCUMENTS.items() if d.results}
    assert set(MERGERS) | set(readings()) == set(sharded()) == set(results_documents()) - {"findings.json"}


def test_a_document_is_written_whole_stamped_with_its_kinds_version(tmp_path: Path):
    path = write_document(tmp_path, "abc123.json", {"schema": 99, "commit": "abc123"}, kind="<commit>.json")
    assert json.loads(path.read_text()) == {"schema": schema_of("<commit>.json"), "commit": "abc123"}
    assert [p.name for p in tmp_path.iterdir()] == ["abc123.json"]  # no temporary file left
    with pytest.raises(GateError, match="not a JSON document of the gate"):
        write_document(tmp_path, "notes.json", {})


def test_a_document_of_another_schema_is_never_read_as_this_ones(tmp_path: Path):
    """An accuracy.json of schema 999, 0 or "2" (another encoder-gate's, or hand-edited) was read as
    the current version by `encoder-gate verdict` (PASS) and `report`. One without `schema` is read as
    written by this one; the history store refused other versions already."""
    from encoder_gate.documents import ACCURACY_FILE, read_document

    body = {"backends": {}, "provenance": {}}
    write_document(tmp_path, ACCURACY_FILE, body)
    assert read_document(tmp_path, ACCURACY_FILE)["schema"] == schema_of(ACCURACY_FILE)
    for other in (999, 0, str(schema_of(ACCURACY_FILE)), True):
        (tmp_path / ACCURACY_FILE).write_text(json.dumps({**body, "schema": other}))
        with pytest.raises(GateError, match=rf"accuracy\.json is of schema {re.escape(repr(other))}, not "
                                            rf"{schema_of(ACCURACY_FILE)}, the one this encoder-gate writes"):
            read_document(tmp_path, ACCURACY_FILE)
    (tmp_path / ACCURACY_FILE).write_text(json.dumps(body))
    assert read_document(tmp_path, ACCURACY_FILE) == body
    from encoder_gate.reporting.benchmarks import write_report

    (tmp_path / ACCURACY_FILE).write_text(json.dumps({**body, "schema": 999}))
    with pytest.raises(GateError, match=r"accuracy\.json is of schema 999, not"):  # report --accuracy
        write_report(tmp_path / "out", None, tmp_path / ACCURACY_FILE, None)
