"""Registers the built-in executors, ``local`` (worker processes) and ``dask``, and their
schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.hookspecs import hookimpl


def _local(config: dict[str, Any], workers: int) -> Any:
    from harness.executors.local import LocalExecutor

    return LocalExecutor(config.get("processes") or workers)


def _dask(config: dict[str, Any], workers: int) -> Any:
    from harness.executors.dask import DaskExecutor  # ExecutorError if not installed

    return DaskExecutor.from_config(config, workers)


@hookimpl
def harness_register_executors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("local", _local)
    register("dask", _dask)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness.executors.schemas import DaskExecutorConf, LocalExecutorConf

    register("executor", "local", LocalExecutorConf)
    register("executor", "dask", DaskExecutorConf)
