"""``harness export``: a run's or a sweep's proposals as a dataset file (docs/export.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click


@click.command("export")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format", "-f", "fmt", default="jsonl", show_default=True,
    help="Export format: jsonl, parquet, or one a plugin registers.",
)  # fmt: skip
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (default: traces.FORMAT in the current folder).",
)  # fmt: skip
@click.option(
    "--role", default="researcher", show_default=True,
    help="Whose LLM exchange a record holds: researcher, analyzer or repair.",
)  # fmt: skip
@click.option("--only-success", is_flag=True, help="Only nodes that evaluated successfully.")
@click.option(
    "--all-nodes", is_flag=True,
    help="Also nodes with no exchange of the role (the seed, an offline proposer's), with a "
    "null prompt and answer.",
)  # fmt: skip
def export_command(
    paths: tuple[Path, ...],
    fmt: str,
    out: Path | None,
    role: str,
    only_success: bool,
    all_nodes: bool,
) -> None:
    """Export the proposals of PATH (a run directory, a sweep, or a folder of runs): one
    record per node with the prompt as sent, the answer, tokens, cost, the program and its
    parent's, the score and the improvement on the parent. Stores are read, never written.

    \b
    harness export runs/toy/2026-12-01_10-00-00 -o traces.jsonl
    harness export multirun/2026-12-01_10-00-00 --format parquet --only-success
    """
    from harness import db as store
    from harness import export as exporting
    from harness.compare import NoRunsFoundError
    from harness.plugins import UnknownNameError, get_exporter_factory

    try:
        factory = get_exporter_factory(fmt)
    except UnknownNameError as exc:
        raise click.BadParameter(str(exc), param_hint="'--format'") from exc
    target = out or Path(f"traces.{fmt}")
    try:
        count = exporting.export(paths, target, factory, role, all_nodes, only_success)
    except NoRunsFoundError as exc:
        raise click.UsageError(str(exc)) from exc
    except exporting.ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    except (store.StoreError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot read a run store under {paths[0]}: {exc}") from exc
    click.echo(f"wrote {count} records to {target}")
    if count == 0 and not all_nodes:
        click.echo(
            f"No node of these runs came from a {role} LLM call (an offline run proposes "
            "without one); --all-nodes exports every node, with no prompt.",
            err=True,
        )
