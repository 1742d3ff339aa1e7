"""The domain contract: the :class:`Task` a plugin registers, what it declares and what an
evaluation returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.tree import FileRule, Tree

if TYPE_CHECKING:
    from harness.sandbox import Limits

#: ``omegaconf.MISSING``: a config field that the task's YAML must set. Its value rather
#: than an import, so that loading task plugins (every command, every worker) does not
#: import omegaconf.
MISSING: Any = "???"


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite real number (not a bool), else ``None``.

    Scores and a candidate's reports are untrusted: a NaN, a string or ``True`` where a
    number belongs must count as no number, not slip into a score.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        return None
    return number if math.isfinite(number) else None


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
class Noise:
    """A stochastic evaluation: the score is the mean of one value per random seed.

    An ML proxy (train a small model, score it) moves with its seed as much as with the
    candidate, so the core must see the spread, not one number. The core writes the seeds an
    evaluation runs into the task config's ``key`` (a list of ints; the config's own list
    unless the core re-evaluates with fresh seeds) and the task returns one value per seed
    in :attr:`EvalResult.samples`. Every candidate runs the same seeds, so comparisons with
    the seed program are paired.
    """

    key: str = "seeds"


@dataclass(frozen=True)
class TaskSpec:
    """Everything the core needs to know about a task before it evaluates anything.

    ``description`` is the text the researcher LLM reads; ``entry`` is the function a
    candidate program must define; ``best_known`` lets ``harness status`` show the gap;
    ``descriptors`` are the task's own behaviour axes for MAP-Elites; ``stages`` make the
    evaluation a cascade (:meth:`Task.evaluate` is called once per stage, in order).
    ``prompts_dir`` is a directory of prompt templates that replace the core's for this
    task (docs/prompts.md): a plugin ships them in its package and points here, e.g.
    ``str(Path(__file__).parent / "prompts")``; a run's ``llm.prompts_dir`` wins over it.
    ``noise`` declares a stochastic evaluation (:class:`Noise`); ``None`` means one
    evaluation gives the true score (a deterministic validator).

    Multi-file programs (a seed that is a directory, :mod:`harness.tree`): ``files`` gives
    each file's policy by its first matching rule (unmatched files are ``evolve``), and
    ``new_files`` are the path globs where the researcher may add files (none by default).
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
    noise: Noise | None = None
    files: tuple[FileRule, ...] = ()
    new_files: tuple[str, ...] = ()


@dataclass
class EvalResult:
    """The outcome of evaluating one candidate program.

    ``feedback`` is what the analyzer and the researcher see (a traceback tail, the worst
    constraint violation, "timed out after 5 s"...). ``error_class`` is a short machine
    label for failures (``timeout``, ``memory``, ``exception``, ``invalid`` ...).
    ``score`` is filled by :meth:`Task.score`, never by the candidate. ``stages`` holds
    the per-stage outcomes of a cascade, filled by the core. ``samples`` maps each seed of
    a stochastic task's evaluation (:class:`Noise`) to its value, higher is better; the
    score is then their mean.
    """

    success: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    feedback: str = ""
    error_class: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    score: float | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[int, float] = field(default_factory=dict)


@dataclass
class TaskConf:
    """The keys of every task config; a task's :attr:`Task.config_schema` subclasses it.

    The core reads only these. ``None`` means "the task's own": the first of
    ``TaskSpec.seeds``, and the spec's ``timeout_s``/``memory_mb`` (the sandbox's process
    cap for ``max_processes``). A subclass adds the task's keys and may set defaults.
    """

    name: str = MISSING
    seed_program: str | None = None
    timeout_s: float | None = None
    memory_mb: int | None = None
    max_processes: int | None = None


class Task:
    """A domain: what the researcher is asked, how a candidate is evaluated and scored.

    A plugin subclasses it, sets ``name`` and implements :meth:`spec` and :meth:`evaluate`,
    then registers an instance from its ``harness_register_tasks`` hook. ``config`` is always
    the run's composed ``task`` config group as a plain ``dict`` (it has ``name``; the rest is
    the plugin's ``conf/task/<name>.yaml`` plus the user's overrides). ``config_schema`` is
    the schema of that group: the core stores it as ``harness_schema/task/<name>``, which the
    YAML lists first in its defaults, so a key it does not declare fails at composition.
    """

    #: What users select with ``+task=NAME``; must match the plugin's ``conf/task/NAME.yaml``.
    name: str = ""
    #: The package whose ``seeds/<seed>.py`` files are the seed programs (see :meth:`seed`).
    package: str | None = None
    #: The dataclass of the task's config group: :class:`TaskConf` or a subclass of it.
    config_schema: type[TaskConf] = TaskConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        """Describe the task: researcher text, entry function, seeds, cognition, budgets.

        Called in the orchestrator when a run, ``eval`` or ``status`` starts, and in
        evaluation workers; it must be cheap and free of side effects. A bad config value
        raises ``ValueError`` with a message naming the key.
        """
        raise NotImplementedError

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        """The source of the seed program ``name`` (one of ``spec(config).seeds``), or
        ``None`` when the name is unknown; by default ``<package>/seeds/<name>.py``, or the
        tree of the directory ``<package>/seeds/<name>/`` (its :meth:`Tree.text`)."""
        if self.package is None or name not in self.spec(config).seeds:
            return None
        seeds = files(self.package) / "seeds"
        if (seeds / name).is_dir():
            with as_file(seeds / name) as root:
                return Tree.read(root).text()
        return (seeds / f"{name}.py").read_text(encoding="utf-8")

    def evaluate(
        self,
        config: dict[str, Any],
        program: str,
        workdir: Path,
        limits: Limits,
        stage: str | None,
    ) -> EvalResult:
        """Evaluate one (untrusted) candidate in ``workdir``, a fresh private directory.

        ``stage`` is the cascade stage to run (a name from ``TaskSpec.stages``), or ``None``
        when the task declares none. Runs in an evaluation worker, never in the
        orchestrator; the candidate itself must run through
        :func:`harness.sandbox.run_candidate`, so it cannot alter the validator or the
        metrics. A broken candidate is a result with ``success=False`` and useful
        ``feedback``, never an exception.
        """
        raise NotImplementedError

    def score(self, config: dict[str, Any], result: EvalResult) -> float | None:
        """One fitness value (higher is better) from an evaluation, ``None`` for a failure;
        by default the mean of ``samples`` when there are any, else ``metrics["score"]`` of
        a successful result. Runs in the worker."""
        if not result.success:
            return None
        if result.samples:
            numbers = [n for n in map(finite, result.samples.values()) if n is not None]
            return (
                math.fsum(numbers) / len(numbers) if len(numbers) == len(result.samples) else None
            )
        return finite(result.metrics.get("score"))

    def upgrade_overrides(self, overrides: list[str]) -> list[str]:
        """A run's saved overrides, rewritten for this version of the task's config (a key
        renamed, a dict that became a config group), so that a run made before the change
        resumes after it; by default unchanged. Called by ``harness resume``."""
        return overrides
