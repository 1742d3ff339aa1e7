"""Secret values never leave: a candidate that did read the API key (possible only without
isolation) gets it neither stored nor sent to the LLM (harness.redact)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from helpers import toy_answer

from harness import db as store
from harness import redact, sandbox
from harness.testing.llm_server import FakeLLMServer

pytestmark = pytest.mark.isolation  # make test-sandbox runs it without bubblewrap too

KEY = "sk-leak-" + secrets.token_hex(12)
CUSTOM = "cred-" + secrets.token_hex(12)

#: Prints every value of OPENAI_API_KEY / MY_LLM_CRED it finds in any process's environment,
#: then fails, so the values land in the node's feedback (and would reach the next prompts).
LEAKER = """import os


def f():
    found = set()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                for var in fh.read().split(bytes(1)):
                    name, _, value = var.decode(errors="replace").partition("=")
                    if name in ("OPENAI_API_KEY", "MY_LLM_CRED"):
                        found.add(value)
        except OSError:
            pass
    print("found:", sorted(found))
    raise RuntimeError("leaked " + " ".join(sorted(found)))
"""


def test_a_leaked_key_is_masked_in_the_store_and_in_every_prompt(tmp_path: Path, cli) -> None:
    answers = iter([toy_answer(LEAKER, "leaker")] + [
        toy_answer(f"def f():\n    return 2.0 + 0 * {i}\n", f"ok{i}") for i in range(5)
    ])  # fmt: skip

    def answer(request: dict) -> str:
        if "<analysis>" in json.dumps(request["messages"]):
            return "<analysis>It failed.</analysis>"
        return next(answers)

    run_dir = tmp_path / "run"
    with FakeLLMServer(default=answer) as server:
        result = cli(
            "run", "+task=toy", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=m",
            "llm.edit_mode=full", "llm.api_key_env=MY_LLM_CRED", "run.workers=1",
            "run.max_evaluations=4", "sandbox=none", f"hydra.run.dir={run_dir}",
            env={"OPENAI_API_KEY": KEY, "MY_LLM_CRED": CUSTOM},
        )  # fmt: skip
        requests = json.dumps(server.requests)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    feedback = store.get_node(store.open_db(run_dir), 1)["feedback"]
    assert "leaked [REDACTED]" in feedback, feedback
    leaked = "[REDACTED]" in requests
    assert leaked, "the leak reached no prompt: the test did not exercise the path"
    for value in (KEY, CUSTOM):
        assert value not in requests
        assert value not in output
        grep = subprocess.run(["grep", "-rl", "--", value, str(run_dir)], capture_output=True)
        assert grep.returncode == 1, grep.stdout


def test_declared_variables_are_secret_and_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_CRED", CUSTOM)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # a setting: too short to mask
    monkeypatch.delenv(redact.EXTRA_ENV, raising=False)
    text = f"a {CUSTOM} b {KEY} c false"
    assert redact.redact(text) == f"a {CUSTOM} b [REDACTED] c false"
    assert "MY_LLM_CRED" in sandbox.scrubbed_env()
    redact.declare(["MY_LLM_CRED"])
    assert redact.redact(text) == "a [REDACTED] b [REDACTED] c false"
    env = sandbox.scrubbed_env()
    assert "MY_LLM_CRED" not in env and "OPENAI_API_KEY" not in env
    assert redact.EXTRA_ENV not in env and env["PATH"] == os.environ["PATH"]
    nested = {"a": [KEY, ("x", CUSTOM)], KEY: 1.0}
    assert redact.redact_data(nested) == {"a": ["[REDACTED]", ("x", "[REDACTED]")],
                                          "[REDACTED]": 1.0}  # fmt: skip
    assert os.environ[redact.EXTRA_ENV] == "MY_LLM_CRED"


def test_a_secret_containing_another_is_masked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_TOKEN", "abcdefgh")
    monkeypatch.setenv("B_TOKEN", "abcdefgh-longer")
    assert redact.redact("x abcdefgh-longer y") == "x [REDACTED] y"
