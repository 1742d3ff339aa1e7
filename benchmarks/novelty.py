"""Novelty filtering on circle packing with a loopback numeric stub of a weak LLM.

``llm=openai`` runs against :class:`harness.testing.llm_server.FakeLLMServer`, whose reply
takes the parent program from the researcher prompt and answers with a numeric mutation
of it (the offline proposer's literal mutation, seeded per request): small changes, many
of them near-duplicates of programs already evaluated. Each seed runs twice, with
``novelty=none`` and with ``novelty=embedding``; afterwards both arms are measured the
same way: the share of evaluations spent on near-duplicates (a program whose hashing
embedding has cosine similarity >= the threshold to an earlier successfully evaluated
program of its run) and the best score. Printed: per arm, the share, the best score's
mean +- sd over seeds and the rounds, then the paired difference of best scores.

    python benchmarks/novelty.py [--evaluations 100] [--seeds 5] [--threshold T]

``--calibrate`` instead runs the offline proposer without the filter and prints, for a
range of thresholds, how many evaluations lie above each and how many of those merely
reproduced the score of their nearest program (the measurement behind the default).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from bench_env import add_json_option, write_json

from harness import db as store
from harness import plugins
from harness.cognition.embedders import HashingEmbedder
from harness.config import compose_config
from harness.estimate import paired
from harness.filters import NoveltyConf
from harness.llm.base import NodeView, ProposalRequest
from harness.llm.offline import OfflineProposer
from harness.loop import Run
from harness.testing.llm_server import FakeLLMServer

PARENT = re.compile(r"# Parent node.*?\n(`{3,})\w*\n(.*?)\n\1", re.DOTALL)
BASE = ["+task=circle_packing", "run.workers=1", "analyzer=deterministic", "cognition=none"]


def numeric_stub(seed: int) -> Any:
    """A FakeLLMServer reply: the parent program with 1-3 numeric literals mutated."""
    spec = plugins.get_task("circle_packing").spec({"name": "circle_packing"})
    proposer = OfflineProposer({})
    rng = random.Random(seed)

    def answer(request: dict[str, Any]) -> str:
        prompt = request["messages"][-1]["content"]
        parent = PARENT.search(prompt)
        if parent is None:
            return "<analysis>no parent found</analysis>"
        view = NodeView(id=0, name="parent", program=parent.group(2))
        ask = ProposalRequest(spec, view, [], [], node_id=0, seed=rng.randrange(2**32))
        proposal = asyncio.run(proposer.propose(ask))
        return (
            f"<name>tweak</name><motivation>{proposal.motivation}</motivation>"
            f"<code>{proposal.program}</code>"
        )

    return answer


def execute(run_dir: Path, overrides: list[str]) -> Run:
    run = Run(compose_config(overrides), run_dir, overrides)
    asyncio.run(run.execute())
    return run


def near_duplicates(run_dir: Path, threshold: float) -> tuple[int, int, list[tuple[float, float]]]:
    """(evaluations after the seed, those on near-duplicates, [(similarity to the nearest
    earlier successful program, |score - its score|)] for the successful ones)."""
    db = store.open_db(run_dir)
    rows = db.execute(
        "select id, program, status, score from nodes where evaluated_at is not null"
        " and id > 0 or id = 0 order by id"
    ).fetchall()
    vectors = HashingEmbedder().embed([program for _, program, _, _ in rows])
    archive: list[int] = [0]
    spent = duplicates = 0
    pairs = []
    for index in range(1, len(rows)):
        sims = vectors[archive] @ vectors[index]
        nearest = int(np.argmax(sims))
        spent += 1
        duplicates += float(sims[nearest]) >= threshold
        if rows[index][2] == "evaluated":
            delta = abs(rows[index][3] - rows[archive[nearest]][3])
            pairs.append((float(sims[nearest]), delta))
            archive.append(index)
    return spent, duplicates, pairs


def benchmark(evaluations: int, seeds: int, threshold: float, workdir: Path) -> dict[str, float]:
    arms = {"none": ["novelty=none"], "embedding": ["novelty=embedding"]}
    best: dict[str, list[float]] = {arm: [] for arm in arms}
    figures: dict[str, float] = {}
    for arm, extra in arms.items():
        spent = duplicates = rounds = 0
        for seed in range(seeds):
            run_dir = workdir / f"{arm}-{seed}"
            with FakeLLMServer(default=numeric_stub(seed)) as server:
                run = execute(
                    run_dir,
                    [
                        *BASE,
                        "llm=openai",
                        f"llm.base_url={server.base_url}",
                        "llm.model=numeric-stub",
                        "llm.edit_mode=full",
                        "llm.max_retries=0",
                        f"seed={seed}",
                        f"run.max_evaluations={evaluations}",
                        f"novelty.threshold={threshold}",
                        *extra,
                    ],
                )
            found = near_duplicates(run_dir, threshold)
            spent, duplicates = spent + found[0], duplicates + found[1]
            rounds += run.state.tally.rounds
            best[arm].append(run.state.tally.best[0] if run.state.tally.best else float("nan"))
        scores = best[arm]
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        figures[f"{arm}_near_duplicate_share"] = duplicates / max(spent, 1)
        figures[f"{arm}_best_mean"] = statistics.mean(scores)
        print(
            f"novelty={arm:9s} near-duplicate evaluations {duplicates}/{spent} "
            f"({duplicates / max(spent, 1):.1%}); best {statistics.mean(scores):.5f} "
            f"+- {sd:.5f} (sd over {seeds} seeds); rounds {rounds / seeds:.1f} per run"
        )
    comparison = paired(dict(enumerate(best["embedding"])), dict(enumerate(best["none"])))
    if comparison is not None:
        print(
            f"paired (embedding - none): {comparison.gain.mean:+.5f} +- "
            f"{comparison.gain.se:.5f} (se, n={comparison.gain.n}), "
            "one-sided p=" + ("n/a" if comparison.p_value is None else f"{comparison.p_value:.3f}")
        )
        figures["best_gain_embedding_minus_none"] = comparison.gain.mean
    return figures


def calibrate(evaluations: int, seeds: int, workdir: Path) -> None:
    pairs: list[tuple[float, float]] = []
    for seed in range(seeds):
        run_dir = workdir / f"calibrate-{seed}"
        execute(run_dir, [*BASE, f"seed={seed}", f"run.max_evaluations={evaluations}"])
        pairs += near_duplicates(run_dir, 1.0)[2]
    print(f"{len(pairs)} successful evaluations of offline mutations ({seeds} seeds)")
    print("threshold  above  of those same score  below: same score")
    for threshold in (0.95, 0.99, 0.999, 0.9995, 0.9997, 0.9998, 0.9999):
        above = [delta for sim, delta in pairs if sim >= threshold]
        below = [delta for sim, delta in pairs if sim < threshold]
        same = sum(delta < 1e-9 for delta in above)
        print(
            f"{threshold:<9} {len(above):5d}  {same:5d} ({same / max(len(above), 1):.0%})"
            f"          {sum(delta < 1e-9 for delta in below):5d}/{len(below)}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=NoveltyConf().threshold)
    parser.add_argument("--calibrate", action="store_true")
    add_json_option(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="novelty-bench-") as tmp:
        if args.calibrate:
            calibrate(args.evaluations, args.seeds, Path(tmp))
        else:
            print(
                f"loopback numeric stub on circle packing ({args.evaluations} evaluations, "
                f"{args.seeds} seeds, threshold {args.threshold})"
            )
            figures = benchmark(args.evaluations, args.seeds, args.threshold, Path(tmp))
            params = {"evaluations": args.evaluations, "seeds": args.seeds,
                      "threshold": args.threshold}  # fmt: skip
            write_json(args.json, "novelty", figures, params)


if __name__ == "__main__":
    main(sys.argv[1:])
