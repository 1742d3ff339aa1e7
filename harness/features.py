"""Behaviour descriptors of a node, for quality-diversity samplers.

Two generic descriptors work for any task:

- ``program_length``: the program's length relative to the seed program's (0.5x to 2x);
- ``diversity``: the mean Jaccard distance between the program's token set and those of a
  reference set (the seed and the first successful programs, up to ``REFERENCE_SIZE``),
  from 0 (same tokens) to 0.5 (half of the tokens differ; larger values are clamped).

A task adds its own with :class:`harness.task.Descriptor`, reading ``metrics[name]``.
Raw values are stored with the node (``nodes.features``); samplers see them scaled to
``[0, 1]``, so cells never move when the reference set grows.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from harness.task import Descriptor, TaskSpec
from harness.tree import Tree, is_tree

GENERIC = (
    Descriptor("program_length", 0.5, 2.0, "program length relative to the seed program"),
    Descriptor("diversity", 0.0, 0.5, "mean token-set Jaccard distance to a reference set"),
)
REFERENCE_SIZE = 8
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|[^\s\w]")


def tokens(program: str) -> frozenset[str]:
    """The program's token set; a multi-file program's is its paths' and files' (each
    file's remembered: a child tree repeats all its parent's files but a few)."""
    if not is_tree(program):
        return frozenset(_TOKEN.findall(program))
    files = Tree.parse(program).files
    return frozenset().union(*(_file_tokens(path) | _file_tokens(text) for path, text in files))


@functools.lru_cache(maxsize=8192)
def _file_tokens(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(text))


def jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return 1.0 - len(a & b) / union if union else 0.0


class FeatureSpace:
    """Computes and scales a run's descriptors; remembers the diversity reference set."""

    def __init__(self, task: TaskSpec) -> None:
        self.descriptors = {d.name: d for d in (*GENERIC, *task.descriptors)}
        self.seed_length = 0
        self.references: list[frozenset[str]] = []

    def start(self, seed_program: str) -> None:
        """The seed program is the length unit and the first diversity reference."""
        self.seed_length = len(seed_program) or 1
        self.references = [tokens(seed_program)]

    def add_reference(self, program: str) -> None:
        """Use a successful program as a diversity reference until the set is full."""
        if len(self.references) < REFERENCE_SIZE:
            self.references.append(tokens(program))

    def raw(self, program: str, metrics: Mapping[str, Any]) -> dict[str, float]:
        """The unscaled descriptor values of a successful node (non-finite ones dropped)."""
        values: dict[str, float] = {}
        if self.seed_length:
            values["program_length"] = len(program) / self.seed_length
        if self.references:
            own = tokens(program)
            values["diversity"] = sum(jaccard_distance(own, ref) for ref in self.references) / len(
                self.references
            )
        for name in self.descriptors:
            value = metrics.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[name] = float(value)
        return {k: v for k, v in values.items() if math.isfinite(v)}

    def scaled(self, raw: Mapping[str, float]) -> dict[str, float]:
        return {
            name: self.descriptors[name].scale(value)
            for name, value in raw.items()
            if name in self.descriptors
        }

    def rebuild(self, seed_program: str, programs: Iterable[str]) -> None:
        """Restore the reference set on resume: the seed, then successful programs in order."""
        self.start(seed_program)
        for program in programs:
            if len(self.references) >= REFERENCE_SIZE:
                break
            self.add_reference(program)
