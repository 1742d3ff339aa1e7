"""Registers the built-in ``jsonl`` logger and the schemas of ``logger=none`` and
``logger=jsonl``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.hookspecs import hookimpl


def _jsonl(config: dict[str, Any], run_dir: Path) -> Any:
    from harness.loggers import JsonlLogger

    return JsonlLogger(config, run_dir)


@hookimpl
def harness_register_loggers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("jsonl", _jsonl)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.loggers import LoggerConf

    register("logger", "none", LoggerConf)
    register("logger", "jsonl", LoggerConf)
