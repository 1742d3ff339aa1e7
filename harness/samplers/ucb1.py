"""UCB1 over nodes: normalised score plus an exploration bonus, visits really counted.

``UCB_i = (s_i - s_min) / (s_max - s_min) + c * sqrt(ln N / n_i)``, with unvisited
nodes first (infinite bonus, newest first) and ``N`` the number of visits so far. Every
node returned by :meth:`select` has its visit count incremented; the released ASI-Evolve
code never did this, which made its UCB1 uniform.
"""

from __future__ import annotations

import heapq
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
        self.total = 0

    def values(self, pool: Sequence[Candidate]) -> dict[int, float]:
        """The UCB value of every node in ``pool`` (``inf`` for unvisited nodes)."""
        scores = [node.score for node in pool if node.score is not None]
        low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
        span = (high - low) or 1.0
        log_total = math.log(max(self.total, 1))
        values = {}
        for node in pool:
            visits = self.visits.get(node.id, 0)
            if visits == 0:
                values[node.id] = math.inf
                continue
            exploit = ((node.score - low) / span) if node.score is not None else 0.0
            values[node.id] = exploit + self.c * math.sqrt(log_total / visits)
        return values

    def select(self, pool: Sequence[Candidate], n: int) -> list[int]:
        """The ``n`` highest UCB values; ties go to the newer node."""
        values = self.values(pool)
        chosen = [i for _, i in heapq.nlargest(n, ((v, i) for i, v in values.items()))]
        for node_id in chosen:
            self.visits[node_id] = self.visits.get(node_id, 0) + 1
        self.total += len(chosen)
        return chosen

    def state(self) -> dict[str, Any]:
        return {**super().state(), "visits": {str(k): v for k, v in self.visits.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.visits = {int(k): int(v) for k, v in state.get("visits", {}).items()}
        self.total = sum(self.visits.values())
