"""The analyzer stage: turn an evaluation into a short, reusable analysis.

``analyzer=auto`` asks the proposer back-end (an LLM, or the offline proposer's
deterministic analysis); ``analyzer=deterministic`` always writes the metric-delta
analysis below; ``analyzer=none`` stores the raw evaluation output where the analysis
would go, as the paper's "No Analyzer" ablation did.
"""

from __future__ import annotations

import json
import math
from numbers import Real

from harness.llm.base import NodeView


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def deterministic_analysis(node: NodeView, reference: NodeView | None) -> str:
    """Metric deltas against the reference node and the error class, in plain sentences."""
    parts = []
    if not node.success:
        first = (node.feedback or "no feedback").strip().splitlines()
        label = node.error_class or node.status
        parts.append(f"Failed [{label}]: {first[-1] if first else 'no feedback'}")
    elif node.score is not None:
        parts.append(f"Score {_fmt(node.score)}.")
    if reference is not None:
        if node.score is not None and reference.score is not None:
            delta = node.score - reference.score
            verdict = "improved" if delta > 0 else "regressed" if delta < 0 else "unchanged"
            parts.append(
                f"Against node {reference.id} ({_fmt(reference.score)}): {delta:+.6g} ({verdict})."
            )
        changes = []
        for key, value in node.metrics.items():
            old = reference.metrics.get(key)
            if (
                isinstance(value, Real)
                and isinstance(old, Real)
                and not isinstance(value, bool)
                and math.isfinite(float(value))
                and math.isfinite(float(old))
                and value != old
            ):
                changes.append(f"{key} {_fmt(old)} -> {_fmt(value)}")
        if changes:
            parts.append("Metric changes: " + ", ".join(changes[:8]) + ".")
    if node.motivation:
        parts.append(f"Change tried: {node.motivation}")
    return " ".join(parts)


def raw_evaluation(node: NodeView) -> str:
    """The unanalysed evaluation output: status, score, metrics and feedback verbatim."""
    score = "none" if node.score is None else _fmt(node.score)
    label = node.status + (f" [{node.error_class}]" if node.error_class else "")
    metrics = json.dumps(node.metrics, default=str, sort_keys=True)
    return f"Raw evaluation output ({label}, score {score}).\nmetrics: {metrics}\n{node.feedback}"
