"""Run progress: a live display on a terminal, plain log lines otherwise.

On a TTY, :mod:`rich` draws a bar of the budget spent with the rate, the ETA and the run's
figures, and log lines (new bests, the seed program) scroll above it. Anywhere else (a log
file, CI, Slurm) every event is one plain line through the ``harness`` logger, with no
escape codes, so the lines stay greppable.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlite_utils

from harness import db as store
from harness.budget import Budget, Tally
from harness.estimate import LEVEL, Estimate
from harness.nodes import Node

log = logging.getLogger("harness")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"{hours}:{text}" if hours else text


@dataclass(frozen=True)
class Share:
    """How much of one budget is spent: ``done`` of ``total`` in ``unit``."""

    done: float
    total: float
    #: ``evaluations``, ``rounds``, ``s`` (run.max_seconds) or ``$`` (run.max_cost_usd).
    unit: str

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 1.0

    def __str__(self) -> str:
        if self.unit == "$":
            return f"${self.done:.4f}/${self.total:.4f}"
        if self.unit == "s":
            return f"{_clock(self.done)}/{_clock(self.total)}"
        return f"{int(self.done)}/{int(self.total)} {self.unit}"


def shares(budget: Budget | None, tally: Tally, elapsed_s: float) -> dict[str, Share]:
    """Each budget the run has (``run.max_evaluations``, ``max_rounds``, ``max_seconds``,
    ``max_cost_usd``), by unit, with how much of it is spent."""
    if budget is None:
        return {}
    limits = {
        "evaluations": (tally.evaluations, budget.max_evaluations),
        "rounds": (tally.rounds, budget.max_rounds),
        "s": (elapsed_s, budget.max_seconds),
        "$": (tally.cost_usd, budget.max_cost_usd),
    }
    return {
        unit: Share(done, total, unit)
        for unit, (done, total) in limits.items()
        if total is not None and total > 0
    }


def binding(budget: Budget | None, tally: Tally, elapsed_s: float) -> Share | None:
    """The budget nearest to running out, the one that will stop the run; ``None`` when
    no budget is set (the run stops on a target score, a failure streak or a signal)."""
    found = shares(budget, tally, elapsed_s).values()
    return max(found, key=lambda share: share.fraction, default=None)


@dataclass(frozen=True)
class Snapshot:
    """What both displays show at one moment."""

    tally: Tally
    elapsed_s: float
    share: Share | None
    rate: float | None
    eta_s: float | None
    best_known: float | None

    @property
    def best(self) -> float | None:
        return self.tally.best[0] if self.tally.best else None

    @property
    def gap(self) -> str:
        """The best known score and the gap to it; a best known score of 0 is a score."""
        if self.best_known is None:
            return ""
        gap = "" if self.best is None else f", gap {self.best_known - self.best:.6f}"
        return f"best known {self.best_known:.6f}{gap}"

    @property
    def tokens(self) -> str:
        return f"tokens {self.tally.tokens_in} in / {self.tally.tokens_out} out"

    @property
    def used_llm(self) -> bool:
        return bool(self.tally.tokens_in or self.tally.tokens_out or self.tally.cost_usd)

    def line(self) -> str:
        """The plain line: today's fields, then the budget, the rate and the ETA."""
        tally = self.tally
        parts = [
            f"rounds {tally.rounds}",
            f"evaluated {tally.evaluations}",
            f"failed {tally.failed}",
        ]
        if tally.duplicates:
            parts.append(f"duplicates {tally.duplicates}")
        if tally.rejected:
            parts.append(f"rejected (novelty) {tally.rejected}")
        if self.used_llm:
            parts += [self.tokens, f"${tally.cost_usd:.4f}"]
        gap = f" ({self.gap})" if self.gap else ""
        parts += [f"best {_score(self.best)}{gap}", f"seed {_score(tally.seed_score)}"]
        if self.share is not None:
            parts.append(f"{self.share} ({self.share.fraction:.0%})")
        if self.rate is not None:
            parts.append(f"{self.rate:.2f} evals/s")
        if self.eta_s is not None:
            parts.append(f"ETA {_clock(self.eta_s)}")
        parts.append(_clock(self.elapsed_s))
        return " | ".join(parts)


