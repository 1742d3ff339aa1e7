"""Cognition search cost: exact numpy search over n stored items, and embedding throughput.

Fills an in-memory store with n random unit vectors (dim 384, as all-MiniLM-L6-v2) over
texts of 60 words drawn from a 20,000-word vocabulary, and times ``CognitionBase.search``
with a batch of 4 queries of 40 words and k = 4, the loop's default, for n = 1,000, 10,000
and 100,000: with embeddings only and with the default TF-IDF term (``lexical_weight``
0.5), whose index is rebuilt on the first search after items were added (timed apart).
The queries' own embedding is excluded (a fixed lookup), so the figure is the search
alone. Then, when the harness-minilm plugin is installed, the throughput of
all-MiniLM-L6-v2 on the circle-packing knowledge items, and of hashing.

    python benchmarks/cognition_search.py [--sizes 1000 10000 100000] [--repeats 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Sequence

import numpy as np
import sqlite_utils
from bench_env import add_json_option, write_json

from harness.cognition import CognitionBase, HashingEmbedder
from harness.cognition import store as cognition_store
from harness.task import CognitionItem

DIM = 384
WORDS = [f"w{i}" for i in range(20_000)]
QUERIES = [" ".join(np.random.default_rng(i).choice(WORDS, 40)) for i in range(4)]


class FixedQueries:
    """Returns precomputed vectors for the benchmark's queries (no model in the timing)."""

    name = "bench"
    dim = DIM

    def __init__(self, rng: np.random.Generator) -> None:
        vectors = rng.normal(size=(len(QUERIES), DIM)).astype(np.float32)
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.vectors[[QUERIES.index(t) for t in texts]]


def filled_base(
    n: int, rng: np.random.Generator, lexical_weight: float
) -> tuple[CognitionBase, float]:
    """A base over n stored items with random vectors; returns it and the load time."""
    db = sqlite_utils.Database(memory=True)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embedder = FixedQueries(rng)
    items = [CognitionItem(" ".join(rng.choice(WORDS, 60))) for _ in range(n)]
    cognition_store.insert_items(db, embedder.name, items, vectors)
    base = CognitionBase(embedder, lexical_weight)
    started = time.perf_counter()
    base.load(db)
    return base, time.perf_counter() - started


def search_latency(sizes: list[int], repeats: int, figures: dict[str, float]) -> None:
    rng = np.random.default_rng(0)
    print(f"exact search, dim {DIM}, {len(QUERIES)} queries, k=4 ({repeats} repeats)")
    for n in sizes:
        for lexical_weight in (0.0, 0.5):
            base, load_s = filled_base(n, rng, lexical_weight)
            started = time.perf_counter()
            base.search(QUERIES, k=4, threshold=-1.0)  # builds the TF-IDF postings
            first_s = time.perf_counter() - started
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                base.search(QUERIES, k=4, threshold=-1.0)
                times.append(time.perf_counter() - started)
            figures[f"search_ms_n{n}_lexical{lexical_weight}"] = 1e3 * statistics.median(times)
            print(
                f"  n={n:>7,} lexical_weight={lexical_weight}:"
                f" median {1e3 * statistics.median(times):7.2f} ms,"
                f" p95 {1e3 * sorted(times)[int(0.95 * (len(times) - 1))]:7.2f} ms"
                f"  (first search {first_s:.2f} s, load from the store {load_s:.2f} s,"
                f" matrix {n * DIM * 4 / 2**20:.0f} MiB)"
            )


def embedding_throughput(figures: dict[str, float]) -> None:
    from harness_circle_packing.cognition import COGNITION

    texts = [item.content for item in COGNITION] * 10
    embedders: list[object] = [HashingEmbedder()]
    if importlib.util.find_spec("harness_minilm") is None:
        print("harness-minilm is not installed: `make install-minilm` adds it")
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from harness_minilm.embedder import create

        started = time.perf_counter()
        minilm = create({})
        print(f"all-MiniLM-L6-v2 loaded in {time.perf_counter() - started:.1f} s")
        minilm.embed(texts[:8])  # warm-up
        embedders.insert(0, minilm)
    print(f"embedding {len(texts)} knowledge items (about 90 words each)")
    for embedder in embedders:
        started = time.perf_counter()
        embedder.embed(texts)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
        name = embedder.name  # type: ignore[attr-defined]
        figures[f"embed_items_per_s_{name}"] = len(texts) / seconds
        print(f"  {name}: {len(texts) / seconds:7.0f} items/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=50)
    add_json_option(parser)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    search_latency(args.sizes, args.repeats, figures)
    embedding_throughput(figures)
    write_json(
        args.json, "cognition_search", figures, {"sizes": args.sizes, "repeats": args.repeats}
    )


if __name__ == "__main__":
    main()
