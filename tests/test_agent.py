"""``llm.mode=agent``: a tool-using researcher over the loopback OpenAI-compatible server.

The runs use ``mftoy``, a three-file task written out and registered here (through
``HARNESS_PLUGINS``, as an unpackaged plugin, so evaluation workers load it too): ``f()``
in ``main.py`` returns ``scale(BASE)`` from ``helper.py`` and ``config.py``; the score is
that value. Its cascade has a ``quick`` stage, so the ``evaluate`` tool's result shows
which stage a real evaluation ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import run_loop

from harness import db as store
from harness import plugins
from harness.llm.base import NodeView, ProposalRequest
from harness.llm.openai_proposer import create
from harness.task import EvalResult, TaskSpec
from harness.testing.llm_server import FakeLLMServer, ToolCalls
from harness.tree import FileRule, Tree

PLUGIN = '''
"""The multi-file toy task of tests/test_agent.py."""

from pathlib import Path

from harness import EvalResult, Stage, Task, TaskSpec, hookimpl, run_candidate
from harness.tree import FileRule, Tree

SEED = Tree.of({
    "main.py": "from config import BASE\\nfrom helper import scale\\n\\n\\ndef f():\\n"
               "    return scale(BASE)\\n",
    "helper.py": "def scale(x):\\n    return x * 1.0\\n",
    "config.py": "BASE = 1.0\\n",
    "README.md": "f() returns scale(BASE).\\n",
})
RUNNER = (
    "import os, sys\\nsys.path.insert(0, os.path.join(os.getcwd(), 'src'))\\n"
    "from main import f as _f\\n\\n\\ndef f():\\n    return float(_f())\\n"
)


class MultiFileToy(Task):
    name = "mftoy"

    def spec(self, config):
        return TaskSpec(
            name="mftoy",
            description="Make f() in main.py return a larger number.",
            entry="f",
            seeds=("seed",),
            files=(FileRule("README.md", "read_only"),),
            new_files=("extra/*.py",),
            stages=(Stage("quick"), Stage("full")),
            timeout_s=10,
            memory_mb=512,
        )

    def seed(self, config, name):
        return SEED.text()

    def evaluate(self, config, program, workdir, limits, stage):
        Tree.parse(program).write(Path(workdir) / "src")
        run = run_candidate(RUNNER, "f", limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        return EvalResult(success=True, metrics={"value": run.value, "stage": stage})

    def score(self, config, result):
        return result.metrics["value"] if result.success else None


@hookimpl
def harness_register_tasks(register):
    register(MultiFileToy())
'''
CONF = "# @package task\nname: mftoy\nseed_program: seed\n"

SEED = Tree.of(
    {
        "main.py": "from config import BASE\nfrom helper import scale\n\n\ndef f():\n"
        "    return scale(BASE)\n",
        "helper.py": "def scale(x):\n    return x * 1.0\n",
        "config.py": "BASE = 1.0\n",
        "README.md": "f() returns scale(BASE).\n",
    }
)
EDITED = SEED.with_file("helper.py", "def scale(x):\n    return x * 3.0\n").with_file(
    "config.py", "BASE = 2.0\n"
)
TOOL_NAMES = [
    "list_files",
    "read_file",
    "grep",
    "write_file",
    "replace_in_file",
    "evaluate",
    "submit",
]
#: read -> edit two files -> evaluate -> submit
SCRIPT = (
    ToolCalls([("list_files", {}), ("read_file", {"path": "helper.py"})]),
    ToolCalls(
        [
            ("replace_in_file", {"path": "helper.py", "search": "x * 1.0", "replace": "x * 3.0"}),
            ("write_file", {"path": "config.py", "text": "BASE = 2.0\n"}),
        ],
        content="Scaling by three and doubling the base.",
    ),
    ToolCalls([("evaluate", {})]),
    ToolCalls([("submit", {"name": "triple  double", "motivation": "scale 3x, base 2"})]),
)


@pytest.fixture(scope="module")
def mftoy(tmp_path_factory):
    """The ``mftoy`` task plugin, importable here and in every worker process."""
    root = tmp_path_factory.mktemp("plugin")
    package = root / "agent_mftoy"
    (package / "conf" / "task").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    (package / "conf" / "__init__.py").write_text("")
    (package / "conf" / "task" / "__init__.py").write_text("")
    (package / "conf" / "task" / "mftoy.yaml").write_text(CONF)
    saved = {key: os.environ.get(key) for key in ("HARNESS_PLUGINS", "PYTHONPATH")}
    os.environ["HARNESS_PLUGINS"] = f"{saved['HARNESS_PLUGINS']},agent_mftoy"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), saved["PYTHONPATH"]]))
    sys.path.insert(0, str(root))
    plugins.reset()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    sys.path.remove(str(root))
    plugins.reset()


def agent_run(run_dir: Path, *overrides: str) -> dict:
    return run_loop(
        run_dir,
        "+task=mftoy",
        "run.workers=1",
        "analyzer=deterministic",
        "seed=5",
        *overrides,
    )


def openai(server: FakeLLMServer) -> tuple[str, ...]:
    return (
        "llm=openai",
        f"llm.base_url={server.base_url}",
        "llm.model=agent-model",
        "llm.max_retries=0",
        "llm.mode=agent",
    )


def rows(run_dir: Path, table: str) -> list[dict]:
    """A table's rows; ``nodes`` with each tree's text in ``program`` (trees are stored
    content-addressed)."""
    db = store.open_db(run_dir, migrate=False)
    found = list(db[table].rows_where(order_by="id"))
    return store.with_programs(db, found) if table == "nodes" else found


NODE_FIELDS = ("id", "parent_ids", "name", "motivation", "program", "score", "status", "edit")


@pytest.fixture(scope="module")
def recorded(mftoy, tmp_path_factory):
    """A run whose one proposal is the scripted episode; the server's requests with it."""
    run_dir = tmp_path_factory.mktemp("agent") / "recorded"
    with FakeLLMServer() as server:
        server.enqueue(*SCRIPT)
        summary = agent_run(run_dir, *openai(server), "run.max_evaluations=2")
        requests = server.requests
        assert server.pending == 0
    return run_dir, summary, requests


