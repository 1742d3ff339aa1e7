"""Run progress: a live status line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from harness.budget import Tally
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
            outcome = f"score {_score(node.score)}"
        else:
            outcome = f"failed [{node.error_class}]"
        log.info(
            "node %d %s%s | %s", node.id, outcome, " *best*" if improved else "", self._line(tally)
        )

    def finish(self, status: str, reason: str | None, tally: Tally) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
        log.info("run %s%s | %s", status, f": {reason}" if reason else "", self._line(tally))
