"""Launcher that isolates a command with the kernel's namespaces, where bubblewrap is absent.

Started by ``harness.sandbox`` as ``python -I -S _ns_launcher.py SPEC_FD INFO_FD -- CMD...``,
already in its own session, under the candidate's rlimits and in its cgroup. Like the runner
it is a standalone stdlib-only script (it never imports ``harness``). It does what
``bwrap --ro-bind / / --dev /dev --proc /proc --unshare-{user,pid,net,ipc,uts} --cap-drop ALL``
does for the harness:

1. ``unshare`` a user namespace (the caller's uid and gid mapped to themselves) with new
   mount, pid, network, IPC and UTS namespaces;
2. every mount read-only; the spec's hidden directories covered by empty tmpfs (``/tmp`` a
   private writable one), the interpreter bound back read-only where it lies inside one, the
   work directory bound writable; a minimal ``/dev`` (null, zero, full, random, urandom, tty,
   a private ``/dev/shm``, the spec's GPU nodes); loopback up, nothing else reachable;
3. fork the namespace's pid 1, which mounts a fresh ``/proc`` (so no process outside is
   visible), checks that nothing but the work directory, ``/tmp`` and ``/dev/shm`` is
   writable, and reports its pid on INFO_FD as ``{"child-pid": N}`` (bubblewrap's format);
4. pid 1 forks the command with every capability dropped and ``no_new_privs`` set, reaps
   what is orphaned inside, and exits with the command's status (128 + signal if killed):
   the kernel then kills everything left in the namespace.

A setup failure is reported on INFO_FD as ``{"error": why}`` and the launcher exits 125.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
from typing import Any

SETUP_FAILED = 125
PREFIX = "harness-sandbox: "

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
#: statvfs f_flag bit -> mount flag, for the flags a remount must keep (locked ones).
KEPT_FLAGS = {
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
CAPABILITY_VERSION_3 = 0x20080522
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
#: Always writable inside: the work directory is added from the spec.
WRITABLE = ("/tmp", "/dev/shm", "/proc")

libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The sandbox could not be set up as specified; nothing was run."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.errno = code


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)} (errno {code})", code)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        libc.mount(
            None if source is None else source.encode(),
            target.encode(),
            None if fstype is None else fstype.encode(),
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source or ''} on {target}",
    )


def _remount_readonly(path: str) -> None:
    """Make the mount at ``path`` read-only, keeping the flags the kernel locks on it."""
    kept = 0
    for bit, flag in KEPT_FLAGS.items():
        if os.statvfs(path).f_flag & bit:
            kept |= flag
    _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def _unescape(field: str) -> str:
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        points = [_unescape(line.split()[4]) for line in fh if line.strip()]
    return sorted(set(points), key=lambda p: (p.count("/"), p))


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)


def _makedirs(path: str) -> None:
    os.makedirs(path, exist_ok=True)


def _bind(fd: int, target: str, writable: bool) -> None:
    """Bind what ``fd`` (an O_PATH descriptor opened before the tmpfs covered it) names."""
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
    if writable:
        _mount(None, target, None, MS_REMOUNT | MS_BIND)
    else:
        _remount_readonly(target)


def _enter_namespaces() -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(libc.unshare(ctypes.c_int(flags)), "unshare(user, mount, pid, net, ipc, uts)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")


def _build_filesystem(spec: dict[str, Any]) -> None:
    """Everything read-only, the hidden directories covered, /dev minimal, the workdir writable."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    workdir = spec["workdir"]
    fds = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in [workdir, *spec["keep"]]}
    devices = [f"/dev/{name}" for name in DEVICES if os.path.exists(f"/dev/{name}")]
    devices += [d for d in spec["devices"] if os.path.exists(d)]
    device_fds = {d: os.open(d, os.O_PATH | os.O_CLOEXEC) for d in devices}
    for point in _mount_points():
        try:
            _remount_readonly(point)
        except SetupError as exc:
            if not _unreachable(exc):
                raise
        except OSError as exc:  # statvfs of a path that is covered or not searchable
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                raise SetupError(f"statvfs {point}: {exc}") from exc
    for kind, path in spec["mounts"]:
        _makedirs(path)  # inside a hidden directory mounted before, it is not there
        if kind == "tmpfs":
            mode = "1777" if path == "/tmp" else "0755"
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
        else:  # "keep": bound back read-only inside a hidden directory
            _bind(fds[path], path, writable=False)
    _makedirs(workdir)
    _bind(fds[workdir], workdir, writable=True)
    for path in spec["readonly"]:
        _remount_readonly(path)
    _build_dev(device_fds)
    for fd in [*fds.values(), *device_fds.values()]:
        os.close(fd)


