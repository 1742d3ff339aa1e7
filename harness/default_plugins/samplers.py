"""Registers the built-in samplers: ``ucb1``, ``greedy`` and ``random``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl
from harness.samplers.simple import GreedySampler, RandomSampler
from harness.samplers.ucb1 import UCB1Sampler


@hookimpl
def harness_register_samplers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for cls in (UCB1Sampler, GreedySampler, RandomSampler):
        register(cls.name, cls)
