"""What ``harness compare`` computes: best-score-so-far curves, groups over seeds, summaries.

Runs are grouped by their saved overrides minus the seed (and Hydra's own settings), so a
sweep ``sampler=ucb1,random seed=0,1,2`` gives one group per sampler with three runs each.
Everything here is plain Python (``statistics``) on values already read from the stores.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAN = math.nan


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
    #: A stochastic task's final best: half the width of its 95% interval over its seeds.
    best_half_width: float | None = None

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
    #: A stochastic task: the mean over runs of the final best's own interval half-width
    #: (seed noise within a run, beside ``final_std``, the spread between runs).
    within: float | None = None


@dataclass
class Report:
    """What :func:`harness.compare.compare` computed and wrote."""

    groups: list[Group]
    summaries: list[GroupSummary]
    thresholds: list[float]
    files: dict[str, Path]
    warnings: list[str]


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
    halves = [r.best_half_width for r in group.runs if r.best_half_width is not None]
    return GroupSummary(
        label=group.label,
        runs=len(group.runs),
        final_mean=final_mean,
        final_std=final_std,
        reach=reach,
        failure_rate_pct=statistics.fmean(rates) if rates else NAN,
        run_dirs=[str(r.run_dir) for r in group.runs],
        within=statistics.fmean(halves) if halves else None,
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
