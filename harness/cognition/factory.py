"""Build the configured cognition base from the ``cognition`` config group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from harness import plugins
from harness.cognition.base import CognitionBase
from harness.cognition.schemas import CognitionConf


def make_cognition(config: CognitionConf | Mapping[str, Any]) -> CognitionBase | None:
    """The cognition base over the embedder named by ``backend``, or ``None`` when
    ``enabled`` is false (``cognition=none``).

    ``config`` is the typed group (a run's) or a mapping of some of its keys (a command's
    recorded or composed config), the schema's defaults standing in for the rest. The
    embedder's factory receives the settings as a dict (the plugin contract).

    Raises :class:`harness.plugins.UnknownNameError` for a back-end no plugin registered
    and ``ValueError`` for settings the back-end rejects.
    """
    given = asdict(config) if isinstance(config, CognitionConf) else dict(config)
    settings = {**asdict(CognitionConf()), **given}
    if not settings["enabled"]:
        return None
    factory = plugins.get_embedder_factory(str(settings["backend"]))
    return CognitionBase(factory(settings), float(settings["lexical_weight"]))
