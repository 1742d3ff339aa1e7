"""The schema of the ``cognition`` config group, for the core's embedders.

Registered as ``harness_schema/cognition/<name>`` (harness/default_plugins/embedders.py).
A plugin whose embedder needs more keys subclasses :class:`CognitionConf` and registers
the subclass for its own option (``harness-minilm`` adds ``device``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EmbedderConf:
    """The keys an embedder back-end reads (:mod:`harness.cognition.embedders`), shared by
    every config group that embeds text (``cognition``, ``novelty``)."""

    backend: str = "hashing"
    dim: int = 512
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    batch_size: int = 64
    timeout_s: float = 60.0


@dataclass
class CognitionConf(EmbedderConf):
    """The cognition base; every key is documented in harness/conf/cognition/default.yaml."""

    enabled: bool = True
    k: int = 4
    threshold: float = 0.1
    lexical_weight: float = 0.5
    dedupe_threshold: float = 0.9
    write_back: bool = True
    files: list[str] = field(default_factory=list)
