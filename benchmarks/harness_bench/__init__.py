"""A benchmark-only plugin: the ``bench`` task (trivial evaluation) and ``llm=instant``.

Loaded with ``HARNESS_PLUGINS=harness_bench`` and ``benchmarks/`` on ``PYTHONPATH``, so
the loop's own overhead can be measured without an LLM or a sandboxed candidate.
``task.sleep_s`` makes the evaluator sleep that long in every evaluation (the candidate
stays trivial), for measuring parallel efficiency (``benchmarks/parallel.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import EvalResult, Limits, Task, TaskConf, TaskSpec, hookimpl
from harness.llm.base import Analysis, AnalysisRequest, Proposal, ProposalRequest
from harness.testing.noisy import NoisyTask

SEED = "def f():\n    return 1.0\n"


class InstantProposer:
    """Returns the parent with a counter appended: no model, no latency. The counter is a
    statement, not a comment, so no proposal is a duplicate of an earlier program."""

    name = "instant"
    model = "instant"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    async def propose(self, request: ProposalRequest) -> Proposal:
        base = request.parent.program.split("# round")[0]
        program = f"{base}# round\nROUND = {request.node_id}\n"
        return Proposal(f"instant-{request.node_id}", "benchmark", program, edit="full")

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        return Analysis("")

    async def aclose(self) -> None:
        return None


@dataclass
class InstantConf:
    name: str = "instant"


@dataclass
class BenchConf(TaskConf):
    sleep_s: float = 0.0


class Bench(Task):
    """A trivial evaluation; the default score (``metrics["score"]``)."""

    name = "bench"
    config_schema = BenchConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(name="bench", description="benchmark", entry="f", seeds=("seed",))

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return SEED if name == "seed" else None

    def evaluate(
        self, config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
    ) -> EvalResult:
        time.sleep(float(config.get("sleep_s") or 0))
        return EvalResult(success=True, metrics={"score": float(len(program) % 97)})


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(Bench())
    register(NoisyTask())


@hookimpl
def harness_register_proposers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("instant", InstantProposer)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    register("llm", "instant", InstantConf)
