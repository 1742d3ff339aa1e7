"""The embedded default proposer: deterministic literal mutation and recombination."""

from __future__ import annotations

import asyncio

from harness.llm.base import NodeView, NoveltyRequest, ProposalRequest
from harness.llm.offline import OfflineProposer, find_literals
from harness.task import TaskSpec
from harness.tree import FileRule, Tree

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


TREE = Tree.of(
    {
        "pkg/model.py": "WIDTH = 4\nDEPTH = 2.5\n",
        "pkg/train.py": "LR_FIXED = 9.0\n# EVOLVE-BLOCK-START\nLR = 0.1\n# EVOLVE-BLOCK-END\n",
        "pkg/data.py": "SIZE = 128\nNOISE = 0.3\n",
        "README.md": "Version 1.5 of 3 files.\n",
    }
)
TREE_SPEC = TaskSpec(
    name="t",
    description="d",
    entry="f",
    files=(FileRule("pkg/data.py", "read_only"), FileRule("pkg/train.py", "blocks")),
)


def tree_request(seed: int, parent: str, refs=()) -> ProposalRequest:
    view = NodeView(0, "p", parent, 1.0, True)
    return ProposalRequest(TREE_SPEC, view, list(refs), [], 5, seed)


def test_a_tree_mutates_only_files_that_may_change_and_only_inside_blocks():
    proposer = OfflineProposer({})
    parent = TREE.text()
    seen: dict[str, set[str]] = {path: set() for path in TREE}
    for seed in range(200):
        proposal = asyncio.run(proposer.propose(tree_request(seed, parent)))
        child = Tree.parse(proposal.program)
        assert set(child) == set(TREE)
        assert child["pkg/data.py"] == TREE["pkg/data.py"]  # read-only: byte-identical
        assert child["README.md"] == TREE["README.md"]  # not code: never touched
        assert child["pkg/train.py"].startswith("LR_FIXED = 9.0\n")  # outside the block
        for path in child:
            seen[path].add(child[path])
        parent = proposal.program  # a chain of rounds, each on the last child
    assert len(seen["pkg/model.py"]) > 10 and len(seen["pkg/train.py"]) > 10
    assert len(seen["pkg/data.py"]) == 1 and len(seen["README.md"]) == 1


def test_a_tree_recombines_file_by_file_with_a_reference():
    donor = TREE.with_file("pkg/model.py", "WIDTH = 7\nDEPTH = 0.25\n")
    donor = donor.with_file("pkg/data.py", "SIZE = 1\nNOISE = 0.9\n")
    proposer = OfflineProposer({"recombine_prob": 1.0})
    ref = NodeView(9, "d", donor.text(), 2.0, True)
    proposal = asyncio.run(proposer.propose(tree_request(4, TREE.text(), refs=[ref])))
    child = Tree.parse(proposal.program)
    assert "recombination with node 9" in proposal.motivation.lower()
    assert "pkg/model.py line" in proposal.motivation
    assert child["pkg/model.py"] != TREE["pkg/model.py"]
    assert set(child["pkg/model.py"].split()) <= {"WIDTH", "DEPTH", "=", "4", "7", "2.5", "0.25"}
    assert child["pkg/data.py"] == TREE["pkg/data.py"]


def test_a_tree_with_nothing_to_change_is_a_failed_proposal():
    spec = TaskSpec(name="t", description="d", entry="f", files=(FileRule("*", "read_only"),))
    request = ProposalRequest(spec, NodeView(0, "p", TREE.text(), 1.0, True), [], [], 5, 1)
    proposal = asyncio.run(OfflineProposer({}).propose(request))
    assert proposal.program is None and "files that may change" in proposal.error


def test_the_novelty_judge_compares_trees_file_by_file():
    proposer = OfflineProposer({})
    nearest = NodeView(0, "n", TREE.text())
    literal = TREE.with_file("pkg/data.py", "SIZE = 64\nNOISE = 0.1\n")
    code = TREE.with_file("pkg/model.py", "WIDTH = 4\nDEPTH = WIDTH\n")
    verdicts = [
        asyncio.run(
            proposer.judge_novelty(
                NoveltyRequest(TREE_SPEC, NodeView(1, "c", t.text()), nearest, 0.9)
            )
        ).different
        for t in (literal, code)
    ]
    assert verdicts == [False, True]
