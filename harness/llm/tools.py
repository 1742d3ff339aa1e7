"""The files an ``llm.mode=agent`` researcher works on, and its file tools.

A :class:`Workspace` holds the parent's program as a tree (a one-file program is a one-file
tree) and the tree as edited so far. Each tool returns the text the model is sent back;
misuse (a path outside the tree, a read-only file, a search text found twice) raises
:class:`ToolError`, whose message is sent back instead, so the model can correct itself and
the episode goes on. The task's file policies (:class:`harness.tree.FileRule`) are enforced
on every write, not only at the end.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from harness.llm.edits import (
    SYNTAX_CHECKS,
    EditError,
    check_evolve_blocks,
    check_length,
    check_tree,
)
from harness.task import TaskSpec
from harness.tree import Policy, Tree, TreeError, check_path, is_tree, language_of, policy_of

#: The most characters one ``read_file`` returns (ask again with ``start``/``end``).
MAX_READ_CHARS = 20_000
#: The most lines one ``grep`` returns.
MAX_MATCHES = 100
#: The path a one-file program has in its tree, by the task's language.
SINGLE_NAMES = {"python": "program.py", "c": "program.c"}


class ToolError(ValueError):
    """A tool call the workspace refuses; the message is what the model is told."""


class Workspace:
    """The parent's tree and the tree edited so far, under the task's file policies."""

    def __init__(self, parent_program: str, spec: TaskSpec) -> None:
        self.single = None if is_tree(parent_program) else single_name(spec.language)
        self.parent = Tree.parse(parent_program, single=self.single or "program.py")
        self.tree = self.parent
        self.rules = spec.files
        self.new_files = spec.new_files

    def program(self) -> str:
        """The current program's one string: a one-file program's text stays plain text."""
        if self.single is not None and list(self.tree) == [self.single]:
            return self.tree[self.single]
        return self.tree.text()

    def policy(self, path: str) -> Policy:
        """``path``'s policy; a one-file program keeps its EVOLVE-BLOCK markers, as in chat."""
        if self.single is not None and path == self.single:
            return "blocks"
        return policy_of(path, self.rules)

    # ------------------------------------------------------------------ tools
    def list_files(self) -> str:
        lines = [
            f"{path}  ({self.policy(path)}, {text.count(chr(10)) + 1} lines, {len(text)} chars)"
            for path, text in self.tree.files
        ]
        if self.new_files:
            lines.append(f"(new files may be added under: {', '.join(self.new_files)})")
        return "\n".join(lines)

    def read_file(self, path: str, start: int | None = None, end: int | None = None) -> str:
        path = self._existing(path)
        lines = self.tree[path].splitlines(keepends=True)
        first = 1 if start is None else _line_number(start, "start")
        last = len(lines) if end is None else min(_line_number(end, "end"), len(lines))
        if lines and first > last:
            raise ToolError(f"{path}: no lines {first}-{last}; it has {len(lines)} lines")
        text, shown, cut = "", first - 1, False
        for line in lines[first - 1 : last]:
            if len(text) + len(line) > MAX_READ_CHARS:
                if not text:  # one line longer than a read: its start
                    text, shown = line[:MAX_READ_CHARS], shown + 1
                cut = True
                break
            text, shown = text + line, shown + 1
        note = f" (cut at {MAX_READ_CHARS} characters; read on with start)" if cut else ""
        return f"{path}, lines {first}-{shown} of {len(lines)}{note}:\n{text}"

    def grep(self, pattern: str, path_glob: str | None = None) -> str:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"bad regular expression {pattern!r}: {exc}") from None
        found: list[str] = []
        for path, text in self.tree.files:
            if path_glob and not fnmatch.fnmatchcase(path, path_glob):
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if regex.search(line):
                    found.append(f"{path}:{number}: {line}")
        if not found:
            return "no matches"
        more = len(found) - MAX_MATCHES
        tail = f"\n({more} more matches not shown)" if more > 0 else ""
        return "\n".join(found[:MAX_MATCHES]) + tail

    def write_file(self, path: str, text: str) -> str:
        path = self._checked(path)
        old = self.tree.get(path)
        self._write(path, old, text)
        return f"wrote {path} ({len(text)} chars{', new file' if old is None else ''})"

    def replace_in_file(self, path: str, search: str, replace: str) -> str:
        path = self._existing(path)
        old = self.tree[path]
        count = old.count(search) if search else 0
        if count != 1:
            why = "is empty" if not search else f"occurs {count} times" if count else "not found"
            raise ToolError(
                f"{path}: the search text {why}; it must occur exactly once (copy it from "
                "read_file, with enough lines around it to be unique)"
            )
        self._write(path, old, old.replace(search, replace, 1))
        return f"replaced 1 occurrence in {path}"

    def finished(self, max_code_chars: int) -> str:
        """The program to submit, or :class:`ToolError` saying why it cannot be one yet."""
        changed = self.tree.changed(self.parent)
        if not changed:
            raise ToolError("nothing changed: edit a file before you submit")
        if self.single is None:  # a tree: the rules chat mode's edits are checked by
            try:
                check_tree(
                    self.parent, self.tree, max_code_chars, files=self.rules,
                    new_files=self.new_files,
                )  # fmt: skip
            except EditError as exc:
                raise ToolError(f"{exc}; fix it, then submit again") from None
            return self.program()
        for path in changed:
            check = SYNTAX_CHECKS.get(language_of(path))
            try:
                if path in self.tree and check is not None:
                    check(self.tree[path])
            except EditError as exc:
                raise ToolError(f"{path}: {exc}; fix it, then submit again") from None
        program = self.program()
        try:
            check_length(program, max_code_chars)
        except EditError as exc:
            raise ToolError(str(exc)) from None
        return program

    # ------------------------------------------------------------------ checks
    def _checked(self, path: Any) -> str:
        if not isinstance(path, str):
            raise ToolError(f"path must be a string, not {type(path).__name__}")
        try:
            return check_path(path)
        except TreeError as exc:
            raise ToolError(str(exc)) from None

    def _existing(self, path: Any) -> str:
        norm = self._checked(path)
        if norm not in self.tree:
            raise ToolError(f"no file {norm!r} in the program; list_files shows them")
        return norm

    def _write(self, path: str, old: str | None, new: str) -> None:
        """Set ``path`` to ``new`` if its policy (or ``new_files``) allows it."""
        if old is None:
            if not any(fnmatch.fnmatchcase(path, glob) for glob in self.new_files):
                allowed = ", ".join(self.new_files) or "nowhere (this task adds no files)"
                raise ToolError(f"cannot create {path}: new files may be added under {allowed}")
        else:
            policy = self.policy(path)
            if policy == "read_only":
                raise ToolError(f"{path} is read-only context: it cannot be changed")
            if policy == "blocks":
                try:
                    check_evolve_blocks(self.parent.get(path, old), new)
                except EditError as exc:
                    raise ToolError(f"{path}: {exc}") from None
        self.tree = self.tree.with_file(path, new)


def single_name(language: str) -> str:
    """The path of a one-file program of ``language`` in its tree."""
    return SINGLE_NAMES.get(language, "program.txt")


def _line_number(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{name} must be a line number (an integer from 1), not {value!r}")
    return value
