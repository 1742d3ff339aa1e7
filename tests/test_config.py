"""Every option of every config group composes; typos fail at composition."""

from __future__ import annotations

import pytest
from harness_local_llm.proposer import LocalLLMConf
from harness_minilm.schemas import MiniLMConf
from harness_toy import ToyConf
from helpers import compose_config
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from harness import plugins
from harness.cognition.schemas import CognitionConf
from harness.config import AnalyzerConf, RunConf
from harness.confpaths import group_options
from harness.executors.schemas import DaskExecutorConf, LocalExecutorConf
from harness.llm.schemas import OfflineLLMConf, OpenAILLMConf, ReplayLLMConf
from harness.samplers.schemas import (
    GreedyConf,
    IslandConf,
    MapElitesConf,
    ParetoConf,
    RandomConf,
    TopKConf,
    UCB1Conf,
)

GROUPS = ["sampler", "llm", "cognition", "analyzer", "executor", "run"]

#: What each option must compose to, written by hand: the schema its node is typed with
#: (``dict`` for a plugin option without a registered schema) and values that tell the
#: option apart from its group's others. A new option fails until it is added here.
EXPECTED: dict[tuple[str, str], tuple[type, dict[str, object]]] = {
    ("sampler", "greedy"): (GreedyConf, {"name": "greedy"}),
    ("sampler", "island"): (IslandConf, {"name": "island"}),
    ("sampler", "map_elites"): (MapElitesConf, {"name": "map_elites"}),
    ("sampler", "pareto"): (ParetoConf, {"name": "pareto", "objectives": ["score"]}),
    ("sampler", "random"): (RandomConf, {"name": "random"}),
    ("sampler", "top_k"): (TopKConf, {"name": "top_k"}),
    ("sampler", "ucb1"): (UCB1Conf, {"name": "ucb1"}),
    ("llm", "offline"): (OfflineLLMConf, {"name": "offline"}),
    ("llm", "openai"): (OpenAILLMConf, {"name": "openai"}),
    ("llm", "replay"): (ReplayLLMConf, {"name": "replay"}),
    ("llm", "local"): (LocalLLMConf, {"name": "local", "backend": "auto", "model_path": None}),
    ("cognition", "default"): (CognitionConf, {"enabled": True, "backend": "hashing"}),
    ("cognition", "none"): (CognitionConf, {"enabled": False}),
    ("cognition", "minilm"): (
        MiniLMConf,
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


@pytest.mark.parametrize("task", group_options("task"))
def test_every_task_composes_typed_by_its_schema(task):
    cfg = compose_config(f"+task={task}")
    assert OmegaConf.get_type(cfg.task) is plugins.get_task(task).config_schema
    assert cfg.task.name == task


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


@pytest.mark.parametrize("override", ["task.sleep=1", "task.timeout_s=soon", "task.nmae=toy"])
def test_task_keys_are_checked_at_composition(override):
    with pytest.raises((ConfigCompositionException, ConfigKeyError, ValidationError)):
        compose_config("+task=toy", override)


def test_a_task_config_is_typed_by_the_tasks_schema():
    cfg = compose_config("+task=toy", "task.cascade_threshold=2")
    assert OmegaConf.get_type(cfg.task) is ToyConf
    assert cfg.task.cascade_threshold == 2.0 and cfg.task.max_processes is None


def test_defaults():
    cfg = compose_config("+task=toy")
    assert cfg.sampler.name == "ucb1" and cfg.llm.name == "offline"
    assert cfg.run.workers == 2 and cfg.seed == 0
