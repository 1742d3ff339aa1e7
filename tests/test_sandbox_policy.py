"""Where nothing can isolate candidates, a run whose programs an LLM writes refuses to start
unless the user chose ``sandbox=none``; the offline proposer runs with a warning.

"Nothing can isolate" is made real, not mocked: the harness runs inside a user namespace
whose own limit on user namespaces is 0 (``/proc/sys/user/max_user_namespaces`` is per
namespace), so the namespace launcher cannot start, and bubblewrap is hidden from PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HARNESS
from helpers import distinct_toy_answers

from harness import db as store
from harness.testing.llm_server import FakeLLMServer

UNSHARE = shutil.which("unshare")
pytestmark = [
    pytest.mark.isolation,
    pytest.mark.skipif(
        UNSHARE is None
        or subprocess.run([UNSHARE, "--user", "--map-root-user", "true"], check=False).returncode,
        reason="cannot create a user namespace here to take isolation away",
    ),
]
SH = shutil.which("sh") or "/bin/sh"
NO_ISOLATION = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'


def harness_without_isolation(*args: str, env: dict[str, str] | None = None):
    """``harness ARGS`` where neither bubblewrap nor namespaces can work."""
    path = os.pathsep.join([str(Path(sys.executable).parent), "/nonexistent"])  # no bwrap
    return subprocess.run(
        [str(UNSHARE), "--user", "--map-root-user", SH, "-c", NO_ISOLATION, "sh",
         str(HARNESS), *args],
        env={**os.environ, "PATH": path, **(env or {})}, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def test_an_llm_run_refuses_to_start_unisolated(tmp_path: Path) -> None:
    with FakeLLMServer(default=distinct_toy_answers()) as server:
        common = ("+task=toy", "llm=openai", f"llm.base_url={server.base_url}",
                  "llm.model=m", "llm.edit_mode=full", "analyzer=none", "run.workers=1",
                  "run.max_evaluations=3")  # fmt: skip
        refused = harness_without_isolation(
            "run", *common, f"hydra.run.dir={tmp_path / 'refused'}",
            env={"OPENAI_API_KEY": "sk-policy-test"},
        )  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert "cannot be isolated" in refused.stderr and "sandbox=none" in refused.stderr
        assert "max_user_namespaces" in refused.stderr or "namespaces:" in refused.stderr
        assert not (tmp_path / "refused").exists(), "refused before its directory was made"
        assert server.requests == [], "no program was asked for"

        chosen = harness_without_isolation(
            "run", *common, "sandbox=none", f"hydra.run.dir={tmp_path / 'chosen'}",
            env={"OPENAI_API_KEY": "sk-policy-test"},
        )  # fmt: skip
        assert chosen.returncode == 0, chosen.stderr
        assert "WITHOUT filesystem/network isolation" in chosen.stdout + chosen.stderr
        summary = store.summary(store.open_db(tmp_path / "chosen"))
        assert summary["evaluated"] == 3, summary


def test_the_offline_proposer_runs_unisolated_with_a_warning(tmp_path: Path) -> None:
    result = harness_without_isolation(
        "run", "+task=toy", "run.workers=1", "run.max_evaluations=3",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WITHOUT filesystem/network isolation" in result.stdout + result.stderr
    assert store.summary(store.open_db(tmp_path / "run"))["evaluated"] == 3


def test_a_misspelt_sandbox_mode_is_refused(tmp_path: Path, cli) -> None:
    result = cli("run", "+task=toy", "sandbox=bwarp", f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 1
    assert "sandbox=bwarp is not a sandbox mode" in result.stderr and "bwrap" in result.stderr
