"""The static check of an ``rl_algo`` candidate: imports and names outside the contract.

A candidate's functions are pure tensor code, so nothing in them may reach files, the
interpreter's frames or the trainer around them; this refuses such a program before it runs.
"""

from __future__ import annotations

import ast

#: What a candidate may import, and names it may not touch.
ALLOWED_IMPORTS = frozenset({"math", "torch", "torch.nn", "torch.nn.functional", "typing",
                             "__future__"})  # fmt: skip
FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "open", "__import__", "globals",
                             "locals", "vars", "getattr", "setattr", "delattr", "breakpoint",
                             "input", "exit", "quit"})  # fmt: skip
FORBIDDEN_ATTRIBUTES = frozenset({"gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_back",
                                  "f_globals", "f_locals", "f_builtins", "load", "save", "hub",
                                  "ops", "library", "utils", "classes", "distributed",
                                  "multiprocessing"})  # fmt: skip


def lint(program: str) -> str | None:
    """Why the program may not run (an import or name outside the contract), or None.

    A syntax error is left to the sandbox, which reports it with its line.
    """
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        found = _forbidden(node)
        if found is not None:
            return (
                f"line {getattr(node, 'lineno', '?')}: {found} is not allowed. A candidate may "
                f"import only {', '.join(sorted(ALLOWED_IMPORTS - {'__future__', 'typing'}))} "
                "and must stay pure tensor code: no files, no private or dunder attributes, "
                "no frames, no eval/exec/getattr"
            )
    return None


def _forbidden(node: ast.AST) -> str | None:
    """What in ``node`` breaks the contract, or None."""
    if isinstance(node, ast.Import):
        return next((f"import {a.name}" for a in node.names if a.name not in ALLOWED_IMPORTS),
                    None)  # fmt: skip
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level or module not in ALLOWED_IMPORTS:
            return f"from {'.' * node.level}{module} import ..."
        return next((f"from {module} import {a.name}" for a in node.names
                     if a.name.startswith("_") or a.name in FORBIDDEN_ATTRIBUTES),
                    None)  # fmt: skip
    if isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or node.id.startswith("__")):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Attribute) and (
        node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES
    ):
        return f"the attribute .{node.attr}"
    return None
