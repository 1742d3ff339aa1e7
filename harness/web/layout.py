"""The evolution tree's coordinates: a tidy layered layout in O(n), pure Python.

``y`` is a node's generation (the seed's is 0); ``x`` is its leaf order, with a parent
centred over its first and last child. Children are visited by island, then id, so each
island's subtrees lie side by side, one column apart from the next island's.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

#: Extra columns between the leaves of different islands.
ISLAND_GAP = 1.0


@dataclass(frozen=True)
class Place:
    x: float
    y: int


def _order(island: Hashable | None, node_id: int) -> tuple[bool, str, int]:
    return (island is not None, str(island), node_id)


def layout(
    nodes: Sequence[tuple[int, int | None, Hashable | None]],
) -> dict[int, Place]:
    """Coordinates of ``(id, parent, island)`` triples; a node whose parent is not among
    them is a root. Iterative (a long chain of improvements must not hit the recursion
    limit); roots come in id order, side by side like islands."""
    ids = {node_id for node_id, _, _ in nodes}
    island = {node_id: isl for node_id, _, isl in nodes}
    children: dict[int, list[int]] = {node_id: [] for node_id in ids}
    roots = []
    for node_id, parent, _ in nodes:
        if parent is not None and parent in ids and parent != node_id:
            children[parent].append(node_id)
        else:
            roots.append(node_id)
    for kids in children.values():
        kids.sort(key=lambda k: _order(island[k], k))
    places: dict[int, Place] = {}
    depth: dict[int, int] = {}
    next_x, last_island, first = 0.0, None, True
    # Post-order walk with an explicit stack: (node, whether its children are placed).
    for root in sorted(roots):
        depth[root] = 0
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            kids = children[node]
            if done:
                places[node] = Place((places[kids[0]].x + places[kids[-1]].x) / 2, depth[node])
            elif kids:
                stack.append((node, True))
                for kid in reversed(kids):
                    depth[kid] = depth[node] + 1
                    stack.append((kid, False))
            else:
                if not first and island[node] != last_island:
                    next_x += ISLAND_GAP
                places[node] = Place(next_x, depth[node])
                next_x, last_island, first = next_x + 1, island[node], False
    return places
