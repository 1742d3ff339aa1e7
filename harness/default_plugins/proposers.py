"""Registers the built-in proposer back-ends, ``offline`` (default), ``openai`` and ``replay``,
their schemas, and the built-in search operators (``diff``, ``full``, ``crossover``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl


def _offline(config: dict[str, Any]) -> Any:
    from harness.llm.offline import OfflineProposer

    return OfflineProposer(config)


def _openai(config: dict[str, Any]) -> Any:
    from harness.llm.openai_proposer import create

    return create(config)


def _replay(config: dict[str, Any]) -> Any:
    from harness.llm.replay import create

    return create(config)


@hookimpl
def harness_register_proposers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("offline", _offline)
    register("openai", _openai)
    register("replay", _replay)


@hookimpl
def harness_register_operators(register: Callable[[str, Any], None]) -> None:
    from harness.llm.operators import BUILTIN

    for operator in BUILTIN:
        register(operator.name, operator)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.llm.schemas import OfflineLLMConf, OpenAILLMConf, ReplayLLMConf

    register("llm", "offline", OfflineLLMConf)
    register("llm", "openai", OpenAILLMConf)
    register("llm", "replay", ReplayLLMConf)
