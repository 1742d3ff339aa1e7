"""The sampler interface, and the seeded state and score ranking the built-ins share.

A sampler learns about nodes only through :meth:`Sampler.observe` (once per completed
node, in completion order), so it keeps its own incremental index and a selection never
scans the whole database. On resume the loop rebuilds it from the database: every
completed node is observed again (in id order), every round already started is replayed
(:meth:`Sampler.replay`), then :meth:`Sampler.load_state` restores the rest. Saved state
therefore stays small (RNG, counters), and saving it costs the same at any database size.
What the sampler decides and neither can rebuild, and which only grows (island migrations),
goes in its journal instead (:meth:`SeededSampler.journal`, optional for other samplers):
each entry is stored once, with the round that made it, and handed back on resume.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.task import TaskSpec


@dataclass(frozen=True)
class Candidate:
    """What a sampler knows about a completed node.

    ``parent`` is the node its round was built on (None for the seed), ``island`` the
    island its round was drawn from, ``features`` its behaviour descriptors scaled to
    ``[0, 1]`` (only for successful nodes), ``metrics`` what its evaluation reported (for
    samplers over several objectives).
    """

    id: int
    score: float | None
    success: bool
    parent: int | None = None
    island: int | None = None
    features: Mapping[str, float] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def eligible(self) -> bool:
        """Whether the node may be selected: it succeeded and has a score."""
        return self.success and self.score is not None


@dataclass(frozen=True)
class Selection:
    """A round's context: ``ids[0]`` is the parent (the diff base), the rest references.

    ``island`` is the island the round belongs to; its child is stored on it.
    """

    ids: list[int]
    island: int | None = None


class Sampler(Protocol):
    """Picks context nodes; its state round-trips through JSON for resume."""

    name: str

    def observe(self, node: Candidate) -> None:
        """Called once for every node whose evaluation completed."""
        ...

    def select(self, n: int) -> Selection:
        """Up to ``n`` distinct eligible node ids, parent first (empty if none is eligible)."""
        ...

    def replay(self, selection: Selection) -> None:
        """On resume: account for a selection made before (e.g. count its visits again).

        Must not draw from the RNG; called in the order the rounds started.
        """
        ...

    def state(self) -> dict[str, Any]:
        """What :meth:`observe` and :meth:`replay` cannot rebuild (RNG, counters...)."""
        ...

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`; called after observing and replaying the database."""
        ...


class Ranking:
    """Node ids ordered by score, best first (ties: the older node), kept incrementally."""

    def __init__(self) -> None:
        self._keys: list[tuple[float, int]] = []

    def add(self, node_id: int, score: float) -> None:
        bisect.insort(self._keys, (-score, node_id))

    def top(self, k: int) -> list[int]:
        return [node_id for _, node_id in self._keys[:k]]

    def __len__(self) -> int:
        return len(self._keys)


class SeededSampler:
    """Base class: a seeded RNG saved with the state, and the eligible nodes' scores."""

    name = "base"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        self.config = config
        self.task = task
        self.rng = random.Random(seed)
        self.scores: dict[int, float] = {}
        self.ids: list[int] = []  # eligible ids in observation order, for uniform draws
        self._journal: list[Any] = []  # entries not yet handed to the run

    def observe(self, node: Candidate) -> None:
        if node.eligible and node.id not in self.scores:
            self.scores[node.id] = float(node.score)  # type: ignore[arg-type]
            self.ids.append(node.id)
            self.admit(node)

    def admit(self, node: Candidate) -> None:
        """Hook for subclasses: ``node`` just became selectable."""

    def replay(self, selection: Selection) -> None:
        return None

    def best_first(self, ids: Iterable[int]) -> list[int]:
        """``ids`` by score, best first: ASI-Evolve's "best sampled node is the parent"."""
        return sorted(ids, key=lambda i: (-self.scores[i], i))

    def state(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"rng": [version, list(internal), gauss]}

    def load_state(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))

    def journal(self) -> list[Any]:
        """The entries (JSON data) recorded since the last call, for the run to append to
        the store in order."""
        entries, self._journal = self._journal, []
        return entries

    def load_journal(self, entries: list[Any]) -> None:
        """On resume, after :meth:`load_state`: every entry stored, in order."""
