"""The run store: one SQLite file per run directory (``harness.db``), via sqlite-utils.

The orchestrator is the only writer (it holds a lock on the run directory). Each write is
its own transaction, so a killed run loses at most the rounds in flight: a node is
inserted as ``pending`` when its round starts (with its context nodes), filled in when the
proposal arrives and completed in place when its evaluation commits, which keeps node
numbering stable across ``harness resume``.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from harness.sandbox import pid_alive

DB_NAME = "harness.db"
migrations = sqlite_utils.Migrations("harness")

COMPLETED = ("evaluated", "failed")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["runs"].create(
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
    db["nodes"].create(
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
    db["nodes"].create_index(["status"])
    db["nodes"].create_index(["score"])
    db["llm_calls"].create(
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
    db["llm_calls"].create_index(["node_id"])
    db["sampler_state"].create({"name": str, "state": str, "updated_at": str}, pk="name")
    db["cognition"].create(
        {"id": int, "content": str, "source": str, "metadata": str, "embedding": str},
        pk="id",
    )


@migrations()
def m002_features(db: sqlite_utils.Database) -> None:
    """Behaviour descriptors of successful nodes (JSON), for quality-diversity samplers."""
    db["nodes"].add_column("features", str)


@migrations()
def m003_duplicates_cascades_repairs(db: sqlite_utils.Database) -> None:
    """``duplicate_of`` (the node whose result a duplicate reuses), ``stages`` (cascade
    stage results, JSON), ``evaluations`` (1 + repair attempts), and a hash index."""
    db["nodes"].add_column("duplicate_of", int)
    db["nodes"].add_column("stages", str)
    db["nodes"].add_column("evaluations", int)
    db["nodes"].create_index(["program_hash"])


@migrations()
def m004_llm_cost(db: sqlite_utils.Database) -> None:
    """The USD cost of each LLM call (null when no price is configured)."""
    db["llm_calls"].add_column("cost_usd", float)


@migrations()
def m005_llm_attempts(db: sqlite_utils.Database) -> None:
    """HTTP attempts per call, and whether a failure was the endpoint's (worth retrying)."""
    db["llm_calls"].add_column("attempts", int)
    db["llm_calls"].add_column("retryable", int)


@migrations()
def m006_inspirations(db: sqlite_utils.Database) -> None:
    """What inspired each node, as its researcher cited it: ``kind`` is ``cognition`` (a
    cognition item's id) or ``node`` (an earlier node's id)."""
    db["inspirations"].create(
        {"node_id": int, "kind": str, "ref_id": int}, pk=("node_id", "kind", "ref_id")
    )


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StoreError(Exception):
    """The run store cannot be used (empty, damaged, not SQLite); nothing was written to it."""


def damaged(path: Path, exc: BaseException) -> StoreError:
    """The one message for a store SQLite cannot read."""
    return StoreError(
        f"{path} is damaged or not a harness run store ({exc}); it was left as it is. "
        "Restore it from a backup, or start a new run."
    )


