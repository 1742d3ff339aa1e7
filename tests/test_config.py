"""Every option of every config group composes; typos fail at composition."""

from __future__ import annotations

import pytest
from helpers import compose_config
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from harness.confpaths import group_options

GROUPS = ["sampler", "llm", "cognition", "analyzer", "executor", "run"]


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in group_options(g)]
)
def test_every_option_composes(group, option):
    cfg = compose_config("+task=toy", f"{group}={option}")
    assert cfg[group] is not None
    assert cfg.task.name == "toy"


def test_task_options_include_the_installed_plugins():
    assert "toy" in group_options("task")


@pytest.mark.parametrize(
    "override",
    [
        "sampler.cc=2",
        "run.max_evaluation=3",
        "llm.temprature=1",
        "cognition.k=many",
        "analyzer.mode=bogus",
    ],
)
def test_typos_and_bad_types_fail_at_composition(override):
    with pytest.raises((ConfigCompositionException, ConfigKeyError, ValidationError)):
        compose_config("+task=toy", override)


def test_defaults():
    cfg = compose_config("+task=toy")
    assert cfg.sampler.name == "ucb1" and cfg.llm.name == "offline"
    assert cfg.run.workers == 2 and cfg.seed == 0
