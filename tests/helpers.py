"""Shared helpers for the core tests: compose a config and run the loop in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from harness import config
from harness.loop import Run


def compose_config(*overrides: str) -> Any:
    return config.compose_config(list(overrides))


def run_loop(run_dir: Path, *overrides: str) -> dict[str, Any]:
    cfg = compose_config(*overrides)
    return asyncio.run(Run(cfg, run_dir, list(overrides)).execute())
