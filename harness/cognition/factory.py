"""Build the configured cognition base from the ``cognition`` config group."""

from __future__ import annotations

from typing import Any

from harness import plugins
from harness.cognition.base import CognitionBase


def make_cognition(config: dict[str, Any]) -> CognitionBase | None:
    """The cognition base over the embedder named by ``backend``, or ``None`` when
    ``enabled`` is false (``cognition=none``).

    Raises :class:`harness.plugins.UnknownNameError` for a back-end no plugin registered
    and ``ValueError`` for settings the back-end rejects.
    """
    if not config.get("enabled", True):
        return None
    factory = plugins.get_embedder_factory(str(config.get("backend") or "hashing"))
    return CognitionBase(factory(config), float(config.get("lexical_weight", 0.0)))
