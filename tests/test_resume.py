"""SIGKILL the whole process tree mid-run, resume, and lose no completed evaluation."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest
from conftest import HARNESS
from helpers import OLD_RUN, compose_config
from omegaconf import OmegaConf

from harness import db as store
from harness.loop import Run


def _reader(run_dir):
    """A read-only view of a run that another process is writing."""
    return store.open_db(run_dir, migrate=False)


def _completed(run_dir):
    db = _reader(run_dir)
    return {
        row["id"]: (row["program_hash"], row["score"], row["status"])
        for row in db["nodes"].rows_where("status in ('evaluated', 'failed')")
    }


def test_sigkill_then_resume_keeps_every_evaluated_node(tmp_path, cli):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            str(HARNESS),
            "run",
            "+task=toy",
            "task.sleep_s=0.25",
            "run.max_evaluations=24",
            "run.workers=4",
            f"hydra.run.dir={run_dir}",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, sqlite3.OperationalError, store.StoreError):
            # not created yet, or created and not yet written (0 bytes)
            if len(_completed(run_dir)) >= 6:
                break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    before = _completed(run_dir)
    assert len(before) >= 6
    db = store.open_db(run_dir)
    pending = [r["id"] for r in db["nodes"].rows_where("status = 'pending'")]
    assert len(pending) >= 2, "several rounds were in flight when the run was killed"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db["runs"].get(1)["status"] == "running"
    assert store.summary(db)["status"] == "stopped", "status notices the process is gone"

    result = cli("resume", str(run_dir))
    assert result.returncode == 0, result.stderr

    after = _completed(run_dir)
    for node_id, record in before.items():
        assert after[node_id] == record, f"node {node_id} changed across the resume"
    db = store.open_db(run_dir)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = list(db["nodes"].rows_where(order_by="id"))
    assert [r["id"] for r in rows] == list(range(len(rows))), "no duplicate numbers, no gaps"
    assert all(r["status"] != "pending" for r in rows)
    assert all(r["program"] for r in rows if r["id"] in pending)
    summary = store.summary(store.open_db(run_dir))
    assert summary["evaluated"] == 24
    assert summary["status"] == "finished" and summary["sessions"] == 2


def test_resume_overrides_are_checked_and_kept(tmp_path, cli):
    run_dir = tmp_path / "run"
    first = cli("run", "+task=toy", "run.max_evaluations=4", f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr
    result = cli("resume", str(run_dir), "run.max_evaluations=7", "sampler=greedy")
    assert result.returncode == 0, result.stderr
    assert store.summary(store.open_db(run_dir))["evaluated"] == 7
    again = cli("resume", str(run_dir))
    assert again.returncode == 0, again.stderr
    assert store.summary(store.open_db(run_dir))["evaluated"] == 7, "the raised budget was kept"
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.sampler.name == "greedy" and saved.run.max_evaluations == 7
    overrides = list(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
    assert "run.max_evaluations=7" in overrides and "run.max_evaluations=4" not in overrides
    for bad in ("run.max_evalutions=9", "run.workers=two", "sampler=ucb"):
        result = cli("resume", str(run_dir), bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def _start(run_dir, *overrides):
    return subprocess.Popen(
        [str(HARNESS), "run", "+task=toy", *overrides, f"hydra.run.dir={run_dir}"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_pending(run_dir, count):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, sqlite3.OperationalError, store.StoreError):
            # not created yet, or created and not yet written (0 bytes)
            db = _reader(run_dir)
            if db["nodes"].count_where("status = 'pending' and program is not null") >= count:
                return
        time.sleep(0.05)
    raise AssertionError("the run never had rounds in flight")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_promptly_with_128_plus_its_number_and_resume_finishes(
    tmp_path, cli, sig, code
):
    run_dir = tmp_path / "run"
    proc = _start(
        run_dir, "task.sleep_s=60", "run.max_evaluations=5", "run.workers=2", "run.buffer=1"
    )
    try:
        _wait_for_pending(run_dir, 3)
        began = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=20)
        assert time.monotonic() - began < 20, "stopping must not wait for the evaluations"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, stderr
    assert "harness resume" in stderr and "Traceback" not in stderr, stderr
    summary = store.summary(store.open_db(run_dir))
    # two rounds evaluating and one proposed ahead of a free slot (run.buffer=1)
    assert summary["status"] == "interrupted" and summary["pending"] == 3
    result = cli("resume", str(run_dir), "task.sleep_s=0")
    assert result.returncode == 0, result.stderr
    summary = store.summary(store.open_db(run_dir))
    assert summary["status"] == "finished" and summary["evaluated"] == 5


def test_a_run_directory_in_use_cannot_be_resumed(tmp_path, cli):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, "task.sleep_s=60", "run.max_evaluations=5", "run.workers=1")
    try:
        _wait_for_pending(run_dir, 1)
        result = cli("resume", str(run_dir))
        assert result.returncode == 1 and "another harness process" in result.stderr
        assert store.summary(_reader(run_dir))["status"] == "running"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _saved_config(run_dir):
    hydra = run_dir / ".hydra"
    return {name: (hydra / name).read_bytes() for name in ("overrides.yaml", "config.yaml")}


def test_a_refused_resume_or_run_leaves_the_saved_config_alone(tmp_path, cli):
    run_dir = tmp_path / "run"
    island = ("sampler=island", "sampler.islands=2")
    first = cli("run", "+task=toy", "run.max_evaluations=3", *island, f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr
    saved = _saved_config(run_dir)
    with open(run_dir / ".lock", "w") as lock:  # a live run holds this lock
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        live = cli("resume", str(run_dir), "run.max_evaluations=5")
    assert live.returncode == 1 and "another harness process" in live.stderr, live.stderr
    assert _saved_config(run_dir) == saved, "a resume refused as live rewrote the config"
    for bad in ("run.workers=0", "sampler.islands=3"):
        refused = cli("resume", str(run_dir), bad)
        assert refused.returncode in (1, 2) and "Traceback" not in refused.stderr, refused.stderr
        assert _saved_config(run_dir) == saved, f"a refused {bad} rewrote the config"
    rerun = cli("run", "+task=toy", "run.max_evaluations=5", f"hydra.run.dir={run_dir}")
    assert rerun.returncode != 0 and "harness resume" in rerun.stderr
    assert _saved_config(run_dir) == saved, "a refused run into the directory rewrote it"
    plain = cli("resume", str(run_dir))
    assert plain.returncode == 0, plain.stderr
    summary = store.summary(store.open_db(run_dir))
    assert summary["evaluated"] == 3, "the plain resume kept the run's own budget"


def test_a_run_stored_by_an_earlier_version_resumes_exactly(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copyfile(OLD_RUN, run_dir / store.DB_NAME)
    old = sqlite3.connect(OLD_RUN)
    pending = dict(old.execute("select id, program_hash from nodes where status = 'pending'"))
    old.close()
    before = _completed(run_dir)
    assert len(pending) == 3 and len(before) == 5

    overrides = ["+task=toy", "run.max_evaluations=10", "run.workers=2"]
    summary = asyncio.run(
        Run(compose_config(*overrides), run_dir, overrides, resume=True).execute()
    )

    after = _completed(run_dir)
    for node_id, record in before.items():
        assert after[node_id] == record, f"node {node_id} changed across the resume"
    for node_id, program_hash in pending.items():
        assert after[node_id][0] == program_hash, "a round in flight re-ran another program"
    assert sorted(after) == list(range(len(after))), "no duplicate numbers, no gaps"
    assert summary["status"] == "finished" and summary["sessions"] == 2
    assert summary["evaluated"] == 10 and summary["pending"] == 0
