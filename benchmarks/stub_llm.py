"""The instant OpenAI-compatible stub the LLM-path benchmarks share (``llm_path.py``,
``vs_openevolve.py``): a raw asyncio HTTP/1.1 keep-alive server in its own process that
answers every chat completion at once from response bytes built in advance, only a
counter spliced in, so it is never the bottleneck and every answer is a new program.

Every answer is one ```` ```python ```` fence holding the whole program (the full-rewrite
parsers of harness's ``llm=openai`` and of OpenEvolve both take it) and an ``<analysis>``
(harness's analyzer reads it).

    python benchmarks/stub_llm.py     # serves; prints its port, and on SIGTERM its count
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass


def stub_answer(n: int) -> str:
    """The assistant's answer to request ``n``: one ```python fence holding the whole
    program (both systems' full-rewrite parsers take it), and an ``<analysis>``."""
    return (
        f"<name>round {n}</name>\n<analysis>ok</analysis>\n"
        f"```python\ndef f():\n    return 1.0\n\n\nROUND = {n}\n```\n"
    )


def _response_parts() -> tuple[bytes, bytes]:
    """The chat-completion body before and after the counter, which occurs twice."""
    marker = "4242424242"
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": stub_answer(int(marker))},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }
    head, middle, tail = json.dumps(body).encode().split(marker.encode())
    return head, middle.replace(b"%", b"%%") + b"%d" + tail.replace(b"%", b"%%")


class _Stub(asyncio.Protocol):
    """HTTP/1.1 keep-alive: read the headers and the ``Content-Length`` body, answer."""

    head, rest = _response_parts()
    served = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            headers = self.buffer[: end + 2].lower()  # each header line ends in CRLF
            at = headers.find(b"content-length:")
            length = int(headers[at + 15 : headers.find(b"\r\n", at)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            _Stub.served += 1
            n = _Stub.served
            body = self.head + b"%d" % n + self.rest % n
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Stub, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(_Stub.served, flush=True)


@dataclass
class Stub:
    """A stub process for one phase: its URL, then its CPU seconds and requests served."""

    proc: subprocess.Popen[str]
    base_url: str
    cpu_s: float = 0.0
    requests: int = 0

    @classmethod
    def start(cls) -> Stub:
        proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return cls(proc, f"http://127.0.0.1:{int(proc.stdout.readline())}/v1")

    def stop(self) -> None:
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGTERM)
        self.requests = int(self.proc.stdout.readline() or 0)
        self.proc.stdout.close()
        _, _, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        self.cpu_s = usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    asyncio.run(_serve())
