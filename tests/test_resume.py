"""SIGKILL the whole process tree mid-run, resume, and lose no completed evaluation."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import HARNESS

from harness import db as store


def _completed(run_dir):
    db = store.open_db(run_dir)
    return {
        row["id"]: (row["program_hash"], row["score"], row["status"])
        for row in db["nodes"].rows_where("status in ('evaluated', 'failed')")
    }


def test_sigkill_then_resume_keeps_every_evaluated_node(tmp_path, cli):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", "task.sleep_s=0.25", "run.max_evaluations=24",
         "run.workers=2", f"hydra.run.dir={run_dir}"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (run_dir / store.DB_NAME).exists() and len(_completed(run_dir)) >= 6:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    before = _completed(run_dir)
    assert len(before) >= 6
    db = store.open_db(run_dir)
    pending = [r["id"] for r in db["nodes"].rows_where("status = 'pending'")]
    assert pending, "rounds were in flight when the run was killed"
    assert db["runs"].get(1)["status"] == "running"
    assert store.summary(db)["status"] == "stopped", "status notices the process is gone"

    result = cli("resume", str(run_dir))
    assert result.returncode == 0, result.stderr

    after = _completed(run_dir)
    for node_id, record in before.items():
        assert after[node_id] == record, f"node {node_id} changed across the resume"
    rows = list(store.open_db(run_dir)["nodes"].rows_where(order_by="id"))
    assert [r["id"] for r in rows] == list(range(len(rows))), "numbering has no gaps"
    assert all(r["status"] != "pending" for r in rows)
    assert all(r["program"] for r in rows if r["id"] in pending)
    summary = store.summary(store.open_db(run_dir))
    assert summary["evaluated"] == 24
    assert summary["status"] == "finished" and summary["sessions"] == 2


def test_resume_can_raise_the_budget(tmp_path, cli):
    run_dir = tmp_path / "run"
    first = cli("run", "+task=toy", "run.max_evaluations=4", f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr
    result = cli("resume", str(run_dir), "run.max_evaluations=7")
    assert result.returncode == 0, result.stderr
    assert store.summary(store.open_db(run_dir))["evaluated"] == 7
    bad = cli("resume", str(run_dir), "run.max_evalutions=9")
    assert bad.returncode != 0 and "max_evalutions" in bad.stderr
