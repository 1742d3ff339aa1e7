"""``harness llm check``: probe an OpenAI-compatible endpoint before a run depends on it.

Two steps, one attempt each (no retries, so a dead endpoint is reported at once):

1. ``models``: ``GET /models``; how many the server lists and whether ``llm.model`` is one
   of them (else a "did you mean"). A server without the endpoint is reported and skipped.
2. ``chat``: one tiny chat completion sent with the settings a run would use
   (``temperature``, ``max_tokens``, ``extra_body``, ``timeout_s``): latency,
   ``finish_reason``, tokens in/out and the start of the answer.

The client and its settings come from :func:`harness.llm.openai_proposer.create`, so the
check sees the endpoint exactly as the proposer would. Every failure is one line; the API
key is never printed (it is masked should the server echo it).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import openai

from harness.llm.openai_proposer import not_json_reason
from harness.plugins import did_you_mean

PROMPT = "Reply with the word ok."
ANSWER_CHARS = 200
# Statuses meaning "this server has no /models", not "this server is broken".
_NO_MODELS_ENDPOINT = frozenset({404, 405, 501})


@dataclass
class Step:
    """The outcome of one step: ``status`` is ``ok``, ``fail``, ``skipped`` or
    ``unsupported`` (the server lacks the endpoint; not a failure)."""

    status: str = "ok"
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class CheckReport:
    llm: str
    base_url: str
    model: str
    api_key_env: str
    api_key_set: bool
    models: Step
    chat: Step

    @property
    def ok(self) -> bool:
        return self.models.ok and self.chat.ok

    def to_json(self) -> dict[str, Any]:
        steps = {}
        for name in ("models", "chat"):
            step = getattr(self, name)
            steps[name] = {"ok": step.ok, **asdict(step)}
        return {
            "ok": self.ok,
            "llm": self.llm,
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "api_key_set": self.api_key_set,
            "steps": steps,
        }


class _Failure(Exception):
    """A described failure; ``fatal`` ones (unreachable, bad key) skip later steps."""

    def __init__(self, message: str, fatal: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.status = status


def check(config: Mapping[str, Any]) -> CheckReport:
    """Run both steps against the OpenAI-compatible endpoint of an llm config section.

    Raises ``ValueError`` when the section itself is invalid (as ``create`` does).
    """
    from harness.llm.openai_proposer import create

    proposer = create(config)
    return asyncio.run(_check(proposer, config))


async def _check(proposer: Any, config: Mapping[str, Any]) -> CheckReport:
    # The proposer's own client (base URL, key, timeout); one attempt per step.
    base_client = proposer.client
    client = base_client.with_options(max_retries=0)
    key_env = str(config.get("api_key_env") or "")
    secret = base_client.api_key if base_client.api_key != "EMPTY" else None
    context = _Context(
        base_url=str(client.base_url).rstrip("/"),
        key_env=key_env,
        key_set=bool(key_env and os.environ.get(key_env)),
        timeout_s=proposer.timeout_s,
        secret=secret,
    )
    report = CheckReport(
        llm=str(config.get("name")),
        base_url=context.base_url,
        model=proposer.model,
        api_key_env=key_env,
        api_key_set=context.key_set,
        models=Step(),
        chat=Step(),
    )
    try:
        fatal = await _models_step(client, proposer.model, report.models, context)
        if fatal:
            report.chat = Step("skipped", details={"reason": "the models step failed"})
        else:
            await _chat_step(client, proposer, report.chat, context)
    finally:
        await proposer.aclose()
    return report


@dataclass
class _Context:
    base_url: str
    key_env: str
    key_set: bool
    timeout_s: float
    secret: str | None

    def mask(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text


async def _models_step(client: Any, model: str, step: Step, context: _Context) -> bool:
    """Fill ``step``; return True when the chat step is pointless (unreachable, auth)."""
    try:
        raw = await client.models.with_raw_response.list()
        reason = not_json_reason(raw.status_code, raw.headers, raw.text)
        names = [] if reason else [item.id async for item in raw.parse()]
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        failure = _describe(exc, "GET /models", context)
        if failure.status in _NO_MODELS_ENDPOINT:
            step.status = "unsupported"
            step.details = {"reason": f"the server does not implement /models: {failure}"}
            return False
        step.status, step.error = "fail", str(failure)
        return failure.fatal
    if reason:  # the chat step would get the same page
        step.status, step.error = "fail", f"GET /models: {context.mask(reason)}"
        return True
    step.details = {"count": len(names), "listed": model in names, "models": names}
    if model not in names:
        step.status = "fail"
        hint = did_you_mean(model, names)
        if len(names) > 20:  # a hosted API lists dozens: keep the line readable
            hint = hint.split(" Available:")[0] + " (--json lists them)"
        step.error = f"model {model!r} is not listed by the server." + hint
    return False


async def _chat_step(client: Any, proposer: Any, step: Step, context: _Context) -> None:
    options = proposer.request_options()  # exactly what a research round sends
    started = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=proposer.model, messages=[{"role": "user", "content": PROMPT}], **options
        )
        reason = not_json_reason(raw.status_code, raw.headers, raw.text)
        response = None if reason else raw.parse()
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        step.details = {"latency_s": round(time.monotonic() - started, 3)}
        step.status, step.error = "fail", str(_describe(exc, "chat completion", context))
        return
    latency = time.monotonic() - started
    if reason:
        step.details = {"latency_s": round(latency, 3)}
        step.status, step.error = "fail", f"chat completion: {context.mask(reason)}"
        return
    usage = getattr(response, "usage", None)
    choices = getattr(response, "choices", None) or []
    first = choices[0] if choices else None
    message = getattr(first, "message", None)
    content = getattr(message, "content", None) or ""
    finish_reason = getattr(first, "finish_reason", None)
    step.details = {
        "latency_s": round(latency, 3),
        "finish_reason": finish_reason,
        "tokens_in": getattr(usage, "prompt_tokens", None),
        "tokens_out": getattr(usage, "completion_tokens", None),
        "answer": context.mask(content[:ANSWER_CHARS]),
    }
    if first is None:
        step.status, step.error = "fail", "malformed response: the completion has no choices"
    elif not content.strip():
        step.status = "fail"
        step.error = f"the model returned an empty answer (finish_reason={finish_reason})"
        if finish_reason == "length":
            step.error += (
                f"; it ran out of llm.max_tokens={proposer.max_tokens} "
                "(a reasoning model may spend them thinking): raise llm.max_tokens"
            )


def _describe(exc: Exception, what: str, context: _Context) -> _Failure:
    """One line saying what went wrong and which setting to look at."""
    url = context.base_url
    if isinstance(exc, openai.APITimeoutError):
        return _Failure(
            f"{what} timed out after llm.timeout_s={context.timeout_s:g} s ({url})", fatal=True
        )
    if isinstance(exc, openai.APIConnectionError):
        return _Failure(
            f"cannot connect to {url}: {_connect_reason(exc, context)} (is the server "
            "running? check llm.base_url)",
            fatal=True,
        )
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        reason = re.sub(r"^Error code: \d+ - ", "", _short(exc, context))
        line = f"{what} failed: HTTP {code} from {url}: {reason}"
        if code in (401, 403):
            state = "set" if context.key_set else "unset"
            line += (
                f" (the key is read from the environment variable llm.api_key_env="
                f"{context.key_env or '(none)'}, currently {state})"
            )
            return _Failure(line, fatal=True, status=code)
        if code == 404 and what != "GET /models":
            line += " (check llm.base_url, which usually ends in /v1, and llm.model)"
        return _Failure(line, status=code)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return _Failure(
            f"{what}: malformed response from {url} ({type(exc).__name__}: {_short(exc, context)})"
        )
    return _Failure(f"{what} failed: {type(exc).__name__}: {_short(exc, context)}")


def _connect_reason(exc: BaseException, context: _Context) -> str:
    """The innermost cause of a connection error, e.g. "connection refused"."""
    root: BaseException = exc
    for _ in range(10):
        nxt = root.__cause__ or root.__context__
        if nxt is None:
            break
        root = nxt
    if isinstance(root, ConnectionRefusedError):
        return "connection refused"
    if isinstance(root, socket.gaierror):
        return f"host not found ({_short(root, context)})"
    return _short(root, context)


def _short(exc: BaseException, context: _Context, limit: int = 300) -> str:
    text = context.mask(" ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_report(report: CheckReport) -> list[str]:
    """The human-readable lines of a report."""
    key = "none (llm.api_key_env is empty)"
    if report.api_key_env:
        key = f"${report.api_key_env} {'set' if report.api_key_set else 'unset'}"
    lines = [f"endpoint  {report.base_url}  model {report.model!r}  key {key}"]
    models = report.models
    if models.status == "ok":
        lines.append(
            f"models    ok    {models.details['count']} listed, {report.model!r} among them"
        )
    elif models.status == "unsupported":
        lines.append(f"models    --    {models.details['reason']}; going on")
    else:
        count = models.details.get("count")
        prefix = f"{count} listed; " if count is not None else ""
        lines.append(f"models    FAIL  {prefix}{models.error}")
    chat = report.chat
    if chat.status == "skipped":
        lines.append(f"chat      --    skipped ({chat.details['reason']})")
    elif chat.status == "fail" and "answer" not in chat.details:
        lines.append(f"chat      FAIL  {chat.error}")
    else:
        details = chat.details
        tokens_in = "?" if details["tokens_in"] is None else details["tokens_in"]
        tokens_out = "?" if details["tokens_out"] is None else details["tokens_out"]
        lines.append(
            f"chat      {'ok  ' if chat.ok else 'FAIL'}  {details['latency_s']:.2f} s, "
            f"finish_reason={details['finish_reason']}, "
            f"tokens {tokens_in} in / {tokens_out} out"
        )
        if chat.error:
            lines.append(f"          {chat.error}")
        if details["answer"]:
            lines.append(f"answer    {details['answer']!r}")
    lines.append("result    ok" if report.ok else "result    FAILED")
    return lines
