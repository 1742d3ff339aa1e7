"""``harness status``: a run's progress, read from its store without migrating it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import click


def _summary(run_dir: Path) -> dict[str, Any]:
    """The store's summary, with the task's best known score and the gap to it."""
    from harness import db as store

    path = run_dir / store.DB_NAME
    if not path.exists():
        raise click.UsageError(f"{run_dir} has no {store.DB_NAME}.")
    try:
        db = store.open_db(run_dir, migrate=False)
        summary = store.summary(db)
        pareto = store.load_sampler_state(db, "pareto")
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except sqlite3.Error as exc:
        damaged = store.damaged(path, exc) if store.is_damaged(exc) else None
        raise click.ClickException(str(damaged or f"cannot read {path}: {exc}")) from exc
    from harness.tasks import recorded_spec

    spec = recorded_spec(db, summary["task"])
    summary["best_known"] = spec.best_known if spec else None
    if pareto is not None:  # the pareto sampler's front, as of its last saved state
        summary["pareto_front"] = pareto.get("front", [])
    if summary["best_known"] is not None and summary["best_score"] is not None:
        summary["gap_to_best_known"] = summary["best_known"] - summary["best_score"]
    return summary


def _with_spread(summary: dict[str, Any]) -> None:
    """A stochastic task's best and seed scores as ``mean ± half-width (n)``, and the
    paired comparison of the two as one line (the JSON keeps the figures apart)."""
    from harness.estimate import LEVEL, Estimate
    from harness.progress import versus_seed

    versus = summary.pop("best_vs_seed", None)
    level = versus["level"] if versus else LEVEL
    for name in ("best", "seed"):
        n = summary.pop(f"{name}_score_n", None)
        se = summary.pop(f"{name}_score_se", None)
        if n is not None and summary.get(f"{name}_score") is not None:
            value = Estimate(summary[f"{name}_score"], se, n)
            summary[f"{name}_score"] = f"{value.format(6, level)} ({level:.0%} interval)"
    if versus is not None:
        summary["best_vs_seed"] = versus_seed(versus)


def _datasette_metadata(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Print the packaged datasette metadata's path and exit, before RUN_DIR is read."""
    if value and not ctx.resilient_parsing:
        from harness.db import datasette_metadata_path

        click.echo(datasette_metadata_path())
        ctx.exit()


def _latest_run() -> Path:
    """The run whose store changed last under ./runs and ./multirun (its WAL counts: the
    main file's time moves only at a checkpoint)."""
    from harness import db as store
    from harness.compare import NoRunsFoundError, find_run_dirs

    roots = [Path(name) for name in ("runs", "multirun") if Path(name).is_dir()]
    try:
        found = find_run_dirs(roots) if roots else []
    except NoRunsFoundError:
        found = []
    if not found:
        raise click.UsageError(
            f"No run found: no {store.DB_NAME} under ./runs or ./multirun of {Path.cwd()}. "
            "Pass a run directory: harness status RUN_DIR"
        )

    def changed(run_dir: Path) -> float:
        files = (run_dir / store.DB_NAME, run_dir / f"{store.DB_NAME}-wal")
        return max(path.stat().st_mtime for path in files if path.exists())

    return max(found, key=changed)


def _overrides(run_dir: Path) -> list[str]:
    """The overrides the run was started with, without Hydra's own (sweep dir, launcher)."""
    from harness import db as store

    try:
        db = store.open_db(run_dir, migrate=False)
        row = db.execute("select overrides from runs order by id limit 1").fetchone()
        db.close()
    except (store.StoreError, sqlite3.Error):
        return []
    items = [str(item).lstrip("+") for item in json.loads((row and row[0]) or "[]")]
    return [item for item in items if not item.split("=", 1)[0].lstrip("~").startswith("hydra")]


def _sweep(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Each run's summary, with its directory and the overrides not every run shares."""
    rows = []
    for run_dir in run_dirs:
        try:
            row = _summary(run_dir)
        except click.ClickException as exc:  # one damaged store must not hide the others
            row = {"status": "unreadable", "error": exc.format_message()}
        rows.append({"run_dir": str(run_dir), "overrides": _overrides(run_dir), **row})
    shared = set.intersection(*(set(row["overrides"]) for row in rows)) if rows else set()
    for row in rows:
        row["overrides"] = [item for item in row["overrides"] if item not in shared]
    return rows


def _sweep_table(rows: list[dict[str, Any]]) -> str:
    """One line per run, in columns."""

    def score(value: Any) -> str:
        return "-" if value is None else f"{value:.6g}"

    table = [["run dir", "overrides", "status", "evaluated", "best", "seed"]]
    for row in rows:
        table.append(
            [
                row["run_dir"],
                " ".join(row["overrides"]) or "-",
                row["status"],
                str(row.get("evaluated", "-")),
                score(row.get("best_score")),
                score(row.get("seed_score")),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


@click.command()
@click.argument(
    "run_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--datasette-metadata",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_datasette_metadata,
    help="Print the path of the datasette metadata for browsing a store, and exit.",
)
def status(run_dir: Path | None, as_json: bool) -> None:
    """Progress of the run in RUN_DIR: nodes, best score, failures, LLM usage.

    Without RUN_DIR, the latest run under ./runs and ./multirun. Given a folder of runs
    (a sweep's multirun/<stamp>), one line per run (--json: a list).
    """
    from harness import db as store

    latest = run_dir is None
    if run_dir is None:
        run_dir = _latest_run()
    elif not (run_dir / store.DB_NAME).exists():
        from harness.compare import NoRunsFoundError, find_run_dirs

        try:
            rows = _sweep(find_run_dirs([run_dir]))
        except NoRunsFoundError as exc:
            raise click.UsageError(str(exc)) from exc
        click.echo(json.dumps(rows, indent=2) if as_json else _sweep_table(rows))
        return
    summary = _summary(run_dir)
    if latest:  # say which run this is
        summary = {"run_dir": str(run_dir), **summary}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    usage = summary.pop("models")
    shares = summary.pop("inspired_by")
    front = summary.pop("pareto_front", None)
    by_operator = summary.pop("operators", [])
    _with_spread(summary)
    for key, value in summary.items():
        click.echo(f"{key:18} {value}")
    total = sum(shares.values())
    if total:
        click.echo(
            f"{'inspired_by':18} "
            + ", ".join(f"{k} {100 * v / total:.1f}% ({v})" for k, v in shares.items())
            + f" of {total} proposed programs"
        )
    if front is not None:
        click.echo(f"pareto front: {len(front)} nodes {front}")
    for row in by_operator:
        click.echo(
            f"{row['kind']:18} {row['name']}: {row['nodes']} nodes, {row['improved']} improved"
        )
    for row in usage:
        cost = "" if row["cost_usd"] is None else f", ${row['cost_usd']:.4f}"
        improved = f", {row['improved']} improved" if "improved" in row else ""
        click.echo(
            f"{'model':18} {row['role']} {row['model']}: {row['calls']} calls, "
            f"{row['tokens']} tokens{cost}{improved}"
        )
