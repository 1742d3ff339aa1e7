"""The ``circle_packing`` task: pack n circles in the unit square, maximising the sum of radii."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.hookspecs import hookimpl
from harness.sandbox import Limits, run_candidate
from harness.task import Descriptor, EvalResult, Task, TaskConf, TaskSpec

from harness_circle_packing.cognition import COGNITION

if TYPE_CHECKING:  # the validator imports numpy: the first evaluation loads it, not --help
    from harness_circle_packing.validator import Validation

ENTRY = "construct_packing"
SEEDS = ("naive", "strong")
# Best published sums (AlphaEvolve V2, matched by several systems; see the README).
BEST_KNOWN = {26: 2.635983, 32: 2.939572}
TIMEOUT_S = 60.0
_STDOUT_TAIL = 800


@dataclass
class CirclePackingConf(TaskConf):
    """``conf/task/circle_packing.yaml``: the core's task keys plus ``n``."""

    n: int = 26


def task_n(config: dict[str, Any]) -> int:
    """The number of circles; only the sizes with a known best value are supported."""
    n = config.get("n", 26)
    if isinstance(n, bool) or n not in BEST_KNOWN:
        choices = " or ".join(str(k) for k in BEST_KNOWN)
        raise ValueError(f"task.n must be {choices} for circle_packing, got {n!r}")
    return int(n)


def describe(n: int, timeout_s: float) -> str:
    """The researcher's task text."""
    return f"""\
Pack {n} circles into the unit square [0, 1] x [0, 1] so that the sum of their radii is as
large as possible. The best known sum for n = {n} is {BEST_KNOWN[n]}.

The program must define `{ENTRY}(n)`, which is called with n = {n} and returns
`(centers, radii)`: array-likes of shape ({n}, 2) and ({n},) (numpy arrays or nested lists).
Anything returned after those two values is ignored; the sum of radii is always recomputed
by the evaluator.

Validity is checked exactly, with zero tolerance: every value is converted to an exact
fraction, and a packing is valid only if all values are finite real numbers, every radius
is >= 0, every circle lies inside the square (x - r >= 0, x + r <= 1, and the same for y),
and every pair satisfies (xi - xj)^2 + (yi - yj)^2 >= (ri + rj)^2. A single violation, even
of 1e-15, makes the packing invalid and it scores nothing; leave a tiny safety margin.

The program has a wall-clock limit of {timeout_s:g} s (plan for a single CPU core); a run
that times out scores nothing. Allowed imports: the Python standard library, numpy and
scipy. The score is the sum of radii of a valid packing (higher is better)."""


class CirclePacking(Task):
    """The task object: spec, seeds from ``seeds/``, sandboxed evaluation, exact scoring."""

    name = "circle_packing"
    package = "harness_circle_packing"
    config_schema = CirclePackingConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        n = task_n(config)
        timeout_s = float(config.get("timeout_s") or TIMEOUT_S)
        return TaskSpec(
            name=self.name,
            description=describe(n, timeout_s),
            entry=ENTRY,
            seeds=SEEDS,
            cognition=COGNITION,
            best_known=BEST_KNOWN[n],
            descriptors=(
                Descriptor("num_distinct_radii", 1, n, "how many different radii the packing uses"),
                Descriptor("boundary_fraction", 0, 1, "the share of circles touching a side"),
            ),
            timeout_s=timeout_s,
            memory_mb=int(config.get("memory_mb") or 2048),
        )

    def evaluate(
        self,
        config: dict[str, Any],
        program: str,
        workdir: Path,
        limits: Limits,
        stage: str | None,
    ) -> EvalResult:
        started = time.monotonic()
        n = task_n(config)
        run = run_candidate(program, ENTRY, args=(n,), limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(
                success=False,
                feedback=run.feedback(),
                error_class=run.error_class,
                metrics={"n": n, "valid": 0, "eval_seconds": round(time.monotonic() - started, 4)},
            )
        from harness_circle_packing.validator import validate_return

        validation = validate_return(run.value, n)
        metrics = _metrics(validation, n)
        metrics["candidate_seconds"] = round(run.seconds, 4)
        metrics["eval_seconds"] = round(time.monotonic() - started, 4)
        return EvalResult(
            success=validation.valid,
            metrics=metrics,
            feedback=_feedback(validation, n, run.stdout),
            error_class=None if validation.valid else "invalid",
            artifacts=_artifacts(validation, run.value),
        )

    def score(self, config: dict[str, Any], result: EvalResult) -> float | None:
        """The sum of radii, only for a packing the exact validator accepted."""
        if not result.success or result.metrics.get("valid") != 1:
            return None
        return float(result.metrics["sum_radii"])


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(CirclePacking())
    from harness_circle_packing.c_task import CirclePackingC  # it imports this module

    register(CirclePackingC())


def _metrics(validation: Validation, n: int) -> dict[str, Any]:
    """Validity and geometry; ``sum_radii`` counts only for a valid packing."""
    total = validation.sum_radii if validation.valid else 0.0
    metrics: dict[str, Any] = {
        "n": n,
        "valid": int(validation.valid),
        "sum_radii": total,
        "target_ratio": total / BEST_KNOWN[n],
    }
    if validation.parsed:
        metrics.update(
            worst_violation=validation.worst_violation,
            min_slack=validation.min_slack,
            min_radius=validation.min_radius,
            num_distinct_radii=validation.num_distinct_radii,
            boundary_fraction=validation.boundary_fraction,
            num_violations=validation.num_violations,
        )
    return metrics


def _feedback(validation: Validation, n: int, stdout: str) -> str:
    lines = [validation.message]
    if validation.valid:
        ratio = validation.sum_radii / BEST_KNOWN[n]
        lines.append(f"{ratio:.6f} of the best known sum {BEST_KNOWN[n]} for n = {n}.")
    if stdout.strip():
        lines.append(f"stdout (last {_STDOUT_TAIL} characters):\n{stdout[-_STDOUT_TAIL:]}")
    return "\n".join(lines)


def _artifacts(validation: Validation, value: Any) -> dict[str, str]:
    """The returned packing, kept for inspection when it had the right shape."""
    if not validation.parsed:
        return {}
    return {"packing.json": json.dumps({"centers": value[0], "radii": value[1]})}
