"""The evaluation pipeline: canonical dedupe, cascades, repair by the debug agent,
proposals buffered ahead of free evaluation slots, and reproducible runs."""

from __future__ import annotations

import json

import pytest
from helpers import run_loop

from harness import db as store
from harness.canonical import canonical_hash
from harness.testing.llm_server import FakeLLMServer


def rewrite(body: str, name: str = "cand") -> str:
    program = f"# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"
    return f"<name>{name}</name><motivation>try it</motivation><code>{program}</code>"


def openai_run(tmp_path, server, *overrides):
    return run_loop(
        tmp_path,
        "+task=toy",
        "llm=openai",
        f"llm.base_url={server.base_url}",
        "llm.model=scripted",
        "llm.max_retries=0",
        "llm.edit_mode=full",
        "analyzer=deterministic",
        "run.workers=1",
        *overrides,
    )


def nodes(run_dir):
    return list(store.open_db(run_dir)["nodes"].rows_where(order_by="id"))


# ------------------------------------------------------------------ dedupe


def test_the_canonical_hash_ignores_comments_and_formatting_only():
    a = "def f():\n    return 1.0 + 2  # sum\n"
    b = "# a comment\ndef f( ):\n\n    return (1.0 +\n            2)\n"
    assert canonical_hash(a) == canonical_hash(b)
    assert canonical_hash(a) != canonical_hash("def f():\n    return 1.0 + 3\n")
    assert canonical_hash("def f(:\n  x ") == canonical_hash("def f(:\n  x\n\n")
    assert canonical_hash("a  b", language="text") != canonical_hash("a b", language="text")


def test_a_duplicate_is_recorded_with_the_originals_result_and_not_evaluated(tmp_path):
    same = "def f():\n    return 4.0\n"
    respaced = "def f():\n    # the same program, reformatted\n    return (4.0)\n"
    with FakeLLMServer() as server:
        server.enqueue(rewrite(same), rewrite(respaced), rewrite("def f():\n    return 6.0\n"))
        summary = openai_run(tmp_path, server, "run.max_evaluations=3")
    rows = nodes(tmp_path)
    assert [r["status"] for r in rows] == ["evaluated", "evaluated", "duplicate", "evaluated"]
    duplicate = rows[2]
    assert duplicate["duplicate_of"] == 1 and duplicate["score"] == 4.0
    assert duplicate["evaluated_at"] is None and "Duplicate of node 1" in duplicate["analysis"]
    assert summary["duplicates"] == 1 and summary["evaluated"] == 3, "a duplicate costs no budget"


def test_dedupe_can_be_switched_off(tmp_path):
    same = "def f():\n    return 4.0\n"
    with FakeLLMServer() as server:
        server.enqueue(rewrite(same), rewrite(same))
        openai_run(tmp_path, server, "run.max_evaluations=3", "run.dedupe=false")
    assert [r["status"] for r in nodes(tmp_path)] == ["evaluated"] * 3


# ------------------------------------------------------------------ cascades


def test_a_cascade_stops_candidates_below_the_quick_stage_threshold(tmp_path):
    with FakeLLMServer() as server:
        server.enqueue(
            rewrite("def f():\n    return 2.0\n"),
            rewrite("def f():\n    return 7.0\n"),
            rewrite("def f():\n    raise ValueError('no')\n"),
        )
        openai_run(tmp_path, server, "run.max_evaluations=4", "task.cascade_threshold=3")
    low, high, broken = nodes(tmp_path)[1:]
    assert low["status"] == "failed" and low["error_class"] == "cascade"
    assert low["score"] is None and "below its threshold 3.0" in low["feedback"]
    assert [s["stage"] for s in json.loads(low["stages"])] == ["quick"]
    assert json.loads(low["metrics"])["stage"] == "quick"
    assert high["status"] == "evaluated" and high["score"] == 7.0
    stages = json.loads(high["stages"])
    assert [(s["stage"], s["passed"]) for s in stages] == [("quick", True), ("full", True)]
    assert json.loads(high["metrics"])["stage"] == "full"
    assert broken["error_class"] == "exception" and len(json.loads(broken["stages"])) == 1


