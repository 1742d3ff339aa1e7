"""A two-objective task for the pareto sampler's tests (``HARNESS_PLUGINS=harness_pareto_toy``).

Task ``pareto_toy``: the candidate's ``f()`` returns two numbers ``a, b`` in ``[0, 1]``;
points outside the unit circle are pulled back onto it, so the arc is a real trade-off
between the metrics ``a`` and ``b`` (also reported per instance as ``cases: [a, b]``).
Anything else fails without metrics. The score is ``a + b``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import EvalResult, Limits, Task, TaskConf, TaskSpec, hookimpl, run_candidate
from harness.task import finite

SEED = """# EVOLVE-BLOCK-START
def f():
    return [0.9, 0.2]
# EVOLVE-BLOCK-END
"""


class ParetoToy(Task):
    name = "pareto_toy"
    config_schema = TaskConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(
            name="pareto_toy",
            description="Make f() return two numbers in [0, 1], both as large as possible.",
            entry="f",
            seeds=("seed",),
            timeout_s=float(config.get("timeout_s") or 10),
            memory_mb=int(config.get("memory_mb") or 512),
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return SEED if name == "seed" else None

    def evaluate(
        self, config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
    ) -> EvalResult:
        run = run_candidate(program, "f", limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        value = run.value
        pair = [finite(v) for v in value] if isinstance(value, list) and len(value) == 2 else []
        if len(pair) != 2 or any(v is None or not 0 <= v <= 1 for v in pair):
            return EvalResult(success=False, feedback="f() must return [a, b] in [0, 1]")
        a, b = (float(v) for v in pair)  # type: ignore[arg-type]
        radius = math.hypot(a, b)
        if radius > 1:
            a, b = a / radius, b / radius
        return EvalResult(success=True, metrics={"a": a, "b": b, "cases": [a, b]}, feedback="ok")

    def score(self, config: dict[str, Any], result: EvalResult) -> float | None:
        return result.metrics["a"] + result.metrics["b"] if result.success else None


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(ParetoToy())
