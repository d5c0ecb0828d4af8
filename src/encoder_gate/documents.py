"""The report directory's documents: their names, their schema versions, atomic writes, and which
of them belong together.

Every file the gate writes into a report directory (``--gate-report-dir``, default
``.encoder-gate``) is written here, and only here: JSON documents (:func:`write_document`, which
stamps each with its schema version), markdown pages (:func:`write_page`) and plots
(:func:`save_figure`), each to a temporary file first and then renamed over the old one, so a
reader (another session, `encoder-gate verdict`, a CI step) never sees half a file.

A verdict joins only documents of one model and dataset (:func:`belonging`, from the provenance
block each carries: :mod:`encoder_gate.runtime.provenance`).

A new results document is one record: a :class:`Document` with its :class:`Reading` (how its
failures are judged, how shards unite it, what the verdict and a history record show of it),
registered by :func:`register` (in-process) or through the ``encoder_gate.documents`` entry-point
group (so `encoder-gate merge`, `verdict` and `history` see it too), plus its builder. The gate's
own results documents are read by :mod:`encoder_gate.decision.judge` and merged by
:data:`encoder_gate.shards.merge.MERGERS`. docs/schemas.md, "A results document of your own".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from encoder_gate.cache import replace_file
from encoder_gate.config import ACCURACY_CRITERIA, COMPUTED_ON, SPEED_CONDITIONS, VERSUS_BASE_CRITERIA
from encoder_gate.errors import GateError
from encoder_gate.records import Registry
from encoder_gate.runtime.provenance import backends_dropped, differing_criteria, mismatch, other_cpu

#: The marker each shipped accuracy test carries, naming the check it runs (plugin.applicable).
CHECK_MARKER = "encoder_gate_check"

# every file the gate writes, by name (each one's record below says what writes it)
ACCURACY_FILE = "accuracy.json"
SPEEDUPS_FILE = "speedups.json"
AB_FILE = "ab.json"
FINDINGS_FILE = "findings.json"
VERDICT_JSON = "verdict.json"
SHARD_FILE = "shard.json"
ACCURACY_PAGE = "accuracy.md"
VERDICT_FILE = "verdict.md"
BENCHMARKS_PAGE = "benchmarks.md"
EXPORT_FILE = "export.json"
SEARCH_FILE = "search.json"
SEARCH_PAGE = "search.md"
CARD_FILE = "README.md"
HISTORY_RECORD = "<commit>.json"

#: A JSON document's shape (Document.shape), as far as the gate reads it: a JSON type (dict, list,
#: str, bool, float), an object's keys each with its shape (``"*"``: every key; a key ending in ``!``
#: must be there, the others may be absent or null), or a one-item list: each item of an array.
Shape = type | dict[str, "Shape"] | list["Shape"]


@dataclass(frozen=True)
class Reading:
    """How the gate reads a results document of its user's (not one of its own, which
    :mod:`encoder_gate.decision.judge` reads): each part a function of the document as its builder
    wrote it (a dict with a ``provenance`` block: :func:`encoder_gate.runtime.provenance.provenance_block`).

    - `checks`: the names of the checks its failures carry (a waiver may name them);
    - `judge`: per backend it judged, the reasons that backend fails (an empty list: judged, and
      passed), each an :class:`encoder_gate.decision.Reason` of one of `checks`;
    - `merge`: the shards' copies (in shard order) united into one session's (the merge stamps
      its provenance);
    - `lines`: what verdict.md shows of it, under the document's `holds`, one line each;
    - `summary`: what a history record keeps of it (JSON)."""

    checks: tuple[str, ...]
    judge: Callable[[Mapping[str, Any]], Mapping[str, Sequence[Any]]]  # backend -> its Reasons
    merge: Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]
    lines: Callable[[Mapping[str, Any]], Sequence[str]]
    summary: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Document:
    """One kind of file the gate writes: its name, its schema version (a JSON document's, written
    into it as ``schema``: bump it when its keys change meaning; None for a page), what writes it
    (and rewrites it when it is stale or left out of a verdict), whether the verdict is decided from
    it (`results`: :func:`encoder_gate.decision.decide_report_dir` reads it, and each shard of a
    matrix writes its own, which `encoder-gate merge` unites: :data:`encoder_gate.shards.merge.MERGERS`
    has its merger) and what it holds. docs/schemas.md describes each JSON one (a self-test holds
    them to the same versions)."""

    name: str
    schema: int | None
    writer: str
    results: bool = False
    holds: str = ""
    reading: Reading | None = None  # a user's results document: how the gate reads it
    #: The fixtures of the tests whose results it holds: a session that ran such a test and wrote no
    #: such document leaves none of an earlier session's behind (publish.drop_superseded), so its
    #: verdict never shows results that it did not compute as its own.
    fed_by: tuple[str, ...] = ()
    #: The marker a test of those fixtures carries to feed it (None: any such test does). accuracy.json
    #: holds the checks whose tests ran: a team's own test of `backend_evaluation` alone, under -k,
    #: writes none, and an earlier session's must not be dropped as if it should have (walk T).
    fed_marker: str | None = None
    page: str | None = None  # the page rendered from it, which goes with it
    #: Whether its results are of the commit it was written at, not only of the model and dataset
    #: (a PR against its base): it joins the verdict of a session at that commit alone.
    of_its_commit: bool = False
    #: The settings (GateConfig fields, in its provenance's ``settings``) its results were judged or
    #: measured by when it was written: it joins a verdict only of a session that judges by the same,
    #: since the verdict reads its checks as they were decided then (a tolerance edited since is not
    #: applied), and its speed figures as measured then (at another thread count they are others).
    judged_by: tuple[str, ...] = ()
    #: What the gate reads of it, as JSON types: :func:`check_shape` holds a document read back to
    #: it, so a damaged or hand-edited file is one line, not a traceback or a row read as passed.
    shape: Shape | None = None


#: The shape of a results document's rows of checks: each backend's row an object whose ``checks``
#: are objects that say whether they passed (a row without them is no row the gate wrote).
_ROWS: Shape = {"*": {"checks!": {"*": {"passed!": bool}}}}

#: Every file the gate writes: one record each. One of the gate's own results documents also has
#: its merger in shards.merge.MERGERS and is judged by decision.judge; a user's is registered with
#: its Reading (:func:`register`), which does both.
DOCUMENTS: Registry[Document] = Registry.of("document", (
    Document(ACCURACY_FILE, 1, "pytest accuracy", True, "each backend's accuracy against torch FP32",
             fed_by=("backend_evaluation",), fed_marker=CHECK_MARKER, page=ACCURACY_PAGE,
             judged_by=(*ACCURACY_CRITERIA, *COMPUTED_ON),
             shape={"backends": _ROWS, "not_evaluated": dict, "configured_backends": [str],
                    "integer_paths": dict, "cached_outputs": {"*": dict}}),
    Document(SPEEDUPS_FILE, 1, "pytest benchmarks", True,
             "speedups over torch eager, and the speed rule's failures", fed_by=("bench_record",),
             judged_by=(*SPEED_CONDITIONS, *COMPUTED_ON),
             shape={"speedups": {"*": dict}, "devices": dict, "gate": {"failures": [dict]},
                    "compare": {"regressions": [dict]}}),
    Document(AB_FILE, 1, "pytest accuracy benchmarks --gate-base DIR", True, "the PR against its base",
             of_its_commit=True, fed_by=("ab_backend",),
             judged_by=(*ACCURACY_CRITERIA, *VERSUS_BASE_CRITERIA, *SPEED_CONDITIONS, *COMPUTED_ON),
             shape={"accuracy": {"*": dict}, "speed": [{"backend!": str, "status!": str}]}),
    Document(FINDINGS_FILE, 1, "the pytest session of this model", True,
             "what failed the sessions outside the documents' checks: failed and errored tests, collection "
             "errors, the gate's own findings; and the session's waivers",
             shape={"by_document": {"*": [dict]}, "unwritten": [dict], "running": {"*": dict},
                    "waivers": [dict]}),
    Document(VERDICT_JSON, 1, "every gate session, `encoder-gate verdict` and `encoder-gate merge`",
             holds="the verdict as decided (encoder_gate.decision)"),
    Document(SHARD_FILE, 1, "pytest --gate-shard K/N",
             holds="which share of which plan this directory holds"),
    Document(EXPORT_FILE, 1, "encoder-gate export", holds="the exported variants and their parity"),
    Document(SEARCH_FILE, 1, "encoder-gate export --search", holds="every recipe judged, and what shipped"),
    Document(HISTORY_RECORD, 1, "encoder-gate history record",
             holds="one commit's results in a history store"),
    Document(ACCURACY_PAGE, None, "pytest accuracy", holds="accuracy.json as markdown"),
    Document(VERDICT_FILE, None, "every gate session, `encoder-gate verdict` and `encoder-gate merge`",
             holds="the verdict as markdown"),
    Document(BENCHMARKS_PAGE, None, "encoder-gate report", holds="the benchmark tables and plots"),
    Document(SEARCH_PAGE, None, "encoder-gate export --search", holds="search.json as markdown"),
    Document(CARD_FILE, None, "encoder-gate export", holds="the model card"),
))

def documents_table() -> list[str]:
    """The registry as docs/schemas.md's table (a self-test holds the page to it)."""
    out = ["| file | schema | written by | holds |", "|---|---|---|---|"]
    for d in registered().values():  # the gate's own registered through the entry points too
        schema = "" if d.schema is None else str(d.schema)
        out.append(f"| `{d.name}` | {schema} | {d.writer} | {d.holds}"
                   + (" (a results document: the verdict is decided from it)" if d.results else "") + " |")
    return out


