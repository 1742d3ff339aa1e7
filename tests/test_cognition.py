"""The cognition base: embedders, storage of vectors in the run db, exact search, add().

Everything here is real: SQLite run stores, the hashing embedder, and the ``openai``
embedder talking HTTP to a small embeddings server on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import sqlite_utils
from helpers import compose_config, run_loop

from harness import db as store
from harness import plugins
from harness.cognition import (
    CognitionBase,
    EmbeddingError,
    HashingEmbedder,
    OpenAIEmbedder,
    build_queries,
    make_cognition,
)
from harness.cognition import base as cognition_base
from harness.cognition.lexical import LexicalIndex
from harness.hookspecs import hookimpl
from harness.llm.base import NodeView
from harness.task import CognitionItem

ITEMS = [
    CognitionItem("Use SLSQP with explicit overlap constraints to optimise circle radii.", "a"),
    CognitionItem("Hexagonal packings reach density pi over two root three in the plane.", "b"),
    CognitionItem("Place larger circles near the corners and edges of the square.", "c"),
    CognitionItem("use  SLSQP with explicit overlap constraints to optimise circle radii!", "dup"),
    CognitionItem("Learning-rate warmup stabilises transformer training.", "d"),
]


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it embeds (and failing on request)."""

    def __init__(self, dim: int = 512, fail_after_calls: int | None = None) -> None:
        super().__init__(dim)
        self.texts: list[str] = []
        self.calls = 0
        self.fail_after_calls = fail_after_calls

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise EmbeddingError("endpoint went away")
        self.calls += 1
        self.texts.extend(texts)
        return super().embed(texts)


class TableEmbedder:
    """Vectors looked up by text: lets a test place items exactly where it wants them."""

    name = "table"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.dim = len(next(iter(table.values())))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[text] for text in texts]).astype(np.float32)


def loaded(tmp_path, embedder=None, items=ITEMS) -> tuple[CognitionBase, sqlite_utils.Database]:
    db = store.open_db(tmp_path)
    base = CognitionBase(embedder or HashingEmbedder())
    base.load(db, items)
    return base, db


# ----------------------------------------------------------------------------- embedders
def test_hashing_vectors_are_unit_float32_and_deterministic():
    emb = HashingEmbedder(dim=128)
    vectors = emb.embed(["circle packing optimisation", "circle packing optimisation", ""])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 128)
    assert np.array_equal(vectors[0], vectors[1])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-6)
    assert not vectors[2].any(), "empty text embeds to the zero vector, not NaN"
    assert emb.name == "hashing:128" and emb.dim == 128


# ----------------------------------------------------------------------------- search
def test_search_ranks_related_items_first_and_respects_k(tmp_path):
    base, _ = loaded(tmp_path)
    assert len(base.items) == 4, "the near-identical item is stored once"
    hits = base.search(["optimise the radii with SLSQP constraints"], k=2, threshold=0.0)
    assert len(hits) == 2
    assert hits[0].item.source == "a" and hits[0].item.id == hits[0].id
    assert hits[0].similarity >= hits[1].similarity


def test_threshold_filters_and_each_item_is_returned_once(tmp_path):
    base, _ = loaded(tmp_path)
    hits = base.search(["SLSQP overlap constraints", "SLSQP overlap constraints radii"], 10, 0.2)
    assert hits and len({h.id for h in hits}) == len(hits)
    assert all(h.similarity >= 0.2 for h in hits)
    assert base.search(["zzzz qqqq"], k=3, threshold=0.5) == []
    assert base.search(["", "  "], k=3, threshold=-1) == []
    assert base.search(["SLSQP"], k=0, threshold=-1) == []


