"""``harness compare``: find run stores, read their curves, and write the comparison.

:mod:`harness.compare.stats` computes the groups and summaries and
:mod:`harness.compare.output` presents them; this module reads the stores and ties the
two together. It raises :class:`CompareError` for the command to report; without
matplotlib it still writes the table and the CSVs and warns that the figure was skipped.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import db as store
from harness.compare.output import PlotUnavailableError, plot, write_csvs
from harness.compare.stats import (
    Report,
    RunCurve,
    best_so_far,
    default_thresholds,
    group_runs,
    summarise,
)
from harness.estimate import Estimate


class CompareError(Exception):
    """A run store that cannot be read."""


class NoRunsFoundError(CompareError):
    """No run directory under the paths given (a usage error)."""


def _natural_key(path: Path) -> tuple[Any, ...]:
    """Sort ``multirun/x/10`` after ``multirun/x/9``, as a sweep numbers its jobs."""
    parts = re.split(r"(\d+)", str(path))
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts))


def find_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Every run directory (one holding ``harness.db``) at or below each path, sorted.

    The walk does not descend into a run directory: its ``artifacts/`` can be large and
    holds no further runs.
    """
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        if (path / store.DB_NAME).is_file():
            found.setdefault(path.resolve(), path)
            continue
        for root, dirs, files in os.walk(path):
            if store.DB_NAME in files:
                found.setdefault(Path(root).resolve(), Path(root))
                dirs.clear()
            else:
                dirs.sort()
    if not found:
        shown = ", ".join(str(p) for p in paths)
        raise NoRunsFoundError(
            f"No run directories (with {store.DB_NAME}) found under {shown}. Pass a run "
            "directory or a folder that contains some, e.g. multirun/<stamp>/."
        )
    return sorted(found.values(), key=_natural_key)


def load_run(run_dir: Path) -> RunCurve:
    """Read one run store without migrating it (a running orchestrator may hold it)."""
    try:
        db = store.open_db(run_dir, migrate=False)
    except (store.StoreError, sqlite3.Error) as exc:  # empty, damaged, not SQLite
        raise CompareError(f"{run_dir}: cannot read {store.DB_NAME}: {exc}") from exc
    try:
        run = db.execute("select task, overrides, seed from runs order by id limit 1").fetchone()
        task, overrides_json, seed = run if run else (None, None, None)
        eligible = "1"
        if "confirmation" in db.table("nodes").columns_dict:  # a store made before run.confirm
            eligible = "id = 0 or coalesce(json_extract(confirmation, '$.verdict'), 'confirmed')"
            eligible += " = 'confirmed'"
        rows = db.execute(
            f"select success and ({eligible}), score, status from nodes"
            " where evaluated_at is not null order by evaluated_at, id"
        ).fetchall()
        seed_row = db.execute("select score from nodes where id = 0").fetchone()
        best = store.best_node(db)
        found = store.estimates(db, best[0] if best else None)
    except sqlite3.Error as exc:
        raise CompareError(f"{run_dir}: cannot read {store.DB_NAME}: {exc}") from exc
    finally:
        db.close()
    return RunCurve(
        run_dir=run_dir,
        task=task,
        seed=seed,
        overrides=[str(item) for item in json.loads(overrides_json or "[]")],
        curve=best_so_far((success, score) for success, score, _ in rows),
        seed_score=seed_row[0] if seed_row else None,
        evaluated=len(rows),
        failed=sum(status == "failed" for _, _, status in rows),
        best_half_width=_half_width(found),
    )


def _half_width(found: dict[str, Any]) -> float | None:
    """The 95% interval half-width of a stochastic run's best, from its estimates."""
    if found.get("best_score_se") is None:
        return None
    return Estimate(0.0, found["best_score_se"], found["best_score_n"]).half_width()


def default_out_dir(paths: Sequence[str | Path]) -> Path:
    return Path(paths[0]) / "compare" if len(paths) == 1 else Path("compare")


def compare(
    paths: Sequence[str | Path],
    out_dir: Path | None = None,
    thresholds: Sequence[float] = (),
    title: str | None = None,
) -> Report:
    """Find, load, group and summarise the runs; write the CSVs and the figure."""
    runs = [load_run(run_dir) for run_dir in find_run_dirs(paths)]
    warnings = []
    tasks = sorted({r.task for r in runs if r.task})
    if len(tasks) > 1:
        warnings.append(f"comparing runs of different tasks: {', '.join(tasks)}")
    groups = group_runs(runs)
    if not thresholds:
        finals = [summarise(g, []).final_mean for g in groups]
        thresholds = default_thresholds(runs, finals)
    summaries = [summarise(g, thresholds) for g in groups]
    out = out_dir if out_dir is not None else default_out_dir(paths)
    out.mkdir(parents=True, exist_ok=True)
    if title is None:
        title = f"{' / '.join(tasks) or 'runs'}: mean best score, band = min-max over seeds"
    curves_csv, summary_csv = write_csvs(groups, summaries, thresholds, out)
    files = {"curves": curves_csv, "summary": summary_csv}
    try:
        files["plot"] = plot(groups, out / "compare.png", title)
    except PlotUnavailableError as exc:
        warnings.append(f"figure skipped: {exc}")
    return Report(groups, summaries, list(thresholds), files, warnings)
