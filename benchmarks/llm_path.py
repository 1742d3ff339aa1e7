"""LLM path: rounds per second of a real ``llm=openai`` run against an instant loopback stub.

One real run (SQLite store, sampler, worker processes, the ``openai`` back-end over HTTP)
of the trivial ``bench`` task, whose endpoint is a minimal OpenAI-compatible stub in its
own process, so the figures are the orchestrator's cost of the LLM path. The stub
(``stub_llm.py``, shared with ``vs_openevolve.py``) is a raw asyncio HTTP/1.1 keep-alive
server (not ``harness.testing.llm_server``, whose threads and JSON handling would be the
bottleneck): it answers every request at once with response bytes built in advance, only
a counter spliced in, so every proposal is a new program (none is a duplicate, every one
is evaluated). One answer serves both roles: the researcher reads its program fence, the
analyzer its ``<analysis>``.

Figures: rounds/s from the first round's evaluation to the last (start-up excluded; the
total wall time is printed too), LLM calls/s, the orchestrator's CPU seconds (the whole
run) and ms per round (between the same two evaluations), the stub's CPU seconds (on 2
cores it takes one), the workers' CPU seconds.

    python benchmarks/llm_path.py [--rounds 1000] [--analyzer auto|none|both] [--quick]
                                  [--workers 2] [--buffer N] [--json PATH]

``--quick`` runs 200 rounds; the acceptance (issue #23) is >= 200 rounds/s over 1,000
rounds, checked for each analyzer measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_env import use_bench_plugin
from stub_llm import Stub

ACCEPTANCE_ROUNDS_PER_S = 200.0


# --- the benchmark -------------------------------------------------------------------------


class CpuClock:
    """Samples this process's CPU time every 20 ms in a thread, so the CPU spent between two
    of the store's timestamps (start-up excluded) can be read afterwards."""

    def __init__(self) -> None:
        self.samples: list[tuple[datetime, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            self.samples.append((datetime.now(timezone.utc), time.process_time()))

    def at(self, when: datetime) -> float:
        """The CPU seconds at the last sample before ``when``."""
        return max((cpu for t, cpu in self.samples if t <= when), default=0.0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    rounds: int, analyzer: str, workers: int, buffer: int | None, llm: str = "openai"
) -> dict[str, float]:
    """One run of ``rounds`` rounds through ``llm`` (``openai``: against the stub;
    ``instant``: no LLM at all, the loop's own cost); its figures."""
    from hydra import compose, initialize_config_module

    from harness.config import register_schemas
    from harness.loop import Run

    register_schemas()
    stub = Stub.start() if llm == "openai" else None
    base_url = stub.base_url if stub else ""
    overrides = [
        "+task=bench",
        f"llm={llm}",
        *([f"llm.base_url={base_url}", "llm.model=stub", "llm.edit_mode=full"] if stub else []),
        f"analyzer={analyzer}",
        f"run.max_evaluations={rounds + 1}",  # the seed's evaluation counts
        f"run.workers={workers}",
        "run.max_consecutive_failures=0",
        *([f"run.buffer={buffer}"] if buffer is not None else []),
    ]
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix="harness-llm-path-"))
    workers_before = children_cpu()
    cpu_before = time.process_time()
    clock = CpuClock()
    started = time.perf_counter()
    try:
        asyncio.run(Run(cfg, run_dir).execute())
    finally:
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        clock.close()
        if stub:
            stub.stop()
        stub_cpu = stub.cpu_s if stub else 0.0
    workers_cpu = children_cpu() - workers_before - stub_cpu
    try:
        return read_figures(run_dir, clock, wall, cpu, stub_cpu, workers_cpu)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def read_figures(
    run_dir: Path, clock: CpuClock, wall: float, cpu: float, stub_cpu: float, workers_cpu: float
) -> dict[str, float]:
    """The figures of the finished run in ``run_dir``."""
    from harness import db as store

    db = store.open_db(run_dir)
    stamps = [
        datetime.fromisoformat(row[0])
        for row in db.execute(
            "select evaluated_at from nodes where evaluated_at is not null order by evaluated_at"
        ).fetchall()
    ]
    evaluated = sum(
        1 for (ok,) in db.execute("select success from nodes where id > 0").fetchall() if ok
    )
    calls = db.execute("select count(*) from llm_calls").fetchone()[0]
    failed = db.execute("select count(*) from llm_calls where error is not null").fetchone()[0]
    steady = (stamps[-1] - stamps[0]).total_seconds()
    done = len(stamps) - 1  # rounds after the seed's evaluation
    steady_cpu = clock.at(stamps[-1]) - clock.at(stamps[0])
    db.close()
    return {
        "rounds": done,
        "rounds_succeeded": evaluated,
        "rounds_per_s": done / steady,
        "calls_per_s": calls / steady,
        "llm_calls": calls,
        "llm_calls_failed": failed,
        "wall_s": wall,
        "orchestrator_cpu_s": cpu,
        "orchestrator_cpu_ms_per_round": 1000 * steady_cpu / max(done, 1),
        "stub_cpu_s": stub_cpu,
        "workers_cpu_s": workers_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 rounds")
    parser.add_argument("--analyzer", choices=("auto", "none", "both"), default="both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--buffer", type=int, default=None, help="run.buffer (default: its own)")
    parser.add_argument(
        "--no-instant", action="store_true", help="skip the run without an LLM (llm=instant)"
    )
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    use_bench_plugin()
    rounds = 200 if args.quick else args.rounds
    analyzers = ("auto", "none") if args.analyzer == "both" else (args.analyzer,)

    figures: dict[str, float] = {}
    checks: dict[str, dict[str, Any]] = {}
    runs = [(analyzer, "openai") for analyzer in analyzers]
    if not args.no_instant:
        runs.append(("none", "instant"))
    for analyzer, llm in runs:
        result = measure(rounds, analyzer, args.workers, args.buffer, llm)
        name = analyzer if llm == "openai" else llm
        print(
            f"{'llm path' if llm == 'openai' else 'no LLM (llm=instant)'}, "
            f"analyzer={analyzer}: {result['rounds']} rounds "
            f"({result['rounds_succeeded']} evaluated ok), {result['llm_calls']} LLM calls "
            f"({result['llm_calls_failed']} failed), {result['wall_s']:.2f} s wall in all"
        )
        print(f"  rounds/s        {result['rounds_per_s']:8.1f}")
        print(f"  LLM calls/s     {result['calls_per_s']:8.1f}")
        print(
            f"  CPU s           orchestrator {result['orchestrator_cpu_s']:.2f} "
            f"({result['orchestrator_cpu_ms_per_round']:.2f} ms/round after start-up), "
            f"stub {result['stub_cpu_s']:.2f}, workers {result['workers_cpu_s']:.2f}"
        )
        for figure, value in result.items():
            figures[f"{name}.{figure}"] = value
        if llm == "openai":
            checks[f"rounds_per_s analyzer={analyzer}"] = {
                "value": result["rounds_per_s"],
                "limit": ACCEPTANCE_ROUNDS_PER_S,
                "ok": result["rounds_per_s"] >= ACCEPTANCE_ROUNDS_PER_S,
            }
    if "instant.orchestrator_cpu_ms_per_round" in figures:
        loop_ms = figures["instant.orchestrator_cpu_ms_per_round"]
        for analyzer in analyzers:
            calls = figures[f"{analyzer}.llm_calls"] / max(figures[f"{analyzer}.rounds"], 1)
            extra = figures[f"{analyzer}.orchestrator_cpu_ms_per_round"] - loop_ms
            figures[f"{analyzer}.llm_path_cpu_ms_per_call"] = extra / calls
            print(
                f"LLM path, analyzer={analyzer}: {extra:.2f} ms orchestrator CPU per round more "
                f"than without an LLM, {extra / calls:.2f} ms per call"
            )
    if args.json:
        params = {
            "rounds": rounds,
            "workers": args.workers,
            "buffer": args.buffer,
            "analyzers": analyzers,
        }
        payload = {"benchmark": "llm_path", "figures": figures, "params": params, "checks": checks}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
