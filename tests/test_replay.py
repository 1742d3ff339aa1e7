"""``llm=replay``: a recorded ``llm=openai`` run re-run from its ``harness.db``, offline."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from helpers import run_loop

from harness import db as store
from harness.testing.llm_server import FakeLLMServer, Fault

FIELDS = (
    "id",
    "parent_ids",
    "name",
    "motivation",
    "program",
    "score",
    "status",
    "error_class",
    "analysis",
)


def rewrite(body: str, name: str) -> str:
    program = f"# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"
    return f"<name>{name}</name><motivation>try {name}</motivation><code>{program}</code>"


def _scripted():
    """Distinct improving programs, one that raises, and numbered analyses."""
    programs = itertools.count(2)
    analyses = itertools.count()

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return f"<analysis>Analysis number {next(analyses)}.</analysis>"
        n = next(programs)
        if n == 4:
            return rewrite("def f():\n    raise ValueError('nope')\n", "raiser")
        return rewrite(f"def f():\n    return {n}.0\n", f"cand-{n}")

    return answer


OVERRIDES = (
    "+task=toy",
    "run.workers=1",
    "run.max_rounds=7",
    "run.max_evaluations=null",
    "analyzer=auto",
    "seed=3",
    "run.llm_pause_s=0",  # the HTTP 500 fails its round instead of pausing it
)


def _nodes(run_dir: Path) -> list[tuple]:
    db = store.open_db(run_dir, migrate=False)
    return [tuple(row[k] for k in FIELDS) for row in db["nodes"].rows_where(order_by="id")]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A run recorded against the fake server: answers, a malformed reply, an HTTP 500,
    a non-answer and a program that raises, with the analyzer on the LLM too."""
    run_dir = tmp_path_factory.mktemp("replay") / "recorded"
    with FakeLLMServer(default=_scripted()) as server:
        server.enqueue(
            "<analysis>The seed.</analysis>",
            rewrite("def f():\n    return 1.75\n", "first"),
            Fault(kind="malformed"),
            "I would rather not write code today.",
            Fault(status=500),
        )
        run_loop(
            run_dir,
            *OVERRIDES,
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=scripted-model",
            "llm.max_retries=0",
        )
        assert server.pending == 0
    db = store.open_db(run_dir, migrate=False)
    errors = [r["error"] for r in db["llm_calls"].rows_where("error is not null")]
    assert any("malformed" in e for e in errors) and any("HTTP 500" in e for e in errors)
    return run_dir


def test_a_replay_reproduces_the_recorded_nodes_without_the_network(recorded, tmp_path, no_http):
    replay = tmp_path / "replay"
    summary = run_loop(replay, *OVERRIDES, "llm=replay", f"llm.source={recorded}")
    assert no_http == []
    assert summary["status"] == "finished"
    nodes = _nodes(replay)
    assert nodes == _nodes(recorded)
    by_class = {n[7] for n in nodes}
    assert {"proposal", "exception"} <= by_class  # failed proposals and evaluations replayed
    analyses = [n[8] for n in nodes]
    assert analyses[0] == "The seed." and "Analysis number 3." in analyses
    assert "analysis unavailable: LLM request failed: malformed" in analyses[1]
    feedback = (
        store.open_db(replay, migrate=False)
        .execute("select feedback from nodes where error_class = 'proposal' order by id")
        .fetchall()
    )
    assert "neither" in feedback[0][0] and "HTTP 500" in feedback[1][0]
    db = store.open_db(replay, migrate=False)
    calls = list(db["llm_calls"].rows_where(order_by="id"))
    recorded_db = store.open_db(recorded, migrate=False)
    recorded_calls = list(recorded_db["llm_calls"].rows_where(order_by="id"))
    assert [(c["node_id"], c["role"], c["response"], c["error"]) for c in calls] == [
        (c["node_id"], c["role"], c["response"], c["error"]) for c in recorded_calls
    ]
    assert {c["model"] for c in calls} == {"scripted-model"}
    assert sum(c["tokens_in"] for c in calls) == sum(c["tokens_in"] for c in recorded_calls)


def test_a_diverging_replay_fails_its_rounds_clearly_and_finishes(recorded, tmp_path, no_http):
    replay = tmp_path / "diverged"
    overrides = [o for o in OVERRIDES if o != "seed=3"]
    summary = run_loop(
        replay, *overrides, "seed=4", "sampler=random", "llm=replay", f"llm.source={recorded}"
    )
    assert no_http == []
    assert summary["status"] == "finished"
    db = store.open_db(replay, migrate=False)
    failed = list(db["nodes"].rows_where("error_class = 'proposal'", order_by="id"))
    # The first rounds still match the recording (and replay its failures); then not.
    diverged = [n for n in failed if n["feedback"].startswith("replay: ")]
    assert diverged and diverged[-1]["id"] == summary["nodes"] - 1
    for node in diverged:
        assert node["feedback"].startswith(
            "replay: no recorded answer for this researcher request; the run diverged from "
            f"the recording at node {node['id']}"
        )


def test_a_bad_source_is_a_clean_cli_error(tmp_path, cli):
    for source, expected in (
        (tmp_path / "missing", "is not a run directory"),
        (tmp_path, "holds no harness.db"),
    ):
        result = cli(
            "run",
            "+task=toy",
            "llm=replay",
            f"llm.source={source}",
            "run.max_evaluations=2",
            f"hydra.run.dir={tmp_path / 'out'}",
        )
        assert result.returncode in (1, 2), result.stderr
        assert expected in result.stderr
        assert "Traceback" not in result.stderr
    result = cli("run", "+task=toy", "llm=replay", f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode in (1, 2) and "llm.source" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_not_recorded_with_openai_is_refused(tmp_path, cli):
    offline = tmp_path / "offline"
    run_loop(offline, "+task=toy", "run.max_evaluations=2", "run.workers=1")
    result = cli(
        "run",
        "+task=toy",
        "llm=replay",
        f"llm.source={offline}",
        f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert result.returncode in (1, 2)
    assert "recorded with llm='offline'" in result.stderr and "Traceback" not in result.stderr


def test_per_role_settings_are_replayed_too(tmp_path):
    """A role's own settings shape its prompts (here a small analyzer budget): replay must
    build that role with them, or its requests would not match the recording."""
    roles = ("+llm.roles.analyzer.model=small-model", "+llm.roles.analyzer.prompt_budget_chars=900")
    recorded = tmp_path / "recorded"
    with FakeLLMServer(default=_scripted()) as server:
        run_loop(
            recorded,
            *OVERRIDES,
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=scripted-model",
            *roles,
        )
        analyzer_prompts = [
            json.dumps(r["messages"]) for r in server.requests if r["model"] == "small-model"
        ]
        sent = len(server.requests)
        replay = tmp_path / "replay"
        run_loop(replay, *OVERRIDES, "llm=replay", f"llm.source={recorded}")
        assert len(server.requests) == sent
    assert len(analyzer_prompts) > 3
    assert all("to fit the prompt budget" in prompt for prompt in analyzer_prompts[1:])
    assert _nodes(replay) == _nodes(recorded)
    db = store.open_db(replay, migrate=False)
    models = dict(db.execute("select role, model from llm_calls group by role").fetchall())
    assert models == {"analyzer": "small-model", "researcher": "scripted-model"}
