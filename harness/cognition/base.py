"""The cognition base: prior knowledge retrieved by embedding similarity each round.

All vectors of the configured back-end sit in one ``(n, dim)`` float32 matrix; a search
is one matrix product for every query at once, exact (no index), which stays in the
milliseconds up to about 100,000 items (``benchmarks/cognition_search.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import sqlite_utils

from harness.cognition import store
from harness.cognition.embedders import WORD, Embedder, EmbeddingError, normalise_rows
from harness.cognition.lexical import LexicalIndex
from harness.task import CognitionItem

EMBED_CHUNK = 256
"""Texts embedded and committed together, so a long re-embedding keeps its progress."""


@dataclass(frozen=True)
class Hit:
    id: int
    item: CognitionItem
    similarity: float


def normalise_text(text: str) -> str:
    """The form two items are compared in for exact duplicates (case, punctuation)."""
    return " ".join(WORD.findall(text.lower()))


class CognitionBase:
    """Items plus their embeddings, loaded from and stored in the run database.

    ``ids`` and ``items`` are parallel lists in id order (the loop maps stored
    ``cognition_ids`` back to items through them); each item carries its ``id``.
    ``lexical_weight`` adds that multiple of a TF-IDF cosine (:mod:`.lexical`) to every
    embedding cosine, so exact rare words shared with a query count too (0: embeddings
    only).
    """

    def __init__(self, embedder: Embedder, lexical_weight: float = 0.0) -> None:
        self.embedder = embedder
        self.lexical_weight = lexical_weight
        self._lexical = LexicalIndex()
        self.ids: list[int] = []
        self.items: list[CognitionItem] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._unique = np.zeros(0, dtype=bool)
        self._texts: set[str] = set()
        self._dim: int | None = embedder.dim

    def load(self, db: sqlite_utils.Database, seeds: Sequence[CognitionItem] = ()) -> None:
        """Load every stored item, embedding those without a vector under this back-end
        (in committed chunks), then store the task's seed items that are new by text."""
        backend = self.embedder.name
        rows = store.read_items(db, backend)
        stored = next((r.vector.size for r in rows if r.vector is not None), None)
        self._dim = self.embedder.dim or stored
        vectors: list[np.ndarray | None] = [
            r.vector if r.vector is not None and r.vector.size == self._dim else None for r in rows
        ]
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        for start in range(0, len(missing), EMBED_CHUNK):
            chunk = missing[start : start + EMBED_CHUNK]
            fresh = self._embed([rows[i].item.content for i in chunk])
            store.write_vectors(db, backend, [rows[i].id for i in chunk], fresh)
            for i, vector in zip(chunk, fresh, strict=True):
                vectors[i] = vector
        self.ids = [r.id for r in rows]
        self.items = [r.item for r in rows]
        self._lexical = LexicalIndex()
        self._lexical.add(item.content for item in self.items)
        self._matrix = (
            np.stack([v for v in vectors if v is not None])
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        self._texts = set()
        unique = []
        for item in self.items:
            key = normalise_text(item.content)
            unique.append(key not in self._texts)
            self._texts.add(key)
        self._unique = np.asarray(unique, dtype=bool)
        self.add(db, seeds)

    def add(
        self,
        db: sqlite_utils.Database,
        items: Sequence[CognitionItem],
        dedupe_threshold: float | None = None,
    ) -> list[int | None]:
        """Store new items with their embeddings; one id per input, ``None`` if skipped.

        An item is skipped when its text (case and punctuation ignored) is empty or already
        present, or when ``dedupe_threshold`` is set and its cosine similarity to a present
        item (or to one added earlier in this call) reaches it. ``source`` and ``metadata``
        are stored as given (e.g. a lesson's provenance).
        """
        result: list[int | None] = [None] * len(items)
        candidates = []
        seen = set(self._texts)
        for index, item in enumerate(items):
            key = normalise_text(item.content)
            if key and key not in seen:
                seen.add(key)
                candidates.append(index)
        if not candidates:
            return result
        for start in range(0, len(candidates), EMBED_CHUNK):
            chunk = candidates[start : start + EMBED_CHUNK]
            vectors = self._embed([items[i].content for i in chunk])
            keep = self._novel(vectors, dedupe_threshold)
            accepted = [index for index, kept in zip(chunk, keep, strict=True) if kept]
            if not accepted:
                continue
            new = [items[i] for i in accepted]
            ids = store.insert_items(db, self.embedder.name, new, vectors[keep])
            for index, item_id in zip(accepted, ids, strict=True):
                result[index] = item_id
            stored = [replace(item, id=item_id) for item, item_id in zip(new, ids, strict=True)]
            self._append(ids, stored, vectors[keep])
        return result

    def search(self, queries: Sequence[str], k: int, threshold: float) -> list[Hit]:
        """Top ``k`` items over all queries above ``threshold``, each item (and text) once.

        An item's score is its best similarity over the queries: the embedding cosine plus
        ``lexical_weight`` times the TF-IDF cosine. Ties go to the older item.
        """
        queries = [q for q in queries if q.strip()]
        if not queries or not self.ids or k <= 0:
            return []
        similarity = self._matrix @ self._embed(queries).T
        if self.lexical_weight:
            similarity += self.lexical_weight * self._lexical.scores(queries).T
        best = similarity.max(axis=1)
        eligible = np.flatnonzero((best >= threshold) & self._unique)
        if eligible.size > k:
            kth = np.partition(best[eligible], eligible.size - k)[eligible.size - k]
            eligible = eligible[best[eligible] >= kth]
        ranked = eligible[np.lexsort((eligible, -best[eligible]))][:k]
        return [Hit(self.ids[i], self.items[i], float(best[i])) for i in ranked]

    def items_with_ids(self) -> list[tuple[int, CognitionItem]]:
        """Every item with its database id, in id order (for listing and export)."""
        return list(zip(self.ids, self.items, strict=True))

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """The embedder's vectors, checked against this base's vector size, re-normalised."""
        vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        shape_ok = vectors.ndim == 2 and vectors.shape[0] == len(texts)
        if not shape_ok or (self._dim is not None and vectors.shape[1] != self._dim):
            raise EmbeddingError(
                f"embedder {self.embedder.name} returned shape {vectors.shape} for "
                f"{len(texts)} texts, expected ({len(texts)}, {self._dim or 'dim'})"
            )
        self._dim = vectors.shape[1]
        return normalise_rows(vectors)

    def _novel(self, vectors: np.ndarray, threshold: float | None) -> np.ndarray:
        """Which rows stay below ``threshold`` in similarity to the base and earlier rows."""
        keep = np.ones(len(vectors), dtype=bool)
        if threshold is None:
            return keep
        if len(self._matrix):
            prior = (vectors @ self._matrix.T).max(axis=1)
        else:
            prior = np.full(len(vectors), -np.inf, dtype=np.float32)
        for row in range(len(vectors)):
            earlier = vectors[:row][keep[:row]]
            within = float((earlier @ vectors[row]).max()) if len(earlier) else -np.inf
            keep[row] = max(float(prior[row]), within) < threshold
        return keep

    def _append(self, ids: list[int], items: list[CognitionItem], vectors: np.ndarray) -> None:
        self.ids.extend(ids)
        self.items.extend(items)
        self._matrix = np.concatenate([self._matrix, vectors]) if len(self._matrix) else vectors
        self._unique = np.concatenate([self._unique, np.ones(len(ids), dtype=bool)])
        self._lexical.add(item.content for item in items)
        self._texts.update(normalise_text(item.content) for item in items)
