"""The two baselines: greedy (top-n by score) and uniform random."""

from __future__ import annotations

from collections.abc import Sequence

from harness.samplers.base import Candidate, SeededSampler


def _key(node: Candidate) -> tuple[float, int]:
    return (node.score if node.score is not None else float("-inf"), -node.id)


class GreedySampler(SeededSampler):
    """The ``n`` best nodes, best first (ties go to the older node)."""

    name = "greedy"

    def select(self, pool: Sequence[Candidate], n: int) -> list[int]:
        return [node.id for node in sorted(pool, key=_key, reverse=True)[:n]]


class RandomSampler(SeededSampler):
    """``n`` distinct nodes uniformly at random from the seeded RNG."""

    name = "random"

    def select(self, pool: Sequence[Candidate], n: int) -> list[int]:
        return [node.id for node in self.rng.sample(list(pool), min(n, len(pool)))]
