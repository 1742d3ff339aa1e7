"""A scripted, OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

It lets LLM back-ends (the built-in ``openai`` proposer or a plugin's) be tested through
a real HTTP client, retries and timeouts included, without network access or a model::

    from harness.testing.llm_server import Fault, FakeLLMServer

    with FakeLLMServer(default="<analysis>ok</analysis>") as server:
        server.enqueue(Fault(status=500), "<name>x</name><code>print(1)</code>")
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=1)
        ...
        assert len(server.requests) == 2

Replies are served in order from the queue; when it is empty the ``default`` answers.
A :class:`ToolCalls` reply answers with function calls, for tool-using back-ends::

    server.enqueue(ToolCalls([("read_file", {"path": "model.py"})]))

Standard library only, so plugin test suites can use it as-is.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["LOGIN_PAGE", "FakeLLMServer", "Fault", "Reply", "ToolCalls"]


@dataclass(frozen=True)
class Fault:
    """A scripted failure, served in place of one reply.

    - ``kind="status"``: answer HTTP ``status`` with an OpenAI-style error body, and a
      ``Retry-After: retry_after`` header when ``retry_after`` is set.
    - ``kind="malformed"``: answer 200 with a body that is not valid JSON.
    - ``kind="timeout"``: wait ``delay`` seconds (the client should give up first), then
      answer with ``content`` (or the default reply when ``content`` is ``None``).
    - ``kind="length"``: answer ``content`` with ``finish_reason="length"``, like a model
      that ran out of ``max_tokens``.
    - ``kind="disconnect"``: close the connection without answering.
    - ``kind="html"``: answer 200 with ``Content-Type: text/html`` and the page ``content``
      (default: :data:`LOGIN_PAGE`), like a proxy's login page or a web UI.
    """

    kind: Literal["status", "malformed", "timeout", "length", "disconnect", "html"] = "status"
    status: int = 500
    retry_after: float | None = None
    delay: float = 5.0
    content: str | None = None
    message: str = "injected fault"


@dataclass(frozen=True)
class ToolCalls:
    """A scripted answer that calls tools (``finish_reason="tool_calls"``).

    ``calls`` are ``(name, arguments)`` pairs: a dict is sent as its JSON text, a string as
    it is (so a test can send arguments that are not JSON). Call ids are
    ``call_<request number, from 1>_<index>``, the same in every run of one script.
    """

    calls: Sequence[tuple[str, dict[str, Any] | str]]
    content: str | None = None


Reply = str | Fault | ToolCalls
"""A queued reply: the assistant's content, a :class:`Fault` or :class:`ToolCalls`."""

LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    '<body><form action="/login"><input name="user"></form></body></html>\n'
)
"""The HTML page served by ``Fault(kind="html")`` and ``FakeLLMServer(html=True)``."""


