"""``harness compare``: curves and a summary table across runs (docs/compare.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: PATH/compare for one PATH, else ./compare).",
)
@click.option(
    "--threshold",
    "-t",
    "thresholds",
    type=float,
    multiple=True,
    help="Score for an 'evals to >= T' column; repeatable (default: 50% and 90% of the "
    "way from the median seed score to the best group's final mean).",
)
@click.option("--title", help="Title of the figure.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def compare(
    paths: tuple[Path, ...],
    out_dir: Path | None,
    thresholds: tuple[float, ...],
    title: str | None,
    as_json: bool,
) -> None:
    """Compare runs: best-score curves per configuration, over seeds.

    Each PATH is a run directory or a folder holding run directories at any depth (a
    sweep's multirun/<stamp>/). Runs that differ only by seed form one group. Writes
    curves.csv, summary.csv and compare.png (skipped, with a warning, without matplotlib)
    and prints a summary table.

    \b
    harness compare multirun/2026-11-27_10-00-00
    harness compare runs/a runs/b --out cmp -t 1.8 -t 1.9 --title "ucb1 vs random"
    """
    from harness import compare as comparing
    from harness.compare import output

    try:
        report = comparing.compare(paths, out_dir, thresholds, title)
    except comparing.NoRunsFoundError as exc:
        raise click.UsageError(str(exc)) from exc
    except comparing.CompareError as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(output.to_json(report), indent=2))
        return
    click.echo(output.markdown_table(report.summaries, report.thresholds))
    click.echo()
    for path in report.files.values():
        click.echo(f"wrote {path}")
