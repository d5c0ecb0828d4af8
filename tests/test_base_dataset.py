"""--gate-base's note on the evaluation set: the base's own against the one both sides are judged on
(runtime.base.BaseSide.dataset_note)."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoder_gate.config import GateConfig
from encoder_gate.runtime.base import BaseSide, base_config
from encoder_gate.runtime.session import GateSession


def test_the_same_dataset_in_both_checkouts_is_no_difference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A dataset file with the same bytes in the base's checkout and the PR's is the same dataset;
    another file is named as a difference."""
    for side in ("base", "pr"):
        (tmp_path / side / "data").mkdir(parents=True)
        (tmp_path / side / "data" / "test.jsonl").write_text('{"text": "hi", "labels": []}\n')
        (tmp_path / side / "pyproject.toml").write_text('[tool.encoder-gate]\ndataset = "data/test.jsonl"\n')
    monkeypatch.chdir(tmp_path / "pr")
    pr = GateSession(GateConfig(dataset="data/test.jsonl"))
    side = BaseSide(GateSession(base_config(tmp_path / "base", pr.config)), pr, tmp_path / "base")
    assert side.dataset_note is None
    (tmp_path / "base" / "data" / "test.jsonl").write_text('{"text": "other", "labels": []}\n')
    assert side.dataset_note is not None and "both sides are judged on the PR's" in side.dataset_note
    # walk AF: not the same path alone; and by how much (a user's PR dropped 100 of 400 rows, said only as
    # "changed its contents")
    assert ("; the PR changed its contents: 1 row on the base, 1 in the PR; 1 of the base's texts are "
            "not in the PR's, 1 new; ") in side.dataset_note


