"""A test-only proposer back-end (``llm=hostile``) for the hostile-candidates suite.

Loaded with ``HARNESS_PLUGINS=harness_toy,harness_hostile`` by ``tests/test_hostile.py``,
it proposes the programs of :data:`SCRIPT` in order, one per round, so every adversarial
program goes through the real loop: proposal, sandboxed evaluation, stored node. The
analyzer role calls :data:`ON_EVALUATED` right after each evaluation has been stored, which
is where the suite checks that no process of the candidate survived it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import hookimpl
from harness.llm.base import Analysis, AnalysisRequest, NodeView, Proposal, ProposalRequest

#: (name, program) of round 1, 2, ... (round n proposes SCRIPT[n - 1]).
SCRIPT: list[tuple[str, str]] = []
#: Called with each node as soon as its evaluation is stored (in the orchestrator).
ON_EVALUATED: Callable[[NodeView], None] | None = None


class HostileProposer:
    name = "hostile"
    model = "scripted"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    async def propose(self, request: ProposalRequest) -> Proposal:
        if request.node_id > len(SCRIPT):
            return Proposal("", "", None, error=f"no scripted program for round {request.node_id}")
        name, program = SCRIPT[request.node_id - 1]
        return Proposal(name, f"adversary {name}", program)

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        if ON_EVALUATED is not None:
            ON_EVALUATED(request.node)
        return Analysis(f"{request.node.name}: {request.node.status}")

    async def aclose(self) -> None:
        return None


@dataclass
class HostileConf:
    name: str = "hostile"


@hookimpl
def harness_register_proposers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("hostile", HostileProposer)


@hookimpl
def harness_register_schemas(register: Callable[[str, str, type], None]) -> None:
    register("llm", "hostile", HostileConf)
