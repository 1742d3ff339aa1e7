"""Meta-recommendations (``run.meta``): a running summary of what worked and what failed.

Every ``run.meta.every`` completed rounds the analyzer role rewrites a short summary from
the previous one, the best nodes and the recent ones (ShinkaEvolve's meta-recommendations,
AlphaEvolve's scratchpad); each version is stored in ``meta_recommendations`` and the
latest is shown to the researcher in every later prompt. A round counts as completed once
its node left ``pending``. A version is written between rounds, before new ones start, so
a run with one worker is reproducible and a resumed run writes a missing version once.
The version each node's proposal saw is kept in ``meta_in_force``. See docs/meta.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlite_utils

from harness import db as store
from harness.config import MetaConf
from harness.llm.base import MetaRequest, NodeView
from harness.task import TaskSpec

if TYPE_CHECKING:  # the researcher imports this module's deterministic summary
    from harness.researcher import Researcher


@dataclass(frozen=True)
class Version:
    """One stored version of the recommendations."""

    version: int
    after_node: int
    text: str


def latest(db: sqlite_utils.Database) -> Version | None:
    """The newest stored version, if any (None too for a store made before ``m010_meta``)."""
    if not db.table("meta_recommendations").exists():
        return None
    row = db.execute(
        "select version, after_node, text from meta_recommendations order by version desc limit 1"
    ).fetchone()
    return Version(row[0], row[1], row[2] or "") if row else None


def completed_rounds(db: sqlite_utils.Database) -> tuple[int, int]:
    """(how many rounds have left ``pending``, the highest such node id; 0 with none)."""
    row = db.execute(
        "select count(*), coalesce(max(id), 0) from nodes where id > 0 and status != 'pending'"
    ).fetchone()
    return int(row[0]), int(row[1])


def _delta(db: sqlite_utils.Database, node: NodeView, parent_ids: list[int]) -> float | None:
    if node.score is None or not parent_ids:
        return None
    parent = store.score_of(db, parent_ids[0])
    return None if parent is None else node.score - parent


def build_request(
    db: sqlite_utils.Database, spec: TaskSpec, conf: MetaConf, previous: Version | None
) -> MetaRequest:
    """The context for the next version: the best nodes and the last ``every`` rounds."""
    _, after = completed_rounds(db)
    best_ids = [
        row[0]
        for row in db.execute(
            "select id from nodes where score is not null and status = 'evaluated'"
            " order by score desc, id limit ?",
            [conf.best],
        ).fetchall()
    ]
    recent_ids = [
        row[0]
        for row in db.execute(
            "select id from nodes where id > 0 and status != 'pending' order by id desc limit ?",
            [conf.every],
        ).fetchall()
    ][::-1]
    recent = [store.read_node(db, i) for i in recent_ids]
    return MetaRequest(
        task=spec,
        previous=previous.text if previous else "",
        best=[store.read_node(db, i).view() for i in best_ids],
        recent=[node.view() for node in recent],
        deltas=[_delta(db, node.view(), node.parent_ids) for node in recent],
        version=(previous.version if previous else 0) + 1,
        after_node=after,
    )


def due(db: sqlite_utils.Database, conf: MetaConf) -> bool:
    """Whether a new version is due: ``every * version`` rounds completed for each, and a
    round completed since the last (a resume with a smaller ``every`` catches up by one)."""
    if conf.every <= 0:
        return False
    current = latest(db)
    count, after = completed_rounds(db)
    if current is not None and after <= current.after_node:
        return False
    return count >= conf.every * ((current.version if current else 0) + 1)


def save(
    db: sqlite_utils.Database,
    request: MetaRequest,
    text: str,
    llm_call_id: int | None,
    max_chars: int,
) -> Version:
    """Store version ``request.version``: ``text`` cut to ``max_chars``, or the previous
    text when the answer was empty or failed (the version is spent either way)."""
    text = text.strip()[:max_chars] or request.previous
    version = Version(request.version, request.after_node, text)
    with db.conn:
        db.conn.execute(
            "insert or replace into meta_recommendations"
            " (version, after_node, text, llm_call_id, created_at) values (?, ?, ?, ?, ?)",
            [version.version, version.after_node, version.text, llm_call_id, store.now()],
        )
    return version


def last_call_id(db: sqlite_utils.Database) -> int | None:
    """The id of the newest ``meta`` LLM call (the one just recorded)."""
    row = db.execute("select max(id) from llm_calls where role = 'meta'").fetchone()
    return row[0]


def note_in_force(db: sqlite_utils.Database, node_id: int, version: Version | None) -> None:
    """Record which version the proposal of ``node_id`` is shown (none: nothing to record)."""
    if version is not None:
        with db.conn:
            db.conn.execute(
                "insert or replace into meta_in_force (node_id, version) values (?, ?)",
                [node_id, version.version],
            )


def deterministic_summary(request: MetaRequest) -> str:
    """A summary from the numbers alone, for back-ends without an LLM (``llm=offline``,
    ``analyzer=deterministic``): the best score, the recent score changes and the most
    common error class."""
    lines = [f"Summary version {request.version}, after node {request.after_node}."]
    if request.best:
        top = request.best[0]
        lines.append(f"- Best so far: {top.name} [N{top.id}] scoring {top.score:.6g}.")
    changes = [d for d in request.deltas if d is not None]
    improved = sum(d > 0 for d in changes)
    regressed = sum(d < 0 for d in changes)
    unscored = len(request.deltas) - len(changes)
    lines.append(
        f"- Last {len(request.recent)} nodes: {improved} improved on their parent, "
        f"{regressed} regressed, {len(changes) - improved - regressed} unchanged, "
        f"{unscored} without a score change."
    )
    if changes:
        lines.append(f"- Mean score change: {sum(changes) / len(changes):+.6g}.")
        gain, node = max(zip(request.deltas, request.recent, strict=True), key=_gain)
        if gain is not None and gain > 0:
            lines.append(f"- Largest gain: {node.name} [N{node.id}] ({gain:+.6g}).")
    errors = Counter(n.error_class for n in request.recent if n.error_class)
    if errors:
        [(name, count)] = errors.most_common(1)
        lines.append(f"- Most common error class: {name} ({count} of {len(request.recent)}).")
    else:
        lines.append("- No failures among them.")
    return "\n".join(lines)


def _gain(pair: tuple[float | None, NodeView]) -> float:
    return float("-inf") if pair[0] is None else pair[0]


class MetaRecommendations:
    """A run's meta-recommendations as the loop uses them (``run.meta.every`` > 0): the
    version in force, shown by ``researcher``, and the writing of the next one when due."""

    def __init__(
        self, db: sqlite_utils.Database, spec: TaskSpec, conf: MetaConf, researcher: Researcher
    ) -> None:
        self.db = db
        self.spec = spec
        self.conf = conf
        self.researcher = researcher
        self.version = latest(db)
        researcher.recommendations = self.version.text if self.version else ""

    def note(self, node_id: int) -> None:
        """Record the version shown to the proposal of ``node_id``."""
        note_in_force(self.db, node_id, self.version)

    async def update(self) -> None:
        """Write the next version if it is due; one call, whatever its outcome."""
        if not due(self.db, self.conf):
            return
        request = build_request(self.db, self.spec, self.conf, self.version)
        answer = await self.researcher.summarize(request)
        call_id = last_call_id(self.db) if answer.llm_calls else None
        self.version = save(self.db, request, answer.text, call_id, self.conf.max_chars)
        self.researcher.recommendations = self.version.text
