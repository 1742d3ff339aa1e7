"""The ``openai`` back-end against a scripted loopback server (no network, no model)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from helpers import PARENT_PROGRAM, TASK, parent, proposal_request

from harness.llm import http
from harness.llm.answers import parse_analyzer_answer
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    Proposal,
    ProposalRequest,
)
from harness.llm.ensemble import EnsembleProposer
from harness.llm.openai_proposer import OpenAIProposer, create
from harness.llm.prompts import analyzer_prompt, researcher_prompt
from harness.testing.llm_server import FakeLLMServer, Fault

DIFF_ANSWER = """\
<name>closed-form</name>
<motivation>Gauss's formula removes the loop.</motivation>
<<<<<<< SEARCH
    total = 0
    for i in range(n):
        total += i
    return total
=======
    return n * (n - 1) // 2
>>>>>>> REPLACE
"""


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def make(server: FakeLLMServer, **config: Any) -> OpenAIProposer:
    settings = {"base_url": server.base_url, "model": "test-model", "max_retries": 0}
    settings["timeout_s"] = 5
    return create({**settings, **config})


def propose(proposer: OpenAIProposer, request: ProposalRequest | None = None) -> Proposal:
    async def run() -> Proposal:
        try:
            return await proposer.propose(request or proposal_request())
        finally:
            await proposer.aclose()

    return asyncio.run(run())


def analyze(proposer: OpenAIProposer, request: AnalysisRequest) -> Analysis:
    async def run() -> Analysis:
        try:
            return await proposer.analyze(request)
        finally:
            await proposer.aclose()

    return asyncio.run(run())


def test_valid_diff_gives_edited_program(server):
    server.enqueue(DIFF_ANSWER)
    result = propose(make(server))
    assert result.error is None
    assert result.program == "def solve(n):\n    return n * (n - 1) // 2\n"
    assert (result.name, result.edit) == ("closed-form", "diff")
    assert result.motivation == "Gauss's formula removes the loop."
    (call,) = result.llm_calls
    assert (call.role, call.model, call.error) == ("researcher", "test-model", None)
    assert call.response == DIFF_ANSWER
    assert call.tokens_in > 0 and call.tokens_out > 0 and call.latency_s > 0
    assert json.loads(call.request)[1]["role"] == "user"


def test_full_rewrite(server):
    server.enqueue(
        "<name>fast</name>\n<code>\n```python\ndef solve(n):\n    return 0\n```\n</code>"
    )
    result = propose(make(server, edit_mode="full"))
    assert (result.program, result.edit) == ("def solve(n):\n    return 0", "full")
    assert "<code>" in server.requests[0]["messages"][0]["content"]


def test_malformed_answer_fails_cleanly_with_fallback_name(server):
    server.enqueue("I think we should use a formula.")
    result = propose(make(server))
    assert result.program is None
    assert "neither a <code> block nor SEARCH/REPLACE blocks" in result.error
    assert (result.name, result.motivation) == ("node-7", "")
    assert result.llm_calls[0].response == "I think we should use a formula."


def test_http_500_is_retried_then_reported(server):
    server.enqueue(*[Fault(status=500, retry_after=0.01)] * 2)
    result = propose(make(server, max_retries=1))
    assert result.program is None
    assert "HTTP 500" in result.error and "2 attempt(s)" in result.error
    assert len(server.requests) == 2
    assert result.llm_calls[0].error == result.error


def test_rate_limit_then_success(server):
    server.enqueue(Fault(status=429, retry_after=0.01), DIFF_ANSWER)
    result = propose(make(server, max_retries=1))
    assert result.error is None and result.program is not None
    assert len(server.requests) == 2


def test_unmatched_search_reports_block_and_hint(server):
    server.enqueue(DIFF_ANSWER.replace("    total = 0", "    total = 1"))
    result = propose(make(server))
    assert result.program is None
    assert "diff block 1 of 1 did not apply" in result.error
    assert "most similar program line 2: '    total = 0'" in result.error
    assert result.name == "closed-form"


def test_analyze_returns_analysis_text(server):
    server.enqueue("<think>hmm</think>Sure.\n<analysis>\nFaster: 0.42 -> 0.9.\n</analysis>")
    node = parent(id=7, score=0.9, program="def solve(n):\n    return n * (n - 1) // 2\n")
    request = AnalysisRequest(task=TASK, node=node, reference=parent())
    result = analyze(make(server), request)
    assert result.text == "Faster: 0.42 -> 0.9."
    assert result.llm_calls[0].role == "analyzer"
    prompt = server.requests[0]["messages"][1]["content"]
    assert "0.4217" in prompt and "0.9" in prompt and "-    total = 0" in prompt


def test_analyze_failure_is_reported_not_raised(server):
    server.enqueue(Fault(status=503))
    result = analyze(make(server), AnalysisRequest(task=TASK, node=parent(), reference=None))
    assert result.text.startswith("analysis unavailable: LLM request failed: HTTP 503")
    assert result.llm_calls[0].error is not None


def test_prompt_shows_scores_and_cognition(server):
    server.enqueue(DIFF_ANSWER)
    propose(make(server))
    system, user = (m["content"] for m in server.requests[0]["messages"])
    assert "0.4217" in user and "0.3 " in user
    assert "Use the closed form n*(n-1)//2. (source: gauss-note)" in user
    assert PARENT_PROGRAM in user
    assert "<<<<<<< SEARCH" in system and "EVOLVE-BLOCK-START" in system


def test_request_carries_key_and_settings(server, monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-test-123")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")  # the SDK's headers go out too
    server.enqueue(DIFF_ANSWER)
    propose(make(server, api_key_env="MY_TEST_KEY", temperature=0.3, max_tokens=777))
    assert server.headers[0]["authorization"] == "Bearer sk-test-123"
    assert server.headers[0]["openai-organization"] == "org-test"
    assert "openai-project" not in server.headers[0], "an omitted header is not sent"
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("test-model", 0.3, 777)


def test_missing_key_sends_placeholder_and_extra_body_passes_through(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.enqueue(DIFF_ANSWER)
    propose(make(server, extra_body={"top_k": 20}, temperature=None))
    assert server.headers[0]["authorization"] == "Bearer EMPTY"
    assert server.requests[0]["top_k"] == 20 and "temperature" not in server.requests[0]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(kind="malformed"), "malformed response"),
        (Fault(kind="timeout", delay=3), "timed out after 0.3 s"),
        (Fault(kind="disconnect"), "cannot connect to http://127.0.0.1"),
    ],
)
def test_transport_faults_give_clear_errors(server, fault, expected):
    server.enqueue(fault)
    result = propose(make(server, timeout_s=0.3))
    assert result.program is None
    assert expected in result.error
    assert result.llm_calls[0].error == result.error


def test_html_answer_is_reported_as_html_not_as_no_choices(server):
    server.enqueue(Fault(kind="html"))
    result = propose(make(server))
    assert result.program is None
    assert "returned HTML (status 200, content-type text/html)" in result.error
    assert "not an OpenAI-compatible JSON answer" in result.error
    assert "llm.base_url" in result.error and "/v1" in result.error
    assert "'Sign in'" in result.error  # the page's title says what answered
    assert result.llm_calls[0].retryable is False


def test_lone_surrogates_in_an_answer_become_replacement_characters(server):
    # JSON may escape a lone surrogate ("\ud800"); SQLite and files refuse it.
    server.enqueue(
        "<name>odd\ud800</name><code>\ndef solve(n):  # caf\udce9\n    return 0\n</code>"
    )
    result = propose(make(server, edit_mode="full"))
    assert result.error is None, result.error
    assert result.name == "odd\ufffd" and "# caf\ufffd" in result.program
    assert "\ufffd" in result.llm_calls[0].response
    result.llm_calls[0].response.encode("utf-8")


def test_empty_content_is_an_error(server):
    server.enqueue("   ")
    result = propose(make(server))
    assert result.program is None and "empty answer" in result.error


def test_truncated_answer_is_flagged(server):
    server.enqueue(
        Fault(kind="length", content="<name>x</name><code>\ndef solve(n):\n    return (")
    )
    result = propose(make(server, edit_mode="full", max_tokens=50))
    assert "syntax error" in result.error
    assert "cut off at max_tokens=50" in result.error


def test_config_validation(monkeypatch):
    with pytest.raises(ValueError, match="needs a model name"):
        create({})
    with pytest.raises(ValueError, match=r"unknown openai proposer option\(s\) \['temprature'\]"):
        create({"model": "m", "temprature": 0.1})
    with pytest.raises(ValueError, match="edit_mode"):
        create({"model": "m", "edit_mode": "patch"})
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    proposer = create({"model": "m", "name": "openai"})
    assert (proposer.name, proposer.model, proposer.edit_mode) == ("openai", "m", "diff")
    assert (proposer.temperature, proposer.max_tokens, proposer.max_retries) == (0.7, 4096, 2)
    asyncio.run(proposer.aclose())


def test_prompt_budget_trims_references_first_never_the_parent():
    big_reference = parent(id=1, name="huge", program="x = 1\n" * 5000, analysis="a" * 5000)
    request = proposal_request(references=[big_reference])
    roomy = researcher_prompt(request, "diff", 200_000)
    assert "x = 1\n" * 5000 in roomy[1]["content"]
    messages = researcher_prompt(request, "diff", 6000)
    total = sum(len(m["content"]) for m in messages)
    assert total <= 6000
    user = messages[1]["content"]
    assert PARENT_PROGRAM in user and "0.4217" in user
    assert "cut to fit the prompt budget" in user or "omitted to fit" in user
    assert "x = 1\n" * 100 not in user
    tiny = researcher_prompt(request, "diff", 10)
    assert PARENT_PROGRAM in tiny[1]["content"]


def test_analyzer_prompt_keeps_feedback_tail():
    node = parent(feedback="noise\n" * 3000 + "ZeroDivisionError: division by zero")
    messages = analyzer_prompt(AnalysisRequest(task=TASK, node=node, reference=None), 5000)
    assert sum(len(m["content"]) for m in messages) <= 5000
    assert "ZeroDivisionError: division by zero" in messages[1]["content"]
    assert "<analysis>" in messages[0]["content"]


def test_parse_analysis_without_tag():
    assert parse_analyzer_answer("  plain words  ").analysis == "plain words"
    assert parse_analyzer_answer("<analysis>open ended").analysis == "open ended"


def test_fake_server_models_and_default_callable():
    with FakeLLMServer(default=lambda body: f"echo {body['model']}") as fake:

        async def run() -> tuple[str | None, list[str]]:
            import openai

            client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
            try:
                reply = await client.chat.completions.create(
                    model="m1", messages=[{"role": "user", "content": "hi"}]
                )
                models = [m.id async for m in client.models.list()]
                return reply.choices[0].message.content, models
            finally:
                await client.close()

        assert asyncio.run(run()) == ("echo m1", ["fake-model"])
        assert fake.pending == 0 and len(fake.requests) == 1


def test_concurrent_proposals_share_one_endpoint_and_its_connections(monkeypatch):
    """Six concurrent proposals go through the one chat endpoint the proposer built (every
    endpoint constructed is counted, and so are the requests each one sends), and a second
    batch reuses the first batch's kept-alive connections instead of opening new ones."""
    built: list[http.Endpoint] = []
    sent: dict[int, int] = {}

    class CountingEndpoint(http.Endpoint):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

        async def post(self, *args: Any, **kwargs: Any) -> http.Answer:
            sent[id(self)] = sent.get(id(self), 0) + 1
            return await super().post(*args, **kwargs)

    monkeypatch.setattr(http, "Endpoint", CountingEndpoint)
    with FakeLLMServer(default=DIFF_ANSWER) as fake:
        proposer = make(fake)

        async def run() -> list[Proposal]:
            try:
                batch = [proposal_request(node_id=i) for i in range(6)]
                first = await asyncio.gather(*(proposer.propose(r) for r in batch))
                second = await asyncio.gather(*(proposer.propose(r) for r in batch))
                return [*first, *second]
            finally:
                await proposer.aclose()

        results = asyncio.run(run())
        assert all(r.program and r.error is None for r in results)
        assert len(fake.requests) == 12
        # At most six at once, so six connections kept alive serve all twelve (a connection
        # per request would be twelve).
        assert 1 <= fake.connections <= 6
    assert built == [proposer.endpoint], f"{len(built)} endpoints built, not one"
    assert sent == {id(proposer.endpoint): 12}


def test_roles_and_ensemble_members_on_one_endpoint_share_its_client(monkeypatch):
    """A role or ensemble member with its own model uses the endpoint's one client (one
    pool of kept-alive connections); another timeout needs a client of its own."""
    built: list[openai.AsyncOpenAI] = []

    class CountingClient(openai.AsyncOpenAI):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(openai, "AsyncOpenAI", CountingClient)
    with FakeLLMServer(default=DIFF_ANSWER) as fake:
        roles = {"analyzer": {"model": "cheap"}, "repair": {"timeout_s": 9}}
        proposer = make(fake, roles=roles, ensemble=[{"model": "a"}, {"model": "b"}])
    ensemble = proposer.by_role["researcher"]
    assert isinstance(ensemble, EnsembleProposer)
    shared = [proposer.by_role["analyzer"], *(member.proposer for member in ensemble.members)]
    assert all(other.client is proposer.client for other in shared)
    assert all(other.endpoint is proposer.endpoint for other in shared)
    assert proposer.by_role["repair"].client is not proposer.client
    assert proposer.by_role["repair"].endpoint is not proposer.endpoint
    assert built == [proposer.client, proposer.by_role["repair"].client]
    asyncio.run(proposer.aclose())
