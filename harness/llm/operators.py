"""Search operators and system-prompt variants, one of each drawn per round.

An operator is how a round asks for its child and applies the answer: ``diff`` (SEARCH/
REPLACE blocks against the parent), ``full`` (a whole new program) and ``crossover`` (the
parent and the best reference shown in full as two parents, combined into one program).
``llm.operators`` lists the run's operators; ``llm.system_variants`` lists named extra
texts for the researcher's system message. Both are drawn with the round's seed, by fixed
weights or by the bandit that learns improvements per unit cost (:mod:`harness.llm.bandit`,
the model ensemble's draw), and stored with the node, so that on resume the loop shows the
bandit every stored outcome again and a replay asks the same prompts. Plugins add
operators through ``harness_register_operators``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.llm.bandit import Arm, draw
from harness.llm.base import NodeView, Outcome, ProposalRequest
from harness.llm.schemas import EnsemblePolicy


@dataclass(frozen=True)
class Operator:
    """How a round asks for its child, and how the answer is applied.

    ``output`` is the answer-format template the researcher's system message includes;
    ``edit_mode`` (``diff`` or ``full``) is how the answer becomes the program
    (:func:`harness.llm.edits.build_program`). An operator with ``parents=2`` shows the
    best reference as a second parent, in full; a round without references uses the
    operator named ``fallback`` instead.
    """

    name: str
    output: str
    edit_mode: str
    parents: int = 1
    fallback: str = "diff"


DIFF = Operator("diff", "output.diff.j2", "diff")
FULL = Operator("full", "output.full.j2", "full")
CROSSOVER = Operator("crossover", "output.crossover.j2", "full", parents=2)
BUILTIN = (DIFF, FULL, CROSSOVER)


@dataclass(frozen=True)
class PromptVariant:
    """A named extra text for the researcher's system message: ``text`` as it is, or
    ``template``, a prompt template's name rendered with the researcher's variables."""

    name: str
    text: str = ""
    template: str | None = None


def second_parent(request: ProposalRequest) -> NodeView | None:
    """The reference a two-parent operator combines with the parent: the best-scoring one
    (the first when none has a score), or None when the round has no reference."""
    scored = [node for node in request.references if node.score is not None]
    if scored:
        return max(scored, key=lambda node: node.score or 0.0)
    return request.references[0] if request.references else None


class Operators:
    """The run's operators and prompt variants, with what each achieved so far."""

    def __init__(
        self,
        operators: Sequence[Operator],
        variants: Sequence[PromptVariant],
        policy: EnsemblePolicy | str,
        weights: Mapping[str, float],
        priced: bool = False,
        fallbacks: Mapping[str, Operator] | None = None,
    ) -> None:
        self.operators = {operator.name: operator for operator in operators}
        self.variants = {variant.name: variant for variant in variants}
        self.policy = EnsemblePolicy(policy)
        self.fallbacks = dict(fallbacks or {})
        self.arms = {
            name: Arm(weight=float(weights.get(name, 1.0)), priced=priced)
            for name in [*self.operators, *self.variants]
        }

    def _draw(self, names: Sequence[str], stream: str, seed: int) -> str:
        arms = [self.arms[name] for name in names]
        chosen = draw(arms, self.policy, random.Random(f"{stream}-{seed}"))
        return next(name for name, arm in zip(names, arms, strict=True) if arm is chosen)

    def assign(self, request: ProposalRequest) -> ProposalRequest:
        """``request`` with the round's operator and variant, drawn with its seed."""
        operator = variant = None
        if self.operators:
            operator = self.operators[self._draw(list(self.operators), "operator", request.seed)]
            if operator.parents > 1 and not request.references:
                operator = self.fallbacks[operator.fallback]
        if self.variants:
            variant = self.variants[self._draw(list(self.variants), "variant", request.seed)]
        return dataclasses.replace(request, operator=operator, variant=variant)

    def observe(self, outcome: Outcome) -> None:
        """Count a finished round toward its operator and its variant."""
        for name in (outcome.operator, outcome.prompt_variant):
            arm = self.arms.get(name) if name is not None else None
            if arm is not None:
                arm.count(outcome)


KEYS = ("operators", "operator_policy", "operator_weights", "system_variants")
"""The ``llm`` settings read here: the run's, never one role's or ensemble member's."""


def from_config(config: Mapping[str, Any], priced: bool = False) -> Operators | None:
    """The run's :class:`Operators` from its ``llm`` settings, or None when neither
    ``operators`` nor ``system_variants`` is set (the fixed ``edit_mode``, as before).

    Unknown operators, a weight list whose length is not the operators', weights that are
    not > 0 and malformed variants are ValueErrors, before the run starts.
    """
    from harness import plugins

    names = [str(name) for name in config.get("operators") or []]
    raw_variants = list(config.get("system_variants") or [])
    if not names and not raw_variants:
        return None
    if len(set(names)) != len(names):
        raise ValueError(f"llm.operators lists an operator twice: {names}")
    try:
        operators = [plugins.get_operator(name) for name in names]
        fallbacks = {
            operator.fallback: plugins.get_operator(operator.fallback)
            for operator in operators
            if operator.parents > 1
        }
    except plugins.UnknownNameError as exc:
        raise ValueError(f"llm.operators: {exc}") from exc
    listed = list(config.get("operator_weights") or [])
    if listed and len(listed) != len(names):
        raise ValueError(
            f"llm.operator_weights: {len(listed)} weight(s) for {len(names)} operator(s) {names}"
        )
    weights: dict[str, Any] = dict(zip(names, listed, strict=False))
    variants = [_variant(dict(raw), index, weights) for index, raw in enumerate(raw_variants)]
    if len({variant.name for variant in variants} | set(names)) != len(variants) + len(names):
        raise ValueError(
            "llm.system_variants: names must differ from each other and from the operators'"
        )
    for name, weight in weights.items():
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise ValueError(f"weight of {name!r} must be a number > 0, not {weight!r}")
    policy = config.get("operator_policy") or EnsemblePolicy.weights
    return Operators(operators, variants, policy, weights, priced, fallbacks)


def _variant(raw: dict[str, Any], index: int, weights: dict[str, float]) -> PromptVariant:
    """One ``llm.system_variants`` entry: ``name``, ``text`` or ``template``, ``weight``."""
    where = f"llm.system_variants[{index}]"
    unknown = sorted(set(raw) - {"name", "text", "template", "weight"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: name, text, template, weight")
    name = raw.get("name")
    if not name or not isinstance(name, str):
        raise ValueError(f"{where}: needs a name")
    if ("text" in raw) == ("template" in raw):
        raise ValueError(f"{where} ({name}): give exactly one of text and template")
    if "weight" in raw:
        weights[name] = raw["weight"]
    template = raw.get("template")
    return PromptVariant(
        name, str(raw.get("text") or ""), None if template is None else str(template)
    )


def priced(config: Mapping[str, Any]) -> bool:
    """Whether every researcher model of ``config`` (an ``llm`` section) has a price, so
    that the bandit weighs USD rather than tokens, as the model ensemble does."""
    researcher = {**config, **dict((config.get("roles") or {}).get("researcher") or {})}
    members = [{**researcher, **dict(member)} for member in config.get("ensemble") or []]
    return all(
        settings.get("usd_per_mtok_in") is not None or settings.get("usd_per_mtok_out") is not None
        for settings in members or [researcher]
    )
