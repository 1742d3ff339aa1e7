"""Prompts for multi-file programs: the files that matter within the budget, references as
diffs against the parent, the path-addressed answer format (harness.llm.prompts)."""

from __future__ import annotations

from harness.llm.answers import parse_answer
from harness.llm.base import AnalysisRequest, NodeView, ProposalRequest, RepairRequest
from harness.llm.edits import build_program
from harness.llm.prompts import analyzer_prompt, repair_prompt, researcher_prompt
from harness.llm.tree_view import outline
from harness.task import TaskSpec
from harness.tree import FileRule, Tree

MODEL = "WIDTH = 4\n\n\ndef forward(x):\n    return x * WIDTH\n"
TRAIN = (
    "import model\n\nSTEPS = 1000\n# EVOLVE-BLOCK-START\nLR = 0.1\n# EVOLVE-BLOCK-END\n\n\n"
    "def step(x):\n    return model.forward(x) * LR\n"
)
BIG = '"""Helpers the model and the training step share."""\n\n' + "\n\n".join(
    f'def helper_{i}(x, y={i}):\n    """Helper number {i}."""\n'
    f"    value_{i} = x * {i} + y  # a body line the outline leaves out\n"
    f"    return value_{i}\n"
    for i in range(60)
)
TREE = Tree.of({"pkg/model.py": MODEL, "pkg/train.py": TRAIN, "pkg/big.py": BIG})
SPEC = TaskSpec(
    name="trio",
    description="Make the three modules cooperate.",
    entry="step",
    files=(FileRule("pkg/big.py", "read_only"), FileRule("pkg/train.py", "blocks")),
)
PARENT = NodeView(5, "base", TREE.text(), 0.5, True, motivation="m", analysis="a")
REFERENCE = NodeView(
    8, "wider", TREE.with_file("pkg/model.py", MODEL.replace("4", "8")).text(), 0.7, True
)


def prompt(budget: int, mode: str = "diff") -> str:
    request = ProposalRequest(SPEC, PARENT, [REFERENCE], [], node_id=9, seed=0)
    messages = researcher_prompt(request, mode, budget)
    assert sum(len(m["content"]) for m in messages) <= budget
    return "\n".join(m["content"] for m in messages)


def test_a_roomy_budget_shows_every_file_whole() -> None:
    text = prompt(100_000)
    assert MODEL.rstrip() in text and TRAIN.rstrip() in text and BIG.rstrip() in text
    assert "### FILE: pkg/model.py" in text and "### FILE: pkg/big.py" in text
    assert f"pkg/big.py ({len(BIG)} characters; read-only context" in text


def test_a_tight_budget_keeps_the_evolvable_file_and_outlines_the_read_only_one() -> None:
    budget = 5000
    assert len(BIG) > budget
    text = prompt(budget)
    assert MODEL.rstrip() in text  # evolvable: whole, never cut
    assert "a body line the outline leaves out" not in text  # read-only: not in full
    assert "def helper_0(x, y=0):" in text and '"""Helper number 0."""' in text
    assert f"pkg/big.py ({len(BIG)} characters" in text  # still listed, with its size
    assert "-WIDTH = 4\n+WIDTH = 8" in text  # the reference as its diff from the parent
    assert "--- a/pkg/model.py" in text and REFERENCE.program not in text


def test_a_tighter_budget_shows_a_blocks_file_by_its_evolve_blocks() -> None:
    text = prompt(3400)
    assert "LR = 0.1" in text and "STEPS = 1000" not in text
    assert MODEL.rstrip() in text


def test_the_format_explains_path_addressed_edits_and_the_parent_answers_in_it() -> None:
    text = prompt(100_000)
    assert "### FILE: path/to/file.py" in text and "read-only files must stay" in text
    assert "Do not add or remove files" in text
    full = prompt(100_000, mode="full")
    assert '<file path="path/to/file.py">' in full and "### FILE: path/to/file.py" not in full
    # the shown text is what an answer's SEARCH text is copied from
    answer = (
        "### FILE: pkg/model.py\n<<<<<<< SEARCH\nWIDTH = 4\n=======\nWIDTH = 6\n>>>>>>> REPLACE"
    )
    program, _ = build_program(PARENT.program, parse_answer(answer), "diff", 10_000)
    assert Tree.parse(program)["pkg/model.py"].startswith("WIDTH = 6")


def test_the_analyzer_diff_is_the_trees_diff() -> None:
    request = AnalysisRequest(SPEC, REFERENCE, PARENT)
    text = "\n".join(m["content"] for m in analyzer_prompt(request, 100_000))
    assert Tree.parse(REFERENCE.program).diff(Tree.parse(PARENT.program)).rstrip() in text
    assert "#harness-tree v1" not in text


def test_the_repair_prompt_shows_the_failed_trees_files() -> None:
    failed = NodeView(6, "broken", TREE.text(), None, False, status="failed",
                      feedback="Traceback: NameError: WIDTH")  # fmt: skip
    request = RepairRequest(SPEC, failed, attempt=1, seed=0)
    text = "\n".join(m["content"] for m in repair_prompt(request, "diff", 5000))
    assert MODEL.rstrip() in text and "NameError: WIDTH" in text
    assert "### FILE: path/to/file.py" in text and "a body line" not in text


def test_the_outline_of_non_python_text_is_its_head() -> None:
    text = "\n".join(f"line {i}" for i in range(40))
    assert outline(text, "text").endswith("[... 28 more lines ...]")
    assert outline("def f(:\n", "python") == "def f(:"
