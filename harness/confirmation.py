"""``run.confirm``: a would-be best of a stochastic task is evaluated again on fresh seeds
before the run believes it.

On a noisy proxy the highest of many scores is mostly luck (the winner's curse). A node whose
score beats the best's (confirmed) score is evaluated on the fresh seeds
``C`` (the same for every candidate), and so is the seed program, once; the node is
*confirmed* when its paired gain over the seed program on ``C`` is positive (or significant,
with ``run.confirm.alpha``). Only the seed and confirmed nodes may be the run's best
(:func:`harness.nodes.eligible`). Once a node has values on ``C``, its score is their mean
(:func:`harness.nodes.scored_samples`): unbiased by the selection, paired with every other
confirmed node, and what the samplers see. This module decides; :mod:`harness.loop`
evaluates and stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config import ConfirmConf
from harness.estimate import Paired, paired
from harness.nodes import Node
from harness.task import TaskSpec
from harness.tasks import RunError

#: The ``purpose`` of a confirmation's rows in the ``reevaluations`` table.
PURPOSE = "confirm"


@dataclass(frozen=True)
class Confirmation:
    """The confirmation policy of one run (``None`` from :meth:`for_run` when off)."""

    conf: ConfirmConf
    #: The task config key that lists an evaluation's seeds (``Noise.key``).
    key: str

    @classmethod
    def for_run(cls, conf: ConfirmConf, spec: TaskSpec) -> Confirmation | None:
        """The policy when ``run.confirm.enabled`` and the task is stochastic; a deterministic
        task gives the same score on any seed, so there is nothing to confirm."""
        for name, value in (("alpha", conf.alpha), ("level", conf.level)):
            if value is not None and not 0 < value < 1:
                raise RunError(f"run.confirm.{name}={value} is out of range: it must be in (0, 1)")
        if not conf.enabled or spec.noise is None:
            return None
        return cls(conf, spec.noise.key)

    @property
    def seeds(self) -> list[int]:
        """The fresh seeds, shared by every confirmation so that comparisons are paired."""
        return [self.conf.first_seed + i for i in range(self.conf.seeds)]

    def batches(self, task_seeds: int) -> list[list[int]]:
        """The fresh seeds in the groups they are evaluated in: ``run.confirm.batch`` at a
        time, by default as many as an evaluation of the task runs (``task_seeds``), so each
        re-evaluation costs what the budget counts it as, one evaluation."""
        size = self.conf.batch or max(1, task_seeds)
        return [self.seeds[i : i + size] for i in range(0, len(self.seeds), size)]

    def needed(self, node: Node, best: Node) -> bool:
        """Whether ``node`` would become the best: its score beats the best's. The best's
        score is its mean on the fresh seeds once it has them, not inflated by the luck
        that made it stand out; a gain over the seed program's values on the task's own
        seeds would carry the seed program's own luck there into every comparison."""
        if not node.success or node.score is None:
            return False
        return best.score is None or node.score > best.score

    def reference(self) -> dict[str, Any]:
        """The seed program's record: its score is its mean on the fresh seeds it ran."""
        return {"verdict": "reference", "seeds": self.seeds}

    def pending(self, against: int) -> dict[str, Any]:
        """The record of a confirmation under way (a resumed run finishes it)."""
        return {"verdict": "pending", "seeds": self.seeds, "against": against}

    def on_fresh(self, node: Node, seed: Node) -> Paired | None:
        """The node's gain over the seed program on the fresh seeds both ran."""
        fresh = set(self.seeds)
        mine = {s: v for s, v in node.samples.items() if s in fresh}
        return paired(mine, {s: v for s, v in seed.samples.items() if s in fresh})

    def hopeless(self, node: Node, seed: Node) -> bool:
        """Whether the fresh seeds so far already rule the node out: the whole interval of
        its gain over the seed program lies below zero (racing; rare with few seeds)."""
        comparison = self.on_fresh(node, seed)
        if comparison is None:
            return False
        interval = comparison.gain.interval(self.conf.level)
        return interval is not None and interval[1] < 0

    def verdict(self, node: Node, seed: Node, failure: str | None = None) -> dict[str, Any]:
        """The node's confirmation record once its fresh seeds are run (or it failed one)."""
        comparison = self.on_fresh(node, seed)
        record: dict[str, Any] = {"verdict": "rejected", "seeds": self.seeds}
        if comparison is not None:
            record.update(
                gain=comparison.gain.mean,
                gain_se=comparison.gain.se,
                n=comparison.gain.n,
                p_value=comparison.p_value,
                alpha=self.conf.alpha,
            )
        if failure is not None:
            record["reason"] = failure
        elif comparison is None:
            record["reason"] = "the seed program and the node share no fresh seed"
        elif comparison.gain.mean <= 0:
            record["reason"] = "no gain over the seed program on the fresh seeds"
        elif self.conf.alpha is not None and not comparison.significant(self.conf.alpha):
            record["reason"] = f"the gain is not significant at {self.conf.alpha}"
        else:
            record["verdict"] = "confirmed"
        return record


def not_needed() -> dict[str, Any]:
    """The record of a node that did not beat the best: never evaluated again, never best."""
    return {"verdict": "not_needed"}


def abandoned(record: dict[str, Any] | None) -> dict[str, Any]:
    """The record of a confirmation a run resumed with ``run.confirm`` off left unfinished:
    the node stays unconfirmed."""
    return {**(record or {}), "verdict": "rejected", "reason": "run.confirm was off on resume"}
