"""The task contract every task plugin must satisfy, as plain assertions.

:func:`check_task` (behind the ``task_contract`` fixture) composes the plugin's own
``conf/task/NAME.yaml`` through Hydra and then checks, in this order, each failure naming
what to fix:

1. **spec**: ``spec()`` builds and names the task it is registered as, with a seed;
2. **seeds**: every seed program exists and evaluates through the sandbox to a finite score
   (seeds named in ``failing_seeds`` must instead come back as failed results);
3. **bad candidates**: a program that raises, one that never returns (run under a 2 s
   ``Limits.timeout_s``) and one whose entry function returns a string all come back as
   failed results (``success=False`` with ``feedback``), never as exceptions; for a seed
   that is a tree (a directory seed), that tree with a syntax error in its changeable files
   fails too, its feedback naming one;
4. **descriptors**: every ``Descriptor`` of the spec is reported as a number in the seeds'
   metrics and lies in its ``[low, high]``;
5. **a short run**: a real :class:`harness.loop.Run` of :data:`RUN_EVALUATIONS`
   evaluations with ``llm=offline`` in a temporary run directory finishes, with the seed
   evaluated and no evaluator error in any round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from harness.sandbox import Limits
from harness.task import Descriptor, EvalResult, TaskSpec, finite
from harness.tree import Tree, is_tree, policy_of

#: Evaluations in the short offline run, the seed's included.
RUN_EVALUATIONS = 4
#: The run settings of the short offline run; they leave the task section alone.
RUN_OVERRIDES = ("llm=offline", f"run.max_evaluations={RUN_EVALUATIONS}", "run.workers=1")
#: The timeout a never-returning candidate runs under, and how much longer the evaluator
#: may take to report it before the kit says the evaluator ignores ``Limits.timeout_s``.
TIMEOUT_S, TIMEOUT_GRACE_S = 2.0, 30.0


def compose_task(task: str | Mapping[str, Any], overrides: Collection[str] = ()) -> DictConfig:
    """The run config of ``+task=NAME`` and ``overrides``; a ``task`` dict (the kit's older
    form) is merged over the composed task section, checked against its schema."""
    from harness.config import compose_config

    name = task if isinstance(task, str) else str(task["name"])
    try:
        cfg = compose_config([f"+task={name}", *overrides])
        if not isinstance(task, str):
            cfg.task = OmegaConf.merge(cfg.task, dict(task))
    except Exception as exc:  # noqa: BLE001 - any composition error fails the contract
        raise AssertionError(
            f"task {name!r}: the config does not compose ({type(exc).__name__}: {exc}). "
            f"The plugin package must ship conf/task/{name}.yaml as package data, its "
            f"defaults listing /harness_schema/task/{name}@_here_ first, and every key set "
            "must be declared in the task's config_schema."
        ) from exc
    return cfg


def check_task(
    task: str | Mapping[str, Any],
    tmp_path: Path,
    *overrides: str,
    failing_seeds: Collection[str] = (),
) -> dict[str, EvalResult]:
    """Assert the task contract (see the module docstring); the seed results by name.

    ``task`` is the task's name (its own YAML composed with ``overrides``) or a task config
    dict. ``failing_seeds`` names seeds the task ships broken on purpose (a test fixture's).
    """
    from harness.evaluation import evaluate_program
    from harness.tasks import RunError, seed_program, task_limits, task_spec

    cfg = compose_task(task, [*overrides, *RUN_OVERRIDES])
    config = cast(dict[str, Any], OmegaConf.to_container(cfg.task, resolve=True))
    name = config["name"]
    try:
        spec = task_spec(config)
    except (RunError, LookupError) as exc:
        raise AssertionError(f"task {name!r}: spec() fails: {exc}") from exc
    assert spec.name == name, (
        f"spec().name is {spec.name!r} but the task is registered and configured as {name!r}:"
        " Task.name, TaskSpec.name and the YAML's name: must be the same"
    )
    assert spec.seeds, f"task {name!r}: list at least one seed program in TaskSpec.seeds"
    unknown = set(failing_seeds) - set(spec.seeds)
    assert not unknown, f"failing_seeds names {sorted(unknown)}, not seeds of {name!r}"
    limits = task_limits(config, spec)
    results = {}
    for seed in spec.seeds:
        try:
            program = seed_program(config, seed)
        except RunError as exc:
            raise AssertionError(
                f"{exc} Task.seed() must return its source: ship seeds/{seed}.py as package "
                "data, or override seed()"
            ) from exc
        result = evaluate_program(config, program, limits)
        if seed in failing_seeds:
            _assert_failed(result, f"the seed {seed!r}, listed in failing_seeds,")
        else:
            _assert_seed_works(seed, result)
        results[seed] = result
    _check_bad_candidates(config, spec, limits)
    trees = [seed_program(config, seed) for seed in spec.seeds if seed not in failing_seeds]
    for program in filter(is_tree, trees[:1]):
        _check_broken_tree(config, spec, limits, Tree.parse(program))
    for seed, result in results.items():
        if result.success:
            _check_descriptors(seed, result, spec.descriptors)
    _check_run(cfg, tmp_path / "contract-run", [f"+task={name}", *overrides, *RUN_OVERRIDES])
    return results


def _tail(result: EvalResult) -> str:
    lines = [line for line in (result.feedback or "").strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:])[:600] or "(no feedback)"


def _assert_seed_works(seed: str, result: EvalResult) -> None:
    if result.error_class == "evaluator_error":
        raise AssertionError(
            f"evaluate() raised on the seed {seed!r}: {_tail(result)}. Fix the evaluator"
        )
    assert result.success, (
        f"the seed {seed!r} failed its evaluation ({result.error_class}): {_tail(result)}. "
        "Fix the seed program or the evaluator; a run cannot start from a failing seed"
    )
    assert result.score is not None, f"the seed {seed!r} has no finite score"


def _assert_failed(result: EvalResult, what: str) -> None:
    """``result`` is a clean failure: no evaluator exception, not scored, with feedback."""
    if result.error_class == "evaluator_error":
        raise AssertionError(
            f"evaluate() raised for {what} instead of returning a failed EvalResult: "
            f"{_tail(result)}. Run candidates through harness.sandbox.run_candidate and, when "
            "the run is not ok, return EvalResult(success=False, feedback=run.feedback(), "
            "error_class=run.error_class); check the returned value before using it"
        )
    assert not result.success, (
        f"{what} was accepted (score {result.score}, metrics {result.metrics}): evaluate() "
        "must return success=False for it"
    )
    assert result.feedback.strip(), (
        f"{what} failed without feedback: set EvalResult.feedback to say why, the "
        "researcher reads it"
    )


def _check_bad_candidates(config: dict[str, Any], spec: TaskSpec, limits: Limits) -> None:
    """A raising, a never-returning and a wrong-typed candidate each fail cleanly."""
    from harness.evaluation import evaluate_program

    entry = f"def {spec.entry}(*args, **kwargs):\n"
    raising = "raise RuntimeError('broken on purpose')\n"
    _assert_failed(evaluate_program(config, raising, limits), "a program that raises")
    wrong = entry + "    return 'a string, not what the task expects'\n"
    _assert_failed(
        evaluate_program(config, wrong, limits), f"a program whose {spec.entry}() returns a str"
    )
    sleeper = "import time\n\n\n" + entry + "    time.sleep(3600)\n"
    started = time.monotonic()
    result = evaluate_program(config, sleeper, replace(limits, timeout_s=TIMEOUT_S))
    seconds = time.monotonic() - started
    _assert_failed(result, f"a program whose {spec.entry}() never returns")
    assert seconds < TIMEOUT_S + TIMEOUT_GRACE_S, (
        f"a program that never returns took {seconds:.0f} s to fail under "
        f"Limits.timeout_s={TIMEOUT_S:g}: pass evaluate()'s limits to run_candidate"
    )


def _check_broken_tree(config: dict[str, Any], spec: TaskSpec, limits: Limits, tree: Tree) -> None:
    """The seed tree with a syntax error in each of its changeable Python files fails,
    naming one of them (the candidate's modules are imported from the tree as written)."""
    from harness.evaluation import evaluate_program

    changeable = [p for p in tree if p.endswith(".py") and policy_of(p, spec.files) != "read_only"]
    broken = tree
    for path in changeable:
        broken = broken.with_file(path, tree[path] + "\ndef broken(:\n")
    if not changeable:
        return
    result = evaluate_program(config, broken.text(), limits)
    what = f"the seed tree with a syntax error in {', '.join(changeable)}"
    _assert_failed(result, what)
    assert any(path in result.feedback for path in changeable), (
        f"{what} failed, but its feedback names none of them: {_tail(result)}. Return "
        "EvalResult(feedback=run.feedback()) for a failed run_candidate"
    )


def _check_descriptors(seed: str, result: EvalResult, descriptors: tuple[Descriptor, ...]) -> None:
    """Every declared descriptor is a reported number within its range."""
    for descriptor in descriptors:
        raw = result.metrics.get(descriptor.name)
        value = finite(raw)
        assert value is not None, (
            f"the spec declares the descriptor {descriptor.name!r}, but the seed {seed!r} "
            f"reports {raw!r} for it: set metrics[{descriptor.name!r}] to a finite number"
        )
        assert descriptor.low <= value <= descriptor.high, (
            f"the seed {seed!r} reports {descriptor.name}={value:g}, outside the descriptor's "
            f"[{descriptor.low:g}, {descriptor.high:g}]: widen Descriptor(low, high) or fix "
            "the metric"
        )


def _check_run(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> None:
    """A short offline run finishes with its seed evaluated and no evaluator error."""
    from harness import db as store
    from harness.loop import Run
    from harness.tasks import EVALUATOR_FAILURES

    summary = asyncio.run(Run(cfg, run_dir, overrides).execute())
    db = store.open_db(run_dir)
    seed = store.get_node(db, 0) if summary["nodes"] else None
    assert summary["status"] == "finished", (
        f"the offline run in {run_dir} ended {summary['status']}: {summary['stop_reason']}"
    )
    assert seed is not None and seed["status"] == "evaluated", (
        f"the offline run's seed was not evaluated: {seed and seed['feedback']}"
    )
    broken = [
        (row["id"], row["error_class"], (row["feedback"] or "").strip()[-300:])
        for row in db["nodes"].rows_where("error_class in (?, ?)", list(EVALUATOR_FAILURES))
    ]
    assert not broken, (
        f"the task's evaluator failed in the offline run (node, class, feedback): {broken}; "
        "evaluate() must return a failed EvalResult for a bad candidate, never raise"
    )
    assert summary["evaluated"] == RUN_EVALUATIONS, summary
