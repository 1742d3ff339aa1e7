"""The run store when the disk misbehaves: damaged, read-only, full."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from conftest import HARNESS
from helpers import OLD_RUN

from harness import db as store


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A small finished toy run, to copy for each test."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    result = subprocess.run(
        [str(HARNESS), "run", "+task=toy", "run.max_evaluations=3", f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return run_dir


def _copy(run_dir, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 64], ids=["empty", "random-bytes"])
def test_a_damaged_store_is_refused_with_one_message(finished_run, tmp_path, cli, content):
    run_dir = _copy(finished_run, tmp_path)
    for leftover in run_dir.glob(f"{store.DB_NAME}-*"):
        leftover.unlink()
    (run_dir / store.DB_NAME).write_bytes(content)
    for command in ("resume", "status"):
        result = cli(command, str(run_dir))
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert store.DB_NAME in result.stderr and len(result.stderr.splitlines()) <= 2
        assert (run_dir / store.DB_NAME).read_bytes() == content, "the store was overwritten"


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(
    not _unshare_works(),
    reason="needs `unshare --mount` and mount rights (root or user namespaces) for a real "
    "read-only or full file system",
)


def _status_on_read_only_mount(run_dir):
    """``harness status --json`` with ``run_dir`` bound read-only (for root too)."""
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    result = subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            script,
            str(run_dir),
            str(HARNESS),
            "status",
            str(run_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_mounts
def test_status_reads_an_archived_read_only_run(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    assert _status_on_read_only_mount(run_dir)["evaluated"] == 3
    # A run killed before its WAL was checkpointed: its last commits live in -wal only.
    writer = textwrap.dedent(
        """
        import os, sqlite3, sys
        db = sqlite3.connect(sys.argv[1])
        db.execute("PRAGMA wal_autocheckpoint=0")
        with db:
            db.execute("update runs set stop_reason = 'from the wal'")
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", writer, str(run_dir / store.DB_NAME)], check=True)
    assert (run_dir / f"{store.DB_NAME}-wal").stat().st_size > 0
    assert _status_on_read_only_mount(run_dir)["stop_reason"] == "from the wal"


DISK_FULL_DRIVER = textwrap.dedent(
    """
    import json, os, sqlite3, subprocess, sys, time
    harness, mnt = sys.argv[1], sys.argv[2]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], check=True)
    run_dir = os.path.join(mnt, "run")

    def evaluated():
        try:
            db = sqlite3.connect(f"file:{run_dir}/harness.db?mode=ro", uri=True)
            return db.execute(
                "select count(*) from nodes where evaluated_at is not null").fetchone()[0]
        except sqlite3.Error:
            return 0

    proc = subprocess.Popen(
        [harness, "run", "+task=toy", "run.max_evaluations=100000", "run.workers=2",
         "hydra.run.dir=" + run_dir],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while evaluated() < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    filler = os.path.join(mnt, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    for size in (1 << 16, 1 << 12, 1):
        try:
            while True:
                os.write(fd, b"x" * size)
        except OSError:
            pass
    os.close(fd)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    os.unlink(filler)
    db = sqlite3.connect(os.path.join(run_dir, "harness.db"))
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    before = evaluated()
    db.close()
    resume = subprocess.run(
        [harness, "resume", run_dir, f"run.max_evaluations={before + 3}"],
        capture_output=True, text=True, timeout=120)
    print(json.dumps({
        "returncode": proc.returncode, "stderr": err, "integrity": integrity,
        "before": before, "resume_rc": resume.returncode, "resume_stderr": resume.stderr,
        "after": evaluated(),
    }))
    """
)


@needs_mounts
def test_a_full_disk_stops_the_run_with_one_message_and_resume_works(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = subprocess.run(
        ["unshare", "--mount", sys.executable, "-c", DISK_FULL_DRIVER, str(HARNESS), str(mnt)],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    stderr = report["stderr"]
    assert report["returncode"] == 1, stderr
    assert "Traceback" not in stderr and "never retrieved" not in stderr, stderr
    assert "Logging error" not in stderr, stderr
    assert "disk" in stderr.lower() and "harness resume" in stderr, stderr
    assert report["integrity"] == "ok" and report["before"] >= 4
    assert report["resume_rc"] == 0, report["resume_stderr"]
    assert report["after"] == report["before"] + 3


def test_a_corrupt_page_behind_a_valid_header_is_one_message(finished_run, tmp_path, cli):
    run_dir = _copy(finished_run, tmp_path)
    path = run_dir / store.DB_NAME
    data = bytearray(path.read_bytes())
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    data[page : len(data)] = bytes(len(data) - page)  # every page but the first zeroed
    path.write_bytes(bytes(data))
    for command in ("resume", "status"):
        result = cli(command, str(run_dir))
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr


def test_a_store_of_an_earlier_version_is_migrated_in_place(tmp_path):
    shutil.copyfile(OLD_RUN, tmp_path / store.DB_NAME)
    db = store.open_db(tmp_path)
    assert store.migrations.pending(db) == []
    assert set(db["cognition"].columns_dict) == {"id", "content", "source", "metadata"}
    assert db["cognition"].count == 2 and db["cognition_embeddings"].exists()
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = store.open_db(tmp_path)  # a second open changes nothing
    applied = [m.name for m in store.migrations.applied(again)]
    assert applied == [m.name for m in store.migrations.applied(db)]
    assert "m009_lineage" in applied and db["lineage"].count > 0
