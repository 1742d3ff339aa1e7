"""The core's view of the installed tasks: spec, seed program and limits, by task config.

Commands, the loop and the test kit ask here instead of calling plugin hooks themselves, so
how a task is registered and reached stays the business of one module.
"""

from __future__ import annotations

from typing import Any

from harness import plugins
from harness.sandbox import Limits
from harness.task import TaskSpec


class RunError(Exception):
    """A run cannot start: bad configuration, unknown task, missing seed program."""


def task_spec(config: dict[str, Any]) -> TaskSpec:
    """The task's spec; a plugin's complaint about its config becomes a :class:`RunError`."""
    try:
        spec = plugins.task_hook(config["name"], "harness_task_spec")(config=config)
    except (ValueError, TypeError, KeyError) as exc:
        raise RunError(f"task {config['name']!r}: {exc}") from exc
    if not isinstance(spec, TaskSpec):
        raise RunError(f"task {config['name']!r} returned no TaskSpec from harness_task_spec")
    return spec


def seed_program(config: dict[str, Any], name: str) -> str:
    """The source of the task's seed program ``name``; a :class:`RunError` when it has none."""
    program = plugins.task_hook(config["name"], "harness_seed_program")(config=config, name=name)
    if not program:
        raise RunError(f"Task {config['name']!r} returned no program for seed {name!r}.")
    return program


def task_limits(config: dict[str, Any], spec: TaskSpec) -> Limits:
    """A candidate's limits: the task config's ``timeout_s``/``memory_mb``/``max_processes``,
    else the spec's (and the sandbox's default process cap)."""
    extra = {}
    if config.get("max_processes") is not None:
        extra["max_processes"] = int(config["max_processes"])
    return Limits(
        timeout_s=float(config.get("timeout_s", spec.timeout_s)),
        memory_mb=int(config.get("memory_mb", spec.memory_mb)),
        **extra,
    )
