"""The ``nodes`` table: committing a :class:`harness.nodes.Node` and the queries on it.

A node is inserted ``pending`` when its round starts (with its context), committed again
when its proposal arrives, and completed in place when its evaluation commits, so after a
kill ``resume`` re-runs exactly the rounds in flight, with their numbers and programs.
A multi-file program is stored content-addressed (:mod:`harness.db.programs`); a node read
back holds its text all the same.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, NamedTuple

import sqlite_utils

from harness.db import programs
from harness.db.connection import now
from harness.db.runs import APPEND_SAMPLER_JOURNAL, SAVE_SAMPLER_STATE, SamplerRecord
from harness.nodes import COMPLETED, Node, clip, eligible
from harness.task import EvalResult

#: Columns holding JSON, with the value an empty (NULL) one stands for.
_JSON: dict[str, list[Any] | dict[str, Any]] = {
    "parent_ids": [],
    "metrics": {},
    "cognition_ids": [],
    "features": {},
    "stages": [],
}


def _decode_samples(text: str | None) -> dict[int, float]:
    """``{seed: value}`` from its JSON text, whose keys are strings."""
    return {int(seed): float(value) for seed, value in json.loads(text).items()} if text else {}


def decode_node(row: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON text columns of a ``nodes`` row back into Python values."""
    node = dict(row)
    for key, empty in _JSON.items():
        node[key] = json.loads(node[key]) if node.get(key) else type(empty)()
    node["success"] = bool(node.get("success"))
    node["samples"] = _decode_samples(node.get("samples"))
    confirmation = node.get("confirmation")
    node["confirmation"] = json.loads(confirmation) if confirmation else None
    return node


#: The ``nodes`` columns, in :class:`harness.nodes.Node`'s field order.
_COLUMNS = tuple(f.name for f in fields(Node))

#: A commit's statement, built once (a commit runs several times per round): the node's
#: fields, then where its tree is stored (:mod:`harness.db.programs`).
_UPSERT = (
    f"insert or replace into nodes ({', '.join(f'[{name}]' for name in _COLUMNS)}, tree_id)"
    f" values ({', '.join('?' for _ in _COLUMNS)}, ?)"
)


def _encode(conn: Any, node: Node) -> list[Any]:
    """The row of ``node`` in :data:`_UPSERT`'s order: JSON text for structured values; a
    pending node keeps NULL results (no success, no metrics) and no features or stages are
    stored empty; a tree's files are stored on ``conn`` (in the commit's transaction).
    Read field by field: ``asdict`` deep-copies every value."""
    row = {name: getattr(node, name) for name in _COLUMNS}
    parent = node.parent_ids[0] if node.parent_ids else None
    row["program"], tree_id = programs.encode(conn, node.program, parent)
    pending = node.status == "pending"
    row["parent_ids"] = json.dumps(node.parent_ids)
    row["cognition_ids"] = json.dumps(node.cognition_ids)
    row["metrics"] = None if pending else json.dumps(node.metrics, default=str)
    row["success"] = None if pending else int(node.success)
    row["features"] = json.dumps(node.features) if node.features else None
    row["stages"] = json.dumps(node.stages) if node.stages else None
    row["samples"] = json.dumps(node.samples) if node.samples else None
    row["confirmation"] = json.dumps(node.confirmation) if node.confirmation else None
    return [*row.values(), tree_id]


