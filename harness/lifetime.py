"""Process lifetime and exposure: nothing outlives the orchestrator, nothing reads its memory.

* :func:`guard_worker` makes an evaluation worker end, with the candidates it is running,
  as soon as its orchestrator is gone, even one killed with SIGKILL or by the OOM killer:
  the kernel's parent-death signal, and a watchdog thread for when the worker's main thread
  is busy in C code and cannot run the signal handler; an alarm bounds the cleanup.
* :func:`make_undumpable` marks a process non-dumpable, so processes of the same user
  without CAP_SYS_PTRACE can neither read its ``/proc/<pid>/environ`` or ``mem`` (where the
  API keys are) nor attach to it. Run as root, only isolation protects it
  (docs/sandbox.md).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
WATCH_INTERVAL_S = 0.5
#: Seconds an orphaned worker has to kill its candidates before the kernel ends it anyway.
ORPHAN_GRACE_S = 3


@functools.cache
def prctl() -> Any:
    """libc's prctl, resolved once before any fork; None where it does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def make_undumpable() -> bool:
    """Mark this process non-dumpable (no core dumps either); whether it worked."""
    call = prctl()
    return call is not None and call(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def guard_worker(parent: int, cleanup: Callable[[], None]) -> None:
    """End this worker (after ``cleanup``, which kills its candidates) once ``parent`` is gone.

    Call it first thing in the worker, with the orchestrator's pid taken before the worker
    was started: if the orchestrator died in between, the worker ends at once.
    """

    def orphaned(*_: object) -> None:
        # SIGALRM keeps its default action (terminate) in workers: whatever blocks the
        # cleanup (a lock, a thread holding the GIL), the kernel ends the worker soon.
        signal.alarm(ORPHAN_GRACE_S)
        try:
            cleanup()
        finally:
            os._exit(1)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        orphaned()

    call = prctl()
    if call is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, on_signal)
        call(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        orphaned()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(WATCH_INTERVAL_S)
        orphaned()

    threading.Thread(target=watch, name="harness-orphan-watch", daemon=True).start()
