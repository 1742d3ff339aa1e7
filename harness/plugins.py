"""The plugin manager: entry-point loading, the allow-list, built-ins and name registries.

Installed plugins are found through the entry-point group ``harness``. The environment
variable ``HARNESS_LOAD_PLUGINS`` (comma-separated entry-point or distribution names)
limits which of them load; set it to an empty string to load none. ``HARNESS_PLUGINS``
(comma-separated module names) registers extra plugin modules without packaging them, as
``PYTEST_PLUGINS`` does; evaluation workers inherit it. Built-in samplers, proposers,
embedders, executors, loggers, exporters, filters, operators and config schemas are plugins
too, registered through the same hooks.
"""

from __future__ import annotations

import difflib
import importlib
import os
import threading
from collections.abc import Callable
from typing import Any

import pluggy

from harness import hookspecs
from harness.confpaths import allowed_entry_points, extra_plugin_modules
from harness.task import Task

DEFAULT_PLUGINS = (
    "harness.default_plugins.core",
    "harness.default_plugins.samplers",
    "harness.default_plugins.proposers",
    "harness.default_plugins.embedders",
    "harness.default_plugins.executors",
    "harness.default_plugins.loggers",
    "harness.default_plugins.filters",
    "harness.default_plugins.exporters",
    "harness.default_plugins.commands",
)

pm = pluggy.PluginManager("harness")
pm.add_hookspecs(hookspecs)

_loaded = False
_loading = threading.Lock()
_tasks: dict[str, Task] = {}
_task_owners: dict[str, object] = {}
_samplers: dict[str, Callable[..., Any]] = {}
_proposers: dict[str, Callable[..., Any]] = {}
_embedders: dict[str, Callable[..., Any]] = {}
_executors: dict[str, Callable[..., Any]] = {}
_loggers: dict[str, Callable[..., Any]] = {}
_filters: dict[str, Callable[..., Any]] = {}
_exporters: dict[str, Callable[..., Any]] = {}
_operators: dict[str, Any] = {}
_schemas: dict[tuple[str, str], type] = {}
_REGISTRIES: tuple[dict[Any, Any], ...] = (
    _tasks,
    _task_owners,
    _samplers,
    _proposers,
    _embedders,
    _executors,
    _loggers,
    _filters,
    _exporters,
    _operators,
    _schemas,
)


class UnknownNameError(LookupError):
    """An unknown task, sampler, proposer or embedder name; the message lists the choices."""


class UnknownHookError(pluggy.PluginValidationError):
    """Plugins implement ``harness_*`` functions that are not hooks (misspellings, mostly).

    ``problems`` holds (plugin name, function name, closest real hook or ``None``), so that
    ``harness plugins --check`` can name each one and the fix.
    """

    def __init__(self, problems: list[tuple[str, str, str | None]]) -> None:
        self.problems = problems
        message = "; ".join(
            f"plugin {plugin} implements {hook!r}, which is not a harness hook"
            + (f" (did you mean {close!r}?)" if close else "")
            for plugin, hook, close in problems
        )
        super().__init__(pm.get_plugin(problems[0][0]), message)


