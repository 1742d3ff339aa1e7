"""Whole runs against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from helpers import openai_run, toy_answer

from harness import db as store
from harness.testing.llm_server import FakeLLMServer, Fault


def rewrite(body: str, name: str = "cand") -> str:
    program = f"# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"
    return f"<name>{name}</name><motivation>try it</motivation><code>{program}</code>"


ANALYSIS = "<analysis>It returned a bigger number.</analysis>"


_programs = itertools.count()


def _answer(request: dict) -> str:
    """Distinct programs (dedupe would skip repeats) that all score 5.0."""
    prompt = json.dumps(request["messages"])
    if "<analysis>" in prompt:
        return ANALYSIS
    return rewrite(f"def f():\n    return 5.0 + 0 * {next(_programs)}\n")


def test_run_with_llm_openai(tmp_path, cli):
    with FakeLLMServer(default=_answer) as server:
        run_dir = tmp_path / "run"
        result = cli(
            "run",
            "+task=toy",
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=scripted",
            "llm.max_retries=0",
            "run.max_evaluations=4",
            "run.workers=1",
            f"hydra.run.dir={run_dir}",
            env={"OPENAI_API_KEY": "sk-test-secret"},
        )
        assert result.returncode == 0, result.stderr
        assert server.requests, "the server was called"
    db = store.open_db(run_dir)
    children = list(db["nodes"].rows_where("id > 0", order_by="id"))
    assert children and all(n["score"] == 5.0 for n in children)
    assert all(n["analysis"] == "It returned a bigger number." for n in children)
    roles = {row["role"] for row in db["llm_calls"].rows}
    assert roles == {"researcher", "analyzer"}
    status = json.loads(cli("status", str(run_dir), "--json").stdout)
    assert status["llm_calls"] >= 2 * len(children) and status["tokens_in"] > 0


def test_the_rounds_in_flight_ask_the_endpoint_at_once(tmp_path):
    # One worker and run.buffer=3: four rounds in flight, so four proposals requested
    # together. The server holds the first four until all four have arrived (fewer at once
    # would break the barrier, and those proposals would fail).
    together = threading.Barrier(4, timeout=30)
    proposals = itertools.count()

    def held(request: dict) -> str:
        if "<analysis>" not in json.dumps(request["messages"]) and next(proposals) < 4:
            together.wait()
        return _answer(request)

    with FakeLLMServer(default=held) as server:
        openai_run(tmp_path, server, "run.buffer=3", "run.max_evaluations=9")
    assert server.most_in_flight == 4  # the rounds in flight, never more
    children = list(store.open_db(tmp_path)["nodes"].rows_where("id > 0"))
    assert len(children) == 8 and all(node["score"] == 5.0 for node in children), children


def test_one_client_keeps_one_connection_for_the_whole_run(tmp_path):
    # Proposals and analyses, one at a time: every request of the run goes over the one
    # kept-alive connection of the one HTTP client (a client per call would open more).
    with FakeLLMServer(default=_answer) as server:
        openai_run(tmp_path, server, "run.max_evaluations=6")
    assert len(server.requests) == 11  # the seed's analysis, five proposals and analyses
    assert server.connections == 1


@pytest.mark.isolation
def test_hostile_and_broken_answers_become_failed_nodes(tmp_path, cli, llm_server):
    secrets = (
        "def f():\n    import os\n"
        "    return float(sum(1 for k in os.environ if 'SECRET' in k or 'KEY' in k))\n"
    )
    hog = "def f():\n    x = bytearray(4 * 1024 ** 3)\n    return 1.0\n"
    loop = "def f():\n    while True:\n        pass\n"
    server = llm_server
    server.enqueue(
        rewrite(loop, "loop"),
        rewrite(hog, "hog"),
        rewrite(secrets, "env"),
        "I would rather not write code today.",
        Fault(status=500),
        "<name>diff</name><motivation>m</motivation>\n<<<<<<< SEARCH\nno such line\n"
        "=======\nx\n>>>>>>> REPLACE\n",
    )
    run_dir = tmp_path / "run"
    result = cli(
        "run",
        "+task=toy",
        "llm=openai",
        f"llm.base_url={server.base_url}",
        "llm.model=scripted",
        "llm.max_retries=0",
        "run.max_rounds=6",
        "run.workers=1",
        "run.llm_pause_s=0",  # an endpoint failure fails its round (no pausing)
        "run.max_evaluations=null",
        "task.timeout_s=2",
        "task.memory_mb=256",
        "analyzer=deterministic",
        f"hydra.run.dir={run_dir}",
        env={"OPENAI_API_KEY": "sk-test-secret", "MY_SECRET": "hunter2"},
    )
    assert result.returncode == 0, result.stderr
    db = store.open_db(run_dir)
    nodes = {n["name"]: n for n in db["nodes"].rows_where("id > 0")}
    assert nodes["loop"]["error_class"] == "timeout" and "timed out" in nodes["loop"]["feedback"]
    assert nodes["hog"]["error_class"] == "memory"
    assert nodes["env"]["status"] == "evaluated" and nodes["env"]["score"] == 0.0
    failed_proposals = [n for n in db["nodes"].rows_where("error_class = 'proposal'")]
    assert len(failed_proposals) == 3
    feedback = " ".join(n["feedback"] for n in failed_proposals)
    assert "neither" in feedback and "500" in feedback and "SEARCH" in feedback
    assert store.summary(db)["status"] == "finished"


def test_fenced_program_answers_from_open_models_are_evaluated(tmp_path):
    # What llama.cpp/vLLM/Ollama models answer most often: no tags, one ```python fence.
    numbers = itertools.count()

    def fenced(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return ANALYSIS
        program = f"# EVOLVE-BLOCK-START\ndef f():\n    return 6.0 + 0 * {next(numbers)}\n"
        return f"Sure! Here it is:\n\n```python\n{program}# EVOLVE-BLOCK-END\n\n```\n"

    with FakeLLMServer(default=fenced) as server:
        summary = openai_run(tmp_path, server, "llm.max_retries=0", "run.max_evaluations=3")
    children = list(store.open_db(tmp_path)["nodes"].rows_where("id > 0"))
    assert len(children) == 2, summary
    assert all(node["success"] and node["score"] == 6.0 for node in children), children


def test_an_html_page_from_the_endpoint_is_named_in_the_feedback(tmp_path):
    # A base URL that reaches a proxy's login page (HTTP 200, text/html) is a config
    # error: the feedback says so instead of "no choices".
    with FakeLLMServer(html=True) as server:
        openai_run(tmp_path, server, "llm.max_retries=0", "run.max_rounds=2")
    failed = list(store.open_db(tmp_path)["nodes"].rows_where("error_class = 'proposal'"))
    assert failed
    for node in failed:
        assert "returned HTML (status 200, content-type text/html)" in node["feedback"]
        assert "llm.base_url" in node["feedback"] and "no choices" not in node["feedback"]


def test_lone_surrogates_in_answers_and_errors_do_not_crash_the_run(tmp_path):
    # JSON may carry "\ud800", which no UTF-8 store or file accepts: such text becomes
    # U+FFFD wherever it comes from (answer, analysis, an endpoint's error message).
    numbers = itertools.count()

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>bad \ud800 text</analysis>"
        body = f"def f():\n    # caf\udce9 \ud800\n    return 7.0 + 0 * {next(numbers)}\n"
        return toy_answer(body, name="odd\ud800name")

    with FakeLLMServer(default=answer) as server:
        server.enqueue(Fault(status=400, message="refused \udcff"))  # the seed's analysis
        summary = openai_run(tmp_path, server, "llm.max_retries=0", "run.max_evaluations=3")
    assert summary["status"] == "finished", summary
    seed, *nodes = store.open_db(tmp_path)["nodes"].rows_where(order_by="id")
    assert "refused \ufffd" in seed["analysis"]
    assert all(node["analysis"].startswith("bad \ufffd text") for node in nodes)
    evaluated = [node for node in nodes if node["success"]]
    assert evaluated and all(node["score"] == 7.0 for node in evaluated)
    assert all(node["name"] == "odd\ufffdname" for node in evaluated)
    assert all("# caf\ufffd \ufffd" in node["program"] for node in evaluated)