def _isatty(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def _terminal_handlers() -> list[logging.StreamHandler[Any]]:
    """The console handlers (Hydra's) that write the ``harness`` logger's lines to a TTY."""
    found = []
    for logger in (logging.getLogger(), log):
        for handler in logger.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and _isatty(handler.stream)
            ):
                found.append(handler)
    return found


class _Screen:
    """rich's live display, redrawn a few times a second from the run's tally, with the
    console's log handlers routed above it while it runs (a line written straight to the
    terminal would tear the bar)."""

    def __init__(self, stream: IO[str], progress: Progress) -> None:
        from rich.console import Console
        from rich.live import Live

        self.progress = progress
        self.console = Console(file=stream, highlight=False)
        self.live = Live(console=self.console, get_renderable=self.render, refresh_per_second=4)
        self.routed: list[tuple[logging.StreamHandler[Any], Any]] = []

    def start(self) -> None:
        from rich.file_proxy import FileProxy

        self.live.start()
        for handler in _terminal_handlers():
            proxy = FileProxy(self.console, handler.stream)
            self.routed.append((handler, handler.setStream(proxy)))

    def stop(self) -> None:
        for handler, stream in self.routed:
            handler.setStream(stream)  # flushes what the proxy holds, above the bar
        self.routed.clear()
        self.live.stop()

    def render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        snap = self.progress.snapshot()
        share = snap.share
        bar = ProgressBar(
            total=share.total if share else None,
            completed=share.done if share else 0,
            width=30,
            animation_time=time.monotonic(),
        )
        head = Table.grid(padding=(0, 1))
        cells: list[Any] = [Text(self.progress.phase, style="bold"), bar]
        if share is not None:
            cells += [Text(str(share)), Text(f"{share.fraction:.0%}", style="magenta")]
        cells += [
            Text("-" if snap.rate is None else f"{snap.rate:.2f} evals/s"),
            Text(f"ETA {'-' if snap.eta_s is None else _clock(snap.eta_s)}", style="cyan"),
            Text(_clock(snap.elapsed_s), style="dim"),
        ]
        for _ in cells:
            head.add_column(no_wrap=True)
        head.add_row(*cells)
        tally = snap.tally
        facts = [f"best {_score(snap.best)}"]
        facts += [snap.gap] if snap.gap else []
        facts += [
            f"seed {_score(tally.seed_score)}",
            f"failed {tally.failed}",
            f"duplicates {tally.duplicates}",
            *([f"rejected (novelty) {tally.rejected}"] if tally.rejected else []),
            snap.tokens,
            f"${tally.cost_usd:.4f}",
        ]
        return Group(head, Text(" | ".join(facts)))


