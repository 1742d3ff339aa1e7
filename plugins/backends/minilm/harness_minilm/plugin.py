"""Registers the ``sentence_transformers`` embedder and the schema of ``cognition=minilm``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl


def _sentence_transformers(config: dict[str, Any]) -> Any:
    from harness_minilm.embedder import create

    return create(config)


@hookimpl
def harness_register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("sentence_transformers", _sentence_transformers)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness_minilm.schemas import MiniLMConf

    register("cognition", "minilm", MiniLMConf)
