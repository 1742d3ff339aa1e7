"""Parallel efficiency: W evaluations in flight, each sleeping ``--sleep`` seconds.

Runs real runs (SQLite store, sampler, cognition, the executor's worker processes) of the
``bench`` task with the instant proposer; the evaluator sleeps ``task.sleep_s`` (sleeping
needs no cores, so W can exceed the machine's cores) and the candidate stays trivial. For
each executor and each W (``run.workers`` = W, and W executor workers):

    efficiency = evaluations x sleep / (W x wall time of the evaluation phase)

Excluded from the timing: the executor's start-up (pool / LocalCluster), a warm-up of its
W workers (rounds of W concurrent sleeping evaluations, so every worker process exists
and has loaded the plugins), the run's set-up, the seed evaluation and the shutdown.
The evaluation phase starts when the first round after the seed submits its evaluation
and ends when the last evaluation returns (``excluded s`` is the start-up plus warm-up
time left out). Two diagnostic columns split a shortfall:
``latency`` is the mean time an evaluation takes as the loop sees it (the executor's
overhead is latency - sleep), ``slot use`` the fraction of W x wall during which an
evaluation was in flight (the rest is the orchestrator between rounds).

    python benchmarks/parallel.py [--workers 1 2 4 8 16 32] [--executor local dask]
                                  [--per-worker 6] [--sleep 1.0] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_env import add_json_option, use_bench_plugin, write_json


class Timed:
    """The run's executor, warmed up beforehand, timing every evaluation after the seed."""

    def __init__(self, executor: Any, seed: str) -> None:
        self.executor = executor
        self.seed = seed
        self.spans: list[tuple[float, float]] = []

    async def evaluate(self, config: dict[str, Any], program: str, limits: Any) -> Any:
        started = time.perf_counter()
        result = await self.executor.evaluate(config, program, limits)
        if program != self.seed:
            self.spans.append((started, time.perf_counter()))
        return result

    def shutdown(self, kill: bool = False) -> None:
        self.executor.shutdown(kill=kill)


async def warm_up(executor: Any, config: dict[str, Any], workers: int, sleep: float) -> None:
    """Rounds of ``workers`` concurrent evaluations until one takes about one sleep."""
    from harness.sandbox import Limits

    for _ in range(4):
        started = time.perf_counter()
        await asyncio.gather(
            *(
                executor.evaluate(config, f"def f():\n    return {i}.0\n", Limits())
                for i in range(workers)
            )
        )
        if time.perf_counter() - started < 1.25 * sleep + 0.1:
            return


def measure(
    executor_name: str, workers: int, per_worker: int, sleep: float, warm: bool = True
) -> dict[str, Any]:
    from harness_bench import SEED
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import harness.loop
    from harness.executors import make_executor

    evaluations = per_worker * workers
    overrides = [
        "+task=bench",
        f"task.sleep_s={sleep}",
        "llm=instant",
        f"executor={executor_name}",
        f"run.max_evaluations={evaluations + 1}",  # + the seed
        f"run.workers={workers}",
        "analyzer=none",
    ]
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    task_config = OmegaConf.to_container(cfg.task, resolve=True)

    started = time.perf_counter()
    executor = make_executor(OmegaConf.to_container(cfg.executor, resolve=True), workers)
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    if warm:
        asyncio.run(warm_up(executor, task_config, workers, sleep))
    warm_s = time.perf_counter() - started
    timed = Timed(executor, SEED)
    original = harness.loop.make_executor
    harness.loop.make_executor = lambda config, n: timed
    try:
        run_dir = Path(tempfile.mkdtemp(prefix="harness-parallel-"))
        summary = asyncio.run(harness.loop.Run(cfg, run_dir).execute())
    finally:
        harness.loop.make_executor = original
    assert summary["evaluated"] == evaluations + 1, summary
    first = min(start for start, _ in timed.spans)
    last = max(end for _, end in timed.spans)
    wall = last - first
    busy = sum(end - start for start, end in timed.spans)
    return {
        "executor": executor_name,
        "W": workers,
        "evaluations": len(timed.spans),
        "wall": wall,
        "rate": len(timed.spans) / wall,
        "efficiency": len(timed.spans) * sleep / (workers * wall),
        "latency": busy / len(timed.spans),
        "slot_use": busy / (workers * wall),
        "start_up": start_up,
        "warm_up": warm_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument(
        "--executor", nargs="+", default=["local", "dask"], choices=["local", "dask"]
    )
    parser.add_argument(
        "--per-worker",
        type=int,
        default=6,
        help="evaluations per worker in the timed phase (default 6)",
    )
    parser.add_argument(
        "--sleep", type=float, default=1.0, help="seconds each evaluation sleeps (default 1.0)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up: worker processes start (local) or load harness "
        "(both) inside the timed phase",
    )
    add_json_option(parser)
    args = parser.parse_args()

    use_bench_plugin()
    from harness.config import register_schemas

    register_schemas()

    print(
        f"parallel efficiency: sleep {args.sleep:g} s per evaluation, "
        f"{args.per_worker} evaluations per worker, {os.cpu_count()} cores"
    )
    print(
        "excluded from wall: executor start-up, "
        + ("" if args.cold else "worker warm-up, ")
        + "run set-up, the seed evaluation, shutdown"
    )
    header = (
        f"{'executor':<9} {'W':>3} {'evaluations':>11} {'wall s':>7} {'evals/s':>8} "
        f"{'efficiency':>10}   {'latency s':>9} {'slot use':>8} {'excluded s':>10}"
    )
    print(header)
    print("-" * len(header))
    figures: dict[str, float] = {}
    for name in args.executor:
        for workers in args.workers:
            row = measure(name, workers, args.per_worker, args.sleep, warm=not args.cold)
            figures[f"efficiency_{name}_w{workers}"] = row["efficiency"]
            figures[f"latency_s_{name}_w{workers}"] = row["latency"]
            print(
                f"{row['executor']:<9} {row['W']:>3} {row['evaluations']:>11} "
                f"{row['wall']:>7.2f} {row['rate']:>8.2f} {row['efficiency']:>10.3f}   "
                f"{row['latency']:>9.3f} {row['slot_use']:>8.3f} "
                f"{row['start_up'] + row['warm_up']:>10.2f}",
                flush=True,
            )
    params = {k: v for k, v in vars(args).items() if k != "json"}
    write_json(args.json, "parallel", figures, params)


if __name__ == "__main__":
    main()
