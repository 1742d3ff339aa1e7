"""The embedded default proposer (``llm=offline``): no network, no keys, deterministic.

It is not a language model. It perturbs the numeric literals of the parent program
(inside its EVOLVE-BLOCK regions when the program has them) and sometimes recombines them
with the literals of a reference node of the same shape, seeded per round. On tasks whose
quality depends on constants, such as the circle-packing seeds, that is enough for the
loop to improve real programs out of the box and for tests to exercise every stage.
"""

from __future__ import annotations

import io
import random
import tokenize
from dataclasses import dataclass
from typing import Any

from harness.analyzer import deterministic_analysis
from harness.llm.base import Analysis, AnalysisRequest, Proposal, ProposalRequest

START, END = "EVOLVE-BLOCK-START", "EVOLVE-BLOCK-END"


@dataclass(frozen=True)
class Literal:
    """A numeric literal token: where it is and what it says."""

    row: int
    col: int
    end_col: int
    text: str

    @property
    def is_float(self) -> bool:
        return any(ch in self.text.lower() for ch in ".e") and not self.text.lower().startswith(
            "0x"
        )


def _evolvable_rows(lines: list[str]) -> set[int] | None:
    """1-based line numbers inside EVOLVE-BLOCKs, or ``None`` when there are no markers."""
    rows: set[int] = set()
    inside = found = False
    for number, line in enumerate(lines, start=1):
        if START in line:
            inside = found = True
        elif END in line:
            inside = False
        elif inside:
            rows.add(number)
    return rows if found else None


def find_literals(program: str) -> list[Literal]:
    """Numeric literals that may be mutated (inside EVOLVE-BLOCKs if any exist)."""
    rows = _evolvable_rows(program.splitlines())
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(program).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    found = []
    for tok in tokens:
        if tok.type != tokenize.NUMBER or tok.start[0] != tok.end[0]:
            continue
        if "j" in tok.string.lower() or (rows is not None and tok.start[0] not in rows):
            continue
        found.append(Literal(tok.start[0], tok.start[1], tok.end[1], tok.string))
    return found


def _replace(program: str, changes: dict[Literal, str]) -> str:
    lines = program.splitlines(keepends=True)
    for lit in sorted(changes, key=lambda lit: (lit.row, lit.col), reverse=True):
        line = lines[lit.row - 1]
        lines[lit.row - 1] = line[: lit.col] + changes[lit] + line[lit.end_col :]
    return "".join(lines)


def _format_float(value: float) -> str:
    text = repr(round(value, 6))
    return text if any(ch in text for ch in ".e") else text + ".0"


class OfflineProposer:
    """Literal mutation and recombination; also a deterministic analyzer."""

    name = "offline"

    def __init__(self, config: dict[str, Any]) -> None:
        self.model = "offline-mutation"
        self.scale = float(config.get("scale", 0.1))
        self.max_changes = int(config.get("max_changes", 3))
        self.int_weight = float(config.get("int_weight", 0.2))
        self.recombine_prob = float(config.get("recombine_prob", 0.2))

    def _mutate(self, rng: random.Random, lit: Literal) -> str:
        if lit.is_float:
            value = float(lit.text)
            return _format_float(value + rng.gauss(0.0, self.scale * max(abs(value), 0.05)))
        value = int(lit.text, 0)
        step = rng.choice((-1, 1))
        return str(max(value + step, 0) if value >= 0 else value + step)

    def _recombine(
        self, rng: random.Random, mine: list[Literal], theirs: list[Literal]
    ) -> dict[Literal, str]:
        pairs = [(a, b) for a, b in zip(mine, theirs, strict=True) if a.text != b.text]
        return {a: b.text for a, b in pairs if rng.random() < 0.5} or (
            {pairs[0][0]: pairs[0][1].text} if pairs else {}
        )

    async def propose(self, request: ProposalRequest) -> Proposal:
        rng = random.Random(request.seed)
        parent = request.parent
        literals = find_literals(parent.program)
        if not literals:
            return Proposal(
                name=f"offline-{request.node_id}",
                motivation="",
                program=None,
                error="the offline proposer found no numeric literals to mutate in the parent",
                edit="mutation",
            )
        changes: dict[Literal, str] = {}
        kind = "mutation"
        donors = [
            ref for ref in request.references if len(find_literals(ref.program)) == len(literals)
        ]
        if donors and rng.random() < self.recombine_prob:
            donor = rng.choice(donors)
            changes = self._recombine(rng, literals, find_literals(donor.program))
            kind = f"recombination with node {donor.id}"
        if not changes:
            kind = "mutation"
            weights = [1.0 if lit.is_float else self.int_weight for lit in literals]
            count = rng.randint(1, min(self.max_changes, len(literals)))
            for lit in rng.choices(literals, weights=weights, k=count):
                changes[lit] = self._mutate(rng, lit)
        changes = {lit: new for lit, new in changes.items() if new != lit.text}
        if not changes:
            lit = literals[0]
            bumped = self._mutate(rng, lit) if lit.is_float else str(int(lit.text, 0) + 1)
            changes = {lit: bumped}
        described = "; ".join(
            f"line {lit.row}: {lit.text} -> {new}"
            for lit, new in sorted(changes.items(), key=lambda item: (item[0].row, item[0].col))
        )
        return Proposal(
            name=f"offline-{request.node_id}",
            motivation=f"{kind.capitalize()} of node {parent.id}'s literals ({described}).",
            program=_replace(parent.program, changes),
            edit="mutation",
        )

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        return Analysis(text=deterministic_analysis(request.node, request.reference))

    async def aclose(self) -> None:
        return None
