"""How ``harness compare`` shows its results: a markdown table, CSV files, a figure, JSON.

matplotlib is imported only to draw the figure, so the rest works, and is tested,
without it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.compare.stats import Group, GroupSummary, Report

#: matplotlib is a core dependency; an environment can still lack it (installed with
#: ``--no-deps``, or removed), and the figure is all that needs it.
PLOT_HINT = "pip install matplotlib (or pip install 'harness-research[plot]')"


class PlotUnavailableError(RuntimeError):
    """matplotlib, which draws the figure, is not installed."""


def markdown_table(summaries: Sequence[GroupSummary], thresholds: Sequence[float]) -> str:
    """The summary as a GitHub-flavoured markdown table."""
    stochastic = any(s.within is not None for s in summaries)
    header = ["group", "runs", "final best"]
    header += ["best's own ± (95%)"] if stochastic else []
    header += [f"evals to ≥ {t:.4g}" for t in thresholds]
    header.append("failure rate")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        final = "—" if math.isnan(s.final_mean) else f"{s.final_mean:.4g} ± {s.final_std:.3g}"
        cells = [s.label.replace("|", "\\|"), str(s.runs), final]
        if stochastic:
            cells.append("—" if s.within is None else f"± {s.within:.3g}")
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


def summary_columns(thresholds: Sequence[float], stochastic: bool = False) -> list[str]:
    columns = ["group", "runs", "final_best_mean", "final_best_std"]
    columns += ["final_best_within_ci95"] if stochastic else []
    for t in thresholds:
        columns += [f"evals_to_ge_{t:g}_mean", f"evals_to_ge_{t:g}_reached"]
    return columns + ["failure_rate_pct"]


def summary_records(summaries: Sequence[GroupSummary]) -> list[list[Any]]:
    """Rows of ``summary.csv``, in :func:`summary_columns` order (numbers, not strings)."""
    rows = []
    stochastic = any(s.within is not None for s in summaries)
    for s in summaries:
        row: list[Any] = [s.label, s.runs, s.final_mean, s.final_std]
        row += [s.within] if stochastic else []
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
        writer.writerow(summary_columns(thresholds, any(s.within is not None for s in summaries)))
        for row in summary_records(summaries):
            writer.writerow([_csv_value(v) for v in row])
    return curves_path, summary_path


def require_matplotlib() -> None:
    """Fail when the figure cannot be drawn, with the install command."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise PlotUnavailableError(
            f"compare.png needs matplotlib, which is not installed: {PLOT_HINT}"
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
                **({"final_best_within_ci95": s.within} if s.within is not None else {}),
            }
            for s in report.summaries
        ],
        "files": {name: str(path) for name, path in report.files.items()},
        "warnings": report.warnings,
    }
