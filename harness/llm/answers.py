"""Reading what a model wrote: the researcher's and the analyzer's answers split into parts.

Pure functions, no I/O, and no judgement: whether a researcher's parts make an acceptable
program is :mod:`harness.llm.edits`' business. Open models answer loosely (``<think>``
drafts, Markdown fences around or instead of ``<code>``, bullets in any style), so the
parsing here is lenient about form and never guesses at content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)
_TAG_RE = {
    tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL)
    for tag in ("name", "motivation", "inspired_by")
}
_CITATION_RE = re.compile(r"\b([KN])(\d+)\b", re.IGNORECASE)
_DIFF_RE = re.compile(
    r"^<<<<<<< SEARCH(?:[ \t]+([^\s<>]+))?[ \t]*\n(.*?)"
    r"^=======[ \t]*\n(.*?)^>>>>>>> REPLACE[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
#: The line naming the file that the SEARCH/REPLACE blocks after it edit (multi-file programs);
#: Markdown emphasis or backticks around the path are forgiven.
_FILE_HEADER_RE = re.compile(
    r"^[ \t]*#{1,6}[ \t]*FILE:[ \t]*[`*]*([^\s`*]+)[`*]*[ \t]*$", re.IGNORECASE | re.MULTILINE
)
_FILE_BLOCK_RE = re.compile(
    r"""<file[ \t]+path=["']([^"'\n]+)["'][ \t]*>[ \t]*\n?(.*?)</file>""", re.DOTALL
)
_FENCE_RE = re.compile(r"^\s*```[\w+.-]*[ \t]*$")
_OPEN_FENCE_RE = re.compile(r"^\s*(`{3,})[ \t]*([\w+.-]*)[ \t]*$")
# Fences that may hold the program: Python, C (the tasks' languages), or no language named.
_PROGRAM_FENCES = frozenset({"", "python", "py", "python3", "c"})


@dataclass
class ParsedAnswer:
    """The parts of a researcher answer; ``code`` is ``None`` when there is no ``<code>``."""

    name: str = ""
    motivation: str = ""
    code: str | None = None
    diffs: list[tuple[str, str]] = field(default_factory=list)
    inspired_by: str = ""
    #: Markdown-fenced code blocks (Python or no language) outside the tags, read only
    #: when there is neither ``<code>`` nor a diff: open models often answer that way
    fenced: list[str] = field(default_factory=list)
    #: the file each of ``diffs`` is addressed to (``### FILE: path`` before it, or
    #: ``<<<<<<< SEARCH path``), ``None`` when unnamed; shorter than ``diffs`` means unnamed
    paths: list[str | None] = field(default_factory=list)
    #: whole-file rewrites of a multi-file program, ``(path, text)`` from ``<file path=...>``
    files: list[tuple[str, str]] = field(default_factory=list)

    @property
    def addressed(self) -> list[tuple[str | None, str, str]]:
        """``(path or None, search, replace)`` for each SEARCH/REPLACE block, in order."""
        paths = [*self.paths, *[None] * (len(self.diffs) - len(self.paths))]
        return [(path, s, r) for path, (s, r) in zip(paths, self.diffs, strict=False)]

    @property
    def citations(self) -> list[tuple[str, int]]:
        """``("cognition", id)`` for each ``[K<id>]`` and ``("node", id)`` for each
        ``[N<id>]`` in ``<inspired_by>``, first mention first, each once."""
        kinds = {"k": "cognition", "n": "node"}
        found = (
            (kinds[m.group(1).lower()], int(m.group(2)))
            for m in _CITATION_RE.finditer(self.inspired_by)
        )
        return list(dict.fromkeys(found))


def strip_fences(text: str) -> str:
    """Remove a Markdown fence opening the text and one closing it (models add them anyway)."""
    lines = text.strip("\n").split("\n")
    if lines and _FENCE_RE.match(lines[0]):
        lines = lines[1:]
    if lines and lines[-1].strip() == "```":
        lines = lines[:-1]
    return "\n".join(lines)


def strip_thinking(text: str) -> str:
    """Drop ``<think>`` sections of reasoning models so drafts in them are never applied."""
    text = _THINK_RE.sub("", text)
    # A server that strips the opening tag leaves only "...</think>" before the answer.
    if "</think>" in text and "<think>" not in text:
        text = text.split("</think>", 1)[1]
    return text


def _extract_code(text: str) -> tuple[str | None, str]:
    """Return the ``<code>`` content (fences stripped) and the text without that block.

    The block runs from the first ``<code>`` to the last ``</code>``, so a program that
    mentions the closing tag in a string survives; an unclosed block runs to the end
    (the syntax check then catches a truncated answer).
    """
    start = text.find("<code>")
    if start < 0:
        return None, text
    end = text.rfind("</code>")
    if end < start:
        body, rest = text[start + len("<code>") :], text[:start]
    else:
        body, rest = text[start + len("<code>") : end], text[:start] + text[end + len("</code>") :]
    return strip_fences(body), rest


def parse_answer(text: str) -> ParsedAnswer:
    """Split a researcher answer into name, motivation, ``<code>``, SEARCH/REPLACE blocks
    (with the file each names) and whole files (``<file path=...>``, outside ``<code>``).

    Diff blocks are looked for outside the tags (inside ``<code>`` only when that holds
    nothing else), and may sit inside a fenced block.
    SEARCH and REPLACE parts lose the newline that precedes the marker line, nothing else.
    """
    text = strip_thinking(text.replace("\r\n", "\n"))
    code, rest = _extract_code(text)
    files = [(path.strip(), _file_text(body)) for path, body in _FILE_BLOCK_RE.findall(rest)]
    rest = _FILE_BLOCK_RE.sub("", rest)
    fields: dict[str, str] = {}
    for tag, regex in _TAG_RE.items():
        match = regex.search(rest)
        fields[tag] = match.group(1).strip() if match else ""
        rest = regex.sub("", rest)
    diffs, paths = _find_diffs(rest)
    if not diffs and code is not None:
        # Diff blocks wrapped in <code> by mistake: they are clearly not a program.
        wrapped, wrapped_paths = _find_diffs(code)
        if wrapped:
            code, diffs, paths = None, wrapped, wrapped_paths
    fenced = _fenced_blocks(rest) if code is None and not diffs and not files else []
    return ParsedAnswer(
        fields["name"],
        fields["motivation"],
        code,
        diffs,
        fields["inspired_by"],
        fenced,
        paths if any(paths) else [],
        files,
    )


def _file_text(body: str) -> str:
    """A ``<file>`` block's text: fences stripped, ending with one newline as files do."""
    text = strip_fences(body)
    return f"{text}\n" if text.strip() else ""