#: The entry-point group through which an installed package registers its results documents: each
#: entry point names a Document with its Reading (``[project.entry-points."encoder_gate.documents"]``).
ENTRY_POINTS = "encoder_gate.documents"
_loaded: list[bool] = []


def register(document: Document) -> Document:
    """Add a results document of the user's to the registry (refused: a name the gate already has,
    or a results document without its Reading, or a Reading without it being a results document)."""
    if not isinstance(document, Document):
        raise GateError(f"{document!r} is not an encoder_gate.documents.Document")
    if document.schema is None or not document.name.endswith(".json"):
        raise GateError(f"results document {document.name!r}: a results document is JSON (a name ending in "
                        ".json) with a schema version")
    if not document.results or document.reading is None:
        raise GateError(f"results document {document.name!r} needs results=True and its Reading (how its "
                        "failures are judged, merged, shown and recorded): docs/schemas.md")
    DOCUMENTS[document.name] = document
    return document


def _load_entry_points() -> None:
    """Register the results documents of installed packages (once per process)."""
    if _loaded:
        return
    _loaded.append(True)
    for point in entry_points(group=ENTRY_POINTS):
        try:
            document = point.load()
        except Exception as exc:  # a broken plugin: say which one, never a traceback from inside it
            raise GateError(f"the {ENTRY_POINTS} entry point {point.name} ({point.value}) cannot be "
                            f"loaded: {type(exc).__name__}: {exc}") from None
        if document.name not in DOCUMENTS:
            register(document)


