"""The fixed dataset (noisy signals with known peaks) and the F1 score of detected peaks.

Generated, not shipped: a seeded ``random.Random`` makes the same signals on every machine
and Python version (``random``'s generators are stable), so scores are deterministic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

LENGTH = 400
DATA_SEED = 2024
#: A detected peak within this many samples of a true one matches it.
TOLERANCE = 4
NOISE = 0.35
#: Closest two true peaks may be, in samples.
MIN_SEPARATION = 10


@dataclass(frozen=True)
class Dataset:
    """The signals handed to the candidate and, kept here, their true peak positions."""

    signals: tuple[tuple[float, ...], ...]
    truth: tuple[tuple[int, ...], ...]


@cache
def dataset(count: int) -> Dataset:
    """``count`` signals: 3 to 7 Gaussian peaks (height 0.6-2, width 2-5 samples) on a slow
    sine drift, plus white noise."""
    rng = random.Random(DATA_SEED)
    signals, truth = [], []
    for _ in range(count):
        peaks: list[int] = []
        wanted = rng.randint(3, 7)
        while len(peaks) < wanted:
            at = rng.randint(20, LENGTH - 21)
            if all(abs(at - other) >= MIN_SEPARATION for other in peaks):
                peaks.append(at)
        peaks.sort()
        shapes = [(at, rng.uniform(0.6, 2.0), rng.uniform(2.0, 5.0)) for at in peaks]
        drift, period, phase = rng.uniform(0.5, 1.5), rng.uniform(150, 500), rng.uniform(0, 6.3)
        values = []
        for i in range(LENGTH):
            value = drift * math.sin(2 * math.pi * i / period + phase)
            value += sum(h * math.exp(-0.5 * ((i - at) / w) ** 2) for at, h, w in shapes)
            values.append(round(value + rng.gauss(0, NOISE), 4))
        signals.append(tuple(values))
        truth.append(tuple(peaks))
    return Dataset(tuple(signals), tuple(truth))


@dataclass(frozen=True)
class Counts:
    """Matched (true positive), spurious and missed peaks, over all signals."""

    matched: int
    spurious: int
    missed: int

    @property
    def f1(self) -> float:
        found = 2 * self.matched + self.spurious + self.missed
        return 2 * self.matched / found if found else 0.0

    @property
    def precision(self) -> float:
        reported = self.matched + self.spurious
        return self.matched / reported if reported else 0.0

    @property
    def recall(self) -> float:
        true = self.matched + self.missed
        return self.matched / true if true else 0.0


def count(truth: Sequence[Sequence[int]], found: Sequence[Sequence[int]]) -> Counts:
    """Match each signal's detected peaks to its true ones, nearest first, one to one,
    within :data:`TOLERANCE` samples."""
    matched = spurious = missed = 0
    for true, detected in zip(truth, found, strict=True):
        pairs = sorted(
            (abs(d - t), d, t) for d in set(detected) for t in true if abs(d - t) <= TOLERANCE
        )
        used_d: set[int] = set()
        used_t: set[int] = set()
        for _, d, t in pairs:
            if d not in used_d and t not in used_t:
                used_d.add(d)
                used_t.add(t)
        matched += len(used_t)
        spurious += len(detected) - len(used_d)
        missed += len(true) - len(used_t)
    return Counts(matched, spurious, missed)


def check_output(value: object, count: int, length: int = LENGTH) -> str | None:
    """Why ``value`` is not one list of peak indices per signal, or ``None`` when it is."""
    if not isinstance(value, list) or len(value) != count:
        got = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
        return f"find_peaks must return one list of peak indices per signal ({count}), got {got}"
    for number, peaks in enumerate(value):
        if not isinstance(peaks, list):
            return f"signal {number}: expected a list of indices, got {type(peaks).__name__}"
        for index in peaks:
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < length:
                return f"signal {number}: {index!r} is not a sample index in [0, {length})"
    return None
