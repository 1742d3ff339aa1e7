"""The sampler interface and the seeded random state every sampler persists."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Candidate:
    """The little a sampler needs to know about a completed node."""

    id: int
    score: float | None
    success: bool


class Sampler(Protocol):
    """Picks context nodes; its whole state round-trips through JSON for resume."""

    name: str

    def select(self, pool: Sequence[Candidate], n: int) -> list[int]:
        """Return up to ``n`` distinct node ids from ``pool`` (the round's context nodes).

        The loop makes the best-scoring of them the parent, so a sampler decides which
        nodes compete, not the order they are shown in.
        """
        ...

    def observe(self, node: Candidate) -> None:
        """Called once for every node whose evaluation completed."""
        ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


class SeededSampler:
    """Base class holding a seeded RNG whose state is saved with the sampler's own."""

    name = "base"

    def __init__(self, config: dict[str, Any], seed: int) -> None:
        self.config = config
        self.rng = random.Random(seed)

    def observe(self, node: Candidate) -> None:
        return None

    def state(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"rng": [version, list(internal), gauss]}

    def load_state(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
