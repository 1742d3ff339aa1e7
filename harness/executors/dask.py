"""Evaluations on Dask distributed (``executor=dask``).

Without ``executor.address`` the executor starts a ``distributed.LocalCluster`` on this
machine, bound to 127.0.0.1 only (scheduler, nannies and workers; no dashboard): one
single-threaded worker process per evaluation in flight. With
``executor.address=tcp://host:8786`` it connects to a scheduler that is already running
(``dask scheduler``, a dask-jobqueue ``SLURMCluster``/``PBSCluster``...) and never starts
or stops one. See ``docs/executors.md``.

Every evaluation is :func:`harness.evaluation.evaluate_program` on a worker
(:mod:`harness.executors.dask_worker`), exactly as a local worker process runs it: the
task's evaluator runs the candidate in the sandbox of :mod:`harness.sandbox` (scrubbed
environment, own process group killed at the timeout, rlimits, bubblewrap where
available). ``HARNESS_SANDBOX=bwrap`` in the orchestrator's environment is enforced on
every worker.

Workers must be able to import ``harness`` and the task's plugin. LocalCluster workers are
children of the orchestrator and inherit its environment (``HARNESS_PLUGINS``,
``PYTHONPATH``, the virtualenv's entry points); workers of a remote cluster need the same
packages installed in their own environment.

The Dask client is synchronous: its event loop runs in a thread of its own, so neither
the scheduler (in-process for a LocalCluster) nor the client's network traffic runs on
the orchestrator's event loop. An evaluation is awaited by running the client's own
``gather`` coroutine on that loop and wrapping it for the orchestrator's loop; nothing
blocks either loop while an evaluation runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

try:
    import dask
    import distributed
    from distributed.scheduler import KilledWorker
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from harness.executors import ExecutorError

    raise ExecutorError(
        "executor=dask needs Dask distributed, which is not installed: "
        "pip install 'harness-research[dask]'"
    ) from exc

from tornado.platform.asyncio import BaseAsyncIOLoop

from harness.executors.dask_worker import (
    LocalWorkerSetup,
    evaluate_on_worker,
    probe_worker,
    quiet_worker,
)
from harness.executors.local import unreturnable
from harness.sandbox import Limits
from harness.task import EvalResult

log = logging.getLogger("harness.executors.dask")

#: Dask settings for the LocalCluster (its workers get them through their nannies). Many
#: single-threaded workers on a few cores must idle cheaply: the statistical profiler
#: (a sample every 10 ms per worker), the 20 ms event-loop tick and the 0.5 s system
#: monitor cost about 0.03 cores per idle worker, a whole core for 32 workers.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


async def _fetch(client: distributed.Client, future: distributed.Future) -> tuple[bool, Any]:
    """Runs on the client's event loop: wait for ``future`` and gather its payload.

    Returns ``(True, payload)`` or ``(False, exception)``; raises only when cancelled.
    """
    try:
        return True, await client.gather(future, asynchronous=True)
    except Exception as exc:  # noqa: BLE001 - Dask's CancelledError is an Exception
        return False, exc


def _worker_crash(feedback: str) -> EvalResult:
    return EvalResult(success=False, error_class="worker_crash", feedback=feedback)


def _failed(exc: BaseException, where: str) -> EvalResult:
    """What a failed Dask future means for the node."""
    if isinstance(exc, KilledWorker):
        return _worker_crash(
            "The Dask worker running this evaluation died, also when it was retried on "
            f"another worker (killed or crashed outside the candidate's sandbox): {exc}"
        )
    if isinstance(exc, (distributed.client.CancelledError, OSError, TimeoutError)):
        return _worker_crash(
            f"The evaluation was lost by the Dask cluster at {where} "
            f"({type(exc).__name__}: {exc}); its worker or the scheduler went away."
        )
    # The evaluation function itself cannot run there (e.g. harness is not installed).
    tail = "".join(traceback.format_exception(exc)[-4:])
    return EvalResult(
        success=False,
        error_class="evaluator_error",
        feedback=f"The evaluation could not run on the Dask cluster at {where} (are harness "
        f"and the task's plugin installed on every worker?): {tail}",
    )


@contextlib.contextmanager
def _quiet(level: int = logging.ERROR) -> Iterator[None]:
    """Lower distributed's chatter (expected warnings when workers are stopped)."""
    logger = logging.getLogger("distributed")
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


