"""``harness run``: check the overrides, then hand them to Hydra's ``@hydra.main`` app."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from harness.commands._errors import usage_errors


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def run(overrides: tuple[str, ...]) -> None:
    """Run an evolution; OVERRIDES go to Hydra (`-m` for sweeps).

    \b
    harness run +task=circle_packing
    harness run +task=circle_packing sampler=random seed=3 run.max_evaluations=200
    harness run -m +task=circle_packing sampler=ucb1,random seed=0,1,2
    harness run +task=circle_packing llm=openai llm.base_url=URL llm.model=M
    """
    if overrides and overrides[0] in ("--help", "-h"):
        click.echo(run.get_help(click.get_current_context()))
        click.echo("\nHydra's own help: harness run --hydra-help")
        return
    if "--hydra-help" not in overrides and "--info" not in overrides:
        from harness.composition import check_overrides

        with usage_errors():
            check_overrides(overrides)
            if not any(item.startswith("-") for item in overrides):  # -m sweeps: Hydra's own
                _check_run_dir(overrides)
    from harness import app

    sys.argv = ["harness", *overrides]
    try:
        app.main()  # its PreRunChecks refuse the rest of what a run would refuse
    except app.Refused as refused:
        error = click.UsageError if refused.usage else click.ClickException
        raise error(refused.message) from None


def _check_run_dir(overrides: Sequence[str]) -> None:
    """Refuse a ``hydra.run.dir`` that holds a run before Hydra rewrites its ``.hydra/`` (its
    next resume would take the refused overrides)."""
    from harness import db as store
    from harness.composition import parsed

    for override in parsed(overrides):
        value = override.value()
        if override.key_or_group != "hydra.run.dir" or not isinstance(value, (str, int, float)):
            continue
        run_dir = Path(str(value))
        if "${" not in str(value) and (run_dir / store.DB_NAME).exists():
            raise click.ClickException(
                f"{run_dir} already holds a run; continue it with "
                f"`harness resume {run_dir}` or choose another hydra.run.dir"
            )