def unknown_hooks() -> list[tuple[str, str, str | None]]:
    """(plugin, function, closest hook) for every registered implementation of no hook:
    what pluggy's ``check_pending`` rejects, all of it at once and with a suggestion."""
    callers = {name: caller for name, caller in vars(pm.hook).items() if not name.startswith("_")}
    known = [name for name, caller in callers.items() if caller.has_spec()]
    return [
        (impl.plugin_name, name, next(iter(difflib.get_close_matches(name, known, 1, 0.5)), None))
        for name, caller in sorted(callers.items())
        if not caller.has_spec()
        for impl in caller.get_hookimpls()
        if not impl.optionalhook
    ]


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """The standard "unknown X" message tail: the closest choice and every choice."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(sorted(choices)) or "(none installed)"
    return f"{hint} Available: {listed}."


def load_plugins() -> pluggy.PluginManager:
    """Load built-ins and installed plugins once, then fill the name registries.

    Raises :class:`UnknownHookError` when a plugin implements a hook that does not exist
    (a misspelled ``harness_*`` function fails loudly instead of being ignored).
    Thread-safe: evaluation threads that start at once load the plugins once.
    """
    global _loaded
    if _loaded:
        return pm
    with _loading:
        if _loaded:
            return pm
        for module_name in DEFAULT_PLUGINS:
            if pm.get_plugin(module_name) is None:
                pm.register(importlib.import_module(module_name), name=module_name)
        _load_entry_points()
        for module_name in extra_plugin_modules():
            if pm.get_plugin(module_name) is None:
                pm.register(importlib.import_module(module_name), name=module_name)
        problems = unknown_hooks()
        if problems:
            raise UnknownHookError(problems)
        _collect_registrations()
        _loaded = True
    return pm


def _load_entry_points() -> None:
    """Register the installed plugins that ``HARNESS_LOAD_PLUGINS`` allows. pluggy reads
    every installed distribution's entry points on each call: one call loads them all when
    the variable is unset (the usual case, and a tenth of a second less in every process
    with a few plugins in a big environment), one call per allowed plugin otherwise."""
    if os.environ.get("HARNESS_LOAD_PLUGINS") is None:
        pm.load_setuptools_entrypoints("harness")
        return
    for ep in allowed_entry_points():
        pm.load_setuptools_entrypoints("harness", name=ep.name)


def reset() -> None:
    """Forget registries so the next :func:`load_plugins` rebuilds them (tests use this)."""
    global _loaded
    _loaded = False
    for table in _REGISTRIES:
        table.clear()


def _collect_registrations() -> None:
    for table in _REGISTRIES:
        table.clear()
    for impl in pm.hook.harness_register_tasks.get_hookimpls():
        impl.function(register=_task_registrar(impl.plugin))

    def registrar(table: dict[str, Callable[..., Any]], kind: str) -> Callable[..., None]:
        def register(name: str, factory: Callable[..., Any]) -> None:
            if name in table and table[name] is not factory:
                raise ValueError(f"{kind} {name!r} is registered twice")
            table[name] = factory

        return register

    pm.hook.harness_register_samplers(register=registrar(_samplers, "sampler"))
    pm.hook.harness_register_proposers(register=registrar(_proposers, "proposer"))
    pm.hook.harness_register_embedders(register=registrar(_embedders, "embedder"))
    pm.hook.harness_register_executors(register=registrar(_executors, "executor"))
    pm.hook.harness_register_loggers(register=registrar(_loggers, "logger"))
    pm.hook.harness_register_operators(register=registrar(_operators, "operator"))
    pm.hook.harness_register_filters(register=registrar(_filters, "filter"))
    pm.hook.harness_register_exporters(register=registrar(_exporters, "exporter"))


def _task_registrar(plugin: object) -> Callable[[Task], None]:
    """``register(task)`` for ``plugin``: one owner per task name, and only Task objects."""

    def register(task: Task) -> None:
        if not isinstance(task, Task):
            raise TypeError(
                f"plugin {pm.get_name(plugin)} registered {task!r}: "
                "register a harness.task.Task instance"
            )
        owner = _task_owners.get(task.name)
        if owner is not None and owner is not plugin:
            raise ValueError(
                f"task {task.name!r} is registered by two plugins: "
                f"{pm.get_name(owner)} and {pm.get_name(plugin)}"
            )
        _tasks[task.name], _task_owners[task.name] = task, plugin

    return register


def _collect_schemas() -> dict[tuple[str, str], type]:
    found: dict[tuple[str, str], type] = {}

    def register(group: str, name: str, node: type) -> None:
        if found.get((group, name), node) is not node:
            raise ValueError(f"schema {group}/{name} is registered twice")
        found[group, name] = node

    pm.hook.harness_register_schemas(register=register)
    for name, task in _tasks.items():
        register("task", name, task.config_schema)
    return found


def task_names() -> list[str]:
    load_plugins()
    return sorted(_tasks)


def sampler_names() -> list[str]:
    load_plugins()
    return sorted(_samplers)


def _factory(table: dict[str, Callable[..., Any]], kind: str, name: str) -> Callable[..., Any]:
    """The factory registered under ``name``, or an "Unknown <kind>" error with a hint."""
    load_plugins()
    if name not in table:
        raise UnknownNameError(f"Unknown {kind} {name!r}." + did_you_mean(name, list(table)))
    return table[name]


def get_sampler_factory(name: str) -> Callable[..., Any]:
    return _factory(_samplers, "sampler", name)


def get_proposer_factory(name: str) -> Callable[..., Any]:
    return _factory(_proposers, "llm back-end", name)


def embedder_names() -> list[str]:
    load_plugins()
    return sorted(_embedders)


def get_embedder_factory(name: str) -> Callable[..., Any]:
    return _factory(_embedders, "cognition backend", name)


def get_executor_factory(name: str) -> Callable[..., Any]:
    return _factory(_executors, "executor", name)


def get_logger_factory(name: str) -> Callable[..., Any]:
    return _factory(_loggers, "logger", name)


def get_exporter_factory(name: str) -> Callable[..., Any]:
    return _factory(_exporters, "export format", name)


def get_filter_factory(name: str) -> Callable[..., Any]:
    return _factory(_filters, "novelty filter", name)


def get_operator(name: str) -> Any:
    """The search operator registered as ``name`` (a
    :class:`harness.llm.operators.Operator`), or an "Unknown operator" error with a hint."""
    return _factory(_operators, "operator", name)


def get_task(name: str) -> Task:
    """The task registered as ``name``, or an "Unknown task" error with a hint."""
    load_plugins()
    if name not in _tasks:
        raise UnknownNameError(f"Unknown task {name!r}." + did_you_mean(name, list(_tasks)))
    return _tasks[name]


def schemas() -> dict[tuple[str, str], type]:
    """Every registered config schema by (group, option), tasks' ``config_schema`` included.

    Collected on first use rather than at load: only composing a config needs them, and an
    evaluation worker should not import every back-end's schema module.
    """
    load_plugins()
    with _loading:
        if not _schemas:
            _schemas.update(_collect_schemas())
    return dict(_schemas)


def plugin_info(include_builtins: bool = False) -> list[dict[str, Any]]:
    """Name, distribution, version and implemented hooks of every loaded plugin."""
    load_plugins()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None or (name in DEFAULT_PLUGINS and not include_builtins):
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))
        rows.append(
            {
                "name": name,
                "distribution": dist.project_name if dist else None,
                "version": dist.version if dist else None,
                "hooks": hooks,
                "tasks": sorted(t for t, owner in _task_owners.items() if owner is plugin),
            }
        )
    return rows
