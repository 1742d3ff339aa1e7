"""The run store's tables, as named migrations applied in order (sqlite-utils).

A migration is never edited once released: a store records which ones it has, and a newer
harness applies only the rest, so a run made by an older version resumes with a newer one.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

migrations = sqlite_utils.Migrations("harness")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "task": str,
            "config": str,
            "overrides": str,
            "plugin_versions": str,
            "seed": int,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "stop_reason": str,
            "sessions": int,
            "host": str,
            "pid": int,
        },
        pk="id",
    )
    db.table("nodes").create(
        {
            "id": int,
            "run_id": int,
            "parent_ids": str,
            "name": str,
            "motivation": str,
            "program": str,
            "program_hash": str,
            "edit": str,
            "score": float,
            "metrics": str,
            "success": int,
            "status": str,
            "error_class": str,
            "feedback": str,
            "analysis": str,
            "cognition_ids": str,
            "island": int,
            "created_at": str,
            "evaluated_at": str,
            "eval_seconds": float,
        },
        pk="id",
        foreign_keys=[("run_id", "runs")],
    )
    db.table("nodes").create_index(["status"])
    db.table("nodes").create_index(["score"])
    db.table("llm_calls").create(
        {
            "id": int,
            "node_id": int,
            "role": str,
            "model": str,
            "request": str,
            "response": str,
            "tokens_in": int,
            "tokens_out": int,
            "latency_s": float,
            "error": str,
            "created_at": str,
        },
        pk="id",
    )
    db.table("llm_calls").create_index(["node_id"])
    db.table("sampler_state").create({"name": str, "state": str, "updated_at": str}, pk="name")
    db.table("cognition").create(
        {"id": int, "content": str, "source": str, "metadata": str, "embedding": str},
        pk="id",
    )


@migrations()
def m002_features(db: sqlite_utils.Database) -> None:
    """Behaviour descriptors of successful nodes (JSON), for quality-diversity samplers."""
    db.table("nodes").add_column("features", str)


@migrations()
def m003_duplicates_cascades_repairs(db: sqlite_utils.Database) -> None:
    """``duplicate_of`` (the node whose result a duplicate reuses), ``stages`` (cascade
    stage results, JSON), ``evaluations`` (1 + repair attempts), and a hash index."""
    db.table("nodes").add_column("duplicate_of", int)
    db.table("nodes").add_column("stages", str)
    db.table("nodes").add_column("evaluations", int)
    db.table("nodes").create_index(["program_hash"])


@migrations()
def m004_llm_cost(db: sqlite_utils.Database) -> None:
    """The USD cost of each LLM call (null when no price is configured)."""
    db.table("llm_calls").add_column("cost_usd", float)


@migrations()
def m005_llm_attempts(db: sqlite_utils.Database) -> None:
    """HTTP attempts per call, and whether a failure was the endpoint's (worth retrying)."""
    db.table("llm_calls").add_column("attempts", int)
    db.table("llm_calls").add_column("retryable", int)


@migrations()
def m006_inspirations(db: sqlite_utils.Database) -> None:
    """What inspired each node, as its researcher cited it: ``kind`` is ``cognition`` (a
    cognition item's id) or ``node`` (an earlier node's id)."""
    db.table("inspirations").create(
        {"node_id": int, "kind": str, "ref_id": int}, pk=("node_id", "kind", "ref_id")
    )


@migrations()
def m007_cognition_embeddings(db: sqlite_utils.Database) -> None:
    """The cognition base's vectors, one float32 blob per item and embedder back-end, in
    ``cognition_embeddings`` (stores that used a cognition base already have it: it was
    created outside the migrations); the items' ``embedding`` column, unused since, goes."""
    db.table("cognition_embeddings").create(
        {"item_id": int, "backend": str, "dim": int, "vector": bytes},
        pk=("item_id", "backend"),
        foreign_keys=[("item_id", "cognition", "id")],
        if_not_exists=True,
    )
    if "embedding" in db.table("cognition").columns_dict:
        db.table("cognition").transform(drop={"embedding"})


