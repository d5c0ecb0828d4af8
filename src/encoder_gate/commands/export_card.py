"""The model card of `encoder-gate export` (README.md beside the files it ships): each variant's size,
parity with torch FP32 and task metrics, the INT8 integer paths, the search, and how to load it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from encoder_gate.accuracy.ranking import NDCG_RANKING, RANKINGS
from encoder_gate.backends.int8_path import INTEGER_PATHS, cpu_path_words
from encoder_gate.reporting.accuracy import ROW_WARNINGS, dataset_notes
from encoder_gate.reporting.search_report import search_section
from encoder_gate.tasks import Task

#: A variant row's warnings on the card: the gate's, and a file whose attention the optimizer left unfused
#: (FP16, or FP32 at --optimize O2/O3; backends.fusions: same numbers, slower).
CARD_WARNINGS = (*ROW_WARNINGS, "unfused")

#: What the card's top-1 agreement column counts (a classifier's).
TOP1_SAID = " Top-1 = texts whose highest-scoring label is the same."


def on_this_path(name: str, summary: Mapping[str, Any]) -> str:
    """A variant's name, with the integer path its figures are of where its file computes other
    numbers on the other one (the card's INT8 section has both): the export machine's path."""
    paths = summary.get("integer_paths") or {}
    if not paths.get("can_saturate"):
        return name
    return f"{name} ({paths['this_cpu']} path, this machine's)"


_DESCRIBE = {
    "fp32": "FP32, exported with {exporter} (opset 18)",
    "fp16": "ONNX Runtime transformer optimizer (fusions), FP16 weights, FP32 inputs/outputs",
    "int8": "dynamic INT8 quantization of MatMul/Gemm weights (onnxruntime `quantize_dynamic`)",
}


_PARITY_KEYS = {"dtype", "size_bytes", "drift_mean", "drift_p50", "drift_p99", "drift_max", "max_abs_diff",
                "share_over_atol", "flips", "flip_rate", "top1_agreement"}


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def render_card(p: dict[str, Any]) -> str:
    """README.md in model-card style: files, usage, parity, task metrics, command, versions."""
    m, d = p["model"], p["dataset"]
    split_said = f" (split {d['split']})" if d.get("split") else ""  # a file has no splits
    first_file = next(iter(p["variants"].values()))["file"]
    task = Task.of(m["task"])
    output = task.output_name
    checked = p["optimum_check"]["ran"]
    ort_model = "ORTModelForSequenceClassification" if task.classifier else "ORTModelForFeatureExtraction"
    # (a CrossEncoder's one score: the hub's pipeline of rerankers)
    pipeline = ("text-ranking" if p["model"].get("cross_encoder")
                else "text-classification" if task.classifier else "feature-extraction")
    rows = [("torch (reference)", "", p["reference"]),
            *[(f"onnx-{v}", row["file"], row) for v, row in p["variants"].items()]]
    lines = [
        "---",
        "library_name: onnx",
        f"pipeline_tag: {pipeline}",
        f"tags: [onnx, {'optimum, ' if checked else ''}encoder-gate]",
        "---",
        "",
        f"# {m['name']}: ONNX export",
        "",
        f"`{m['model_type']}` {m['task'].replace('_', '-')} model ({len(m['labels'])} "
        f"label{'' if len(m['labels']) == 1 else 's'}), content hash "
        f"`{m['content_hash']}`, exported by encoder-gate with the same recipes and cache the accuracy "
        "gate uses" + (f"; ORT optimization level {p['optimize']} (optimum AutoOptimizationConfig's, run by "
                       f"{p['optimizer']}) applied to the FP32 graph, FP16 and INT8 made from it"
                       if p["optimize"] else "")
        + ("; identical initializers de-duplicated (encoder_gate.backends.dedupe)" if p["dedupe"] else "")
        + "." + (f" Its task: {m['task_note']}." if m.get("task_note") else ""),
        "",
        "## Files",
        "",
        "| variant | file | size MB | how it was made |",
        "|---|---|---|---|",
    ]
    for v, row in p["variants"].items():
        how = (f"`{row['recipe']}`, {row['how']}" if "recipe" in row else
               _DESCRIBE[v].format(exporter=f"{p['exporter']['name']} ({p['exporter']['version']})"))
        lines.append(f"| {v} | `{row['file']}` | {row['size_bytes'] / 1e6:.1f} | {how} |")
    lines += [
        "",
        f"Beside them: {', '.join(f'`{s}`' for s in p['side_files'])}.",
        "",
        "## Usage",
        "",
        "With onnxruntime and transformers (DIR is this directory):",
        "",
        "```python",
        "import numpy as np",
        "import onnxruntime as ort",
        "from transformers import AutoTokenizer",
        "",
        'tokenizer = AutoTokenizer.from_pretrained("DIR")',
        f'session = ort.InferenceSession("DIR/{first_file}", providers=["CPUExecutionProvider"])',
        *(['batch = tokenizer(["a man sleeps", "is it open?"], ["a man is awake", "the shop opens at 9"],',
           '                  padding=True, truncation=True, return_tensors="np")  # sentence pairs']
          if d.get("pairs") else
          ['batch = tokenizer(["I love this", "what a day"], padding=True, truncation=True,',
           '                  return_tensors="np")']),
        "feeds = {i.name: batch[i.name] if i.name in batch else np.zeros_like(batch[\"input_ids\"])",
        "         for i in session.get_inputs()}",
        f'{output} = session.run(["{output}"], feeds)[0]',
        "```",
        "",
        Task.of(task).record.usage,
        "",
        *([f'optimum\'s `{ort_model}.from_pretrained("DIR", file_name="{first_file}")` loads each file too '
           "(checked at export).", ""] if checked else []),
        "## Parity with torch FP32",
        "",
        f"On {d['examples']} texts of `{d['name']}`{split_said}, batch size {p['eval_batch_size']}, "
        "each batch padded to its longest text (texts sorted by length). "
        # the task's own words (a single-label model's flips are texts whose argmax class changed)
        f"{task.record.method.format(threshold=p['threshold'])}"
        f"{TOP1_SAID if task.record.decision is not None else ''}"
        + (f" Each text alone: `{d['pair_column']}`, the second text of each of the dataset's pairs, was not "
           "fed (encoder-gate judges one text a row), so these figures say nothing of how a variant "
           "handles a sentence pair's second segment." if d.get("pair_column") and not d.get("pairs") else "")
        + (f" Each row a sentence pair: its text and `{d['pair_column']}`, fed together as the model reads "
           "them (`tokenizer(texts, text_pairs)`)." if d.get("pairs") else ""),
        *(f"{line[0].upper()}{line[1:]}." for line in dataset_notes(
            {"examples": d["examples"], "cut": d.get("cut"), "relevance": d.get("relevance")},
            labelled=False)),
        "",
        "| backend | size MB | drift mean | drift p99 | drift max | flips | flip rate | top-1 agreement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, _, row in rows:
        lines.append(f"| {on_this_path(name, row)} | {row['size_bytes'] / 1e6:.1f} | "
                     f"{row['drift_mean']:.2e} | {row['drift_p99']:.2e} | {row['drift_max']:.2e} | "
                     f"{_fmt(row['flips'], 'd')} | "
                     f"{_fmt(row['flip_rate'], '.3%')} | {_fmt(row['top1_agreement'], '.4f')} |")
    lines += ["", "## Task metrics", ""]
    if d["labels"] and "f1" in p["reference"]:
        lines += [
            f"Gold labels of `{d['name']}`, threshold {p['threshold']}; micro and macro averages.",
            "",
            "| backend | accuracy (exact) | precision (micro) | recall (micro) | F1 (micro) | F1 (macro) "
            "| F1 (weighted) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, _, row in rows:
            lines.append(f"| {on_this_path(name, row)} | {row['accuracy']:.4f} | {row['precision']:.4f} | "
                         f"{row['recall']:.4f} | {row['f1']:.4f} | {row['f1_macro']:.4f} | "
                         f"{_fmt(row.get('f1_weighted'), '.4f')} |")
    elif d["labels"]:
        keys = [k for k, v in p["reference"].items() if k not in _PARITY_KEYS and isinstance(v, float)]
        lines += [f"Gold labels of `{d['name']}`.", "", "| backend | " + " | ".join(keys) + " |",
                  "|---|" + "---|" * len(keys)]
        lines += [f"| {on_this_path(name, row)} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |"
                  for name, _, row in rows]
    elif d.get("texts"):
        lines.append(f"Not measured: `{d['name']}` holds texts without labels (`--texts`), so the variants "
                     "are judged on parity alone; pass `--dataset` with a labelled dataset for this model.")
    else:
        lines.append("Not measured: the model's labels do not match the bundled go_emotions labels; pass "
                     "`--dataset` with a labelled dataset for this model.")
    for r in RANKINGS:  # a reranker's order (accuracy.ranking): MRR@10, and NDCG@10 on graded relevance
        if p["reference"].get(r.key) is None:
            continue
        graded = " on the grades of relevance" if r is NDCG_RANKING else ""
        lines += ["", f"A reranker's order: {r.name}{graded} over the {p['reference'][r.count]} queries of "
                  f"`{d['name']}` (a query: the rows of one first text, or of one reranking sample), each "
                  "variant's change against torch FP32 with its 95% bootstrap CI over the queries.", "",
                  f"| backend | {r.name} | change [95% CI] |", "|---|---|---|"]
        lines += [f"| {on_this_path(name, row)} | {row[r.key]:.4f} | {row[f'{r.key}_delta']:+.4f} "
                  f"[{row[f'{r.key}_delta_ci'][0]:+.4f}, {row[f'{r.key}_delta_ci'][1]:+.4f}] |"
                  for name, _, row in rows if row.get(r.key) is not None]
    warned = [f"- {name}: {row[key]}" for name, _, row in rows for key in CARD_WARNINGS if row.get(key)]
    # the tokenizer shipped beside the files pads as it was saved: on the left, said (reporting.MODEL_NOTES)
    warned += [f"- {m['tokenizer_note']}"] if m.get("tokenizer_note") else []
    # weights saved in half precision: the variants were made from them upcast (reporting.MODEL_NOTES)
    warned += [f"- {m['dtype_note']}"] if m.get("dtype_note") else []
    # config.json's two label maps disagree: the card's usage reads id2label (reporting.MODEL_NOTES)
    warned += [f"- {m['label2id_note']}"] if m.get("label2id_note") else []
    if warned:  # what the gate warns of (an untrained head every variant keeps its F1 with), said here too
        lines += ["", "Warnings:", "", *warned]
    versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items())
    lines += [
        "",
        "## How this was made",
        "",
        "```bash",
        p["command"],
        "```",
        "",
        f"Versions: {versions}. INT8{' (' + p['int8']['recipe'] + ')' if 'recipe' in p['int8'] else ''}: "
        f"per_channel={p['int8']['per_channel']}, reduce_range={p['int8']['reduce_range']}, weights "
        f"{p['int8'].get('weights', 'QUInt8')}. Numbers are in `export.json` too.",
        "",
    ]
    lines += integer_path_section(p["variants"])
    if "search" in p:
        lines += search_section(p["search"], p["candidates"])
    return "\n".join(lines)


def integer_path_section(variants: Mapping[str, Any]) -> list[str]:
    """The card's word on which CPUs each INT8 file was verified for, and what its serving code needs."""
    lines: list[str] = []
    for row in variants.values():
        paths = row.get("integer_paths")
        if not paths:
            continue
        if not lines:
            lines += ["## INT8 on other CPUs", "",
                      "With int8 weights, x86 CPUs without VNNI (AVX2, and AVX-512 before Cascade Lake and "
                      "Zen 4) sum pairs of products in saturating int16 and can compute other numbers than "
                      "CPUs with VNNI, AMX or ARM64 (encoder-gate's docs/checks.md, \"INT8 on other CPUs\").",
                      ""]
        lines.append(f"`{row['file']}`: {paths['audit']}.")
        if not paths["can_saturate"]:
            lines += ["The same numbers on every CPU; no session option needed.", ""]
            continue
        lines += ["", "| path | CPUs | F1 (micro) | drift max | flip rate |", "|---|---|---|---|---|"]
        for path in INTEGER_PATHS:
            got = paths.get(path) or {}
            where = cpu_path_words(path) + (" (this machine)" if path == paths["this_cpu"] else "")
            if "not_judged" in got:
                lines.append(f"| {path} | {where} | not judged: {got['not_judged']} | | |")
            else:
                lines.append(f"| {path} | {where} | {_fmt(got.get('f1'), '.4f')} | "
                             f"{_fmt(got.get('drift_max'), '.3g')} | {_fmt(got.get('flip_rate'), '.3%')} |")
        lines += ["", "Serving on an x86 CPU without VNNI computes the saturating row; to compute the "
                      "exact one there, add "
                      "`options.add_session_config_entry(\"session.x64quantprecision\", \"1\")` to the "
                      "`SessionOptions` (slower; this file keeps one int8 weight and zero point per "
                      "product, which ONNX Runtime 1.25 on needs for it), or re-quantize with uint8 "
                      "weights.", ""]
    return lines
