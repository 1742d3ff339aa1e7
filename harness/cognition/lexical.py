"""Word-overlap relevance (TF-IDF cosine) to add to the embedding similarity.

Sentence embedders such as all-MiniLM-L6-v2 match meanings but blur the rare, exact
tokens a researcher's question shares with the right item: a function name (``pdist``,
``SLSQP``), a metric (``boundary_fraction``), a size (``n = 32``). TF-IDF weighs exactly
those tokens highest. Adding a weighted TF-IDF cosine to the embedding cosine (hybrid
retrieval) raised MiniLM's top-3 accuracy on the circle-packing questions from 0.84 to
0.91 (``plugins/backends/minilm/tests/test_minilm.py``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from harness.cognition.embedders import WORD


class LexicalIndex:
    """TF-IDF vectors of a growing set of texts, scored against queries by cosine.

    Term frequency is sublinear (``1 + log count``) and the inverse document frequency is
    ``log((1 + n) / (1 + df))``, so a word found in every text weighs nothing. Weights
    depend on the whole collection; they are recomputed, vectorised, on the first search
    after texts were added.
    """

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._terms: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._postings: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._terms)

    def add(self, texts: Iterable[str]) -> None:
        for text in texts:
            counts = Counter(WORD.findall(text.lower()))
            ids = [self._vocab.setdefault(word, len(self._vocab)) for word in counts]
            self._terms.append(np.asarray(ids, dtype=np.int64))
            self._counts.append(np.asarray(list(counts.values()), dtype=np.float64))
        self._postings = None

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """``(len(queries), len(self))`` cosine similarities, each in [0, 1]."""
        result = np.zeros((len(queries), len(self)), dtype=np.float32)
        if not len(self):
            return result
        starts, docs, weights, idf = self._index()
        for row, query in enumerate(queries):
            counts = Counter(
                self._vocab[w] for w in WORD.findall(query.lower()) if w in self._vocab
            )
            if not counts:
                continue
            terms = np.fromiter(counts, dtype=np.int64)
            query_weights = 1 + np.log(np.fromiter(counts.values(), dtype=np.float64))
            query_weights *= idf[terms]
            norm = math.sqrt(float(query_weights @ query_weights))
            if norm == 0:
                continue
            for term, weight in zip(terms, query_weights / norm, strict=True):
                span = slice(starts[term], starts[term + 1])
                result[row, docs[span]] += weight * weights[span]
        return result

    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Postings sorted by term (start offset per term, document, normalised weight),
        then the inverse document frequency of each term."""
        if self._postings is None:
            terms = np.concatenate(self._terms)
            docs = np.repeat(np.arange(len(self._terms)), [t.size for t in self._terms])
            frequency = np.bincount(terms, minlength=len(self._vocab))
            idf = np.log((1 + len(self)) / (1 + frequency))
            weights = (1 + np.log(np.concatenate(self._counts))) * idf[terms]
            norms = np.sqrt(np.bincount(docs, weights=weights**2, minlength=len(self)))
            norms = norms[docs]
            weights = np.divide(weights, norms, out=np.zeros_like(weights), where=norms > 0)
            order = np.argsort(terms, kind="stable")
            starts = np.searchsorted(terms[order], np.arange(len(self._vocab) + 1))
            self._postings = (starts, docs[order], weights[order], idf)
        return self._postings
