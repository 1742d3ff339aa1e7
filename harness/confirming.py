"""The confirmation stage of a round (``run.confirm``): evaluate a would-be best again on the
fresh seeds, with the seed program beside it, and store the verdict.

:mod:`harness.confirmation` decides what to run and what the figures mean; this stage runs
the re-evaluations through the run's executor and slots, stores each with the node's new
samples in one transaction (a kill keeps it; a resume finishes the confirmation from where
it stood), and keeps them inside ``run.max_evaluations``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from harness import confirmation
from harness import db as store
from harness.confirmation import Confirmation
from harness.nodes import Node
from harness.task import EvalResult

if TYPE_CHECKING:
    from harness.loop import Run

log = logging.getLogger("harness")


class Confirmer:
    """Confirms the nodes of one run under one policy."""

    def __init__(self, run: Run, policy: Confirmation) -> None:
        self.run = run
        self.policy = policy
        self._baseline_lock = asyncio.Lock()
        #: Fresh seeds the seed program failed on: not tried again.
        self._baseline_failed: set[int] = set()
        self._confirming = 0
        self._reevaluating = 0

    async def confirm(self, node: Node) -> None:
        """A node that would become the best is evaluated again on the fresh seeds (the seed
        program with it) before it may; the verdict is stored with the node."""
        if node.id == 0 or not node.success or node.duplicate:
            return
        if node.confirmation is None:
            best = self._best_node()
            if not self.policy.needed(node, best):
                node.confirmation = confirmation.not_needed()
                store.commit(self.run.db, node)
                return
            node.confirmation = self.policy.pending(best.id)
            store.commit(self.run.db, node)
        if node.confirmation.get("verdict") != "pending":
            return
        self._confirming += 1
        try:
            failure = await self._batches(node)
        finally:
            self._confirming -= 1
        node.confirmation = self.policy.verdict(node, self.run.baseline, failure)
        node.rescore()
        store.commit(self.run.db, node)

    async def _batches(self, node: Node) -> str | None:
        """Run the node (and the seed program) on the fresh seeds, batch by batch, until
        they are done or rule it out; why it cannot be confirmed, if it failed."""
        task_seeds = len(self.run.settings.task.get(self.policy.key) or ())
        for batch in self.policy.batches(task_seeds):
            await self._baseline_on(batch)
            missing = [seed for seed in batch if seed not in node.samples]
            if missing:
                if not self._budget_room():
                    return "the evaluation budget ran out before its confirmation finished"
                result = await self._reevaluate(node, missing)
                if not result.success:
                    return f"failed on fresh seeds {missing} ({result.error_class})"
            if self.policy.hopeless(node, self.run.baseline):
                return None
        return None

    async def _baseline_on(self, seeds: list[int]) -> None:
        """The seed program's values on ``seeds`` (each fresh seed evaluated once per run;
        one that failed is not tried again), then the tally's seed score and best anew."""
        baseline = self.run.baseline
        async with self._baseline_lock:
            missing = [
                seed
                for seed in seeds
                if seed not in baseline.samples and seed not in self._baseline_failed
            ]
            if not missing or not self._budget_room():
                return
            baseline.confirmation = self.policy.reference()
            result = await self._reevaluate(baseline, missing)
            if not result.success:
                self._baseline_failed.update(missing)
                log.warning("the seed program failed on fresh seeds %s: %s", missing,
                            result.error_class)  # fmt: skip
            self.run.state.rescored(baseline)

    async def _reevaluate(self, node: Node, seeds: list[int]) -> EvalResult:
        """Evaluate ``node``'s program again on ``seeds`` (an evaluation the budget counts),
        store it with the node's new samples, in one transaction."""
        run = self.run
        config = {**run.settings.task, self.policy.key: list(seeds)}
        self._reevaluating += 1
        try:
            async with run.slots:
                result = await run.executor.evaluate(config, node.program or "", run.limits)
        finally:
            self._reevaluating -= 1
        if result.success:
            node.add_samples({seed: result.samples[seed] for seed in seeds})
        store.commit_reevaluation(run.db, node, confirmation.PURPOSE, seeds, result, store.now())
        run.state.tally.evaluations += 1
        return result

    def _budget_room(self) -> bool:
        """Whether one more re-evaluation fits ``run.max_evaluations``, counting each round
        in flight that is not confirming as an evaluation still to come."""
        limit = self.run.settings.run.max_evaluations
        if limit is None:
            return True
        ahead = len(self.run.in_flight) - self._confirming + self._reevaluating
        return self.run.state.tally.evaluations + ahead < limit

    def _best_node(self) -> Node:
        """The run's best node (the seed's one copy when it is the seed, or when nothing
        has a score yet)."""
        best = self.run.state.tally.best
        if best is None or best[1] == 0:
            return self.run.baseline
        return store.read_node(self.run.db, best[1])
