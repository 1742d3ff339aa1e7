"""Every option of every config group composes; typos fail at composition."""

from __future__ import annotations

import pytest
from helpers import compose_config
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from harness.config import (
    AnalyzerConf,
    CognitionConf,
    DaskExecutorConf,
    GreedyConf,
    IslandConf,
    LocalExecutorConf,
    MapElitesConf,
    OfflineLLMConf,
    OpenAILLMConf,
    RandomConf,
    ReplayLLMConf,
    RunConf,
    TopKConf,
    UCB1Conf,
)
from harness.confpaths import group_options

GROUPS = ["sampler", "llm", "cognition", "analyzer", "executor", "run"]

#: What each option must compose to, written by hand: the schema its node is typed with
#: (``dict`` for a plugin option without a registered schema) and values that tell the
#: option apart from its group's others. A new option fails until it is added here.
EXPECTED: dict[tuple[str, str], tuple[type, dict[str, object]]] = {
    ("sampler", "greedy"): (GreedyConf, {"name": "greedy"}),
    ("sampler", "island"): (IslandConf, {"name": "island"}),
    ("sampler", "map_elites"): (MapElitesConf, {"name": "map_elites"}),
    ("sampler", "random"): (RandomConf, {"name": "random"}),
    ("sampler", "top_k"): (TopKConf, {"name": "top_k"}),
    ("sampler", "ucb1"): (UCB1Conf, {"name": "ucb1"}),
    ("llm", "offline"): (OfflineLLMConf, {"name": "offline"}),
    ("llm", "openai"): (OpenAILLMConf, {"name": "openai"}),
    ("llm", "replay"): (ReplayLLMConf, {"name": "replay"}),
    ("llm", "local"): (dict, {"name": "local", "backend": "auto", "model_path": None}),
    ("cognition", "default"): (CognitionConf, {"enabled": True, "backend": "hashing"}),
    ("cognition", "none"): (CognitionConf, {"enabled": False}),
    ("cognition", "minilm"): (
        CognitionConf,
        {"enabled": True, "backend": "sentence_transformers", "model": None},
    ),
    ("analyzer", "auto"): (AnalyzerConf, {"mode": "auto"}),
    ("analyzer", "deterministic"): (AnalyzerConf, {"mode": "deterministic"}),
    ("analyzer", "none"): (AnalyzerConf, {"mode": "none"}),
    ("executor", "dask"): (DaskExecutorConf, {"name": "dask"}),
    ("executor", "local"): (LocalExecutorConf, {"name": "local"}),
    ("run", "default"): (RunConf, {}),
}


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in group_options(g)])
def test_every_option_composes(group, option):
    assert (group, option) in EXPECTED, f"add {group}={option} to EXPECTED"
    schema, values = EXPECTED[group, option]
    cfg = compose_config("+task=toy", f"{group}={option}")
    node = cfg[group]
    assert OmegaConf.get_type(node) is schema
    plain = OmegaConf.to_container(node, resolve=True)
    for key, value in values.items():
        assert key in plain and plain[key] == value, (key, plain.get(key), value)
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
