"""The ``@hydra.main`` entry point that ``harness run`` hands its overrides to."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.config import register_schemas
from harness.loop import Run
from harness.tasks import RunError

register_schemas()
log = logging.getLogger("harness")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one evolution in Hydra's run directory; return the best score for sweepers."""
    hydra_cfg = HydraConfig.get()
    try:
        run = Run(cfg, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task))
        summary = asyncio.run(run.execute())
    except RunError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    log.info(
        "best %s (node %s), seed %s, %d nodes; status: harness status %s",
        summary["best_score"],
        summary["best_node"],
        summary["seed_score"],
        summary["nodes"],
        hydra_cfg.runtime.output_dir,
    )
    code, message = run.exit_status
    if code:  # a failed seed, or a signal: a script or scheduler must not read success
        print(message, file=sys.stderr)
        raise SystemExit(code)
    return summary["best_score"]
