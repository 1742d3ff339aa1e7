"""Running untrusted candidate programs in a separate, limited process.

The trusted evaluator calls :func:`run_candidate`; the LLM-written program runs in a child
(``python -I _runner.py``) in its own session, under rlimits, with a scrubbed environment,
output going to files, a cap on its processes (see :func:`process_cap`), and isolated (see
:func:`isolation`): under bubblewrap where it works, else under the kernel's namespaces set
up by ``_ns_launcher.py`` (user, mount, pid, network, IPC, UTS): a read-only filesystem that
hides the evaluator's private directories (see :func:`hidden_dirs`), a fresh ``/proc``, no
network, no capabilities. Only the entry function's JSON-decoded return value comes back;
the evaluator validates and scores it, so a candidate can never report its own score.
Candidate failures come back as a :class:`CandidateRun` with an ``error_class``; only
harness misconfiguration (a bad ``Limits.sandbox`` or ``HARNESS_SANDBOX``, a forced
isolation that is unusable, a namespace that could not be set up) raises.
docs/sandbox.md has the threat model.

The modules, one concern each: :mod:`.limits` (what a run may use), :mod:`.policy` (which
isolation), :mod:`.mounts` (what the candidate sees), :mod:`.cgroup` (the process cap),
:mod:`.process` (start, wait, kill), :mod:`.workdir` (its environment and files),
:mod:`.result` (what comes back) and :mod:`.candidate` (the entry point).
"""

from harness.sandbox.candidate import run_candidate
from harness.sandbox.cgroup import pid_alive, process_cap
from harness.sandbox.limits import Limits
from harness.sandbox.mounts import GPU_DEVICE_PATTERNS, gpu_devices, hidden_dirs
from harness.sandbox.policy import (
    MODES,
    SandboxError,
    bwrap_available,
    isolation,
    namespace_available,
    unisolated_reason,
    unisolated_refusal,
)
from harness.sandbox.process import RUN_MARK, kill_running_candidates
from harness.sandbox.result import ERROR_CLASSES, CandidateRun, redact_run
from harness.sandbox.workdir import scrubbed_env

__all__ = [
    "ERROR_CLASSES",
    "GPU_DEVICE_PATTERNS",
    "MODES",
    "RUN_MARK",
    "CandidateRun",
    "Limits",
    "SandboxError",
    "bwrap_available",
    "gpu_devices",
    "hidden_dirs",
    "isolation",
    "kill_running_candidates",
    "namespace_available",
    "pid_alive",
    "process_cap",
    "redact_run",
    "run_candidate",
    "scrubbed_env",
    "unisolated_reason",
    "unisolated_refusal",
]
