"""The ``peak_detection`` task: a small package whose modules must cooperate to find peaks.

The candidate is a multi-file program (:mod:`harness.tree`): ``pipeline.py`` (read-only glue)
runs ``features.remove_baseline`` (only its EVOLVE-BLOCK may change), ``smooth.smooth`` and
``detect.detect`` (whole files evolve) on each signal. Smoothing width, baseline window and
detection threshold interact (smoothing lowers peaks; a short baseline window eats them), so
no one file can be tuned alone. The score is the F1 of the detected peaks on a fixed,
generated dataset, computed here from the returned indices: deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.hookspecs import hookimpl
from harness.sandbox import Limits, run_candidate
from harness.task import EvalResult, Task, TaskConf, TaskSpec
from harness.tree import FileRule

from harness_peak_detection import __version__
from harness_peak_detection.signals import LENGTH, TOLERANCE, check_output, count, dataset

ENTRY = "pipeline:find_peaks"
SEEDS = ("baseline",)
FILES = (
    FileRule("pipeline.py", "read_only"),
    FileRule("features.py", "blocks"),
    FileRule("*.py", "evolve"),
)


@dataclass
class PeakDetectionConf(TaskConf):
    """``conf/task/peak_detection.yaml``: the core's task keys plus ``signals``."""

    signals: int = 40


def task_signals(config: dict[str, Any]) -> int:
    """How many signals of the fixed dataset an evaluation uses."""
    signals = config.get("signals", 40)
    if isinstance(signals, bool) or not isinstance(signals, int) or not 1 <= signals <= 1000:
        raise ValueError(f"task.signals must be an integer from 1 to 1000, got {signals!r}")
    return signals


def describe(signals: int, timeout_s: float) -> str:
    """The researcher's task text."""
    return f"""\
Find the peaks in {signals} noisy 1-D signals of {LENGTH} samples each. Every signal is a
slow sinusoidal drift plus 3 to 7 Gaussian peaks (height 0.6 to 2, width 2 to 5 samples,
at least 10 samples apart) plus white noise (standard deviation 0.35).

The program is a small package of Python files:
- pipeline.py (read-only): `find_peaks(signals)` returns, for each signal (a list of
  floats), the sorted indices of its peaks: detect(smooth(remove_baseline(signal))).
- features.py (only its EVOLVE-BLOCK may change): `remove_baseline(values)`.
- smooth.py (may be rewritten): `smooth(values)`.
- detect.py (may be rewritten): `detect(values)` -> list of int indices.
The modules must work together: smoothing lowers and widens peaks, so the detection
threshold and minimum distance depend on the smoothing width, and a short baseline window
removes the peaks along with the drift.

A detected peak within {TOLERANCE} samples of a true one matches it (one to one); the score
is the F1 of matched peaks over all signals (higher is better, 1 is perfect). Wall-clock
limit {timeout_s:g} s on one CPU core; the Python standard library only."""


class PeakDetection(Task):
    """The task object: a directory seed, per-file policies, sandboxed evaluation, F1."""

    name = "peak_detection"
    package = "harness_peak_detection"
    config_schema = PeakDetectionConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        signals = task_signals(config)
        timeout_s = float(config.get("timeout_s") or 30)
        return TaskSpec(
            name=self.name,
            description=describe(signals, timeout_s),
            entry=ENTRY,
            seeds=SEEDS,
            best_known=1.0,
            timeout_s=timeout_s,
            memory_mb=int(config.get("memory_mb") or 1024),
            version=__version__,
            files=FILES,
        )

    def evaluate(
        self,
        config: dict[str, Any],
        program: str,
        workdir: Path,
        limits: Limits,
        stage: str | None,
    ) -> EvalResult:
        started = time.monotonic()
        data = dataset(task_signals(config))
        signals = [list(signal) for signal in data.signals]
        run = run_candidate(program, ENTRY, args=(signals,), limits=limits, workdir=workdir)
        if not run.ok:
            return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
        problem = check_output(run.value, len(signals))
        if problem is not None:
            return EvalResult(success=False, feedback=problem, error_class="invalid")
        counts = count(data.truth, run.value)
        metrics = {
            "score": counts.f1,
            "precision": counts.precision,
            "recall": counts.recall,
            "matched": counts.matched,
            "spurious": counts.spurious,
            "missed": counts.missed,
            "candidate_seconds": round(run.seconds, 4),
            "eval_seconds": round(time.monotonic() - started, 4),
        }
        feedback = (
            f"F1 {counts.f1:.4f}: {counts.matched} peaks matched, {counts.spurious} spurious, "
            f"{counts.missed} missed (precision {counts.precision:.3f}, recall "
            f"{counts.recall:.3f}); {run.feedback()}"
        )
        return EvalResult(success=True, metrics=metrics, feedback=feedback)


@hookimpl
def harness_register_tasks(register: Callable[[Task], None]) -> None:
    register(PeakDetection())
