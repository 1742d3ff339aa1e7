"""One evaluation, as a worker process runs it: the task's evaluate, then its score.

Runs in an evaluation worker, never in the orchestrator. The candidate itself runs in a
further sandboxed child started by the task's evaluator (see :mod:`harness.sandbox`).
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from harness import plugins
from harness.redact import redact_data
from harness.sandbox import Limits
from harness.task import EvalResult, Noise, Stage, Task, finite
from harness.tree import IGNORED, Tree


def _run_stage(
    task: Task, config: dict[str, Any], program: str, limits: Limits, stage: str | None
) -> EvalResult:
    """One call of the task's evaluate in a fresh private work dir, then scoring."""
    workdir = Path(tempfile.mkdtemp(prefix="harness-eval-"))
    try:
        result = task.evaluate(config, program, workdir, limits, stage)
        if not isinstance(result, EvalResult):
            raise TypeError(f"evaluate() returned {type(result).__name__}, not EvalResult")
        result.score = finite(task.score(config, result))
        if result.success and result.score is None:
            result.success = False
            result.error_class = result.error_class or "no_score"
            result.feedback = (result.feedback + "\nNo finite score was produced.").strip()
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_samples(noise: Noise, config: dict[str, Any], result: EvalResult) -> EvalResult:
    """A stochastic task's successful result must hold one finite value per seed it was
    asked to run, no more and no fewer: a plugin that ignores the seeds the core passes
    would make every re-evaluation on fresh seeds a copy of the first."""
    if not result.success:
        return result
    asked = sorted(int(seed) for seed in config.get(noise.key) or ())
    if sorted(result.samples) != asked or any(finite(v) is None for v in result.samples.values()):
        result.success, result.score, result.error_class = False, None, "evaluator_error"
        result.feedback = (
            f"The task's evaluator was asked for seeds {asked} ({noise.key}) but returned "
            f"samples for {sorted(result.samples)}: a stochastic task must return one finite "
            "value per seed it was given.\n" + result.feedback
        ).strip()
    return result


#: A task config key (removed before the task sees its config) that asks for the first
#: cascade stage only: the cheap evaluation an ``llm.mode=agent`` researcher asks for.
FIRST_STAGE = "_harness_first_stage"


def first_stage(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` marked for an evaluation of its task's first cascade stage only (the
    whole evaluation for a task without stages)."""
    return {**config, FIRST_STAGE: True}


def _cascade(config: dict[str, Any], program: str, limits: Limits) -> EvalResult:
    """Run the task's stages in order; stop at the first that fails or misses its threshold."""
    only_first = bool(config.get(FIRST_STAGE))
    config = {key: value for key, value in config.items() if key != FIRST_STAGE}
    task = plugins.get_task(config["name"])
    spec = task.spec(config)
    stages = spec.stages[:1] if only_first else spec.stages
    result = _stages(task, stages, config, program, limits)
    return result if spec.noise is None else check_samples(spec.noise, config, result)


def _stages(
    task: Task, stages: tuple[Stage, ...], config: dict[str, Any], program: str, limits: Limits
) -> EvalResult:
    if not stages:
        return _run_stage(task, config, program, limits, None)
    records: list[dict[str, Any]] = []
    for number, stage in enumerate(stages):
        started = time.monotonic()
        result = _run_stage(task, config, program, limits, stage.name)
        score = result.score
        reached = stage.threshold is None or (score is not None and score >= stage.threshold)
        passed = result.success and reached
        records.append(
            {
                "stage": stage.name,
                "success": result.success,
                "score": result.score,
                "threshold": stage.threshold,
                "passed": passed,
                "error_class": result.error_class,
                "seconds": round(time.monotonic() - started, 4),
            }
        )
        if not passed and number < len(stages) - 1:
            if result.success:
                result.feedback = (
                    f"Stopped at cascade stage {stage.name!r} ({number + 1}/{len(stages)}): "
                    f"score {result.score} is below its threshold {stage.threshold}.\n"
                    + result.feedback
                ).strip()
                result.success, result.score, result.error_class = False, None, "cascade"
            break
    result.stages = records
    return result


def undecodable(data: bytes) -> EvalResult | None:
    """A failed result for program bytes that are not UTF-8 text (a Latin-1 file, a binary),
    naming where the first bad byte is so it can be found; ``None`` when they decode."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        feedback = (
            f"the program is not valid UTF-8 text: byte 0x{data[exc.start]:02x} at byte "
            f"offset {exc.start} (line {line}, column {column}): {exc.reason}; save it as UTF-8"
        )
        return EvalResult(success=False, feedback=feedback, error_class="encoding")
    return None


def read_program(path: Path) -> str | EvalResult:
    """The program at ``path``: a file's text, or a directory's tree (:meth:`Tree.read`) as
    its canonical text; a failed result when a file is not UTF-8, naming it. A directory
    with no program file raises :class:`harness.tree.TreeError`."""
    if not path.is_dir():
        return undecodable(path.read_bytes()) or path.read_text(encoding="utf-8")
    for file in sorted(path.rglob("*")):
        parts = file.relative_to(path).parts
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in IGNORED):
            continue
        failed = undecodable(file.read_bytes()) if file.is_file() else None
        if failed is not None:
            failed.feedback = f"{file.relative_to(path).as_posix()}: {failed.feedback}"
            return failed
    return Tree.read(path).text()


def evaluate_program(config: dict[str, Any], program: str, limits: Limits) -> EvalResult:
    """Evaluate ``program`` for the task in ``config`` (through its cascade, if any).

    An exception in the (trusted) evaluator is reported as a failed result, so one bad
    evaluation never stops a run.
    """
    started = time.monotonic()
    try:
        result = _cascade(config, program, limits)
    except Exception as exc:  # noqa: BLE001 - the evaluator's own bug becomes a failed node
        tail = "".join(traceback.format_exception(exc)[-6:])
        result = EvalResult(
            success=False,
            error_class="evaluator_error",
            feedback=f"The task's evaluator raised {type(exc).__name__}: {exc}\n{tail}",
        )
    result.metrics.setdefault("eval_seconds", round(time.monotonic() - started, 4))
    return redact_result(result)


def redact_result(result: EvalResult) -> EvalResult:
    """``result`` with the values of the harness's secrets masked in all it reports: a
    candidate that read a key (possible only unisolated) cannot get it stored or sent."""
    result.feedback, result.metrics, result.artifacts = redact_data(
        (result.feedback, result.metrics, result.artifacts)
    )
    return result
