"""Where config groups come from: the user's ``conf/``, the core's, then each plugin's.

The user's directory (:func:`user_conf_dir`: ``$HARNESS_CONF_DIR``, else ``./conf``) comes
first, so a copy of a packaged config edited there wins over the original. Import-light on
purpose: Hydra imports the search-path plugin that uses this module every time any Hydra
application starts.
"""

from __future__ import annotations

import importlib.util
import os
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from pathlib import Path

CONF_DIR_ENV = "HARNESS_CONF_DIR"
"""Names the user's config directory; set but empty, no user directory is searched."""

CORE_CONF = frozenset({"pkg://harness.conf", "pkg://harness/conf"})
"""The core's config directory on Hydra's search path, as the Compose API and
``@hydra.main`` name it."""


def user_conf_dir() -> Path | None:
    """The user's config directory: ``$HARNESS_CONF_DIR`` (relative to the working
    directory; Hydra warns when it is missing), else ``./conf`` if there is one."""
    raw = os.environ.get(CONF_DIR_ENV)
    if raw is not None:
        return Path(raw).expanduser().resolve() if raw.strip() else None
    local = Path.cwd() / "conf"
    return local.resolve() if local.is_dir() else None


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
    """Every option of a config group, across the user's directory, the core and the
    allowed plugins."""
    user = user_conf_dir()
    roots = [user] if user is not None else []
    roots.append(Path(str(files("harness") / "conf")))
    for package in plugin_conf_packages():
        roots.append(Path(str(files(package))))
    options = {p.stem for root in roots for p in (root / group).glob("*.yaml")}
    return sorted(options)
