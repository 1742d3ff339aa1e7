"""The core's view of the installed tasks: spec, seed program and limits, by task config.

Commands, the loop and the test kit ask here instead of reaching for the registered
:class:`~harness.task.Task` themselves, so a plugin's mistakes (a bad config value, a
missing seed) become one kind of error, :class:`RunError`, in one place.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harness import plugins
from harness.sandbox import Limits
from harness.task import TaskSpec

if TYPE_CHECKING:
    from harness.nodes import Node


class RunError(Exception):
    """A run cannot start: bad configuration, unknown task, missing seed program."""


def task_spec(config: dict[str, Any]) -> TaskSpec:
    """The task's spec; a plugin's complaint about its config becomes a :class:`RunError`."""
    task = plugins.get_task(config["name"])
    try:
        spec = task.spec(config)
    except (ValueError, TypeError, KeyError) as exc:
        raise RunError(f"task {config['name']!r}: {exc}") from exc
    if not isinstance(spec, TaskSpec):
        raise RunError(f"task {config['name']!r} returned no TaskSpec from its spec()")
    return spec


def recorded_spec(db: Any, task: str | None) -> TaskSpec | None:
    """The spec of the task a run store recorded, built from the task config it recorded (a
    task's spec may need its own keys), or None when the plugin is gone or the config no
    longer fits it: readers of a store (status, the web view) work without the plugin."""
    if not task:
        return None
    from harness import db as store

    try:
        return task_spec(store.recorded_section(db, "task") or {"name": task})
    except Exception:  # noqa: BLE001 - a reader works even when the plugin is gone
        return None


def seed_program(config: dict[str, Any], name: str) -> str:
    """The source of the task's seed program ``name``; a :class:`RunError` when it has none."""
    program = plugins.get_task(config["name"]).seed(config, name)
    if not program:
        raise RunError(f"Task {config['name']!r} returned no program for seed {name!r}.")
    return program


def task_limits(config: dict[str, Any], spec: TaskSpec) -> Limits:
    """A candidate's limits: the task config's ``timeout_s``/``memory_mb``/``max_processes``
    where set (not ``None``), else the spec's (and the sandbox's default process cap)."""
    timeout_s, memory_mb = config.get("timeout_s"), config.get("memory_mb")
    limits = Limits(
        timeout_s=float(spec.timeout_s if timeout_s is None else timeout_s),
        memory_mb=int(spec.memory_mb if memory_mb is None else memory_mb),
    )
    processes = config.get("max_processes")
    return limits if processes is None else replace(limits, max_processes=int(processes))


#: Failures of the trusted side (evaluator or worker), not of the candidate.
EVALUATOR_FAILURES = ("evaluator_error", "worker_crash")


def seed_failure(seed: Node, seed_name: str) -> str | None:
    """Why a run cannot go on from its evaluated seed node, if it cannot: evolving from a
    program that does not work, or from an evaluator that does not, would only fail every
    round."""
    if seed.success or seed.error_class == "cascade":  # it works, below a filter
        return None
    if seed.error_class in EVALUATOR_FAILURES:
        return "the task's evaluator failed on the seed program (see node 0's feedback)"
    lines = [line.strip() for line in (seed.feedback or "").splitlines() if line.strip()]
    detail = f": {lines[-1][:300]}" if lines else ""
    return (
        f"the seed program {seed_name!r} failed its evaluation "
        f"({seed.error_class or 'failed'}{detail}); fix the seed or choose another with "
        "task.seed_program, then start a new run (node 0 holds the full feedback)"
    )
