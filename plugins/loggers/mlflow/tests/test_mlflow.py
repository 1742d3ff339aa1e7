"""``logger=mlflow`` through a real ``harness run`` and ``harness resume`` into a local MLflow
store (sqlite), read back with MLflow's own client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

HARNESS = Path(sys.executable).with_name("harness")


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(HARNESS), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def recorded(tracking_uri: str, run_dir: Path, cwd: Path) -> dict[str, Any]:
    """What the run directory, ``harness status --json`` and the MLflow store hold now."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("circle_packing")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    return {
        "run": run,
        "saved_id": (run_dir / "mlflow_run_id").read_text().strip(),
        "status": json.loads(harness("status", str(run_dir), "--json", cwd=cwd).stdout),
        "history": {
            key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
            for key in ("best_score", "failed", "score")
        },
        "artifacts": [a.path for a in client.list_artifacts(run_id)],
        "artifact_root": run.info.artifact_uri,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict[str, Any]:
    """One run of 6 evaluations, then its resume to 10; what each left behind."""
    cwd = tmp_path_factory.mktemp("mlflow")
    run_dir, uri = cwd / "run", f"sqlite:///{cwd / 'tracking.db'}"
    harness(
        "run", "+task=circle_packing", "run.max_evaluations=6", "sampler=random",
        "logger=mlflow", f"logger.tracking_uri={uri}", "+logger.tags.team=search",
        f"hydra.run.dir={run_dir}", cwd=cwd,
    )  # fmt: skip
    first = recorded(uri, run_dir, cwd)
    harness("resume", str(run_dir), "run.max_evaluations=10", cwd=cwd)
    return {"first": first, "resumed": recorded(uri, run_dir, cwd), "run_dir": run_dir}


@pytest.mark.parametrize("stage", ["first", "resumed"])
def test_every_completed_node_is_a_step_and_the_end_is_summed_up(store, stage):
    found = store[stage]
    run, status = found["run"], found["status"]
    completed = status["nodes"] - status["pending"]
    assert len(found["history"]["best_score"]) == len(found["history"]["failed"]) == completed
    steps = [step for step, _ in found["history"]["best_score"]]
    assert steps == sorted(steps) and steps[-1] == status["evaluated"]
    assert found["history"]["best_score"][-1][1] == pytest.approx(status["best_score"])
    assert run.data.metrics["summary.best_score"] == pytest.approx(status["best_score"])
    assert run.data.metrics["summary.nodes"] == status["nodes"]
    assert run.info.status == "FINISHED" and run.data.tags["harness.status"] == "finished"
    assert found["artifacts"] == ["best_program.py"]
    best = Path(found["artifact_root"].removeprefix("file://")) / "best_program.py"
    assert best.read_text() == (store["run_dir"] / "best_program.py").read_text()


def test_params_tags_and_names_come_from_the_run(store):
    run = store["first"]["run"]
    params, tags = run.data.params, run.data.tags
    assert params["sampler.name"] == "random" and params["task.name"] == "circle_packing"
    assert params["run.max_evaluations"] == "6"
    assert "sampler=random" in tags["harness.overrides"].split()
    assert tags["team"] == "search" and tags["harness.task"] == "circle_packing"
    assert run.info.run_name == store["run_dir"].name


def test_a_resume_continues_the_same_mlflow_run(store):
    first, resumed = store["first"], store["resumed"]
    assert first["saved_id"] == resumed["saved_id"] == resumed["run"].info.run_id
    assert resumed["status"]["evaluated"] == 10 and resumed["status"]["sessions"] == 2
    assert (
        resumed["history"]["best_score"][: len(first["history"]["best_score"])]
        == (first["history"]["best_score"])
    )
    assert "run.max_evaluations=10" in resumed["run"].data.tags["harness.overrides"].split()
    assert resumed["run"].data.params["run.max_evaluations"] == "6"  # params are the first's
