"""Naive circle packing: one circle in the middle, two rings, leftovers in free spots.

Only the code between the EVOLVE-BLOCK markers is meant to change. ``construct_packing``
always passes the block's result through ``make_feasible``, so any layout the block
produces becomes a valid packing (it may just score less).
"""

import math

import numpy as np


def make_feasible(centers, radii):
    """Turn any (centers, radii) into a packing that is valid with zero tolerance.

    Centres are clipped into the square, radii capped at the walls, each overlapping pair
    is scaled down proportionally, and finally all radii shrink by a tiny margin (about
    1e-12) so that rounding can never leave a constraint violated: the evaluator checks
    every constraint exactly. A packing that is already feasible loses almost nothing.
    """
    centers = np.clip(np.nan_to_num(np.asarray(centers, dtype=float), nan=0.5), 0.0, 1.0)
    radii = np.nan_to_num(np.asarray(radii, dtype=float), nan=0.0).copy()
    x, y = centers[:, 0], centers[:, 1]
    walls = np.minimum.reduce([x, y, 1.0 - x, 1.0 - y])
    radii = np.minimum(radii, walls).clip(min=0.0)
    n = len(radii)
    for i in range(n):
        for j in range(i + 1, n):
            dist = math.hypot(x[i] - x[j], y[i] - y[j])
            if radii[i] + radii[j] > dist:
                scale = dist / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(dist, np.inf)
    for _ in range(100):
        radii = (radii * (1.0 - 1e-12) - 1e-15).clip(min=0.0)
        positive = radii > 0
        overlap = np.where(positive[:, None] | positive[None, :], radii[:, None] + radii - dist, -1)
        outside = np.where(positive, radii - walls, -1)
        if (overlap <= -1e-14).all() and (outside <= -1e-14).all():
            break
        excess = np.maximum(overlap.max(axis=1), outside).clip(min=0.0) + 1e-13
        radii = (radii - excess).clip(min=0.0)
    return centers, radii


# EVOLVE-BLOCK-START


def build_packing(n):
    """Centres on two rings around the middle; each radius is the distance to the nearest wall.

    Overlapping pairs are scaled down afterwards by ``make_feasible``.
    """
    centers = [(0.5, 0.5)]
    for k in range(8):
        angle = 2 * math.pi * k / 8 + 0.0
        centers.append((0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)))
    for k in range(16):
        angle = 2 * math.pi * k / 16 + 0.0
        centers.append((0.5 + 0.7 * math.cos(angle), 0.5 + 0.7 * math.sin(angle)))
    centers.append((0.0, 0.0))
    for k in range(8):
        angle = 2 * math.pi * k / 8 + 0.39
        centers.append((0.5 + 0.45 * math.cos(angle), 0.5 + 0.45 * math.sin(angle)))
    centers = np.clip(np.array(centers[:n]), 0.01, 0.99)
    x, y = centers[:, 0], centers[:, 1]
    radii = np.minimum.reduce([x, y, 1.0 - x, 1.0 - y])
    return centers, radii


# EVOLVE-BLOCK-END


def construct_packing(n=26):
    """Return (centers, radii): arrays of shape (n, 2) and (n,), valid with zero tolerance."""
    centers, radii = build_packing(n)
    return make_feasible(centers, radii)
