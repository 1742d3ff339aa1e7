"""Harness vs OpenEvolve on the same loopback LLM stub: rounds/s, start-up, CPU and memory.

Runs, back to back in one invocation, ``harness run +task=bench llm=openai`` and OpenEvolve
(``OpenEvolve(...).run()``, in a subprocess with OpenEvolve's own interpreter, so it never
shares this project's environment) for the same number of rounds, each against a fresh
instance of the same OpenAI-compatible stub on 127.0.0.1, and prints their figures and the
ratios harness/OpenEvolve. Not run in CI: OpenEvolve is no dependency of this project.
Install it into a venv of its own first::

    python3 -m venv /var/tmp/oe-venv && /var/tmp/oe-venv/bin/pip install openevolve
    python benchmarks/vs_openevolve.py [--rounds 1000 | --quick] [--workers 2]
        [--openevolve-python /var/tmp/oe-venv/bin/python] [--analyzer none]
        [--first harness|openevolve] [--json PATH] [--keep]

It exits with code 2, saying so, when OpenEvolve cannot be imported by that interpreter.

The same work on both sides. The stub (``stub_llm.py``, a raw asyncio HTTP/1.1 keep-alive
server in its own process, answering at once from bytes built in advance) answers every
chat completion with the trivial program ``def f(): return 1.0`` plus ``ROUND = <n>``, n
counting its requests, as the only ```python fence: OpenEvolve's full-rewrite parser
(``diff_based_evolution: false``) and harness's ``llm.edit_mode=full`` parser both take it,
so every round evaluates a new program. The same answer has an ``<analysis>``, for
harness's analyzer when ``--analyzer`` enables it. Evaluation costs nothing on either side
(the program's length modulo 97 is the score; the program is never run): harness's
``bench`` task (``benchmarks/harness_bench``), and ``vs_openevolve/evaluator.py``.
Parallelism: harness ``run.workers=W`` (its main process makes the LLM calls, with
``run.buffer``'s default of rounds proposed ahead); OpenEvolve
``evaluator.parallel_evaluations=W`` worker processes, each doing its iteration's LLM call
and evaluation (its controller keeps one iteration per island submitted, 5 islands).
Everything else is each system's default (``vs_openevolve/config.yaml`` lists what is set
for OpenEvolve).

Figures, per system, all from the one run:

- ``rounds_per_s``: candidates after the first / seconds from the first candidate's
  evaluation to the last's (start-up excluded); ``wall_s``: process start to exit;
- ``first_candidate_s`` (``seed_evaluated_s``): process start to the first evaluated LLM
  candidate (to the evaluated seed);
- ``decay_pct``: how much slower the last tenth of the rounds ran than the second tenth
  (the first holds the warm-up);
- ``orchestrator_cpu_ms_per_round``: CPU of the system's main process per round between the
  first and the last candidate (harness makes its LLM calls there; OpenEvolve in its
  workers, so also ``tree_cpu_ms_per_round``: the whole process tree, same window);
  ``*_cpu_growth_pct``: how much more CPU a round took in the last tenth than in the
  second, a measure of growth with the database that, unlike ``decay_pct``, the load of
  a shared machine hardly moves;
- ``peak_rss_mib``: the peak of the summed RSS of the process tree (sampled every 20 ms);
- ``stub_cpu_s``: the stub's CPU seconds in that system's phase, to show it is no bottleneck.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench_env import use_bench_plugin
from stub_llm import Stub

HERE = Path(__file__).resolve().parent
DATA = HERE / "vs_openevolve"
DEFAULT_OE_PYTHON = "/var/tmp/oe-venv/bin/python"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- measuring a process tree ----------------------------------------------------------------


def _stat(pid: int | str) -> list[bytes] | None:
    """``/proc/PID/stat``'s fields after the command name (ppid at 1), ``None`` once gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()


def _cpu(fields: list[bytes], children: bool = True) -> float:
    """utime + stime (+ cutime + cstime: the reaped descendants) in seconds."""
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


@dataclass
class Sample:
    at: float
    main_cpu_s: float
    tree_cpu_s: float
    rss: int
    processes: int


