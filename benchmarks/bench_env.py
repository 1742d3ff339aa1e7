"""Shared set-up of the benchmark scripts: load the ``harness_bench`` plugin (the ``bench``
task and ``llm=instant``) in this process and in every worker it starts, and write a
script's figures as JSON (``--json PATH``) for ``make bench`` to gather."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def use_bench_plugin() -> None:
    os.environ["HARNESS_PLUGINS"] = "harness_bench"
    paths = [str(HERE), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))


@dataclass(frozen=True)
class Check:
    """One acceptance figure against its limit: ``value <= limit`` (``at_most``) or
    ``value >= limit`` (``at_least``)."""

    value: float
    limit: float
    at_most: bool = True

    @property
    def ok(self) -> bool:
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def describe(self) -> str:
        sign = "<=" if self.at_most else ">="
        return f"{self.value:.4g} {sign} {self.limit:g}: {'ok' if self.ok else 'MISSED'}"


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON"
    )


def write_json(
    path: Path | None,
    benchmark: str,
    figures: dict[str, Any],
    params: dict[str, Any] | None = None,
    checks: dict[str, Check] | None = None,
) -> None:
    """Print the checks, then write ``{"benchmark", "figures", "params", "checks",
    "machine"}`` to ``path`` when one was given (``--json``)."""
    checks = checks or {}
    for name, check in checks.items():
        print(f"check {name}: {check.describe()}")
    if path is None:
        return
    record = {
        "benchmark": benchmark,
        "figures": figures,
        "params": params or {},
        "checks": {name: {**asdict(c), "ok": c.ok} for name, c in checks.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
        },
    }
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
