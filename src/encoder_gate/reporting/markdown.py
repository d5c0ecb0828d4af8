"""Text from outside the gate (a label name, an error, a path) inside a rendered line of
verdict.md, accuracy.md or the terminal: kept on its line, and never read as HTML or a table's edge.

A model's label named ``a|b`` split a row of accuracy.md's per-label table into one cell more, one
named ``line\\nbreak`` broke it in two, and verdict.md (the PR comment and the job summary) took a
name like ``<!-- x`` as the start of an HTML comment that hides the rest of the comment. A line
break becomes ``⏎``, a ``<`` that could open a tag (``<s``, ``<!``, ``</``) becomes ``&lt;`` (one
before a space or ``=``, the verdict's own ``<= 0.0001``, is kept), a link's ``[text](target)`` is
kept from becoming one (a label named ``[link](x)`` was a hyperlink in the PR comment; the reports'
own images, ``![plot](plot.png)``, stay), a tab is shown as ``\t`` (it broke the terminal's columns),
a GitHub handle (a waiver's owner, ``@ml-team``) is set as code, so the PR comment, posted again on every
push, mentions nobody (a reviewer's trial), and in a table cell ``|`` is escaped as GitHub's tables read it.
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"\r\n|\r|\n")
_TAG = re.compile(r"<(?=[A-Za-z!/?])")
_LINK = re.compile(r"(?<!!)\[(?=[^\]]*\]\()")
_HANDLE = re.compile(r"(?<![\w`@])@[A-Za-z0-9][\w-]*(?:/[\w-]+)?")


def flat(text: str) -> str:
    """`text` on one line: each line break shown as ``⏎``, a tab as ``\\t`` (the terminal's tables and
    bullets)."""
    return _BREAK.sub(" ⏎ ", str(text)).replace("\t", "\\t")


def markdown_line(text: str) -> str:
    """One line of a markdown document: on one line, no tag opened, no link made, and no one mentioned."""
    return _HANDLE.sub(lambda m: f"`{m.group(0)}`", _LINK.sub("\\[", _TAG.sub("&lt;", flat(text))))


def markdown_cell(text: str) -> str:
    """A cell of a markdown table: a line, and its ``|`` escaped."""
    return markdown_line(text).replace("|", "\\|")
