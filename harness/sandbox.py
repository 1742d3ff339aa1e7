"""Running untrusted candidate programs in a separate, limited process.

The trusted evaluator calls :func:`run_candidate`; the LLM-written program runs in a child
(``python -I _sandbox_runner.py``) in its own session, under rlimits, with a scrubbed
environment, output going to files, a cap on its processes (see :func:`process_cap`), and
isolated (see :func:`isolation`): under bubblewrap where it works, else under the kernel's
namespaces set up by ``_sandbox_ns.py`` (user, mount, pid, network, IPC, UTS): a read-only
filesystem that hides the evaluator's private directories (see :func:`hidden_dirs`), a
fresh ``/proc``, no network, no capabilities. Only the entry function's JSON-decoded return
value comes back; the evaluator validates and scores it, so a candidate can never report
its own score. Candidate failures come back as a :class:`CandidateRun` with an
``error_class``; only harness misconfiguration (bad ``HARNESS_SANDBOX``, a forced isolation
that is unusable, a namespace that could not be set up) raises. docs/sandbox.md has the
threat model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import resource
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness._sandbox_runner import jsonable
from harness.lifetime import prctl as _prctl
from harness.redact import EXTRA_ENV as SECRET_ENV_LIST
from harness.redact import is_secret_name, redact, redact_data, secret_values

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("_sandbox_runner.py")
NS_LAUNCHER = Path(__file__).with_name("_sandbox_ns.py")
#: Values of HARNESS_SANDBOX: ``auto`` picks bwrap, else namespaces, else none.
MODES = ("auto", "bwrap", "namespace", "none")
#: The variable that marks every process of one plain-mode candidate run (see _kill_adopted).
RUN_MARK = "HARNESS_SANDBOX_RUN"

#: Every value ``CandidateRun.error_class`` can take (None when ok).
ERROR_CLASSES = frozenset(
    {
        "timeout",
        "memory",
        "cpu",
        "file_size",
        "exception",
        "missing_entry",
        "syntax",
        "crash",
        "unserializable",
        "processes",
    }
)
_RUNNER_KINDS = frozenset(
    {"exception", "syntax", "missing_entry", "unserializable", "memory", "file_size"}
)
_MEMORY_HINTS = (
    "MemoryError",
    "Cannot allocate memory",
    "bad_alloc",
    "out of memory",
    "Unable to allocate",
)
_MEMORY_SIGNALS = (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS)
_PROBE = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")
_PROBE_FLAGS = ("--unshare-net", "--unshare-pid", "--die-with-parent")
_NAMESPACE_GRACE_S = 5.0
_CGROUP_GRACE_S = 5.0
_CGROUP_NAME = re.compile(r"harness-(\d+)-[0-9a-f]{12}")
#: Never hidden, even when they are the working or home directory: the system itself.
_SYSTEM_DIRS = frozenset(
    Path(p)
    for p in (
        "/", "/bin", "/boot", "/dev", "/etc", "/gnu", "/lib", "/lib32", "/lib64", "/libx32",
        "/nix", "/opt", "/proc", "/sbin", "/snap", "/sys", "/usr", "/var",
    )
)  # fmt: skip
_TRACEBACK_CHARS = 4000
_ERROR_CHARS = 1000

_warned_unisolated = False
_warned_uncapped = False
#: The candidates this process is running now, by run token: what to kill if it must go.
_running: dict[str, tuple[int, _Cgroup | None]] = {}
_running_lock = threading.Lock()


@dataclass(frozen=True)
class Limits:
    """Resource limits for one candidate run."""

    timeout_s: float = 60.0
    memory_mb: int = 2048
    cpu_s: float | None = None
    file_size_mb: int = 64
    max_output_bytes: int = 20_000
    #: Processes and threads the candidate may have at once, all of its descendants included.
    max_processes: int = 64

    @property
    def cpu_seconds(self) -> int:
        """CPU budget: explicit, or a little over the wall timeout so the timeout usually wins."""
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return max(1, math.ceil(self.timeout_s)) + 1


@dataclass
class CandidateRun:
    """What came back from running a candidate's entry function in the sandbox."""

    ok: bool
    value: Any = None
    error: str | None = None
    error_class: str | None = None
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    sandboxed: bool = False
    returncode: int | None = None
    #: "bwrap", "namespace" or "none".
    isolation: str = "none"

    def feedback(self, max_lines: int = 20) -> str:
        """Compact summary for the LLM researcher: what failed, where, and what was printed."""
        if self.ok:
            parts = [f"ran OK in {self.seconds:.2f} s"]
        else:
            parts = [f"FAILED [{self.error_class}] after {self.seconds:.2f} s: {self.error}"]
            if self.traceback.strip():
                parts.append("traceback (tail):\n" + _tail_lines(self.traceback, max_lines))
        for name, text in (("stderr", self.stderr), ("stdout", self.stdout)):
            if text.strip():
                parts.append(f"{name} (tail):\n" + _tail_lines(text, max_lines))
        return "\n".join(parts)