@migrations()
def m008_noise(db: sqlite_utils.Database) -> None:
    """Stochastic scores: each node's per-seed values (``samples``, JSON ``{seed: value}``),
    the standard error and count of its score, its confirmation (JSON, ``run.confirm``),
    and ``reevaluations``: every extra evaluation on fresh seeds, which the budget counts."""
    nodes = db.table("nodes")
    nodes.add_column("samples", str)
    nodes.add_column("score_se", float)
    nodes.add_column("score_n", int)
    nodes.add_column("confirmation", str)
    db.table("reevaluations").create(
        {
            "id": int,
            "node_id": int,
            "purpose": str,
            "seeds": str,
            "samples": str,
            "success": int,
            "error_class": str,
            "feedback": str,
            "seconds": float,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("node_id", "nodes", "id")],
    )
    db.table("reevaluations").create_index(["node_id"])


@migrations()
def m009_lineage(db: sqlite_utils.Database) -> None:
    """Lineage as rows that SQL (and datasette) can join on: one ``lineage`` edge per
    entry of a node's ``parent_ids``, role ``parent`` for the first (the node it was
    derived from) and ``reference`` for the others (the nodes shown beside it). The
    existing nodes' edges are filled in here, in SQL, so a large store migrates fast."""
    db.table("lineage").create(
        {"child": int, "parent": int, "role": str},
        pk=("child", "parent"),
        foreign_keys=[("child", "nodes", "id"), ("parent", "nodes", "id")],
    )
    db.table("lineage").create_index(["parent"])
    db.execute(
        "insert or ignore into lineage (child, parent, role)"
        " select nodes.id, edge.value, case when edge.key = 0 then 'parent' else 'reference' end"
        " from nodes, json_each(nodes.parent_ids) as edge"
        " where json_valid(nodes.parent_ids) and edge.type = 'integer'"
        " order by nodes.id, edge.key"
    )


@migrations()
def m010_meta(db: sqlite_utils.Database) -> None:
    """Meta-recommendations (``run.meta``, docs/meta.md): each stored ``version`` of the
    run's summary, the node after which it was written and its ``meta`` LLM call (null
    when no LLM wrote it); ``meta_in_force``: the version each node's proposal was shown."""
    db.table("meta_recommendations").create(
        {"version": int, "after_node": int, "text": str, "llm_call_id": int, "created_at": str},
        pk="version",
    )
    db.table("meta_in_force").create({"node_id": int, "version": int}, pk="node_id")


@migrations()
def m011_operators(db: sqlite_utils.Database) -> None:
    """The search operator (``llm.operators``: ``diff``, ``full``, ``crossover``...) and the
    system-prompt variant (``llm.system_variants``) each node's proposal was asked with;
    null when the run has none (docs/operators.md)."""
    db.table("nodes").add_column("operator", str)
    db.table("nodes").add_column("prompt_variant", str)


@migrations()
def m012_sampler_journal(db: sqlite_utils.Database) -> None:
    """What a sampler records as it goes (island migrations...), one row per entry in
    order (JSON): state that only grows, so its state row stays small and a round stores
    what it added instead of the whole of it again."""
    db.table("sampler_journal").create({"id": int, "name": str, "entry": str}, pk="id")


@migrations()
def m013_program_trees(db: sqlite_utils.Database) -> None:
    """Multi-file programs, content-addressed (:mod:`harness.db.programs`): ``blobs``
    (each distinct file text once), ``trees`` (each distinct tree once, as path to blob
    id, or as its difference from a ``base`` tree) and ``nodes.tree_id``. One-file
    programs stay in ``nodes.program``, so a store made before this migrates in an instant
    and its runs resume unchanged."""
    db.table("blobs").create({"id": int, "hash": bytes, "text": str}, pk="id")
    db.table("blobs").create_index(["hash"], unique=True)
    db.table("trees").create(
        {"id": int, "hash": bytes, "base": int, "entries": str},
        pk="id",
        foreign_keys=[("base", "trees", "id")],
    )
    db.table("trees").create_index(["hash"], unique=True)
    db.table("nodes").add_column("tree_id", int)


def migrate(db: sqlite_utils.Database) -> None:
    """Bring ``db`` to the current schema (a no-op when it is; any SQLite database works,
    an in-memory one included)."""
    if migrations.pending(db):
        migrations.apply(db)


def datasette_metadata_path() -> Path:
    """The datasette metadata shipped with the package (titles, column descriptions and
    canned queries for browsing a store: ``datasette serve harness.db --metadata PATH``)."""
    return Path(__file__).with_name("datasette.yaml")