def _errorcode(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else code & 0xFF  # the primary code of an extended one


def is_damaged(exc: BaseException) -> bool:
    """Whether SQLite says the file is not a database or its pages are corrupt."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _errorcode(exc)
    if code is not None:
        return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return "malformed" in str(exc) or "not a database" in str(exc)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full, from SQLite or the OS."""
    if isinstance(exc, sqlite3.Error):
        code = _errorcode(exc)
        return code == sqlite3.SQLITE_FULL if code is not None else "is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _writable(path: Path) -> bool:
    """Whether SQLite can write beside ``path`` (its WAL index); ``os.access`` also sees a
    read-only mount, which binds root too."""
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def _read_only(path: Path) -> sqlite_utils.Database:
    """An archived run (read-only directory or mount), where SQLite cannot create the WAL
    index (``-shm``): read-only, or immutable when no WAL is left to read from."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    wal = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not all(p.exists() for p in wal):
        uri += "&immutable=1"  # a cleanly closed run: every commit is in the main file
    return sqlite_utils.Database(sqlite3.connect(uri, uri=True, check_same_thread=False))


def open_db(run_dir: str | Path, migrate: bool = True) -> sqlite_utils.Database:
    """Open the run store in ``run_dir``; the writer creates and migrates it, readers
    (``harness status``, monitoring) pass ``migrate=False`` so they never take a write lock,
    and open it read-only where they cannot write. An empty or damaged store is a
    :class:`StoreError` (SQLite would silently start an empty file afresh)."""
    path = Path(run_dir) / DB_NAME
    if not migrate and not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.exists() and path.stat().st_size == 0:
        raise StoreError(
            f"{path} is empty (0 bytes): it holds no run, and it was left as it is. "
            "Restore it from a backup, or start a new run."
        )
    if migrate:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite_utils.Database(path) if migrate or _writable(path) else _read_only(path)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("select count(*) from sqlite_master").fetchone()  # reads the header
        if migrate:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA cache_size=-65536")  # 64 MiB: the working set stays in memory
            if migrations.pending(db):
                migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        if is_damaged(exc):
            raise damaged(path, exc) from exc
        if is_disk_full(exc):
            raise
        raise StoreError(f"cannot open {path}: {exc}") from exc
    return db


def decode_node(row: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON text columns of a ``nodes`` row back into Python values."""
    node = dict(row)
    for key, empty in (
        ("parent_ids", []),
        ("metrics", {}),
        ("cognition_ids", []),
        ("features", {}),
        ("stages", []),
    ):
        node[key] = json.loads(node[key]) if node.get(key) else empty
    node["success"] = bool(node.get("success"))
    return node


def get_node(db: sqlite_utils.Database, node_id: int) -> dict[str, Any]:
    """One node by id; plain SQL because this runs several times every round."""
    cursor = db.execute("select * from nodes where id = ?", [node_id])
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"no node {node_id}")
    return decode_node(dict(zip([c[0] for c in cursor.description], row, strict=True)))


def update_node(db: sqlite_utils.Database, node_id: int, fields: dict[str, Any]) -> None:
    """Commit new values for one node in a single transaction."""
    columns = ", ".join(f"[{name}] = ?" for name in fields)
    with db.conn:
        db.conn.execute(f"update nodes set {columns} where id = ?", [*fields.values(), node_id])


def next_node_id(db: sqlite_utils.Database) -> int:
    row = db.execute("select max(id) from nodes").fetchone()
    return 0 if row[0] is None else row[0] + 1


def save_sampler_state(db: sqlite_utils.Database, name: str, state: str) -> None:
    """Store a sampler's JSON-encoded state (one small row per sampler)."""
    with db.conn:
        db.conn.execute(
            "insert or replace into sampler_state (name, state, updated_at) values (?, ?, ?)",
            [name, state, now()],
        )


