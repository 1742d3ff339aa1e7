"""Registers the built-in embedders of the cognition base, ``hashing`` and ``openai``, and the
schema of the ``cognition`` options that use them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl


def _hashing(config: dict[str, Any]) -> Any:
    from harness.cognition.embedders import HashingEmbedder

    return HashingEmbedder(int(config.get("dim") or 512))


def _openai(config: dict[str, Any]) -> Any:
    from harness.cognition.embedders import OpenAIEmbedder

    return OpenAIEmbedder(
        model=str(config.get("model") or ""),
        base_url=config.get("base_url"),
        api_key_env=str(config.get("api_key_env") or "OPENAI_API_KEY"),
        batch_size=int(config.get("batch_size") or 64),
        timeout_s=float(config.get("timeout_s") or 60.0),
    )


@hookimpl
def harness_register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("hashing", _hashing)
    register("openai", _openai)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.cognition.schemas import CognitionConf  # the package imports openai

    register("cognition", "default", CognitionConf)
    register("cognition", "none", CognitionConf)
