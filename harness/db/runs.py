"""The run's own rows: its sessions, the sampler's state, LLM calls and citations."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any, NamedTuple, cast

import sqlite_utils
import yaml

from harness.db.connection import now
from harness.llm.base import LLMCall


def run_task(db: sqlite_utils.Database) -> str | None:
    """The task of the run stored in ``db``; None for a new store."""
    row = db.execute("select task from runs order by id limit 1").fetchone()
    return None if row is None else row[0]


def recorded_section(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    """Section ``name`` (``task``, ``llm``, ``cognition``...) of the config the run recorded
    when it started, as plain data ({} when the config has no such section); None when the
    store records no run config."""
    row = db.execute("select config from runs order by id desc limit 1").fetchone()
    if row is None or not row[0]:
        return None
    section = (yaml.safe_load(row[0]) or {}).get(name)
    return section if isinstance(section, dict) else {}


def start_session(db: sqlite_utils.Database, task: str, fields: dict[str, Any]) -> int:
    """Mark the run ``running`` with ``fields`` (config, host, pid...): a new row for a new
    run, the first row again, one session more, for a resume. Returns the run's id."""
    runs = db.table("runs")
    row = next(iter(runs.rows_where(order_by="id", limit=1)), None)
    fields = {**fields, "status": "running", "stop_reason": None, "finished_at": None}
    if row is None:
        runs.insert({"task": task, "started_at": now(), "sessions": 1, **fields})
        return cast(int, runs.last_pk)
    runs.update(row["id"], {**fields, "sessions": (row["sessions"] or 0) + 1})
    return int(row["id"])


def finish_session(db: sqlite_utils.Database, run_id: int, status: str, reason: str | None) -> None:
    db.table("runs").update(run_id, {"status": status, "stop_reason": reason, "finished_at": now()})


#: Store a sampler's JSON-encoded state (one small row per sampler): name, state, when;
#: a node's commit carries it, with the journal (:class:`SamplerRecord`).
SAVE_SAMPLER_STATE = (
    "insert or replace into sampler_state (name, state, updated_at) values (?, ?, ?)"
)


def load_sampler_state(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    rows = list(db.table("sampler_state").rows_where("name = ?", [name]))
    return json.loads(rows[0]["state"]) if rows else None


class SamplerRecord(NamedTuple):
    """What a node's commit stores of its sampler: its JSON state when that changed, and
    its new journal entries (JSON texts), appended."""

    name: str
    state: str | None
    journal: list[str]


#: Append one journal entry of a sampler: name, entry.
APPEND_SAMPLER_JOURNAL = "insert into sampler_journal (name, entry) values (?, ?)"


def sampler_journal(db: sqlite_utils.Database, name: str) -> list[Any]:
    """A sampler's journal entries, decoded, in the order they were recorded."""
    if not db.table("sampler_journal").exists():  # a store read without migrating
        return []
    rows = db.execute("select entry from sampler_journal where name = ? order by id", [name])
    return [json.loads(entry) for (entry,) in rows.fetchall()]


#: The ``llm_calls`` columns a call fills; statements built once, as sqlite-utils' inserts
#: read the schema again on every call (rounds store calls and citations often).
_CALL_FIELDS = tuple(f.name for f in fields(LLMCall))
_INSERT_CALL = (
    f"insert into llm_calls (node_id, created_at, {', '.join(_CALL_FIELDS)})"
    f" values (?, ?, {', '.join('?' for _ in _CALL_FIELDS)})"
)


def record_calls(db: sqlite_utils.Database, node_id: int, calls: list[LLMCall]) -> None:
    """Store a round's LLM exchanges with their tokens and cost."""
    if calls:
        stamp = now()
        rows = [[node_id, stamp, *(getattr(call, f) for f in _CALL_FIELDS)] for call in calls]
        with db.conn:
            db.conn.executemany(_INSERT_CALL, rows)


class ResearcherCall(NamedTuple):
    model: str
    cost_usd: float | None
    tokens: int


def researcher_calls(db: sqlite_utils.Database, node_id: int) -> list[ResearcherCall]:
    """The researcher's calls for one node, in order (what an ensemble's bandit learns from)."""
    rows = db.execute(
        "select model, cost_usd, tokens_in + tokens_out from llm_calls"
        " where node_id = ? and role = 'researcher' order by id",
        [node_id],
    ).fetchall()
    return [ResearcherCall(model, cost, tokens or 0) for model, cost, tokens in rows]


def add_inspirations(
    db: sqlite_utils.Database, node_id: int, citations: Iterable[tuple[str, int]]
) -> None:
    """Keep what inspired a node: ``(kind, id)`` pairs, ``kind`` ``cognition`` or ``node``."""
    rows = [(node_id, kind, ref) for kind, ref in citations]
    if rows:
        with db.conn:
            db.conn.executemany(
                "insert or replace into inspirations (node_id, kind, ref_id) values (?, ?, ?)",
                rows,
            )


class Counts(NamedTuple):
    """The run's counts that resume starts from."""

    rounds: int
    duplicates: int
    cost_usd: float
    seed_score: float | None


def counts(db: sqlite_utils.Database) -> Counts:
    one = db.execute
    seed = one("select score from nodes where id = 0").fetchone()
    return Counts(
        rounds=one("select count(*) from nodes where id > 0").fetchone()[0],
        duplicates=one("select count(*) from nodes where status = 'duplicate'").fetchone()[0],
        cost_usd=one("select coalesce(sum(cost_usd), 0) from llm_calls").fetchone()[0],
        seed_score=seed[0] if seed else None,
    )
