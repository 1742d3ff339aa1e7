"""Path-addressed edits of multi-file programs, checked per file against the task's policies
(harness.llm.answers, harness.llm.edits.build_tree)."""

from __future__ import annotations

import pytest

from harness.llm.answers import parse_answer
from harness.llm.edits import EditError, build_program
from harness.tree import FileRule, Tree

MODEL = "WIDTH = 4\n\n\ndef forward(x):\n    return x * WIDTH\n"
TRAIN = (
    "import model\n\n# EVOLVE-BLOCK-START\nLR = 0.1\n# EVOLVE-BLOCK-END\n\n\n"
    "def step(x):\n    return model.forward(x) * LR\n"
)
UTIL = "def clip(x):\n    return max(0.0, min(1.0, x))\n"
PARENT = Tree.of({"pkg/model.py": MODEL, "pkg/train.py": TRAIN, "pkg/util.py": UTIL}).text()
RULES = (
    FileRule("pkg/util.py", "read_only"),
    FileRule("pkg/train.py", "blocks"),
)


def build(answer: str, mode: str = "diff", new_files: tuple[str, ...] = ()) -> tuple[Tree, str]:
    program, kind = build_program(
        PARENT, parse_answer(answer), mode, 10_000, files=RULES, new_files=new_files
    )
    return Tree.parse(program), kind


def block(search: str, replace: str, path: str = "") -> str:
    head = f"<<<<<<< SEARCH {path}".rstrip()
    return f"{head}\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_blocks_under_file_headers_edit_two_files() -> None:
    answer = (
        "<name>wider</name><motivation>m</motivation>\n"
        "### FILE: pkg/model.py\n" + block("WIDTH = 4", "WIDTH = 8") + "\n"
        "### FILE: `pkg/train.py`\n" + block("LR = 0.1", "LR = 0.05")
    )
    tree, kind = build(answer)
    assert kind == "diff"
    assert tree["pkg/model.py"] == MODEL.replace("WIDTH = 4", "WIDTH = 8")
    assert tree["pkg/train.py"] == TRAIN.replace("LR = 0.1", "LR = 0.05")
    assert tree["pkg/util.py"] == UTIL
    assert Tree.parse(PARENT).changed(Tree.parse(PARENT)) == []
    assert tree.changed(Tree.parse(PARENT)) == ["pkg/model.py", "pkg/train.py"]


def test_the_path_may_follow_search_and_an_unnamed_block_finds_its_one_file() -> None:
    answer = block("WIDTH = 4", "WIDTH = 5", "pkg/model.py") + block("LR = 0.1", "LR = 0.2")
    tree, _ = build(answer)
    assert "WIDTH = 5" in tree["pkg/model.py"] and "LR = 0.2" in tree["pkg/train.py"]


def test_an_unnamed_block_found_in_several_files_is_ambiguous() -> None:
    with pytest.raises(EditError, match=r"2 files \(pkg/model.py, pkg/train.py\).*### FILE"):
        build(block("forward(x)", "f(x)"))


def test_whole_file_rewrites_by_path() -> None:
    answer = f'<file path="pkg/model.py">\n```python\n{MODEL.replace("4", "6")}```\n</file>'
    tree, kind = build(answer, mode="full")
    assert kind == "full" and tree["pkg/model.py"] == MODEL.replace("4", "6")
    assert tree["pkg/train.py"] == TRAIN


def test_an_edit_to_a_read_only_file_is_rejected_naming_it() -> None:
    answer = "### FILE: pkg/util.py\n" + block("0.0", "-1.0")
    with pytest.raises(EditError, match=r"file 'pkg/util.py' is read-only.*pkg/model.py"):
        build(answer)


def test_a_blocks_file_changes_only_inside_its_evolve_blocks() -> None:
    answer = "### FILE: pkg/train.py\n" + block("* LR", "* LR * 2")
    with pytest.raises(EditError, match=r"file 'pkg/train.py': edit changed code outside"):
        build(answer)


def test_python_syntax_is_checked_per_file() -> None:
    with pytest.raises(EditError, match=r"file 'pkg/model.py': syntax error at line 1"):
        build("### FILE: pkg/model.py\n" + block("WIDTH = 4", "WIDTH = = 4"))


def test_new_files_only_where_the_task_allows() -> None:
    answer = '<file path="pkg/extra/helper.py">\nK = 1\n</file>'
    with pytest.raises(EditError, match=r"file 'pkg/extra/helper.py' is new.*no new files"):
        build(answer)
    with pytest.raises(EditError, match=r"only at paths matching pkg/plugins/\*"):
        build(answer, new_files=("pkg/plugins/*",))
    tree, _ = build(answer, new_files=("pkg/extra/*.py",))
    assert tree["pkg/extra/helper.py"] == "K = 1\n" and len(tree) == 4


@pytest.mark.parametrize("path", ["../escape.py", "/etc/passwd", "pkg/.hidden.py"])
def test_paths_that_leave_the_tree_are_rejected(path: str) -> None:
    with pytest.raises(EditError, match="bad file path"):
        build(f'<file path="{path}">\nx = 1\n</file>', new_files=("*", "**"))
    with pytest.raises(EditError, match="bad file path"):
        build(f"### FILE: {path}\n" + block("x", "y"))


def test_a_block_for_a_missing_file_lists_the_files() -> None:
    with pytest.raises(EditError, match=r"'pkg/nope.py', which is not in the program.*util.py"):
        build("### FILE: pkg/nope.py\n" + block("x", "y"))


def test_a_failed_block_names_its_file_and_nearest_line() -> None:
    answer = "### FILE: pkg/model.py\n" + block("WIDTH = 3", "WIDTH = 8")
    with pytest.raises(EditError, match=r"diff block 1 of 1 \(file 'pkg/model.py'\).*WIDTH = 4"):
        build(answer)


def test_code_block_rewrites_the_only_open_file_or_asks_for_paths() -> None:
    with pytest.raises(EditError, match=r"(?s)does not say which file.*### FILE"):
        build("<code>\nWIDTH = 9\n</code>", mode="full")
    one_open = (FileRule("pkg/model.py", "evolve"), FileRule("*", "read_only"))
    program, kind = build_program(PARENT, parse_answer("<code>\nW = 9\n</code>"), "full", 100,
                                  files=one_open)  # fmt: skip
    assert kind == "full" and Tree.parse(program)["pkg/model.py"] == "W = 9"


def test_an_answer_without_edits_explains_the_tree_formats() -> None:
    with pytest.raises(EditError, match=r"(?s)changes no file.*<file path="):
        build("<name>x</name> I would make it wider.")


def test_over_long_file_is_rejected_naming_it() -> None:
    answer = f'<file path="pkg/model.py">\n{MODEL}# {"x" * 200}\n</file>'
    with pytest.raises(EditError, match=r"file 'pkg/model.py': program has \d+ characters"):
        build_program(PARENT, parse_answer(answer), "full", 100, files=RULES)


def test_one_file_programs_ignore_file_headers() -> None:
    answer = "### FILE: whatever.py\n" + block("x = 1", "x = 2")
    assert build_program("x = 1\n", parse_answer(answer), "diff", 100) == ("x = 2\n", "diff")


def test_a_file_tag_inside_a_one_file_programs_code_stays_code() -> None:
    program = "HTML = '<file path=\"a.txt\">x</file>'\n"
    parsed = parse_answer(f"<code>\n{program}</code>")
    assert (
        parsed.files == []
        and build_program("HTML = ''\n", parsed, "full", 100)[0] == program.rstrip()
    )
