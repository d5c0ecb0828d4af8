"""The history page (encoder_gate.history.page): every commit of the newest series drawn, failures,
creep and waivers marked, the texts a limited gate judged said, label names drawn as written, and in
headless Chromium it loads offline. No model: synthetic records and the documents of `data/verdicts/`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from encoder_gate.history.creep import check
from test_history import noisy, synthetic


def twelve_commits() -> list[dict[str, Any]]:
    """A store of 12 commits: noise, one failing gate, a machine change, then a 1% creep per commit."""
    new = {"cpu_model": "x", "v": 2}  # from commit 2 on, another machine
    records = [synthetic(i, speedup=2.0 * (1 + noisy(i)), joy=0.80 + noisy(i) / 5,
                         machine=None if i < 2 else new) for i in range(6)]
    records[3]["verdict"] = {"passed": False}
    records += [synthetic(6 + k, speedup=2.0 * 0.99 ** (k + 1), machine=new) for k in range(6)]
    records.append(synthetic(12, model="another"))  # another model's record: kept, not drawn
    records[-1]["time"] = "2026-11-01T09:00:00+00:00"  # the oldest: the newest record is commit 11
    return sorted(records, key=lambda r: r["time"])


def test_the_page_says_its_figures_are_of_the_first_texts_where_the_gate_was_limited(tmp_path: Path):
    """Walk AJ: 11 commits gated on the first 64 of 200 texts, and the page said only the data file:
    a reader took F1 0.0714 for the whole file's. And an onnx-int8 gated once, then removed, was
    nowhere on the page: the table keeps its column."""
    from encoder_gate.history.page import render

    records = [synthetic(i, speedup=2.0) for i in range(3)]
    assert "texts only" not in render(records, tmp_path / "whole").read_text()
    for r in records:
        r["series"]["dataset"]["limit"] = 64
    limited = render(records, tmp_path / "limited").read_text()
    assert "<b>its first 64 texts only</b> (--gate-limit)" in limited
    records[-1]["texts"] = 40  # a limit above the set's 40 texts cut none: not said (review AM)
    assert "texts only" not in render(records, tmp_path / "all").read_text()

    # a backend an earlier commit gated and the newest no longer has keeps its column in the table
    records[0]["backends"]["onnx-fp16"] = {**records[0]["backends"]["onnx-int8"], "value": 0.6543}
    table = render(records, tmp_path / "removed").read_text().split("<h2>Every commit</h2>")[1]
    assert "<th>onnx-fp16</th>" in table and "f1 0.6543" in table


def test_the_page_draws_every_commit_marks_failures_and_creep_and_fetches_nothing(tmp_path: Path):
    from matplotlib.image import imread

    from encoder_gate.history.page import render

    records = twelve_commits()
    page = render(records, tmp_path / "site")
    text = page.read_text()
    drawn = [r for r in records if r["series"]["model"] == "m"]
    assert len(drawn) == 12 and all(f'id="c{r["commit"]}"' in text for r in drawn)
    table = text.split("<table")[1].split("</table>")[0]
    assert "another" not in table and "1 record(s) of other models" in text
    assert "<b class=fail>FAIL</b>" in text and "speedup model/normal/bs8/bucketed" in text  # the creep
    assert "before 0000002" in text  # the machine changed before commit 2
    assert text.count("<svg") == 2  # the backend's panels and the labels that moved most
    # self-contained: no URL a browser would fetch (the SVG namespaces are names, not requests)
    for attr in ("src=", "href=\"http", "url(http", "@import", "<link", "<script"):
        assert attr not in text, attr
    for png in ("history_onnx-int8.png", "history_labels.png"):
        pixels = imread(tmp_path / "site" / png)
        assert pixels.shape[0] > 200 and pixels.std() > 0.01, png  # drawn, not blank


def test_each_earlier_series_is_drawn_on_a_page_of_its_own_linked_from_the_first(tmp_path: Path):
    """An edited evaluation set starts a new series: its earlier commits were on no page (left alone by
    the forty-seventh session). Each earlier series is drawn as the newest is, in series-K/, newest first."""
    from encoder_gate.history.page import earlier_series, render

    records = twelve_commits()  # twelve of model m, and one of model `another` among them
    edited = [{**r, "series": {**r["series"], "dataset": {"source": "bundled", "sha256": "e" * 16}}}
              for r in synthetic_tail()]
    store = [*records, *edited]
    groups = earlier_series(store)
    assert [len(g) for g in groups] == [12, 1]  # m on the old data (its newest is later), then `another`
    assert [g[-1]["series"]["model"] for g in groups] == ["m", "another"]
    text = render(store, tmp_path / "site").read_text()
    assert "13 record(s) of other models or data are in the store, each series drawn on its own page" in text
    links = re.findall(r'<li><a href="(series-\d/index.html)">([^<]*)</a>: (\d+) commit', text)
    assert links == [("series-1/index.html", "model m, dataset bundled", "12"),
                     ("series-2/index.html", "model another, dataset bundled", "1")], links
    first = (tmp_path / "site" / "series-1" / "index.html").read_text()
    assert all(f'id="c{r["commit"]}"' in first for r in records if r["series"]["model"] == "m")
    assert "<svg" in first and (tmp_path / "site" / "series-1" / "history_onnx-int8.png").is_file()
    assert "Earlier series" not in first  # drawn from its own records: no series before it


def synthetic_tail() -> list[dict[str, Any]]:
    """Two commits after twelve_commits' last."""
    return [synthetic(i) for i in (14, 15)]


