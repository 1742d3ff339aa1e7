"""Researcher and analyzer prompts, with scores shown and a bounded size.

The released ASI-Evolve templates hid scores from the researcher and pasted every node's
full code and logs into the prompt. Here every node is shown with its score, and each
prompt is fitted into ``budget_chars`` characters by trimming the least useful parts
first (reference programs, then analyses and feedback); the program being edited is
never trimmed, because diff SEARCH text must be copied from it exactly.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from harness.llm.base import AnalysisRequest, NodeView, ProposalRequest, RepairRequest
from harness.llm.edits import EVOLVE_END, EVOLVE_START, strip_thinking

_OUTPUT_DIFF = f"""\
Answer in exactly this format: a <name> tag, a <motivation> tag, then one or more
SEARCH/REPLACE blocks written outside any tag:

<name>a short, unique name for the idea</name>
<motivation>what you change and why it should raise the score, citing the scores,
metrics and analyses you were shown</motivation>
<<<<<<< SEARCH
lines copied exactly from the parent program
=======
the lines that replace them
>>>>>>> REPLACE

Example:

<name>vectorised-distances</name>
<motivation>The analysis shows the runtime is dominated by the Python loop; a vectorised
sum keeps the result identical and leaves time for more iterations.</motivation>
<<<<<<< SEARCH
    for i in range(n):
        total += dist(points[i])
=======
    total = sum(dist(p) for p in points)
>>>>>>> REPLACE

Rules:
- The SEARCH text must match the parent program exactly (indentation, whitespace and
  comments included) and occur in it exactly once; add surrounding lines to make it unique.
- Blocks are applied in order, each to the result of the previous ones; if any block does
  not match, the whole answer is rejected.
- Prefer a few focused blocks. To rewrite the program completely, give the whole new
  program inside <code>...</code> instead of blocks.
- If the program has {EVOLVE_START} / {EVOLVE_END} marker lines, change
  only the code between them: the marker lines and everything outside them must stay
  exactly as they are, or the answer is rejected."""

_OUTPUT_FULL = f"""\
Answer in exactly this format:

<name>a short, unique name for the idea</name>
<motivation>what you change and why it should raise the score, citing the scores,
metrics and analyses you were shown</motivation>
<code>
the complete new program
</code>

Example:

<name>vectorised-distances</name>
<motivation>The analysis shows the runtime is dominated by the Python loop; a vectorised
sum keeps the result identical and leaves time for more iterations.</motivation>
<code>
import math


def total_distance(points):
    return sum(math.hypot(x, y) for x, y in points)
</code>

Rules:
- <code> holds the complete program, not a fragment or a diff; Markdown fences are not
  needed.
- If the program has {EVOLVE_START} / {EVOLVE_END} marker lines, change
  only the code between them: the marker lines and everything outside them must stay
  exactly as they are, or the answer is rejected."""

_RESEARCHER_ROLE = """\
You are the researcher of an automated evolutionary search. Each round you improve one
existing program, the parent, using what the earlier rounds measured: every program shown
to you comes with its evaluation score (higher is better), metrics, the evaluator's
feedback and an analysis of the result. Propose one well-motivated change that you expect
to raise the score, and keep the program correct and runnable."""

_ANALYZER_ROLE = """\
You are the analyzer of an automated evolutionary search. You read one candidate program
and its evaluation results and explain them, so that the next rounds can do better. Base
every claim on the evidence shown (score, metrics, evaluator feedback, code changes) and
say when the evidence is insufficient; do not invent numbers.

Answer inside <analysis>...</analysis>, in plain text of at most about 300 words:
1. Outcome: the score against the reference node's (improved, regressed or unchanged),
   or, if the evaluation failed, the cause of the failure as shown by the feedback.