def _fenced_blocks(text: str) -> list[str]:
    """The bodies of the Markdown fences that may hold a program (Python, C or no language);
    an unclosed fence runs to the end (the syntax check then catches a truncated answer)."""
    lines = text.split("\n")
    blocks: list[str] = []
    start = 0
    while start < len(lines):
        match = _OPEN_FENCE_RE.match(lines[start])
        if match is None:
            start += 1
            continue
        ticks = match.group(1)  # a longer fence may hold ``` lines (prompts use them)
        end = next(
            (i for i in range(start + 1, len(lines)) if _closes(lines[i], ticks)), len(lines)
        )
        if match.group(2).lower() in _PROGRAM_FENCES:
            blocks.append("\n".join(lines[start + 1 : end]))
        start = end + 1
    return blocks


def _closes(line: str, ticks: str) -> bool:
    text = line.strip()
    return len(text) >= len(ticks) and set(text) == {"`"}


def _find_diffs(text: str) -> tuple[list[tuple[str, str]], list[str | None]]:
    """The SEARCH/REPLACE blocks and the file each names: its own ``SEARCH path``, else the
    last ``### FILE:`` header above it outside any block (``None`` when there is neither)."""
    blocks = list(_DIFF_RE.finditer(text))
    inside = [(m.start(), m.end()) for m in blocks]
    headers = [
        (h.start(), h.group(1))
        for h in _FILE_HEADER_RE.finditer(text)
        if not any(start <= h.start() < end for start, end in inside)
    ]
    diffs: list[tuple[str, str]] = []
    paths: list[str | None] = []
    for m in blocks:
        above = [path for at, path in headers if at < m.start()]
        paths.append(m.group(1) or (above[-1] if above else None))
        diffs.append((_drop_last_newline(m.group(2)), _drop_last_newline(m.group(3))))
    return diffs, paths


def _drop_last_newline(part: str) -> str:
    return part[:-1] if part.endswith("\n") else part


_ANALYSIS_RE = re.compile(r"<analysis>(.*?)(?:</analysis>|\Z)", re.DOTALL)
_LIST_RE = {
    tag: re.compile(rf"<{tag}>(.*?)(?:</{tag}>|(?=<[a-z]+>)|\Z)", re.DOTALL)
    for tag in ("lessons", "next")
}
_BULLET_RE = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
MAX_LIST_ITEMS = 5
MAX_ITEM_CHARS = 500


@dataclass
class AnalyzerAnswer:
    """The analyzer's answer split into its parts (docs/prompts.md, analyzer templates)."""

    analysis: str
    lessons: list[str]
    directions: list[str]


def _bullets(text: str) -> list[str]:
    """One item per bullet line (continuation lines joined), at most a few, each short."""
    items: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        if _BULLET_RE.match(line) or not items:
            items.append(_BULLET_RE.sub("", line).strip())
        else:
            items[-1] += " " + line.strip()
    return [item[:MAX_ITEM_CHARS] for item in items if item][:MAX_LIST_ITEMS]


def parse_analyzer_answer(text: str) -> AnalyzerAnswer:
    """``<analysis>`` (else the whole answer), ``<lessons>`` and ``<next>`` bullet lists."""
    text = strip_thinking(text)
    lists: dict[str, list[str]] = {}
    for tag, regex in _LIST_RE.items():
        match = regex.search(text)
        lists[tag] = _bullets(match.group(1)) if match else []
        text = regex.sub("", text)
    match = _ANALYSIS_RE.search(text)
    analysis = (match.group(1) if match else text).strip()
    return AnalyzerAnswer(analysis, lists["lessons"], lists["next"])
