"""Exact-validator cost: milliseconds per validation of the strong seed's tight packings.

python plugins/tasks/circle_packing/benchmarks/validator.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from harness_circle_packing import plugin
from harness_circle_packing.validator import validate_packing


def strong_packing(n: int) -> tuple[Any, Any]:
    namespace: dict[str, Any] = {}
    exec(plugin.CirclePacking().seed({"name": "circle_packing", "n": n}, "strong"), namespace)
    return namespace["construct_packing"](n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'n':>3}  {'pairs':>6}  {'ms/validation':>13}  valid")
    for n in (26, 32):
        centers, radii = strong_packing(n)
        started = time.perf_counter()
        for _ in range(args.repeat):
            result = validate_packing(centers, radii, n)
        ms = 1000 * (time.perf_counter() - started) / args.repeat
        print(f"{n:>3}  {n * (n - 1) // 2:>6}  {ms:13.2f}  {result.valid}")


if __name__ == "__main__":
    main()
