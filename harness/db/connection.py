"""Opening the run store, and telling its failures apart (damaged, full disk)."""

from __future__ import annotations

import errno
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from harness.db import schema

DB_NAME = "harness.db"

# SQLite's primary result codes (the ``sqlite3`` module names them from Python 3.11 on).
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StoreError(Exception):
    """The run store cannot be used (empty, damaged, not SQLite); nothing was written to it."""


def damaged(path: Path, exc: BaseException) -> StoreError:
    """The one message for a store SQLite cannot read."""
    return StoreError(
        f"{path} is damaged or not a harness run store ({exc}); it was left as it is. "
        "Restore it from a backup, or start a new run."
    )


def _errorcode(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else code & 0xFF  # the primary code of an extended one


def is_damaged(exc: BaseException) -> bool:
    """Whether SQLite says the file is not a database or its pages are corrupt."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _errorcode(exc)
    if code is not None:
        return code in (SQLITE_CORRUPT, SQLITE_NOTADB)
    return "malformed" in str(exc) or "not a database" in str(exc)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full, from SQLite or the OS."""
    if isinstance(exc, sqlite3.Error):
        code = _errorcode(exc)
        return code == SQLITE_FULL if code is not None else "is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _writable(path: Path) -> bool:
    """Whether SQLite can write beside ``path`` (its WAL index); ``os.access`` also sees a
    read-only mount, which binds root too."""
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def _read_only(path: Path) -> sqlite_utils.Database:
    """An archived run (read-only directory or mount), where SQLite cannot create the WAL
    index (``-shm``): read-only, or immutable when no WAL is left to read from."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    wal = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not all(p.exists() for p in wal):
        uri += "&immutable=1"  # a cleanly closed run: every commit is in the main file
    return sqlite_utils.Database(sqlite3.connect(uri, uri=True, check_same_thread=False))


def open_db(run_dir: str | Path, migrate: bool = True) -> sqlite_utils.Database:
    """Open the run store in ``run_dir``; the writer creates and migrates it, readers
    (``harness status``, monitoring) pass ``migrate=False`` so they never take a write lock,
    and open it read-only where they cannot write. An empty or damaged store is a
    :class:`StoreError` (SQLite would silently start an empty file afresh)."""
    path = Path(run_dir) / DB_NAME
    if not migrate and not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.exists() and path.stat().st_size == 0:
        raise StoreError(
            f"{path} is empty (0 bytes): it holds no run, and it was left as it is. "
            "Restore it from a backup, or start a new run."
        )
    if migrate:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite_utils.Database(path) if migrate or _writable(path) else _read_only(path)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("select count(*) from sqlite_master").fetchone()  # reads the header
        if migrate:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA cache_size=-65536")  # 64 MiB: the working set stays in memory
            schema.migrate(db)
    except sqlite3.DatabaseError as exc:
        if is_damaged(exc):
            raise damaged(path, exc) from exc
        if is_disk_full(exc):
            raise
        raise StoreError(f"cannot open {path}: {exc}") from exc
    return db
