"""What ``executor=dask`` runs on its workers (:mod:`harness.executors.dask` is the client).

Dask pickles these functions by reference, so every worker imports this module: it must
stay importable wherever ``harness`` is installed, and never raise into Dask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import traceback
from typing import Any

from distributed import WorkerPlugin

from harness.evaluation import evaluate_program
from harness.executors.local import unreturnable
from harness.sandbox import Limits
from harness.task import EvalResult


def evaluate_on_worker(
    config: dict[str, Any], program: str, limits: Limits, sandbox: str | None
) -> bytes:
    """Runs on a Dask worker: one evaluation, returned pickled.

    Pickling here, not in Dask, means that a result which cannot leave the worker is
    reported as an ``evaluator_error`` evaluation, as on the local executor. Never raises.
    """
    if sandbox in ("bwrap", "namespace"):  # the orchestrator demands it: so does every worker
        os.environ["HARNESS_SANDBOX"] = sandbox
    try:
        result = evaluate_program(config, program, limits)
    except BaseException as exc:  # noqa: BLE001 - e.g. sys.exit() in an evaluator
        if isinstance(exc, KeyboardInterrupt):
            raise
        tail = "".join(traceback.format_exception(exc)[-6:])
        result = EvalResult(
            success=False,
            error_class="evaluator_error",
            feedback=f"The evaluation raised {type(exc).__name__} on its Dask worker: {tail}",
        )
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - metrics or artifacts that cannot be pickled
        return pickle.dumps(unreturnable(exc), protocol=pickle.HIGHEST_PROTOCOL)


def probe_worker() -> dict[str, Any]:
    """Runs on a remote worker at start-up: can it import harness, and isolate candidates
    (bubblewrap, or the kernel's namespaces)?"""
    from harness.sandbox import bwrap_available, namespace_available

    return {"bwrap": bwrap_available(), "namespace": namespace_available(), "pid": os.getpid()}


def quiet_worker() -> None:
    """Runs on each LocalCluster worker just before shutdown: the scheduler may close
    first, and a heartbeat in flight then logs a harmless connection error."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


class LocalWorkerSetup(WorkerPlugin):
    """Set-up of the LocalCluster's workers, as for the local executor's processes: Ctrl-C
    is left to the orchestrator (which stops the run and the cluster cleanly), and the
    one "no isolation" warning to the orchestrator's log."""

    name = "harness-local-worker"

    def setup(self, worker: Any) -> None:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to do
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        logging.getLogger("harness.sandbox").setLevel(logging.ERROR)
        logging.getLogger("distributed").setLevel(logging.ERROR)
