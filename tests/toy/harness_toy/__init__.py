"""A tiny task plugin for the core's tests, loaded with ``HARNESS_PLUGINS=harness_toy``.

Task ``toy``: the candidate's ``f()`` returns a number and the score is that number,
capped at 10 (so an improvement is easy to find and easy to check). The candidate runs
through the real sandbox; ``task.sleep_s`` slows down every evaluation but the seed's,
which the kill-and-resume tests need; ``task.fault`` breaks the trusted evaluator itself:
``raise`` always, ``exit`` (the worker dies) for programs that contain "crash",
``unpicklable`` returns metrics that cannot leave the worker. ``task.seed_program=tree`` is
the same task as a multi-file program (``main.py`` calls ``helper.py``; ``README.md`` is
read-only), evaluated as ``main:f``.
"""

from __future__ import annotations

import os
import reprlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    CognitionItem,
    Descriptor,
    EvalResult,
    Limits,
    Stage,
    Task,
    TaskConf,
    TaskSpec,
    hookimpl,
    run_candidate,
)
from harness.task import finite
from harness.testing.noisy import NoisyTask
from harness.tree import FileRule, Tree, is_tree

SEED = """# EVOLVE-BLOCK-START
def f():
    return 1.0 + 0.5
# EVOLVE-BLOCK-END
"""
#: A seed whose candidate runs for an hour in a child process (``task.seed_program=sleeper``).
SLEEPER = """# EVOLVE-BLOCK-START
import subprocess


def f():
    subprocess.run(["sleep", "3600"])
    return 1.0
# EVOLVE-BLOCK-END
"""


#: The multi-file seed (``task.seed_program=tree``): f() in main.py returns helper's value.
TREE = Tree.of(
    {
        "main.py": "from helper import value\n\n\ndef f():\n    return value() + 0.5\n",
        "helper.py": "def value():\n    return 1.0\n",
        "README.md": "f() in main.py returns helper.value() + 0.5.\n",
    }
)

SEEDS = {"seed": SEED, "broken": "def f(:\n", "sleeper": SLEEPER, "tree": TREE.text()}


@dataclass
class ToyConf(TaskConf):
    sleep_s: float = 0.0
    fault: str = ""
    cascade_threshold: float | None = None


class Toy(Task):
    name = "toy"
    config_schema = ToyConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(
            name="toy",
            description="Make f() return a larger number (at most 10).",
            entry="f",
            seeds=tuple(SEEDS),
            cognition=(
                CognitionItem("Larger constants give larger return values.", "toy"),
                CognitionItem("Scores are capped at ten.", "toy"),
            ),
            best_known=10.0,
            descriptors=(Descriptor("value", 0.0, 10.0, "what f() returns"),),
            stages=_stages(config),
            timeout_s=float(config.get("timeout_s") or 10),
            memory_mb=int(config.get("memory_mb") or 512),
            files=(FileRule("README.md", "read_only"),),
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return SEEDS.get(name)

    def evaluate(
        self, config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
    ) -> EvalResult:
        started = time.time()
        if program not in (SEED, SEEDS["tree"]) and stage != "quick":
            time.sleep(float(config.get("sleep_s") or 0))
        if config.get("fault") == "raise":
            raise RuntimeError("evaluator bug")
        if config.get("fault") == "exit" and "crash" in program:
            os._exit(3)
        entry = "main:f" if is_tree(program) else "f"
        run = run_candidate(program, entry, limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        value = run.value
        if finite(value) is None:  # the candidate's value is untrusted: bounded feedback
            return EvalResult(
                success=False, feedback=f"f() returned {reprlib.repr(value)}", error_class="invalid"
            )
        metrics: dict[str, Any] = {
            "value": float(value),
            "stage": stage,
            "window": [started, time.time()],
        }
        if config.get("fault") == "unpicklable":
            metrics["lock"] = threading.Lock()
        return EvalResult(success=True, metrics=metrics, feedback="ok")

    def score(self, config: dict[str, Any], result: EvalResult) -> float | None:
        return min(result.metrics["value"], 10.0) if result.success else None


def _stages(config: dict[str, Any]) -> tuple[Stage, ...]:
    """``task.cascade_threshold=T``: a quick stage that needs a score of T, then the full one."""
    threshold = config.get("cascade_threshold")
    if threshold is None:
        return ()
    return (Stage("quick", float(threshold)), Stage("full"))


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(Toy())
    register(NoisyTask())
