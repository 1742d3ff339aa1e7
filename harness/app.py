"""The ``@hydra.main`` entry point that ``harness run`` hands its overrides to."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
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
        "best %s (node %s), seed %s, %d nodes; status: harness status %s; browse: harness serve %s",
        summary["best_score"],
        summary["best_node"],
        summary["seed_score"],
        summary["nodes"],
        hydra_cfg.runtime.output_dir,
        hydra_cfg.runtime.output_dir,
    )
    code, message = run.exit_status
    if code:  # a failed seed, or a signal: a script or scheduler must not read success
        print(message, file=sys.stderr)
        raise SystemExit(code)
    return summary["best_score"]


class NextSteps(Callback):
    """Says how to read a finished sweep (``hydra.callbacks`` in the primary config; Hydra
    calls it in the process that launched the jobs, after the last one)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = config.hydra.sweep.dir
        print(
            f"Sweep finished in {sweep_dir}. Next:\n"
            f"  harness compare {sweep_dir}    # curves and a summary table\n"
            f"  harness serve {sweep_dir}      # browse the runs\n"
            f"  harness status {sweep_dir}     # one line per run",
            flush=True,
        )


class Refused(BaseException):
    """What :class:`PreRunChecks` refuses, for ``harness run`` to report as a click error.
    A BaseException so that it passes through Hydra, which reports any Exception itself."""

    def __init__(self, message: str, usage: bool) -> None:
        super().__init__(message)
        self.message, self.usage = message, usage


class PreRunChecks(Callback):
    """Refuses what the run would refuse before Hydra creates its directory (a stray one) or
    rewrites ``.hydra/`` in one that holds a run: out-of-range values (a usage error), and
    LLM-written programs where nothing can isolate them. It checks the config Hydra composed
    for the run: composing it once more beforehand cost a third of the start-up's CPU."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from harness.composition import OverrideError, check_ranges
        from harness.sandbox import unisolated_refusal

        try:
            check_ranges(config)
        except OverrideError as exc:
            raise Refused(str(exc), usage=True) from exc
        refusal = unisolated_refusal(str(config.llm.name), str(config.get("sandbox") or "auto"))
        if refusal:  # the machine, not the command line, is at fault: exit 1, no usage
            raise Refused(refusal, usage=False)
