"""``harness eval``: evaluate one program exactly as a run would, outside any run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from harness.commands._errors import usage_errors


def _seed_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    """``--seeds 0,1,2,3`` as a list of distinct ints."""
    if value is None:
        return None
    try:
        seeds = [int(item) for item in value.split(",") if item.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise click.BadParameter(f"{value!r} must list distinct seeds, e.g. 0,1,2,3")
    return seeds


def _evaluate(
    program_path: Path, overrides: tuple[str, ...], seeds: list[int] | None = None
) -> tuple[str, Any]:
    """The task's name and the result of evaluating the program under the composed config
    (on ``seeds``, for a stochastic task, instead of the config's own)."""
    import asyncio

    from harness.composition import check_overrides, compose, section
    from harness.evaluation import read_program
    from harness.executors.local import LocalExecutor
    from harness.plugins import did_you_mean
    from harness.sandbox import MODES
    from harness.task import EvalResult
    from harness.tasks import RunError, task_limits, task_spec
    from harness.tree import TreeError

    with usage_errors():
        check_overrides(overrides)
        cfg = compose(overrides)
        task = section(cfg, "task")
    sandbox = str(cfg.get("sandbox") or "auto")
    if sandbox not in MODES:
        raise click.UsageError(
            f"sandbox={sandbox} is not a sandbox mode ({', '.join(MODES)})."
            + did_you_mean(sandbox, list(MODES))
        )
    try:
        spec = task_spec(task)
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc
    if seeds is not None:
        if spec.noise is None:
            raise click.UsageError(
                f"--seeds needs a stochastic task; {spec.name!r} declares no noise (its "
                "evaluation gives the same score on any seed)."
            )
        task = {**task, spec.noise.key: seeds}
    # A file that is not UTF-8 is a failed candidate like any other, not a crash.
    try:
        read = read_program(program_path)
    except TreeError as exc:
        raise click.UsageError(f"--program {program_path}: {exc}") from exc
    if isinstance(read, EvalResult):
        return spec.name, read
    # The sandbox mode travels with the limits to the worker, as in a run.
    limits = dataclasses.replace(task_limits(task, spec), sandbox=sandbox)
    executor = LocalExecutor(1)
    try:
        result = asyncio.run(executor.evaluate(task, read, limits))
    finally:
        executor.shutdown()
    return spec.name, result


@click.command("eval", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--program",
    "program_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The candidate program to evaluate: a file, or a directory (a multi-file program).",
)
@click.option(
    "--seeds",
    callback=_seed_list,
    help="A stochastic task's seeds, e.g. 0,1,2,3: the score is their mean, with its interval.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def eval_command(
    program_path: Path, seeds: list[int] | None, as_json: bool, overrides: tuple[str, ...]
) -> None:
    """Evaluate one program exactly as a run would (worker process, sandbox, scoring).

    \b
    harness eval +task=circle_packing --program my_packing.py --json
    harness eval +task=rl_algo --program my_loss.py --seeds 0,1,2,3
    harness eval +task=peak_detection --program my_pipeline/
    """
    from harness.estimate import LEVEL, estimate

    task, result = _evaluate(program_path, overrides, seeds)
    spread = estimate(result.samples.values()) if result.success and result.samples else None
    if as_json:
        payload = {
            "task": task,
            "program": str(program_path),
            "success": result.success,
            "score": result.score,
            "error_class": result.error_class,
            "metrics": result.metrics,
            "feedback": result.feedback,
        }
        if spread is not None:
            payload.update(
                samples=result.samples,
                score_se=spread.se,
                score_n=spread.n,
                interval=spread.interval(),
                level=LEVEL,
            )
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    score = result.score if spread is None else f"{spread.format(6)} ({LEVEL:.0%} interval)"
    rows: dict[str, Any] = {"success": result.success, "score": score}
    if spread is not None:
        rows["samples"] = ", ".join(f"seed {k}: {v:.6f}" for k, v in result.samples.items())
    if result.error_class:
        rows["error"] = result.error_class
    # A metric named like a row above (often "score" itself) is not repeated.
    rows.update((k, v) for k, v in result.metrics.items() if k not in rows)
    width = max(len(key) for key in rows) + 1
    for key, value in rows.items():
        click.echo(f"{key:{width}} {value}")
    if result.feedback:
        click.echo("feedback:\n" + result.feedback)
