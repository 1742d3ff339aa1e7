"""The embedded default proposer (``llm=offline``): no network, no keys, deterministic.

It is not a language model. It perturbs the numeric literals of the parent program
(inside its EVOLVE-BLOCK regions when the program has them) and sometimes recombines them
with the literals of a reference node of the same shape, seeded per round. On tasks whose
quality depends on constants, such as the circle-packing seeds, that is enough for the
loop to improve real programs out of the box and for tests to exercise every stage.
With ``llm.operators`` (docs/operators.md) the round's operator decides instead:
``crossover`` recombines with the second parent, the others mutate.
"""

from __future__ import annotations

import bisect
import io
import random
import re
import tokenize
from dataclasses import dataclass
from typing import Any

from harness.analyzer import deterministic_analysis
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    Judgement,
    LLMCall,
    MetaRequest,
    NoveltyRequest,
    Outcome,
    Proposal,
    ProposalRequest,
)
from harness.llm.operators import from_config, second_parent
from harness.meta import deterministic_summary
from harness.task import TaskSpec
from harness.tree import Tree, is_tree, language_of, policy_of

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


def find_literals(program: str, language: str = "python") -> list[Literal]:
    """Numeric literals that may be mutated (inside EVOLVE-BLOCKs if any exist): found by
    Python's tokenizer for Python, by :func:`_c_numbers` for C-like languages."""
    rows = _evolvable_rows(program.splitlines())
    numbers = _python_numbers(program) if language == "python" else _c_numbers(program)
    return [lit for lit in numbers if rows is None or lit.row in rows]


def _python_numbers(program: str) -> list[Literal]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(program).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    return [
        Literal(tok.start[0], tok.start[1], tok.end[1], tok.string)
        for tok in tokens
        if tok.type == tokenize.NUMBER
        and tok.start[0] == tok.end[0]
        and "j" not in tok.string.lower()
    ]


#: A C comment, string, char literal or identifier (skipped), or a number whose decimal or
#: hex value ``int(text, 0)``/``float(text)`` reads (group ``num``; a type suffix such as
#: ``f`` or ``UL`` stays outside it, octal and hex floats are not matched).
_C_TOKEN = re.compile(
    r"""//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|[A-Za-z_]\w*
    |(?<![\w.])(?P<num>0[xX][0-9a-fA-F]+|(?:[1-9]\d*|0)(?![\d.eExX])
      |(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)(?P<suffix>[uUlLfF]*)(?![\w.])""",
    re.S | re.X,
)


def _c_numbers(program: str) -> list[Literal]:
    """The numeric literals of C-like source, outside comments, strings and identifiers."""
    starts = [0]
    for line in program.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    found = []
    for match in _C_TOKEN.finditer(program):
        if match.group("num") is None:
            continue
        start, end = match.span("num")
        row = bisect.bisect_right(starts, start) - 1
        found.append(Literal(row + 1, start - starts[row], end - starts[row], match.group("num")))
    return found


def _replace(program: str, changes: dict[Literal, str]) -> str:
    lines = program.splitlines(keepends=True)
    for lit in sorted(changes, key=lambda lit: (lit.row, lit.col), reverse=True):
        line = lines[lit.row - 1]
        lines[lit.row - 1] = line[: lit.col] + changes[lit] + line[lit.end_col :]
    return "".join(lines)


def _apart(program: str, changes: dict[Literal, str]) -> dict[Literal, str]:
    """A negative value right after ``-`` or ``+`` gets a space before it: C reads ``a--0.5``
    as a decrement, where Python reads ``a - -0.5``."""
    lines = program.splitlines()

    def after_sign(lit: Literal) -> bool:
        return lit.col > 0 and lines[lit.row - 1][lit.col - 1] in "+-"

    return {
        lit: f" {new}" if new.startswith("-") and after_sign(lit) else new
        for lit, new in changes.items()
    }


@dataclass(frozen=True)
class Unit:
    """One file whose literals may change: ``path`` is ``None`` for a one-file program."""

    path: str | None
    text: str
    language: str
    literals: tuple[Literal, ...]

    @property
    def where(self) -> str:
        """How the file is named in a motivation (``""`` for a one-file program)."""
        return "" if self.path is None else f"{self.path} "


def units(program: str, task: TaskSpec, *, every_file: bool = False) -> list[Unit]:
    """The files of ``program`` whose literals may change, in path order: the program itself
    for a one-file program; in a tree, its Python and C files that the task's policies
    (``TaskSpec.files``) let evolve, a ``blocks`` file only inside its EVOLVE-BLOCKs
    (``every_file``: all Python and C files, whatever their policy)."""
    if not is_tree(program):
        return [Unit(None, program, task.language, tuple(find_literals(program, task.language)))]
    found = []
    for path, text in Tree.parse(program).items():
        language = language_of(path)
        policy = policy_of(path, task.files)
        if language == "text" or (policy == "read_only" and not every_file):
            continue
        if policy == "blocks" and not every_file and _evolvable_rows(text.splitlines()) is None:
            continue
        found.append(Unit(path, text, language, tuple(find_literals(text, language))))
    return found


def _pairs(mine: list[Unit], theirs: list[Unit]) -> list[tuple[tuple[int, Literal], Literal]]:
    """The literals of ``mine`` paired with a donor's, file by file, for the files where
    both have as many literals."""
    by_path = {unit.path: unit for unit in theirs}
    pairs = []
    for i, unit in enumerate(mine):
        other = by_path.get(unit.path)
        if other is not None and len(other.literals) == len(unit.literals):
            pairs += [((i, a), b) for a, b in zip(unit.literals, other.literals, strict=True)]
    return pairs


