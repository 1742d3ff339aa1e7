"""Canonical program hashes: two programs that differ only in comments or formatting
hash the same, so a duplicate proposal is recognised before it is evaluated again."""

from __future__ import annotations

import ast
import functools
import hashlib
import re

from harness.tree import Tree, TreeError, is_tree, language_of

#: A C comment, or a string or char literal (kept whole: ``"//"`` in one is no comment).
_C_COMMENT_OR_LITERAL = re.compile(
    r"//[^\n]*|/\*.*?(?:\*/|\Z)|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S
)
_C_LITERAL = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'")
#: Characters two of which may form one token (``a+ +b``, ``x- -1``): a space between stays.
_C_JOINING = frozenset("+-*/%&|^<>=!.:#")


def _c_form(program: str) -> str:
    """C: comments stripped, whitespace dropped where no two tokens could merge and one space
    kept where they could, one line per preprocessor directive; string literals untouched."""
    text = program.replace("\\\n", "")
    text = _C_COMMENT_OR_LITERAL.sub(lambda m: " " if m.group()[0] == "/" else m.group(), text)
    out: list[str] = []
    code: list[str] = []
    for line in text.splitlines():
        squeezed = _c_squeeze(line)
        if squeezed.startswith("#"):
            out += [_c_squeeze(" ".join(code)), squeezed]
            code = []
        elif squeezed:
            code.append(squeezed)
    out.append(_c_squeeze(" ".join(code)))
    return "\n".join(line for line in out if line)


def _c_squeeze(line: str) -> str:
    """One line with the whitespace outside string literals normalised (see :func:`_c_form`)."""
    pieces: list[str] = []
    last = 0
    for match in _C_LITERAL.finditer(line):
        pieces += [re.sub(r"\s+", " ", line[last : match.start()]), match.group()]
        last = match.end()
    pieces.append(re.sub(r"\s+", " ", line[last:]))
    joined = "".join(pieces).strip()
    literal_spans = [m.span() for m in _C_LITERAL.finditer(joined)]
    kept = []
    for i, char in enumerate(joined):
        if char == " " and not any(a < i < b for a, b in literal_spans):
            before, after = joined[i - 1], joined[i + 1]
            if not (_c_word(before) and _c_word(after)) and not (
                before in _C_JOINING and after in _C_JOINING
            ):
                continue
        kept.append(char)
    return "".join(kept)


def _c_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def canonical_form(program: str, language: str = "python") -> str:
    """Python: the AST dump (no comments, no layout, no line numbers); C: comments stripped and
    whitespace normalised (:func:`_c_form`); otherwise, or when a Python program does not
    parse, the text with trailing spaces and blank lines removed."""
    if language == "python":
        try:
            return ast.dump(ast.parse(program), annotate_fields=False, include_attributes=False)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    if language == "c":
        return _c_form(program)
    lines = (line.rstrip() for line in program.strip().splitlines())
    return "\n".join(line for line in lines if line)


def canonical_hash(program: str, language: str = "python") -> str:
    """The hash of ``program``'s canonical form; a multi-file program's (:mod:`harness.tree`)
    is that of its paths and each file's canonical form in its own language. A malformed
    tree text (an untrusted proposal) is hashed as its plain text; its evaluation fails."""
    if is_tree(program):
        try:
            files = Tree.parse(program).files
        except TreeError:
            return hashlib.sha256(program.encode()).hexdigest()
        form = "\0".join(f"{path}\0{_file_hash(text, language_of(path))}" for path, text in files)
        return hashlib.sha256(form.encode()).hexdigest()
    return hashlib.sha256(canonical_form(program, language).encode()).hexdigest()


@functools.lru_cache(maxsize=8192)
def _file_hash(text: str, language: str) -> str:
    """One file's canonical hash, remembered: a child tree repeats its parent's files but
    one, and parsing all of a 50-file tree's every round was most of a round's cost."""
    return hashlib.sha256(canonical_form(text, language).encode()).hexdigest()
