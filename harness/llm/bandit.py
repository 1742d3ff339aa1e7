"""The draw shared by the model ensemble and the search operators: fixed weights, or
Thompson sampling on improvements per unit cost.

Each option is an :class:`Arm` that counts the proposals made with it, how many scored
above their parent (an improvement), and what they cost. ``bandit`` draws a rate from
Beta(1 + improvements, 1 + other proposals) per arm, divides it by the arm's mean cost per
proposal (USD when every arm is priced, tokens otherwise; an untried arm is valued at the
mean cost of the others, so every arm gets tried) and takes the best.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.llm.base import Outcome
from harness.llm.schemas import EnsemblePolicy


@dataclass(eq=False)
class Arm:
    """One option of a draw and what it has achieved so far in this run (an identity: two
    arms with the same counts are still two options)."""

    weight: float = 1.0
    priced: bool = False
    proposals: int = 0
    improvements: int = 0
    cost_usd: float = 0.0
    tokens: int = 0

    def mean_cost(self, in_usd: bool) -> float | None:
        """Mean cost of one proposal so far (None before the first)."""
        if not self.proposals:
            return None
        return (self.cost_usd if in_usd else self.tokens) / self.proposals

    def count(self, outcome: Outcome) -> None:
        """Count one finished proposal made with this arm."""
        self.proposals += 1
        self.improvements += outcome.improved
        self.cost_usd += outcome.cost_usd or 0.0
        self.tokens += outcome.tokens


A = TypeVar("A", bound=Arm)


def draw(arms: Sequence[A], policy: EnsemblePolicy, rng: random.Random) -> A:
    """The arm ``policy`` picks with ``rng`` (see the module's docstring)."""
    if policy is EnsemblePolicy.weights or len(arms) == 1:
        return rng.choices(arms, weights=[arm.weight for arm in arms])[0]
    in_usd = all(arm.priced for arm in arms)
    known = [c for c in (arm.mean_cost(in_usd) for arm in arms) if c is not None]
    fallback = sum(known) / len(known) if known else 1.0

    def value(arm: A) -> float:
        rate = rng.betavariate(1 + arm.improvements, 1 + arm.proposals - arm.improvements)
        cost = arm.mean_cost(in_usd)
        return rate / max(cost if cost is not None else fallback, 1e-12)

    return max(arms, key=value)
