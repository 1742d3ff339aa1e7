"""A synthetic stochastic task with known true means, to test and measure what the core does
with noise (``run.confirm``, estimates, reports) in seconds instead of hours of training.

The candidate's ``f()`` returns a number ``x``; its true quality is
``1 - (x - optimum)^2 / 10`` and one seed's value adds a part every program shares on that
seed (a hard or an easy split: ``seed_sd``) and a part of its own (``noise_sd``), drawn from
the seed and the program's text. Pairing on seeds cancels the shared part; only more seeds
shrink the rest. ``metrics["true_mean"]`` tells a test or a benchmark what the truth was.
Register :class:`NoisyTask` from a plugin's ``harness_register_tasks`` hook, with a
``conf/task/noisy.yaml`` that lists ``/harness_schema/task/noisy@_here_`` first.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.sandbox import Limits, run_candidate
from harness.task import EvalResult, Noise, Task, TaskConf, TaskSpec, finite

SEED = """# EVOLVE-BLOCK-START
def f():
    return 1.5
# EVOLVE-BLOCK-END
"""


@dataclass
class NoisyConf(TaskConf):
    """``task.*`` of ``+task=noisy``."""

    seeds: list[int] = field(default_factory=lambda: [0, 1])
    optimum: float = 3.0
    seed_sd: float = 0.1
    noise_sd: float = 0.3
    #: Seconds an evaluation on a seed >= 1000 (``run.confirm``'s fresh seeds) waits first,
    #: so a test can kill a run in the middle of a confirmation.
    fresh_sleep_s: float = 0.0


def true_mean(x: float, optimum: float) -> float:
    """The quality every seed's value is drawn around."""
    return 1.0 - (x - optimum) ** 2 / 10.0


def draw(seed: int, salt: str, sd: float) -> float:
    """A normal draw that depends only on ``seed`` and ``salt`` (reproducible anywhere)."""
    digest = hashlib.sha256(f"{seed}:{salt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).gauss(0.0, sd)


class NoisyTask(Task):
    """``noisy``: maximise a known quality through per-seed noise."""

    name = "noisy"
    config_schema = NoisyConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return TaskSpec(
            name=self.name,
            description="Make f() return the number whose quality is highest; every "
            "evaluation is noisy, so one lucky score means little.",
            entry="f",
            seeds=("seed",),
            timeout_s=float(config.get("timeout_s") or 10),
            memory_mb=int(config.get("memory_mb") or 512),
            noise=Noise("seeds"),
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        return SEED if name == "seed" else None

    def evaluate(
        self, config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
    ) -> EvalResult:
        if any(int(seed) >= 1000 for seed in config["seeds"]):
            time.sleep(float(config.get("fresh_sleep_s") or 0))
        run = run_candidate(program, "f", limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        x = finite(run.value)
        if x is None:
            return EvalResult(
                success=False, feedback="f() returned no number", error_class="invalid"
            )
        truth = true_mean(x, float(config["optimum"]))
        salt = hashlib.sha256(program.encode()).hexdigest()
        samples = {
            int(seed): truth
            + draw(int(seed), "shared", float(config["seed_sd"]))
            + draw(int(seed), salt, float(config["noise_sd"]))
            for seed in config["seeds"]
        }
        return EvalResult(
            success=True,
            metrics={"x": x, "true_mean": truth},
            feedback=f"f() = {x}",
            samples=samples,
        )