def redact_run(run: CandidateRun) -> CandidateRun:
    """``run`` with the values of the harness's secrets masked in all it carries back."""
    values = secret_values()
    if values:
        run.stdout, run.stderr = redact(run.stdout, values), redact(run.stderr, values)
        run.traceback = redact(run.traceback, values)
        run.error = None if run.error is None else redact(run.error, values)
        run.value = redact_data(run.value, values)
    return run


def scrubbed_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a candidate: no secret-looking variables, deterministic, one BLAS thread.

    Single-threaded BLAS matters beyond speed: OpenBLAS reserves address space per thread, which
    otherwise breaks ``import numpy`` under RLIMIT_AS.
    """
    source = os.environ if base is None else base
    env = {
        k: v for k, v in source.items() if k != SECRET_ENV_LIST and not is_secret_name(k, source)
    }
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the candidate): misconfigured or could not be set up."""


def bwrap_available() -> bool:
    """Whether bubblewrap is on PATH and can create the sandbox here (probe cached per process)."""
    path = shutil.which("bwrap")
    return path is not None and _bwrap_problem(path) is None


def namespace_available() -> bool:
    """Whether the namespace launcher can isolate candidates here (probe cached per process)."""
    return _namespace_problem() is None


@functools.cache
def _bwrap_problem(path: str) -> str | None:
    """Run the one-time probe; None if bwrap works, else why not."""
    cmd = [path, *_PROBE, *_PROBE_FLAGS, "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{' '.join(cmd)}` failed: {exc}"
    if proc.returncode != 0:
        return f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
    return None


@functools.cache
def _namespace_problem() -> str | None:
    """Run the launcher once around ``python -c pass``; None if it works, else why not."""
    if not sys.platform.startswith("linux"):
        return f"namespaces are Linux-only (this is {sys.platform})"
    with tempfile.TemporaryDirectory(prefix="harness-probe-") as tmp:
        workdir = Path(tmp).resolve()
        spec_r, spec_w = os.pipe()
        info_r, info_w = os.pipe()
        try:
            os.write(spec_w, json.dumps(_namespace_spec(workdir)).encode())
            os.close(spec_w)
            cmd = _namespace_argv(spec_r, info_w, [sys.executable, "-I", "-c", "pass"])
            try:
                proc = subprocess.run(
                    cmd, cwd=workdir, capture_output=True, text=True, timeout=30,
                    pass_fds=(spec_r, info_w), env=scrubbed_env(),
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"the namespace launcher failed: {exc}"
            os.close(info_w)
            info = os.read(info_r, 4096).decode(errors="replace")
        finally:
            for fd in (spec_r, info_r, info_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
    if proc.returncode != 0:
        why = info if "error" in info else proc.stderr.strip()[-500:]
        return f"the namespace launcher exited {proc.returncode}: {why}"
    return None


def _mode() -> str:
    mode = os.environ.get("HARNESS_SANDBOX", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"HARNESS_SANDBOX must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def _resolve() -> tuple[str | None, str | None]:
    """(isolation, bwrap path) following HARNESS_SANDBOX: ("bwrap", path), ("namespace",
    None) or (None, None) for plain limits."""
    mode = _mode()
    if mode == "none":
        _warn_unisolated("HARNESS_SANDBOX=none")
        return None, None
    problems = []
    if mode in ("auto", "bwrap"):
        path = shutil.which("bwrap")
        problem = "bwrap not found on PATH" if path is None else _bwrap_problem(path)
        if problem is None:
            return "bwrap", path
        if mode == "bwrap":
            raise SandboxError(f"HARNESS_SANDBOX=bwrap but bubblewrap is unusable: {problem}")
        problems.append(problem)
    problem = _namespace_problem()
    if problem is None:
        return "namespace", None
    if mode == "namespace":
        raise SandboxError(f"HARNESS_SANDBOX=namespace but namespaces are unusable: {problem}")
    problems.append(problem)
    _warn_unisolated("; ".join(problems))
    return None, None


def isolation() -> str | None:
    """How candidates will be isolated: ``"bwrap"``, ``"namespace"``, or None (plain limits).

    Call it once where the run is logged: without isolation it warns (once per process).
    Raises for a misconfigured ``HARNESS_SANDBOX`` or a forced isolation that cannot work.
    """
    return _resolve()[0]


def unisolated_reason() -> str:
    """Why :func:`isolation` found nothing (for an error message)."""
    path = shutil.which("bwrap")
    bwrap = "bwrap not found on PATH" if path is None else _bwrap_problem(path)
    return f"bubblewrap: {bwrap}; namespaces: {_namespace_problem()}"


def unisolated_refusal(proposer: str, choice: str = "auto") -> str | None:
    """Why a run whose programs ``proposer`` writes must not start, or None when it may:
    where nothing can isolate, LLM-written programs run only if the user chose ``none``
    (``choice``, the run's ``sandbox`` setting, else ``HARNESS_SANDBOX``). The offline
    proposer only changes numbers in the user's own seed."""
    try:
        mode = choice if choice != "auto" else _mode()
    except ValueError:
        return None  # reported where the sandbox is resolved
    if mode != "auto" or proposer == "offline" or bwrap_available() or namespace_available():
        return None
    return (
        f"candidates cannot be isolated on this machine ({unisolated_reason()}), and "
        f"llm={proposer} writes this run's programs: the run does not start unisolated. "
        "Install bubblewrap (`apt-get install bubblewrap`) or allow unprivileged user "
        "namespaces (docs/sandbox.md), or pass sandbox=none to run LLM-written code with "
        "only rlimits and a timeout."
    )


def _warn_unisolated(reason: str) -> None:
    global _warned_unisolated
    if not _warned_unisolated:
        _warned_unisolated = True
        log.warning(
            "candidate programs run WITHOUT filesystem/network isolation (%s); only rlimits, a "
            "timeout and a scrubbed environment apply. Install bubblewrap (bwrap) or allow "
            "user namespaces to sandbox them (docs/sandbox.md).",
            reason,
        )


def _warn_uncapped() -> None:
    global _warned_uncapped
    if not _warned_uncapped:
        _warned_uncapped = True
        log.warning(
            "candidate programs run WITHOUT a cap on their processes: the evaluator runs as "
            "root (which RLIMIT_NPROC does not bind) and cannot create a pids cgroup here"
        )


def run_candidate(
    program: str,
    entry: str,
    *,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    limits: Limits,
    workdir: Path,
) -> CandidateRun:
    """Run ``entry(*args, **kwargs)`` from ``program`` in a limited child (one run per workdir
    at a time). Candidate failures come back as ``ok=False``; they never raise."""
    isolated, bwrap = _resolve()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    env = scrubbed_env()
    env["HOME"] = str(_real_dir(workdir / "home"))
    env["TMPDIR"] = str(_real_dir(workdir / "tmp"))
    if isolated is None:
        env[RUN_MARK] = token
    candidate = workdir / "candidate.py"
    request = workdir / f".input-{token}.json"
    result = workdir / f".result-{token}.json"
    call = {"entry": entry, "args": list(args), "kwargs": kwargs or {}}
    request_text = json.dumps(call, default=jsonable)
    with _fresh_file(candidate) as f:
        f.write(program.encode("utf-8", "replace"))
    with _fresh_file(request) as f:
        f.write(request_text.encode())
    cmd = [sys.executable, "-I", str(RUNNER), str(candidate), str(request), str(result)]
    cgroup = _Cgroup.create(limits.max_processes)
    if cgroup is None and os.getuid() == 0:
        _warn_uncapped()
    try:
        with _fresh_file(workdir / "stdout.txt") as out, _fresh_file(workdir / "stderr.txt") as err:
            started = _Start(cmd, isolated, bwrap, workdir, env, token)
            returncode, timed_out, seconds = _execute(started, out, err, limits, cgroup)
            stdout = _read_tail(out, limits.max_output_bytes)
            stderr = _read_tail(err, limits.max_output_bytes)
        capped = cgroup is not None and cgroup.limit_hit()
    finally:
        if cgroup is not None:
            cgroup.remove()
    run = CandidateRun(
        ok=False,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        sandboxed=isolated is not None,
        returncode=returncode,
        isolation=isolated or "none",
    )
    payload = _read_result(result, limits.file_size_mb << 20)
    for path in (request, result):
        _remove(path)
    if timed_out:
        run.error_class, run.error = "timeout", f"timed out after {limits.timeout_s:g} s"
    elif payload is not None and payload["ok"] == (returncode == 0):
        _apply_payload(run, payload, limits)
    else:
        run.error_class, run.error = _classify_death(
            returncode, isolated is not None, stderr, limits
        )
    if capped and not run.ok:  # whatever it died of, running out of processes came first
        run.error_class, run.error = (
            "processes",
            f"process limit exceeded ({limits.max_processes} processes and threads); "
            f"then {run.error}",
        )
    return redact_run(run)


@dataclass(frozen=True)
class _Start:
    """What to start for one candidate run, and how it is isolated."""

    cmd: list[str]
    isolated: str | None
    bwrap: str | None
    workdir: Path
    env: dict[str, str]
    token: str


def _execute(
    start: _Start,
    out: IO[bytes],
    err: IO[bytes],
    limits: Limits,
    cgroup: _Cgroup | None = None,
) -> tuple[int, bool, float]:
    """Start the child, wait up to the timeout, then kill everything it left; (rc, timed out, s).

    Isolated, the child reports its namespace's pid 1 on a pipe (bwrap's ``--info-fd``, the
    launcher's INFO_FD); killing that pid 1 kills everything inside. In plain mode this
    process adopts orphaned descendants (a subreaper) and kills those carrying this run's
    mark, never another thread's candidate.
    """
    nproc = None
    if cgroup is None and os.getuid() != 0:  # RLIMIT_NPROC counts all the user's tasks
        nproc = _user_tasks() + limits.max_processes
    cgroup_fd = cgroup.procs_fd if cgroup is not None else -1
    cmd = start.cmd
    with contextlib.ExitStack() as cleanup:
        info_r = info_w = spec_r = -1
        if start.isolated is not None:
            info_r, info_w = os.pipe()
            cleanup.callback(os.close, info_r)
        if start.isolated == "bwrap":
            assert start.bwrap is not None
            cmd = [*_bwrap_argv(start.bwrap, start.workdir, info_w), *cmd]
        elif start.isolated == "namespace":
            spec_r, spec_w = os.pipe()
            with os.fdopen(spec_w, "w") as spec:
                json.dump(_namespace_spec(start.workdir), spec)
            cmd = _namespace_argv(spec_r, info_w, cmd)
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
                    _set_rlimits, _rlimits(limits, nproc), _prctl(), cgroup_fd, os.getpid()
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


def _namespace_argv(spec_fd: int, info_fd: int, cmd: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", str(NS_LAUNCHER), str(spec_fd), str(info_fd), "--", *cmd]


def _namespace_spec(workdir: Path) -> dict[str, Any]:
    """What the namespace launcher mounts: the same plan as bubblewrap's (see _mount_plan)."""
    mounts, readonly = _mount_plan(workdir)
    return {
        "workdir": str(workdir),
        "mounts": [[kind, str(path)] for kind, path in mounts],
        "keep": [str(path) for kind, path in mounts if kind == "keep"],
        "readonly": [str(path) for path in readonly],
        "devices": [str(node) for node in gpu_devices()],
    }


def _bwrap_argv(bwrap: str, workdir: Path, info_fd: int) -> list[str]:
    """Read-only root, hidden private directories, writable workdir, no network, no capabilities;
    the GPU device nodes (:func:`gpu_devices`) on top of bubblewrap's minimal ``/dev``.

    ``--cap-drop ALL`` matters when the evaluator runs as root: bwrap then keeps the caller's
    capabilities, and CAP_SYS_ADMIN lets the candidate remount / read-write and escape.
    """
    wd = str(workdir)
    devices = [arg for node in gpu_devices() for arg in ("--dev-bind", str(node), str(node))]
    mounts, readonly = _mount_plan(workdir)
    hiding = []
    for kind, path in mounts:
        hiding += ["--tmpfs", str(path)] if kind == "tmpfs" else ["--ro-bind", str(path), str(path)]
    hiding += ["--bind", wd, wd]
    for path in readonly:  # after every mount point inside it has been made
        hiding += ["--remount-ro", str(path)]
    return [
        bwrap,
        *_PROBE,
        *devices,
        *hiding,
        *_PROBE_FLAGS,
        "--new-session",
        "--cap-drop", "ALL",
        "--info-fd", str(info_fd),
        "--chdir", wd,
        "--",
    ]  # fmt: skip


GPU_DEVICE_PATTERNS = ("nvidia*", "nvidia-caps/*", "dri/*", "kfd")
"""Device nodes of NVIDIA (CUDA), DRM and AMD (ROCm) GPUs under ``/dev``."""


def gpu_devices(dev: Path = Path("/dev")) -> list[Path]:
    """The GPU device nodes present, which bubblewrap binds into its otherwise minimal
    ``/dev``: without them a candidate that trains on a GPU (the GPU scales of the
    architecture and RL tasks) sees no device."""
    return sorted({p for pattern in GPU_DEVICE_PATTERNS for p in dev.glob(pattern)
                   if not p.is_dir()})  # fmt: skip


def hidden_dirs() -> list[Path]:
    """Directories that bubblewrap replaces with an empty tmpfs for the candidate.

    ``/tmp`` (a private, writable one), ``/run`` (daemons' sockets: a unix socket stays
    connectable on a read-only mount), the evaluator's home directory (credentials, shell
    history), its working directory (the orchestrator's, by inheritance: the default place of
    run directories and their ``harness.db``, and of ``.env`` files) and every directory in
    ``HARNESS_SANDBOX_HIDE`` (``os.pathsep``-separated, e.g. a run directory elsewhere). System
    directories are never hidden; the Python installation and this runner stay visible,
    read-only, wherever they are.
    """
    wanted: list[str | None] = ["/tmp", "/run", os.environ.get("HOME")]
    with contextlib.suppress(OSError):
        wanted.append(os.getcwd())
    wanted += os.environ.get("HARNESS_SANDBOX_HIDE", "").split(os.pathsep)
    found = set()
    for raw in wanted:
        if not raw or not os.path.isabs(raw):
            continue
        with contextlib.suppress(OSError, RuntimeError):
            path = Path(raw).resolve(strict=True)
            if path.is_dir() and path not in _SYSTEM_DIRS:
                found.add(path)
    return sorted(found)


def _mount_plan(workdir: Path) -> tuple[list[tuple[str, Path]], list[Path]]:
    """The mounts that hide :func:`hidden_dirs`, for bubblewrap and the namespace launcher
    alike: ``("tmpfs", dir)`` an empty tmpfs over each, ``("keep", dir)`` the interpreter
    and runner bound back read-only where they lie inside one; then (not listed) the workdir
    on top; then the second list, the tmpfs to make read-only (all but /tmp). Mounts go
    parents first, so a hidden directory inside a kept one is hidden too."""
    hidden = [path for path in hidden_dirs() if not path.is_relative_to(workdir)]
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


def _rlimits(limits: Limits, nproc: int | None = None) -> list[tuple[int, int, int]]:
    """(resource, soft, hard); soft == hard so the candidate cannot raise them, except for CPU.

    For RLIMIT_CPU Linux sends SIGKILL (not SIGXCPU) when soft == hard, which would be
    indistinguishable from any other kill; one second of headroom makes it report SIGXCPU.
    ``nproc`` is the RLIMIT_NPROC fallback of :func:`process_cap`.
    """
    memory = limits.memory_mb << 20
    fsize = limits.file_size_mb << 20
    cpu = limits.cpu_seconds
    rlimits = [
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, fsize, fsize),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if nproc is not None:
        rlimits.append((resource.RLIMIT_NPROC, nproc, nproc))
    return rlimits


_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


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
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if parent is not None and os.getppid() != parent:
            os._exit(1)  # the parent died before the death signal was armed


@functools.cache
def _become_subreaper() -> bool:
    """Adopt orphaned descendants, so candidates that escape their session can still be
    killed (plain mode only; bwrap's pid namespace already contains them)."""
    prctl = _prctl()
    return prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1) == 0


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
    proc: subprocess.Popen[bytes], namespace_init: int | None, cgroup: _Cgroup | None = None
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


# ----------------------------------------------------------------------------- process cap
def process_cap() -> str | None:
    """How the candidate's processes are capped at ``Limits.max_processes`` here.

    ``"cgroup"``: a pids cgroup per run, where this process may create one (cgroup v1 with
    the pids controller, or a delegated cgroup v2 subtree with pids enabled); it also lets the
    final kill find every process of the candidate, whatever session it moved to. ``"rlimit"``:
    RLIMIT_NPROC set to the user's current task count plus the cap (not for root, which the
    kernel exempts from it). ``None``: no cap (root without a writable pids cgroup).
    """
    if _pids_cgroup_parent() is not None:
        return "cgroup"
    return "rlimit" if os.getuid() != 0 else None


@functools.cache
def _pids_cgroup_parent() -> Path | None:
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
            if _cgroup_usable(parent):
                return parent
    return None


def _unescape(field: str) -> str:
    """A /proc/self/mountinfo path field (spaces and the like are octal escapes)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _cgroup_usable(parent: Path) -> bool:
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


class _Cgroup:
    """The pids cgroup of one candidate run: it caps the candidate's processes and threads,
    says whether the cap was hit, and finds every process for the final kill."""

    def __init__(self, path: Path, procs_fd: int) -> None:
        self.path = path
        self.procs_fd = procs_fd  # cgroup.procs, open for the child to write itself into

    @classmethod
    def create(cls, max_tasks: int) -> _Cgroup | None:
        parent = _pids_cgroup_parent()
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


def _user_tasks() -> int:
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


# ----------------------------------------------------------------------------- files
def _remove(path: Path) -> None:
    """Delete whatever a candidate may have left at ``path`` (file, symlink or directory)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _real_dir(path: Path) -> Path:
    """A real directory at ``path``, not a symlink or file an earlier candidate put there."""
    if path.is_symlink() or not path.is_dir():
        _remove(path)
        path.mkdir()
    return path


@contextlib.contextmanager
def _fresh_file(path: Path) -> Iterator[IO[bytes]]:
    """Create ``path`` anew: never write through a symlink or file an earlier candidate left."""
    _remove(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "r+b") as f:
        yield f


def _read_tail(f: IO[bytes], cap: int) -> str:
    """The last ``cap`` bytes of a child's output file, marked when truncated."""
    size = f.seek(0, os.SEEK_END)
    skipped = max(0, size - cap)
    f.seek(skipped)
    text = f.read(cap).decode("utf-8", "replace")
    return f"[... {skipped} bytes truncated ...]\n{text}" if skipped else text


def _read_result(path: Path, cap: int) -> dict[str, Any] | None:
    """The runner's JSON outcome, or None if absent/malformed. Untrusted: the candidate could
    have replaced it (symlink, FIFO, huge file), so open without following or blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = f.read(cap + 1)
    if len(data) > cap:
        return None
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool):
        return None
    if payload["ok"]:
        return payload if "value" in payload else None
    fields_ok = all(isinstance(payload.get(k), str) for k in ("type", "message", "traceback"))
    return payload if fields_ok and payload.get("kind") in _RUNNER_KINDS else None


def _apply_payload(run: CandidateRun, payload: dict[str, Any], limits: Limits) -> None:
    if payload["ok"]:
        run.ok, run.value = True, payload["value"]
        return
    kind = payload["kind"]
    run.error_class = kind
    run.traceback = _tail_chars(payload["traceback"], _TRACEBACK_CHARS)
    if kind == "memory":
        run.error = f"memory limit exceeded ({limits.memory_mb} MB)"
    elif kind == "file_size":
        run.error = f"file size limit exceeded ({limits.file_size_mb} MB)"
    else:
        run.error = f"{payload['type']}: {payload['message']}"[:_ERROR_CHARS]


def _classify_death(
    returncode: int, sandboxed: bool, stderr: str, limits: Limits
) -> tuple[str, str]:
    """(error_class, error) for a child that left no usable result."""
    if returncode < 0:
        signum: int | None = -returncode
    elif sandboxed and returncode > 128:  # bwrap reports a signalled child as 128 + signal
        signum = returncode - 128
    else:
        signum = None
    if signum == signal.SIGXCPU:
        return "cpu", f"CPU time limit exceeded ({limits.cpu_seconds} s)"
    if signum == signal.SIGXFSZ:
        return "file_size", f"file size limit exceeded ({limits.file_size_mb} MB)"
    name = _signal_name(signum) if signum is not None else ""
    if signum in _MEMORY_SIGNALS and any(hint in stderr for hint in _MEMORY_HINTS):
        return "memory", f"memory limit exceeded ({limits.memory_mb} MB); killed by {name}"
    if signum == signal.SIGKILL:
        return "crash", f"killed by SIGKILL (often memory exhaustion; limit {limits.memory_mb} MB)"
    if signum is not None:
        return "crash", f"killed by {name}"
    if returncode == 0:
        return "crash", "exited without returning a result (os._exit or a forged result file?)"
    return "crash", f"exited with code {returncode} without returning a result"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _tail_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def _tail_lines(text: str, max_lines: int, max_chars: int = 1500) -> str:
    return _tail_chars("\n".join(text.rstrip().splitlines()[-max_lines:]), max_chars)
