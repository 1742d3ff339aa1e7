"""The runs and sweeps under a served folder, and opening their stores read-only.

Every request opens the store afresh with SQLite's ``mode=ro``: the browser can never
write, a running orchestrator (the only writer) is undisturbed, and under WAL a reader sees
every committed row. A store is never migrated, so one written by an older harness is read
as it is (:mod:`.queries` copes with its missing tables and columns).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from harness import db as store
from harness.compare import NoRunsFoundError, find_run_dirs

#: What Hydra leaves in a multirun's sweep folder.
MULTIRUN_FILE = "multirun.yaml"


class NotFoundError(LookupError):
    """No run or sweep under the served root has this key."""


def connect(run_dir: Path) -> sqlite_utils.Database:
    """A read-only connection to ``run_dir``'s store; immutable when no WAL is beside it (a
    closed run, perhaps on a read-only mount), so reading leaves no ``-wal``/``-shm`` behind."""
    path = run_dir / store.DB_NAME
    if not path.is_file() or path.stat().st_size == 0:
        raise store.StoreError(f"{path} is missing or empty")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if not any(path.with_name(path.name + s).exists() for s in ("-wal", "-shm")):
        uri += "&immutable=1"
    db = sqlite_utils.Database(sqlite3.connect(uri, uri=True, check_same_thread=False))
    db.execute("PRAGMA busy_timeout=5000")
    return db


@contextlib.contextmanager
def reading(run_dir: Path) -> Iterator[sqlite_utils.Database]:
    """:func:`connect`, closed when the block ends."""
    db = connect(run_dir)
    try:
        yield db
    finally:
        db.close()


def key_of(root: Path, path: Path) -> str:
    """A run's or sweep's key: its path relative to the served root (``.`` for the root)."""
    return path.resolve().relative_to(root.resolve()).as_posix()


@dataclass(frozen=True)
class Served:
    """The runs (key -> run directory) and sweeps (key -> its runs' keys) under ``root``."""

    root: Path
    runs: dict[str, Path]
    sweeps: dict[str, list[str]]

    def run(self, key: str) -> Path:
        if key not in self.runs:
            raise NotFoundError(f"no run {key!r} under {self.root}")
        return self.runs[key]

    def sweep(self, key: str) -> list[str]:
        if key not in self.sweeps:
            raise NotFoundError(f"no sweep {key!r} under {self.root}")
        return self.sweeps[key]


def scan(root: Path) -> Served:
    """Find the runs under ``root`` now (runs appear while the server runs). A sweep is a
    folder with Hydra's ``multirun.yaml``, or with at least two run directories right in
    it; its runs are every run below it."""
    try:
        dirs = find_run_dirs([root])
    except NoRunsFoundError:
        dirs = []
    runs = {key_of(root, d): d for d in dirs}
    folders: dict[str, list[str]] = {}
    for key, run_dir in runs.items():
        for folder in run_dir.resolve().parents:
            if root.resolve() not in (folder, *folder.parents):
                break
            folders.setdefault(key_of(root, folder), []).append(key)
    sweeps = {}
    for key, members in folders.items():
        folder = root / key
        direct = [m for m in members if (root / m).resolve().parent == folder.resolve()]
        if (folder / MULTIRUN_FILE).is_file() or len(direct) >= 2:
            sweeps[key] = members
    return Served(root, runs, sweeps)
