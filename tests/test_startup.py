"""Start-up: commands import only what they use, and evaluation workers never load the CLI.

Checked from the outside, in real processes: ``sys.modules`` of a command started as the
console script starts it, and the worker facts that the ``probe`` task reports from inside
an evaluation worker of ``harness eval`` (the installed console script, so a spawned worker
re-imports that script's module as ``__mp_main__``, as in a run). The timings are
``benchmarks/startup.py``'s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOY, harness_cli

#: Libraries that neither ``harness --help`` nor ``harness status RUN`` uses.
HEAVY = (
    "openai",
    "pandas",
    "hydra",
    "torch",
    "transformers",
    "rich",
    "starlette",
    "uvicorn",
    "jinja2",
    "matplotlib",
    "httpx",
)

#: Runs a command in-process as the console script does, then prints the modules loaded.
IMPORTED = """
import json, sys
from harness.__main__ import main
sys.argv = ["harness", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported(*args: str, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages loaded by ``harness ARGS`` (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stderr.strip().splitlines()[-1])
    return {name.split(".")[0] for name in modules}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("cwd")
    result = harness_cli(
        "run", "+task=toy", "run.max_evaluations=2", "run.workers=1", "hydra.run.dir=run",
        cwd=cwd,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cwd / "run"


def test_help_imports_no_heavy_library(tmp_path):
    """Not even what most commands need: the installed plugins load without numpy,
    omegaconf or asyncio (the tests' toy plugin is left out: it imports harness.testing)."""
    unused = {*HEAVY, "numpy", "omegaconf", "asyncio", "sqlite_utils"}
    assert not imported("--help", cwd=tmp_path, env={"HARNESS_PLUGINS": ""}) & unused


def test_status_imports_no_heavy_library(run_dir):
    loaded = imported("status", str(run_dir), cwd=run_dir.parent)
    assert "sqlite_utils" in loaded, "status read the store"
    assert not loaded & {*HEAVY, "numpy"}  # numpy: hidden from sqlite-utils' import


def test_sqlite_utils_is_imported_without_pandas_or_numpy():
    """Both hidden from sqlite-utils' import, and importable as usual afterwards."""
    code = (
        "import harness, sys, importlib.util\n"
        "import sqlite_utils.db\n"
        "assert sqlite_utils.db.pd is None and sqlite_utils.db.np is None\n"
        "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
        "import numpy\n"
        "assert numpy.ndarray\n"
        "if importlib.util.find_spec('pandas'):\n"
        "    import pandas\n"
        "    assert pandas.DataFrame\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_is_omegaconf_missing():
    import omegaconf

    from harness.task import MISSING

    assert MISSING == omegaconf.MISSING


@pytest.fixture(scope="module")
def worker(tmp_path_factory) -> dict:
    """What the probe task reports from inside its evaluation worker."""
    cwd = tmp_path_factory.mktemp("probe")
    program = cwd / "program.py"
    program.write_text("def f():\n    return 2.0\n")
    env = {
        "HARNESS_PLUGINS": "harness_toy,harness_probe",
        "PYTHONPATH": os.pathsep.join([str(TOY), os.environ.get("PYTHONPATH", "")]),
    }
    result = harness_cli(
        "eval", "+task=probe", "--program", str(program), "--json", cwd=cwd, env=env
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["success"], payload
    return payload["metrics"]["worker"]


def test_a_worker_never_imports_the_cli_or_heavy_libraries(worker):
    assert worker["unwanted"] == []


def test_a_worker_keeps_its_guarantees(worker):
    """Ctrl-C left to the orchestrator, parent-death guard, undumpable, quiet sandbox log."""
    assert worker["sigint_ignored"]
    assert worker["parent_death_signal"] == signal.SIGTERM
    assert worker["orphan_watch"]
    assert worker["dumpable"] == 0
    assert worker["sandbox_log_level"] == 40  # logging.ERROR
