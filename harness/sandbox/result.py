"""What comes back from a candidate run: :class:`CandidateRun`, built from the runner's
untrusted result file or, when there is none, from how the child died."""

from __future__ import annotations

import json
import os
import signal
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.redact import redact, redact_data, secret_values
from harness.sandbox.limits import Limits

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
_TRACEBACK_CHARS = 4000
_ERROR_CHARS = 1000


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


def read_result(path: Path, cap: int) -> dict[str, Any] | None:
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


def apply_payload(run: CandidateRun, payload: dict[str, Any], limits: Limits) -> None:
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


def classify_death(
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