class FakeLLMServer:
    """Serves ``POST /v1/chat/completions`` (non-streaming) and ``GET /v1/models``.

    The server starts on construction on a free port of 127.0.0.1, in a daemon thread,
    and stops on :meth:`close` or when the ``with`` block ends. ``default`` is the reply
    once the queue is empty: a string, or a callable taking the request body (parsed
    JSON) and returning a reply; with ``None`` such a request gets HTTP 500 saying that
    nothing was queued, so a test that under-scripts fails loudly. Token counts in
    ``usage`` are deterministic estimates (characters / 4). All methods are thread-safe.

    ``models`` are the ids ``GET /v1/models`` lists (default: ``[model]``); with
    ``models_endpoint=False`` that path answers 404, like a server without it. With
    ``api_key`` set, a request without ``Authorization: Bearer <api_key>`` gets HTTP 401
    (and is neither recorded nor served from the queue). With ``html`` set (a page, or
    ``True`` for :data:`LOGIN_PAGE`), every request gets that page with status 200 and
    ``Content-Type: text/html``, like a base URL that points at a web UI or a proxy's
    login page; nothing is recorded.
    """

    def __init__(
        self,
        default: Reply | Callable[[dict[str, Any]], Reply] | None = None,
        *,
        model: str = "fake-model",
        models: Sequence[str] | None = None,
        models_endpoint: bool = True,
        api_key: str | None = None,
        html: str | bool | None = None,
    ) -> None:
        self.model = model
        self.html = LOGIN_PAGE if html is True else (html or None)
        self.models = [model] if models is None else list(models)
        self.models_endpoint = models_endpoint
        self.api_key = api_key
        self._default = default
        self._queue: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._peers: set[tuple[str, int]] = set()
        self._in_flight = 0
        self._most_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() waits for one poll: keep tests fast
            name="FakeLLMServer",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client, e.g. ``http://127.0.0.1:PORT/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of every chat-completions request body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The HTTP headers of those requests (names lower-cased), parallel to ``requests``."""
        with self._lock:
            return list(self._headers)

    @property
    def most_in_flight(self) -> int:
        """The most chat-completions requests that were being answered at once: how many a
        client really sends concurrently (hold answers, e.g. in a ``default`` callable, to
        see it)."""
        with self._lock:
            return self._most_in_flight

    @property
    def connections(self) -> int:
        """How many TCP connections brought chat-completions requests: one for any number of
        sequential requests from a client that keeps its connection alive."""
        with self._lock:
            return len(self._peers)

    def enqueue(self, *replies: Reply) -> None:
        """Script the next replies, served first in, first out."""
        for reply in replies:
            if not isinstance(reply, str | Fault | ToolCalls):
                raise TypeError(
                    f"a reply must be a str, a Fault or ToolCalls, not {type(reply).__name__}"
                )
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been served yet."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Stop serving; replies still sleeping in a ``timeout`` fault are abandoned."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _arrived(self, peer: tuple[str, int]) -> None:
        """Count a chat request in flight from the connection ``peer``."""
        with self._lock:
            self._peers.add(peer)
            self._in_flight += 1
            self._most_in_flight = max(self._most_in_flight, self._in_flight)

    def _answered(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        """Record the request and pick its reply (queued, else the default)."""
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            if self._queue:
                return self._queue.popleft()
        return self._default_reply(body)

    def _default_reply(self, body: dict[str, Any]) -> Reply:
        default = self._default
        if callable(default):
            return default(body)
        if default is None:
            return Fault(status=500, message="FakeLLMServer: no reply queued and no default")
        return default

    def _tool_completion(self, body: dict[str, Any], reply: ToolCalls) -> dict[str, Any]:
        """A chat-completion object whose message calls ``reply.calls``."""
        with self._lock:
            number = len(self._requests)
        calls = [
            {
                "id": f"call_{number}_{index}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for index, (name, args) in enumerate(reply.calls)
        ]
        completion = self._completion(body, reply.content or "", "tool_calls")
        message = completion["choices"][0]["message"]
        message["content"], message["tool_calls"] = reply.content, calls
        completion["usage"]["completion_tokens"] = max(1, len(json.dumps(calls)) // 4)
        usage = completion["usage"]
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return completion

    def _completion(
        self, body: dict[str, Any], content: str, finish_reason: str = "stop"
    ) -> dict[str, Any]:
        """An OpenAI chat-completion object answering ``body`` with ``content``."""
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        prompt_tokens = max(1, prompt_chars // 4)
        completion_tokens = max(1, len(content) // 4)
        return {
            "id": f"chatcmpl-fake-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class _QuietServer(ThreadingHTTPServer):
    """Handler threads never block shutdown; clients hanging up are not errors."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to ``server`` (http.server instantiates it per request)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silenced: test output should not fill with access logs."""

        def _authorized(self) -> bool:
            """False (after answering 401) when ``api_key`` is set and not presented."""
            if server.api_key is None:
                return True
            if self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._send_json(401, _error("Incorrect API key provided.", "invalid_request_error"))
            return False

        def do_GET(self) -> None:
            if server.html is not None:
                self._send_html(server.html)
                return
            if self.path.rstrip("/") != "/v1/models" or not server.models_endpoint:
                self._send_json(404, _error("not found", "invalid_request_error"))
                return
            if not self._authorized():
                return
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                for name in server.models
            ]
            self._send_json(200, {"object": "list", "data": data})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if server.html is not None:
                self._send_html(server.html)
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, _error("not found", "invalid_request_error"))
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send_json(400, _error("request body is not JSON", "invalid_request_error"))
                return
            if body.get("stream"):
                self._send_json(400, _error("streaming is not supported", "invalid_request_error"))
                return
            if not self._authorized():
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            server._arrived(self.client_address[:2])
            try:
                try:
                    reply = server._next_reply(body, headers)
                except Exception as exc:  # a failing ``default`` callable: show it to the client
                    message = f"FakeLLMServer: default reply failed: {exc!r}"
                    reply = Fault(status=500, message=message)
                self._answer(body, reply)
            finally:
                server._answered()

        def _answer(self, body: dict[str, Any], reply: Reply) -> None:
            if isinstance(reply, str):
                self._send_json(200, server._completion(body, reply))
            elif isinstance(reply, ToolCalls):
                self._send_json(200, server._tool_completion(body, reply))
            elif reply.kind == "status":
                extra = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after}"}
                self._send_json(reply.status, _error(reply.message, "server_error"), extra)
            elif reply.kind == "malformed":
                self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [', {})
            elif reply.kind == "timeout":
                if server._stopping.wait(reply.delay):
                    return
                late = server._default_reply(body) if reply.content is None else reply.content
                self._answer(body, late)
            elif reply.kind == "length":
                self._send_json(200, server._completion(body, reply.content or "", "length"))
            elif reply.kind == "html":
                self._send_html(LOGIN_PAGE if reply.content is None else reply.content)
            else:  # disconnect
                self.close_connection = True

        def _send_json(
            self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
        ) -> None:
            self._send_raw(status, json.dumps(payload).encode(), extra or {})

        def _send_html(self, page: str) -> None:
            self._send_raw(200, page.encode(), {}, "text/html; charset=utf-8")

        def _send_raw(
            self,
            status: int,
            data: bytes,
            extra: dict[str, str],
            content_type: str = "application/json",
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. after its timeout)

    return Handler


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