class Progress:
    """Reports the run's events: on a TTY a live bar of its budget (``budget``, the run's
    ``run.*`` limits), elsewhere one log line per event."""

    def __init__(
        self, best_known: float | None = None, budget: Budget | None = None, stream: Any = None
    ) -> None:
        self.best_known = best_known
        self.budget = budget
        self.stream = stream or sys.stdout
        self.live = _isatty(self.stream)
        self.started = time.monotonic()
        self.best: float | None = None
        self.task = self.phase = ""
        self.seed_name = ""
        #: The live tally, and a copy of it at the start (rates count this session only).
        self.tally = Tally()
        self.first = Tally()
        self.screen: _Screen | None = None

    def snapshot(self, tally: Tally | None = None) -> Snapshot:
        tally = self.tally if tally is None else tally
        elapsed = time.monotonic() - self.started
        share = binding(self.budget, tally, elapsed)
        done = tally.evaluations - self.first.evaluations
        rate = done / elapsed if done > 0 and elapsed > 0 else None
        return Snapshot(tally, elapsed, share, rate, self._eta(share, elapsed), self.best_known)

    def _eta(self, share: Share | None, elapsed: float) -> float | None:
        """Time left at this session's pace through the binding budget."""
        if share is None:
            return None
        if share.unit == "s":
            return max(0.0, share.total - share.done)
        gained = share.fraction - shares(self.budget, self.first, 0.0)[share.unit].fraction
        return elapsed * (1 - share.fraction) / gained if gained > 0 else None

    def start(self, task: str, run_dir: Path, tally: Tally) -> None:
        self.started = time.monotonic()
        self.tally, self.first = tally, dataclasses.replace(tally)
        self.best = tally.best[0] if tally.best else None
        self.task = self.phase = task
        log.info("task %s, run directory %s", task, run_dir)
        if self.live:
            self.screen = _Screen(self.stream, self)
            self.screen.start()

    def seed(self, name: str) -> None:
        """The seed program is being evaluated: on an ML task that can take minutes."""
        self.seed_name = name
        self.phase = f"evaluating the seed program {name} ..."
        log.info("evaluating the seed program %s ...", name)

    def node_done(self, node: Node, tally: Tally) -> None:
        self.tally = tally
        improved = (
            not node.duplicate
            and node.eligible
            and node.score is not None
            and (self.best is None or node.score > self.best)
        )
        if improved:
            self.best = node.score
        if node.id == 0:
            self.phase = self.task
        head = f"seed program {self.seed_name}:" if node.id == 0 and self.seed_name else None
        if self.live:
            if head:
                log.info("%s %s", head, _outcome(node))
            elif improved:
                log.info("node %d: new best %.6f (%s)", node.id, node.score, node.name)
            return
        log.info(
            "%s %s%s | %s",
            head or f"node {node.id}",
            _outcome(node),
            " *best*" if improved else "",
            self.snapshot(tally).line(),
        )

    def finish(
        self, status: str, reason: str | None, tally: Tally, report: str | None = None
    ) -> None:
        self.tally = tally
        if self.screen is not None:
            self.screen.stop()
            self.screen = None
        log.info(
            "run %s%s | %s", status, f": {reason}" if reason else "", self.snapshot(tally).line()
        )
        if report:
            log.info("%s", report)


def _outcome(node: Node) -> str:
    if node.duplicate:
        return f"duplicate of node {node.duplicate_of}"
    if node.rejected:
        novelty = node.metrics.get("novelty", {})
        return f"rejected: {novelty.get('similarity')} similar to node {novelty.get('nearest')}"
    if not node.success:
        return f"failed [{node.error_class}]"
    outcome = f"score {_estimate(node)}"
    verdict = (node.confirmation or {}).get("verdict")
    if verdict in ("confirmed", "rejected"):
        outcome += f", {verdict} on fresh seeds"
    return outcome


def _estimate(node: Node) -> str:
    """A node's score, with its interval and sample count on a stochastic task."""
    if node.score is None or node.score_n is None:
        return _score(node.score)
    return Estimate(node.score, node.score_se, node.score_n).format(6)


def versus_seed(versus: dict[str, Any]) -> str:
    """``store.estimates``' paired comparison of the best with the seed program, as words:
    the gain with its interval, the test, its p-value and the verdict at its level."""
    level = versus["level"]
    gain = Estimate(versus["gain"], versus["gain_se"], versus["n"]).format(6, level)
    p = "n/a" if versus["p_value"] is None else f"{versus['p_value']:.3g}"
    verdict = "significant" if versus["significant"] else "not significant"
    return f"{gain}, one-sided paired t-test p = {p}: {verdict} at alpha {1 - level:.2g}"


def final_report(best: tuple[int, float] | None, found: dict[str, Any]) -> str | None:
    """The best's estimate and whether it beats the seed program (a paired one-sided t-test
    on their shared seeds, at the stated level), for a stochastic task; else ``None``."""
    if best is None or "best_score_n" not in found:
        return None
    versus = found.get("best_vs_seed")
    level = versus["level"] if versus else LEVEL
    head = Estimate(best[1], found.get("best_score_se"), found["best_score_n"])
    text = f"best node {best[0]}: {head.format(6, level)} ({level:.0%} interval)"
    if versus is None:
        return text + ", the seed program itself" if best[0] == 0 else text
    return f"{text}; gain over the seed program on their shared seeds {versus_seed(versus)}"


def report(db: sqlite_utils.Database, level: float) -> str | None:
    """The run's last line on a stochastic task (:func:`final_report`), read from its store;
    ``None`` for a deterministic task or a store that cannot be read."""
    try:
        best = store.best_node(db)
        found = store.estimates(db, best[0] if best else None, level)
    except sqlite3.Error:
        return None
    return final_report(best, found)
