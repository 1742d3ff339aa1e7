"""The schema of ``logger=mlflow``; apart from the logger so that composing a config never
imports MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.loggers import LoggerConf


@dataclass
class MlflowLoggerConf(LoggerConf):
    name: str = "mlflow"
    #: null: MLflow's own choice, $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the
    #: working directory (beside runs/), its artifacts in ./mlruns.
    tracking_uri: str | None = None
    #: null: the task's name.
    experiment_name: str | None = None
    #: null: the run directory's name.
    run_name: str | None = None
    #: Tags set on the MLflow run, besides harness's own (harness.task, harness.overrides...).
    tags: dict[str, str] = field(default_factory=dict)
