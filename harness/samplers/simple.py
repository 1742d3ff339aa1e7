"""The baselines: greedy (top-n by score), uniform random, and the paper's top-k pool."""

from __future__ import annotations

from typing import Any

from harness.samplers.base import Candidate, Ranking, SeededSampler, Selection
from harness.task import TaskSpec


class GreedySampler(SeededSampler):
    """The ``n`` best nodes, best first (ties go to the older node)."""

    name = "greedy"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        super().__init__(config, seed, task)
        self.ranking = Ranking()

    def admit(self, node: Candidate) -> None:
        self.ranking.add(node.id, self.scores[node.id])

    def select(self, n: int) -> Selection:
        return Selection(self.ranking.top(n))


class RandomSampler(SeededSampler):
    """``n`` distinct eligible nodes uniformly at random; the best of them is the parent."""

    name = "random"

    def select(self, n: int) -> Selection:
        return Selection(self.best_first(self.rng.sample(self.ids, min(n, len(self.ids)))))


class TopKSampler(SeededSampler):
    """The paper's architecture setting: the parent uniformly from the top ``parent_k``,
    references uniformly from the rest of the top ``pool_k`` (best first)."""

    name = "top_k"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        super().__init__(config, seed, task)
        self.parent_k = int(config.get("parent_k", 10))
        self.pool_k = int(config.get("pool_k", 50))
        if not 1 <= self.parent_k <= self.pool_k:
            raise ValueError(
                f"sampler top_k needs 1 <= parent_k <= pool_k, got {self.parent_k}, {self.pool_k}"
            )
        self.ranking = Ranking()

    def admit(self, node: Candidate) -> None:
        self.ranking.add(node.id, self.scores[node.id])

    def select(self, n: int) -> Selection:
        pool = self.ranking.top(self.pool_k)
        if not pool or n < 1:
            return Selection([])
        parent = self.rng.choice(pool[: self.parent_k])
        others = [i for i in pool if i != parent]
        references = self.rng.sample(others, min(n - 1, len(others)))
        return Selection([parent, *self.best_first(references)])
