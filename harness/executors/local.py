"""A pool of local worker processes for evaluations (``executor=local``)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from harness import plugins
from harness.evaluation import evaluate_program
from harness.lifetime import guard_worker, make_undumpable
from harness.sandbox import Limits, kill_running_candidates
from harness.task import EvalResult


def _worker_init(orchestrator: int) -> None:
    """Workers leave Ctrl-C to the orchestrator, which stops the run cleanly, and leave the
    one "no isolation" warning to the orchestrator's log. They end, with their candidates,
    when the orchestrator is gone (even killed with SIGKILL), and hide their memory."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("harness.sandbox").setLevel(logging.ERROR)
    guard_worker(orchestrator, kill_running_candidates)
    make_undumpable()


def _warm() -> None:
    plugins.load_plugins()


class LocalExecutor:
    """Spawned worker processes.

    When a worker dies, every evaluation running on the pool fails with it. Each of them is
    retried once in a worker of its own, so only the evaluation that kills its worker
    becomes a ``worker_crash`` node.
    """

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self._generation = 0
        self._pool = self._new_pool(self.processes)
        self._solo: set[ProcessPoolExecutor] = set()
        # Start every worker now (a pool only starts one per submitted task) and let each
        # import the plugins while the seed is evaluated, so the first wave of rounds does
        # not pay W start-ups at once.
        for _ in range(self.processes):
            self._pool.submit(_warm)

    @staticmethod
    def _new_pool(processes: int) -> ProcessPoolExecutor:
        if multiprocessing.get_start_method() not in multiprocessing.get_all_start_methods():
            # Inside a joblib/loky worker (hydra/launcher=joblib) the global start method is
            # "loky", which a spawned child cannot restore; workers must see a standard one.
            multiprocessing.set_start_method("spawn", force=True)
        return ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def _replace_pool(self, generation: int) -> None:
        if generation == self._generation:  # the first evaluation to notice replaces it
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool(self.processes)
            self._generation += 1

    async def evaluate(self, config: dict[str, Any], program: str, limits: Limits) -> EvalResult:
        loop = asyncio.get_running_loop()
        generation = self._generation
        try:
            return await loop.run_in_executor(self._pool, evaluate_program, config, program, limits)
        except BrokenProcessPool:
            self._replace_pool(generation)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            return unreturnable(exc)
        solo = self._new_pool(1)
        self._solo.add(solo)
        try:
            return await loop.run_in_executor(solo, evaluate_program, config, program, limits)
        except BrokenProcessPool:
            return EvalResult(
                success=False,
                error_class="worker_crash",
                feedback="The evaluation worker process died on this program, also when "
                "retried alone (killed or crashed outside the candidate's sandbox).",
            )
        except Exception as exc:  # noqa: BLE001
            return unreturnable(exc)
        finally:
            self._solo.discard(solo)
            solo.shutdown(wait=False)

    def shutdown(self, kill: bool = False) -> None:
        """Stop the workers; ``kill`` ends running evaluations now instead of waiting."""
        for pool in (self._pool, *self._solo):
            if kill:
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.kill()
            pool.shutdown(wait=not kill, cancel_futures=True)


def unreturnable(exc: Exception) -> EvalResult:
    """The failed evaluation that stands for a result its worker could not send back."""
    tail = "".join(traceback.format_exception(exc)[-4:])
    return EvalResult(
        success=False,
        error_class="evaluator_error",
        feedback=f"The evaluation could not be returned from its worker: {tail}",
    )
