"""``harness compare``: best-score-so-far curves and a summary table across runs.

Runs are grouped by their saved overrides minus the seed (and Hydra's own settings), so a
sweep ``sampler=ucb1,random seed=0,1,2`` gives one group per sampler with three runs each.
Everything numeric is plain Python (``statistics``); matplotlib is imported only to draw
the figure, so the rest works, and is tested, without it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from harness import db as store

NAN = math.nan
PLOT_HINT = "pip install 'harness-research[plot]'"


@dataclass
class RunCurve:
    """One run directory as compare sees it: identity, grouping key and its curve."""

    run_dir: Path
    task: str | None
    seed: int | None
    overrides: list[str]
    #: best score so far after each evaluation (x = index + 1); NaN before a success
    curve: list[float]
    seed_score: float | None
    evaluated: int
    failed: int

    @property
    def final(self) -> float:
        return self.curve[-1] if self.curve else NAN

    @property
    def key(self) -> tuple[str, ...]:
        return grouping_key(self.overrides)


@dataclass
class Group:
    """Runs that differ only by seed, with their aggregated curve."""

    label: str
    runs: list[RunCurve]
    mean: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)


@dataclass
class Reach:
    """How fast a group got to a threshold: mean evaluations over the runs that did."""

    threshold: float
    mean: float | None
    reached: int
    runs: int


@dataclass
class GroupSummary:
    """One row of the table (and of ``summary.csv``)."""

    label: str
    runs: int
    final_mean: float
    final_std: float
    reach: list[Reach]
    failure_rate_pct: float
    run_dirs: list[str]


@dataclass
class Report:
    """What :func:`compare` computed and wrote."""

    groups: list[Group]
    summaries: list[GroupSummary]
    thresholds: list[float]
    files: dict[str, Path]
    warnings: list[str]


# ---------------------------------------------------------------- discovery and loading
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
        raise click.UsageError(
            f"No run directories (with {store.DB_NAME}) found under {shown}. Pass a run "
            "directory or a folder that contains some, e.g. multirun/<stamp>/."
        )
    return sorted(found.values(), key=_natural_key)


def best_so_far(rows: Iterable[tuple[Any, Any]]) -> list[float]:
    """Running maximum of the successful scores, one value per evaluation (NaN before the
    first success), from ``(success, score)`` pairs in completion order."""
    best = NAN
    curve = []
    for success, score in rows:
        if success and score is not None and (math.isnan(best) or score > best):
            best = float(score)
        curve.append(best)
    return curve


def load_run(run_dir: Path) -> RunCurve:
    """Read one run store without migrating it (a running orchestrator may hold it)."""
    try:
        db = store.open_db(run_dir, migrate=False)
    except (store.StoreError, sqlite3.Error) as exc:  # empty, damaged, not SQLite
        raise click.ClickException(f"{run_dir}: cannot read {store.DB_NAME}: {exc}") from exc
    try:
        run = db.execute("select task, overrides, seed from runs order by id limit 1").fetchone()
        task, overrides_json, seed = run if run else (None, None, None)
        rows = db.execute(
            "select success, score, status from nodes where evaluated_at is not null"
            " order by evaluated_at, id"
        ).fetchall()
        seed_row = db.execute("select score from nodes where id = 0").fetchone()
    except sqlite3.Error as exc:
        raise click.ClickException(f"{run_dir}: cannot read {store.DB_NAME}: {exc}") from exc
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
    )


# ---------------------------------------------------------------------------- grouping
def normalise_override(item: str) -> str | None:
    """``+key=v``/``++key=v`` -> ``key=v``; None for what does not define a group: the
    seed (groups are over seeds) and Hydra's own settings (sweep dir, launcher, ...)."""
    item = item.lstrip("+")
    key = item.split("=", 1)[0].lstrip("~")
    if key == "seed" or key == "hydra" or key.startswith(("hydra.", "hydra/")):
        return None
    return item


def grouping_key(overrides: Sequence[str]) -> tuple[str, ...]:
    """Order-insensitive key of the overrides that define a configuration."""
    return tuple(sorted({n for n in map(normalise_override, overrides) if n is not None}))


