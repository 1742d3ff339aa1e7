"""An endpoint that misbehaves: one retry policy (ours, not stacked with the SDK's) with
backoff that honours Retry-After within a bound per call, and a run that pauses while
the endpoint is down instead of burning its rounds."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from importlib.resources import files

import helpers
import pytest
from helpers import distinct_toy_answers, run_loop

from harness import db as store
from harness.llm.base import NodeView, ProposalRequest
from harness.llm.openai_proposer import create
from harness.task import TaskSpec
from harness.testing.llm_server import FakeLLMServer, Fault

GOOD = "<name>c</name><motivation>m</motivation><code>def f():\n    return 3.0\n</code>"


def propose(server, **settings):
    config = {"model": "m", "base_url": server.base_url, "edit_mode": "full", **settings}
    proposer = create(config)
    request = ProposalRequest(
        TaskSpec("t", "d", "f"), NodeView(0, "seed", "def f():\n    return 1.0\n"), [], [], 1, 0
    )

    async def go():
        try:
            return await proposer.propose(request)
        finally:
            await proposer.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),
        Fault(status=429),
        Fault(kind="disconnect"),
        Fault(kind="timeout", delay=2.0),
    ],
    ids=["500", "429", "disconnect", "timeout"],
)
def test_endpoint_failures_are_retried_once_each(fault):
    with FakeLLMServer() as server:
        server.enqueue(fault, GOOD)
        result = propose(server, max_retries=2, backoff_s=0.01, timeout_s=0.5)
        assert result.program is not None and result.error is None
        assert len(server.requests) == 2, "one retry: neither more nor stacked with the SDK's"
    assert result.llm_calls[0].attempts == 2 and not result.llm_calls[0].retryable


def test_retry_after_is_honoured():
    with FakeLLMServer() as server:
        server.enqueue(Fault(status=429, retry_after=0.6), GOOD)
        started = time.monotonic()
        result = propose(server, max_retries=1, backoff_s=0.01)
    assert result.program is not None and time.monotonic() - started >= 0.6


def test_persistent_failures_stop_after_max_retries_with_a_clear_reason():
    with FakeLLMServer() as server:
        server.enqueue(*[Fault(status=503)] * 5)
        result = propose(server, max_retries=2, backoff_s=0.01)
        assert len(server.requests) == 3
    assert "HTTP 503 after 3 attempt(s)" in result.error
    assert result.llm_calls[0].retryable and result.endpoint_down


def test_a_retry_that_would_pass_max_call_s_is_not_made():
    with FakeLLMServer() as server:
        server.enqueue(Fault(status=429, retry_after=30), GOOD)
        started = time.monotonic()
        result = propose(server, max_retries=3, max_call_s=2)
        assert len(server.requests) == 1 and time.monotonic() - started < 5
    assert "llm.max_call_s=2" in result.error


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(status=400), "HTTP 400"),
        (Fault(kind="malformed"), "malformed response"),
        (Fault(kind="length", content="<name>c</name><code>def f():\n"), "cut off"),
    ],
    ids=["400", "malformed", "truncated"],
)
def test_answers_that_retrying_cannot_fix_fail_at_once(fault, message):
    with FakeLLMServer() as server:
        server.enqueue(fault, GOOD)
        result = propose(server, max_retries=2, backoff_s=0.01)
        assert len(server.requests) == 1
    assert result.program is None and message in result.error and not result.endpoint_down


def _answers():
    return distinct_toy_answers()


def openai_run(run_dir, server, *overrides):
    return helpers.openai_run(
        run_dir,
        server,
        "llm.max_retries=1",
        "llm.backoff_s=0.01",
        "analyzer=deterministic",
        "run.llm_pause_s=0.05",
        *overrides,
    )


def test_the_run_pauses_while_the_endpoint_is_down_and_loses_no_round(tmp_path, caplog):
    with FakeLLMServer(default=_answers()) as server:
        server.enqueue(*[Fault(status=502)] * 7)
        summary = openai_run(tmp_path, server, "run.max_evaluations=4")
    assert summary["status"] == "finished" and summary["failed"] == 0
    rows = list(store.open_db(tmp_path)["nodes"].rows_where("id > 0"))
    assert len(rows) == 3 and all(r["status"] == "evaluated" for r in rows)
    # 7 failures at 2 attempts per call: 3 failed calls (each a pause), then a retry wins
    failed_calls = list(store.open_db(tmp_path)["llm_calls"].rows_where("error is not null"))
    assert len(failed_calls) == 3
    assert all(c["retryable"] and c["attempts"] == 2 for c in failed_calls)
    assert "the LLM endpoint is unavailable" in caplog.text


def test_a_long_outage_stops_the_run_cleanly(tmp_path):
    with FakeLLMServer(default=_answers()) as server:
        server.enqueue(*[Fault(status=500)] * 500)
        summary = openai_run(tmp_path, server, "run.max_evaluations=50", "run.max_llm_outage_s=0.5")
        requests = len(server.requests)
    assert "run.max_llm_outage_s" in summary["stop_reason"]
    assert summary["nodes"] == 2, "the paused round failed at the limit and no other started"
    assert requests < 40


def test_a_circle_packing_run_survives_every_fault(tmp_path):
    seed = (files("harness_circle_packing") / "seeds" / "naive.py").read_text()
    variants = itertools.count()

    def answer(request):
        program = seed.replace(
            "# EVOLVE-BLOCK-START\n", f"# EVOLVE-BLOCK-START\n_VARIANT = {next(variants)}\n"
        )
        return f"<name>v</name><motivation>m</motivation><code>{program}</code>"

    with FakeLLMServer(default=answer) as server:
        server.enqueue(
            Fault(status=429, retry_after=0.2),
            answer({}),
            Fault(status=500),
            answer({}),
            Fault(kind="disconnect"),
            answer({}),
            Fault(kind="timeout", delay=3.0),
            answer({}),
            Fault(kind="malformed"),
            Fault(kind="length", content="<name>v</name><code>import numpy"),
        )
        summary = run_loop(
            tmp_path,
            "+task=circle_packing",
            "llm=openai",
            f"llm.base_url={server.base_url}",
            "llm.model=m",
            "llm.edit_mode=full",
            "llm.max_retries=2",
            "llm.backoff_s=0.01",
            "llm.timeout_s=1",
            "analyzer=deterministic",
            "run.workers=1",
            "run.max_evaluations=6",
        )
        requests = len(server.requests)
    rows = list(store.open_db(tmp_path)["nodes"].rows_where(order_by="id"))
    statuses = [(r["status"], r["error_class"]) for r in rows[1:]]
    assert statuses == [("evaluated", None)] * 4 + [("failed", "proposal")] * 2 + [
        ("evaluated", None)
    ]
    assert "malformed" in rows[5]["feedback"] and "cut off" in rows[6]["feedback"]
    assert summary["evaluated"] == 6 and summary["status"] == "finished"
    assert requests == 11, "every fault cost exactly one extra request"
    calls = json.loads(json.dumps(list(store.open_db(tmp_path)["llm_calls"].rows)))
    assert [c["attempts"] for c in calls] == [2, 2, 2, 2, 1, 1, 1]


def test_provider_settings_shape_the_request_body():
    """Reasoning models want max_completion_tokens and refuse temperature; vLLM takes
    chat_template_kwargs through extra_body; all of it is config, not code."""
    with FakeLLMServer() as server:
        server.enqueue(GOOD, GOOD)
        propose(server)
        propose(
            server,
            max_tokens_param="max_completion_tokens",
            omit_params=["temperature", "top_p"],
            top_p=0.95,
            reasoning_effort="high",
            seed=42,
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
        )
        plain, reasoning = server.requests
    assert plain["temperature"] == 0.7 and plain["max_tokens"] == 4096
    assert not {"max_completion_tokens", "reasoning_effort", "seed", "top_p"} & set(plain)
    assert reasoning["max_completion_tokens"] == 4096 and "max_tokens" not in reasoning
    assert "temperature" not in reasoning and "top_p" not in reasoning
    assert (reasoning["reasoning_effort"], reasoning["seed"]) == ("high", 42)
    assert reasoning["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_misspelled_token_parameter_is_refused():
    with pytest.raises(ValueError, match="max_tokens_param"):
        create({"model": "m", "max_tokens_param": "max_output_tokens"})


def test_each_role_can_have_its_own_endpoint_and_model(tmp_path):
    with (
        FakeLLMServer(default=distinct_toy_answers()) as researcher,
        FakeLLMServer(default="<analysis>cheap analysis</analysis>") as analyzer,
    ):
        helpers.openai_run(
            tmp_path,
            researcher,
            "run.max_evaluations=3",
            f"+llm.roles.analyzer.base_url={analyzer.base_url}",
            "+llm.roles.analyzer.model=small",
            "+llm.roles.analyzer.usd_per_mtok_out=1.0",
        )
        assert {r["model"] for r in researcher.requests} == {"m"}
        assert {r["model"] for r in analyzer.requests} == {"small"}
        assert not any("<analysis>" in json.dumps(r["messages"]) for r in researcher.requests)
    calls = {
        (c["role"], c["model"], c["cost_usd"] is not None)
        for c in store.open_db(tmp_path)["llm_calls"].rows
    }
    assert calls == {("researcher", "m", False), ("analyzer", "small", True)}
    analyses = [r["analysis"] for r in store.open_db(tmp_path)["nodes"].rows]
    assert analyses == ["cheap analysis"] * 3


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="unknown role"):
        create({"model": "m", "roles": {"critic": {"model": "x"}}})
    with pytest.raises(ValueError, match="llm.roles.analyzer"):
        create({"model": "m", "roles": {"analyzer": {"temprature": 0.1}}})
