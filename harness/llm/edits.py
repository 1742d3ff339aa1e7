"""Turning a parsed researcher answer (:mod:`harness.llm.answers`) into a checked program.

Pure functions, no I/O. Everything here is strict on purpose: the released ASI-Evolve code
truncated over-long programs, kept Markdown fences inside ``<code>`` and re-asked the model
when a diff failed. Here an answer that cannot be applied exactly is rejected with an
:class:`EditError` whose message is good enough to be stored as the failed node's feedback.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from harness.llm.answers import ParsedAnswer

EVOLVE_START = "EVOLVE-BLOCK-START"
EVOLVE_END = "EVOLVE-BLOCK-END"

_FORMATS = """Answer in one of these formats:
- the whole new program in a <code> block:
<code>
...the complete program...
</code>
- or SEARCH/REPLACE blocks editing the parent:
<<<<<<< SEARCH
lines copied exactly from the parent
=======
the lines that replace them
>>>>>>> REPLACE
- or the whole new program as the answer's only ```python block:
```python
...the complete program...
```"""


class EditError(ValueError):
    """The answer could not be turned into an acceptable program; the message says why."""


def _fenced_program(parent: str, blocks: list[str]) -> str:
    """The one fenced block that looks like a whole program, else an error saying which
    answer formats are understood.

    A block looks like a whole program when it has EVOLVE-BLOCK markers (parents with
    markers) or at least half as many non-blank lines as the parent (parents without).
    """
    if not blocks:
        raise EditError(
            "answer contains neither a <code> block nor SEARCH/REPLACE blocks (nor a "
            f"```python block with the whole program). {_FORMATS}"
        )
    marked = _outside_evolve_blocks(parent) is not None
    parent_lines = sum(1 for line in parent.splitlines() if line.strip())

    def whole(block: str) -> bool:
        if marked:
            return _outside_evolve_blocks(block) is not None
        return 2 * sum(1 for line in block.splitlines() if line.strip()) >= max(1, parent_lines)

    programs = [block for block in blocks if whole(block)]
    if len(programs) == 1:
        return programs[0]
    if len(blocks) == 1:
        why = (
            "has no EVOLVE-BLOCK-START/EVOLVE-BLOCK-END markers"
            if marked
            else "is much shorter than the parent"
        )
        problem = f"the answer's only fenced code block {why}, so it is not the whole program"
    else:
        found = "none" if not programs else str(len(programs))
        problem = (
            f"the answer has {len(blocks)} fenced code blocks and no <code> block; {found} of "
            "them looks like the whole program"
        )
    raise EditError(f"{problem}. {_FORMATS}")


def _occurrences(text: str, needle: str) -> list[int]:
    """All start offsets of ``needle`` in ``text``, overlapping ones included."""
    found: list[int] = []
    pos = text.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = text.find(needle, pos + 1)
    return found


def _is_whole_lines(text: str, start: int, length: int) -> bool:
    end = start + length
    return (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")


def _not_found_hint(text: str, search: str) -> str:
    """Point at the closest base line so the model (and the user) can see what differed."""
    search_lines = search.split("\n")
    first = next((line for line in search_lines if line.strip()), search_lines[0])
    base_lines = text.split("\n")
    scores = [
        difflib.SequenceMatcher(None, first.strip(), line.strip()).ratio() for line in base_lines
    ]
    best = max(range(len(base_lines)), key=scores.__getitem__)
    hint = f"first SEARCH line: {first!r}; most similar program line {best + 1}: "
    hint += repr(base_lines[best])
    if base_lines[best] == first:
        offset = search_lines.index(first)
        for i, line in enumerate(search_lines[offset:]):
            target = best + i
            actual = base_lines[target] if target < len(base_lines) else "<end of program>"
            if line != actual:
                hint += (
                    f"; that line matches, but SEARCH line {offset + i + 1} {line!r} differs "
                    f"from program line {target + 1} {actual!r}"
                )
                break
    return hint


def apply_diffs(base: str, diffs: list[tuple[str, str]]) -> str:
    """Apply SEARCH/REPLACE blocks in order; any block that does not match exactly fails all.

    A SEARCH text must be found exactly once. When it also occurs inside longer lines, the
    single occurrence that covers whole lines wins (``x = 1`` should not match in
    ``max = 10``); otherwise several occurrences are ambiguous and rejected.
    """
    if not diffs:
        raise EditError("no SEARCH/REPLACE blocks to apply")
    text = base
    total = len(diffs)
    for number, (search, replace) in enumerate(diffs, start=1):
        where = f"diff block {number} of {total}"
        if not search.strip():
            raise EditError(f"{where} has an empty SEARCH part; quote the lines to replace")
        hits = _occurrences(text, search)
        if not hits:
            raise EditError(
                f"{where} did not apply: SEARCH text not found in the program "
                f"(it must match exactly, whitespace included); {_not_found_hint(text, search)}"
            )
        if len(hits) > 1:
            whole = [pos for pos in hits if _is_whole_lines(text, pos, len(search))]
            if len(whole) != 1:
                raise EditError(
                    f"{where} is ambiguous: its SEARCH text occurs {len(hits)} times in the "
                    f"program; include more surrounding lines so it matches once"
                )
            hits = whole
        pos = hits[0]
        text = text[:pos] + replace + text[pos + len(search) :]
    return text


_BODY = "\0evolve-block\0"
"""Stands for a whole EVOLVE-BLOCK body in a program's skeleton."""


