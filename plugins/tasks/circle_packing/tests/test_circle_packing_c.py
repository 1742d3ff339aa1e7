"""Tests for ``circle_packing_c``: a real ``cc`` compile and a real run, both in the real
sandbox, the C-aware core pieces (dedupe hash, offline proposer, syntax checks) and a short
offline run of the loop."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import config as harness_config
from harness.canonical import canonical_hash
from harness.llm.answers import ParsedAnswer
from harness.llm.base import NodeView, ProposalRequest
from harness.llm.edits import EditError, build_program
from harness.llm.offline import OfflineProposer, find_literals
from harness.loop import Run
from harness.sandbox import Limits, isolation
from harness.task import EvalResult

from harness_circle_packing import plugin
from harness_circle_packing.c_task import NO_COMPILER, CirclePackingC, parse_circles
from harness_circle_packing.validator import validate_return

TASK = CirclePackingC()
HAS_CC = shutil.which("cc") is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason=NO_COMPILER)
needs_sandbox = pytest.mark.skipif(
    isolation() is None, reason="no sandbox isolation on this machine (bwrap or namespaces)"
)
PACKING_TWO_CIRCLES = """\
#include <stdio.h>
int main(void) {
    printf("0.25 0.5 0.25\\n0.75 0.5 0.25\\n");
    return 0;
}
"""


def config(n: int = 26) -> dict[str, Any]:
    return {"name": "circle_packing_c", "n": n, "timeout_s": 60, "memory_mb": 2048}


def seed() -> str:
    program = TASK.seed(config(), "naive")
    assert program is not None
    return program


def evaluate(program: str, tmp_path: Path, n: int = 26, timeout_s: float = 60) -> EvalResult:
    cfg = config(n)
    result = TASK.evaluate(cfg, program, tmp_path / "work", Limits(timeout_s=timeout_s), None)
    result.score = TASK.score(cfg, result)
    return result


def c_main(body: str) -> str:
    return f"#include <stdio.h>\n#include <stdlib.h>\nint main(void) {{\n{body}\n}}\n"


# ----------------------------------------------------------------------------------------
# The task object, its seed and its configuration
# ----------------------------------------------------------------------------------------


def test_registers_both_tasks() -> None:
    names: list[str] = []
    plugin.harness_register_tasks(register=lambda task: names.append(task.name))
    assert names == ["circle_packing", "circle_packing_c"]


def test_spec_is_the_python_task_in_c() -> None:
    spec = TASK.spec(config(32))
    python = plugin.CirclePacking().spec({**config(32), "name": "circle_packing"})
    assert (spec.name, spec.language, spec.entry, spec.seeds) == (
        "circle_packing_c",
        "c",
        "main",
        ("naive",),
    )
    assert (spec.best_known, spec.descriptors) == (python.best_known, python.descriptors)
    assert "./candidate 32" in spec.description and "exactly 32 lines" in spec.description
    assert spec.cognition and not any("scipy" in item.content for item in spec.cognition)


def test_bad_compile_timeout_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="task.compile_timeout_s must be a positive number"):
        TASK.spec({**config(), "compile_timeout_s": 0})


def test_seed_is_c_with_an_evolve_block() -> None:
    program = seed()
    assert "// EVOLVE-BLOCK-START" in program and "// EVOLVE-BLOCK-END" in program
    assert "int main(int argc, char **argv)" in program
    assert TASK.seed(config(), "strong") is None


def test_conf_yaml_ships_with_the_package() -> None:
    text = (files("harness_circle_packing.conf") / "task" / "circle_packing_c.yaml").read_text()
    keys = [key for key in yaml.safe_load(text) if key != "defaults"]
    assert keys == ["name", "n", "seed_program", "timeout_s", "memory_mb", "compile_timeout_s"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.25 0.5 0.25\n\n0.75 0.5 0.25\n", ([[0.25, 0.5], [0.75, 0.5]], [0.25, 0.25])),
        ("0.1 0.2\n", "stdout line 1: expected three numbers 'x y r', got '0.1 0.2'"),
        ("0.1 0.2 0.3\n0.1 zero 0.3\n", "stdout line 2: expected three numbers"),
    ],
)
def test_parse_circles(text, expected) -> None:
    parsed = parse_circles(text)
    if isinstance(expected, str):
        assert isinstance(parsed, str) and parsed.startswith(expected)
    else:
        assert parsed == expected


def test_without_a_compiler_the_evaluation_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = evaluate(seed(), tmp_path)
    assert (result.success, result.error_class, result.feedback) == (
        False,
        "evaluator_error",
        NO_COMPILER,
    )


# ----------------------------------------------------------------------------------------
# Compiled and run in the sandbox
# ----------------------------------------------------------------------------------------


@needs_cc
@needs_sandbox
@pytest.mark.parametrize("n", [26, 32])
def test_seed_scores_like_the_python_seed(tmp_path, n) -> None:
    result = evaluate(seed(), tmp_path, n)
    assert result.success, result.feedback
    namespace: dict[str, Any] = {}
    exec(plugin.CirclePacking().seed({"n": n}, "naive") or "", namespace)
    python = validate_return(namespace["construct_packing"](n), n)
    assert result.score == pytest.approx(python.sum_radii, abs=1e-12)
    assert result.metrics["valid"] == 1 and result.metrics["num_violations"] == 0
    assert result.metrics["compile_seconds"] > 0
    assert "packing.json" in result.artifacts


@needs_cc
@needs_sandbox
def test_same_validator_same_score(tmp_path) -> None:
    result = evaluate(PACKING_TWO_CIRCLES, tmp_path, n=26)
    assert not result.success and result.error_class == "invalid"
    assert "malformed packing" in result.feedback and "26" in result.feedback


@needs_cc
@needs_sandbox
def test_overlap_is_invalid(tmp_path) -> None:
    lines = "".join('printf("0.5 0.5 0.1\\n");' for _ in range(26))
    result = evaluate(c_main(lines + "return 0;"), tmp_path)
    assert not result.success and result.error_class == "invalid" and result.score is None
    assert result.metrics["num_violations"] > 0


@needs_cc
@needs_sandbox
def test_program_that_does_not_compile_fails_with_the_diagnostics(tmp_path) -> None:
    result = evaluate(c_main("    return undeclared_name;"), tmp_path)
    assert not result.success and result.error_class == "syntax"
    assert result.feedback.startswith("the program does not compile (cc -O2 -std=c11):")
    assert "candidate.c:" in result.feedback and "undeclared_name" in result.feedback
    assert "candidate_seconds" not in result.metrics  # nothing ran


@needs_cc
@needs_sandbox
@pytest.mark.parametrize(
    ("body", "error_class", "message"),
    [
        ('fprintf(stderr, "gave up\\n"); return 3;', "exception", "exited with status 3"),
        ("volatile int *p = 0; return *p;", "crash", "killed by SIGSEGV"),
        ("abort();", "crash", "killed by SIGABRT"),
    ],
)
def test_failing_binary_is_reported(tmp_path, body, error_class, message) -> None:
    result = evaluate(c_main(body), tmp_path)
    assert (result.success, result.error_class) == (False, error_class)
    assert message in result.feedback


@pytest.mark.isolation
@needs_cc
@needs_sandbox
def test_binary_that_runs_too_long_times_out(tmp_path) -> None:
    result = evaluate(c_main("for (;;) {}"), tmp_path, timeout_s=1)
    assert (result.success, result.error_class) == (False, "timeout")


@pytest.mark.isolation
@needs_cc
@needs_sandbox
def test_compiler_and_binary_cannot_reach_outside_the_sandbox(tmp_path) -> None:
    """The compile runs in the sandbox (an ``#include`` of a hidden file finds nothing, so
    its text never reaches the feedback) and so does the binary (its write outside the
    work directory lands nowhere the evaluator can see)."""
    secret = tmp_path / "secret.h"
    secret.write_text("int leaked = TOPSECRET_VALUE;\n")
    result = evaluate(f'#include "{secret}"\n' + c_main("return 0;"), tmp_path)
    assert result.error_class == "syntax"
    assert "TOPSECRET_VALUE" not in result.feedback and "No such file" in result.feedback
    escape = tmp_path / "escaped.txt"
    body = f'FILE *f = fopen("{escape}", "w"); if (f) {{ fputs("x", f); fclose(f); }} return 1;'
    result = evaluate(c_main(body), tmp_path)
    assert result.error_class == "exception"
    assert not escape.exists()


# ----------------------------------------------------------------------------------------
# The core, for C: dedupe hash, syntax checks, the offline proposer, a run
# ----------------------------------------------------------------------------------------


def test_canonical_hash_ignores_c_comments_and_layout() -> None:
    program = seed()
    reformatted = (
        program.replace("    ", "\t")
        .replace("int main(int argc, char **argv) {", "int main(int argc,char**argv)\n{ // hi")
        .replace("#include <math.h>", "/* maths */\n#include   <math.h>")
    )
    assert reformatted != program
    assert canonical_hash(reformatted, "c") == canonical_hash(program, "c")
    changed = program.replace("0.5 + 0.3 * cos(angle)", "0.5 + 0.31 * cos(angle)")
    assert canonical_hash(changed, "c") != canonical_hash(program, "c")
    in_string = program.replace('"%.17g %.17g %.17g\\n"', '"%.17g  %.17g %.17g\\n"')
    assert canonical_hash(in_string, "c") != canonical_hash(program, "c")
    spaced_minus = "int f(int a) { return a - -1; }"
    assert canonical_hash(spaced_minus, "c") != canonical_hash("int f(int a) { return a--1; }", "c")


def test_c_answers_skip_the_python_syntax_check_but_python_ones_do_not() -> None:
    program = seed()
    child = program.replace("0.5 + 0.3 * cos", "0.5 + 0.35 * cos")
    built, kind = build_program(program, ParsedAnswer(code=child), "full", 100_000, language="c")
    assert (built, kind) == (child, "full")
    with pytest.raises(EditError, match="syntax error"):
        build_program(program, ParsedAnswer(code=child), "full", 100_000, language="python")


def test_offline_proposer_mutates_c_literals_inside_the_block() -> None:
    program = seed()
    literals = find_literals(program, "c")
    block = program.split("// EVOLVE-BLOCK-START")[1].split("// EVOLVE-BLOCK-END")[0]
    assert literals and all(lit.text in block for lit in literals)
    assert {"0.3", "0.7", "0.45", "0.39", "16", "0.01", "0.99"} <= {lit.text for lit in literals}
    assert find_literals("x = 010 + 0x1p3 + 2.5f; // 7\n", "c")[0].text == "2.5"
    assert find_literals("x = 010 + 0x1p3 + 2.5f; // 7\n", "c")[1:] == []
    view = NodeView(id=1, name="naive", program=program, score=1.0)
    request = ProposalRequest(
        task=TASK.spec(config()), parent=view, references=[], cognition=[], node_id=2, seed=5
    )
    proposal = asyncio.run(OfflineProposer({}).propose(request))
    assert proposal.program is not None and proposal.program != program
    assert (
        proposal.program.split("// EVOLVE-BLOCK-START")[0]
        == program.split("// EVOLVE-BLOCK-START")[0]
    )


def test_offline_negative_value_after_a_minus_stays_valid_c() -> None:
    program = "// EVOLVE-BLOCK-START\ndouble f(double a) { return a-0.01; }\n// EVOLVE-BLOCK-END\n"
    view = NodeView(id=1, name="p", program=program, score=1.0)
    spec = TASK.spec(config())
    for seed_value in range(200):
        request = ProposalRequest(
            task=spec, parent=view, references=[], cognition=[], node_id=2, seed=seed_value
        )
        child = asyncio.run(OfflineProposer({"scale": 5.0}).propose(request)).program
        assert child is not None and "--" not in child
        if "- -" in child:
            return
    pytest.fail("no mutation made the literal negative")


@needs_cc
@needs_sandbox
def test_offline_run_evolves_the_c_seed(tmp_path) -> None:
    overrides = ["+task=circle_packing_c", "run.max_evaluations=12", "run.workers=1"]
    cfg = harness_config.compose_config(overrides)
    asyncio.run(Run(cfg, tmp_path / "run", overrides).execute())
    with sqlite3.connect(tmp_path / "run" / "harness.db") as db:
        rows = db.execute("SELECT id, score, error_class FROM nodes ORDER BY id").fetchall()
    seed_score = rows[0][1]
    assert seed_score == pytest.approx(0.9597642169952227, abs=1e-12)
    assert [row for row in rows if row[2] is not None] == []  # every mutant compiled and ran
    assert max(score for _, score, _ in rows[1:]) > seed_score
    best = max(rows, key=lambda row: row[1])
    with sqlite3.connect(tmp_path / "run" / "harness.db") as db:
        program = db.execute("SELECT program FROM nodes WHERE id = ?", [best[0]]).fetchone()[0]
    assert (tmp_path / "run" / "best_program.c").read_text() == program
    assert not (tmp_path / "run" / "best_program.py").exists()
