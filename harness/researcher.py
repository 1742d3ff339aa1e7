"""What a round asks of the LLM back-end: a proposal, a repair, an analysis.

Answers come back as values for the round to commit with its node; every exchange is
handed to ``record`` as soon as it is made (tokens and cost count at once). A back-end's
exception costs its answer, never the run, and an endpoint outage is waited out
(``run.llm_pause_s``) until it lasts too long (``run.max_llm_outage_s``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import cast

from harness.analyzer import deterministic_analysis, raw_evaluation
from harness.budget import Outage
from harness.cognition import CognitionBase
from harness.config import AnalyzerMode
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    LLMCall,
    MetaRequest,
    NodeView,
    Proposal,
    ProposalRequest,
    Proposer,
    Repairer,
    RepairRequest,
    Summarizer,
)
from harness.meta import deterministic_summary
from harness.nodes import Node
from harness.task import EvalResult, TaskSpec

log = logging.getLogger("harness")


class Researcher:
    """The proposer back-end as one run's rounds use it."""

    def __init__(
        self,
        proposer: Proposer,
        spec: TaskSpec,
        *,
        seed: int,
        analyzer: AnalyzerMode,
        cognition: CognitionBase | None,
        outage: Outage,
        pause_s: float,
        record: Callable[[int, list[LLMCall]], None],
        trial: Callable[[str], Awaitable[EvalResult]] | None = None,
    ) -> None:
        self.proposer = proposer
        self.spec = spec
        self.seed = seed
        self.analyzer = analyzer
        self.cognition = cognition
        self.outage = outage
        self.pause_s = pause_s
        self.record = record
        #: the cheap evaluation a proposer may ask for (``ProposalRequest.evaluate``)
        self.trial = trial
        #: The run's meta-recommendations in force (``run.meta``), shown in every proposal.
        self.recommendations = ""

    def round_seed(self, node_id: int) -> int:
        """The per-round seed that keeps offline back-ends deterministic."""
        return self.seed * 1_000_003 + node_id

    @property
    def repairs(self) -> bool:
        """Whether the back-end has a debug agent (``Repairer``)."""
        return isinstance(self.proposer, Repairer)

    async def propose(self, node: Node, context: list[NodeView]) -> Proposal:
        """A proposal for the pending ``node``, asked again after a pause while the
        endpoint is down and the outage is not too long yet."""
        proposal = await self._ask(node, context)
        while proposal.endpoint_down and self.pause_s > 0 and not self.outage.too_long():
            log.warning(
                "node %d: the LLM endpoint is unavailable (%s); pausing %g s, then asking "
                "again (run.llm_pause_s; the run stops after run.max_llm_outage_s=%s)",
                node.id, proposal.error, self.pause_s, self.outage.limit_s,
            )  # fmt: skip
            await asyncio.sleep(self.pause_s)
            proposal = await self._ask(node, context)
        if not proposal.endpoint_down:
            self.outage.end()
        return proposal

    async def _ask(self, node: Node, context: list[NodeView]) -> Proposal:
        items = []
        if self.cognition is not None:
            by_id = dict(zip(self.cognition.ids, self.cognition.items, strict=True))
            items = [by_id[i] for i in node.cognition_ids if i in by_id]
        request = ProposalRequest(
            task=self.spec,
            parent=context[0],
            references=context[1:],
            cognition=items,
            node_id=node.id,
            seed=self.round_seed(node.id),
            recommendations=self.recommendations,
            evaluate=self.trial,
        )
        try:
            proposal = await self.proposer.propose(request)
        except Exception as exc:  # noqa: BLE001 - a proposer bug costs one round, not the run
            proposal = Proposal("", "", None, error=f"proposer raised {type(exc).__name__}: {exc}")
        self.record(node.id, proposal.llm_calls)
        return proposal

    async def repair(self, node: Node, attempt: int) -> str | None:
        """The debug agent's fix of the failed program of ``node``, or None (no fix, the
        same program, or the agent failed)."""
        request = RepairRequest(self.spec, node.view(), attempt, seed=self.round_seed(node.id))
        try:
            proposal = await cast(Repairer, self.proposer).repair(request)
        except Exception as exc:  # noqa: BLE001 - a failed repair leaves the failure as it is
            log.warning("node %d: repair raised %s: %s", node.id, type(exc).__name__, exc)
            return None
        self.record(node.id, proposal.llm_calls)
        if proposal.program is None or proposal.program == node.program:
            return None
        return proposal.program

    async def analyze(self, node: Node, reference: NodeView | None) -> Analysis:
        """The analysis of the evaluated ``node`` against ``reference`` (``analyzer=auto``
        asks the back-end; ``deterministic`` and ``none`` need no LLM)."""
        view = node.view()
        if self.analyzer is AnalyzerMode.none:
            return Analysis(raw_evaluation(view))
        if self.analyzer is AnalyzerMode.deterministic:
            return Analysis(deterministic_analysis(view, reference))
        try:
            analysis = await self.proposer.analyze(AnalysisRequest(self.spec, view, reference))
        except Exception as exc:  # noqa: BLE001 - an analyzer bug costs an analysis only
            analysis = Analysis(f"analysis unavailable: {type(exc).__name__}: {exc}")
        self.record(node.id, analysis.llm_calls)
        return analysis

    async def summarize(self, request: MetaRequest) -> Analysis:
        """The next meta-recommendations (``run.meta``): the back-end's when it writes them
        and ``analyzer=auto``, else a deterministic summary; recorded against the node
        after which they are written. A failure leaves ``text`` empty."""
        if self.analyzer is not AnalyzerMode.auto or not isinstance(self.proposer, Summarizer):
            return Analysis(deterministic_summary(request))
        try:
            answer = await self.proposer.summarize(request)
        except Exception as exc:  # noqa: BLE001 - a summarizer bug costs a version's update
            log.warning("meta-recommendations: %s: %s", type(exc).__name__, exc)
            return Analysis("")
        self.record(request.after_node, answer.llm_calls)
        return answer