def with_programs(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``nodes`` rows with each tree's text in ``program`` (and no ``tree_id``)."""
    texts = programs.resolve(db, [(row.get("program"), row.get("tree_id")) for row in rows])
    for row, text in zip(rows, texts, strict=True):
        row.pop("tree_id", None)
        row["program"] = text
    return rows


def _rows(db: sqlite_utils.Database, where: str, params: list[Any]) -> list[Node]:
    cursor = db.execute(f"select * from nodes where {where}", params)
    columns = [c[0] for c in cursor.description]
    rows = with_programs(db, [dict(zip(columns, row, strict=True)) for row in cursor])
    return [Node(**decode_node(row)) for row in rows]


def get_node(db: sqlite_utils.Database, node_id: int) -> dict[str, Any]:
    """One node by id, as a decoded row (what reports and tests read)."""
    return asdict(read_node(db, node_id))


def find_node(db: sqlite_utils.Database, node_id: int) -> Node | None:
    """The node ``node_id``, or None when its round never started."""
    found = _rows(db, "id = ?", [node_id])
    return found[0] if found else None


def read_node(db: sqlite_utils.Database, node_id: int) -> Node:
    """One node by id (a ``KeyError`` when there is none)."""
    node = find_node(db, node_id)
    if node is None:
        raise KeyError(f"no node {node_id}")
    return node


def _edges(node: Node) -> list[tuple[int, int, str]]:
    """``node``'s ``lineage`` rows: its parent (the first of ``parent_ids``), then the
    reference nodes it was shown."""
    return [
        (node.id, parent, "parent" if i == 0 else "reference")
        for i, parent in enumerate(node.parent_ids)
    ]


def commit(db: sqlite_utils.Database, node: Node, sampler: SamplerRecord | None = None) -> None:
    """Write ``node`` as it is now, inserted or in place, in one transaction: with its
    lineage edges on a round's first commit (pending, no program yet: ``parent_ids`` never
    change after it), and with what changed of the sampler when given (the sampler that
    chose or took in this node is stored with it, or neither is)."""
    with db.conn:
        db.conn.execute(_UPSERT, _encode(db.conn, node))
        if node.parent_ids and node.status == "pending" and node.program is None:
            db.conn.executemany(
                "insert or ignore into lineage (child, parent, role) values (?, ?, ?)",
                _edges(node),
            )
        if sampler is not None:
            if sampler.state is not None:
                db.conn.execute(SAVE_SAMPLER_STATE, [sampler.name, sampler.state, now()])
            db.conn.executemany(
                APPEND_SAMPLER_JOURNAL, [(sampler.name, entry) for entry in sampler.journal]
            )


def next_node_id(db: sqlite_utils.Database) -> int:
    row = db.execute("select max(id) from nodes").fetchone()
    return 0 if row[0] is None else row[0] + 1


def original_of(db: sqlite_utils.Database, node: Node) -> int | None:
    """The completed node with the same canonical program, if any (an index lookup)."""
    row = db.execute(
        "select id from nodes where program_hash = ? and id != ? and status in (?, ?)"
        " order by id limit 1",
        [node.program_hash, node.id, *COMPLETED],
    ).fetchone()
    return row[0] if row else None


def pending_rounds(db: sqlite_utils.Database) -> list[Node]:
    """The rounds a kill or a stop left in flight, to run again on resume."""
    return _rows(db, "status = 'pending' and id > 0 order by id", [])


def unanalysed(db: sqlite_utils.Database) -> list[Node]:
    """Nodes evaluated but stopped before their analysis was stored (and not still being
    confirmed: :func:`confirming`)."""
    return _rows(
        db,
        f"evaluated_at is not null and analysis is null and not coalesce({_CONFIRMING}, 0)"
        " order by id",
        [],
    )


class Completed(NamedTuple):
    """What resume replays of a completed node (no program: there may be many)."""

    id: int
    score: float | None
    success: bool
    status: str
    parent_ids: list[int]
    island: int | None
    features: dict[str, float]
    #: Whether it may be the run's best (see :func:`harness.nodes.eligible`).
    eligible: bool = True
    #: What its evaluation reported (samplers over several objectives read it).
    metrics: dict[str, Any] = {}


#: A node whose confirmation a kill interrupted: the round finishes it on resume.
_CONFIRMING = "json_extract(confirmation, '$.verdict') = 'pending'"


def completed(db: sqlite_utils.Database, statuses: tuple[str, ...] = COMPLETED) -> list[Completed]:
    """Nodes with one of ``statuses``, in id order, but those still being confirmed."""
    marks = ", ".join("?" for _ in statuses)
    rows = db.execute(
        "select id, score, success, status, parent_ids, island, features, confirmation, metrics"
        f" from nodes where status in ({marks}) and not coalesce({_CONFIRMING}, 0)"
        " order by id",
        list(statuses),
    ).fetchall()
    return [
        Completed(
            node_id,
            score,
            bool(success),
            status,
            json.loads(parents or "[]"),
            island,
            json.loads(features) if features else {},
            eligible(node_id, json.loads(confirm) if confirm else None),
            json.loads(metrics) if metrics else {},
        )
        for node_id, score, success, status, parents, island, features, confirm, metrics in rows
    ]


def confirming(db: sqlite_utils.Database) -> list[Node]:
    """Nodes whose confirmation a kill or a stop interrupted, to finish on resume."""
    return _rows(db, f"{_CONFIRMING} order by id", [])


def selections(db: sqlite_utils.Database) -> list[tuple[list[int], int | None]]:
    """(context ids, island) of every round started, in order: what a sampler replays."""
    rows = db.execute("select parent_ids, island from nodes where id > 0 order by id")
    return [(json.loads(parents or "[]"), island) for parents, island in rows.fetchall()]


def programs_for_features(db: sqlite_utils.Database, limit: int) -> tuple[str | None, list[str]]:
    """The seed's program and the first ``limit`` successful ones after it (by evaluation
    time): the reference set that behaviour descriptors are measured against."""
    seed = programs.program_of(db, 0)
    found = programs.node_programs(
        db, "id > 0 and success = 1", order="evaluated_at, id", limit=limit
    )
    return seed, [program for _, program in found]


def score_of(db: sqlite_utils.Database, node_id: int) -> float | None:
    row = db.execute("select score from nodes where id = ?", [node_id]).fetchone()
    return row[0] if row else None


def commit_reevaluation(
    db: sqlite_utils.Database,
    node: Node,
    purpose: str,
    seeds: list[int],
    result: EvalResult,
    when: str,
) -> None:
    """Store one extra evaluation of ``node`` on further seeds (the budget counts it) and
    the node as it now is, in one transaction: a kill keeps both or neither."""
    with db.conn:
        db.conn.execute(
            "insert into reevaluations (node_id, purpose, seeds, samples, success,"
            " error_class, feedback, seconds, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                node.id,
                purpose,
                json.dumps(seeds),
                json.dumps(result.samples),
                int(result.success),
                result.error_class,
                clip(result.feedback),
                result.metrics.get("eval_seconds"),
                when,
            ],
        )
        db.conn.execute(_UPSERT, _encode(db.conn, node))
