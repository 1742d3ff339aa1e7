"""``harness new-task``: start a task plugin from a working, tested template."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("new-task")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the project (default: ./harness-NAME).",
)
def new_task(name: str, directory: Path | None) -> None:
    """Write a pip-installable task plugin for task NAME: the Task, its config, a seed
    program, tests and a CI workflow (a toy curve-fitting problem to replace with yours)."""
    from harness.scaffold import ScaffoldError, check_name, distribution, render

    try:
        target = directory or Path(distribution(check_name(name)))
        render(name, target)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Wrote {target}/ ({distribution(name)}, task {name}). Next:")
    click.echo(f"  pip install -e '{target}[test]'")
    click.echo(f"  pytest {target}/tests")
    click.echo(f"  harness run +task={name} run.max_evaluations=20")
