"""Where config groups come from: the core's ``conf/`` plus each plugin's ``conf/``.

Import-light on purpose: Hydra imports the search-path plugin that uses this module
every time any Hydra application starts.
"""

from __future__ import annotations

import importlib.util
import os
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from pathlib import Path


def allowed_entry_points() -> list[EntryPoint]:
    """Entry points of the group ``harness`` that ``HARNESS_LOAD_PLUGINS`` lets load.

    The variable lists entry-point or distribution names; unset loads all, empty none.
    """
    raw = os.environ.get("HARNESS_LOAD_PLUGINS")
    allowed = None if raw is None else {p.strip() for p in raw.split(",") if p.strip()}
    return [
        ep
        for ep in entry_points(group="harness")
        if allowed is None
        or ep.name in allowed
        or (ep.dist is not None and ep.dist.name in allowed)
    ]


def extra_plugin_modules() -> list[str]:
    """Modules named in ``HARNESS_PLUGINS``, registered without packaging."""
    return [p.strip() for p in os.environ.get("HARNESS_PLUGINS", "").split(",") if p.strip()]


def plugin_conf_packages() -> list[str]:
    """``<package>.conf`` of every allowed entry point and ``HARNESS_PLUGINS`` module."""
    modules = [ep.module for ep in allowed_entry_points()] + extra_plugin_modules()
    found = []
    for module in modules:
        package = f"{module.split('.')[0]}.conf"
        try:
            if importlib.util.find_spec(package) is not None and package not in found:
                found.append(package)
        except ModuleNotFoundError:
            continue
    return found


def group_options(group: str) -> list[str]:
    """Every option of a config group, across the core and the allowed plugins."""
    roots = [Path(str(files("harness") / "conf"))]
    for package in plugin_conf_packages():
        roots.append(Path(str(files(package))))
    options = {p.stem for root in roots for p in (root / group).glob("*.yaml")}
    return sorted(options)
