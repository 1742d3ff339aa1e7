"""Start-up and memory: ``harness --help``, ``harness status RUN``, the first evaluated node
of a circle-packing run, and the memory of its worker processes.

Every figure comes from the installed ``harness`` console script run as a subprocess, as a
user starts it (``--harness`` picks another one, e.g. another checkout's venv, to compare):

* ``help_wall_s``/``help_max_rss_mib``, ``status_wall_s``/``status_max_rss_mib``: wall time
  and the process's own peak RSS (``wait4``'s ``ru_maxrss``); ``status`` reads the run that
  this script made just before.
* ``first_node_s``: from just before the ``harness run +task=circle_packing`` process is
  started to the earliest ``evaluated_at`` in its store (the seed's evaluation, committed).
* ``first_node_cpu_s`` (no limit): the CPU seconds the run's process tree had used by then
  (the last sample before it): what the first node costs on a machine busy with other work.
* ``two_worker_tree_peak_mib``: the peak, over samples every 20 ms, of the summed RSS of the
  run's whole process tree (orchestrator, its 2 workers, candidates, helpers).
* ``idle_worker_rss_mib``: the largest RSS sampled of a worker process while it had no
  child (no candidate running): an upper bound of one idle worker.

Each figure is the median of ``--repeat`` runs (default 3; ``--quick``: 1 run of 4
evaluations). The acceptance (issue #23) is for 2 cores with every plugin installed.

    python benchmarks/startup.py [--repeat 5] [--quick] [--json PATH] [--harness PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

MIB = 1024 * 1024
SAMPLE_S = 0.02

#: figure -> acceptance limit (issue #23)
LIMITS = {
    "help_wall_s": 0.5,
    "help_max_rss_mib": 70.0,
    "status_wall_s": 0.5,
    "status_max_rss_mib": 70.0,
    "first_node_s": 2.0,
    "idle_worker_rss_mib": 60.0,
    "two_worker_tree_peak_mib": 300.0,
}


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command that must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


@dataclass
class TreeWatch:
    """Peak RSS of a process tree, and of its workers while they run no candidate."""

    root: psutil.Process
    tree_peak: int = 0
    idle_worker_peak: int = 0
    workers: set[int] = field(default_factory=set)
    #: (Unix time, CPU seconds of the tree's live processes so far) of each sample
    cpu: list[tuple[float, float]] = field(default_factory=list)

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        parents: dict[int, int] = {}
        total, cpu = 0, 0.0
        for proc in procs:
            try:
                total += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
                parents[proc.pid] = proc.ppid()
            except psutil.NoSuchProcess:
                continue
        self.tree_peak = max(self.tree_peak, total)
        self.cpu.append((time.time(), cpu))
        for proc in procs:
            if self._is_worker(proc) and proc.pid not in parents.values():
                try:
                    self.idle_worker_peak = max(self.idle_worker_peak, proc.memory_info().rss)
                    self.workers.add(proc.pid)
                except psutil.NoSuchProcess:
                    continue

    def _is_worker(self, proc: psutil.Process) -> bool:
        """A multiprocessing worker: started by the orchestrator or by its fork server,
        and neither the resource tracker nor the fork server itself."""
        try:
            cmdline = " ".join(proc.cmdline())
            parent = proc.ppid()
        except psutil.NoSuchProcess:
            return False
        if "multiprocessing" not in cmdline or "resource_tracker" in cmdline:
            return False
        if "forkserver" in cmdline:
            return parent != self.root.pid  # the server's children are the workers
        return parent == self.root.pid


def first_evaluated(db_path: Path) -> float:
    """The earliest ``evaluated_at`` in a run store, as a Unix time."""
    with sqlite3.connect(db_path) as db:
        (stamp,) = db.execute("select min(evaluated_at) from nodes").fetchone()
    return datetime.fromisoformat(stamp).timestamp()


def run_once(harness: str, work: Path, evaluations: int) -> dict[str, float]:
    """One circle-packing run with 2 workers, then ``status`` on it and ``--help``."""
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    argv = [
        harness,
        "run",
        "+task=circle_packing",
        f"run.max_evaluations={evaluations}",
        "run.workers=2",
        f"hydra.run.dir={run_dir}",
    ]
    started = time.time()
    process = subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch = TreeWatch(psutil.Process(process.pid))
    while process.poll() is None:
        watch.sample()
        time.sleep(SAMPLE_S)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    first = first_evaluated(run_dir / "harness.db")
    figures = {
        "first_node_s": first - started,
        "first_node_cpu_s": max((cpu for at, cpu in watch.cpu if at <= first), default=0.0),
        "two_worker_tree_peak_mib": watch.tree_peak / MIB,
        "idle_worker_rss_mib": watch.idle_worker_peak / MIB,
    }
    figures["status_wall_s"], figures["status_max_rss_mib"] = timed(
        [harness, "status", str(run_dir)], work
    )
    figures["help_wall_s"], figures["help_max_rss_mib"] = timed([harness, "--help"], work)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs; each figure's median")
    parser.add_argument("--evaluations", type=int, default=10, help="per circle-packing run")
    parser.add_argument("--quick", action="store_true", help="1 run of 4 evaluations")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--harness",
        default=str(Path(sys.executable).with_name("harness")),
        help="the console script to measure (default: this venv's)",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.evaluations = 1, 4

    samples: dict[str, list[float]] = {name: [] for name in [*LIMITS, "first_node_cpu_s"]}
    with tempfile.TemporaryDirectory(prefix="harness-startup-") as tmp:
        for _ in range(args.repeat):
            for name, value in run_once(args.harness, Path(tmp), args.evaluations).items():
                samples[name].append(value)
    figures = {name: round(statistics.median(values), 3) for name, values in samples.items()}
    checks = {
        name: {"value": figures[name], "limit": limit, "ok": figures[name] <= limit}
        for name, limit in LIMITS.items()
    }
    print(f"startup benchmark: {args.harness}, median of {args.repeat}")
    print(f"  {'first_node_cpu_s':<26} {figures['first_node_cpu_s']:>9.3f}  (no limit)")
    for name, check in checks.items():
        verdict = "ok" if check["ok"] else "OVER"
        print(f"  {name:<26} {check['value']:>9.3f}  (limit {check['limit']}: {verdict})")
    if args.json:
        params = {"repeat": args.repeat, "evaluations": args.evaluations, "cpus": os.cpu_count()}
        args.json.write_text(
            json.dumps(
                {"benchmark": "startup", "figures": figures, "params": params, "checks": checks},
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
