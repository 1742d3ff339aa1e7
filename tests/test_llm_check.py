"""``harness llm check`` through the real CLI against the scripted loopback server."""

from __future__ import annotations

import json
import socket
import time

from harness.testing.llm_server import FakeLLMServer, Fault

KEY_ENV = "HARNESS_CHECK_TEST_KEY"
DELAY_S = 0.5


def check(cli, server_url: str, *extra: str, key: str | None = None):
    args = [
        "llm",
        "check",
        "llm=openai",
        f"llm.base_url={server_url}",
        f"llm.api_key_env={KEY_ENV}",
        *extra,
    ]
    return cli(*args, timeout=60, env={KEY_ENV: key or ""})


def assert_clean(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_success_lists_models_and_answers(cli):
    secret = "sk-test-secret-4711"
    with FakeLLMServer(default="ok", models=["other", "Qwen3-32B"], api_key=secret) as fake:
        result = check(
            cli,
            fake.base_url,
            "llm.model=Qwen3-32B",
            "llm.temperature=0.2",
            "llm.max_tokens=64",
            "+llm.extra_body.top_k=5",
            key=secret,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert "2 listed, 'Qwen3-32B' among them" in out
        assert "finish_reason=stop" in out and " s, " in out
        assert "tokens" in out and " in / " in out
        assert "answer    'ok'" in out
        assert "result    ok" in out
        assert secret not in out + result.stderr
        body = fake.requests[-1]
        assert body["model"] == "Qwen3-32B"
        assert body["temperature"] == 0.2 and body["max_tokens"] == 64 and body["top_k"] == 5
        assert len(fake.requests) == 1  # one attempt, one request

        # The answer is held back for DELAY_S, so the reported latency has a known floor.
        fake.enqueue(Fault(kind="timeout", delay=DELAY_S, content="ok"))
        started = time.monotonic()
        result = check(cli, fake.base_url, "llm.model=Qwen3-32B", "--json", key=secret)
        wall_s = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["llm"] == "openai"
    assert payload["base_url"] == fake.base_url and payload["model"] == "Qwen3-32B"
    assert payload["api_key_env"] == KEY_ENV and payload["api_key_set"] is True
    models, chat = payload["steps"]["models"], payload["steps"]["chat"]
    assert models["ok"] and models["status"] == "ok" and models["error"] is None
    assert models["details"] == {"count": 2, "listed": True, "models": ["other", "Qwen3-32B"]}
    assert chat["ok"] and chat["status"] == "ok"
    details = chat["details"]
    # From the request to the answer: at least the server's delay, and within the wall time
    # of the whole CLI process (which a wrong clock, unit or starting point would pass).
    assert isinstance(details["latency_s"], float)
    assert DELAY_S <= details["latency_s"] <= wall_s, (details["latency_s"], wall_s)
    assert details["finish_reason"] == "stop" and details["answer"] == "ok"
    assert details["tokens_in"] >= 1 and details["tokens_out"] >= 1
    assert secret not in result.stdout


def test_unknown_model_gets_did_you_mean(cli):
    with FakeLLMServer(default="ok", models=["Qwen3-32B", "llama-3.1-8b"]) as fake:
        result = check(cli, fake.base_url, "llm.model=Qwen3-23B")
    assert result.returncode == 1
    assert "model 'Qwen3-23B' is not listed" in result.stdout
    assert "Did you mean 'Qwen3-32B'?" in result.stdout
    assert "result    FAILED" in result.stdout
    assert_clean(result)


def test_server_error_is_one_clear_line(cli):
    with FakeLLMServer(default="ok") as fake:
        fake.enqueue(Fault(status=500, message="model overloaded"))
        result = check(cli, fake.base_url, "llm.model=fake-model")
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("chat")]
    assert len(lines) == 1 and "HTTP 500" in lines[0] and "model overloaded" in lines[0]
    assert_clean(result)


def test_bad_key_hints_at_api_key_env_and_hides_the_key(cli):
    wrong = "sk-wrong-key-0815"
    with FakeLLMServer(default="ok", api_key="sk-right") as fake:
        result = check(cli, fake.base_url, "llm.model=fake-model", key=wrong)
        assert fake.requests == []
    assert result.returncode == 1
    assert "HTTP 401" in result.stdout
    assert f"llm.api_key_env={KEY_ENV}, currently set" in result.stdout
    assert "skipped" in result.stdout
    assert wrong not in result.stdout + result.stderr
    assert_clean(result)


def test_unreachable_port(cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    result = check(cli, url, "llm.model=m", "--json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    error = payload["steps"]["models"]["error"]
    assert error.startswith(f"cannot connect to {url}") and "connection refused" in error
    assert payload["steps"]["chat"]["status"] == "skipped"
    assert_clean(result)


def test_server_without_models_endpoint_goes_on(cli):
    with FakeLLMServer(default="ok", models_endpoint=False) as fake:
        result = check(cli, fake.base_url, "llm.model=fake-model")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "does not implement /models" in result.stdout
    assert "answer    'ok'" in result.stdout


def test_timeout_names_timeout_s(cli):
    with FakeLLMServer(default="ok") as fake:
        fake.enqueue(Fault(kind="timeout", delay=5))
        result = check(cli, fake.base_url, "llm.model=fake-model", "llm.timeout_s=0.5")
    assert result.returncode == 1
    assert "timed out after llm.timeout_s=0.5 s" in result.stdout
    assert_clean(result)


def test_malformed_and_empty_answers_fail(cli):
    with FakeLLMServer(default="ok") as fake:
        fake.enqueue(Fault(kind="malformed"), Fault(kind="length", content=""))
        malformed = check(cli, fake.base_url, "llm.model=fake-model")
        cut_off = check(cli, fake.base_url, "llm.model=fake-model", "llm.max_tokens=8")
    assert malformed.returncode == 1 and "malformed response" in malformed.stdout
    assert cut_off.returncode == 1
    assert "empty answer (finish_reason=length)" in cut_off.stdout
    assert "llm.max_tokens=8" in cut_off.stdout
    assert_clean(malformed)
    assert_clean(cut_off)


def test_an_html_page_is_named_as_such(cli):
    # A base URL without /v1 often reaches a web UI or a proxy's login page (HTTP 200).
    with FakeLLMServer(html=True) as fake:
        everywhere = check(cli, fake.base_url, "llm.model=fake-model")
    with FakeLLMServer(default="ok") as fake:
        fake.enqueue(Fault(kind="html"))
        chat_only = check(cli, fake.base_url, "llm.model=fake-model")
    for result in (everywhere, chat_only):
        assert result.returncode == 1
        assert "returned HTML (status 200, content-type text/html)" in result.stdout
        assert "check llm.base_url" in result.stdout and "/v1" in result.stdout
        assert "no choices" not in result.stdout and "AttributeError" not in result.stdout
        assert_clean(result)
    assert "models    FAIL" in everywhere.stdout


def test_offline_needs_no_endpoint(cli):
    result = cli("llm", "check", "llm=offline")
    assert result.returncode == 0 and "needs no endpoint" in result.stdout
    result = cli("llm", "check", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["llm"] == "offline"


def test_bad_overrides_are_usage_errors(cli):
    for args in (["llm=opnai"], ["llm=openai", "llm.modle=x"], ["llm=openai"]):
        result = cli("llm", "check", *args)
        assert result.returncode == 2, args
        assert "Usage:" in result.stderr and "Traceback" not in result.stderr
    assert "Did you mean 'openai'?" in cli("llm", "check", "llm=opnai").stderr


def test_llm_help_lists_check(cli):
    result = cli("llm", "--help")
    assert result.returncode == 0 and "check" in result.stdout
