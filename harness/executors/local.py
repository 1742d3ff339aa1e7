"""A pool of local worker processes for evaluations (``executor=local``)."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from harness.evaluation import evaluate_program
from harness.sandbox import Limits
from harness.task import EvalResult


class LocalExecutor:
    """Spawned worker processes; a crashed worker is replaced and its node marked failed."""

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
        )

    async def evaluate(self, config: dict[str, Any], program: str, limits: Limits) -> EvalResult:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, evaluate_program, config, program, limits
            )
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return EvalResult(
                success=False,
                error_class="worker_crash",
                feedback="The evaluation worker process died (killed or crashed).",
            )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(config: dict[str, Any], workers: int) -> LocalExecutor:
    name = config.get("name", "local")
    if name != "local":
        raise ValueError(f"Unknown executor {name!r}. Available: local.")
    return LocalExecutor(config.get("processes") or workers)
