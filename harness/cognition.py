"""The cognition base: prior knowledge retrieved by embedding similarity each round.

Items come from the task plugin (``TaskSpec.cognition``) and live in the run's
``cognition`` table. This module ships the dependency-free ``hashing`` embedding
(signed feature hashing of word unigrams, bigrams and character trigrams), so the core
stays light; heavier back-ends plug in behind :class:`Embedder`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlite_utils

from harness.llm.base import NodeView
from harness.task import CognitionItem

_WORD = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class HashingEmbedder:
    """Deterministic bag-of-features vectors; no model, no dependency, L2-normalised."""

    name = "hashing"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def _features(self, text: str) -> Iterable[str]:
        words = _WORD.findall(text.lower())
        yield from words
        yield from (f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
        for word in words:
            padded = f"#{word}#"
            yield from (f"3:{padded[i : i + 3]}" for i in range(len(padded) - 2))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vec = [0.0] * self.dim
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dim
                vec[index] += 1.0 if digest[4] & 1 else -1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            vectors.append([v / norm for v in vec])
        return vectors


@dataclass(frozen=True)
class Hit:
    id: int
    item: CognitionItem
    similarity: float


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


class CognitionBase:
    """Items plus their embeddings, loaded from and stored in the run database."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.ids: list[int] = []
        self.items: list[CognitionItem] = []
        self.vectors: list[list[float]] = []

    def load(self, db: sqlite_utils.Database, seeds: Sequence[CognitionItem]) -> None:
        """Store the task's seed items once (de-duplicated by text), then load all items."""
        table = db["cognition"]
        known = {_normalise(row["content"]) for row in table.rows}
        fresh = []
        for item in seeds:
            key = _normalise(item.content)
            if key and key not in known:
                known.add(key)
                fresh.append(item)
        if fresh:
            vectors = self.embedder.embed([item.content for item in fresh])
            table.insert_all(
                {
                    "content": item.content,
                    "source": item.source,
                    "metadata": json.dumps(item.metadata),
                    "embedding": json.dumps({"backend": self.embedder.name, "vector": vec}),
                }
                for item, vec in zip(fresh, vectors, strict=True)
            )
        for row in table.rows_where(order_by="id"):
            stored = json.loads(row["embedding"]) if row["embedding"] else {}
            vector = stored.get("vector")
            if stored.get("backend") != self.embedder.name or vector is None:
                vector = self.embedder.embed([row["content"]])[0]
            self.ids.append(row["id"])
            self.items.append(
                CognitionItem(row["content"], row["source"] or "", json.loads(row["metadata"]))
            )
            self.vectors.append(vector)

    def search(self, queries: Sequence[str], k: int, threshold: float) -> list[Hit]:
        """Top ``k`` items over all queries above ``threshold``, each item at most once."""
        queries = [q for q in queries if q.strip()]
        if not queries or not self.items or k <= 0:
            return []
        best: dict[int, float] = {}
        for qvec in self.embedder.embed(queries):
            for index, vec in enumerate(self.vectors):
                sim = _cosine(qvec, vec)
                if sim >= threshold and sim > best.get(index, -math.inf):
                    best[index] = sim
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
        hits: list[Hit] = []
        seen_text: set[str] = set()
        for index, sim in ranked:
            text = _normalise(self.items[index].content)
            if text in seen_text:
                continue
            seen_text.add(text)
            hits.append(Hit(self.ids[index], self.items[index], sim))
            if len(hits) == k:
                break
        return hits


def build_queries(nodes: Sequence[NodeView], max_chars: int = 1000) -> list[str]:
    """One query per sampled node: its analysis, else its motivation, else its feedback."""
    queries = []
    for node in nodes:
        text = node.analysis or node.motivation or node.feedback
        if text:
            queries.append(text[:max_chars])
    return queries


def make_cognition(config: dict[str, Any]) -> CognitionBase | None:
    """Build the configured cognition base, or ``None`` for ``cognition=none``."""
    if not config.get("enabled", True):
        return None
    backend = config.get("backend", "hashing")
    if backend != "hashing":
        raise ValueError(f"Unknown cognition backend {backend!r}. Available: hashing.")
    return CognitionBase(HashingEmbedder(int(config.get("dim", 512))))
