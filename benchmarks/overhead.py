"""Loop overhead: rounds per second with an instant proposer and a trivial evaluation.

Runs one real run (SQLite store, sampler, cognition, worker processes) of 10,000 nodes and
prints the throughput of each segment of 1,000 rounds, so growth of per-round cost with
the database size shows up as a falling rate; the last line compares the segment after
1,000 nodes with the last one.

    python benchmarks/overhead.py [--nodes 10000] [--segment 1000] [--workers 2] [--sampler ucb1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench_env import use_bench_plugin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--segment", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sampler", default="ucb1")
    args = parser.parse_args()

    use_bench_plugin()

    from hydra import compose, initialize_config_module

    from harness import db as store
    from harness.config import register_schemas
    from harness.loop import Run

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
    started = time.perf_counter()
    asyncio.run(Run(cfg, run_dir).execute())
    total = time.perf_counter() - started

    db = store.open_db(run_dir)
    stamps = [
        datetime.fromisoformat(row[0])
        for row in db.execute("select evaluated_at from nodes order by id").fetchall()
    ]
    print(
        f"overhead benchmark: {len(stamps)} nodes, sampler={args.sampler}, "
        f"workers={args.workers}, {total:.1f} s total"
    )
    print(f"{'nodes':>13}  {'rounds/s':>9}  {'ms/round':>9}")
    rates = []
    for start in range(0, len(stamps) - 1, args.segment):
        end = min(start + args.segment, len(stamps) - 1)
        seconds = (stamps[end] - stamps[start]).total_seconds()
        rate = (end - start) / seconds if seconds > 0 else float("inf")
        rates.append(rate)
        print(f"{start:>5}-{end:<7}  {rate:9.1f}  {1000 / rate:9.2f}")
    if len(rates) > 2:
        slower = 100 * (1 - rates[-1] / rates[1])
        print(f"last segment vs the one after {args.segment} nodes: {slower:+.1f}% slower")


if __name__ == "__main__":
    main()
