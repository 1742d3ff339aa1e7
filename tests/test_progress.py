"""Run progress as people see it: a rich bar on a terminal (a real pseudo-terminal), plain
greppable log lines anywhere else, the seed program announced, tokens and cost counted and
restored on resume, and a best-known score of 0 shown as a score."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import HARNESS
from helpers import compose_config, distinct_toy_answers, openai_run

from harness import db as store
from harness.budget import Budget, Tally
from harness.loop import Run
from harness.progress import Progress, Snapshot, binding
from harness.testing.llm_server import FakeLLMServer

ANSI = "\x1b["


def budget(**limits: float) -> Budget:
    fields = {"max_evaluations": None, "max_rounds": None, "target_score": None}
    fields |= {"max_seconds": None, "max_consecutive_failures": 0}
    return Budget(**(fields | limits))  # type: ignore[arg-type]


def test_a_best_known_score_of_zero_is_shown_with_the_gap():
    """Regression: ``if self.best_known:`` hid a best known score of 0."""
    tally = Tally(evaluations=3, best=(-0.25, 2), seed_score=-1.0)
    line = Snapshot(tally, 5.0, None, None, None, best_known=0.0).line()
    assert "best -0.250000 (best known 0.000000, gap 0.250000)" in line
    assert "best known" not in Snapshot(tally, 5.0, None, None, None, None).line()


def test_the_budget_nearest_to_running_out_is_the_one_shown():
    tally = Tally(evaluations=5, rounds=4, cost_usd=0.9)
    limits = budget(max_evaluations=10, max_rounds=100, max_cost_usd=1.0)
    share = binding(limits, tally, elapsed_s=3.0)
    assert share is not None and share.unit == "$" and share.fraction == pytest.approx(0.9)
    share = binding(budget(max_evaluations=10, max_seconds=60.0), tally, elapsed_s=3.0)
    assert share is not None and str(share) == "5/10 evaluations" and share.fraction == 0.5
    assert binding(budget(), tally, 3.0) is None


def test_the_plain_line_has_the_budget_rate_eta_tokens_and_cost():
    progress = Progress(best_known=10.0, budget=budget(max_evaluations=8))
    progress.start("toy", Path("r"), Tally(evaluations=2))  # resumed: 2 were done before
    progress.started -= 10.0  # as if started 10 s ago
    tally = Tally(evaluations=6, rounds=5, tokens_in=1200, tokens_out=300, cost_usd=0.0123)
    line = progress.snapshot(tally).line()
    assert "6/8 evaluations (75%)" in line
    assert re.search(r"\| 0\.\d\d evals/s \|", line)  # 4 evaluations in ~10 s
    # 50% of the budget in 10 s of this session leaves 25%: about 5 s
    eta = re.search(r"ETA 00:0(\d)", line)
    assert eta and 4 <= int(eta.group(1)) <= 5
    assert "tokens 1200 in / 300 out | $0.0123" in line
    assert ANSI not in line


def run_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "[harness][INFO]" in line]


def test_plain_lines_when_stdout_is_not_a_terminal(tmp_path, cli):
    result = cli(
        "run", "+task=toy", "run.max_evaluations=4", "run.workers=1",
        f"hydra.run.dir={tmp_path / 'r'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ANSI not in result.stdout + result.stderr
    lines = run_lines(result.stdout)
    assert any(line.endswith("evaluating the seed program seed ...") for line in lines)
    seed = next(line for line in lines if "seed program seed: score 1.500000" in line)
    assert "1/4 evaluations (25%)" in seed and "best known 10.000000, gap 8.500000" in seed
    nodes = [line for line in lines if re.search(r" - node \d+ ", line)]
    assert len(nodes) == 3
    for line in nodes:
        assert re.search(r"rounds \d+ \| evaluated \d+ \| failed \d+", line)
        assert re.search(r"\| [234]/4 evaluations \(\d+%\) \| [\d.]+ evals/s \| ETA ", line)
    assert "run finished: max_evaluations=4 reached" in lines[-2]
    assert "4/4 evaluations (100%)" in lines[-2]
    assert f"harness serve {tmp_path / 'r'}" in lines[-1]


def read_all(fd: int, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
    """Everything the child writes to the terminal until it exits (EOF or EIO)."""
    out = b""
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return out


def test_a_terminal_gets_the_live_bar(tmp_path):
    """``harness run`` on a real pseudo-terminal: the bar's fields are drawn, log lines
    still say what happened, and the run ends as usual."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", "run.max_evaluations=5", "run.workers=1",
         f"hydra.run.dir={tmp_path / 'r'}"],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    try:
        out = read_all(primary, proc, time.monotonic() + 120).decode(errors="replace")
    finally:
        os.close(primary)
    assert proc.returncode == 0, out
    assert ANSI in out, "rich draws with escape codes on a terminal"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    bars = [line for line in text.splitlines() if "evaluations" in line and "ETA" in line]
    assert bars, text
    assert any(re.search(r"\b5/5 evaluations 100% [\d.]+ evals/s ETA 00:00", b) for b in bars)
    assert "best known 10.000000, gap" in text and "tokens 0 in / 0 out" in text
    assert "evaluating the seed program seed ..." in text
    assert "run finished: max_evaluations=5 reached" in text


def final_line(records: list[logging.LogRecord]) -> str:
    return [r.getMessage() for r in records if r.getMessage().startswith("run ")][-1]


def test_tokens_are_counted_and_restored_on_resume(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="harness")
    overrides = ("+task=toy", "llm=openai", "llm.model=m", "llm.edit_mode=full", "run.workers=1")
    with FakeLLMServer(default=distinct_toy_answers()) as server:
        openai_run(tmp_path, server, "run.max_evaluations=3")
        first = final_line(caplog.records)
        caplog.clear()
        cfg = compose_config(*overrides, f"llm.base_url={server.base_url}", "run.max_evaluations=5")
        asyncio.run(Run(cfg, tmp_path, resume=True).execute())
        resumed = final_line(caplog.records)

    def stored() -> tuple[int, int]:
        db = store.open_db(tmp_path, migrate=False)
        return db.execute("select sum(tokens_in), sum(tokens_out) from llm_calls").fetchone()

    tokens = re.compile(r"tokens (\d+) in / (\d+) out")
    match = tokens.search(first)
    assert match and int(match.group(1)) > 0 and int(match.group(2)) > 0
    match = tokens.search(resumed)
    assert match and (int(match.group(1)), int(match.group(2))) == stored()
    assert "5/5 evaluations (100%)" in resumed
