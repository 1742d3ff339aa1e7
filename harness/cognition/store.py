"""Cognition items and their embeddings in the run database.

Items live in ``cognition``; vectors live in ``cognition_embeddings``, one float32 blob per
item and back-end name, so switching back-ends keeps both sets and switching back costs
nothing. The run store's migrations create both tables; a database without them (an
in-memory one for a one-off search) is given the run store's schema on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlite_utils

from harness.db.schema import migrate
from harness.task import CognitionItem

ITEMS = "cognition"
VECTORS = "cognition_embeddings"


@dataclass(frozen=True)
class StoredItem:
    """One row of ``cognition`` with its vector under the requested back-end, if any."""

    id: int
    item: CognitionItem
    vector: np.ndarray | None


def _with_tables(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """``db``, given the run store's schema if it lacks the cognition tables."""
    if not db.table(VECTORS).exists():
        migrate(db)
    return db


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes, dim: int) -> np.ndarray | None:
    """The stored vector, or ``None`` when the blob does not hold ``dim`` floats."""
    vector = np.frombuffer(blob, dtype="<f4")
    return vector.astype(np.float32) if vector.size == dim else None


def read_items(db: sqlite_utils.Database, backend: str) -> list[StoredItem]:
    """Every item in id order, each with its vector under ``backend`` (or ``None``)."""
    rows = (
        _with_tables(db)
        .execute(
            f"select c.id, c.content, c.source, c.metadata, e.dim, e.vector from {ITEMS} c"
            f" left join {VECTORS} e on e.item_id = c.id and e.backend = ? order by c.id",
            [backend],
        )
        .fetchall()
    )
    return [
        StoredItem(
            item_id,
            CognitionItem(
                content, source or "", json.loads(metadata) if metadata else {}, id=item_id
            ),
            from_blob(blob, dim) if blob is not None else None,
        )
        for item_id, content, source, metadata, dim, blob in rows
    ]


def write_vectors(
    db: sqlite_utils.Database, backend: str, ids: Sequence[int], vectors: np.ndarray
) -> None:
    """Store (or replace) the vectors of existing items in one transaction."""
    with db.conn:
        db.conn.executemany(
            f"insert or replace into {VECTORS} (item_id, backend, dim, vector) values (?, ?, ?, ?)",
            [(i, backend, int(v.size), to_blob(v)) for i, v in zip(ids, vectors, strict=True)],
        )


def insert_items(
    db: sqlite_utils.Database,
    backend: str,
    items: Iterable[CognitionItem],
    vectors: np.ndarray,
) -> list[int]:
    """Insert items with their vectors in one transaction; returns the new ids."""
    ids = []
    with _with_tables(db).conn:
        for item, vector in zip(items, vectors, strict=True):
            cursor = db.conn.execute(
                f"insert into {ITEMS} (content, source, metadata) values (?, ?, ?)",
                [item.content, item.source, json.dumps(item.metadata)],
            )
            assert cursor.lastrowid is not None
            ids.append(cursor.lastrowid)
            db.conn.execute(
                f"insert or replace into {VECTORS} (item_id, backend, dim, vector)"
                " values (?, ?, ?, ?)",
                [ids[-1], backend, int(vector.size), to_blob(vector)],
            )
    return ids
