"""Experiment trackers (``logger=NAME``): what a run tells them, and the guard around them.

A plugin registers a factory through ``harness_register_loggers``; the run calls the
:class:`Logger` it builds when it starts, after each completed node and when it ends. Calls
go through :class:`LoggerGuard` to one background thread, in order, so a logger that
blocks (a tracking server that does not answer) never holds up the event loop, and its
first exception is logged once as a warning and turns it off: a tracker never stops or
slows a run. The built-in ``jsonl`` logger is the reference implementation.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import sqlite_utils
from omegaconf import OmegaConf

from harness import db as store
from harness import plugins
from harness.budget import Tally
from harness.nodes import Node
from harness.redact import redact_data
from harness.tasks import RunError

if TYPE_CHECKING:
    from harness.settings import RunSettings

log = logging.getLogger("harness")

#: How long the end of a run waits for a logger to write what is queued.
FLUSH_TIMEOUT_S = 60.0
#: The ``logger`` option that builds no logger.
NONE = "none"


@dataclass
class LoggerConf:
    """``logger=none`` (the default), and the keys every logger option has."""

    name: str = NONE


@dataclass(frozen=True)
class RunInfo:
    """What a logger learns when a session of the run starts (a fresh run or a resume)."""

    task: str
    run_dir: Path
    #: Whether this session continues the run directory's run (``harness resume``).
    resume: bool
    #: The composed config, resolved, as plain data (any secret value redacted).
    config: dict[str, Any]
    #: The command line's overrides (a resume's: the saved ones merged with its own).
    overrides: list[str]
    seed: int


class Logger(Protocol):
    """An experiment tracker. Every method runs on the guard's thread, one call at a time;
    an exception from any of them turns the logger off for the rest of the run."""

    def run_started(self, info: RunInfo) -> None:
        """A session starts, before its first round (a resume continues the same run)."""

    def node_completed(self, node: Node, tally: Tally) -> None:
        """``node`` completed (evaluated, failed or duplicate); ``tally`` is the run's
        count at that moment (``tally.evaluations`` is the natural step). Both are copies."""

    def run_finished(self, status: str, reason: str | None, summary: dict[str, Any]) -> None:
        """The session ended: ``status`` is finished, failed, interrupted or crashed,
        ``reason`` why it stopped, ``summary`` what ``harness status --json`` reports."""

    def close(self) -> None:
        """Release what the logger holds; called last, also after a failure."""


def node_record(node: Node, tally: Tally) -> dict[str, Any]:
    """The figures a logger records per completed node: the node's outcome and the run's
    running totals (``tokens``: the LLM tokens, in and out, spent so far)."""
    return {
        "node": node.id,
        "status": node.status,
        "score": node.score,
        "error_class": node.error_class,
        "duplicate_of": node.duplicate_of,
        "evaluations": tally.evaluations,
        "rounds": tally.rounds,
        "failed": tally.failed,
        "duplicates": tally.duplicates,
        "best_score": tally.best[0] if tally.best else None,
        "best_node": tally.best[1] if tally.best else None,
        "cost_usd": tally.cost_usd,
        "tokens": tally.tokens_in + tally.tokens_out,
    }


class JsonlLogger:
    """``logger=jsonl``: one JSON line per session start, completed node and session end,
    appended to ``<run_dir>/events.jsonl`` (a resume appends to the same file)."""

    def __init__(self, config: dict[str, Any], run_dir: Path) -> None:
        self.run_dir = run_dir
        self.file = (run_dir / "events.jsonl").open("a", encoding="utf-8")

    def _write(self, event: str, **fields: Any) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        self.file.write(json.dumps({"event": event, "time": now, **fields}, default=str) + "\n")
        self.file.flush()

    def run_started(self, info: RunInfo) -> None:
        self._write(
            "run_started",
            task=info.task,
            resume=info.resume,
            seed=info.seed,
            overrides=info.overrides,
        )

    def node_completed(self, node: Node, tally: Tally) -> None:
        self._write("node_completed", **node_record(node, tally))

    def run_finished(self, status: str, reason: str | None, summary: dict[str, Any]) -> None:
        self._write("run_finished", status=status, reason=reason, summary=summary)

    def close(self) -> None:
        self.file.close()


_Call = Callable[[Logger], None]


class LoggerGuard:
    """The run's logger behind a queue and one thread; ``logger=none`` makes it a no-op.

    Built when the run is (an unknown logger name is a :class:`RunError` before anything
    runs); the factory itself runs on the thread, so importing a heavy tracking library
    costs the run nothing.
    """

    def __init__(self, config: dict[str, Any], run_dir: Path) -> None:
        self.name = str(config.get("name") or NONE)
        self.config = config
        self.run_dir = run_dir
        self.factory: Callable[..., Any] | None = None
        if self.name != NONE:
            try:
                self.factory = plugins.get_logger_factory(self.name)
            except plugins.UnknownNameError as exc:
                raise RunError(str(exc)) from exc
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self, task: str, settings: RunSettings, resume: bool, overrides: list[str]) -> None:
        """Start the thread and hand it the session's :class:`RunInfo`."""
        if self.factory is None:
            return
        config = OmegaConf.to_container(settings.cfg, resolve=True, enum_to_str=True)
        info = RunInfo(
            task=task,
            run_dir=self.run_dir,
            resume=resume,
            config=redact_data(cast(dict[str, Any], config)),
            overrides=list(overrides),
            seed=settings.seed,
        )
        self._thread = threading.Thread(
            target=self._work, name=f"harness-logger-{self.name}", daemon=True
        )
        self._thread.start()
        self._queue.put(lambda logger: logger.run_started(info))

    def node_completed(self, node: Node, tally: Tally) -> None:
        if self._thread is not None:
            node, tally = copy.deepcopy(node), dataclasses.replace(tally)
            self._queue.put(lambda logger: logger.node_completed(node, tally))

    def finish(self, status: str, reason: str | None, db: sqlite_utils.Database) -> None:
        """Hand over the session's end, then wait (up to :data:`FLUSH_TIMEOUT_S`) for the
        logger to write everything queued and close."""
        if self._thread is None:
            return
        try:
            summary = store.summary(db)
        except (sqlite3.Error, OSError) as exc:
            log.debug("no summary for the logger: %s", exc)
            summary = {}
        self._queue.put(lambda logger: logger.run_finished(status, reason, summary))
        self._queue.put(None)
        self._thread.join(FLUSH_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning(
                "logger %s did not finish within %.0f s; what it had not written is lost",
                self.name,
                FLUSH_TIMEOUT_S,
            )
        self._thread = None

    def _work(self) -> None:
        logger: Logger | None = None
        try:
            logger = self.factory(self.config, self.run_dir) if self.factory else None
        except Exception as exc:
            self._disable(None, exc)
        while (call := self._queue.get()) is not None:
            if logger is None:
                continue
            try:
                call(logger)
            except Exception as exc:
                self._disable(logger, exc)
                logger = None
        if logger is not None:
            try:
                logger.close()
            except Exception as exc:
                self._disable(None, exc)

    def _disable(self, logger: Logger | None, exc: Exception) -> None:
        """Log ``exc`` once and close ``logger``; the run goes on without it."""
        log.warning("logger %s failed and is off for the rest of the run: %r", self.name, exc)
        if logger is not None:
            with contextlib.suppress(Exception):
                logger.close()
