"""Gaussian smoothing: fewer noise maxima, lower and wider peaks."""

import math

#: Standard deviation of the Gaussian kernel, in samples.
SIGMA = 0.8
#: The kernel reaches TRUNCATE standard deviations each side.
TRUNCATE = 3.0


def kernel():
    radius = max(1, int(TRUNCATE * SIGMA))
    weights = [math.exp(-0.5 * (j / SIGMA) ** 2) for j in range(-radius, radius + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def smooth(values):
    weights = kernel()
    radius = len(weights) // 2
    last = len(values) - 1
    return [
        sum(w * values[min(last, max(0, i + j - radius))] for j, w in enumerate(weights))
        for i in range(len(values))
    ]
