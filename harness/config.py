"""The core's own config schemas (``run``, ``analyzer``), value ranges, and composition.

Every other schema lives beside the code it configures and is registered through the
``harness_register_schemas`` hook (a task's is its ``Task.config_schema``). Each option YAML
lists its schema first in its defaults (``/harness_schema/<group>/<option>@_here_``), so
a misspelled key or a wrong type fails when Hydra composes the config, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from harness import plugins
from harness.cognition.schemas import CognitionConf

__all__ = [
    "AnalyzerConf",
    "AnalyzerMode",
    "CognitionConf",
    "ConfirmConf",
    "MetaConf",
    "RANGES",
    "RunConf",
    "compose_config",
    "range_problems",
    "register_schemas",
]


class AnalyzerMode(str, Enum):
    auto = "auto"
    deterministic = "deterministic"
    none = "none"


@dataclass
class AnalyzerConf:
    mode: AnalyzerMode = AnalyzerMode.auto


@dataclass
class ConfirmConf:
    """``run.confirm``: re-evaluate a would-be best of a stochastic task on fresh seeds before
    believing it (docs/noise.md). The fresh seeds are ``first_seed``, ``first_seed + 1``...,
    the same for every candidate and the seed program, so every comparison is paired."""

    enabled: bool = False
    #: Fresh seeds per confirmation.
    seeds: int = 4
    #: Seeds per re-evaluation (``None``: as many as the task's evaluation runs); after each
    #: batch a candidate whose whole interval of gain over the seed lies below 0 is dropped.
    batch: int | None = None
    first_seed: int = 1000
    #: ``None``: a positive mean gain over the seed program confirms; a level: only a gain
    #: significant at it (one-sided paired t-test) does.
    alpha: float | None = None
    #: The confidence level of intervals and of the final report's test.
    level: float = 0.95


@dataclass
class MetaConf:
    """``run.meta``: every ``every`` completed rounds the analyzer rewrites the run's
    meta-recommendations, shown to the researcher (0: off; docs/meta.md). ``best``: how many
    of the best nodes it is shown; the stored summary is cut to ``max_chars``."""

    every: int = 0
    best: int = 3
    max_chars: int = 4000


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
    confirm: ConfirmConf = field(default_factory=ConfirmConf)
    meta: MetaConf = field(default_factory=MetaConf)


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
    "run.confirm.seeds": (1, True, "fresh seeds per confirmation"),
    "run.confirm.batch": (1, True, "seeds per re-evaluation"),
    "run.confirm.alpha": (0, False, "a significance level"),
    "run.confirm.level": (0, False, "a confidence level"),
    "run.meta.every": (0, True, "completed rounds per version; 0 is off"),
    "run.meta.best": (1, True, "best nodes shown"),
    "run.meta.max_chars": (1, True, "characters"),
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
    """Put every registered schema into the ConfigStore as ``harness_schema/<group>/<option>``
    (loading the plugins first); call it before Hydra composes."""
    store = ConfigStore.instance()
    for (group, option), node in plugins.schemas().items():
        store.store(group=f"harness_schema/{group}", name=option, node=node, package=group)


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose the primary config with the Compose API (``eval``, ``resume`` and tests;
    ``harness run`` goes through ``@hydra.main`` instead)."""
    register_schemas()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)
