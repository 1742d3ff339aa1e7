"""Scores of a stochastic task as estimates: a mean with its standard error and sample count,
Student-t intervals, and paired comparisons on shared seeds.

A proxy that trains a model moves with its seed as much as with the candidate, so a score
without its spread invites the winner's curse. Plain Python (the t distribution through the
regularised incomplete beta function) keeps scipy out of the core; tests check every figure
against scipy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The confidence level of the intervals the harness prints.
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """The mean of ``n`` samples and its standard error (``None`` below two samples)."""

    mean: float
    se: float | None
    n: int

    def half_width(self, level: float = LEVEL) -> float | None:
        """Half the width of the two-sided Student-t interval at ``level``."""
        if self.se is None:
            return None
        return t_quantile(0.5 + level / 2, self.n - 1) * self.se

    def interval(self, level: float = LEVEL) -> tuple[float, float] | None:
        """The two-sided Student-t interval at ``level``, ``None`` below two samples."""
        half = self.half_width(level)
        return None if half is None else (self.mean - half, self.mean + half)

    def format(self, digits: int = 4, level: float = LEVEL) -> str:
        """``0.3950 ± 0.0412 (n=4)``: the mean, the interval's half-width, the count."""
        half = self.half_width(level)
        spread = "" if half is None else f" ± {half:.{digits}f}"
        return f"{self.mean:.{digits}f}{spread} (n={self.n})"


def estimate(values: Iterable[float]) -> Estimate:
    """The mean of ``values`` with its standard error (sample standard deviation / sqrt n)."""
    data = [float(value) for value in values]
    if not data:
        raise ValueError("no samples to estimate from")
    n, mean = len(data), statistics.fmean(data)
    if n < 2:
        return Estimate(mean, None, n)
    return Estimate(mean, statistics.stdev(data, mean) / math.sqrt(n), n)


@dataclass(frozen=True)
class Paired:
    """``a`` minus ``b`` on the seeds both were evaluated on: the mean gain, its spread, and
    the one-sided p-value of a paired t-test that ``a`` is no better than ``b``."""

    gain: Estimate
    p_value: float | None
    seeds: tuple[int, ...]

    def significant(self, alpha: float) -> bool:
        """Whether ``a`` beats ``b`` at level ``alpha`` (one-sided)."""
        return self.p_value is not None and self.p_value < alpha


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> Paired | None:
    """The paired comparison of two programs' per-seed values (``None`` without a shared
    seed). Pairing removes what the seeds share (a hard split, a lucky initialisation)."""
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        return None
    gain = estimate(a[seed] - b[seed] for seed in seeds)
    if gain.se is None:
        p = None
    elif gain.se == 0:
        p = 0.0 if gain.mean > 0 else 1.0
    else:
        p = 1.0 - t_cdf(gain.mean / gain.se, gain.n - 1)
    return Paired(gain, p, seeds)


def t_cdf(t: float, df: float) -> float:
    """The cumulative distribution function of Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (the inverse of :func:`t_cdf`), by bisection: the
    CDF is monotone, and 200 halvings of a bracket reach double precision."""
    if not 0 < p < 1:
        raise ValueError(f"a quantile needs 0 < p < 1, not {p}")
    if p == 0.5:
        return 0.0
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-15 * max(1.0, abs(middle)):
            break
    return (low + high) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction
    (modified Lentz), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where it converges
    faster."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return result
