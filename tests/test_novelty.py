"""Novelty filtering before evaluation (``novelty=embedding``): real circle-packing runs
with the offline proposer, whose literal mutations are often near-duplicates, and the LLM
judge against the loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import itertools
import json
import re

import numpy as np
import pytest
from helpers import compose_config, openai_run, toy_answer

from harness import db as store
from harness.composition import OverrideError, check_overrides
from harness.loop import Run
from harness.testing.llm_server import FakeLLMServer

CIRCLES = ("+task=circle_packing", "run.workers=1")
#: Low enough that the offline proposer's mutations of circle packing are rejected often.
NOVELTY = ("novelty=embedding", "novelty.threshold=0.9997")


def execute(run_dir, *overrides, resume=False):
    run = Run(compose_config(*overrides), run_dir, list(overrides), resume=resume)
    asyncio.run(run.execute())
    return run


def nodes(run_dir):
    return list(store.open_db(run_dir)["nodes"].rows_where(order_by="id"))


def test_near_duplicates_are_rejected_unevaluated_and_cost_no_evaluation(tmp_path):
    run = execute(tmp_path, *CIRCLES, *NOVELTY, "run.max_evaluations=8")
    rows = nodes(tmp_path)
    rejected = [row for row in rows if row["status"] == "rejected_novelty"]
    assert rejected, "the offline proposer made no near-duplicate in 8 evaluations"
    evaluated = {row["id"]: row for row in rows if row["status"] == "evaluated"}
    for row in rejected:
        assert row["evaluated_at"] is None and row["score"] is None and not row["success"]
        novelty = json.loads(row["metrics"])["novelty"]
        assert novelty["similarity"] >= 0.9997 and novelty["nearest"] in evaluated
        assert novelty["nearest"] < row["id"]
        assert f"node {novelty['nearest']}" in row["feedback"]
    summary = store.summary(run.db)
    spent = sum(1 for row in rows if row["evaluated_at"] is not None)
    assert summary["evaluated"] == spent == 8, "max_evaluations is still reached"
    assert summary["rejected_novelty"] == len(rejected) == run.state.tally.rejected
    assert run.state.tally.rounds == len(rows) - 1 > 7, "rejected rounds are extra rounds"
    assert run.state.tally.evaluations == 8
    # The archive holds exactly the successfully evaluated programs.
    assert sorted(run.novelty.ids) == sorted(evaluated)


def test_novelty_none_leaves_the_node_sequence_as_it_was(tmp_path):
    plain = execute(tmp_path / "plain", *CIRCLES, "run.max_evaluations=6")
    off = execute(tmp_path / "off", *CIRCLES, "novelty=none", "run.max_evaluations=6")
    assert plain.novelty is None and off.novelty is None

    def hashes(run_dir):
        return [(row["program_hash"], row["status"]) for row in nodes(run_dir)]

    assert hashes(tmp_path / "plain") == hashes(tmp_path / "off")
    on = execute(tmp_path / "on", *CIRCLES, *NOVELTY, "run.max_evaluations=6")
    assert hashes(tmp_path / "on") != hashes(tmp_path / "plain"), "the filter changed nothing"
    assert on.novelty is not None


def test_a_resumed_run_rebuilds_the_archive_and_keeps_its_rejections(tmp_path):
    first = execute(tmp_path, *CIRCLES, *NOVELTY, "run.max_evaluations=6")
    before = {row["id"]: row for row in nodes(tmp_path)}
    again = Run(compose_config(*CIRCLES, *NOVELTY), tmp_path, [], resume=True)
    again.db = store.open_db(tmp_path)
    again._load_state()
    assert again.novelty is not None and first.novelty is not None
    assert again.novelty.ids == first.novelty.ids
    size = len(first.novelty.ids)
    assert np.array_equal(again.novelty.matrix[:size], first.novelty.matrix[:size])
    assert again.state.tally.rejected == first.state.tally.rejected

    resumed = execute(tmp_path, *CIRCLES, *NOVELTY, "run.max_evaluations=10", resume=True)
    after = {row["id"]: row for row in nodes(tmp_path)}
    for node_id, row in before.items():
        assert (after[node_id]["status"], after[node_id]["metrics"]) == (
            row["status"],
            row["metrics"],
        ), f"node {node_id} changed across the resume"
    summary = store.summary(resumed.db)
    assert summary["evaluated"] == 10 and summary["sessions"] == 2
    assert summary["rejected_novelty"] == resumed.state.tally.rejected


def test_the_offline_judge_confirms_rejections_of_literal_changes(tmp_path):
    run = execute(tmp_path, *CIRCLES, *NOVELTY, "novelty.judge=true", "run.max_evaluations=6")
    rows = nodes(tmp_path)
    rejected = [row for row in rows if row["status"] == "rejected_novelty"]
    assert rejected
    calls = list(run.db["llm_calls"].rows_where("role = 'novelty_judge'"))
    assert {call["node_id"] for call in calls} >= {row["id"] for row in rejected}
    for row in rejected:
        judge = json.loads(row["metrics"])["novelty"]["judge"]
        assert judge["different"] is False and "numeric literals only" in judge["reason"]


def judged_answers():
    """Researcher: programs differing in one number; judge: "same" for even numbers."""
    numbers = itertools.count(1)

    def answer(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "<verdict>" in prompt:
            candidate = re.search(r"<candidate>.*?0 \* (\d+)", prompt, re.DOTALL)
            assert candidate is not None, prompt
            verdict = "same" if int(candidate.group(1)) % 2 == 0 else "different"
            return f"<verdict>{verdict}</verdict><reason>checked {candidate.group(1)}</reason>"
        return toy_answer(f"def f():\n    return 5.0 + 0 * {next(numbers)}\n")

    return answer


def test_the_llm_judge_decides_and_is_recorded(tmp_path):
    with FakeLLMServer(default=judged_answers()) as server:
        summary = openai_run(
            tmp_path,
            server,
            "analyzer=deterministic",
            "novelty=embedding",
            "novelty.threshold=0.3",
            "novelty.judge=true",
            "run.max_evaluations=6",
        )
    db = store.open_db(tmp_path)
    calls = list(db["llm_calls"].rows_where("role = 'novelty_judge'", order_by="id"))
    assert calls and all(call["error"] is None for call in calls)
    rows = {row["id"]: row for row in db["nodes"].rows_where("id > 0")}
    for call in calls:
        number = int(re.search(r"checked (\d+)", call["response"]).group(1))
        status = rows[call["node_id"]]["status"]
        assert status == ("rejected_novelty" if number % 2 == 0 else "evaluated"), call
    assert any(row["status"] == "rejected_novelty" for row in rows.values())
    assert summary["evaluated"] == 6
    assert summary["rejected_novelty"] == sum(
        row["status"] == "rejected_novelty" for row in rows.values()
    )


def test_a_misspelled_filter_gets_a_suggestion():
    with pytest.raises(OverrideError, match="Did you mean 'embedding'"):
        check_overrides(["+task=toy", "novelty=embeding"])
