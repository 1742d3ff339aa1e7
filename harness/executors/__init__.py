"""Executors run evaluations outside the orchestrator process.

Executors register by name through the ``harness_register_executors`` hook. The built-in
``executor=local`` (:mod:`harness.executors.local`) uses worker processes on this machine;
``executor=dask`` (:mod:`harness.executors.dask`) uses Dask distributed: a loopback-only
``LocalCluster``, or an existing scheduler (``executor.address``) such as a dask-jobqueue
cluster on Slurm or PBS. Both have the same interface (:class:`Executor`): ``evaluate``
never raises for a failure of the candidate, the evaluator or a worker (each becomes a
failed :class:`~harness.task.EvalResult`), and ``shutdown`` stops the workers. The
candidate always runs through :func:`harness.evaluation.evaluate_program` on the worker,
so the sandbox is the same on every executor.

This module stays import-light: an executor's back-end (Dask) is imported only when it
is selected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.sandbox import Limits
    from harness.task import EvalResult


class Executor(Protocol):
    async def evaluate(
        self, config: dict[str, Any], program: str, limits: Limits
    ) -> EvalResult: ...

    def shutdown(self, kill: bool = False) -> None: ...


class ExecutorError(RuntimeError):
    """An executor cannot start: its back-end is not installed or cannot be reached."""


def make_executor(config: dict[str, Any], workers: int) -> Executor:
    """The executor ``config["name"]`` names (default ``local``) for ``workers`` rounds.

    Executors register through the ``harness_register_executors`` hook. Raises
    ``ValueError`` for an unknown name and :class:`ExecutorError` when the executor cannot
    start (Dask not installed, an unreachable scheduler).
    """
    from harness.plugins import UnknownNameError, get_executor_factory

    name = str(config.get("name") or "local")
    try:
        factory = get_executor_factory(name)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from exc
    return factory(config, workers)
