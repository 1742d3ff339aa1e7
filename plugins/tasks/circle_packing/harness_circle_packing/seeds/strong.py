"""Circle packing by constrained optimisation: layouts + SLSQP on (x, y, r) + exact repair.

A few starting layouts (hexagonal rows, a ring layout, then jittered copies of the best so
far) are polished with SLSQP, maximising the sum of radii under explicit non-overlap and
wall constraints. The search is deterministic (fixed seed, fixed number of starts), so its
score does not depend on the machine's speed. Only the code between the EVOLVE-BLOCK
markers is meant to change; ``construct_packing`` always passes the block's result through
``make_feasible``, which makes it valid with zero tolerance.
"""

import math

import numpy as np
from scipy.optimize import minimize


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

RESTARTS = 2
MAXITER = 400
JITTER = 0.04


def hex_layout(n, rows):
    """Centres in staggered rows; ``rows`` lists how many circles each row holds."""
    points = []
    for i, count in enumerate(rows):
        y = (i + 0.5) / len(rows)
        offset = 0.25 / count if i % 2 else -0.25 / count
        for k in range(count):
            points.append(((k + 0.5) / count + offset, y))
    return np.clip(np.array(points[:n]), 0.05, 0.95)


def ring_layout(n):
    """One centre circle, an inner ring and an outer ring holding the rest."""
    inner = min(8, n - 1)
    points = [(0.5, 0.5)]
    for k in range(inner):
        angle = 2 * math.pi * k / inner
        points.append((0.5 + 0.25 * math.cos(angle), 0.5 + 0.25 * math.sin(angle)))
    outer = n - 1 - inner
    for k in range(outer):
        angle = 2 * math.pi * k / outer + 0.2
        points.append((0.5 + 0.42 * math.cos(angle), 0.5 + 0.42 * math.sin(angle)))
    return np.clip(np.array(points), 0.05, 0.95)


def starting_layouts(n):
    """Deterministic initial centre layouts for n circles."""
    row_options = {
        26: [[5, 6, 5, 5, 5], [6, 5, 5, 5, 5], [4, 5, 4, 5, 4, 4]],
        32: [[6, 5, 6, 5, 5, 5], [5, 6, 5, 6, 5, 5], [6, 6, 5, 5, 5, 5]],
    }
    side = math.ceil(math.sqrt(n))
    rows = row_options.get(n, [[side] * math.ceil(n / side)])
    return [hex_layout(n, r) for r in rows] + [ring_layout(n)]


def optimise(centers, radii, maxiter):
    """Maximise sum(r) with SLSQP from the given start; returns (centers, radii)."""
    n = len(radii)
    ii, jj = np.triu_indices(n, k=1)
    m = len(ii)
    rows = np.arange(m)

    def split(z):
        return z[:n], z[n : 2 * n], z[2 * n :]

    def objective(z):
        return -z[2 * n :].sum()

    def objective_grad(z):
        grad = np.zeros_like(z)
        grad[2 * n :] = -1.0
        return grad

    def pair_cons(z):
        x, y, r = split(z)
        return (x[ii] - x[jj]) ** 2 + (y[ii] - y[jj]) ** 2 - (r[ii] + r[jj]) ** 2

    def pair_jac(z):
        x, y, r = split(z)
        dx, dy, s = x[ii] - x[jj], y[ii] - y[jj], r[ii] + r[jj]
        jac = np.zeros((m, 3 * n))
        jac[rows, ii] = 2 * dx
        jac[rows, jj] = -2 * dx
        jac[rows, n + ii] = 2 * dy
        jac[rows, n + jj] = -2 * dy
        jac[rows, 2 * n + ii] = -2 * s
        jac[rows, 2 * n + jj] = -2 * s
        return jac

    eye = np.eye(n)
    wall_jac = np.block(
        [
            [eye, np.zeros((n, n)), -eye],
            [-eye, np.zeros((n, n)), -eye],
            [np.zeros((n, n)), eye, -eye],
            [np.zeros((n, n)), -eye, -eye],
        ]
    )

    def wall_cons(z):
        x, y, r = split(z)
        return np.concatenate([x - r, 1 - x - r, y - r, 1 - y - r])

    z0 = np.concatenate([centers[:, 0], centers[:, 1], radii])
    bounds = [(0.0, 1.0)] * (2 * n) + [(0.0, 0.5)] * n
    result = minimize(
        objective,
        z0,
        jac=objective_grad,
        method="SLSQP",
        bounds=bounds,
        constraints=[
            {"type": "ineq", "fun": pair_cons, "jac": pair_jac},
            {"type": "ineq", "fun": wall_cons, "jac": lambda z: wall_jac},
        ],
        options={"maxiter": maxiter, "ftol": 1e-12},
    )
    x, y, r = split(result.x)
    return np.column_stack([x, y]), np.clip(r, 0.0, 0.5)


def build_packing(n):
    """Optimise from every layout, then from jittered copies of the best; keep the best."""
    rng = np.random.default_rng(0)
    starts = starting_layouts(n)
    best = None
    for step in range(len(starts) + RESTARTS):
        if step < len(starts):
            centers = starts[step]
        else:
            centers = np.clip(best[0] + rng.normal(0.0, JITTER, best[0].shape), 0.02, 0.98)
        centers, radii = make_feasible(centers, np.full(n, 0.5))
        centers, radii = make_feasible(*optimise(centers, radii, MAXITER))
        if best is None or radii.sum() > best[1].sum():
            best = (centers, radii)
    return best


# EVOLVE-BLOCK-END


def construct_packing(n=26):
    """Return (centers, radii): arrays of shape (n, 2) and (n,), valid with zero tolerance."""
    centers, radii = build_packing(n)
    return make_feasible(centers, radii)
