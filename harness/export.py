"""Trace export: one record per proposal (the researcher's exchange that produced a node),
for fine-tuning, offline RL or analysis outside the harness (docs/export.md).

Stores are opened read-only (:func:`harness.web.stores.connect`) and never migrated, so an
older store exports with nulls for what it lacks, and a running run is undisturbed. Records
stream from the SQL cursor to the exporter one at a time: a large run never sits in memory.
Exporters are plugins (``harness_register_exporters``); ``jsonl`` and ``parquet`` are built
in (:mod:`harness.default_plugins.exporters`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from harness.compare import find_run_dirs
from harness.db.programs import resolve
from harness.web.stores import reading

#: Every record's fields, in order, with their types (``messages``: a list of
#: ``{"role", "content"}``; ``ints``: a list of int). Exporters with a schema build it here.
FIELDS: dict[str, str] = {
    "run": "string",
    "task": "string",
    "node_id": "int",
    "parent_id": "int",
    "reference_ids": "ints",
    "name": "string",
    "role": "string",
    "prompt": "messages",
    "answer": "string",
    "model": "string",
    "tokens_in": "int",
    "tokens_out": "int",
    "cost_usd": "float",
    "program": "string",
    "parent_program": "string",
    "score": "float",
    "parent_score": "float",
    "improvement": "float",
    "success": "bool",
    "status": "string",
    "error_class": "string",
    "motivation": "string",
    "created_at": "string",
}

Record = dict[str, Any]


class Exporter(Protocol):
    """What an exporter factory returns: ``factory(path)`` where ``path`` is the file to
    write (the command renames it into place once ``write`` returns)."""

    def write(self, records: Iterable[Record]) -> int:
        """Write every record (consume the iterable once, lazily); return how many."""
        ...


class ExportError(Exception):
    """The export cannot be made (a missing library, an unreadable store)."""


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a missing value is None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _messages(request: str | None) -> list[dict[str, str]] | None:
    """The messages as sent (what ``llm_calls.request`` holds: a JSON list of
    ``{"role", "content"}``, or ``{"messages": [...]}``); the raw text as one ``request``
    message when it is neither."""
    if request is None:
        return None
    try:
        data = json.loads(request)
    except ValueError:
        return [{"role": "request", "content": request}]
    messages = data.get("messages", data) if isinstance(data, dict) else data
    if not isinstance(messages, list):
        return [{"role": "request", "content": request}]
    return [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
        if isinstance(m, dict)
        else {"role": "", "content": str(m)}
        for m in messages
    ]


def _columns(db: sqlite_utils.Database, table: str) -> set[str]:
    return set(db.table(table).columns_dict) if db.table(table).exists() else set()


def _query(db: sqlite_utils.Database, all_nodes: bool, only_success: bool) -> str:
    """One row per node and its last call of the role (``?``); a store made before
    ``llm_calls.cost_usd`` exports null costs. Pending rounds have no outcome yet."""
    cost = "c.cost_usd" if "cost_usd" in _columns(db, "llm_calls") else "null"
    trees = "tree_id" in _columns(db, "nodes")  # a multi-file program's (harness.db.programs)
    tree, parent_tree = ("n.tree_id", "p.tree_id") if trees else ("null", "null")
    return (
        "select n.id, n.parent_ids, n.name, c.role, c.request, c.response, c.model,"
        f" c.tokens_in, c.tokens_out, {cost}, n.program, {tree}, p.program, {parent_tree},"
        " n.score, p.score,"
        " n.success, p.success, n.status, n.error_class, n.motivation, n.created_at"
        f" from nodes n {'left ' if all_nodes else ''}join llm_calls c on c.id ="
        " (select max(id) from llm_calls where node_id = n.id and role = ?)"
        " left join nodes p on p.id = json_extract(n.parent_ids, '$[0]')"
        " where n.status != 'pending'"
        + (" and n.success = 1" if only_success else "")
        + " order by n.id"
    )


def _records(
    db: sqlite_utils.Database, run: str, role: str, all_nodes: bool, only_success: bool
) -> Iterator[Record]:
    found = db.execute("select task from runs order by id limit 1").fetchone()
    task = found[0] if found else None
    for row in db.execute(_query(db, all_nodes, only_success), [role]):
        (node_id, parents, name, call_role, request, answer, model, tokens_in, tokens_out,
         cost, program, tree, parent_program, parent_tree, score, parent_score, success,
         parent_success, status, error_class, motivation, created_at) = row  # fmt: skip
        program, parent_program = resolve(db, [(program, tree), (parent_program, parent_tree)])
        ids = [int(i) for i in json.loads(parents or "[]")]
        score, parent_score = _finite(score), _finite(parent_score)
        improved = success and parent_success and None not in (score, parent_score)
        yield {
            "run": run,
            "task": task,
            "node_id": node_id,
            "parent_id": ids[0] if ids else None,
            "reference_ids": ids[1:],
            "name": name,
            "role": call_role,
            "prompt": _messages(request),
            "answer": answer,
            "model": model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": _finite(cost),
            "program": program,
            "parent_program": parent_program,
            "score": score,
            "parent_score": parent_score,
            "improvement": score - parent_score if improved else None,
            "success": bool(success),
            "status": status,
            "error_class": error_class,
            "motivation": motivation,
            "created_at": created_at,
        }


def runs(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """``(run, run directory)`` of every run at or below ``paths`` (run directories or
    sweeps); ``run`` is the directory relative to its path's parent (``a`` for ``runs/a``,
    ``stamp/0`` for ``multirun/stamp``). :class:`harness.compare.NoRunsFoundError` when a
    path holds none."""
    found = []
    for path in paths:
        base = Path(path).resolve().parent
        for run_dir in find_run_dirs([path]):
            found.append((run_dir.resolve().relative_to(base).as_posix(), run_dir))
    return found


def records(
    found: Iterable[tuple[str, Path]],
    role: str = "researcher",
    all_nodes: bool = False,
    only_success: bool = False,
) -> Iterator[Record]:
    """The records of the runs :func:`runs` found, run by run in node order. Nodes without
    a call of ``role`` (the seed, an offline proposer's) are skipped, or kept with null
    exchange fields when ``all_nodes``; ``only_success`` keeps the nodes that evaluated
    successfully."""
    for name, run_dir in found:
        with reading(run_dir) as db:
            yield from _records(db, name, role, all_nodes, only_success)


def export(
    paths: Sequence[Path],
    out: Path,
    factory: Callable[[Path], Exporter],
    role: str = "researcher",
    all_nodes: bool = False,
    only_success: bool = False,
) -> int:
    """Write the records of ``paths`` with the exporter ``factory`` to ``out``; returns how
    many. The exporter writes a hidden file beside ``out``, renamed into place when it is
    complete, so a failed export leaves no partial file (and the old one, if any)."""
    found = runs(paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    try:
        count = factory(part).write(records(found, role, all_nodes, only_success))
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return count


class JsonlExporter:
    """One JSON object per line (``datasets.load_dataset("json", data_files=PATH)``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, records: Iterable[Record]) -> int:
        count = 0
        with self.path.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
                count += 1
        return count


def _arrow_schema() -> Any:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    types = {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "ints": pa.list_(pa.int64()),
        "messages": pa.list_(message),
    }
    return pa.schema([(name, types[kind]) for name, kind in FIELDS.items()])


class ParquetExporter:
    """A Parquet file with a fixed schema (:data:`FIELDS`), written ``batch`` records per
    row group (``datasets.Dataset.from_parquet(PATH)``). Needs pyarrow."""

    def __init__(self, path: Path, batch: int = 1000) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise ExportError(
                "--format parquet needs pyarrow, which is not installed: "
                "pip install pyarrow (or use --format jsonl)"
            ) from exc
        self.path, self.batch = path, batch

    def write(self, records: Iterable[Record]) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema, count, rows = _arrow_schema(), 0, []
        with pq.ParquetWriter(self.path, schema) as writer:
            for record in records:
                rows.append(record)
                if len(rows) == self.batch:
                    writer.write_table(pa.Table.from_pylist(rows, schema))
                    count, rows = count + len(rows), []
            if rows or not count:
                writer.write_table(pa.Table.from_pylist(rows, schema))
        return count + len(rows)
