"""A researcher made of several models: fixed weights, or a bandit that learns which model
yields improvements per unit cost.

AlphaEvolve mixes a fast and a strong model; ShinkaEvolve adapts the mix during the run.
Here ``llm.ensemble`` lists the members (each any ``llm`` settings, usually another
``model`` and its prices) and ``llm.ensemble_policy`` picks one per round:

- ``weights``: at random in proportion to each member's ``weight``;
- ``bandit``: Thompson sampling on each member's rate of improvements (a child scoring
  above its parent), divided by its mean cost per proposal: USD when every member has a
  price, tokens otherwise. A member that has not proposed yet is drawn from a flat prior
  at the mean cost of the others, so every member gets tried.

The draw (:mod:`harness.llm.bandit`, shared with the search operators) uses the round's
seed, so a run repeated with the same outcomes picks the same members; on resume the loop
replays every stored outcome, so nothing learnt is lost.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.llm.bandit import Arm, draw
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    Outcome,
    Proposal,
    ProposalRequest,
    RepairRequest,
)
from harness.llm.chat import ChatProposer
from harness.llm.schemas import EnsemblePolicy


@dataclass
class Member(Arm):
    """One researcher model and what it has achieved so far in this run."""

    proposer: ChatProposer = field(kw_only=True)

    @property
    def model(self) -> str:
        return self.proposer.model


class EnsembleProposer(ChatProposer):
    """The researcher role over several back-ends, one chosen per round.

    Members are told apart by model name, which is what each LLM call records; two
    members may not share one.
    """

    name = "ensemble"

    def __init__(self, members: list[Member], policy: EnsemblePolicy | str) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        models = [member.model for member in members]
        if len(set(models)) != len(models):
            raise ValueError(f"llm.ensemble: two members share a model name: {models}")
        if any(member.weight <= 0 for member in members):
            raise ValueError("llm.ensemble: every member's weight must be > 0")
        first = members[0].proposer
        super().__init__(
            model=first.model,
            max_tokens=first.max_tokens,
            edit_mode=first.edit_mode,
            max_code_chars=first.max_code_chars,
            prompt_budget_chars=first.prompt_budget_chars,
        )
        self.members = members
        self.policy = EnsemblePolicy(policy)
        self._by_model = {member.model: member for member in members}

    def choose(self, seed: int) -> Member:
        """The member for the round with this seed."""
        return draw(self.members, self.policy, random.Random(seed))

    async def propose(self, request: ProposalRequest) -> Proposal:
        return await self.choose(request.seed).proposer.propose(request)

    async def repair(self, request: RepairRequest) -> Proposal:
        return await self.members[0].proposer.repair(request)

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        return await self.members[0].proposer.analyze(request)

    def observe(self, outcome: Outcome) -> None:
        """Count one finished proposal toward the member whose model wrote it."""
        member = self._by_model.get(outcome.model)
        if member is None:
            return
        member.count(outcome)

    async def aclose(self) -> None:
        for member in self.members:
            await member.proposer.aclose()
