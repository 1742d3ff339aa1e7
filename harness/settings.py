"""A run's configuration, typed and checked before a run directory is touched, and the
plugins it names, built.

The core's groups become their schema objects (``RunConf``, ``CognitionConf``,
``AnalyzerConf``), so defaults live in the schemas alone. The task config stays a plain
dict (it crosses to evaluation workers), and plugin factories (sampler, proposer,
executor, embedder, logger) receive dicts: that is their contract.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness import plugins
from harness.cognition import CognitionBase, make_cognition
from harness.config import AnalyzerConf, AnalyzerMode, CognitionConf, RunConf, range_problems
from harness.llm.base import Proposer
from harness.redact import declare as declare_secrets
from harness.samplers.base import Sampler
from harness.sandbox import MODES, Limits
from harness.task import TaskSpec
from harness.tasks import RunError, task_limits

T = TypeVar("T")


def _typed(node: Any, schema: type[T]) -> T:
    """``node`` as its schema's object; a group option without a schema is checked against
    ``schema`` here (an unknown key or a wrong type is a :class:`RunError`)."""
    try:
        value = OmegaConf.to_object(node)
        if not isinstance(value, schema):
            value = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))
    except OmegaConfBaseException as exc:
        raise RunError(str(exc)) from exc
    return cast(T, value)


def _plain(node: Any) -> dict[str, Any]:
    """A group as the plain dict a plugin factory receives (enums as their names)."""
    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=True, enum_to_str=True))


def _key_variables(config: Any) -> list[str]:
    """Every ``api_key_env`` named anywhere in a config: the variables holding its keys."""
    if isinstance(config, dict):
        found = [str(v) for k, v in config.items() if k == "api_key_env" and v]
        return found + [name for v in config.values() for name in _key_variables(v)]
    if isinstance(config, list):
        return [name for v in config for name in _key_variables(v)]
    return []


@dataclass(frozen=True)
class RunSettings:
    """Everything a run reads from its composed config."""

    cfg: DictConfig
    run: RunConf
    cognition: CognitionConf
    analyzer: AnalyzerMode
    task: dict[str, Any]
    llm: dict[str, Any]
    sampler: dict[str, Any]
    executor: dict[str, Any]
    logger: dict[str, Any]
    seed: int
    sandbox: str

    @classmethod
    def from_config(cls, cfg: DictConfig) -> RunSettings:
        """Check and type ``cfg``; a :class:`RunError` names what is wrong."""
        if "task" not in cfg or cfg.task is None:
            raise RunError(
                "No task selected. Add +task=NAME." + plugins.did_you_mean("", plugins.task_names())
            )
        problems = range_problems(cfg)
        if problems:
            raise RunError("; ".join(problems))
        sandbox = str(cfg.get("sandbox") or "auto")
        if sandbox not in MODES:
            raise RunError(
                f"sandbox={sandbox} is not a sandbox mode ({', '.join(MODES)})."
                + plugins.did_you_mean(sandbox, list(MODES))
            )
        return cls(
            cfg=cfg,
            run=_typed(cfg.run, RunConf),
            cognition=_typed(cfg.cognition, CognitionConf),
            analyzer=_typed(cfg.analyzer, AnalyzerConf).mode,
            task=_plain(cfg.task),
            llm=_plain(cfg.llm),
            sampler=_plain(cfg.sampler),
            executor=_plain(cfg.executor),
            logger=_plain(cfg.logger) if cfg.get("logger") is not None else {"name": "none"},
            seed=int(cfg.get("seed", 0)),
            sandbox=sandbox,
        )

    @property
    def buffer(self) -> int:
        """Rounds proposed ahead of a free evaluation slot. One worker and no buffer make a
        run reproducible (every round sees all earlier ones), so that is the default."""
        if self.run.buffer is not None:
            return self.run.buffer
        return 0 if self.run.workers == 1 else max(1, self.run.workers // 4)

    def seed_name(self, spec: TaskSpec) -> str:
        """The seed program the run starts from (``task.seed_program``, else the first)."""
        name = str(self.task.get("seed_program") or (spec.seeds or ("",))[0])
        if name not in spec.seeds:
            raise RunError(
                f"Unknown seed program {name!r} for task {spec.name!r}."
                + plugins.did_you_mean(name, list(spec.seeds))
            )
        return name

    def limits(self, spec: TaskSpec, run_dir: Path) -> Limits:
        """A candidate's limits, with the run's sandbox mode and its directory hidden from
        candidates (it may lie outside the working directory, which is hidden anyway)."""
        return replace(
            task_limits(self.task, spec),
            sandbox=self.sandbox,
            hidden=(str(run_dir.resolve()),),
        )


class Parts(NamedTuple):
    """The plugins a run is made of, besides its task."""

    proposer: Proposer
    sampler: Sampler
    cognition: CognitionBase | None


def build_parts(settings: RunSettings, spec: TaskSpec) -> Parts:
    """Create the proposer, the sampler and the cognition base; the keys the config names
    are declared secret first, so no log or store ever shows them."""
    declare_secrets(_key_variables([settings.llm, asdict(settings.cognition)]))
    try:
        proposer = plugins.get_proposer_factory(settings.llm["name"])(settings.llm)
        sampler = plugins.get_sampler_factory(settings.sampler["name"])(
            settings.sampler, settings.seed, task=spec
        )
        cognition = make_cognition(settings.cognition)
    except (plugins.UnknownNameError, ValueError) as exc:
        raise RunError(str(exc)) from exc
    return Parts(proposer, sampler, cognition)