# ------------------------------------------------------------------ repair


def _debugging_llm(request: dict) -> str:
    messages = json.dumps(request["messages"])
    if "debug agent" in messages:
        return rewrite("def f():\n    return 8.0\n", "fixed")
    return rewrite("def f():\n    return undefined_name\n", "broken")


def test_the_debug_agent_repairs_a_program_that_raised(tmp_path):
    with FakeLLMServer(default=_debugging_llm) as server:
        summary = openai_run(tmp_path, server, "run.max_evaluations=3", "run.repair_attempts=2")
        prompts = [json.dumps(r["messages"]) for r in server.requests]
    child = nodes(tmp_path)[1]
    assert child["status"] == "evaluated" and child["score"] == 8.0
    assert "return 8.0" in child["program"] and child["evaluations"] == 2
    assert json.loads(child["metrics"])["repair_attempts"] == 1
    repair = next(p for p in prompts if "debug agent" in p)
    assert "NameError" in repair and "undefined_name" in repair
    roles = [r["role"] for r in store.open_db(tmp_path)["llm_calls"].rows_where("node_id = 1")]
    assert roles == ["researcher", "repair"]
    assert summary["evaluated"] == 3, "a repair's evaluation counts against the budget"


def test_repairs_are_bounded_and_off_by_default(tmp_path):
    broken = rewrite("def f():\n    return undefined_name\n")
    with FakeLLMServer(default=lambda request: broken) as server:
        openai_run(tmp_path / "off", server, "run.max_evaluations=2")
        assert not any("debug agent" in json.dumps(r["messages"]) for r in server.requests)
    with FakeLLMServer(default=lambda request: broken) as server:
        openai_run(tmp_path / "on", server, "run.max_evaluations=4", "run.repair_attempts=2")
    child = nodes(tmp_path / "on")[1]
    assert child["status"] == "failed" and child["error_class"] == "exception"
    # the "fix" returns the same broken program: no second evaluation of an unchanged program
    assert child["evaluations"] == 1


# ------------------------------------------------------------------ buffer and determinism


def test_buffered_rounds_never_run_more_evaluations_than_workers(tmp_path):
    summary = run_loop(
        tmp_path,
        "+task=toy",
        "run.max_evaluations=13",
        "run.workers=2",
        "run.buffer=3",
        "task.sleep_s=0.3",
    )
    assert summary["evaluated"] == 13
    # Each window is [start, end] of one evaluation on the workers' shared clock; no
    # threshold: only the order of these instants counts.
    windows = [json.loads(r["metrics"])["window"] for r in nodes(tmp_path)[1:] if r["success"]]
    assert len(windows) >= 8
    events = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert peak <= 2, f"{peak} evaluations ran at once with run.workers=2"
    # Both workers are started with the executor, five rounds are in flight and each
    # evaluation sleeps 0.3 s: unless the second slot goes unused, some two of the eight or
    # more evaluations overlap; a slow machine only delays the first overlap.
    assert peak == 2, "no two evaluations ever overlapped: the second slot was never used"


def _sequence(run_dir):
    return [
        (r["id"], r["parent_ids"], r["program"], r["score"], r["status"], r["island"])
        for r in nodes(run_dir)
    ]


@pytest.mark.parametrize("sampler", ["ucb1", "island", "map_elites"])
def test_the_same_seed_with_one_worker_gives_the_same_run(tmp_path, sampler):
    overrides = (
        "+task=toy",
        f"sampler={sampler}",
        "run.max_evaluations=15",
        "run.workers=1",
        "seed=4",
    )
    run_loop(tmp_path / "a", *overrides)
    run_loop(tmp_path / "b", *overrides)
    run_loop(tmp_path / "c", *overrides[:-1], "seed=5")
    first = _sequence(tmp_path / "a")
    assert len(first) >= 15 and len({row[2] for row in first}) > 5
    assert _sequence(tmp_path / "b") == first
    assert _sequence(tmp_path / "c") != first