def test_the_table_says_when_a_commits_gate_judged_one_side_only(tmp_path: Path):
    """A record of a report directory of benchmarks alone showed "pass" as if its accuracy had been
    judged too (twenty-first session's hunt): the table's gate column names the side it judged."""
    from encoder_gate.history.page import render

    records = [synthetic(i, speedup=2.0) for i in range(3)]
    records[0]["provenance"] = {"speedups.json": {}}
    records[1]["provenance"] = {"accuracy.json": {}}
    records[2]["provenance"] = {"accuracy.json": {}, "speedups.json": {}}
    table = render(records, tmp_path / "site").read_text().split("<h2>Every commit</h2>")[1]
    rows = {r["commit"]: table.split(f'id="c{r["commit"]}"')[1].split("</tr>")[0] for r in records}
    assert "<td>pass (speed only)</td>" in rows[records[0]["commit"]]
    assert "<td>pass (accuracy only)</td>" in rows[records[1]["commit"]]
    assert "<td>pass</td>" in rows[records[2]["commit"]]


def test_a_record_of_before_the_architecture_was_kept_reads_as_its_models_others(tmp_path: Path):
    """The model column read `bert e190c5d4` for new records and `e190c5d4` for older ones of the same model
    (forty-eighth session): one content, one architecture; a model never seen with one stays bare."""
    from encoder_gate.history.page import render

    records = [synthetic(i, speedup=2.0) for i in range(3)]
    for i, r in enumerate(records):
        r["model"] = {"content_hash": "e190c5d4aa" if i < 2 else "0123abcdff"}
    records[1]["architecture"] = "bert"
    table = render(records, tmp_path / "site").read_text().split("<h2>Every commit</h2>")[1]
    rows = {r["commit"]: table.split(f'id="c{r["commit"]}"')[1].split("</tr>")[0] for r in records}
    assert [rows[r["commit"]].count("<code>bert e190c5d4</code>") for r in records] == [1, 1, 0]
    assert "<td><code>0123abcd</code></td>" in rows[records[2]["commit"]]


def test_a_backend_panel_without_speedups_says_why():
    """No record holds benchmark results, or only this backend has none, or it is torch eager itself:
    the empty speed panel says which, not always that torch eager is the baseline."""
    from encoder_gate.history.page import _backend_figure

    def said(records: list[dict[str, Any]], name: str) -> str:
        return " ".join(t.get_text() for t in _backend_figure(records, name, [], []).axes[2].texts)

    measured = [synthetic(i) for i in range(3)]
    unmeasured = [synthetic(i) for i in range(3)]
    for r in unmeasured:
        del r["backends"]["onnx-int8"]["speedups"]
    assert "no record holds `pytest benchmarks` results" in said(unmeasured, "onnx-int8")
    assert "torch eager is the baseline of the others" in said(measured, "torch")
    assert "none of this backend in these records" in said(measured, "onnx-fp16")


