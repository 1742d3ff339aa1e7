"""The ``replay`` back-end: answer every LLM request from a recorded run, offline.

``harness run ... llm=replay llm.source=RUN_DIR`` re-runs a recorded run's configuration
and serves each researcher, analyzer, repair and meta request the recorded answer to the same
request, from ``RUN_DIR/harness.db`` (table ``llm_calls``), without any network or model.
Runs recorded with ``llm=openai`` or ``llm=local`` replay: only the transport is replaced;
prompts, answer parsing, diff application and the analyzer's handling are the same code
(:class:`harness.llm.chat.ChatProposer`), built with the recorded run's settings (``llm``
section of its saved config, per-role settings included), so the same answers give the
same nodes.

An exchange is looked up by its role and the exact request text. Identical requests
recorded several times are answered in recorded order; a recorded failure (an HTTP 500,
a malformed response) is replayed as the same failure. What changes between two
evaluations of one program is kept out of the comparison: a prompt shows the *recorded*
metrics and feedback of a node whose program and score match the recording (they often
hold timings and temporary paths), and elsewhere durations such as ``after 0.03 s`` and
the evaluation's temporary directory are not compared. A request with no recorded answer
means the run diverged from the recording (another seed, sampler, task or config): it
becomes a failed call saying so, and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import db as store
from harness.llm import operators
from harness.llm.agent import Agent, Turn
from harness.llm.base import (
    Analysis,
    AnalysisRequest,
    LLMCall,
    MetaRequest,
    NodeView,
    Proposal,
    ProposalRequest,
)
from harness.llm.chat import ChatProposer, Reply, current_exchange
from harness.llm.openai_proposer import DEFAULTS

# What differs between two evaluations of one program, in evaluator feedback: durations
# as the sandbox writes them ("ran OK in 0.03 s") and the private work directory.
_DURATION = re.compile(r"\b\d+\.\d+ s\b")
_WORKDIR = re.compile(r"harness-eval-[A-Za-z0-9_]+")
_CUT_OFF = "(the answer was cut off at max_tokens="
# LLMCall fields taken from the recording as they are (tokens, cost...).
_COPIED = tuple(
    f.name
    for f in dataclasses.fields(LLMCall)
    if f.name not in ("role", "model", "request", "response", "error", "latency_s")
)
# The back-ends whose runs can be replayed, and the settings that shape their prompts and
# how answers become programs (their transport settings do not matter here).
RECORDED = ("openai", "local")
_SHAPING = (
    "max_tokens",
    "edit_mode",
    "max_code_chars",
    "prompt_budget_chars",
    "prompts_dir",
    "mode",
    "agent",
)


def _key(role: str, request: str) -> tuple[str, str]:
    return role, _WORKDIR.sub("harness-eval-#", _DURATION.sub("#.## s", request))


class ReplayProposer(ChatProposer):
    """A :class:`ChatProposer` whose ``_chat`` answers from a recorded run."""

    name = "replay"

    def __init__(
        self,
        source: Path,
        calls: list[dict[str, Any]],
        nodes: dict[int, dict[str, Any]],
        **settings: Any,
    ) -> None:
        super().__init__(**settings)
        self.source = source
        self._nodes = nodes
        self._answers: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        for row in calls:
            self._answers.setdefault(_key(row["role"], row["request"] or ""), deque()).append(row)
        self._calls = calls
        self._tool_results: dict[tuple[int, int, str], str] | None = None

    async def propose(self, request: ProposalRequest) -> Proposal:
        request = dataclasses.replace(
            request,
            parent=self._recorded(request.parent),
            references=[self._recorded(node) for node in request.references],
        )
        return await super().propose(request)

    async def analyze(self, request: AnalysisRequest) -> Analysis:
        reference = None if request.reference is None else self._recorded(request.reference)
        request = dataclasses.replace(
            request, node=self._recorded(request.node), reference=reference
        )
        return await super().analyze(request)

    async def summarize(self, request: MetaRequest) -> Analysis:
        request = dataclasses.replace(
            request,
            best=[self._recorded(node) for node in request.best],
            recent=[self._recorded(node) for node in request.recent],
        )
        return await super().summarize(request)

    def _recorded(self, node: NodeView) -> NodeView:
        """``node`` with the recorded metrics and feedback when it is the recorded node (same
        program and score), so that timings and paths in them do not make the prompt differ."""
        row = self._nodes.get(node.id)
        if row is None or row["program"] != node.program or row["score"] != node.score:
            return node
        metrics = json.loads(row["metrics"]) if row["metrics"] else {}
        return dataclasses.replace(node, metrics=metrics, feedback=row["feedback"] or "")

    def _answer(self, call: LLMCall) -> dict[str, Any] | None:
        """Fill ``call`` from the recorded answer to its exact request (the row), or say in
        ``call.error`` that there is none."""
        queue = self._answers.get(_key(call.role, call.request))
        if not queue:
            exchange = current_exchange()
            where = "this request" if exchange is None else f"node {exchange.node_id}"
            call.error = (
                f"replay: no recorded answer for this {call.role} request; the run diverged "
                f"from the recording at {where} (replay needs the recorded run's task, seed, "
                f"sampler and settings, and run.workers=1); recording: {self.source}"
            )
            return None
        row = queue.popleft()
        for name in _COPIED:
            if row.get(name) is not None:
                setattr(call, name, row[name])
        call.model = row["model"] or self.model
        call.response = row["response"] or ""
        call.error = row["error"]
        return row

    async def _chat(self, role: str, messages: list[dict[str, str]]) -> Reply:
        """The recorded answer to this exact request; never the network."""
        started = time.monotonic()
        call = LLMCall(
            role=role, model=self.model, request=json.dumps(messages, ensure_ascii=False)
        )
        reply = Reply(call)
        row = self._answer(call)
        if row is not None and call.error is None:
            reply.text = call.response
            feedback = self._nodes.get(row["node_id"], {}).get("feedback") or ""
            if role != "analyzer" and _CUT_OFF in feedback:
                reply.finish_reason = "length"
        call.latency_s = time.monotonic() - started
        return reply

    async def _chat_tools(
        self, role: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> Turn:
        """The recorded assistant message (tool calls included) answering this exact
        conversation (``llm.mode=agent``)."""
        started = time.monotonic()
        call = LLMCall(
            role=role, model=self.model, request=json.dumps(messages, ensure_ascii=False)
        )
        row = self._answer(call)
        message = json.loads(call.response) if row is not None and call.error is None else None
        call.latency_s = time.monotonic() - started
        return Turn(call, message)

    async def _recorded_evaluation(
        self, request: ProposalRequest, position: int, call_id: str, program: str
    ) -> str:
        """The ``evaluate`` tool's recorded result (nothing is evaluated: a fresh evaluation's
        timings would make the next request differ from the recording): the tool message at
        ``position`` answering ``call_id`` in a later request of the node's episode."""
        if self._tool_results is None:
            self._tool_results = {}
            for row in self._calls:
                if row["role"] != "researcher" or not (row["request"] or "").startswith("["):
                    continue
                for index, message in enumerate(json.loads(row["request"])):
                    if isinstance(message, dict) and message.get("role") == "tool":
                        key = (row["node_id"], index, str(message.get("tool_call_id")))
                        self._tool_results.setdefault(key, str(message.get("content")))
        result = self._tool_results.get((request.node_id, position, call_id))
        if result is None:
            return "replay: no recorded result for this evaluation"
        return result


