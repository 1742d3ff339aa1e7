"""Islands: K separate lineages with ring migration (FunSearch / OpenEvolve style).

Each selection works on one island, taken round-robin, and its child is stored on that
island, so a lineage stays on its island. The seed belongs to every island. Every
``migration_interval`` generations of an island, its best ``max(1, rate * size)`` members
are copied (as memberships, never duplicated) to the next island on the ring.

Within an island each pick is, with probability ``exploitation_ratio``, uniform among the
island's ``elite_k`` best; with ``exploration_ratio``, uniform over the island; otherwise
the best of a ``tournament``-sized uniform draw. The parent is the first pick. Unlike the
released ASI-Evolve port, children inherit the island, the elite pool is per island, and
migrant memberships survive a resume.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from harness.samplers.base import Candidate, Ranking, SeededSampler, Selection
from harness.task import TaskSpec


class Island:
    """One island's members: a ranking for elites and a sorted list for uniform draws
    (sorted, so a resumed island draws exactly as the original would)."""

    def __init__(self) -> None:
        self.ranking = Ranking()
        self.members: list[int] = []
        self.index: set[int] = set()

    def add(self, node_id: int, score: float) -> bool:
        if node_id in self.index:
            return False
        self.index.add(node_id)
        bisect.insort(self.members, node_id)
        self.ranking.add(node_id, score)
        return True


class IslandSampler(SeededSampler):
    name = "island"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        super().__init__(config, seed, task)
        self.k = int(config.get("islands", 5))
        self.migration_interval = int(config.get("migration_interval", 10))
        self.migration_rate = float(config.get("migration_rate", 0.1))
        self.exploration = float(config.get("exploration_ratio", 0.2))
        self.exploitation = float(config.get("exploitation_ratio", 0.6))
        self.elite_k = int(config.get("elite_k", 5))
        self.tournament = int(config.get("tournament", 3))
        if self.k < 1 or self.migration_interval < 1 or self.elite_k < 1 or self.tournament < 1:
            raise ValueError(
                "sampler island needs islands, migration_interval, elite_k and tournament >= 1"
            )
        ratios = (self.exploration, self.exploitation)
        if min(ratios) < 0 or sum(ratios) > 1:
            raise ValueError("sampler island needs exploration_ratio + exploitation_ratio <= 1")
        self.islands = [Island() for _ in range(self.k)]
        self.home: dict[int, int] = {}
        self.current = 0
        self.generations = [0] * self.k
        self.last_migration = [0] * self.k
        self.migrants: list[list[int]] = [[] for _ in range(self.k)]

    def admit(self, node: Candidate) -> None:
        score = self.scores[node.id]
        if node.island is not None and 0 <= node.island < self.k:
            home = node.island
        elif node.parent is not None and node.parent in self.home:
            home = self.home[node.parent]
        elif node.parent is None:
            for island in self.islands:
                island.add(node.id, score)
            return
        else:
            home = node.id % self.k
        self.home[node.id] = home
        self.islands[home].add(node.id, score)

    def _pick(self, island: Island, taken: set[int]) -> int | None:
        free = len(island.members) - len(taken)
        if free <= 0:
            return None
        u = self.rng.random()
        if u < self.exploitation:
            elites = [i for i in island.ranking.top(self.elite_k) if i not in taken]
            if not elites:  # all elites already taken: the best of the rest
                elites = [
                    i for i in island.ranking.top(self.elite_k + len(taken)) if i not in taken
                ]
            return self.rng.choice(elites)
        draws = 1 if u < self.exploitation + self.exploration else self.tournament
        best: int | None = None
        for _ in range(draws):
            node_id = self.rng.choice(island.members)
            while node_id in taken:
                node_id = self.rng.choice(island.members)
            if best is None or (-self.scores[node_id], node_id) < (-self.scores[best], best):
                best = node_id
        return best

    def migrate(self, source: int) -> list[int]:
        """Copy island ``source``'s best members to the next island; returns those added."""
        island = self.islands[source]
        target = (source + 1) % self.k
        count = max(1, math.floor(self.migration_rate * len(island.members)))
        there = self.islands[target]
        # Most of the best are there already (memberships stay): filter them out first.
        added = [node_id for node_id in island.ranking.top(count) if node_id not in there.index]
        for node_id in added:
            there.add(node_id, self.scores[node_id])
        self.migrants[target] += added
        self.last_migration[source] = self.generations[source]
        if added:
            self._journal.append([target, added])
        return added

    def select(self, n: int) -> Selection:
        number = self.current
        self.current = (self.current + 1) % self.k
        self.generations[number] += 1
        island = self.islands[number]
        if not island.members:
            return Selection([], number)
        if self.generations[number] - self.last_migration[number] >= self.migration_interval:
            self.migrate(number)
        taken: list[int] = []
        for _ in range(min(n, len(island.members))):
            node_id = self._pick(island, set(taken))
            if node_id is None:
                break
            taken.append(node_id)
        if not taken:
            return Selection([], number)
        return Selection([taken[0], *self.best_first(taken[1:])], number)

    def state(self) -> dict[str, Any]:
        """The RNG and the counters; the migrants, which grow with the run, are journalled
        (``[target island, [ids...]]`` per migration)."""
        return {
            **super().state(),
            "current": self.current,
            "generations": self.generations,
            "last_migration": self.last_migration,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if len(state.get("generations", [])) != self.k:
            raise ValueError(
                f"the saved island state has {len(state.get('generations', []))} islands, "
                f"the config asks for {self.k}; keep sampler.islands unchanged on resume"
            )
        self.current = int(state["current"])
        self.generations = [int(g) for g in state["generations"]]
        self.last_migration = [int(g) for g in state["last_migration"]]
        if "migrants" in state:  # saved before the journal: journalled from now on
            old = [[target, [int(i) for i in ids]] for target, ids in enumerate(state["migrants"])]
            self.load_journal([entry for entry in old if entry[1]])
            self._journal += [entry for entry in old if entry[1]]

    def load_journal(self, entries: list[Any]) -> None:
        """The migrations stored, again: each ``[target, ids]`` back on its island."""
        for target, ids in entries:
            self.migrants[target] += ids
            for node_id in ids:
                if node_id in self.scores:
                    self.islands[target].add(node_id, self.scores[node_id])
