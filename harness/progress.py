"""Run progress: a live status line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from harness import db as store
from harness.budget import Tally
from harness.estimate import LEVEL, Estimate
from harness.nodes import Node

log = logging.getLogger("harness")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


class Progress:
    """Reports each completed node; on a TTY it redraws one line instead of scrolling."""

    def __init__(self, best_known: float | None = None, stream: Any = None) -> None:
        self.best_known = best_known
        self.stream = stream or sys.stdout
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.best: float | None = None

    def _line(self, tally: Tally) -> str:
        elapsed = int(time.monotonic() - self.started)
        best = tally.best[0] if tally.best else None
        gap = ""
        if best is not None and self.best_known:
            gap = f" (best known {self.best_known:.6f})"
        extra = f" | duplicates {tally.duplicates}" if tally.duplicates else ""
        if tally.cost_usd:
            extra += f" | ${tally.cost_usd:.4f}"
        return (
            f"rounds {tally.rounds} | evaluated {tally.evaluations} | "
            f"failed {tally.failed}{extra} | best {_score(best)}{gap} | "
            f"seed {_score(tally.seed_score)} | {elapsed // 60:02d}:{elapsed % 60:02d}"
        )

    def start(self, task: str, run_dir: Path, tally: Tally) -> None:
        self.started = time.monotonic()
        self.best = tally.best[0] if tally.best else None
        log.info("task %s, run directory %s", task, run_dir)

    def node_done(self, node: Node, tally: Tally) -> None:
        improved = (
            not node.duplicate
            and node.eligible
            and node.score is not None
            and (self.best is None or node.score > self.best)
        )
        if improved:
            self.best = node.score
        if self.live:
            if improved:
                self.stream.write("\r\033[K")
                log.info("node %d: new best %.6f (%s)", node.id, node.score, node.name)
            self.stream.write("\r\033[K" + self._line(tally))
            self.stream.flush()
            return
        if node.duplicate:
            outcome = f"duplicate of node {node.duplicate_of}"
        elif node.success:
            outcome = f"score {_estimate(node)}"
            verdict = (node.confirmation or {}).get("verdict")
            if verdict in ("confirmed", "rejected"):
                outcome += f", {verdict} on fresh seeds"
        else:
            outcome = f"failed [{node.error_class}]"
        log.info(
            "node %d %s%s | %s", node.id, outcome, " *best*" if improved else "", self._line(tally)
        )

    def finish(
        self, status: str, reason: str | None, tally: Tally, report: str | None = None
    ) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
        log.info("run %s%s | %s", status, f": {reason}" if reason else "", self._line(tally))
        if report:
            log.info("%s", report)


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
