"""The filesystem a candidate sees: which directories are hidden, what stays visible, and
the command lines of bubblewrap and of the namespace launcher that build it."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

#: The child-side scripts, run by path with ``python -I`` (stdlib only, never ``harness``).
RUNNER = Path(__file__).with_name("_runner.py")
NS_LAUNCHER = Path(__file__).with_name("_ns_launcher.py")
#: bubblewrap's base arguments, shared by its probe and every candidate's command line.
PROBE = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")
PROBE_FLAGS = ("--unshare-net", "--unshare-pid", "--die-with-parent")
#: Never hidden, even when they are the working or home directory: the system itself.
_SYSTEM_DIRS = frozenset(
    Path(p)
    for p in (
        "/", "/bin", "/boot", "/dev", "/etc", "/gnu", "/lib", "/lib32", "/lib64", "/libx32",
        "/nix", "/opt", "/proc", "/sbin", "/snap", "/sys", "/usr", "/var",
    )
)  # fmt: skip

GPU_DEVICE_PATTERNS = ("nvidia*", "nvidia-caps/*", "dri/*", "kfd")
"""Device nodes of NVIDIA (CUDA), DRM and AMD (ROCm) GPUs under ``/dev``."""


def gpu_devices(dev: Path = Path("/dev")) -> list[Path]:
    """The GPU device nodes present, which bubblewrap binds into its otherwise minimal
    ``/dev``: without them a candidate that trains on a GPU (the GPU scales of the
    architecture and RL tasks) sees no device."""
    return sorted({p for pattern in GPU_DEVICE_PATTERNS for p in dev.glob(pattern)
                   if not p.is_dir()})  # fmt: skip


def hidden_dirs(extra: tuple[str, ...] = ()) -> list[Path]:
    """Directories that bubblewrap replaces with an empty tmpfs for the candidate.

    ``/tmp`` (a private, writable one), ``/run`` (daemons' sockets: a unix socket stays
    connectable on a read-only mount), the evaluator's home directory (credentials, shell
    history), its working directory (the orchestrator's, by inheritance: the default place of
    run directories and their ``harness.db``, and of ``.env`` files) and every directory in
    ``HARNESS_SANDBOX_HIDE`` (``os.pathsep``-separated) or ``extra`` (``Limits.hidden``, e.g.
    a run directory elsewhere). System
    directories are never hidden; the Python installation and this runner stay visible,
    read-only, wherever they are.
    """
    wanted: list[str | None] = ["/tmp", "/run", os.environ.get("HOME")]
    with contextlib.suppress(OSError):
        wanted.append(os.getcwd())
    wanted += os.environ.get("HARNESS_SANDBOX_HIDE", "").split(os.pathsep)
    wanted += [str(path) for path in extra]
    found = set()
    for raw in wanted:
        if not raw or not os.path.isabs(raw):
            continue
        with contextlib.suppress(OSError, RuntimeError):
            path = Path(raw).resolve(strict=True)
            if path.is_dir() and path not in _SYSTEM_DIRS:
                found.add(path)
    return sorted(found)


def _mount_plan(
    workdir: Path, extra: tuple[str, ...] = ()
) -> tuple[list[tuple[str, Path]], list[Path]]:
    """The mounts that hide :func:`hidden_dirs`, for bubblewrap and the namespace launcher
    alike: ``("tmpfs", dir)`` an empty tmpfs over each, ``("keep", dir)`` the interpreter
    and runner bound back read-only where they lie inside one; then (not listed) the workdir
    on top; then the second list, the tmpfs to make read-only (all but /tmp). Mounts go
    parents first, so a hidden directory inside a kept one is hidden too."""
    hidden = [path for path in hidden_dirs(extra) if not path.is_relative_to(workdir)]
    needed = {
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
        Path(sys.executable).resolve().parent,
        RUNNER.resolve().parent,
    }
    keep = [
        path
        for path in needed
        if any(path.is_relative_to(h) for h in hidden) and not path.is_relative_to(workdir)
    ]
    keep = [  # not the ones already visible through another (unless hidden again in between)
        path
        for path in keep
        if not any(
            path != outer
            and path.is_relative_to(outer)
            and not any(
                h != outer and h.is_relative_to(outer) and path.is_relative_to(h) for h in hidden
            )
            for outer in keep
        )
    ]
    mounts = sorted(
        [(path, 0) for path in hidden] + [(path, 1) for path in keep],
        key=lambda mount: (len(mount[0].parts), mount[1], mount[0]),
    )
    plan = [("tmpfs" if kind == 0 else "keep", path) for path, kind in mounts]
    return plan, [path for path in hidden if path != Path("/tmp")]


def bwrap_argv(bwrap: str, workdir: Path, info_fd: int, extra: tuple[str, ...] = ()) -> list[str]:
    """Read-only root, hidden private directories, writable workdir, no network, no capabilities;
    the GPU device nodes (:func:`gpu_devices`) on top of bubblewrap's minimal ``/dev``.

    ``--cap-drop ALL`` matters when the evaluator runs as root: bwrap then keeps the caller's
    capabilities, and CAP_SYS_ADMIN lets the candidate remount / read-write and escape.
    """
    wd = str(workdir)
    devices = [arg for node in gpu_devices() for arg in ("--dev-bind", str(node), str(node))]
    mounts, readonly = _mount_plan(workdir, extra)
    hiding = []
    for kind, path in mounts:
        hiding += ["--tmpfs", str(path)] if kind == "tmpfs" else ["--ro-bind", str(path), str(path)]
    hiding += ["--bind", wd, wd]
    for path in readonly:  # after every mount point inside it has been made
        hiding += ["--remount-ro", str(path)]
    return [
        bwrap,
        *PROBE,
        *devices,
        *hiding,
        *PROBE_FLAGS,
        "--new-session",
        "--cap-drop", "ALL",
        "--info-fd", str(info_fd),
        "--chdir", wd,
        "--",
    ]  # fmt: skip


def namespace_spec(workdir: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the namespace launcher mounts: the same plan as bubblewrap's (see _mount_plan)."""
    mounts, readonly = _mount_plan(workdir, extra)
    return {
        "workdir": str(workdir),
        "mounts": [[kind, str(path)] for kind, path in mounts],
        "keep": [str(path) for kind, path in mounts if kind == "keep"],
        "readonly": [str(path) for path in readonly],
        "devices": [str(node) for node in gpu_devices()],
    }


def namespace_argv(spec_fd: int, info_fd: int, cmd: list[str]) -> list[str]:
    """``cmd`` under the namespace launcher, which reads :func:`namespace_spec` on ``spec_fd``
    and reports the namespace's pid 1 (or its setup failure) on ``info_fd``."""
    return [sys.executable, "-I", "-S", str(NS_LAUNCHER), str(spec_fd), str(info_fd), "--", *cmd]