def test_rows_the_pr_labelled_otherwise_are_counted_in_the_note(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    """A PR that relabels rows of the evaluation set says how many (a trial's PR relabelled 30 of 400 and
    added 100: the note said only "100 new", and the headline F1 moved 0.015 with no reason given)."""
    rows = {"base": ['{"text": "hi", "labels": ["joy"]}', '{"text": "there", "labels": []}'],
            "pr": ['{"text": "hi", "labels": ["anger"]}', '{"text": "there", "labels": []}',
                   '{"text": "new", "labels": ["joy"]}']}
    for side, lines in rows.items():
        (tmp_path / side / "data").mkdir(parents=True)
        (tmp_path / side / "data" / "test.jsonl").write_text("\n".join(lines) + "\n")
        (tmp_path / side / "pyproject.toml").write_text('[tool.encoder-gate]\ndataset = "data/test.jsonl"\n')
    monkeypatch.chdir(tmp_path / "pr")
    pr = GateSession(GateConfig(dataset="data/test.jsonl"))
    side = BaseSide(GateSession(base_config(tmp_path / "base", pr.config)), pr, tmp_path / "base")
    assert side.dataset_note is not None
    assert ("the PR changed its contents: 2 rows on the base, 3 in the PR; 0 of the base's texts are not in "
            "the PR's, 1 new; labelled otherwise in the PR: 1 of the texts both have (both sides are scored "
            "against the PR's gold, so the base's F1 here is not its own verdict's); both sides"
            ) in side.dataset_note, side.dataset_note


def test_the_same_texts_file_in_both_checkouts_is_no_difference_and_an_edited_one_is_named_as_texts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Unlabelled texts (init's --texts) replace the dataset: the same file's bytes in both checkouts is
    no difference (every such PR had a note, the two checkouts' paths compared), and an edited one is
    named as the texts it is, not as the dataset the session does not read ('bundled')."""
    for side in ("base", "pr"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "texts.txt").write_text("hi\nthere\n")
        (tmp_path / side / "pyproject.toml").write_text('[tool.encoder-gate]\ntexts = "texts.txt"\n')
    monkeypatch.chdir(tmp_path / "pr")
    pr = GateSession(GateConfig(texts=tmp_path / "pr" / "texts.txt"))
    side = BaseSide(GateSession(base_config(tmp_path / "base", pr.config)), pr, tmp_path / "base")
    assert side.dataset_note is None
    (tmp_path / "pr" / "texts.txt").write_text("hi\nthere\nand more\n")
    assert side.dataset_note == ("the base configured texts 'texts.txt'; the PR changed its contents: "
                                 "2 rows on the base, 3 in the PR; 0 of the base's texts are not in the "
                                 "PR's, 1 new; both sides are judged on the PR's, texts 'texts.txt'")


def test_a_pr_that_pairs_the_datasets_columns_is_said_and_both_sides_are_fed_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PR that adds `pair-column` (or moves any column) judges both sides on its own reading of the
    same file, said; and the base runs at the PR's max-tokens, so both are fed the same tokens."""
    for side in ("base", "pr"):
        (tmp_path / side / "data").mkdir(parents=True)
        row = '{"premise": "a", "hypothesis": "b", "labels": []}\n'
        (tmp_path / side / "data" / "nli.jsonl").write_text(row)
    (tmp_path / "base" / "pyproject.toml").write_text('[tool.encoder-gate]\ndataset = "data/nli.jsonl"\n'
                                                      'text-column = "premise"\n')
    monkeypatch.chdir(tmp_path / "pr")
    pr = GateSession(GateConfig(dataset="data/nli.jsonl", text_column="premise", pair_column="hypothesis",
                                max_tokens=1024))
    config = base_config(tmp_path / "base", pr.config)
    assert (config.pair_column, config.max_tokens) == (None, 1024)
    side = BaseSide(GateSession(config), pr, tmp_path / "base")
    assert side.dataset_note is not None
    assert "text 'premise', labels 'labels'); both sides are judged on the PR's" in side.dataset_note
    assert side.dataset_note.endswith("text 'premise', paired with 'hypothesis', labels 'labels')")


def test_a_pr_that_moves_the_relevant_grade_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`relevant-grade` is how the same file's grades are read as gold flags: a PR that moves it judges both
    sides on its own reading, said with the grade each side reads from."""
    for side, grade in (("base", 1), ("pr", 2)):
        (tmp_path / side / "data").mkdir(parents=True)
        (tmp_path / side / "data" / "dev.jsonl").write_text('{"text": "q", "passage": "p", "grade": 3}\n')
        (tmp_path / side / "pyproject.toml").write_text('[tool.encoder-gate]\ndataset = "data/dev.jsonl"\n'
                                                        f"relevant-grade = {grade}\n")
    monkeypatch.chdir(tmp_path / "pr")
    pr = GateSession(GateConfig(dataset="data/dev.jsonl", relevant_grade=2))
    side = BaseSide(GateSession(base_config(tmp_path / "base", pr.config)), pr, tmp_path / "base")
    assert side.dataset_note is not None
    assert "labels 'labels' relevant from grade 1); both sides are judged on the PR's" in side.dataset_note
    assert side.dataset_note.endswith("labels 'labels' relevant from grade 2)")
    (tmp_path / "base" / "pyproject.toml").write_text('[tool.encoder-gate]\ndataset = "data/dev.jsonl"\n'
                                                      "relevant-grade = 2\n")  # the same reading: no note
    again = BaseSide(GateSession(base_config(tmp_path / "base", pr.config)), pr, tmp_path / "base")
    assert again.dataset_note is None


def test_a_pr_whose_tokenizer_feeds_fewer_tokens_is_named_with_both_limits(tmp_path: Path):
    """A PR that cuts its tokenizer's model_max_length (128 to 64) changes what its model reads with no
    setting of its own changed: the notes name both limits (a user's such PR failed on a label and
    nothing named the cut); the same limits, or a max-tokens setting changed (named elsewhere), add
    no note."""
    from types import SimpleNamespace

    class Words(SimpleNamespace):  # a token a word, cut at max_length
        def __call__(self, texts, truncation, max_length):
            return {"input_ids": [t.split()[:max_length] for t in texts]}

    texts = ("a " * 100, "a " * 65, "a " * 64, "a")  # two longer than 64 tokens: said how many
    def session(limit: int, max_tokens: int = 512) -> GateSession:
        return SimpleNamespace(tokenizer=Words(model_max_length=limit), dataset=SimpleNamespace(texts=texts),
                               config=GateConfig(max_tokens=max_tokens))  # type: ignore

    side = BaseSide(session(128), session(64), tmp_path)
    assert side.fed_note == ("the PR's model is fed at most 64 tokens a text, the base's 128 (each side's "
                             "tokenizer, its model_max_length and the model's positions): a text longer "
                             "than 64 tokens is cut shorter on the PR, 2 of the 4 evaluation texts")
    assert BaseSide(session(128), session(128), tmp_path).fed_note is None
    assert BaseSide(session(128), session(64, max_tokens=64), tmp_path).fed_note is None


def test_a_pr_that_changed_its_tokenizer_files_says_how_many_texts_encode_otherwise_or_none(
        tmp_path: Path, tiny) -> None:
    """A PR's tokenizer files against the base's: the texts encoded otherwise counted; a change that
    reaches no text said as such (an XLM-R PR's lowercasing in tokenizer.json, which its transformers
    class does not read, passed "outputs identical to the base's" with no word of it); the same files,
    or the only change a cut (fed_note's), no note."""
    import json
    import shutil
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from encoder_gate.models.spec import content_hash

    texts = ("I love this so much!", "Why would anyone do that?", "ok")

    def side(name: str, edit=None) -> GateSession:
        path = tmp_path / name
        shutil.copytree(tiny.path, path)
        if edit:
            edit(path)
        return SimpleNamespace(tokenizer=AutoTokenizer.from_pretrained(path),
                               dataset=SimpleNamespace(texts=texts),
                               model=SimpleNamespace(path=path, model_type="roberta",
                                                     content_hash=content_hash(path)),
                               config=GateConfig())  # type: ignore

    def config_edit(change):
        def edit(path: Path) -> None:
            doc = json.loads((path / "tokenizer_config.json").read_text())
            (path / "tokenizer_config.json").write_text(json.dumps(change(doc)))
        return edit

    def drop_love(path: Path) -> None:  # the merge that makes one word's token gone: it splits otherwise
        doc = json.loads((path / "tokenizer.json").read_text())
        pairs = [m.split(" ") if isinstance(m, str) else m for m in doc["model"]["merges"]]
        doc["model"]["merges"] = [m for m in doc["model"]["merges"]
                                  if "".join(m.split(" ") if isinstance(m, str) else m) != "Ġlove"]
        assert len(doc["model"]["merges"]) == len(pairs) - 1
        (path / "tokenizer.json").write_text(json.dumps(doc))

    base = side("base")
    assert BaseSide(base, side("same"), tmp_path).tokenizer_note is None
    inert = side("inert", config_edit(lambda d: {**d, "comment": "a note"}))
    assert BaseSide(base, inert, tmp_path).tokenizer_note == (
        "the PR changed its tokenizer's tokenizer_config.json, yet its tokenizer, as transformers loads it, "
        "encodes each of the 3 evaluation texts as the base's does: the change reaches no service that loads "
        "the model with transformers, and a service that reads those files otherwise (the tokenizers library "
        "on tokenizer.json) was not judged here")
    note = BaseSide(base, side("split", drop_love), tmp_path).tokenizer_note
    assert note == ("the PR changed its tokenizer's tokenizer.json: 1 of the 3 evaluation texts is encoded "
                    "otherwise than by the base's tokenizer (each side judged with its own)")
    cut = side("cut", config_edit(lambda d: {**d, "model_max_length": 64}))
    assert BaseSide(base, cut, tmp_path).tokenizer_note is None  # its cut reaches none of these: fed_note's


def test_pairs_the_pr_turned_around_are_said_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PR whose data swapped each row's premise and hypothesis was said as "287 of the base's texts are
    not in the PR's, 287 new" (a trial's NLI set): the pairs turned around are counted as such."""
    rows = {"base": '{"premise": "a cat sits", "hypothesis": "an animal sits", "labels": []}\n',
            "pr": '{"premise": "an animal sits", "hypothesis": "a cat sits", "labels": []}\n'}
    for side, row in rows.items():
        (tmp_path / side / "data").mkdir(parents=True)
        (tmp_path / side / "data" / "nli.jsonl").write_text(row)
        table = 'dataset = "data/nli.jsonl"\ntext-column = "premise"\npair-column = "hypothesis"\n'
        (tmp_path / side / "pyproject.toml").write_text(f"[tool.encoder-gate]\n{table}")
    monkeypatch.chdir(tmp_path / "pr")
    pr = GateSession(GateConfig(dataset="data/nli.jsonl", text_column="premise", pair_column="hypothesis"))
    side = BaseSide(GateSession(base_config(tmp_path / "base", pr.config)), pr, tmp_path / "base")
    assert side.dataset_note is not None
    assert ("1 of the base's texts are not in the PR's, 1 new (1 of them the base's pairs with their two "
            "texts swapped)") in side.dataset_note, side.dataset_note
