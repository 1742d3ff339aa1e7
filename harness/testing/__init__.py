"""Pytest fixtures for harness plugin authors: the contract kit.

Installed with the core (``pip install "harness-research[testing]"`` adds pytest) and loaded
into every pytest session through the ``pytest11`` entry point ``harness =
"harness.testing"``: a plugin's tests use the fixtures without importing anything.

Fixtures
--------

``task_contract``
    ``task_contract("NAME", *overrides, failing_seeds=())`` composes the plugin's own
    ``conf/task/NAME.yaml`` through Hydra (``+task=NAME`` and ``overrides``, as
    ``harness run`` would) and asserts the task contract: the spec names the task; every
    seed evaluates through the sandbox to a finite score; a program that raises, one that
    never returns (under a 2 s timeout) and one whose entry returns a string each come back
    as a failed result, never an exception; every declared descriptor is reported in the
    seeds' metrics within its ``[low, high]``; and a 4-evaluation ``llm=offline`` run in a
    temporary directory finishes with the seed evaluated and no evaluator error. Each
    failure says what to fix. Returns the seeds' :class:`~harness.task.EvalResult` by name.
    A config dict (``task_contract({"name": "NAME", "n": 26})``) is merged over the
    composed task section instead. ``failing_seeds`` names seeds shipped broken on purpose.
    The checks are :func:`harness.testing.contract.check_task`. Example::

        def test_contract(task_contract):
            results = task_contract("rosenbrock", "task.dims=4")
            assert results["naive"].score < 0

``llm_server``
    A real OpenAI-compatible chat-completions server on 127.0.0.1 with scripted answers
    (:class:`harness.testing.llm_server.FakeLLMServer`): ``enqueue(...)`` answers, read
    ``requests``; point a run at it with ``llm=openai llm.base_url=<server.base_url>``.

Markers
-------

``isolation``
    A test whose outcome depends on how candidates are isolated (bubblewrap, the namespace
    launcher, rlimits): a hostile candidate, data the child must not see, limits that must
    hold in the training children. The suite runs once as usual; ``.ci/run`` runs the
    task plugins' ``-m isolation`` tests again with bubblewrap hidden from PATH, so each
    isolation back-end is exercised without running every training test twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.task import EvalResult
from harness.testing.contract import check_task

__all__ = ["check_task", "llm_server", "task_contract"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``isolation`` marker, so ``--strict-markers`` accepts it in any plugin."""
    config.addinivalue_line(
        "markers",
        "isolation: the outcome depends on how candidates are isolated; run again without "
        "bubblewrap on PATH (make test-sandbox)",
    )


@pytest.fixture
def llm_server() -> Iterator[Any]:
    """A loopback chat-completions server: ``enqueue(...)`` answers, read ``requests``."""
    from harness.testing.llm_server import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def task_contract(tmp_path: Path) -> Callable[..., dict[str, EvalResult]]:
    """``task_contract("NAME", *overrides, failing_seeds=())`` asserts the task contract
    (:func:`check_task`) in a temporary directory and returns the seed results by name."""

    def check(
        task: str | Mapping[str, Any], *overrides: str, failing_seeds: Collection[str] = ()
    ) -> dict[str, EvalResult]:
        return check_task(task, tmp_path, *overrides, failing_seeds=failing_seeds)

    return check
