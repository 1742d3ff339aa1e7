"""What the loop searches the cognition base with: text about the round's sampled nodes."""

from __future__ import annotations

from collections.abc import Sequence

from harness.llm.base import NodeView


def build_queries(nodes: Sequence[NodeView], max_chars: int = 1000) -> list[str]:
    """One query per sampled node: its analysis, else its motivation, else its feedback."""
    queries = []
    for node in nodes:
        text = node.analysis or node.motivation or node.feedback
        if text:
            queries.append(text[:max_chars])
    return queries
