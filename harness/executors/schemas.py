"""The schemas of the ``executor`` config group: the built-in executors.

Registered as ``harness_schema/executor/<name>`` (harness/default_plugins/executors.py);
kept apart from the executors themselves so that composing a config never imports Dask.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LocalExecutorConf:
    name: str = "local"
    processes: int | None = None


@dataclass
class DaskExecutorConf:
    """``executor=dask``: a loopback LocalCluster, or the scheduler at ``address``."""

    name: str = "dask"
    address: str | None = None
    n_workers: int | None = None
    resources: dict[str, float] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    memory_limit: str | None = None
    allowed_failures: int = 1
