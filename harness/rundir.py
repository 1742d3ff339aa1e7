"""A run directory's set-up: claiming it, the sandbox check, and what is saved in it.

One process at a time owns a run directory (a lock beside its store), so the store has a
single writer; a new run refuses a directory that holds one, a resume one that does not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from omegaconf import DictConfig, OmegaConf

from harness import db as store
from harness import plugins
from harness.sandbox import isolation, unisolated_refusal
from harness.tasks import RunError

log = logging.getLogger("harness")

LOCK_NAME = ".lock"


@contextlib.contextmanager
def claimed(run_dir: Path, resume: bool) -> Iterator[None]:
    """Hold ``run_dir`` for this process while the block runs, once it suits a run (no
    store yet) or a resume (a store). A :class:`RunError` when another process holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunError(f"another harness process is using {run_dir}") from None
    try:
        exists = (run_dir / store.DB_NAME).exists()
        if exists and not resume:
            raise RunError(
                f"{run_dir} already holds a run; continue it with "
                f"`harness resume {run_dir}` or choose another hydra.run.dir"
            )
        if resume and not exists:
            raise RunError(f"{run_dir} holds no {store.DB_NAME} to resume")
        yield
    finally:
        lock.release()


def check_sandbox(choice: str, proposer: str) -> None:
    """Log how candidates are isolated (``choice``: the run's ``sandbox`` mode); refuse to
    run programs ``proposer`` writes unisolated unless the user chose that (``none``)."""
    try:
        isolated = isolation(choice)
    except (ValueError, RuntimeError) as exc:
        raise RunError(f"sandbox: {exc}") from exc
    if isolated is not None:
        log.info(
            "candidates run isolated (%s): read-only filesystem, no network, no other "
            "process visible",
            isolated,
        )
        return
    refusal = unisolated_refusal(proposer, choice)
    if refusal:
        raise RunError(refusal)


def save_resume_config(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
    """Keep a resume's merged overrides and config for the next resume, only once this
    process holds the run directory and the run accepted them: a refused resume must leave
    them as they were. Written beside and renamed, so never half-written."""
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(exist_ok=True)
    for name, content in (
        ("overrides.yaml", OmegaConf.create(list(overrides))),
        ("config.yaml", cfg),
    ):
        partial = hydra_dir / f".{name}.partial"
        OmegaConf.save(content, partial)
        os.replace(partial, hydra_dir / name)


def session_fields(cfg: DictConfig, overrides: list[str], seed: int) -> dict[str, Any]:
    """What the run's row records of this session: its config, the plugins' versions and
    the process (``harness status`` tells a killed run by its host and pid)."""
    versions = {row["distribution"] or row["name"]: row["version"] for row in plugins.plugin_info()}
    return {
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "overrides": json.dumps(overrides),
        "plugin_versions": json.dumps(versions),
        "seed": seed,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def storage_error(run_dir: Path, exc: BaseException) -> RunError | None:
    """The one-line error for a store that failed under the run (damaged, a full disk),
    or None for any other failure."""
    if isinstance(exc, store.StoreError):
        return RunError(str(exc))
    if not isinstance(exc, (OSError, sqlite3.Error)):
        return None
    if store.is_disk_full(exc):
        return RunError(
            f"the disk holding {run_dir} is full ({exc}); the run stopped and its store "
            f"keeps every completed node: free some space, then `harness resume {run_dir}`"
        )
    if store.is_damaged(exc):
        return RunError(str(store.damaged(run_dir / store.DB_NAME, exc)))
    return None


def write_artifacts(run_dir: Path, node_id: int, artifacts: dict[str, Any]) -> None:
    """Keep the files an evaluator returned under ``artifacts/<node>/`` (names flattened,
    so none escapes the folder); a failure to write them is logged, not raised."""
    if not artifacts:
        return
    folder = run_dir / "artifacts" / str(node_id)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in artifacts.items():
            (folder / Path(name).name).write_text(str(text))
    except OSError as exc:
        log.warning("node %d: could not write artifacts: %s", node_id, exc)


#: The best program's file suffix by the task's language (another language: ``.txt``).
SUFFIXES = {"python": ".py", "c": ".c"}


def best_program_path(run_dir: Path, language: str) -> Path:
    """``best_program.py`` (``.c`` for a C task): where the run keeps its best program."""
    return run_dir / f"best_program{SUFFIXES.get(language, '.txt')}"


def write_best(run_dir: Path, program: str, language: str = "python") -> None:
    """The best node's program, for the user to pick up (:func:`best_program_path`)."""
    best_program_path(run_dir, language).write_text(program)
