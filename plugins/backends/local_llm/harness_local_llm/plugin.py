"""Registers the ``local`` proposer back-end (``llm=local``) and its schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl


def _local(config: dict[str, Any]) -> Any:
    from harness_local_llm.proposer import create

    return create(config)


@hookimpl
def harness_register_proposers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("local", _local)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness_local_llm.proposer import LocalLLMConf

    register("llm", "local", LocalLLMConf)