def test_a_panel_with_two_creeping_series_names_the_ring_once():
    """Two speed cells that both crept are each ringed, and the panel's legend says "creep" once."""
    from encoder_gate.history.page import _backend_figure

    records = []
    for k in range(14):
        record = synthetic(k, speedup=2.0 * (1 + noisy(k)) if k < 8 else 2.0 * 0.99 ** (k - 7))
        bs1 = record["backends"]["onnx-int8"]["speedups"]["model/normal/bs8/bucketed"]["speedup"] * 1.25
        record["backends"]["onnx-int8"]["speedups"]["model/normal/bs1/bucketed"] = {"speedup": bs1}
        records.append(record)
    found, _ = check(records)
    assert sorted(c.what for c in found) == [f"speedup model/normal/bs{bs}/bucketed" for bs in (1, 8)]
    speed_ax = _backend_figure(records, "onnx-int8", [], found).axes[2]
    rings = [line for line in speed_ax.get_lines() if line.get_markeredgecolor() == "tab:red"]
    assert len(rings) == 2
    labels = [t.get_text() for t in speed_ax.get_legend().get_texts()]
    assert labels.count("creep") == 1, labels


def test_a_commit_a_waiver_passed_is_marked_on_its_backends_panels():
    from matplotlib.colors import to_rgba

    from encoder_gate.history.page import _backend_figure

    records = [synthetic(i) for i in range(3)]
    records[1]["backends"]["onnx-int8"]["waived"] = {"checks": ["drift_max"], "waivers": []}
    orange = to_rgba("tab:orange", 0.15)
    for ax in _backend_figure(records, "onnx-int8", [], []).axes:
        spans = [p for p in ax.patches if p.get_facecolor() == orange]
        assert len(spans) == 1 and spans[0].get_x() == 1 - 0.4  # commit 1 alone


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# headless, with the browser's own background traffic off, so any request in the net log is the page's
QUIET = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
         "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only",
         "--no-default-browser-check", "--disable-features=OptimizationHints,Translate,MediaRouter"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium): "
                    "the page cannot be loaded in a real browser here; CI installs it")
def test_the_page_loads_in_headless_chromium_draws_every_commit_and_makes_no_request(tmp_path: Path):
    from matplotlib.image import imread

    from encoder_gate.history.page import render

    assert CHROMIUM is not None
    records = twelve_commits()
    url = render(records, tmp_path / "site").resolve().as_uri()
    netlog = tmp_path / "net.json"
    common = [CHROMIUM, *QUIET, f"--user-data-dir={tmp_path / 'profile'}"]
    # the check's own control: a page that does fetch something shows its request in the net log
    probe = tmp_path / "probe.html"
    probe.write_text('<html><body><img src="http://127.0.0.1:9/probe.png"></body></html>')
    subprocess.run([*common, f"--log-net-log={tmp_path / 'probe.json'}", "--dump-dom", probe.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert page_requests(tmp_path / "probe.json") == ["http://127.0.0.1:9/probe.png"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                         check=True)
    for r in records:
        if r["series"]["model"] == "m":
            assert f'id="c{r["commit"]}"' in dom.stdout, r["commit"]
    assert dom.stdout.count("<svg") == 2
    shot = tmp_path / "shot.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1400,1800", f"--log-net-log={netlog}",
                    url], capture_output=True, timeout=120, check=True)
    pixels = imread(shot)
    assert pixels.shape[:2] == (1800, 1400) and pixels.std() > 0.05  # drawn, not a blank page
    assert page_requests(netlog) == []


def page_requests(netlog: Path) -> list[str]:
    """The URLs a file:// page requested, from chromium's net log: the jobs whose network isolation key
    is the page's (the browser's own background requests carry another, or none)."""
    doc = json.loads(netlog.read_text())
    start = doc["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in doc["events"] if e["type"] == start
            and str(e["params"].get("network_isolation_key", "")).startswith("file://")]


def test_label_names_are_drawn_as_written(tmp_path: Path):
    """A model's labels named '$price$' (drawn as an italic 'price'), 'a$b{$c' (matplotlib's mathtext
    ParseException stopped `history render`) and '_under' (left out of the legend, its line unnamed)."""
    from encoder_gate.history.page import _labels_figure, render

    odd = ("$price$", "a$b{$c", "_under")
    records = [synthetic(i) for i in range(3)]
    for i, r in enumerate(records):
        r["backends"]["onnx-int8"]["per_label"] = {name: {"f1": 0.5 + 0.1 * i * (k + 1), "support": 40}
                                                   for k, name in enumerate(odd)}
    render(records, tmp_path / "site")
    assert (tmp_path / "site" / "history_labels.png").stat().st_size > 0
    fig = _labels_figure(records, "onnx-int8", list(odd), [], [])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["$price$", "a$b{$c", "\u200b_under"]
