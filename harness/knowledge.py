"""The run's use of its cognition base: loading it, retrieving for a round, and writing
the analyzer's lessons back for later rounds.

Retrieval failures cost a round its knowledge, never the run; a lesson keeps its
provenance (run, node, score) in the item's metadata, and near-duplicates of stored items
are skipped (``cognition.dedupe_threshold``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlite_utils

from harness.cognition import CognitionBase, EmbeddingError, build_queries
from harness.cognition.files import read_items
from harness.config import CognitionConf
from harness.llm.base import NodeView
from harness.task import CognitionItem, TaskSpec
from harness.tasks import RunError

log = logging.getLogger("harness")


def load(base: CognitionBase, db: sqlite_utils.Database, spec: TaskSpec, conf: CognitionConf
         ) -> None:  # fmt: skip
    """Load the stored items, adding the task's own and those of ``cognition.files``."""
    seeds = list(spec.cognition)
    try:
        for path in conf.files:
            seeds += read_items(Path(path).expanduser())
        base.load(db, seeds)
    except (OSError, ValueError, EmbeddingError) as exc:
        raise RunError(f"cognition: {exc}") from exc


def retrieve(base: CognitionBase, context: list[NodeView], conf: CognitionConf) -> list[int]:
    """Ids of the items for a round's context (stored with its node)."""
    try:
        hits = base.search(build_queries(context), k=conf.k, threshold=conf.threshold)
    except EmbeddingError as exc:  # the round goes on without knowledge, and says so
        log.warning("cognition search failed, this round gets no knowledge: %s", exc)
        return []
    return [hit.id for hit in hits]


def write_back(
    base: CognitionBase,
    db: sqlite_utils.Database,
    lessons: list[str],
    *,
    node_id: int,
    score: float | None,
    run_dir: Path,
    dedupe_threshold: float | None,
) -> None:
    """Store ``lessons`` of node ``node_id`` as cognition items; a failure is logged, not
    raised (a lost lesson must not cost the run)."""
    items = [
        CognitionItem(
            lesson,
            source=f"lesson from node {node_id} of run {run_dir.name}",
            metadata={"kind": "lesson", "run": str(run_dir), "node": node_id, "score": score},
        )
        for lesson in lessons
    ]
    try:
        base.add(db, items, dedupe_threshold=dedupe_threshold)
    except Exception as exc:  # noqa: BLE001 - a lost lesson must not cost the run
        log.warning("node %d: lessons not written back: %s: %s", node_id, type(exc).__name__, exc)
