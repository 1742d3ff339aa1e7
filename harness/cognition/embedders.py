"""Text embedders: the :class:`Embedder` protocol and the two built-in back-ends.

``hashing`` needs nothing beyond numpy, so retrieval works in any install; ``openai``
calls the embeddings API of any OpenAI-compatible endpoint. Heavier local models (the
``sentence_transformers`` back-end of the ``harness-minilm`` plugin) plug in through
:func:`harness.hookspecs.harness_register_embedders`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import openai

WORD = re.compile(r"[a-z0-9]+")


class EmbeddingError(RuntimeError):
    """An embedding back-end failed (endpoint down, wrong model, malformed answer)."""


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors, so a dot product is a cosine.

    ``name`` identifies the vector space (back-end and model, e.g.
    ``sentence_transformers:all-MiniLM-L6-v2``): stored vectors are reused only under the
    same name, so two embedders with one name must give the same vectors.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int | None:
        """The vector size; ``None`` while unknown (an endpoint's model before a call)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An ``(len(texts), dim)`` float32 array of unit rows."""


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (all-zero rows stay zero) as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms == 0.0, 1.0, norms), dtype=np.float32)


class HashingEmbedder:
    """Signed feature hashing of word unigrams, bigrams and character trigrams.

    No model and deterministic across machines: the fallback when no real model is
    installed, and fast enough for tests. It matches words, not meanings.
    """

    def __init__(self, dim: int = 512) -> None:
        if dim <= 0:
            raise ValueError(f"cognition.dim must be positive, not {dim}")
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hashing:{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    @staticmethod
    def _features(text: str) -> Iterator[str]:
        words = WORD.findall(text.lower())
        yield from words
        yield from (f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
        for word in words:
            padded = f"#{word}#"
            yield from (f"3:{padded[i : i + 3]}" for i in range(len(padded) - 2))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self._dim
                out[row, index] += 1.0 if digest[4] & 1 else -1.0
        return normalise_rows(out)


class OpenAIEmbedder:
    """The embeddings API of any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, TEI).

    Texts go in requests of ``batch_size``; the SDK retries ``max_retries`` times on
    connection errors, 429 and 5xx. The key is read from the variable ``api_key_env``;
    when it is unset ``"EMPTY"`` is sent, which local servers accept.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 64,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if not model:
            raise ValueError(
                "cognition.backend=openai needs cognition.model "
                "(e.g. cognition.model=text-embedding-3-small)"
            )
        if batch_size <= 0:
            raise ValueError(f"cognition.batch_size must be positive, not {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self._dim: int | None = None
        import openai  # the SDK is 0.3 s of imports: only a run that embeds through it pays

        self._client = openai.OpenAI(
            base_url=base_url or None,
            api_key=os.environ.get(api_key_env or "") or "EMPTY",
            timeout=timeout_s,
            max_retries=max_retries,
        )

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        chunks = [
            self._request(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        if not chunks:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        return normalise_rows(np.concatenate(chunks))

    def _request(self, texts: list[str]) -> np.ndarray:
        # An empty string is rejected by some servers; a single space embeds "nothing".
        import openai

        inputs = [text if text.strip() else " " for text in texts]
        where = f"{self.base_url} (model {self.model!r})"
        try:
            response = self._client.embeddings.create(
                model=self.model, input=inputs, encoding_format="float"
            )
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"embedding request to {where} failed with HTTP {exc.status_code}: {_message(exc)}"
            ) from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"embedding endpoint {where} unreachable: {exc}") from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise EmbeddingError(
                f"embedding endpoint {where} returned {len(data)} vectors for {len(texts)} texts"
            )
        vectors = np.asarray([item.embedding for item in data], dtype=np.float32)
        if vectors.ndim != 2 or (self._dim is not None and vectors.shape[1] != self._dim):
            raise EmbeddingError(
                f"embedding endpoint {where} returned vectors of shape {vectors.shape}, "
                f"expected ({len(texts)}, {self._dim})"
            )
        self._dim = vectors.shape[1]
        return vectors


def _message(exc: openai.APIStatusError) -> str:
    body: Any = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)
