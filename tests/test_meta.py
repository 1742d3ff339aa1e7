"""Meta-recommendations (``run.meta``): versions written every N rounds, shown to the
researcher, recorded as ``meta`` LLM calls, replayed, and written once after a resume."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any

from helpers import compose_config, openai_overrides, openai_run, run_loop, toy_answer
from starlette.testclient import TestClient

from harness import db as store
from harness.llm.base import MetaRequest, NodeView
from harness.loop import Run
from harness.meta import deterministic_summary
from harness.task import TaskSpec
from harness.testing.llm_server import FakeLLMServer
from harness.web.app import create_app

HEADER = "# Recommendations"


def scripted():
    """Distinct toy programs, numbered analyses, and recommendations named by the version
    asked for."""
    programs, analyses = itertools.count(), itertools.count()

    def answer(request: dict[str, Any]) -> str:
        text = json.dumps(request["messages"])
        if "<recommendations>" in text:
            version = re.search(r"Write summary version (\d+)", text)
            assert version is not None
            return f"<recommendations>- REC-{version[1]}: keep it up</recommendations>"
        if "<analysis>" in text:
            return f"<analysis>Analysis {next(analyses)}.</analysis>"
        return toy_answer(f"def f():\n    return 3.0 + 0 * {next(programs)}\n")

    return answer


def versions(run_dir: Path) -> list[tuple[int, int, str, int | None]]:
    db = store.open_db(run_dir, migrate=False)
    rows = db.execute(
        "select version, after_node, text, llm_call_id from meta_recommendations order by version"
    )
    return [tuple(row) for row in rows.fetchall()]


def in_force(run_dir: Path) -> dict[int, int]:
    db = store.open_db(run_dir, migrate=False)
    return dict(db.execute("select node_id, version from meta_in_force").fetchall())


def calls(run_dir: Path, role: str) -> list[dict[str, Any]]:
    db = store.open_db(run_dir, migrate=False)
    return list(db["llm_calls"].rows_where("role = ?", [role], order_by="id"))


def nodes(run_dir: Path) -> list[tuple[Any, ...]]:
    db = store.open_db(run_dir, migrate=False)
    rows = db.execute("select id, parent_ids, program, score, status, name from nodes")
    return [tuple(row) for row in rows.fetchall()]


OFFLINE = ("+task=toy", "run.workers=1", "run.max_rounds=12", "run.max_evaluations=null")


def test_an_offline_run_writes_a_version_every_n_rounds_and_shows_it(tmp_path):
    run_dir = tmp_path / "run"
    summary = run_loop(run_dir, *OFFLINE, "run.meta.every=5")
    assert summary["status"] == "finished" and summary["meta_version"] == 2
    stored = versions(run_dir)
    assert [(v, after, call) for v, after, _, call in stored] == [(1, 5, None), (2, 10, None)]
    assert stored[0][2].startswith("Summary version 1, after node 5.\n- Best so far: ")
    assert "Last 5 nodes: " in stored[1][2] and "Mean score change: " in stored[1][2]
    assert in_force(run_dir) == {**dict.fromkeys(range(6, 11), 1), 11: 2, 12: 2}


def test_off_changes_nothing(tmp_path):
    plain, off = tmp_path / "plain", tmp_path / "off"
    run_loop(plain, *OFFLINE)
    run_loop(off, *OFFLINE, "run.meta.every=0")
    assert nodes(off) == nodes(plain)
    assert versions(off) == [] and in_force(off) == {}
    assert "meta_version" not in store.summary(store.open_db(off, migrate=False))


LLM = ("run.max_evaluations=null", "analyzer=auto")
SEVEN = (*LLM, "run.max_rounds=7", "llm.max_retries=0")


# What differs between two evaluations of one program: its timings.
TIMINGS = re.compile(r'(\\"(?:eval_seconds|window)\\": )(\[[^]]*\]|[0-9.]+)')


def researcher_requests(run_dir: Path) -> dict[int, str]:
    """Each node's researcher request, its evaluations' timings masked."""
    return {
        call["node_id"]: TIMINGS.sub(r"\1#", call["request"])
        for call in calls(run_dir, "researcher")
    }


def test_the_researcher_is_shown_the_latest_version_and_off_prompts_are_unchanged(tmp_path):
    meta, plain = tmp_path / "meta", tmp_path / "plain"
    with FakeLLMServer(default=scripted()) as server:
        openai_run(meta, server, *SEVEN, "run.meta.every=3")
    with FakeLLMServer(default=scripted()) as server:
        openai_run(plain, server, *SEVEN)

    meta_calls = calls(meta, "meta")
    assert [(c["node_id"], c["error"]) for c in meta_calls] == [(3, None), (6, None)]
    assert all(c["tokens_in"] > 0 for c in meta_calls)  # counted like every call
    assert [(v, after, text, call) for v, after, text, call in versions(meta)] == [
        (1, 3, "- REC-1: keep it up", meta_calls[0]["id"]),
        (2, 6, "- REC-2: keep it up", meta_calls[1]["id"]),
    ]
    assert "- REC-1: keep it up" in meta_calls[1]["request"]  # the previous version
    assert "[N3]" in meta_calls[0]["request"] and "Analysis 3." in meta_calls[0]["request"]
    shown = researcher_requests(meta)
    for node_id, request in shown.items():
        expected = {1: None, 2: "REC-1", 3: "REC-2"}[(node_id - 1) // 3 + 1]
        assert (HEADER in request) is (expected is not None)
        assert expected is None or f"- {expected}: keep it up" in request
    assert in_force(meta) == {4: 1, 5: 1, 6: 1, 7: 2}
    roles = {row["role"] for row in store.summary(store.open_db(meta, migrate=False))["models"]}
    assert "meta" in roles

    unchanged = researcher_requests(plain)
    assert calls(plain, "meta") == [] and versions(plain) == []
    assert all(HEADER not in request for request in unchanged.values())
    # Before the first version the prompts are those of a run without the key, byte for byte.
    assert [shown[i] for i in (1, 2, 3)] == [unchanged[i] for i in (1, 2, 3)]
    assert shown[4] != unchanged[4]


def test_a_replay_reproduces_the_versions_and_the_nodes(tmp_path, no_http):
    recorded, replay = tmp_path / "recorded", tmp_path / "replay"
    overrides = (
        "+task=toy",
        "run.workers=1",
        "seed=3",
        *LLM,
        "run.max_rounds=7",
        "run.meta.every=3",
    )
    with FakeLLMServer(default=scripted()) as server:
        run_loop(recorded, *overrides, "llm=openai", f"llm.base_url={server.base_url}",
                 "llm.model=m", "llm.edit_mode=full", "llm.max_retries=0")  # fmt: skip
    no_http.clear()
    summary = run_loop(replay, *overrides, "llm=replay", f"llm.source={recorded}")
    assert no_http == [] and summary["status"] == "finished"
    assert nodes(replay) == nodes(recorded)
    assert [v[:3] for v in versions(replay)] == [v[:3] for v in versions(recorded)]
    assert [(c["node_id"], c["response"], c["error"]) for c in calls(replay, "meta")] == [
        (c["node_id"], c["response"], c["error"]) for c in calls(recorded, "meta")
    ]
    assert len(versions(replay)) == 2


def test_a_resumed_run_writes_a_missing_version_exactly_once(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    with FakeLLMServer(default=scripted()) as server:
        openai_run(whole, server, *SEVEN, "run.meta.every=3")
    with FakeLLMServer(default=scripted()) as server:
        first = openai_run(killed, server, *LLM, "run.max_rounds=3", "run.meta.every=3")
        assert first["meta_version"] == 1
        # A kill during the meta call: neither the call nor the version is stored.
        db = store.open_db(killed)
        with db.conn:
            db.conn.execute("delete from meta_recommendations")
            db.conn.execute("delete from llm_calls where role = 'meta'")
        db.conn.close()
        overrides = openai_overrides(server, *SEVEN, "run.meta.every=3")
        summary = asyncio.run(
            Run(compose_config(*overrides), killed, overrides, resume=True).execute()
        )
    assert summary["status"] == "finished" and summary["sessions"] == 2
    assert [c["node_id"] for c in calls(killed, "meta")] == [3, 6]
    assert [v[:3] for v in versions(killed)] == [v[:3] for v in versions(whole)]
    assert nodes(killed) == nodes(whole)
    assert researcher_requests(killed) == researcher_requests(whole)
    assert in_force(killed) == in_force(whole)


def test_the_run_page_shows_the_versions(tmp_path):
    run_dir = tmp_path / "run"
    run_loop(run_dir, *OFFLINE, "run.meta.every=5")
    client = TestClient(create_app(tmp_path))
    page = client.get("/run/run/")
    assert page.status_code == 200
    assert "version 2, after node #10" in page.text and "version 1, after node #5" in page.text
    assert "Summary version 2, after node 10." in page.text
    run_loop(tmp_path / "plain", "+task=toy", "run.max_evaluations=3", "run.workers=1")
    assert "Meta-recommendations" not in client.get("/run/plain/").text


def test_the_deterministic_summary_names_the_best_the_changes_and_the_errors():
    task = TaskSpec(name="t", description="d", entry="f")
    best = NodeView(id=4, name="four", program="", score=2.5, success=True)
    failed = [NodeView(id=i, name="x", program="", status="failed", error_class="timeout")
              for i in (5, 6)]  # fmt: skip
    recent = [best, *failed, NodeView(id=7, name="seven", program="", score=1.0)]
    request = MetaRequest(task, "", [best], recent, [0.5, None, None, -1.5], 3, 7)
    assert deterministic_summary(request).splitlines() == [
        "Summary version 3, after node 7.",
        "- Best so far: four [N4] scoring 2.5.",
        "- Last 4 nodes: 1 improved on their parent, 1 regressed, 0 unchanged, "
        "2 without a score change.",
        "- Mean score change: -0.5.",
        "- Largest gain: four [N4] (+0.5).",
        "- Most common error class: timeout (2 of 4).",
    ]