def registered() -> Registry[Document]:
    """Every document the gate knows: its own and those registered (in-process or as entry points)."""
    _load_entry_points()
    return DOCUMENTS


def schema_of(kind: str) -> int:
    """A JSON document's schema version (a GateError for a name the gate does not write)."""
    doc = DOCUMENTS.get(kind) or registered().get(kind)  # the gate's own need no entry points loaded
    if doc is None or doc.schema is None:
        known = ", ".join(n for n, d in DOCUMENTS.items() if d.schema is not None)
        raise GateError(f"{kind} is not a JSON document of the gate (known: {known})")
    return doc.schema


def results_documents() -> tuple[str, ...]:
    """The results documents a verdict is decided from, in its order (the gate's own, then the
    registered ones)."""
    return tuple(d.name for d in registered().values() if d.results)


def fed_documents(fixtures: Iterable[str], markers: Iterable[str] = ()) -> tuple[str, ...]:
    """The results documents a test using `fixtures` and carrying `markers` writes its results into
    (Document.fed_by, Document.fed_marker)."""
    used, marked = set(fixtures), set(markers)
    return tuple(d.name for d in registered().values() if d.results and used.intersection(d.fed_by)
                 and (d.fed_marker is None or d.fed_marker in marked))


def reading_of(name: str) -> Reading | None:
    """How a registered results document is read (None for the gate's own and for pages)."""
    doc = registered().get(name)
    return None if doc is None else doc.reading


