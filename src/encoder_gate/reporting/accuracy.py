"""accuracy.json and accuracy.md: per backend, task metrics, drift, flips and size.

The JSON keys are stable (see docs/schemas.md, "accuracy.json"). Per backend at least:
accuracy, precision, recall, f1, drift_mean, drift_p99, drift_max, flip_rate, size_bytes.
A classifier with gold labels also gets the error bars (`Evaluation.stats_summary`):
f1_delta, f1_delta_ci [low, high] (95%, paired bootstrap), mcnemar_p, mde_f1 (80% power)
and per_label (label, support, f1_ref, f1, p_value (Holm), verdict, changed), plus the rule,
margin, per-label bounds and the underpowered warning (null when the set is large enough).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from encoder_gate.accuracy.checks import CHECKS, NO_GOLD
from encoder_gate.backends.registry import REFERENCE_BACKEND
from encoder_gate.reporting.markdown import markdown_cell, markdown_line
from encoder_gate.tasks import task_of_document

if TYPE_CHECKING:
    from encoder_gate.runtime.session import GateSession

# (key, header, format): the backend and its task metrics, then each registered check's metric
# (its record's `column`, in registry order), then the F1 error bars (a classifier's only, so
# they never share a table with the encoders' cosine and L2 columns)
COLUMNS = (
    ("dtype", "dtype", "{}"),
    ("size_bytes", "size MB", "{:.1f}"),
    ("accuracy", "accuracy (exact)", "{:.4f}"),
    ("precision", "precision (micro)", "{:.4f}"),
    ("recall", "recall (micro)", "{:.4f}"),
    ("f1", "F1 (micro)", "{:.4f}"),
    ("f1_macro", "F1 (macro)", "{:.4f}"),
    ("mcc", "MCC", "{:.4f}"),  # a single-label classifier's only
    *((c.key, *c.column) for c in CHECKS.values() if c.column),
    ("f1_delta", "F1 change [95% CI]", "{:+.4f}"),
    ("mcnemar_p", "McNemar p", "{:.3g}"),
    ("mde_f1", "MDE (80% power)", "{:.4f}"),
)


def _mde(row: Mapping[str, Any]) -> str:
    """The smallest F1 drop the set detects, or why there is none: it is computed from the decisions
    that differ, and where none does a 0.0000 would read as "detects any drop"."""
    mde = row.get("mde_f1")
    if mde is None:
        return ""
    return "n/a (no decision differs)" if mde == 0 else f"{mde:.4f}"


def _ci_cell(row: Mapping[str, Any]) -> str:
    low, high = row.get("f1_delta_ci") or (None, None)
    if low is None:
        return f"{row['f1_delta']:+.4f}"
    return f"{row['f1_delta']:+.4f} [{low:+.4f}, {high:+.4f}]"


def column_cell(row: Mapping[str, Any], key: str, fmt: str) -> str:
    """One cell of a COLUMNS table (accuracy.md, and `encoder-gate report`'s page): the value as its
    column formats it; the F1 change with its CI; an MDE where no decision differs said so."""
    value = row.get(key)
    if value is None:
        return ""
    if key == "size_bytes":
        return fmt.format(value / 1e6)
    if key == "mde_f1":
        return _mde(row)
    if key == "f1_delta":
        return _ci_cell(row)
    return fmt.format(value)


def _flagged(label: dict[str, Any], keep: float) -> str | None:
    """Why a per-label row belongs in accuracy.md: it fails, or it is too rare to judge but its
    F1 fell below the keep share anyway. None for the rest."""
    if label["verdict"] == "fail":
        return "**fail**"
    if label["verdict"] == "low-support" and label["f1"] < keep * label["f1_ref"]:
        return "flagged (too few positives to judge)"
    return None


def label_coverage(rows: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """The per-label check's reach over accuracy.json's rows: (the fewest gold positives a label is
    judged with, the labels judged, the labels, the judged ones at F1 0 on the reference, which any F1
    keeps), or None where no row holds a per-label result."""
    row = next((r for r in rows.values() if (r or {}).get("per_label")), None)
    if row is None:
        return None
    labels = row["per_label"]
    judged = [lab for lab in labels if lab.get("verdict") != "low-support"]
    zero = sum(1 for lab in judged if lab.get("f1_ref") == 0)
    return int(row.get("per_label_min_support") or 0), len(judged), len(labels), zero


def label_coverage_note(rows: Mapping[str, Any]) -> str | None:
    """The verdict's line where the per-label check judged fewer than every label: its PASS holds for
    those alone (1 of 28 labels of a small evaluation set was said only in accuracy.md)."""
    coverage = label_coverage(rows)
    if coverage is None or coverage[1] in (0, coverage[2]):  # none judged: its not_judged line says so
        return None
    # a judged label the reference never gets right keeps any share of 0: counted apart (a trial's
    # broken file was "judged" on 175 of 200 labels, 156 of them at F1 0 on torch)
    floor, judged, total, zero = coverage
    return (f"per-label F1 judged {judged} of {total} labels"
            + (f" ({zero} of them at F1 0 on the reference, which any F1 keeps)" if zero else "")
            + f": the other {total - judged} have fewer than {floor} gold positives in the evaluation set "
            "(not judged: accuracy.json's per_label holds each one's F1, and accuracy.md lists those that "
            "fell below their share; more labelled rows of them, or per-label-min-support, judge them)")


def per_label_markdown(payload: dict[str, Any]) -> list[str]:
    """The per-label table of accuracy.md: only the labels that fail or are flagged, per backend."""
    rows, judged = [], False
    for name, row in payload["backends"].items():
        labels = row.get("per_label")
        if not labels:
            continue
        judged = True
        keep = float(row.get("per_label_keep") or 0.0)
        for lab in labels:
            why = _flagged(lab, keep)
            if why is None:
                continue
            ratio = lab["f1"] / lab["f1_ref"] if lab["f1_ref"] else float("nan")
            p = "" if lab["p_value"] is None else f"{lab['p_value']:.3g}"
            rows.append(f"| {markdown_cell(name)} | {markdown_cell(lab['label'])} | {lab['support']} | "
                        f"{lab['f1_ref']:.4f} | {lab['f1']:.4f} | {ratio:.3f} (>= {keep:g}) | {p} | "
                        f"{lab['changed']} | {why} |")
    coverage = label_coverage(payload["backends"])
    if not judged or coverage is None:
        return []
    floor, judged_labels, total, _ = coverage
    low = total - judged_labels
    head = (f"Per-label F1: every label with at least {floor} gold positives keeps its share of its "
            "reference F1 and loses no significant number of decisions (McNemar, Holm-adjusted p < 0.05 "
            f"fails): {judged_labels} of {total} labels judged"
            + (f", {low} with fewer positives reported but not judged" if low else ""))
    if not rows:
        return [f"{head}: no label fails or is flagged.", ""]
    return [f"{head}. Labels that fail or are flagged:", "",
            "| backend | label | support | F1 reference | F1 | ratio | McNemar p (Holm) | changed "
            "| verdict |",
            "|---|---|---|---|---|---|---|---|---|", *rows, ""]


def stats_lines(state: GateSession) -> list[tuple[str, bool]]:
    """(line, is_warning) per evaluated classifier backend for the terminal summary: the F1 change
    with its CI, McNemar p and MDE; the failing labels; the underpowered warning."""
    rows = {name: {**ev.summary(), **ev.stats_summary(state.bounds(name))}
            for name, ev in state.evaluations.items()}
    out: list[tuple[str, bool]] = []
    w = max(16, *(len(name) for name in rows)) if rows else 16  # onnx:PATH names run long
    rule = ""
    for name, row in rows.items():
        if row.get("f1_delta") is None:
            continue
        if name == REFERENCE_BACKEND:  # against itself: no change to show, only what it warns of
            out += [(f"{name:<{w}} warning: {row[key]}", True) for key in ROW_WARNINGS if row.get(key)]
            continue
        rule = rule or str(row.get("f1_rule") or "point")
        out.append((f"{name:<{w}} F1 delta {_ci_cell(row)}, McNemar p {row['mcnemar_p']:.3g}, "
                    f"MDE {_mde(row)}", False))
        failing = [lab for lab in row.get("per_label") or [] if lab["verdict"] == "fail"]
        if failing:
            names = ", ".join(f"{lab['label']} ({lab['f1_ref']:.3f} -> {lab['f1']:.3f}, support "
                              f"{lab['support']})" for lab in failing)
            out.append((f"{'':<{w}} per-label F1 fails: {names}", True))
        out += [(f"{'':<{w}} warning: {row[key]}", True) for key in ROW_WARNINGS if row.get(key)]
    # a small McNemar p beside a pass read as a finding (walk AA): what decides, first
    head = [(f"(the F1 keep check decides by the {rule} rule; McNemar p, over every decision, is said, not "
             "judged)", False)] if rule else []
    return head + out


#: The keys of accuracy.json's `model` that hold a line on how the model was read and fed (the task
#: config.json implies without naming it; a tokenizer saved to pad on the left; decisions at thresholds
#: other than 0.5), said under the table.
MODEL_NOTES = ("task_note", "label2id_note", "dtype_note", "tokenizer_note", "threshold_note")

#: The keys of an accuracy.json row that hold a warning (plain words, or null): the set too small to
#: see the F1 margin; a backend that decides the same for every text.
ROW_WARNINGS = ("underpowered", "one_decision", "below_chance", "rare_labels_lost")


def dataset_notes(dataset: Mapping[str, Any] | None, labelled: bool = True) -> list[str]:
    """Lines on the evaluation set itself (accuracy.json's `dataset`): texts longer than the model is
    fed (`cut`), texts that repeat (`distinct`, the units of the error bars: none without gold
    labels, --gate-texts), a sentence pair's second text left out (`pair_column`, not `pairs`), and
    graded relevance read as 0/1 flags (`relevance`, relevant-grade)."""
    data = dataset or {}
    cut, out = data.get("cut") or {}, []
    if (pair := data.get("pair_column")) and not data.get("pairs"):  # fed as pairs: nothing left out
        out.append(f"the evaluation set pairs each text with a second, in {pair!r}, which encoder-gate does "
                   "not feed (it judges one text a row): every backend was judged on the texts alone, not on "
                   "the pairs a sentence-pair model is served, so a backend that mishandles the second text "
                   "(its segment, token_type_ids) would pass")
    if data.get("relevance"):  # graded relevance read as the 0/1 flags F1 and the ranking judge
        out.append(f"the evaluation set's {data['relevance']}")
    if cut.get("texts"):
        are = "is" if cut["texts"] == 1 else "are"
        fed = (f"{cut['max_tokens']} tokens encoder-gate feeds a model (this one takes {cut['model_takes']}: "
               f"no backend was judged beyond {cut['max_tokens']}; max-tokens = {cut['model_takes']} judges "
               "them whole)" if cut.get("model_takes") else
               f"{cut['max_tokens']} tokens the model is fed")
        out.append(f"{cut['texts']} of {data.get('examples')} evaluation texts {are} longer than the {fed}: "
                   f"the reference and every backend judged {'it' if are == 'is' else 'them'} cut to "
                   f"{cut['max_tokens']}, where the "
                   "tokenizer cuts them (on its truncation side, a pair's longer text first)")
    examples, distinct = data.get("examples"), data.get("distinct")
    if labelled and isinstance(examples, int) and isinstance(distinct, int) and distinct < examples:
        out.append(f"{examples - distinct} of {examples} evaluation texts repeat another ({distinct} "
                   "distinct): the F1 error bars and McNemar tests count each distinct text once (a copy "
                   "is no new evidence); F1 itself counts every row")
    return out


def limit_note(dataset: Mapping[str, Any] | None, limit: int | None) -> list[str]:
    """A line when the session judged only the first texts of its evaluation set (limit, --gate-limit):
    on a few texts every figure is loose, and the table does not show it (walk AB: a PASS on 3)."""
    data = dataset or {}
    if not limit or (isinstance(data.get("examples"), int) and data["examples"] < limit):
        return []  # fewer texts than the limit: it cut none (review AM)
    return [f"accuracy judged on the first {data.get('examples')} texts of `{data.get('source')}` only "
            f"(limit {limit}, --gate-limit)"]


def truncation_notes(rows: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """One line per backend judged on truncated texts (a file with a static sequence length)."""
    return [f"{name}: texts truncated to {row['max_tokens']} tokens (its static sequence length, as its "
            "owner runs it), and so is the torch reference it is judged against"
            for name, row in rows.items() if row and row.get("max_tokens")]


def render_markdown(payload: dict[str, Any]) -> str:
    """A model-card style table, one row per backend."""
    m, d = payload["model"], payload["dataset"]
    rows = payload["backends"].values()
    columns = [c for c in COLUMNS if any(row.get(c[0]) is not None for row in rows)]
    task = task_of_document(payload)
    about = task.record.method.format(threshold=payload.get("threshold"))
    lines = [
        f"# encoder-gate accuracy: {m['name']}",
        "",
        f"Dataset `{d['source']}` split `{d['split']}`, variant `{d['variant']}`, {d['examples']} "
        f"examples; {about}",
        "",
        *([NO_GOLD, ""] if payload.get("labelled") is False and task.classifier else []),
        "| backend | " + " | ".join(h for _, h, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, row in payload["backends"].items():
        cells = [column_cell(row, key, fmt) for key, _, fmt in columns]
        lines.append(f"| {markdown_cell(name)} | " + " | ".join(cells) + " |")
    if any(row.get("f1_delta") is not None for row in rows):
        lines += ["", f"F1 change: backend minus torch FP32 ({task.headline_name}), 95% paired-bootstrap CI "
                  "over examples; McNemar p: exact test on the decisions each side gets right; MDE: the "
                  "smallest F1 drop this set detects with 80% power."]
    labelled = payload.get("labelled") is not False
    truncated = [*(m[key] for key in MODEL_NOTES if m.get(key)),
                 *dataset_notes(payload.get("dataset"), labelled), *truncation_notes(payload["backends"])]
    if truncated:
        lines += ["", *(f"- {n}" for n in truncated)]
    lines += ["", *per_label_markdown(payload)]
    warned = [f"- {name}: {row[key]}" for name, row in payload["backends"].items() for key in ROW_WARNINGS
              if row.get(key)]
    if warned:
        lines += ["Warnings:", *warned, ""]
    versions = ", ".join(f"{k} {v}" for k, v in payload["versions"].items())
    lines += [f"Versions: {versions}.", ""]
    return "\n".join(map(markdown_line, lines))