def _outside_evolve_blocks(program: str) -> list[tuple[int, str]] | None:
    """``(line number, text)`` of the lines outside EVOLVE-BLOCKs, markers kept and each
    block body collapsed to one :data:`_BODY`; ``None`` when the program has no markers.

    Lines are normalised as a reader sees them: trailing whitespace and the blank lines
    opening or closing the program do not count (models add them before a closing fence).
    """
    lines = program.splitlines()
    if not any(EVOLVE_START in line or EVOLVE_END in line for line in lines):
        return None
    skeleton: list[tuple[int, str]] = []
    inside = False
    for number, line in enumerate(lines, start=1):
        if not inside and EVOLVE_START in line:
            skeleton += [(number, line.rstrip()), (number + 1, _BODY)]
            inside = True
        elif inside and EVOLVE_END in line:
            skeleton.append((number, line.rstrip()))
            inside = False
        elif not inside:
            skeleton.append((number, line.rstrip()))
    while skeleton and not skeleton[-1][1]:
        skeleton.pop()
    while skeleton and not skeleton[0][1]:
        skeleton.pop(0)
    return skeleton


def check_evolve_blocks(parent: str, child: str) -> None:
    """Reject a child that changed the parent's text outside its EVOLVE-BLOCK markers.

    The error names the first changed line (parent's and new program's line numbers,
    expected and found text), so the model can fix exactly that in its next answer.
    """
    frozen = _outside_evolve_blocks(parent)
    if frozen is None:
        return
    rule = (
        "only code between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers may change; "
        "every other line must stay exactly as in the parent"
    )
    changed = _outside_evolve_blocks(child)
    if changed is None:
        raise EditError(
            "the new program has no EVOLVE-BLOCK-START/EVOLVE-BLOCK-END markers: keep the "
            f"parent's marker lines and everything outside them; {rule}"
        )
    want = [text for _, text in frozen]
    got = [text for _, text in changed]
    if want == got:
        return
    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    op, i1, i2, j1, j2 = next(op for op in matcher.get_opcodes() if op[0] != "equal")
    if op == "insert":
        where = f"after parent line {frozen[i1 - 1][0]}" if i1 else "at the start"
        added = _lines(changed, j1, j2, "new program")
        detail = f"{added} {_is(j2 - j1)} not in the parent (added {where})"
    elif op == "delete":
        where = f"before line {changed[j1][0]}" if j1 < len(changed) else "at the end"
        missing = _lines(frozen, i1, i2, "parent")
        detail = f"{missing} {_is(i2 - i1)} missing from the new program ({where})"
    else:
        detail = (
            f"expected {_lines(frozen, i1, i2, 'parent')}, "
            f"found {_lines(changed, j1, j2, 'new program')}"
        )
    raise EditError(
        f"edit changed code outside the EVOLVE-BLOCK-START/EVOLVE-BLOCK-END markers: {detail}; "
        f"{rule}"
    )


