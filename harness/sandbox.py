"""Running untrusted candidate programs in a separate, limited process.

(Interface placeholder: implemented in full by the sandbox work.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Resource limits for one candidate run."""

    timeout_s: float = 60.0
    memory_mb: int = 2048
    cpu_s: float | None = None
    file_size_mb: int = 64
    max_output_bytes: int = 20_000


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


def run_candidate(
    program: str,
    entry: str,
    *,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    limits: Limits,
    workdir: Path,
) -> CandidateRun:
    raise NotImplementedError