class TreeMonitor:
    """Samples a process tree every 20 ms in a thread: its main process's own CPU, the
    tree's CPU (live members and what they reaped) and the tree's summed RSS. The members
    are found by a scan of /proc every 10th sample, so most samples read only their stat
    files; a member that appears and is reaped between scans has its CPU counted in its
    parent's (reaped children's) CPU, only its RSS may be missed."""

    def __init__(self, root: int, interval: float = 0.02, rescan: int = 10) -> None:
        self.root, self.interval, self.rescan = root, interval, rescan
        self.members = [root]
        self.samples: list[Sample] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        count = 0
        while not self.stopping.wait(self.interval):
            if count % self.rescan == 0:
                self.members = self._tree()
            count += 1
            self.sample()

    def _tree(self) -> list[int]:
        kids: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (fields := _stat(entry.name)) is not None:
                kids.setdefault(int(fields[1]), []).append(int(entry.name))
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(kids.get(pid, ()))
        return tree

    def sample(self) -> None:
        now = time.time()
        root = _stat(self.root)
        if root is None:
            return
        stats = [root, *(fields for pid in self.members[1:] if (fields := _stat(pid)))]
        self.samples.append(
            Sample(
                now,
                _cpu(root, children=False),
                sum(_cpu(fields) for fields in stats),
                sum(int(fields[21]) * PAGE for fields in stats),
                len(stats),
            )
        )

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def at(self, when: float) -> Sample:
        """The last sample taken at or before ``when`` (the first one if none)."""
        return max(
            (s for s in self.samples if s.at <= when), key=lambda s: s.at, default=self.samples[0]
        )


@dataclass
class Measured:
    """One system's run: when it started and ended, when its evaluations landed, its samples."""

    name: str
    started: float
    ended: float = 0.0
    seed: float = 0.0
    candidates: list[float] = field(default_factory=list)
    failed: int = 0
    monitor: TreeMonitor | None = None
    main_cpu_s: float = 0.0
    tree_cpu_s: float = 0.0
    stub: Stub | None = None
    version: str = ""


def run_tree(
    name: str, command: list[str], env: dict[str, str], log: Path, timeout: float
) -> Measured:
    """Run ``command`` to its end under a :class:`TreeMonitor`; its CPU totals read from the
    exited main process before it is reaped (its own, and its reaped descendants')."""
    started = time.time()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    measured = Measured(name, started, monitor=TreeMonitor(proc.pid))
    deadline = started + timeout
    while _running(proc.pid):
        if time.time() > deadline:
            proc.kill()
            break
        time.sleep(0.05)
    measured.ended = time.time()
    assert measured.monitor is not None
    measured.monitor.stop()
    fields = _stat(proc.pid)
    assert fields is not None  # exited, not reaped yet
    measured.main_cpu_s, measured.tree_cpu_s = _cpu(fields, children=False), _cpu(fields)
    if proc.wait() != 0:
        sys.exit(f"{name} failed (exit code {proc.returncode}); its output is in {log}")
    return measured


