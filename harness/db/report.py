"""What ``harness status`` and ``harness compare`` report of a run, computed in SQL."""

from __future__ import annotations

import socket
from typing import Any

import sqlite_utils

from harness.db.nodes import find_node
from harness.db.programs import has_trees
from harness.estimate import LEVEL, paired
from harness.nodes import scored_samples
from harness.sandbox import pid_alive


def evaluations(db: sqlite_utils.Database) -> int:
    """Evaluations spent so far: one per evaluated node, plus its repair attempts and its
    re-evaluations on fresh seeds (``run.confirm``)."""
    spent = db.execute(
        "select coalesce(sum(coalesce(evaluations, 1)), 0) from nodes"
        " where evaluated_at is not null"
    ).fetchone()[0]
    if db.table("reevaluations").exists():
        spent += db.execute("select count(*) from reevaluations").fetchone()[0]
    return int(spent)


def _noise(db: sqlite_utils.Database) -> bool:
    """Whether the store has the columns of stochastic scores (a store made before them is
    read, by ``status``, without migrating)."""
    return "samples" in db.table("nodes").columns_dict


def best_node(db: sqlite_utils.Database) -> tuple[int, float] | None:
    """(id, score) of the run's best node: the highest score, the first of equals, among
    the nodes that may be best (under ``run.confirm``: the seed and the confirmed ones)."""
    eligible = ""
    if _noise(db):
        eligible = (
            " and (id = 0 or confirmation is null"
            " or json_extract(confirmation, '$.verdict') = 'confirmed')"
        )
    row = db.execute(
        f"select id, score from nodes where score is not null and status != 'duplicate'{eligible}"
        " order by score desc, id limit 1"
    ).fetchone()
    return (row[0], row[1]) if row else None


def estimates(db: sqlite_utils.Database, best: int | None, level: float = LEVEL) -> dict[str, Any]:
    """For a stochastic task: the best's and the seed's score as mean, standard error and
    n, and the paired comparison of the best with the seed on their shared seeds (the
    final report's "does the best beat the seed", one-sided at ``1 - level``)."""
    if not _noise(db):
        return {}
    seed = find_node(db, 0)
    top = find_node(db, best) if best is not None else None
    found: dict[str, Any] = {}
    for name, node in (("best", top), ("seed", seed)):
        if node is not None and node.score_n is not None:
            found[f"{name}_score_se"], found[f"{name}_score_n"] = node.score_se, node.score_n
    comparison = None
    if top is not None and seed is not None and top.id != 0:
        # On the seeds of the best's score: the fresh ones, when it was confirmed.
        comparison = paired(scored_samples(top.samples, top.confirmation), seed.samples)
    if comparison is not None:
        found["best_vs_seed"] = {
            "gain": comparison.gain.mean,
            "gain_se": comparison.gain.se,
            "n": comparison.gain.n,
            "p_value": comparison.p_value,
            "level": level,
            "significant": comparison.significant(1 - level),
        }
    return found


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
    best = best_node(db)
    seed = one("select score, status from nodes where id = 0").fetchone()
    calls = one(
        "select count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
        " sum(error is not null), sum(cost_usd) from llm_calls"
    ).fetchone()
    run = next(iter(db.table("runs").rows_where(order_by="id desc", limit=1)), None)
    status = run["status"] if run else "empty"
    if run is not None and status == "running" and not _alive(run["host"], run["pid"]):
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
        "rejected_novelty": by_status.get("rejected_novelty", 0),
        "pending": by_status.get("pending", 0),
        "best_score": best[1] if best else None,
        "best_node": best[0] if best else None,
        "seed_score": seed[0] if seed else None,
        **estimates(db, best[0] if best else None),
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
        **meta_version(db),
        **operators(db),
    }


_IMPROVED = (
    " (n.status = 'evaluated' and n.success = 1 and n.score > p.score) as improved"
    " from nodes n left join nodes p on p.id = json_extract(n.parent_ids, '$[0]')"
)


def operators(db: sqlite_utils.Database) -> dict[str, list[dict[str, Any]]]:
    """``operators``: per search operator and per prompt variant (docs/operators.md), how
    many nodes were asked with it and how many of them scored above their parent (what
    the operators' bandit optimises); absent when the run used neither."""
    if "operator" not in db.table("nodes").columns_dict:
        return {}
    rows = db.execute(
        "select kind, name, count(*), coalesce(sum(improved), 0) from ("
        " select 'operator' as kind, n.operator as name," + _IMPROVED + " where n.operator"
        " is not null union all select 'variant', n.prompt_variant," + _IMPROVED + " where"
        " n.prompt_variant is not null"
        ") group by kind, name order by kind, name"
    ).fetchall()
    if not rows:
        return {}
    return {
        "operators": [
            {"kind": kind, "name": name, "nodes": count, "improved": improved}
            for kind, name, count, improved in rows
        ]
    }


def meta_version(db: sqlite_utils.Database) -> dict[str, int]:
    """``meta_version``: the latest meta-recommendations version (``run.meta``), when any."""
    if not db.table("meta_recommendations").exists():
        return {}
    latest = db.execute("select max(version) from meta_recommendations").fetchone()[0]
    return {} if latest is None else {"meta_version": latest}


def _proposed(db: sqlite_utils.Database) -> str:
    """The nodes with a program (one-file or tree) that a researcher proposed."""
    tree = " or tree_id is not null" if has_trees(db) else ""
    return (
        f" from nodes where id > 0 and (program is not null{tree}) and exists ("
        " select 1 from llm_calls l where l.node_id = nodes.id and l.role = 'researcher')"
    )


def inspired_by(db: sqlite_utils.Database) -> dict[str, int]:
    """How many LLM-proposed programs their researcher said were inspired by a cognition
    item (whatever else), by earlier nodes only ("experience"), or by neither: the
    paper's provenance analysis, counted from the stored citations instead of estimated.
    A run stored before citations existed (read without migrating) counts as neither."""
    if not db.table("inspirations").exists():
        proposed = db.execute("select count(*)" + _proposed(db)).fetchone()[0]
        return {"cognition": 0, "experience": 0, "neither": proposed}
    row = db.execute(
        "select count(*), sum(c > 0), sum(c = 0 and n > 0) from (select"
        " (select count(*) from inspirations i where i.node_id = nodes.id"
        "  and i.kind = 'cognition') as c,"
        " (select count(*) from inspirations i where i.node_id = nodes.id"
        "  and i.kind = 'node') as n" + _proposed(db) + ")"
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
