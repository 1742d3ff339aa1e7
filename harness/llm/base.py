"""What a proposer back-end receives and returns: the researcher and analyzer roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.task import CognitionItem, EvalResult, TaskSpec

if TYPE_CHECKING:
    from harness.llm.operators import Operator, PromptVariant


def storable(text: str) -> str:
    """``text`` with each lone surrogate (JSON's ``"\\ud800"``, bytes decoded with
    ``surrogateescape``) replaced by U+FFFD: SQLite, files and HTTP bodies take only
    valid UTF-8, and no answer of a back-end may crash the run that stores it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


class _Storable:
    """Text fields (and lists of texts) pass through :func:`storable` when set, so what
    any back-end (plugins' included) returns can be stored and sent on."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, str):
            value = storable(value)
        elif isinstance(value, list) and any(isinstance(item, str) for item in value):
            value = [storable(item) if isinstance(item, str) else item for item in value]
        super().__setattr__(name, value)


@dataclass
class NodeView:
    """One stored node as the researcher and analyzer see it."""

    id: int
    name: str
    program: str
    score: float | None = None
    success: bool = False
    status: str = "evaluated"
    motivation: str = ""
    analysis: str = ""
    feedback: str = ""
    error_class: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class LLMCall(_Storable):
    """One exchange with a model, stored in the ``llm_calls`` table."""

    role: str
    model: str
    request: str
    response: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    error: str | None = None
    cost_usd: float | None = None
    attempts: int = 1
    retryable: bool = False


@dataclass
class ProposalRequest:
    """The researcher's context for one round.

    ``parent`` is the node whose program is edited (diff base); ``references`` are the
    other sampled nodes; ``seed`` is a per-round seed so offline proposers are
    deterministic. ``operator`` and ``variant`` are the round's search operator and
    system-prompt variant (``llm.operators``, ``llm.system_variants``; None: the fixed
    ``edit_mode``, no variant). ``evaluate`` is the run's cheap evaluation of a program
    (its first cascade stage, in an evaluation worker), for researchers that try their
    edits before proposing (``llm.mode=agent``); None outside a run.
    """

    task: TaskSpec
    parent: NodeView
    references: list[NodeView]
    cognition: list[CognitionItem]
    node_id: int
    seed: int
    operator: Operator | None = None
    variant: PromptVariant | None = None
    #: The run's latest meta-recommendations (``run.meta``, docs/meta.md); "" when off.
    recommendations: str = ""
    evaluate: Callable[[str], Awaitable[EvalResult]] | None = None


@dataclass
class Proposal(_Storable):
    """A candidate program, or the reason why none could be produced.

    ``program`` is ``None`` when the answer could not be turned into a program (a failed
    diff, a malformed answer, an endpoint error); ``error`` then says why, and the core
    stores a failed node with that feedback.
    """

    name: str
    motivation: str
    program: str | None
    error: str | None = None
    edit: str = "full"
    llm_calls: list[LLMCall] = field(default_factory=list)
    #: what the researcher says inspired it: ("cognition", item id) and ("node", node id)
    citations: list[tuple[str, int]] = field(default_factory=list)
    #: the names of the round's operator and system-prompt variant, stored with the node
    operator: str | None = None
    prompt_variant: str | None = None

    @property
    def endpoint_down(self) -> bool:
        """No program because the endpoint failed (after retries), not because of the answer:
        the loop pauses and asks again instead of recording a failed node."""
        return self.program is None and any(call.retryable for call in self.llm_calls[-1:])


@dataclass
class AnalysisRequest:
    """The analyzer's context: the new node (with its results) and the best reference."""

    task: TaskSpec
    node: NodeView
    reference: NodeView | None


@dataclass
class RepairRequest:
    """The debug agent's context: a node whose evaluation failed with a traceback.

    ``node.program`` is the broken program and ``node.feedback`` its error; ``attempt``
    counts from 1. The answer is a :class:`Proposal` whose program replaces the broken one.
    """

    task: TaskSpec
    node: NodeView
    attempt: int
    seed: int


@dataclass
class Analysis(_Storable):
    """The analyzer's answer: the analysis stored with the node, and ``lessons`` (general,
    reusable insights, written back to the cognition base) and ``directions`` to try next."""

    text: str
    llm_calls: list[LLMCall] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)


@dataclass
class MetaRequest:
    """The context for rewriting the run's meta-recommendations (``run.meta``): the
    ``previous`` summary ("" for version 1), the ``best`` nodes, and the ``recent`` nodes
    with ``deltas`` (each one's score minus its parent's, None when either is unscored)."""

    task: TaskSpec
    previous: str
    best: list[NodeView]
    recent: list[NodeView]
    deltas: list[float | None]
    version: int
    after_node: int


class Proposer(Protocol):
    """A researcher/analyzer back-end, created by a factory registered for ``llm=NAME``."""

    name: str
    model: str

    async def propose(self, request: ProposalRequest) -> Proposal: ...

    async def analyze(self, request: AnalysisRequest) -> Analysis: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Repairer(Protocol):
    """Optional: a back-end with ``repair`` can fix failed programs (``run.repair_attempts``)."""

    async def repair(self, request: RepairRequest) -> Proposal: ...


@runtime_checkable
class Summarizer(Protocol):
    """Optional: a back-end with ``summarize`` writes the meta-recommendations (``run.meta``);
    for others the core writes a deterministic summary. The answer's ``text`` is the summary."""

    async def summarize(self, request: MetaRequest) -> Analysis: ...


@dataclass
class Outcome:
    """What one round's proposal led to, for back-ends that learn from it (``Learner``).

    ``model`` is the researcher model that wrote the program; ``improved``: the node
    scored above its parent; ``cost_usd`` (None when unpriced) and ``tokens`` are those
    of the node's researcher calls; ``operator`` and ``prompt_variant`` are the node's
    (None when the run has none).
    """

    node_id: int
    model: str
    improved: bool
    cost_usd: float | None
    tokens: int
    operator: str | None = None
    prompt_variant: str | None = None


@runtime_checkable
class Learner(Protocol):
    """Optional: a back-end with ``observe`` is shown every finished round's outcome, live
    and, on resume, for every stored node in order (a model ensemble's bandit learns so)."""

    def observe(self, outcome: Outcome) -> None: ...


@dataclass
class NoveltyRequest:
    """The novelty judge's context (``novelty.judge``): a proposed ``candidate`` program and
    the evaluated ``nearest`` one, whose embeddings have cosine ``similarity``."""

    task: TaskSpec
    candidate: NodeView
    nearest: NodeView
    similarity: float


@dataclass
class Judgement:
    """The novelty judge's answer: whether the candidate is meaningfully ``different``
    (``None``: no usable answer, so the candidate is evaluated), and why."""

    different: bool | None
    reason: str = ""
    llm_calls: list[LLMCall] = field(default_factory=list)


@runtime_checkable
class NoveltyJudge(Protocol):
    """Optional: a back-end with ``judge_novelty`` can confirm a novelty filter's rejection
    (``novelty.judge=true``) in the analyzer's role, recorded as role ``novelty_judge``."""

    async def judge_novelty(self, request: NoveltyRequest) -> Judgement: ...
