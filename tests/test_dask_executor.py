"""``executor=dask``: whole runs, the sandbox on Dask workers, resources, failures, shutdown.

Every cluster here is a ``LocalCluster`` bound to 127.0.0.1 (about a second to start).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_loop

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

from harness import db as store  # noqa: E402
from harness.executors import ExecutorError, make_executor  # noqa: E402
from harness.executors.dask import DaskExecutor  # noqa: E402
from harness.sandbox import Limits  # noqa: E402
from harness.tasks import RunError  # noqa: E402

GOOD = "def f():\n    return 3.0\n"
LIMITS = Limits(timeout_s=10, memory_mb=512)
SECRET = "HARNESS_DASK_TEST_API_KEY"
MARKER = "HARNESS_DASK_TEST_MARKER"
# 1 when the candidate sees the ordinary variable, +10 when it sees the secret one
SPY = f"""import os

def f():
    return (1.0 if {MARKER!r} in os.environ else 0.0) + (10.0 if {SECRET!r} in os.environ else 0.0)
"""
SLEEPER = "import time\n\ndef f():\n    time.sleep(600)\n    return 1.0\n"


def evaluate(executor, program, config=None, limits=LIMITS):
    return asyncio.run(executor.evaluate(config or {"name": "toy"}, program, limits))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_dead(pids, timeout=15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def children() -> set[int]:
    """This process's live descendants, less multiprocessing's long-lived resource tracker.
    A child that has exited but is not reaped yet (a zombie: in an xdist worker, an earlier
    test's) has no command line and is no worker."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if not any("resource_tracker" in part for part in child.cmdline()):
                found.add(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return found


def ignored_signals(pid: int) -> int:
    """The mask of signals the process ignores (``SigIgn`` in ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn line for {pid}")


async def wait_for_descendants(pids, task: asyncio.Future, timeout: float = 60.0) -> list[int]:
    """The descendants of ``pids`` once there are some, polled while ``task`` runs; an
    empty list if ``task`` ends first or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not task.done() and time.monotonic() < deadline:
        found = descendants(pids)
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


class RestrictionLog(SchedulerPlugin):
    """On the scheduler: the resource restrictions of every harness evaluation, recorded
    when it is assigned to a worker."""

    name = "harness-test-restriction-log"

    async def start(self, scheduler) -> None:
        self.scheduler, self.seen = scheduler, {}

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        # by key: a task moved to another worker (work stealing) is assigned twice
        if finish == "processing" and str(key).startswith("harness-eval-"):
            self.seen[key] = dict(self.scheduler.tasks[key].resource_restrictions or {})


def descendants(pids) -> list[int]:
    found = []
    for pid in pids:
        try:
            found += [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture(scope="module")
def executor():
    """Two local workers, started with an API key in the orchestrator's environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET, "sk-do-not-leak")
        mp.setenv(MARKER, "visible")
        ex = DaskExecutor(n_workers=2)
        try:
            yield ex
        finally:
            ex.shutdown()


# ------------------------------------------------------------------------ whole runs
def test_a_toy_run_on_dask_finishes_and_leaves_no_workers(tmp_path):
    before = children()
    summary = run_loop(
        tmp_path, "+task=toy", "executor=dask", "run.max_evaluations=12", "run.workers=3", "seed=1"
    )
    assert summary["status"] == "finished"
    assert summary["evaluated"] == 12 and summary["succeeded"] >= 6
    assert summary["best_score"] > summary["seed_score"] == pytest.approx(1.5)
    db = store.open_db(tmp_path)
    assert "executor" in db["runs"].get(1)["config"]
    left = children() - before
    assert wait_dead(left) == []


def test_dask_and_local_runs_with_one_worker_are_the_same_run(tmp_path):
    args = ("+task=toy", "run.max_evaluations=6", "run.workers=1", "seed=4")
    run_loop(tmp_path / "local", *args)
    run_loop(tmp_path / "dask", *args, "executor=dask")
    rows = [
        [
            (n["program"], n["score"], n["status"])
            for n in store.open_db(tmp_path / kind)["nodes"].rows_where(order_by="id")
        ]
        for kind in ("local", "dask")
    ]
    assert rows[0] == rows[1]


def test_a_run_with_gpu_resources_on_a_local_cluster(tmp_path):
    summary = run_loop(
        tmp_path,
        "+task=toy",
        "executor=dask",
        "+executor.resources.GPU=1",
        "executor.n_workers=2",
        "run.max_evaluations=6",
    )
    assert summary["status"] == "finished" and summary["evaluated"] == 6
    assert summary["succeeded"] >= 1


# ------------------------------------------------------------------------ sandbox
def test_a_candidate_on_a_dask_worker_cannot_see_the_orchestrators_api_key(executor):
    worker_env = executor.client.run(lambda: (os.environ.get(SECRET), os.environ.get(MARKER)))
    assert worker_env and all(v == ("sk-do-not-leak", "visible") for v in worker_env.values()), (
        "the worker inherited the orchestrator's environment, key included"
    )
    result = evaluate(executor, SPY)
    assert result.success, result.feedback
    assert result.metrics["value"] == 1.0, "the candidate saw the key (or lost the environment)"


def test_a_timing_out_candidate_on_a_dask_worker_is_killed(executor):
    started = time.monotonic()
    result = evaluate(executor, SLEEPER, limits=Limits(timeout_s=1, memory_mb=512))
    assert time.monotonic() - started < 10
    assert not result.success and result.error_class == "timeout", result.feedback
    leftovers = executor.client.run(
        lambda: [
            p.pid
            for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE
        ]
    )
    assert all(not pids for pids in leftovers.values()), leftovers


def test_the_local_cluster_listens_on_loopback_only(executor):
    pids = [os.getpid(), *executor.worker_pids()]
    listening = [
        c.laddr
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    assert executor.address.startswith("tcp://127.0.0.1:")


def test_local_cluster_workers_leave_ctrl_c_to_the_orchestrator(executor):
    import signal

    address, pid = next(iter(executor.client.run(os.getpid).items()))
    assert pid in executor.worker_pids()
    assert ignored_signals(pid) & (1 << (signal.SIGINT - 1)), "SIGINT is not ignored"
    os.kill(pid, signal.SIGINT)
    # The worker answers after the signal reached it (a kill is queued before it returns):
    # the same process, on the same address, and it still evaluates.
    assert executor.client.run(os.getpid, workers=[address]) == {address: pid}
    assert alive(pid) and pid in executor.worker_pids()
    assert evaluate(executor, GOOD).score == 3.0


# ------------------------------------------------------------------------ failures
def test_unpicklable_results_and_evaluator_bugs_are_failed_evaluations(executor):
    unpicklable = evaluate(executor, GOOD, {"name": "toy", "fault": "unpicklable"})
    assert not unpicklable.success and unpicklable.error_class == "evaluator_error"
    assert "could not be returned" in unpicklable.feedback
    bug = evaluate(executor, GOOD, {"name": "toy", "fault": "raise"})
    assert not bug.success and bug.error_class == "evaluator_error"
    assert "evaluator bug" in bug.feedback


def test_a_dead_worker_is_a_worker_crash_and_its_neighbour_succeeds(executor):
    config = {"name": "toy", "fault": "exit", "sleep_s": 0.5}

    async def both():
        return await asyncio.gather(
            executor.evaluate(config, GOOD + "# crash\n", LIMITS),
            executor.evaluate(config, GOOD, LIMITS),
        )

    crashed, innocent = asyncio.run(both())
    assert not crashed.success and crashed.error_class == "worker_crash", crashed.feedback
    assert "died" in crashed.feedback
    assert innocent.success and innocent.score == 3.0, innocent.feedback
    deadline = time.monotonic() + 20  # the nanny restarts the dead worker
    while len(executor.client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert evaluate(executor, GOOD).score == 3.0


def test_a_closed_client_gives_a_worker_crash_not_an_exception():
    ex = DaskExecutor(n_workers=1)
    ex.client.close()
    try:
        result = evaluate(ex, GOOD)
        assert not result.success and result.error_class == "worker_crash"
    finally:
        ex.shutdown()


# ------------------------------------------------------------------------ resources
def test_resources_are_given_to_local_workers_and_required_by_every_evaluation():
    ex = DaskExecutor(n_workers=2, resources={"GPU": 1})
    try:
        workers = ex.client.scheduler_info()["workers"].values()
        assert [w["resources"] for w in workers] == [{"GPU": 1.0}, {"GPU": 1.0}]

        ex.client.register_plugin(RestrictionLog())
        result = evaluate(ex, GOOD)
        restrictions = ex.client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.plugins[RestrictionLog.name].seen.values())
        )
        assert restrictions == [{"GPU": 1.0}]
        assert result.success and result.score == 3.0
    finally:
        ex.shutdown()


def test_an_existing_scheduler_is_used_and_left_running(caplog):
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        ex = make_executor(
            {"name": "dask", "address": cluster.scheduler_address, "resources": {"GPU": 1}},
            workers=4,
        )
        try:
            assert ex.cluster is None and ex.worker_pids() == []
            assert "offers the resources" in caplog.text  # its one worker has no GPU
        finally:
            ex.shutdown(kill=True)
        ex = make_executor({"name": "dask", "address": cluster.scheduler_address}, workers=1)
        try:
            assert evaluate(ex, GOOD).score == 3.0
        finally:
            ex.shutdown()
        assert cluster.status.name == "running" and len(cluster.scheduler_info["workers"]) == 1


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()
    with pytest.raises(ExecutorError, match="cannot connect to the Dask scheduler") as info:
        make_executor({"name": "dask", "address": address, "connect_timeout_s": 1}, 2)
    assert time.monotonic() - started < 10
    assert address in str(info.value) and "executor.address" in str(info.value)
    with pytest.raises(RunError, match="cannot connect"):
        run_loop(
            tmp_path,
            "+task=toy",
            "executor=dask",
            f"executor.address={address}",
            "executor.connect_timeout_s=1",
        )


def test_an_unknown_executor_lists_the_available_ones():
    with pytest.raises(ValueError, match="Unknown executor 'dsk'.*'dask'.*Available: dask, local"):
        make_executor({"name": "dsk"}, 1)


# ------------------------------------------------------------------------ shutdown
@pytest.mark.parametrize("kill", [True, False])
def test_shutdown_leaves_no_worker_or_candidate_processes(kill):
    ex = DaskExecutor(n_workers=2)
    workers = ex.worker_pids()
    assert len(workers) == 2

    async def run_and_stop():
        task = asyncio.ensure_future(
            ex.evaluate({"name": "toy"}, SLEEPER, Limits(timeout_s=3 if not kill else 60))
        )
        candidates = await wait_for_descendants(workers, task)
        if kill:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            await task
        started = time.monotonic()
        ex.shutdown(kill=kill)
        return candidates, time.monotonic() - started

    candidates, seconds = asyncio.run(run_and_stop())
    assert candidates, "the candidate was running in a child of a worker"
    assert wait_dead(workers + candidates) == []
    assert seconds < 10


def test_dask_is_imported_only_for_executor_dask():
    code = (
        "import sys\n"
        "import harness.loop\n"
        "from harness.executors import make_executor\n"
        "make_executor({'name': 'local'}, 1).shutdown()\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
