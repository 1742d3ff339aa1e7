"""What every chat-model back-end shares: prompts in, programs and analyses out.

A back-end (an HTTP endpoint, a model in this process, a recorded run) only implements
:meth:`ChatProposer._chat`, one recorded exchange per call. Prompt building, answer
parsing, diff application and the analyzer's handling live here, so every back-end turns
the same answer into the same node.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.filters.judge import judge_prompt, parse_judgement
from harness.llm.answers import parse_analyzer_answer, parse_answer, strip_thinking
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    Judgement,
    Learner,
    LLMCall,
    MetaRequest,
    NoveltyRequest,
    Outcome,
    Proposal,
    ProposalRequest,
    RepairRequest,
    storable,
)
from harness.llm.edits import EditError, build_program
from harness.llm.prompts import (
    PromptTemplates,
    analyzer_prompt,
    meta_prompt,
    repair_prompt,
    researcher_prompt,
)
from harness.redact import redact_data
from harness.task import TaskSpec

if TYPE_CHECKING:
    from harness.llm.agent import Agent
    from harness.llm.operators import Operators

_RECOMMENDATIONS_RE = re.compile(r"<recommendations>(.*?)(?:</recommendations>|\Z)", re.DOTALL)


def _recommendations(text: str) -> str:
    """The summary in ``<recommendations>`` (else the whole answer), without thinking."""
    text = strip_thinking(text)
    match = _RECOMMENDATIONS_RE.search(text)
    return (match.group(1) if match else text).strip()


@dataclass
class Reply:
    """One chat exchange: its record, the answer text and why generation stopped."""

    call: LLMCall
    text: str = ""
    finish_reason: str | None = None


@dataclass(frozen=True)
class Exchange:
    """Which round an exchange belongs to, for back-ends whose ``_chat`` needs it: the node
    (replay names it when the run diverges) and a seed (local models sample with it)."""

    node_id: int
    seed: int


_exchange: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "exchange", default=None
)


def current_exchange() -> Exchange | None:
    """The round of the ``_chat`` call in progress (None outside propose/repair/analyze)."""
    return _exchange.get()


@contextlib.contextmanager
def _in_exchange(node_id: int, seed: int) -> Iterator[None]:
    token = _exchange.set(Exchange(node_id, seed))
    try:
        yield
    finally:
        _exchange.reset(token)


class ChatProposer:
    """A :class:`harness.llm.base.Proposer` (and Repairer) over any chat model.

    Subclasses implement :meth:`_chat`; failures go into ``reply.call.error`` and are never
    raised, so a bad answer costs one node, not the run. ``prompts_dir`` holds templates
    that replace the core's (docs/prompts.md); they are checked here, so a broken one is a
    ValueError before the run starts.
    """

    name = "chat"

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int | None = 4096,
        edit_mode: str = "diff",
        max_code_chars: int = 100_000,
        prompt_budget_chars: int = 60_000,
        prompts_dir: str | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.edit_mode = edit_mode
        self.max_code_chars = max_code_chars
        self.prompt_budget_chars = prompt_budget_chars
        self.templates = PromptTemplates(prompts_dir)
        #: back-ends with their own settings for some roles (``llm.roles``); a role's whole
        #: exchange is theirs (prompt, answer format, parsing), not only the transport
        self.by_role: dict[str, ChatProposer] = {}
        #: the run's search operators and prompt variants (``llm.operators``), drawn per
        #: round by the back-end the loop holds; None: ``edit_mode`` every round
        self.operators: Operators | None = None
        #: the tool-using researcher (``llm.mode=agent``), None in chat mode
        self.agent: Agent | None = None

    async def _chat(self, role: str, messages: list[dict[str, str]]) -> Reply:
        """One recorded exchange for ``role``; errors in ``call.error``, never raised."""
        raise NotImplementedError

    async def _ask(self, role: str, messages: list[dict[str, str]]) -> Reply:
        """:meth:`_chat` of the prompt with the harness's secret values masked (a candidate's
        output in it could carry one, see :mod:`harness.redact`), its answer made valid UTF-8
        (see :func:`storable`) before it is parsed, compiled or stored: JSON can carry lone
        surrogates."""
        reply = await self._chat(role, redact_data(messages))
        reply.text = storable(reply.text)
        return reply

    async def propose(self, request: ProposalRequest) -> Proposal:
        """Ask for one edit of the parent; a failure is returned as ``program=None``. The
        round's operator and prompt variant are drawn here (``llm.operators``), before a
        researcher with its own settings (or model ensemble) takes the request on."""
        if self.operators is not None and request.operator is None and request.variant is None:
            request = self.operators.assign(request)
        if "researcher" in self.by_role:
            return await self.by_role["researcher"].propose(request)
        if self.agent is not None:
            with _in_exchange(request.node_id, request.seed):
                return await self.agent.propose(request)
        messages = researcher_prompt(
            request,
            self.edit_mode,
            self.prompt_budget_chars,
            max_code_chars=self.max_code_chars,
            templates=self.templates,
        )
        with _in_exchange(request.node_id, request.seed):
            reply = await self._ask("researcher", messages)
        operator = request.operator
        proposal = self._proposal(
            reply,
            request.parent.program,
            f"node-{request.node_id}",
            request.task,
            None if operator is None else operator.edit_mode,
        )
        proposal.operator = None if operator is None else operator.name
        proposal.prompt_variant = None if request.variant is None else request.variant.name
        return proposal

    async def repair(self, request: RepairRequest) -> Proposal:
        """Ask the debug agent to fix a program that failed with an error."""
        if "repair" in self.by_role:
            return await self.by_role["repair"].repair(request)
        messages = repair_prompt(
            request, self.edit_mode, self.prompt_budget_chars, templates=self.templates
        )
        with _in_exchange(request.node.id, request.seed + request.attempt):
            reply = await self._ask("repair", messages)
        return self._proposal(reply, request.node.program, f"{request.node.name}-fix", request.task)

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        """Ask for an analysis of the evaluated node against its reference."""
        if "analyzer" in self.by_role:
            return await self.by_role["analyzer"].analyze(request)
        messages = analyzer_prompt(request, self.prompt_budget_chars, templates=self.templates)
        with _in_exchange(request.node.id, request.node.id):
            reply = await self._ask("analyzer", messages)
        if reply.call.error is not None:
            return Analysis(
                text=f"analysis unavailable: {reply.call.error}", llm_calls=[reply.call]
            )
        answer = parse_analyzer_answer(reply.text)
        if not answer.analysis:
            reply.call.error = "LLM returned an empty analysis"
            return Analysis(
                text=f"analysis unavailable: {reply.call.error}", llm_calls=[reply.call]
            )
        text = answer.analysis
        for title, items in (("Lessons", answer.lessons), ("Next", answer.directions)):
            if items:
                text += f"\n\n{title}:\n" + "\n".join(f"- {item}" for item in items)
        return Analysis(
            text=text,
            llm_calls=[reply.call],
            lessons=answer.lessons,
            directions=answer.directions,
        )

    async def summarize(self, request: MetaRequest) -> Analysis:
        """Ask the analyzer role (its own settings, when ``llm.roles`` gives it some) for
        the run's next meta-recommendations; recorded with role ``meta``."""
        if "analyzer" in self.by_role:
            return await self.by_role["analyzer"].summarize(request)
        messages = meta_prompt(request, self.prompt_budget_chars, templates=self.templates)
        with _in_exchange(request.after_node, request.version):
            reply = await self._ask("meta", messages)
        if reply.call.error is None:
            text = _recommendations(reply.text)
            if text:
                return Analysis(text=text, llm_calls=[reply.call])
            reply.call.error = "LLM returned empty recommendations"
        return Analysis(text="", llm_calls=[reply.call])

    async def judge_novelty(self, request: NoveltyRequest) -> Judgement:
        """Ask the analyzer role whether a candidate a novelty filter would reject is
        meaningfully different from the nearest evaluated program (``novelty.judge``);
        recorded with role ``novelty_judge``."""
        if "analyzer" in self.by_role:
            return await self.by_role["analyzer"].judge_novelty(request)
        with _in_exchange(request.candidate.id, request.nearest.id):
            reply = await self._ask("novelty_judge", judge_prompt(request))
        different, reason = parse_judgement(reply.call, strip_thinking(reply.text))
        return Judgement(different, reason, [reply.call])

    def observe(self, outcome: Outcome) -> None:
        """Pass a round's outcome to a researcher that learns from it (an ensemble), and to
        the operators' bandit."""
        if self.operators is not None:
            self.operators.observe(outcome)
        researcher = self.by_role.get("researcher")
        if isinstance(researcher, Learner):
            researcher.observe(outcome)

    async def aclose(self) -> None:
        """Release what the back-end and its per-role back-ends hold (connections...)."""
        for proposer in self.by_role.values():
            await proposer.aclose()

    def _proposal(
        self,
        reply: Reply,
        base: str,
        fallback_name: str,
        task: TaskSpec,
        edit_mode: str | None = None,
    ) -> Proposal:
        """Turn an answer into a program edited from ``base`` (or the reason it is not one),
        read as ``edit_mode`` (default: the back-end's)."""
        mode = edit_mode or self.edit_mode
        if reply.call.error is not None:
            return Proposal(
                name=fallback_name,
                motivation="",
                program=None,
                error=reply.call.error,
                edit=mode,
                llm_calls=[reply.call],
            )
        parsed = parse_answer(reply.text)
        name = " ".join(parsed.name.split())[:100] or fallback_name
        try:
            program, kind = build_program(
                base,
                parsed,
                mode,
                self.max_code_chars,
                language=task.language,
                files=task.files,
                new_files=task.new_files,
            )
        except EditError as exc:
            error = str(exc)
            if reply.finish_reason == "length":
                error += f" (the answer was cut off at max_tokens={self.max_tokens})"
            return Proposal(
                name=name,
                motivation=parsed.motivation,
                program=None,
                error=error,
                edit=mode,
                llm_calls=[reply.call],
            )
        return Proposal(
            name=name,
            motivation=parsed.motivation,
            program=program,
            edit=kind,
            llm_calls=[reply.call],
            citations=parsed.citations,
        )
