"""harness: an open, plugin-based harness for closed-loop, LLM-driven research."""

from harness import _lean_sqlite_utils  # noqa: F401  # first: see its docstring
from harness.hookspecs import hookimpl
from harness.sandbox import CandidateRun, Limits, run_candidate
from harness.task import (
    CognitionItem,
    Descriptor,
    EvalResult,
    Noise,
    Stage,
    Task,
    TaskConf,
    TaskSpec,
)

__version__ = "0.1.0"

__all__ = [
    "CandidateRun",
    "CognitionItem",
    "Descriptor",
    "EvalResult",
    "Limits",
    "Noise",
    "Stage",
    "Task",
    "TaskConf",
    "TaskSpec",
    "hookimpl",
    "run_candidate",
]
