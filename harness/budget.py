"""When a run stops: its budgets, checked against its running tally before each round.

The tally is the run's only shared mutable state besides the store; rounds in flight
update it on the event loop's thread, one at a time between awaits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # harness.config imports hydra: `harness status` reads budgets without it
    from harness.config import RunConf


@dataclass
class Tally:
    """What the run has done so far (restored from the store on resume)."""

    rounds: int = 0
    evaluations: int = 0
    failed: int = 0
    duplicates: int = 0
    #: Proposals a novelty filter rejected before their evaluation (``novelty=...``).
    rejected: int = 0
    #: Rounds in a row whose evaluator broke, or that proposed nothing new.
    failures_in_row: int = 0
    cost_usd: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    #: (score, node id) of the best node.
    best: tuple[float, int] | None = None
    seed_score: float | None = None


class Outage:
    """Times an LLM endpoint's outage, so a run pauses through a short one and stops
    cleanly (ready to resume) after ``limit_s`` seconds of a long one."""

    def __init__(self, limit_s: float | None) -> None:
        self.limit_s = limit_s
        self.since: float | None = None

    def too_long(self) -> bool:
        """Start (or continue) timing the outage; whether it passed its limit."""
        if self.since is None:
            self.since = time.monotonic()
        return self.over()

    def over(self) -> bool:
        """Whether an outage is being timed and passed its limit."""
        return (
            self.limit_s is not None
            and self.since is not None
            and time.monotonic() - self.since >= self.limit_s
        )

    def end(self) -> None:
        self.since = None


@dataclass(frozen=True)
class Budget:
    """A run's limits (``run.*``; an outage's is :class:`Outage`'s); ``None`` is no limit,
    and 0 consecutive failures too."""

    max_evaluations: int | None
    max_rounds: int | None
    target_score: float | None
    max_seconds: float | None
    max_consecutive_failures: int
    max_cost_usd: float | None = None

    @classmethod
    def from_config(cls, run: RunConf) -> Budget:
        return cls(
            run.max_evaluations,
            run.max_rounds,
            run.target_score,
            run.max_seconds,
            run.max_consecutive_failures,
            run.max_cost_usd,
        )

    def stop_reason(
        self, tally: Tally, in_flight: int, elapsed_s: float, outage: Outage
    ) -> str | None:
        """Why no further round may start, or None while one may (``in_flight`` rounds
        already hold evaluations of the budget)."""
        if self.target_score is not None and tally.best and tally.best[0] >= self.target_score:
            return f"target score {self.target_score} reached"
        if (
            self.max_evaluations is not None
            and tally.evaluations + in_flight >= self.max_evaluations
        ):
            return f"max_evaluations={self.max_evaluations} reached"
        if self.max_rounds is not None and tally.rounds >= self.max_rounds:
            return f"max_rounds={self.max_rounds} reached"
        if self.max_seconds is not None and elapsed_s >= self.max_seconds:
            return f"max_seconds={self.max_seconds} reached"
        if outage.over():
            return (
                f"the LLM endpoint was unavailable for over {outage.limit_s:g} s "
                "(run.max_llm_outage_s); resume when it is back"
            )
        if self.max_cost_usd is not None and tally.cost_usd >= self.max_cost_usd:
            return (
                f"max_cost_usd={self.max_cost_usd} reached "
                f"(${tally.cost_usd:.4f} spent on LLM calls)"
            )
        if self.max_consecutive_failures and tally.failures_in_row >= self.max_consecutive_failures:
            return f"{tally.failures_in_row} rounds in a row failed (see the nodes' feedback)"
        return None
