"""Shared set-up of the benchmark scripts: load the ``harness_bench`` plugin (the ``bench``
task and ``llm=instant``) in this process and in every worker it starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def use_bench_plugin() -> None:
    os.environ["HARNESS_PLUGINS"] = "harness_bench"
    paths = [str(HERE), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
