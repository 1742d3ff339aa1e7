"""Selection cost: milliseconds per ``select`` call of every sampler as the database grows.

Each sampler is driven the way a run drives it (select 3 context nodes, then observe the
child of the parent, whose score and descriptors drift from the parent's; one node in ten
fails), so its internal state (visit counts, islands, archive) is realistic. The figures
are the mean, the 99th percentile and the maximum over the ``--window`` selections just
before the database reaches each size (an island migration is one of those selections).

    python benchmarks/sampler_cost.py [--sizes 1000 10000 100000] [--window 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench_env import add_json_option, write_json

from harness.samplers.base import Candidate
from harness.samplers.island import IslandSampler
from harness.samplers.map_elites import MapElitesSampler
from harness.samplers.simple import GreedySampler, RandomSampler, TopKSampler
from harness.samplers.ucb1 import UCB1Sampler

SAMPLERS = (UCB1Sampler, GreedySampler, RandomSampler, TopKSampler, IslandSampler, MapElitesSampler)


Figures = dict[int, tuple[float, float, float]]


def drive(cls: type, sizes: list[int], window: int, seed: int = 0) -> Figures:
    """Grow one sampler's database to ``max(sizes)``; return {size: (mean, p99, max) ms}."""
    rng = random.Random(seed)
    sampler = cls({}, seed)
    scores: dict[int, float] = {0: 1.0}
    features: dict[int, tuple[float, float]] = {0: (0.5, 0.0)}
    sampler.observe(Candidate(0, 1.0, True, features={"program_length": 0.5, "diversity": 0.0}))
    timings: list[float] = []
    figures: Figures = {}
    for node_id in range(1, max(sizes) + 1):
        started = time.perf_counter()
        selection = sampler.select(3)
        timings.append(time.perf_counter() - started)
        parent = selection.ids[0]
        length, diversity = features[parent]
        child = (
            min(1.0, max(0.0, length + rng.gauss(0, 0.05))),
            min(1.0, max(0.0, diversity + abs(rng.gauss(0, 0.03)))),
        )
        failed = rng.random() < 0.1
        score = None if failed else scores[parent] + rng.gauss(0, 0.05)
        if score is not None:
            scores[node_id], features[node_id] = score, child
        sampler.observe(
            Candidate(
                node_id,
                score,
                not failed,
                parent=parent,
                island=selection.island,
                features={"program_length": child[0], "diversity": child[1]},
            )
        )
        if node_id in sizes:
            recent = sorted(timings[-window:])
            p99 = recent[min(len(recent) - 1, int(0.99 * len(recent)))]
            figures[node_id] = (statistics.fmean(recent) * 1e3, p99 * 1e3, recent[-1] * 1e3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--window", type=int, default=1000)
    add_json_option(parser)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    header = " | ".join(f"{size:,} nodes: mean / p99 / max ms".rjust(32) for size in sizes)
    print(f"| sampler    | {header} |")
    print("|" + "-" * 12 + "|" + "|".join("-" * 34 for _ in sizes) + "|")
    means: dict[str, float] = {}
    for cls in SAMPLERS:
        figures = drive(cls, sizes, args.window)
        cells = " | ".join(
            " / ".join(f"{value:.3f}" for value in figures[s]).rjust(32) for s in sizes
        )
        print(f"| {cls.name:<10} | {cells} |", flush=True)
        means.update({f"select_ms_{cls.name}_n{s}": figures[s][0] for s in sizes})
    write_json(args.json, "sampler_cost", means, {"sizes": sizes, "window": args.window})


if __name__ == "__main__":
    main()