def _lines(skeleton: list[tuple[int, str]], start: int, stop: int, whose: str) -> str:
    """``parent line 7 'x = 1'`` or ``new program lines 7-9 'a', 'b', 'c'`` (a few shown)."""
    first, last = skeleton[start][0], skeleton[stop - 1][0]
    numbers = f"line {first}" if first == last else f"lines {first}-{last}"
    shown = ", ".join(_show(text) for _, text in skeleton[start : min(stop, start + 3)])
    more = ", ..." if stop - start > 3 else ""
    return f"{whose} {numbers} {shown}{more}"


def _is(count: int) -> str:
    return "is" if count == 1 else "are"


def _show(line: str) -> str:
    if line == _BODY:
        return "(an EVOLVE-BLOCK body)"
    return repr(line) if line else "(a blank line)"


def check_syntax(program: str) -> None:
    """Compile the program so a syntax error costs no evaluation."""
    try:
        compile(program, "<candidate>", "exec")
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        text = f": {exc.text.strip()!r}" if exc.text and exc.text.strip() else ""
        raise EditError(f"syntax error at {where}: {exc.msg}{text}") from None
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        raise EditError(f"program cannot be compiled: {exc}") from None


#: The in-process syntax check of each language, run on every new program before it is
#: stored. Compiled languages have none here on purpose: compiling untrusted C outside the
#: sandbox could read files through ``#include`` and show them in its diagnostics, so their
#: task compiles first, in the sandbox, and a failure is ``error_class="syntax"`` before
#: anything runs (``circle_packing_c``).
SYNTAX_CHECKS: dict[str, Callable[[str], None]] = {"python": check_syntax}


def check_length(program: str, max_code_chars: int) -> None:
    """Reject (never truncate) programs over the configured size."""
    if len(program) > max_code_chars:
        raise EditError(
            f"program has {len(program)} characters, over the limit of {max_code_chars}; "
            "rejected, not truncated"
        )


def build_program(
    parent_program: str,
    parsed: ParsedAnswer,
    edit_mode: str,
    max_code_chars: int,
    *,
    language: str = "python",
) -> tuple[str, str]:
    """Build and check the child program; return ``(program, edit_kind)``.

    ``edit_mode`` only sets the preference: a "diff" answer that gives ``<code>`` instead is
    taken as a full rewrite, and a "full" answer with only diffs is applied as a diff. An
    answer with neither is a full rewrite when one fenced block holds the whole program.
    The syntax check is the language's entry in :data:`SYNTAX_CHECKS`, if it has one.
    """
    if edit_mode not in ("diff", "full"):
        raise ValueError(f"edit_mode must be 'diff' or 'full', not {edit_mode!r}")
    code = parsed.code
    if code is None and not parsed.diffs:
        code = _fenced_program(parent_program, parsed.fenced)
    use_diff = bool(parsed.diffs) and (edit_mode == "diff" or code is None)
    if use_diff:
        program, kind = apply_diffs(parent_program, parsed.diffs), "diff"
    else:
        program, kind = code or "", "full"
        if not program.strip():
            raise EditError("the <code> block is empty")
    check_evolve_blocks(parent_program, program)
    syntax_check = SYNTAX_CHECKS.get(language)
    if syntax_check is not None:
        syntax_check(program)
    check_length(program, max_code_chars)
    return program, kind
