"""Loop overhead: rounds per second with an instant proposer and a trivial evaluation.

Runs one real run (SQLite store, sampler, cognition, worker processes) and prints the
throughput of each segment of ``--segment`` rounds, so growth of per-round cost with the
database size shows up as a falling rate. The figures compare the first segment after a
``--warmup`` of 1,000 nodes with the last one, and give the orchestrator's (this
process's) peak memory (SQLite's page cache of up to 64 MiB included), CPU per round and
the node views it holds (an LRU of ``harness.runstate.VIEWS``; a node shown that is not
held is read from the store).

    python benchmarks/overhead.py [--nodes 10000] [--segment 1000] [--workers 2] [--json PATH]
    python benchmarks/overhead.py --quick                     # 3,000 nodes, a smoke test
    python benchmarks/overhead.py --nodes 100000 --segment 10000   # the acceptance run

Acceptance (issue #23): at 100,000 nodes the last 10k segment runs within 10 % of the
1k-11k one, at >= 400 rounds/s.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_env import Check, use_bench_plugin, write_json

#: The acceptance: the last segment's rate over the first's at least this, and this fast.
MIN_RATIO, MIN_RATE = 0.9, 400.0


def rate(stamps: list[datetime], start: int, end: int) -> float:
    """Rounds per second between the evaluations of nodes ``start`` and ``end``."""
    seconds = (stamps[end] - stamps[start]).total_seconds()
    return (end - start) / seconds if seconds > 0 else float("inf")


def deep_size(views: list[Any]) -> int:
    """Bytes held by the node views (each view, its texts and its metrics)."""
    total = 0
    for view in views:
        total += sys.getsizeof(view) + sys.getsizeof(view.__dict__)
        total += sum(sys.getsizeof(value) for value in vars(view).values())
        total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in view.metrics.items())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--segment", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000, help="nodes before the first segment")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sampler", default="ucb1")
    parser.add_argument("--quick", action="store_true", help="3,000 nodes in segments of 500")
    parser.add_argument("--json", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.segment = 3000, 500
    if args.nodes < args.warmup + args.segment + 1:
        parser.error(f"--nodes must exceed --warmup + --segment ({args.warmup + args.segment})")

    use_bench_plugin()

    from hydra import compose, initialize_config_module

    from harness import db as store
    from harness.config import register_schemas
    from harness.loop import Run
    from harness.runstate import VIEWS

    register_schemas()
    overrides = [
        "+task=bench",
        "llm=instant",
        f"sampler={args.sampler}",
        f"run.max_evaluations={args.nodes}",
        f"run.workers={args.workers}",
        "analyzer=none",
    ]
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix="harness-overhead-"))
    run = Run(cfg, run_dir)
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run.execute())
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before reading here

    db = store.open_db(run_dir)
    stamps = [
        datetime.fromisoformat(row[0])
        for row in db.execute("select evaluated_at from nodes order by id").fetchall()
    ]
    last = len(stamps) - 1
    print(
        f"overhead benchmark: {len(stamps)} nodes, sampler={args.sampler}, "
        f"workers={args.workers}, {total:.1f} s total"
    )
    print(f"{'nodes':>13}  {'rounds/s':>9}  {'ms/round':>9}")
    for start in range(0, last, args.segment):
        end = min(start + args.segment, last)
        per_s = rate(stamps, start, end)
        print(f"{start:>5}-{end:<7}  {per_s:9.1f}  {1000 / per_s:9.2f}")

    views = list(run.state.views.cached().values())
    first = rate(stamps, args.warmup, args.warmup + args.segment)
    final = rate(stamps, last - args.segment, last)
    figures = {
        "rounds_per_s_first": round(first, 1),
        "rounds_per_s_last": round(final, 1),
        "last_vs_first_ratio": round(final / first, 3),
        "total_s": round(total, 1),
        "nodes": len(stamps),
        "orchestrator_max_rss_mib": round(max_rss, 1),
        "orchestrator_cpu_ms_per_round": round(1000 * cpu / len(stamps), 3),
        "views_held": len(views),
        "views_mib": round(deep_size(views) / 2**20, 2),
    }
    print(
        f"segment {args.warmup}-{args.warmup + args.segment}: {first:.1f} rounds/s; "
        f"last {last - args.segment}-{last}: {final:.1f} rounds/s "
        f"({100 * (1 - final / first):+.1f}% slower)"
    )
    print(
        f"orchestrator: max RSS {figures['orchestrator_max_rss_mib']} MiB, "
        f"{figures['orchestrator_cpu_ms_per_round']} ms CPU per round; node views held: "
        f"{len(views)} (an LRU of {VIEWS}), {figures['views_mib']} MiB"
    )
    checks = {
        "last_vs_first_ratio": Check(figures["last_vs_first_ratio"], MIN_RATIO, at_most=False),
        "rounds_per_s_last": Check(figures["rounds_per_s_last"], MIN_RATE, at_most=False),
    }
    params = {
        "nodes": args.nodes,
        "segment": args.segment,
        "warmup": args.warmup,
        "workers": args.workers,
        "sampler": args.sampler,
    }
    write_json(args.json, "overhead", figures, params, checks)


if __name__ == "__main__":
    main()
