"""Registers the built-in ``embedding`` novelty filter and the schemas of ``novelty=none``
and ``novelty=embedding``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl


def _embedding(config: dict[str, Any], proposer: Any, task: Any) -> Any:
    from harness.filters.embedding import EmbeddingFilter  # numpy and the embedders

    return EmbeddingFilter(config, proposer, task)


@hookimpl
def harness_register_filters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("embedding", _embedding)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.filters import NoveltyConf

    register("novelty", "none", NoveltyConf)
    register("novelty", "embedding", NoveltyConf)