def test_numpy_search_matches_a_brute_force_reference():
    """Best similarity over the queries, threshold, top k, ties to the older item."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 16))
    vectors[150] = vectors[20]  # an exact tie: the older item (20) ranks first
    texts = [f"item {i}" for i in range(300)]
    queries = {f"query {j}": rng.normal(size=16) for j in range(3)}
    queries["query 3"] = vectors[20]
    base = CognitionBase(TableEmbedder({**dict(zip(texts, vectors, strict=True)), **queries}))
    base.load(sqlite_utils.Database(memory=True), [CognitionItem(t) for t in texts])

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    qunit = np.stack([q / np.linalg.norm(q) for q in queries.values()])
    for k, threshold in [(4, 0.0), (10, 0.3), (300, -1.0), (5, 0.999)]:
        best = [max(float(q @ v) for q in qunit) for v in unit]
        reference = sorted(
            (i for i in range(300) if best[i] >= threshold - 1e-6), key=lambda i: (-best[i], i)
        )[:k]
        hits = base.search(list(queries), k=k, threshold=threshold)
        assert [base.ids.index(h.id) for h in hits] == reference
        assert [h.similarity for h in hits] == pytest.approx([best[i] for i in reference], abs=1e-5)
    top = base.search(["query 3"], k=2, threshold=0.0)
    assert [h.item.content for h in top] == ["item 20", "item 150"]


def test_lexical_index_matches_a_dense_tf_idf_reference_as_texts_are_added():
    texts = ["SLSQP with analytic Jacobians", "pdist of the centres", "the SLSQP step", ""]
    index = LexicalIndex()
    index.add(texts[:2])
    same_words = index.scores(["jacobians analytic with slsqp"])
    assert same_words.tolist() == [[pytest.approx(1.0), 0.0]], "order and case do not matter"
    index.add(texts[2:])
    queries = ["slsqp Jacobians, slsqp!", "the", "unknown words", ""]

    vocab = sorted({w for t in texts for w in t.lower().replace(",", " ").split()})
    counts = np.array([[t.lower().split().count(w) for w in vocab] for t in texts], float)
    idf = np.log((1 + len(texts)) / (1 + (counts > 0).sum(axis=0)))

    def tf_idf(matrix: np.ndarray) -> np.ndarray:
        weights = np.where(matrix > 0, 1 + np.log(np.maximum(matrix, 1)), 0) * idf
        norms = np.linalg.norm(weights, axis=1, keepdims=True)
        return np.divide(weights, norms, out=np.zeros_like(weights), where=norms > 0)

    words = [q.lower().replace(",", " ").replace("!", " ").split() for q in queries]
    query_counts = np.array([[q.count(w) for w in vocab] for q in words], float)
    reference = tf_idf(query_counts) @ tf_idf(counts).T
    assert index.scores(queries) == pytest.approx(reference.astype(np.float32), abs=1e-6)
    assert index.scores(["pdist"]).argmax() == 1 and len(index) == 4
    everywhere = LexicalIndex()
    everywhere.add(["the cat", "the dog"])
    assert not everywhere.scores(["the"]).any(), "a word found in every text weighs nothing"


def test_a_shared_rare_word_lifts_an_item_only_with_a_lexical_weight(tmp_path):
    """The hybrid score: cosine + lexical_weight x TF-IDF cosine, also after add()."""
    vectors = {"alpha": [1.0, 0.0], "beta pdist": [0.8, 0.6], "query pdist": [1.0, 0.0]}
    table = TableEmbedder({k: np.asarray(v) for k, v in vectors.items()})
    for weight, first in ((0.0, "alpha"), (0.5, "beta pdist")):
        base = CognitionBase(table, lexical_weight=weight)
        base.load(sqlite_utils.Database(memory=True), [CognitionItem("alpha")])
        base.add(sqlite_utils.Database(memory=True), [CognitionItem("beta pdist")])
        hits = base.search(["query pdist"], k=2, threshold=0.0)
        assert hits[0].item.content == first
        expected = 0.8 + weight * 2**-0.5  # "pdist" is one of the item's two words
        beta = next(h for h in hits if h.item.content == "beta pdist")
        assert beta.similarity == pytest.approx(expected, abs=1e-5)
    assert make_cognition({"lexical_weight": 0.25}).lexical_weight == 0.25


def test_items_with_the_same_text_from_another_writer_are_returned_once(tmp_path):
    db = store.open_db(tmp_path)
    for source in ("first", "second"):
        db["cognition"].insert({"content": "Perturb the best layout.", "source": source})
    base = CognitionBase(HashingEmbedder())
    base.load(db, [])
    hits = base.search(["perturb the layout"], k=5, threshold=0.0)
    assert [h.item.source for h in hits] == ["first"]


# ----------------------------------------------------------------------------- storage
def test_vectors_are_stored_as_float32_blobs_per_item_and_backend(tmp_path):
    base, db = loaded(tmp_path)
    rows = list(db["cognition_embeddings"].rows)
    assert sorted(r["item_id"] for r in rows) == sorted(base.ids)
    assert {r["backend"] for r in rows} == {"hashing:512"} and {r["dim"] for r in rows} == {512}
    for row in rows:
        assert isinstance(row["vector"], bytes) and len(row["vector"]) == 512 * 4
        content = db["cognition"].get(row["item_id"])["content"]
        stored = np.frombuffer(row["vector"], dtype="<f4")
        assert np.allclose(stored, HashingEmbedder().embed([content])[0], atol=1e-7)


def test_resume_reuses_stored_vectors_without_embedding_again(tmp_path):
    loaded(tmp_path)
    again = CountingEmbedder()
    base, db = loaded(tmp_path, again)
    assert again.texts == [], "every item already has a vector under hashing:512"
    assert db["cognition"].count == 4 and len(base.items) == 4
    base.search(["SLSQP radii"], k=2, threshold=0.0)
    assert again.texts == ["SLSQP radii"], "a search embeds its queries only"


def test_switching_backend_reembeds_in_committed_chunks_and_keeps_items(tmp_path, monkeypatch):
    loaded(tmp_path)
    monkeypatch.setattr(cognition_base, "EMBED_CHUNK", 2)
    failing = CountingEmbedder(dim=256, fail_after_calls=1)
    with pytest.raises(EmbeddingError):
        loaded(tmp_path, failing)
    db = store.open_db(tmp_path)
    backends = [r[0] for r in db.execute("select backend from cognition_embeddings")]
    assert backends.count("hashing:256") == 2, "the first chunk was committed before the failure"

    switched = CountingEmbedder(dim=256)
    base, db = loaded(tmp_path, switched)
    assert len(switched.texts) == 2 and switched.calls == 1, "only the rest is embedded"
    assert db["cognition"].count == 4 and len(base.items) == 4
    counts = dict(db.execute("select backend, count(*) from cognition_embeddings group by 1"))
    assert counts == {"hashing:512": 4, "hashing:256": 4}
    assert base.search(["SLSQP overlap constraints"], 1, 0.0)[0].item.source == "a"

    back = CountingEmbedder(dim=512)
    loaded(tmp_path, back)
    assert back.texts == [], "switching back reuses the first back-end's vectors"


def test_a_run_store_from_before_stored_vectors_is_upgraded_in_place(tmp_path):
    db = sqlite_utils.Database(tmp_path / store.DB_NAME)  # a store of before m007
    store.migrations.apply(db, stop_before="m007_cognition_embeddings")
    old_vector = json.dumps({"backend": "hashing", "vector": [0.0] * 512})
    db["cognition"].insert({"content": "Old item.", "source": "s", "metadata": "{}",
                            "embedding": old_vector})  # fmt: skip
    assert "cognition_embeddings" not in db.table_names()
    base = CognitionBase(HashingEmbedder())
    base.load(db, ITEMS[:1])
    assert db["cognition_embeddings"].count == 2
    assert [item.content for item in base.items] == ["Old item.", ITEMS[0].content]


def test_an_in_memory_database_serves_a_one_off_search():
    base = make_cognition({"backend": "hashing"})
    assert base is not None
    base.load(sqlite_utils.Database(memory=True), ITEMS)
    assert base.search(["hexagonal density"], k=1, threshold=0.0)[0].item.source == "b"


# ----------------------------------------------------------------------------- add
def test_add_skips_text_and_near_duplicates_and_keeps_provenance(tmp_path):
    base, db = loaded(tmp_path)
    lesson = CognitionItem(
        "Restarting SLSQP from perturbed centres escaped the plateau at 2.62.",
        source="lesson from node 12",
        metadata={"kind": "lesson", "run": "runs/x", "node": 12},
    )
    near = CognitionItem(
        "Restarting SLSQP from perturbed centres escaped the plateau at 2.62 quickly."
    )
    other = CognitionItem("A 5 x 5 grid leaves no room for a 26th circle.", "lesson")
    ids = base.add(
        db,
        [lesson, ITEMS[1], CognitionItem("  ...  "), near, lesson, other],
        dedupe_threshold=0.9,
    )
    assert ids[1] is None and ids[2] is None, "present text and empty text are skipped"
    assert ids[3] is None and ids[4] is None, "a near-duplicate within the call is skipped"
    assert ids[0] is not None and ids[5] is not None
    row = db["cognition"].get(ids[0])
    assert row["source"] == "lesson from node 12"
    assert json.loads(row["metadata"]) == {"kind": "lesson", "run": "runs/x", "node": 12}
    assert db["cognition_embeddings"].count == db["cognition"].count == 6
    assert base.items_with_ids()[-2] == (ids[0], CognitionItem(**{**lesson.__dict__, "id": ids[0]}))
    assert base.search(["escape the plateau at 2.62"], 1, 0.0)[0].id == ids[0]

    paraphrase = CognitionItem("Restarting SLSQP from perturbed centres escaped a plateau at 2.62.")
    assert base.add(db, [paraphrase], dedupe_threshold=0.9) == [None]
    assert base.add(db, [paraphrase], dedupe_threshold=None) != [None], "no threshold: kept"
    again = CognitionBase(HashingEmbedder())
    again.load(store.open_db(tmp_path), ITEMS)
    assert again.items == base.items, "what add() stored is what a resumed run loads"


# ----------------------------------------------------------------------------- wiring
def test_queries_come_from_analyses_then_motivations():
    nodes = [
        NodeView(1, "a", "", analysis="analysis text", motivation="m"),
        NodeView(2, "b", "", motivation="motivation text"),
        NodeView(3, "c", ""),
    ]
    assert build_queries(nodes) == ["analysis text", "motivation text"]


def test_cognition_none_disables_retrieval():
    assert make_cognition({"enabled": False}) is None
    assert compose_config("+task=toy", "cognition=none").cognition.enabled is False


def test_config_defaults_and_backend_errors():
    cfg = compose_config("+task=toy").cognition
    assert (cfg.backend, cfg.dedupe_threshold, cfg.write_back) == ("hashing", 0.9, True)
    assert cfg.lexical_weight == 0.5
    with pytest.raises(plugins.UnknownNameError, match="Did you mean 'hashing'"):
        make_cognition({"backend": "hashin"})
    with pytest.raises(ValueError, match="cognition.model"):
        make_cognition({"backend": "openai"})
    with pytest.raises(ValueError, match="positive"):
        make_cognition({"backend": "hashing", "dim": -3})


class ReversedEmbedder(HashingEmbedder):
    """A plugin's embedder: hashing vectors with the sign flipped (a different space)."""

    @property
    def name(self) -> str:
        return "reversed"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return -super().embed(texts)


