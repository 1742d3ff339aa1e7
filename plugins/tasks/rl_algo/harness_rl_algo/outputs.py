"""What the sandboxed training child hands back, checked before the evaluator uses it.

Its reports are untrusted JSON (feedback and descriptors only, never the score) and its
weights files are untrusted files: each is checked, and a bad one fails the candidate.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

from harness.task import EvalResult, finite

#: The verdicts the driver may give (anything else it reports is ``invalid``).
FAILURES = frozenset({"contract", "nan", "exploding_gradients"})
PROBES = ("advantage_scale", "advantage_reward_corr", "clip_fraction", "length_weighting")
RUN_KEYS = ("seconds", "reward_first", "reward_last", "max_grad_norm")


def reported_failure(failure: Any, stage: str) -> EvalResult:
    """The driver's own verdict (a contract breach, NaN, exploding gradients) as a result."""
    if not isinstance(failure, dict):
        return EvalResult(success=False, feedback=f"malformed {stage} report: {failure!r:.300}",
                          error_class="invalid")  # fmt: skip
    error_class = failure.get("error_class")
    error_class = error_class if error_class in FAILURES else "invalid"
    seed = failure.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    where = f" (training seed {seed})" if seed is not None else ""
    message = f"{stage} failed [{error_class}]{where}: {str(failure.get('message'))[:2000]}"
    return EvalResult(
        success=False,
        metrics={} if seed is None else {"failed_seed": seed},
        feedback=message,
        error_class=error_class,
    )


def probes(value: dict[str, Any]) -> dict[str, float] | None:
    """The behaviour descriptors the driver measured, if well formed."""
    found = value.get("probes")
    if not isinstance(found, dict):
        return None
    numbers = {k: finite(found.get(k)) for k in PROBES}
    return None if any(v is None for v in numbers.values()) else numbers  # type: ignore[return-value]


def train_runs(value: dict[str, Any], seeds: int) -> list[dict[str, float]] | None:
    """The per-seed training reports (untrusted: feedback only) if well formed."""
    runs = value.get("runs")
    if not isinstance(runs, list) or len(runs) != seeds:
        return None
    clean = []
    for run in runs:
        numbers = {k: finite(run.get(k)) if isinstance(run, dict) else None for k in RUN_KEYS}
        if any(v is None for v in numbers.values()):
            return None
        clean.append(numbers)
    return clean  # type: ignore[return-value]


def reference_ok(value: Any, seeds: int) -> bool:
    """Whether a cached GRPO reference is complete for ``seeds`` training seeds."""
    if not isinstance(value, dict) or probes(value) is None:
        return False
    accuracies = value.get("accuracies")
    return (
        isinstance(accuracies, list)
        and len(accuracies) == seeds
        and all(finite(a) is not None for a in [*accuracies, value.get("base_accuracy")])
        and train_runs(value, seeds) is not None
    )


def copy_untrusted(src: Path, dst: Path, max_bytes: int) -> str | None:
    """Copy a file a candidate's run wrote; None, or why it was refused (a link, not a
    regular file, too large, absent)."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"{src.name}: {exc.strerror}"
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"{src.name} is not a regular file"
        if info.st_size > max_bytes:
            return f"{src.name} has {info.st_size} bytes (limit {max_bytes})"
        with open(dst, "xb") as target:
            shutil.copyfileobj(source, target)
    return None