def _apply(program: str, found: list[Unit], changes: dict[tuple[int, Literal], str]) -> str:
    """``program`` with the literal ``changes``, file by file (a tree stays a tree)."""
    texts: dict[str | None, str] = {}
    for i, unit in enumerate(found):
        mine = {lit: new for (j, lit), new in changes.items() if j == i}
        if mine:
            if unit.language != "python":
                mine = _apart(unit.text, mine)
            texts[unit.path] = _replace(unit.text, mine)
    if not is_tree(program):
        return texts.get(None, program)
    tree = Tree.parse(program)
    for path, text in texts.items():
        tree = tree.with_file(str(path), text)
    return tree.text()


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
        self.operators = from_config(config)

    def _mutate(self, rng: random.Random, lit: Literal) -> str:
        if lit.is_float:
            value = float(lit.text)
            return _format_float(value + rng.gauss(0.0, self.scale * max(abs(value), 0.05)))
        value = int(lit.text, 0)
        step = rng.choice((-1, 1))
        return str(max(value + step, 0) if value >= 0 else value + step)

    def _recombine(
        self, rng: random.Random, pairs: list[tuple[tuple[int, Literal], Literal]]
    ) -> dict[tuple[int, Literal], str]:
        pairs = [(a, b) for a, b in pairs if a[1].text != b.text]
        return {a: b.text for a, b in pairs if rng.random() < 0.5} or (
            {pairs[0][0]: pairs[0][1].text} if pairs else {}
        )

    async def propose(self, request: ProposalRequest) -> Proposal:
        if self.operators is not None:
            request = self.operators.assign(request)
        proposal = await self._propose(request)
        proposal.operator = None if request.operator is None else request.operator.name
        proposal.prompt_variant = None if request.variant is None else request.variant.name
        return proposal

    def observe(self, outcome: Outcome) -> None:
        """Count a finished round toward its operator (``llm.operators``)."""
        if self.operators is not None:
            self.operators.observe(outcome)

    async def _propose(self, request: ProposalRequest) -> Proposal:
        """Mutate the parent's literals, or recombine them with a reference's: at random
        (``recombine_prob``) without operators; with them, ``crossover`` recombines with
        the second parent and every other operator mutates. In a multi-file program only
        the files that may change are touched (:func:`units`), and recombination is file
        by file, with the reference's file of the same path."""
        rng = random.Random(request.seed)
        parent = request.parent
        task = request.task
        mine = units(parent.program, task)
        literals = [(i, lit) for i, unit in enumerate(mine) for lit in unit.literals]
        if not literals:
            where = (
                "the parent's files that may change" if is_tree(parent.program) else "the parent"
            )
            return Proposal(
                name=f"offline-{request.node_id}",
                motivation="",
                program=None,
                error=f"the offline proposer found no numeric literals to mutate in {where}",
                edit="mutation",
            )
        changes: dict[tuple[int, Literal], str] = {}
        kind = "mutation"
        donors = [ref for ref in request.references if _pairs(mine, units(ref.program, task))]
        operator = request.operator
        if operator is not None:
            second = second_parent(request) if operator.parents > 1 else None
            donors = [second] if second is not None and second in donors else []
        if donors and (operator is not None or rng.random() < self.recombine_prob):
            donor = rng.choice(donors)
            changes = self._recombine(rng, _pairs(mine, units(donor.program, task)))
            kind = f"recombination with node {donor.id}"
        if not changes:
            kind = "mutation"
            weights = [1.0 if lit.is_float else self.int_weight for _, lit in literals]
            count = rng.randint(1, min(self.max_changes, len(literals)))
            for key in rng.choices(literals, weights=weights, k=count):
                changes[key] = self._mutate(rng, key[1])
        changes = {key: new for key, new in changes.items() if new != key[1].text}
        if not changes:
            key = literals[0]
            lit = key[1]
            changes = {key: self._mutate(rng, lit) if lit.is_float else str(int(lit.text, 0) + 1)}
        described = "; ".join(
            f"{mine[i].where}line {lit.row}: {lit.text} -> {new}"
            for (i, lit), new in sorted(
                changes.items(), key=lambda c: (c[0][0], c[0][1].row, c[0][1].col)
            )
        )
        return Proposal(
            name=f"offline-{request.node_id}",
            motivation=f"{kind.capitalize()} of node {parent.id}'s literals ({described}).",
            program=_apply(parent.program, mine, changes),
            edit="mutation",
        )

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        return Analysis(text=deterministic_analysis(request.node, request.reference))

    async def summarize(self, request: MetaRequest) -> Analysis:
        """Meta-recommendations from the numbers alone (``run.meta``), no LLM call."""
        return Analysis(text=deterministic_summary(request))

    async def judge_novelty(self, request: NoveltyRequest) -> Judgement:
        """Deterministic: a candidate that differs from the nearest program in numeric
        literals only (what this proposer writes) is not meaningfully different."""
        task = request.task

        def skeleton(program: str) -> str:
            found = units(program, task, every_file=True)
            zeros = {(i, lit): "0" for i, unit in enumerate(found) for lit in unit.literals}
            return _apply(program, found, zeros)

        different = skeleton(request.candidate.program) != skeleton(request.nearest.program)
        reason = (
            "it changes more than numeric literals"
            if different
            else f"it differs from node {request.nearest.id} in numeric literals only"
        )
        verdict = "different" if different else "same"
        call = LLMCall(
            role="novelty_judge",
            model=self.model,
            request=f"node {request.candidate.id} vs node {request.nearest.id}",
            response=f"<verdict>{verdict}</verdict><reason>{reason}</reason>",
        )
        return Judgement(different, reason, [call])

    async def aclose(self) -> None:
        return None
