"""Registers the ``mlflow`` logger and the schema of ``logger=mlflow``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.hookspecs import hookimpl


def _mlflow(config: dict[str, Any], run_dir: Path) -> Any:
    from harness_mlflow.logger import MlflowLogger  # imports mlflow: on the logger's thread

    return MlflowLogger(config, run_dir)


@hookimpl
def harness_register_loggers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("mlflow", _mlflow)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    from harness_mlflow.schemas import MlflowLoggerConf

    register("logger", "mlflow", MlflowLoggerConf)
