"""UCB1 over nodes: normalised score plus an exploration bonus, visits really counted.

``UCB_i = (s_i - s_min) / (s_max - s_min) + c * sqrt(ln N / n_i)``, with unvisited
nodes first (infinite bonus). Every node returned by :meth:`select` has its visit count
incremented; the released ASI-Evolve code never did this, which made its UCB1 uniform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.samplers.base import Candidate, SeededSampler


class UCB1Sampler(SeededSampler):
    name = "ucb1"

    def __init__(self, config: dict[str, Any], seed: int) -> None:
        super().__init__(config, seed)
        self.c = float(config.get("c", 1.414))
        self.visits: dict[int, int] = {}

    def values(self, pool: Sequence[Candidate]) -> dict[int, float]:
        """The UCB value of every node in ``pool`` (``inf`` for unvisited nodes)."""
        scores = [node.score for node in pool if node.score is not None]
        low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
        span = (high - low) or 1.0
        total = sum(self.visits.get(node.id, 0) for node in pool)
        values = {}
        for node in pool:
            visits = self.visits.get(node.id, 0)
            if visits == 0:
                values[node.id] = math.inf
                continue
            exploit = ((node.score - low) / span) if node.score is not None else 0.0
            values[node.id] = exploit + self.c * math.sqrt(math.log(max(total, 1)) / visits)
        return values

    def select(self, pool: Sequence[Candidate], n: int) -> list[int]:
        values = self.values(pool)
        tiebreak = {node.id: self.rng.random() for node in pool}
        ranked = sorted(pool, key=lambda node: (values[node.id], tiebreak[node.id]), reverse=True)
        chosen = [node.id for node in ranked[:n]]
        for node_id in chosen:
            self.visits[node_id] = self.visits.get(node_id, 0) + 1
        return chosen

    def state(self) -> dict[str, Any]:
        return {**super().state(), "visits": {str(k): v for k, v in self.visits.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.visits = {int(k): int(v) for k, v in state.get("visits", {}).items()}
