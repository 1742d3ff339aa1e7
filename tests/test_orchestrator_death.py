"""The orchestrator alone killed with SIGKILL (or by the OOM killer): its evaluation workers
and the candidates they run must not outlive it, in every sandbox mode (a leftover worker
holds ~140 MB, a leftover candidate may hold a GPU)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import HARNESS
from helpers import process_texts

from harness import sandbox

TAG = "HARNESS_ORPHAN_TEST"
MODES = [
    "none",
    pytest.param("bwrap", marks=pytest.mark.skipif(
        not sandbox.bwrap_available(), reason="bubblewrap missing or its probe failed")),
    pytest.param("namespace", marks=pytest.mark.skipif(
        not sandbox.namespace_available(), reason="user namespaces unusable here")),
]  # fmt: skip


def tagged(mark: str) -> list[str]:
    """Live processes carrying the test's tag in their environment (the orchestrator's
    workers, and every process of the candidates: the tag is no secret, so it is passed on)
    (zombies, with an empty cmdline, do not count)."""
    needle = f"{TAG}={mark}".encode()
    return [
        f"{pid}: {cmdline.replace(bytes(1), b' ')[:200]!r}"
        for pid, environ, cmdline in process_texts()
        if cmdline and needle in environ
    ]


@pytest.mark.parametrize("mode", MODES)
def test_no_worker_or_candidate_survives_the_orchestrator(mode: str, tmp_path: Path) -> None:
    mark = secrets.token_hex(8)
    env = {**os.environ, TAG: mark, "HARNESS_SANDBOX": mode}
    orchestrator = subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", "task.seed_program=sleeper", "task.timeout_s=300",
         "run.workers=2", f"hydra.run.dir={tmp_path / 'run'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any("b'sleep 3600" in p for p in tagged(mark)):
            assert orchestrator.poll() is None, "the run ended before its candidate ran"
            assert time.monotonic() < deadline, "the candidate never started"
            time.sleep(0.05)
        assert len(tagged(mark)) >= 3, tagged(mark)  # workers, the candidate, its sleep
        orchestrator.kill()  # the orchestrator alone, not its process group
        orchestrator.wait()
        gone = time.monotonic() + 5
        while (left := tagged(mark)) and time.monotonic() < gone:
            time.sleep(0.05)
        assert left == [], f"alive 5 s after the orchestrator died: {left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
