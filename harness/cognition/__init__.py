"""The cognition base: prior knowledge and lessons, retrieved by embedding similarity.

Items come from the task plugin (``TaskSpec.cognition``) and from write-back; they and
their vectors live in the run database. The core ships the ``hashing`` and ``openai``
embedders; others (``sentence_transformers`` in ``harness-minilm``) are plugins. See
docs/cognition.md.
"""

from harness.cognition.base import CognitionBase, Hit
from harness.cognition.embedders import Embedder, EmbeddingError, HashingEmbedder, OpenAIEmbedder
from harness.cognition.factory import make_cognition
from harness.cognition.queries import build_queries

__all__ = [
    "CognitionBase",
    "Embedder",
    "EmbeddingError",
    "HashingEmbedder",
    "Hit",
    "OpenAIEmbedder",
    "build_queries",
    "make_cognition",
]
