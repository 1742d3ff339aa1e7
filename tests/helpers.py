"""Shared helpers for the core tests: compose a config and run the loop in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module

from harness.config import register_schemas
from harness.loop import Run


def compose_config(*overrides: str) -> Any:
    register_schemas()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_loop(run_dir: Path, *overrides: str) -> dict[str, Any]:
    cfg = compose_config(*overrides)
    return asyncio.run(Run(cfg, run_dir, list(overrides)).execute())