2. Why: which code changes explain the outcome, with the evidence for it.
3. Next: one to three concrete ideas to try next, and what to avoid."""

_REPAIR_ROLE = """\
You are the debug agent of an automated evolutionary search. A candidate program failed
when it was evaluated. Fix the bug that the error shows, and only that: keep the program's
idea, structure and parameters, so that the experiment it was meant to run still runs."""

_OMITTED = "[omitted to fit the prompt budget]"
_CUT = "[... {} characters cut to fit the prompt budget ...]"
_BASE_NOTE = {
    "diff": "your SEARCH/REPLACE blocks apply to this exact text",
    "full": "your <code> replaces it",
}


@dataclass
class _Part:
    """One piece of a prompt; ``level`` orders trimming (``None``: never trimmed)."""

    text: str
    level: int | None = None
    keep: str = "head"


def _truncate(text: str, limit: int, keep: str) -> str:
    """Cut ``text`` to about ``limit`` characters with a marker saying how much went."""
    if len(text) <= limit:
        return text
    room = limit - len(_CUT.format(len(text))) - 1
    if room < 40:  # too little left to be useful; later levels absorb the marker's size
        return _OMITTED if len(text) > len(_OMITTED) else text
    marker = _CUT.format(len(text) - room)
    return f"{text[:room]}\n{marker}" if keep == "head" else f"{marker}\n{text[-room:]}"


def _shares(total: int, sizes: list[int]) -> list[int]:
    """Split ``total`` characters fairly: small parts stay whole, large ones share the rest."""
    shares = [0] * len(sizes)
    left = total
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    for rank, index in enumerate(order):
        shares[index] = min(sizes[index], left // (len(sizes) - rank))
        left -= shares[index]
    return shares


def _fit(system: str, parts: list[_Part], budget_chars: int) -> str:
    """Trim the parts level by level until system + user text fit ``budget_chars``."""

    def overflow() -> int:
        return len(system) + sum(len(p.text) for p in parts) - budget_chars

    levels = sorted({p.level for p in parts if p.level is not None})
    for level in levels:
        over = overflow()
        if over <= 0:
            break
        trimmable = [p for p in parts if p.level == level]
        sizes = [len(p.text) for p in trimmable]
        for part, share in zip(trimmable, _shares(max(0, sum(sizes) - over), sizes), strict=True):
            part.text = _truncate(part.text, share, part.keep)
    return "".join(p.text for p in parts)


def _score(node: NodeView) -> str:
    score = "none (not scored)" if node.score is None else f"{node.score:.6g}"
    return f"{score} (success: {'yes' if node.success else 'no'}, status: {node.status})"


def _metrics(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, sort_keys=True, default=str) if metrics else "(none)"


def _block(text: str, language: str) -> tuple[str, str]:
    """Fence delimiters long enough that a fence inside the program cannot close them."""
    runs = re.findall(r"`{3,}", text)
    fence = "`" * max([3, *(len(run) + 1 for run in runs)])
    return f"{fence}{language}\n", f"\n{fence}\n"


def _wrap(program: str, language: str) -> tuple[str, str, str]:
    opening, closing = _block(program, language)
    return opening, program, closing


def _node_parts(
    node: NodeView, language: str, levels: dict[str, int | None], *, feedback: bool = True
) -> list[_Part]:
    """A node's fields as prompt parts; ``levels`` gives each field's trimming level."""
    parts = [
        _Part(f"- name: {node.name} (node {node.id})\n- score: {_score(node)}\n- metrics: "),
        _Part(_metrics(node.metrics), levels["metrics"]),
        _Part("\n- motivation: "),
        _Part(node.motivation.strip() or "(none)", levels["motivation"]),
        _Part("\n- analysis: "),
        _Part(node.analysis.strip() or "(none)", levels["analysis"]),
    ]
    if feedback:
        parts += [
            _Part("\n- evaluator feedback:\n"),
            _Part(node.feedback.strip() or "(none)", levels["feedback"], keep="tail"),
        ]
    opening, closing = _block(node.program, language)
    parts += [
        _Part(f"\n- program:\n{opening}"),
        _Part(node.program.rstrip("\n"), levels["program"]),
        _Part(closing),
    ]
    return parts


def researcher_prompt(
    request: ProposalRequest,
    edit_mode: str,
    budget_chars: int,
    *,
    max_code_chars: int | None = None,
) -> list[dict[str, str]]:
    """Chat messages asking for one improvement of ``request.parent`` in ``edit_mode``.

    Trimming order when over ``budget_chars``: reference programs, then reference
    analyses/motivations/metrics, then the parent's feedback/analysis/metrics, then
    cognition items, then the task description; the parent program is never cut.
    """
    if edit_mode not in ("diff", "full"):
        raise ValueError(f"edit_mode must be 'diff' or 'full', not {edit_mode!r}")
    task = request.task
    system = f"{_RESEARCHER_ROLE}\n\n{_OUTPUT_DIFF if edit_mode == 'diff' else _OUTPUT_FULL}"
    rules = [f"The program must still define `{task.entry}` with the same inputs and outputs."]
    if max_code_chars is not None:
        rules.append(f"Programs longer than {max_code_chars} characters are rejected.")
    system += "\n- " + "\n- ".join(rules)

    parent_levels = {"metrics": 2, "motivation": 2, "analysis": 2, "feedback": 2, "program": None}
    parts = [
        _Part("# Task\n\n"),
        _Part(task.description.strip(), 4),
        _Part(f"\n\n# Parent node: the program to improve ({_BASE_NOTE[edit_mode]})\n\n"),
        *_node_parts(request.parent, task.language, parent_levels),
        _Part("\n\n# Reference nodes (other sampled nodes, for comparison and ideas)\n"),
    ]
    reference_levels = {"metrics": 1, "motivation": 1, "analysis": 1, "program": 0}
    for number, node in enumerate(request.references, start=1):
        parts.append(_Part(f"\n## Reference {number}\n\n"))
        parts += _node_parts(node, task.language, reference_levels, feedback=False)
    if not request.references:
        parts.append(_Part("\n(none)\n"))
    if request.cognition:
        parts.append(_Part("\n\n# Knowledge (human prior knowledge and earlier lessons)\n\n"))
        for item in request.cognition:
            source = f" (source: {item.source})" if item.source else ""
            parts += [_Part("- "), _Part(item.content.strip(), 3), _Part(f"{source}\n")]
    action = (
        "SEARCH/REPLACE blocks against the parent program"
        if edit_mode == "diff"
        else "the complete new program in <code>"
    )
    parts.append(
        _Part(
            "\n\n# Your answer\n\nPropose one improvement of the parent program, motivated by "
            f"the evidence above, as {action}, in the format given in the system message."
        )
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _fit(system, parts, budget_chars)},
    ]


def analyzer_prompt(request: AnalysisRequest, budget_chars: int) -> list[dict[str, str]]:
    """Chat messages asking for an evidence-based analysis of ``request.node``.

    The reference (the best sampled node) is shown with a unified diff from its program to
    the node's. Trimming order: the reference program, then the reference's analysis and
    metrics, then the diff and the node's feedback (its tail is kept) and metrics, then the
    task description, and the node's program last.
    """
    task, node, reference = request.task, request.node, request.reference
    node_levels = {"metrics": 2, "motivation": 2, "analysis": 2, "feedback": 2, "program": 4}
    parts = [
        _Part("# Task\n\n"),
        _Part(task.description.strip(), 3),
        _Part("\n\n# Node to analyze\n\n"),
        *_node_parts(node, task.language, node_levels),
    ]
    if reference is None:
        parts.append(_Part("\n\n# Reference node\n\n(none: this node has no reference)\n"))
    else:
        diff = "".join(
            difflib.unified_diff(
                reference.program.splitlines(keepends=True),
                node.program.splitlines(keepends=True),
                fromfile=f"reference (node {reference.id})",
                tofile=f"node {node.id}",
            )
        )
        opening, closing = _block(diff, "diff")
        reference_levels = {"metrics": 1, "motivation": 1, "analysis": 1, "program": 0}
        parts += [
            _Part("\n\n# Reference node (the best node sampled for this round)\n\n"),
            *_node_parts(reference, task.language, reference_levels, feedback=False),
            _Part(f"\n\n# Changes from the reference program to the node's\n\n{opening}"),
            _Part(diff.rstrip("\n") or "(identical programs)", 2),
            _Part(closing),
        ]
    parts.append(_Part("\n\nWrite the analysis in <analysis>...</analysis> as instructed."))
    return [
        {"role": "system", "content": _ANALYZER_ROLE},
        {"role": "user", "content": _fit(_ANALYZER_ROLE, parts, budget_chars)},
    ]


_ANALYSIS_RE = re.compile(r"<analysis>(.*?)(?:</analysis>|\Z)", re.DOTALL)


def parse_analysis(text: str) -> str:
    """The ``<analysis>`` content, or the whole stripped answer when the tag is missing."""
    text = strip_thinking(text)
    match = _ANALYSIS_RE.search(text)
    return (match.group(1) if match else text).strip()


def repair_prompt(
    request: RepairRequest, edit_mode: str, budget_chars: int
) -> list[dict[str, str]]:
    """Chat messages asking the debug agent to fix ``request.node``'s failure."""
    if edit_mode not in ("diff", "full"):
        raise ValueError(f"edit_mode must be 'diff' or 'full', not {edit_mode!r}")
    task, node = request.task, request.node
    system = f"{_REPAIR_ROLE}\n\n{_OUTPUT_DIFF if edit_mode == 'diff' else _OUTPUT_FULL}"
    system += f"\n- The program must still define `{task.entry}` with the same inputs and outputs."
    parts = [
        _Part("# Task\n\n"),
        _Part(task.description.strip(), 2),
        _Part(f"\n\n# The failed program ({_BASE_NOTE[edit_mode]})\n\n"),
        _Part("".join(_wrap(node.program, task.language))),
        _Part(
            f"\n\n# The error ({node.error_class or node.status}, repair attempt "
            f"{request.attempt})\n\n"
        ),
        _Part(node.feedback.strip() or "(no feedback)", 1, keep="tail"),
        _Part("\n\n# Your answer\n\nFix the error, in the format given in the system message."),
    ]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _fit(system, parts, budget_chars)},
    ]
