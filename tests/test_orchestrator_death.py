"""The orchestrator alone killed with SIGKILL (or by the OOM killer): its evaluation workers
and the candidates they run must not outlive it, in every sandbox mode (a leftover worker
holds ~140 MB, a leftover candidate may hold a GPU)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HARNESS
from helpers import process_texts

from harness import sandbox

pytestmark = pytest.mark.isolation  # make test-sandbox runs it without bubblewrap too

TAG = "HARNESS_ORPHAN_TEST"
MODES = [
    "none",
    pytest.param("bwrap", marks=pytest.mark.skipif(
        not sandbox.bwrap_available(), reason="bubblewrap missing or its probe failed")),
    pytest.param("namespace", marks=pytest.mark.skipif(
        not sandbox.namespace_available(), reason="user namespaces unusable here")),
]  # fmt: skip


def tagged(mark: str) -> list[str]:
    """Live processes carrying the test's tag in their environment (the orchestrator's
    workers, and every process of the candidates: the tag is no secret, so it is passed on)
    (zombies, with an empty cmdline, do not count)."""
    needle = f"{TAG}={mark}".encode()
    return [
        f"{pid}: {cmdline.replace(bytes(1), b' ')[:200]!r}"
        for pid, environ, cmdline in process_texts()
        if cmdline and needle in environ
    ]


def threads(processes: list[str]) -> str:
    """Where each thread of the leftover ``processes`` waits (state and kernel wait channel),
    for the report of a failure that could not be reproduced at will."""
    lines = []
    for process in processes:
        pid = process.split(":", 1)[0]
        with contextlib.suppress(OSError):
            for tid in sorted(os.listdir(f"/proc/{pid}/task")):
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                    wchan = Path(f"/proc/{pid}/task/{tid}/wchan").read_text()
                    comm, state = stat.split(") ", 1)[0], stat.split(") ", 1)[1][0]
                    lines.append(f"{pid}/{tid} {comm.split('(', 1)[1]} {state} {wchan}")
    return "\n".join(lines)


@pytest.mark.parametrize("mode", MODES)
def test_no_worker_or_candidate_survives_the_orchestrator(mode: str, tmp_path: Path) -> None:
    mark = secrets.token_hex(8)
    env = {**os.environ, TAG: mark, "HARNESS_SANDBOX": mode}
    orchestrator = subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", "task.seed_program=sleeper", "task.timeout_s=300",
         "run.workers=2", f"hydra.run.dir={tmp_path / 'run'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any("b'sleep 3600" in p for p in tagged(mark)):
            assert orchestrator.poll() is None, "the run ended before its candidate ran"
            assert time.monotonic() < deadline, "the candidate never started"
            time.sleep(0.05)
        assert len(tagged(mark)) >= 3, tagged(mark)  # workers, the candidate, its sleep
        orchestrator.kill()  # the orchestrator alone, not its process group
        orchestrator.wait()
        gone = time.monotonic() + 10
        while (left := tagged(mark)) and time.monotonic() < gone:
            time.sleep(0.05)
        assert left == [], f"alive 10 s after the orchestrator died: {left}\n{threads(left)}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(") ", 1)[1].startswith(("Z", "X"))


def test_an_orphaned_worker_ends_even_when_its_cleanup_hangs(tmp_path: Path) -> None:
    """The cleanup (killing candidates) can block on a lock or a stuck thread; the worker
    must end all the same once its orchestrator is gone, or it outlives it for good."""
    worker = (
        "import sys, time\n"
        "from harness.lifetime import guard_worker\n"
        "guard_worker(int(sys.argv[1]), lambda: time.sleep(3600))\n"
        "print('guarded', flush=True)\n"
        "time.sleep(3600)\n"
    )
    parent = (
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {worker!r}, str(os.getpid())])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(3600)\n"
    )
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert orchestrator.stdout is not None
        pid = int(orchestrator.stdout.readline())
        assert orchestrator.stdout.readline().strip() == "guarded"
        orchestrator.kill()
        orchestrator.wait()
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid), f"the worker {pid} outlived its orchestrator by 10 s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
