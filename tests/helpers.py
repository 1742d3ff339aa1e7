"""Shared helpers for the core tests: compose a config and run the loop in-process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import config, plugins
from harness.llm.base import NodeView, ProposalRequest
from harness.loop import Run
from harness.task import CognitionItem, TaskSpec

#: A toy run (``task.sleep_s=0.4 run.max_evaluations=10 run.workers=2 run.buffer=1``) that
#: the harness of commit 56475d2 stored (migrations m001-m006, the cognition table's old
#: layout) and that was killed with SIGKILL with three rounds in flight.
OLD_RUN = Path(__file__).parent / "data" / "killed_toy_run_m006.db"


@contextlib.contextmanager
def registered(plugin: object, name: str = "extra") -> Iterator[None]:
    """``plugin`` loaded along with the installed ones while the block runs; the registries
    are rebuilt on entry and on exit."""
    plugins.load_plugins()
    plugins.pm.register(plugin, name=name)
    plugins.reset()
    try:
        yield
    finally:
        plugins.pm.unregister(plugin)
        plugins.reset()


def chained_venv(venv: Path) -> Path:
    """A fresh venv that sees this test environment's packages (``--system-site-packages``
    would see the base interpreter's, not this venv's) and has a ``harness`` script; returns
    its python. A package installed into it shadows the test environment's copy."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "_harness_test_env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    script = venv / "bin" / "harness"
    script.write_text(
        f"#!{python}\nimport sys\nfrom harness.commands import cli\n"
        "if __name__ == '__main__':\n    sys.exit(cli())\n"
    )
    script.chmod(0o755)
    return python


# A parent program and task shared by the prompt and proposer tests.
PARENT_PROGRAM = """\
def solve(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""
TASK = TaskSpec(name="sum", description="Compute the sum below n quickly.", entry="solve")


def parent(**changes: Any) -> NodeView:
    fields: dict[str, Any] = {
        "id": 3,
        "name": "loop-sum",
        "program": PARENT_PROGRAM,
        "score": 0.4217,
        "success": True,
        "motivation": "baseline loop",
        "analysis": "slow for large n",
        "feedback": "ran 1.2 s",
        "metrics": {"runtime_s": 1.2},
    }
    return NodeView(**{**fields, **changes})


def proposal_request(**changes: Any) -> ProposalRequest:
    fields: dict[str, Any] = {
        "task": TASK,
        "parent": parent(),
        "references": [parent(id=1, name="ref-node", score=0.3, program="def solve(n): ...")],
        "cognition": [CognitionItem("Use the closed form n*(n-1)//2.", source="gauss-note")],
        "node_id": 7,
        "seed": 0,
    }
    return ProposalRequest(**{**fields, **changes})


def compose_config(*overrides: str) -> Any:
    return config.compose_config(list(overrides))


def run_loop(run_dir: Path, *overrides: str) -> dict[str, Any]:
    cfg = compose_config(*overrides)
    return asyncio.run(Run(cfg, run_dir, list(overrides)).execute())


def toy_answer(body: str, name: str = "c") -> str:
    """A full-rewrite answer for the toy task (its seed has EVOLVE-BLOCK markers)."""
    program = f"# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"
    return f"<name>{name}</name><motivation>m</motivation><code>{program}</code>"


def distinct_toy_answers(value: float = 3.0, analysis: str | None = None):
    """A FakeLLMServer default: a new program scoring ``value`` each time (dedupe would
    skip repeats), and ``analysis`` for analyzer requests when given."""
    numbers = itertools.count()

    def answer(request: dict) -> str:
        if analysis is not None and "<analysis>" in json.dumps(request["messages"]):
            return f"<analysis>{analysis}</analysis>"
        return toy_answer(f"def f():\n    return {value} + 0 * {next(numbers)}\n")

    return answer


def openai_overrides(server: Any, *overrides: str) -> list[str]:
    """The overrides of a toy run against a FakeLLMServer: full rewrites, one worker."""
    return [
        "+task=toy",
        "llm=openai",
        f"llm.base_url={server.base_url}",
        "llm.model=m",
        "llm.edit_mode=full",
        "run.workers=1",
        *overrides,
    ]


def openai_run(run_dir: Path, server: Any, *overrides: str) -> dict[str, Any]:
    """A toy run against a FakeLLMServer: full rewrites, one worker."""
    return run_loop(run_dir, *openai_overrides(server, *overrides))


def process_texts() -> Iterator[tuple[str, bytes, bytes]]:
    """(pid, environ, cmdline) of every process in /proc, ``b""`` for what cannot be read
    (a zombie's cmdline is empty): what the tests that look for leftover processes scan."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        texts = []
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{entry.name}/{name}", "rb") as fh:
                    texts.append(fh.read())
            except OSError:
                texts.append(b"")
        yield entry.name, texts[0], texts[1]