def load_sampler_state(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    rows = list(db["sampler_state"].rows_where("name = ?", [name]))
    return json.loads(rows[0]["state"]) if rows else None


def evaluations(db: sqlite_utils.Database) -> int:
    """Evaluations spent so far: one per evaluated node, plus its repair attempts."""
    return db.execute(
        "select coalesce(sum(coalesce(evaluations, 1)), 0) from nodes"
        " where evaluated_at is not null"
    ).fetchone()[0]


def _alive(host: str | None, pid: int | None) -> bool:
    """Whether the process that marked a run ``running`` still exists (same host only)."""
    if host != socket.gethostname() or not pid:
        return True
    return pid_alive(pid)


def summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """The figures ``harness status`` prints, computed in SQL (no full-table copies).

    A run marked ``running`` whose process is gone (killed) is reported as ``stopped``.
    """
    one = db.execute
    nodes = one("select count(*) from nodes").fetchone()[0]
    by_status = dict(one("select status, count(*) from nodes group by status").fetchall())
    best = one(
        "select id, score from nodes where score is not null order by score desc, id limit 1"
    ).fetchone()
    seed = one("select score, status from nodes where id = 0").fetchone()
    calls = one(
        "select count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
        " sum(error is not null), sum(cost_usd) from llm_calls"
    ).fetchone()
    run = next(iter(db["runs"].rows_where(order_by="id desc", limit=1)), None)
    status = run["status"] if run else "empty"
    if status == "running" and not _alive(run["host"], run["pid"]):
        status = "stopped"
    evaluated = evaluations(db)
    return {
        "task": run["task"] if run else None,
        "status": status,
        "stop_reason": run["stop_reason"] if run else None,
        "started_at": run["started_at"] if run else None,
        "finished_at": run["finished_at"] if run else None,
        "sessions": run["sessions"] if run else 0,
        "nodes": nodes,
        "evaluated": evaluated,
        "succeeded": by_status.get("evaluated", 0),
        "failed": by_status.get("failed", 0),
        "duplicates": by_status.get("duplicate", 0),
        "pending": by_status.get("pending", 0),
        "best_score": best[1] if best else None,
        "best_node": best[0] if best else None,
        "seed_score": seed[0] if seed else None,
        "llm_calls": calls[0],
        "llm_errors": calls[3] or 0,
        "tokens_in": calls[1],
        "tokens_out": calls[2],
        "cost_usd": calls[4],
        "models": models(db),
        "inspired_by": inspired_by(db),
        "lessons": db.execute(
            "select count(*) from cognition where json_extract(metadata, '$.kind') = 'lesson'"
        ).fetchone()[0],
    }


_PROPOSED = (
    " from nodes where id > 0 and program is not null and exists ("
    " select 1 from llm_calls l where l.node_id = nodes.id and l.role = 'researcher')"
)


def inspired_by(db: sqlite_utils.Database) -> dict[str, int]:
    """How many LLM-proposed programs their researcher said were inspired by a cognition
    item (whatever else), by earlier nodes only ("experience"), or by neither: the
    paper's provenance analysis, counted from the stored citations instead of estimated.
    A run stored before citations existed (read without migrating) counts as neither."""
    if not db["inspirations"].exists():
        proposed = db.execute("select count(*)" + _PROPOSED).fetchone()[0]
        return {"cognition": 0, "experience": 0, "neither": proposed}
    row = db.execute(
        "select count(*), sum(c > 0), sum(c = 0 and n > 0) from (select"
        " (select count(*) from inspirations i where i.node_id = nodes.id"
        "  and i.kind = 'cognition') as c,"
        " (select count(*) from inspirations i where i.node_id = nodes.id"
        "  and i.kind = 'node') as n" + _PROPOSED + ")"
    ).fetchone()
    proposed, cognition, experience = row[0], row[1] or 0, row[2] or 0
    return {
        "cognition": cognition,
        "experience": experience,
        "neither": proposed - cognition - experience,
    }


def models(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """LLM use per role and model; for researcher models also how many of the nodes they
    wrote scored above their parent (what an ensemble's bandit optimises)."""
    improved = dict(
        db.execute(
            "select c.model, count(distinct n.id) from nodes n"
            " join llm_calls c on c.node_id = n.id and c.role = 'researcher'"
            " join nodes p on p.id = json_extract(n.parent_ids, '$[0]')"
            " where n.status = 'evaluated' and n.success = 1 and n.score > p.score"
            " group by c.model"
        ).fetchall()
    )
    rows = db.execute(
        "select role, model, count(*), coalesce(sum(tokens_in + tokens_out), 0), sum(cost_usd)"
        " from llm_calls group by role, model order by role, model"
    ).fetchall()
    return [
        {
            "role": role,
            "model": model,
            "calls": count,
            "tokens": tokens,
            "cost_usd": cost,
            **({"improved": improved.get(model, 0)} if role == "researcher" else {}),
        }
        for role, model, count, tokens, cost in rows
    ]
