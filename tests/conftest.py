"""Core test set-up: the ``toy`` task plugin is loaded through ``HARNESS_PLUGINS``.

The variable is inherited by evaluation workers and by ``harness`` subprocesses, exactly
as a user's unpackaged plugin module would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TOY = TESTS / "toy"
HARNESS = Path(sys.executable).with_name("harness")

os.environ["HARNESS_PLUGINS"] = "harness_toy"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TOY), os.environ.get("PYTHONPATH")]))
sys.path.insert(0, str(TOY))


def harness_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env=None):
    """Run the installed ``harness`` console script; return the CompletedProcess."""
    return subprocess.run(
        [str(HARNESS), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def cli():
    return harness_cli


@pytest.fixture
def no_http(monkeypatch) -> list:
    """Fails any POST the OpenAI client or the chat endpoint would send (a replay must not),
    and lists what it was asked to send."""
    import openai

    from harness.llm import http

    sent: list = []

    async def refuse(self, *args, **kwargs):
        sent.append(kwargs or args)
        raise AssertionError("replay sent an HTTP request")

    monkeypatch.setattr(openai.AsyncOpenAI, "post", refuse)
    monkeypatch.setattr(http.Endpoint, "post", refuse)
    return sent
