"""MAP-Elites: a quality-diversity archive that the parents are actually drawn from.

Every successful node has behaviour descriptors scaled to ``[0, 1]`` (generic ones such as
``program_length`` and ``diversity``, plus any the task declares); ``bins`` per axis make
a grid, and each cell keeps its best node, its *elite*. A selection draws the parent's
cell uniformly (``selection=uniform``) or in proportion to its curiosity
(``selection=curiosity``: +1 each time a child of the cell's elite entered the archive,
-0.5 otherwise, never below 0.1), and the references are elites of other cells. Only
elites are ever selected, which the released ASI-Evolve "MAP-Elites" never did.

The archive is rebuilt from the observed nodes (the same whatever the order, since ties
go to the older node), so a resumed run continues with the same archive.
"""

from __future__ import annotations

import bisect
from typing import Any

from harness.features import GENERIC
from harness.samplers.base import Candidate, SeededSampler, Selection
from harness.task import TaskSpec

Cell = tuple[int, ...]

CURIOSITY_FLOOR = 0.1


def default_descriptors(task: TaskSpec | None) -> list[str]:
    """The task's own descriptors when it declares some, else the generic pair."""
    if task is not None and task.descriptors:
        return [d.name for d in task.descriptors]
    return [d.name for d in GENERIC]


class MapElitesSampler(SeededSampler):
    name = "map_elites"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        super().__init__(config, seed, task)
        self.descriptors = list(config.get("descriptors") or default_descriptors(task))
        known = {d.name for d in GENERIC} | {d.name for d in (task.descriptors if task else ())}
        unknown = [name for name in self.descriptors if name not in known]
        if unknown:
            raise ValueError(
                f"sampler map_elites: unknown descriptor(s) {unknown}; choose from {sorted(known)}"
            )
        self.bins = int(config.get("bins", 10))
        self.selection = str(config.get("selection", "uniform"))
        if self.bins < 1 or self.selection not in ("uniform", "curiosity"):
            raise ValueError("sampler map_elites needs bins >= 1 and selection uniform|curiosity")
        self.archive: dict[Cell, tuple[float, int]] = {}  # cell -> (score, elite id)
        self.cells: list[Cell] = []  # occupied cells, sorted: independent of arrival order
        self.cell_of: dict[int, Cell] = {}
        self.curiosity: dict[Cell, float] = {}

    def cell(self, features: dict[str, float] | Any) -> Cell | None:
        """The grid cell of a node's scaled descriptors (None if one is missing)."""
        try:
            values = [float(features[name]) for name in self.descriptors]
        except (KeyError, TypeError, ValueError):
            return None
        return tuple(min(self.bins - 1, max(0, int(v * self.bins))) for v in values)

    def admit(self, node: Candidate) -> None:
        cell = self.cell(node.features)
        entered = False
        if cell is not None:
            self.cell_of[node.id] = cell
            score = self.scores[node.id]
            current = self.archive.get(cell)
            if current is None:
                bisect.insort(self.cells, cell)
                self.curiosity.setdefault(cell, 1.0)
            if current is None or (score, -node.id) > (current[0], -current[1]):
                self.archive[cell] = (score, node.id)
                entered = True
        parent_cell = self.cell_of.get(node.parent) if node.parent is not None else None
        if parent_cell is not None:
            change = 1.0 if entered else -0.5
            self.curiosity[parent_cell] = max(
                CURIOSITY_FLOOR, self.curiosity.get(parent_cell, 1.0) + change
            )

    def elites(self) -> list[int]:
        return [self.archive[cell][1] for cell in self.cells]

    def select(self, n: int) -> Selection:
        if not self.cells:
            return Selection(self.best_first(self.scores)[:1] if self.scores else [])
        if self.selection == "curiosity":
            weights = [self.curiosity.get(cell, 1.0) for cell in self.cells]
            parent_cell = self.rng.choices(self.cells, weights=weights)[0]
        else:
            parent_cell = self.rng.choice(self.cells)
        parent = self.archive[parent_cell][1]
        others = [self.archive[c][1] for c in self.cells if c != parent_cell]
        references = self.rng.sample(others, min(n - 1, len(others)))
        return Selection([parent, *self.best_first(references)])

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "descriptors": self.descriptors,
            "bins": self.bins,
            "curiosity": [[list(cell), value] for cell, value in self.curiosity.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if (
            state.get("descriptors", self.descriptors) != self.descriptors
            or state.get("bins", self.bins) != self.bins
        ):
            saved = ",".join(state.get("descriptors", []))
            raise ValueError(
                f"the saved MAP-Elites archive uses descriptors [{saved}] with "
                f"{state.get('bins')} bins; keep sampler.descriptors and sampler.bins "
                f"unchanged on resume (sampler.descriptors=[{saved}] "
                f"sampler.bins={state.get('bins')})"
            )
        self.curiosity = {tuple(cell): float(value) for cell, value in state.get("curiosity", [])}
