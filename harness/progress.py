"""Run progress: a live status line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("harness")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


class Progress:
    """Reports each completed node; on a TTY it redraws one line instead of scrolling."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.best: float | None = None

    def _line(self, stats: dict[str, Any]) -> str:
        elapsed = int(time.monotonic() - self.started)
        gap = ""
        if stats.get("best") is not None and stats.get("best_known"):
            gap = f" (best known {stats['best_known']:.6f})"
        extra = f" | duplicates {stats['duplicates']}" if stats.get("duplicates") else ""
        if stats.get("cost_usd"):
            extra += f" | ${stats['cost_usd']:.4f}"
        return (
            f"rounds {stats['rounds']} | evaluated {stats['evaluated']} | "
            f"failed {stats['failed']}{extra} | best {_score(stats['best'])}{gap} | "
            f"seed {_score(stats['seed'])} | {elapsed // 60:02d}:{elapsed % 60:02d}"
        )

    def start(self, task: str, run_dir: Path, stats: dict[str, Any]) -> None:
        self.started = time.monotonic()
        self.best = stats.get("best")
        log.info("task %s, run directory %s", task, run_dir)

    def node_done(self, node: dict[str, Any], stats: dict[str, Any]) -> None:
        duplicate = node["status"] == "duplicate"
        improved = (
            not duplicate
            and node["score"] is not None
            and (self.best is None or node["score"] > self.best)
        )
        if improved:
            self.best = node["score"]
        if self.live:
            if improved:
                self.stream.write("\r\033[K")
                log.info("node %d: new best %.6f (%s)", node["id"], node["score"], node["name"])
            self.stream.write("\r\033[K" + self._line(stats))
            self.stream.flush()
            return
        if duplicate:
            outcome = f"duplicate of node {node['duplicate_of']}"
        elif node["success"]:
            outcome = f"score {_score(node['score'])}"
        else:
            outcome = f"failed [{node['error_class']}]"
        log.info("node %d %s%s | %s", node["id"], outcome, " *best*" if improved else "",
                 self._line(stats))

    def finish(self, status: str, reason: str | None, stats: dict[str, Any]) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
        log.info("run %s%s | %s", status, f": {reason}" if reason else "", self._line(stats))
