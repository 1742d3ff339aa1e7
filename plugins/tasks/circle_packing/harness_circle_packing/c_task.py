"""The ``circle_packing_c`` task: the same packing problem, the candidate a C program.

The candidate is C source that prints the n circles, one ``x y r`` per line. The trusted
evaluator never compiles it itself: the system C compiler (``cc``) runs *inside* the
sandbox, under a compile timeout, and so does the binary, under the task's limits, each as
the child of a small driver script (:data:`DRIVER`) that :func:`run_candidate` starts like
any candidate. Only the printed text comes back; it is parsed here and judged by the same
exact validator and scored like the Python task, so a C packing and a Python one with the
same doubles score the same.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.sandbox import CandidateRun, Limits, run_candidate
from harness.task import EvalResult, TaskSpec

from harness_circle_packing.plugin import (
    BEST_KNOWN,
    CirclePacking,
    CirclePackingConf,
    _artifacts,
    _feedback,
    _metrics,
    task_n,
)

if TYPE_CHECKING:  # the validator imports numpy: see plugin.py
    from harness_circle_packing.validator import Validation

SEEDS = ("naive",)
COMPILE_TIMEOUT_S = 30.0
CFLAGS = ("-O2", "-std=c11")
NO_COMPILER = "no C compiler on this machine: install gcc"
#: The most of the program's output read back: 64 circles take about 4 KB.
MAX_OUTPUT_BYTES = 1 << 20
_TAIL = 2000

#: The sandboxed driver: stdlib only, like the sandbox's own runner. ``build`` writes the
#: source and compiles it; ``execute`` runs the binary with its output in files (so the file
#: size limit, not the driver's memory, bounds it) and returns the head of stdout and the
#: tail of stderr.
DRIVER = """\
import os
import subprocess


def _tail(path, size):
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - size))
        return handle.read().decode("utf-8", "replace")


def build(source, compiler, flags, timeout):
    with open("candidate.c", "w", encoding="utf-8") as handle:
        handle.write(source)
    command = [compiler, *flags, "-o", "candidate", "candidate.c", "-lm"]
    with open("compiler.txt", "wb") as out:
        try:
            code = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            return {"compiled": False, "timed_out": True, "diagnostics": ""}
        except OSError as exc:
            return {"compiled": False, "timed_out": False, "diagnostics": f"{compiler}: {exc}"}
    compiled = code == 0 and os.path.isfile("candidate")
    return {"compiled": compiled, "timed_out": False, "diagnostics": _tail("compiler.txt", TAIL)}


def execute(n, max_bytes):
    with open("circles.txt", "wb") as out, open("program-stderr.txt", "wb") as err:
        code = subprocess.run(
            ["./candidate", str(n)], stdin=subprocess.DEVNULL, stdout=out, stderr=err
        ).returncode
    with open("circles.txt", "rb") as handle:
        text = handle.read(max_bytes + 1)
    return {
        "returncode": code,
        "stdout": text[:max_bytes].decode("utf-8", "replace"),
        "truncated": len(text) > max_bytes,
        "stderr": _tail("program-stderr.txt", TAIL),
    }
""".replace("TAIL", str(_TAIL))


@dataclass
class CirclePackingCConf(CirclePackingConf):
    """``conf/task/circle_packing_c.yaml``: the Python task's keys plus the compile timeout."""

    compile_timeout_s: float = COMPILE_TIMEOUT_S


def describe_c(n: int, timeout_s: float, compile_timeout_s: float) -> str:
    """The researcher's task text."""
    flags = " ".join(CFLAGS)
    return f"""\
Pack {n} circles into the unit square [0, 1] x [0, 1] so that the sum of their radii is as
large as possible. The best known sum for n = {n} is {BEST_KNOWN[n]}.

The candidate is a C program (C11, the C standard library and libm). It is compiled with
`cc {flags} -o candidate candidate.c -lm` (at most {compile_timeout_s:g} s), then run as
`./candidate {n}`; it must print exactly {n} lines to stdout, each `x y r` (the centre and
the radius of one circle, as decimal numbers; print doubles with "%.17g" so they are read
back exactly) and exit with status 0. Anything written to stderr is shown to you as feedback.
The sum of radii is always recomputed by the evaluator.

Validity is checked exactly, with zero tolerance: every value is converted to an exact
fraction, and a packing is valid only if all values are finite real numbers, every radius
is >= 0, every circle lies inside the square (x - r >= 0, x + r <= 1, and the same for y),
and every pair satisfies (xi - xj)^2 + (yi - yj)^2 >= (ri + rj)^2. A single violation, even
of 1e-15, makes the packing invalid and it scores nothing; leave a tiny safety margin.

The program has a wall-clock limit of {timeout_s:g} s (plan for a single CPU core); a run
that times out scores nothing. The score is the sum of radii of a valid packing (higher is
better)."""


def parse_circles(text: str) -> tuple[list[list[float]], list[float]] | str:
    """``(centers, radii)`` from ``x y r`` lines (blank lines skipped), or what is wrong."""
    centers: list[list[float]] = []
    radii: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 3:
                raise ValueError
            x, y, r = (float(field) for field in fields)
        except ValueError:
            shown = line if len(line) <= 80 else line[:80] + "..."
            return f"stdout line {number}: expected three numbers 'x y r', got {shown!r}"
        centers.append([x, y])
        radii.append(r)
    return centers, radii


