"""Evaluation workers: a broken evaluator or a dead worker is a failed node, not a crash."""

from __future__ import annotations

import asyncio

from harness.evaluation import evaluate_program
from harness.executors.local import LocalExecutor
from harness.sandbox import Limits

GOOD = "def f():\n    return 3.0\n"
LIMITS = Limits(timeout_s=10, memory_mb=512)


def test_scores_come_from_the_scoring_hook_not_the_candidate():
    result = evaluate_program({"name": "toy"}, "def f():\n    return 99.0\n", LIMITS)
    assert result.success and result.score == 10.0 and result.metrics["value"] == 99.0


def test_an_evaluator_exception_becomes_a_failed_result():
    result = evaluate_program({"name": "toy", "fault": "raise"}, GOOD, LIMITS)
    assert not result.success and result.error_class == "evaluator_error"
    assert "RuntimeError: evaluator bug" in result.feedback


def test_a_dead_worker_is_replaced_and_its_neighbours_are_retried():
    crash = GOOD + "# crash\n"
    config = {"name": "toy", "fault": "exit", "sleep_s": 0.5}
    executor = LocalExecutor(2)

    async def both():
        return await asyncio.gather(
            executor.evaluate(config, crash, LIMITS), executor.evaluate(config, GOOD, LIMITS)
        )

    try:
        crashed, innocent = asyncio.run(both())
        assert not crashed.success and crashed.error_class == "worker_crash"
        assert innocent.success and innocent.score == 3.0, innocent.feedback
        after = asyncio.run(executor.evaluate({"name": "toy"}, GOOD, LIMITS))
        assert after.success and after.score == 3.0
    finally:
        executor.shutdown()


def test_a_result_that_cannot_be_returned_is_a_failed_evaluation():
    executor = LocalExecutor(1)
    try:
        result = asyncio.run(
            executor.evaluate({"name": "toy", "fault": "unpicklable"}, GOOD, LIMITS)
        )
        assert not result.success and result.error_class == "evaluator_error"
    finally:
        executor.shutdown()
