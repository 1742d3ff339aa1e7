"""The plugin contract of harness (pluggy project name ``"harness"``).

Hooks are listed in the order the core calls them: registration when plugins load, then
the domain hooks of one task during a run. A domain plugin answers only for the tasks it
registered: the core dispatches each domain hook to the plugin that owns the task, so an
implementation never has to ask "is this my task?".

Every domain hook receives ``config``: the composed ``task`` config group of the run as a
plain ``dict`` (it always has ``name``; the rest is the plugin's own ``conf/task/<name>.yaml``
plus the user's overrides).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from harness.sandbox import Limits
    from harness.task import EvalResult, TaskSpec

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


# -------------------------------------------------------------------------------------
# Registration hooks: called once, when the plugin manager loads plugins.
# -------------------------------------------------------------------------------------


@hookspec
def harness_register_tasks(register: Callable[[str], None]) -> None:
    """Declare the tasks this plugin owns.

    :param register: call ``register(name)`` once per task name. The name is what users
        select with ``+task=NAME`` and must match the plugin's ``conf/task/NAME.yaml``.

    Called once per plugin at load time (not firstresult; every implementation runs).
    Two plugins registering the same name is an error raised at load time.

    Use in plugins: a domain plugin registers its task names here and then implements
    the domain hooks below; the core calls those only for the tasks registered here.
    """


@hookspec
def harness_register_samplers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make parent/reference samplers available by name (``sampler=NAME``).

    :param register: call ``register(name, factory)``; ``factory(config: dict, seed: int,
        task: TaskSpec)`` returns an object following :class:`harness.samplers.base.Sampler`
        (``task`` carries the task's behaviour descriptors, for quality-diversity samplers).

    Called once at load time (not firstresult). The built-in ``ucb1``, ``greedy``,
    ``random``, ``top_k``, ``island`` and ``map_elites`` samplers are registered through
    this hook too; ``harness/samplers/`` shows how a sampler keeps an incremental index
    from ``observe`` so that a selection stays cheap as the database grows.
    """


@hookspec
def harness_register_proposers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make proposer back-ends (LLM clients or offline proposers) available (``llm=NAME``).

    :param register: call ``register(name, factory)``; ``factory(config: dict)`` returns an
        object following :class:`harness.llm.base.Proposer`.

    Called once at load time (not firstresult). The built-in ``offline`` and ``openai``
    back-ends are registered through this hook.
    """


@hookspec
def harness_register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make text embedders for the cognition base available by name (``cognition.backend``).

    :param register: call ``register(name, factory)``; ``factory(config: dict)`` receives
        the run's whole ``cognition`` config as a dict and returns an object following
        :class:`harness.cognition.Embedder` (``name``, ``dim``, ``embed(texts)`` returning
        L2-normalised float32 rows). ``name`` must identify the vector space (back-end and
        model): vectors stored in the run database are reused only under the same name.

    Called once at load time (not firstresult). The built-in ``hashing`` and ``openai``
    embedders are registered through this hook; the ``harness-minilm`` plugin adds
    ``sentence_transformers``. The factory runs when a run starts, so it should fail there
    with a clear ``ValueError`` for bad settings, and load a model at most once per process.
    """


@hookspec
def harness_register_executors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make executors, which run evaluations outside the orchestrator, available by name
    (``executor=NAME``).

    :param register: call ``register(name, factory)``; ``factory(config: dict, workers:
        int)`` receives the run's ``executor`` config as a dict and the run's number of
        concurrent rounds, and returns an object following
        :class:`harness.executors.Executor`. It raises
        :class:`harness.executors.ExecutorError` when its back-end is missing or
        unreachable.

    Called once at load time (not firstresult). The built-in ``local`` (worker processes)
    and ``dask`` executors are registered through this hook; import a heavy back-end
    inside the factory, so that only a run that selects it pays for the import.
    """


@hookspec
def harness_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``harness`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)`` or decorate
        with ``@cli.command()``.

    Called once when the CLI starts (not firstresult).
    """


# -------------------------------------------------------------------------------------
# Domain hooks: called only on the plugin that registered ``config["name"]``.
# -------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def harness_task_spec(config: dict[str, Any]) -> TaskSpec:
    """Describe the task: researcher text, entry function, seeds, cognition, budgets.

    :param config: the run's ``task`` config as a dict.
    :return: a :class:`harness.task.TaskSpec` whose ``name`` equals ``config["name"]``.

    firstresult. Called in the orchestrator when a run, ``eval`` or ``status`` starts, and
    in evaluation workers. It must be cheap and free of side effects.
    """


@hookspec(firstresult=True)
def harness_seed_program(config: dict[str, Any], name: str) -> str | None:
    """Return the source of the named seed program (``task.seed_program=NAME``).

    :param config: the run's ``task`` config as a dict.
    :param name: one of ``TaskSpec.seeds``.
    :return: program text, or ``None`` if the name is unknown (the core then reports the
        available names).

    firstresult. Called once per run, before node 0 is evaluated.
    """


@hookspec(firstresult=True)
def harness_evaluate(
    config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
) -> EvalResult:
    """Evaluate one candidate program and return its metrics and feedback.

    :param config: the run's ``task`` config as a dict.
    :param program: the candidate's full source text (untrusted).
    :param workdir: a fresh private directory for this evaluation.
    :param limits: the resource limits for the candidate (timeout, memory, CPU, files).
    :param stage: the cascade stage to run (a name from ``TaskSpec.stages``), or ``None``
        when the task declares no stages. Implementations that have no stages may omit
        this argument.
    :return: an :class:`harness.task.EvalResult`. A broken candidate is a result with
        ``success=False`` and useful ``feedback``, never an exception.

    firstresult. Runs in an evaluation worker process, never in the orchestrator. The
    implementation is trusted; it must run the candidate itself through
    :func:`harness.sandbox.run_candidate` (a further sandboxed child), so the candidate
    cannot alter the validator or the reported metrics.
    """


@hookspec(firstresult=True)
def harness_score(config: dict[str, Any], result: EvalResult) -> float | None:
    """Turn an evaluation's metrics into one fitness value (higher is better).

    :param config: the run's ``task`` config as a dict.
    :param result: the evaluation result.
    :return: a finite float, or ``None`` when the candidate failed.

    firstresult. Runs in the evaluation worker right after :func:`harness_evaluate`. When
    a task does not implement it, the core uses ``result.metrics["score"]`` for successful
    results.
    """
