"""The ``mlflow`` logger: one MLflow run per harness run, through MLflow's own client.

The MLflow run's id is kept in the run directory (``mlflow_run_id``), so ``harness resume``
logs into the same run, its steps (the evaluation count) carrying on where they stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.budget import Tally
from harness.loggers import RunInfo, node_record
from harness.nodes import Node
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

#: The file in the run directory that holds the MLflow run's id.
RUN_ID_FILE = "mlflow_run_id"
#: The per-node figures of :func:`harness.loggers.node_record` logged as metrics.
NODE_METRICS = ("score", "best_score", "failed", "duplicates", "cost_usd", "tokens")
#: A harness session's end status as MLflow's run status.
STATUSES = {"finished": "FINISHED", "failed": "FAILED", "crashed": "FAILED"}


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested config as MLflow params: dotted keys, lists as JSON, values cut to MLflow's
    length limit."""
    if isinstance(data, dict) and data:
        flat: dict[str, str] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    text = json.dumps(data) if isinstance(data, (list, dict)) else str(data)
    return {prefix.rstrip("."): text[:MAX_PARAM_VAL_LENGTH]}


def numbers(data: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric entries of a (nested) summary, as metric name -> value."""
    found: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            found.update(numbers(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[f"{prefix}{key}"] = float(value)
    return found


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MlflowLogger:
    """Params, per-node metrics, the summary, the best program file and the status."""

    def __init__(self, config: dict[str, Any], run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.client = MlflowClient(tracking_uri=config.get("tracking_uri") or None)
        self.run_id = ""
        self.step = 0

    def run_started(self, info: RunInfo) -> None:
        saved = self.run_dir / RUN_ID_FILE
        if info.resume and saved.exists():
            self.run_id = saved.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            experiment = self._experiment(self.config.get("experiment_name") or info.task)
            tags = {"harness.task": info.task, **(self.config.get("tags") or {})}
            run = self.client.create_run(
                experiment, run_name=self.config.get("run_name") or self.run_dir.name, tags=tags
            )
            self.run_id = run.info.run_id
            saved.write_text(self.run_id + "\n")
            params = [Param(k, v) for k, v in sorted(flatten(info.config).items())]
            for batch in _chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
                self.client.log_batch(self.run_id, params=batch)
        self._tags(
            {
                "harness.run_dir": str(self.run_dir.resolve()),
                "harness.overrides": " ".join(info.overrides),
            }
        )

    def node_completed(self, node: Node, tally: Tally) -> None:
        record = node_record(node, tally)
        self.step = tally.evaluations
        values = {key: record[key] for key in NODE_METRICS if record[key] is not None}
        self._metrics({key: float(value) for key, value in values.items()})

    def run_finished(self, status: str, reason: str | None, summary: dict[str, Any]) -> None:
        self.step = int(summary.get("evaluated") or self.step)
        self._metrics(numbers(summary, "summary."))
        self._tags({"harness.status": status, "harness.stop_reason": reason or ""})
        for best in sorted(self.run_dir.glob("best_program.*")):
            self.client.log_artifact(self.run_id, str(best))
        self.client.set_terminated(self.run_id, STATUSES.get(status, "KILLED"))

    def close(self) -> None:
        """Nothing to release: the client holds no open run of MLflow's fluent API."""

    def _experiment(self, name: str) -> str:
        """The experiment's id, created on first use (another run of a sweep may create
        it at the same moment: then it is looked up again)."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except MlflowException:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def _metrics(self, values: dict[str, float]) -> None:
        stamp = int(time.time() * 1000)
        metrics = [Metric(key, value, stamp, self.step) for key, value in values.items()]
        for batch in _chunks(metrics, MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=batch)

    def _tags(self, tags: dict[str, str]) -> None:
        batch = [RunTag(key, value[:MAX_TAG_VAL_LENGTH]) for key, value in tags.items()]
        self.client.log_batch(self.run_id, tags=batch)
