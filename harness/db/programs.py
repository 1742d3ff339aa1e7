"""Where the run store keeps programs: one-file programs inline, trees content-addressed.

A one-file program stays in ``nodes.program`` as it always was: a single-file run's store,
its speed and every SQL reader of it are unchanged, and the migration only adds tables.
A multi-file program (:mod:`harness.tree`) would cost a copy of every file per node
there, so it goes, with ``nodes.program`` left null, to

* ``blobs(id, hash, text)``: each distinct file text once per store (``hash`` is the
  SHA-256 of its UTF-8 bytes), uncompressed, so datasette still shows it;
* ``trees(id, hash, base, entries)``: each distinct tree once (``hash``: SHA-256 of its
  canonical text), its ``entries`` a JSON ``{path: blob id}``. A tree with a ``base``
  stores only what differs from that base, a full tree (a removed file as ``null``: the
  JSON merge patch of SQLite's ``json_patch``), so a one-line edit to one file of a
  50-file tree costs one blob and a few bytes, not 50 entries. The base is always a full
  tree (the parent's tree, or its base), so reading a tree takes two rows, however long
  its lineage; once the difference grows past a quarter of the files, a full tree is
  stored and becomes the base of its descendants.

``nodes.tree_id`` names a node's tree. Rows are only ever added here, in the transaction
of the node's commit; the readers (:func:`program_of`, :func:`node_programs`,
:func:`tree_texts`) hand out the program's text, a tree's canonical text included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from harness.tree import Tree, TreeError, is_tree

#: Ids per ``in (...)`` query (SQLite's default limit on bound values is 32766).
_CHUNK = 500


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _blob(conn: Any, text: str) -> int:
    """The id of the blob holding ``text``, added when new."""
    digest = _digest(text)
    conn.execute("insert or ignore into blobs (hash, text) values (?, ?)", [digest, text])
    return int(conn.execute("select id from blobs where hash = ?", [digest]).fetchone()[0])


def _anchor(conn: Any, parent: int | None) -> tuple[int, dict[str, int]] | None:
    """The full tree a child of node ``parent`` is stored against (the parent's tree, or
    that tree's base), with its entries; None when the parent has no tree."""
    if parent is None:
        return None
    row = conn.execute(
        "select t.id, t.base, t.entries from nodes n join trees t on t.id = n.tree_id"
        " where n.id = ?",
        [parent],
    ).fetchone()
    if row is None:
        return None
    tree_id, base, entries = row
    if base is None:
        return tree_id, json.loads(entries)
    found = conn.execute("select entries from trees where id = ?", [base]).fetchone()
    return base, json.loads(found[0])


def store_tree(conn: Any, text: str, parent: int | None = None) -> int | None:
    """The id of the tree whose canonical text is ``text``, stored when new: as a
    difference from the tree of node ``parent`` (see the module's docstring) where that
    is small; None when ``text`` is no tree's canonical text. Call it inside the
    transaction that commits the node."""
    digest = _digest(text)
    found = conn.execute("select id from trees where hash = ?", [digest]).fetchone()
    if found is not None:
        return int(found[0])
    tree = _canonical(text)
    if tree is None:
        return None
    entries: dict[str, int | None] = {path: _blob(conn, body) for path, body in tree.files}
    base = None
    anchor = _anchor(conn, parent)
    if anchor is not None:
        anchor_id, full = anchor
        delta: dict[str, int | None] = {p: b for p, b in entries.items() if full.get(p) != b}
        delta.update({p: None for p in full.keys() - entries.keys()})
        if len(delta) <= max(1, len(full) // 4):
            base, entries = anchor_id, delta
    cursor = conn.execute(
        "insert into trees (hash, base, entries) values (?, ?, ?)",
        [digest, base, json.dumps(entries, separators=(",", ":"))],
    )
    return int(cursor.lastrowid)


def _canonical(text: str) -> Tree | None:
    """The tree whose canonical text is exactly ``text``, else None (a malformed text, or
    one out of path order, is kept as it came: the store gives back what it was given)."""
    try:
        tree = Tree.parse(text)
    except TreeError:
        return None
    return tree if tree.text() == text else None


def encode(conn: Any, program: str | None, parent: int | None) -> tuple[str | None, int | None]:
    """A node's ``(program, tree_id)`` columns for ``program``: the text itself for a
    one-file program (or a text that only looks like a tree), the stored tree's id for a
    tree's canonical text."""
    if program is None or not is_tree(program):
        return program, None
    tree_id = store_tree(conn, program, parent)
    return (None, tree_id) if tree_id is not None else (program, None)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    return (ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK))


def _rows_by_id(conn: Any, sql: str, ids: Iterable[int]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(sorted(set(ids))):
        marks = ", ".join("?" for _ in chunk)
        rows += conn.execute(sql.format(marks=marks), chunk).fetchall()
    return rows


def tree_texts(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, str]:
    """The canonical text of each tree in ``ids`` (a ``KeyError`` names one missing)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = _rows_by_id(db.conn, "select id, base, entries from trees where id in ({marks})", wanted)
    decoded = {tree_id: (base, json.loads(entries)) for tree_id, base, entries in rows}
    bases = {base for base, _ in decoded.values() if base is not None} - decoded.keys()
    for tree_id, base, entries in _rows_by_id(
        db.conn, "select id, base, entries from trees where id in ({marks})", bases
    ):
        decoded[tree_id] = (base, json.loads(entries))
    maps: dict[int, dict[str, int]] = {}
    for tree_id in wanted:
        if tree_id not in decoded:
            raise KeyError(f"the run store has no tree {tree_id}")
        base, entries = decoded[tree_id]
        files = dict(decoded[base][1]) if base is not None else {}
        files.update(entries)
        maps[tree_id] = {path: blob for path, blob in files.items() if blob is not None}
    blob_ids = {blob for files in maps.values() for blob in files.values()}
    blobs = dict(_rows_by_id(db.conn, "select id, text from blobs where id in ({marks})", blob_ids))
    missing = blob_ids - blobs.keys()
    if missing:
        raise KeyError(f"the run store has no blob {min(missing)}")
    return {
        tree_id: Tree.of({path: blobs[blob] for path, blob in files.items()}).text()
        for tree_id, files in maps.items()
    }


def has_trees(db: sqlite_utils.Database) -> bool:
    """Whether the store can hold trees (a store read without migrating may predate them)."""
    return "tree_id" in db.table("nodes").columns_dict


def resolve(
    db: sqlite_utils.Database, rows: list[tuple[str | None, int | None]]
) -> list[str | None]:
    """The program text of each ``(program, tree_id)`` pair of ``nodes`` columns."""
    texts = tree_texts(db, (tree_id for _, tree_id in rows if tree_id is not None))
    return [program if tree_id is None else texts[tree_id] for program, tree_id in rows]


def node_programs(
    db: sqlite_utils.Database,
    where: str = "1",
    params: Iterable[Any] = (),
    order: str = "id",
    limit: int | None = None,
) -> list[tuple[int, str]]:
    """``(id, program)`` of the nodes that match ``where`` and have a program, in
    ``order``: what a reader of ``nodes.program`` reads instead, trees included."""
    tree = "tree_id" if has_trees(db) else "null"
    rows = db.execute(
        f"select id, program, {tree} from nodes"
        f" where ({where}) and (program is not null or {tree} is not null)"
        f" order by {order}" + (" limit ?" if limit is not None else ""),
        [*params, *([limit] if limit is not None else [])],
    ).fetchall()
    texts = resolve(db, [(program, tree_id) for _, program, tree_id in rows])
    return [(row[0], text) for row, text in zip(rows, texts, strict=True) if text is not None]


def program_of(db: sqlite_utils.Database, node_id: int) -> str | None:
    """Node ``node_id``'s program text; None when it has none (or there is no such node)."""
    found = node_programs(db, "id = ?", [node_id])
    return found[0][1] if found else None
