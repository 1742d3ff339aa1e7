"""UCB1 over nodes: normalised score plus an exploration bonus, visits really counted.

``UCB_i = (s_i - s_min) / (s_max - s_min) + c * sqrt(ln N / n_i)``, with unvisited
nodes first (infinite bonus, newest first) and ``N`` the number of visits so far. Every
node returned by :meth:`UCB1Sampler.select` has its visit count incremented; the released
ASI-Evolve code never did this, which made its UCB1 uniform.

The bonus depends only on the visit count, so nodes are grouped by it: the best UCB value
in a group is its best score, and a selection looks at the top of each group instead of
every node (the number of distinct visit counts grows like the square root of the visits).
Visit counts are not saved: a resume recounts them from the rounds stored in the database.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from harness.samplers.base import Candidate, SeededSampler, Selection
from harness.task import TaskSpec


class UCB1Sampler(SeededSampler):
    name = "ucb1"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        super().__init__(config, seed, task)
        self.c = float(config.get("c", 1.414))
        self.visits: dict[int, int] = {}
        self.total = 0
        self.low = math.inf
        self.high = -math.inf
        self._unvisited: list[int] = []  # heap of -id: newest first
        self._groups: dict[int, list[tuple[float, int]]] = {}  # visits -> heap of (-score, -id)

    def admit(self, node: Candidate) -> None:
        score = self.scores[node.id]
        self.low, self.high = min(self.low, score), max(self.high, score)
        visits = self.visits.get(node.id, 0)
        if visits:
            heapq.heappush(self._groups.setdefault(visits, []), (-score, -node.id))
        else:
            heapq.heappush(self._unvisited, -node.id)

    def value(self, node_id: int) -> float:
        """The UCB value of an eligible node (``inf`` when unvisited)."""
        visits = self.visits.get(node_id, 0)
        if visits == 0:
            return math.inf
        span = (self.high - self.low) or 1.0
        exploit = (self.scores[node_id] - self.low) / span
        return exploit + self.c * math.sqrt(math.log(max(self.total, 1)) / visits)

    def _top_of_group(self, visits: int, k: int) -> list[int]:
        """The ``k`` best-scoring nodes that still have ``visits`` visits (drops stale entries)."""
        heap = self._groups[visits]
        found: list[tuple[float, int]] = []
        while heap and len(found) < k:
            entry = heapq.heappop(heap)
            if self.visits.get(-entry[1]) == visits:
                found.append(entry)
        for entry in found:
            heapq.heappush(heap, entry)
        if not heap:
            del self._groups[visits]
        return [-neg_id for _, neg_id in found]

    def select(self, n: int) -> Selection:
        """The ``n`` highest UCB values (ties go to the newer node), best score first."""
        chosen: list[int] = []
        while self._unvisited and len(chosen) < n:
            chosen.append(-heapq.heappop(self._unvisited))
        need = n - len(chosen)
        if need > 0:
            contenders = [
                node_id
                for visits in list(self._groups)
                for node_id in self._top_of_group(visits, need)
            ]
            chosen += heapq.nlargest(need, contenders, key=lambda i: (self.value(i), i))
        for node_id in chosen:
            visits = self.visits.get(node_id, 0) + 1
            self.visits[node_id] = visits
            heapq.heappush(self._groups.setdefault(visits, []), (-self.scores[node_id], -node_id))
        self.total += len(chosen)
        return Selection(self.best_first(chosen))

    def replay(self, selection: Selection) -> None:
        for node_id in selection.ids:
            self.visits[node_id] = self.visits.get(node_id, 0) + 1

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore the RNG and rebuild the index from the replayed visit counts."""
        super().load_state(state)
        self.total = sum(self.visits.values())
        self._unvisited = [-i for i in self.scores if not self.visits.get(i)]
        heapq.heapify(self._unvisited)
        self._groups = {}
        for node_id, score in self.scores.items():
            visits = self.visits.get(node_id, 0)
            if visits:
                self._groups.setdefault(visits, []).append((-score, -node_id))
        for heap in self._groups.values():
            heapq.heapify(heap)
