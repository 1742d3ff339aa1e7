"""The user's config directory (``./conf`` or ``$HARNESS_CONF_DIR``) comes before the
packaged configs on Hydra's search path, and the paper's studies in the repository's
top-level ``conf/`` compose with their sweeps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf

import harness
from harness import config
from harness.confpaths import group_options

REPO_CONF = Path(__file__).resolve().parents[1] / "conf"
PACKAGED = Path(harness.__file__).parent / "conf"
STUDIES = sorted(path.stem for path in (REPO_CONF / "experiment").glob("*.yaml"))
TASKS = ("circle_packing", "arch_linear_attn", "rl_algo", "data_curation", "biomed")


@pytest.fixture(autouse=True)
def no_conf_dir_variable(monkeypatch):
    monkeypatch.delenv("HARNESS_CONF_DIR", raising=False)


def compose_in(cwd: Path, monkeypatch, *overrides: str):
    """The config ``harness`` composes when started in ``cwd``."""
    monkeypatch.chdir(cwd)
    config.register_schemas()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def edited_sampler_study(conf: Path, max_evaluations: int) -> None:
    """A user's copy of the packaged ``sampler_study`` with another budget."""
    packaged = (PACKAGED / "experiment" / "sampler_study.yaml").read_text()
    assert "  max_evaluations: 40\n" in packaged
    (conf / "experiment").mkdir(parents=True)
    (conf / "experiment" / "sampler_study.yaml").write_text(
        packaged.replace("  max_evaluations: 40\n", f"  max_evaluations: {max_evaluations}\n")
    )


def test_the_repository_holds_the_paper_studies():
    assert {"paper_circle_packing_samplers", "paper_circle_packing_ablation"} <= set(STUDIES)
    assert all(any(name.startswith(f"paper_{task}") for task in TASKS) for name in STUDIES)


@pytest.mark.parametrize("study", STUDIES)
def test_a_paper_study_composes_from_a_copy_of_conf(study, tmp_path, monkeypatch):
    shutil.copytree(REPO_CONF, tmp_path / "conf")
    task = next(task for task in TASKS if study.startswith(f"paper_{task}"))
    text = (REPO_CONF / "experiment" / f"{study}.yaml").read_text()
    header = text.split("\ndefaults:")[0]
    assert f"+task={task} +experiment={study}" in header, "the header shows the command"
    cfg = compose_in(tmp_path, monkeypatch, f"+task={task}", f"+experiment={study}")
    assert cfg.task.name == task
    assert cfg.llm.name == "openai" and cfg.llm.model
    assert (
        cfg.run.max_evaluations
        == OmegaConf.load(tmp_path / "conf" / "experiment" / f"{study}.yaml").run.max_evaluations
    )
    sweep = cfg.hydra.sweeper.params  # None: a single run
    params = {} if sweep is None else OmegaConf.to_container(sweep)
    first_point = [f"{key}={str(values).split(',')[0]}" for key, values in params.items()]
    point = compose_in(tmp_path, monkeypatch, f"+task={task}", f"+experiment={study}", *first_point)
    assert point.task.name == task


def test_an_edited_copy_in_conf_wins_over_the_packaged_config(tmp_path, monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    edited_sampler_study(project / "conf", 7)
    elsewhere.mkdir()
    overrides = ("+task=toy", "+experiment=sampler_study")
    assert compose_in(project, monkeypatch, *overrides).run.max_evaluations == 7
    assert compose_in(elsewhere, monkeypatch, *overrides).run.max_evaluations == 40


def test_harness_conf_dir_names_another_directory_or_none(tmp_path, monkeypatch):
    edited_sampler_study(tmp_path / "conf", 7)
    edited_sampler_study(tmp_path / "team" / "configs", 9)
    overrides = ("+task=toy", "+experiment=sampler_study")
    monkeypatch.setenv("HARNESS_CONF_DIR", "team/configs")  # relative to the working directory
    assert compose_in(tmp_path, monkeypatch, *overrides).run.max_evaluations == 9
    monkeypatch.setenv("HARNESS_CONF_DIR", "")
    assert compose_in(tmp_path, monkeypatch, *overrides).run.max_evaluations == 40


def test_new_options_in_conf_are_options_of_their_group(tmp_path, monkeypatch):
    sampler = tmp_path / "conf" / "sampler"
    sampler.mkdir(parents=True)
    (sampler / "greedy_ucb1.yaml").write_text("defaults:\n  - ucb1\n  - _self_\nc: 0.1\n")
    monkeypatch.chdir(tmp_path)
    assert "greedy_ucb1" in group_options("sampler") and "ucb1" in group_options("sampler")
    cfg = compose_in(tmp_path, monkeypatch, "+task=toy", "sampler=greedy_ucb1")
    assert (cfg.sampler.name, cfg.sampler.c) == ("ucb1", 0.1)
    with pytest.raises(Exception, match="cc"):  # the packaged schema still checks the keys
        compose_in(tmp_path, monkeypatch, "+task=toy", "sampler=greedy_ucb1", "sampler.cc=2")


def test_other_hydra_applications_do_not_search_conf(tmp_path, monkeypatch):
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "mine.yaml").write_text("x: 1\n")
    other = tmp_path / "other_app"
    other.mkdir()
    (other / "config.yaml").write_text("y: 2\n")
    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(config_dir=str(other), version_base="1.3"):
        cfg = compose("config", overrides=["+experiment=mine"])
    # not the group option conf/experiment/mine.yaml: a plain value Hydra adds
    assert (cfg.y, cfg.experiment, "x" in cfg) == (2, "mine", False)


def test_harness_run_reads_conf_in_its_working_directory(tmp_path, cli):
    edited_sampler_study(tmp_path / "conf", 7)
    result = cli("run", "+task=toy", "+experiment=sampler_study", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert OmegaConf.create(result.stdout).run.max_evaluations == 7
