"""Loop overhead: rounds per second with an instant proposer and a trivial evaluation.

Runs one real run (SQLite store, sampler, cognition, worker processes) of 2,000 nodes and
prints the throughput of each segment of 200 rounds, so growth of per-round cost with
the database size shows up as a falling rate.

    python benchmarks/overhead.py [--nodes 2000] [--segment 200] [--workers 2] [--sampler ucb1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--segment", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sampler", default="ucb1")
    args = parser.parse_args()

    os.environ["HARNESS_PLUGINS"] = "harness_bench"
    paths = [str(HERE), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    sys.path.insert(0, str(HERE))

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
    print(f"overhead benchmark: {len(stamps)} nodes, sampler={args.sampler}, "
          f"workers={args.workers}, {total:.1f} s total")
    print(f"{'nodes':>13}  {'rounds/s':>9}  {'ms/round':>9}")
    for start in range(0, len(stamps) - 1, args.segment):
        end = min(start + args.segment, len(stamps) - 1)
        seconds = (stamps[end] - stamps[start]).total_seconds()
        rate = (end - start) / seconds if seconds > 0 else float("inf")
        print(f"{start:>5}-{end:<7}  {rate:9.1f}  {1000 / rate:9.2f}")


if __name__ == "__main__":
    main()
