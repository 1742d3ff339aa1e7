"""``harness resume``: continue a stopped or killed run with its saved overrides."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from harness.commands._errors import usage_errors


def resume_config(run_dir: Path, overrides: tuple[str, ...]) -> tuple[Any, list[str]]:
    """Recompose the run's config from its saved overrides plus the new ones (new wins),
    so schemas still apply. Nothing is saved here: the run saves them for the next resume
    once it holds the run directory and has accepted them."""
    from omegaconf import OmegaConf

    from harness.composition import check_overrides, compose, merge

    hydra_dir = run_dir / ".hydra"
    if not (hydra_dir / "overrides.yaml").exists():
        raise click.UsageError(
            f"{run_dir} is not a harness run directory (no .hydra/overrides.yaml)."
        )
    with usage_errors():
        check_overrides(overrides, require_task=False)
        saved = upgraded([str(item) for item in OmegaConf.load(hydra_dir / "overrides.yaml")])
        merged = merge(saved, overrides)
        return compose(merged), merged


def upgraded(saved: list[str]) -> list[str]:
    """The saved overrides as the run's task (if installed) rewrites them for its current
    config, so that a run made by an earlier version of the plugin resumes."""
    from harness import plugins
    from harness.composition import key, parsed

    for override in parsed(saved):
        if key(override) == "task" and override.value() in plugins.task_names():
            return plugins.get_task(str(override.value())).upgrade_overrides(saved)
    return saved


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
def resume(run_dir: Path, overrides: tuple[str, ...]) -> None:
    """Continue a stopped or killed run in RUN_DIR, optionally with new OVERRIDES.

    Rounds that were in flight are re-run; completed nodes are kept. New overrides (a
    larger budget, another sampler) are saved with the run.

    \b
    harness resume runs/circle_packing/2026-11-27_10-00-00 run.max_evaluations=500
    """
    import asyncio

    from harness.loop import Run
    from harness.tasks import RunError

    cfg, merged = resume_config(run_dir, overrides)
    logging.basicConfig(
        level=logging.INFO,
        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s",
        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(run_dir / "resume.log")],
    )
    try:
        run = Run(cfg, run_dir, merged, resume=True)
        summary = asyncio.run(run.execute())
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"best {summary['best_score']} (node {summary['best_node']}), {summary['nodes']} nodes"
    )
    code, message = run.exit_status
    if code:
        click.echo(message, err=True)
        raise SystemExit(code)