def test_an_episode_reads_edits_two_files_evaluates_and_submits(recorded):
    run_dir, summary, requests = recorded
    assert summary["status"] == "finished"
    seed, child = rows(run_dir, "nodes")
    assert seed["program"] == SEED.text() and seed["score"] == 1.0
    assert child["program"] == EDITED.text(), "the node's program is the edited tree"
    assert child["score"] == 6.0 and child["status"] == "evaluated"
    assert (child["name"], child["motivation"], child["edit"]) == (
        "triple double",
        "scale 3x, base 2",
        "agent",
    )
    assert len(requests) == 4
    assert all([t["function"]["name"] for t in r["tools"]] == TOOL_NAMES for r in requests)
    calls = [c for c in rows(run_dir, "llm_calls") if c["node_id"] == child["id"]]
    assert [c["role"] for c in calls] == ["researcher"] * 4
    # Each stored request is the conversation the server was sent, tool results included.
    assert [json.loads(c["request"]) for c in calls] == [r["messages"] for r in requests]
    answers = [json.loads(c["response"]) for c in calls]
    assert [[t["function"]["name"] for t in a["tool_calls"]] for a in answers] == [
        ["list_files", "read_file"],
        ["replace_in_file", "write_file"],
        ["evaluate"],
        ["submit"],
    ]
    assert answers[1]["content"] == "Scaling by three and doubling the base."
    tools = [m for m in requests[-1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == [
        "call_1_0",
        "call_1_1",
        "call_2_0",
        "call_2_1",
        "call_3_0",
    ]
    listing, read, replaced, wrote, evaluated = (m["content"] for m in tools)
    assert "README.md  (read_only" in listing and "helper.py  (evolve" in listing
    assert read.endswith("def scale(x):\n    return x * 1.0\n")
    assert replaced == "replaced 1 occurrence in helper.py"
    assert wrote == "wrote config.py (11 chars)"
    # A real evaluation of the edited files, of the first cascade stage only.
    assert evaluated.startswith("success: True\nscore: 6.0\n")
    assert '"stage": "quick"' in evaluated
    assert all(c["tokens_in"] > 0 and c["tokens_out"] > 0 for c in calls)
    assert summary["evaluated"] == 2, "the evaluate tool's evaluation is not a node's"


def test_the_episode_replays_bit_exactly_without_a_server(recorded, tmp_path, no_http):
    run_dir, _, _ = recorded
    replay = tmp_path / "replay"
    summary = agent_run(replay, "llm=replay", f"llm.source={run_dir}", "run.max_evaluations=2")
    assert no_http == []
    assert summary["status"] == "finished"

    def fields(where: Path) -> list[tuple]:
        return [tuple(n[k] for k in NODE_FIELDS) for n in rows(where, "nodes")]

    assert fields(replay) == fields(run_dir)
    keys = ("node_id", "role", "model", "request", "response", "error", "tokens_in", "tokens_out")
    replayed = [tuple(c[k] for k in keys) for c in rows(replay, "llm_calls")]
    assert replayed == [tuple(c[k] for k in keys) for c in rows(run_dir, "llm_calls")]
    assert len(replayed) == 4


def test_an_episode_that_never_submits_stops_at_max_steps_and_fails(mftoy, tmp_path):
    with FakeLLMServer(default=ToolCalls([("list_files", {})])) as server:
        summary = agent_run(
            tmp_path,
            *openai(server),
            "llm.agent.max_steps=3",
            "run.max_rounds=1",
            "run.max_evaluations=null",
        )
        sent = len(server.requests)
    assert summary["status"] == "finished"
    assert sent == 3, "exactly max_steps requests"
    child = rows(tmp_path, "nodes")[1]
    assert child["status"] == "failed" and child["error_class"] == "proposal"
    assert child["program"] is None or child["program"] == ""
    assert (
        "did not submit within its budget: 3 requests (llm.agent.max_steps=3)"
        in (child["feedback"])
    )
    assert len([c for c in rows(tmp_path, "llm_calls") if c["node_id"] == 1]) == 3


# ---------------------------------------------------------------- the proposer alone

TASK = TaskSpec(
    name="mftoy",
    description="Make f() larger.",
    entry="f",
    files=(FileRule("README.md", "read_only"),),
    new_files=("extra/*.py",),
)


def propose(server: FakeLLMServer, program: str = SEED.text(), evaluate=None, **agent):
    """One episode of a proposer built from config, as the loop would ask for it."""
    config = {
        "base_url": server.base_url,
        "model": "m",
        "max_retries": 0,
        "mode": "agent",
        "agent": agent,
    }
    parent = NodeView(id=0, name="seed", program=program, score=1.0, success=True)
    request = ProposalRequest(
        task=TASK,
        parent=parent,
        references=[],
        cognition=[],
        node_id=1,
        seed=0,
        evaluate=evaluate,
    )

    async def go():
        proposer = create(config)
        try:
            return await proposer.propose(request)
        finally:
            await proposer.aclose()

    return asyncio.run(go())


def tool_results(server: FakeLLMServer) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


def test_bad_tool_calls_come_back_as_error_results(tmp_path):
    bad = [
        ("rm_rf", {}),
        ("read_file", '{"path": "helper.py"'),
        ("read_file", {"path": "../outside.py"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("write_file", {"path": "README.md", "text": "mine now"}),
        ("write_file", {"path": "new.py", "text": "x = 1\n"}),
        ("replace_in_file", {"path": "main.py", "search": "e", "replace": "E"}),
        ("replace_in_file", {"path": "main.py", "search": "nowhere", "replace": ""}),
        ("read_file", {"path": "main.py", "start": "1"}),
        ("write_file", {"path": "helper.py"}),
        ("grep", {"pattern": "("}),
        ("evaluate", {}),
        ("submit", {"name": "x", "motivation": "nothing yet"}),
        ("write_file", {"path": "helper.py", "text": "def scale(x:\n"}),
        ("submit", {"name": "x", "motivation": "broken"}),
    ]
    good = [
        ("write_file", {"path": "helper.py", "text": "def scale(x):\n    return x * 5.0\n"}),
        ("write_file", {"path": "extra/more.py", "text": "MORE = 1\n"}),
        ("grep", {"pattern": r"\* 5", "path_glob": "*.py"}),
        ("submit", {"name": "five", "motivation": "scale 5x"}),
    ]
    with FakeLLMServer() as server:
        server.enqueue(ToolCalls(bad), ToolCalls(good))
        proposal = propose(server)
        results = tool_results(server)
    assert results == [
        "error: unknown tool 'rm_rf'; the tools are list_files, read_file, grep, write_file, "
        "replace_in_file, evaluate, submit",
        results[1],
        "error: bad file path '../outside.py': it leaves the tree or names a hidden file",
        "error: bad file path '/etc/passwd': paths are relative to the program's root",
        "error: README.md is read-only context: it cannot be changed",
        "error: cannot create new.py: new files may be added under extra/*.py",
        results[6],
        results[7],
        "error: read_file: start must be an integer, not '1'",
        "error: write_file takes path, text; missing: text",
        results[10],
        "error: evaluation is not available to this proposal (no run evaluates it)",
        "error: nothing changed: edit a file before you submit",
        "wrote helper.py (13 chars)",
        results[14],
    ]
    assert results[1].startswith("error: the arguments of read_file are not valid JSON")
    assert results[6].startswith("error: main.py: the search text occurs 6 times; it must")
    assert "main.py: the search text not found" in results[7]
    assert results[10].startswith("error: bad regular expression '('")
    assert results[14].startswith("error: file 'helper.py': syntax error at line 1")
    assert proposal.error is None and proposal.name == "five"
    assert Tree.parse(proposal.program or "") == SEED.with_file(
        "helper.py", "def scale(x):\n    return x * 5.0\n"
    ).with_file("extra/more.py", "MORE = 1\n")
    assert len(proposal.llm_calls) == 2


def test_a_one_file_program_stays_one_string_and_keeps_its_evolve_blocks():
    program = "# EVOLVE-BLOCK-START\ndef f():\n    return 1.0\n# EVOLVE-BLOCK-END\nX = 1\n"
    script = [
        ToolCalls([("replace_in_file", {"path": "program.py", "search": "X = 1", "replace": ""})]),
        ToolCalls(
            [
                ("replace_in_file", {"path": "program.py", "search": "1.0", "replace": "2.0"}),
                ("submit", {"name": "two", "motivation": "m"}),
            ]
        ),
    ]
    with FakeLLMServer() as server:
        server.enqueue(*script)
        proposal = propose(server, program)
        results = tool_results(server)
    assert results[0].startswith(
        "error: program.py: edit changed code outside the EVOLVE-BLOCK-START"
    )
    assert proposal.program == program.replace("1.0", "2.0"), "plain text, not a tree"


def test_the_evaluate_tool_evaluates_the_current_files():
    seen: list[str] = []

    async def evaluate(program: str) -> EvalResult:
        seen.append(program)
        return EvalResult(success=False, feedback="boom", error_class="exception")

    with FakeLLMServer() as server:
        server.enqueue(
            ToolCalls([("write_file", {"path": "config.py", "text": "BASE = 9.0\n"})]),
            ToolCalls([("evaluate", {})]),
            ToolCalls([("submit", {"name": "nine", "motivation": "m"})]),
        )
        proposal = propose(server, evaluate=evaluate)
        results = tool_results(server)
    assert seen == [SEED.with_file("config.py", "BASE = 9.0\n").text()]
    assert results[-1] == (
        "success: False\nscore: None\nerror_class: exception\nmetrics: {}\nfeedback:\nboom"
    )
    assert proposal.program == seen[0]


def test_the_token_budget_ends_an_episode():
    with FakeLLMServer(default=ToolCalls([("list_files", {})])) as server:
        proposal = propose(server, max_tokens=50)
        sent = len(server.requests)
    tokens = sum(c.tokens_in + c.tokens_out for c in proposal.llm_calls)
    assert proposal.program is None and tokens >= 50
    assert sent == len(proposal.llm_calls) < 20
    assert proposal.error == (
        f"the agent did not submit within its budget: {tokens} tokens, over llm.agent.max_tokens=50"
    )


def test_agent_settings_are_checked_when_the_back_end_is_built():
    with pytest.raises(ValueError, match="unknown agent option"):
        create({"model": "m", "mode": "agent", "agent": {"max_step": 3}})
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1"):
        create({"model": "m", "mode": "agent", "agent": {"max_steps": 0}})
    with pytest.raises(ValueError, match="mode must be 'chat' or 'agent'"):
        create({"model": "m", "mode": "agents"})


def test_submit_checks_a_tree_as_chat_mode_edits_are_checked():
    """A ``blocks`` file without EVOLVE-BLOCK markers may not change at all (the rule of
    ``edits.check_tree``, which chat mode's answers go through too)."""
    from harness.llm.tools import ToolError, Workspace

    spec = TaskSpec(
        name="t", description="d", entry="main:f", files=(FileRule("lib.py", "blocks"),)
    )
    parent = Tree.of({"main.py": "X = 1\n", "lib.py": "Y = 2\n"})
    space = Workspace(parent.text(), spec)
    space.write_file("lib.py", "Y = 3\n")
    with pytest.raises(ToolError, match="may change only between EVOLVE-BLOCK markers"):
        space.finished(max_code_chars=10_000)
    space.write_file("lib.py", "Y = 2\n")
    space.write_file("main.py", "X = 5\n")
    assert Tree.parse(space.finished(max_code_chars=10_000))["main.py"] == "X = 5\n"