class CirclePackingC(CirclePacking):
    """The C variant: the same spec, validator and score; seeds ``seeds/<name>.c``."""

    name = "circle_packing_c"
    config_schema = CirclePackingCConf

    def spec(self, config: dict[str, Any]) -> TaskSpec:
        python = super().spec(config)
        n = task_n(config)
        return replace(
            python,
            name=self.name,
            description=describe_c(n, python.timeout_s, _compile_timeout(config)),
            entry="main",
            language="c",
            seeds=SEEDS,
            cognition=tuple(
                item
                for item in python.cognition
                if not any(word in item.content for word in ("scipy", "numpy", "Python"))
            ),
        )

    def seed(self, config: dict[str, Any], name: str) -> str | None:
        if name not in self.spec(config).seeds:
            return None
        return (files(self.package or "") / "seeds" / f"{name}.c").read_text(encoding="utf-8")

    def evaluate(
        self,
        config: dict[str, Any],
        program: str,
        workdir: Path,
        limits: Limits,
        stage: str | None,
    ) -> EvalResult:
        started = time.monotonic()
        n = task_n(config)
        failed = {"n": n, "valid": 0}
        compiler = shutil.which("cc")
        if compiler is None:
            return EvalResult(
                success=False, feedback=NO_COMPILER, error_class="evaluator_error", metrics=failed
            )
        timeout = _compile_timeout(config)
        build = run_candidate(
            DRIVER,
            "build",
            args=(program, compiler, list(CFLAGS), timeout),
            limits=replace(limits, timeout_s=timeout + 10.0, cpu_s=None),
            workdir=workdir,
        )
        compile_seconds = round(time.monotonic() - started, 4)
        failure = _build_failure(build, timeout)
        if failure is not None:
            failure.metrics = {**failed, "compile_seconds": compile_seconds}
            return failure
        run = run_candidate(
            DRIVER, "execute", args=(n, MAX_OUTPUT_BYTES), limits=limits, workdir=workdir
        )
        metrics: dict[str, Any] = {**failed, "compile_seconds": compile_seconds}
        outcome = _run_failure(run)
        parsed: tuple[list[list[float]], list[float]] | str = ""
        if outcome is None:
            parsed = parse_circles(run.value["stdout"])
            if isinstance(parsed, str):
                outcome = EvalResult(
                    success=False, feedback=f"malformed output: {parsed}", error_class="invalid"
                )
        if outcome is not None:
            metrics["eval_seconds"] = round(time.monotonic() - started, 4)
            outcome.metrics = metrics
            return outcome
        assert not isinstance(parsed, str)
        from harness_circle_packing.validator import validate_packing

        validation = validate_packing(*parsed, n)
        metrics.update(_metrics(validation, n), compile_seconds=compile_seconds)
        metrics["candidate_seconds"] = round(run.seconds, 4)
        metrics["eval_seconds"] = round(time.monotonic() - started, 4)
        return EvalResult(
            success=validation.valid,
            metrics=metrics,
            feedback=_c_feedback(validation, n, run.value),
            error_class=None if validation.valid else "invalid",
            artifacts=_artifacts(validation, parsed),
        )


def _compile_timeout(config: dict[str, Any]) -> float:
    timeout = config.get("compile_timeout_s", COMPILE_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"task.compile_timeout_s must be a positive number, got {timeout!r}")
    return float(timeout)


def _build_failure(build: CandidateRun, timeout: float) -> EvalResult | None:
    """The compile step's failure as a result (``syntax`` when the compiler rejected the
    program), or ``None`` when a binary was built."""
    if not build.ok:
        return EvalResult(
            success=False,
            feedback=f"compiling failed: {build.feedback()}",
            error_class=build.error_class,
        )
    value = build.value if isinstance(build.value, dict) else {}
    if value.get("compiled") is True:
        return None
    if value.get("timed_out"):
        return EvalResult(
            success=False,
            feedback=f"compiling timed out after {timeout:g} s",
            error_class="timeout",
        )
    diagnostics = str(value.get("diagnostics", "")).strip() or "(no diagnostics)"
    return EvalResult(
        success=False,
        feedback=f"the program does not compile (cc {' '.join(CFLAGS)}):\n{diagnostics}",
        error_class="syntax",
    )


def _run_failure(run: CandidateRun) -> EvalResult | None:
    """The binary's failure as a result (a crash, a non-zero exit, a limit), else ``None``."""
    if not run.ok:
        return EvalResult(success=False, feedback=run.feedback(), error_class=run.error_class)
    value = run.value
    if not (
        isinstance(value, dict)
        and type(value.get("returncode")) is int
        and isinstance(value.get("stdout"), str)
        and isinstance(value.get("stderr"), str)
        and isinstance(value.get("truncated"), bool)
    ):  # the binary runs beside the driver and may have forged its report
        return EvalResult(
            success=False, feedback="the run's report was tampered with", error_class="invalid"
        )
    code = value["returncode"]
    stderr = _stderr(value)
    if code < 0:
        name = _signal_name(-code)
        error_class = {"SIGXCPU": "cpu", "SIGXFSZ": "file_size"}.get(name, "crash")
        return EvalResult(
            success=False,
            feedback=f"the program was killed by {name}{stderr}",
            error_class=error_class,
        )
    if code != 0:
        return EvalResult(
            success=False,
            feedback=f"the program exited with status {code}{stderr}",
            error_class="exception",
        )
    if value["truncated"]:
        return EvalResult(
            success=False,
            feedback=f"the program printed over {MAX_OUTPUT_BYTES} bytes{stderr}",
            error_class="invalid",
        )
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _stderr(value: dict[str, Any]) -> str:
    text = str(value.get("stderr", ""))
    return f"\nstderr (last {_TAIL} characters):\n{text}" if text.strip() else ""


def _c_feedback(validation: Validation, n: int, value: dict[str, Any]) -> str:
    return _feedback(validation, n, "") + _stderr(value)
