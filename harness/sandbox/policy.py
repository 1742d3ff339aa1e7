"""Which isolation a candidate gets: the modes, the probes of what works here, and the
refusal to run LLM-written programs unisolated unless the user chose that."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.sandbox.mounts import PROBE, PROBE_FLAGS, namespace_argv, namespace_spec
from harness.sandbox.workdir import scrubbed_env

log = logging.getLogger(__package__)

#: Values of ``Limits.sandbox`` and HARNESS_SANDBOX: ``auto`` picks bwrap, else namespaces,
#: else none.
MODES = ("auto", "bwrap", "namespace", "none")

_warned_unisolated = False


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
    cmd = [path, *PROBE, *PROBE_FLAGS, "true"]
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
            os.write(spec_w, json.dumps(namespace_spec(workdir)).encode())
            os.close(spec_w)
            cmd = namespace_argv(spec_r, info_w, [sys.executable, "-I", "-c", "pass"])
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


def _mode(choice: str = "auto") -> tuple[str, str]:
    """(mode, where it was set): ``choice`` unless ``auto``, else ``HARNESS_SANDBOX``."""
    source = "sandbox"
    mode = choice.strip().lower() or "auto"
    if mode == "auto":
        source = "HARNESS_SANDBOX"
        mode = os.environ.get(source, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{source} must be one of {', '.join(MODES)}; got {mode!r}")
    return mode, source


def resolve(choice: str = "auto") -> tuple[str | None, str | None]:
    """(isolation, bwrap path) following ``choice``, else HARNESS_SANDBOX: ("bwrap", path),
    ("namespace", None) or (None, None) for plain limits."""
    mode, source = _mode(choice)
    if mode == "none":
        _warn_unisolated(f"{source}=none")
        return None, None
    problems = []
    if mode in ("auto", "bwrap"):
        path = shutil.which("bwrap")
        problem = "bwrap not found on PATH" if path is None else _bwrap_problem(path)
        if problem is None:
            return "bwrap", path
        if mode == "bwrap":
            raise SandboxError(f"{source}=bwrap but bubblewrap is unusable: {problem}")
        problems.append(problem)
    problem = _namespace_problem()
    if problem is None:
        return "namespace", None
    if mode == "namespace":
        raise SandboxError(f"{source}=namespace but namespaces are unusable: {problem}")
    problems.append(problem)
    _warn_unisolated("; ".join(problems))
    return None, None


def isolation(choice: str = "auto") -> str | None:
    """How candidates will be isolated: ``"bwrap"``, ``"namespace"``, or None (plain limits).

    ``choice`` is a mode of :data:`MODES` (``Limits.sandbox``); ``auto`` defers to
    ``HARNESS_SANDBOX``. Call it once where the run is logged: without isolation it warns
    (once per process). Raises for a misconfigured mode or a forced isolation that cannot work.
    """
    return resolve(choice)[0]


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
        mode = _mode(choice)[0]
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
