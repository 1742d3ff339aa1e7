"""Every single-file feature works for multi-file programs: dedupe, cascades, repair, replay
and kill-resume, on the toy task's tree seed (``task.seed_program=tree``: ``main.py`` calls
``helper.py``, ``README.md`` is read-only), evaluated in the real sandbox as ``main:f``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from conftest import HARNESS
from harness_toy import TREE
from helpers import run_loop

from harness import db as store
from harness.testing.llm_server import FakeLLMServer
from harness.tree import Tree


def helper_edit(body: str, name: str = "c") -> str:
    """An answer rewriting helper.py whole (by path), with ``body`` as value()'s body."""
    return (
        f"<name>{name}</name><motivation>m</motivation>\n"
        f'<file path="helper.py">\ndef value():\n{body}</file>\n'
    )


def scripted(*answers: str):
    """A FakeLLMServer default: ``answers`` in order, then a new program each time (so a
    proposal asked ahead of the budget's end never waits on an empty queue)."""
    queue = iter(answers)
    numbers = iter(range(100, 1000))
    return lambda request: next(queue, None) or helper_edit(f"    return {next(numbers)}.0\n")


def helper_of(value: str) -> str:
    """The tree the seed becomes when helper.py returns ``value``."""
    return TREE.with_file("helper.py", f"def value():\n    return {value}\n").text()


def tree_run(run_dir, server, *overrides):
    return run_loop(
        run_dir,
        "+task=toy",
        "task.seed_program=tree",
        "llm=openai",
        f"llm.base_url={server.base_url}",
        "llm.model=scripted",
        "llm.max_retries=0",
        "analyzer=deterministic",
        "run.workers=1",
        *overrides,
    )


def nodes(run_dir) -> list[dict]:
    db = store.open_db(run_dir)
    return store.with_programs(db, list(db["nodes"].rows_where(order_by="id")))


def test_a_reformatted_tree_is_a_duplicate_and_not_evaluated(tmp_path):
    with FakeLLMServer(
        default=scripted(
            helper_edit("    return 4.0\n"),
            helper_edit("    # the same program, reformatted\n    return (4.0)\n"),
            helper_edit("    return 6.0\n"),
        )
    ) as server:
        summary = tree_run(tmp_path, server, "run.max_evaluations=3")
    rows = nodes(tmp_path)
    assert [r["status"] for r in rows] == ["evaluated", "evaluated", "duplicate", "evaluated"]
    assert rows[1]["program"] == helper_of("4.0") and rows[1]["score"] == 4.5
    assert rows[2]["duplicate_of"] == 1 and rows[2]["evaluated_at"] is None
    assert summary["duplicates"] == 1


def test_a_cascade_stops_trees_below_the_quick_stage_threshold(tmp_path):
    with FakeLLMServer(
        default=scripted(
            helper_edit("    return 2.0\n"),
            helper_edit("    return 7.0\n"),
            helper_edit("    raise ValueError('no')\n"),
        )
    ) as server:
        tree_run(tmp_path, server, "run.max_evaluations=4", "task.cascade_threshold=3")
    low, high, broken = nodes(tmp_path)[1:4]
    assert low["status"] == "failed" and low["error_class"] == "cascade"
    assert [s["stage"] for s in json.loads(low["stages"])] == ["quick"]
    assert high["program"] == helper_of("7.0") and high["score"] == 7.5
    stages = json.loads(high["stages"])
    assert [(s["stage"], s["passed"]) for s in stages] == [("quick", True), ("full", True)]
    assert broken["error_class"] == "exception" and len(json.loads(broken["stages"])) == 1
    assert "helper.py" in broken["feedback"], "the traceback names the tree's file"


def test_the_debug_agent_repairs_a_broken_tree(tmp_path):
    def answer(request: dict) -> str:
        if "debug agent" in json.dumps(request["messages"]):
            return (
                "<name>fixed</name><motivation>m</motivation>\n### FILE: helper.py\n"
                "<<<<<<< SEARCH\n    return undefined_name\n=======\n    return 8.0\n"
                ">>>>>>> REPLACE\n"
            )
        return helper_edit("    return undefined_name\n", "broken")

    with FakeLLMServer(default=answer) as server:
        tree_run(tmp_path, server, "run.max_evaluations=3", "run.repair_attempts=2")
        prompts = [json.dumps(r["messages"]) for r in server.requests]
    child = nodes(tmp_path)[1]
    assert child["status"] == "evaluated" and child["score"] == 8.5
    assert child["program"] == helper_of("8.0")
    assert json.loads(child["metrics"])["repair_attempts"] == 1
    repair = next(p for p in prompts if "debug agent" in p)
    assert "NameError" in repair and "### FILE: helper.py" in repair


REPLAYED = ("+task=toy", "task.seed_program=tree", "run.workers=1", "run.max_evaluations=5")
NODE_FIELDS = ("id", "parent_ids", "program", "score", "status", "analysis")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A tree run recorded against the loopback endpoint (a new helper.py every round)."""
    values = iter(range(2, 100))

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>helper.py's value moved.</analysis>"
        return helper_edit(f"    return {next(values)}.0\n")

    run_dir = tmp_path_factory.mktemp("tree-replay") / "recorded"
    with FakeLLMServer(default=answer) as server:
        tree_run(run_dir, server, *REPLAYED[2:], "analyzer=auto")
    return run_dir


def test_a_tree_run_replays_bit_exactly_without_the_network(recorded, tmp_path, no_http):
    replayed = tmp_path / "replayed"
    run_loop(replayed, *REPLAYED, "llm=replay", f"llm.source={recorded}", "analyzer=auto")
    assert no_http == [], "the replay sent no request"
    original = [tuple(n[f] for f in NODE_FIELDS) for n in nodes(recorded)]
    again = [tuple(n[f] for f in NODE_FIELDS) for n in nodes(replayed)]
    assert again == original
    assert len(original) >= 5 and len({n[2] for n in original}) == len(original), "distinct trees"
    assert all(Tree.parse(n[2])["README.md"] == TREE["README.md"] for n in original)
    assert "helper.py's value moved." in original[-1][5]


def _completed(run_dir) -> dict[int, tuple]:
    db = store.open_db(run_dir, migrate=False)
    rows = db["nodes"].rows_where("status in ('evaluated', 'failed')", order_by="id")
    done = store.with_programs(db, list(rows))
    return {r["id"]: (r["program"], r["score"], r["evaluated_at"]) for r in done}


def test_a_killed_tree_run_resumes_without_losing_an_evaluation(tmp_path, cli):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", "task.seed_program=tree", "task.sleep_s=0.4",
         "run.max_evaluations=14", "run.workers=2", f"hydra.run.dir={run_dir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, sqlite3.OperationalError, store.StoreError):
                if len(_completed(run_dir)) >= 5:
                    break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    before = _completed(run_dir)
    assert len(before) >= 5
    in_flight = store.open_db(run_dir)["nodes"].count_where("status = 'pending'")
    assert in_flight >= 1, "rounds were in flight when the run was killed"
    result = cli("resume", str(run_dir))
    assert result.returncode == 0, result.stderr
    after = _completed(run_dir)
    assert all(after[node_id] == record for node_id, record in before.items())
    rows = nodes(run_dir)
    assert [r["id"] for r in rows] == list(range(len(rows)))
    assert store.summary(store.open_db(run_dir))["evaluated"] == 14
    trees = [Tree.parse(r["program"]) for r in rows if r["program"]]
    assert len(trees) == len(rows) and all(t["README.md"] == TREE["README.md"] for t in trees)
