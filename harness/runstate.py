"""What a run knows of its completed nodes, live and rebuilt from the store on resume.

The tally (counts, best, cost), the sampler's incremental index, the behaviour-descriptor
space and a learning back-end's record of outcomes: each completed node passes through
:meth:`RunState.complete` once, and :meth:`RunState.restore` replays the stored ones so a
resumed run continues exactly where the killed one stood. The views of recently completed
or shown nodes are kept too (:class:`Views`), so a round's context costs no reads; the
store is written first and stays the source of truth.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, cast

import sqlite_utils

from harness import db as store
from harness.budget import Tally
from harness.features import REFERENCE_SIZE, FeatureSpace
from harness.llm.base import Learner, NodeView, Outcome, Proposer
from harness.nodes import COMPLETED, REJECTED, Node
from harness.samplers.base import Candidate, Sampler, Selection
from harness.task import TaskSpec
from harness.tasks import RunError

#: Node views kept in memory: a round's context is mostly recent and top-scoring nodes, and
#: a view holds its program, so a bound keeps memory flat however large the run grows.
VIEWS = 1024


class Views:
    """The views of the ``size`` most recently completed or shown nodes (an LRU); a miss
    reads the store. Only completed nodes are shown, and the loop puts a node's view again
    whenever it commits a completed node anew, so a view equals its stored row."""

    def __init__(self, db: sqlite_utils.Database, size: int = VIEWS) -> None:
        self.db = db
        self.size = size
        self._views: OrderedDict[int, NodeView] = OrderedDict()

    def get(self, node_id: int) -> NodeView:
        view = self._views.get(node_id)
        if view is None:
            view = store.read_node(self.db, node_id).view()
            self._keep(node_id, view)
        else:
            self._views.move_to_end(node_id)
        return view

    def put(self, node: Node) -> None:
        """``node`` as just committed."""
        self._keep(node.id, node.view())

    def cached(self) -> dict[int, NodeView]:
        """The views held now (tests compare them with the store)."""
        return dict(self._views)

    def _keep(self, node_id: int, view: NodeView) -> None:
        self._views[node_id] = view
        self._views.move_to_end(node_id)
        if len(self._views) > self.size:
            self._views.popitem(last=False)


class RunState:
    """The in-memory side of the run store, for one session of a run."""

    def __init__(
        self, db: sqlite_utils.Database, spec: TaskSpec, sampler: Sampler, proposer: Proposer
    ) -> None:
        self.db = db
        self.sampler = sampler
        self.proposer = proposer
        self.learner = proposer if isinstance(proposer, Learner) else None
        self.features = FeatureSpace(spec)
        self.tally = Tally()
        self.views = Views(db)
        #: The sampler's state as last stored, decoded again (so no alias of the sampler's
        #: own lists): comparing with it is much cheaper than encoding the state each time.
        self._saved_state: Any = None
        self._next_id = 1

    def restore(self) -> None:
        """Rebuild from the store: descriptors, the sampler (observations, replayed
        selections, its saved state, then its journal), the back-end's outcomes and the
        tally."""
        seed, references = store.programs_for_features(self.db, REFERENCE_SIZE)
        if seed is not None:
            self.features.rebuild(seed, references)
        for node in store.completed(self.db):
            self._admit(self._candidate(node), eligible=node.eligible)
        for parents, island in store.selections(self.db):
            self.sampler.replay(Selection(parents, island))
        for node in store.completed(self.db, (*COMPLETED, "duplicate", REJECTED)):
            success = node.success and node.status != "duplicate"
            self._learn(node.id, node.score, success, node.parent_ids)
        counts = store.counts(self.db)
        self.tally.evaluations = store.evaluations(self.db)
        self.tally.duplicates = counts.duplicates
        self.tally.rejected = self.db.execute(
            "select count(*) from nodes where status = ?", [REJECTED]
        ).fetchone()[0]
        self.tally.cost_usd = counts.cost_usd
        self.tally.tokens_in, self.tally.tokens_out = self.db.execute(
            "select coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0) from llm_calls"
        ).fetchone()
        self.tally.rounds = counts.rounds
        self.tally.seed_score = counts.seed_score
        state = store.load_sampler_state(self.db, self.sampler.name)
        if state is not None:
            try:
                self.sampler.load_state(state)
            except ValueError as exc:
                raise RunError(f"sampler {self.sampler.name}: {exc}") from exc
            self._saved_state = state
        journal = store.sampler_journal(self.db, self.sampler.name)
        if journal:
            cast(Any, self.sampler).load_journal(journal)
        self._next_id = max(store.next_node_id(self.db), 1)

    def new_id(self) -> int:
        """The id of the next round's node (the seed is 0; rounds are numbered on from the
        highest stored id, so a resume keeps the numbering)."""
        node_id = self._next_id
        self._next_id += 1
        return node_id

    def select(self, k: int) -> Selection:
        """The sampler's context, parent first; the seed when nothing is selectable yet.
        Its state, when the selection changed it, goes with the round's first commit
        (:meth:`sampler_state`)."""
        selection = self.sampler.select(k)
        if not selection.ids:
            return Selection([0], selection.island)
        return selection

    def sampler_state(self) -> store.SamplerRecord | None:
        """What changed of the sampler since it was last stored (its state, new journal
        entries), for the next commit to store with its node; None when nothing did."""
        drain = getattr(self.sampler, "journal", None)
        journal = [json.dumps(entry) for entry in drain()] if drain is not None else []
        state = self.sampler.state()
        text = None
        if state != self._saved_state:
            text = json.dumps(state)
            self._saved_state = json.loads(text)
        if text is None and not journal:
            return None
        return store.SamplerRecord(self.sampler.name, text, journal)

    def complete(self, node: Node) -> None:
        """Take in a completed node: its descriptors and the sampler; commit the node as
        it now is (with the sampler's state, when that changed), then keep its view and tell
        the back-end its outcome (read from the stored node's calls)."""
        if node.id == 0:
            self.tally.seed_score = node.score
            self.features.start(node.program or "")
        if node.success and not node.duplicate:
            node.features = self.features.raw(node.program or "", node.metrics)
            if node.id:
                self.features.add_reference(node.program or "")
        self._admit(self._candidate(node), node.duplicate, node.eligible, node.rejected)
        store.commit(self.db, node, self.sampler_state())
        self.views.put(node)
        self._learn(node.id, node.score, node.success and not node.duplicate, node.parent_ids)

    def _candidate(self, node: Node | store.Completed) -> Candidate:
        """What the sampler sees of a completed node (descriptors scaled to [0, 1])."""
        return Candidate(
            node.id,
            node.score,
            node.success,
            parent=node.parent_ids[0] if node.parent_ids else None,
            island=node.island,
            features=self.features.scaled(node.features),
            metrics=node.metrics,
        )

    def rescored(self, seed: Node) -> None:
        """The seed program ran on more seeds (``run.confirm``): its score moved, and with it
        perhaps which node is best, read again from the store."""
        self.tally.seed_score = seed.score
        self.views.put(seed)
        best = store.best_node(self.db)
        self.tally.best = (best[1], best[0]) if best else None

    def _admit(
        self,
        cand: Candidate,
        duplicate: bool = False,
        eligible: bool = True,
        rejected: bool = False,
    ) -> None:
        """Count a completed node and show it to the sampler (a duplicate, or a proposal a
        novelty filter rejected, never competes; only an ``eligible`` node may become the
        best)."""
        if duplicate or rejected:
            self.tally.duplicates += duplicate
            self.tally.rejected += rejected
            cand = Candidate(cand.id, None, False, cand.parent, cand.island)
        else:
            self.tally.failed += not cand.success
        self.sampler.observe(cand)
        best = self.tally.best
        if eligible and cand.score is not None and (best is None or cand.score > best[0]):
            self.tally.best = (cand.score, cand.id)

    def _learn(self, node_id: int, score: float | None, success: bool, parents: list[int]
               ) -> None:  # fmt: skip
        """Tell a back-end that learns (an ensemble's or the operators' bandit) what the
        round's researcher model and operator achieved: an improvement over the parent or
        not, at what cost."""
        if not node_id or self.learner is None:
            return
        calls = store.researcher_calls(self.db, node_id)
        operator, variant = self.db.execute(
            "select operator, prompt_variant from nodes where id = ?", [node_id]
        ).fetchone()
        if not calls and operator is None and variant is None:
            return
        parent = store.score_of(self.db, parents[0]) if parents else None
        improved = success and score is not None and (parent is None or score > parent)
        costs = [call.cost_usd for call in calls if call.cost_usd is not None]
        self.learner.observe(
            Outcome(
                node_id,
                model=calls[-1].model if calls else "",
                improved=improved,
                cost_usd=sum(costs) if costs else None,
                tokens=sum(call.tokens for call in calls),
                operator=operator,
                prompt_variant=variant,
            )
        )
