"""The tool-using researcher (``llm.mode=agent``): one episode of function calls per round.

The model is given the parent's program as a tree of files (:mod:`harness.llm.tools`) and
may list, read and grep it, write files or replace text in them, ask for a cheap
evaluation of the current files (the task's first cascade stage, in the run's evaluation
workers) and finally ``submit``: the edited tree is the round's proposal. An episode is
bounded by ``llm.agent.max_steps`` requests and ``llm.agent.max_tokens`` (usage summed);
a model that has not submitted when either runs out fails the round, with that reason as
the node's feedback; its edits are not proposed (a half-done edit is not a candidate).
Bad tool calls (an unknown tool, arguments that are not JSON, a path outside the tree, a
read-only file) are answered with an error result, never raised.

Every request and answer is one :class:`~harness.llm.base.LLMCall` of the node: the
request is the conversation so far (tool results included), the response the assistant
message with its tool calls. ``llm=replay`` runs the same code on the recorded answers and
the recorded evaluation results, so an episode replays bit-exactly without a server.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from harness.llm.base import LLMCall, Proposal, ProposalRequest, storable
from harness.llm.tools import ToolError, Workspace
from harness.redact import redact_data
from harness.task import EvalResult


def _tool(name: str, doc: str, /, **params: tuple[str, str, bool]) -> dict[str, Any]:
    """A function tool's schema; ``params``: name -> (JSON type, description, required)."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": doc,
            "parameters": {
                "type": "object",
                "properties": {
                    key: {"type": kind, "description": text}
                    for key, (kind, text, _) in params.items()
                },
                "required": [key for key, (_, _, required) in params.items() if required],
                "additionalProperties": False,
            },
        },
    }


_PATH = ("string", "the file's path", True)
#: The tools offered to the model, in the OpenAI function-calling format.
TOOLS: list[dict[str, Any]] = [
    _tool("list_files", "List the program's files with their policy and size."),
    _tool(
        "read_file",
        "Read a file (or lines start..end of it, counted from 1).",
        path=_PATH,
        start=("integer", "first line to read (default 1)", False),
        end=("integer", "last line to read (default: the last)", False),
    ),
    _tool(
        "grep",
        "Search the files for a Python regular expression; lists path:line: text.",
        pattern=("string", "the regular expression", True),
        path_glob=("string", "only files whose path matches this glob", False),
    ),
    _tool(
        "write_file",
        "Replace a file's whole text (or create a file where the task allows new ones).",
        path=_PATH,
        text=("string", "the file's new text", True),
    ),
    _tool(
        "replace_in_file",
        "Replace the one occurrence of `search` in a file by `replace`.",
        path=_PATH,
        search=("string", "exact text that occurs exactly once in the file", True),
        replace=("string", "the text to put in its place", True),
    ),
    _tool("evaluate", "Evaluate the current files quickly (a cheap stage); returns the score."),
    _tool(
        "submit",
        "Finish: propose the current files as the new program.",
        name=("string", "a short name for the new program", True),
        motivation=("string", "what you changed and why", True),
    ),
]
_SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda value: isinstance(value, str)),
    "integer": ("an integer", lambda value: isinstance(value, int) and not isinstance(value, bool)),
}
_NUDGE = "Use the tools to edit the files; call submit(name, motivation) when you are done."
_MAX_FEEDBACK = 4_000


@dataclass
class Turn:
    """One request's record and the assistant message it got (``None`` on a failure, which
    ``call.error`` explains)."""

    call: LLMCall
    message: dict[str, Any] | None = None


ChatTools = Callable[[str, list[dict[str, Any]], list[dict[str, Any]]], Awaitable[Turn]]
"""A back-end's function-calling exchange: (role, messages, tools) -> :class:`Turn`."""

Evaluation = Callable[[ProposalRequest, int, str, str], Awaitable[str]]
"""The ``evaluate`` tool's result text for (request, message position, call id, program)."""


async def live_evaluation(
    request: ProposalRequest, position: int, call_id: str, program: str
) -> str:
    """Evaluate ``program`` through the run's executor (``request.evaluate``)."""
    if request.evaluate is None:
        raise ToolError("evaluation is not available to this proposal (no run evaluates it)")
    return describe(await request.evaluate(program))


def describe(result: EvalResult) -> str:
    """An evaluation as the model reads it (its duration left out: it varies run to run)."""
    metrics = {k: v for k, v in sorted(result.metrics.items()) if k != "eval_seconds"}
    lines = [f"success: {result.success}", f"score: {result.score}"]
    if result.error_class:
        lines.append(f"error_class: {result.error_class}")
    lines.append(f"metrics: {json.dumps(metrics, default=str)[:_MAX_FEEDBACK]}")
    feedback = result.feedback.strip()
    if len(feedback) > _MAX_FEEDBACK:
        feedback = "...\n" + feedback[-_MAX_FEEDBACK:]
    if feedback:
        lines.append(f"feedback:\n{feedback}")
    return "\n".join(lines)


def assistant_message(raw: Any, step: int) -> dict[str, Any]:
    """The assistant message as it is stored and sent back: role, content, tool calls (ids
    filled in where a server left them out), every text valid UTF-8."""
    raw = raw if isinstance(raw, dict) else {}
    content = raw.get("content")
    message: dict[str, Any] = {
        "role": "assistant",
        "content": storable(content) if isinstance(content, str) and content else None,
    }
    calls = []
    for index, call in enumerate(raw.get("tool_calls") or []):
        call = call if isinstance(call, dict) else {}
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        calls.append(
            {
                "id": str(call.get("id") or f"call_{step}_{index}"),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": storable(arguments),
                },
            }
        )
    if calls:
        message["tool_calls"] = calls
    return message


