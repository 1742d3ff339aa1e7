"""Novelty filters: a proposal too like a program the run already evaluated is stored as
``rejected_novelty`` instead of being evaluated (``novelty=embedding``; docs/novelty.md).

A filter is created by a factory registered through
:func:`harness.hookspecs.harness_register_filters` and sees the run through three calls:
:meth:`Filter.rebuild` once when a run starts or resumes (its archive, from the store),
:meth:`Filter.admit` for every completed node, and :meth:`Filter.check` for each new
program after the exact-duplicate check and before its evaluation. This module stays
import-light: chat back-ends import the judge's prompt from :mod:`harness.filters.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.cognition.schemas import EmbedderConf
from harness.llm.base import LLMCall

if TYPE_CHECKING:
    import sqlite_utils

    from harness.nodes import Node


@dataclass
class NoveltyConf(EmbedderConf):
    """The ``novelty`` config group; every key is documented in
    harness/conf/novelty/embedding.yaml."""

    name: str = "none"
    threshold: float = 0.9998
    k: int = 5
    judge: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """A filter's answer for one program: ``reject`` it or not; ``metrics`` (stored under
    ``metrics["novelty"]`` of a rejected node: the nearest node, the similarity...),
    ``reason`` (its feedback) and the judge's ``llm_calls``, to record either way."""

    reject: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    llm_calls: list[LLMCall] = field(default_factory=list)


class Filter(Protocol):
    """A novelty filter, created by ``factory(config: dict, proposer, task)``."""

    name: str

    def rebuild(self, db: sqlite_utils.Database) -> None:
        """Take in the run's stored nodes (a fresh run's store holds none)."""
        ...

    def admit(self, node: Node) -> None:
        """Called once for every node that completes, in completion order."""
        ...

    async def check(self, node: Node) -> Verdict:
        """Whether the pending ``node``'s new program may be evaluated."""
        ...


def make_filter(config: dict[str, Any], proposer: Any, task: Any) -> Filter | None:
    """The filter ``config["name"]`` names (``None`` for ``none``), from the registry of
    :func:`harness.hookspecs.harness_register_filters`; ``UnknownNameError`` or
    ``ValueError`` for a name or settings it rejects."""
    from harness import plugins

    name = str(config.get("name") or "none")
    if name == "none":
        return None
    filter_: Filter = plugins.get_filter_factory(name)(config, proposer, task)
    return filter_
