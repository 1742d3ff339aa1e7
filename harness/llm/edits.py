"""Turning a parsed researcher answer (:mod:`harness.llm.answers`) into a checked program.

Pure functions, no I/O. Everything here is strict on purpose: the released ASI-Evolve code
truncated over-long programs, kept Markdown fences inside ``<code>`` and re-asked the model
when a diff failed. Here an answer that cannot be applied exactly is rejected with an
:class:`EditError` whose message is good enough to be stored as the failed node's feedback.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable

from harness.llm.answers import ParsedAnswer
from harness.tree import FileRule, Tree, TreeError, check_path, is_tree, language_of, policy_of

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

TREE_FORMATS = """The program is several files; answer in one or both of these formats:
- SEARCH/REPLACE blocks under a line naming the file they edit:
### FILE: path/to/file.py
<<<<<<< SEARCH
lines copied exactly from that file
=======
the lines that replace them
>>>>>>> REPLACE
- or whole files, each in a <file> block:
<file path="path/to/file.py">
...the complete new file...
</file>"""


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
        text = apply_block(text, search, replace, f"diff block {number} of {total}")
    return text


def apply_block(text: str, search: str, replace: str, where: str, what: str = "program") -> str:
    """``text`` with the one occurrence of ``search`` replaced (see :func:`apply_diffs`);
    errors start with ``where`` (which block) and call ``text`` the ``what``."""
    if not search.strip():
        raise EditError(f"{where} has an empty SEARCH part; quote the lines to replace")
    hits = _occurrences(text, search)
    if not hits:
        raise EditError(
            f"{where} did not apply: SEARCH text not found in the {what} "
            f"(it must match exactly, whitespace included); {_not_found_hint(text, search)}"
        )
    if len(hits) > 1:
        whole = [pos for pos in hits if _is_whole_lines(text, pos, len(search))]
        if len(whole) != 1:
            raise EditError(
                f"{where} is ambiguous: its SEARCH text occurs {len(hits)} times in the "
                f"{what}; include more surrounding lines so it matches once"
            )
        hits = whole
    pos = hits[0]
    return text[:pos] + replace + text[pos + len(search) :]


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
    files: Iterable[FileRule] = (),
    new_files: Iterable[str] = (),
) -> tuple[str, str]:
    """Build and check the child program; return ``(program, edit_kind)``.

    A multi-file parent (:func:`harness.tree.is_tree`) is edited by :func:`build_tree`
    under the task's ``files`` policies and ``new_files`` globs (``TaskSpec``).

    ``edit_mode`` only sets the preference: a "diff" answer that gives ``<code>`` instead is
    taken as a full rewrite, and a "full" answer with only diffs is applied as a diff. An
    answer with neither is a full rewrite when one fenced block holds the whole program.
    The syntax check is the language's entry in :data:`SYNTAX_CHECKS`, if it has one.
    """
    if edit_mode not in ("diff", "full"):
        raise ValueError(f"edit_mode must be 'diff' or 'full', not {edit_mode!r}")
    if is_tree(parent_program):
        return build_tree(parent_program, parsed, max_code_chars, files=files, new_files=new_files)
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


def build_tree(
    parent_program: str,
    parsed: ParsedAnswer,
    max_code_chars: int,
    *,
    files: Iterable[FileRule] = (),
    new_files: Iterable[str] = (),
) -> tuple[str, str]:
    """The child of a multi-file parent and its edit kind (``diff`` when any SEARCH/REPLACE
    block applied, else ``full``), checked by :func:`check_tree`.

    Whole files (``<file path=...>``) replace or add files; SEARCH/REPLACE blocks apply in
    order to the file they name, or to the one file whose text holds their SEARCH part.
    A ``<code>`` block (when there is nothing else) is the whole tree's text, or the new
    text of the program's only file that may change.
    """
    rules = tuple(files)
    parent = Tree.parse(parent_program)
    texts = dict(parent)
    rewritten: list[str] = []
    for path, text in parsed.files:
        path = _tree_path(path, "a <file> block")
        if path in rewritten:
            raise EditError(f"file {path!r} is given twice in <file> blocks; give it once")
        rewritten.append(path)
        texts[path] = text
    if parsed.code is not None and not parsed.files and not parsed.diffs:
        texts, rewritten = _code_block(parent, parsed.code, rules)
    blocks = parsed.addressed
    edited = False
    for number, (named, search, replace) in enumerate(blocks, start=1):
        where = f"diff block {number} of {len(blocks)}"
        path = _tree_path(named, where) if named else _holder(texts, search, where)
        if path in rewritten:
            raise EditError(
                f"file {path!r} has both a <file> block and SEARCH/REPLACE blocks; give one"
            )
        if path not in texts:
            raise EditError(
                f"{where} edits file {path!r}, which is not in the program (its files: "
                f"{', '.join(parent)}); to add a file, give it whole in <file path=...>"
            )
        where = f"{where} (file {path!r})"
        texts[path] = apply_block(texts[path], search, replace, where, f"file {path!r}")
        edited = True
    if not rewritten and not edited:
        raise EditError(f"the answer changes no file of the program. {TREE_FORMATS}")
    child = Tree.of(texts)
    check_tree(parent, child, max_code_chars, files=rules, new_files=new_files)
    return child.text(), "diff" if edited else "full"


def _tree_path(path: str, where: str) -> str:
    try:
        return check_path(path)
    except TreeError as exc:
        raise EditError(f"{where}: {exc}") from None


def _holder(texts: dict[str, str], search: str, where: str) -> str:
    """The one file whose text holds ``search``, for a block that names none."""
    holders = [path for path, text in texts.items() if search and search in text]
    if len(holders) == 1:
        return holders[0]
    found = "none of the files" if not holders else f"{len(holders)} files ({', '.join(holders)})"
    raise EditError(
        f"{where} names no file and its SEARCH text is in {found}; put a line "
        "'### FILE: path/to/file.py' before the blocks of each file"
    )


def _code_block(
    parent: Tree, code: str, rules: tuple[FileRule, ...]
) -> tuple[dict[str, str], list[str]]:
    """The files after a ``<code>`` answer: a whole tree's text, or the new text of the only
    file that may change."""
    if is_tree(code):
        try:
            tree = Tree.parse(code)
        except TreeError as exc:
            raise EditError(f"the <code> block is not a well-formed program tree: {exc}") from None
        return dict(tree), tree.changed(parent)
    open_files = [path for path in parent if policy_of(path, rules) != "read_only"]
    if len(open_files) != 1:
        raise EditError(
            "the answer's <code> block does not say which file it replaces (the program has "
            f"{len(open_files)} files that may change). {TREE_FORMATS}"
        )
    return {**dict(parent), open_files[0]: code}, open_files


def check_tree(
    parent: Tree,
    child: Tree,
    max_code_chars: int,
    *,
    files: Iterable[FileRule] = (),
    new_files: Iterable[str] = (),
) -> None:
    """Reject a child tree that breaks the task's rules, naming the first file at fault:
    a removed file, a new file outside ``new_files``, a change to a ``read_only`` file or
    outside a ``blocks`` file's EVOLVE-BLOCKs, a syntax error, a file over ``max_code_chars``."""
    rules, globs = tuple(files), tuple(new_files)
    for path in child.changed(parent):
        if path not in child:
            raise EditError(f"file {path!r} is missing from the new program; keep every file")
        text = child[path]
        policy = policy_of(path, rules)
        if path not in parent and not any(fnmatch.fnmatchcase(path, g) for g in globs):
            allowed = f"only at paths matching {', '.join(globs)}" if globs else "no new files"
            raise EditError(
                f"file {path!r} is new, and this task allows {allowed}; edit existing files"
            )
        if policy == "read_only":
            may = [p for p in parent if policy_of(p, rules) != "read_only"]
            raise EditError(
                f"file {path!r} is read-only context for this task and must stay exactly as "
                f"it is; only these files may change: {', '.join(may) or '(none)'}"
            )
        if policy == "blocks" and path in parent:
            if _outside_evolve_blocks(parent[path]) is None:
                raise EditError(
                    f"file {path!r} may change only between EVOLVE-BLOCK markers, and it has "
                    "none; leave it unchanged"
                )
            _in_file(path, check_evolve_blocks, parent[path], text)
        syntax_check = SYNTAX_CHECKS.get(language_of(path))
        if syntax_check is not None:
            _in_file(path, syntax_check, text)
        _in_file(path, check_length, text, max_code_chars)


def _in_file(path: str, check: Callable[..., None], *args: object) -> None:
    """Run ``check``; its :class:`EditError` names ``path``."""
    try:
        check(*args)
    except EditError as exc:
        raise EditError(f"file {path!r}: {exc}") from None