class EmbedderPlugin:
    @hookimpl
    def harness_register_embedders(self, register):
        register("reversed", lambda config: ReversedEmbedder(int(config["dim"])))


def test_plugins_register_embedders_by_name(tmp_path):
    plugin = EmbedderPlugin()
    plugins.load_plugins()
    plugins.pm.register(plugin, name="embedder-plugin")
    plugins.reset()
    try:
        base = make_cognition({"backend": "reversed", "dim": 64})
        assert isinstance(base, CognitionBase) and isinstance(base.embedder, ReversedEmbedder)
        base.load(store.open_db(tmp_path), ITEMS)
        hits = base.search(["hexagonal density"], 1, 0.0)
        assert hits[0].item.source == "b"
    finally:
        plugins.pm.unregister(plugin)
        plugins.reset()


# ----------------------------------------------------------------------------- openai
class EmbeddingsServer:
    """A minimal OpenAI-compatible ``/v1/embeddings`` endpoint on 127.0.0.1.

    Vectors are the hashing embedder's (dim 32) times three, so the client's
    normalisation shows; the answer lists them in reverse order with their ``index``,
    as the API allows. ``fault`` makes the next requests fail in a chosen way.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.keys: list[str | None] = []
        self.fault: str | None = None
        hashing = HashingEmbedder(32)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.keys.append(self.headers.get("Authorization"))
                if self.path != "/v1/embeddings" or outer.fault == "missing_model":
                    error = {"message": f"model {body.get('model')!r} not found", "type": "x"}
                    return self._send(404, {"error": error})
                vectors = 3 * hashing.embed(body["input"])
                data = [
                    {"object": "embedding", "index": i, "embedding": vectors[i].tolist()}
                    for i in range(len(vectors))
                ][::-1]
                if outer.fault == "short":
                    data = data[1:]
                usage = {"prompt_tokens": 1, "total_tokens": 1}
                self._send(200, {"object": "list", "data": data, "model": body["model"],
                                 "usage": usage})  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[EmbeddingsServer]:
    srv = EmbeddingsServer()
    yield srv
    srv.close()


def test_openai_embedder_batches_orders_and_normalises(server, monkeypatch):
    monkeypatch.setenv("EMBED_KEY", "sk-test")
    emb = OpenAIEmbedder("tiny-embed", server.base_url, api_key_env="EMBED_KEY", batch_size=2)
    assert emb.name == "openai:tiny-embed" and emb.dim is None
    texts = ["circle packing", "SLSQP restarts", "corner circles", "", "hexagonal lattice"]
    vectors = emb.embed(texts)
    assert [len(r["input"]) for r in server.requests] == [2, 2, 1]
    assert server.requests[0]["model"] == "tiny-embed"
    assert server.keys == ["Bearer sk-test"] * 3
    assert emb.dim == 32 and vectors.shape == (5, 32) and vectors.dtype == np.float32
    expected = HashingEmbedder(32).embed([t if t.strip() else " " for t in texts])
    assert np.allclose(vectors, expected, atol=1e-6), "in input order, unit length"


def test_openai_embedder_errors_are_clear(server):
    server.fault = "missing_model"
    emb = OpenAIEmbedder("nope", server.base_url, max_retries=0)
    with pytest.raises(EmbeddingError, match=r"HTTP 404: model 'nope' not found"):
        emb.embed(["x"])
    server.fault = "short"
    with pytest.raises(EmbeddingError, match="returned 1 vectors for 2 texts"):
        emb.embed(["x", "y"])
    port = server.httpd.server_address[1]
    server.close()
    gone = OpenAIEmbedder("m", f"http://127.0.0.1:{port}/v1", max_retries=0, timeout_s=5)
    with pytest.raises(EmbeddingError, match="unreachable"):
        gone.embed(["x"])


def test_a_run_retrieves_through_an_openai_compatible_endpoint(tmp_path, server):
    run_loop(
        tmp_path,
        "+task=toy",
        "run.max_evaluations=3",
        "cognition.threshold=-1",
        "cognition.backend=openai",
        "cognition.model=tiny-embed",
        f"cognition.base_url={server.base_url}",
    )
    db = store.open_db(tmp_path)
    rows = db.execute("select backend, dim from cognition_embeddings").fetchall()
    assert rows and set(rows) == {("openai:tiny-embed", 32)}
    linked = [json.loads(r["cognition_ids"]) for r in db["nodes"].rows_where("id > 0")]
    assert any(linked), "rounds were given items found through the endpoint"
