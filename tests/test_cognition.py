"""Cognition v1: hashing embeddings, k, threshold, de-duplication, storage in the run db."""

from __future__ import annotations

import math

from harness import db as store
from harness.cognition import CognitionBase, HashingEmbedder, build_queries, make_cognition
from harness.llm.base import NodeView
from harness.task import CognitionItem

ITEMS = [
    CognitionItem("Use SLSQP with explicit overlap constraints to optimise circle radii.", "a"),
    CognitionItem("Hexagonal packings reach density pi over two root three in the plane.", "b"),
    CognitionItem("Place larger circles near the corners and edges of the square.", "c"),
    CognitionItem("use  SLSQP with explicit overlap constraints to optimise circle radii!", "dup"),
    CognitionItem("Learning-rate warmup stabilises transformer training.", "d"),
]


def test_embeddings_are_normalised_and_deterministic():
    emb = HashingEmbedder(dim=128)
    a, b = emb.embed(["circle packing optimisation", "circle packing optimisation"])
    assert a == b
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-9)


def test_search_ranks_related_items_first_and_respects_k(tmp_path):
    base = CognitionBase(HashingEmbedder())
    base.load(store.open_db(tmp_path), ITEMS)
    assert len(base.items) == 4, "the near-identical item is stored once"
    hits = base.search(["optimise the radii with SLSQP constraints"], k=2, threshold=0.0)
    assert len(hits) == 2
    assert hits[0].item.source == "a"
    assert hits[0].similarity >= hits[1].similarity


def test_threshold_filters_and_queries_are_deduplicated(tmp_path):
    base = CognitionBase(HashingEmbedder())
    base.load(store.open_db(tmp_path), ITEMS)
    hits = base.search(["SLSQP overlap constraints", "SLSQP overlap constraints radii"], 10, 0.2)
    assert len({h.id for h in hits}) == len(hits)
    assert all(h.similarity >= 0.2 for h in hits)
    assert base.search(["zzzz qqqq"], k=3, threshold=0.5) == []


def test_items_persist_in_the_run_database(tmp_path):
    db = store.open_db(tmp_path)
    CognitionBase(HashingEmbedder()).load(db, ITEMS)
    again = CognitionBase(HashingEmbedder())
    again.load(store.open_db(tmp_path), ITEMS)
    assert db["cognition"].count == 4
    assert len(again.items) == 4


def test_queries_come_from_analyses_then_motivations():
    nodes = [
        NodeView(1, "a", "", analysis="analysis text", motivation="m"),
        NodeView(2, "b", "", motivation="motivation text"),
        NodeView(3, "c", ""),
    ]
    assert build_queries(nodes) == ["analysis text", "motivation text"]


def test_cognition_none_disables_retrieval():
    assert make_cognition({"enabled": False}) is None
