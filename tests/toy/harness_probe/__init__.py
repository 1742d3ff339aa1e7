"""Task ``probe`` (``HARNESS_PLUGINS=harness_toy,harness_probe``): the toy task, whose
evaluation also reports, in its metrics, what the evaluation worker process has imported
and how it was set up, so tests can check the worker from the outside."""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness_toy import Toy

from harness import EvalResult, Limits, Task, TaskSpec, hookimpl

#: Top-level packages an evaluation worker has no use for.
UNWANTED = ("click", "hydra", "openai", "pandas", "harness.commands", "harness.cli")
PR_GET_PDEATHSIG, PR_GET_DUMPABLE = 2, 3


def worker_facts() -> dict[str, Any]:
    """This process's unwanted modules and its worker set-up (see LocalExecutor)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    deathsig = ctypes.c_int(0)
    prctl(PR_GET_PDEATHSIG, ctypes.byref(deathsig), 0, 0, 0)
    return {
        "unwanted": sorted(
            name for name in sys.modules for u in UNWANTED if name == u or name.startswith(u + ".")
        ),
        "sigint_ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
        "dumpable": prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
        "parent_death_signal": deathsig.value,
        "orphan_watch": any(t.name == "harness-orphan-watch" for t in threading.enumerate()),
        "sandbox_log_level": logging.getLogger("harness.sandbox").level,
    }


class Probe(Toy):
    name = "probe"

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        return dataclasses.replace(super().spec(config), name="probe")

    def evaluate(
        self, config: dict[str, Any], program: str, workdir: Path, limits: Limits, stage: str | None
    ) -> EvalResult:
        result = super().evaluate(config, program, workdir, limits, stage)
        result.metrics["worker"] = worker_facts()
        return result


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(Probe())
