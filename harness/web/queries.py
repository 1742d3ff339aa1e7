"""What the pages show, read from one open store as plain dicts (JSON-ready).

Stores written by older versions lack newer tables and columns (``inspirations``,
``reevaluations``, ``llm_calls.cost_usd``, ``nodes.duplicate_of``...): every query here
asks for what the store has, and the tree comes from ``nodes.parent_ids``, which every
version has (a node's parent is its first element).
"""

from __future__ import annotations

import difflib
import json
import math
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from harness import db as store
from harness.compare import CompareError, load_run
from harness.compare.stats import best_so_far, group_runs
from harness.tree import Tree, is_tree
from harness.web.layout import layout


def _columns(db: sqlite_utils.Database, table: str) -> set[str]:
    return set(db.table(table).columns_dict) if db.table(table).exists() else set()


def _finite(value: Any) -> Any:
    """JSON has no NaN: a missing value is None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _parent(parent_ids: str | None) -> int | None:
    ids = json.loads(parent_ids) if parent_ids else []
    return int(ids[0]) if ids else None


def best_known(db: sqlite_utils.Database, task: str | None) -> float | None:
    """The task's best known score, when its plugin is installed and says one."""
    from harness.tasks import recorded_spec

    spec = recorded_spec(db, task)
    return spec.best_known if spec else None


def _basic_summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """The figures every store version has (``store.summary`` needs newer columns)."""
    run = db.execute("select task, status, started_at, finished_at from runs limit 1").fetchone()
    count, evaluated = db.execute("select count(*), count(evaluated_at) from nodes").fetchone()
    best = store.best_node(db)
    return {
        "task": run[0] if run else None,
        "status": run[1] if run else "empty",
        "started_at": run[2] if run else None,
        "finished_at": run[3] if run else None,
        "nodes": count,
        "evaluated": evaluated,
        "best_score": best[1] if best else None,
        "best_node": best[0] if best else None,
        "cost_usd": None,
        "llm_calls": db.execute("select count(*) from llm_calls").fetchone()[0],
    }


def summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """``harness status``'s figures, with the task's best known score."""
    try:
        found = store.summary(db)
    except sqlite3.OperationalError:  # an older store: no such column or table
        found = _basic_summary(db)
    found["best_known"] = best_known(db, found["task"])
    return found


def meta_versions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The run's meta-recommendations (``run.meta``), newest first; none in older stores."""
    if not db.table("meta_recommendations").exists():
        return []
    return list(db["meta_recommendations"].rows_where(order_by="version desc"))


def best_path(db: sqlite_utils.Database, parents: dict[int, int | None]) -> list[int]:
    """The best node's ancestry, seed first (empty before any success)."""
    best = store.best_node(db)
    path: list[int] = []
    node = best[0] if best else None
    while node is not None and node not in path:
        path.append(node)
        node = parents.get(node)
    return path[::-1]


def tree(db: sqlite_utils.Database) -> dict[str, Any]:
    """Every node with its place in the layout, and the best path."""
    has_duplicates = "duplicate_of" in _columns(db, "nodes")
    rows = db.execute(
        "select id, parent_ids, island, score, status, success, name, "
        + ("duplicate_of" if has_duplicates else "null")
        + " from nodes order by id"
    ).fetchall()
    parents = {row[0]: _parent(row[1]) for row in rows}
    places = layout([(row[0], parents[row[0]], row[2]) for row in rows])
    path = best_path(db, parents)
    on_path = set(path)
    nodes = [
        {
            "id": node_id,
            "parent": parents[node_id],
            "island": island,
            "score": _finite(score),
            "status": status,
            "success": bool(success),
            "name": name,
            "duplicate_of": duplicate_of,
            "best_path": node_id in on_path,
            "x": places[node_id].x,
            "y": places[node_id].y,
        }
        for node_id, _, island, score, status, success, name, duplicate_of in rows
    ]
    return {"count": len(nodes), "nodes": nodes, "best_path": path}


