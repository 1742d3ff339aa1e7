"""The schemas of the ``sampler`` config group, one per built-in sampler.

Registered as ``harness_schema/sampler/<name>`` (harness/default_plugins/samplers.py), so a
misspelled key or a wrong type in ``conf/sampler/<name>.yaml`` or an override fails when
Hydra composes the config. Each sampler documents its keys in its YAML and its class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass
class UCB1Conf:
    name: str = "ucb1"
    c: float = 1.414


@dataclass
class IslandConf:
    name: str = "island"
    islands: int = 5
    migration_interval: int = 10
    migration_rate: float = 0.1
    exploration_ratio: float = 0.2
    exploitation_ratio: float = 0.6
    elite_k: int = 5
    tournament: int = 3


class EliteSelection(str, Enum):
    uniform = "uniform"
    curiosity = "curiosity"


@dataclass
class MapElitesConf:
    name: str = "map_elites"
    descriptors: list[str] | None = None
    bins: int = 10
    selection: EliteSelection = EliteSelection.uniform


class ParetoSelection(str, Enum):
    uniform = "uniform"
    coverage = "coverage"
    rarity = "rarity"


@dataclass
class ParetoConf:
    name: str = "pareto"
    objectives: list[str] = field(default_factory=lambda: ["score"])
    instances: str | None = None
    selection: ParetoSelection = ParetoSelection.uniform


@dataclass
class TopKConf:
    name: str = "top_k"
    parent_k: int = 10
    pool_k: int = 50


@dataclass
class GreedyConf:
    name: str = "greedy"


@dataclass
class RandomConf:
    name: str = "random"