class DaskExecutor:
    """Evaluations as Dask futures on a LocalCluster or an existing scheduler.

    A worker that dies while evaluating (the evaluator crashed it, the node was lost) is
    replaced by the LocalCluster's nanny and the evaluation is re-run on another worker,
    up to ``allowed_failures`` times; after that, or when the cluster loses the future, the
    node is a ``worker_crash``. Neighbours on other workers are not affected.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        n_workers: int = 1,
        resources: dict[str, float] | None = None,
        connect_timeout_s: float = 10.0,
        memory_limit: str | None = None,
        allowed_failures: int = 1,
    ) -> None:
        self.resources = {str(k): float(v) for k, v in (resources or {}).items()}
        self.cluster: distributed.LocalCluster | None = None
        self._pending: set[distributed.Future] = set()
        self._closed = False
        # The LocalCluster's scheduler and nannies log in this process: keep their INFO
        # lines (workers registering, keys cancelled) out of the run's log.
        self._logger = logging.getLogger("distributed")
        self._log_level = self._logger.level
        if self._logger.getEffectiveLevel() < logging.WARNING:
            self._logger.setLevel(logging.WARNING)
        try:
            self._start(address, n_workers, connect_timeout_s, memory_limit, allowed_failures)
        except BaseException:
            self.shutdown(kill=True)
            raise
        loop = self.client.loop
        if not isinstance(loop, BaseAsyncIOLoop):  # tornado >= 5 runs on asyncio
            self.shutdown(kill=True)
            raise TypeError(f"the Dask client's loop is not asyncio-based: {loop!r}")
        self._loop = loop.asyncio_loop
        log.info(
            "evaluations run on Dask at %s (%s)",
            self.address,
            f"local cluster of {len(self.cluster.workers)} workers"
            if self.cluster
            else "existing scheduler",
        )

    def _start(
        self,
        address: str | None,
        n_workers: int,
        connect_timeout_s: float,
        memory_limit: str | None,
        allowed_failures: int,
    ) -> None:
        if address:
            self.address = address
            self.client = self._connect(address, connect_timeout_s)
            self._check_remote_workers()
            return
        from harness.executors import ExecutorError

        try:
            with _quiet(logging.WARNING), dask.config.set(LOCAL_CLUSTER_CONFIG):
                self.cluster = distributed.LocalCluster(
                    n_workers=max(1, n_workers),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    protocol="tcp",
                    dashboard_address=None,
                    resources=self.resources or None,
                    memory_limit=memory_limit,
                    scheduler_kwargs={
                        "allowed_failures": allowed_failures,
                        # no dashboard; its always-on health/metrics HTTP server takes
                        # a free loopback port instead of 8787
                        "dashboard": False,
                        "dashboard_address": "127.0.0.1:0",
                    },
                )
                self.client = distributed.Client(self.cluster, set_as_default=False)
                self.client.register_plugin(LocalWorkerSetup())
        except Exception as exc:
            raise ExecutorError(
                f"executor=dask: could not start a local Dask cluster of {n_workers} workers "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        self.address = self.cluster.scheduler_address

    @classmethod
    def from_config(cls, config: dict[str, Any], workers: int) -> DaskExecutor:
        return cls(
            address=config.get("address") or None,
            n_workers=int(config.get("n_workers") or workers),
            resources=dict(config.get("resources") or {}),
            connect_timeout_s=float(config.get("connect_timeout_s") or 10.0),
            memory_limit=config.get("memory_limit") or None,
            allowed_failures=int(config.get("allowed_failures", 1)),
        )

    @staticmethod
    def _connect(address: str, timeout_s: float) -> distributed.Client:
        from harness.executors import ExecutorError

        started = time.monotonic()
        try:
            with _quiet(logging.CRITICAL):
                return distributed.Client(address, timeout=timeout_s, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError...
            raise ExecutorError(
                f"executor=dask: cannot connect to the Dask scheduler at {address!r} "
                f"(gave up after {time.monotonic() - started:.1f} s: "
                f"{type(exc).__name__}: {exc}). Start the scheduler (e.g. `dask scheduler`, or "
                "a dask-jobqueue cluster) and pass its address as executor.address, raise "
                "executor.connect_timeout_s, or leave executor.address unset for a local "
                "cluster."
            ) from exc

    def _check_remote_workers(self) -> None:
        """Warn (never fail) about a remote cluster that cannot run our evaluations yet."""
        try:
            info = self.client.scheduler_info(n_workers=-1)  # all workers, not the first 5
        except TypeError:  # distributed before 2025: always all of them
            info = self.client.scheduler_info()
        workers = info.get("workers", {})
        if not workers:
            log.warning(
                "the Dask scheduler at %s has no workers yet; evaluations wait for workers to join",
                self.address,
            )
            return
        if self.resources and not any(
            all(w.get("resources", {}).get(k, 0) >= v for k, v in self.resources.items())
            for w in workers.values()
        ):
            log.warning(
                "no worker of the Dask scheduler at %s offers the resources %s; evaluations "
                'wait for one that does (start workers with `--resources "%s"`)',
                self.address,
                self.resources,
                " ".join(f"{k}={v:g}" for k, v in self.resources.items()),
            )
        try:
            probes = self.client.run(probe_worker)
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "the Dask workers at %s cannot run harness (%s: %s); install harness "
                "and the task's plugin in the workers' environment",
                self.address,
                type(exc).__name__,
                exc,
            )
            return
        plain = sorted(
            addr
            for addr, probe in probes.items()
            if not probe.get("bwrap") and not probe.get("namespace")
        )
        if plain:
            log.warning(
                "%d of %d Dask workers can isolate nothing (no usable bubblewrap, no "
                "user namespaces): candidates there run without filesystem/network "
                "isolation (%s)",
                len(plain),
                len(probes),
                ", ".join(plain[:5]),
            )

    async def evaluate(self, config: dict[str, Any], program: str, limits: Limits) -> EvalResult:
        try:
            future = self.client.submit(
                evaluate_on_worker,
                config,
                program,
                limits,
                os.environ.get("HARNESS_SANDBOX", "").strip().lower() or None,
                key=f"harness-eval-{uuid.uuid4().hex}",
                pure=False,
                resources=self.resources or None,
            )
        except Exception as exc:  # noqa: BLE001 - the client is closed or disconnected
            return _worker_crash(
                f"The evaluation could not be sent to the Dask cluster at {self.address} "
                f"({type(exc).__name__}: {exc})."
            )
        self._pending.add(future)
        waiting = asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(_fetch(self.client, future), self._loop)
        )
        try:
            # shielded: a cancelled round cancels the Dask future (below), which ends the
            # gather on the client's loop cleanly instead of interrupting it
            ok, value = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # A queued evaluation is dropped; a running one finishes on its worker (Dask
            # cannot interrupt a task) unless shutdown(kill=True) stops the local cluster.
            with contextlib.suppress(Exception):
                future.cancel()
            raise
        finally:
            self._pending.discard(future)
        if not ok:
            return _failed(value, self.address)
        try:
            return pickle.loads(value)
        except Exception as exc:  # noqa: BLE001 - e.g. a class the orchestrator cannot import
            return unreturnable(exc)

    def worker_pids(self) -> list[int]:
        """Process ids of the LocalCluster's workers (empty for a remote cluster)."""
        if self.cluster is None:
            return []
        pids = []
        for nanny in list(self.cluster.workers.values()):
            pid = getattr(getattr(nanny, "process", None), "pid", None)
            if pid:
                pids.append(pid)
        return pids

    def shutdown(self, kill: bool = False) -> None:
        """Close the client and, for a LocalCluster, stop its workers.

        ``kill`` ends running evaluations now: the LocalCluster's worker processes are
        killed (their sandboxed candidates die with them). On a remote cluster, queued
        evaluations are cancelled and running ones finish on their workers; the cluster
        itself is left running.
        """
        if self._closed:
            return
        self._closed = True
        client = getattr(self, "client", None)
        with _quiet(logging.CRITICAL):
            if kill and self._pending and client is not None:
                with contextlib.suppress(Exception):
                    client.cancel(list(self._pending), force=True)
            if kill and self.cluster is not None:
                for pid in self.worker_pids():
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            elif self.cluster is not None and client is not None:
                with contextlib.suppress(Exception):
                    client.run(quiet_worker, on_error="ignore")
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=10)
            if self.cluster is not None:
                with contextlib.suppress(Exception):
                    self.cluster.close(timeout=10)
        self._logger.setLevel(self._log_level)
