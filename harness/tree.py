"""Programs that are trees of files: their one canonical text, paths, diffs and policies.

A candidate is still one string everywhere in the core (the node, dedupe, replay, repair,
cascades, the executor): a multi-file program's string is its tree's canonical text
(:meth:`Tree.text`), so every single-file feature handles trees unchanged. A string that
does not start with :data:`HEADER` is a one-file program. Text is length-prefixed, so a
file may contain anything, header lines included::

    #harness-tree v1
    #file 42 model.py
    <exactly 42 characters>
    #file 7 conf/train.yaml
    <exactly 7 characters>
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HEADER = "#harness-tree v1\n"
_FILE = "#file "
_NO_NEWLINE = "\\ No newline at end of file\n"

#: How the researcher may change a file: rewrite it (``evolve``), change only its
#: ``EVOLVE-BLOCK`` regions (``blocks``), or read it as context only (``read_only``).
Policy = Literal["evolve", "blocks", "read_only"]
POLICIES: tuple[str, ...] = ("evolve", "blocks", "read_only")

#: Files read from a seed directory that are never part of a program.
IGNORED = ("__pycache__", "*.pyc", ".*")


class TreeError(ValueError):
    """A tree's text or a path in it is malformed; the message says where."""


def is_tree(program: str) -> bool:
    """Whether ``program`` is a multi-file program's canonical text."""
    return program.startswith(HEADER)


@functools.lru_cache(maxsize=8192)
def check_path(path: str) -> str:
    """``path`` as a tree stores it (relative, ``/``-separated, normalised), or
    :class:`TreeError` when it is empty, absolute, leaves the tree or names a hidden file."""
    if not path or "\\" in path or "\0" in path or "\n" in path:
        raise TreeError(f"bad file path {path!r}: empty, or with a backslash, NUL or newline")
    if path.startswith("/"):
        raise TreeError(f"bad file path {path!r}: paths are relative to the program's root")
    norm = posixpath.normpath(path)
    parts = norm.split("/")
    if norm in (".", "") or ".." in parts or any(part.startswith(".") for part in parts):
        raise TreeError(f"bad file path {path!r}: it leaves the tree or names a hidden file")
    return norm


def language_of(path: str) -> str:
    """The language a file's canonical form is taken in (:mod:`harness.canonical`)."""
    suffix = posixpath.splitext(path)[1]
    return {".py": "python", ".c": "c", ".h": "c", ".cu": "c", ".cpp": "c"}.get(suffix, "text")


@dataclass(frozen=True)
class Tree(Mapping[str, str]):
    """An immutable mapping of file path to file text, in path order."""

    files: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, files: Mapping[str, str] | Iterable[tuple[str, str]]) -> Tree:
        """A tree of ``files`` (path to text); paths are checked and normalised."""
        items = files.items() if isinstance(files, Mapping) else files
        checked: dict[str, str] = {}
        for path, text in items:
            norm = check_path(path)
            if norm in checked:
                raise TreeError(f"file {norm!r} appears twice")
            if not isinstance(text, str):
                raise TreeError(f"file {norm!r}: text expected, got {type(text).__name__}")
            checked[norm] = text
        if not checked:
            raise TreeError("a program tree needs at least one file")
        return cls(tuple(sorted(checked.items())))

    @classmethod
    def parse(cls, program: str, single: str = "program.py") -> Tree:
        """The tree of a program's text; a one-file program becomes ``{single: program}``."""
        if not is_tree(program):
            return cls.of({single: program})
        files: list[tuple[str, str]] = []
        at = len(HEADER)
        while at < len(program):
            end = program.find("\n", at)
            line = program[at : end if end >= 0 else len(program)]
            size, _, path = line[len(_FILE) :].partition(" ")
            if end < 0 or not line.startswith(_FILE) or not size.isdigit() or not path:
                raise TreeError(f"malformed tree text at character {at}: {line[:80]!r}")
            start = end + 1
            stop = start + int(size)
            if stop >= len(program) or program[stop] != "\n":
                raise TreeError(f"file {path!r}: text cut short or not followed by a newline")
            files.append((path, program[start:stop]))
            at = stop + 1
        return cls.of(files)

    @classmethod
    def read(cls, root: Path | str, ignore: Iterable[str] = IGNORED) -> Tree:
        """The tree of the UTF-8 files under ``root`` (``ignore``'s name globs left out)."""
        root = Path(root)
        skip = tuple(ignore)
        found: dict[str, str] = {}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in skip):
                continue
            if path.is_file():
                found[rel.as_posix()] = path.read_text(encoding="utf-8")
        if not found:
            raise TreeError(f"no files under {root}")
        return cls.of(found)

    def text(self) -> str:
        """The canonical text (:data:`HEADER`, then each file by path order)."""
        parts = [HEADER]
        for path, text in self.files:
            parts += [f"{_FILE}{len(text)} {path}\n", text, "\n"]
        return "".join(parts)

    def write(self, root: Path | str) -> list[Path]:
        """Materialise the files under ``root`` (made if missing); the paths written."""
        root = Path(root)
        written = []
        for path, text in self.files:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
        return written

    def with_file(self, path: str, text: str | None) -> Tree:
        """This tree with ``path`` set to ``text`` (added if new), or removed for ``None``."""
        files = dict(self.files)
        norm = check_path(path)
        if text is None:
            files.pop(norm, None)
        else:
            files[norm] = text
        return Tree.of(files)

    def changed(self, other: Tree) -> list[str]:
        """The paths whose text differs between ``other`` and this tree (added and removed
        included), in path order."""
        mine, theirs = dict(self.files), dict(other.files)
        return sorted(p for p in mine.keys() | theirs.keys() if mine.get(p) != theirs.get(p))

    def diff(self, other: Tree, context: int = 3) -> str:
        """A unified diff from ``other`` (the parent) to this tree, file by file."""
        mine, theirs = dict(self.files), dict(other.files)
        chunks: list[str] = []
        for path in self.changed(other):
            before, after = theirs.get(path), mine.get(path)
            lines = difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"a/{path}" if before is not None else "/dev/null",
                tofile=f"b/{path}" if after is not None else "/dev/null",
                n=context,
            )
            chunks += (line if line.endswith("\n") else f"{line}\n{_NO_NEWLINE}" for line in lines)
        return "".join(chunks)

    @functools.cached_property
    def _by_path(self) -> dict[str, str]:
        return dict(self.files)

    def __getitem__(self, path: str) -> str:
        return self._by_path[path]

    def __iter__(self) -> Iterator[str]:
        return (path for path, _ in self.files)

    def __len__(self) -> int:
        return len(self.files)


@dataclass(frozen=True)
class FileRule:
    """A task's rule for the files whose path matches ``pattern`` (an ``fnmatch`` glob on
    the ``/``-separated path, e.g. ``"model/*.py"``): their :data:`Policy`."""

    pattern: str
    policy: Policy = "evolve"

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"file rule {self.pattern!r}: policy must be one of {POLICIES}")


def policy_of(path: str, rules: Iterable[FileRule], default: Policy = "evolve") -> Policy:
    """The policy of the first rule that matches ``path``, else ``default``."""
    for rule in rules:
        if fnmatch.fnmatchcase(path, rule.pattern):
            return rule.policy
    return default
