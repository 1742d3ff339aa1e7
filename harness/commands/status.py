"""``harness status``: a run's progress, read from its store without migrating it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import click


def _task_spec_or_none(db: Any, task: str | None) -> Any:
    """The run's task spec, built from the task config the run recorded (a task's spec may
    need its own keys), or None when the plugin is gone or the config no longer fits it."""
    if not task:
        return None
    try:
        from harness import db as store
        from harness.tasks import task_spec

        return task_spec(store.recorded_section(db, "task") or {"name": task})
    except Exception:  # noqa: BLE001 - status works even when the plugin is gone
        return None


def _summary(run_dir: Path) -> dict[str, Any]:
    """The store's summary, with the task's best known score and the gap to it."""
    from harness import db as store

    path = run_dir / store.DB_NAME
    if not path.exists():
        raise click.UsageError(f"{run_dir} has no {store.DB_NAME}.")
    try:
        db = store.open_db(run_dir, migrate=False)
        summary = store.summary(db)
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except sqlite3.Error as exc:
        damaged = store.damaged(path, exc) if store.is_damaged(exc) else None
        raise click.ClickException(str(damaged or f"cannot read {path}: {exc}")) from exc
    spec = _task_spec_or_none(db, summary["task"])
    summary["best_known"] = spec.best_known if spec else None
    if summary["best_known"] and summary["best_score"] is not None:
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


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(run_dir: Path, as_json: bool) -> None:
    """Progress of the run in RUN_DIR: nodes, best score, failures, LLM usage."""
    summary = _summary(run_dir)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    usage = summary.pop("models")
    shares = summary.pop("inspired_by")
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
    for row in usage:
        cost = "" if row["cost_usd"] is None else f", ${row['cost_usd']:.4f}"
        improved = f", {row['improved']} improved" if "improved" in row else ""
        click.echo(
            f"{'model':18} {row['role']} {row['model']}: {row['calls']} calls, "
            f"{row['tokens']} tokens{cost}{improved}"
        )
