"""Canonical program hashes: two programs that differ only in comments or formatting
hash the same, so a duplicate proposal is recognised before it is evaluated again."""

from __future__ import annotations

import ast
import hashlib


def canonical_form(program: str, language: str = "python") -> str:
    """Python: the AST dump (no comments, no layout, no line numbers); otherwise, or when
    the program does not parse, the text with trailing spaces and blank lines removed."""
    if language == "python":
        try:
            return ast.dump(ast.parse(program), annotate_fields=False, include_attributes=False)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    lines = (line.rstrip() for line in program.strip().splitlines())
    return "\n".join(line for line in lines if line)


def canonical_hash(program: str, language: str = "python") -> str:
    return hashlib.sha256(canonical_form(program, language).encode()).hexdigest()