def node_list(db: sqlite_utils.Database, offset: int = 0, limit: int | None = None) -> list[dict]:
    """Nodes newest first, for the run page's table."""
    rows = db.execute(
        "select id, name, status, score, island, error_class from nodes order by id desc"
        + (" limit ? offset ?" if limit is not None else ""),
        [limit, offset] if limit is not None else [],
    ).fetchall()
    keys = ("id", "name", "status", "score", "island", "error_class")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def diff_lines(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """``(kind, text)`` per line of the unified diff, kind ``add|del|ctx|hunk``; with no
    parent (the seed) the whole program as context."""
    if before is None:
        return [("ctx", line) for line in (after or "").splitlines()]
    lines = []
    for line in difflib.unified_diff(
        before.splitlines(), (after or "").splitlines(), "parent", "node", lineterm=""
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "ctx")
        lines.append((kind, line))
    return lines


def file_changes(before: str | None, after: str) -> list[dict[str, Any]]:
    """Per file of the tree ``after`` (a multi-file program's text) against its parent's
    program ``before`` (a tree, a one-file program read as one file, or None for the seed):
    path, status (``added``, ``removed``, ``changed``, ``unchanged``; ``seed`` with no
    parent), the file's text and its diff lines (:func:`diff_lines`; none when unchanged),
    in path order."""
    tree = Tree.parse(after)
    if before is None:
        return [
            {"path": path, "status": "seed", "text": text, "diff": []} for path, text in tree.files
        ]
    parent = Tree.parse(before)
    mine, theirs = dict(tree.files), dict(parent.files)
    files = []
    for path in sorted(mine.keys() | theirs.keys()):
        old, new = theirs.get(path), mine.get(path)
        status = (
            "added" if old is None else "removed" if new is None
            else "unchanged" if old == new else "changed"
        )  # fmt: skip
        lines = [] if status == "unchanged" else diff_lines(old or "", new or "")
        files.append({"path": path, "status": status, "text": new or "", "diff": lines})
    return files


def _messages(request: str | None) -> list[dict[str, str]]:
    """The request's messages (role, content); the raw text when it is not that JSON."""
    try:
        data = json.loads(request or "")
    except ValueError:
        return [{"role": "request", "content": request or ""}]
    messages = data.get("messages", data) if isinstance(data, dict) else data
    if not isinstance(messages, list):
        return [{"role": "request", "content": json.dumps(data, indent=2)}]
    return [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
        if isinstance(m, dict)
        else {"role": "", "content": str(m)}
        for m in messages
    ]


def llm_calls(db: sqlite_utils.Database, node_id: int) -> list[dict[str, Any]]:
    """The node's LLM exchanges in order, each with its messages decoded."""
    calls = []
    for row in db.table("llm_calls").rows_where("node_id = ?", [node_id], order_by="id"):
        calls.append(
            {**row, "cost_usd": row.get("cost_usd"), "messages": _messages(row["request"])}
        )
    return calls


def cited_cognition(db: sqlite_utils.Database, node_id: int) -> list[dict[str, Any]]:
    """The cognition items the node's researcher cited (none in a store before citations)."""
    if not db.table("inspirations").exists():
        return []
    rows = db.execute(
        "select c.id, c.content, c.source from inspirations i join cognition c"
        " on c.id = i.ref_id where i.node_id = ? and i.kind = 'cognition' order by c.id",
        [node_id],
    ).fetchall()
    return [{"id": i, "content": content, "source": source} for i, content, source in rows]


def node_detail(
    db: sqlite_utils.Database, node_id: int, children: list[int] | None = None
) -> dict[str, Any] | None:
    """One node decoded, with its change against its parent (``diff``; for a multi-file
    program ``files``, per file, and ``patch``, the whole change as ``git apply`` takes
    it), children (read from the store unless given: the report knows them from the tree),
    citations and LLM exchanges; None when the store has no such node."""
    row = next(iter(db.table("nodes").rows_where("id = ?", [node_id])), None)
    if row is None:
        return None
    node = store.decode_node(store.with_programs(db, [row])[0])
    parent = node["parent_ids"][0] if node["parent_ids"] else None
    before = store.program_of(db, parent) if parent is not None else None
    program = node.get("program")
    multi = program is not None and is_tree(program)
    if children is None:
        children = [
            r[0]
            for r in db.execute(
                "select id from nodes where json_extract(parent_ids, '$[0]') = ? order by id",
                [node_id],
            )
        ]
    return {
        "node": node,
        "parent": parent,
        "children": children,
        "diff": [] if multi else diff_lines(before, program),
        "files": file_changes(before, program) if multi and program else None,
        "patch": Tree.parse(program).diff(Tree.parse(before))
        if multi and program and before
        else "",
        "cognition": cited_cognition(db, node_id),
        "llm": llm_calls(db, node_id),
    }


def _seconds(start: str | None, stamp: str | None) -> float | None:
    if not start or not stamp:
        return None
    return (datetime.fromisoformat(stamp) - datetime.fromisoformat(start)).total_seconds()


def curves(db: sqlite_utils.Database) -> dict[str, Any]:
    """Per evaluated node in completion order: index, score (None when it failed),
    best-so-far, seconds since the run started, and the LLM cost of the nodes so far
    (each node's own calls, its analysis included)."""
    eligible = "1"
    if "confirmation" in _columns(db, "nodes"):  # a store made before run.confirm has none
        eligible = (
            "id = 0 or coalesce(json_extract(confirmation, '$.verdict'), 'confirmed') = 'confirmed'"
        )
    rows = db.execute(
        f"select id, success and ({eligible}), score, evaluated_at from nodes"
        " where evaluated_at is not null order by evaluated_at, id"
    ).fetchall()
    run = db.execute("select task, started_at from runs order by id limit 1").fetchone()
    task, started = run if run else (None, None)
    costs: dict[int, float] = {}
    if "cost_usd" in _columns(db, "llm_calls"):
        costs = dict(
            db.execute(
                "select node_id, sum(cost_usd) from llm_calls where cost_usd is not null"
                " group by node_id"
            ).fetchall()
        )
    best = best_so_far((ok, score) for _, ok, score, _ in rows)
    points, spent = [], 0.0
    for index, ((node_id, ok, score, at), top) in enumerate(zip(rows, best, strict=True), start=1):
        spent += costs.get(node_id, 0.0)
        points.append(
            {
                "index": index,
                "node": node_id,
                "score": _finite(score) if ok else None,
                "best": _finite(top),
                "seconds": _seconds(started, at),
                "cost": spent if costs else None,
            }
        )
    return {"points": points, "best_known": best_known(db, task), "has_cost": bool(costs)}


def sweep(runs: dict[str, Path]) -> dict[str, Any]:
    """The sweep's runs grouped as ``harness compare`` groups them: mean, low and high
    best-so-far per group, and each group's run keys."""
    curves, keys, errors = [], {}, []
    for key, run_dir in runs.items():
        try:
            curve = load_run(run_dir)
        except CompareError as exc:
            errors.append(str(exc))
            continue
        curves.append(curve)
        keys[id(curve)] = key
    groups = [
        {
            "label": group.label,
            "runs": [keys[id(r)] for r in group.runs],
            "finals": [_finite(r.final) for r in group.runs],
            "mean": [_finite(v) for v in group.mean],
            "low": [_finite(v) for v in group.low],
            "high": [_finite(v) for v in group.high],
        }
        for group in group_runs(curves)
    ]
    return {"groups": groups, "errors": errors}
