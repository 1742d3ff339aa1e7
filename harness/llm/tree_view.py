"""How a multi-file program is shown to a model: its files by policy, and short forms of them.

A prompt must fit ``llm.prompt_budget_chars`` while the files the model may change stay
exact (its SEARCH text is copied from them). So each file comes with a short form that
the prompt budget swaps in before cutting anything (:class:`harness.llm.prompt_budget.Field`):
a read-only file's outline (its ``def``/``class`` lines and their docstrings' first lines),
a ``blocks`` file's EVOLVE-BLOCK regions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from harness.llm.edits import EVOLVE_END, EVOLVE_START
from harness.tree import FileRule, Policy, Tree, language_of, policy_of

#: What the prompt says of each policy, next to the file's path.
POLICY_NOTES: dict[str, str] = {
    "evolve": "may change",
    "blocks": f"may change only between {EVOLVE_START} and {EVOLVE_END} markers",
    "read_only": "read-only context: must stay exactly as it is",
}
_HEAD_LINES = 12


@dataclass
class FileView:
    """One file as the templates see it (``text`` may be swapped for ``short``)."""

    path: str
    size: int
    policy: Policy
    note: str
    language: str
    text: str
    short: str | None


def file_views(program: str, rules: Iterable[FileRule]) -> list[FileView]:
    """The files of a tree's text, in path order, each with its policy and short form."""
    views = []
    for path, text in Tree.parse(program).items():
        policy = policy_of(path, rules)
        language = language_of(path)
        short = None
        if policy == "read_only":
            short = outline(text, language)
        elif policy == "blocks":
            short = blocks_excerpt(text)
        views.append(
            FileView(
                path=path,
                size=len(text),
                policy=policy,
                note=POLICY_NOTES[policy],
                language="" if language == "text" else language,
                text=text.rstrip("\n"),
                short=short,
            )
        )
    return views


def outline(text: str, language: str) -> str:
    """A read-only file in brief: for Python its module docstring, top-level constants and
    every ``def``/``class`` line with its docstring's first line; else its first lines."""
    if language == "python":
        try:
            module = ast.parse(text)
        except SyntaxError:
            module = None
        if module is not None:
            lines = text.splitlines()
            out = ["# outline: signatures and docstrings' first lines; bodies left out"]
            doc = ast.get_docstring(module)
            if doc:
                out.append(f'"""{doc.splitlines()[0]}"""')
            out += _outline(module.body, lines, "")
            return "\n".join(out)
    lines = text.splitlines()
    head = lines[:_HEAD_LINES]
    if len(lines) > len(head):
        head.append(f"[... {len(lines) - len(head)} more lines ...]")
    return "\n".join(head)


def _outline(body: list[ast.stmt], lines: list[str], indent: str) -> list[str]:
    out: list[str] = []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0].lineno - 1
            header = lines[node.lineno - 1 : first] if first >= node.lineno else []
            out += header or [lines[node.lineno - 1]]
            inner = indent + "    "
            doc = ast.get_docstring(node)
            if doc:
                out.append(f'{inner}"""{doc.splitlines()[0]}"""')
            if isinstance(node, ast.ClassDef):
                out += _outline(node.body, lines, inner)
            else:
                out.append(f"{inner}...")
        elif isinstance(node, ast.Assign | ast.AnnAssign) and not indent:
            if node.lineno == node.end_lineno:
                out.append(lines[node.lineno - 1])
    return out


def blocks_excerpt(text: str) -> str:
    """A ``blocks`` file's EVOLVE-BLOCK regions, markers included, the rest left out."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not inside and EVOLVE_START in line:
            out.append(f"[... lines before {number} left out: they may not change ...]")
            inside = True
        if inside:
            out.append(line)
        if inside and EVOLVE_END in line:
            inside = False
    return "\n".join(out) if out else "[no EVOLVE-BLOCK markers: nothing may change]"