def _unreachable(exc: SetupError) -> bool:
    """Whether a remount failed only because the mount point cannot be reached: it is
    covered by a later mount (EINVAL: no longer a mount point there), or lies in a directory
    this user cannot search. :func:`_check_readonly` re-checks what is reachable."""
    return exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EINVAL)


def _build_dev(device_fds: dict[str, int]) -> None:
    _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")
    for device, fd in device_fds.items():
        _makedirs(os.path.dirname(device))
        with open(device, "x"):
            pass
        _mount(f"/proc/self/fd/{fd}", device, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/shm")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _remount_readonly("/dev")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _mount_proc() -> None:
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"):
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _remount_readonly(path)


def _check_readonly(workdir: str) -> None:
    """Fail closed: every reachable mount but the writable ones must be read-only now."""
    writable = (workdir, *WRITABLE)
    for point in _mount_points():
        if any(point == w or point.startswith(w.rstrip("/") + "/") for w in writable):
            continue
        try:
            flags = os.statvfs(point).f_flag
        except OSError:
            continue  # not reachable from here
        if not flags & os.ST_RDONLY:
            raise SetupError(f"{point} is still writable after the read-only remount")


def _drop_privileges() -> None:
    """No capability left, in any set, and none to gain by exec (bounding set emptied)."""
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    data = bytes(24)
    _check(libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _status(raw: int) -> int:
    if os.WIFSIGNALED(raw):
        return 128 + os.WTERMSIG(raw)
    return os.WEXITSTATUS(raw)


def _namespace_init(spec: dict[str, Any], command: list[str], life: int, ready: int) -> int:
    """Pid 1 of the new pid namespace: /proc and the checks (reported on ``ready``), then the
    command and the reaping."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if select.select([life], [], [], 0)[0]:  # the launcher died before the signal was armed
        return SETUP_FAILED
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        _mount_proc()
        _check_readonly(spec["workdir"])
    except (SetupError, OSError) as exc:
        os.write(ready, str(exc).encode())
        return SETUP_FAILED
    os.close(ready)
    child = os.fork()
    if child == 0:
        try:
            os.close(life)
            _drop_privileges()
            os.chdir(spec["workdir"])
            os.execv(command[0], command)
        except BaseException as exc:  # noqa: BLE001 - reported, then this child ends
            os.write(2, f"{PREFIX}cannot start {command[0]}: {exc}\n".encode())
        os._exit(SETUP_FAILED)
    _drop_privileges()
    while True:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            return SETUP_FAILED
        if pid == child:
            return _status(raw)


def _report(info_fd: int, message: dict[str, Any]) -> None:
    os.write(info_fd, json.dumps(message).encode())
    os.close(info_fd)


def main(argv: list[str]) -> int:
    """Set up, then report ``{"child-pid": N}`` or ``{"error": why}`` on INFO_FD (which the
    candidate never holds, so it cannot forge a setup failure)."""
    spec_fd, info_fd = int(argv[1]), int(argv[2])
    command = argv[argv.index("--") + 1 :]
    with os.fdopen(spec_fd, encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        _enter_namespaces()
        _build_filesystem(spec)
        _loopback_up()
    except (SetupError, OSError) as exc:
        _report(info_fd, {"error": str(exc)})
        return SETUP_FAILED
    life_r, life_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for fd in (life_w, ready_r, info_fd):
            os.close(fd)
        try:
            code = _namespace_init(spec, command, life_r, ready_w)
        except (SetupError, OSError) as exc:
            os.write(2, f"{PREFIX}{exc}\n".encode())
            code = SETUP_FAILED
        os._exit(code)
    os.close(life_r)
    os.close(ready_w)
    failure = b""
    while chunk := os.read(ready_r, 4096):
        failure += chunk
    os.close(ready_r)
    if failure:
        _report(info_fd, {"error": failure.decode(errors="replace")})
        os.waitpid(pid, 0)
        return SETUP_FAILED
    _report(info_fd, {"child-pid": pid})
    while True:
        try:
            _, raw = os.waitpid(pid, 0)
            return _status(raw)
        except InterruptedError:
            continue


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main(sys.argv))
