"""The plugin contract of harness (pluggy project name ``"harness"``).

Every hook is a registration hook: a plugin hands the core objects (tasks, samplers,
proposers, embedders, executors, loggers, exporters, novelty filters, edit operators, config
schemas, commands) and the core calls methods on them. A task's behaviour is the
:class:`harness.task.Task` it registers, so the core reaches each task through its own
object and a plugin never has to ask "is this my task?".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from harness.llm.operators import Operator
    from harness.task import Task

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


# -------------------------------------------------------------------------------------
# Registration hooks: called once, when the plugin manager loads plugins.
# -------------------------------------------------------------------------------------


@hookspec
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    """Declare the tasks this plugin owns.

    :param register: call ``register(task)`` once per task, with an instance of a
        :class:`harness.task.Task` subclass. ``task.name`` is what users select with
        ``+task=NAME`` and must match the plugin's ``conf/task/NAME.yaml``; the core stores
        ``task.config_schema`` as ``harness_schema/task/NAME``, which that YAML lists first
        in its defaults.

    Called once per plugin at load time (not firstresult; every implementation runs).
    Two plugins registering the same name is an error raised at load time.
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

    Called once at load time (not firstresult). The built-in ``offline``, ``openai`` and
    ``replay`` back-ends are registered through this hook.
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
def harness_register_loggers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make experiment trackers available by name (``logger=NAME``).

    :param register: call ``register(name, factory)``; ``factory(config: dict, run_dir:
        Path)`` receives the run's ``logger`` config as a dict and the run directory, and
        returns an object following :class:`harness.loggers.Logger` (``run_started(info)``,
        ``node_completed(node, tally)``, ``run_finished(status, reason, summary)``,
        ``close()``).

    Called once at load time (not firstresult). The factory and every method run on a
    thread of their own, in order, so a slow tracker never holds the run up; an exception
    from any of them is logged once as a warning and turns the logger off for the rest of
    the run. Import the tracking library inside the factory. A resumed run calls
    ``run_started`` again with ``info.resume`` true: continue the same tracked run (keep
    its id in the run directory). The built-in ``jsonl`` logger
    (:class:`harness.loggers.JsonlLogger`) is registered through this hook; the
    ``harness-mlflow`` plugin adds ``mlflow``.
    """


@hookspec
def harness_register_exporters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make trace export formats available by name (``harness export --format NAME``).

    :param register: call ``register(name, factory)``; ``factory(path: Path)`` returns an
        object following :class:`harness.export.Exporter`: ``write(records)`` consumes an
        iterator of record dicts (fields :data:`harness.export.FIELDS`) once, writes them to
        ``path`` and returns how many it wrote. Consume the records as they come (a run may
        hold 100k nodes); the command renames ``path`` into place when ``write`` returns.

    Called once at load time (not firstresult). The built-in ``jsonl`` and ``parquet``
    exporters are registered through this hook; the factory raises
    :class:`harness.export.ExportError` with the install hint when its library is missing.
    """


@hookspec
def harness_register_filters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Make novelty filters available by name (``novelty=NAME``): they reject a proposal
    before its evaluation, as status ``rejected_novelty`` (docs/novelty.md).

    :param register: call ``register(name, factory)``; ``factory(config: dict, proposer,
        task: TaskSpec)`` receives the run's ``novelty`` config as a dict, the run's
        proposer back-end (for an LLM judge: :class:`harness.llm.base.NoveltyJudge`) and the
        task, and returns an object following :class:`harness.filters.Filter`
        (``rebuild(db)``, ``admit(node)``, ``async check(node) -> Verdict``).

    Called once at load time (not firstresult). The built-in ``embedding`` filter is
    registered through this hook. The factory runs when a run starts, so it should fail
    there with a clear ``ValueError`` for bad settings.
    """


@hookspec
def harness_register_operators(register: Callable[[str, Operator], None]) -> None:
    """Make search operators available by name (``llm.operators=[NAME, ...]``).

    :param register: call ``register(name, operator)`` with a
        :class:`harness.llm.operators.Operator` named ``name``: the answer-format template
        the researcher's system message includes (``output``, looked up like every prompt
        template: ``llm.prompts_dir``, the task's ``prompts_dir``, then the core's), how
        the answer becomes the program (``edit_mode``: ``diff`` or ``full``) and
        ``parents`` (2: the best reference is shown in full as a second parent; a round
        without references uses the operator named ``fallback``).

    Called once at load time (not firstresult). The built-in ``diff``, ``full`` and
    ``crossover`` operators are registered through this hook (docs/operators.md).
    """


@hookspec
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    """Give config group options their schemas, so a typo in a key fails at composition.

    :param register: call ``register(group, name, node)``; ``node`` is a dataclass, stored
        in Hydra's ConfigStore as ``harness_schema/<group>/<name>``. The option's YAML
        (``conf/<group>/<name>.yaml``) lists ``/harness_schema/<group>/<name>@_here_`` then
        ``_self_`` in its defaults.

    Called once, when a config is first composed rather than at load time, so that a
    worker never imports schema modules (not firstresult). Registering one
    ``group``/``name`` twice with different nodes is an error. The core's schemas
    (samplers, llm back-ends, cognition, executors, loggers, run, analyzer) are registered
    through this hook too; a task's schema is its :attr:`harness.task.Task.config_schema` and
    needs no call here.
    """


@hookspec
def harness_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``harness`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)`` or decorate
        with ``@cli.command()``.

    Called once, the first time the CLI looks up a command (not firstresult). The built-in
    commands are added through this hook too (``harness/default_plugins/commands.py``).
    """