@dataclass
class Agent:
    """The episode's budget and the back-end's transport (``chat``) and evaluations."""

    chat: ChatTools
    max_steps: int = 20
    max_tokens: int = 200_000
    max_code_chars: int = 100_000
    prompt_budget_chars: int = 60_000
    evaluation: Evaluation = live_evaluation

    def __post_init__(self) -> None:
        for key in ("max_steps", "max_tokens"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"llm.agent.{key} must be an integer >= 1, not {value!r}")

    async def propose(self, request: ProposalRequest) -> Proposal:
        """Run one episode from ``request.parent``; a failure is ``program=None``."""
        workspace = Workspace(request.parent.program, request.task)
        messages = agent_prompt(request, workspace, self)
        calls: list[LLMCall] = []
        spent = 0
        for step in range(1, self.max_steps + 1):
            turn = await self.chat("researcher", redact_data(messages), TOOLS)
            calls.append(turn.call)
            if turn.message is None:
                return _failed(request, turn.call.error or "the model gave no answer", calls)
            spent += turn.call.tokens_in + turn.call.tokens_out
            messages.append(turn.message)
            tool_calls = turn.message.get("tool_calls") or []
            submits = any(call["function"]["name"] == "submit" for call in tool_calls)
            if (step == self.max_steps or spent >= self.max_tokens) and not submits:
                break  # its tool results could reach the model no more
            if not tool_calls:
                messages.append({"role": "user", "content": _NUDGE})
                continue
            for call in tool_calls:
                result, proposal = await self._run(request, workspace, len(messages), call)
                if proposal is not None:
                    proposal.llm_calls = calls
                    return proposal
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        if spent >= self.max_tokens:
            reason = f"{spent} tokens, over llm.agent.max_tokens={self.max_tokens}"
        else:
            reason = f"{self.max_steps} requests (llm.agent.max_steps={self.max_steps})"
        return _failed(request, f"the agent did not submit within its budget: {reason}", calls)

    async def _run(
        self, request: ProposalRequest, workspace: Workspace, position: int, call: dict[str, Any]
    ) -> tuple[str, Proposal | None]:
        """One tool call's result text, or the proposal when it is a successful submit."""
        name = call["function"]["name"]
        try:
            args = _arguments(name, call["function"]["arguments"])
            if name == "submit":
                program = workspace.finished(self.max_code_chars)
                title = " ".join(args["name"].split())[:100] or f"node-{request.node_id}"
                return "", Proposal(title, args["motivation"], program, edit="agent")
            if name == "evaluate":
                program = workspace.program()
                return await self.evaluation(request, position, call["id"], program), None
            return getattr(workspace, name)(**args), None
        except ToolError as exc:
            return f"error: {exc}", None


def _arguments(name: str, raw: str) -> dict[str, Any]:
    """The call's arguments checked against the tool's schema, or :class:`ToolError`."""
    schema = _SCHEMAS.get(name)
    if schema is None:
        raise ToolError(f"unknown tool {name!r}; the tools are {', '.join(_SCHEMAS)}")
    try:
        args = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ToolError(f"the arguments of {name} are not valid JSON ({exc})") from None
    if not isinstance(args, dict):
        raise ToolError(f"the arguments of {name} must be a JSON object")
    properties = schema["properties"]
    unknown = sorted(set(args) - set(properties))
    missing = [key for key in schema["required"] if key not in args]
    if unknown or missing:
        raise ToolError(
            f"{name} takes {', '.join(properties) or 'no arguments'}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    for key, value in args.items():
        kind, fits = _TYPES[properties[key]["type"]]
        if not fits(value):
            raise ToolError(f"{name}: {key} must be {kind}, not {value!r}"[:300])
    return args


def _failed(request: ProposalRequest, error: str, calls: list[LLMCall]) -> Proposal:
    return Proposal(f"node-{request.node_id}", "", None, error=error, edit="agent", llm_calls=calls)


def agent_prompt(
    request: ProposalRequest, workspace: Workspace, agent: Agent
) -> list[dict[str, Any]]:
    """The episode's opening messages: the rules and tools, then the task and the parent
    (the files themselves are read through the tools), within ``prompt_budget_chars``."""
    task, parent = request.task, request.parent
    system = (
        "You are a researcher improving a program by editing its files with tools. Read "
        "what you need, edit with write_file or replace_in_file, check with evaluate, and "
        "call submit(name, motivation) to propose the edited files. Files marked read_only "
        "cannot change; in files marked blocks only the code between EVOLVE-BLOCK-START and "
        "EVOLVE-BLOCK-END may change. "
        f"You have at most {agent.max_steps} requests and {agent.max_tokens} tokens; an "
        "episode that has not submitted by then proposes nothing."
    )
    parts = [
        f"## Task\n{task.description}\nEntry point: {task.entry}",
        f"## Files\n{workspace.list_files()}",
        f"## Parent program: {parent.name} (score {parent.score})\n{parent.motivation}".strip(),
    ]
    if parent.feedback.strip():
        parts.append(f"## Parent's evaluation feedback\n{parent.feedback.strip()[-2000:]}")
    if request.references:
        listed = "\n".join(
            f"- {n.name}: score {n.score}. {n.motivation}" for n in request.references
        )
        parts.append(f"## Other programs\n{listed}")
    if request.cognition:
        parts.append("## Insights\n" + "\n".join(f"- {item.content}" for item in request.cognition))
    if request.recommendations:
        parts.append(f"## Recommendations\n{request.recommendations}")
    user = "\n\n".join(parts)[: max(0, agent.prompt_budget_chars - len(system))]
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
