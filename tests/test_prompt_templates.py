"""Prompt templates: run and task overrides, ``base/`` extension, early errors, the budget."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from helpers import PARENT_PROGRAM, TASK, parent, proposal_request

from harness.llm.base import AnalysisRequest, NodeView, RepairRequest
from harness.llm.openai_proposer import create
from harness.llm.prompts import (
    PromptTemplates,
    analyzer_prompt,
    repair_prompt,
    researcher_prompt,
)
from harness.testing.llm_server import FakeLLMServer

DIFF_ANSWER = """\
<name>closed-form</name>
<motivation>Gauss.</motivation>
<<<<<<< SEARCH
    total = 0
    for i in range(n):
        total += i
    return total
=======
    return n * (n - 1) // 2
>>>>>>> REPLACE
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory


def total(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages)


def test_a_run_override_replaces_a_template_and_a_shared_partial(tmp_path):
    run_dir = write(tmp_path, "researcher.user.j2", "Improve {{ parent.name }}: {{ task.entry }}")
    write(run_dir, "output.diff.j2", "Answer with SEARCH/REPLACE blocks, run-specific.")
    messages = researcher_prompt(
        proposal_request(), "diff", 60_000, templates=PromptTemplates(run_dir)
    )
    assert messages[1]["content"] == "Improve loop-sum: solve"
    # the core's researcher.system.j2 includes the partial, and the run's copy wins
    assert "run-specific" in messages[0]["content"]
    assert "You are the researcher" in messages[0]["content"]
    core = researcher_prompt(proposal_request(), "diff", 60_000)
    assert "run-specific" not in core[0]["content"] and "# Parent node" in core[1]["content"]


def test_a_task_override_applies_and_the_run_one_wins(tmp_path):
    task_dir = write(tmp_path / "task", "researcher.user.j2", "task template for {{ task.name }}")
    write(task_dir, "researcher.system.j2", "task system")
    run_dir = write(tmp_path / "run", "researcher.user.j2", "run template")
    request = proposal_request(task=dataclasses.replace(TASK, prompts_dir=str(task_dir)))

    by_task = researcher_prompt(request, "diff", 60_000)
    assert [m["content"] for m in by_task] == ["task system", "task template for sum"]

    by_run = researcher_prompt(request, "diff", 60_000, templates=PromptTemplates(run_dir))
    assert [m["content"] for m in by_run] == ["task system", "run template"]


def test_extending_the_base_template_replaces_one_block(tmp_path):
    run_dir = write(
        tmp_path,
        "researcher.user.j2",
        '{% extends "base/researcher.user.j2" %}\n'
        "{% block answer %}\n# Your answer\n\nOne small change, please.\n{% endblock %}\n",
    )
    core = researcher_prompt(proposal_request(), "full", 60_000)[1]["content"]
    custom = researcher_prompt(
        proposal_request(), "full", 60_000, templates=PromptTemplates(run_dir)
    )[1]["content"]
    head = core[: core.index("# Your answer")]
    assert custom == head + "# Your answer\n\nOne small change, please."
    assert "0.4217" in custom and PARENT_PROGRAM in custom


def test_a_syntax_error_fails_at_creation_naming_file_and_line(tmp_path):
    run_dir = write(tmp_path, "analyzer.user.j2", "# Node\n\n{% if node.score %}\nno end\n")
    with pytest.raises(ValueError, match=r"analyzer\.user\.j2, line 4: TemplateSyntaxError"):
        create({"model": "m", "prompts_dir": str(run_dir)})


def test_an_undefined_variable_fails_at_creation_with_the_variables(tmp_path):
    run_dir = write(tmp_path, "repair.user.j2", "Fix it.\n\n{{ node.traceback }}\n")
    with pytest.raises(ValueError) as caught:
        create({"model": "m", "prompts_dir": str(run_dir)})
    message = str(caught.value)
    assert f"{run_dir / 'repair.user.j2'}, line 3" in message
    assert "has no attribute 'traceback'" in message
    assert "receive task, node, attempt, edit_mode" in message


