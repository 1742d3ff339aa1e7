"""The ``openai`` back-end: researcher and analyzer over any OpenAI-compatible endpoint.

One chat-completions call per role and round. Endpoint failures are retried by
:mod:`harness.llm.retry`, not by the SDK too (bounded, with backoff, honouring
``Retry-After``); an answer that cannot be applied is never re-asked (the released code
spent a second call on it) but becomes a failed proposal whose error explains why.
Nothing here raises into the loop.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from enum import Enum
from typing import Any

import openai

from harness.llm import http, operators
from harness.llm.agent import Agent, Turn, assistant_message
from harness.llm.base import LLMCall
from harness.llm.chat import ChatProposer, Reply
from harness.llm.ensemble import EnsembleProposer, Member
from harness.llm.retry import policy, retryable, stopped_early
from harness.llm.schemas import EnsemblePolicy, LLMMode, OpenAILLMConf

DEFAULTS: dict[str, Any] = {
    key: value for key, value in asdict(OpenAILLMConf()).items() if key != "name"
}
"""Every accepted config key with its default (``model`` has none and is required)."""

# The key that selects this back-end may travel with its settings.
_IGNORED_KEYS = frozenset({"name"})


class OpenAIProposer(ChatProposer):
    """A :class:`harness.llm.base.Proposer` talking to an OpenAI-compatible server.

    ``temperature`` or ``max_tokens`` set to ``None`` (or named in ``omit_params``) are
    left out of the request, for models that reject them. ``client``: an SDK client made for
    the same ``base_url``, ``api_key`` and ``timeout_s`` (with ``max_retries=0``) to share.
    """

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str = "EMPTY",
        temperature: float | None = 0.7,
        top_p: float | None = None,
        max_tokens: int | None = 4096,
        max_tokens_param: str = "max_tokens",
        reasoning_effort: str | None = None,
        seed: int | None = None,
        omit_params: tuple[str, ...] | list[str] = (),
        timeout_s: float = 120.0,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_call_s: float = 600.0,
        edit_mode: str = "diff",
        max_code_chars: int = 100_000,
        prompt_budget_chars: int = 60_000,
        extra_body: Mapping[str, Any] | None = None,
        usd_per_mtok_in: float | None = None,
        usd_per_mtok_out: float | None = None,
        prompts_dir: str | None = None,
        mode: str = "chat",
        agent: Mapping[str, Any] | None = None,
        client: openai.AsyncOpenAI | None = None,
        endpoint: http.Endpoint | None = None,
    ) -> None:
        super().__init__(
            model=model,
            max_tokens=max_tokens,
            edit_mode=edit_mode,
            max_code_chars=max_code_chars,
            prompt_budget_chars=prompt_budget_chars,
            prompts_dir=prompts_dir,
        )
        self.base_url = base_url
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens_param = max_tokens_param
        self.reasoning_effort = reasoning_effort
        self.seed = seed
        self.omit_params = frozenset(omit_params)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_call_s = max_call_s
        self.extra_body = dict(extra_body or {})
        self.prices = (usd_per_mtok_in, usd_per_mtok_out)
        # Retries are ours (see _create), never the SDK's too: they would multiply.
        self._client = client or openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0
        )
        # The URL and headers (key, OPENAI_ORG_ID, OPENAI_PROJECT_ID...) as the SDK
        # resolved them; its omitted ones are sentinels, not strings.
        sdk_headers = {**self._client.default_headers, **self._client.auth_headers}
        self._endpoint = endpoint or http.Endpoint(
            str(self._client.base_url),
            {key: value for key, value in sdk_headers.items() if isinstance(value, str)},
            timeout_s,
        )
        if mode == "agent":
            self.agent = Agent(
                self._chat_tools,
                max_code_chars=max_code_chars,
                prompt_budget_chars=prompt_budget_chars,
                **dict(agent or {}),
            )

    async def aclose(self) -> None:
        """Close the HTTP clients' connections."""
        await super().aclose()
        await self._endpoint.close()
        await self._client.close()

    @property
    def endpoint(self) -> http.Endpoint:
        """The chat POST's connections, shared by back-ends on the same endpoint."""
        return self._endpoint

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client (endpoint, key, timeout), e.g. for ``harness llm check``."""
        return self._client

    def request_options(self) -> dict[str, Any]:
        """The options every chat request carries, from the config: provider differences
        (``max_completion_tokens`` for OpenAI's reasoning models, parameters they refuse
        in ``omit_params``, ``reasoning_effort``, ``extra_body`` for vLLM/SGLang) are set
        there, not in code."""
        options: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            self.max_tokens_param: self.max_tokens,
            "reasoning_effort": self.reasoning_effort,
            "seed": self.seed,
        }
        options = {
            key: value
            for key, value in options.items()
            if value is not None and key not in self.omit_params
        }
        if self.extra_body:
            options["extra_body"] = self.extra_body
        return options

    async def _chat(self, role: str, messages: list[dict[str, str]]) -> Reply:
        """One chat-completions call, recorded; errors end up in ``call.error``, not raised."""
        reply = Reply(LLMCall(role, self.model, json.dumps(messages, ensure_ascii=False)))
        call = reply.call
        first = await self._first_choice(call, messages)
        if first is None:
            return reply
        reply.finish_reason = first.get("finish_reason")
        message = first.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) or not content.strip():
            call.error = f"LLM returned an empty answer (finish_reason={reply.finish_reason})"
            return reply
        call.response = reply.text = content
        return reply

    async def _chat_tools(
        self, role: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> Turn:
        """One function-calling exchange (``llm.mode=agent``), recorded: the request is the
        conversation, the response the assistant message (its tool calls included) as JSON."""
        call = LLMCall(role, self.model, json.dumps(messages, ensure_ascii=False))
        first = await self._first_choice(call, messages, {"tools": tools})
        if first is None:
            return Turn(call)
        if not isinstance(first.get("message"), dict):
            call.error = "LLM response has no message"
            return Turn(call)
        message = assistant_message(first["message"], len(messages))
        call.response = json.dumps(message, ensure_ascii=False)
        return Turn(call, message)

    async def _first_choice(
        self, call: LLMCall, messages: list[dict[str, Any]], extra: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The answer's first choice, its usage, cost and latency recorded in ``call``; None
        when there is none (``call.error`` says why)."""
        started = time.monotonic()
        try:
            answer = await self._create(call, messages, extra)
        finally:
            call.latency_s = time.monotonic() - started
        if answer is None:
            return None
        usage = answer.get("usage")
        if isinstance(usage, dict):
            call.tokens_in = _count(usage.get("prompt_tokens"))
            call.tokens_out = _count(usage.get("completion_tokens"))
            call.cost_usd = self.cost(call.tokens_in, call.tokens_out)
        choices = answer.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(first, dict):
            call.error = "LLM response has no choices"
            return None
        return first

    async def _create(
        self,
        call: LLMCall,
        messages: list[dict[str, Any]],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """The completion's JSON object, retried by :func:`harness.llm.retry.policy`. On
        failure: ``None``, with ``call.error`` and ``call.retryable`` set.

        The request is a plain POST (:mod:`harness.llm.http`) whose JSON answer is read as a
        dict: the SDK's typed ``chat.completions.create`` walked every message through its
        TypedDict transform and built pydantic models of the answer, and even its plain
        ``post`` cost most of a call against a fast server.
        """
        options = self.request_options()
        extra_body = options.pop("extra_body", None)  # merged over the body
        body = {"model": self.model, "messages": messages, **options, **(extra or {})}
        retrying = policy(self.max_retries, self.backoff_s, self.max_backoff_s, self.max_call_s)
        state = None
        try:
            async for attempt in retrying:
                with attempt:
                    state = attempt.retry_state
                    call.attempts = state.attempt_number
                    try:
                        raw = await self._endpoint.post("/chat/completions", body, extra_body)
                        reason = not_json_reason(raw.status_code, raw.headers, raw.text)
                        answer = None if reason else json.loads(raw.content)
                    except Exception as exc:
                        call.retryable = retryable(exc)
                        call.error = self._describe(exc, call.attempts)
                        raise
        except Exception:  # the loop must go on whatever the endpoint does
            if call.retryable and state is not None:
                early = stopped_early(state, self.max_retries, self.max_call_s)
                if early:
                    call.error = f"{call.error}; {early}"
            return None
        # An HTML page (a proxy's login, a web UI) will not turn into JSON on a retry.
        call.error = f"LLM request failed: {reason}" if reason else None
        call.retryable = False
        if reason:
            return None
        return answer if isinstance(answer, dict) else {}

    def cost(self, tokens_in: int, tokens_out: int) -> float | None:
        """USD for one call from ``llm.usd_per_mtok_in/out``; None when no price is set."""
        price_in, price_out = self.prices
        if price_in is None and price_out is None:
            return None
        return (tokens_in * (price_in or 0.0) + tokens_out * (price_out or 0.0)) / 1e6

    def _describe(self, exc: Exception, attempt: int) -> str:
        """A one-line reason fit for a failed node's feedback."""
        attempts = f"{attempt} attempt(s)"
        if isinstance(exc, openai.APIStatusError | http.StatusError):
            return f"LLM request failed: HTTP {exc.status_code} after {attempts}: {_short(exc)}"
        if isinstance(exc, openai.APITimeoutError | http.EndpointTimeout):
            return f"LLM request timed out after {self.timeout_s:g} s ({attempts})"
        if isinstance(exc, openai.APIConnectionError | http.Unreachable):
            where = self.base_url or "the default OpenAI endpoint"
            return f"LLM request failed: cannot connect to {where} ({attempts}): {_short(exc)}"
        if isinstance(exc, ValueError):  # includes json.JSONDecodeError
            return f"LLM request failed: malformed response ({type(exc).__name__}: {_short(exc)})"
        return f"LLM request failed: {type(exc).__name__}: {_short(exc)}"


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def not_json_reason(status: int, headers: Mapping[str, str], body: str) -> str | None:
    """Why a successful HTTP answer is not an OpenAI-compatible JSON answer, or ``None``.

    The SDK hands a non-JSON body back as a plain string, which would read as "no
    choices"; it is almost always a base URL that reaches a web UI or a proxy's login
    page. A body sent as JSON is left to the SDK (a broken one is a malformed response).
    """
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type.endswith("json"):
        return None
    try:
        json.loads(body)
    except ValueError:
        pass
    else:
        return None
    start = body[:10_000]
    html = "html" in content_type or start.lstrip()[:15].lower().startswith(("<!doctype", "<html"))
    title = _TITLE_RE.search(start) if html else None
    if title is not None and " ".join(title.group(1).split()):
        shown = f" (page title {' '.join(title.group(1).split())[:80]!r})"
    elif not html and body.strip():
        shown = f" (it begins {' '.join(body.split())[:80]!r})"
    else:
        shown = ""
    return (
        f"the endpoint returned {'HTML' if html else 'a non-JSON answer'} (status {status}, "
        f"content-type {content_type or 'not set'}), not an OpenAI-compatible JSON answer"
        f"{shown}: check llm.base_url (it should end in /v1)"
    )


def _count(value: Any) -> int:
    """A token count from ``usage`` (missing or not a number: 0)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _plain(value: Any) -> str:
    """An enum member from the config schema as its plain string."""
    return str(value.value if isinstance(value, Enum) else value)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


ROLES = ("researcher", "analyzer", "repair")
# Keys that build several back-ends rather than set one.
_COMPOSITE = ("roles", "ensemble", "ensemble_policy", *operators.KEYS)


def create(config: Mapping[str, Any]) -> OpenAIProposer:
    """The back-end for ``config``; ``roles`` gives a role its own settings (any key here,
    e.g. a cheaper model for the analyzer), the rest defaulting to the shared ones;
    ``ensemble`` makes the researcher several models (:mod:`harness.llm.ensemble`);
    ``operators`` and ``system_variants`` vary the prompt per round
    (:mod:`harness.llm.operators`)."""
    roles = dict(config.get("roles") or {})
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"llm.roles: unknown role(s) {unknown}; roles are {list(ROLES)}")
    for role, overrides in roles.items():
        if "prompts_dir" in (overrides or {}):
            raise ValueError(
                f"llm.roles.{role}.prompts_dir: templates are named by role already "
                f"({role}.system.j2, {role}.user.j2); put them in llm.prompts_dir"
            )
    shared = {k: v for k, v in config.items() if k not in _COMPOSITE}
    clients: _Clients = {}
    proposer = _create_one(shared, clients)
    for role, overrides in roles.items():
        if overrides:
            try:
                proposer.by_role[role] = _create_one({**shared, **dict(overrides)}, clients)
            except ValueError as exc:
                raise ValueError(f"llm.roles.{role}: {exc}") from exc
    members = list(config.get("ensemble") or [])
    if members:
        researcher = {**shared, **dict(roles.get("researcher") or {})}
        proposer.by_role["researcher"] = EnsembleProposer(
            [
                _member(researcher, dict(member), index, clients)
                for index, member in enumerate(members)
            ],
            config.get("ensemble_policy") or EnsemblePolicy.weights,
        )
    proposer.operators = operators.from_config(config, operators.priced(config))
    return proposer


def _member(
    researcher: Mapping[str, Any], settings: dict[str, Any], index: int, clients: _Clients
) -> Member:
    """One ensemble member: the researcher's settings with the member's on top."""
    weight = settings.pop("weight", 1.0)
    if not isinstance(weight, int | float) or weight <= 0:
        raise ValueError(f"llm.ensemble[{index}].weight must be a number > 0, not {weight!r}")
    try:
        proposer = _create_one({**researcher, **settings}, clients)
    except ValueError as exc:
        raise ValueError(f"llm.ensemble[{index}]: {exc}") from exc
    return Member(float(weight), priced=proposer.prices != (None, None), proposer=proposer)


_Clients = dict[tuple[str | None, str, float], tuple[openai.AsyncOpenAI, http.Endpoint]]
"""The SDK clients and chat endpoints of one back-end by URL, key and timeout: roles and
ensemble members on the same endpoint share them and their kept-alive connections."""


def _create_one(config: Mapping[str, Any], clients: _Clients | None = None) -> OpenAIProposer:
    """Build the back-end from its config section (keys and defaults: :data:`DEFAULTS`).

    Unknown keys are rejected so a typo cannot silently leave a default in force. The API
    key is read from the environment variable named by ``api_key_env``; when it is unset,
    ``"EMPTY"`` is sent, which local servers (vLLM, SGLang, Ollama) accept. The prompt
    templates (``prompts_dir``) are rendered once here, so a broken one fails now.
    """
    unknown = sorted(set(config) - (set(DEFAULTS) - set(_COMPOSITE)) - _IGNORED_KEYS)
    if unknown:
        raise ValueError(f"unknown openai proposer option(s) {unknown}; known: {sorted(DEFAULTS)}")
    settings = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    model = settings["model"]
    if not model or not isinstance(model, str):
        raise ValueError(
            "the openai proposer needs a model name: set llm.model (e.g. llm.model=gpt-4o-mini)"
        )
    if settings["max_tokens_param"] not in ("max_tokens", "max_completion_tokens"):
        raise ValueError(
            "max_tokens_param must be 'max_tokens' or 'max_completion_tokens', not "
            f"{settings['max_tokens_param']!r}"
        )
    if settings["edit_mode"] not in ("diff", "full"):
        raise ValueError(f"edit_mode must be 'diff' or 'full', not {settings['edit_mode']!r}")
    if _plain(settings["mode"]) not in tuple(mode.value for mode in LLMMode):
        raise ValueError(f"mode must be 'chat' or 'agent', not {settings['mode']!r}")
    unknown = sorted(set(settings["agent"] or {}) - set(DEFAULTS["agent"]))
    if unknown:
        raise ValueError(f"unknown agent option(s) {unknown}; known: {sorted(DEFAULTS['agent'])}")
    for key in ("max_code_chars", "prompt_budget_chars", "timeout_s"):
        if not isinstance(settings[key], int | float) or settings[key] <= 0:
            raise ValueError(f"{key} must be a positive number, not {settings[key]!r}")
    if not isinstance(settings["max_retries"], int) or settings["max_retries"] < 0:
        raise ValueError(f"max_retries must be an integer >= 0, not {settings['max_retries']!r}")
    api_key = os.environ.get(settings["api_key_env"] or "") or "EMPTY"
    endpoint = (settings["base_url"] or None, api_key, float(settings["timeout_s"]))
    clients = {} if clients is None else clients
    shared: tuple[openai.AsyncOpenAI | None, http.Endpoint | None] = clients.get(
        endpoint, (None, None)
    )
    proposer = OpenAIProposer(
        model=model,
        base_url=endpoint[0],
        api_key=api_key,
        temperature=settings["temperature"],
        top_p=settings["top_p"],
        max_tokens=settings["max_tokens"],
        max_tokens_param=_plain(settings["max_tokens_param"]),
        reasoning_effort=settings["reasoning_effort"],
        seed=settings["seed"],
        omit_params=tuple(settings["omit_params"] or ()),
        timeout_s=endpoint[2],
        max_retries=settings["max_retries"],
        backoff_s=float(settings["backoff_s"]),
        max_backoff_s=float(settings["max_backoff_s"]),
        max_call_s=float(settings["max_call_s"]),
        edit_mode=settings["edit_mode"],
        max_code_chars=int(settings["max_code_chars"]),
        prompt_budget_chars=int(settings["prompt_budget_chars"]),
        extra_body=settings["extra_body"] or {},
        usd_per_mtok_in=settings["usd_per_mtok_in"],
        usd_per_mtok_out=settings["usd_per_mtok_out"],
        prompts_dir=settings["prompts_dir"],
        mode=_plain(settings["mode"]),
        agent=settings["agent"],
        client=shared[0],
        endpoint=shared[1],
    )
    clients.setdefault(endpoint, (proposer.client, proposer.endpoint))
    return proposer
