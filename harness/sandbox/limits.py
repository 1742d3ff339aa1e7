"""What a candidate run may use, and the rlimits that enforce it in the child."""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass


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
    #: Isolation (one of :data:`MODES`); ``auto`` defers to ``HARNESS_SANDBOX`` if set, else picks.
    sandbox: str = "auto"
    #: Directories hidden from the candidate besides the built-in ones and ``HARNESS_SANDBOX_HIDE``.
    hidden: tuple[str, ...] = ()

    @property
    def cpu_seconds(self) -> int:
        """CPU budget: explicit, or a little over the wall timeout so the timeout usually wins."""
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return max(1, math.ceil(self.timeout_s)) + 1


def rlimits(limits: Limits, nproc: int | None = None) -> list[tuple[int, int, int]]:
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