def readings() -> dict[str, Reading]:
    """Every registered results document's Reading, by document name."""
    return {n: d.reading for n, d in registered().items() if d.reading is not None}


def write_json(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` as JSON to `path` atomically (temp file + rename)."""
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    return replace_file(Path(path), lambda tmp: tmp.write_text(text))


def write_document(report_dir: Path, name: str, doc: Mapping[str, Any], kind: str | None = None) -> Path:
    """Write one of the gate's JSON documents into `report_dir` (or an export's directory) as
    `name`, stamped with the schema version of its kind (`kind`, default `name`: a history record's
    file is named by its commit)."""
    schema = schema_of(name if kind is None else kind)
    body = {key: value for key, value in doc.items() if key != "schema"}
    return write_json(Path(report_dir) / name, {"schema": schema, **body})


def write_page(report_dir: Path, name: str, text: str) -> Path:
    """Write a markdown page into the report directory atomically."""
    return replace_file(Path(report_dir) / name, lambda tmp: tmp.write_text(text))


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (its format from `path`'s suffix). Every text in it is
    drawn as written: a label or a path holding `$` signs is no mathtext (a label named '$price$'
    was drawn as an italic 'price', and one with an odd number of them stopped the page with
    matplotlib's ParseException)."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return replace_file(Path(path), lambda tmp: fig.savefig(tmp, dpi=dpi))


_JSON_NAMES: dict[type, str] = {dict: "an object", list: "an array", str: "a string", bool: "true or false",
                                float: "a number"}


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _JSON_NAMES[bool]
    if isinstance(value, int | float):
        return "a number"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def check_shape(doc: Any, shape: Shape, where: str = "the document") -> str | None:
    """What of `doc` is not of `shape` (``backends.onnx-int8.checks is an array, not an object``), or
    None."""
    expected = dict if isinstance(shape, dict) else list if isinstance(shape, list) else shape
    fits = (isinstance(doc, int | float) and not isinstance(doc, bool)) if expected is float else \
        isinstance(doc, expected)
    if not fits:
        return f"{where} is {_json_name(doc)}, not {_JSON_NAMES.get(expected, expected.__name__)}"
    inside = "" if where == "the document" else f"{where}."
    if isinstance(shape, list):
        items = (check_shape(item, shape[0], f"{where}[{i}]") for i, item in enumerate(doc))
        return next((why for why in items if why), None)
    for key, inner in (shape.items() if isinstance(shape, dict) else ()):
        name, required = key.rstrip("!"), key.endswith("!")
        if name == "*":
            pairs = list(doc.items())
        elif name in doc and (doc[name] is not None or required):
            pairs = [(name, doc[name])]
        elif required:
            return f"{where} has no {name}"
        else:
            pairs = []
        for k, value in pairs:
            if why := check_shape(value, inner, f"{inside}{k}"):
                return why
    return None


def check_schema(doc: Mapping[str, Any], kind: str, path: Path) -> None:
    """A GateError where `doc` (read from `path`, a document of kind `kind`) states another schema
    version than the one this encoder-gate writes: another version's document, or a hand-edited one,
    was read as this one's. One that states none is taken as written by this one."""
    known = DOCUMENTS.get(kind)
    if known is None or known.schema is None or not isinstance(doc, Mapping):  # (its shape says the rest)
        return
    given = doc.get("schema", known.schema)
    if type(given) is not int or given != known.schema:
        raise GateError(f"{path} is of schema {given!r}, not {known.schema}, the one this encoder-gate "
                        f"writes and reads: re-run `{known.writer}` with it, or read the file with the "
                        "encoder-gate that wrote it")


def read_document(report_dir: Path, name: str) -> dict[str, Any] | None:
    """A JSON document of the report directory, or None when there is none; an unreadable one is a
    GateError that says which session rewrites it."""
    path = Path(report_dir) / name
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not text at all
        raise GateError(f"{path} is not readable JSON ({exc}); re-run the session that writes it") from None
    if not isinstance(doc, dict):
        raise GateError(f"{path} is not a document of encoder-gate (a JSON {type(doc).__name__}, not an "
                        "object); remove it, or re-run the session that writes it")
    check_schema(doc, name, path)
    known = DOCUMENTS.get(name)
    if known is not None and known.shape is not None and (why := check_shape(doc, known.shape)):
        raise GateError(f"{path} is not a document of encoder-gate as written ({why}); remove it, or re-run "
                        f"`{known.writer}`")
    return doc


def shards_of(docs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The shares ("1/3") of a sharded session whose results `docs` are (their provenance's `shard`;
    a merge drops it): none for a whole session's or a merge's."""
    return sorted({str(s) for d in docs.values() if (s := (d.get("provenance") or {}).get("shard"))})


def belonging(docs: Mapping[str, Mapping[str, Any] | None],
              current: Mapping[str, Any] | None) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """The results documents that belong to `current` (the provenance of the session that just ran;
    without one, the newest document's), and a note for each one left out, saying what differs and
    how to refresh it. A document without provenance never joins."""
    present = {name: doc for name, doc in docs.items() if doc is not None}
    dated = sorted((str(d["provenance"].get("written", "")), name) for name, d in present.items()
                   if d.get("provenance"))
    anchor = current or (present[dated[-1][1]]["provenance"] if dated else None)
    kept: dict[str, Mapping[str, Any]] = {}
    notes: list[str] = []
    for name, doc in present.items():
        block = doc.get("provenance")
        known = DOCUMENTS.get(name)
        mine, now = (block or {}).get("commit"), (anchor or {}).get("commit")
        why = None
        if known is not None and known.of_its_commit and mine and now and mine != now:  # first: the rest
            # differs with the commit (another PR's ONNX file), and is no reason of its own
            why = (f"written at commit {str(mine)[:12]}, not {str(now)[:12]} (its results are of that "
                   "commit's PR)")
        # no anchor: none has provenance
        whose = (name, "this session's" if current else "the newest results'")
        why = (why or mismatch(block, anchor or {}, whose) or other_cpu(block, anchor)
               or backends_dropped(block, anchor))
        if why is None and known is not None:  # a session that timed nothing measured at no thread count
            timed = (anchor or {}).get("timed", True) and (block or {}).get("timed", True)
            why = differing_criteria(block, anchor, tuple(k for k in known.judged_by
                                                          if timed or k not in SPEED_CONDITIONS))
        if why is None:
            kept[name] = doc
            continue
        written = f", written {block.get('written')}" if block else ""
        notes.append(f"{name} in this directory left out: {why}{written}; run `{DOCUMENTS[name].writer}` for "
                     "this one")
    return kept, notes
