"""``harness report``: one self-contained HTML file of a run or a sweep (docs/web.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
    show_default=True, help="The HTML file to write.",
)  # fmt: skip
@click.option(
    "--max-nodes", default=500, show_default=True, type=click.IntRange(min=0),
    help="Node pages per run: the best path first, then by score (the tree is always whole).",
)  # fmt: skip
def report(path: Path, out: Path, max_nodes: int) -> None:
    """Write the web view of PATH (a run directory, a sweep, or a folder of runs) as ONE
    HTML file that opens offline: the tree, the curves, the nodes' programs, diffs and LLM
    exchanges, the sweep's groups.

    \b
    harness report runs/circle_packing/2026-12-01_10-00-00 -o report.html
    """
    from harness import db as store
    from harness.compare import NoRunsFoundError
    from harness.web.report import build

    try:
        html = build(path.resolve(), max_nodes)
    except NoRunsFoundError as exc:
        raise click.UsageError(str(exc)) from exc
    except (store.StoreError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot read a run store under {path}: {exc}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    click.echo(f"wrote {out} ({len(html.encode()) / 1e6:.1f} MB)")
