"""The schema of ``cognition=minilm``: the core's cognition keys plus sentence-transformers'."""

from __future__ import annotations

from dataclasses import dataclass

from harness.cognition.schemas import CognitionConf


@dataclass
class MiniLMConf(CognitionConf):
    """``CognitionConf`` with the sentence-transformers back-end and its ``device``."""

    backend: str = "sentence_transformers"
    threshold: float = 0.2
    #: cpu, cuda, ...; null: the library's choice (CUDA when torch sees a GPU).
    device: str | None = None
