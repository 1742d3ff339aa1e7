"""Parsing and strict application of researcher answers (harness.llm.answers, .edits)."""

from __future__ import annotations

import pytest

from harness.llm.answers import ParsedAnswer, parse_answer
from harness.llm.edits import (
    EditError,
    apply_diffs,
    build_program,
    check_evolve_blocks,
    check_syntax,
)

BASE = """\
import math


def area(r):
    return 3.14 * r * r


def perimeter(r):
    return 2 * 3.14 * r
"""

EVOLVING = """\
import math

# EVOLVE-BLOCK-START
def solve(n):
    return n + 1
# EVOLVE-BLOCK-END


def run():
    return solve(3)
"""


def diff(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_diff_applies():
    answer = "<name>use-pi</name>\n<motivation>exact constant</motivation>\n" + diff(
        "    return 3.14 * r * r", "    return math.pi * r * r"
    )
    parsed = parse_answer(answer)
    assert parsed.name == "use-pi" and parsed.motivation == "exact constant"
    program, kind = build_program(BASE, parsed, "diff", 10_000)
    assert kind == "diff"
    assert "return math.pi * r * r" in program
    assert "return 2 * 3.14 * r" in program


def test_multiple_blocks_apply_in_order():
    diffs = [("return 3.14 * r * r", "return PI * r * r"), ("PI * r * r", "PI * r ** 2")]
    assert "return PI * r ** 2" in apply_diffs(BASE, diffs)


def test_missing_search_names_block_and_hints_closest_line():
    diffs = [("import math", "import math as m"), ("    return 3.15 * r * r", "    pass")]
    with pytest.raises(EditError) as info:
        apply_diffs(BASE, diffs)
    message = str(info.value)
    assert "diff block 2 of 2 did not apply" in message
    assert "'    return 3.15 * r * r'" in message
    assert "program line 5: '    return 3.14 * r * r'" in message


def test_hint_points_at_first_differing_line():
    search = "def area(r):\n    return 3.15 * r * r"
    with pytest.raises(EditError, match="SEARCH line 2 .* differs from program line 5"):
        apply_diffs(BASE, [(search, "")])


def test_ambiguous_search_is_rejected():
    with pytest.raises(EditError, match="ambiguous.*2 times"):
        apply_diffs(BASE, [("3.14", "math.pi")])


def test_whole_line_match_wins_over_partial_matches():
    base = "x = 1\nmax = 10\n"
    assert apply_diffs(base, [("x = 1", "x = 2")]) == "x = 2\nmax = 10\n"


def test_empty_search_is_rejected():
    with pytest.raises(EditError, match="block 1 of 1 has an empty SEARCH"):
        apply_diffs(BASE, [("  ", "import os")])


def test_fenced_diff_and_fenced_code_are_stripped():
    fenced_diff = "<name>a</name>\n```diff\n" + diff("import math", "import math  # ok") + "```\n"
    assert parse_answer(fenced_diff).diffs == [("import math", "import math  # ok")]
    for opening in ("```python", "```"):
        parsed = parse_answer(f"<name>b</name><code>\n{opening}\nprint(1)\n```\n</code>")
        assert parsed.code == "print(1)"


def test_whole_answer_fenced():
    answer = "```\n<name>c</name>\n<motivation>m</motivation>\n<code>\nx = 1\n</code>\n```"
    parsed = parse_answer(answer)
    assert (parsed.name, parsed.motivation, parsed.code) == ("c", "m", "x = 1")


def test_thinking_drafts_are_ignored():
    answer = "<think>" + diff("nope", "nope") + "</think><name>d</name>" + diff("x", "y")
    assert parse_answer(answer).diffs == [("x", "y")]


def test_diffs_wrapped_in_code_tag_are_read_as_diffs():
    parsed = parse_answer(
        "<name>e</name><code>\n" + diff("import math", "import cmath") + "</code>"
    )
    assert parsed.code is None
    assert parsed.diffs == [("import math", "import cmath")]


def test_full_rewrite_in_diff_mode_and_diffs_in_full_mode():
    rewrite = ParsedAnswer(name="f", code="def area(r):\n    return r\n")
    assert build_program(BASE, rewrite, "diff", 10_000) == (rewrite.code, "full")
    diffs_only = ParsedAnswer(diffs=[("import math", "import cmath")])
    program, kind = build_program(BASE, diffs_only, "full", 10_000)
    assert kind == "diff" and program.startswith("import cmath")


def test_neither_code_nor_diff():
    with pytest.raises(EditError, match="neither a <code> block nor SEARCH/REPLACE"):
        build_program(BASE, parse_answer("<name>g</name> I would try harder."), "diff", 10_000)


def test_evolve_block_edit_inside_is_accepted():
    parsed = ParsedAnswer(diffs=[("    return n + 1", "    return n * 2")])
    program, _ = build_program(EVOLVING, parsed, "diff", 10_000)
    assert "return n * 2" in program


def test_evolve_block_edit_outside_is_rejected():
    parsed = ParsedAnswer(diffs=[("    return solve(3)", "    return solve(4)")])
    with pytest.raises(EditError, match="edit changed code outside the EVOLVE-BLOCK"):
        build_program(EVOLVING, parsed, "diff", 10_000)


def test_evolve_block_markers_must_survive_a_rewrite():
    without_markers = EVOLVING.replace("# EVOLVE-BLOCK-START\n", "")
    with pytest.raises(EditError, match="outside the EVOLVE-BLOCK"):
        check_evolve_blocks(EVOLVING, without_markers)
    rewritten = EVOLVING.replace("return n + 1", "k = n\n    return k + 2")
    check_evolve_blocks(EVOLVING, rewritten)
    check_evolve_blocks(BASE, "anything goes without markers")


def test_syntax_error_is_reported_with_line():
    with pytest.raises(EditError, match=r"syntax error at line 2: .*'return \('"):
        check_syntax("def f():\n    return (\n")
    parsed = ParsedAnswer(code="def f(:\n    pass\n")
    with pytest.raises(EditError, match="syntax error at line 1"):
        build_program(BASE, parsed, "full", 10_000)


def test_syntax_check_only_for_python():
    parsed = ParsedAnswer(code="fn main() {}")
    assert build_program("", parsed, "full", 100, language="rust")[0] == "fn main() {}"


def test_over_long_program_is_rejected_not_truncated():
    long_program = "x = 1\n" * 100
    with pytest.raises(EditError, match="600 characters, over the limit of 599"):
        build_program(BASE, ParsedAnswer(code=long_program), "full", 599)
    assert build_program(BASE, ParsedAnswer(code=long_program), "full", 600)[0] == long_program


def test_empty_code_block_is_rejected():
    with pytest.raises(EditError, match="<code> block is empty"):
        build_program(BASE, parse_answer("<code>\n```\n```\n</code>"), "full", 100)


def test_trailing_blank_lines_and_spaces_outside_blocks_are_not_changes():
    # An LLM that adds blank lines before the closing fence, or trailing spaces, changed
    # nothing a reader (or Python) can see: 25 of 25 such rewrites used to be rejected.
    edited = EVOLVING.replace("return n + 1", "return n + 2")
    for child in (
        edited + "\n\n",
        edited + "\n\n\n   \n",
        edited.replace("def run():", "def run():   "),
        edited.replace("import math\n", "import math \t\n"),
        "\n\n" + edited,
    ):
        check_evolve_blocks(EVOLVING, child)
    answer = f"<name>n</name><code>\n```python\n{edited}\n\n\n```\n</code>"
    assert build_program(EVOLVING, parse_answer(answer), "full", 10_000)[1] == "full"


def test_evolve_block_errors_name_the_line_and_what_to_do():
    changed = EVOLVING.replace("    return solve(3)", "    return solve(4)")
    with pytest.raises(EditError) as info:
        check_evolve_blocks(EVOLVING, changed)
    message = str(info.value)
    assert "line 10" in message and "'    return solve(3)'" in message
    assert "'    return solve(4)'" in message
    assert "only code between" in message and "EVOLVE-BLOCK-START" in message

    extra = EVOLVING + "print(run())\n"
    with pytest.raises(EditError) as info:
        check_evolve_blocks(EVOLVING, extra)
    assert "line 11" in str(info.value) and "'print(run())'" in str(info.value)
    assert "unexpected ''" not in str(info.value)

    shorter = EVOLVING.replace("\ndef run():\n    return solve(3)\n", "")
    with pytest.raises(EditError, match=r"'def run\(\):'.* missing from the new program"):
        check_evolve_blocks(EVOLVING, shorter)

    no_markers = "def solve(n):\n    return n\n"
    with pytest.raises(EditError, match="no EVOLVE-BLOCK-START/EVOLVE-BLOCK-END markers"):
        check_evolve_blocks(EVOLVING, no_markers)


def test_single_fenced_program_is_a_full_rewrite():
    # The most common answer of open models (vLLM, Ollama, llama.cpp): prose, then the
    # whole program in one Markdown fence, no tags.
    edited = EVOLVING.replace("return n + 1", "return n * 2")
    for opening in ("```python", "```", "``` py"):
        answer = f"Here is the improved program:\n\n{opening}\n{edited}```\n\nIt doubles n."
        program, kind = build_program(EVOLVING, parse_answer(answer), "diff", 10_000)
        assert (program, kind) == (edited.rstrip("\n"), "full")
    # A short snippet (or a shell line) next to the whole program: the program is taken.
    answer = (
        "Change\n```python\nreturn n * 2\n```\nso the file becomes\n"
        f"```python\n{edited}```\nRun it with\n```bash\npython main.py\n```\n"
    )
    assert build_program(EVOLVING, parse_answer(answer), "full", 10_000)[0] == edited.rstrip()


def test_fenced_program_still_keeps_the_evolve_blocks():
    answer = "```python\ndef solve(n):\n    return n * 2\n```"
    with pytest.raises(EditError, match="no EVOLVE-BLOCK-START/EVOLVE-BLOCK-END markers"):
        build_program(EVOLVING, parse_answer(answer), "full", 10_000)


def test_diffs_win_over_fenced_code_and_two_programs_are_ambiguous():
    answer = "```python\n" + diff("import math", "import cmath") + "```\n```python\nx = 1\n```"
    program, kind = build_program(BASE, parse_answer(answer), "diff", 10_000)
    assert kind == "diff" and program.startswith("import cmath")
    two = f"```python\n{EVOLVING}```\nor\n```python\n{EVOLVING}```"
    with pytest.raises(EditError, match="2 fenced code blocks"):
        build_program(EVOLVING, parse_answer(two), "full", 10_000)


def test_unparseable_answer_says_which_formats_are_expected():
    with pytest.raises(EditError) as info:
        build_program(EVOLVING, parse_answer("I would try harder."), "diff", 10_000)
    message = str(info.value)
    for example in ("<code>\n", "<<<<<<< SEARCH\n", "=======\n", ">>>>>>> REPLACE", "```python\n"):
        assert example in message


def test_longer_fences_may_hold_triple_backticks():
    program = 'def solve(n):\n    doc = """\n```\n"""\n    return n\n'
    answer = f"````python\n{program}````\n"
    assert build_program(BASE, parse_answer(answer), "full", 10_000)[0] == program.rstrip()