def group_runs(runs: Sequence[RunCurve]) -> list[Group]:
    """Group runs by configuration, in the order groups first appear; label each group with
    only the overrides that are not shared by every run."""
    by_key: dict[tuple[str, ...], list[RunCurve]] = {}
    for run in runs:
        by_key.setdefault(run.key, []).append(run)
    shared = set.intersection(*(set(key) for key in by_key)) if by_key else set()
    groups = []
    for members in by_key.values():
        # keep the user's order of overrides (from the group's first run) in the label
        ordered = [n for n in map(normalise_override, members[0].overrides) if n]
        distinct = [n for n in dict.fromkeys(ordered) if n not in shared]
        if len(by_key) == 1:
            label = "all runs"
        else:
            label = " ".join(distinct) or "defaults"
        groups.append(Group(label, members))
    for group in groups:
        group.mean, group.low, group.high = aggregate([r.curve for r in group.runs])
    return groups


def aggregate(curves: Sequence[list[float]]) -> tuple[list[float], list[float], list[float]]:
    """Mean, min and max across curves at every x up to the longest curve.

    A shorter curve carries its final best forward (a run that stopped early keeps the best
    it found); at each x only curves with a score so far count, and x where none has one
    is NaN. An empty curve (no evaluation) contributes nothing.
    """
    length = max((len(c) for c in curves), default=0)
    mean, low, high = [], [], []
    for i in range(length):
        values = [c[min(i, len(c) - 1)] for c in curves if c]
        values = [v for v in values if not math.isnan(v)]
        mean.append(statistics.fmean(values) if values else NAN)
        low.append(min(values) if values else NAN)
        high.append(max(values) if values else NAN)
    return mean, low, high


# ---------------------------------------------------------------------------- summary
def evals_to(curve: Sequence[float], threshold: float) -> int | None:
    """Evaluations (1-based) until the best score so far first reaches ``threshold``."""
    for i, value in enumerate(curve):
        if not math.isnan(value) and value >= threshold:
            return i + 1
    return None


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; NaN for none)."""
    if not values:
        return NAN, NAN
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(group: Group, thresholds: Sequence[float]) -> GroupSummary:
    """The table row of one group; runs without a success do not enter the final mean."""
    finals = [r.final for r in group.runs if not math.isnan(r.final)]
    final_mean, final_std = _mean_std(finals)
    reach = []
    for threshold in thresholds:
        hits = [n for n in (evals_to(r.curve, threshold) for r in group.runs) if n is not None]
        reach.append(
            Reach(threshold, statistics.fmean(hits) if hits else None, len(hits), len(group.runs))
        )
    rates = [100.0 * r.failed / r.evaluated for r in group.runs if r.evaluated]
    return GroupSummary(
        label=group.label,
        runs=len(group.runs),
        final_mean=final_mean,
        final_std=final_std,
        reach=reach,
        failure_rate_pct=statistics.fmean(rates) if rates else NAN,
        run_dirs=[str(r.run_dir) for r in group.runs],
    )


def round_sig(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def default_thresholds(runs: Sequence[RunCurve], final_means: Sequence[float]) -> list[float]:
    """50% and 90% of the way from the median seed score to the best group's final mean:
    "how fast does each configuration get most of the way" without picking numbers.
    Empty when either end is unknown or nothing improved on the seed."""
    seeds = [r.seed_score for r in runs if r.seed_score is not None]
    finals = [m for m in final_means if not math.isnan(m)]
    if not seeds or not finals:
        return []
    start, top = statistics.median(seeds), max(finals)
    if not top > start:
        return []
    return [round_sig(start + frac * (top - start)) for frac in (0.5, 0.9)]


# ----------------------------------------------------------------------------- output
def markdown_table(summaries: Sequence[GroupSummary], thresholds: Sequence[float]) -> str:
    """The summary as a GitHub-flavoured markdown table."""
    header = ["group", "runs", "final best"]
    header += [f"evals to ≥ {t:.4g}" for t in thresholds]
    header.append("failure rate")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        final = "—" if math.isnan(s.final_mean) else f"{s.final_mean:.4g} ± {s.final_std:.3g}"
        cells = [s.label.replace("|", "\\|"), str(s.runs), final]
        for r in s.reach:
            cells.append("—" if r.mean is None else f"{r.mean:.3g} ({r.reached}/{r.runs})")
        rate = s.failure_rate_pct
        cells.append("—" if math.isnan(rate) else f"{rate:.1f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _csv_value(value: float | int | None) -> str | float | int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def summary_columns(thresholds: Sequence[float]) -> list[str]:
    columns = ["group", "runs", "final_best_mean", "final_best_std"]
    for t in thresholds:
        columns += [f"evals_to_ge_{t:g}_mean", f"evals_to_ge_{t:g}_reached"]
    return columns + ["failure_rate_pct"]


def summary_records(summaries: Sequence[GroupSummary]) -> list[list[Any]]:
    """Rows of ``summary.csv``, in :func:`summary_columns` order (numbers, not strings)."""
    rows = []
    for s in summaries:
        row: list[Any] = [s.label, s.runs, s.final_mean, s.final_std]
        for r in s.reach:
            row += [r.mean, r.reached]
        rows.append([*row, s.failure_rate_pct])
    return rows


def write_csvs(
    groups: Sequence[Group],
    summaries: Sequence[GroupSummary],
    thresholds: Sequence[float],
    out_dir: Path,
) -> tuple[Path, Path]:
    """``curves.csv`` (long format, each run's own curve, empty before a success) and
    ``summary.csv`` (the table, numeric; empty where undefined)."""
    curves_path, summary_path = out_dir / "curves.csv", out_dir / "summary.csv"
    with curves_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["group", "run_dir", "seed", "evaluation", "best_score"])
        for group in groups:
            for run in group.runs:
                for i, value in enumerate(run.curve):
                    writer.writerow(
                        [group.label, run.run_dir, _csv_value(run.seed), i + 1, _csv_value(value)]
                    )
    with summary_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(summary_columns(thresholds))
        for row in summary_records(summaries):
            writer.writerow([_csv_value(v) for v in row])
    return curves_path, summary_path


def require_matplotlib() -> None:
    """Fail before any work when the figure cannot be drawn, with the install command."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            f"harness compare draws its figure with matplotlib, which is not installed: {PLOT_HINT}"
        ) from exc


