"""The ``openai`` back-end's chat-completions POST, over aiohttp.

Against a fast endpoint (a local vLLM, a loopback stub) the OpenAI SDK's request machinery
(its request-options models, header building and httpx's pure-Python HTTP/1.1) cost about
0.6 ms of orchestrator CPU per call, three quarters of a call's cost and most of a round's
when the LLM answers at once; aiohttp parses HTTP in C and costs about 0.13 ms. The SDK
still makes the client (``harness llm check``, the endpoint's URL and key as the SDK
resolves them, ``OPENAI_BASE_URL`` included); only the per-round POST comes here. Failures
raise the three exceptions below, which :func:`harness.llm.retry.retryable` sorts as the
SDK's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp


class StatusError(Exception):
    """The endpoint answered with an HTTP error status."""

    def __init__(self, status_code: int, headers: Mapping[str, str], body: str) -> None:
        super().__init__(f"Error code: {status_code} - {_error_message(body)}")
        self.status_code = status_code
        self.headers = headers


def _error_message(body: str) -> str:
    """An error answer's ``error.message`` (the OpenAI error format), else its text."""
    with contextlib.suppress(ValueError):
        decoded = json.loads(body)
        error = decoded.get("error") if isinstance(decoded, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str) and message.strip():
            return message
    return body.strip()


class EndpointTimeout(Exception):
    """No complete answer within the timeout."""


class Unreachable(Exception):
    """The connection failed (refused, reset, closed before the answer)."""


@dataclass(frozen=True)
class Answer:
    """A successful (2xx) HTTP answer, as it came."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Endpoint:
    """POSTs JSON to one OpenAI-compatible endpoint over one aiohttp session (kept-alive
    connections; made in the event loop that first posts, as aiohttp requires)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = {**headers, "Content-Type": "application/json"}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp  # only runs that call an endpoint pay its import

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # As the SDK's timeout: on connecting and between reads, not on the whole call.
            timeout = aiohttp.ClientTimeout(sock_connect=self.timeout_s, sock_read=self.timeout_s)
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                timeout=timeout,
                connector=aiohttp.TCPConnector(limit=0),
                trust_env=True,  # HTTP(S)_PROXY and NO_PROXY, as the SDK honours them
            )
            self._loop = loop
        return self._session

    async def post(
        self, path: str, body: Mapping[str, Any], extra_body: Mapping[str, Any] | None = None
    ) -> Answer:
        """The answer to ``body`` (``extra_body`` merged over it, as the SDK's
        ``extra_body`` is) POSTed to ``base_url + path``."""
        import aiohttp

        data = json.dumps({**body, **(extra_body or {})}, ensure_ascii=False).encode()
        try:
            async with self._open().post(self.base_url + path, data=data) as response:
                content = await response.read()
                headers = {key.lower(): value for key, value in response.headers.items()}
                if response.status >= 400:
                    raise StatusError(response.status, headers, content.decode("utf-8", "replace"))
                return Answer(response.status, headers, content)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise EndpointTimeout(f"no answer within {self.timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
