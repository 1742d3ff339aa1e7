"""Registers the built-in samplers (ucb1, greedy, random, top_k, island, map_elites,
pareto) and their schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl
from harness.samplers.island import IslandSampler
from harness.samplers.map_elites import MapElitesSampler
from harness.samplers.pareto import ParetoSampler
from harness.samplers.simple import GreedySampler, RandomSampler, TopKSampler
from harness.samplers.ucb1 import UCB1Sampler


@hookimpl
def harness_register_samplers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for cls in (
        UCB1Sampler,
        GreedySampler,
        RandomSampler,
        TopKSampler,
        IslandSampler,
        MapElitesSampler,
        ParetoSampler,
    ):
        register(cls.name, cls)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.samplers.schemas import (  # only composing a config needs them
        GreedyConf,
        IslandConf,
        MapElitesConf,
        ParetoConf,
        RandomConf,
        TopKConf,
        UCB1Conf,
    )

    for schema in (UCB1Conf, GreedyConf, RandomConf, TopKConf, IslandConf, MapElitesConf):
        register("sampler", schema.name, schema)
    register("sampler", ParetoConf.name, ParetoConf)
