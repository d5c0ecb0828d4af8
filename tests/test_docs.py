"""The README and docs/ stay true: short README, live links, real commands and options."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from encoder_gate.commands.cli import build_parser
from encoder_gate.plugin import core

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
GATE_OPTION = re.compile(r"--gate-[a-z0-9]+(?:-[a-z0-9]+)*")


def prose(text: str) -> str:
    """The text with its fenced code blocks blanked out (their lines kept)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def bash_blocks(text: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) in ("bash", "sh", "shell")]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(prose(path.read_text())):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def commands(block: str) -> list[list[str]]:
    """Each `encoder-gate ...` command of a bash block, as argv after the program name."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        for i, token in enumerate(tokens):
            if token == "encoder-gate" or token.endswith("/encoder-gate"):
                argv = []
                for arg in tokens[i + 1:]:
                    if arg in ("&&", "||", "|", ";"):
                        break
                    argv.append(arg)
                found.append(argv)
    return found


def subcommands() -> set[str]:
    [action] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def registered_gate_options() -> set[str]:
    """The --gate-* options the plugin's pytest_addoption registers."""
    names: list[str] = []

    class Group:
        def addoption(self, *opts: str, **_: object) -> None:
            names.extend(opts)

    class Parser:
        def getgroup(self, *_: object, **__: object) -> Group:
            return Group()

        def addoption(self, *opts: str, **_: object) -> None:
            names.extend(opts)

    core.pytest_addoption(Parser())  # type: ignore[arg-type]
    return {name for name in names if name.startswith("--gate-")}


def test_readme_is_at_most_200_lines():
    """The README stays short: at most 200 lines, the reference lives in docs/."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move reference material to docs/"


def test_docs_index_links_every_page():
    """docs/README.md links every other page in docs/."""
    index = (DOCS / "README.md").read_text()
    linked = {target.split("#")[0] for target in LINK.findall(index)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages and pages <= linked, f"not linked from docs/README.md: {sorted(pages - linked)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    """Every relative link names an existing file, and every #anchor a heading in its target."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest}")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, "\n".join(broken)


def test_bash_blocks_name_real_subcommands():
    """Every `encoder-gate SUBCOMMAND` in a bash block is a subcommand of the CLI's parser."""
    known = subcommands()
    named = {(page.name, argv[0] if argv else "") for page in PAGES
             for block in bash_blocks(page.read_text()) for argv in commands(block)}
    assert named, "no encoder-gate command found in any bash block"
    unknown = sorted(f"{page}: encoder-gate {name}" for page, name in named if name not in known)
    assert not unknown, (f"not subcommands of encoder-gate ({', '.join(sorted(known))}):\n"
                         + "\n".join(unknown))


def test_bash_block_commands_parse(capsys: pytest.CaptureFixture[str]):
    """Every `encoder-gate ...` command in a bash block parses with the CLI's own arguments."""
    failures = []
    for page in PAGES:
        for block in bash_blocks(page.read_text()):
            for argv in commands(block):
                try:
                    build_parser().parse_args(argv)
                except SystemExit:
                    failures.append(f"{page.name}: encoder-gate {shlex.join(argv)}: "
                                    f"{capsys.readouterr().err.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_gate_options_written_in_the_docs_exist():
    """Every --gate-* option written in the README or docs/ is one the plugin registers."""
    registered = registered_gate_options()
    written = {(page.name, option) for page in PAGES for option in GATE_OPTION.findall(page.read_text())}
    unknown = sorted(f"{page}: {option}" for page, option in written if option not in registered)
    assert not unknown, "options the plugin does not register:\n" + "\n".join(unknown)


def test_every_registered_gate_option_is_on_the_configuration_page():
    """Every --gate-* option the plugin registers is documented in docs/configuration.md."""
    registered = registered_gate_options()
    assert "--gate-model" in registered and "--gate-allow-skip" in registered
    documented = set(GATE_OPTION.findall(CONFIGURATION.read_text()))
    missing = sorted(registered - documented)
    assert not missing, f"registered but not documented in docs/configuration.md: {missing}"


def test_ci_runs_the_readme_quickstart_commands():
    """.ci/run runs each part of the README's two quickstart commands (pip's -q aside)."""
    readme = README.read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = bash_blocks(quickstart)
    assert len(blocks) == 2, "the quickstart holds the gate's command and the self-tests' command"
    assert blocks[0].strip().endswith("pytest accuracy")
    assert blocks[1].strip().endswith("pytest -n auto --dist worksteal")
    ci = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    ci_commands = {tuple(t for t in shlex.split(part, comments=True) if t != "-q")
                   for line in ci.splitlines() for part in line.split("&&")}
    for block in blocks:
        for part in block.strip().split("&&"):
            assert tuple(shlex.split(part)) in ci_commands, f"README runs `{part.strip()}`, .ci/run does not"


def test_the_tests_readme_names_every_test_file():
    """tests/README.md's table says what each self-test file holds: a new file gets its line."""
    readme = (ROOT / "tests" / "README.md").read_text()
    missing = [p.name for p in sorted((ROOT / "tests").glob("test_*.py")) if f"`{p.name}`" not in readme]
    assert not missing, f"tests/README.md does not name {missing}"


#: The project's limit on a module's length (its standards: one job, one module), for the package, the
#: self-tests, the thin suites and the Python scripts of .ci/.
MODULE_MAX_LINES = 650


def python_modules() -> list[Path]:
    """Every Python module of the repository: the *.py of its top level and of src/, tests/, the thin
    suites and fixtures/, and the scripts of .ci/ whose first line names python."""
    found = [*ROOT.glob("*.py"), *(p for top in ("src", "tests", "accuracy", "benchmarks", "fixtures")
                                    for p in (ROOT / top).rglob("*.py"))]
    scripts = [p for p in (ROOT / ".ci").iterdir()
               if p.is_file() and p.read_bytes()[:64].split(b"\n")[0].startswith(b"#!")
               and b"python" in p.read_bytes()[:64].split(b"\n")[0]]
    return sorted({*found, *(p for p in (ROOT / ".ci").glob("*.py")), *scripts})


def test_every_python_module_is_under_the_line_limit():
    """No module of the package, the self-tests or .ci/ grows past MODULE_MAX_LINES: a file that
    does is split by what it holds (tests/README.md names each part)."""
    modules = python_modules()
    assert ROOT / "src" / "encoder_gate" / "runtime" / "session.py" in modules  # the walk finds the package
    assert ROOT / ".ci" / "reference-repo" in modules and ROOT / "tests" / "test_docs.py" in modules
    long = {str(p.relative_to(ROOT)): n for p in modules
            if (n := len(p.read_text(errors="replace").splitlines())) >= MODULE_MAX_LINES}
    assert not long, f"over {MODULE_MAX_LINES - 1} lines: {long}"
