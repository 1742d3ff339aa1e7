"""The domain contract's data types: what a task declares and what an evaluation returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CognitionItem:
    """A short piece of human prior knowledge (or a lesson) the researcher may be shown.

    ``id`` is the item's id in the run's cognition base (None until stored): the
    researcher cites it as ``[K<id>]`` when the item inspired a candidate.
    """

    content: str
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class Descriptor:
    """A behaviour axis for quality-diversity samplers (``sampler=map_elites``).

    The task's evaluator reports the value as ``metrics[name]``; the core scales
    ``[low, high]`` to ``[0, 1]`` (clamping outside values) before the sampler bins it.
    """

    name: str
    low: float
    high: float
    description: str = ""

    def scale(self, value: float) -> float:
        span = self.high - self.low
        return min(1.0, max(0.0, (value - self.low) / span)) if span > 0 else 0.0


@dataclass(frozen=True)
class Stage:
    """One step of a cascade evaluation (cheap checks first, the full evaluation last).

    A candidate goes on to the next stage only if this one succeeds and, when
    ``threshold`` is set, scores at least ``threshold``.
    """

    name: str
    threshold: float | None = None
    description: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """Everything the core needs to know about a task before it evaluates anything.

    ``description`` is the text the researcher LLM reads; ``entry`` is the function a
    candidate program must define; ``best_known`` lets ``harness status`` show the gap;
    ``descriptors`` are the task's own behaviour axes for MAP-Elites; ``stages`` make the
    evaluation a cascade (``harness_evaluate`` is called once per stage, in order).
    ``prompts_dir`` is a directory of prompt templates that replace the core's for this
    task (docs/prompts.md): a plugin ships them in its package and points here, e.g.
    ``str(Path(__file__).parent / "prompts")``; a run's ``llm.prompts_dir`` wins over it.
    """

    name: str
    description: str
    entry: str
    language: str = "python"
    seeds: tuple[str, ...] = ()
    cognition: tuple[CognitionItem, ...] = ()
    best_known: float | None = None
    descriptors: tuple[Descriptor, ...] = ()
    stages: tuple[Stage, ...] = ()
    timeout_s: float = 60.0
    memory_mb: int = 2048
    version: str = "1"
    prompts_dir: str | None = None


@dataclass
class EvalResult:
    """The outcome of evaluating one candidate program.

    ``feedback`` is what the analyzer and the researcher see (a traceback tail, the worst
    constraint violation, "timed out after 5 s"...). ``error_class`` is a short machine
    label for failures (``timeout``, ``memory``, ``exception``, ``invalid`` ...).
    ``score`` is filled by the scoring hook, never by the candidate. ``stages`` holds
    the per-stage outcomes of a cascade, filled by the core.
    """

    success: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    feedback: str = ""
    error_class: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    score: float | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
