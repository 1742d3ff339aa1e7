"""Exact validation of a circle packing in the unit square, with zero slack.

The top results for this problem differ by about 1e-6, so any tolerance in the validator
could be turned into score. Every value is judged as the IEEE double it is, converted to a
:class:`fractions.Fraction`, and the decisive inequalities are checked in exact rational
arithmetic. A float prefilter decides pairs that are far from touching, where rounding cannot
change the answer; only near-tight pairs pay for the exact check.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

# Values beyond this magnitude cannot belong to a packing in [0, 1]^2; rejecting them early
# keeps every float computation below free of overflow.
_MAX_ABS = 1e6
# A pair whose float gap d^2 - (r_i + r_j)^2 is farther from zero than this (relative to the
# magnitudes involved) is decided by floats: their rounding error is ~1e-15 relative.
_PREFILTER_REL = 1e-9
# A circle closer than this to a side counts as touching it (a behaviour descriptor only).
_TOUCH = 1e-6


@dataclass(frozen=True)
class Validation:
    """The verdict on one packing.

    ``parsed`` is false when the data was not an ``(n, 2)`` / ``(n,)`` pair of finite real
    numbers; the geometric fields are then zero. ``worst_violation`` is the largest amount
    by which any constraint is broken (0 when valid). ``min_slack`` is the smallest margin
    over all constraints (negative when some constraint is broken).
    """

    valid: bool
    parsed: bool
    n: int
    sum_radii: float = 0.0
    worst_violation: float = 0.0
    min_slack: float = 0.0
    min_radius: float = 0.0
    num_distinct_radii: int = 0
    boundary_fraction: float = 0.0
    num_violations: int = 0
    message: str = ""


class _Malformed(ValueError):
    """The data does not have the shape or types of a packing."""


def validate_return(value: Any, n: int) -> Validation:
    """Validate a candidate's return value: ``(centers, radii, *ignored)``.

    The value is untrusted data; anything after the first two elements (such as a claimed
    sum of radii) is ignored, because the sum is always recomputed here.
    """
    if isinstance(value, np.ndarray) or not isinstance(value, list | tuple):
        return _malformed(n, f"expected a tuple (centers, radii), got {_describe(value)}")
    if len(value) < 2:
        return _malformed(
            n, f"expected a tuple (centers, radii), got a sequence of length {len(value)}"
        )
    return validate_packing(value[0], value[1], n)


def validate_packing(centers: Any, radii: Any, n: int) -> Validation:
    """Check that ``n`` circles lie in [0, 1]^2, have radii >= 0 and do not overlap, exactly."""
    try:
        xy = _rows(centers, n, "centers")
        points = [
            (_number(row[0], f"centers[{i}][0]"), _number(row[1], f"centers[{i}][1]"))
            for i, row in enumerate(_pairs(xy, "centers"))
        ]
        rs = [_number(r, f"radii[{i}]") for i, r in enumerate(_rows(radii, n, "radii"))]
    except _Malformed as exc:
        return _malformed(n, str(exc))
    return _check(points, rs, n)


def _malformed(n: int, message: str) -> Validation:
    return Validation(valid=False, parsed=False, n=n, message=f"malformed packing: {message}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {reprlib.repr(value)}"


def _rows(value: Any, n: int, name: str) -> list[Any]:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        shape = "(n, 2)" if name == "centers" else "(n,)"
        raise _Malformed(f"{name} must be a sequence of shape {shape}, got {_describe(value)}")
    if len(value) != n:
        raise _Malformed(f"{name} has {len(value)} entries, expected n = {n}")
    return list(value)


def _pairs(rows: list[Any], name: str) -> list[Any]:
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple | np.ndarray) or len(row) != 2:
            raise _Malformed(f"{name}[{i}] is {_describe(row)}, expected a pair [x, y]")
    return rows


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise _Malformed(f"{where} is {_describe(value)}, expected a real number")
    try:
        number = float(value)
    except OverflowError:
        raise _Malformed(f"{where} is an integer too large for a float") from None
    if not math.isfinite(number):
        raise _Malformed(f"{where} is {number}, expected a finite number")
    if abs(number) > _MAX_ABS:
        raise _Malformed(f"{where} is {number:g}, far outside the unit square")
    return number


def _check(points: list[tuple[float, float]], rs: list[float], n: int) -> Validation:
    """Collect every violated constraint (amount, description) and the smallest slack."""
    violations: list[tuple[float, str]] = []
    slacks: list[float] = []
    exact = [(Fraction(x), Fraction(y), Fraction(r)) for (x, y), r in zip(points, rs, strict=True)]

    for i, (x, y, r) in enumerate(exact):
        sides = (
            (r, f"circle {i} has a negative radius ({float(r):.3g})"),
            (x - r, f"circle {i} sticks out of the left side by {{:.3g}}"),
            (1 - x - r, f"circle {i} sticks out of the right side by {{:.3g}}"),
            (y - r, f"circle {i} sticks out of the bottom side by {{:.3g}}"),
            (1 - y - r, f"circle {i} sticks out of the top side by {{:.3g}}"),
        )
        for margin, text in sides:
            slacks.append(float(margin))
            if margin < 0:
                violations.append((float(-margin), text.format(float(-margin))))

    _check_pairs(points, rs, exact, violations, slacks)

    total = math.fsum(rs)
    common = {
        "parsed": True,
        "n": n,
        "sum_radii": total,
        "min_slack": min(slacks),
        "min_radius": min(rs),
        "num_distinct_radii": len({round(r, 9) for r in rs}),
        "boundary_fraction": sum(
            min(x - r, 1 - x - r, y - r, 1 - y - r) < _TOUCH
            for (x, y), r in zip(points, rs, strict=True)
        )
        / n,
        "num_violations": len(violations),
    }
    if not violations:
        message = (
            f"valid packing of {n} circles: sum of radii {total:.9f}; "
            f"tightest constraint slack {min(slacks):.3g}"
        )
        return Validation(valid=True, worst_violation=0.0, message=message, **common)
    worst, text = max(violations, key=lambda item: item[0])
    message = (
        f"invalid packing: {len(violations)} constraint(s) violated (zero tolerance); "
        f"worst: {text}. The sum of radii would be {total:.9f}."
    )
    return Validation(valid=False, worst_violation=worst, message=message, **common)


def _check_pairs(
    points: list[tuple[float, float]],
    rs: list[float],
    exact: list[tuple[Fraction, Fraction, Fraction]],
    violations: list[tuple[float, str]],
    slacks: list[float],
) -> None:
    """Non-overlap: |c_i - c_j|^2 >= (r_i + r_j)^2, decided exactly near the boundary."""
    if len(rs) < 2:
        return
    xy = np.asarray(points, dtype=float)
    r = np.asarray(rs, dtype=float)
    i_idx, j_idx = np.triu_indices(len(rs), k=1)
    d2 = ((xy[i_idx] - xy[j_idx]) ** 2).sum(axis=1)
    s = r[i_idx] + r[j_idx]
    gap = d2 - s * s
    clear = np.abs(gap) > _PREFILTER_REL * (1.0 + d2 + s * s)

    for k in np.flatnonzero(clear):
        amount = float(s[k] - math.sqrt(d2[k]))
        slacks.append(-amount)
        if gap[k] < 0:
            violations.append((amount, _overlap_text(int(i_idx[k]), int(j_idx[k]), amount)))

    for k in np.flatnonzero(~clear):
        i, j = int(i_idx[k]), int(j_idx[k])
        (xi, yi, ri), (xj, yj, rj) = exact[i], exact[j]
        exact_d2 = (xi - xj) ** 2 + (yi - yj) ** 2
        exact_s = ri + rj
        exact_gap = exact_d2 - exact_s * exact_s
        # s - d = (s^2 - d^2) / (s + d): the exact numerator keeps tiny amounts accurate.
        denominator = float(exact_s) + math.sqrt(float(exact_d2))
        amount = float(-exact_gap) / denominator if denominator > 0 else 0.0
        slacks.append(-amount)
        if exact_gap < 0:
            violations.append((amount, _overlap_text(i, j, amount)))


def _overlap_text(i: int, j: int, amount: float) -> str:
    return f"circles {i} and {j} overlap by {amount:.3g}"
