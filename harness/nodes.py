"""A node: one round's record, as a value the round fills in stage by stage.

A node starts ``pending`` (its context chosen), gets a program from its proposal, and ends
``evaluated`` or ``failed`` (its evaluation, or a proposal that brought no program) or
``duplicate`` (an earlier node's program again, not evaluated) or ``rejected_novelty`` (too
like an evaluated program, not evaluated: ``harness.filters``). The round commits the value
to the run store after each step (:func:`harness.db.commit`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.canonical import canonical_hash
from harness.estimate import estimate
from harness.llm.base import NodeView, Proposal
from harness.task import EvalResult

#: Statuses of a node whose evaluation committed (a duplicate reuses another's).
COMPLETED = ("evaluated", "failed")

#: A proposal a novelty filter found too like an evaluated program (``harness.filters``):
#: stored with the similarity and the node it resembles, never evaluated.
REJECTED = "rejected_novelty"

#: Stored feedback keeps its tail (where tracebacks end) up to this many characters.
MAX_FEEDBACK_CHARS = 20_000


def clip(feedback: str | None) -> str:
    """A backstop against task plugins that pass a candidate's whole output on."""
    text = feedback or ""
    if len(text) <= MAX_FEEDBACK_CHARS:
        return text
    cut = len(text) - MAX_FEEDBACK_CHARS
    return f"[... {cut} characters cut ...]\n{text[-MAX_FEEDBACK_CHARS:]}"


@dataclass
class Node:
    """One row of ``nodes``, decoded (JSON columns as Python values)."""

    id: int
    run_id: int | None = None
    parent_ids: list[int] = field(default_factory=list)
    island: int | None = None
    cognition_ids: list[int] = field(default_factory=list)
    status: str = "pending"
    name: str | None = None
    motivation: str | None = None
    program: str | None = None
    program_hash: str | None = None
    edit: str | None = None
    success: bool = False
    score: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    feedback: str | None = None
    error_class: str | None = None
    stages: list[Any] = field(default_factory=list)
    evaluations: int | None = None
    analysis: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    duplicate_of: int | None = None
    created_at: str | None = None
    evaluated_at: str | None = None
    eval_seconds: float | None = None
    #: A stochastic task's value per seed, over every evaluation of the node.
    samples: dict[int, float] = field(default_factory=dict)
    score_se: float | None = None
    score_n: int | None = None
    #: ``run.confirm``'s record: ``{"verdict": ...}`` and its figures (harness.confirmation).
    confirmation: dict[str, Any] | None = None
    #: The search operator and system-prompt variant of its proposal (docs/operators.md).
    operator: str | None = None
    prompt_variant: str | None = None

    @property
    def eligible(self) -> bool:
        """Whether the node may be the run's best: not one ``run.confirm`` did not confirm."""
        return eligible(self.id, self.confirmation)

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"

    @property
    def rejected(self) -> bool:
        """Whether a novelty filter rejected the program before its evaluation."""
        return self.status == REJECTED

    def view(self) -> NodeView:
        """The node as the researcher and the analyzer see it."""
        return NodeView(
            id=self.id,
            name=self.name or "",
            program=self.program or "",
            score=self.score,
            success=self.success,
            status=self.status,
            motivation=self.motivation or "",
            analysis=self.analysis or "",
            feedback=self.feedback or "",
            error_class=self.error_class,
            metrics=self.metrics,
        )

    def set_program(self, program: str, language: str) -> None:
        """A new program (proposed, or a repair's), with its canonical hash for dedupe."""
        self.program = program
        self.program_hash = canonical_hash(program, language)

    def proposed(self, proposal: Proposal, language: str) -> None:
        """Take the researcher's proposal, which brought a program."""
        assert proposal.program is not None
        self.name, self.motivation, self.edit = proposal.name, proposal.motivation, proposal.edit
        self.operator, self.prompt_variant = proposal.operator, proposal.prompt_variant
        self.set_program(proposal.program, language)

    def proposal_failed(self, proposal: Proposal) -> None:
        """A proposal without a program: the node fails with the reason as feedback."""
        self.name = proposal.name or f"node-{self.id}"
        self.motivation, self.edit = proposal.motivation, proposal.edit
        self.operator, self.prompt_variant = proposal.operator, proposal.prompt_variant
        self.status, self.success, self.error_class = "failed", False, "proposal"
        self.feedback = proposal.error or "no program was proposed"
        self.analysis, self.metrics = "", {}

    def duplicates(self, original: Node) -> None:
        """The same program as ``original``: its result, carried over unevaluated."""
        self.status, self.duplicate_of = "duplicate", original.id
        self.success, self.score, self.metrics = original.success, original.score, original.metrics
        self.samples, self.score_se, self.score_n = (
            original.samples,
            original.score_se,
            original.score_n,
        )
        self.feedback, self.error_class = original.feedback, original.error_class
        self.analysis = (
            f"Duplicate of node {original.id} (the same program up to comments and "
            "formatting); not evaluated again."
        )

    def rejected_for_novelty(self, metrics: dict[str, Any], reason: str) -> None:
        """Too like an evaluated program (``metrics`` name it and the similarity): not
        evaluated, no score, ``reason`` as feedback and analysis."""
        self.status, self.success, self.score = REJECTED, False, None
        self.metrics, self.error_class = metrics, "novelty"
        self.feedback = self.analysis = reason

    def evaluated(self, result: EvalResult, attempt: int, when: str) -> None:
        """The evaluation's result at ``when``; ``attempt`` counts repairs before it."""
        if attempt:
            result.metrics["repair_attempts"] = attempt
        self.status = "evaluated" if result.success else "failed"
        self.success, self.score = result.success, result.score
        self.metrics = json.loads(json.dumps(result.metrics, default=str))  # as stored
        self.feedback, self.error_class = clip(result.feedback), result.error_class
        self.stages = result.stages or []
        self.evaluations, self.evaluated_at = attempt + 1, when
        self.eval_seconds = result.metrics.get("eval_seconds")
        self.samples = dict(result.samples) if result.success else {}
        self.rescore()

    def add_samples(self, samples: dict[int, float]) -> None:
        """Values on further seeds (a re-evaluation), and the score anew."""
        self.samples.update(samples)
        self.rescore()

    def rescore(self) -> None:
        """The score, its standard error and count, from the samples when there are any
        (see :func:`scored_samples`)."""
        scored = scored_samples(self.samples, self.confirmation)
        if not scored:
            self.score_se = self.score_n = None
            return
        found = estimate(scored.values())
        self.score, self.score_se, self.score_n = found.mean, found.se, found.n


def scored_samples(
    samples: dict[int, float], confirmation: dict[str, Any] | None
) -> dict[int, float]:
    """The samples a node's score is the mean of: those on its confirmation's fresh seeds
    once it has any (they were not chosen for being high, so their mean is unbiased, and
    they are the same seeds for every confirmed node), else all of them."""
    fresh = set((confirmation or {}).get("seeds") or ())
    return {seed: v for seed, v in samples.items() if seed in fresh} or dict(samples)


def eligible(node_id: int, confirmation: dict[str, Any] | None) -> bool:
    """The seed and nodes without a confirmation record may be best; under ``run.confirm``,
    only nodes it confirmed (a better seed on fresh seeds is no evidence)."""
    return node_id == 0 or confirmation is None or confirmation.get("verdict") == "confirmed"
