"""Sweeps and ablations: Hydra launchers (joblib, submitit), the shipped experiments and
the ablation switches compose and run, each sweep point in its own run directory."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from harness import config
from harness import db as store


def sweep_runs(sweep_dir):
    """{job number: (overrides, sampler state name, summary)} of a finished sweep."""
    runs = {}
    for db_path in sorted(sweep_dir.glob("*/harness.db")):
        db = store.open_db(db_path.parent, migrate=False)
        row = next(iter(db["runs"].rows))
        state = [r["name"] for r in db["sampler_state"].rows]
        runs[int(db_path.parent.name)] = (json.loads(row["overrides"]), state, store.summary(db))
    return runs


def compose_with_hydra(*overrides):
    config.register_schemas()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_the_slurm_launcher_preset_composes_onto_submitit():
    cfg = compose_with_hydra("+task=toy", "hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    launcher = cfg.hydra.launcher
    assert (
        launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    )
    assert (launcher.partition, launcher.timeout_min, launcher.cpus_per_task) == ("gpu", 1440, 8)


@pytest.mark.parametrize("experiment", ["sampler_study", "component_ablation"])
def test_the_shipped_experiments_compose_with_their_sweeps(experiment):
    cfg = compose_with_hydra("+task=toy", f"+experiment={experiment}")
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    assert params["seed"] == "0,1,2"
    if experiment == "sampler_study":
        assert params["sampler"] == "ucb1,map_elites,random"
        assert cfg.run.max_evaluations == 40
    else:
        assert params["+ablation"] == "full,no_cognition,no_analyzer"
        assert cfg.run.max_evaluations == 400


@pytest.mark.parametrize(
    ("ablation", "cognition", "analyzer"),
    [("full", True, "auto"), ("no_cognition", False, "auto"), ("no_analyzer", True, "none")],
)
def test_ablation_switches(ablation, cognition, analyzer):
    cfg = config.compose_config(["+task=toy", f"+ablation={ablation}"])
    assert cfg.cognition.enabled is cognition
    assert OmegaConf.to_container(cfg.analyzer, enum_to_str=True)["mode"] == analyzer


def test_edit_mode_is_checked_when_the_config_composes():
    assert config.compose_config(["llm=openai", "llm.edit_mode=full"]).llm.edit_mode.value == "full"
    with pytest.raises(Exception, match="edit_mode"):
        config.compose_config(["llm=openai", "llm.edit_mode=patch"])


def test_an_experiment_sweep_runs_every_point_in_its_own_directory(tmp_path, cli):
    sweep = tmp_path / "sweep"
    result = cli(
        "run",
        "-m",
        "+experiment=component_ablation",
        "+task=toy",
        "seed=0",
        "run.max_evaluations=3",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr
    runs = sweep_runs(sweep)
    assert sorted(runs) == [0, 1, 2]
    ablations = {next(o for o in ov if o.startswith("+ablation=")) for ov, _, _ in runs.values()}
    assert ablations == {"+ablation=full", "+ablation=no_cognition", "+ablation=no_analyzer"}
    assert all(summary["evaluated"] == 3 for _, _, summary in runs.values())


def test_joblib_runs_sweep_points_in_parallel_processes(tmp_path, cli):
    sweep = tmp_path / "sweep"
    result = cli(
        "run",
        "-m",
        "+task=toy",
        "sampler=island,map_elites",
        "seed=0,1",
        "run.max_evaluations=4",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr
    assert "Joblib.Parallel(n_jobs=2" in result.stderr + result.stdout
    runs = sweep_runs(sweep)
    assert len(runs) == 4
    for overrides, state, summary in runs.values():
        sampler = next(o.split("=")[1] for o in overrides if o.startswith("sampler="))
        assert state == [sampler]
        assert summary["status"] == "finished" and summary["evaluated"] == 4


def test_submitit_local_launches_each_run_as_a_submitit_job(tmp_path, cli):
    sweep = tmp_path / "sweep"
    result = cli(
        "run",
        "-m",
        "+task=toy",
        "sampler=top_k,random",
        "run.max_evaluations=3",
        "hydra/launcher=submitit_local",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr
    assert list((sweep / ".submitit").iterdir()), "no submitit job folders"
    runs = sweep_runs(sweep)
    assert len(runs) == 2
    assert all(summary["evaluated"] == 3 for _, _, summary in runs.values())
