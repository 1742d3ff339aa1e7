"""The novelty judge's prompt and answer format, shared by every chat back-end."""

from __future__ import annotations

import re

from harness.llm.base import LLMCall, NoveltyRequest

#: Each program shown to the judge keeps its head up to this many characters.
MAX_PROGRAM_CHARS = 30_000

SYSTEM = (
    "You review proposals in an evolutionary search over programs. Before a candidate is "
    "evaluated, say whether it is meaningfully different from a program that was already "
    "evaluated: a different idea, algorithm or structure counts; renamed variables, "
    "reformatting or slightly changed constants do not."
)

VERDICT = re.compile(r"<verdict>\s*(different|same)\s*</verdict>", re.IGNORECASE)
REASON = re.compile(r"<reason>(.*?)</reason>", re.IGNORECASE | re.DOTALL)


def _program(text: str) -> str:
    return text if len(text) <= MAX_PROGRAM_CHARS else text[:MAX_PROGRAM_CHARS] + "\n[...]"


def judge_prompt(request: NoveltyRequest) -> list[dict[str, str]]:
    """The chat messages asking whether the candidate is meaningfully different."""
    user = (
        f"Task: {request.task.name}\n"
        f"Is the candidate meaningfully different from node {request.nearest.id}? "
        f"(Their embeddings' cosine similarity is {request.similarity:.3f}.)\n\n"
        f'<program node="{request.nearest.id}">\n{_program(request.nearest.program)}\n'
        "</program>\n\n"
        f"<candidate>\n{_program(request.candidate.program)}\n</candidate>\n\n"
        "Answer <verdict>different</verdict> or <verdict>same</verdict>, then "
        "<reason>one sentence</reason>."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_judgement(call: LLMCall, text: str) -> tuple[bool | None, str]:
    """(different, reason) from an answer; ``None`` when it has no verdict (recorded as the
    call's error), so the candidate is evaluated."""
    if call.error is not None:
        return None, call.error
    verdict = VERDICT.search(text)
    if verdict is None:
        call.error = "the novelty judge's answer has no <verdict>different|same</verdict>"
        return None, call.error
    reason = REASON.search(text)
    return verdict.group(1).lower() == "different", (reason.group(1).strip() if reason else "")
