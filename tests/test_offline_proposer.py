"""The embedded default proposer: deterministic literal mutation and recombination."""

from __future__ import annotations

import asyncio

from harness.llm.base import NodeView, ProposalRequest
from harness.llm.offline import OfflineProposer, find_literals
from harness.task import TaskSpec

PROGRAM = """import math
SCALE = 2
# EVOLVE-BLOCK-START
def f(x):
    return 0.5 * x + 1.25
# EVOLVE-BLOCK-END
LIMIT = 10
"""
SPEC = TaskSpec(name="t", description="d", entry="f")


def request(seed, parent=PROGRAM, refs=()):
    return ProposalRequest(SPEC, NodeView(0, "p", parent, 1.0, True), list(refs), [], 5, seed)


def test_only_literals_inside_evolve_blocks_are_candidates():
    assert [lit.text for lit in find_literals(PROGRAM)] == ["0.5", "1.25"]
    assert [lit.text for lit in find_literals("a = 1\nb = 2.0\n")] == ["1", "2.0"]


def test_mutation_is_deterministic_per_seed_and_changes_the_block_only():
    proposer = OfflineProposer({})
    first = asyncio.run(proposer.propose(request(1)))
    again = asyncio.run(proposer.propose(request(1)))
    other = asyncio.run(proposer.propose(request(2)))
    assert first.program == again.program
    assert first.program != PROGRAM
    assert other.program != first.program
    assert "SCALE = 2" in first.program and "LIMIT = 10" in first.program
    compile(first.program, "<candidate>", "exec")
    assert "->" in first.motivation


def test_recombination_takes_literals_from_a_reference():
    donor = PROGRAM.replace("0.5 * x", "0.75 * x").replace("1.25", "3.5")
    proposer = OfflineProposer({"recombine_prob": 1.0})
    proposal = asyncio.run(proposer.propose(request(4, refs=[NodeView(9, "d", donor, 2.0, True)])))
    assert "recombination with node 9" in proposal.motivation.lower()
    assert "0.75" in proposal.program or "3.5" in proposal.program


def test_program_without_literals_is_a_failed_proposal():
    proposal = asyncio.run(OfflineProposer({}).propose(request(1, parent="def f():\n    pass\n")))
    assert proposal.program is None and "no numeric literals" in proposal.error
