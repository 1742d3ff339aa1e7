"""Starting a candidate's child process and making sure nothing of it survives: the
timeout, the final kill (process group, pid namespace, cgroup, adopted orphans) and the
registry of running candidates a dying worker kills."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.lifetime import PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG
from harness.lifetime import prctl as _prctl
from harness.sandbox.cgroup import Cgroup, user_tasks
from harness.sandbox.limits import Limits, rlimits
from harness.sandbox.mounts import bwrap_argv, namespace_argv, namespace_spec
from harness.sandbox.policy import SandboxError

#: The variable that marks every process of one plain-mode candidate run (see _kill_adopted).
RUN_MARK = "HARNESS_SANDBOX_RUN"
_NAMESPACE_GRACE_S = 5.0

#: The candidates this process is running now, by run token: what to kill if it must go.
_running: dict[str, tuple[int, Cgroup | None]] = {}
#: Re-entrant: an orphaned worker's SIGTERM handler (:func:`harness.lifetime.guard_worker`)
#: kills the candidates on the main thread, which may hold the lock when it is interrupted.
_running_lock = threading.RLock()


@dataclass(frozen=True)
class Start:
    """What to start for one candidate run, and how it is isolated."""

    cmd: list[str]
    isolated: str | None
    bwrap: str | None
    workdir: Path
    env: dict[str, str]
    token: str
    hidden: tuple[str, ...] = ()


def execute(
    start: Start,
    out: IO[bytes],
    err: IO[bytes],
    limits: Limits,
    cgroup: Cgroup | None = None,
) -> tuple[int, bool, float]:
    """Start the child, wait up to the timeout, then kill everything it left; (rc, timed out, s).

    Isolated, the child reports its namespace's pid 1 on a pipe (bwrap's ``--info-fd``, the
    launcher's INFO_FD); killing that pid 1 kills everything inside. In plain mode this
    process adopts orphaned descendants (a subreaper) and kills those carrying this run's
    mark, never another thread's candidate.
    """
    nproc = None
    if cgroup is None and os.getuid() != 0:  # RLIMIT_NPROC counts all the user's tasks
        nproc = user_tasks() + limits.max_processes
    cgroup_fd = cgroup.procs_fd if cgroup is not None else -1
    cmd = start.cmd
    with contextlib.ExitStack() as cleanup:
        info_r = info_w = spec_r = -1
        if start.isolated is not None:
            info_r, info_w = os.pipe()
            cleanup.callback(os.close, info_r)
        if start.isolated == "bwrap":
            assert start.bwrap is not None
            cmd = [*bwrap_argv(start.bwrap, start.workdir, info_w, start.hidden), *cmd]
        elif start.isolated == "namespace":
            spec_r, spec_w = os.pipe()
            with os.fdopen(spec_w, "w") as spec:
                json.dump(namespace_spec(start.workdir, start.hidden), spec)
            cmd = namespace_argv(spec_r, info_w, cmd)
        elif _become_subreaper():
            cleanup.callback(_kill_adopted, _children(), start.token)
        fds = tuple(fd for fd in (info_w, spec_r) if fd >= 0)
        began = time.monotonic()
        deadline = began + limits.timeout_s
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=start.workdir,
                env=start.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=functools.partial(
                    _set_rlimits, rlimits(limits, nproc), _prctl(), cgroup_fd, os.getpid()
                ),
                pass_fds=fds,
            )
        finally:
            for fd in fds:
                os.close(fd)
        namespace_init = None
        with _running_lock:
            _running[start.token] = (proc.pid, cgroup)
        try:
            if start.isolated is not None:
                namespace_init = _namespace_init(info_r, deadline)
            exited = _wait_exit(proc.pid, deadline)
            seconds = time.monotonic() - began
        finally:
            returncode = _kill_all(proc, namespace_init, cgroup)
            with _running_lock:
                _running.pop(start.token, None)
    return returncode, not exited, seconds


def kill_running_candidates() -> None:
    """SIGKILL every candidate this process is running, with all it started (its process
    group, its cgroup, its escaped orphans): for a worker whose orchestrator is gone. An
    isolated candidate also dies with its launcher, which dies with this process."""
    with _running_lock:
        running = list(_running.items())
    for token, (pgid, cgroup) in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if cgroup is not None:
            cgroup.kill_all()
        _kill_adopted(set(), token)


def _namespace_init(info_r: int, deadline: float) -> int | None:
    """pidfd of the sandbox's pid-1 process, read from bwrap's --info-fd (or the launcher's).

    bwrap exits as soon as the candidate does, slightly *before* its pid-1 dies and the kernel
    kills the rest of the pid namespace; waiting on this pidfd closes that gap. A setup
    failure the launcher reports raises :class:`SandboxError`.
    """
    data = b""
    while b"}" not in data:
        ready, _, _ = select.select([info_r], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(info_r, 4096) if ready else b""
        if not chunk:
            return None
        data += chunk
    try:
        info = json.loads(data)
    except ValueError:
        return None
    if isinstance(info, dict) and "error" in info:
        raise SandboxError(f"the candidate's namespace could not be set up: {info['error']}")
    try:
        return os.pidfd_open(int(info["child-pid"]))
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _wait_exit(pid: int, deadline: float) -> bool:
    """Wait for the child to exit *without reaping it*, so its pgid stays reserved for killpg."""
    delay = 0.001
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)


def _kill_all(
    proc: subprocess.Popen[bytes], namespace_init: int | None, cgroup: Cgroup | None = None
) -> int:
    """SIGKILL the child's process group (and pid namespace, and cgroup), then reap the child:
    its rc. With a cgroup, this returns only once every process of the candidate is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if namespace_init is not None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(namespace_init, signal.SIGKILL)
        select.select([namespace_init], [], [], _NAMESPACE_GRACE_S)
        os.close(namespace_init)
    if cgroup is not None:
        cgroup.kill_all()
    return proc.wait()


def _set_rlimits(
    rlimits: list[tuple[int, int, int]],
    prctl: Any = None,
    cgroup_procs: int = -1,
    parent: int | None = None,
) -> None:
    """preexec_fn (after fork, before exec). The limits also bind bwrap, which starts fine under
    them and passes them on. The child joins the run's cgroup (if any), so all it starts is
    counted and found, and is told to die with its parent, so a killed worker leaves no
    candidate behind. Like every preexec_fn, not safe if the evaluator forks from a
    multithreaded process; evaluators run in their own worker process."""
    if cgroup_procs >= 0:
        with contextlib.suppress(OSError):
            os.write(cgroup_procs, b"0")  # "0": the writing process itself
    for res, soft, hard in rlimits:
        resource.setrlimit(res, (soft, hard))
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if parent is not None and os.getppid() != parent:
            os._exit(1)  # the parent died before the death signal was armed


@functools.cache
def _become_subreaper() -> bool:
    """Adopt orphaned descendants, so candidates that escape their session can still be
    killed (plain mode only; bwrap's pid namespace already contains them)."""
    prctl = _prctl()
    return prctl is not None and prctl(PR_SET_CHILD_SUBREAPER, 1) == 0


def _children() -> set[int]:
    """Pids whose parent is this process (read from /proc)."""
    me, found = os.getpid(), set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat_line = handle.read()
        except OSError:
            continue
        fields = stat_line[stat_line.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.add(int(entry.name))
    return found


def _kill_adopted(before: set[int], token: str) -> None:
    """SIGKILL and reap the children that appeared during the run and carry its mark: this
    run's escaped candidates, adopted by this subreaper. Not the other children that
    appeared meanwhile (another thread's candidate or a subprocess of an evaluator), whose
    environment has no mark or another one; a process whose environment cannot be read
    (it made itself non-dumpable) only a candidate would be."""
    mark = f"{RUN_MARK}={token}".encode()
    for pid in _children() - before:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                ours = mark in handle.read().split(b"\0")
        except PermissionError:
            ours = True
        except OSError:
            continue
        if not ours:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
