"""``harness status`` without an argument (the latest run), of a sweep (one line per run),
with a best-known score of 0, and the commands a finished sweep prints next."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import harness_cli

#: A plugin whose ``toy`` task has a best-known score of 0 (the harness_toy task's spec
#: otherwise): ``if summary["best_known"]`` once dropped it.
ZERO_PLUGIN = """
import dataclasses

from harness import hookimpl
from harness_toy import Toy


class ZeroToy(Toy):
    def spec(self, config):
        return dataclasses.replace(super().spec(config), best_known=0.0)


@hookimpl
def harness_register_tasks(register):
    register(ZeroToy())
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, str]:
    """A real two-job sweep in the default sweep folder (multirun/<stamp>) of a fresh
    working directory, and what ``harness run -m`` printed."""
    cwd = tmp_path_factory.mktemp("cwd")
    result = harness_cli(
        "run", "-m", "+task=toy", "seed=0,1", "run.max_evaluations=3", "run.workers=1",
        cwd=cwd,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cwd, result.stdout


def test_a_sweep_ends_with_the_commands_to_run_next(sweep):
    cwd, stdout = sweep
    (sweep_dir,) = (cwd / "multirun").iterdir()
    stamp = sweep_dir.relative_to(cwd)
    assert f"harness compare {stamp}" in stdout and f"harness serve {stamp}" in stdout
    assert sorted(p.name for p in sweep_dir.iterdir() if (p / "harness.db").exists()) == [
        "0",
        "1",
    ]


def test_status_of_a_sweep_is_one_line_per_run(sweep, cli):
    cwd, _ = sweep
    (sweep_dir,) = (cwd / "multirun").iterdir()
    result = cli("status", str(sweep_dir))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["run", "dir", "overrides", "status", "evaluated", "best", "seed"]
    assert len(rows) == 2
    for job, row in zip(("0", "1"), rows, strict=True):
        cells = row.split()
        assert cells[:4] == [str(sweep_dir / job), f"seed={job}", "finished", "3"]
        assert cells[5] == "1.5"  # the toy seed program's score
    listed = json.loads(cli("status", str(sweep_dir), "--json").stdout)
    assert [row["run_dir"] for row in listed] == [str(sweep_dir / "0"), str(sweep_dir / "1")]
    assert [row["overrides"] for row in listed] == [["seed=0"], ["seed=1"]]
    assert all(row["evaluated"] == 3 and row["best_known"] == 10.0 for row in listed)


def test_status_without_argument_shows_the_latest_run(sweep, cli):
    cwd, _ = sweep
    (sweep_dir,) = (cwd / "multirun").iterdir()
    old, new = sweep_dir / "0", sweep_dir / "1"
    for age, run_dir in ((1000, old), (10, new)):  # job 1 changed last
        for path in run_dir.glob("harness.db*"):
            os.utime(path, (path.stat().st_atime - age, path.stat().st_mtime - age))
    result = cli("status", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run_dir"] == str(new.relative_to(cwd))
    text = cli("status", cwd=cwd).stdout
    assert re.match(rf"run_dir +{re.escape(str(new.relative_to(cwd)))}\n", text)
    assert re.search(r"^evaluated +3$", text, re.M)


def test_status_without_argument_and_no_run_is_a_usage_error(tmp_path, cli):
    (tmp_path / "runs").mkdir()
    result = cli("status", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "No run found" in result.stderr and "harness status RUN_DIR" in result.stderr


def test_a_folder_without_runs_is_a_usage_error(tmp_path, cli):
    result = cli("status", str(tmp_path))
    assert result.returncode == 2 and "No run directories" in result.stderr


def test_a_best_known_score_of_zero_is_reported_with_its_gap(sweep, tmp_path, cli):
    (run_dir,) = (sweep[0] / "multirun").glob("*/0")
    (tmp_path / "harness_zero.py").write_text(ZERO_PLUGIN)
    env = {
        "HARNESS_PLUGINS": "harness_zero",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]),
    }
    status = json.loads(cli("status", str(run_dir), "--json", env=env).stdout)
    assert status["best_known"] == 0.0
    assert status["gap_to_best_known"] == pytest.approx(-status["best_score"])
    text = cli("status", str(run_dir), env=env).stdout
    assert re.search(r"^best_known +0\.0$", text, re.M)
    assert re.search(r"^gap_to_best_known +-\d", text, re.M)
