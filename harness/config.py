"""Schemas for every config group, stored in Hydra's ConfigStore.

Each option YAML under ``harness/conf/<group>/`` lists its schema first in its defaults
(``/harness_schema/<group>/<option>@_here_``), so a misspelled key or a wrong type fails
when Hydra composes the config, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf


@dataclass
class UCB1Conf:
    name: str = "ucb1"
    c: float = 1.414


@dataclass
class IslandConf:
    name: str = "island"
    islands: int = 5
    migration_interval: int = 10
    migration_rate: float = 0.1
    exploration_ratio: float = 0.2
    exploitation_ratio: float = 0.6
    elite_k: int = 5
    tournament: int = 3


class EliteSelection(str, Enum):
    uniform = "uniform"
    curiosity = "curiosity"


@dataclass
class MapElitesConf:
    name: str = "map_elites"
    descriptors: list[str] | None = None
    bins: int = 10
    selection: EliteSelection = EliteSelection.uniform


@dataclass
class TopKConf:
    name: str = "top_k"
    parent_k: int = 10
    pool_k: int = 50


@dataclass
class GreedyConf:
    name: str = "greedy"


@dataclass
class RandomConf:
    name: str = "random"


@dataclass
class OfflineLLMConf:
    name: str = "offline"
    scale: float = 0.1
    max_changes: int = 3
    int_weight: float = 0.2
    recombine_prob: float = 0.2


class TokensParam(str, Enum):
    max_tokens = "max_tokens"
    max_completion_tokens = "max_completion_tokens"


class EditMode(str, Enum):
    diff = "diff"
    full = "full"


class EnsemblePolicy(str, Enum):
    """How ``llm.ensemble`` picks the researcher model of a round."""

    weights = "weights"
    bandit = "bandit"


@dataclass
class OpenAILLMConf:
    name: str = "openai"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = 0.7
    top_p: float | None = None
    max_tokens: int | None = 4096
    max_tokens_param: TokensParam = TokensParam.max_tokens
    reasoning_effort: str | None = None
    seed: int | None = None
    omit_params: list[str] = field(default_factory=list)
    timeout_s: float = 120.0
    max_retries: int = 2
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_call_s: float = 600.0
    edit_mode: EditMode = EditMode.diff
    max_code_chars: int = 100_000
    prompt_budget_chars: int = 60_000
    extra_body: dict[str, Any] = field(default_factory=dict)
    usd_per_mtok_in: float | None = None
    usd_per_mtok_out: float | None = None
    prompts_dir: str | None = None
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The researcher as several models: each member is a dict of llm settings (usually
    # model and prices) plus an optional weight; see harness/llm/ensemble.py.
    ensemble: list[dict[str, Any]] = field(default_factory=list)
    ensemble_policy: EnsemblePolicy = EnsemblePolicy.weights


@dataclass
class ReplayLLMConf:
    """``llm=replay``: answer from the run recorded in ``source`` (a run directory)."""

    name: str = "replay"
    source: str | None = None


@dataclass
class CognitionConf:
    """The cognition base; every key is documented in harness/conf/cognition/default.yaml."""

    enabled: bool = True
    backend: str = "hashing"
    k: int = 4
    threshold: float = 0.1
    lexical_weight: float = 0.5
    dim: int = 512
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    batch_size: int = 64
    timeout_s: float = 60.0
    device: str | None = None
    dedupe_threshold: float = 0.9
    write_back: bool = True
    files: list[str] = field(default_factory=list)


class AnalyzerMode(str, Enum):
    auto = "auto"
    deterministic = "deterministic"
    none = "none"


@dataclass
class AnalyzerConf:
    mode: AnalyzerMode = AnalyzerMode.auto


@dataclass
class LocalExecutorConf:
    name: str = "local"
    processes: int | None = None


@dataclass
class DaskExecutorConf:
    """``executor=dask``: a loopback LocalCluster, or the scheduler at ``address``."""

    name: str = "dask"
    address: str | None = None
    n_workers: int | None = None
    resources: dict[str, float] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    memory_limit: str | None = None
    allowed_failures: int = 1


@dataclass
class RunConf:
    max_evaluations: int | None = 100
    max_rounds: int | None = None
    target_score: float | None = None
    max_seconds: float | None = None
    workers: int = 2
    buffer: int | None = None
    context_nodes: int = 3
    max_consecutive_failures: int = 25
    dedupe: bool = True
    max_cost_usd: float | None = None
    llm_pause_s: float = 30.0
    max_llm_outage_s: float | None = 3600.0
    repair_attempts: int = 0
    repair_errors: list[str] = field(
        default_factory=lambda: ["exception", "syntax", "missing_entry", "unserializable"]
    )


SCHEMAS: dict[str, dict[str, type]] = {
    "sampler": {
        "ucb1": UCB1Conf,
        "greedy": GreedyConf,
        "random": RandomConf,
        "island": IslandConf,
        "map_elites": MapElitesConf,
        "top_k": TopKConf,
    },
    "llm": {"offline": OfflineLLMConf, "openai": OpenAILLMConf, "replay": ReplayLLMConf},
    "cognition": {"default": CognitionConf, "none": CognitionConf},
    "analyzer": {"auto": AnalyzerConf, "deterministic": AnalyzerConf, "none": AnalyzerConf},
    "executor": {"local": LocalExecutorConf, "dask": DaskExecutorConf},
    "run": {"default": RunConf},
}


#: Numbers a run cannot work with outside their range, checked before a run directory exists
#: (schemas check types only): key -> (lowest value, whether the lowest itself is allowed,
#: what the number is). ``null`` stays allowed where the schema allows it (no limit).
RANGES: dict[str, tuple[float, bool, str]] = {
    "run.max_evaluations": (1, True, "evaluations, the seed's included"),
    "run.max_rounds": (0, True, "rounds"),
    "run.max_seconds": (0, False, "seconds"),
    "run.max_cost_usd": (0, True, "US dollars"),
    "run.workers": (1, True, "rounds evaluated at once"),
    "run.buffer": (0, True, "rounds proposed ahead"),
    "run.context_nodes": (1, True, "nodes shown to the LLM"),
    "run.max_consecutive_failures": (0, True, "rounds; 0 is no limit"),
    "run.llm_pause_s": (0, True, "seconds"),
    "run.max_llm_outage_s": (0, True, "seconds"),
    "run.repair_attempts": (0, True, "attempts"),
    "task.timeout_s": (0, False, "seconds per evaluation"),
    # Below about 64 MiB the sandboxed Python interpreter cannot even start.
    "task.memory_mb": (64, True, "MiB per candidate; Python needs about 64 to start"),
    "task.max_processes": (1, True, "processes per candidate"),
}


def range_problems(cfg: DictConfig) -> list[str]:
    """What in ``cfg`` is out of :data:`RANGES`, one message per key, naming the key and the
    allowed range (a negative budget or a 1 MiB memory limit would only fail later, oddly)."""
    problems = []
    for key, (low, inclusive, unit) in RANGES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and (value >= low if inclusive else value > low):
            continue
        bound = f"at least {low:g}" if inclusive else f"above {low:g}"
        problems.append(f"{key}={value} is out of range: it must be a number {bound} ({unit})")
    return problems


def register_schemas() -> None:
    """Put every schema into the ConfigStore under ``harness_schema/<group>/<option>``."""
    store = ConfigStore.instance()
    for group, options in SCHEMAS.items():
        for option, node in options.items():
            store.store(group=f"harness_schema/{group}", name=option, node=node, package=group)


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose the primary config with the Compose API (``eval``, ``resume`` and tests;
    ``harness run`` goes through ``@hydra.main`` instead)."""
    register_schemas()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)
