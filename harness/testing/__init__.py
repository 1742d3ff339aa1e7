"""Pytest fixtures for harness plugin authors (loaded through the ``pytest11`` entry point).

``llm_server`` is a real OpenAI-compatible HTTP server on 127.0.0.1 with scripted
answers; ``check_task`` runs the domain contract every task plugin must satisfy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def llm_server() -> Iterator[Any]:
    """A loopback chat-completions server: ``enqueue(...)`` answers, read ``requests``."""
    from harness.testing.llm_server import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


def check_task(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Assert the task contract for ``config`` and return the seed results by name.

    The spec names the task, every declared seed program exists and evaluates through
    the sandbox to a finite score, and a broken program comes back as a failed result
    rather than an exception.
    """
    from harness.evaluation import evaluate_program
    from harness.tasks import seed_program, task_limits, task_spec

    spec = task_spec(config)
    assert spec.name == config["name"]
    assert spec.seeds, "a task must declare at least one seed program"
    limits = task_limits(config, spec)
    results = {}
    for seed in spec.seeds:
        program = seed_program(config, seed)
        result = evaluate_program(config, program, limits)
        assert result.success, f"seed {seed!r} failed: {result.feedback}"
        assert result.score is not None and math.isfinite(result.score)
        results[seed] = result
    broken = evaluate_program(config, "raise RuntimeError('broken on purpose')\n", limits)
    assert not broken.success and broken.feedback
    return results


@pytest.fixture
def task_contract(tmp_path: Path) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``task_contract({"name": ...})`` runs :func:`check_task` in a temporary directory."""
    return lambda config: check_task(config, tmp_path)
