"""One evaluation, as a worker process runs it: the task's evaluate hook, then scoring.

Runs in an evaluation worker, never in the orchestrator. The candidate itself runs in a
further sandboxed child started by the task's evaluator (see :mod:`harness.sandbox`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from harness import plugins
from harness.sandbox import Limits
from harness.task import EvalResult


def _score(config: dict[str, Any], result: EvalResult) -> float | None:
    caller = plugins.task_hook(config["name"], "harness_score")
    if caller.get_hookimpls():
        score = caller(config=config, result=result)
    else:
        score = result.metrics.get("score") if result.success else None
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    return float(score) if math.isfinite(score) else None


def evaluate_program(config: dict[str, Any], program: str, limits: Limits) -> EvalResult:
    """Evaluate ``program`` for the task in ``config`` in a fresh private work dir.

    An exception in the (trusted) evaluator is reported as a failed result, so one bad
    evaluation never stops a run.
    """
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="harness-eval-"))
    try:
        caller = plugins.task_hook(config["name"], "harness_evaluate")
        result = caller(config=config, program=program, workdir=workdir, limits=limits)
        if not isinstance(result, EvalResult):
            raise TypeError(f"harness_evaluate returned {type(result).__name__}, not EvalResult")
        result.score = _score(config, result)
        if result.success and result.score is None:
            result.success = False
            result.error_class = result.error_class or "no_score"
            result.feedback = (result.feedback + "\nNo finite score was produced.").strip()
    except Exception as exc:  # noqa: BLE001 - the evaluator's own bug becomes a failed node
        tail = "".join(traceback.format_exception(exc)[-6:])
        result = EvalResult(
            success=False,
            error_class="evaluator_error",
            feedback=f"The task's evaluator raised {type(exc).__name__}: {exc}\n{tail}",
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.metrics.setdefault("eval_seconds", round(time.monotonic() - started, 4))
    return result