def create(config: Mapping[str, Any]) -> ReplayProposer:
    """Build the back-end from ``llm.source``: a run directory holding ``harness.db``."""
    unknown = sorted(set(config) - {"name", "source"})
    if unknown:
        raise ValueError(f"unknown replay option(s) {unknown}; known: ['source']")
    raw = config.get("source")
    if not raw:
        raise ValueError(
            "llm=replay needs the recorded run: set llm.source=RUN_DIR (a run directory "
            "holding harness.db)"
        )
    source = Path(str(raw)).expanduser().resolve()
    if not source.is_dir():
        raise ValueError(f"llm.source: {source} is not a run directory")
    if not (source / store.DB_NAME).is_file():
        raise ValueError(f"llm.source: {source} holds no {store.DB_NAME} to replay")
    try:
        db = store.open_db(source, migrate=False)
        try:
            llm = store.recorded_section(db, "llm")
            calls = [dict(row) for row in db["llm_calls"].rows_where(order_by="id")]
            nodes = {
                row["id"]: row
                for row in db.query("select id, program, score, metrics, feedback from nodes")
            }
            for node_id, program in store.node_programs(db):  # trees' texts included
                nodes[node_id]["program"] = program
        finally:
            db.conn.close()
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file: say so, cleanly
        raise ValueError(f"llm.source: cannot read {source / store.DB_NAME}: {exc}") from exc
    if llm is None:
        raise ValueError(f"llm.source: {source / store.DB_NAME} records no run")
    if llm.get("name") not in RECORDED:
        hint = " (replay the run it was replayed from)" if llm.get("name") == "replay" else ""
        raise ValueError(
            f"llm.source: {source} was recorded with llm={llm.get('name')!r}; replay "
            f"reproduces runs recorded with llm={' or llm='.join(RECORDED)}{hint}"
        )
    model = calls[0]["model"] if calls and calls[0]["model"] else llm.get("model")
    proposer = _build(source, calls, nodes, str(model or "replay"), llm)
    for role, overrides in (llm.get("roles") or {}).items():
        if overrides:
            role_model = next((c["model"] for c in calls if c["role"] == role), None)
            merged = {**llm, **overrides}
            proposer.by_role[role] = _build(
                source, calls, nodes, str(role_model or merged.get("model") or model), merged
            )
    # The recorded operators, drawn as they were: the same outcomes give the same prompts.
    proposer.operators = operators.from_config(llm, operators.priced(llm))
    return proposer


def _build(
    source: Path,
    calls: list[dict[str, Any]],
    nodes: dict[int, dict[str, Any]],
    model: str,
    llm: Mapping[str, Any],
) -> ReplayProposer:
    """A replayer with the recorded settings that shape prompts and answers."""
    settings = {key: llm.get(key, DEFAULTS[key]) for key in _SHAPING}
    proposer = ReplayProposer(
        source,
        calls,
        nodes,
        model=model,
        max_tokens=settings["max_tokens"],
        edit_mode=str(getattr(settings["edit_mode"], "value", settings["edit_mode"])),
        max_code_chars=int(settings["max_code_chars"]),
        prompt_budget_chars=int(settings["prompt_budget_chars"]),
        prompts_dir=settings["prompts_dir"],
    )
    if str(getattr(settings["mode"], "value", settings["mode"])) == "agent":
        proposer.agent = Agent(
            proposer._chat_tools,
            max_code_chars=proposer.max_code_chars,
            prompt_budget_chars=proposer.prompt_budget_chars,
            evaluation=proposer._recorded_evaluation,
            **dict(settings["agent"] or {}),
        )
    return proposer
