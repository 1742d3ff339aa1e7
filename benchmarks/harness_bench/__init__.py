"""A benchmark-only plugin: the ``bench`` task (trivial evaluation) and ``llm=instant``.

Loaded with ``HARNESS_PLUGINS=harness_bench`` and ``benchmarks/`` on ``PYTHONPATH``, so
the loop's own overhead can be measured without an LLM or a sandboxed candidate.
``task.sleep_s`` makes the evaluator sleep that long in every evaluation (the candidate
stays trivial), for measuring parallel efficiency (``benchmarks/parallel.py``).
``task.files`` makes the seed a generated module of about 1 KB (``1``) or a tree of that
many such modules (``2`` and more), whose growth in the store ``benchmarks/tree_store.py``
measures: ``llm=instant`` then edits one line of one file per round.
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
from harness.tree import Tree, is_tree

SEED = "def f():\n    return 1.0\n"


def module(index: int, lines: int = 12) -> str:
    """A distinct Python module of about 1 KB, ending with the line ``llm=instant`` edits."""
    body = [f'"""Generated module {index} of the tree benchmark."""\n\n']
    for k in range(lines):
        body.append(f"def step_{index}_{k}(x: float) -> float:\n")
        body.append(f"    return x * {index + 1}.{k:02d} + {k * index % 97}  # step {k}\n\n")
    return "".join(body) + "# round\nROUND = 0\n"


def seed_of(files: int) -> str:
    """The bench seed: the tiny one (0), one module (1), or a tree of ``files`` modules."""
    if files <= 0:
        return SEED
    if files == 1:
        return module(0)
    return Tree.of({f"pkg/mod_{i:03d}.py": module(i) for i in range(files)}).text()


def next_round(program: str, node_id: int) -> str:
    """The program with its ``ROUND`` line set to ``node_id`` (one file of a tree, by
    turns): a one-line edit that no earlier node made."""
    if not is_tree(program):
        return f"{program.split('# round')[0]}# round\nROUND = {node_id}\n"
    tree = Tree.parse(program)
    path = list(tree)[node_id % len(tree)]
    return tree.with_file(path, next_round(tree[path], node_id)).text()


class InstantProposer:
    """Returns the parent with a counter appended: no model, no latency. The counter is a
    statement, not a comment, so no proposal is a duplicate of an earlier program."""

    name = "instant"
    model = "instant"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    async def propose(self, request: ProposalRequest) -> Proposal:
        program = next_round(request.parent.program, request.node_id)
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
    files: int = 0


class Bench(Task):
    """A trivial evaluation; the default score (``metrics["score"]``)."""

    name = "bench"
    config_schema = BenchConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(name="bench", description="benchmark", entry="f", seeds=("seed",))

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return seed_of(int(config.get("files") or 0)) if name == "seed" else None

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