def plot(groups: Sequence[Group], path: Path, title: str | None = None) -> Path:
    """Mean best-so-far per group with a shaded min-max band, drawn with the Agg canvas
    directly (no pyplot state, no display needed)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for group in groups:
        xs = list(range(1, len(group.mean) + 1))
        # best-so-far changes only at an evaluation: steps, not slopes
        (line,) = ax.plot(
            xs, group.mean, drawstyle="steps-post", label=f"{group.label} (n={len(group.runs)})"
        )
        ax.fill_between(
            xs, group.low, group.high, step="post", color=line.get_color(), alpha=0.2, lw=0
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best score so far")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def to_json(report: Report) -> dict[str, Any]:
    """The summary as JSON-ready data (NaN becomes null)."""

    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    return {
        "thresholds": report.thresholds,
        "groups": [
            {
                "group": s.label,
                "runs": s.runs,
                "final_best_mean": clean(s.final_mean),
                "final_best_std": clean(s.final_std),
                "evals_to": [
                    {"threshold": r.threshold, "mean": r.mean, "reached": r.reached, "runs": r.runs}
                    for r in s.reach
                ],
                "failure_rate_pct": clean(s.failure_rate_pct),
                "run_dirs": s.run_dirs,
            }
            for s in report.summaries
        ],
        "files": {name: str(path) for name, path in report.files.items()},
        "warnings": report.warnings,
    }


# --------------------------------------------------------------------------- the command
def default_out_dir(paths: Sequence[str | Path]) -> Path:
    return Path(paths[0]) / "compare" if len(paths) == 1 else Path("compare")


def compare(
    paths: Sequence[str | Path],
    out_dir: Path | None = None,
    thresholds: Sequence[float] = (),
    title: str | None = None,
) -> Report:
    """Find, load, group and summarise the runs; write the figure and the CSVs."""
    require_matplotlib()
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
    png = plot(groups, out / "compare.png", title)
    curves_csv, summary_csv = write_csvs(groups, summaries, thresholds, out)
    files = {"plot": png, "curves": curves_csv, "summary": summary_csv}
    return Report(groups, summaries, list(thresholds), files, warnings)
