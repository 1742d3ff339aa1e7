"""Command-line overrides, read with Hydra's own parser, and the config they compose.

The commands that compose a config themselves (``eval``, ``resume``, ``llm check``,
``cognition``) and ``harness run`` before it hands over to ``@hydra.main`` check overrides
here first, so a missing task or a misspelled option fails with a hint instead of a
Hydra trace. Errors are :class:`OverrideError`; the commands report them as usage errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, QuotedString
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness import plugins
from harness.config import compose_config, range_problems
from harness.confpaths import group_options

#: The config groups whose options are checked before composing (with "did you mean").
GROUPS = ("task", "sampler", "llm", "cognition", "analyzer", "executor", "logger", "run", "novelty")

_parser = OverridesParser.create()


class OverrideError(ValueError):
    """An override that names nothing installed, does not parse or does not compose."""


def parse(item: str) -> Override:
    """``item`` as Hydra reads it, or an :class:`OverrideError` with Hydra's message."""
    try:
        return _parser.parse_overrides([item])[0]
    except HydraException as exc:
        raise OverrideError(f"Bad override: {exc}") from exc


def read(item: str) -> Override | None:
    """``item`` parsed, or None when Hydra does not read it as an override (free text, a
    flag such as ``-m`` or a flag's value)."""
    try:
        return parse(item)
    except OverrideError:
        return None


def parsed(items: Sequence[str]) -> Iterator[Override]:
    """The items that are overrides, parsed; the rest is left to whoever reads it."""
    return (override for override in map(read, items) if override is not None)


def key(override: Override) -> str:
    """What an override sets, without its ``+``/``++``/``~``: ``task``, ``llm@roles.x``..."""
    return override.get_key_element().lstrip("+~")


def merge(saved: Sequence[str], new: Sequence[str]) -> list[str]:
    """``saved`` less what ``new`` sets again, then ``new``: the later override wins."""
    replaced = {key(parse(item)) for item in new}
    return [item for item in saved if key(parse(item)) not in replaced] + list(new)


def _element_text(value: Any) -> str | None:
    """A group option as text; None for what cannot be checked here (an interpolation)."""
    text = value.text if isinstance(value, QuotedString) else str(value)
    return None if "${" in text else text


def _options(override: Override) -> list[str]:
    """The group options an override selects; empty for a sweep Hydra expands itself
    (``glob``, ``range``) and for ``null``."""
    value = override.value()
    values: list[Any]
    if isinstance(value, ChoiceSweep):
        values = list(value.list)
    elif override.is_sweep_override() or value is None:
        return []
    else:
        values = list(value) if isinstance(value, list) else [value]
    return [text for text in map(_element_text, values) if text is not None]


def check_overrides(overrides: Sequence[str], require_task: bool = True) -> None:
    """Catch a missing task or an unknown group option before Hydra starts, with hints."""
    seen_task = False
    for override in parsed(overrides):
        group = override.key_or_group
        if group not in GROUPS or override.value_type is None:
            continue
        seen_task |= group == "task"
        choices = group_options(group)
        for option in _options(override):
            if group == "task" and option in choices and option not in plugins.task_names():
                raise OverrideError(
                    f"Task {option!r} has a config file but no installed plugin registers it."
                )
            if option not in choices:
                kind = "task" if group == "task" else f"{group} option"
                raise OverrideError(
                    f"Unknown {kind} {option!r}." + plugins.did_you_mean(option, choices)
                )
    if require_task and not seen_task:
        raise OverrideError(
            "No task selected: add +task=NAME, e.g. `harness run +task=circle_packing`."
            + plugins.did_you_mean("", group_options("task")).replace(" Available", " Installed")
        )


def compose(overrides: Sequence[str]) -> DictConfig:
    """The composed config; an :class:`OverrideError` for an override that does not apply
    or a value out of range (before anything runs with it)."""
    try:
        cfg = compose_config(list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise OverrideError(f"Bad override: {exc}") from exc
    check_ranges(cfg)
    return cfg


def check_ranges(cfg: DictConfig) -> None:
    """An :class:`OverrideError` naming every value out of its range (``config.RANGES``)."""
    problems = range_problems(cfg)
    if problems:
        raise OverrideError("; ".join(problems))


def section(cfg: DictConfig, name: str) -> dict[str, Any]:
    """One config section as a plain dict (what tasks and back-ends receive)."""
    value = OmegaConf.to_container(cfg[name], resolve=True, enum_to_str=True)
    if not isinstance(value, dict):
        raise OverrideError(f"{name} is not a config section: {value!r}")
    return {str(k): v for k, v in value.items()}
