"""Pareto: parents and references drawn from the non-dominated front of declared objectives.

``objectives`` names task metrics (``score`` is the task's score), each maximised, or
minimised with a leading ``-``. ``instances=METRIC`` adds one objective per entry of a
metric holding a list or a dict of per-instance scores (GEPA's per-instance front). A
value that is missing or not a finite number counts as the worst possible, so a node
that lacks one objective still competes on the others; failed nodes never enter.

A node is on the front when no observed node dominates it (at least as good on every
objective, better on one); nodes with equal objectives are all kept. Each observation
compares the node with the front only, and a dominated node is dropped for good
(domination is transitive), so the front is the same whatever order the nodes came in
and a resume rebuilds it from the stored metrics. The parent is drawn from the front
``uniform``-ly, by ``coverage`` (how many objectives a member is best on among the front,
GEPA's weighting) or by ``rarity`` (``1 / (1 + times chosen as parent)``); references are
other front members.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from harness.samplers.base import Candidate, SeededSampler, Selection
from harness.task import TaskSpec, finite

log = logging.getLogger("harness")

SELECTIONS = ("uniform", "coverage", "rarity")

#: Objective name -> value, every one maximised; an absent name is the worst value.
Vector = dict[str, float]


def parse_objective(name: str) -> tuple[str, float]:
    """``"-cost"`` -> ``("cost", -1.0)``: the metric and the sign that makes it maximised."""
    name = name.strip()
    metric, sign = (name[1:], -1.0) if name.startswith("-") else (name, 1.0)
    if not metric:
        raise ValueError(f"sampler pareto: empty objective name {name!r}")
    return metric, sign


def dominates(a: Vector, b: Vector) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every objective and better on one."""
    better = False
    for key in a.keys() | b.keys():
        x, y = a.get(key, -math.inf), b.get(key, -math.inf)
        if x < y:
            return False
        better = better or x > y
    return better


class ParetoSampler(SeededSampler):
    name = "pareto"

    def __init__(self, config: dict[str, Any], seed: int, task: TaskSpec | None = None) -> None:
        super().__init__(config, seed, task)
        names = config.get("objectives")
        self.objectives = [parse_objective(str(n)) for n in (["score"] if names is None else names)]
        instances = config.get("instances")
        self.instances = parse_objective(str(instances)) if instances else None
        if not self.objectives and self.instances is None:
            raise ValueError("sampler pareto needs objectives or instances")
        self.selection = str(config.get("selection", "uniform"))
        if self.selection not in SELECTIONS:
            raise ValueError(f"sampler pareto needs selection {'|'.join(SELECTIONS)}")
        self.front: list[int] = []  # member ids, sorted: independent of arrival order
        self.vectors: dict[int, Vector] = {}  # front members only
        self.chosen: dict[int, int] = {}  # times each node was the parent
        self._warned: set[str] = set()

    def vector(self, node: Candidate) -> Vector:
        """The node's objectives, each signed to be maximised (missing ones left out)."""
        values: Vector = {}
        for metric, sign in self.objectives:
            raw = node.score if metric == "score" else node.metrics.get(metric)
            self._put(values, ("-" if sign < 0 else "") + metric, metric, raw, sign)
        if self.instances is not None:
            metric, sign = self.instances
            cases = node.metrics.get(metric)
            items: Iterable[tuple[Any, Any]] = ()
            if isinstance(cases, list):
                items = enumerate(cases)
            elif isinstance(cases, Mapping):
                items = cases.items()
            else:
                self._warn(metric)
            for key, raw in items:
                self._put(values, f"{metric}[{key}]", None, raw, sign)
        return values

    def _put(self, values: Vector, key: str, metric: str | None, raw: Any, sign: float) -> None:
        number = finite(raw)
        if number is not None:
            values[key] = sign * number
        elif metric is not None:
            self._warn(metric)

    def _warn(self, metric: str) -> None:
        """Say once per metric that it is missing: a misspelt objective is then visible."""
        if metric not in self._warned:
            self._warned.add(metric)
            log.warning(
                "sampler pareto: a successful node has no finite metric %r; it counts as the "
                "worst value (check sampler.objectives / sampler.instances)",
                metric,
            )

    def admit(self, node: Candidate) -> None:
        values = self.vector(node)
        if any(dominates(self.vectors[member], values) for member in self.front):
            return
        beaten = [member for member in self.front if dominates(values, self.vectors[member])]
        for member in beaten:
            self.front.remove(member)
            del self.vectors[member]
        bisect.insort(self.front, node.id)
        self.vectors[node.id] = values

    def coverage(self) -> list[int]:
        """For each front member, on how many objectives it is best among the front."""
        best: dict[str, float] = {}
        for values in self.vectors.values():
            for key, value in values.items():
                best[key] = max(best.get(key, -math.inf), value)
        return [
            sum(values.get(key) == top for key, top in best.items())
            for values in (self.vectors[member] for member in self.front)
        ]

    def weights(self) -> list[float]:
        if self.selection == "coverage":
            counts = self.coverage()
            if any(counts):
                return [float(c) for c in counts]
        elif self.selection == "rarity":
            return [1.0 / (1 + self.chosen.get(member, 0)) for member in self.front]
        return [1.0] * len(self.front)

    def select(self, n: int) -> Selection:
        if not self.front or n < 1:
            return Selection([])
        parent = self.rng.choices(self.front, weights=self.weights())[0]
        self.chosen[parent] = self.chosen.get(parent, 0) + 1
        others = [member for member in self.front if member != parent]
        references = self.rng.sample(others, min(n - 1, len(others)))
        return Selection([parent, *self.best_first(references)])

    def replay(self, selection: Selection) -> None:
        if selection.ids:
            parent = selection.ids[0]
            self.chosen[parent] = self.chosen.get(parent, 0) + 1

    def state(self) -> dict[str, Any]:
        """The RNG, and the front (rebuilt on resume; saved for ``harness status``)."""
        return {
            **super().state(),
            "objectives": [("-" if sign < 0 else "") + m for m, sign in self.objectives],
            "front": list(self.front),
        }