def test_a_missing_prompts_dir_fails_at_creation(tmp_path):
    with pytest.raises(ValueError, match="prompts_dir: .*nowhere is not a directory"):
        create({"model": "m", "prompts_dir": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match=r"llm\.roles\.analyzer\.prompts_dir"):
        create({"model": "m", "roles": {"analyzer": {"prompts_dir": str(tmp_path)}}})


def test_a_broken_task_template_fails_on_first_use_naming_the_file(tmp_path):
    task_dir = write(tmp_path, "analyzer.system.j2", "{{ task.nonsense }}")
    task = dataclasses.replace(TASK, prompts_dir=str(task_dir))
    request = AnalysisRequest(task=task, node=parent(), reference=None)
    with pytest.raises(ValueError, match=r"analyzer\.system\.j2, line 1: UndefinedError"):
        analyzer_prompt(request, 60_000)
    missing = dataclasses.replace(TASK, prompts_dir=str(tmp_path / "gone"))
    with pytest.raises(ValueError, match=r"TaskSpec\.prompts_dir: .*gone is not a directory"):
        repair_prompt(RepairRequest(missing, parent(), 1, 0), "diff", 60_000)


def test_the_override_reaches_the_endpoint(tmp_path):
    run_dir = write(
        tmp_path,
        "researcher.system.j2",
        '{% extends "base/researcher.system.j2" %}\n'
        "{% block role %}\nYou are a careful numerical analyst.\n{% endblock %}\n",
    )
    with FakeLLMServer(default=DIFF_ANSWER) as server:
        proposer = create(
            {
                "base_url": server.base_url,
                "model": "m",
                "max_retries": 0,
                "prompts_dir": str(run_dir),
            }
        )

        async def run() -> None:
            try:
                await proposer.propose(proposal_request())
            finally:
                await proposer.aclose()

        asyncio.run(run())
    system, user = (m["content"] for m in server.requests[0]["messages"])
    assert system.startswith("You are a careful numerical analyst.\n\nAnswer in exactly")
    assert "You are the researcher" not in system
    assert "<<<<<<< SEARCH" in system and PARENT_PROGRAM in user


# ------------------------------------------------------------------ the budget


TWICE = """\
# Parent ({{ parent.name }})
{{ parent.program }}
{{ parent.analysis }}
{% for reference in references %}
## Reference {{ loop.index }}
{{ reference.program }}
{{ reference.analysis }}
## Reference {{ loop.index }} again
{{ reference.program }}
{{ reference.analysis }}
{% endfor %}
"""


def test_the_budget_holds_when_a_template_shows_a_field_twice(tmp_path):
    templates = PromptTemplates(write(tmp_path, "researcher.user.j2", TWICE))
    big = parent(id=1, name="huge", program="x = 1\n" * 3000, analysis="a" * 8000)
    request = proposal_request(references=[big, dataclasses.replace(big, id=2)])
    roomy = researcher_prompt(request, "diff", 500_000, templates=templates)
    assert roomy[1]["content"].count("x = 1\n" * 3000) == 4

    for budget in (40_000, 9_000):
        messages = researcher_prompt(request, "diff", budget, templates=templates)
        assert total(messages) <= budget
        user = messages[1]["content"]
        assert PARENT_PROGRAM in user and "slow for large n" in user
        assert "characters cut to fit the prompt budget" in user or "omitted to fit" in user


def test_the_parent_program_is_never_cut(tmp_path):
    templates = PromptTemplates(write(tmp_path, "researcher.user.j2", TWICE))
    long_parent = parent(program="y = 2\n" * 4000, analysis="b" * 3000)
    request = proposal_request(parent=long_parent)
    for chosen in (templates, None):
        messages = researcher_prompt(request, "diff", 100, templates=chosen)
        user = messages[1]["content"]
        assert "y = 2\n" * 4000 in user
        assert "b" * 3000 not in user, "everything else gives way first"


def test_a_field_no_template_shows_takes_no_share_of_the_cut():
    # References' feedback is not shown by the core templates; the huge one must not absorb
    # the cut meant for the reference's analysis, which would push it onto the parent.
    reference = parent(
        id=1, name="ref", program="z = 0\n", analysis="r" * 6000, feedback="f" * 50_000
    )
    request = proposal_request(references=[reference], parent=parent(analysis="p" * 800))
    roomy = total(researcher_prompt(request, "diff", 1_000_000))
    messages = researcher_prompt(request, "diff", roomy - 3000)
    user = messages[1]["content"]
    assert total(messages) <= roomy - 3000
    assert "r" * 6000 not in user and "characters cut to fit" in user
    assert "p" * 800 in user and "Compute the sum below n quickly." in user


def test_the_analyzer_budget_keeps_the_tail_of_the_feedback_in_a_custom_template(tmp_path):
    templates = PromptTemplates(
        write(tmp_path, "analyzer.user.j2", "{{ node.feedback }}\n---\n{{ node.feedback }}\n")
    )
    node = parent(feedback="noise\n" * 3000 + "ZeroDivisionError: division by zero")
    messages = analyzer_prompt(AnalysisRequest(TASK, node, None), 5000, templates=templates)
    assert total(messages) <= 5000
    assert messages[1]["content"].count("ZeroDivisionError: division by zero") == 2


def test_a_fence_inside_a_program_gets_a_longer_fence():
    program = 'DOC = """\n```python\nprint(1)\n```\n"""\n\n\ndef solve(n):\n    return n\n'
    user = researcher_prompt(proposal_request(parent=parent(program=program)), "diff", 60_000)[1][
        "content"
    ]
    assert f"````python\n{program.rstrip()}\n````" in user


def test_a_config_enum_edit_mode_picks_the_output_format():
    from harness.llm.schemas import EditMode

    system = researcher_prompt(proposal_request(), EditMode.full, 60_000)[0]["content"]
    assert "<code>\nthe complete new program\n</code>" in system
    assert "<<<<<<< SEARCH" not in system


def test_nodes_without_score_or_notes_render():
    bare = NodeView(id=4, name="seed", program=PARENT_PROGRAM, status="failed")
    user = researcher_prompt(proposal_request(parent=bare, references=[]), "diff", 60_000)[1][
        "content"
    ]
    assert "- score: none (not scored) (success: no, status: failed)" in user
    assert "- metrics: (none)\n- motivation: (none)\n- analysis: (none)" in user
    assert "# Reference nodes (other sampled nodes, for comparison and ideas)\n\n(none)" in user
