"""The cap on a candidate's processes: a pids cgroup per run where one can be created,
else RLIMIT_NPROC (see :func:`process_cap`)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import secrets
import signal
import time
from pathlib import Path

log = logging.getLogger(__package__)

_CGROUP_GRACE_S = 5.0
_CGROUP_NAME = re.compile(r"harness-(\d+)-[0-9a-f]{12}")

_warned_uncapped = False


def process_cap() -> str | None:
    """How the candidate's processes are capped at ``Limits.max_processes`` here.

    ``"cgroup"``: a pids cgroup per run, where this process may create one (cgroup v1 with
    the pids controller, or a delegated cgroup v2 subtree with pids enabled); it also lets the
    final kill find every process of the candidate, whatever session it moved to. ``"rlimit"``:
    RLIMIT_NPROC set to the user's current task count plus the cap (not for root, which the
    kernel exempts from it). ``None``: no cap (root without a writable pids cgroup).
    """
    if pids_cgroup_parent() is not None:
        return "cgroup"
    return "rlimit" if os.getuid() != 0 else None


@functools.cache
def pids_cgroup_parent() -> Path | None:
    """This process's own cgroup in a hierarchy with the pids controller, if it may create
    child cgroups there (probed once per process)."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in own:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        v2 = hierarchy == "0" and not controllers
        if not v2 and "pids" not in controllers.split(","):
            continue
        for mount in mounts:
            fields = mount.split()
            if "-" not in fields[6:]:
                continue
            tail = fields[fields.index("-", 6) + 1 :]
            if len(tail) < 3 or tail[0] != ("cgroup2" if v2 else "cgroup"):
                continue
            if not v2 and "pids" not in tail[2].split(","):
                continue
            root, point = _unescape(fields[3]), _unescape(fields[4])
            if path != root and not path.startswith(root.rstrip("/") + "/"):
                continue
            parent = Path(point, path[len(root) :].lstrip("/"))
            if cgroup_usable(parent):
                return parent
    return None


def _unescape(field: str) -> str:
    """A /proc/self/mountinfo path field (spaces and the like are octal escapes)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def cgroup_usable(parent: Path) -> bool:
    if not os.access(parent, os.W_OK):
        return False
    _remove_stale_cgroups(parent)
    probe = parent / f"harness-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        (probe / "pids.max").write_text("1")
        return (probe / "cgroup.procs").exists()
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _remove_stale_cgroups(parent: Path) -> None:
    """Remove the (empty) cgroups of runs whose worker was killed before it could."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            match = _CGROUP_NAME.fullmatch(entry.name)
            if match is None or pid_alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                os.rmdir(entry.path)  # fails, harmlessly, while anything is left in it


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cgroup:
    """The pids cgroup of one candidate run: it caps the candidate's processes and threads,
    says whether the cap was hit, and finds every process for the final kill."""

    def __init__(self, path: Path, procs_fd: int) -> None:
        self.path = path
        self.procs_fd = procs_fd  # cgroup.procs, open for the child to write itself into

    @classmethod
    def create(cls, max_tasks: int) -> Cgroup | None:
        parent = pids_cgroup_parent()
        if parent is None:
            return None
        path = parent / f"harness-{os.getpid()}-{secrets.token_hex(6)}"  # see _CGROUP_NAME
        try:
            path.mkdir()
        except OSError as exc:
            log.warning("cannot create a pids cgroup in %s (%s): no process cap", parent, exc)
            return None
        try:
            (path / "pids.max").write_text(str(max(1, max_tasks)))
            fd = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot set up the pids cgroup %s (%s): no process cap", path, exc)
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, fd)

    def limit_hit(self) -> bool:
        """Whether a fork or thread was refused for the cap (pids.events ``max``)."""
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value) > 0
        return False

    def _members(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup until none is left (or the grace runs out)."""
        kill = self.path / "cgroup.kill"  # cgroup v2 kills them all at once
        deadline = time.monotonic() + _CGROUP_GRACE_S
        while members := self._members():
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                log.warning("processes %s of %s survived SIGKILL", members, self.path)
                return
            time.sleep(0.002)

    def remove(self) -> None:
        os.close(self.procs_fd)
        self.kill_all()
        try:
            self.path.rmdir()
        except OSError as exc:
            log.warning("cannot remove the cgroup %s: %s", self.path, exc)


def user_tasks() -> int:
    """Tasks (processes and threads) whose real uid is ours: what RLIMIT_NPROC counts."""
    uid, total = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{entry.name}/status", "rb") as handle:
                status = handle.read()
            fields = {
                key: value.split()
                for key, _, value in (line.partition(b":") for line in status.splitlines())
            }
            if int(fields[b"Uid"][0]) == uid:
                total += int(fields[b"Threads"][0])
    return total


def warn_uncapped() -> None:
    global _warned_uncapped
    if not _warned_uncapped:
        _warned_uncapped = True
        log.warning(
            "candidate programs run WITHOUT a cap on their processes: the evaluator runs as "
            "root (which RLIMIT_NPROC does not bind) and cannot create a pids cgroup here"
        )