def _running(pid: int) -> bool:
    """Whether ``pid`` has not exited yet; an exited one stays unreaped (a zombie)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is None


# --- the two systems ---------------------------------------------------------------------


def run_harness(args: argparse.Namespace, work: Path) -> Measured:
    """``harness run`` of ``args.rounds`` LLM candidates after the seed; times from its store."""
    stub = Stub.start()
    run_dir = work / "harness"
    overrides = [
        "+task=bench",
        "llm=openai",
        f"llm.base_url={stub.base_url}",
        "llm.model=stub",
        "llm.edit_mode=full",
        f"analyzer={args.analyzer}",
        f"run.workers={args.workers}",
        f"run.max_evaluations={args.rounds + 1}",
        f"hydra.run.dir={run_dir}",
    ]
    command = [shutil.which("harness", path=str(Path(sys.executable).parent)) or "harness"]
    env = {**os.environ, "OPENAI_API_KEY": "stub", "NO_PROXY": "127.0.0.1"}
    try:
        measured = run_tree(
            "harness", [*command, "run", *overrides], env, work / "harness.log", args.timeout
        )
    finally:
        stub.stop()
    measured.stub = stub
    with sqlite3.connect(run_dir / "harness.db") as db:
        rows = db.execute("select status, evaluated_at from nodes order by id").fetchall()
    stamps = [datetime.fromisoformat(at).timestamp() for status, at in rows if at]
    measured.seed, measured.candidates = stamps[0], stamps[1:]
    measured.failed = sum(status != "evaluated" for status, _ in rows[1:])
    measured.version = _version("harness-research")
    return measured


def openevolve_version(python: str) -> str | None:
    """OpenEvolve's version as ``python`` imports it, else ``None``."""
    try:
        done = subprocess.run(
            [python, "-c", "import openevolve; print(openevolve.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_openevolve(args: argparse.Namespace, work: Path) -> Measured:
    """OpenEvolve for ``args.rounds`` iterations, in its own interpreter; times from its driver."""
    stub = Stub.start()
    times = work / "openevolve-times.json"
    command = [
        args.openevolve_python,
        str(DATA / "run_openevolve.py"),
        f"--api-base={stub.base_url}",
        f"--iterations={args.rounds}",
        f"--workers={args.workers}",
        f"--output-dir={work / 'openevolve'}",
        f"--times={times}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_PLUGINS")}
    env["NO_PROXY"] = "127.0.0.1"
    try:
        measured = run_tree("OpenEvolve", command, env, work / "openevolve.log", args.timeout)
    finally:
        stub.stop()
    measured.stub = stub
    recorded = json.loads(times.read_text())
    measured.seed, measured.candidates = recorded["seed"], recorded["children"]
    measured.failed = args.rounds - len(recorded["children"])
    measured.version = recorded["version"]
    return measured


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


# --- figures -----------------------------------------------------------------------------


def figures(m: Measured) -> dict[str, float]:
    """The figures of one system's run (module docstring); the CPU growth only where the
    tenths are long enough to measure."""
    assert m.monitor is not None and m.stub is not None
    times = sorted(m.candidates)
    count = len(times)
    tenth = max(1, count // 10)
    # The second tenth, not the first: both systems still warm up in the first rounds.
    early_rate = tenth / (times[2 * tenth] - times[tenth])
    last_rate = tenth / (times[-1] - times[-1 - tenth])
    monitor = m.monitor

    def cpu_ms_per_round(first: int, last: int, tree: bool) -> float:
        # CPU between the samples before two candidates' evaluations, per round landed
        # between those two samples.
        before, after = monitor.at(times[first]), monitor.at(times[last])
        rounds = sum(before.at < t <= after.at for t in times) or 1
        if tree:
            return 1000 * (after.tree_cpu_s - before.tree_cpu_s) / rounds
        return 1000 * (after.main_cpu_s - before.main_cpu_s) / rounds

    def cpu_growth_pct(tree: bool) -> float | None:
        windows = [(tenth, 2 * tenth), (count - 1 - tenth, count - 1)]
        if any(times[last] - times[first] < 0.5 for first, last in windows):
            return None  # too short for samples 20 ms apart and 10 ms CPU ticks (--quick)
        early, late = (cpu_ms_per_round(first, last, tree) for first, last in windows)
        return 100 * (late / early - 1)

    found = {
        "rounds_per_s": (count - 1) / (times[-1] - times[0]),
        "wall_s": m.ended - m.started,
        "seed_evaluated_s": m.seed - m.started,
        "first_candidate_s": times[0] - m.started,
        "decay_pct": 100 * (1 - last_rate / early_rate),
        "orchestrator_cpu_ms_per_round": cpu_ms_per_round(0, count - 1, tree=False),
        "tree_cpu_ms_per_round": cpu_ms_per_round(0, count - 1, tree=True),
        "orchestrator_cpu_s": m.main_cpu_s,
        "tree_cpu_s": m.tree_cpu_s,
        "peak_rss_mib": max(s.rss for s in m.monitor.samples) / 2**20,
        "peak_processes": max(s.processes for s in m.monitor.samples),
        "stub_cpu_s": m.stub.cpu_s,
        "stub_requests": m.stub.requests,
        "candidates": count,
        "failed": m.failed,
    }
    for key, tree in (("orchestrator_cpu_growth_pct", False), ("tree_cpu_growth_pct", True)):
        growth = cpu_growth_pct(tree)
        if growth is not None:
            found[key] = growth
    return found


ROWS = [
    ("rounds_per_s", "rounds/s (first to last candidate)", "{:.1f}"),
    ("decay_pct", "last tenth slower than second by %", "{:+.1f}"),
    ("first_candidate_s", "start to first evaluated candidate s", "{:.2f}"),
    ("seed_evaluated_s", "start to evaluated seed s", "{:.2f}"),
    ("wall_s", "start to exit s", "{:.1f}"),
    ("orchestrator_cpu_ms_per_round", "main process CPU ms/round", "{:.2f}"),
    ("orchestrator_cpu_growth_pct", "  its last tenth vs second %", "{:+.1f}"),
    ("tree_cpu_ms_per_round", "process tree CPU ms/round", "{:.2f}"),
    ("tree_cpu_growth_pct", "  its last tenth vs second %", "{:+.1f}"),
    ("orchestrator_cpu_s", "main process CPU s (whole run)", "{:.1f}"),
    ("tree_cpu_s", "process tree CPU s (whole run)", "{:.1f}"),
    ("peak_rss_mib", "process tree peak RSS MiB", "{:.0f}"),
    ("peak_processes", "processes in the tree at most", "{:.0f}"),
    ("stub_cpu_s", "stub CPU s", "{:.1f}"),
    ("stub_requests", "stub requests", "{:.0f}"),
    ("candidates", "candidates evaluated", "{:.0f}"),
    ("failed", "rounds without a candidate", "{:.0f}"),
]
RATIOS = [
    "rounds_per_s",
    "first_candidate_s",
    "seed_evaluated_s",
    "wall_s",
    "orchestrator_cpu_ms_per_round",
    "tree_cpu_ms_per_round",
    "orchestrator_cpu_s",
    "tree_cpu_s",
    "peak_rss_mib",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 rounds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--analyzer", default="none", help="harness's analyzer group")
    parser.add_argument("--openevolve-python", default=DEFAULT_OE_PYTHON)
    parser.add_argument("--first", choices=["harness", "openevolve"], default="harness")
    parser.add_argument("--timeout", type=float, default=1800, help="per system, seconds")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 100
    oe_version = openevolve_version(args.openevolve_python)
    if oe_version is None:
        print(
            f"OpenEvolve cannot be imported by {args.openevolve_python}; install it into a "
            "venv of its own (python3 -m venv /var/tmp/oe-venv && /var/tmp/oe-venv/bin/pip "
            "install openevolve) and pass --openevolve-python",
            file=sys.stderr,
        )
        sys.exit(2)

    use_bench_plugin()
    work = Path(tempfile.mkdtemp(prefix="vs-openevolve-"))
    loads = [os.getloadavg()]
    phases = [run_harness, run_openevolve]
    measured = []
    for phase in phases if args.first == "harness" else phases[::-1]:
        measured.append(phase(args, work))
        loads.append(os.getloadavg())
    ours, theirs = measured if args.first == "harness" else measured[::-1]
    if not args.keep:
        shutil.rmtree(work)

    mine, other = figures(ours), figures(theirs)
    print(
        f"vs OpenEvolve: {args.rounds} rounds, workers={args.workers} (harness run.workers, "
        f"OpenEvolve evaluator.parallel_evaluations), harness analyzer={args.analyzer}; "
        f"harness {ours.version}, OpenEvolve {oe_version}; {args.first} ran first; "
        f"{os.cpu_count()} CPUs; 1-min load before/between/after: "
        + " / ".join(f"{load[0]:.1f}" for load in loads)
    )
    print(f"{'':38}{'harness':>10}{'OpenEvolve':>12}{'harness/OE':>12}")
    ratios = {key: mine[key] / other[key] for key in RATIOS if other[key]}
    for key, label, form in ROWS:
        ratio = f"{ratios[key]:.2f}" if key in ratios else ""
        ours_, theirs_ = (form.format(f[key]) if key in f else "n/a" for f in (mine, other))
        print(f"{label:38}{ours_:>10}{theirs_:>12}{ratio:>12}")

    if args.json:
        checks = {
            f"{name}: every round evaluated a new candidate": {
                "value": figs["candidates"] - figs["failed"],
                "limit": args.rounds,
                "ok": figs["candidates"] == args.rounds and not figs["failed"],
            }
            for name, figs in (("harness", mine), ("OpenEvolve", other))
        }
        checks["stub CPU share of a phase's wall time (no bottleneck)"] = {
            "value": max(f["stub_cpu_s"] / f["wall_s"] for f in (mine, other)),
            "limit": 0.5,
            "ok": all(f["stub_cpu_s"] / f["wall_s"] <= 0.5 for f in (mine, other)),
        }
        result = {
            "benchmark": "vs_openevolve",
            "figures": {
                **{f"harness_{k}": v for k, v in mine.items()},
                **{f"openevolve_{k}": v for k, v in other.items()},
                **{f"ratio_{k}": v for k, v in ratios.items()},
            },
            "params": {
                "rounds": args.rounds,
                "workers": args.workers,
                "analyzer": args.analyzer,
                "first": args.first,
                "harness_version": ours.version,
                "openevolve_version": oe_version,
                "cpus": os.cpu_count(),
                "load_1min": [load[0] for load in loads],
            },
            "checks": checks,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
