"""The built-in ``embedding`` novelty filter: cosine similarity of program embeddings.

The archive is every successfully evaluated node's program vector, kept in one in-memory
matrix (rows appended as nodes complete; rebuilt from the store when a run starts or
resumes), so a check costs one embedding and one matrix-vector product, never a scan of
the nodes table. Failed evaluations stay out of it: a small fix of a broken program looks
like the broken one to an embedding, and is exactly what should be evaluated.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import sqlite_utils

from harness import db as store
from harness import plugins
from harness.cognition.embedders import Embedder
from harness.filters import NoveltyConf, Verdict
from harness.llm.base import NoveltyJudge, NoveltyRequest, Proposer
from harness.nodes import Node
from harness.task import TaskSpec

log = logging.getLogger("harness")

#: Programs embedded per call when the archive is rebuilt.
REBUILD_BATCH = 64


class EmbeddingFilter:
    """Rejects a program whose cosine similarity to its parent or to one of the ``k``
    nearest archived programs reaches ``threshold``; with ``judge``, only when the
    back-end's novelty judge also finds it not meaningfully different."""

    name = "embedding"

    def __init__(self, config: dict[str, Any], proposer: Proposer, task: TaskSpec) -> None:
        settings = {**asdict(NoveltyConf()), **config}
        self.threshold = float(settings["threshold"])
        self.k = int(settings["k"])
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"novelty.threshold must be in (0, 1], not {self.threshold}")
        if self.k < 1:
            raise ValueError(f"novelty.k must be at least 1, not {self.k}")
        self.judge: NoveltyJudge | None = None
        if settings["judge"]:
            if not isinstance(proposer, NoveltyJudge):
                raise ValueError(
                    f"novelty.judge=true needs a back-end with a novelty judge; "
                    f"llm={proposer.name} has none"
                )
            self.judge = proposer
        factory = plugins.get_embedder_factory(str(settings["backend"]))
        self.embedder: Embedder = factory({**settings, **(settings["extra"] or {})})
        self.task = task
        self.db: sqlite_utils.Database | None = None
        self.ids: list[int] = []
        self.rows: dict[int, int] = {}
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        #: node id -> (program, vector) embedded by ``check``, reused when it is admitted.
        self._checked: dict[int, tuple[str, np.ndarray]] = {}

    def rebuild(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.ids, self.rows = [], {}
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        rows = store.node_programs(db, "status = 'evaluated'")
        for start in range(0, len(rows), REBUILD_BATCH):
            batch = rows[start : start + REBUILD_BATCH]
            self._append([i for i, _ in batch], self.embedder.embed([p for _, p in batch]))

    def admit(self, node: Node) -> None:
        checked = self._checked.pop(node.id, None)
        if node.status != "evaluated" or node.program is None or node.id in self.rows:
            return
        if checked is not None and checked[0] == node.program:
            vector = checked[1]
        else:  # the seed, or a program a repair replaced
            vector = self.embedder.embed([node.program])[0]
        self._append([node.id], vector[None, :])

    def _append(self, ids: list[int], vectors: np.ndarray) -> None:
        """Add rows, doubling the matrix's capacity when full (amortised O(1) a row)."""
        size = len(self.ids)
        if self.matrix.shape[0] < size + len(ids) or self.matrix.shape[1] != vectors.shape[1]:
            capacity = max(64, 2 * (size + len(ids)))
            grown = np.zeros((capacity, vectors.shape[1]), dtype=np.float32)
            if size:
                grown[:size] = self.matrix[:size]
            self.matrix = grown
        self.matrix[size : size + len(ids)] = vectors
        for offset, node_id in enumerate(ids):
            self.rows[node_id] = size + offset
        self.ids.extend(ids)

    async def check(self, node: Node) -> Verdict:
        program = node.program or ""
        vector = self.embedder.embed([program])[0]
        self._checked[node.id] = (program, vector)
        if not self.ids:
            return Verdict(False)
        sims = self.matrix[: len(self.ids)] @ vector
        k = min(self.k, len(sims))
        nearest = np.argpartition(-sims, k - 1)[:k]
        nearest = nearest[np.lexsort((nearest, -sims[nearest]))]
        parent = self.rows.get(node.parent_ids[0]) if node.parent_ids else None
        top = int(nearest[0])
        similarity = float(sims[top])
        metrics: dict[str, Any] = {
            "filter": self.name,
            "nearest": self.ids[top],
            "similarity": round(similarity, 6),
            "threshold": self.threshold,
            "parent_similarity": None if parent is None else round(float(sims[parent]), 6),
            "neighbours": [[self.ids[i], round(float(sims[i]), 6)] for i in nearest],
        }
        if similarity < self.threshold:
            return Verdict(False, metrics)
        reason = (
            f"Rejected before evaluation: its program's embedding has cosine similarity "
            f"{similarity:.6f} to node {self.ids[top]}'s (novelty.threshold={self.threshold})."
        )
        if self.judge is None:
            return Verdict(True, metrics, reason)
        return await self._confirm(node, self.ids[top], similarity, metrics, reason)

    async def _confirm(
        self, node: Node, nearest: int, similarity: float, metrics: dict[str, Any], reason: str
    ) -> Verdict:
        """Ask the judge; reject only when it answers "same" (no usable answer: evaluate)."""
        assert self.judge is not None and self.db is not None
        request = NoveltyRequest(
            self.task, node.view(), store.read_node(self.db, nearest).view(), similarity
        )
        try:
            judgement = await self.judge.judge_novelty(request)
        except Exception as exc:  # noqa: BLE001 - a judge's bug costs an evaluation only
            log.warning(
                "node %d: the novelty judge raised %s: %s", node.id, type(exc).__name__, exc
            )
            return Verdict(False, metrics)
        metrics["judge"] = {"different": judgement.different, "reason": judgement.reason}
        if judgement.different is not False:
            return Verdict(False, metrics, llm_calls=judgement.llm_calls)
        return Verdict(
            True, metrics, f"{reason} The judge agreed: {judgement.reason}", judgement.llm_calls
        )
