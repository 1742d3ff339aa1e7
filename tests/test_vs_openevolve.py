"""benchmarks/vs_openevolve.py without OpenEvolve: its stub answers, over real HTTP, a new
program per request in the shape both systems parse, and the script refuses to start,
with exit code 2, where OpenEvolve cannot be imported."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.llm.answers import parse_analyzer_answer, parse_answer
from harness.llm.edits import build_program

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SEED = "def f():\n    return 1.0\n"


@pytest.fixture
def vs_openevolve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import vs_openevolve

    yield vs_openevolve


def test_stub_answers_a_new_whole_program_each_request(vs_openevolve: Any) -> None:
    stub = vs_openevolve.Stub.start()
    try:
        url = urlsplit(stub.base_url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        contents = []
        for _ in range(2):  # one keep-alive connection, as the SDKs use
            body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": "x"}]})
            connection.request("POST", f"{url.path}/chat/completions", body)
            answer = json.loads(connection.getresponse().read())
            contents.append(answer["choices"][0]["message"]["content"])
        connection.close()
    finally:
        stub.stop()
    assert stub.requests == 2
    programs = []
    for content in contents:
        # harness (llm.edit_mode=full) takes the fence as the whole program...
        program, kind = build_program(SEED, parse_answer(content), "full", 10_000)
        assert kind == "full" and program.startswith(SEED)
        programs.append(program)
        # ...and so does OpenEvolve's full rewrite: the first ```python fence, stripped.
        assert content.count("```python\n") == 1
        assert content.split("```python\n")[1].split("```")[0].strip() == program.strip()
        assert parse_analyzer_answer(content).analysis == "ok"
    assert programs[0] != programs[1]


def test_refuses_without_openevolve(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "vs_openevolve.py"), "--quick"]
        + [f"--openevolve-python={sys.executable}", f"--json={tmp_path / 'out.json'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "OpenEvolve cannot be imported" in done.stderr
    assert not (tmp_path / "out.json").exists()


def test_stub_waits_for_the_whole_body(vs_openevolve: Any) -> None:
    """A body that arrives in two parts is answered once, after the second (Content-Length
    read in full even as the last header)."""
    stub = vs_openevolve.Stub.start()
    try:
        url = urlsplit(stub.base_url)
        body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": "x" * 50}]})
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(f"{head}\r\n\r\n{body[:40]}".encode())
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(65536)
            sock.settimeout(10)
            sock.sendall(body[40:].encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    finally:
        stub.stop()
    assert stub.requests == 1
